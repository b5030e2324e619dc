"""Figures of an explanation (matplotlib, no pyplot state): beeswarm, bar, waterfall, dependence.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so nothing is
shown and no global figure is left open; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from mmrisk.exceptions import MMRiskError
from mmrisk.explain import (
    Explanation,
    explanation_table,
    format_value,
    global_importance,
    reasons_table,
)

__all__ = ["plot_bar", "plot_beeswarm", "plot_dependence", "plot_waterfall", "write_explanation"]

_POS = "#d62728"
_NEG = "#1f77b4"
_CMAP = "coolwarm"




def _label(expl: Explanation) -> str:
    names = {"risk": "risk score", "surv": "survival probability", "chf": "cumulative hazard"}
    kind, _, rest = expl.output.partition("_")
    if kind == "risk":
        return "SHAP value (impact on risk score)"
    return f"SHAP value (impact on {names.get(kind, kind)} at {rest[:-1]} months)"


def _top(expl: Explanation, max_display: int) -> list[str]:
    return list(expl.global_importance().index[:max_display])


def _numeric(series: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Values of one feature as numbers for colour or x position; categories get codes."""
    num = pd.to_numeric(series, errors="coerce")
    non_missing = series.map(lambda v: format_value(v) != "missing")
    if num[non_missing].notna().all():
        return num.to_numpy(dtype=float), None
    labels = series.map(format_value)
    cats = sorted(set(labels))
    code = {c: i for i, c in enumerate(cats)}
    return labels.map(code).to_numpy(dtype=float), cats


