"""Summaries of fitted catalogue models: hazard-ratio table, pickled size."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mmrisk.models._cox import CoxPH
from mmrisk.models._coxnet import CoxnetCV

__all__ = ["HAZARD_RATIO_COLUMNS", "final_estimator", "hazard_ratios", "model_size_bytes",
           "split_model"]

#: Columns of :func:`hazard_ratios` (and of the ``hazard_ratios.csv`` artifact).
HAZARD_RATIO_COLUMNS = ("term", "hr", "hr_lo", "hr_hi", "p")


def final_estimator(model: Any) -> Any:
    """The survival model inside a catalogue object.

    Parameters
    ----------
    model : estimator
        A survival model, a Pipeline ending in one, or a fitted grid search (its
        ``best_estimator_``), nested in any order.

    Returns
    -------
    estimator
        The final survival model.
    """
    while True:
        if hasattr(model, "best_estimator_"):
            model = model.best_estimator_
        elif isinstance(model, Pipeline):
            model = model.steps[-1][1]
        else:
            return model


def _terms(estimator: Any, n: int) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(t) for t in names] if names is not None else [f"x{j}" for j in range(n)]


def hazard_ratios(model: Any, level: float = 0.95) -> pd.DataFrame:
    """Hazard-ratio table of a fitted Cox-type catalogue model.

    One row per feature as it enters the model, i.e. after the feature pipeline (so a
    standardised feature has a hazard ratio per standard deviation, a one-hot column one
    versus the reference or, without a reference category, versus the other categories
    through the ridge penalty).

    - :class:`CoxPH` (kinds ``'cox'`` and ``'staging'``): ``hr = exp(coef)``, Wald interval
      ``exp(coef -/+ z * se)`` and two-sided Wald p-value, with ``se`` from the inverse
      observed information of the (ridge-penalised) log partial likelihood, ``cov_``.
    - :class:`CoxnetCV` (kind ``'coxnet'``): ``hr = exp(coef)`` at the chosen penalty
      ``alpha_``; ``hr_lo``, ``hr_hi`` and ``p`` are NaN, because Wald inference does not
      apply after elastic-net selection. Dropped features have ``hr == 1``.

    Parameters
    ----------
    model : fitted estimator
        A fitted catalogue model (Pipeline or grid search) or its final Cox-type estimator.
    level : float, default=0.95
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``term`` (str), ``hr``, ``hr_lo``, ``hr_hi``, ``p`` (float), one row per
        feature in model order.

    Raises
    ------
    TypeError
        If the final estimator is not a Cox-type catalogue model (e.g. a forest).
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    ValueError
        If ``level`` is not in (0, 1).

    Examples
    --------
    >>> from sksurv.datasets import load_whas500
    >>> from mmrisk.models import make_model, hazard_ratios
    >>> X, y = load_whas500()
    >>> model = make_model("cox", pipeline="passthrough").fit(X[["age", "bmi"]], y)
    >>> hazard_ratios(model).columns.tolist()
    ['term', 'hr', 'hr_lo', 'hr_hi', 'p']
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")
    estimator = final_estimator(model)
    if hasattr(estimator, "hazard_ratio_table"):  # competing-risks models (models._competing)
        return estimator.hazard_ratio_table(level)
    if not isinstance(estimator, CoxPH | CoxnetCV):
        raise TypeError(
            "hazard ratios exist for the Cox-type catalogue models (kinds 'cox', 'staging', "
            f"'coxnet'); got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    coef = np.asarray(estimator.coef_, dtype=float)
    if isinstance(estimator, CoxPH):
        se = np.sqrt(np.clip(np.diag(estimator.cov_), 0.0, None))
        z = stats.norm.ppf(0.5 + level / 2.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lo, hi = np.exp(coef - z * se), np.exp(coef + z * se)
            p = 2.0 * stats.norm.sf(np.abs(coef / se))
    else:
        lo = hi = p = np.full(coef.size, np.nan)
    with np.errstate(over="ignore"):
        hr = np.exp(coef)
    return pd.DataFrame(
        {"term": _terms(estimator, coef.size), "hr": hr, "hr_lo": lo, "hr_hi": hi, "p": p},
        columns=list(HAZARD_RATIO_COLUMNS),
    )


def model_size_bytes(model: Any) -> int:
    """Size of a model pickled with the highest protocol, in bytes (log it as a metric).

    Parameters
    ----------
    model : object
        Any picklable object, e.g. a fitted catalogue model.

    Returns
    -------
    int
        ``len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))``, counted while
        streaming, without holding the pickle in memory.
    """
    counter = _ByteCounter()
    pickle.dump(model, counter, protocol=pickle.HIGHEST_PROTOCOL)
    return counter.n_bytes


class _ByteCounter:
    """A write-only file object that only counts bytes."""

    def __init__(self) -> None:
        self.n_bytes = 0

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes  # bytes or pickle.PickleBuffer
        self.n_bytes += size
        return size


def _unwrap(est: Any) -> Any:
    """Follow ``best_estimator_`` (GridSearchCV and friends) down to the fitted estimator."""
    seen = 0
    while hasattr(est, "best_estimator_") and seen < 10:
        est = est.best_estimator_
        seen += 1
    return est


def split_model(model: Any) -> tuple[Pipeline | None, Any]:
    """Split a fitted model into its feature pipeline and its final survival estimator.

    Parameters
    ----------
    model : fitted estimator, sklearn.pipeline.Pipeline or search object
        A Pipeline whose last step (named ``'model'`` by convention) is the survival
        estimator, an estimator alone, or a search object (``GridSearchCV``) with
        ``best_estimator_`` wrapping either; a search object may also be the last step.

    Returns
    -------
    features : sklearn.pipeline.Pipeline or None
        The steps before the last one (``None`` if there are none).
    estimator : estimator
        The final, fitted survival estimator.
    """
    model = _unwrap(model)
    if isinstance(model, Pipeline):
        steps = model.steps
        final = _unwrap(steps[-1][1])
        if isinstance(final, Pipeline):
            inner, final = split_model(final)
            outer = model[:-1] if len(steps) > 1 else None
            parts = [p for p in (outer, inner) if p is not None]
            if len(parts) == 2:
                return Pipeline([("outer", parts[0]), ("inner", parts[1])]), final
            return (parts[0] if parts else None), final
        return (model[:-1] if len(steps) > 1 else None), final
    return None, model
