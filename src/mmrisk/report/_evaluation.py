"""Evaluation figures: calibration at a horizon, time-dependent AUC and Brier score over time.

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
state, no display needed); save it with ``fig.savefig(path)``. Times where a metric is
undefined (beyond follow-up) are left as gaps instead of warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from mmrisk.evaluation import (
    brier_scores,
    calibration_curve,
    calibration_metrics,
    time_dependent_auc,
)
from mmrisk.exceptions import EvaluationWarning

__all__ = ["plot_auc_over_time", "plot_brier_over_time", "plot_calibration"]


def plot_calibration(
    survival_test,
    estimate,
    time: float,
    *,
    label: str = "model",
    n_points: int = 100,
) -> Figure:
    """Calibration plot at one horizon: smoothed observed against predicted event probability.

    Parameters
    ----------
    survival_test : structured ndarray of shape (n_samples,)
        Outcome of the predicted samples.
    estimate : array-like of shape (n_samples,)
        Predicted survival probabilities at ``time``.
    time : float
        The horizon (months).
    label : str, default="model"
        Legend label of the curve.
    n_points : int, default=100
        Grid size of the smoothed curve.

    Returns
    -------
    Figure
        Identity line, the curve of :func:`calibration_curve`, and a histogram of the
        predictions; the legend shows ICI and the calibration slope.
    """
    surv = np.asarray(estimate, dtype=float).reshape(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        curve = calibration_curve(survival_test, surv, time, n_points=n_points)
        table = calibration_metrics(None, survival_test, surv[:, None], [time])
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(4, 1, (1, 3))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="ideal")
    ici, slope = table["ici"].iloc[0], table["calib_slope"].iloc[0]
    ax.plot(
        curve["predicted"],
        curve["observed"],
        label=f"{label} (ICI {ici:.3f}, slope {slope:.2f})",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"observed P(event by {time:g} months)")
    ax.legend(loc="upper left", fontsize="small")
    hist = fig.add_subplot(4, 1, 4, sharex=ax)
    hist.hist(1.0 - surv, bins=40, range=(0, 1), color="grey")
    hist.set_xlabel(f"predicted P(event by {time:g} months)")
    hist.set_yticks([])
    fig.tight_layout()
    return fig


def _over_time(
    metric, survival_train, survival_test, estimates: Mapping, times, ylabel: str
) -> Figure:
    times = np.asarray(times, dtype=float)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        for name, est in estimates.items():
            ax.plot(times, metric(survival_train, survival_test, est, times), label=name)
    ax.set_xlabel("months")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_auc_over_time(
    survival_train, survival_test, risks: Mapping[str, np.ndarray], times: Sequence[float]
) -> Figure:
    """Cumulative/dynamic AUC over time, one line per model.

    Parameters
    ----------
    survival_train : structured ndarray
        Outcome of the censoring distribution.
    survival_test : structured ndarray of shape (n_samples,)
    risks : dict of str to ndarray of shape (n_samples,)
        Risk scores by model name.
    times : sequence of float
        Strictly increasing time points.

    Returns
    -------
    Figure
    """
    fig = _over_time(
        time_dependent_auc, survival_train, survival_test, risks, times, "time-dependent AUC"
    )
    fig.axes[0].axhline(0.5, color="grey", linestyle="--", linewidth=1)
    return fig


def plot_brier_over_time(
    survival_train, survival_test, survs: Mapping[str, np.ndarray], times: Sequence[float]
) -> Figure:
    """IPCW Brier score over time, one line per model.

    Parameters
    ----------
    survival_train : structured ndarray
        Outcome of the censoring distribution.
    survival_test : structured ndarray of shape (n_samples,)
    survs : dict of str to ndarray of shape (n_samples, n_times)
        Predicted survival at ``times`` by model name.
    times : sequence of float
        Strictly increasing time points.

    Returns
    -------
    Figure
    """
    return _over_time(brier_scores, survival_train, survival_test, survs, times, "Brier score")
