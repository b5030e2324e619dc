"""Survival metrics as plain functions of ``(survival_train, survival_test, estimate, times)``.

Outcomes are scikit-survival structured arrays (``sksurv.util.Surv``) with any field names:
the boolean field is the event indicator, the numeric one the time. ``survival_train`` only
serves the inverse-probability-of-censoring weights (IPCW); metrics that do not need them
accept it for a uniform signature. Where a metric is undefined (a horizon beyond follow-up,
no event by a horizon) the value is NaN and an :class:`~mmrisk.exceptions.EvaluationWarning`
says why; these functions do not raise on such data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmrisk.evaluation._checks import (
    _check_horizons,
    _check_matrix,
    _check_times,
    _check_vector,
)
from mmrisk.evaluation._engine import (
    _auc_valid,
    _batch_all,
    _batch_auc,
    _batch_brier,
    _batch_calibration,
    _batch_dcal,
    _batch_harrell,
    _batch_ibs,
    _batch_uno,
    _calibration_fit,
    _calibration_valid,
    _check_horizon_validity,
    _cloglog,
    _metric_names,
    _prepare,
    _rcs3,
    _uno_anchor_weights,
    _valid_times,
    _validity,
)
from mmrisk.exceptions import MetricInputError

__all__ = [
    "brier_scores",
    "calibration_curve",
    "calibration_metrics",
    "cindex_harrell",
    "cindex_uno",
    "compute_metrics",
    "d_calibration",
    "integrated_brier_score",
    "metric_names",
    "time_dependent_auc",
]


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n))


def cindex_harrell(survival_train, survival_test, estimate, times=None) -> float:
    """Harrell's concordance index of a risk score.

    A pair is comparable when the shorter time is an event (ties in time: an event is
    comparable with a censored patient at the same time); it is concordant when the event has
    the higher risk; tied risks (within 1e-8) count one half. Same definition as
    ``sksurv.metrics.concordance_index_censored``.

    Parameters
    ----------
    survival_train : structured ndarray or None
        Unused; accepted for a uniform metric signature.
    survival_test : structured ndarray of shape (n_samples,)
        Outcome of the test samples.
    estimate : array-like of shape (n_samples,)
        Risk scores, higher meaning earlier progression.
    times : None
        Unused.

    Returns
    -------
    float
        In [0, 1]; NaN if there is no comparable pair.
    """
    d = _prepare(None, survival_test, risk=estimate)
    return float(_batch_harrell(d, _ones(d.time.size))[0])


def cindex_uno(survival_train, survival_test, estimate, times=None) -> float:
    """Uno's IPCW concordance index, truncated at ``tau = max(times)``.

    Pairs anchored at an event before ``tau`` are weighted by ``1 / G(t_i)^2``, G being the
    Kaplan–Meier estimate of the censoring distribution of ``survival_train``. Matches
    ``sksurv.metrics.concordance_index_ipcw`` wherever that function is defined; test times
    beyond the training follow-up get G held at its last value instead of an error.

    Parameters
    ----------
    survival_train : structured ndarray
        Outcome from which the censoring distribution is estimated.
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples,)
        Risk scores.
    times : float or sequence of float, optional
        The truncation time is their maximum; no truncation if None.

    Returns
    -------
    float
    """
    d = _prepare(survival_train, survival_test, risk=estimate)
    tau = None if times is None else float(np.max(_check_times(times)))
    weights = _uno_anchor_weights(d, tau, warn=True)
    return float(_batch_uno(d, _ones(d.time.size), weights)[0])


def time_dependent_auc(survival_train, survival_test, estimate, times) -> np.ndarray:
    """Cumulative/dynamic time-dependent AUC at each time (Uno et al. 2007; Hung & Chiang 2010).

    Cases are events by ``t`` (weighted by ``1/G(t_i)``), controls are patients still event-free
    after ``t``. Same estimator as ``sksurv.metrics.cumulative_dynamic_auc``.

    Parameters
    ----------
    survival_train : structured ndarray
        Outcome from which the censoring distribution is estimated.
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples,) or (n_samples, n_times)
        Risk scores (one column per time if 2-d).
    times : sequence of float
        Strictly increasing time points.

    Returns
    -------
    ndarray of shape (n_times,)
        NaN (with a warning) at times beyond follow-up or before the first event.
    """
    d = _prepare(survival_train, survival_test, horizons=times, whole_months=False)
    est = np.asarray(estimate, dtype=float)
    column_est = None
    if est.ndim == 2:
        column_est = _check_matrix_any(est, d.time.size, d.horizons.size)
    else:
        d.risk = _check_vector(est, d.time.size, "estimate")
    valid = _check_horizon_validity(d, d.horizons, "time-dependent AUC")
    valid = _auc_valid(d, valid, warn=True)
    return _batch_auc(d, _ones(d.time.size), valid, column_est)[0]


def _check_matrix_any(est: np.ndarray, n: int, n_times: int) -> np.ndarray:
    if est.shape != (n, n_times) or not np.all(np.isfinite(est)):
        raise MetricInputError(
            f"estimate must be finite with shape ({n},) or ({n}, {n_times}); got {est.shape}."
        )
    return est


def brier_scores(survival_train, survival_test, estimate, times) -> np.ndarray:
    """IPCW Brier score at each time (Graf et al. 1999).

    Same estimator as ``sksurv.metrics.brier_score``. Without censoring it is the mean
    squared difference between the predicted survival and the event-free indicator.

    Parameters
    ----------
    survival_train : structured ndarray
        Outcome from which the censoring distribution is estimated.
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples, n_times)
        Predicted survival probabilities at ``times``.
    times : sequence of float
        Strictly increasing time points.

    Returns
    -------
    ndarray of shape (n_times,)
        NaN (with a warning) at times beyond the follow-up.
    """
    d = _prepare(survival_train, survival_test, horizons=times, whole_months=False)
    surv = _check_matrix(estimate, d.time.size, d.horizons.size, "estimate")
    valid = _check_horizon_validity(d, d.horizons, "Brier score")
    return _batch_brier(d, _ones(d.time.size), d.horizons, surv, valid)[0]


def integrated_brier_score(survival_train, survival_test, estimate, times) -> float:
    """Integrated Brier score: trapezoidal integral over ``times`` divided by its range.

    Same value as ``sksurv.metrics.integrated_brier_score`` on the same grid. Time points
    beyond the follow-up are dropped from the end of the grid (with a warning).

    Parameters
    ----------
    survival_train : structured ndarray
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples, n_times)
        Predicted survival probabilities at ``times``.
    times : sequence of float
        At least two strictly increasing time points.

    Returns
    -------
    float
    """
    d = _prepare(survival_train, survival_test)
    d.ibs_times = _check_times(times)
    d.surv_ibs = _check_matrix(estimate, d.time.size, d.ibs_times.size, "estimate")
    valid = _check_horizon_validity(d, d.ibs_times, "integrated Brier score")
    return float(_batch_ibs(d, _ones(d.time.size), valid)[0])


def calibration_metrics(survival_train, survival_test, estimate, times) -> pd.DataFrame:
    """Calibration at each time as Austin, Harrell & van Klaveren (Stat Med 2020) define it.

    The outcome is regressed (Cox model, Breslow ties) on the complementary log-log of the
    predicted event probability ``1 - S(t | x)`` with a restricted cubic spline (3 knots at the
    10th, 50th and 90th percentiles); the fitted probability of an event by ``t`` is the
    smoothed observed probability. ICI, E50 and E90 are the mean, median and 90th percentile
    of ``|observed - predicted|`` over the test samples. The calibration slope is the
    coefficient of ``cloglog(predicted)`` in a Cox model with it as the only covariate
    (1 when calibrated; below 1 when predictions are too extreme).

    Parameters
    ----------
    survival_train : structured ndarray or None
        Unused; the horizons' validity uses its censoring distribution when given.
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples, n_times)
        Predicted survival probabilities at ``times``.
    times : sequence of float
        Strictly increasing time points.

    Returns
    -------
    DataFrame
        Index ``time``; columns ``calib_slope``, ``ici``, ``e50``, ``e90``.
    """
    d = _prepare(survival_train, survival_test, horizons=times, whole_months=False)
    d.surv_h = _check_matrix(estimate, d.time.size, d.horizons.size, "estimate")
    valid = _check_horizon_validity(d, d.horizons, "calibration")
    valid = _calibration_valid(d, valid, warn=True)
    values = _batch_calibration(d, _ones(d.time.size), valid)
    table = pd.DataFrame({name: v[0] for name, v in values.items()}, index=d.horizons)
    table.index.name = "time"
    return table


def calibration_curve(survival_test, estimate, time: float, *, n_points: int = 100) -> pd.DataFrame:
    """Smoothed observed against predicted probability of an event by ``time``.

    The curve of :func:`calibration_metrics` on a grid from the 1st to the 99th percentile of
    the predictions (Austin et al. 2020), for a calibration plot.

    Parameters
    ----------
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples,)
        Predicted survival probabilities at ``time``.
    time : float
        The horizon.
    n_points : int, default=100
        Grid size.

    Returns
    -------
    DataFrame
        Columns ``predicted`` and ``observed`` (event probabilities by ``time``).
    """
    d = _prepare(None, survival_test, horizons=[time], whole_months=False)
    surv = _check_matrix(estimate, d.time.size, 1, "estimate")[:, 0]
    pred = 1.0 - surv
    grid = np.linspace(*np.quantile(pred, [0.01, 0.99]), n_points)
    if not _valid_times(d, d.horizons)[0] or d.event.sum() < 2:
        return pd.DataFrame({"predicted": grid, "observed": np.nan})
    W = _ones(d.time.size)
    fit, knots = _calibration_fit(d, W, surv)
    basis = _rcs3(_cloglog(1.0 - grid)[None, :], knots)
    observed = fit.event_probability(basis, float(time))[0]
    return pd.DataFrame({"predicted": grid, "observed": observed})


def d_calibration(survival_train, survival_test, estimate, times=None) -> float:
    """D-calibration p-value (Haider et al., JMLR 2020).

    If the predicted survival curves are calibrated, ``S(T_i | x_i)`` is uniform on [0, 1].
    Each patient's value falls into one of 10 equal bins; a censored patient with
    ``c = S(C_i | x_i)`` is spread uniformly over [0, c]. The p-value is that of Pearson's
    chi-square test of equal bin counts (9 degrees of freedom): large when calibrated.

    Parameters
    ----------
    survival_train : structured ndarray or None
        Unused.
    survival_test : structured ndarray of shape (n_samples,)
    estimate : array-like of shape (n_samples,)
        Each patient's predicted survival at their own observed time.
    times : None
        Unused.

    Returns
    -------
    float
    """
    d = _prepare(None, survival_test, surv_own=estimate)
    return float(_batch_dcal(d, _ones(d.time.size))[0])


def metric_names(horizons: Sequence[float]) -> list[str]:
    """The contract metric names, without scope, for these horizons.

    Parameters
    ----------
    horizons : sequence of float
        Whole months.

    Returns
    -------
    list of str
        ``cindex_harrell, cindex_uno, auc_<h>m..., brier_<h>m..., ibs, calib_slope_<h>m...,
        ici_<h>m..., e50_<h>m..., e90_<h>m..., oe_<h>m..., dcal_pvalue``.
    """
    return _metric_names(_check_horizons(horizons))


def compute_metrics(
    y_train,
    y_test,
    risk,
    surv_at_horizons,
    horizons: Sequence[float],
    surv_at_own_time=None,
    *,
    ibs_times: Sequence[float] | None = None,
    surv_at_ibs_times=None,
) -> dict[str, float]:
    """Every contract metric of one set of predictions, keyed by its name without scope.

    Parameters
    ----------
    y_train : structured ndarray
        Outcome from which the censoring distribution (IPCW) is estimated.
    y_test : structured ndarray of shape (n_samples,)
        Outcome of the predicted samples.
    risk : array-like of shape (n_samples,)
        Risk scores (``model.predict``), higher meaning earlier progression; used by the
        concordance indices and the time-dependent AUC.
    surv_at_horizons : array-like of shape (n_samples, n_horizons)
        Predicted survival at the horizons; used by the Brier scores and calibration.
    horizons : sequence of float
        Whole months, strictly increasing. Uno's C is truncated at the largest.
    surv_at_own_time : array-like of shape (n_samples,), optional
        Predicted survival at each sample's own observed time; ``dcal_pvalue`` is NaN without.
    ibs_times : sequence of float, optional
        Grid of the integrated Brier score; default: the horizons.
    surv_at_ibs_times : array-like of shape (n_samples, n_ibs_times), optional
        Predicted survival on ``ibs_times``; required with it.

    Returns
    -------
    dict of str to float
        Exactly the names of :func:`metric_names`, in that order; NaN (with an
        ``EvaluationWarning``) where a metric is undefined on these data.
    """
    if (ibs_times is None) != (surv_at_ibs_times is None):
        raise MetricInputError("ibs_times and surv_at_ibs_times must be given together.")
    d = _prepare(
        y_train,
        y_test,
        risk=risk,
        horizons=horizons,
        surv_h=surv_at_horizons,
        surv_own=surv_at_own_time,
        ibs_times=ibs_times,
        surv_ibs=surv_at_ibs_times,
    )
    values = _batch_all(d, _ones(d.time.size), _validity(d, warn=True))[0]
    return {name: float(v) for name, v in zip(_metric_names(d.horizons), values, strict=True)}
