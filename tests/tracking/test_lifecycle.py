"""Run lifecycle (issue 15): SIGTERM during train, runs whose process is gone, finished runs only.

- SIGTERM during ``mmrisk train``: exit status 143, every run marked KILLED (with the signal as
  the reason), no temporary file left; ``compare`` then says the newest run was killed instead
  of showing its partial leaderboard.
- A run left RUNNING by a process killed with SIGKILL is recognised as DEAD (its host, process
  id and process start time are tags), skipped by ``compare`` (which says so) and marked KILLED
  when the next train starts.
- The champion gate ignores a champion whose train did not finish.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import simulate_registry
from mmrisk.tracking import (
    latest_leaderboard,
    process_alive,
    process_tags,
    reap_dead_runs,
    register_model,
    run_state,
    using_store,
)

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')"]

CONFIG = """
name: lifecycle
seed: 3
data: {{synthetic_dir: {data}, simulate_n: 250, simulate_seed: 11}}
cohort: {{landmark: lm_start, endpoint: pfs}}
baseline: staging
models:
  staging: {{kind: staging}}
  cox: {{kind: cox}}
  coxnet: {{kind: coxnet, params: {{l1_ratio: 0.5}}}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 5}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: lifecycle, registered_model: lifecycle}}
"""

#: Starts a train-type run tagged with its process, prints its id, then waits to be killed.
HANGING_RUN = """
import sys, time, mlflow
from mmrisk.tracking import RUN_TYPE_TAG, process_tags, setup_experiment
exp = setup_experiment(sys.argv[1], sys.argv[2])
with mlflow.start_run(experiment_id=exp, run_name="train-hanging",
                      tags={**process_tags(), RUN_TYPE_TAG: "train"}) as run:
    print(run.info.run_id, flush=True)
    time.sleep(600)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", COLUMNS="200", **extra)
    return env


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"the process ended ({proc.returncode}) before {what}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def _running_runs(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(db, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # tables not created yet, or locked for a moment
        return 0


def test_process_alive_tells_live_dead_and_recycled_processes():
    assert process_alive(process_tags()) is True
    recycled = {**process_tags(), "mmrisk.pid_started": "12.0"}  # same pid, another process
    assert process_alive(recycled) is False
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process_alive({**process_tags(), "mmrisk.pid": str(gone.pid)}) is False
    assert process_alive({**process_tags(), "mmrisk.host": socket.gethostname() + "-x"}) is None
    assert process_alive({}) is None


def test_sigterm_during_train_marks_runs_killed_and_leaves_no_temporary_file(tmp_path):
    data = tmp_path / "data"
    simulate_registry(data, n=250, seed=11)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG.format(data=data))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    db = tmp_path / "store" / "mlflow.db"
    uri = f"sqlite:///{db}"
    proc = subprocess.Popen([*CLI, "train", "--config", str(cfg), "--tracking-uri", uri],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=_env(TMPDIR=str(scratch), MMRISK_LOG_FILE=str(tmp_path / "l")))
    # the parent run and a child run are open: stop the train there
    _wait_for(lambda: _running_runs(db) >= 2, proc, "a child run started")
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=300)[0].decode(errors="replace")
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "Interrupted by SIGTERM" in output

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("lifecycle").experiment_id])
    assert len(runs) >= 2
    assert {r.info.status for r in runs} == {"KILLED"}
    assert {r.data.tags.get("mmrisk.end_reason") for r in runs} == {"SIGTERM"}
    assert list(scratch.iterdir()) == []
    with pytest.raises(MMRiskError, match="no finished train run: the newest.*was killed"):
        latest_leaderboard(uri, "lifecycle")


def _copy_store(trained_job, tmp_path) -> str:
    src = Path(trained_job["tracking_uri"].removeprefix("sqlite:///")).parent
    shutil.copytree(src, tmp_path / "store")
    return f"sqlite:///{tmp_path}/store/mlflow.db"


def test_a_run_whose_process_was_killed_is_recognised(trained_job, tmp_path):
    uri = _copy_store(trained_job, tmp_path)
    experiment = "scoring-tiny"
    proc = subprocess.Popen([sys.executable, "-c", HANGING_RUN, uri, experiment],
                            stdout=subprocess.PIPE, env=_env())
    run_id = proc.stdout.readline().decode().strip()
    assert run_id, "the hanging run did not start"
    client = MlflowClient(tracking_uri=uri)
    assert run_state(client.get_run(run_id)) == "RUNNING"  # alive
    proc.kill()
    proc.wait()
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING" and run_state(run) == "DEAD"

    board, facts = latest_leaderboard(uri, experiment)
    assert facts["run_id"] == trained_job["result"].parent_run_id
    assert facts["newest_unfinished"]["run_id"] == run_id
    assert facts["newest_unfinished"]["state"] == "DEAD"
    assert set(board["model"]) == set(trained_job["result"].child_run_ids)
    res = CliRunner().invoke(app, ["compare", "--experiment", experiment, "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    assert "its process is gone" in res.output and run_id in res.output

    assert reap_dead_runs(uri, run.info.experiment_id) == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["mmrisk.end_reason"] == "process gone"


def test_the_gate_ignores_a_champion_whose_train_did_not_finish(trained_job, tmp_path):
    uri = _copy_store(trained_job, tmp_path)
    res = trained_job["result"]
    name = res.registered["name"]
    with using_store(uri):
        client = MlflowClient()
        champion = client.get_model_version_by_alias(name, "champion")
        other = next(m for m, r in res.child_run_ids.items() if r != champion.run_id)
        args = (name, f"runs:/{res.child_run_ids[other]}/model", res.child_run_ids[other],
                "cv_cindex_uno", 0.0, res.data_fingerprint, True)
        # a worse model does not replace a champion whose train finished ...
        assert register_model(*args, client=client)["alias"] == "challenger"
        # ... but does replace one whose train was killed
        client.set_terminated(res.parent_run_id, status="KILLED")
        got = register_model(*args, client=client)
        assert got["alias"] == "champion"
        assert "was killed" in got["replaced_unfinished"]
        assert int(client.get_model_version_by_alias(name, "champion").version) == got["version"]
