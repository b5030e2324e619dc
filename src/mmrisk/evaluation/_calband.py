"""The smoothed calibration curve at a horizon with a pointwise bootstrap band.

The curve of :func:`~mmrisk.evaluation.calibration_curve` (Austin, Harrell & van Klaveren
2020: a Cox model of the outcome on a restricted cubic spline of ``cloglog`` of the predicted
risk), refitted on every bootstrap replicate of the patients (knots re-placed at each
replicate's 10/50/90th percentiles, as in the ICI intervals of
:func:`~mmrisk.evaluation.bootstrap_metrics`); the band is the pointwise percentile interval on a
common grid of predicted risks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mmrisk.evaluation._bootstrap import (
    _bootstrap_counts,
    _check_bootstrap_args,
    _percentile_interval,
)
from mmrisk.evaluation._checks import _check_matrix
from mmrisk.evaluation._engine import (
    _calibration_basis,
    _cloglog,
    _fit_warm,
    _prepare,
    _rcs3,
    _valid_times,
)

__all__ = ["calibration_curve_band"]


def calibration_curve_band(
    survival_test,
    estimate,
    time: float,
    *,
    n_points: int = 100,
    n_bootstrap: int = 200,
    seed: int = 0,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Smoothed observed against predicted probability of an event by ``time``, with a band.

    Parameters
    ----------
    survival_test : structured ndarray of shape (n_samples,)
        Outcome of the predicted samples.
    estimate : array-like of shape (n_samples,)
        Predicted survival probabilities at ``time``.
    time : float
        The horizon (months).
    n_points : int, default=100
        Grid size (1st to 99th percentile of the predicted risks).
    n_bootstrap : int, default=200
        Bootstrap replicates of the curve (0: no band).
    seed : int, default=0
        Seed of the resampling.
    confidence_level : float, default=0.95
        Coverage of the pointwise percentile band.

    Returns
    -------
    DataFrame
        Columns ``predicted``, ``observed`` (identical to
        :func:`~mmrisk.evaluation.calibration_curve`), ``lo``, ``hi``; all NaN but
        ``predicted`` when ``time`` is beyond the follow-up or there are fewer than 2 events.
    """
    _check_bootstrap_args(n_bootstrap, confidence_level)
    d = _prepare(None, survival_test, horizons=[time], whole_months=False)
    surv = _check_matrix(estimate, d.time.size, 1, "estimate")[:, 0]
    pred = 1.0 - surv
    grid = np.linspace(*np.quantile(pred, [0.01, 0.99]), n_points)
    out = pd.DataFrame({"predicted": grid, "observed": np.nan, "lo": np.nan, "hi": np.nan})
    if not _valid_times(d, d.horizons)[0] or d.event.sum() < 2:
        return out
    n = d.time.size
    W = np.vstack([np.ones((1, n)), _bootstrap_counts(n, int(n_bootstrap), seed)])
    basis, knots = _calibration_basis(surv, W)
    point_basis, _ = _calibration_basis(surv, W[:1])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = _fit_warm(d, basis, W, point_basis)
        cll = np.broadcast_to(_cloglog(1.0 - grid)[None, :], (W.shape[0], n_points))
        observed = fit.event_probability(_rcs3(cll, knots), float(time))
    lo, hi = _percentile_interval(observed[1:], confidence_level)
    out["observed"], out["lo"], out["hi"] = observed[0], lo, hi
    return out
