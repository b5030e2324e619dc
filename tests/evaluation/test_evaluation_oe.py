"""Observed / expected risk: lifelines' Kaplan–Meier, statsmodels' Greenwood SE, closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight

from mmrisk.evaluation import Predictions, bootstrap_metrics, compute_metrics, observed_expected

TIMES = [12.0, 24.0, 36.0]


def test_observed_is_lifelines_km_and_se_is_statsmodels_greenwood(weibull_test):
    y = weibull_test.y
    surv = weibull_test.survival(TIMES, lp_scale=0.7)
    table = observed_expected(y, surv, TIMES)
    km = KaplanMeierFitter().fit(y["time"], y["event"])
    observed = 1.0 - km.survival_function_at_times(TIMES).to_numpy()
    np.testing.assert_allclose(table["observed"], observed, rtol=1e-12)
    sf = SurvfuncRight(y["time"], y["event"].astype(float))
    idx = np.searchsorted(sf.surv_times, TIMES, side="right") - 1
    np.testing.assert_allclose(table["observed_se"], sf.surv_prob_se[idx], rtol=1e-10)
    np.testing.assert_allclose(table["expected"], (1.0 - surv).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["oe"], observed / (1.0 - surv).mean(axis=0), rtol=1e-12)


def test_interval_is_log_scale_delta_method(weibull_test):
    """lo/hi = O/E * exp(-+ z SE(KM)/O) (Debray et al. 2019; metamisc::oecalc)."""
    y = weibull_test.y
    table = observed_expected(y, weibull_test.survival(TIMES), TIMES, confidence_level=0.9)
    z = stats.norm.ppf(0.95)
    half = z * table["observed_se"] / table["observed"]
    np.testing.assert_allclose(table["lo"], table["oe"] * np.exp(-half), rtol=1e-12)
    np.testing.assert_allclose(table["hi"], table["oe"] * np.exp(half), rtol=1e-12)


def test_without_censoring_observed_is_the_event_proportion():
    from sksurv.util import Surv

    rng = np.random.default_rng(0)
    t = rng.exponential(20.0, 300)
    y = Surv.from_arrays(np.ones(300, bool), t)
    surv = np.full((300, 2), 0.5)
    table = observed_expected(y, surv, [10.0, 20.0])
    np.testing.assert_allclose(table["observed"], [(t <= 10).mean(), (t <= 20).mean()])
    np.testing.assert_allclose(table["oe"], table["observed"] / 0.5)


def test_true_model_has_oe_near_one_and_misscaled_model_does_not(weibull_large):
    true = observed_expected(weibull_large.y, weibull_large.survival(TIMES), TIMES)
    assert np.all(true["lo"] < 1) and np.all(true["hi"] > 1)
    # Doubling everyone's hazard overpredicts: O/E well below 1.
    over = observed_expected(weibull_large.y, weibull_large.survival(TIMES) ** 2, TIMES)
    assert np.all(over["hi"] < 0.9)


def test_oe_is_a_contract_metric_with_a_bootstrap_interval(weibull_train, weibull_test):
    surv = weibull_test.survival([12, 36])
    values = compute_metrics(weibull_train.y, weibull_test.y, weibull_test.lp, surv, [12, 36])
    direct = observed_expected(weibull_test.y, surv, [12, 36])["oe"].to_numpy()
    assert [values["oe_12m"], values["oe_36m"]] == pytest.approx(direct, rel=1e-12)
    metrics, _ = bootstrap_metrics(
        weibull_train.y, weibull_test.y, {"m": Predictions(weibull_test.lp, surv)}, [12, 36],
        n_bootstrap=50, seed=0, scope="ext",
    )  # fmt: skip
    row = metrics.set_index("metric").loc["ext_oe_36m"]
    assert row["lo"] < row["value"] < row["hi"]
