"""Decision curves for time-to-event outcomes (Vickers, Cronin, Elkin & Gonen 2008).

"Act when the predicted risk of an event by ``h`` is at least ``p_t``." Among the patients the
model flags (``1 - S(h | x) >= p_t``, a proportion ``q``), the observed risk by ``h`` is the
Kaplan–Meier estimate ``1 - KM_flagged(h)``, which handles censoring. The net benefit is

``NB(p_t) = q * (1 - KM_flagged(h)) - q * KM_flagged(h) * p_t / (1 - p_t)``

(true positives minus false positives weighted by the odds at the threshold); "treat all" is the
same with everyone flagged, "treat none" is 0. These are the numbers of the ``dcurves`` package
(``dca(..., time=h, time_to_outcome_col=...)``), including its conventions: ``NB = 0`` when
nobody is flagged, NaN when the flagged patients' follow-up ends before ``h``. The interval of
the model's curve is the percentile bootstrap over patients (the replicates of
:func:`~mmrisk.evaluation.bootstrap_metrics` for the same ``seed``). Hand-written rather than
calling ``dcurves`` because the bootstrap needs hundreds of replicates of every curve; the
tests check the point estimates against ``dcurves``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmrisk.evaluation._bootstrap import (
    _bootstrap_counts,
    _check_bootstrap_args,
    _percentile_interval,
)
from mmrisk.evaluation._checks import _check_horizons, _check_matrix, _check_outcome
from mmrisk.evaluation._km import _WeightedKM
from mmrisk.exceptions import MetricInputError

__all__ = ["DEFAULT_THRESHOLDS", "DECISION_CURVE_COLUMNS", "decision_curve"]

#: Default thresholds: 0.01, 0.02, ..., 0.60.
DEFAULT_THRESHOLDS = np.round(np.arange(1, 61) / 100.0, 2)

#: Columns of :func:`decision_curve` (the ``decision_curve.csv`` contract).
DECISION_CURVE_COLUMNS = [
    "horizon",
    "threshold",
    "net_benefit_model",
    "lo",
    "hi",
    "net_benefit_all",
]


def _check_thresholds(thresholds) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if arr.ndim != 1 or arr.size == 0 or np.any(~np.isfinite(arr)):
        raise MetricInputError(f"thresholds must be a non-empty 1-d sequence; got {thresholds!r}.")
    if np.any(arr <= 0) or np.any(arr >= 1):
        raise MetricInputError(
            f"thresholds must lie strictly between 0 and 1 (net benefit weighs false positives "
            f"by p / (1 - p)); got range [{arr.min()!r}, {arr.max()!r}]."
        )
    return arr


def _net_benefit(km: _WeightedKM, Ws: np.ndarray, totals: np.ndarray, flagged: np.ndarray,
                 h: float, p: float):
    """Net benefit per replicate of acting on the rows where ``flagged`` (sorted order);
    ``totals`` is each replicate's weight of all rows."""
    mask = flagged.astype(float)
    n_flagged = Ws @ mask
    share = n_flagged / totals
    surv = km.survival_at(Ws, h, mask, n_flagged)
    nb = share * (1.0 - surv) - share * surv * p / (1.0 - p)
    followed = km.followed_to(Ws, h, mask)
    return np.where(n_flagged == 0, 0.0, np.where(followed, nb, np.nan))


def decision_curve(
    survival_test,
    estimate,
    horizons: Sequence[float],
    *,
    thresholds: Sequence[float] | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Net benefit of the model, of treating all and (implicitly, 0) of treating none.

    Parameters
    ----------
    survival_test : structured ndarray of shape (n_samples,)
        Outcome of the predicted samples.
    estimate : array-like of shape (n_samples, n_horizons)
        Predicted survival probabilities at ``horizons`` (as for
        :func:`~mmrisk.evaluation.brier_scores`); the predicted risk is ``1 - estimate``.
    horizons : sequence of float
        Whole months, strictly increasing.
    thresholds : sequence of float, optional
        Risk thresholds in (0, 1); default :data:`DEFAULT_THRESHOLDS` (0.01 to 0.60).
    n_bootstrap : int, default=200
        Bootstrap replicates of the model's curve (0: no interval).
    seed : int, default=0
        Seed of the resampling.
    confidence_level : float, default=0.95
        Coverage of the percentile interval.

    Returns
    -------
    DataFrame
        Columns :data:`DECISION_CURVE_COLUMNS`: ``horizon`` (int months), ``threshold``,
        ``net_benefit_model`` with its interval ``lo``/``hi``, and ``net_benefit_all``; one row
        per horizon and threshold.
    """
    _check_bootstrap_args(n_bootstrap, confidence_level)
    event, time = _check_outcome(survival_test, "survival_test")
    horizons = _check_horizons(horizons)
    surv = _check_matrix(estimate, time.size, horizons.size, "estimate")
    thresholds = DEFAULT_THRESHOLDS if thresholds is None else _check_thresholds(thresholds)
    km = _WeightedKM(event, time)
    W = np.vstack([np.ones((1, time.size)), _bootstrap_counts(time.size, int(n_bootstrap), seed)])
    Ws = km.sort(W)
    totals = Ws.sum(axis=1)
    everyone = np.ones(time.size, dtype=bool)
    frames = []
    for k, h in enumerate(horizons):
        risk = (1.0 - surv[:, k])[km.order]
        model = np.array([_net_benefit(km, Ws, totals, risk >= p, h, p) for p in thresholds]).T
        treat_all = [_net_benefit(km, Ws[:1], totals[:1], everyone, h, p)[0] for p in thresholds]
        lo, hi = _percentile_interval(model[1:], confidence_level)
        frames.append(
            pd.DataFrame(
                {
                    "horizon": int(round(h)),
                    "threshold": thresholds,
                    "net_benefit_model": model[0],
                    "lo": lo,
                    "hi": hi,
                    "net_benefit_all": treat_all,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[DECISION_CURVE_COLUMNS]
