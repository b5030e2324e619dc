"""Issue 16, models at rest and served: SHA-256 digests recorded at logging and verified before
unpickling; the pyfunc turns bad cells, bad params and empty records into row errors; what
MLflow's own server does with malformed requests; `serve` checks its model first and dies with
its parent. Independent truth for the digests: hashlib over the files as they lie in the store.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server
from mlflow.tracking import MlflowClient
from servers import free_port
from sklearn.base import BaseEstimator
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.config import load_config
from mmrisk.exceptions import MMRiskError
from mmrisk.tracking import DIGEST_ENV, DIGEST_TAGS, MMRiskPyfunc, load_model, using_store
from mmrisk.tracking._persist import TRUSTED_TYPES, load_estimator, save_estimator
from mmrisk.workflows import train
from mmrisk.workflows._serve import check_model

runner = CliRunner()

CONFIG = """
name: integrity
seed: 2
data: {{table: {table}, time: ptime, event: pstat}}
pipeline: passthrough
baseline: null
models:
  cox: {{kind: cox}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: integrity, registered_model: integrity}}
"""


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    rng = np.random.default_rng(8)
    n = 200
    age, flag = rng.uniform(40, 75, n), rng.integers(0, 2, n)
    t = rng.exponential(40 / np.exp(0.03 * (age - 60) + 0.5 * flag))
    c = rng.uniform(0, 100, n)
    table = pd.DataFrame({"age": age.round(1), "flag": flag, "ptime": np.minimum(t, c).round(2),
                          "pstat": (t <= c).astype(int)})
    table.to_csv(root / "t.csv", index=False)
    (root / "c.yaml").write_text(CONFIG.format(table=root / "t.csv"))
    uri = f"sqlite:///{root}/store/mlflow.db"
    with using_store(uri):  # registry too: another module may have pinned MLflow's registry
        result = train(load_config(root / "c.yaml"), tracking_uri=uri)
        folder = Path(mlflow.artifacts.download_artifacts(
            artifact_uri="models:/integrity@champion"))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mv = client.get_model_version_by_alias("integrity", "champion")
    return {"root": root, "uri": uri, "result": result, "client": client, "mv": mv,
            "folder": folder, "X": table[["age", "flag"]], "model": "models:/integrity@champion"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Restore:
    """Change a model file for one test and put the original bytes back afterwards."""

    def __init__(self, path: Path):
        self.path, self.original = path, path.read_bytes()

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        self.path.write_bytes(self.original)


def test_digests_are_recorded_in_the_run_the_logged_model_and_the_version(job):
    files = {"estimator": job["folder"] / "artifacts" / "estimator.skops",
             "meta": job["folder"] / "artifacts" / "meta.json",
             "mlmodel": job["folder"] / "MLmodel",
             "python_model": job["folder"] / "python_model.pkl"}
    truth = {DIGEST_TAGS[k]: _sha(p) for k, p in files.items()}
    assert len(truth) == len(DIGEST_TAGS) == 4
    client, mv = job["client"], job["mv"]
    assert {k: mv.tags[k] for k in truth} == truth
    run_tags = client.get_run(mv.run_id).data.tags
    assert {k: run_tags[k] for k in truth} == truth
    logged = client.get_logged_model(mv.source.removeprefix("models:/"))
    assert {k: logged.tags[k] for k in truth} == truth
    beside = json.loads((job["folder"] / "artifacts" / "digests.json").read_text())
    assert {DIGEST_TAGS[k]: v for k, v in beside.items()} == {
        DIGEST_TAGS[k]: truth[DIGEST_TAGS[k]] for k in ("estimator", "meta")}


def test_a_replaced_estimator_is_refused_before_it_is_unpickled(job, tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:  # what a malicious pickle does: run code when loaded
        def __reduce__(self):
            return (Path.touch, (marker,))

    with _Restore(job["folder"] / "artifacts" / "estimator.skops") as est:
        est.write_bytes(pickle.dumps(Payload()))
        with pytest.raises(MMRiskError, match=r"estimator.skops changed after the model was "
                                              r"logged .* refusing to load it"):
            load_model(job["model"], job["uri"])
        res = runner.invoke(app, ["score", "--model", job["model"], "--data", "x.csv",
                                  "--out", str(tmp_path / "o.csv"), "--tracking-uri", job["uri"]])
        assert res.exit_code == 1 and "estimator.skops changed" in res.output
    assert not marker.exists()
    assert load_model(job["model"], job["uri"]).features == ["age", "flag"]  # restored: loads again


def test_edited_cutpoints_are_refused_even_with_a_rewritten_digest_file(job):
    art = job["folder"] / "artifacts"
    with _Restore(art / "meta.json") as meta_path, _Restore(art / "digests.json") as dig:
        meta = json.loads(meta_path.read_text())
        meta["cutpoints"] = [-100.0, 100.0]
        meta_path.write_text(json.dumps(meta))
        # a careful editor also rewrites the digest file beside the model ...
        dig.write_text(json.dumps({"estimator": _sha(art / "estimator.skops"),
                                   "meta": _sha(meta_path)}))
        # ... which the pyfunc alone accepts (the documented limit of a file beside the model)
        assert mlflow.pyfunc.load_model(str(job["folder"])) is not None
        # but the tracking store's digests do not move with it
        with pytest.raises(MMRiskError, match=r"meta.json changed after the model was logged"):
            load_model(job["model"], job["uri"])
        # and `mmrisk serve` hands them to the server process's load_context
        os.environ[DIGEST_ENV] = json.dumps(check_digests := {
            k: job["mv"].tags[t] for k, t in DIGEST_TAGS.items()})
        try:
            with pytest.raises(MMRiskError, match="meta.json changed"):
                mlflow.pyfunc.load_model(str(job["folder"]))
        finally:
            del os.environ[DIGEST_ENV]
        assert set(check_digests) == {"estimator", "meta", "mlmodel", "python_model"}


def test_a_meta_without_features_is_one_message(job, tmp_path):
    copy = tmp_path / "model"
    import shutil

    shutil.copytree(job["folder"], copy)
    meta_path = copy / "artifacts" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["features"]
    meta_path.write_text(json.dumps(meta))
    (copy / "artifacts" / "digests.json").write_text(json.dumps(
        {"estimator": _sha(copy / "artifacts" / "estimator.skops"), "meta": _sha(meta_path)}))
    with pytest.raises(MMRiskError, match=r"meta.json lacks 'features'"):
        load_model(str(copy))


# --- the pyfunc under hostile requests ------------------------------------------------------


def test_nested_cells_bad_params_and_empty_records_are_row_errors(job):
    model = load_model(job["model"], job["uri"]).pyfunc
    X = job["X"].head(4).astype(object).reset_index(drop=True)
    X.at[1, "age"] = [61, 62]
    X.at[2, "flag"] = {"a": 1}
    X.loc[3, ["age", "flag"]] = None
    out = model.predict(X)
    assert out["status"].tolist() == ["ok", "error", "error", "error"]
    assert out["reason"].tolist()[1:] == ["age: a list or object is not a value",
                                          "flag: a list or object is not a value",
                                          "no feature values"]
    assert out.loc[1:, "risk_score"].isna().all() and np.isfinite(out.loc[0, "risk_score"])
    inner = model.unwrap_python_model()
    bad = inner.predict(None, job["X"].head(2), params={"reasons": "yes"})
    assert bad["status"].tolist() == ["error"] * 2
    assert (bad["reason"] == "params.reasons must be true or false").all()


def test_mlflow_server_behaviour_on_hostile_requests(job):
    """What MLflow's own scoring server answers, called in process: the behaviours that
    ``mmrisk serve``'s checking layer (``mmrisk.tracking._serving``) exists to hide; if MLflow
    changes them, this test says so (the served behaviour: tests/workflows/test_serve.py)."""
    model = mlflow.pyfunc.load_model(str(job["folder"]))
    schema = model.metadata.get_input_schema()
    rows = job["X"].head(3)
    # text/csv: MLflow's server turns the input schema into pandas dtypes to read the CSV, and
    # mmrisk's columns are typed Any (so that one bad cell is a row error, not a failed batch),
    # which it cannot: CSV is refused by MLflow before the model is called; without a schema
    # the same CSV scores like JSON.
    with pytest.raises(MlflowException, match="Failed to get pandas types"):
        scoring_server.invocations(rows.to_csv(index=False), "text/csv", model, schema)
    as_csv = scoring_server.invocations(rows.to_csv(index=False), "text/csv", model, None)
    as_json = scoring_server.invocations(
        json.dumps({"dataframe_split": {"columns": list(rows.columns),
                                        "data": rows.to_numpy().tolist()}}),
        "application/json", model, schema)
    assert as_csv.status == as_json.status == 200
    assert json.loads(as_csv.response) == json.loads(as_json.response)
    # one list cell: that row an error, the batch answered (200), no stack trace
    body = {"dataframe_records": [{"age": 61, "flag": 1}, {"age": [1, 2], "flag": 0}]}
    res = scoring_server.invocations(json.dumps(body), "application/json", model, schema)
    preds = json.loads(res.response)["predictions"]
    assert res.status == 200 and [p["status"] for p in preds] == ["ok", "error"]
    # all-null record: an error row
    body = {"dataframe_records": [{"age": None, "flag": None}]}
    res = scoring_server.invocations(json.dumps(body), "application/json", model, schema)
    assert json.loads(res.response)["predictions"][0]["reason"] == "no feature values"
    # MLflow's own parsing quotes a malformed body in its error
    with pytest.raises(MlflowException) as err:
        scoring_server.invocations('{"dataframe_records": [{"age": 61.5,', "application/json",
                                   model, schema)
    assert "Ensure that input is a valid JSON" in err.value.message
    # a params value of the wrong type fails MLflow's params schema before the pyfunc is
    # called, and MLflow's message quotes the input rows
    body = {"dataframe_records": [{"age": 61, "flag": 1}], "params": {"reasons": "x"}}
    with pytest.raises(MlflowException) as err:
        scoring_server.invocations(json.dumps(body), "application/json", model, schema)
    assert "Failed to predict data" in err.value.message and "reasons" in err.value.message


# --- serve ----------------------------------------------------------------------------------


def test_serve_refuses_a_model_that_does_not_exist_before_launching(job):
    with pytest.raises(MMRiskError, match=r"models:/integrity@nope.* cannot be loaded"):
        check_model("models:/integrity@nope", job["uri"])
    # A free port: the port is checked (bound for a moment) before the model.
    res = runner.invoke(app, ["serve", "--model", "models:/nothing-here@champion", "--port",
                              str(free_port()), "--tracking-uri", job["uri"]])
    assert res.exit_code == 1 and "models:/nothing-here@champion" in res.output
    assert "Traceback" not in res.output


PARENT = """
import sys
from mmrisk.workflows._serve import run_server
run_server([sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w').write("
            "str(os.getpid())); time.sleep(600)", sys.argv[1]], dict(__import__('os').environ))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_server_dies_with_its_parent_even_after_sigkill(tmp_path):
    pid_file = tmp_path / "server.pid"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], env=env)
    try:
        for _ in range(600):  # the stand-in server writes its pid once it runs
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.1)
        server = int(pid_file.read_text())
        assert _alive(server)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(300):
            if not _alive(server):
                break
            time.sleep(0.1)
        assert not _alive(server)
    finally:
        if parent.poll() is None:
            parent.kill()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_the_estimator_file_is_skops_with_trusted_types_only(job):
    import skops.io as sio

    path = job["folder"] / "artifacts" / "estimator.skops"
    assert not (job["folder"] / "artifacts" / "estimator.joblib").exists()
    with zipfile.ZipFile(path) as z:  # a zip of JSON and arrays, no pickle stream
        assert "schema.json" in z.namelist()
    assert set(sio.get_untrusted_types(file=path)) <= set(TRUSTED_TYPES)
    est = load_estimator(path)
    X = job["X"].head(20)
    np.testing.assert_array_equal(est.predict(X), joblib_roundtrip(est).predict(X))


