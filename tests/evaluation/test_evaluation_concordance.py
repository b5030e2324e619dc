"""Harrell's and Uno's C against hand counts, scikit-survival and lifelines."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lifelines.utils import concordance_index as lifelines_cindex
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.util import Surv

from mmrisk.evaluation import cindex_harrell, cindex_uno
from mmrisk.exceptions import EvaluationWarning, MetricInputError


def test_harrell_hand_counted_pairs():
    # times 1,2,3,3,5; events at 1 and 3 (the other t=3 is censored: comparable, tie rule).
    # Comparable pairs: (1,2) (1,3) (1,4) (1,5) anchored at t=1; (3,4) (3,5) anchored at t=3.
    # Risks .9 .8 .1 .2 .2: the t=1 event out-ranks all 4 -> 4 concordant; the t=3 event (.1)
    # is below both -> 0. C = 4/6.
    y = Surv.from_arrays([1, 0, 1, 0, 0], [1.0, 2.0, 3.0, 3.0, 5.0])
    assert cindex_harrell(None, y, [0.9, 0.8, 0.1, 0.2, 0.2]) == pytest.approx(4 / 6, abs=1e-15)


def test_harrell_hand_counted_tied_risks():
    # No censoring, times 1..4, risks .5 .5 .2 .3: pairs (1,2) tie -> .5; (1,3) (1,4) -> 2;
    # (2,3) (2,4) -> 2; (3,4): .2 < .3 -> 0. C = 4.5 / 6.
    y = Surv.from_arrays([True] * 4, [1.0, 2.0, 3.0, 4.0])
    assert cindex_harrell(None, y, [0.5, 0.5, 0.2, 0.3]) == pytest.approx(4.5 / 6, abs=1e-15)


def test_harrell_without_comparable_pair_is_nan():
    y = Surv.from_arrays([0, 0, 1], [1.0, 2.0, 3.0])
    assert np.isnan(cindex_harrell(None, y, [0.1, 0.2, 0.3]))


def _rounded_sample(seed: int, n: int = 400):
    """Data with tied times and tied risk scores, to exercise the tie rules."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = np.round(rng.exponential(20 * np.exp(-0.7 * x)), 0) + 1
    c = np.round(rng.uniform(5, 60, size=n), 0)
    y = Surv.from_arrays(t <= c, np.minimum(t, c))
    risk = np.round(x + rng.normal(scale=0.6, size=n), 1)
    return y, risk


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_harrell_matches_sksurv_and_lifelines(seed):
    y, risk = _rounded_sample(seed)
    ours = cindex_harrell(None, y, risk)
    assert ours == pytest.approx(
        concordance_index_censored(y["event"], y["time"], risk)[0], abs=1e-12
    )
    # lifelines scores "higher = longer survival": pass the negated risk.
    assert ours == pytest.approx(lifelines_cindex(y["time"], -risk, y["event"]), abs=1e-12)


def test_field_names_are_detected():
    y, risk = _rounded_sample(3, 100)
    renamed = Surv.from_arrays(y["event"], y["time"], name_event="cens", name_time="ptime")
    assert cindex_harrell(None, renamed, risk) == cindex_harrell(None, y, risk)


def test_outcome_must_be_structured():
    with pytest.raises(MetricInputError, match="structured array with two fields"):
        cindex_harrell(None, np.array([1.0, 2.0]), [0.1, 0.2])
    bad = np.array([(1, 1.0), (0, 2.0)], dtype=[("e", "i4"), ("t", "f8")])
    with pytest.raises(MetricInputError, match="one boolean event field"):
        cindex_harrell(None, bad, [0.1, 0.2])


def test_risk_length_must_match():
    y = Surv.from_arrays([1, 0, 1], [1.0, 2.0, 3.0])
    with pytest.raises(MetricInputError, match=r"one value per test sample \(3\)"):
        cindex_harrell(None, y, [0.1, 0.2])


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=3, max_size=25),
    seed=st.integers(0, 2**16),
)
def test_reversed_untied_scores_give_one_minus_c(data, seed):
    times = np.array([t for t, _ in data], dtype=float)  # ties in time on purpose
    events = np.array([e for _, e in data])
    y = Surv.from_arrays(events, times)
    scores = np.random.default_rng(seed).permutation(len(data)).astype(float)  # untied
    c = cindex_harrell(None, y, scores)
    assume(not np.isnan(c))
    assert cindex_harrell(None, y, -scores) == pytest.approx(1.0 - c, abs=1e-12)


@pytest.mark.parametrize("tau", [15.0, 30.0, 50.0])
def test_uno_matches_sksurv(tau):
    y_train, _ = _rounded_sample(10, 600)
    y_test, risk = _rounded_sample(11, 300)
    # sksurv needs the test times inside the training follow-up.
    keep = y_test["time"] < y_train["time"].max()
    y_test, risk = y_test[keep], risk[keep]
    expected = concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0]
    assert cindex_uno(y_train, y_test, risk, [tau]) == pytest.approx(expected, abs=1e-12)


def test_uno_with_test_times_beyond_training_follow_up():
    y_train, _ = _rounded_sample(20, 300)
    y_test, risk = _rounded_sample(21, 300)
    # A single last training time that is an event: G(last) > 0 and is held beyond it.
    y_train = Surv.from_arrays(
        np.r_[y_train["event"], True], np.r_[y_train["time"], y_train["time"].max() + 1]
    )
    late = Surv.from_arrays(y_test["event"], y_test["time"] + 30)
    with pytest.raises(ValueError):
        concordance_index_ipcw(y_train, late, risk)  # the reference refuses
    with warnings.catch_warnings():
        warnings.simplefilter("error", EvaluationWarning)
        value = cindex_uno(y_train, late, risk)
    assert 0.0 < value < 1.0


def test_uno_drops_events_where_censoring_survival_is_zero():
    # Training follow-up ends with a censoring: G = 0 from there on.
    y_train = Surv.from_arrays([1, 0, 1, 0], [1.0, 2.0, 3.0, 4.0])
    y_test = Surv.from_arrays([1, 1, 0, 1], [1.5, 2.5, 3.5, 4.5])
    with pytest.warns(EvaluationWarning, match="no finite weight"):
        value = cindex_uno(y_train, y_test, [0.9, 0.5, 0.4, 0.1])
    assert value == pytest.approx(1.0)
