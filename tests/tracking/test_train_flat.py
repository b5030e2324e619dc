"""Flat-table mode end to end (docs/architecture.md "Flat analysis table"): GBSG2 as a CSV with a
predefined train/test split, the passthrough pipeline, no R-ISS baseline. The logged test
C-index must equal an independent scikit-survival Cox fitted on the same training rows."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sksurv.datasets import load_gbsg2
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from mmrisk.config import load_config
from mmrisk.tracking import load_model
from mmrisk.workflows import train

NUMERIC = ["age", "estrec", "pnodes", "progrec", "tsize"]


@pytest.fixture(scope="module")
def flat_job(tmp_path_factory):
    root = tmp_path_factory.mktemp("flat")
    X, y = load_gbsg2()
    rng = np.random.default_rng(0)
    table = X[NUMERIC].astype(float).reset_index(drop=True)
    table["ptime"] = y["time"] / 30.4375
    table["pstat"] = y["cens"].astype(int)
    table["split"] = np.where(rng.uniform(size=len(table)) < 0.7, "train", "test")
    table["record"] = [f"R{i:04d}" for i in range(len(table))]
    table.to_csv(root / "gbsg2.csv", index=False)
    (root / "flat.yaml").write_text(f"""
name: flat
seed: 1
data:
  table: {root / 'gbsg2.csv'}
  time: ptime
  event: pstat
  split_column: split
  id_column: record
pipeline: passthrough
baseline: null
models:
  cox: {{kind: cox}}
  rsf: {{kind: rsf, params: {{n_estimators: 20, min_samples_leaf: 15}}}}
validation: {{scheme: predefined, n_bootstrap: 20}}
horizons: [12, 24, 36]
explain: {{n_samples: 0}}
tracking: {{experiment: flat, registered_model: flat-model, select_metric: test_cindex_harrell}}
""")
    uri = f"sqlite:///{root}/store/mlflow.db"
    return {"table": table, "result": train(load_config(root / "flat.yaml"), tracking_uri=uri),
            "uri": uri, "config": root / "flat.yaml"}


def test_flat_table_test_cindex_matches_an_independent_cox(flat_job):
    table, result = flat_job["table"], flat_job["result"]
    train_rows, test_rows = table[table.split == "train"], table[table.split == "test"]
    ref = CoxPHSurvivalAnalysis(alpha=0.01, ties="efron").fit(
        train_rows[NUMERIC].to_numpy(),
        Surv.from_arrays(train_rows.pstat.astype(bool), train_rows.ptime))
    expected = concordance_index_censored(test_rows.pstat.astype(bool), test_rows.ptime,
                                          ref.predict(test_rows[NUMERIC].to_numpy()))[0]
    mlflow.set_tracking_uri(flat_job["uri"])
    run = MlflowClient().get_run(result.child_run_ids["cox"])
    assert run.data.metrics["test_cindex_harrell"] == pytest.approx(expected, abs=1e-9)
    assert "cv_cindex_harrell" not in run.data.metrics  # a holdout is not cross-validation


def test_flat_table_model_keeps_its_columns_and_no_identifier(flat_job):
    mlflow.set_tracking_uri(flat_job["uri"])
    reg = flat_job["result"].registered
    loaded = load_model(f"models:/{reg['name']}@{reg['alias']}")
    assert loaded.features == NUMERIC  # id, split, time and event are not features
    assert loaded.meta["cohort"] is None  # scoring must not rebuild a registry cohort
    pred = loaded.pyfunc.predict(flat_job["table"][NUMERIC].head(5))
    assert len(pred) == 5 and pd.Series(pred["risk_score"]).notna().all()


def _logged_hazard_ratios(uri: str, run_id: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(uri)
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="hazard_ratios.csv")
    return pd.read_csv(path).set_index("term")


def _reference_hr(rows: pd.DataFrame) -> np.ndarray:
    ref = CoxPHSurvivalAnalysis(alpha=0.01, ties="efron").fit(
        rows[NUMERIC].to_numpy(), Surv.from_arrays(rows.pstat.astype(bool), rows.ptime))
    return np.exp(ref.coef_)


def test_holdout_logs_the_development_fit_the_test_metrics_describe(flat_job):
    """Issue 12 "holdout honesty": hazard_ratios.csv is the Cox fit on the 70% train rows."""
    table, result = flat_job["table"], flat_job["result"]
    hr = _logged_hazard_ratios(flat_job["uri"], result.child_run_ids["cox"])
    dev = _reference_hr(table[table.split == "train"])
    every = _reference_hr(table)
    np.testing.assert_allclose(hr.loc[NUMERIC, "hr"].to_numpy(), dev, rtol=1e-4)
    assert not np.allclose(hr.loc[NUMERIC, "hr"].to_numpy(), every, rtol=1e-4)
    run = MlflowClient().get_run(result.child_run_ids["cox"])
    assert run.data.tags["final_fit"] == "development"
    loaded = load_model(f"runs:/{result.child_run_ids['cox']}/model")
    n_train = int((table.split == "train").sum())
    assert loaded.meta["profile"]["n"] == n_train  # the profile is of the rows it was fitted on


def test_final_fit_all_refits_on_every_row_and_says_so(flat_job, tmp_path):
    cfg = load_config(flat_job["config"]).model_copy(update={"final_fit": "all"})
    cfg = cfg.model_copy(update={"models": {"cox": cfg.models["cox"]}})
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    result = train(cfg, tracking_uri=uri)
    hr = _logged_hazard_ratios(uri, result.child_run_ids["cox"])
    np.testing.assert_allclose(hr.loc[NUMERIC, "hr"].to_numpy(),
                               _reference_hr(flat_job["table"]), rtol=1e-4)
    tags = MlflowClient().get_run(result.child_run_ids["cox"]).data.tags
    assert tags["final_fit"] == "all" and "test_ metrics describe" in tags["note"]


def test_final_fit_development_needs_a_holdout_scheme(flat_job):
    from mmrisk.exceptions import ConfigError

    raw = load_config(flat_job["config"]).model_dump()
    raw["final_fit"] = "development"
    raw["validation"]["scheme"] = "kfold"
    with pytest.raises((ConfigError, ValueError), match="single holdout split"):
        type(load_config(flat_job["config"])).model_validate(raw)
