"""Model outputs as plain functions of the model's input columns: risk, S(h | x), H(h | x)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._base import OutputSpec
from mmrisk.models import XGBAFT, predict_survival_at

__all__ = ["output_function", "time_index", "as_model_input"]

#: Rows per call to a survival-function predictor (bounds the (rows, times) array in memory).
_CHUNK = 2048


def time_index(times: np.ndarray, horizon: float) -> int:
    """Position in ``times`` of a step function's value at ``horizon``.

    Follows :class:`sksurv.functions.StepFunction` and
    :func:`mmrisk.models.predict_survival_at`: the value of the last time ``<= horizon``; before
    the first time, the first value; beyond the last time, the last value.

    Parameters
    ----------
    times : numpy.ndarray of shape (n_times,)
        Ascending time points (an estimator's ``unique_times_``).
    horizon : float
        Months.

    Returns
    -------
    int
        Index into ``times``.
    """
    i = int(np.searchsorted(times, horizon, side="right")) - 1
    return min(max(i, 0), len(times) - 1)


def as_model_input(estimator: Any, Z: Any) -> Any:
    """Give ``Z`` the column names the estimator was fitted with (if any).

    Parameters
    ----------
    estimator : fitted estimator
        The final survival estimator.
    Z : numpy.ndarray or pandas.DataFrame of shape (n_samples, n_columns)
        Model input.

    Returns
    -------
    numpy.ndarray or pandas.DataFrame
        A DataFrame with ``feature_names_in_`` as columns when the estimator has them,
        otherwise ``Z`` as a float array.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if isinstance(Z, pd.DataFrame):
        return Z if names is not None else Z.to_numpy(dtype=float)
    Z = np.asarray(Z, dtype=float)
    if names is None:
        return Z
    return pd.DataFrame(Z, columns=list(names))


def _chunked(fn: Callable[[Any], np.ndarray], Z: Any) -> np.ndarray:
    n = Z.shape[0]
    if n <= _CHUNK:
        return fn(Z)
    parts = []
    for start in range(0, n, _CHUNK):
        stop = start + _CHUNK
        parts.append(fn(Z.iloc[start:stop] if isinstance(Z, pd.DataFrame) else Z[start:stop]))
    return np.concatenate(parts)


def _at_horizon(estimator: Any, spec: OutputSpec) -> Callable[[Any], np.ndarray]:
    method = (
        "predict_survival_function" if spec.kind == "surv" else "predict_cumulative_hazard_function"
    )
    if not hasattr(estimator, method):
        raise MMRiskError(
            f"output {spec.name!r}: {type(estimator).__name__} has no {method}; explain "
            "output='risk' instead."
        )
    try:
        times = estimator.unique_times_
    except (AttributeError, ValueError):  # e.g. boosting without a baseline hazard
        times = None
    if isinstance(estimator, XGBAFT):  # a continuous survival function: exact at the horizon
        times = None
    if times is not None:
        idx = time_index(np.asarray(times, dtype=float), float(spec.horizon))

        def from_array(Z: Any) -> np.ndarray:
            arr = getattr(estimator, method)(Z, return_array=True)
            return np.asarray(arr, dtype=float)[:, idx]

        return from_array
    if spec.kind == "surv":
        return lambda Z: predict_survival_at(estimator, Z, [spec.horizon])[:, 0]

    def from_steps(Z: Any) -> np.ndarray:
        out = []
        for fn in getattr(estimator, method)(Z):
            lo, hi = fn.domain
            out.append(float(fn(np.clip(spec.horizon, lo, hi))))
        return np.asarray(out)

    return from_steps


def output_function(estimator: Any, spec: OutputSpec) -> Callable[[Any], np.ndarray]:
    """The explained output of a fitted survival estimator, as a function of its input.

    Parameters
    ----------
    estimator : fitted estimator
        The final survival estimator (after the feature pipeline).
    spec : OutputSpec
        ``risk`` (``predict``), ``surv`` or ``chf`` at a horizon.

    Returns
    -------
    callable
        ``f(Z) -> ndarray of shape (n_samples,)``; ``Z`` an array or DataFrame of model input
        columns. Large inputs are predicted in chunks.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the estimator cannot produce the output.
    """
    base = estimator.predict if spec.kind == "risk" else _at_horizon(estimator, spec)

    def f(Z: Any) -> np.ndarray:
        Z = as_model_input(estimator, Z)
        return np.asarray(_chunked(base, Z), dtype=float).reshape(-1)

    return f
