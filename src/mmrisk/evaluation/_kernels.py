"""Compiled (numba) loops behind the bootstrap: one pass per replicate, data kept in cache.

Each kernel takes replicate weights ``W`` of shape (n_rep, n): how often each row is in each
bootstrap replicate (all ones for the point estimate). Rows come pre-sorted by the caller.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []


@njit(cache=True)
def _fenwick_add(tree, pos, value):
    while pos < tree.shape[0]:
        tree[pos] += value
        pos += pos & -pos


@njit(cache=True)
def _fenwick_prefix(tree, pos):
    total = 0.0
    while pos > 0:
        total += tree[pos]
        pos -= pos & -pos
    return total


@njit(cache=True)
def _group_end(time, i):
    j = i
    while j + 1 < time.shape[0] and time[j + 1] == time[i]:
        j += 1
    return j


@njit(cache=True)
def _concordance_kernel(time, event, rank, anchor, W, n_ranks):
    """Weighted concordant and comparable pair sums; rows sorted by decreasing time.

    Event row i is compared with every row of later time and with censored rows of the same
    time; ``rank`` is the 1-based dense rank of the risk score (ties share a rank).

    Returns
    -------
    num, den : ndarray of shape (n_rep,)
    """
    n_rep, n = W.shape
    num = np.zeros(n_rep)
    den = np.zeros(n_rep)
    tree = np.zeros(n_ranks + 1)
    for b in range(n_rep):
        tree[:] = 0.0
        total = 0.0
        i = 0
        while i < n:
            j = _group_end(time, i)
            for k in range(i, j + 1):
                if not event[k] and W[b, k] > 0:
                    _fenwick_add(tree, rank[k], W[b, k])
                    total += W[b, k]
            for k in range(i, j + 1):
                if event[k] and W[b, k] > 0 and anchor[k] > 0:
                    less = _fenwick_prefix(tree, rank[k] - 1)
                    upto = _fenwick_prefix(tree, rank[k])
                    wa = W[b, k] * anchor[k]
                    num[b] += wa * (less + 0.5 * (upto - less))
                    den[b] += wa * total
            for k in range(i, j + 1):
                if event[k] and W[b, k] > 0:
                    _fenwick_add(tree, rank[k], W[b, k])
                    total += W[b, k]
            i = j + 1
    return num, den


@njit(cache=True)
def _auc_kernel(rank, case_weight, is_control, W, n_ranks):
    """Weighted AUC of cases (``case_weight > 0``) against controls, per replicate."""
    n_rep, n = W.shape
    out = np.full(n_rep, np.nan)
    ctrl = np.zeros(n_ranks + 1)
    below = np.zeros(n_ranks + 1)
    for b in range(n_rep):
        ctrl[:] = 0.0
        n_ctrl = 0.0
        for k in range(n):
            if is_control[k]:
                ctrl[rank[k]] += W[b, k]
                n_ctrl += W[b, k]
        below[0] = 0.0
        for r in range(1, n_ranks + 1):
            below[r] = below[r - 1] + ctrl[r - 1]
        num = 0.0
        case_total = 0.0
        for k in range(n):
            if case_weight[k] > 0 and W[b, k] > 0:
                w = W[b, k] * case_weight[k]
                num += w * (below[rank[k]] + 0.5 * ctrl[rank[k]])
                case_total += w
        if case_total > 0 and n_ctrl > 0:
            out[b] = num / (case_total * n_ctrl)
    return out


@njit(cache=True)
def _linear_predictor(x, beta):
    """eta = x @ beta and its maximum (for an overflow-free exp)."""
    n, p = x.shape
    eta = np.zeros(n)
    shift = -np.inf
    for i in range(n):
        acc = 0.0
        for a in range(p):
            acc += x[i, a] * beta[a]
        eta[i] = acc
        shift = max(shift, acc)
    return eta, shift


@njit(cache=True, fastmath=True)
def _add_row(x_i, e, s1, s2):
    """Add one row's exp(eta)-weighted covariates and their products to the risk-set sums."""
    p = x_i.shape[0]
    for a in range(p):
        ea = e * x_i[a]
        s1[a] += ea
        for c in range(a, p):
            s2[a, c] += ea * x_i[c]


@njit(cache=True, fastmath=True)
def _add_events(g_w, g_x, s0, s1, s2, grad, info):
    """Add a tied-time group's events (total weight g_w, weighted covariates g_x)."""
    p = s1.shape[0]
    for a in range(p):
        grad[a] += g_x[a] - g_w * s1[a] / s0
        for c in range(a, p):
            info[a, c] += g_w * (s2[a, c] / s0 - s1[a] * s1[c] / (s0 * s0))


@njit(cache=True, fastmath=True)
def _cox_terms(x, w, event, last, beta, grad, info):
    """Breslow log partial likelihood, score and information; rows by decreasing time.

    ``x`` is centred, ``w`` > 0, ``last[i]`` marks the last row of a group of tied times.
    Fills ``grad`` and ``info`` in place and returns the log-likelihood.
    """
    n, p = x.shape
    eta, shift = _linear_predictor(x, beta)
    s0 = 0.0
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    g_w = 0.0
    g_x = np.zeros(p)
    g_eta = 0.0
    ll = 0.0
    grad[:] = 0.0
    info[:, :] = 0.0
    for i in range(n):
        e = w[i] * np.exp(eta[i] - shift)
        s0 += e
        _add_row(x[i], e, s1, s2)
        if event[i]:
            g_w += w[i]
            g_eta += w[i] * (eta[i] - shift)
            g_x += w[i] * x[i]
        if last[i] and g_w > 0:
            ll += g_eta - g_w * np.log(s0)
            _add_events(g_w, g_x, s0, s1, s2, grad, info)
            g_w = 0.0
            g_eta = 0.0
            g_x[:] = 0.0
    for a in range(p):
        for c in range(a):
            info[a, c] = info[c, a]
    return ll


