"""Every metric as a function of replicate weights, so that one code path gives the point
estimate (weights all one) and all bootstrap replicates (multinomial counts) at once.

Each ``_batch_*`` function takes a prepared :class:`_EvalData` and weights ``W`` of shape
(n_rep, n_test) and returns one value per replicate (and per horizon). The censoring
distribution for the inverse-probability weights is estimated once from the training outcome
and held fixed across replicates; the test patients are what is resampled.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from mmrisk.evaluation._checks import (
    _check_horizons,
    _check_matrix,
    _check_outcome,
    _check_times,
    _check_vector,
    _horizon_labels,
)
from mmrisk.evaluation._cox import _fit_cox
from mmrisk.evaluation._ipcw import _CensoringKM
from mmrisk.evaluation._oe import _batch_oe
from mmrisk.evaluation._pairs import _auc_batch, _concordance_batch
from mmrisk.exceptions import EvaluationWarning, MetricInputError

__all__: list[str] = []

_PROB_EPS = 1e-6
_N_DCAL_BINS = 10
_KNOT_QUANTILES = (0.10, 0.50, 0.90)


@dataclass
class _EvalData:
    """Validated inputs of the metrics on one test set."""

    event: np.ndarray
    time: np.ndarray
    cens: _CensoringKM
    risk: np.ndarray | None = None
    horizons: np.ndarray | None = None
    surv_h: np.ndarray | None = None
    surv_own: np.ndarray | None = None
    ibs_times: np.ndarray | None = None
    surv_ibs: np.ndarray | None = None


def _warn(message: str) -> None:
    warnings.warn(message, EvaluationWarning, stacklevel=4)


# ----------------------------------------------------------------------------- validity


def _valid_times(d: _EvalData, times: np.ndarray) -> np.ndarray:
    """Times at which IPCW estimates exist: inside the test follow-up and with G(t) > 0."""
    return (times > 0) & (times < d.time.max()) & (d.cens(times) > 0)


def _describe_invalid(d: _EvalData, times: np.ndarray, valid: np.ndarray, what: str) -> str:
    bad = times[~valid].tolist()
    return (
        f"{what}: time(s) {bad} lie outside the range where inverse-probability-of-censoring "
        f"weights exist (test follow-up ends at {d.time.max():.4g}; the censoring survival of "
        f"the training outcome must be > 0); reported as NaN there."
    )


def _check_horizon_validity(d: _EvalData, times: np.ndarray, what: str) -> np.ndarray:
    valid = _valid_times(d, times)
    if not valid.all():
        _warn(_describe_invalid(d, times, valid, what))
    return valid


# ----------------------------------------------------------------------------- preparation


def _prepare(
    survival_train,
    survival_test,
    *,
    risk=None,
    horizons=None,
    surv_h=None,
    surv_own=None,
    ibs_times=None,
    surv_ibs=None,
    whole_months: bool = True,
) -> _EvalData:
    """Validate inputs and bundle them with the censoring estimate of the training outcome."""
    event, time = _check_outcome(survival_test, "survival_test")
    n = time.shape[0]
    if n < 2:
        raise MetricInputError(f"survival_test needs at least 2 samples; got {n}.")
    if survival_train is None:
        cens = _CensoringKM(event, time)
    else:
        cens = _CensoringKM(*_check_outcome(survival_train, "survival_train"))
    d = _EvalData(event=event, time=time, cens=cens)
    if risk is not None:
        d.risk = _check_vector(risk, n, "risk estimate")
    if horizons is not None:
        d.horizons = _check_horizons(horizons) if whole_months else _check_times(horizons)
    if surv_h is not None:
        d.surv_h = _check_matrix(surv_h, n, d.horizons.size, "survival at horizons")
    if surv_own is not None:
        d.surv_own = _check_vector(surv_own, n, "survival at own time")
        if np.any(d.surv_own < 0) or np.any(d.surv_own > 1):
            raise MetricInputError("survival at own time must lie in [0, 1].")
    if ibs_times is not None:
        d.ibs_times = _check_times(ibs_times, "ibs_times")
        d.surv_ibs = _check_matrix(surv_ibs, n, d.ibs_times.size, "survival at ibs_times")
    return d


# ----------------------------------------------------------------------------- concordance


def _batch_harrell(d: _EvalData, W: np.ndarray) -> np.ndarray:
    return _concordance_batch(d.event, d.time, d.risk, np.ones_like(d.time), W)


def _uno_anchor_weights(d: _EvalData, tau: float | None, warn: bool) -> np.ndarray:
    g = d.cens(d.time)
    use = d.event if tau is None else d.event & (d.time < tau)
    zero = use & (g <= 0)
    if zero.any() and warn:
        _warn(
            f"Uno's C: {int(zero.sum())} event(s) at or after the time where the censoring "
            "survival of the training outcome drops to 0 have no finite weight; they are left "
            "out as anchors of comparable pairs."
        )
    with np.errstate(divide="ignore"):
        return np.where(use & (g > 0), 1.0 / np.square(np.where(g > 0, g, 1.0)), 0.0)


def _batch_uno(d: _EvalData, W: np.ndarray, anchor_weights: np.ndarray) -> np.ndarray:
    return _concordance_batch(d.event, d.time, d.risk, anchor_weights, W)


# ----------------------------------------------------------------------------- AUC, Brier


def _batch_auc(
    d: _EvalData, W: np.ndarray, valid: np.ndarray, estimate: np.ndarray | None = None
) -> np.ndarray:
    """Cumulative/dynamic AUC at each horizon: (n_rep, n_horizons)."""
    out = np.full((W.shape[0], d.horizons.size), np.nan)
    g = d.cens(d.time)
    for k, h in enumerate(d.horizons):
        if not valid[k]:
            continue
        case = d.event & (d.time <= h)
        control = d.time > h
        weight = np.where(case, 1.0 / np.where(g > 0, g, 1.0), 0.0)
        score = d.risk if estimate is None else estimate[:, k]
        out[:, k] = _auc_batch(case, control, weight, score, W)
    return out


def _batch_brier(
    d: _EvalData, W: np.ndarray, times: np.ndarray, surv: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    """IPCW Brier score (Graf et al. 1999) at each time: (n_rep, n_times)."""
    g_own = d.cens(d.time)
    g_t = d.cens(times)
    case = d.event[:, None] & (d.time[:, None] <= times[None, :])
    control = d.time[:, None] > times[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.where(case, surv**2 / np.where(g_own > 0, g_own, 1.0)[:, None], 0.0)
        loss = loss + np.where(control, (1.0 - surv) ** 2 / np.where(g_t > 0, g_t, 1.0), 0.0)
    out = (W @ loss) / W.sum(axis=1, keepdims=True)
    out[:, ~valid] = np.nan
    return out


def _batch_ibs(d: _EvalData, W: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Integrated Brier score: trapezoid over the valid leading part of the time grid."""
    times, surv = (d.ibs_times, d.surv_ibs) if d.ibs_times is not None else (d.horizons, d.surv_h)
    n_valid = int(np.argmin(valid)) if not valid.all() else valid.size
    if n_valid < 2:
        return np.full(W.shape[0], np.nan)
    t = times[:n_valid]
    brier = _batch_brier(d, W, t, surv[:, :n_valid], np.ones(n_valid, dtype=bool))
    return np.trapezoid(brier, t, axis=1) / (t[-1] - t[0])


