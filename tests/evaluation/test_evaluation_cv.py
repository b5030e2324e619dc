"""The cross-validation driver: identical folds, out-of-fold predictions, scopes and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sksurv.linear_model import CoxPHSurvivalAnalysis

from mmrisk.evaluation import (
    CVResult,
    Split,
    cindex_harrell,
    cindex_uno,
    compute_metrics,
    cross_validate,
    make_splits,
    metric_names,
)
from mmrisk.exceptions import MetricInputError

HORIZONS = [12, 24, 36]


def _cox_on(*columns):
    select = ColumnTransformer([("keep", "passthrough", list(columns))])
    return Pipeline([("select", select), ("cox", CoxPHSurvivalAnalysis())])


MODELS = {"x1": _cox_on("x1"), "both": _cox_on("x1", "x2")}


@pytest.fixture(scope="module")
def data(simulate):
    return simulate(400, seed=21, censor_max=80.0)


@pytest.fixture(scope="module")
def cv(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=2, seed=0)
    calls = []
    result = cross_validate(
        MODELS, data.X, data.y, splits, HORIZONS, baseline="x1", n_bootstrap=40, seed=1,
        progress=lambda *c: calls.append(c),
    )  # fmt: skip
    return splits, result, calls


def test_metric_table_names(cv):
    _, result, _ = cv
    assert isinstance(result, CVResult) and result.scope == "cv"
    expected = ["cv_" + m for m in metric_names(HORIZONS)]
    for model in MODELS:
        assert result.metrics[result.metrics["model"] == model]["metric"].tolist() == expected
    assert list(result.metrics.columns) == ["model", "metric", "value", "lo", "hi"]
    assert result.differences["model"].unique().tolist() == ["both"]
    flat = result.flat("both")
    assert (
        flat["cv_cindex_uno"]
        == result.metrics.set_index(["model", "metric"]).loc[("both", "cv_cindex_uno"), "value"]
    )
    assert {"cv_auc_12m_lo", "cv_auc_12m_hi"} <= set(flat)


def test_predictions_table(cv, data):
    splits, result, _ = cv
    pred = result.predictions
    assert list(pred.columns) == [
        "model", "row", "repeat", "fold", "risk", "surv_12m", "surv_24m", "surv_36m",
    ]  # fmt: skip
    assert len(pred) == len(MODELS) * 2 * data.y.size
    for _, group in pred.groupby(["model", "repeat"]):
        assert np.array_equal(np.sort(group["row"]), np.arange(data.y.size))
    # Identical folds for every model, as the splits define them.
    by_model = {m: g.sort_values(["repeat", "row"])["fold"].to_numpy() for m, g in
                pred.groupby("model")}  # fmt: skip
    assert np.array_equal(by_model["x1"], by_model["both"])
    for s in splits:
        rows = pred[(pred["model"] == "x1") & (pred["repeat"] == s.repeat)].set_index("row")
        assert np.all(rows.loc[s.test_idx, "fold"] == s.fold)


def test_predictions_are_out_of_fold(cv, data):
    splits, result, _ = cv
    s = splits[4]
    fitted = _cox_on("x1", "x2").fit(data.X.iloc[s.train_idx], data.y[s.train_idx])
    pred = result.predictions
    rows = pred[(pred["model"] == "both") & (pred["repeat"] == s.repeat)].set_index("row")
    np.testing.assert_allclose(
        rows.loc[s.test_idx, "risk"], fitted.predict(data.X.iloc[s.test_idx]), rtol=1e-10
    )


def test_cv_metric_is_mean_over_repeats_of_pooled_oof(cv, data):
    _, result, _ = cv
    per_repeat = []
    for r in range(2):
        pred = result.predictions
        rows = pred[(pred["model"] == "both") & (pred["repeat"] == r)].sort_values("row")
        surv = rows[["surv_12m", "surv_24m", "surv_36m"]].to_numpy()
        # Pooled OOF predictions; the IPCW outcome is the full data's (documented).
        per_repeat.append(compute_metrics(data.y, data.y, rows["risk"], surv, HORIZONS))
    got = result.metrics.query("model == 'both'").set_index("metric")["value"]
    for name in ["cindex_harrell", "cindex_uno", "auc_24m", "brier_12m", "calib_slope_24m",
                 "ici_36m", "e90_12m"]:  # fmt: skip
        expected = np.mean([p[name] for p in per_repeat])
        assert got["cv_" + name] == pytest.approx(expected, rel=1e-10), name
    table = result.per_repeat.query("model == 'both' and metric == 'cv_cindex_harrell'")
    np.testing.assert_allclose(table["value"], [p["cindex_harrell"] for p in per_repeat])


def test_progress_and_determinism(cv, data):
    splits, result, calls = cv
    fits = [c for c in calls if c[0] == "fit"]
    assert fits[-1] == ("fit", len(splits) * len(MODELS), len(splits) * len(MODELS))
    assert calls[-1][0] == "metrics" and calls[-1][1] == calls[-1][2]
    again = cross_validate(
        MODELS, data.X, data.y, splits, HORIZONS, baseline="x1", n_bootstrap=40, seed=1
    )
    pd.testing.assert_frame_equal(again.metrics, result.metrics)
    pd.testing.assert_frame_equal(again.differences, result.differences)


def test_holdout_scope_uses_training_outcome_for_ipcw(data):
    meta = pd.DataFrame({"split": np.where(np.arange(data.y.size) % 4 == 0, "test", "train")})
    (split,) = make_splits("predefined", data.y, meta)
    result = cross_validate(
        {"both": _cox_on("x1", "x2")}, data.X, data.y, [split], HORIZONS, n_bootstrap=0
    )
    assert result.scope == "test" and result.differences.empty
    value = result.metrics.set_index("metric")["value"]
    fitted = _cox_on("x1", "x2").fit(data.X.iloc[split.train_idx], data.y[split.train_idx])
    risk = fitted.predict(data.X.iloc[split.test_idx])
    y_train, y_test = data.y[split.train_idx], data.y[split.test_idx]
    assert value["test_cindex_harrell"] == pytest.approx(cindex_harrell(None, y_test, risk))
    assert value["test_cindex_uno"] == pytest.approx(cindex_uno(y_train, y_test, risk, [36]))
    assert len(result.predictions) == split.test_idx.size


def test_overlapping_test_sets_are_refused(data):
    idx = np.arange(data.y.size)
    bad = [Split(0, 0, idx[100:], idx[:200]), Split(0, 1, idx[:100], idx[100:])]
    with pytest.raises(MetricInputError, match="test sets of repeat 0 overlap"):
        cross_validate({"m": _cox_on("x1")}, data.X, data.y, bad, HORIZONS, n_bootstrap=0)


def test_inputs_are_checked(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1)
    with pytest.raises(MetricInputError, match="baseline 'cox' is not among the models"):
        cross_validate(MODELS, data.X, data.y, splits, HORIZONS, baseline="cox")
    with pytest.raises(MetricInputError, match="X must be a pandas DataFrame"):
        cross_validate(MODELS, data.X.to_numpy(), data.y, splits, HORIZONS)


class _Broken(BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("singular matrix")


def test_fit_failure_names_model_and_split(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1)
    with pytest.raises(RuntimeError, match="singular matrix") as info:
        cross_validate({"broken": _Broken()}, data.X, data.y, splits, HORIZONS, n_bootstrap=0)
    assert "while fitting model 'broken' on repeat 0, fold 0" in info.value.__notes__
