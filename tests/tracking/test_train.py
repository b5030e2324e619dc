"""The main job end to end on a small synthetic registry: runs, metrics, artifacts, registry,
pyfunc, reproducibility, and no patient identifier or calendar date anywhere in the store."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.config import load_config
from mmrisk.exceptions import ConfigError
from mmrisk.registry import read_extract, simulate_registry
from mmrisk.workflows import train

CONFIG = """
name: tiny
seed: 3
data: {{synthetic_dir: {data}, simulate_n: 400, simulate_seed: 11}}
cohort: {{landmark: lm_start, endpoint: pfs}}
models:
  staging: {{kind: staging}}
  cox: {{kind: cox}}
  rsf: {{kind: rsf, params: {{n_estimators: 10}}}}
validation: {{n_splits: 3, n_repeats: 1, n_bootstrap: 20}}
horizons: [12, 24]
explain: {{n_samples: 20}}
tracking: {{experiment: tiny, registered_model: tiny-model}}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("job")
    data = root / "data"
    simulate_registry(data, n=400, seed=11)
    cfg_path = root / "tiny.yaml"
    cfg_path.write_text(CONFIG.format(data=data))
    cfg = load_config(cfg_path)
    uri = f"sqlite:///{root}/store/mlflow.db"
    first = train(cfg, tracking_uri=uri)
    second = train(cfg, tracking_uri=uri)
    return {"root": root, "data": data, "cfg": cfg, "uri": uri, "first": first,
            "second": second, "cfg_path": cfg_path}


def test_parent_and_child_runs_carry_contract_metrics_and_artifacts(trained):
    r = trained["first"]
    mlflow.set_tracking_uri(trained["uri"])
    client = MlflowClient()
    parent = client.get_run(r.parent_run_id)
    for tag in ("data_fingerprint", "config_hash", "git_commit", "mmrisk_version"):
        assert parent.data.tags[tag]
    names = {a.path for a in client.list_artifacts(r.parent_run_id)}
    assert {"config.yaml", "flow.csv", "table1.csv", "leaderboard.csv"} <= names
    assert set(r.child_run_ids) == {"staging", "cox", "rsf"}
    for name, run_id in r.child_run_ids.items():
        run = client.get_run(run_id)
        assert run.info.experiment_id == parent.info.experiment_id
        assert run.data.tags["mlflow.parentRunId"] == r.parent_run_id
        m = run.data.metrics
        for key in ("cv_cindex_harrell", "cv_cindex_uno", "cv_auc_12m", "cv_brier_24m", "cv_ibs",
                    "cv_calib_slope_12m", "cv_ici_12m", "cv_e50_12m", "cv_e90_12m"):
            assert key in m and f"{key}_lo" in m and f"{key}_hi" in m, (name, key)
            assert m[f"{key}_lo"] <= m[f"{key}_hi"], (name, key)
            # Absolute calibration errors (ICI, E50, E90) are biased upward under resampling,
            # so their percentile interval may lie above the point estimate; the others must
            # contain it.
            if not key.startswith(("cv_calib", "cv_ici", "cv_e50", "cv_e90")):
                assert m[f"{key}_lo"] <= m[key] <= m[f"{key}_hi"], (name, key)
        arts = {a.path for a in client.list_artifacts(run_id)}
        assert "predictions_oof.parquet" in arts
        # out-of-fold clinical utility and subgroups (issue 12)
        assert {"decision_curve.csv", "subgroups.csv", "centre_heterogeneity.json"} <= arts
        # MLflow 3 keeps the pyfunc as a LoggedModel of the run; runs:/<id>/model resolves it.
        assert mlflow.pyfunc.load_model(f"runs:/{run_id}/model") is not None
        figs = {a.path for a in client.list_artifacts(run_id, "figures")}
        assert "figures/calibration_12m.png" in figs and "figures/km_risk_groups.png" in figs
        assert "figures/decision_curves.png" in figs
        if name in ("staging", "cox"):
            assert "hazard_ratios.csv" in arts
            assert "figures/hr_forest.png" in figs
    # The baseline's difference from itself is zero; other models carry a paired difference.
    cox = client.get_run(r.child_run_ids["cox"]).data.metrics
    assert "cv_cindex_uno_diff_vs_baseline" in cox


