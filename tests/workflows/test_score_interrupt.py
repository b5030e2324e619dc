"""An interrupted ``score`` leaves no file behind (issue 15).

SIGTERM unwinds the run (the temporary output is removed, nothing is written, exit status 143);
the temporary files of a run killed outright (SIGKILL) are removed by the next run that writes
the same output, and only when their process is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from mmrisk.workflows import remove_orphans, score

CLI = [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_sigterm_during_score_writes_nothing_and_removes_the_temporary_file(trained_job,
                                                                          tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MMRISK_LOG_FILE=str(tmp_path / "libraries.log"), COLUMNS="200")
    proc = subprocess.Popen(
        [*CLI, "score", "--model", trained_job["registered"], "--data", str(trained_job["data"]),
         "--out", str(out_dir / "scores.parquet"), "--chunk-size", "2",
         "--tracking-uri", trained_job["tracking_uri"]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 600
    while not list(out_dir.glob(".scores.parquet.*.tmp")):
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
        assert time.monotonic() < deadline, "no temporary output appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0].decode(errors="replace")
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "Interrupted by SIGTERM" in output
    assert list(out_dir.iterdir()) == []


def test_orphans_of_dead_processes_on_this_host_are_removed(tmp_path):
    host = socket.gethostname()
    out = tmp_path / "scores.parquet"
    dead = [tmp_path / f".scores.parquet.{_dead_pid()}@{host}.tmp",
            tmp_path / f".scores.drift.json.{_dead_pid()}@{host}.tmp"]
    kept = [tmp_path / f".scores.parquet.{os.getpid()}@{host}.tmp",  # a live process
            tmp_path / f".scores.parquet.{_dead_pid()}@{host}-other.tmp",  # another host
            tmp_path / f".other.parquet.{_dead_pid()}@{host}.tmp"]  # another output
    for p in dead + kept:
        p.write_text("partial")
    assert sorted(remove_orphans(out)) == sorted(dead)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_the_next_score_removes_what_a_killed_one_left(trained_job, tmp_path):
    orphan = tmp_path / f".scores.csv.{_dead_pid()}@{socket.gethostname()}.tmp"
    orphan.write_text("partial")
    res = score(trained_job["registered"], trained_job["data"], tmp_path / "scores.csv",
                reasons=False, tracking_uri=trained_job["tracking_uri"])
    assert not orphan.exists()
    assert len(pd.read_csv(res.out_path)) == res.n_rows
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "scores.csv", "scores.drift.json", "scores.drift.md"]
