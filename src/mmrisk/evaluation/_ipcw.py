"""Kaplan–Meier estimate of the censoring distribution, for inverse-probability weights."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


class _CensoringKM:
    """Reverse Kaplan–Meier estimate G(t) = P(C > t) from a training outcome.

    Follows scikit-survival's ``CensoringDistributionEstimator``: at tied times events come
    first (they leave the risk set before the censorings), G is right-continuous, and G = 1
    when nobody is censored. Unlike scikit-survival, G is held at its last value beyond the
    largest training time (the Kaplan–Meier convention) instead of raising, so test times
    beyond the training follow-up get a finite weight whenever G has not dropped to zero.

    Parameters
    ----------
    event : ndarray of bool, shape (n_samples,)
    time : ndarray of float, shape (n_samples,)
    """

    def __init__(self, event: np.ndarray, time: np.ndarray):
        uniq, inverse = np.unique(time, return_inverse=True)
        n_events = np.bincount(inverse, weights=event.astype(float), minlength=uniq.size)
        n_total = np.bincount(inverse, minlength=uniq.size).astype(float)
        n_censored = n_total - n_events
        at_risk = n_total[::-1].cumsum()[::-1] - n_events
        ratio = np.divide(n_censored, at_risk, out=np.zeros_like(at_risk), where=n_censored > 0)
        self.times = uniq
        self.prob = np.cumprod(1.0 - ratio)

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        """G(t), right-continuous; 1 before the first time, last value after the last."""
        t = np.asarray(t, dtype=float)
        idx = np.searchsorted(self.times, t, side="right") - 1
        out = np.where(idx >= 0, self.prob[np.clip(idx, 0, None)], 1.0)
        return out
