"""Figures of a model on a new cohort: decision curves and calibration with its band.

Built with :class:`matplotlib.figure.Figure` only (no pyplot, no backend switch, no file I/O);
save with ``fig.savefig(path)``. The numbers come from :mod:`mmrisk.evaluation`
(:func:`~mmrisk.evaluation.decision_curve`, :func:`~mmrisk.evaluation.calibration_curve_band`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mmrisk.evaluation import DECISION_CURVE_COLUMNS, calibration_curve_band
from mmrisk.exceptions import MetricInputError

__all__ = ["plot_calibration_band", "plot_decision_curves"]


def plot_decision_curves(table: pd.DataFrame, *, label: str = "model") -> Figure:
    """Decision curves, one panel per horizon: model with its band, treat all, treat none.

    Parameters
    ----------
    table : DataFrame
        The output of :func:`~mmrisk.evaluation.decision_curve` (columns
        ``horizon, threshold, net_benefit_model, lo, hi, net_benefit_all``).
    label : str, default="model"
        Legend label of the model's curve.

    Returns
    -------
    Figure
        The y-axis runs from a little below 0 to a little above the largest net benefit
        (treat-all falls steeply at high thresholds and would flatten the other curves).
    """
    missing = [c for c in DECISION_CURVE_COLUMNS if c not in table]
    if missing:
        raise MetricInputError(f"decision-curve table lacks columns {missing!r}.")
    horizons = sorted(table["horizon"].unique())
    fig = Figure(figsize=(4.5 * len(horizons), 4))
    top = np.nanmax(table[["net_benefit_model", "hi", "net_benefit_all"]].to_numpy(float))
    top = max(float(top), 0.01) if np.isfinite(top) else 0.1
    for j, h in enumerate(horizons):
        ax = fig.add_subplot(1, len(horizons), j + 1)
        part = table[table["horizon"] == h]
        x = part["threshold"].to_numpy(float)
        ax.fill_between(x, part["lo"], part["hi"], alpha=0.2, color="C0", linewidth=0)
        ax.plot(x, part["net_benefit_model"], color="C0", label=label)
        ax.plot(x, part["net_benefit_all"], color="C1", linestyle="--", label="treat all")
        ax.axhline(0.0, color="grey", linewidth=1, label="treat none")
        ax.set_ylim(-0.1 * top, 1.1 * top)
        ax.set_xlim(x.min(), x.max())
        ax.set_xlabel(f"threshold risk of progression by {h:g} months")
        ax.set_ylabel("net benefit")
        ax.set_title(f"{h:g} months")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_calibration_band(
    survival_test,
    estimate,
    time: float,
    *,
    label: str = "model",
    n_bootstrap: int = 200,
    seed: int = 0,
    n_points: int = 100,
) -> Figure:
    """Calibration at a horizon: smoothed observed against predicted risk, with a 95% band.

    Parameters
    ----------
    survival_test : structured ndarray of shape (n_samples,)
        Outcome.
    estimate : array-like of shape (n_samples,)
        Predicted survival probabilities at ``time``.
    time : float
        The horizon (months).
    label : str, default="model"
        Legend label.
    n_bootstrap : int, default=200
        Replicates of the band.
    seed : int, default=0
        Seed of the resampling.
    n_points : int, default=100
        Grid size of the curve.

    Returns
    -------
    Figure
        Identity line, the curve of :func:`~mmrisk.evaluation.calibration_curve_band` and its
        band, and a histogram of the predicted risks below.
    """
    surv = np.asarray(estimate, dtype=float).reshape(-1)
    curve = calibration_curve_band(
        survival_test, surv, time, n_points=n_points, n_bootstrap=n_bootstrap, seed=seed
    )
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(4, 1, (1, 3))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="ideal")
    ax.fill_between(curve["predicted"], curve["lo"], curve["hi"], alpha=0.2, color="C0",
                    linewidth=0, label="95% bootstrap band")  # fmt: skip
    ax.plot(curve["predicted"], curve["observed"], color="C0", label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"observed P(progression by {time:g} months)")
    ax.legend(loc="upper left", fontsize="small")
    hist = fig.add_subplot(4, 1, 4, sharex=ax)
    hist.hist(1.0 - surv, bins=40, range=(0, 1), color="grey")
    hist.set_xlabel(f"predicted P(progression by {time:g} months)")
    hist.set_yticks([])
    fig.tight_layout()
    return fig
