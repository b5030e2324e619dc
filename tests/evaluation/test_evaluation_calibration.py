"""Calibration (Austin, Harrell & van Klaveren 2020) against lifelines' Cox model, simulated
calibrated / mis-scaled predictions, and D-calibration (Haider et al. 2020)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import stats
from sksurv.util import Surv

from mmrisk.evaluation import calibration_curve, calibration_metrics, d_calibration

HORIZON = 24.0


def _harrell_rcs3(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Non-linear term of Harrell's restricted cubic spline with 3 knots (Hmisc rcspline.eval,
    norm=2), written out independently of the package."""
    t1, t2, t3 = knots
    pos = lambda z: np.where(z > 0, z, 0.0) ** 3  # noqa: E731
    return (
        pos(x - t1) - pos(x - t2) * (t3 - t1) / (t3 - t2) + pos(x - t3) * (t2 - t1) / (t3 - t2)
    ) / (t3 - t1) ** 2


def _austin_with_lifelines(y, pred: np.ndarray, horizon: float) -> dict[str, float]:
    """The recipe of Austin et al. (2020), with lifelines' CoxPHFitter as the Cox model."""
    cll = np.log(-np.log(1 - pred))
    knots = np.quantile(cll, [0.1, 0.5, 0.9])
    df = pd.DataFrame(
        {"cll": cll, "sp": _harrell_rcs3(cll, knots), "T": y["time"], "E": y["event"]}
    )
    tight = {"precision": 1e-12}  # lifelines' default stops around 1e-5 on these data
    smooth = CoxPHFitter().fit(df, "T", "E", fit_options=tight)
    observed = 1 - smooth.predict_survival_function(df[["cll", "sp"]], times=[horizon]).values[0]
    diff = np.abs(observed - pred)
    slope = CoxPHFitter().fit(df[["cll", "T", "E"]], "T", "E", fit_options=tight).params_["cll"]
    return {
        "calib_slope": slope,
        "ici": diff.mean(),
        "e50": np.median(diff),
        "e90": np.quantile(diff, 0.9),
    }


@pytest.mark.parametrize("lp_scale", [1.0, 0.7, 1.5])
def test_calibration_matches_lifelines_recipe(weibull_test, lp_scale):
    surv = weibull_test.survival([HORIZON], lp_scale=lp_scale)
    ours = calibration_metrics(None, weibull_test.y, surv, [HORIZON]).iloc[0]
    expected = _austin_with_lifelines(weibull_test.y, 1 - surv[:, 0], HORIZON)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name


def test_calibrated_predictions(weibull_large):
    times = [12.0, 24.0, 36.0]
    table = calibration_metrics(None, weibull_large.y, weibull_large.survival(times), times)
    assert np.all(np.abs(table["calib_slope"] - 1.0) < 0.08)
    assert np.all(table["ici"] < 0.015)
    assert np.all(table["e90"] < 0.03)


@pytest.mark.parametrize("lp_scale, low, high", [(2.0, 0.4, 0.6), (0.5, 1.7, 2.3)])
def test_mis_scaled_predictions(weibull_large, lp_scale, low, high):
    """Risk spread doubled -> slope about 1/2; halved -> about 2 (true slope = 1/lp_scale)."""
    surv = weibull_large.survival([HORIZON], lp_scale=lp_scale)
    row = calibration_metrics(None, weibull_large.y, surv, [HORIZON]).iloc[0]
    assert low < row["calib_slope"] < high
    assert row["ici"] > 0.04


def test_calibration_curve_follows_the_diagonal_when_calibrated(weibull_large):
    curve = calibration_curve(weibull_large.y, weibull_large.survival([HORIZON])[:, 0], HORIZON)
    assert list(curve.columns) == ["predicted", "observed"]
    assert np.max(np.abs(curve["observed"] - curve["predicted"])) < 0.04
    wrong = calibration_curve(
        weibull_large.y, weibull_large.survival([HORIZON], lp_scale=2.0)[:, 0], HORIZON
    )
    assert np.max(np.abs(wrong["observed"] - wrong["predicted"])) > 0.1


def test_calibration_beyond_follow_up_is_nan(weibull_test):
    surv = weibull_test.survival([HORIZON, 900.0])
    with pytest.warns(Warning, match="900"):
        table = calibration_metrics(None, weibull_test.y, surv, [HORIZON, 900.0])
    assert table.loc[900.0].isna().all() and table.loc[HORIZON].notna().all()


def test_d_calibration_true_model_is_not_rejected(weibull_large):
    assert d_calibration(None, weibull_large.y, weibull_large.survival_at_own_time()) > 0.05


@pytest.mark.parametrize("kwargs", [{"time_scale": 2.0}, {"lp_scale": 2.0}])
def test_d_calibration_wrong_model_is_rejected(weibull_large, kwargs):
    surv_own = weibull_large.survival_at_own_time(**kwargs)
    assert d_calibration(None, weibull_large.y, surv_own) < 1e-6


def test_d_calibration_hand_counted():
    # Ten events, one in each decile bin, plus one censored patient with S = 0.25, which is
    # spread over [0, 0.25]: 0.4 to each of bins 0 and 1, 0.2 to bin 2.
    s_events = np.arange(10) / 10 + 0.05
    surv_own = np.r_[s_events, 0.25]
    y = Surv.from_arrays(np.r_[np.ones(10, bool), False], np.arange(1.0, 12.0))
    counts = np.ones(10)
    counts[:3] += [0.4, 0.4, 0.2]
    expected = stats.chisquare(counts).pvalue
    assert d_calibration(None, y, surv_own) == pytest.approx(expected, abs=1e-12)
    # Uniform counts: statistic 0, p-value 1.
    y_events = Surv.from_arrays(np.ones(10, bool), np.arange(1.0, 11.0))
    assert d_calibration(None, y_events, s_events) == pytest.approx(1.0)
