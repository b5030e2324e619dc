"""Pairwise (concordance-type) statistics for many bootstrap replicates at once.

A bootstrap replicate is represented by integer weights ``W[b, i]``: how often row ``i`` was
drawn. A statistic summed over ordered pairs of the resampled data then equals
``sum_ij W[b, i] a_i K_ij W[b, j]``; the compiled kernels evaluate it in O(n log n) per
replicate. Copies of the same row are never comparable with each other (``K_ii = 0`` for
every kernel used here), exactly as duplicated rows would behave.
"""

from __future__ import annotations

import numpy as np

from mmrisk.evaluation._kernels import _auc_kernel, _concordance_kernel

__all__: list[str] = []

TIED_TOL = 1e-8


def _dense_rank(score: np.ndarray, tol: float) -> tuple[np.ndarray, int]:
    """1-based dense ranks; sorted neighbours closer than ``tol`` share a rank."""
    order = np.argsort(score, kind="stable")
    new_group = np.r_[True, np.diff(score[order]) > tol]
    ranks_sorted = np.cumsum(new_group)
    rank = np.empty(score.size, dtype=np.int64)
    rank[order] = ranks_sorted
    return rank, int(ranks_sorted[-1]) if score.size else 0


def _concordance_batch(
    event: np.ndarray,
    time: np.ndarray,
    risk: np.ndarray,
    anchor_weight: np.ndarray,
    W: np.ndarray,
    tol: float = TIED_TOL,
) -> np.ndarray:
    """Weighted concordance index for each row of ``W``.

    A pair (i, j) is comparable when i had an event and ``time_j > time_i``, or the times are
    tied and j is censored (scikit-survival's rule). It is concordant when ``risk_i > risk_j``;
    risks tied within ``tol`` count one half. Pair (i, j) carries ``anchor_weight[i]``
    (1 for Harrell's C, 1/G(t_i)^2 truncated at tau for Uno's C).

    Parameters
    ----------
    event, time, risk, anchor_weight : ndarray of shape (n,)
    W : ndarray of shape (n_rep, n)
        Replicate weights (all ones for the point estimate).
    tol : float
        Tolerance for tied risk scores.

    Returns
    -------
    ndarray of shape (n_rep,)
        NaN where a replicate has no comparable pair.
    """
    rank, n_ranks = _dense_rank(risk, tol)
    order = np.argsort(-time, kind="stable")
    num, den = _concordance_kernel(
        np.ascontiguousarray(time[order]),
        np.ascontiguousarray(event[order]),
        np.ascontiguousarray(rank[order]),
        np.ascontiguousarray(anchor_weight[order], dtype=float),
        np.ascontiguousarray(W[:, order], dtype=float),
        n_ranks,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _auc_batch(
    case: np.ndarray,
    control: np.ndarray,
    case_weight: np.ndarray,
    risk: np.ndarray,
    W: np.ndarray,
    tol: float = TIED_TOL,
) -> np.ndarray:
    """Weighted area under the ROC curve of cases against controls, per row of ``W``.

    ``sum_ij W_i w_i W_j k(r_i, r_j) / (sum_i W_i w_i * sum_j W_j)`` over cases i and controls
    j, with ``k`` = 1 / 0.5 / 0 for a higher / tied / lower case score: the trapezoidal ROC
    area that scikit-survival's ``cumulative_dynamic_auc`` computes.

    Returns
    -------
    ndarray of shape (n_rep,)
        NaN where a replicate has no case or no control.
    """
    rank, n_ranks = _dense_rank(risk, tol)
    weight = np.where(case, case_weight, 0.0).astype(float)
    return _auc_kernel(
        rank,
        np.ascontiguousarray(weight),
        np.ascontiguousarray(control),
        np.ascontiguousarray(W, dtype=float),
        n_ranks,
    )
