"""Competing risks: cumulative incidence, Gray's test and metrics for the CIF of cause 1.

Outcomes are competing-risks structured arrays (``event`` integer code 0 = censored, 1 = event
of interest, 2 = competing event; ``time``), as made by
:func:`mmrisk.cohort.competing_outcome` and checked by
:func:`mmrisk.models.check_competing_outcome`.

- :func:`aalen_johansen` -- Aalen–Johansen cumulative incidence of each cause (by group), with
  the infinitesimal-jackknife standard error (as R's ``survfit``) and a pointwise interval on
  the log scale (R's default ``conf.type='log'``, upper limit capped at 1);
  :func:`cumulative_incidence_at` -- the same at horizons (a table);
- :func:`gray_test` -- Gray's (1988) K-sample test of the cumulative incidence of a cause,
  with Gray's variance estimator (as ``cmprsk::cuminc``);
- :func:`cindex_wolbers` -- Wolbers' concordance for the event of interest;
- :func:`cif_auc`, :func:`cif_brier_scores` -- time-dependent AUC (cases: cause 1 by ``t``;
  controls: everyone else, i.e. event-free at ``t`` or failed from the competing cause) and
  Brier score of the predicted CIF of cause 1, both with inverse probability of censoring
  weights from the Kaplan–Meier of the censoring times in the training outcome;
- :func:`cif_calibration` (observed Aalen–Johansen CIF within risk groups),
  :func:`cif_calibration_curve` (a lowess curve through Aalen–Johansen pseudo-values) and
  :func:`cif_calibration_metrics` (ICI, E50, E90 of that curve, and observed/expected).

Hand-written because none of the allowed libraries has these estimators: lifelines'
``AalenJohansenFitter`` jitters tied times and has no groups or Gray's test; scikit-survival and
statsmodels have no competing-risks estimators. The IJ variance and Gray's variance follow the
published formulas (Therneau's survival vignette "compete"; Gray 1988, Ann Stat 16:1141).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sksurv.exceptions import NoComparablePairException
from sksurv.metrics import concordance_index_censored

from mmrisk.evaluation._checks import _check_times, _check_vector
from mmrisk.evaluation._ipcw import _CensoringKM
from mmrisk.exceptions import EvaluationWarning, MetricInputError
from mmrisk.models._competing import check_competing_outcome

__all__ = [
    "aalen_johansen",
    "cif_auc",
    "cif_brier_scores",
    "cif_calibration",
    "cif_calibration_curve",
    "cif_calibration_metrics",
    "cindex_wolbers",
    "cumulative_incidence_at",
    "gray_test",
]

CAUSES = (1, 2)


def _outcome(y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return check_competing_outcome(y, name=name)
    except ValueError as exc:
        raise MetricInputError(str(exc)) from exc


def _aj_core(code: np.ndarray, time: np.ndarray, out_times: np.ndarray, influence: bool) -> dict:
    """Aalen–Johansen CIFs of causes 1 and 2 at ``out_times`` and their IJ influence.

    The influence of subject ``i`` is the derivative of the estimate with respect to its case
    weight at weight 1; the IJ variance is the sum of squared influences (R's ``survfit``).
    """
    uniq, idx = np.unique(time, return_inverse=True)
    m = uniq.size
    n_at = np.bincount(idx, minlength=m)[::-1].cumsum()[::-1].astype(float)
    d = np.stack([np.bincount(idx[code == k], minlength=m) for k in CAUSES]).astype(float)
    h_k = d / n_at
    h = h_k.sum(axis=0)
    surv = np.cumprod(1.0 - h)
    s_prev = np.concatenate([[1.0], surv[:-1]])
    cif = np.cumsum(s_prev * h_k, axis=1)
    one_minus = 1.0 - h
    ratio = np.divide(h, n_at * one_minus, out=np.zeros(m), where=one_minus > 0)
    c1 = np.cumsum(ratio)
    c1_prev = np.concatenate([[0.0], c1[:-1]])
    p_cum = np.cumsum(s_prev * h_k * (c1_prev - 1.0 / n_at), axis=1)

    j = np.searchsorted(uniq, out_times, side="right") - 1  # last observed time <= t
    valid = j >= 0
    jj = np.clip(j, 0, None)
    out = {
        "n_risk": np.array([(time >= t).sum() for t in out_times], dtype=int),
        "cif": np.where(valid, cif[:, jj], 0.0),
        "var": np.zeros((2, out_times.size)),
        "influence": None,
    }
    own = np.divide(
        (code > 0).astype(float), n_at[idx] * one_minus[idx],
        out=np.zeros(time.size), where=one_minus[idx] > 0,
    )
    a_i = own - c1[idx]
    after = jj[None, :] >= idx[:, None]  # (n, n_out)
    mcol = np.minimum(jj[None, :], idx[:, None])
    infl = np.zeros((2, time.size, out_times.size))
    for k, cause in enumerate(CAUSES):
        jump = np.where(code == cause, s_prev[idx] / n_at[idx], 0.0)
        later = jump[:, None] - a_i[:, None] * (cif[k, jj][None, :] - cif[k, idx][:, None])
        infl[k] = np.where(valid[None, :], p_cum[k, mcol] + np.where(after, later, 0.0), 0.0)
    out["var"] = (infl**2).sum(axis=1)
    if influence:
        out["influence"] = infl
    return out


def _groups(groups: Any, n: int) -> tuple[np.ndarray, list]:
    if groups is None:
        return np.zeros(n, dtype=int), ["all"]
    g = pd.Series(np.asarray(groups, dtype=object))
    if len(g) != n:
        raise MetricInputError(f"groups must have one value per sample ({n}); got {len(g)}.")
    if g.isna().any():
        raise MetricInputError(
            f"groups holds {int(g.isna().sum())} missing value(s); give every sample a group "
            "(e.g. fill missing values with 'unknown')."
        )
    codes, labels = pd.factorize(g, sort=True)
    return codes, list(labels)


def _interval(cif: np.ndarray, se: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval on the log scale: ``cif * exp(-/+ z se / cif)``, upper capped at 1."""
    z = stats.norm.ppf(0.5 + level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(cif > 0, z * se / cif, 0.0)
    return cif * np.exp(-w), np.minimum(cif * np.exp(w), 1.0)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise MetricInputError(f"level must be in (0, 1); got {level!r}.")


def _event_counts(hit: np.ndarray, time: np.ndarray, at: np.ndarray, *, cumulative: bool
                  ) -> list[int]:
    """Events (``hit``) at each time of ``at``, or up to and including it when cumulative."""
    if cumulative:
        return [int((hit & (time <= t)).sum()) for t in at]
    return [int((hit & (time == t)).sum()) for t in at]


def _aj_table(y: Any, groups: Any, level: float, times: np.ndarray | None) -> pd.DataFrame:
    _check_level(level)
    code, time = _outcome(y, "y")
    gcode, labels = _groups(groups, code.size)
    rows = []
    for g, label in enumerate(labels):
        sel = gcode == g
        out_times = times if times is not None else np.unique(time[sel & (code > 0)])
        res = _aj_core(code[sel], time[sel], out_times, influence=False)
        for k, cause in enumerate(CAUSES):
            se = np.sqrt(res["var"][k])
            lo, hi = _interval(res["cif"][k], se, level)
            rows.append(pd.DataFrame({
                "group": label, "cause": cause, "time": out_times, "n_risk": res["n_risk"],
                "n_event": _event_counts(code[sel] == cause, time[sel], out_times,
                                         cumulative=times is not None),
                "cif": res["cif"][k], "se": se, "lo": lo, "hi": hi,
            }))
    return pd.concat(rows, ignore_index=True)


def aalen_johansen(y: Any, *, groups: Any = None, level: float = 0.95) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of both causes at every event time, by group.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome: integer ``event`` (0 censored, 1 event of interest,
        2 competing event) and ``time``.
    groups : array-like of shape (n_samples,), default=None
        Group of each sample; ``None`` is one group labelled ``'all'``.
    level : float, default=0.95
        Confidence level of the pointwise interval.

    Returns
    -------
    pandas.DataFrame
        One row per group, cause and distinct event time (either cause) of the group:
        ``group``, ``cause`` (1, 2), ``time``, ``n_risk`` (at risk just before ``time``),
        ``n_event`` (events of this cause at ``time``), ``cif``, ``se`` (infinitesimal
        jackknife, as R's ``survfit``), ``lo``, ``hi`` (log-scale interval, R's default).
        The curves start at 0 at time 0 (not listed).

    Raises
    ------
    mmrisk.exceptions.MetricInputError
        If ``y`` is not a competing-risks outcome, ``groups`` does not fit it or ``level`` is
        not in (0, 1).
    """
    return _aj_table(y, groups, level, None)


def cumulative_incidence_at(
    y: Any, times: Sequence[float], *, groups: Any = None, level: float = 0.95
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of both causes at given horizons, by group.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    times : sequence of float
        Horizons, positive and strictly increasing (e.g. ``[12, 24, 36, 60]`` months).
    groups : array-like of shape (n_samples,), default=None
        Group of each sample; ``None`` is one group labelled ``'all'``.
    level : float, default=0.95
        Confidence level of the pointwise interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``cause``, ``time``, ``n_risk`` (at risk at the horizon),
        ``n_event`` (cumulative events of this cause up to and including the horizon),
        ``cif``, ``se``, ``lo``, ``hi``; the estimate is the step function's value at the
        horizon.

    Raises
    ------
    mmrisk.exceptions.MetricInputError
        For an invalid outcome, groups, horizons or level.
    """
    return _aj_table(y, groups, level, _check_times(times))


def _gray_step(state: dict, n: np.ndarray, d1: np.ndarray, d2: np.ndarray, rho: float) -> None:
    """Add one distinct time to Gray's score and variance accumulators (Gray 1988, section 2)."""
    s_m, f_m, fm = state["s_m"], state["f_m"], state["fm"]
    live = n > 0
    nd1, nd2 = d1.sum(), d2.sum()
    safe_n = np.where(live, n, 1.0)
    s_now = np.where(live, s_m * (n - d1 - d2) / safe_n, s_m)
    f_now = np.where(live, f_m + s_m * d1 / safe_n, f_m)
    t1 = np.where(live, n / s_m, 0.0)  # group sizes on the subdistribution scale
    tr = t1.sum()
    tq = (t1 * (1.0 - f_m)).sum()
    f = fm + nd1 / tr
    fb = (1.0 - fm) ** rho
    a = fb * (np.diag(t1) - np.outer(t1, t1) / tr)
    state["c"] += a * nd1 / (tr * (1.0 - fm))
    c = state["c"]
    state["score"] += np.where(live, fb * (d1 - nd1 * t1 * (1.0 - f_m) / tq), 0.0)
    if nd1 > 0:
        t4 = np.where(s_now > 0, 1.0 - (1.0 - f) / np.where(s_now > 0, s_now, 1.0), 1.0)
        t5 = 1.0 - (nd1 - 1.0) / (tr * s_m - 1.0) if nd1 > 1 else np.ones_like(n)
        t3 = np.where(live, t5 * s_m * nd1 / (tr * safe_n), 0.0)
        b = a - t4[None, :] * c  # b[i, k]
        state["v3"] += t4**2 * t3
        state["v2"] += b * (t4 * t3)[None, :]
        state["v"] += (b * t3[None, :]) @ b.T
    if nd2 > 0:
        ok = (s_now > 0) & (d2 > 0)
        t4 = np.where(ok, (1.0 - f) / np.where(s_now > 0, s_now, 1.0), 0.0)
        t5 = np.where(d2 > 1, 1.0 - (d2 - 1.0) / np.maximum(n - 1.0, 1.0), 1.0)
        t3 = np.where(ok, t5 * s_m**2 * d2 / safe_n**2, 0.0)
        b = t4[None, :] * c
        state["v3"] += t4**2 * t3
        state["v2"] -= b * (t4 * t3)[None, :]
        state["v"] += (b * t3[None, :]) @ b.T
    state.update(s_m=s_now, f_m=f_now, fm=f)


def gray_test(y: Any, groups: Any, *, cause: int = 1, rho: float = 0.0) -> pd.Series:
    """Gray's K-sample test that the cumulative incidence of a cause is the same in all groups.

    The score compares each group's subdistribution hazard with the pooled one (weight
    ``(1 - F(t-))**rho``); its variance is Gray's estimator, as in R's ``cmprsk::cuminc``.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    groups : array-like of shape (n_samples,)
        Group of each sample (at least two groups).
    cause : {1, 2}, default=1
        The cause whose cumulative incidence is compared; the other is the competing one.
    rho : float, default=0.0
        Power of the weight function (0: log-rank-like weights).

    Returns
    -------
    pandas.Series
        ``statistic`` (chi-square), ``df`` (groups - 1) and ``p_value``.

    Raises
    ------
    mmrisk.exceptions.MetricInputError
        For an invalid outcome, fewer than two groups or an unknown cause.
    """
    code, time = _outcome(y, "y")
    if cause not in CAUSES:
        raise MetricInputError(f"cause must be 1 or 2; got {cause!r}.")
    gcode, labels = _groups(groups, code.size)
    k = len(labels)
    if k < 2:
        raise MetricInputError(f"gray_test needs at least two groups; got {labels!r}.")
    mine = np.where(code == cause, 1, np.where(code > 0, 2, 0))
    uniq, idx = np.unique(time, return_inverse=True)
    counts = np.zeros((3, uniq.size, k))
    np.add.at(counts, (mine, idx, gcode), 1.0)
    n = np.bincount(gcode, minlength=k).astype(float)
    state = {"s_m": np.ones(k), "f_m": np.zeros(k), "fm": 0.0, "c": np.zeros((k, k)),
             "score": np.zeros(k), "v3": np.zeros(k), "v2": np.zeros((k, k)),
             "v": np.zeros((k, k))}
    for t in range(uniq.size):
        d1, d2 = counts[1, t], counts[2, t]
        if d1.sum() + d2.sum() > 0:
            _gray_step(state, n, d1, d2, rho)
        n = n - counts[:, t].sum(axis=0)
    c, v2 = state["c"], state["v2"]
    v = state["v"] + (c * state["v3"][None, :]) @ c.T + c @ v2.T + v2 @ c.T
    s = state["score"][: k - 1]
    vs = v[: k - 1, : k - 1]
    statistic = float(s @ np.linalg.solve(vs, s))
    return pd.Series({"statistic": statistic, "df": k - 1,
                      "p_value": float(stats.chi2.sf(statistic, k - 1))})


def cindex_wolbers(y: Any, estimate: Any, *, tau: float | None = None) -> float:
    """Wolbers' concordance index for the event of interest (cause 1).

    A pair is comparable when one patient has the event of interest at ``T_i`` and the other
    is known to be free of it at ``T_i``: still under observation after ``T_i``, or failed from
    the competing cause at any time (Wolbers et al. 2009, Epidemiology 20:555). It is concordant
    when the first has the higher risk; tied risks count one half. Equivalently, Harrell's C
    with competing events censored at infinity.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    estimate : array-like of shape (n_samples,)
        Risk of the event of interest (higher = earlier), e.g. a predicted CIF.
    tau : float, default=None
        Only events of interest up to ``tau`` are anchors of pairs.

    Returns
    -------
    float
        The concordance index; NaN (with an :class:`~mmrisk.exceptions.EvaluationWarning`) if
        no pair is comparable.
    """
    code, time = _outcome(y, "y")
    risk = _check_vector(estimate, code.size, "estimate")
    t = time.copy()
    t[code == 2] = np.inf
    event = code == 1
    if tau is not None:
        event &= time <= tau
    t[np.isinf(t)] = time.max() * 2.0 + 1.0
    try:
        return float(concordance_index_censored(event, t, risk)[0])
    except NoComparablePairException:
        warnings.warn("cindex_wolbers: no comparable pair (no event of interest with a later "
                      "or competing-event partner); returning NaN.", EvaluationWarning,
                      stacklevel=2)
        return float("nan")


def _weights(y_train: Any, y_test: Any) -> tuple[np.ndarray, np.ndarray, _CensoringKM]:
    code_tr, time_tr = _outcome(y_train, "survival_train")
    code, time = _outcome(y_test, "survival_test")
    return code, time, _CensoringKM(code_tr > 0, time_tr)


def _g_left(g: _CensoringKM, t: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(g.times, t, side="left") - 1
    return np.where(idx >= 0, g.prob[np.clip(idx, 0, None)], 1.0)


def _ipcw(code, time, g, t) -> tuple[np.ndarray, np.ndarray]:
    """IPC weights of cases (cause 1 by ``t``) and controls (everyone else known at ``t``)."""
    g_own, g_t = _g_left(g, time), float(g(t))
    with np.errstate(divide="ignore"):
        w_own = np.where(g_own > 0, 1.0 / g_own, 0.0)
        w_t = 1.0 / g_t if g_t > 0 else 0.0
    case = np.where((time <= t) & (code == 1), w_own, 0.0)
    control = np.where(time > t, w_t, np.where((time <= t) & (code == 2), w_own, 0.0))
    return case, control


def _weighted_auc(marker: np.ndarray, case: np.ndarray, control: np.ndarray) -> float:
    if case.sum() <= 0 or control.sum() <= 0:
        return float("nan")
    order = np.argsort(marker, kind="mergesort")
    m, wc, wk = marker[order], case[order], control[order]
    uniq, start = np.unique(m, return_index=True)
    ctrl_at = np.add.reduceat(wk, start)
    case_at = np.add.reduceat(wc, start)
    ctrl_below = np.concatenate([[0.0], np.cumsum(ctrl_at)[:-1]])
    num = (case_at * (ctrl_below + 0.5 * ctrl_at)).sum()
    return float(num / (case.sum() * control.sum()))


def _cif_matrix(estimate: Any, n: int, n_times: int) -> np.ndarray:
    arr = np.asarray(estimate, dtype=float)
    if arr.ndim == 1 and n_times == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape != (n, n_times) or not np.all(np.isfinite(arr)):
        raise MetricInputError(
            f"estimate must be a finite matrix of shape (n_samples, n_times) = ({n}, "
            f"{n_times}); got shape {arr.shape}."
        )
    return arr


def cif_auc(survival_train: Any, survival_test: Any, estimate: Any, times: Any) -> np.ndarray:
    """Time-dependent AUC of the predicted CIF of cause 1, with IPC weights.

    At each ``t``, cases have had the event of interest by ``t`` (weight ``1/G(T_i-)``);
    controls are event-free at ``t`` (weight ``1/G(t)``) or failed from the competing cause by
    ``t`` (weight ``1/G(T_j-)``), definition 2 of Blanche et al. (2013, Stat Med 32:5381).
    ``G`` is the Kaplan–Meier of the censoring times of ``survival_train``.

    Parameters
    ----------
    survival_train : structured ndarray
        Competing-risks outcome of the training data (for ``G``).
    survival_test : structured ndarray of shape (n_samples,)
        Competing-risks outcome of the test data.
    estimate : array-like of shape (n_samples, n_times) or (n_samples,)
        Predicted CIF of cause 1 at each time (or one risk score used at every time).
    times : sequence of float
        Time points, positive and strictly increasing.

    Returns
    -------
    ndarray of shape (n_times,)
        AUC at each time; NaN where there is no case or no control.
    """
    code, time, g = _weights(survival_train, survival_test)
    t_arr = _check_times(times)
    est = np.asarray(estimate, dtype=float)
    if est.ndim == 1:
        est = np.repeat(_check_vector(est, code.size, "estimate")[:, None], t_arr.size, axis=1)
    est = _cif_matrix(est, code.size, t_arr.size)
    out = np.empty(t_arr.size)
    for j, t in enumerate(t_arr):
        case, control = _ipcw(code, time, g, t)
        out[j] = _weighted_auc(est[:, j], case, control)
    return out


def cif_brier_scores(
    survival_train: Any, survival_test: Any, estimate: Any, times: Any
) -> np.ndarray:
    """Brier score of the predicted CIF of cause 1 at each time, with IPC weights.

    ``BS(t) = mean_i w_i(t) (1{T_i <= t, cause 1} - F_i(t))**2`` with ``w_i = 1/G(T_i-)`` for
    an event of either cause by ``t``, ``1/G(t)`` for those event-free at ``t`` and 0 for those
    censored before ``t`` (Graf et al. 1999, for the CIF as in Schoop et al. 2011).

    Parameters
    ----------
    survival_train : structured ndarray
        Competing-risks outcome of the training data (for ``G``).
    survival_test : structured ndarray of shape (n_samples,)
        Competing-risks outcome of the test data.
    estimate : array-like of shape (n_samples, n_times)
        Predicted CIF of cause 1, in [0, 1].
    times : sequence of float
        Time points, positive and strictly increasing.

    Returns
    -------
    ndarray of shape (n_times,)
        Brier score at each time.
    """
    code, time, g = _weights(survival_train, survival_test)
    t_arr = _check_times(times)
    est = _cif_matrix(estimate, code.size, t_arr.size)
    if np.any(est < 0) or np.any(est > 1):
        raise MetricInputError("estimate must hold cumulative incidences in [0, 1].")
    out = np.empty(t_arr.size)
    for j, t in enumerate(t_arr):
        case, control = _ipcw(code, time, g, t)
        out[j] = float(np.mean(case * (1.0 - est[:, j]) ** 2 + control * est[:, j] ** 2))
    return out


def _risk_groups(pred: np.ndarray, n_groups: int) -> np.ndarray:
    ranks = pd.Series(pred).rank(method="first").to_numpy()
    return np.minimum((ranks - 1) * n_groups // pred.size, n_groups - 1).astype(int) + 1


def cif_calibration(
    y: Any, estimate: Any, horizon: float, *, n_groups: int = 10, level: float = 0.95
) -> pd.DataFrame:
    """Predicted vs observed CIF of cause 1 at a horizon, within groups of predicted risk.

    Patients are split into ``n_groups`` groups of equal size by predicted CIF; in each group the
    observed CIF is the Aalen–Johansen estimate at ``horizon`` with its interval.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    estimate : array-like of shape (n_samples,)
        Predicted CIF of cause 1 at ``horizon``.
    horizon : float
        The horizon (months).
    n_groups : int, default=10
        Number of risk groups.
    level : float, default=0.95
        Confidence level of the observed CIF's interval.

    Returns
    -------
    pandas.DataFrame
        One row per risk group: ``risk_group`` (1 = lowest), ``n``, ``predicted`` (mean),
        ``observed``, ``lo``, ``hi``.
    """
    code, time = _outcome(y, "y")
    pred = _check_vector(estimate, code.size, "estimate")
    if not isinstance(n_groups, int | np.integer) or not 1 <= n_groups <= code.size:
        raise MetricInputError(f"n_groups must be an integer in [1, {code.size}]; got "
                               f"{n_groups!r}.")
    h = _check_times([horizon], "horizon")
    groups = _risk_groups(pred, int(n_groups))
    table = cumulative_incidence_at(y, h, groups=groups, level=level)
    table = table[table["cause"] == 1].set_index("group")
    rows = []
    for g in range(1, int(n_groups) + 1):
        sel = groups == g
        rows.append({"risk_group": g, "n": int(sel.sum()), "predicted": float(pred[sel].mean()),
                     "observed": float(table.loc[g, "cif"]), "lo": float(table.loc[g, "lo"]),
                     "hi": float(table.loc[g, "hi"])})
    return pd.DataFrame(rows)


def _pseudo_values(code: np.ndarray, time: np.ndarray, horizon: float) -> np.ndarray:
    """IJ pseudo-values of the cause-1 CIF at ``horizon``: ``F + n * influence_i``."""
    res = _aj_core(code, time, np.array([horizon]), influence=True)
    return res["cif"][0, 0] + code.size * res["influence"][0, :, 0]


def _smoothed(code: np.ndarray, time: np.ndarray, pred: np.ndarray, h: float, frac: float,
              delta: float) -> np.ndarray:
    """Lowess (statsmodels) of the IJ pseudo-values at ``h`` on the predictions, per patient."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    pseudo = _pseudo_values(code, time, h)
    return lowess(pseudo, pred, frac=frac, it=0, delta=float(delta), return_sorted=False)


def cif_calibration_curve(y: Any, estimate: Any, horizon: float, *, frac: float = 2 / 3,
                          delta: float = 0.0) -> pd.DataFrame:
    """The smoothed observed CIF of cause 1 at a horizon against the predicted CIF.

    A lowess curve (statsmodels, ``frac``, no robustness iterations) through the
    infinitesimal-jackknife pseudo-values of the Aalen–Johansen CIF at ``horizon``: the curve
    whose distance from the diagonal :func:`cif_calibration_metrics` summarises.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    estimate : array-like of shape (n_samples,)
        Predicted CIF of cause 1 at ``horizon``.
    horizon : float
        The horizon (months).
    frac : float, default=2/3
        Span of the lowess smoother.
    delta : float, default=0.0
        statsmodels' ``delta`` (see :func:`cif_calibration_metrics`).

    Returns
    -------
    pandas.DataFrame
        ``predicted`` (sorted) and ``smoothed`` (the observed CIF on the curve), one row per
        patient.
    """
    code, time = _outcome(y, "y")
    pred = _check_vector(estimate, code.size, "estimate")
    h = float(_check_times([horizon], "horizon")[0])
    smooth = _smoothed(code, time, pred, h, frac, delta)
    order = np.argsort(pred, kind="stable")
    return pd.DataFrame({"predicted": pred[order], "smoothed": smooth[order]})


def cif_calibration_metrics(y: Any, estimate: Any, horizon: float, *, frac: float = 2 / 3,
                            delta: float = 0.0) -> pd.Series:
    """Calibration of a predicted CIF of cause 1 at a horizon: ICI, E50, E90 and O/E.

    The smoothed observed CIF is a lowess curve (statsmodels, ``frac``) through the
    infinitesimal-jackknife pseudo-values of the Aalen–Johansen CIF at ``horizon`` against the
    predicted CIF; ICI, E50 and E90 are the mean, median and 90th percentile of
    ``|smoothed - predicted|``. ``oe`` is the Aalen–Johansen CIF of all patients divided by the
    mean predicted CIF.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2 and ``time``).
    estimate : array-like of shape (n_samples,)
        Predicted CIF of cause 1 at ``horizon``.
    horizon : float
        The horizon (months).
    frac : float, default=2/3
        Span of the lowess smoother.
    delta : float, default=0.0
        statsmodels' ``delta`` of the lowess (predictions closer than ``delta`` share a local
        fit, interpolated linearly); ``0.01 * np.ptp(estimate)``, statsmodels' suggestion for
        speed, is used for bootstrap replicates. 0: every point fitted.

    Returns
    -------
    pandas.Series
        ``ici``, ``e50``, ``e90``, ``oe``.
    """
    code, time = _outcome(y, "y")
    pred = _check_vector(estimate, code.size, "estimate")
    h = float(_check_times([horizon], "horizon")[0])
    err = np.abs(_smoothed(code, time, pred, h, frac, delta) - pred)
    observed = float(_aj_core(code, time, np.array([h]), influence=False)["cif"][0, 0])
    return pd.Series({"ici": float(err.mean()), "e50": float(np.median(err)),
                      "e90": float(np.quantile(err, 0.9)), "oe": observed / float(pred.mean())})
