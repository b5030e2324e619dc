"""Competing-risks figures: Aalen–Johansen cumulative incidence by group, CIF calibration.

Figures are :class:`matplotlib.figure.Figure` objects, never drawn through pyplot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mmrisk.cohort import competing_outcome
from mmrisk.evaluation import (
    aalen_johansen,
    cif_calibration,
    cif_calibration_curve,
    cif_calibration_metrics,
)

__all__ = ["cif_figure", "plot_cif_calibration"]

#: Line style of each cause: the event of interest solid, the competing event dashed.
_STYLE = {1: "-", 2: "--"}


def _curve(table: pd.DataFrame, group: str, cause: int) -> pd.DataFrame:
    part = table[(table["group"] == group) & (table["cause"] == cause)]
    start = pd.DataFrame({"time": [0.0], "cif": [0.0], "lo": [0.0], "hi": [0.0]})
    return pd.concat([start, part[["time", "cif", "lo", "hi"]]], ignore_index=True)


def cif_figure(time: np.ndarray, event: np.ndarray, group: np.ndarray, *,
               causes: Sequence[int] = (1, 2),
               cause_labels: Sequence[str] = ("progression", "death without progression"),
               title: str = "", xlabel: str = "Months from landmark", step: float = 12.0,
               order: Sequence[str] | None = None) -> Figure:
    """Aalen–Johansen cumulative incidence of each cause by group, 95% bands, numbers at risk.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Follow-up time (months).
    event : array-like of int, shape (n_samples,)
        0 censored, 1 event of interest, 2 competing event.
    group : array-like of shape (n_samples,)
        Group label per patient (missing labels are shown as "missing").
    causes : sequence of {1, 2}, default=(1, 2)
        Causes drawn (cause 1 solid, cause 2 dashed, one colour per group).
    cause_labels : sequence of str, default=("progression", "death without progression")
        Names of causes 1 and 2 in the legend.
    title, xlabel : str
        Labels.
    step : float, default=12.0
        Spacing of the numbers-at-risk columns (months).
    order : sequence of str, default=None
        Order of the groups (e.g. ``("low", "intermediate", "high")``); groups not listed
        follow in sorted order. ``None``: sorted.

    Returns
    -------
    matplotlib.figure.Figure
        Curves from :func:`mmrisk.evaluation.aalen_johansen` (log-scale pointwise 95%
        intervals, as R's ``survfit``) above a numbers-at-risk table.
    """
    y = competing_outcome(event, time)
    labels = np.array(["missing" if pd.isna(g) else str(g) for g in group], dtype=object)
    table = aalen_johansen(y, groups=labels)
    first = [g for g in (order or ()) if g in set(labels)]
    levels = first + sorted(set(labels) - set(first))
    fig = Figure(figsize=(8, 6))
    ax, ax_risk = fig.subplots(2, 1, height_ratios=[4, 1], sharex=True)
    t_all = y["time"]
    ticks = np.arange(0, np.nanmax(t_all) + step, step)
    colours = [f"C{i}" for i in range(len(levels))]
    for i, g in enumerate(levels):
        sel = labels == g
        for cause in causes:
            c = _curve(table, g, cause)
            n_ev = int((y["event"][sel] == cause).sum())
            name = f"{g}: {cause_labels[cause - 1]} (n={sel.sum():,}, {n_ev} events)"
            ax.step(c["time"], c["cif"], where="post", ls=_STYLE[cause], color=colours[i],
                    label=name)
            ax.fill_between(c["time"], c["lo"], c["hi"], step="post", alpha=0.12,
                            color=colours[i])
        for x in ticks:
            ax_risk.text(x, i, f"{(t_all[sel] >= x).sum()}", ha="center", va="center",
                         fontsize=8, color=colours[i])
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("Cumulative incidence")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    ax_risk.set_yticks(range(len(levels)), levels, fontsize=8)
    ax_risk.set_ylim(-0.5, len(levels) - 0.5)
    ax_risk.invert_yaxis()
    ax_risk.set_xlabel(xlabel)
    ax_risk.set_title("Number at risk", fontsize=9, loc="left")
    ax_risk.set_xticks(ticks)
    ax_risk.tick_params(axis="y", length=0)
    for spine in ax_risk.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    return fig


def plot_cif_calibration(y: np.ndarray, cif: np.ndarray, horizons: Sequence[float], *,
                         label: str = "", n_groups: int = 10,
                         title: str | None = None) -> Figure:
    """Predicted vs observed cumulative incidence of cause 1, one panel per horizon.

    Observed: the Aalen–Johansen CIF within ``n_groups`` equal-sized groups of predicted CIF
    (:func:`mmrisk.evaluation.cif_calibration`, points with 95% intervals) and the smoothed
    curve (:func:`mmrisk.evaluation.cif_calibration_curve`); the ICI and O/E of
    :func:`mmrisk.evaluation.cif_calibration_metrics` are in each panel's title.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    cif : ndarray of shape (n_samples, n_horizons)
        Predicted CIF of cause 1 at each horizon.
    horizons : sequence of float
        The horizons (months).
    label : str, default=""
        Model name for the title.
    n_groups : int, default=10
        Risk groups per panel.
    title : str, optional
        Figure title (default: ``"<label>: calibration of the progression CIF (out-of-fold)"``,
        as for ``train``'s out-of-fold predictions).

    Returns
    -------
    matplotlib.figure.Figure
    """
    cif = np.asarray(cif, float)
    k = len(horizons)
    fig = Figure(figsize=(3.6 * k, 3.8))
    axes = np.atleast_1d(fig.subplots(1, k, squeeze=False)[0])
    for j, (ax, h) in enumerate(zip(axes, horizons, strict=True)):
        table = cif_calibration(y, cif[:, j], h, n_groups=n_groups)
        m = cif_calibration_metrics(y, cif[:, j], h)
        curve = cif_calibration_curve(y, cif[:, j], h)
        top = float(max(table["hi"].max(), table["predicted"].max(), 0.05)) * 1.05
        ax.plot([0, top], [0, top], color="grey", lw=1, ls="--")
        ax.errorbar(table["predicted"], table["observed"],
                    yerr=[(table["observed"] - table["lo"]).clip(lower=0),
                          (table["hi"] - table["observed"]).clip(lower=0)],
                    fmt="o", capsize=2, ms=4, label="Aalen–Johansen in risk groups")
        ax.plot(curve["predicted"], curve["smoothed"], color="C1", lw=1.5,
                label="lowess of pseudo-values")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(f"Predicted CIF at {h:g} months")
        ax.set_title(f"{h:g} m: ICI {m['ici']:.3f}, O/E {m['oe']:.2f}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Observed CIF (Aalen–Johansen)")
    axes[0].legend(fontsize=7, loc="upper left")
    if title is None:
        title = (f"{label}: calibration of the progression CIF (out-of-fold)" if label
                 else "Calibration of the CIF")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
