"""Competing-risks estimators and metrics against R, lifelines, scikit-survival and closed forms.

Reference values in tests/evaluation/data/*.csv come from R 4.2.2 with survival 3.5-3 and cmprsk
2.2-11 on survival's ``mgus2`` data (LGPL), written by ``competing_reference.R`` beside them:

    d$etime <- with(d, ifelse(pstat==0, futime, ptime))
    event   <- factor(with(d, ifelse(pstat==0, 2*death, 1)), 0:2, c("censor","pcm","death"))
    summary(survfit(Surv(etime, event) ~ sex, data=d), times=c(12, 60, 120, 240))  # aj_by_sex
    cuminc(d$etime, as.integer(ev), group=d$sex, cencode=0)$Tests                    # gray_sex
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from sklearn.metrics import roc_auc_score
from sksurv.metrics import brier_score, concordance_index_censored, cumulative_dynamic_auc
from sksurv.util import Surv

from mmrisk.cohort import competing_outcome
from mmrisk.evaluation import (
    aalen_johansen,
    cif_auc,
    cif_brier_scores,
    cif_calibration,
    cif_calibration_curve,
    cif_calibration_metrics,
    cindex_wolbers,
    cumulative_incidence_at,
    gray_test,
)
from mmrisk.exceptions import ConfigError, MetricInputError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def mgus2():
    d = pd.read_csv(DATA / "mgus2.csv")
    etime = np.where(d["pstat"] == 0, d["futime"], d["ptime"]).astype(float)
    code = np.where(d["pstat"] == 0, 2 * d["death"], 1)
    return d, competing_outcome(code, etime)


def simulate(n, seed, *, censor=True, beta=(0.8, -0.5)):
    """Constant cause-specific hazards 0.02 exp(b1 x) and 0.01 exp(b2 x), x ~ N(0,1): the true
    CIF is F1(t|x) = l1 / (l1 + l2) * (1 - exp(-(l1 + l2) t))."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    l1, l2 = 0.02 * np.exp(beta[0] * x), 0.01 * np.exp(beta[1] * x)
    t = rng.exponential(1.0 / (l1 + l2))
    cause = np.where(rng.uniform(size=n) < l1 / (l1 + l2), 1, 2)
    c = rng.uniform(5.0, 120.0, size=n) if censor else np.full(n, np.inf)
    code = np.where(t <= c, cause, 0)
    return x, l1, l2, competing_outcome(code, np.minimum(t, c))


def true_cif(l1, l2, t):
    return (l1 / (l1 + l2))[:, None] * (1.0 - np.exp(-np.outer(l1 + l2, np.atleast_1d(t))))


def test_aalen_johansen_matches_r_survfit_by_sex(mgus2):
    d, y = mgus2
    ref = pd.read_csv(DATA / "aj_by_sex.csv")
    got = cumulative_incidence_at(y, [12, 60, 120, 240], groups=d["sex"])
    for cause, col in ((1, "pcm"), (2, "death")):
        g = got[got["cause"] == cause]
        np.testing.assert_allclose(g["cif"], ref[col], rtol=1e-9)
        np.testing.assert_allclose(g["se"], ref[f"se_{col}"], rtol=1e-7)
        np.testing.assert_array_equal(g["n_risk"], ref["n.risk"])
    g = got[got["cause"] == 1]
    np.testing.assert_allclose(g["lo"], ref["lo_pcm"], rtol=1e-7)
    np.testing.assert_allclose(g["hi"], ref["hi_pcm"], rtol=1e-7)


def test_aalen_johansen_overall_matches_r(mgus2):
    _, y = mgus2
    ref = pd.read_csv(DATA / "aj_overall.csv")
    got = cumulative_incidence_at(y, ref["time"])
    np.testing.assert_allclose(got.loc[got["cause"] == 1, "cif"], ref["pcm"], rtol=1e-9)
    np.testing.assert_allclose(got.loc[got["cause"] == 2, "se"], ref["se_death"], rtol=1e-7)


def test_restricted_mean_time_in_state_matches_compete_vignette(mgus2):
    """Therneau, Crowson, Atkinson, "Multi-state models and competing risks" (survival
    vignette compete.Rnw): "a male subject will spend, on average, 8.7 of his first 20 years
    post diagnosis in the entry state, 1.1 years in the PCM state and 10.3 of those 20 in the
    death state"."""
    d, y = mgus2
    aj = aalen_johansen(y, groups=d["sex"])
    years = {}
    for cause in (1, 2):
        c = aj[(aj["group"] == "M") & (aj["cause"] == cause) & (aj["time"] <= 240)]
        edges = np.append(c["time"].to_numpy(), 240.0)
        years[cause] = float((c["cif"].to_numpy() * np.diff(edges)).sum() / 12.0)
    assert round(years[1], 1) == 1.1
    assert round(years[2], 1) == 10.3
    assert round(20.0 - years[1] - years[2], 1) == 8.7


