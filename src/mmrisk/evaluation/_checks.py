"""Input guards shared by the metrics: outcome arrays, predictions, horizons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmrisk.exceptions import MetricInputError

__all__: list[str] = []


def _check_outcome(y: np.ndarray, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Split a scikit-survival structured outcome array into ``(event, time)``.

    The field names are free (``('event', 'time')``, ``('cens', 'time')``, ...): the boolean
    field is the event indicator and the numeric one the time.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Outcome made by ``sksurv.util.Surv``.
    name : str, default="y"
        Name of the argument, used in error messages.

    Returns
    -------
    event : ndarray of bool, shape (n_samples,)
    time : ndarray of float, shape (n_samples,)
    """
    names = getattr(getattr(y, "dtype", None), "names", None)
    if names is None or len(names) != 2:
        raise MetricInputError(
            f"{name} must be a structured array with two fields (event, time) as made by "
            f"sksurv.util.Surv.from_arrays; got {type(y).__name__} with fields {names!r}."
        )
    kinds = {field: y.dtype[field].kind for field in names}
    bool_fields = [f for f, k in kinds.items() if k == "b"]
    num_fields = [f for f, k in kinds.items() if k in "fiu"]
    if len(bool_fields) != 1 or len(num_fields) != 1:
        raise MetricInputError(
            f"{name} must have one boolean event field and one numeric time field; got field "
            f"kinds {kinds!r}. Build it with sksurv.util.Surv.from_arrays(event, time)."
        )
    event = np.asarray(y[bool_fields[0]], dtype=bool)
    time = np.asarray(y[num_fields[0]], dtype=float)
    if time.size and (not np.all(np.isfinite(time)) or np.any(time < 0)):
        raise MetricInputError(
            f"{name}: times must be finite and non-negative; got min {np.nanmin(time)!r} "
            f"and {int(np.sum(~np.isfinite(time)))} non-finite value(s)."
        )
    return event, time


def _check_vector(values, n: int, name: str) -> np.ndarray:
    """A finite float vector of length ``n``."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise MetricInputError(
            f"{name} must be 1-d with one value per test sample ({n}); got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise MetricInputError(
            f"{name} holds {int(np.sum(~np.isfinite(arr)))} non-finite value(s); predictions "
            "must be finite."
        )
    return arr


def _check_matrix(values, n: int, n_times: int, name: str) -> np.ndarray:
    """A finite float matrix of shape ``(n, n_times)`` with values in [0, 1]."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1 and n_times == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != (n, n_times):
        raise MetricInputError(
            f"{name} must have shape (n_samples, n_times) = ({n}, {n_times}); got {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise MetricInputError(
            f"{name} must hold survival probabilities in [0, 1]; got range "
            f"[{np.nanmin(arr)!r}, {np.nanmax(arr)!r}] with "
            f"{int(np.sum(~np.isfinite(arr)))} non-finite value(s)."
        )
    return arr


def _check_times(times: Sequence[float] | np.ndarray, name: str = "times") -> np.ndarray:
    """Strictly increasing, positive, finite time points."""
    arr = np.atleast_1d(np.asarray(times, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise MetricInputError(f"{name} must be a non-empty 1-d sequence; got {times!r}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(np.diff(arr) <= 0):
        raise MetricInputError(
            f"{name} must be positive, finite and strictly increasing; got {arr.tolist()!r}."
        )
    return arr


def _check_horizons(horizons: Sequence[float] | np.ndarray) -> np.ndarray:
    """Horizons in whole months (the metric names carry them as integers)."""
    arr = _check_times(horizons, "horizons")
    if np.any(arr != np.round(arr)):
        raise MetricInputError(
            f"horizons must be whole months (metric names such as auc_12m carry them as "
            f"integers); got {arr.tolist()!r}."
        )
    return arr


def _horizon_labels(horizons: np.ndarray) -> list[str]:
    """``[12., 24.] -> ['12m', '24m']``."""
    return [f"{int(round(h))}m" for h in horizons]
