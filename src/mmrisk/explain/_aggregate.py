"""From model input columns to clinical features: summing SHAP values through feature lineage.

A model sees the feature pipeline's output columns (``cat__del17p_detected``,
``num__riss``); people read clinical features (``del17p``, R-ISS). Each column's SHAP value is
handed to clinical features with shares that add up to one, so that the per-feature values add
up to the same total as the per-column values and local accuracy stays exact:

- a column that comes from **one** input column (one-hot columns, missing-value indicators,
  scaled or imputed numbers) goes wholly to that input: ``cat__del17p_detected`` and
  ``cat__del17p_not_tested`` are summed into ``del17p``;
- a column derived from **several** inputs (R-ISS from β2M, albumin, LDH and cytogenetics)
  goes, with ``multi_input='derived'`` (the default), wholly to a *derived clinical feature*
  named after the column without its transformer prefix and without ``missingindicator_``
  (``num__riss`` and ``num__missingindicator_riss`` both go to ``riss``). The derived stage
  is what the model used, and attributing it to a single clinical name keeps it readable
  ("riss=3 (+0.30)"). With ``multi_input='split'`` its value is split equally among its inputs
  instead (each of R-ISS's seven inputs gets a seventh), which keeps local accuracy too but
  spreads the stage over its ingredients;
- a column with no known input keeps its own (unprefixed) name as a derived feature.

Clinical features come in input-column order, followed by derived features in column order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError

__all__ = ["column_assignment", "aggregate_columns", "derived_name", "display_values"]

_INDICATOR = "missingindicator_"


def derived_name(column: str) -> str:
    """Clinical name of a derived column: no transformer prefix, no missing-indicator prefix.

    Parameters
    ----------
    column : str
        A model input column, e.g. ``'num__missingindicator_riss'``.

    Returns
    -------
    str
        E.g. ``'riss'``.

    Examples
    --------
    >>> derived_name("num__missingindicator_riss")
    'riss'
    """
    name = str(column).rsplit("__", 1)[-1]
    if name.startswith(_INDICATOR) and len(name) > len(_INDICATOR):
        name = name[len(_INDICATOR) :]
    return name


def column_assignment(
    columns: Sequence[str],
    lineage: Mapping[str, Sequence[str]],
    *,
    multi_input: str = "derived",
) -> dict[str, dict[str, float]]:
    """Which clinical features receive each column's SHAP value, and in what shares.

    Parameters
    ----------
    columns : sequence of str
        Model input columns (the feature pipeline's output), in order.
    lineage : mapping of str to sequence of str
        Column -> input columns it comes from (:func:`mmrisk.features.lineage`).
    multi_input : {'derived', 'split'}, default='derived'
        What happens to a column derived from several inputs: assigned wholly to a derived
        clinical feature named after it, or split equally among its inputs.

    Returns
    -------
    dict of str to dict of str to float
        Column -> {clinical feature: share}; the shares of each column add up to 1.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If ``multi_input`` is not one of the two options.
    """
    if multi_input not in ("derived", "split"):
        raise MMRiskError(f"multi_input must be 'derived' or 'split'; got {multi_input!r}.")
    out: dict[str, dict[str, float]] = {}
    for col in columns:
        sources = list(dict.fromkeys(lineage.get(col, [])))
        if len(sources) == 1:
            out[col] = {sources[0]: 1.0}
        elif len(sources) > 1 and multi_input == "split":
            out[col] = {s: 1.0 / len(sources) for s in sources}
        else:
            out[col] = {derived_name(col): 1.0}
    return out


def _feature_order(
    assignment: Mapping[str, Mapping[str, float]], inputs: Sequence[str]
) -> list[str]:
    used = {f for shares in assignment.values() for f in shares}
    order = [c for c in inputs if c in used]
    seen = set(order)
    for shares in assignment.values():
        for f in shares:
            if f not in seen:
                order.append(f)
                seen.add(f)
    return order


def aggregate_columns(
    column_values: pd.DataFrame,
    assignment: Mapping[str, Mapping[str, float]],
    inputs: Sequence[str] = (),
) -> pd.DataFrame:
    """Sum per-column SHAP values into per-clinical-feature SHAP values.

    Parameters
    ----------
    column_values : pandas.DataFrame of shape (n_samples, n_columns)
        SHAP values of the model input columns.
    assignment : mapping
        Column -> {clinical feature: share}, from :func:`column_assignment`.
    inputs : sequence of str, default=()
        The pipeline's input columns, which fixes the order of the clinical features.

    Returns
    -------
    pandas.DataFrame of shape (n_samples, n_features)
        Same index; row sums equal those of ``column_values``.
    """
    features = _feature_order(assignment, inputs)
    pos = {f: j for j, f in enumerate(features)}
    weights = np.zeros((column_values.shape[1], len(features)))
    for i, col in enumerate(column_values.columns):
        for f, share in assignment[str(col)].items():
            weights[i, pos[f]] += share
    values = column_values.to_numpy(dtype=float) @ weights
    return pd.DataFrame(values, index=column_values.index, columns=features)


def _intermediate_columns(
    features_pipe: Any, X: pd.DataFrame, wanted: Collection[str] | None = None
) -> dict[str, pd.Series]:
    """Columns seen between the steps of the feature pipeline (before its last step).

    With ``wanted``, the steps stop running once every wanted column has been seen (each
    column keeps its first appearance either way), so the derivations run but not the encoder.
    """
    found: dict[str, pd.Series] = {}
    steps = list(getattr(features_pipe, "steps", []))
    frame: Any = X
    for _, step in steps[:-1]:
        if wanted is not None and all(w in found for w in wanted):
            break
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        frame = step.transform(frame)
        if not isinstance(frame, pd.DataFrame):
            break
        for col in frame.columns:
            found.setdefault(str(col), frame[col])
    return found


def display_values(
    features: Sequence[str],
    X: pd.DataFrame,
    Z: pd.DataFrame,
    assignment: Mapping[str, Mapping[str, float]],
    features_pipe: Any = None,
    intermediate: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Values to show next to each clinical feature's SHAP value.

    An input feature shows its value as it entered the pipeline (``'detected'``, 38.2); a
    derived feature shows its derived value before encoding/scaling when the pipeline exposes
    it between steps (R-ISS stage 3), else the value of its (first) model input column.

    Parameters
    ----------
    features : sequence of str
        Clinical features, in table order.
    X : pandas.DataFrame
        The explained rows as they entered the pipeline.
    Z : pandas.DataFrame
        The model input columns of the same rows.
    assignment : mapping
        From :func:`column_assignment`.
    features_pipe : sklearn.pipeline.Pipeline or None, default=None
        The fitted feature pipeline, to recover derived values between its steps.
    intermediate : mapping of str to pandas.Series, default=None
        The columns seen between the steps when the caller has them
        (:attr:`mmrisk.explain.ModelInput.intermediate`): the steps are then not run again.

    Returns
    -------
    pandas.DataFrame of shape (n_samples, n_features), dtype object
        Indexed like ``X``.
    """
    inter: Mapping[str, pd.Series] | None = intermediate
    out = np.empty((len(X), len(features)), dtype=object)
    for j, f in enumerate(features):
        if f in X.columns:
            out[:, j] = X[f].to_numpy(dtype=object)
            continue
        if inter is None:
            derived = [g for g in features if g not in X.columns]
            inter = (
                _intermediate_columns(features_pipe, X, derived)
                if features_pipe is not None
                else {}
            )
        if f in inter:
            out[:, j] = inter[f].to_numpy(dtype=object)
            continue
        cols = [c for c, shares in assignment.items() if f in shares]
        out[:, j] = Z[cols[0]].to_numpy(dtype=object) if cols else np.nan
    return pd.DataFrame(out, index=X.index, columns=list(features), dtype=object)
