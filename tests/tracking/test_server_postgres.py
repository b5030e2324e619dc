"""``mmrisk server`` with a real PostgreSQL backend on 127.0.0.1 (issue 15).

One PostgreSQL cluster (Debian's server binaries, tests/support/postgres.py) and one tracking
server for the module; through the server: train, compare, evaluate, score, the registry's
champion gate, and two trains at once. Runs and versions must be rows of PostgreSQL (read with
psycopg2, not through MLflow), artifacts must be files under ``--artifacts-destination`` with
``mlflow-artifacts:/`` locations (clients never see server paths), and what comes back through
the server must equal what is computed from those files directly.

Without PostgreSQL the module is skipped locally and fails when ``CI`` is set (``.ci/run``
installs the ``postgresql`` package).
"""

from __future__ import annotations

import os
import subprocess

import mlflow
import numpy as np
import pandas as pd
import pytest
from concurrent_trains import launch, write_configs
from postgres import postgres_bin, start_postgres
from servers import free_port, stop_process_group
from sksurv.metrics import concordance_index_censored

from mmrisk.config import load_config
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import simulate_registry
from mmrisk.tracking import RUN_TYPE_TAG, latest_leaderboard
from mmrisk.tracking._persist import load_estimator
from mmrisk.workflows import evaluate, score, server_command, train, wait_until_ready
from mmrisk.workflows._evaluate import evaluation_cohort

pytestmark = pytest.mark.slow

psycopg2 = pytest.importorskip("psycopg2")

EXPERIMENT, MODEL = "team", "team-model"

CONFIG = """
name: team-{name}
seed: 3
data: {{synthetic_dir: {data}, simulate_n: 300, simulate_seed: 11}}
cohort: {{landmark: lm_start, endpoint: pfs}}
baseline: {baseline}
models:
{models}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 5}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: {experiment}, registered_model: {model}}}
"""


@pytest.fixture(scope="module")
def postgres():
    if postgres_bin() is None:
        reason = "PostgreSQL server binaries not found (apt-get install postgresql; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    cluster = start_postgres("mlflow")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def team(postgres, tmp_path_factory):
    """The tracking server over PostgreSQL, and one train through it."""
    root = tmp_path_factory.mktemp("team")
    artifacts = root / "server-artifacts"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(server_command(postgres.uri(), str(artifacts), port, workers=2),
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    old = mlflow.get_tracking_uri()
    try:
        try:
            wait_until_ready(port, proc=proc, timeout=300, path="/health")
        except MMRiskError as e:
            pytest.fail(f"{e}\n{log.read_text(errors='replace')[-3000:]}")
        uri = f"http://127.0.0.1:{port}"
        data = root / "data"
        simulate_registry(data, n=300, seed=11)
        cfg = root / "first.yaml"
        cfg.write_text(CONFIG.format(
            name="first", data=data, baseline="staging", experiment=EXPERIMENT, model=MODEL,
            models="  staging: {kind: staging}\n  cox: {kind: cox}"))
        result = train(load_config(cfg), tracking_uri=uri)
        yield {"uri": uri, "artifacts": artifacts, "root": root, "data": data,
               "result": result, "db": postgres.uri(), "postgres": postgres}
    finally:
        stop_process_group(proc, timeout=30)
        mlflow.set_tracking_uri(old)
        mlflow.set_registry_uri(None)  # follow the tracking URI again (never pin a registry)


def _sql(db: str, query: str, *args) -> list[tuple]:
    con = psycopg2.connect(db)
    try:
        with con.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall()
    finally:
        con.close()


def _estimator(team: dict, version) -> object:
    """The version's fitted estimator, read from the server's artifact folder (not MLflow)."""
    model_id = version.source.removeprefix("models:/")
    found = [p for p in team["artifacts"].rglob("estimator.skops") if model_id in str(p)]
    assert len(found) == 1, found
    return load_estimator(found[0])


def test_runs_and_versions_are_postgres_rows_and_artifacts_are_proxied(team):
    res = team["result"]
    client = mlflow.MlflowClient(team["uri"], team["uri"])
    runs = [res.parent_run_id, *res.child_run_ids.values()]
    rows = _sql(team["db"], "SELECT run_uuid, status, artifact_uri FROM runs WHERE run_uuid = "
                "ANY(%s)", runs)
    assert {r[0] for r in rows} == set(runs)
    assert {r[1] for r in rows} == {"FINISHED"}
    # clients see mlflow-artifacts:/ locations only; the files are in the server's folder
    assert all(r[2].startswith("mlflow-artifacts:/") for r in rows)
    assert str(team["artifacts"]) not in client.get_run(res.parent_run_id).info.artifact_uri
    on_server = list(team["artifacts"].rglob("leaderboard.csv"))
    assert len(on_server) == 1
    fetched = client.download_artifacts(res.parent_run_id, "leaderboard.csv",
                                        str(team["root"]))
    assert open(fetched, "rb").read() == on_server[0].read_bytes()
    versions = _sql(team["db"], "SELECT version, run_id FROM model_versions WHERE name = %s",
                    MODEL)
    assert versions == [(1, res.registered["run_id"])]
    alias = _sql(team["db"], "SELECT alias, version FROM registered_model_aliases "
                 "WHERE name = %s", MODEL)
    assert alias == [("champion", 1)]


def test_compare_through_the_server(team):
    res = team["result"]
    board, facts = latest_leaderboard(team["uri"], EXPERIMENT, "cv_cindex_uno")
    assert facts["run_id"] == res.parent_run_id and facts["newest_unfinished"] is None
    assert set(board["model"]) == set(res.child_run_ids)
    for row in board.itertuples(index=False):
        expected = res.cv.flat(row.model)
        assert row.cv_cindex_uno == pytest.approx(expected["cv_cindex_uno"], rel=1e-12)
        assert row.cv_cindex_harrell == pytest.approx(expected["cv_cindex_harrell"], rel=1e-12)


def test_score_through_the_server_matches_the_estimator_file(team, tmp_path):
    client = mlflow.MlflowClient(team["uri"], team["uri"])
    champion = client.get_model_version_by_alias(MODEL, "champion")
    out = tmp_path / "scores.parquet"
    res = score(f"models:/{MODEL}@champion", team["data"], out, reasons=False,
                tracking_uri=team["uri"])
    table = pd.read_parquet(out)
    assert len(table) == res.n_rows > 0
    est = _estimator(team, champion)
    ev = evaluation_cohort(_meta(team), team["data"])
    ok = table[table["status"] != "error"]
    ids = ev.table["patient_id"].astype(str)
    expected = pd.Series(np.asarray(est.predict(ev.X), float), index=ids.to_numpy())
    got = ok.set_index(ok["patient_id"].astype(str))["risk_score"]
    np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy(), rtol=0,
                               atol=1e-12)


