"""The Spark driver JVM's start-up lines go to mmrisk's log file, not the console.

The JVM launcher ("WARNING: Using incubator modules"), log4j ("Using Spark's default log4j
profile", "Setting default log level") and Hadoop ("NativeCodeLoader") write to the standard
error the JVM inherits; the CLI's logging setup points that at mmrisk.log while the session
starts. Run in a fresh process: only the first session of a process starts a JVM.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from spark_env import require_spark

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from mmrisk.cli._logging import configure
configure(verbose=False)
from mmrisk.workflows._spark import get_spark
spark = get_spark("local[1]")
print("rows", spark.range(3).count())
print("after start", file=sys.stderr)
spark.stop()
"""

JVM_LINES = ("incubator", "log4j", "Setting default log level", "NativeCodeLoader", "WARN")


def test_jvm_start_up_lines_go_to_the_log_file(tmp_path):
    require_spark()
    log = tmp_path / "mmrisk.log"
    env = {k: v for k, v in os.environ.items() if k not in ("MMRISK_JVM_LOG", "PYSPARK_PYTHON")}
    env["MMRISK_LOG_FILE"] = str(log)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "rows 3"
    # this process's own stderr is back on the console after the start
    assert proc.stderr.strip() == "after start", proc.stderr
    text = log.read_text()
    # Spark 4 on Java 17+: the launcher's module warning and log4j's profile notice
    assert any(line in text for line in JVM_LINES), text
