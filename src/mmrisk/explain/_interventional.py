"""Interventional TreeSHAP by depth-first search (numba, float64): the general fallback.

Used by :mod:`mmrisk.explain._fastshap` for trees whose paths split on more than 62 distinct
features (too many for its bit masks), and as an independent implementation in tests.
(``shap.TreeExplainer(..., feature_perturbation="interventional")`` keeps its path weights in
single precision, so its values add up to the model output only to about 1e-7 relative.)

For one explained row ``x`` and one background row ``r``, the value of a coalition ``S`` is the
tree's output at the hybrid point ``(x_S, r_notS)``. A leaf is reached by the hybrid point iff
every split on its path that ``x`` and ``r`` take differently is decided by the right one: the
features whose split only ``x`` passes (set ``A``) must be in ``S``, those only ``r`` passes
(set ``B``) must not be. The leaf's game ``1[A ⊆ S, S ∩ B = ∅]`` has the closed-form Shapley
values ``(|A|-1)! |B)! / (|A|+|B|)!`` for each feature of ``A`` and
``-|A|! (|B|-1)! / (|A|+|B|)!`` for each feature of ``B``; the interventional SHAP value is their
leaf-value-weighted sum over reachable leaves and trees, averaged over the background rows
(Lundberg et al., 2020, "From local explanations to global understanding with explainable AI
for trees", Methods, "Interventional Tree SHAP").
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["dfs_interventional"]


@numba.njit(cache=True, nogil=True)
def _goes_left(row: np.ndarray, feat: int, thr: float, left: int, right: int, dflt: int) -> int:
    v = row[feat]
    if np.isnan(v):
        return dflt
    return left if v <= thr else right


@numba.njit(cache=True, nogil=True)
def _leaf_update(
    out: np.ndarray,
    weight: float,
    n_a: int,
    n_b: int,
    depth: int,
    change_feat: np.ndarray,
    change_kind: np.ndarray,
    coef_a: np.ndarray,
    coef_b: np.ndarray,
) -> None:
    if n_a + n_b == 0:
        return
    wa = weight * coef_a[n_a, n_b] if n_a > 0 else 0.0
    wb = weight * coef_b[n_a, n_b] if n_b > 0 else 0.0
    for d in range(depth + 1):
        f = change_feat[d]
        if f >= 0:
            if change_kind[d] == 1:
                out[f] += wa
            else:
                out[f] -= wb


@numba.njit(cache=True, nogil=True)
def _one_pair(  # noqa: C901 - one iterative depth-first search
    t: int,
    x: np.ndarray,
    r: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    dflt: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    value: np.ndarray,
    coef_a: np.ndarray,
    coef_b: np.ndarray,
    state: np.ndarray,
    st_node: np.ndarray,
    st_depth: np.ndarray,
    st_na: np.ndarray,
    st_nb: np.ndarray,
    st_feat: np.ndarray,
    st_kind: np.ndarray,
    change_feat: np.ndarray,
    change_kind: np.ndarray,
    out: np.ndarray,
) -> None:
    """Add one tree's Shapley values for the pair (x, r) to ``out`` (unscaled by 1/m)."""
    top = 0
    st_node[0] = 0
    st_depth[0] = 0
    st_na[0] = 0
    st_nb[0] = 0
    st_feat[0] = -1
    st_kind[0] = 0
    cur = -1
    while top >= 0:
        node = st_node[top]
        d = st_depth[top]
        n_a = st_na[top]
        n_b = st_nb[top]
        f_new = st_feat[top]
        kind = st_kind[top]
        top -= 1
        while cur >= d:
            if change_feat[cur] >= 0:
                state[change_feat[cur]] = 0
            cur -= 1
        change_feat[d] = f_new
        change_kind[d] = kind
        if f_new >= 0:
            state[f_new] = kind
        cur = d
        lc = left[t, node]
        if lc < 0:
            _leaf_update(out, value[t, node], n_a, n_b, d, change_feat, change_kind, coef_a, coef_b)
            continue
        rc = right[t, node]
        f = feature[t, node]
        thr = threshold[t, node]
        cx = _goes_left(x, f, thr, lc, rc, dflt[t, node])
        cr = _goes_left(r, f, thr, lc, rc, dflt[t, node])
        if cx == cr:
            top += 1
            st_node[top] = cx
            st_depth[top] = d + 1
            st_na[top] = n_a
            st_nb[top] = n_b
            st_feat[top] = -1
            st_kind[top] = 0
            continue
        s = state[f]
        if s != 2:  # x's branch: the feature must be in S
            top += 1
            st_node[top] = cx
            st_depth[top] = d + 1
            st_na[top] = n_a + (1 if s == 0 else 0)
            st_nb[top] = n_b
            st_feat[top] = f if s == 0 else -1
            st_kind[top] = 1 if s == 0 else 0
        if s != 1:  # r's branch: the feature must not be in S
            top += 1
            st_node[top] = cr
            st_depth[top] = d + 1
            st_na[top] = n_a
            st_nb[top] = n_b + (1 if s == 0 else 0)
            st_feat[top] = f if s == 0 else -1
            st_kind[top] = 2 if s == 0 else 0


@numba.njit(cache=True, nogil=True)
def _shap_rows(
    X: np.ndarray,
    R: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    dflt: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    value: np.ndarray,
    coef_a: np.ndarray,
    coef_b: np.ndarray,
    max_depth: int,
) -> np.ndarray:
    n, p = X.shape
    m = R.shape[0]
    n_trees = left.shape[0]
    phi = np.zeros((n, p))
    state = np.zeros(p, dtype=np.int8)
    size = 2 * (max_depth + 2)
    st_node = np.empty(size, dtype=np.int64)
    st_depth = np.empty(size, dtype=np.int64)
    st_na = np.empty(size, dtype=np.int64)
    st_nb = np.empty(size, dtype=np.int64)
    st_feat = np.empty(size, dtype=np.int64)
    st_kind = np.empty(size, dtype=np.int8)
    change_feat = np.full(max_depth + 2, -1, dtype=np.int64)
    change_kind = np.zeros(max_depth + 2, dtype=np.int8)
    acc = np.zeros(p)
    for i in range(n):
        acc[:] = 0.0
        for t in range(n_trees):
            for j in range(m):
                state[:] = 0
                _one_pair(
                    t, X[i], R[j], left, right, dflt, feature, threshold, value, coef_a, coef_b,
                    state, st_node, st_depth, st_na, st_nb, st_feat, st_kind, change_feat,
                    change_kind, acc,
                )
        for k in range(p):
            phi[i, k] = acc[k] / m
    return phi


def dfs_interventional(
    trees: Any, X: np.ndarray, R: np.ndarray, coef_a: np.ndarray, coef_b: np.ndarray
) -> np.ndarray:
    """Interventional SHAP values by a depth-first search per (row, background row, tree).

    Parameters
    ----------
    trees : mmrisk.explain._fastshap.TreeArrays
        The ensemble.
    X : numpy.ndarray of shape (n_samples, n_columns)
        Rows to explain (rounded as the trees expect).
    R : numpy.ndarray of shape (n_background, n_columns)
        Background rows.
    coef_a, coef_b : numpy.ndarray
        Shapley weights from :func:`mmrisk.explain._fastshap.shapley_coefficients`, of size at
        least ``max_depth + 2``.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_columns)
        SHAP values.
    """
    return _shap_rows(
        np.ascontiguousarray(X, dtype=np.float64),
        np.ascontiguousarray(R, dtype=np.float64),
        *trees.arrays(),
        coef_a,
        coef_b,
        trees.max_depth,
    )