def _meta(team: dict) -> dict:
    from mmrisk.tracking import load_model

    return load_model(f"models:/{MODEL}@champion", team["uri"]).meta


def test_evaluate_through_the_server(team, tmp_path):
    client = mlflow.MlflowClient(team["uri"], team["uri"])
    champion = client.get_model_version_by_alias(MODEL, "champion")
    res = evaluate(f"models:/{MODEL}@champion", team["data"], tmp_path / "eval",
                   n_bootstrap=5, tracking_uri=team["uri"])
    run = client.get_run(res.run_id)
    assert run.data.tags[RUN_TYPE_TAG] == "evaluation"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    # Harrell's C of the estimator file on the same rows, by scikit-survival
    ev = evaluation_cohort(_meta(team), team["data"])
    risk = np.asarray(_estimator(team, champion).predict(ev.X), float)
    c = concordance_index_censored(ev.y["event"], ev.y["time"], risk)[0]
    assert run.data.metrics["ext_cindex_harrell"] == pytest.approx(c, rel=1e-9)
    assert _sql(team["db"], "SELECT count(*) FROM runs WHERE run_uuid = %s", res.run_id) == [(1,)]


def test_champion_gate_and_concurrent_trains_through_the_server(team):
    """Two trains at once against the server: both finish, and the gate is serial."""
    from concurrent_trains import serial_gate

    root = team["root"]
    configs = write_configs(root, team["data"], EXPERIMENT, MODEL, n=2)
    results = launch(configs, team["uri"], root)
    for rc, out in results:
        assert rc == 0, out[-4000:]
    client = mlflow.MlflowClient(team["uri"], team["uri"])
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    # the first train's version 1 was registered before: the replay starts from it
    decisions, champion = serial_gate(client, MODEL)
    assert {int(v.version): v.tags["mmrisk.gate"] for v in versions} == decisions
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == champion
    n_train = _sql(team["db"], "SELECT count(*) FROM runs r JOIN tags t ON t.run_uuid = "
                   "r.run_uuid WHERE t.key = %s AND t.value = 'train' AND r.status = "
                   "'FINISHED'", RUN_TYPE_TAG)
    assert n_train == [(3,)]
