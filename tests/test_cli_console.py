"""What a command leaves on a stderr that is not a terminal (a CI log, a redirected file):
mmrisk's own lines only -- no blank lines from progress bars that had nothing to show."""

from __future__ import annotations

import os
import subprocess
import sys

CLI = [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')"]


def _run(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "MMRISK_LOG_FILE": str(cwd / "mmrisk.log")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300, check=False)


def test_a_success_leaves_stderr_empty(tmp_path):
    res = _run("data", "simulate", "--out", str(tmp_path / "sim"), "--n", "40", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout.lstrip().startswith("Wrote 40 patients")


def test_an_error_is_one_line_on_stderr(tmp_path):
    res = _run("evaluate", "--model", "runs:/0123456789abcdef/model", "--data",
               str(tmp_path / "missing"), "--out", str(tmp_path / "ev"), "--tracking-uri",
               f"sqlite:///{tmp_path}/store.db", cwd=tmp_path)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
