"""One prediction API for every survival estimator: survival probabilities at fixed horizons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["breslow_survival_array", "predict_survival_at"]


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
    fast = _survival_at_grid(estimator, X, times)
    if fast is not None:
        return fast
    functions = estimator.predict_survival_function(X)
    out = np.empty((len(functions), times.size))
    for i, fn in enumerate(functions):
        lo, hi = fn.domain
        out[i] = fn(np.clip(times, lo, hi))
    return np.clip(out, 0.0, 1.0)


def _first_row(X: Any) -> Any:
    return X.iloc[:1] if hasattr(X, "iloc") else X[:1]


#: ``predict_survival_function`` of mmrisk's Cox models, whose ``return_array=True`` is
#: :func:`breslow_survival_array` (named, not imported: those modules import this one).
_COXPH_SURVIVAL = ("mmrisk.models._cox", "CoxPH.predict_survival_function")
_COXNET_SURVIVAL = ("mmrisk.models._coxnet", "CoxnetCV.predict_survival_function")


def _breslow_parts(estimator: Any, X: Any) -> tuple[Any, np.ndarray] | None:
    """(Breslow baseline, linear predictor) behind a Cox model's survival array, else None.

    For mmrisk's Cox models (alone or as the last step of a pipeline; other wrappings use the
    whole array),
    ``predict_survival_function(X, return_array=True)`` is ``breslow_survival_array`` of these
    two; subclasses that override the survival function are not recognised.
    """
    features, final = None, estimator
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        features, final = estimator[:-1], estimator.steps[-1][1]
    method = getattr(type(final), "predict_survival_function", None)
    which = (getattr(method, "__module__", None), getattr(method, "__qualname__", None))
    if which == _COXPH_SURVIVAL:
        check_is_fitted(final, "coef_")
        Z = X if features is None else features.transform(X)
        return final._baseline_model, final.predict(Z)
    if which == _COXNET_SURVIVAL:
        check_is_fitted(final)
        Z = X if features is None else features.transform(X)
        return final.estimator_._get_baseline_model(None), final.estimator_.predict(Z)
    return None


def _survival_at_grid(estimator: Any, X: Any, times: np.ndarray) -> np.ndarray | None:
    """The same values without one step function per row, or None where that is not exact.

    scikit-survival estimators return every row's survival on one shared time grid with
    ``return_array=True``; the step function of the first row gives the grid and the domain,
    and its values at ``times`` must equal the array's to 1e-12 (else the per-row path is used).
    For mmrisk's Cox models only the grid columns at ``times`` are computed
    (``S0(t) ** exp(lp)``, the same elementwise power as the whole array).
    """
    if len(X) == 0:
        return None
    try:
        template = estimator.predict_survival_function(_first_row(X))[0]
        grid = np.asarray(template.x, float)
        lo, hi = template.domain
        if grid.size == 0:
            return None
        t = np.clip(np.clip(times, lo, hi), grid[0], None)
        idx = np.searchsorted(grid, t, side="right") - 1
        parts = _breslow_parts(estimator, X)
        if parts is not None and np.asarray(parts[0].baseline_survival_.y).size == grid.size:
            out = breslow_survival_array(parts[0], parts[1], idx)
        else:
            arr = np.asarray(estimator.predict_survival_function(X, return_array=True), float)
            if arr.ndim != 2 or arr.shape != (len(X), grid.size):
                return None
            out = arr[:, idx]
    except (TypeError, AttributeError, ValueError):
        return None
    # The array and the step function may round differently in the last bit (Cox models:
    # exp(-H0 * exp(lp)) vs S0 ** exp(lp)); anything more means another grid.
    if not np.allclose(out[0], np.atleast_1d(template(np.clip(times, lo, hi))), rtol=0,
                       atol=1e-12):
        return None
    return np.clip(out, 0.0, 1.0)


def breslow_survival_array(baseline_model: Any, linear_predictor: np.ndarray,
                           columns: Any = None) -> np.ndarray:
    """Survival of a Breslow-baseline Cox model at its event times, all rows at once.

    scikit-survival builds one step function per row and evaluates each at its own steps
    (``S0(t) ** exp(lp)``), a Python loop that dominates scoring time for large batches; this
    computes the same powers in one vectorised call, value for value. It reads scikit-survival's
    ``BreslowEstimator`` (the one place mmrisk does).

    Parameters
    ----------
    baseline_model : sksurv.linear_model.coxph.BreslowEstimator
        The fitted baseline (``baseline_survival_`` on ``unique_times_``).
    linear_predictor : array-like of shape (n_samples,)
        ``X @ coef``.
    columns : array-like of int, default=None
        Positions among the event times to compute (e.g. the horizons' steps); ``None``: all.

    Returns
    -------
    ndarray of shape (n_samples, n_unique_times) or (n_samples, len(columns))
        ``S0(t_j) ** exp(lp_i)``, what ``predict_survival_function(X, return_array=True)``
        returns (its columns ``columns``).
    """
    y0 = np.asarray(baseline_model.baseline_survival_.y, float)
    if columns is not None:
        y0 = y0[np.asarray(columns, dtype=np.intp)]
    risk = np.exp(np.asarray(linear_predictor, float))
    return np.power(y0[np.newaxis, :], risk[:, np.newaxis])
