"""One prediction API for every survival estimator: survival probabilities at fixed horizons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["predict_survival_at"]


def predict_survival_at(estimator: Any, X: Any, times: Sequence[float]) -> np.ndarray:
    """Survival probabilities S(t | x) of a fitted estimator at ``times``.

    Works for any estimator with scikit-survival's ``predict_survival_function``. A step
    function is only defined up to the last event time it was fitted on; beyond that, the
    estimate is held at its last value (the Kaplan–Meier convention), never extrapolated.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with ``predict_survival_function(X)`` returning scikit-survival step functions.
    X : array-like of shape (n_samples, n_features)
        Input of the estimator.
    times : sequence of float
        Time points (months), e.g. the configured horizons.

    Returns
    -------
    ndarray of shape (n_samples, n_times)
        Values in [0, 1], non-increasing along each row.
    """
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(times < 0):
        raise ValueError(f"times must be a non-empty 1-d sequence of non-negative values; got "
                         f"{times!r}.")
    functions = estimator.predict_survival_function(X)
    out = np.empty((len(functions), times.size))
    for i, fn in enumerate(functions):
        lo, hi = fn.domain
        out[i] = fn(np.clip(times, lo, hi))
    return np.clip(out, 0.0, 1.0)