def test_oof_predictions_have_no_identifiers(trained):
    r = trained["first"]
    mlflow.set_tracking_uri(trained["uri"])
    path = mlflow.artifacts.download_artifacts(
        run_id=r.child_run_ids["cox"], artifact_path="predictions_oof.parquet")
    oof = pd.read_parquet(path)
    assert "patient_id" not in oof.columns
    assert {"row", "fold", "risk", "surv_12m", "surv_24m"} <= set(oof.columns)


def test_no_patient_identifier_or_calendar_date_anywhere_in_the_store(trained):
    extract = read_extract(trained["data"])
    ids = set(extract["patients"]["patient_id"].astype(str))
    dates = set()
    for df in extract.tables.values():
        for col in df.columns:
            if col.endswith("_date"):
                dates |= set(df[col].dropna().astype(str))
    pattern = re.compile(rb"P\d{6}|\d{4}-\d{2}-\d{2}")
    hits = []
    for path in (trained["root"] / "store").rglob("*"):
        if not path.is_file():
            continue
        for token in set(pattern.findall(path.read_bytes())):
            text = token.decode()
            if text in ids or text in dates:
                hits.append((path.name, text))
    assert hits == []


def test_same_config_and_data_give_identical_metrics(trained):
    a = trained["first"].leaderboard.sort_values(["model", "metric"]).reset_index(drop=True)
    b = trained["second"].leaderboard.sort_values(["model", "metric"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert trained["first"].data_fingerprint == trained["second"].data_fingerprint


def test_registry_champion_then_challenger_and_pyfunc_output(trained):
    first, second = trained["first"].registered, trained["second"].registered
    assert first["alias"] == "champion"
    # Same data, same metric: the second run does not beat the champion.
    assert second["alias"] == "challenger" and second["version"] == first["version"] + 1
    mlflow.set_tracking_uri(trained["uri"])
    model = mlflow.pyfunc.load_model("models:/tiny-model@champion")
    from mmrisk.cohort import load_cohort

    cfg = trained["cfg"]
    cohort = load_cohort(cfg.data, cfg.cohort)
    X = cohort.X.head(25)
    out = model.predict(X)
    assert list(out.columns) == ["status", "reason", "risk_score", "risk_group", "surv_12m",
                                 "surv_24m", "reason_1", "reason_2", "reason_3"]
    assert len(out) == 25
    assert (out["status"] != "error").all()
    assert out["risk_group"].isin(["low", "intermediate", "high"]).all()
    assert ((out["surv_24m"] <= out["surv_12m"] + 1e-12) & (out["surv_12m"] <= 1)).all()
    # Higher risk score, lower survival (Spearman correlation strongly negative).
    assert np.corrcoef(out["risk_score"].rank(), out["surv_24m"].rank())[0, 1] < -0.8


def test_compare_prints_the_leaderboard_with_intervals(trained):
    runner = CliRunner()
    res = runner.invoke(app, ["compare", "--experiment", "tiny", "--tracking-uri",
                              trained["uri"]])
    assert res.exit_code == 0, res.output
    assert "★" in res.output and "[" in res.output and "cv_cindex_uno" in res.output
    res = runner.invoke(app, ["compare", "--experiment", "tiny", "--tracking-uri",
                              trained["uri"], "--format", "csv"])
    board = pd.read_csv(__import__("io").StringIO(res.output))
    assert set(board["model"]) == {"staging", "cox", "rsf"}
    # The latest train's child runs, so a user can load runs:/<run_id>/model.
    assert set(board["run_id"]) == set(trained["second"].child_run_ids.values())
    assert "model_size_bytes_lo" not in board.columns
    res = runner.invoke(app, ["compare", "--experiment", "tiny", "--tracking-uri",
                              trained["uri"], "--format", "markdown"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("| model | ") and "cv_cindex_uno" in lines[0]
    assert lines[1].startswith("|---|") and len(lines) == 2 + 3  # header, rule, 3 models
    assert lines[2].split("|")[1].strip().endswith("★")  # the best model first, marked
    res = runner.invoke(app, ["compare", "--experiment", "nope", "--tracking-uri",
                              trained["uri"]])
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_config_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {cox: {kind: cox}}\nvalidation: {n_splits: 1}\nfoo: 1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: .*key validation.n_splits.*key foo"):
        load_config(bad)
    bad.write_text("models: {cox: {kind: cox}}\nbaseline: staging\n")
    with pytest.raises(ConfigError, match="baseline 'staging' is not one of the models"):
        load_config(bad)
