"""Rows through a model's feature pipeline once, for predicting and explaining them alike.

Scoring predicts rows and then explains the same rows. :func:`transform_for_explain` runs the
feature pipeline step by step, as ``Pipeline.transform`` does, and keeps, besides the model's
input columns, the columns seen between its steps (derived features such as R-ISS, shown next
to their SHAP values), so that :func:`mmrisk.explain.explain` runs none of the steps again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mmrisk.models import split_model

__all__ = ["ModelInput", "transform_for_explain"]


@dataclass(frozen=True)
class ModelInput:
    """Rows after a model's feature pipeline, with the columns seen between its steps.

    Parameters
    ----------
    columns : pandas.DataFrame or numpy.ndarray of shape (n_samples, n_columns)
        What the final estimator sees: the feature pipeline's output, as it returns it.
    intermediate : dict of str to pandas.Series, default={}
        Columns of the outputs of the pipeline's steps before the last one, each at its first
        appearance (what :func:`mmrisk.explain.explain` shows for derived features).
    """

    columns: Any
    intermediate: dict[str, pd.Series] = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.columns)


def _is_skipped(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def transform_for_explain(model: Any, X: pd.DataFrame) -> ModelInput:
    """Run a fitted model's feature pipeline on ``X`` once, keeping the intermediate columns.

    Parameters
    ----------
    model : fitted sklearn.pipeline.Pipeline or estimator
        As :func:`mmrisk.explain.explain` takes it (feature steps, then the survival model).
    X : pandas.DataFrame of shape (n_samples, n_inputs)
        Rows as they enter the pipeline.

    Returns
    -------
    ModelInput
        ``columns`` equal to ``features.transform(X)`` (``X`` itself for an estimator without
        feature steps) and the columns seen between the steps.
    """
    features, _ = split_model(model)
    if features is None:
        return ModelInput(X)
    steps = [step for _, step in getattr(features, "steps", [("features", features)])]
    if len(steps) < 2:
        return ModelInput(features.transform(X))
    found: dict[str, pd.Series] = {}
    recording = True
    frame: Any = X
    for step in steps[:-1]:
        if _is_skipped(step):
            continue
        frame = step.transform(frame)
        recording = recording and isinstance(frame, pd.DataFrame)
        if recording:
            for col in frame.columns:
                found.setdefault(str(col), frame[col])
    last = steps[-1]
    out = frame if _is_skipped(last) else last.transform(frame)
    if not isinstance(out, pd.DataFrame):  # the pipeline's own output container, exactly
        out = features.transform(X)
    return ModelInput(out, found)
