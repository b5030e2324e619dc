"""Shared pieces of the explainers: the result type, output names, progress, model unwrapping."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError

__all__ = [
    "Explanation",
    "OutputSpec",
    "parse_output",
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