def test_aalen_johansen_matches_lifelines_on_untied_data():
    _, _, _, y = simulate(400, seed=1)
    aj = aalen_johansen(y)
    for cause in (1, 2):
        ajf = AalenJohansenFitter(calculate_variance=False).fit(
            y["time"], y["event"], event_of_interest=cause)
        ref = ajf.cumulative_density_.iloc[:, 0]
        mine = aj[aj["cause"] == cause].set_index("time")["cif"]
        np.testing.assert_allclose(mine.to_numpy(), ref.reindex(mine.index).to_numpy(),
                                   rtol=1e-10)


def test_aalen_johansen_closed_forms():
    # 1 (cause 1), 2 (censored), 3 (cause 2), 4 (cause 1): F1 = 1/4, then 1/4 + 3/8 * 1 = 5/8
    y = competing_outcome([1, 0, 2, 1], [1.0, 2.0, 3.0, 4.0])
    got = cumulative_incidence_at(y, [1.5, 3.5, 4.0])
    np.testing.assert_allclose(got.loc[got["cause"] == 1, "cif"], [0.25, 0.25, 0.625])
    np.testing.assert_allclose(got.loc[got["cause"] == 2, "cif"], [0.0, 0.375, 0.375])
    # no censoring: the CIF is a proportion and the IJ variance is p (1 - p) / n
    y = competing_outcome([1, 2, 2, 1, 1, 2, 1, 1], np.arange(1.0, 9.0))
    got = cumulative_incidence_at(y, [8.0])
    np.testing.assert_allclose(got["cif"], [5 / 8, 3 / 8])
    np.testing.assert_allclose(got["se"] ** 2, [5 / 8 * 3 / 8 / 8] * 2)


def test_gray_test_matches_cmprsk_cuminc(mgus2):
    d, y = mgus2
    ref = pd.read_csv(DATA / "gray_sex.csv")
    for cause in (1, 2):
        got = gray_test(y, d["sex"], cause=cause)
        np.testing.assert_allclose(got["statistic"], ref["stat"][cause - 1], rtol=1e-8)
        np.testing.assert_allclose(got["p_value"], ref["pv"][cause - 1], rtol=1e-6)
        assert got["df"] == 1


def test_gray_test_has_chi_square_level_under_the_null():
    p = [gray_test(simulate(200, seed=s)[3], np.arange(200) % 3)["p_value"] for s in range(60)]
    assert 0.01 <= np.mean(np.array(p) < 0.1) <= 0.2  # nominal 0.1


def _wolbers_brute(code, time, risk):
    num = den = 0.0
    for i in range(code.size):
        if code[i] != 1:
            continue
        for j in range(code.size):
            if j == i:
                continue
            if time[i] < time[j] or (code[j] == 2 and time[j] <= time[i]) or (
                    time[i] == time[j] and code[j] == 0):
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_wolbers_concordance_brute_force_and_harrell():
    rng = np.random.default_rng(3)
    code = rng.integers(0, 3, size=60)
    time = rng.integers(1, 15, size=60).astype(float)  # many tied times
    risk = rng.integers(0, 6, size=60).astype(float)  # and tied risks
    y = competing_outcome(code, time)
    assert cindex_wolbers(y, risk) == pytest.approx(_wolbers_brute(code, time, risk))
    # without competing events it is Harrell's C
    code1 = np.where(code == 2, 0, code)
    harrell = concordance_index_censored(code1 == 1, time, risk)[0]
    assert cindex_wolbers(competing_outcome(code1, time), risk) == pytest.approx(harrell)


def test_cif_auc_closed_form_and_sksurv():
    x, l1, l2, y = simulate(500, seed=4, censor=False)
    t = 30.0
    est = true_cif(l1, l2, t)
    case = (y["time"] <= t) & (y["event"] == 1)
    assert cif_auc(y, y, est, [t])[0] == pytest.approx(roc_auc_score(case, est[:, 0]))
    # without competing events: scikit-survival's IPCW cumulative/dynamic AUC
    _, _, _, yc = simulate(500, seed=5)
    code = np.where(yc["event"] == 2, 0, yc["event"])
    ys = competing_outcome(code, yc["time"])
    surv = Surv.from_arrays(code == 1, yc["time"])
    risk = np.random.default_rng(0).normal(size=500) + (code == 1)
    ref = cumulative_dynamic_auc(surv, surv, risk, [20.0, 40.0])[0]
    np.testing.assert_allclose(cif_auc(ys, ys, risk, [20.0, 40.0]), ref, rtol=1e-10)


