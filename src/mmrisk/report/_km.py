"""Kaplan–Meier curves, hazard-ratio forest plots and importance bars (matplotlib objects).

Figures are built as :class:`matplotlib.figure.Figure` objects, never through pyplot: no
backend is switched on import and no global figure is left open.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sksurv.nonparametric import kaplan_meier_estimator

__all__ = ["hr_forest_figure", "km_figure", "km_median", "permutation_figure"]


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan–Meier median survival time.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Follow-up time.
    event : array-like of shape (n_samples,)
        Event indicator.

    Returns
    -------
    float
        The median; ``inf`` when the curve stays above 0.5.
    """
    t, s = kaplan_meier_estimator(np.asarray(event, bool), np.asarray(time, float))
    hit = np.flatnonzero(s <= 0.5)
    return float(t[hit[0]]) if hit.size else float("inf")


def km_figure(time: np.ndarray, event: np.ndarray, group: np.ndarray, *, title: str = "",
              xlabel: str = "Months from landmark", ylabel: str = "Survival probability",
              step: float = 12.0) -> Figure:
    """Kaplan–Meier curves (with 95% log-log bands) per group and numbers at risk below.

    Parameters
    ----------
    time, event : array-like of shape (n_samples,)
        Follow-up time and event indicator.
    group : array-like of shape (n_samples,)
        Group label per patient (missing labels are shown as "missing").
    title, xlabel, ylabel : str
        Labels.
    step : float
        Spacing of the numbers-at-risk columns (months).

    Returns
    -------
    matplotlib.figure.Figure
    """
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    labels = np.array(["missing" if pd.isna(g) else str(g) for g in group])
    fig = Figure(figsize=(8, 6))
    ax, ax_risk = fig.subplots(2, 1, height_ratios=[4, 1], sharex=True)
    ticks = np.arange(0, np.nanmax(time) + step, step)
    levels = sorted(set(labels))
    for i, g in enumerate(levels):
        sel = labels == g
        t, s, ci = kaplan_meier_estimator(event[sel], time[sel], conf_type="log-log")
        med = km_median(time[sel], event[sel])
        label = f"{g} (n={sel.sum():,}; median {'NR' if np.isinf(med) else f'{med:.1f}'})"
        line = ax.step(np.r_[0, t], np.r_[1, s], where="post", label=label)[0]
        ax.fill_between(np.r_[0, t], np.r_[1, ci[0]], np.r_[1, ci[1]], step="post", alpha=0.15,
                        color=line.get_color())
        at_risk = [(time[sel] >= x).sum() for x in ticks]
        for x, n in zip(ticks, at_risk, strict=True):
            ax_risk.text(x, i, f"{n}", ha="center", va="center", fontsize=8,
                         color=line.get_color())
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
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


def hr_forest_figure(hr: pd.DataFrame, title: str = "") -> Figure:
    """Forest plot of hazard ratios with 95% CIs (log scale), one row per term.

    Parameters
    ----------
    hr : pandas.DataFrame
        Columns ``term``, ``hr``, ``hr_lo``, ``hr_hi`` (:func:`mmrisk.models.hazard_ratios`).
    title : str, default=""
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    hr = hr.dropna(subset=["hr"]).reset_index(drop=True)
    fig = Figure(figsize=(7, max(2.5, 0.28 * len(hr) + 1)))
    ax = fig.subplots()
    y = np.arange(len(hr))[::-1]
    lo = (hr["hr"] - hr["hr_lo"]).fillna(0).clip(lower=0)
    hi = (hr["hr_hi"] - hr["hr"]).fillna(0).clip(lower=0)
    ax.errorbar(hr["hr"], y, xerr=[lo, hi], fmt="o", capsize=2)
    ax.axvline(1.0, color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y, hr["term"], fontsize=7)
    ax.set_xlabel("Hazard ratio (95% CI), per unit as the feature enters the model")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def permutation_figure(names: np.ndarray, mean: np.ndarray, std: np.ndarray, *, title: str = "",
                       xlabel: str = "Drop in Harrell's C when permuted", top: int = 15
                       ) -> Figure:
    """Horizontal bars of permutation importance (mean ± SD over repeats), largest on top.

    Parameters
    ----------
    names : array-like of shape (n_features,)
        Feature names.
    mean, std : array-like of shape (n_features,)
        Mean and standard deviation of the importance over repeats.
    title : str, default=""
        Figure title.
    xlabel : str
        Axis label.
    top : int, default=15
        Features shown.

    Returns
    -------
    matplotlib.figure.Figure
    """
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    order = np.argsort(mean)[-top:]
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    ax.barh(np.asarray(names)[order], mean[order], xerr=std[order])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    return fig
