"""The one-horizon Kaplan–Meier shortcuts equal the full estimate under bootstrap/subset weights."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter

from mmrisk.evaluation._km import _WeightedKM


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_survival_at_equals_full_estimate(seed):
    rng = np.random.default_rng(seed)
    n = 300
    time = np.round(rng.exponential(30, n), 0)  # many ties
    event = rng.random(n) < 0.6
    km = _WeightedKM(event, time)
    W = rng.multinomial(n, np.full(n, 1 / n), size=40).astype(float)
    W[:, rng.random(n) < 0.3] = 0.0  # a subset, as a decision-curve threshold selects
    Ws = km.sort(W)
    for h in (0.0, 0.5, 12.0, 30.0, float(time.max()), 1e4):
        np.testing.assert_allclose(km.survival_at(Ws, h), km.survival(Ws, [h])[:, 0],
                                   rtol=0, atol=1e-12)
        np.testing.assert_array_equal(km.followed_to(Ws, h), km.last_time(Ws) >= h)
        mask = km.sort((rng.random(n) < 0.5)[None, :].astype(float))[0]
        np.testing.assert_allclose(km.survival_at(Ws, h, mask),
                                   km.survival(Ws * mask, [h])[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(km.followed_to(Ws, h, mask),
                                      km.last_time(Ws * mask) >= h)


def test_survival_at_equals_lifelines_on_a_subset():
    rng = np.random.default_rng(5)
    time = rng.exponential(20, 200).round(1)
    event = rng.random(200) < 0.7
    keep = rng.random(200) < 0.5
    km = _WeightedKM(event, time)
    ref = KaplanMeierFitter().fit(time[keep], event[keep])
    Ws = km.sort(keep[None, :].astype(float))
    for h in (5.0, 15.0, 30.0):
        assert km.survival_at(Ws, h)[0] == pytest.approx(
            float(ref.survival_function_at_times(h).iloc[0]), abs=1e-12)
