"""Kaplan–Meier estimates for many bootstrap replicates (and subsets) at once.

Hand-written rather than taken from lifelines or scikit-survival because the estimate is needed
for hundreds of replicate weightings and threshold subsets of one sample: with the rows sorted
once, each weighting costs one cumulative sum. Frequency weights ``W[b, i]`` (bootstrap counts,
or 0/1 to select a subset) give exactly the estimate on the duplicated / selected rows, so the
point estimate (weights all one) is the ordinary product-limit estimator (lifelines'
``KaplanMeierFitter``, right-continuous, events before censorings at tied times).
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


class _WeightedKM:
    """Sorted outcome, ready for product-limit estimates under any row weights.

    Parameters
    ----------
    event : ndarray of bool, shape (n,)
    time : ndarray of float, shape (n,)
    """

    def __init__(self, event: np.ndarray, time: np.ndarray):
        self.order = np.argsort(time, kind="stable")
        self.time = time[self.order]
        self.event = event[self.order].astype(float)
        self.unique, self.start = np.unique(self.time, return_index=True)

    def sort(self, W: np.ndarray) -> np.ndarray:
        """Weights (n_rep, n) in input row order -> in sorted order."""
        return W[:, self.order]

    def _counts(self, Ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted numbers at risk and of events at each distinct time: (n_rep, n_unique)."""
        at_risk_all = np.cumsum(Ws[:, ::-1], axis=1)[:, ::-1]
        at_risk = at_risk_all[:, self.start]
        events = np.add.reduceat(Ws * self.event, self.start, axis=1)
        return at_risk, events

    def survival(self, Ws: np.ndarray, times: np.ndarray) -> np.ndarray:
        """S(t) for each replicate at ``times``: (n_rep, n_times); 1 before the first time.

        Beyond the last observed time of a replicate S is held at its last value; see
        :meth:`last_time` for where an estimate rests on follow-up.
        """
        at_risk, events = self._counts(Ws)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(at_risk > 0, 1.0 - events / np.where(at_risk > 0, at_risk, 1.0), 1.0)
        surv = np.cumprod(factor, axis=1)
        idx = np.searchsorted(self.unique, np.asarray(times, dtype=float), side="right") - 1
        out = np.ones((Ws.shape[0], idx.size))
        hit = idx >= 0
        out[:, hit] = surv[:, idx[hit]]
        return out

    def survival_at(self, Ws: np.ndarray, h: float, mask: np.ndarray | None = None,
                    total: np.ndarray | None = None) -> np.ndarray:
        """S(h) for each replicate, (n_rep,): :meth:`survival` at one time, from the rows up to
        ``h`` only (numbers at risk = total weight minus the weight that left before).

        ``mask`` (0/1 per sorted row) restricts the estimate to a subset, as ``Ws * mask``
        would, without forming that product for every row. ``total``: each replicate's weight
        of the (masked) rows, when the caller has it already.
        """
        k = int(np.searchsorted(self.unique, h, side="right"))  # distinct times <= h
        if k == 0:
            return np.ones(Ws.shape[0])
        j = int(np.searchsorted(self.time, h, side="right"))  # rows with time <= h
        head = Ws[:, :j] if mask is None else Ws[:, :j] * mask[:j]
        if total is None:
            total = Ws.sum(axis=1) if mask is None else Ws @ mask
        before = np.cumsum(head, axis=1) - head
        starts = self.start[:k]
        at_risk = total[:, None] - before[:, starts]
        events = np.add.reduceat(head * self.event[:j], starts, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(at_risk > 0, 1.0 - events / np.where(at_risk > 0, at_risk, 1.0), 1.0)
        return np.prod(factor, axis=1)

    def followed_to(self, Ws: np.ndarray, h: float, mask: np.ndarray | None = None) -> np.ndarray:
        """Whether each replicate has a row (event or censoring) at or after ``h``, (n_rep,):
        ``last_time(Ws) >= h`` without scanning the earlier rows (``mask`` as in
        :meth:`survival_at`)."""
        j = int(np.searchsorted(self.time, h, side="left"))
        tail = Ws[:, j:]
        return (tail > 0).any(axis=1) if mask is None else (tail @ mask[j:]) > 0

    def greenwood_variance(self, Ws: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Greenwood's variance of S(t) at ``times``: (n_rep, n_times).

        ``S(t)^2 * sum_{s <= t} d_s / (n_s (n_s - d_s))``; 0 where S(t) = 0.
        """
        at_risk, events = self._counts(Ws)
        surv = self.survival(Ws, times)
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(
                (events > 0) & (at_risk > events), events / (at_risk * (at_risk - events)), 0.0
            )
        cum = np.cumsum(term, axis=1)
        idx = np.searchsorted(self.unique, np.asarray(times, dtype=float), side="right") - 1
        out = np.zeros((Ws.shape[0], idx.size))
        hit = idx >= 0
        out[:, hit] = cum[:, idx[hit]]
        return surv**2 * out

    def last_time(self, Ws: np.ndarray) -> np.ndarray:
        """Largest observed time (event or censoring) of each replicate; -inf if it is empty."""
        return np.max(np.where(Ws > 0, self.time[None, :], -np.inf), axis=1)
