"""Split x model fits in parallel worker processes: the same result as one after the other."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxPHSurvivalAnalysis

from mmrisk.evaluation import cross_validate, make_splits
from mmrisk.evaluation._cv import _fit_tasks
from mmrisk.exceptions import MetricInputError
from mmrisk.models import XGBAFT, GridRandomSurvivalForest, XGBCox

HORIZONS = [12, 24]


def _models():
    return {
        "cox": Pipeline([("scale", StandardScaler()), ("cox", CoxPHSurvivalAnalysis())]),
        "xgb_cox": XGBCox(n_estimators=30, max_depth=2, subsample=0.8, random_state=3),
        "xgb_aft": XGBAFT(n_estimators=30, max_depth=2, random_state=3),
        "rsf": GridRandomSurvivalForest(n_estimators=5, min_samples_leaf=10, random_state=3),
    }


@pytest.fixture(scope="module")
def data(simulate):
    return simulate(300, seed=5, censor_max=80.0)


def test_parallel_fits_give_the_serial_result_and_report_every_fit(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=2, seed=1)
    runs = {}
    for n_jobs in (1, 2):
        calls = []
        runs[n_jobs] = cross_validate(
            _models(), data.X, data.y, splits, HORIZONS, baseline="cox", n_bootstrap=20, seed=2,
            progress=lambda *c, calls=calls: calls.append(c), n_jobs=n_jobs,
        )
        fits = [c for c in calls if c[0] == "fit"]
        n_fits = len(splits) * len(_models())
        assert fits == [("fit", k, n_fits) for k in range(1, n_fits + 1)]
        # bootstrap units (model x repeat) run in parallel too; every chunk is reported
        steps = [c for c in calls if c[0] == "metrics"]
        assert steps == [("metrics", k, len(steps)) for k in range(1, len(steps) + 1)]
        assert len(steps) == len(_models()) * 2  # 2 repeats, 20 replicates = 1 chunk each
    serial, parallel = runs[1], runs[2]
    pd.testing.assert_frame_equal(parallel.predictions, serial.predictions, check_exact=True)
    pd.testing.assert_frame_equal(parallel.metrics, serial.metrics, check_exact=True)
    pd.testing.assert_frame_equal(parallel.differences, serial.differences, check_exact=True)
    # the models differ, so equal tables are not equal by accident
    risk = serial.predictions.pivot_table(index=["repeat", "row"], columns="model", values="risk")
    assert risk.corr().min().min() < 0.999


def test_a_task_carries_its_fold_not_the_cohort(data):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1, seed=1)
    times = np.array([12.0, 24.0])
    tasks = list(_fit_tasks(_models(), data.X, data.y, splits, times, data.y["time"]))
    assert len(tasks) == len(splits) * len(_models())
    for (i, name), (task_name, _, X_train, y_train, X_test, _, own, label) in tasks:
        split = splits[i]
        assert task_name == name and label == split.label
        assert len(X_train) == len(y_train) == split.train_idx.size < len(data.X)
        assert len(X_test) == own.size == split.test_idx.size
        np.testing.assert_array_equal(X_test.index, data.X.index[split.test_idx])


class _FailsWithout(CoxPHSurvivalAnalysis):
    """Fails on the folds whose training rows lack ``slow_row`` (after a pause) or
    ``fast_row`` (at once); fits a Cox model elsewhere."""

    def __init__(self, slow_row=0, fast_row=0):
        super().__init__()
        self.slow_row = slow_row
        self.fast_row = fast_row

    def fit(self, X, y):
        if self.slow_row not in X.index:
            time.sleep(1.0)
            raise RuntimeError("slow failure")
        if self.fast_row not in X.index:
            raise RuntimeError("fast failure")
        return super().fit(X, y)


def test_a_failure_is_reported_as_in_the_serial_run(data):
    """The first failing fit in split order wins, even when a later one fails first."""
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1, seed=1)
    model = _FailsWithout(slow_row=int(splits[0].test_idx[0]), fast_row=int(splits[2].test_idx[0]))
    for n_jobs in (1, 3):
        with pytest.raises(RuntimeError, match="slow failure") as info:
            cross_validate({"m": model}, data.X, data.y, splits, HORIZONS, n_jobs=n_jobs)
        assert info.value.__notes__ == [f"while fitting model 'm' on {splits[0].label}"]


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True])
def test_bad_n_jobs_is_refused(data, n_jobs):
    splits = make_splits("kfold", data.y, n_splits=3, n_repeats=1, seed=1)
    with pytest.raises(MetricInputError, match="n_jobs must be a non-zero integer"):
        cross_validate({"cox": _models()["cox"]}, data.X, data.y, splits, HORIZONS,
                       n_jobs=n_jobs)
