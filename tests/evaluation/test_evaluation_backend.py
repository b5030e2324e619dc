"""Fit back-ends of cross_validate: the same result as the local engine, grid searches included.

Independent truth: scikit-learn's ``GridSearchCV`` fitted the ordinary way (the local engine),
against which the unrolled search (one task per candidate x inner fold) must choose the same
candidate and give the same out-of-fold predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxPHSurvivalAnalysis

from mmrisk.evaluation import FitBackend, InProcessBackend, cross_validate, make_splits
from mmrisk.evaluation._backend import _best_candidate
from mmrisk.exceptions import MetricInputError
from mmrisk.models import (
    EventStratifiedKFold,
    GridRandomSurvivalForest,
    SurvivalGridSearchCV,
    XGBCox,
)

HORIZONS = [12, 24]


class _Shuffled(InProcessBackend):
    """Yields the results in reverse order, as a cluster may."""

    def __init__(self):
        self.calls = []
        self.tasks = []

    def map_unordered(self, fn, shared, tasks):
        self.calls.append(len(tasks))
        self.tasks.append(list(tasks))
        return reversed([fn(shared, t) for t in tasks])


def _models():
    cox = Pipeline([("scale", StandardScaler()), ("cox", CoxPHSurvivalAnalysis())])
    xgb = XGBCox(n_estimators=20, max_depth=2, subsample=0.8, random_state=3, n_jobs=1)
    grid = SurvivalGridSearchCV(xgb, {"max_depth": [1, 3], "learning_rate": [0.05, 0.3]},
                                cv=EventStratifiedKFold(3, random_state=4))
    rsf = GridRandomSurvivalForest(n_estimators=5, min_samples_leaf=10, random_state=3)
    return {"cox": cox, "xgb_grid": grid, "rsf": rsf}


@pytest.fixture(scope="module")
def data(simulate):
    return simulate(240, seed=5, censor_max=80.0)


def test_a_backend_gives_the_local_result_grid_points_included(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1, seed=1)
    local = cross_validate(_models(), data.X, data.y, splits, HORIZONS, baseline="cox",
                           n_bootstrap=10, seed=2)
    backend, calls = _Shuffled(), []
    got = cross_validate(_models(), data.X, data.y, splits, HORIZONS, baseline="cox",
                         n_bootstrap=10, seed=2, backend=backend,
                         progress=lambda *c: calls.append(c))
    # wave 1: 3 splits x (cox + rsf) fits + 3 x 4 candidates x 3 inner folds; wave 2: 3 refits
    assert backend.calls == [3 * 2 + 3 * 4 * 3, 3]
    assert [c for c in calls if c[0] == "fit"] == [("fit", k, 9) for k in range(1, 10)]
    assert [c for c in calls if c[0] == "tune"] == [("tune", k, 36) for k in range(1, 37)]
    # the risk is the same number; survival through the best pipeline instead of the search's
    # delegation may differ in the last bits
    pd.testing.assert_frame_equal(got.predictions, local.predictions, check_exact=False,
                                  rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.predictions["risk"], local.predictions["risk"])
    pd.testing.assert_frame_equal(got.metrics, local.metrics, check_exact=False, rtol=0,
                                  atol=1e-12)
    # the refits use what GridSearchCV itself chooses on each split's training rows
    chosen = {t.split: dict(t.params) for t in backend.tasks[1]}
    for i, s in enumerate(splits):
        search = _models()["xgb_grid"].fit(data.X.iloc[s.train_idx], data.y[s.train_idx])
        assert chosen[i] == search.best_params_
    # ... and the grid matters here: not the first candidate everywhere
    assert any(p != {"learning_rate": 0.05, "max_depth": 1} for p in chosen.values())


@pytest.mark.parametrize(
    ("means", "expected"),
    [([0.5, 0.7, 0.7], 1), ([np.nan, 0.2, 0.1], 1), ([np.nan, np.nan], 0), ([0.3], 0)],
)
def test_the_best_candidate_follows_gridsearchcv(means, expected):
    scores = np.repeat(np.asarray(means, dtype=float)[:, None], 2, axis=1)
    assert _best_candidate(scores) == expected


class _FailsOn(CoxPHSurvivalAnalysis):
    def __init__(self, bad_row=0):
        super().__init__()
        self.bad_row = bad_row

    def fit(self, X, y):
        if self.bad_row not in X.index:
            raise RuntimeError("failure without the bad row")
        return super().fit(X, y)


def test_a_failing_fit_is_raised_with_its_split(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1, seed=1)
    model = _FailsOn(bad_row=int(splits[1].test_idx[0]))
    with pytest.raises(RuntimeError, match="failure without the bad row") as info:
        cross_validate({"m": model}, data.X, data.y, splits, HORIZONS, backend=_Shuffled())
    assert info.value.__notes__ == [f"while fitting model 'm' on {splits[1].label}"]


def test_not_a_backend_is_refused(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1, seed=1)
    assert isinstance(InProcessBackend(), FitBackend)
    with pytest.raises(MetricInputError, match="backend must have a map_unordered"):
        cross_validate({"cox": _models()["cox"]}, data.X, data.y, splits, HORIZONS,
                       backend=object())