def test_cif_brier_closed_form_and_sksurv():
    x, l1, l2, y = simulate(300, seed=6, censor=False)
    est = true_cif(l1, l2, [10.0, 30.0])
    ind = (y["time"][:, None] <= [10.0, 30.0]) & (y["event"][:, None] == 1)
    np.testing.assert_allclose(cif_brier_scores(y, y, est, [10.0, 30.0]),
                               ((ind - est) ** 2).mean(axis=0))
    _, _, _, yc = simulate(300, seed=7)
    code = np.where(yc["event"] == 2, 0, yc["event"])
    ys = competing_outcome(code, yc["time"])
    surv = Surv.from_arrays(code == 1, yc["time"])
    f = np.clip(np.random.default_rng(1).uniform(size=(300, 2)), 0, 1)
    ref = brier_score(surv, surv, 1.0 - f, [15.0, 35.0])[1]
    np.testing.assert_allclose(cif_brier_scores(ys, ys, f, [15.0, 35.0]), ref, rtol=1e-10)


def test_cif_calibration_observed_is_aalen_johansen_within_groups():
    x, l1, l2, y = simulate(600, seed=8)
    pred = true_cif(l1, l2, 36.0)[:, 0]
    table = cif_calibration(y, pred, 36.0, n_groups=4)
    order = np.argsort(pred, kind="mergesort")
    for g, rows in enumerate(np.array_split(order, 4), start=1):
        ref = cumulative_incidence_at(y[rows], [36.0])
        assert table.loc[g - 1, "observed"] == pytest.approx(ref["cif"][0])
        assert table.loc[g - 1, "predicted"] == pytest.approx(pred[rows].mean())
    assert (table["lo"] <= table["observed"]).all() and (table["observed"] <= table["hi"]).all()


def test_cif_calibration_metrics_separate_true_from_miscalibrated():
    x, l1, l2, y = simulate(3000, seed=9)
    pred = true_cif(l1, l2, 36.0)[:, 0]
    good = cif_calibration_metrics(y, pred, 36.0)
    bad = cif_calibration_metrics(y, np.clip(pred * 1.6, 0, 1), 36.0)
    assert good["ici"] < 0.02 and abs(good["oe"] - 1.0) < 0.06
    assert bad["ici"] > 0.08 and bad["oe"] < 0.75


def test_cif_calibration_curve_without_censoring_smooths_the_indicators():
    """Without censoring the Aalen-Johansen CIF is the empirical proportion and every
    pseudo-value is the patient's indicator 1{T <= h, cause 1}: the curve is statsmodels'
    lowess of those indicators, and the ICI its mean distance from the diagonal."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    x, l1, l2, y = simulate(400, seed=12, censor=False)
    pred = true_cif(l1, l2, 36.0)[:, 0]
    curve = cif_calibration_curve(y, pred, 36.0)
    indicator = ((y["event"] == 1) & (y["time"] <= 36.0)).astype(float)
    want = lowess(indicator, pred, frac=2 / 3, it=0, delta=0.0, return_sorted=False)
    order = np.argsort(pred, kind="stable")
    np.testing.assert_allclose(curve["predicted"], pred[order])
    np.testing.assert_allclose(curve["smoothed"], want[order], atol=1e-10)
    ici = cif_calibration_metrics(y, pred, 36.0)["ici"]
    assert ici == pytest.approx(np.mean(np.abs(want - pred)), rel=1e-9)


def test_cif_calibration_curve_recovers_the_true_cif_of_miscalibrated_predictions():
    """Predictions of half the true CIF (known constant hazards): the smoothed observed CIF
    follows twice the prediction, the true CIF, over the central 90% of predictions."""
    x, l1, l2, y = simulate(3000, seed=13)
    truth = true_cif(l1, l2, 36.0)[:, 0]
    curve = cif_calibration_curve(y, truth / 2, 36.0)
    mid = curve.iloc[150:-150]
    assert np.abs(mid["smoothed"] - 2 * mid["predicted"]).max() < 0.05
    assert np.abs(mid["smoothed"] - mid["predicted"]).mean() > 0.1  # far from the diagonal


def test_errors_name_the_bad_input():
    with pytest.raises(ConfigError, match=r"rows 1 \(3\)"):
        competing_outcome([0, 3, 1], [1.0, 2.0, 3.0])
    y = competing_outcome([0, 1, 2], [1.0, 2.0, 3.0])
    with pytest.raises(MetricInputError, match="at least two groups"):
        gray_test(y, ["a", "a", "a"])
    with pytest.raises(MetricInputError, match="integer event-code field"):
        aalen_johansen(Surv.from_arrays([True, False], [1.0, 2.0]))
