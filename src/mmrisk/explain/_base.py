"""Shared pieces of the explainers: the result type, output names, progress, model unwrapping."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from mmrisk.exceptions import MMRiskError

__all__ = [
    "Explanation",
    "ExplainProgress",
    "OutputSpec",
    "parse_output",
    "split_model",
]

_OUTPUT_RE = re.compile(r"^(surv|chf)_(\d+(?:\.\d+)?)m$")


@dataclass(frozen=True)
class OutputSpec:
    """A model output that can be explained.

    Parameters
    ----------
    kind : {'risk', 'surv', 'chf'}
        The risk score (what ``predict`` returns), the survival probability or the cumulative
        hazard at ``horizon``.
    horizon : float or None
        Months from the landmark; ``None`` for ``'risk'``.
    """

    kind: str
    horizon: float | None = None

    @property
    def name(self) -> str:
        """The output's name: ``'risk'``, ``'surv_<h>m'`` or ``'chf_<h>m'``."""
        if self.kind == "risk":
            return "risk"
        h = self.horizon
        label = str(int(h)) if h is not None and float(h).is_integer() else str(h)
        return f"{self.kind}_{label}m"


def parse_output(output: str) -> OutputSpec:
    """Parse an output name: ``'risk'``, ``'surv_<h>m'`` or ``'chf_<h>m'`` (``h`` in months).

    Parameters
    ----------
    output : str
        The output name, e.g. ``'surv_24m'``.

    Returns
    -------
    OutputSpec
        The parsed output.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the name is not one of the three forms.

    Examples
    --------
    >>> parse_output("surv_24m")
    OutputSpec(kind='surv', horizon=24.0)
    """
    if output == "risk":
        return OutputSpec("risk")
    match = _OUTPUT_RE.match(str(output))
    if match is None:
        raise MMRiskError(
            f"output must be 'risk', 'surv_<h>m' or 'chf_<h>m' with h in months "
            f"(e.g. 'surv_24m'); got {output!r}."
        )
    return OutputSpec(match.group(1), float(match.group(2)))


@dataclass(frozen=True)
class ExplainProgress:
    """Progress of an explanation, passed to the ``progress`` callback of :func:`explain`.

    The first call comes before any row is explained (``done == 0``) and carries the
    estimated running time, measured on one batch of model evaluations and extrapolated.

    Parameters
    ----------
    done : int
        Rows explained so far.
    total : int
        Rows to explain.
    elapsed_seconds : float
        Wall time since the explanation started.
    estimated_total_seconds : float or None
        Expected wall time of the whole explanation (``None`` if not yet known).
    method : str
        ``'tree'``, ``'linear'``, ``'permutation'`` or ``'kernel'``.
    """

    done: int
    total: int
    elapsed_seconds: float
    estimated_total_seconds: float | None
    method: str

    @property
    def remaining_seconds(self) -> float | None:
        """Estimated seconds left (``None`` if unknown)."""
        if self.estimated_total_seconds is None:
            return None
        return max(self.estimated_total_seconds - self.elapsed_seconds, 0.0)


ProgressCallback = Callable[[ExplainProgress], Any]


@dataclass(frozen=True)
class Explanation:
    """SHAP values of a model's output for some patients, per clinical feature and per column.

    Local accuracy: ``base_value + values.sum(axis=1)`` equals ``prediction`` (the model's own
    output, computed independently by calling the model).

    Parameters
    ----------
    values : pandas.DataFrame of shape (n_samples, n_features)
        SHAP values per clinical feature (the pipeline's input columns, plus derived features;
        see :func:`mmrisk.explain.aggregate_columns`), indexed like the explained rows.
    base_value : float
        The expected model output over the background (or over the training data, for
        ``feature_perturbation='tree_path_dependent'``).
    prediction : numpy.ndarray of shape (n_samples,)
        The explained model output, from the model itself.
    data : pandas.DataFrame of shape (n_samples, n_features)
        Clinical feature values for display (as they entered the pipeline; a derived feature
        shows its derived value).
    column_values : pandas.DataFrame of shape (n_samples, n_columns)
        SHAP values of the model's input columns (the feature pipeline's output).
    column_data : pandas.DataFrame of shape (n_samples, n_columns)
        The model's input columns.
    output : str
        What ``values`` add up to: ``'risk'``, ``'surv_<h>m'`` or ``'chf_<h>m'``.
    requested : str
        The output the caller asked for. Differs from ``output`` for models whose additive
        output is the log hazard (gradient boosting, Cox): the values then explain ``'risk'`` and
        the requested output is in ``reported``.
    method : str
        ``'tree'``, ``'linear'``, ``'permutation'`` or ``'kernel'``.
    feature_perturbation : str
        ``'tree_path_dependent'`` or ``'interventional'``.
    assignment : dict of str to dict of str to float
        Model input column -> {clinical feature: share of the column's SHAP value}.
    reported : pandas.DataFrame
        Outputs reported alongside ``prediction`` (e.g. ``surv_24m`` of a boosting model), one
        column per output; empty if none.
    meta : dict
        Facts about the run: ``estimated_seconds``, ``seconds``, ``n_background``,
        ``max_local_error`` and the model class.
    """

    values: pd.DataFrame
    base_value: float
    prediction: np.ndarray
    data: pd.DataFrame
    column_values: pd.DataFrame
    column_data: pd.DataFrame
    output: str
    requested: str
    method: str
    feature_perturbation: str
    assignment: dict[str, dict[str, float]]
    reported: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """Clinical feature names, in table order."""
        return [str(c) for c in self.values.columns]

    def __len__(self) -> int:
        """Number of explained rows."""
        return len(self.values)

    def local_accuracy_error(self) -> np.ndarray:
        """``|base_value + sum of SHAP values - prediction|`` per row.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Absolute local-accuracy error of each row.
        """
        total = self.base_value + self.values.to_numpy(dtype=float).sum(axis=1)
        return np.abs(total - self.prediction)

    def global_importance(self) -> pd.Series:
        """Mean absolute SHAP value per clinical feature, largest first.

        Returns
        -------
        pandas.Series
            Indexed by clinical feature, named ``'mean_abs_shap'``.
        """
        imp = self.values.abs().mean(axis=0).sort_values(ascending=False, kind="stable")
        return imp.rename("mean_abs_shap")


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
