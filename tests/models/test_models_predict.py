"""``predict_survival_at``: the shared-grid path equals evaluating each row's step function."""

from __future__ import annotations

import numpy as np
import pytest

from mmrisk.models import make_model, predict_survival_at
from mmrisk.models._predict import _survival_at_grid

TIMES = [0.0, 0.5, 12.0, 24.0, 36.0, 60.0, 1e4]


def _per_row(model, X, times):
    """The definition: each row's scikit-survival step function, held at its domain's ends."""
    out = []
    for fn in model.predict_survival_function(X):
        lo, hi = fn.domain
        out.append(fn(np.clip(np.asarray(times, float), lo, hi)))
    return np.clip(np.asarray(out), 0.0, 1.0)


@pytest.mark.parametrize("kind,params", [
    ("cox", {}), ("coxnet", {}), ("rsf", {"n_estimators": 10}),
    ("gbsa", {"n_estimators": 20}),
])
def test_grid_path_equals_step_functions(whas500, kind, params):
    X, y = whas500
    model = make_model(kind, pipeline="passthrough", params=params, seed=0).fit(X, y)
    fast = _survival_at_grid(model, X.iloc[:80], np.asarray(TIMES))
    assert fast is not None  # every catalogue kind has the shared grid
    # Cox models round exp(-H0 exp(lp)) and S0 ** exp(lp) differently in the last bit
    np.testing.assert_allclose(fast, _per_row(model, X.iloc[:80], TIMES), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(predict_survival_at(model, X.iloc[:80], TIMES), fast)


class _NoGrid:
    """An estimator with step functions only (no ``return_array``): the per-row path."""

    def __init__(self, model):
        self.model = model

    def predict_survival_function(self, X):
        return self.model.predict_survival_function(X)


def test_estimators_without_a_grid_use_the_step_functions(whas500):
    X, y = whas500
    model = make_model("cox", pipeline="passthrough").fit(X, y)
    wrapped = _NoGrid(model)
    assert _survival_at_grid(wrapped, X.iloc[:5], np.asarray(TIMES)) is None
    np.testing.assert_array_equal(predict_survival_at(wrapped, X.iloc[:5], TIMES),
                                  _per_row(model, X.iloc[:5], TIMES))


@pytest.mark.parametrize("kind", ["cox", "coxnet"])
def test_cox_horizon_columns_equal_the_whole_survival_array(whas500, kind):
    """Only the horizons' columns of S0 ** exp(lp) are computed: the same numbers, bit for bit."""
    X, y = whas500
    model = make_model(kind, pipeline="passthrough", seed=0).fit(X, y)
    times = np.asarray(TIMES)
    fast = _survival_at_grid(model, X, times)
    whole = model.predict_survival_function(X, return_array=True)
    grid = model[-1].unique_times_
    idx = np.clip(np.searchsorted(grid, np.clip(times, grid[0], grid[-1]), side="right") - 1,
                  0, None)
    np.testing.assert_array_equal(fast, np.clip(whole[:, idx], 0.0, 1.0))
    np.testing.assert_allclose(fast, _per_row(model, X, TIMES), rtol=0, atol=1e-14)
