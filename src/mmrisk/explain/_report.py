"""Tables, reasons and the folder of files an explanation is written to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._base import Explanation
from mmrisk.explain._plots import (
    format_value,
    plot_bar,
    plot_beeswarm,
    plot_dependence,
    plot_waterfall,
)

__all__ = [
    "explanation_table",
    "global_importance",
    "top_reasons",
    "reasons_table",
    "write_explanation",
]


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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "feature"


def _default_rows(explanation: Explanation) -> list[int]:
    if len(explanation) == 0:
        return []
    pred = np.asarray(explanation.prediction)
    return sorted({int(np.argmax(pred)), int(np.argmin(pred))})


def _save(fig: object, path: Path) -> Path:
    fig.savefig(path, dpi=120)  # type: ignore[attr-defined]
    return path


def write_explanation(
    expl: Explanation,
    out_dir: str | Path,
    rows: Sequence[int] | None = None,
    *,
    n_dependence: int = 4,
    max_display: int = 15,
) -> list[Path]:
    """Write an explanation's tables and figures into a folder.

    Files: ``shap_values.parquet`` and ``shap_values.csv`` (:func:`explanation_table`),
    ``column_shap_values.parquet`` (SHAP per model column), ``global_importance.csv``,
    ``reasons.csv`` (top 3 reasons per patient), and under ``figures/``: ``beeswarm.png``,
    ``bar.png``, ``waterfall_<id>.png`` per requested row (its identifier when the index is
    named, else its position) and ``dependence_<feature>.png``
    for the most important features.

    Parameters
    ----------
    expl : Explanation
        The explanation.
    out_dir : str or path-like
        Folder, created if needed.
    rows : sequence of int, default=None
        Positions (0-based) of the patients who get a waterfall figure. ``None``: the patients
        with the highest and the lowest output.
    n_dependence : int, default=4
        Dependence plots, for this many of the most important features.
    max_display : int, default=15
        Features shown in the beeswarm and bar figures.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = Path(out_dir)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    table = explanation_table(expl)
    index_name = table.index.name or "row"
    table = table.rename_axis(index_name).reset_index()
    table.to_parquet(out / "shap_values.parquet", index=False)
    table.to_csv(out / "shap_values.csv", index=False)
    columns = expl.column_values.rename_axis(index_name).reset_index()
    columns.to_parquet(out / "column_shap_values.parquet", index=False)
    global_importance(expl).to_csv(out / "global_importance.csv", index=False)
    reasons_table(expl).rename_axis(index_name).reset_index().to_csv(
        out / "reasons.csv", index=False
    )
    written += [
        out / "shap_values.parquet",
        out / "shap_values.csv",
        out / "column_shap_values.parquet",
        out / "global_importance.csv",
        out / "reasons.csv",
    ]
    written.append(_save(plot_beeswarm(expl, max_display), figures / "beeswarm.png"))
    written.append(_save(plot_bar(expl, max_display), figures / "bar.png"))
    for row in _default_rows(expl) if rows is None else rows:
        if not 0 <= int(row) < len(expl):
            raise MMRiskError(f"rows must be positions in [0, {len(expl)}); got {row}.")
        fig = plot_waterfall(expl, int(row))
        # Named by the patient's identifier when the rows carry one (e.g. patient_id).
        label = expl.values.index[int(row)] if expl.values.index.name else int(row)
        written.append(_save(fig, figures / f"waterfall_{_safe(str(label))}.png"))
    importance = expl.global_importance()
    for feature in list(importance[importance > 0].index[:n_dependence]):  # unused: no plot
        fig = plot_dependence(expl, feature)
        written.append(_save(fig, figures / f"dependence_{_safe(feature)}.png"))
    return written
