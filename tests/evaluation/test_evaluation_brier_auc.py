"""Brier score, integrated Brier score and time-dependent AUC against scikit-survival and
closed forms; horizons beyond follow-up and test times beyond the training follow-up."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sksurv.metrics import brier_score, cumulative_dynamic_auc
from sksurv.metrics import integrated_brier_score as sk_integrated_brier_score
from sksurv.nonparametric import CensoringDistributionEstimator
from sksurv.util import Surv

from mmrisk.evaluation import brier_scores, integrated_brier_score, time_dependent_auc
from mmrisk.exceptions import EvaluationWarning, MetricInputError

TIMES = np.array([6.0, 12.0, 24.0, 36.0, 48.0])


def _inside(y_test, y_train, *arrays):
    """Keep the test rows that scikit-survival accepts (times inside training follow-up)."""
    keep = y_test["time"] < y_train["time"].max()
    return (y_test[keep],) + tuple(a[keep] for a in arrays)


def test_brier_matches_sksurv(weibull_train, weibull_test):
    surv = weibull_test.survival(TIMES, lp_scale=0.8)
    y_test, surv = _inside(weibull_test.y, weibull_train.y, surv)
    expected = brier_score(weibull_train.y, y_test, surv, TIMES)[1]
    np.testing.assert_allclose(
        brier_scores(weibull_train.y, y_test, surv, TIMES), expected, rtol=0, atol=1e-12
    )


def test_brier_without_censoring_is_mean_squared_error():
    rng = np.random.default_rng(0)
    t = rng.exponential(20, size=50) + 0.1
    y = Surv.from_arrays(np.ones(50, dtype=bool), t)
    surv = rng.uniform(size=(50, 3))
    times = np.array([5.0, 10.0, 20.0])
    expected = ((t[:, None] > times[None, :]) - surv) ** 2
    np.testing.assert_allclose(
        brier_scores(y, y, surv, times), expected.mean(axis=0), rtol=0, atol=1e-14
    )


def test_integrated_brier_matches_sksurv(weibull_train, weibull_test):
    grid = np.linspace(3.0, 60.0, 40)
    surv = weibull_test.survival(grid)
    y_test, surv = _inside(weibull_test.y, weibull_train.y, surv)
    expected = sk_integrated_brier_score(weibull_train.y, y_test, surv, grid)
    assert integrated_brier_score(weibull_train.y, y_test, surv, grid) == pytest.approx(
        expected, abs=1e-12
    )


def test_auc_matches_sksurv(weibull_train, weibull_test):
    risk = np.round(weibull_test.lp, 1)  # tied scores on purpose
    y_test, risk = _inside(weibull_test.y, weibull_train.y, risk)
    expected = cumulative_dynamic_auc(weibull_train.y, y_test, risk, TIMES)[0]
    np.testing.assert_allclose(
        time_dependent_auc(weibull_train.y, y_test, risk, TIMES), expected, rtol=0, atol=1e-12
    )


def test_auc_per_time_estimates_match_sksurv(weibull_train, weibull_test):
    est = 1.0 - weibull_test.survival(TIMES, lp_scale=0.5)
    y_test, est = _inside(weibull_test.y, weibull_train.y, est)
    expected = cumulative_dynamic_auc(weibull_train.y, y_test, est, TIMES)[0]
    np.testing.assert_allclose(
        time_dependent_auc(weibull_train.y, y_test, est, TIMES), expected, rtol=0, atol=1e-12
    )


def test_auc_hand_counted():
    # No censoring, horizon 2.5: cases t=1,2 (risks .8 .3), controls t=3,4,5 (.5 .3 .1).
    # Case .8 beats all 3; case .3 beats .1, ties .3, loses to .5 -> 1.5. AUC = 4.5 / 6.
    y = Surv.from_arrays([True] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    risk = np.array([0.8, 0.3, 0.5, 0.3, 0.1])
    assert time_dependent_auc(y, y, risk, [2.5])[0] == pytest.approx(4.5 / 6, abs=1e-15)


def test_horizon_beyond_follow_up_is_nan_with_warning(weibull_train, weibull_test):
    times = np.array([12.0, 24.0, 500.0])
    surv = weibull_test.survival(times)
    y_test, surv, risk = _inside(weibull_test.y, weibull_train.y, surv, weibull_test.lp)
    with pytest.raises(ValueError):
        brier_score(weibull_train.y, y_test, surv, times)  # the reference refuses
    with pytest.warns(EvaluationWarning, match=r"\[500.0\]"):
        ours = brier_scores(weibull_train.y, y_test, surv, times)
    assert np.isnan(ours[2])
    expected = brier_score(weibull_train.y, y_test, surv[:, :2], times[:2])[1]
    np.testing.assert_allclose(ours[:2], expected, rtol=0, atol=1e-12)
    with pytest.warns(EvaluationWarning):
        auc = time_dependent_auc(weibull_train.y, y_test, risk, times)
    assert np.isnan(auc[2]) and np.all(np.isfinite(auc[:2]))


def test_test_times_beyond_training_follow_up(weibull_train, weibull_test):
    """G is held at its last value beyond the training follow-up (Kaplan-Meier convention)."""
    y_train = weibull_train.y
    y_short = y_train[y_train["time"] < 50]
    # A last training time that is an event, so G stays positive after it.
    y_short = Surv.from_arrays(np.r_[y_short["event"], True], np.r_[y_short["time"], 50.0])
    surv = weibull_test.survival(TIMES)
    with pytest.raises(ValueError):
        brier_score(y_short, weibull_test.y, surv, TIMES)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvaluationWarning)
        ours = brier_scores(y_short, weibull_test.y, surv, TIMES)
    # Reference: the same IPCW formula with scikit-survival's censoring estimate at
    # min(t, last training time).
    cens = CensoringDistributionEstimator().fit(y_short)
    event, time = weibull_test.y["event"], weibull_test.y["time"]
    g_own = cens.predict_proba(np.minimum(time, 50.0))
    g_t = cens.predict_proba(TIMES)
    case = event[:, None] & (time[:, None] <= TIMES)
    control = time[:, None] > TIMES
    expected = np.mean(
        case * surv**2 / g_own[:, None] + control * (1 - surv) ** 2 / g_t[None, :], axis=0
    )
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_survival_estimates_must_be_probabilities(weibull_test):
    surv = weibull_test.survival(TIMES) * 2
    with pytest.raises(MetricInputError, match=r"survival probabilities in \[0, 1\]"):
        brier_scores(weibull_test.y, weibull_test.y, surv, TIMES)


def test_times_must_increase(weibull_test):
    surv = weibull_test.survival([24.0, 12.0])
    with pytest.raises(MetricInputError, match="strictly increasing"):
        brier_scores(weibull_test.y, weibull_test.y, surv, [24.0, 12.0])
