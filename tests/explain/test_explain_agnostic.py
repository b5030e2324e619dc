"""Model-agnostic fallback: kernel SHAP exact on few features, permutation with progress."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.ensemble import GradientBoostingSurvivalAnalysis

from mmrisk.explain import explain
from mmrisk.explain._agnostic import summarise_background


@pytest.fixture(scope="module")
def squared_gbsa(small_data):
    """Boosting on log time: predict = exp(sum of trees), not additive, so no exact path."""
    X, y = small_data
    model = GradientBoostingSurvivalAnalysis(loss="squared", n_estimators=15, max_depth=2,
                                             random_state=0)
    return model.fit(pd.DataFrame(X, columns=["a", "b", "c", "d"]), y)


def test_auto_falls_back_for_a_nonadditive_model(squared_gbsa, small_data):
    X, _ = small_data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    events = []
    np.random.seed(123)
    state = np.random.get_state()
    expl = explain(squared_gbsa, frame.head(3), background=frame.head(8),
                   progress=lambda *call: events.append(call))
    after = np.random.get_state()
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2] == state[2]
    again = explain(squared_gbsa, frame.head(3), background=frame.head(8))
    np.testing.assert_array_equal(again.values, expl.values)  # seeded: reproducible
    assert expl.method == "permutation"
    assert expl.local_accuracy_error().max() < 1e-9
    assert events[0] == ("explain", 0, 3)  # mmrisk.progress protocol: (stage, done, total)
    assert [done for _, done, _ in events] == [0, 1, 2, 3]
    assert expl.meta["estimated_seconds"] > 0


def test_kernel_enumerates_all_coalitions_exactly(squared_gbsa, small_data, brute_shapley):
    X, _ = small_data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    background = frame.iloc[100:110]
    rows = frame.iloc[:4]
    expl = explain(squared_gbsa, rows, background=background, method="kernel")
    assert expl.method == "kernel"
    for i in range(len(rows)):
        truth = brute_shapley(squared_gbsa.predict, rows.iloc[[i]], background.reset_index(
            drop=True))
        np.testing.assert_allclose(expl.values.iloc[i].to_numpy(), truth, atol=1e-6)
    assert np.abs(expl.values.to_numpy()).max() > 0.01


def test_kernel_survival_output_at_a_horizon(small_data):
    X, y = small_data
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    cox_boost = GradientBoostingSurvivalAnalysis(n_estimators=10, random_state=0).fit(frame, y)
    expl = explain(cox_boost, frame.head(3), output="surv_12m", background=frame.head(6),
                   method="kernel")
    assert expl.output == "surv_12m"
    assert np.all((expl.prediction >= 0) & (expl.prediction <= 1))
    assert expl.local_accuracy_error().max() < 1e-9


def test_background_summaries():
    rng = np.random.default_rng(0)
    bg = rng.normal(size=(50, 3))
    rows, w = summarise_background(bg, 10, "permutation", random_state=1)
    assert rows.shape == (10, 3) and np.allclose(w, 0.1)
    assert {tuple(r) for r in rows} <= {tuple(r) for r in bg}
    rows, w = summarise_background(bg, 5, "kernel")
    assert rows.shape == (5, 3) and w.sum() == pytest.approx(1.0)
    rows, w = summarise_background(bg[:4], 10, "kernel")
    assert rows.shape == (4, 3)
