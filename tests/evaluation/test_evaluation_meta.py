"""Random-effects meta-analysis against values printed by R metafor on the BCG vaccine data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mmrisk.evaluation import random_effects_meta
from mmrisk.exceptions import MetricInputError

# metafor's dat.bcg (Colditz et al. 1994), as printed in metafor's README: tpos, tneg, cpos, cneg.
BCG = np.array([
    [4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
    [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619], [505, 87886, 499, 87892],
    [29, 7470, 45, 7232], [17, 1699, 65, 1600], [186, 50448, 141, 27197], [5, 2493, 3, 2338],
    [27, 16886, 29, 17825],
], dtype=float)  # fmt: skip


@pytest.fixture(scope="module")
def log_rr():
    """escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)."""
    a, b, c, d = BCG.T
    yi = np.log(a / (a + b)) - np.log(c / (c + d))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    # first rows of yi / vi as printed in metafor's README
    np.testing.assert_allclose(yi[:3], [-0.8893, -1.5854, -1.3481], atol=5e-5)
    np.testing.assert_allclose(vi[:3], [0.3256, 0.1946, 0.4154], atol=5e-5)
    return yi, np.sqrt(vi)


def test_reml_knha_matches_metafor_readme(log_rr):
    """metafor README: res <- rma(yi, vi, data=dat, test="knha"); predict(res, transf=exp).

    tau^2 0.3132, I^2 92.22%, H^2 12.86, Q(df = 12) = 152.2330; estimate -0.7145, se 0.1808,
    CI -1.1084 to -0.3206; pred 0.49, ci 0.33-0.73, pi 0.14-1.76 (exp scale, 2 digits).
    """
    res = random_effects_meta(*log_rr, method="REML", hartung_knapp=True, prediction="t(k-1)")
    assert res.k == 13
    assert res.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert res.i2 == pytest.approx(92.22, abs=5e-3)
    assert res.h2 == pytest.approx(12.86, abs=5e-3)
    assert res.q == pytest.approx(152.2330, abs=5e-5)
    assert res.estimate == pytest.approx(-0.7145, abs=5e-5)
    assert res.se == pytest.approx(0.1808, abs=5e-5)
    assert (res.lo, res.hi) == pytest.approx((-1.1084, -0.3206), abs=5e-5)
    printed = np.round(np.exp([res.estimate, res.lo, res.hi, res.pi_lo, res.pi_hi]), 2)
    np.testing.assert_allclose(printed, [0.49, 0.33, 0.73, 0.14, 1.76])


def test_dl_wald_matches_metafor_tests(log_rr):
    """metafor tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r (RE model, DL, RR):

    estimate -0.7141, ci -1.0644 to -0.3638, tau2 0.3088, I2 92.1173 (also Stata metan).
    """
    res = random_effects_meta(*log_rr, method="DL", hartung_knapp=False)
    assert res.estimate == pytest.approx(-0.7141, abs=5e-5)
    assert (res.lo, res.hi) == pytest.approx((-1.0644, -0.3638), abs=5e-5)
    assert res.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert res.i2 == pytest.approx(92.1173, abs=5e-5)
    # DL's I^2 equals Higgins & Thompson's (Q - df) / Q
    assert res.i2 == pytest.approx(100 * (res.q - 12) / res.q, rel=1e-10)


def test_default_prediction_interval_is_t_with_k_minus_2_df(log_rr):
    """Higgins, Thompson & Spiegelhalter 2009: mu +- t_{k-2} sqrt(tau^2 + SE^2)."""
    res = random_effects_meta(*log_rr)
    half = stats.t.ppf(0.975, 11) * np.sqrt(res.tau2 + res.se**2)
    assert (res.pi_lo, res.pi_hi) == pytest.approx((res.estimate - half, res.estimate + half))
    z = random_effects_meta(*log_rr, hartung_knapp=False, prediction="z")
    assert z.se == pytest.approx(np.sqrt(1 / np.sum(1 / (log_rr[1] ** 2 + z.tau2))))


def test_homogeneous_studies_give_tau2_zero_and_the_fixed_effect_mean():
    y = np.array([0.1, 0.12, 0.09, 0.11])
    se = np.array([0.2, 0.3, 0.25, 0.2])
    res = random_effects_meta(y, se, hartung_knapp=False)
    w = 1 / se**2
    assert res.tau2 == 0.0
    assert res.estimate == pytest.approx(np.sum(w * y) / w.sum())
    assert res.i2 == 0.0


def test_bad_inputs_raise():
    with pytest.raises(MetricInputError, match="at least 2 studies"):
        random_effects_meta([0.1], [0.2])
    with pytest.raises(MetricInputError, match="std_errors finite and > 0"):
        random_effects_meta([0.1, 0.2], [0.2, 0.0])
    with pytest.raises(MetricInputError, match="'REML' or 'DL'"):
        random_effects_meta([0.1, 0.2], [0.2, 0.1], method="PM")