@njit(cache=True)
def _breslow_jumps(x, w, event, last, beta):
    """Breslow hazard jumps at the last row of each tied-time group, for ``eta - shift``."""
    n = x.shape[0]
    eta = x @ beta
    shift = -np.inf
    for i in range(n):
        if w[i] > 0 and eta[i] > shift:
            shift = eta[i]
    jumps = np.zeros(n)
    s0 = 0.0
    g_w = 0.0
    for i in range(n):
        if w[i] > 0:
            s0 += w[i] * np.exp(eta[i] - shift)
            if event[i]:
                g_w += w[i]
        if last[i]:
            if g_w > 0:
                jumps[i] = g_w / s0
            g_w = 0.0
    return jumps, shift


@njit(cache=True)
def _solve(info, grad, free):
    """Solve info @ step = grad on the free coordinates (Gaussian elimination, p tiny)."""
    p = grad.shape[0]
    a = np.eye(p)
    rhs = np.zeros(p)
    for i in range(p):
        if free[i]:
            rhs[i] = grad[i]
            for j in range(p):
                if free[j]:
                    a[i, j] = info[i, j]
    for col in range(p):
        piv = a[col, col]
        if abs(piv) < 1e-300:
            return np.full(p, np.nan)
        for row in range(col + 1, p):
            f = a[row, col] / piv
            for k in range(col, p):
                a[row, k] -= f * a[col, k]
            rhs[row] -= f * rhs[col]
    step = np.zeros(p)
    for row in range(p - 1, -1, -1):
        acc = rhs[row]
        for k in range(row + 1, p):
            acc -= a[row, k] * step[k]
        step[row] = acc / a[row, row]
    return step


@njit(cache=True)
def _cox_newton(x, w, event, last, beta, free, max_iter, step_tol, max_halvings):
    """Damped Newton–Raphson for one replicate; returns (beta, converged)."""
    p = beta.shape[0]
    grad = np.zeros(p)
    info = np.zeros((p, p))
    g_new = np.zeros(p)
    i_new = np.zeros((p, p))
    ll = _cox_terms(x, w, event, last, beta, grad, info)
    for _ in range(max_iter):
        step = _solve(info, grad, free)
        if not np.all(np.isfinite(step)):
            return beta, False
        new = beta + step
        ll_new = _cox_terms(x, w, event, last, new, g_new, i_new)
        halvings = 0
        while not (ll_new >= ll - 1e-10 * (1.0 + abs(ll))) and halvings < max_halvings:
            step = step / 2.0
            new = beta + step
            ll_new = _cox_terms(x, w, event, last, new, g_new, i_new)
            halvings += 1
        beta = new
        ll = ll_new
        grad[:] = g_new
        info[:, :] = i_new
        if np.max(np.abs(step)) < step_tol:
            return beta, True
    return beta, False


@njit(cache=True)
def _cox_kernel(X, W, time, event, init, max_iter, step_tol, max_halvings):
    """Fit a Cox model per replicate on covariates X (n_rep, n, p), rows by decreasing time.

    Rows a replicate does not contain (weight 0) are dropped before its Newton iterations.

    Returns
    -------
    coef : (n_rep, p), NaN where not converged or without events
    mean : (n_rep, p) weighted means used to centre X
    shift : (n_rep,) largest centred eta (the baseline is for ``eta - shift``)
    jumps : (n_rep, n) Breslow hazard jumps
    """
    n_rep, n, p = X.shape
    coef = np.full((n_rep, p), np.nan)
    mean = np.zeros((n_rep, p))
    shift = np.zeros(n_rep)
    jumps = np.full((n_rep, n), np.nan)
    for b in range(n_rep):
        keep = np.flatnonzero(W[b] > 0)
        m = keep.shape[0]
        w = W[b][keep]
        ev = event[keep]
        t = time[keep]
        total = w.sum()
        if m == 0 or not np.any(ev):
            continue
        last = np.ones(m, dtype=np.bool_)
        for i in range(m - 1):
            last[i] = t[i + 1] != t[i]
        xc = np.empty((m, p))
        free = np.ones(p, dtype=np.bool_)
        for a in range(p):
            col = X[b, :, a][keep]
            mean[b, a] = (w * col).sum() / total
            xc[:, a] = col - mean[b, a]
            var = (w * xc[:, a] ** 2).sum() / total
            if var <= 1e-12 * max(abs(mean[b, a]), 1.0) ** 2:
                free[a] = False
                xc[:, a] = 0.0
        beta = np.where(free, init, 0.0)
        beta, ok = _cox_newton(xc, w, ev, last, beta, free, max_iter, step_tol, max_halvings)
        if ok and np.all(np.abs(beta) < 1e4):
            coef[b] = beta
            jumps[b] = 0.0
            jumps_kept, shift[b] = _breslow_jumps(xc, w, ev, last, beta)
            jumps[b][keep] = jumps_kept
    return coef, mean, shift, jumps