# ----------------------------------------------------------------------------- calibration


def _weighted_quantile(values: np.ndarray, W: np.ndarray, qs) -> np.ndarray:
    """Quantiles of each row's expanded sample (rows repeated W times), numpy's 'linear' rule.

    Returns an array of shape (n_rep, len(qs)); NaN where a row holds NaN or has no weight.
    """
    values = np.broadcast_to(values, W.shape)
    order = np.argsort(values, axis=1, kind="stable")
    v = np.take_along_axis(values, order, axis=1)
    cw = np.cumsum(np.take_along_axis(W, order, axis=1), axis=1)
    total = cw[:, -1]
    out = np.empty((W.shape[0], len(qs)))
    last = W.shape[1] - 1
    for k, q in enumerate(qs):
        pos = q * np.maximum(total - 1, 0)
        lo = np.floor(pos)
        j_lo = np.minimum((cw <= lo[:, None]).sum(axis=1), last)
        j_hi = np.minimum((cw <= (lo + 1)[:, None]).sum(axis=1), last)
        j_hi = np.where(lo + 1 > total - 1, j_lo, j_hi)
        v_lo = np.take_along_axis(v, j_lo[:, None], axis=1)[:, 0]
        v_hi = np.take_along_axis(v, j_hi[:, None], axis=1)[:, 0]
        out[:, k] = v_lo + (pos - lo) * (v_hi - v_lo)
    bad = (total <= 0) | np.any(np.isnan(values) & (W > 0), axis=1)
    out[bad] = np.nan
    return out


