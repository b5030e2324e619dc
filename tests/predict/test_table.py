"""``predict_frame`` gives what the straightforward path gives, on a champion-like coxnet.

The straightforward path: the whole model's ``predict`` for the risk score, each row's
scikit-survival step function for survival, and for the reasons ``explain`` run on the raw rows
(it transforms them itself) against :func:`reference_rows`, then a row-by-row top-3 loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from registry_like import registry_like

from mmrisk.explain import explain, format_value
from mmrisk.models import make_model
from mmrisk.predict import _table as table
from mmrisk.predict import (
    learn_cutpoints,
    predict_frame,
    reference_rows,
    risk_groups,
    training_profile,
)

HORIZONS = [12, 24, 36]


@pytest.fixture(scope="module")
def champion():
    X, y = registry_like(300, seed=11)
    model = make_model("coxnet", pipeline="default", params={"l1_ratio": 0.5}, seed=0).fit(X, y)
    meta = {"features": list(X.columns), "horizons": HORIZONS,
            "cutpoints": learn_cutpoints(model.predict(X)), "profile": training_profile(X)}
    new, _ = registry_like(180, seed=12)
    return model, meta, new.set_axis(np.arange(180) * 2 + 100)


def _contribution(value: float) -> str:
    return f"{value:+.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:+.2g}"


def _reasons_by_row(expl, k: int = 3) -> list[list[str]]:
    values = expl.values.to_numpy(float)
    data = expl.data.to_numpy(object)
    names = list(expl.values.columns)
    out = []
    for i in range(len(values)):
        size = np.where((values[i] != 0) & np.isfinite(values[i]), np.abs(values[i]), -1.0)
        top = np.argsort(-size, kind="stable")[:k]
        out.append([f"{names[f]}={format_value(data[i, f])} ({_contribution(values[i, f])})"
                    if size[f] >= 0 else "" for f in top])
    return out


def _per_row_survival(model, X, times):
    out = []
    for fn in model.predict_survival_function(X):
        lo, hi = fn.domain
        out.append(fn(np.clip(np.asarray(times, float), lo, hi)))
    return np.clip(np.asarray(out), 0.0, 1.0)


def test_predict_frame_equals_the_straightforward_path(champion):
    model, meta, new = champion
    out = predict_frame(model, meta, new, reasons=True)
    assert list(out.index) == list(new.index)
    assert (out["status"] != "error").all()
    risk = model.predict(new)
    np.testing.assert_allclose(out["risk_score"], risk, rtol=0, atol=1e-12)
    assert out["risk_group"].tolist() == risk_groups(risk, meta["cutpoints"]).tolist()
    surv = _per_row_survival(model, new, HORIZONS)
    for j, h in enumerate(HORIZONS):
        np.testing.assert_allclose(out[f"surv_{h}m"], surv[:, j], rtol=0, atol=1e-12)
    expl = explain(model, new, output="risk", background=reference_rows(meta))
    expected = np.asarray(_reasons_by_row(expl), dtype=object)
    np.testing.assert_array_equal(out[["reason_1", "reason_2", "reason_3"]].to_numpy(), expected)
    assert out["reason_1"].str.contains(r"=.* \([+-]").all()


def test_reasons_in_blocks_and_error_rows(champion, monkeypatch):
    """Blocks of a few rows give the same reasons; error rows get none and shift nothing."""
    model, meta, new = champion
    whole = predict_frame(model, meta, new, reasons=True)
    monkeypatch.setattr(table, "_REASON_BLOCK", 7)
    bad = new.copy().astype({"age": object})
    bad.iloc[[3, 50], bad.columns.get_loc("age")] = "sixty"
    blocks = predict_frame(model, meta, bad, reasons=True)
    err = blocks["status"] == "error"
    assert err.sum() == 2 and (blocks.loc[err, "reason_1"] == "").all()
    assert blocks.loc[err, "risk_score"].isna().all()
    cols = ["risk_score", "reason_1", "reason_2", "reason_3"] + [f"surv_{h}m" for h in HORIZONS]
    pd.testing.assert_frame_equal(blocks.loc[~err, cols], whole.loc[~err, cols])


def test_reference_input_is_remembered_per_model_and_profile(champion):
    model, meta, _ = champion
    first = table._reference_input(model, meta)
    assert table._reference_input(model, meta) is first
    other = {**meta, "profile": training_profile(registry_like(50, seed=5)[0])}
    second = table._reference_input(model, other)
    assert second is not first
    pd.testing.assert_frame_equal(second.columns, model[:-1].transform(reference_rows(other)))


def test_missing_value_for_a_model_without_imputation_is_that_rows_error():
    """A passthrough model (no imputer) refuses NaN: only the rows holding one become errors."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    from sksurv.util import Surv
    y = Surv.from_arrays(rng.random(120) < 0.7, rng.exponential(30, 120) + 1)
    model = Pipeline([("scale", StandardScaler()), ("cox", CoxPHSurvivalAnalysis())])
    model = model.set_output(transform="pandas").fit(X, y)
    meta = {"features": ["a", "b"], "horizons": [12], "cutpoints": [-0.5, 0.5],
            "profile": training_profile(X)}
    new = X.iloc[:6].copy()
    new.loc[new.index[[1, 4]], "b"] = np.nan
    out = predict_frame(model, meta, new, reasons=False)
    assert list(out["status"]) == ["ok", "error", "ok", "ok", "error", "ok"]
    assert out["reason"].iloc[1] == "missing value in b: this model has no imputation for it"
    clean = new.drop(index=new.index[[1, 4]])
    np.testing.assert_allclose(out["risk_score"].dropna().to_numpy(), model.predict(clean))
    assert out["risk_score"].iloc[[1, 4]].isna().all()


