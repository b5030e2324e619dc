"""Shared simulated data for the evaluation tests: a proportional-hazards Weibull model whose
true survival curves are known, so calibrated and mis-specified predictions can be built."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

SHAPE = 1.4
SCALE = 40.0
BETA = np.array([0.8, -0.5])


@dataclass
class WeibullData:
    X: pd.DataFrame
    y: np.ndarray
    lp: np.ndarray  # true linear predictor

    def survival(self, times, lp_scale: float = 1.0, rows=None) -> np.ndarray:
        """True S(t | x) at common times (n, n_times); ``lp_scale`` != 1 mis-scales it."""
        lp = self.lp if rows is None else self.lp[rows]
        t = np.asarray(times, dtype=float)[None, :]
        return np.exp(-((t / SCALE) ** SHAPE) * np.exp(lp_scale * lp)[:, None])

    def survival_at_own_time(self, lp_scale: float = 1.0, time_scale: float = 1.0) -> np.ndarray:
        t = self.y["time"] * time_scale
        return np.exp(-((t / SCALE) ** SHAPE) * np.exp(lp_scale * self.lp))


def simulate_weibull(n: int, seed: int, *, censor_max: float = 120.0) -> WeibullData:
    """T ~ Weibull PH with S(t|x) = exp(-(t/40)^1.4 exp(x @ beta)); censoring U(10, censor_max)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    lp = X @ BETA
    t = SCALE * (-np.log(rng.uniform(size=n)) / np.exp(lp)) ** (1 / SHAPE)
    c = rng.uniform(10.0, censor_max, size=n)
    y = Surv.from_arrays(t <= c, np.minimum(t, c), name_event="event", name_time="time")
    return WeibullData(X=pd.DataFrame(X, columns=["x1", "x2"]), y=y, lp=lp)


@pytest.fixture(scope="session")
def weibull_train() -> WeibullData:
    return simulate_weibull(800, seed=11)


@pytest.fixture(scope="session")
def weibull_test() -> WeibullData:
    return simulate_weibull(600, seed=12)


@pytest.fixture(scope="session")
def weibull_large() -> WeibullData:
    return simulate_weibull(4000, seed=13)


@pytest.fixture(scope="session")
def simulate():
    """The simulator itself, for tests that need their own sample size or censoring."""
    return simulate_weibull