def _cloglog(surv: np.ndarray) -> np.ndarray:
    """Complementary log-log of the event probability, log(-log S), from the survival S.

    Event probabilities below 1e-6 are raised to 1e-6 (a probability of exactly 0 would give
    -inf); near 1 only S = 0 itself is avoided, because log(-log S) grows slowly.
    """
    return np.log(-np.log(np.clip(surv, 1e-300, 1.0 - _PROB_EPS)))


def _rcs3(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis with 3 knots (Harrell's ``rcs``, normalised).

    Parameters
    ----------
    x : ndarray of shape (n_rep, m)
    knots : ndarray of shape (n_rep, 3)

    Returns
    -------
    ndarray of shape (n_rep, m, 2)
        ``x`` and the one non-linear term; the term is 0 where knots coincide (linear fit).
    """
    k1, k2, k3 = (knots[:, i : i + 1] for i in range(3))
    distinct = (k2 - k1 > 1e-8) & (k3 - k2 > 1e-8)
    span2 = np.where(distinct, k3 - k2, 1.0)
    norm = np.where(distinct, (k3 - k1) ** 2, 1.0)

    def cube(z):
        z = np.maximum(z, 0.0)
        return z * z * z

    term = (
        cube(x - k1) - cube(x - k2) * (k3 - k1) / span2 + cube(x - k3) * (k2 - k1) / span2
    ) / norm
    term = np.where(distinct, term, 0.0)
    return np.stack([np.broadcast_to(x, term.shape), term], axis=-1)


def _shared_quantile(values: np.ndarray, W: np.ndarray, qs) -> np.ndarray:
    """:func:`_weighted_quantile` for values shared by all replicates (one sort)."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.cumsum(W[:, order], axis=1)
    total = cw[:, -1]
    out = np.empty((W.shape[0], len(qs)))
    last = values.size - 1
    for k, q in enumerate(qs):
        pos = q * np.maximum(total - 1, 0)
        lo = np.floor(pos)
        j_lo = np.minimum((cw <= lo[:, None]).sum(axis=1), last)
        j_hi = np.minimum((cw <= (lo + 1)[:, None]).sum(axis=1), last)
        j_hi = np.where(lo + 1 > total - 1, j_lo, j_hi)
        out[:, k] = v[j_lo] + (pos - lo) * (v[j_hi] - v[j_lo])
    out[total <= 0] = np.nan
    return out


def _calibration_basis(surv: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rcs(cloglog, 3 knots at the replicate's 10/50/90th percentiles): (n_rep, n, 2)."""
    cll = _cloglog(surv)
    knots = np.nan_to_num(_shared_quantile(cll, W, _KNOT_QUANTILES))
    return _rcs3(np.broadcast_to(cll, W.shape), knots), knots


def _calibration_fit(d: _EvalData, W: np.ndarray, surv: np.ndarray):
    """Cox fit of the outcome on rcs(cloglog(1 - surv), 3 knots); returns (fit, knots)."""
    basis, knots = _calibration_basis(surv, W)
    return _fit_cox(d.time, d.event, basis, W), knots


def _fit_warm(d: _EvalData, X: np.ndarray, W: np.ndarray, X_point: np.ndarray):
    """Fit all replicates, starting Newton from the fit on the unresampled data."""
    init = None
    if W.shape[0] > 1:
        init = np.nan_to_num(_fit_cox(d.time, d.event, X_point, np.ones((1, W.shape[1]))).coef[0])
    return _fit_cox(d.time, d.event, X, W, init)


def _batch_calibration_at(d: _EvalData, W: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Calibration slope, ICI, E50, E90 at horizon ``k`` (Austin et al. 2020)."""
    h = d.horizons[k]
    surv = d.surv_h[:, k]
    pred = 1.0 - surv
    cll = _cloglog(surv)[:, None]
    slope = _fit_warm(d, cll, W, cll).coef[:, 0]
    basis, _ = _calibration_basis(surv, W)
    point_basis, _ = _calibration_basis(surv, np.ones((1, W.shape[1])))
    fit = _fit_warm(d, basis, W, point_basis)
    observed = fit.event_probability(basis, h)
    diff = np.abs(observed - pred[None, :])
    ici = np.einsum("bm,bm->b", W, diff) / W.sum(axis=1)
    e50, e90 = _weighted_quantile(diff, W, (0.5, 0.9)).T
    return {"calib_slope": slope, "ici": ici, "e50": e50, "e90": e90}


def _batch_calibration(d: _EvalData, W: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Calibration metrics at every horizon: name -> (n_rep, n_horizons)."""
    names = ("calib_slope", "ici", "e50", "e90")
    out = {name: np.full((W.shape[0], d.horizons.size), np.nan) for name in names}
    for k in range(d.horizons.size):
        if valid[k]:
            for name, values in _batch_calibration_at(d, W, k).items():
                out[name][:, k] = values
    return out


def _calibration_valid(d: _EvalData, valid: np.ndarray, warn: bool) -> np.ndarray:
    """A calibration fit needs events, and at least one event by the horizon."""
    has_events = np.array([np.any(d.event & (d.time <= h)) for h in d.horizons])
    ok = valid & has_events & (d.event.sum() >= 2)
    if warn and np.any(valid & ~ok):
        _warn(
            f"calibration: too few events by horizon(s) {d.horizons[valid & ~ok].tolist()} "
            "to fit the calibration model; reported as NaN there."
        )
    return ok


def _auc_valid(d: _EvalData, valid: np.ndarray, warn: bool) -> np.ndarray:
    has_case = np.array([np.any(d.event & (d.time <= h)) for h in d.horizons])
    if warn and np.any(valid & ~has_case):
        _warn(
            f"time-dependent AUC: no event by horizon(s) {d.horizons[valid & ~has_case].tolist()}"
            "; reported as NaN there."
        )
    return valid & has_case


# ----------------------------------------------------------------------------- D-calibration


def _dcal_contributions(event: np.ndarray, surv_own: np.ndarray) -> np.ndarray:
    """Each patient's share of the 10 equal-width bins of S(t_i | x_i) (Haider et al. 2020).

    An event adds 1 to the bin holding S(t_i). A censored patient with c = S(t_i) spreads 1
    uniformly over [0, c] (S at the unobserved event time is uniform there when the model is
    calibrated): the bin holding c gets (c - lower edge) / c, each bin below it 0.1 / c.
    """
    edges = np.linspace(0.0, 1.0, _N_DCAL_BINS + 1)
    s = np.clip(surv_own, 0.0, 1.0)
    contrib = np.zeros((s.size, _N_DCAL_BINS))
    bins = np.minimum((s * _N_DCAL_BINS).astype(int), _N_DCAL_BINS - 1)
    rows = np.flatnonzero(event)
    contrib[rows, bins[rows]] = 1.0
    cens = np.flatnonzero(~event)
    c = s[cens][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.clip(np.minimum(c, edges[None, 1:]) - edges[None, :-1], 0.0, None) / c
    share[c[:, 0] <= 0] = np.eye(_N_DCAL_BINS)[0]
    contrib[cens] = share
    return contrib


def _batch_dcal(d: _EvalData, W: np.ndarray) -> np.ndarray:
    """D-calibration chi-square p-value (df = 9) per replicate."""
    counts = W @ _dcal_contributions(d.event, d.surv_own)
    expected = W.sum(axis=1, keepdims=True) / _N_DCAL_BINS
    statistic = np.sum((counts - expected) ** 2 / expected, axis=1)
    return stats.chi2.sf(statistic, df=_N_DCAL_BINS - 1)


# ----------------------------------------------------------------------------- all metrics


@dataclass
class _Validity:
    horizons: np.ndarray
    auc: np.ndarray
    calibration: np.ndarray
    ibs: np.ndarray
    uno_weights: np.ndarray


def _validity(d: _EvalData, warn: bool) -> _Validity:
    valid = _valid_times(d, d.horizons)
    if warn and not valid.all():
        _warn(_describe_invalid(d, d.horizons, valid, "horizons"))
    grid = d.ibs_times if d.ibs_times is not None else d.horizons
    ibs_valid = _valid_times(d, grid)
    if warn and not ibs_valid.all() and d.ibs_times is not None:
        n_ok = int(np.argmin(ibs_valid))
        upto = f"up to {grid[n_ok - 1]:.4g} only" if n_ok >= 2 else "not at all (NaN)"
        _warn(
            f"integrated Brier score: integrated {upto}; time points from {grid[n_ok]:.4g} on "
            "lie beyond the follow-up."
        )
    return _Validity(
        horizons=valid,
        auc=_auc_valid(d, valid, warn),
        calibration=_calibration_valid(d, valid, warn),
        ibs=ibs_valid,
        uno_weights=_uno_anchor_weights(d, float(d.horizons.max()), warn),
    )


def _metric_names(horizons: np.ndarray) -> list[str]:
    """Contract metric names (without scope) in their canonical order."""
    labels = _horizon_labels(horizons)
    names = ["cindex_harrell", "cindex_uno"]
    names += [f"auc_{h}" for h in labels] + [f"brier_{h}" for h in labels] + ["ibs"]
    for stem in ("calib_slope", "ici", "e50", "e90", "oe"):
        names += [f"{stem}_{h}" for h in labels]
    return names + ["dcal_pvalue"]


def _batch_all(d: _EvalData, W: np.ndarray, validity: _Validity) -> np.ndarray:
    """Every contract metric for each replicate: (n_rep, n_metrics), columns as _metric_names."""
    cols = [
        _batch_harrell(d, W)[:, None],
        _batch_uno(d, W, validity.uno_weights)[:, None],
        _batch_auc(d, W, validity.auc),
        _batch_brier(d, W, d.horizons, d.surv_h, validity.horizons),
        _batch_ibs(d, W, validity.ibs)[:, None],
    ]
    calibration = _batch_calibration(d, W, validity.calibration)
    cols += [calibration[name] for name in ("calib_slope", "ici", "e50", "e90")]
    cols.append(_batch_oe(d.event, d.time, d.surv_h, d.horizons, W, validity.horizons))
    if d.surv_own is None:
        cols.append(np.full((W.shape[0], 1), np.nan))
    else:
        cols.append(_batch_dcal(d, W)[:, None])
    return np.hstack(cols)
