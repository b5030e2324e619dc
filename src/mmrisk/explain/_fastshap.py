"""Exact TreeSHAP kernels (numba, float64) on trees in shap's dict format.

Path-dependent
--------------
For a leaf ``l`` with value ``v_l``, let ``F_l`` be the features split on along its path and,
for each ``j`` in ``F_l``, ``z_j`` the product of the cover ratios of ``j``'s splits on the path
and ``o_j`` in {0, 1} whether ``x`` passes all of them. The path-dependent value of a coalition
``S`` is ``sum_l v_l prod_{j in F_l} (o_j if j in S else z_j)``, a sum of product games whose
Shapley values have the closed form (the Beta integral of the Shapley weights)

    phi_i = sum_{l : i in F_l} v_l (o_i - z_i)
            * int_0^1 prod_{j in F_l, j != i} (z_j + (o_j - z_j) t) dt.

The integrand is a polynomial of degree below the number of distinct features on a path, so
Gauss-Legendre quadrature with ``Q = D // 2 + 1`` nodes is exact. Products are built top-down
(one factor per edge), summed bottom-up, and each edge into a split on feature ``i`` takes the
leaves below it that have no deeper split on ``i``: ``O(n_nodes * Q)`` per tree and row instead
of shap's ``O(n_leaves * D**2)``. (The same idea as Linear TreeShap, Yu et al., NeurIPS 2022.)

Interventional
--------------
For ``x`` and a background row ``r``, a leaf is reached by the hybrid point ``(x_S, r_notS)``
iff every path feature passed by ``x`` only (set ``A``) is in ``S``, every one passed by ``r``
only (set ``B``) is not, and none is passed by neither. Its game ``1[A ⊆ S, S ∩ B = ∅]`` has
Shapley values ``(|A|-1)! |B|! / (|A|+|B|)!`` on ``A`` and ``-|A|! (|B|-1)! / (|A|+|B|)!`` on
``B``. With ``O`` the path features ``x`` passes, reachability needs ``r`` to pass every split
of the features in ``F_l \\ O`` (then ``B = F_l \\ O`` and ``A = O`` minus the features ``r``
passes). For each tree and row, a depth-first search carries the background rows that can
still reach the current node (filtered only at edges on features ``x`` has failed), so
subtrees no background row can reach are skipped; at a leaf, ``A`` comes from bit masks of
the features each background row passes, built once per tree. Paths with more than 62
distinct features use a plain depth-first search per (x, r) pair instead (Lundberg et al.,
2020, Methods, "Interventional Tree SHAP").
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = ["TreeArrays", "path_dependent_shap", "interventional_shap"]

_MAX_BITS = 62
# Index of the lowest set bit of a 64-bit word: de Bruijn multiplication and lookup.
_DEBRUIJN_MUL = np.int64(0x03F79D71B4CB0A89)
_DEBRUIJN = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _DEBRUIJN[(((1 << _i) * 0x03F79D71B4CB0A89) % 2**64) >> 58] = _i


class TreeArrays:
    """Trees of shap's dict format packed into padded 2-d arrays (one row per tree).

    Parameters
    ----------
    model : dict
        ``{"trees": [...], "base_offset": float}`` (:func:`mmrisk.explain.shap_tree_model`).
    output_index : int, default=0
        Which column of the trees' ``values`` to use.
    """

    def __init__(self, model: dict[str, Any], output_index: int = 0) -> None:
        trees = model["trees"]
        width = max(len(t["children_left"]) for t in trees)
        shape = (len(trees), width)
        self.left = np.full(shape, -1, dtype=np.int64)
        self.right = np.full(shape, -1, dtype=np.int64)
        self.default = np.full(shape, -1, dtype=np.int64)
        self.feature = np.zeros(shape, dtype=np.int64)
        self.threshold = np.zeros(shape, dtype=np.float64)
        self.value = np.zeros(shape, dtype=np.float64)
        self.cover = np.zeros(shape, dtype=np.float64)
        self.size = np.zeros(len(trees), dtype=np.int64)
        for k, t in enumerate(trees):
            n = len(t["children_left"])
            self.size[k] = n
            self.left[k, :n] = t["children_left"]
            self.right[k, :n] = t["children_right"]
            self.default[k, :n] = t["children_default"]
            self.feature[k, :n] = np.maximum(t["features"], 0)
            self.threshold[k, :n] = t["thresholds"]
            self.value[k, :n] = np.asarray(t["values"], dtype=float).reshape(n, -1)[
                :, output_index
            ]
            self.cover[k, :n] = t["node_sample_weight"]
        internal = self.left >= 0
        rows = np.broadcast_to(np.arange(width), shape)
        if np.any(internal & ((self.left <= rows) | (self.right <= rows))):
            raise ValueError(
                "trees must number every node before its children (as scikit-learn does)."
            )
        self.offset = float(np.ravel(model.get("base_offset", 0.0))[0])
        self.max_depth = int(_max_depth(self.left, self.right, self.size))
        self.max_unique = int(_max_unique(self.left, self.right, self.feature, self.size))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(left, right, default, feature, threshold, value) as passed to the kernels."""
        return (self.left, self.right, self.default, self.feature, self.threshold, self.value)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Sum of the trees' leaf values (plus the offset) for rows ``X``.

        Parameters
        ----------
        X : numpy.ndarray of shape (n_samples, n_columns)
            Rows, already rounded as the trees expect.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Outputs.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        return _predict(X, *self.arrays()) + self.offset

    def expected_value(self) -> float:
        """Cover-weighted mean output: the base value of path-dependent TreeSHAP."""
        return _expected(self.left, self.value, self.cover, self.size) + self.offset


