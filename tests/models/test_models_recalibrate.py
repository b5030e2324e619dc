"""Recalibration: known miscalibration recovered, Breslow baseline by hand and by lifelines."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.functions import StepFunction
from sksurv.util import Surv

from mmrisk.models import (
    CoxPH,
    GridRandomSurvivalForest,
    RecalibratedSurvival,
    predict_survival_at,
    recalibrate,
)

SHAPE, SCALE = 1.4, 40.0
BETA = np.array([0.8, -0.5])
T_REF = 36.0


class WeibullPH(BaseEstimator):
    """A known model: S(t | x) = exp(-(t / 40)^1.4 exp(x @ beta)), on a fine geometric grid."""

    def __init__(self, beta=None):
        self.beta = beta

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.asarray(X, float) @ self.beta

    def predict_survival_function(self, X, return_array=False):
        grid = np.union1d(np.geomspace(0.01, 200.0, 1500), [T_REF])
        lp = self.predict(X)
        cumhaz = (grid[None, :] / SCALE) ** SHAPE * np.exp(lp)[:, None]
        return np.array([StepFunction(grid, np.exp(-h)) for h in cumhaz], dtype=object)


def _simulate(n, seed, a, b):
    """Truth: H_true(t|x) = exp(a + (b - 1) LP(x)) H(t|x), LP = log H(T_REF|x) of WeibullPH."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    lp_model = SHAPE * np.log(T_REF / SCALE) + X @ BETA
    scale = np.exp(a + (b - 1.0) * lp_model + X @ BETA)
    t = SCALE * (rng.exponential(size=n) / scale) ** (1 / SHAPE)
    c = rng.uniform(10.0, 120.0, n)
    y = Surv.from_arrays(t <= c, np.minimum(t, c), name_event="event", name_time="time")
    return pd.DataFrame(X, columns=["x1", "x2"]), y


@pytest.fixture(scope="module")
def miscalibrated():
    return _simulate(3000, seed=7, a=0.3, b=0.6)


def test_slope_method_recovers_the_known_intercept_and_slope(miscalibrated):
    X, y = miscalibrated
    model = RecalibratedSurvival(WeibullPH(BETA).fit(X), method="slope", reference_time=T_REF)
    model.fit(X, y)
    assert model.slope_ == pytest.approx(0.6, abs=3 * model.slope_se_)
    assert model.intercept_ == pytest.approx(0.3, abs=3 * model.intercept_se_)
    assert model.slope_se_ < 0.05


def test_slope_fit_is_the_poisson_mle_of_statsmodels(miscalibrated):
    """Crowson et al. 2016: glm(d ~ LP, offset = log H(T_i|x_i) - LP, family = poisson)."""
    X, y = miscalibrated
    base = WeibullPH(BETA).fit(X)
    model = RecalibratedSurvival(base, method="slope", reference_time=T_REF).fit(X, y)
    fns = base.predict_survival_function(X)
    own = -np.log(np.clip([fn(t) for fn, t in zip(fns, y["time"], strict=True)], 0, 1 - 1e-6))
    lp = np.log(-np.log([fn(T_REF) for fn in fns]))
    glm = sm.GLM(y["event"].astype(float), sm.add_constant(lp), family=sm.families.Poisson(),
                 offset=np.log(own) - lp).fit(tol=1e-12)  # fmt: skip
    assert [model.intercept_, model.slope_] == pytest.approx(glm.params, abs=1e-7)
    assert [model.intercept_se_, model.slope_se_] == pytest.approx(glm.bse, rel=1e-5)
    intercept = RecalibratedSurvival(base, method="intercept").fit(X, y)
    assert np.exp(intercept.intercept_) == pytest.approx(y["event"].sum() / own.sum())


def test_recalibrated_predictions_are_calibrated_against_the_truth(miscalibrated):
    X, y = miscalibrated
    base = WeibullPH(BETA).fit(X)
    model = RecalibratedSurvival(base, method="slope", reference_time=T_REF).fit(X, y)
    new_X, _ = _simulate(500, seed=8, a=0.3, b=0.6)
    lp_model = SHAPE * np.log(T_REF / SCALE) + new_X.to_numpy() @ BETA
    true = np.exp(-np.exp(0.3 + 0.6 * lp_model))  # true S(T_REF | x)
    got = predict_survival_at(model, new_X, [T_REF])[:, 0]
    assert np.max(np.abs(got - true)) < 0.03
    np.testing.assert_allclose(model.linear_predictor(new_X),
                               model.intercept_ + model.slope_ * lp_model, atol=1e-9)  # fmt: skip
    np.testing.assert_array_equal(model.predict(new_X), base.predict(new_X))


def _breslow_by_hand(lp, event, time, t):
    """H0(t) = sum over event times s <= t of d_s / sum_{T_j >= s} exp(LP_j)."""
    total = 0.0
    for s in np.unique(time[event & (time <= t)]):
        total += np.sum(event & (time == s)) / np.sum(np.exp(lp[time >= s]))
    return total


