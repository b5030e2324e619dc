"""Tables, reasons and the folder of files an explanation is written to."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._base import Explanation

__all__ = [
    "explanation_table",
    "format_value",
    "global_importance",
    "top_reasons",
    "reasons_table",
]

def format_value(value: Any) -> str:
    """A feature value as shown in figures and reasons: ``'detected'``, ``'38.2'``, ``'missing'``.

    Parameters
    ----------
    value : object
        A clinical feature value.

    Returns
    -------
    str
        Numbers with up to 4 significant digits (whole numbers without decimals); missing
        values as ``'missing'``.
    """
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "missing"
    if value is pd.NA or value is pd.NaT:
        return "missing"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return str(value)


def _contribution(value: float) -> str:
    return f"{value:+.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:+.2g}"


def top_reasons(explanation: Explanation, k: int = 3, row: int = 0) -> list[str]:
    """The ``k`` largest contributions (by absolute SHAP value) to one patient's output.

    Parameters
    ----------
    explanation : Explanation
        The explanation.
    k : int, default=3
        Number of reasons.
    row : int, default=0
        Position (0-based) of the patient.

    Returns
    -------
    list of str
        Like ``'del17p=detected (+0.41)'``, largest first; features whose SHAP value is exactly
        zero are not reasons, so the list may be shorter than ``k``.
    """
    if not 0 <= row < len(explanation):
        raise MMRiskError(f"row must be in [0, {len(explanation)}); got {row}.")
    values = explanation.values.iloc[row]
    values = values[values != 0]
    order = values.abs().sort_values(ascending=False, kind="stable").index[:k]
    data = explanation.data.iloc[row]
    return [f"{f}={format_value(data[f])} ({_contribution(float(values[f]))})" for f in order]


#: ``pandas.api.types.infer_dtype`` kinds whose equal values always format alike, so that a
#: column of them is formatted once per distinct value (mixed kinds, where ``1 == True`` but
#: ``'1' != 'True'``, are formatted cell by cell).
_FACTORIZABLE = ("string", "floating", "integer", "boolean", "empty")


def _format_cells(values: np.ndarray) -> np.ndarray:
    """:func:`format_value` of every cell of an object array, once per distinct value."""
    if pd.api.types.infer_dtype(values, skipna=True) in _FACTORIZABLE:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        table = np.array([format_value(v) for v in uniques] + ["missing"], dtype=object)
        return table[codes]
    return np.array([format_value(v) for v in values], dtype=object)


def _reason_strings(name: str, data: np.ndarray, contributions: np.ndarray) -> np.ndarray:
    """``'<name>=<value> (<contribution>)'`` per cell, formatted once per distinct pair."""
    labels, label_table = pd.factorize(_format_cells(data))
    contrib, contrib_table = pd.factorize(contributions)
    pair, pair_table = pd.factorize(labels.astype(np.int64) * len(contrib_table) + contrib)
    texts = [
        f"{name}={label_table[p // len(contrib_table)]} "
        f"({_contribution(float(contrib_table[p % len(contrib_table)]))})"
        for p in pair_table
    ]
    return np.array(texts, dtype=object)[pair]


def _top_k(size: np.ndarray, k: int) -> np.ndarray:
    """Columns of the ``k`` largest entries of each row, largest first, ties by position.

    The same order as a stable descending argsort: ``argmax`` returns the first largest.
    """
    work = size.copy()
    rows = np.arange(size.shape[0])
    top = np.empty((size.shape[0], k), dtype=np.intp)
    for j in range(k):
        top[:, j] = np.argmax(work, axis=1)
        work[rows, top[:, j]] = -np.inf
    return top


def reasons_table(explanation: Explanation, k: int = 3) -> pd.DataFrame:
    """Reasons of every patient, as the columns ``reason_1`` ... ``reason_k`` of scoring output.

    Parameters
    ----------
    explanation : Explanation
        The explanation.
    k : int, default=3
        Number of reasons per patient.

    Returns
    -------
    pandas.DataFrame of shape (n_samples, k)
        Indexed like the explanation; missing reasons are empty strings. Each reason reads
        as in :func:`top_reasons`.
    """
    values = explanation.values.to_numpy(dtype=float)
    n, n_features = values.shape
    names = [str(c) for c in explanation.values.columns]
    out = np.full((n, k), "", dtype=object)
    kk = min(k, n_features)
    if n and kk:
        # Largest |SHAP| first (stable among ties, as top_reasons); zero or undefined: no reason.
        size = np.where((values != 0) & np.isfinite(values), np.abs(values), -1.0)
        top = _top_k(size, kk)
        rows = np.repeat(np.arange(n), kk)
        picked = top.reshape(-1)
        slots = np.flatnonzero(size[rows, picked] >= 0)  # positions in out[:, :kk], row-major
        order = slots[np.argsort(picked[slots], kind="stable")]
        bounds = np.searchsorted(picked[order], np.arange(n_features + 1))
        flat = np.full(n * kk, "", dtype=object)
        for f in range(n_features):
            cells = order[bounds[f] : bounds[f + 1]]
            if cells.size:
                r = rows[cells]
                data = explanation.data.iloc[:, f].to_numpy(dtype=object)[r]
                flat[cells] = _reason_strings(names[f], data, values[r, f])
        out[:, :kk] = flat.reshape(n, kk)
    return pd.DataFrame({f"reason_{j + 1}": out[:, j] for j in range(k)},
                        index=explanation.values.index)


def explanation_table(explanation: Explanation) -> pd.DataFrame:
    """One row per patient: base value, model output, reported outputs, SHAP per feature.

    Parameters
    ----------
    explanation : Explanation
        The explanation.

    Returns
    -------
    pandas.DataFrame
        Columns ``base_value``, the output's name (e.g. ``surv_24m``), any reported outputs,
        then ``shap__<feature>`` for every clinical feature; indexed like the explanation.
    """
    table = pd.DataFrame(index=explanation.values.index)
    table["base_value"] = explanation.base_value
    table[explanation.output] = explanation.prediction
    for col in explanation.reported.columns:
        table[str(col)] = explanation.reported[col].to_numpy()
    shap_cols = explanation.values.add_prefix("shap__")
    return pd.concat([table, shap_cols], axis=1)


def global_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean absolute and mean SHAP value per clinical feature, most important first.

    Parameters
    ----------
    explanation : Explanation
        The explanation.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``mean_abs_shap``, ``mean_shap``.
    """
    imp = explanation.global_importance()
    mean = explanation.values.mean(axis=0)
    return pd.DataFrame(
        {
            "feature": list(imp.index),
            "mean_abs_shap": imp.to_numpy(),
            "mean_shap": mean[imp.index].to_numpy(),
        }
    )
