"""CoxPH and the hazard-ratio table against lifelines, finite differences and simulated truth."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from models_testdata import simulate_cox
from sklearn.exceptions import NotFittedError
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.linear_model.coxph import CoxPHOptimizer
from sksurv.util import Surv

from mmrisk.exceptions import ModelFitError, ModelFitWarning
from mmrisk.models import (
    HAZARD_RATIO_COLUMNS,
    CoxPH,
    collinear_columns,
    cox_information,
    hazard_ratios,
    make_model,
)


def _lifelines_summary(X: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    # lifelines: CoxPHFitter().fit(df, duration_col="T", event_col="E") -- Efron ties, no
    # penalty, Wald CIs from the inverse observed information (same as R's coxph).
    df = X.assign(T=y["lenfol"] if "lenfol" in y.dtype.names else y["time"])
    df["E"] = y[y.dtype.names[0]]
    return CoxPHFitter().fit(df, duration_col="T", event_col="E").summary


def test_unpenalised_cox_matches_lifelines_on_whas500(whas500):
    X, y = whas500
    model = make_model("cox", pipeline="passthrough", params={"alpha": 0.0}).fit(X, y)
    ours = hazard_ratios(model).set_index("term")
    ref = _lifelines_summary(X, y)

    assert list(hazard_ratios(model).columns) == list(HAZARD_RATIO_COLUMNS)
    assert list(ours.index) == list(X.columns)
    np.testing.assert_allclose(np.log(ours["hr"]), ref["coef"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours["hr_lo"], ref["exp(coef) lower 95%"], rtol=1e-6)
    np.testing.assert_allclose(ours["hr_hi"], ref["exp(coef) upper 95%"], rtol=1e-6)
    np.testing.assert_allclose(ours["p"], ref["p"], rtol=1e-5, atol=1e-12)
    se = np.sqrt(np.diag(model.named_steps["model"].cov_))
    np.testing.assert_allclose(se, ref["se(coef)"], rtol=1e-6)


def test_default_ridge_barely_moves_well_determined_coefficients(whas500):
    X, y = whas500
    ours = hazard_ratios(make_model("cox", pipeline="passthrough").fit(X, y))
    ref = _lifelines_summary(X, y)
    np.testing.assert_allclose(ours["hr"], ref["exp(coef)"], rtol=1e-3)
    np.testing.assert_allclose(ours["hr_lo"], ref["exp(coef) lower 95%"], rtol=1e-3)
    np.testing.assert_allclose(ours["p"], ref["p"], rtol=0.05, atol=1e-6)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_information_is_the_second_derivative_of_the_log_partial_likelihood(ties):
    # scikit-survival's own negative log partial likelihood (mean over samples), differentiated
    # numerically, on data with many tied times.
    X, y = simulate_cox(200, np.array([0.5, -0.4, 0.2]), seed=3, round_to=2.0)
    Xa = X.to_numpy()
    event, time = y["event"], y["time"]
    assert len(np.unique(time[event])) < event.sum() / 2  # heavily tied
    beta = np.array([0.3, -0.2, 0.1])
    nll = CoxPHOptimizer(Xa, event, time, np.zeros(3), ties).nlog_likelihood
    h = 1e-4
    numeric = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * h, np.eye(3)[j] * h
            plus = nll(beta + ei + ej) + nll(beta - ei - ej)
            minus = nll(beta + ei - ej) + nll(beta - ei + ej)
            numeric[i, j] = (plus - minus) / (4 * h * h)
    info = cox_information(Xa, event, time, beta, ties)
    np.testing.assert_allclose(info, numeric * len(time), rtol=1e-5, atol=1e-5)
    # Efron and Breslow differ on tied data, so the tie handling is really exercised
    other = cox_information(Xa, event, time, beta, "efron" if ties == "breslow" else "breslow")
    assert np.abs(other - info).max() > 1e-2


def test_recovers_true_log_hazard_ratios_at_large_n():
    beta = np.array([0.7, -0.5, 0.3, 0.0])
    X, y = simulate_cox(4000, beta, seed=5)
    model = CoxPH().fit(X, y)
    se = np.sqrt(np.diag(model.cov_))
    assert np.all(se < 0.06)  # precise enough for the check to mean something
    assert np.all(np.abs(model.coef_ - beta) < 4 * se)
    table = hazard_ratios(model)
    true_hr = np.exp(beta)
    assert np.all((table["hr_lo"] < true_hr) & (true_hr < table["hr_hi"]))
    assert table["p"].iloc[0] < 1e-10 and table["p"].iloc[3] > 1e-3


def test_predictions_are_scikit_survivals(whas500):
    X, y = whas500
    ours = CoxPH(alpha=0.5, ties="breslow").fit(X, y)
    ref = CoxPHSurvivalAnalysis(alpha=0.5, ties="breslow").fit(X, y)
    np.testing.assert_array_equal(ours.coef_, ref.coef_)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_array_equal(
        ours.predict_survival_function(X.iloc[:5], return_array=True),
        ref.predict_survival_function(X.iloc[:5], return_array=True),
    )


def _one_hot_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 400
    group = rng.integers(0, 3, n)
    x = rng.normal(size=n)
    lp = np.array([0.0, 0.6, 1.0])[group] + 0.5 * x
    t = rng.exponential(10 * np.exp(-lp))
    c = rng.uniform(1, 30, n)
    X = pd.DataFrame(np.eye(3)[group], columns=["g_a", "g_b", "g_c"]).assign(x=x)
    return X, Surv.from_arrays(t <= c, np.minimum(t, c))


def test_collinear_one_hot_without_penalty_is_a_readable_error():
    X, y = _one_hot_data()
    message = (
        "CoxPH: columns g_a, g_b, g_c are constant or linearly dependent (e.g. every one-hot "
        "column of a category), so their coefficients are not identifiable with alpha=0. "
        "Drop a reference category (encode with drop='first'), drop the redundant columns, "
        "or set alpha > 0 (default 0.01)."
    )
    with pytest.raises(ModelFitError, match=f"^{re.escape(message)}$"):
        CoxPH(alpha=0).fit(X, y)


def test_collinear_one_hot_with_default_ridge_warns_and_fits_the_identifiable_part():
    X, y = _one_hot_data()
    with pytest.warns(ModelFitWarning, match=r"columns g_a, g_b, g_c are constant or linearly"):
        full = CoxPH().fit(X, y)
    assert full.collinear_features_ == ["g_a", "g_b", "g_c"]
    reference = CoxPH(alpha=0).fit(X.drop(columns="g_a"), y)
    # the ridge only resolves the non-identifiable direction: contrasts match the model with
    # a reference category
    np.testing.assert_allclose(full.coef_[1:3] - full.coef_[0], reference.coef_[:2], atol=2e-3)
    np.testing.assert_allclose(full.coef_[3], reference.coef_[2], atol=2e-3)
    assert np.all(np.isfinite(hazard_ratios(full)[["hr", "hr_lo", "hr_hi", "p"]]))


def _separated_data():
    rng = np.random.default_rng(0)
    n = 200
    t = rng.exponential(1.0, n)
    x = (t < np.median(t)).astype(float)  # every early progression has x = 1
    X = pd.DataFrame({"marker": x, "noise": rng.normal(size=n)})
    return X, Surv.from_arrays(np.ones(n, dtype=bool), t)


def test_separation_without_penalty_warns_and_names_the_feature():
    X, y = _separated_data()
    with pytest.warns(ModelFitWarning, match=r"coefficients of marker are extreme.*separation"):
        CoxPH(alpha=0).fit(X, y)


def test_separation_with_default_ridge_stays_finite_without_warning():
    X, y = _separated_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelFitWarning)
        model = CoxPH().fit(X, y)
    assert 2.0 < model.coef_[0] < 15.0
    assert np.all(np.isfinite(hazard_ratios(model)[["hr", "hr_lo", "hr_hi"]]))


def test_no_events_and_missing_values_are_readable_errors():
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    y = Surv.from_arrays([False, False, False], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="all samples are censored"):
        CoxPH().fit(X, y)
    y = Surv.from_arrays([True, False, True], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"Input X contains NaN.\nCoxPH"):
        CoxPH().fit(X.assign(x=[0.0, np.nan, 1.0]), y)


def test_alpha_of_wrong_length_is_a_readable_error(whas500):
    X, y = whas500
    with pytest.raises(ValueError, match="alpha has 2 values but X has 6 columns"):
        CoxPH(alpha=np.array([0.1, 0.1])).fit(X, y)


def test_per_feature_alpha_needs_to_penalise_each_collinear_set():
    X, y = _one_hot_data()
    # g_a + g_b + g_c = 1: penalising any one of them pins the set down
    with pytest.warns(ModelFitWarning):
        model = CoxPH(alpha=np.array([0.01, 0.0, 0.0, 0.0])).fit(X, y)
    reference = CoxPH(alpha=0).fit(X.drop(columns="g_a"), y)
    np.testing.assert_allclose(model.coef_[1:3] - model.coef_[0], reference.coef_[:2], atol=2e-3)
    with pytest.raises(ModelFitError, match="columns g_a, g_b, g_c"):
        CoxPH(alpha=np.array([0.0, 0.0, 0.0, 0.01])).fit(X, y)


def test_collinear_columns_finds_constant_and_duplicated_columns():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    X = np.c_[a, b, np.full(50, 3.0), 2 * a + 1]
    assert collinear_columns(X) == ["x0", "x2", "x3"]
    assert collinear_columns(X[:, :2]) == []
    wide = rng.normal(size=(3, 5))  # more columns than rows: necessarily dependent
    assert len(collinear_columns(wide)) == 5


def test_hazard_ratios_refuses_non_cox_and_unfitted_models(registry_data):
    X, y = registry_data
    forest = make_model("rsf", params={"n_estimators": 5}).fit(X, y)
    with pytest.raises(TypeError, match="got GridRandomSurvivalForest"):
        hazard_ratios(forest)
    with pytest.raises(NotFittedError):
        hazard_ratios(make_model("cox"))
    with pytest.raises(ValueError, match="level must be in"):
        hazard_ratios(make_model("cox"), level=95)


def test_hazard_ratio_level_widens_the_interval(whas500):
    X, y = whas500
    model = CoxPH().fit(X, y)
    narrow, wide = hazard_ratios(model, level=0.5), hazard_ratios(model, level=0.99)
    assert np.all(wide["hr_lo"] < narrow["hr_lo"]) and np.all(wide["hr_hi"] > narrow["hr_hi"])
    np.testing.assert_array_equal(wide["p"], narrow["p"])


def test_optimiser_failure_becomes_a_readable_error(whas500, monkeypatch):
    def fail(self, X, y):
        raise ValueError("search direction contains NaN or infinite values")

    monkeypatch.setattr(CoxPHSurvivalAnalysis, "fit", fail)
    X, y = whas500
    with pytest.raises(ModelFitError, match=r"^CoxPH: the Newton-Raphson fit failed \(search"):
        CoxPH().fit(X, y)
