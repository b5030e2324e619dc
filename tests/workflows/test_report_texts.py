"""The report's method sentences follow the configuration, not the default one.

TRIPOD+AI items 7 (data preparation), 8a (predictor selection), 11 (missing data), 12b/c
(predictor handling, tuning): each sentence is checked against what the configured models and
pipelines actually do (a passthrough pipeline imputes nothing, cs_cox does not tune, a flat
table is not a registry extract).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from registry_like import registry_like

from mmrisk.config import load_config
from mmrisk.models import make_model
from mmrisk.predict import unimputed_features
from mmrisk.workflows import _report as report

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

FLAT = """
name: flat
data: {{table: {table}, time: t, event: status, id_column: pid}}
pipeline: passthrough
baseline: cox
models:
  cox: {{kind: cox}}
  xgb: {{kind: xgb_cox, grid: {{max_depth: [2, 3]}}}}
horizons: [12]
"""


def test_default_config_sentences():
    config = load_config(CONFIGS / "default.yaml")
    texts = report._assemble_defaults(config, 12)
    assert texts["data_preparation"].startswith("The extract was checked against the registry")
    assert "(12 values)" in texts["data_preparation"]
    missing = texts["missing_data"]
    assert "pipeline 'default': a missing numeric value is imputed by the training" in missing
    assert "pipeline 'staging': an R-ISS stage that cannot be determined" in missing
    assert "passthrough" not in missing
    tuning = report._tuning_text(config)
    assert tuning.startswith("No hyperparameter grid was searched; coxnet chooses its penalty")
    assert "feature pipeline 'default'" in report._handling_text(config)
    assert report._within_fit(config) == " (the elastic-net Cox model selects within its fit)"


def test_competing_risks_config_sentences():
    config = load_config(CONFIGS / "competing_risks.yaml")
    tuning = report._tuning_text(config)
    assert "cs_coxnet chooses each cause's penalty" in tuning
    assert "finegray" not in tuning and "cs_cox " not in tuning
    assert report._within_fit(config) == (
        " (the elastic-net cause-specific Cox model selects within its fit)")


def test_flat_passthrough_config_sentences(tmp_path):
    table = tmp_path / "t.csv"
    pd.DataFrame({"pid": [1, 2], "t": [3.0, 4.0], "status": [1, 0], "x": [0.1, 0.2]}).to_csv(
        table, index=False)
    cfg = tmp_path / "flat.yaml"
    cfg.write_text(FLAT.format(table=table))
    config = load_config(cfg)
    texts = report._assemble_defaults(config, 0)
    assert texts["data_preparation"].startswith("The flat analysis table was used as given")
    assert "registry" in texts["data_preparation"] and "contract" not in texts["data_preparation"]
    assert "pipeline 'passthrough': nothing is imputed" in texts["missing_data"]
    assert "median" not in texts["missing_data"]
    assert report._within_fit(config) == ""
    tuning = report._tuning_text(config)
    assert tuning == ("Grid search by inner 3-fold cross-validation (Harrell's C) within each "
                      'training fold: xgb: {"max_depth": [2, 3]}.')
    assert "standardisation" not in report._handling_text(config)


@pytest.mark.parametrize(("pipeline", "imputes"), [("default", True), ("passthrough", False)])
def test_the_missing_data_sentence_agrees_with_the_fitted_pipeline(pipeline, imputes):
    """The sentence of each packaged pipeline against the probe of a fitted model."""
    X, y = registry_like(120, seed=3)
    if pipeline == "passthrough":  # training refuses a missing value under passthrough
        X = X.select_dtypes("number").fillna(X.select_dtypes("number").median())
    model = make_model("cox", pipeline=pipeline, params={"alpha": 0.1}).fit(X, y)
    refused = unimputed_features(model, X)
    assert (refused == []) is imputes
    sentence = report._MISSING_BY_PIPELINE[pipeline]
    assert ("nothing is imputed" not in sentence) is imputes
