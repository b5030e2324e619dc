"""A small Cox proportional-hazards fitter, run for many bootstrap replicates at once.

Used by the calibration metrics only: a handful of covariates (cloglog of a predicted
probability and a spline term), frequency weights (bootstrap counts), Breslow's handling of
tied times and Breslow's baseline hazard. Frequency weights give exactly the fit on the
duplicated rows, because Breslow's partial likelihood treats tied copies like distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmrisk.evaluation._kernels import _cox_kernel

__all__: list[str] = []

_MAX_ITER = 60
_STEP_TOL = 1e-6
_MAX_HALVINGS = 30


@dataclass
class _CoxFit:
    """Fitted coefficients per replicate; NaN rows did not converge or had no events.

    The baseline hazard is stored for the linear predictor ``eta - shift`` (centred covariates,
    shifted by the replicate's largest eta) so that ``exp`` never overflows.
    """

    coef: np.ndarray  # (n_rep, p)
    mean: np.ndarray  # (n_rep, p) weighted covariate means used for centring
    shift: np.ndarray  # (n_rep,)
    time_sorted: np.ndarray  # (n,) decreasing
    hazard_jumps: np.ndarray  # (n_rep, n) Breslow jumps of the shifted baseline

    def event_probability(self, X: np.ndarray, t: float) -> np.ndarray:
        """Fitted P(T <= t | x) for covariates X of shape (n_rep, m, p); (n_rep, m)."""
        eta = np.einsum("bmp,bp->bm", X - self.mean[:, None, :], self.coef)
        cumhaz = self.hazard_jumps[:, self.time_sorted <= t].sum(axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            return -np.expm1(-cumhaz[:, None] * np.exp(eta - self.shift[:, None]))


def _fit_cox(
    time: np.ndarray,
    event: np.ndarray,
    X: np.ndarray,
    W: np.ndarray,
    init: np.ndarray | None = None,
) -> _CoxFit:
    """Maximise Breslow's partial likelihood for every replicate by damped Newton–Raphson.

    Parameters
    ----------
    time : ndarray of shape (n,)
    event : ndarray of bool, shape (n,)
    X : ndarray of shape (n_rep, n, p) or (n, p)
        Covariates; per replicate, because spline bases depend on the replicate's knots.
    W : ndarray of shape (n_rep, n)
        Frequency weights.
    init : ndarray of shape (p,), optional
        Starting coefficients (default 0).

    Returns
    -------
    _CoxFit
    """
    if X.ndim == 2:
        X = np.broadcast_to(X, (W.shape[0],) + X.shape)
    order = np.argsort(-time, kind="stable")
    t = time[order]
    start = np.zeros(X.shape[2]) if init is None else np.asarray(init, dtype=float)
    coef, mean, shift, jumps = _cox_kernel(
        np.ascontiguousarray(X[:, order, :], dtype=float),
        np.ascontiguousarray(W[:, order], dtype=float),
        np.ascontiguousarray(t),
        np.ascontiguousarray(event[order]),
        start,
        _MAX_ITER,
        _STEP_TOL,
        _MAX_HALVINGS,
    )
    return _CoxFit(coef=coef, mean=mean, shift=shift, time_sorted=t, hazard_jumps=jumps)
