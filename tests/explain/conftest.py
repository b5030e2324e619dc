"""Shared data, models and an independent brute-force Shapley computation for explain tests."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv


def brute_force_shapley(f, x, background):
    """Interventional Shapley values by enumerating every coalition.

    ``v(S)`` is the mean over background rows ``b`` of ``f`` at the hybrid point that takes
    ``x`` on ``S`` and ``b`` elsewhere. ``x`` is a 1-d array (or a one-row DataFrame), the
    background a 2-d array (or a DataFrame with the same columns); ``f`` maps rows to outputs.
    """
    frame = isinstance(background, pd.DataFrame)
    p = background.shape[1]

    def v(coalition):
        rows = background.copy()
        if frame:
            for j in coalition:
                rows[rows.columns[j]] = x.iloc[0, j]
        else:
            rows[:, list(coalition)] = x[list(coalition)]
        return float(np.mean(f(rows)))

    values = {s: v(s) for k in range(p + 1) for s in itertools.combinations(range(p), k)}
    phi = np.zeros(p)
    for i in range(p):
        others = [j for j in range(p) if j != i]
        for k in range(p):
            weight = math.factorial(k) * math.factorial(p - k - 1) / math.factorial(p)
            for s in itertools.combinations(others, k):
                with_i = tuple(sorted((*s, i)))
                phi[i] += weight * (values[with_i] - values[s])
    return phi


@pytest.fixture(scope="session")
def brute_shapley():
    """The brute-force Shapley function (a fixture, since tests/explain is not a package)."""
    return brute_force_shapley


def make_survival(n, p, seed, missing=0.0):
    """Random survival data whose hazard depends on an interaction of the first features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, p - 1] = np.round(X[:, p - 1])  # a few discrete values: ties at thresholds
    lp = 0.8 * X[:, 0] - 0.5 * X[:, 1] * (X[:, 2] > 0)
    time = rng.exponential(20.0 * np.exp(-lp))
    event = rng.random(n) < 0.75
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X, Surv.from_arrays(event, np.round(time, 2) + 0.01)


@pytest.fixture(scope="session")
def small_data():
    """240 patients, 4 features."""
    return make_survival(240, 4, seed=11)


@pytest.fixture(scope="session")
def clinical_frame():
    """A registry-like table (numbers, categories, missing values) with a survival outcome."""
    rng = np.random.default_rng(5)
    n = 160
    grade = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    sex = rng.choice(["F", "M"], n)
    age = rng.normal(60, 8, n)
    b2m = rng.gamma(2.0, 2.0, n)
    lp = 0.7 * (grade == "b") + 1.2 * (grade == "c") + 0.03 * (age - 60) + 0.1 * b2m
    time = rng.exponential(30 * np.exp(-lp))
    event = rng.random(n) < 0.8
    X = pd.DataFrame({"age": age, "grade": grade, "sex": sex, "b2m": b2m})
    return X, Surv.from_arrays(event, np.round(time, 2) + 0.01)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture(scope="session")
def make_data():
    """The survival data generator (a fixture, since tests/explain is not a package)."""
    return make_survival
