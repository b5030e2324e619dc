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
        Indexed like the explanation; missing reasons are empty strings.
    """
    values = explanation.values.to_numpy(dtype=float)
    data = explanation.data.to_numpy(dtype=object)
    names = [str(c) for c in explanation.values.columns]
    # Largest |SHAP| first (stable among ties, as top_reasons); zero or undefined: no reason.
    size = np.where((values != 0) & np.isfinite(values), np.abs(values), -1.0)
    top = np.argsort(-size, axis=1, kind="stable")[:, :k]
    cols: list[list[str]] = [[] for _ in range(k)]
    for i, row in enumerate(top):
        for j in range(k):
            f = row[j] if j < len(row) else None
            v = values[i, f] if f is not None else 0.0
            cols[j].append("" if f is None or size[i, f] < 0 else
                           f"{names[f]}={format_value(data[i, f])} ({_contribution(v)})")
    return pd.DataFrame({f"reason_{j + 1}": cols[j] for j in range(k)},
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