def joblib_roundtrip(obj):
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    buf.seek(0)
    return joblib.load(buf)


def test_a_replaced_python_model_pickle_or_mlmodel_is_refused_before_mlflow_reads_it(
        job, tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    with _Restore(job["folder"] / "python_model.pkl") as pkl:
        pkl.write_bytes(pickle.dumps(Payload()))
        with pytest.raises(MMRiskError, match=r"python_model.pkl changed after the model was "
                                              "logged"):
            load_model(job["model"], job["uri"])
    assert not marker.exists()
    with _Restore(job["folder"] / "MLmodel") as mlmodel:
        mlmodel.write_text(mlmodel.read_text() + "code: elsewhere\n")
        with pytest.raises(MMRiskError, match=r"MLmodel changed after the model was logged"):
            load_model(job["model"], job["uri"])
    assert load_model(job["model"], job["uri"]).features == ["age", "flag"]


class _Foreign(BaseEstimator):
    """A type no list of mmrisk trusts."""


def test_skops_refuses_types_outside_the_trusted_list_and_falls_back_for_foreign_objects(
        tmp_path, caplog):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "estimator.skops"
    sio.dump(FunctionTransformer(func=os.system), path)  # a file naming a dangerous function
    with pytest.raises(MMRiskError, match=r"holds types mmrisk does not load \(.*system"):
        load_estimator(path)
    folder = tmp_path / "foreign"
    folder.mkdir()
    with caplog.at_level("WARNING"):
        saved = save_estimator(_Foreign(), folder)
    assert saved.name == "estimator.joblib" and not (folder / "estimator.skops").exists()
    assert "test_integrity._Foreign" in caplog.text and "joblib" in caplog.text
    assert isinstance(load_estimator(saved), _Foreign)


def test_a_model_logged_before_skops_and_digests_still_loads(job):
    """The pre-digest format (estimator.joblib + meta.json, nothing recorded) loads as before,
    with a warning, and scores exactly as the same estimator in the new format."""
    current = load_model(job["model"], job["uri"])
    with using_store(job["uri"]), mlflow.start_run() as run, \
            tempfile.TemporaryDirectory() as tmp:
        est, meta = Path(tmp) / "estimator.joblib", Path(tmp) / "meta.json"
        joblib.dump(current.estimator, est)
        meta.write_text(json.dumps(current.meta))
        mlflow.pyfunc.log_model(name="model", python_model=MMRiskPyfunc(),
                                artifacts={"estimator": str(est), "meta": str(meta)})
    old = load_model(f"runs:/{run.info.run_id}/model", job["uri"])
    X = job["X"].head(10)
    pd.testing.assert_frame_equal(old.pyfunc.predict(X), current.pyfunc.predict(X))