@pytest.fixture(scope="module")
def cox_and_new_data():
    rng = np.random.default_rng(11)
    X_dev = pd.DataFrame(rng.normal(size=(400, 2)), columns=["x1", "x2"])
    t = rng.exponential(20.0 / np.exp(X_dev.to_numpy() @ BETA))
    y_dev = Surv.from_arrays(t <= 50, np.minimum(t, 50.0))
    cox = CoxPH(alpha=0).fit(X_dev, y_dev)
    X_new = pd.DataFrame(rng.normal(size=(300, 2)), columns=["x1", "x2"])
    t = rng.exponential(8.0 / np.exp(X_new.to_numpy() @ BETA))
    c = rng.uniform(5, 40, 300)
    y_new = Surv.from_arrays(t <= c, np.round(np.minimum(t, c), 1))  # ties
    return cox, X_new, y_new


def test_baseline_method_is_breslow_with_the_lp_as_offset(cox_and_new_data):
    cox, X, y = cox_and_new_data
    model = RecalibratedSurvival(cox, method="baseline", reference_time=24).fit(X, y)
    lp = cox.predict(X)  # x'beta: differs from log H(24|x) by a constant, which cancels
    times = np.array([3.0, 10.0, 24.0])
    h0 = np.array([_breslow_by_hand(lp, y["event"], y["time"], t) for t in times])
    expected = np.exp(-h0[None, :] * np.exp(lp)[:, None])
    np.testing.assert_allclose(predict_survival_at(model, X, times), expected, rtol=1e-9)
    assert model.summary()["method"] == "baseline"


def test_baseline_method_matches_lifelines_coxph_on_the_same_data():
    """Recalibrating the baseline on the fitting data gives lifelines' Cox predictions."""
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(300, 2)), columns=["x1", "x2"])
    t = rng.exponential(15.0 / np.exp(X.to_numpy() @ BETA))
    c = rng.uniform(2, 40, 300)
    y = Surv.from_arrays(t <= c, np.minimum(t, c))
    cox = CoxPH(alpha=0).fit(X, y)
    model = RecalibratedSurvival(cox, method="baseline", reference_time=12).fit(X, y)
    df = X.assign(T=y["time"], E=y["event"].astype(int))
    cph = CoxPHFitter().fit(df, "T", "E")
    assert cox.coef_ == pytest.approx(cph.params_.to_numpy(), abs=1e-4)  # optimiser tolerances
    times = [2.0, 6.0, 12.0, 24.0]
    # the step function itself (lifelines' ``times=`` argument interpolates linearly)
    full = cph.predict_survival_function(X)
    ref = full.iloc[full.index.searchsorted(times, side="right") - 1].to_numpy().T
    np.testing.assert_allclose(predict_survival_at(model, X, times), ref, atol=1e-5)


def test_recalibrate_keeps_the_pipeline_and_pickles(cox_and_new_data):
    _, X, y = cox_and_new_data
    rng = np.random.default_rng(0)
    X_dev = pd.DataFrame(rng.normal(size=(300, 2)), columns=["x1", "x2"])
    t = rng.exponential(20.0 / np.exp(X_dev.to_numpy() @ BETA))
    pipe = Pipeline([("scale", StandardScaler()), ("model", CoxPH())])
    pipe.fit(X_dev, Surv.from_arrays(t <= 40, np.minimum(t, 40.0)))
    before = predict_survival_at(pipe, X, [12.0])
    updated = recalibrate(pipe, X, y, method="intercept", reference_time=24)
    assert isinstance(updated, Pipeline) and isinstance(updated[-1], RecalibratedSurvival)
    assert updated[0] is pipe[0]
    np.testing.assert_allclose(predict_survival_at(pipe, X, [12.0]), before)  # untouched
    again = pickle.loads(pickle.dumps(updated))
    np.testing.assert_allclose(predict_survival_at(again, X, [6.0, 12.0]),
                               predict_survival_at(updated, X, [6.0, 12.0]))  # fmt: skip
    # intercept: S_new = S^exp(a) everywhere
    a = updated[-1].intercept_
    np.testing.assert_allclose(predict_survival_at(updated, X, [12.0]), before ** np.exp(a))


def test_forest_slope_fit_solves_the_score_equations():
    """For any model, the MLE satisfies sum H_new(T_i|x_i) = sum d_i and the LP-weighted sum."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    t = rng.exponential(20.0 / np.exp(X[:, 0]))
    y = Surv.from_arrays(t <= 30, np.minimum(t, 30.0))
    rsf = GridRandomSurvivalForest(n_estimators=15, min_samples_leaf=10, random_state=0)
    rsf.fit(X[:150], y[:150])
    model = RecalibratedSurvival(rsf, method="slope", reference_time=24).fit(X[150:], y[150:])
    fns = model.predict_cumulative_hazard_function(X[150:])
    own = np.array([fn(np.clip(s, *fn.domain)) for fn, s in zip(fns, y["time"][150:],
                                                               strict=True)])  # fmt: skip
    lp = np.log(-np.log(np.clip(predict_survival_at(rsf, X[150:], [24])[:, 0], 1e-300,
                                1 - 1e-6)))  # fmt: skip
    d = y["event"][150:].astype(float)
    assert own.sum() == pytest.approx(d.sum(), rel=1e-6)
    assert np.sum(lp * own) == pytest.approx(np.sum(lp * d), rel=1e-6, abs=1e-6)
    risk = model.predict_survival_function(X[150:], return_array=True)
    assert risk.shape == (150, model.unique_times_.size)
    assert np.all(np.diff(risk, axis=1) <= 1e-12)
