"""Decision curves against the dcurves package and against the binary net benefit by hand."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from dcurves import dca
from sksurv.util import Surv

from mmrisk.evaluation import DECISION_CURVE_COLUMNS, decision_curve
from mmrisk.exceptions import MetricInputError


@pytest.fixture(scope="module")
def df_surv() -> pd.DataFrame:
    """dcurves' own survival example (750 patients, time in years, 'cancerpredmarker')."""
    return pd.read_csv(files("dcurves") / "data" / "df_surv.csv")


def _dcurves(df, risk_col, h, thresholds):
    ref = dca(data=df, outcome="cancer", modelnames=[risk_col], thresholds=thresholds, time=h,
              time_to_outcome_col="ttcancer")  # fmt: skip
    model = ref.loc[ref["model"] == risk_col, "net_benefit"].to_numpy(dtype=float)
    treat_all = ref.loc[ref["model"] == "all", "net_benefit"].to_numpy(dtype=float)
    return model, treat_all


# dcurves refits a Kaplan-Meier per threshold (~0.15 s each): every third default threshold.
THRESHOLDS = np.round(np.arange(0.01, 0.61, 0.03), 2)


@pytest.mark.parametrize("h", [3])
def test_same_numbers_as_dcurves(df_surv, h):
    y = Surv.from_arrays(df_surv["cancer"].astype(bool), df_surv["ttcancer"])
    surv = 1.0 - df_surv[["cancerpredmarker"]].to_numpy()
    table = decision_curve(y, surv, [h], thresholds=THRESHOLDS, n_bootstrap=0)
    model, treat_all = _dcurves(df_surv, "cancerpredmarker", h, table["threshold"].to_numpy())
    assert list(table.columns) == DECISION_CURVE_COLUMNS
    np.testing.assert_allclose(table["net_benefit_model"], model, atol=1e-12)
    np.testing.assert_allclose(table["net_benefit_all"], treat_all, atol=1e-12)


def test_same_numbers_as_dcurves_for_a_second_model_and_horizon_pair(df_surv):
    """Two horizons in one call; risks from a logistic-like score on 'marker' and 'age'."""
    score = 1.0 / (1.0 + np.exp(-(df_surv["marker"] + 0.05 * (df_surv["age"] - 65) - 1.5)))
    df = df_surv.assign(score=score)
    y = Surv.from_arrays(df["cancer"].astype(bool), df["ttcancer"])
    surv = np.column_stack([1.0 - score, 1.0 - np.minimum(1.0, 1.3 * score)])
    thresholds = np.round(np.arange(0.02, 0.8, 0.06), 2)
    table = decision_curve(y, surv, [1, 4], thresholds=thresholds, n_bootstrap=0)
    df4 = df.assign(score4=np.minimum(1.0, 1.3 * score))
    for h, col, frame in [(1, "score", df), (4, "score4", df4)]:
        model, treat_all = _dcurves(frame, col, h, thresholds)
        part = table[table["horizon"] == h]
        np.testing.assert_allclose(part["net_benefit_model"], model, atol=1e-12)
        np.testing.assert_allclose(part["net_benefit_all"], treat_all, atol=1e-12)


def test_without_censoring_equals_the_binary_net_benefit_by_hand():
    rng = np.random.default_rng(3)
    n = 400
    risk = rng.uniform(0.0, 0.7, n)
    time = rng.exponential(12.0 / (0.2 + 2 * risk))
    y = Surv.from_arrays(np.ones(n, dtype=bool), time)
    h = 12
    thresholds = [0.05, 0.1, 0.2, 0.3, 0.45, 0.6]
    table = decision_curve(y, (1.0 - risk)[:, None], [h], thresholds=thresholds, n_bootstrap=0)
    case = time <= h
    for p, nb, nb_all in table[["threshold", "net_benefit_model", "net_benefit_all"]].to_numpy():
        flag = risk >= p
        tp, fp = np.sum(flag & case) / n, np.sum(flag & ~case) / n
        assert nb == pytest.approx(tp - fp * p / (1 - p), abs=1e-12)
        assert nb_all == pytest.approx(case.mean() - (1 - case.mean()) * p / (1 - p), abs=1e-12)


def test_bootstrap_band_covers_the_curve_and_is_reproducible(df_surv):
    y = Surv.from_arrays(df_surv["cancer"].astype(bool), df_surv["ttcancer"])
    surv = 1.0 - df_surv[["cancerpredmarker"]].to_numpy()
    a = decision_curve(y, surv, [2], n_bootstrap=100, seed=1)
    b = decision_curve(y, surv, [2], n_bootstrap=100, seed=1)
    pd.testing.assert_frame_equal(a, b)
    ok = a.dropna()
    assert len(ok) > 30
    assert np.all(ok["lo"] <= ok["net_benefit_model"] + 1e-12)
    assert np.all(ok["net_benefit_model"] <= ok["hi"] + 1e-12)
    assert np.all(ok["hi"] - ok["lo"] > 0)


def test_nobody_flagged_gives_zero_and_bad_thresholds_raise():
    y = Surv.from_arrays(np.array([True, False, True, True]), np.array([3.0, 5.0, 8.0, 20.0]))
    surv = np.full((4, 1), 0.9)
    table = decision_curve(y, surv, [12], thresholds=[0.5], n_bootstrap=0)
    assert table["net_benefit_model"].iloc[0] == 0.0
    with pytest.raises(MetricInputError, match="strictly between 0 and 1"):
        decision_curve(y, surv, [12], thresholds=[0.0, 0.5])