def test_unimputed_features_are_probed_and_their_missing_values_flagged_up_front(monkeypatch):
    """``unimputed_features`` names the features whose missing value the model itself refuses
    (scikit-learn's own NaN check is the truth); with ``meta["unimputed"]`` set, ``check_rows``
    makes those rows errors and the model is never asked to predict a NaN."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    from mmrisk.models import XGBCox
    from mmrisk.predict import check_rows, unimputed_features

    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=150), "b": rng.normal(size=150),
                      "c": rng.normal(size=150)})
    y = Surv.from_arrays(rng.random(150) < 0.7, rng.exponential(30, 150) + 1)
    # "a" is imputed, "b" and "c" pass through as they are
    prep = ColumnTransformer([("imp", SimpleImputer(), ["a"])], remainder="passthrough",
                             verbose_feature_names_out=False)
    model = Pipeline([("prep", prep), ("cox", CoxPHSurvivalAnalysis())])
    model = model.set_output(transform="pandas").fit(X, y)
    refused = []
    for f in X.columns:
        probe = X.iloc[[3]].copy()
        probe[f] = np.nan
        try:
            model.predict(probe)
        except ValueError:
            refused.append(f)
    assert refused == ["b", "c"]
    assert unimputed_features(model, X) == refused
    # XGBoost treats a missing value as its own branch of every split (its documentation)
    assert unimputed_features(XGBCox(n_estimators=5).fit(X, y), X) == []

    meta = {"features": ["a", "b", "c"], "horizons": [12], "cutpoints": [-0.5, 0.5],
            "profile": training_profile(X), "unimputed": refused}
    new = X.iloc[:5].copy()
    new.loc[new.index[0], "a"] = np.nan               # imputed: scored
    new.loc[new.index[2], ["b", "c"]] = np.nan       # both named
    new.loc[new.index[4], "c"] = np.nan
    _, status, reason = check_rows(new, meta)
    assert list(status) == ["ok", "ok", "error", "ok", "error"]
    assert reason[2] == "missing value in b, c: this model has no imputation for it"
    assert reason[4] == "missing value in c: this model has no imputation for it"

    def no_fallback(*args, **kwargs):
        raise AssertionError("the model was asked to predict a missing value")

    real = table._score

    def guarded(estimator, meta_, Xs, *args, **kwargs):
        if Xs[["b", "c"]].isna().any().any():
            no_fallback()
        return real(estimator, meta_, Xs, *args, **kwargs)

    monkeypatch.setattr(table, "_score", guarded)
    out = predict_frame(model, meta, new, reasons=False)
    assert list(out["status"]) == ["ok", "ok", "error", "ok", "error"]
    np.testing.assert_allclose(out["risk_score"].iloc[[0, 1, 3]].to_numpy(),
                               model.predict(new.iloc[[0, 1, 3]]))