@numba.njit(cache=True, nogil=True)
def _expected(left: np.ndarray, value: np.ndarray, cover: np.ndarray, size: np.ndarray) -> float:
    total = 0.0
    for t in range(left.shape[0]):
        root = cover[t, 0]
        for c in range(size[t]):
            if left[t, c] < 0:
                total += value[t, c] * cover[t, c] / root
    return total


@numba.njit(cache=True, nogil=True)
def _parents(left: np.ndarray, right: np.ndarray, t: int, n: int) -> np.ndarray:
    parent = np.full(n, -1, dtype=np.int64)
    for c in range(n):
        if left[t, c] >= 0:
            parent[left[t, c]] = c
            parent[right[t, c]] = c
    return parent


@numba.njit(cache=True, nogil=True)
def _max_depth(left: np.ndarray, right: np.ndarray, size: np.ndarray) -> int:
    best = 0
    for t in range(left.shape[0]):
        n = size[t]
        depth = np.zeros(n, dtype=np.int64)
        for c in range(n):  # children come after their parent in scikit-learn trees
            if left[t, c] >= 0:
                depth[left[t, c]] = depth[c] + 1
                depth[right[t, c]] = depth[c] + 1
                best = max(best, depth[c] + 1)
    return best


@numba.njit(cache=True, nogil=True)
def _prev_edges(
    left: np.ndarray, right: np.ndarray, feature: np.ndarray, t: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node: parent, the nearest ancestor edge on the same feature, distinct features."""
    parent = _parents(left, right, t, n)
    prev = np.full(n, -1, dtype=np.int64)
    unique = np.zeros(n, dtype=np.int64)
    for c in range(1, n):
        p = parent[c]
        f = feature[t, p]
        a = p
        while a > 0:
            if feature[t, parent[a]] == f:
                prev[c] = a
                break
            a = parent[a]
        unique[c] = unique[p] + (1 if prev[c] < 0 else 0)
    return parent, prev, unique


@numba.njit(cache=True, nogil=True)
def _max_unique(left: np.ndarray, right: np.ndarray, feature: np.ndarray, size: np.ndarray) -> int:
    best = 0
    for t in range(left.shape[0]):
        _, _, unique = _prev_edges(left, right, feature, t, size[t])
        if size[t] > 0:
            best = max(best, unique.max())
    return best


@numba.njit(cache=True, nogil=True)
def _child(row: np.ndarray, t: int, node: int, left: np.ndarray, right: np.ndarray,
           default: np.ndarray, feature: np.ndarray, threshold: np.ndarray) -> int:
    v = row[feature[t, node]]
    if np.isnan(v):
        return default[t, node]
    return left[t, node] if v <= threshold[t, node] else right[t, node]


@numba.njit(cache=True, nogil=True)
def _predict(X: np.ndarray, left: np.ndarray, right: np.ndarray, default: np.ndarray,
             feature: np.ndarray, threshold: np.ndarray, value: np.ndarray) -> np.ndarray:
    out = np.zeros(X.shape[0])
    for i in range(X.shape[0]):
        s = 0.0
        x = X[i]
        for t in range(left.shape[0]):
            node = 0
            while left[t, node] >= 0:
                node = _child(x, t, node, left, right, default, feature, threshold)
            s += value[t, node]
        out[i] = s
    return out


@numba.njit(cache=True, nogil=True)
def _factor_tables(
    t: int, n: int, parent: np.ndarray, prev: np.ndarray, cover: np.ndarray,
    nodes_t: np.ndarray, weights_t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per edge c and quadrature node k, for ``o`` = 0 and 1 (x-independent).

    ``ratio[o, c, k]``: factor of c's feature after the edge over the factor before it;
    ``wdiv[o, c, k]``: quadrature weight over the factor after the edge; ``zed[c]``: the
    feature's cover fraction after the edge.
    """
    q = nodes_t.shape[0]
    zed = np.ones(n)
    ratio = np.ones((4, n, q))  # index: 2 * o_before + o_after
    wdiv = np.zeros((2, n, q))
    for c in range(1, n):
        zed[c] = cover[t, c] / cover[t, parent[c]]
        pe = prev[c]
        if pe >= 0:
            zed[c] *= zed[pe]
        for k in range(q):
            tk = nodes_t[k]
            f0 = zed[c] * (1.0 - tk)
            f1 = f0 + tk
            wdiv[0, c, k] = weights_t[k] / f0
            wdiv[1, c, k] = weights_t[k] / f1
            if pe >= 0:
                g0 = zed[pe] * (1.0 - tk)
                g1 = g0 + tk
                ratio[0, c, k] = f0 / g0
                ratio[2, c, k] = f0 / g1
                ratio[3, c, k] = f1 / g1
                ratio[1, c, k] = f1 / g0  # unreachable (x cannot pass c without pe)
            else:
                ratio[2, c, k] = f0
                ratio[3, c, k] = f1
    return ratio, wdiv, zed


@numba.njit(cache=True, nogil=True)
def _path_dependent(  # noqa: C901 - two passes over one tree, kept together for speed
    X: np.ndarray, left: np.ndarray, right: np.ndarray, default: np.ndarray,
    feature: np.ndarray, threshold: np.ndarray, value: np.ndarray, cover: np.ndarray,
    size: np.ndarray, nodes_t: np.ndarray, weights_t: np.ndarray,
) -> np.ndarray:
    n_rows, p = X.shape
    width = left.shape[1]
    qmax = nodes_t.shape[1]
    phi = np.zeros((n_rows, p))
    prod = np.empty((width, qmax))
    summ = np.empty((width, qmax))
    sub = np.empty((width, qmax))
    one = np.empty(width, dtype=np.int64)
    for t in range(left.shape[0]):
        n = size[t]
        parent, prev, unique = _prev_edges(left, right, feature, t, n)
        q = unique.max() // 2 + 1  # exact for this tree's polynomials
        ratio, wdiv, zed = _factor_tables(
            t, n, parent, prev, cover, nodes_t[q - 1, :q], weights_t[q - 1, :q]
        )
        for i in range(n_rows):
            x = X[i]
            for k in range(q):
                prod[0, k] = 1.0
                sub[0, k] = 0.0
            one[0] = 1
            for c in range(n):  # top-down: product of the path's factors at each child
                a = left[t, c]
                if a < 0:
                    continue
                b = right[t, c]
                go = _child(x, t, c, left, right, default, feature, threshold)
                pe = prev[a]  # both children share the previous split on this feature
                before = one[pe] if pe >= 0 else 1
                after_a = before if go == a else 0
                after_b = before if go == b else 0
                one[a] = after_a
                one[b] = after_b
                ra = 2 * before + after_a
                rb = 2 * before + after_b
                for k in range(q):
                    pk = prod[c, k]
                    prod[a, k] = pk * ratio[ra, a, k]
                    prod[b, k] = pk * ratio[rb, b, k]
                    sub[a, k] = 0.0
                    sub[b, k] = 0.0
            for c in range(n - 1, 0, -1):  # bottom-up: sums, then each edge's contribution
                a = left[t, c]
                if a < 0:
                    v = value[t, c]
                    for k in range(q):
                        summ[c, k] = v * prod[c, k]
                else:
                    b = right[t, c]
                    for k in range(q):
                        summ[c, k] = summ[a, k] + summ[b, k]
                o = one[c]
                acc = 0.0
                for k in range(q):
                    acc += (summ[c, k] - sub[c, k]) * wdiv[o, c, k]
                phi[i, feature[t, parent[c]]] += (o - zed[c]) * acc
                pe = prev[c]
                if pe >= 0:
                    for k in range(q):
                        sub[pe, k] += summ[c, k]
    return phi


def _quadratures(qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] for 1..qmax points (row q-1, padded)."""
    nodes = np.zeros((qmax, qmax))
    weights = np.zeros((qmax, qmax))
    for q in range(1, qmax + 1):
        x, w = np.polynomial.legendre.leggauss(q)
        nodes[q - 1, :q] = (x + 1.0) / 2.0
        weights[q - 1, :q] = w / 2.0
    return nodes, weights


def path_dependent_shap(trees: TreeArrays, X: np.ndarray) -> tuple[np.ndarray, float]:
    """Path-dependent TreeSHAP values (exact, float64).

    Parameters
    ----------
    trees : TreeArrays
        The ensemble.
    X : numpy.ndarray of shape (n_samples, n_columns)
        Rows, already rounded as the trees expect.

    Returns
    -------
    phi : numpy.ndarray of shape (n_samples, n_columns)
        SHAP values.
    base_value : float
        Cover-weighted expected output.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    nodes_t, weights_t = _quadratures(trees.max_unique // 2 + 1)
    phi = _path_dependent(
        X, *trees.arrays(), trees.cover, trees.size, nodes_t, weights_t
    )
    return phi, trees.expected_value()


@numba.njit(cache=True, nogil=True)
def _leaf_conditions(
    left: np.ndarray, right: np.ndarray, default: np.ndarray, feature: np.ndarray,
    threshold: np.ndarray, t: int, n: int, width: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per node: the path's distinct features as slots with an interval and a NaN flag.

    Also the slot of the feature split on by each node's incoming edge (``edge_slot``).
    """
    parent, prev, unique = _prev_edges(left, right, feature, t, n)
    edge_slot = np.zeros(n, dtype=np.int64)
    slot_feat = np.full((n, width), -1, dtype=np.int64)
    lo = np.full((n, width), -np.inf)
    hi = np.full((n, width), np.inf)
    nan_ok = np.ones((n, width), dtype=np.bool_)
    for c in range(1, n):
        pa = parent[c]
        for s in range(unique[pa]):
            slot_feat[c, s] = slot_feat[pa, s]
            lo[c, s] = lo[pa, s]
            hi[c, s] = hi[pa, s]
            nan_ok[c, s] = nan_ok[pa, s]
        f = feature[t, pa]
        s = unique[pa]
        for j in range(unique[pa]):
            if slot_feat[c, j] == f:
                s = j
                break
        slot_feat[c, s] = f
        edge_slot[c] = s
        thr = threshold[t, pa]
        if c == left[t, pa]:
            hi[c, s] = min(hi[c, s], thr)
        else:
            lo[c, s] = max(lo[c, s], thr)
        if default[t, pa] != c:
            nan_ok[c, s] = False
    return slot_feat, lo, hi, nan_ok, unique, edge_slot


@numba.njit(cache=True, nogil=True)
def _popcount(m: np.int64) -> int:
    m = m - ((m >> 1) & 0x5555555555555555)
    m = (m & 0x3333333333333333) + ((m >> 2) & 0x3333333333333333)
    m = (m + (m >> 4)) & 0x0F0F0F0F0F0F0F0F
    return int((m * 0x0101010101010101) >> 56) & 0xFF


@numba.njit(cache=True, nogil=True)
def _passes(R: np.ndarray, r: int, f: int, lo: float, hi: float, nan_ok: bool) -> bool:
    v = R[r, f]
    if np.isnan(v):
        return nan_ok
    return v > lo and v <= hi


@numba.njit(cache=True, nogil=True)
def _leaf_update_masks(
    phi: np.ndarray, i: int, cand: np.ndarray, level: int, n_cand: int, bg: np.ndarray,
    o_mask: np.int64, ob_mask: np.int64, d: int, slot_feat: np.ndarray, node: int,
    scale: float, coef_a: np.ndarray, coef_b: np.ndarray, acc_a: np.ndarray,
) -> None:
    """Add one leaf's Shapley values for all background rows that reach it (no array views)."""
    n_b = _popcount(ob_mask)
    b_sum = 0.0
    for s in range(d):
        acc_a[s] = 0.0
    for j in range(n_cand):
        a_set = o_mask & ~bg[node, cand[level, j]]
        n_a = _popcount(a_set)
        if n_a + n_b == 0:
            continue
        if n_b > 0:
            b_sum += coef_b[n_a, n_b]
        if n_a > 0:
            w = coef_a[n_a, n_b]
            while a_set:
                low = a_set & -a_set
                acc_a[_DEBRUIJN[((low * _DEBRUIJN_MUL) >> 58) & 63]] += w
                a_set ^= low
    for s in range(d):
        f = slot_feat[node, s]
        if o_mask & (np.int64(1) << s):
            phi[i, f] += scale * acc_a[s]
        else:
            phi[i, f] -= scale * b_sum


@numba.njit(cache=True, nogil=True)
def _interventional(  # noqa: C901 - one depth-first search per tree and row
    X: np.ndarray, R: np.ndarray, left: np.ndarray, right: np.ndarray, default: np.ndarray,
    feature: np.ndarray, threshold: np.ndarray, value: np.ndarray, size: np.ndarray,
    coef_a: np.ndarray, coef_b: np.ndarray, max_unique: int, max_depth: int,
) -> np.ndarray:
    n_rows, p = X.shape
    m = R.shape[0]
    phi = np.zeros((n_rows, p))
    width = max_unique + 1
    levels = max_depth + 2
    cand = np.empty((levels, m), dtype=np.int64)
    n_cand = np.zeros(levels, dtype=np.int64)
    st_node = np.empty(2 * levels, dtype=np.int64)
    st_depth = np.empty(2 * levels, dtype=np.int64)
    st_o = np.empty(2 * levels, dtype=np.int64)
    st_ob = np.empty(2 * levels, dtype=np.int64)
    st_mode = np.empty(2 * levels, dtype=np.int64)
    st_src = np.empty(2 * levels, dtype=np.int64)
    acc_a = np.empty(width)
    for t in range(left.shape[0]):
        n = size[t]
        slot_feat, lo, hi, nan_ok, unique, edge_slot = _leaf_conditions(
            left, right, default, feature, threshold, t, n, width
        )
        # For every node and background row: which of the path's features the row passes
        # (every split of it so far), built top-down from the parent's mask.
        parent = _parents(left, right, t, n)
        bg = np.zeros((n, m), dtype=np.int64)
        for c in range(1, n):
            pa = parent[c]
            bit = np.int64(1) << edge_slot[c]
            keep = ~bit if unique[c] > unique[pa] else np.int64(-1)
            f = feature[t, pa]
            thr = threshold[t, pa]
            is_left = c == left[t, pa]
            nan_here = c == default[t, pa]
            for j in range(m):
                prior = bg[pa, j] | ~keep  # a new slot starts as passed
                v = R[j, f]
                went = nan_here if np.isnan(v) else ((v <= thr) == is_left)
                bg[c, j] = (prior & ~bit) | (bit if (went and (prior & bit) != 0) else 0)
        for i in range(n_rows):
            x = X[i]
            for j in range(m):
                cand[0, j] = j
            n_cand[0] = m
            top = 0
            st_node[0] = 0
            st_depth[0] = 0
            st_o[0] = 0
            st_ob[0] = 0
            st_mode[0] = 0
            st_src[0] = 0
            while top >= 0:
                c = st_node[top]
                d = st_depth[top]
                o_mask = st_o[top]
                ob_mask = st_ob[top]
                mode = st_mode[top]
                level = st_src[top]  # the parent's candidate list
                top -= 1
                if mode != 0:  # this edge must be passed: filter into this depth's list
                    s = edge_slot[c]
                    f = slot_feat[c, s]
                    lo_c = lo[c, s]
                    hi_c = hi[c, s]
                    nan_c = nan_ok[c, s]
                    k = 0
                    for j in range(n_cand[level]):
                        r = cand[level, j]
                        if _passes(R, r, f, lo_c, hi_c, nan_c):
                            cand[d, k] = r
                            k += 1
                    n_cand[d] = k
                    level = d
                    if k == 0:
                        continue
                a = left[t, c]
                if a < 0:
                    _leaf_update_masks(
                        phi, i, cand, level, n_cand[level], bg, o_mask, ob_mask, unique[c],
                        slot_feat, c, value[t, c] / m, coef_a, coef_b, acc_a,
                    )
                    continue
                go = _child(x, t, c, left, right, default, feature, threshold)
                for ch in (left[t, c], right[t, c]):
                    s = edge_slot[ch]
                    bit = np.int64(1) << s
                    is_new = unique[ch] > unique[c]
                    x_pass = ch == go
                    was_out = (not is_new) and (ob_mask & bit) != 0
                    if was_out:
                        new_o, new_ob, md = o_mask, ob_mask, 1
                    elif x_pass:
                        new_o, new_ob, md = o_mask | bit, ob_mask, 0
                    else:
                        new_o, new_ob, md = o_mask & ~bit, ob_mask | bit, 2
                    top += 1
                    st_node[top] = ch
                    st_depth[top] = d + 1
                    st_o[top] = new_o
                    st_ob[top] = new_ob
                    st_mode[top] = md
                    st_src[top] = level
    return phi


def shapley_coefficients(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a-1)! b! / (a+b)!`` and ``a! (b-1)! / (a+b)!`` for ``a, b < size``.

    Parameters
    ----------
    size : int
        Table size.

    Returns
    -------
    coef_a, coef_b : numpy.ndarray of shape (size, size)
        The Shapley weights of the "all of A in, none of B in" game (0 where undefined).
    """
    coef_a = np.zeros((size, size))
    coef_b = np.zeros((size, size))
    for a in range(size):
        for b in range(size):
            if a + b == 0:
                continue
            total = math.lgamma(a + b + 1)
            if a > 0:
                coef_a[a, b] = math.exp(math.lgamma(a) + math.lgamma(b + 1) - total)
            if b > 0:
                coef_b[a, b] = math.exp(math.lgamma(a + 1) + math.lgamma(b) - total)
    return coef_a, coef_b


def interventional_shap(
    trees: TreeArrays, X: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, float]:
    """Interventional TreeSHAP values (exact, float64).

    Parameters
    ----------
    trees : TreeArrays
        The ensemble.
    X : numpy.ndarray of shape (n_samples, n_columns)
        Rows, already rounded as the trees expect.
    background : numpy.ndarray of shape (n_background, n_columns)
        Background rows, rounded likewise.

    Returns
    -------
    phi : numpy.ndarray of shape (n_samples, n_columns)
        SHAP values.
    base_value : float
        Mean output over the background.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    R = np.ascontiguousarray(background, dtype=np.float64)
    base = float(trees.predict(R).mean())
    coef_a, coef_b = shapley_coefficients(max(trees.max_unique, trees.max_depth) + 2)
    if trees.max_unique > _MAX_BITS:
        from mmrisk.explain._interventional import dfs_interventional

        return dfs_interventional(trees, X, R, coef_a, coef_b), base
    phi = _interventional(
        X, R, *trees.arrays(), trees.size, coef_a, coef_b, trees.max_unique, trees.max_depth
    )
    return phi, base
