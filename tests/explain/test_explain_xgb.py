"""Exact TreeSHAP of the XGBoost survival models (XGBoost's own ``pred_contribs``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from scipy import stats
from shap.explainers._tree import TreeEnsemble
from sksurv.util import Surv

from mmrisk.exceptions import MMRiskError
from mmrisk.explain import explain, reasons_table, tree_shap
from mmrisk.models import XGBAFT, XGBCox, make_model, predict_survival_at

ONE = {"n_jobs": 1}
TREE_FIELDS = ("children_left", "children_right", "children_default", "features", "thresholds",
               "values", "node_sample_weight")


@pytest.fixture(scope="module")
def models(make_data):
    X, y = make_data(300, 5, seed=3, missing=0.05)
    fitted = {
        "cox": XGBCox(n_estimators=40, max_depth=4, random_state=0, **ONE).fit(X, y),
        "aft": XGBAFT(n_estimators=40, max_depth=4, random_state=0, **ONE).fit(X, y),
    }
    return X, fitted


@pytest.mark.parametrize("name", ["cox", "aft"])
def test_contributions_add_up_to_the_risk_score(models, name):
    X, fitted = models
    model = fitted[name]
    contribs = model.predict_risk_contributions(X)
    assert contribs.shape == (len(X), X.shape[1] + 1)
    assert np.ptp(contribs[:, -1]) == 0.0  # the bias column is the expected value
    np.testing.assert_allclose(contribs.sum(axis=1), model.predict(X), atol=2e-5)
    phi, base = tree_shap(model, X)
    np.testing.assert_allclose(phi, contribs[:, :-1])
    assert base == contribs[0, -1]


@pytest.mark.parametrize("name", ["cox", "aft"])
def test_values_equal_shaps_own_tree_shap_on_the_same_booster(models, name):
    """shap's TreeExplainer on the booster hands path-dependent TreeSHAP back to XGBoost, so
    its trees (as shap parses them) go through shap's own algorithm instead."""
    X, fitted = models
    model = fitted[name]
    ensemble = TreeEnsemble(model.booster_)
    trees = [{k: getattr(t, k) for k in TREE_FIELDS} for t in ensemble.trees]
    explainer = shap.TreeExplainer({"trees": trees, "base_offset": 0.0})
    rows = X[:60].astype(np.float32).astype(np.float64)
    reference = explainer.shap_values(rows, check_additivity=False)
    sign = -1.0 if name == "aft" else 1.0
    phi, _ = tree_shap(model, X[:60])
    np.testing.assert_allclose(phi, sign * reference, atol=2e-6)
    assert np.abs(phi).max() > 0.05  # not a comparison between zeros
    # and the booster itself through shap's xgboost path
    np.testing.assert_allclose(
        phi, sign * shap.TreeExplainer(model.booster_).shap_values(X[:60]), atol=1e-12
    )


@pytest.mark.parametrize("name", ["cox", "aft"])
def test_interventional_values_equal_brute_force(models, name, brute_shapley):
    X, fitted = models
    model = fitted[name]
    background = X[:15]
    rows = X[100:104]
    phi, base = tree_shap(
        model, rows, feature_perturbation="interventional", background=background
    )
    assert base == pytest.approx(model.predict(background).mean(), abs=1e-6)
    brute = np.array([brute_shapley(model.predict, x, background) for x in rows])
    np.testing.assert_allclose(phi, brute, atol=2e-5)
    assert np.abs(brute).max() > 0.05


def test_only_the_risk_score_is_decomposed(models):
    X, fitted = models
    with pytest.raises(MMRiskError, match="additive in their risk score only"):
        tree_shap(fitted["cox"], X[:3], "surv_12m")


@pytest.fixture(scope="module")
def registry_like():
    rng = np.random.default_rng(2)
    n = 260
    cyto = np.array(["detected", "not_detected", "not_tested", "failed", None], dtype=object)
    X = pd.DataFrame(
        {
            "beta2m_mg_L": rng.gamma(2.0, 2.0, n),
            "albumin_g_L": rng.normal(38, 5, n),
            "ldh_U_L": rng.normal(220, 60, n),
            "ldh_uln_U_L": np.full(n, 250.0),
            "del17p": rng.choice(cyto, n),
            "t_4_14": rng.choice(cyto, n),
            "t_14_16": rng.choice(cyto, n),
            "gain1q": rng.choice(cyto, n),
            "amp1q": rng.choice(cyto, n),
            "creatinine_umol_L": rng.normal(90, 20, n),
            "age": rng.normal(60, 8, n),
            "sex": rng.choice(["M", "F"], n),
            "response_pre_asct": rng.choice(["CR", "VGPR", "PR"], n),
            "response_day100": rng.choice(["sCR", "CR", "VGPR", "PR"], n),
        }
    )
    X.loc[::9, "albumin_g_L"] = np.nan
    lp = 1.2 * (X["del17p"] == "detected") + 0.15 * X["beta2m_mg_L"]
    time = rng.exponential(30 * np.exp(-lp))
    y = Surv.from_arrays(rng.random(n) < 0.8, np.round(time, 2) + 0.01)
    return X, y


@pytest.mark.parametrize("kind", ["xgb_cox", "xgb_aft"])
def test_explain_sums_values_back_to_clinical_features(kind, registry_like):
    X, y = registry_like
    model = make_model(kind, params={"n_estimators": 60, "max_depth": 3, **ONE}, seed=0)
    model.fit(X, y)
    expl = explain(model, X.head(40), output="surv_24m")
    assert (expl.method, expl.output, expl.requested) == ("tree", "risk", "surv_24m")
    assert expl.local_accuracy_error().max() < 2e-5
    np.testing.assert_allclose(expl.prediction, model.predict(X.head(40)))
    del17p_cols = [c for c in expl.column_values.columns if c.startswith("cat__del17p_")]
    assert del17p_cols
    np.testing.assert_allclose(expl.values["del17p"], expl.column_values[del17p_cols].sum(1))
    np.testing.assert_allclose(expl.values.sum(1), expl.column_values.sum(1), atol=1e-12)
    assert "riss" in expl.values.columns and not any("__" in c for c in expl.values.columns)
    # the requested survival is reported exactly as the model predicts it at 24 months
    np.testing.assert_allclose(
        expl.reported["surv_24m"], predict_survival_at(model, X.head(40), [24])[:, 0],
        rtol=1e-12,
    )
    # the strongest simulated effect leads the reasons of scoring output
    reasons = reasons_table(expl, k=3)
    top = expl.values.abs().mean().idxmax()
    assert top in {"del17p", "beta2m_mg_L", "riss", "r2iss"}
    assert reasons["reason_1"].str.contains("=").all()


def test_aft_reported_survival_is_exact_between_training_times(registry_like):
    X, y = registry_like
    model = make_model("xgb_aft", params={"n_estimators": 30, **ONE}, seed=0).fit(X, y)
    expl = explain(model, X.head(10), output="surv_13.5m")
    log_time = -model.predict(X.head(10))
    expected = stats.norm.sf(np.log(13.5), loc=log_time, scale=1.0)
    np.testing.assert_allclose(expl.reported["surv_13.5m"], expected, rtol=1e-12)