def _colour_scale(values: np.ndarray) -> np.ndarray:
    """Values scaled to [0, 1] between their 5th and 95th percentiles (NaN stays NaN)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full(values.shape, np.nan)
    lo, hi = np.nanpercentile(finite, [5, 95])
    if hi <= lo:
        lo, hi = finite.min(), finite.max()
    if hi <= lo:
        return np.where(np.isfinite(values), 0.5, np.nan)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def _swarm_offsets(x: np.ndarray, width: float = 0.4, bins: int = 80) -> np.ndarray:
    """Vertical offsets that spread overlapping points of one beeswarm row."""
    if x.size == 0:
        return x
    span = np.ptp(x)
    if span == 0:
        edges = np.zeros_like(x, dtype=int)
    else:
        edges = np.floor((x - x.min()) / span * (bins - 1)).astype(int)
    offsets = np.zeros(x.size)
    counts = np.bincount(edges, minlength=bins)
    scale = width / max(counts.max(), 1)
    seen = np.zeros(bins, dtype=int)
    for i in np.argsort(x, kind="stable"):
        k = seen[edges[i]]
        seen[edges[i]] += 1
        offsets[i] = ((k + 1) // 2) * (1 if k % 2 else -1) * scale
    return offsets


def plot_bar(expl: Explanation, max_display: int = 15) -> Figure:
    """Global importance: mean absolute SHAP value per clinical feature.

    Parameters
    ----------
    expl : Explanation
        The explanation.
    max_display : int, default=15
        Features shown (the most important ones).

    Returns
    -------
    matplotlib.figure.Figure
        The bar chart.
    """
    imp = expl.global_importance().iloc[:max_display][::-1]
    fig = Figure(figsize=(7, 0.35 * len(imp) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(np.arange(len(imp)), imp.to_numpy(), color=_POS)
    ax.set_yticks(np.arange(len(imp)), list(imp.index))
    ax.set_xlabel(f"mean |{_label(expl)}|")
    ax.set_title(f"Feature importance ({expl.output}, n={len(expl)})")
    return fig


def plot_beeswarm(expl: Explanation, max_display: int = 15) -> Figure:
    """Every patient's SHAP value per feature, coloured by the feature's value.

    Parameters
    ----------
    expl : Explanation
        The explanation.
    max_display : int, default=15
        Features shown (the most important ones, top first).

    Returns
    -------
    matplotlib.figure.Figure
        The beeswarm plot.
    """
    top = _top(expl, max_display)
    fig = Figure(figsize=(8, 0.45 * len(top) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps[_CMAP]
    for row, feature in enumerate(reversed(top)):
        shap_values = expl.values[feature].to_numpy(dtype=float)
        colour, _ = _numeric(expl.data[feature])
        scaled = _colour_scale(colour)
        y = row + _swarm_offsets(shap_values)
        missing = ~np.isfinite(scaled)
        ax.scatter(shap_values[missing], y[missing], s=10, color="#999999", linewidths=0)
        ax.scatter(
            shap_values[~missing], y[~missing], s=10, c=scaled[~missing], cmap=cmap,
            vmin=0, vmax=1, linewidths=0,
        )
    ax.axvline(0.0, color="#666666", linewidth=0.8)
    ax.set_yticks(np.arange(len(top)), list(reversed(top)))
    ax.set_xlabel(_label(expl))
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=ax, ticks=[0, 1], aspect=40)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    return fig


def plot_waterfall(expl: Explanation, row: int, max_display: int = 10) -> Figure:
    """How one patient's output is built from the base value, feature by feature.

    Parameters
    ----------
    expl : Explanation
        The explanation.
    row : int
        Position (0-based) of the patient in the explanation.
    max_display : int, default=10
        Bars shown; smaller contributions are pooled as "other features".

    Returns
    -------
    matplotlib.figure.Figure
        The waterfall plot.
    """
    shap_row = expl.values.iloc[row]
    order = shap_row.abs().sort_values(ascending=False, kind="stable").index
    shown = list(order[: max_display - 1]) if len(order) > max_display else list(order)
    rest = float(shap_row.drop(shown).sum()) if len(order) > len(shown) else None
    labels = [f"{f} = {format_value(expl.data.iloc[row][f])}" for f in shown]
    contrib = [float(shap_row[f]) for f in shown]
    if rest is not None:
        labels.append(f"{len(order) - len(shown)} other features")
        contrib.append(rest)
    fig = Figure(figsize=(8, 0.45 * len(labels) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    start = expl.base_value + np.concatenate([[0.0], np.cumsum(contrib[::-1])[:-1]])[::-1]
    ypos = np.arange(len(labels))[::-1]
    for y, s, c in zip(ypos, start, contrib, strict=True):
        ax.barh(y, c, left=s, color=_POS if c >= 0 else _NEG, height=0.6)
        ax.text(s + c, y, f" {c:+.3g}", va="center", ha="left" if c >= 0 else "right",
                fontsize=8)
    pred = float(expl.prediction[row])
    ends = np.concatenate([start, start + np.asarray(contrib), [expl.base_value, pred]])
    lo, hi = float(ends.min()), float(ends.max())
    pad = 0.18 * (hi - lo) if hi > lo else 1.0
    ax.set_xlim(lo - pad, hi + pad)  # room for the labels (bars' sticky edges block margins)
    ax.axvline(expl.base_value, color="#666666", linestyle=":", linewidth=0.8)
    ax.axvline(pred, color="#333333", linewidth=0.8)
    ax.set_yticks(ypos, labels)
    ax.set_xlabel(f"{expl.output}: base value {expl.base_value:.4g} -> prediction {pred:.4g}")
    label = expl.values.index[row]
    who = f"{expl.values.index.name} {label}" if expl.values.index.name else f"Patient {row}"
    ax.set_title(f"{who}: contributions to {expl.output}")
    return fig


def plot_dependence(expl: Explanation, feature: str) -> Figure:
    """SHAP value of one feature against its value, over all patients.

    Parameters
    ----------
    expl : Explanation
        The explanation.
    feature : str
        A clinical feature of ``expl``.

    Returns
    -------
    matplotlib.figure.Figure
        The dependence plot (categories on the x-axis for categorical features).
    """
    shap_values = expl.values[feature].to_numpy(dtype=float)
    x, cats = _numeric(expl.data[feature])
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if cats is not None:
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, size=x.size)
        ax.scatter(x + jitter, shap_values, s=12, color=_NEG, alpha=0.7, linewidths=0)
        ax.set_xticks(np.arange(len(cats)), cats, rotation=30, ha="right")
    else:
        ok = np.isfinite(x)
        ax.scatter(x[ok], shap_values[ok], s=12, color=_NEG, alpha=0.7, linewidths=0)
        if (~ok).any():
            ax.text(0.01, 0.98, f"{int((~ok).sum())} missing not shown",
                    transform=ax.transAxes, va="top", fontsize=8)
    ax.axhline(0.0, color="#666666", linewidth=0.8)
    ax.set_xlabel(feature)
    ax.set_ylabel(_label(expl))
    ax.set_title(f"Dependence: {feature}")
    return fig


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
