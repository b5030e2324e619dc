"""Competing-risks models: cause-specific Cox (plain, elastic-net) and Fine–Gray regression.

The target is a **competing-risks outcome**: a structured array of shape (n_samples,) with an
integer field ``event`` (0 = censored, 1 = event of interest, e.g. progression; 2 = competing
event, e.g. death without progression) and a float field ``time`` (months from the landmark).
:func:`mmrisk.cohort.competing_outcome` builds it; :func:`check_competing_outcome` checks it.

- :class:`CauseSpecificCoxPH` (kind ``cs_cox``) and :class:`CauseSpecificCoxnet` (kind
  ``cs_coxnet``) fit one Cox model per cause (the catalogue's :class:`CoxPH` and
  :class:`CoxnetCV`, the other cause censored) and combine the two Breslow cumulative hazards
  into the cumulative incidence of cause 1 by the Aalen–Johansen product (per-step
  probability capped at 1): ``F1(t|x) = sum_{s<=t} S(s-|x) dL1(s|x)``,
  ``S(s|x) = prod_{u<=s} (1 - dL1(u|x) - dL2(u|x))``.
- :class:`FineGray` (kind ``finegray``): Fine–Gray subdistribution-hazard regression fitted as
  R's ``coxph(Surv(fgstart, fgstop, fgstatus) ~ x, weights=fgwt, id=id)`` on
  ``finegray()`` data: a patient who failed from the competing cause at ``s`` stays in the risk
  set of later events with weight ``G(t-)/G(s-)``, ``G`` the Kaplan–Meier of the censoring
  times (censorings after events at tied times); Efron (default) or Breslow ties; robust
  (sandwich, clustered by patient) covariance as ``coxph``'s ``robust se``; a ridge ``alpha``
  as :class:`CoxPH` (0 reproduces R). ``F1(t|x) = 1 - exp(-L0(t) exp(x b))``.
  Hand-written because no allowed library fits a weighted Cox model on counting-process data
  with a robust variance (lifelines' ``CoxTimeVaryingFitter`` has no robust variance,
  scikit-survival has no case weights).

Every model has ``fit(X, y)``, ``predict_cif(X, times)`` (CIF of cause 1, shape
(n_samples, n_times)), ``predict(X)`` (CIF of cause 1 at ``horizon``: the risk score) and
``hazard_ratio_table(level)``; :func:`mmrisk.models.hazard_ratios` dispatches to it.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from sksurv.util import Surv

from mmrisk.exceptions import ModelFitError, ModelFitWarning
from mmrisk.models._cox import DEFAULT_RIDGE_ALPHA, CoxPH, collinear_columns
from mmrisk.models._coxnet import CoxnetCV

__all__ = [
    "COMPETING_MODEL_KINDS",
    "CauseSpecificCoxPH",
    "CauseSpecificCoxnet",
    "FineGray",
    "CauseLinearPredictor",
    "cause_linear_model",
    "check_competing_outcome",
    "make_competing_model",
    "predict_cif_at",
]

CAUSES = (1, 2)


def check_competing_outcome(y: Any, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """Split a competing-risks outcome into ``(event code, time)``.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Two fields: an integer event code (0 censored, 1 event of interest, 2 competing event)
        and a numeric time; the names are free (``('event', 'time')`` by convention).
    name : str, default="y"
        Name of the argument, used in error messages.

    Returns
    -------
    event : ndarray of int, shape (n_samples,)
        Event codes 0, 1, 2.
    time : ndarray of float, shape (n_samples,)
        Finite, non-negative times.

    Raises
    ------
    ValueError
        If ``y`` is not such an array, holds other codes (the message names the first rows) or
        times that are negative or not finite.
    """
    names = getattr(getattr(y, "dtype", None), "names", None)
    if names is None or len(names) != 2:
        raise ValueError(
            f"{name} must be a competing-risks outcome: a structured array with fields "
            f"(event, time) as made by mmrisk.cohort.competing_outcome; got "
            f"{type(y).__name__} with fields {names!r}."
        )
    kinds = {f: y.dtype[f].kind for f in names}
    ints = [f for f, k in kinds.items() if k in "iu"]
    floats = [f for f, k in kinds.items() if k == "f"]
    if len(ints) != 1 or len(floats) != 1:
        raise ValueError(
            f"{name} must have an integer event-code field and a float time field; got field "
            f"kinds {kinds!r} (a boolean event field is a single-event outcome; use "
            "mmrisk.cohort.competing_outcome(event_codes, time))."
        )
    code = np.asarray(y[ints[0]], dtype=np.int64)
    time = np.asarray(y[floats[0]], dtype=float)
    bad = np.flatnonzero(~np.isin(code, (0, 1, 2)))
    if bad.size:
        raise ValueError(
            f"{name}: event codes must be 0 (censored), 1 (event of interest) or 2 (competing "
            f"event); rows {bad[:10].tolist()} hold {sorted(set(code[bad].tolist()))[:10]}."
        )
    if time.size and (not np.all(np.isfinite(time)) or np.any(time < 0)):
        raise ValueError(f"{name}: times must be finite and non-negative.")
    return code, time


def _terms(estimator: Any, n: int) -> list[str]:
    names = getattr(estimator, "feature_names_in_", None)
    return [str(t) for t in names] if names is not None else [f"x{j}" for j in range(n)]


def _step(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Right-continuous step function (0 before the first time) of ``values`` (..., n_times)."""
    idx = np.searchsorted(times, at, side="right") - 1
    out = np.take(values, np.clip(idx, 0, None), axis=-1)
    return np.where(idx >= 0, out, 0.0)


def _aj_cif(grid: np.ndarray, cumhaz1: np.ndarray, cumhaz2: np.ndarray) -> np.ndarray:
    """CIF of cause 1 on ``grid`` from both cumulative hazards (n, n_grid), AJ product."""
    d1 = np.diff(cumhaz1, axis=1, prepend=0.0)
    d2 = np.diff(cumhaz2, axis=1, prepend=0.0)
    q = d1 + d2
    p = np.minimum(q, 1.0)
    share = np.divide(d1, q, out=np.zeros_like(d1), where=q > 0)
    surv = np.cumprod(1.0 - p, axis=1)
    s_prev = np.concatenate([np.ones((q.shape[0], 1)), surv[:, :-1]], axis=1)
    return np.clip(np.cumsum(s_prev * p * share, axis=1), 0.0, 1.0)


_HORIZON = [Interval(numbers.Real, 0, None, closed="neither"), None]
_COX_CONSTRAINTS = {
    "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    "ties": [StrOptions({"efron", "breslow"})],
    "n_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "tol": [Interval(numbers.Real, 0, None, closed="neither")],
    "horizon": _HORIZON,
}


class _CompetingBase(BaseEstimator):
    """Shared prediction API: ``predict`` is the CIF of cause 1 at ``horizon``."""

    def _risk_time(self) -> float:
        return float(self.horizon) if self.horizon is not None else float(self.last_event_time_)

    def predict(self, X: Any) -> np.ndarray:
        """Risk score: the predicted CIF of cause 1 at ``horizon``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            CIF of the event of interest at ``horizon`` (or, if ``horizon`` is None, at the
            last training time with an event of interest); higher means earlier events.
        """
        check_is_fitted(self)
        return self.predict_cif(X, [self._risk_time()])[:, 0]

    def _set_common(self, X: Any, code: np.ndarray, time: np.ndarray, n_features: int) -> None:
        if not np.any(code == 1):
            raise ModelFitError(
                f"{type(self).__name__}: no event of interest (code 1) in the training data; "
                "a competing-risks model needs events of cause 1."
            )
        self.last_event_time_ = float(time[code == 1].max())
        self.n_features_in_ = n_features
        cols = getattr(X, "columns", None)
        if cols is not None and all(isinstance(c, str) for c in cols):
            self.feature_names_in_ = np.asarray(cols, dtype=object)


class _CauseSpecific(_CompetingBase):
    """One survival model per cause; the CIF of cause 1 from both cumulative hazards."""

    def _cause_estimator(self) -> BaseEstimator:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _CauseSpecific:
        """Fit one model per cause (cause ``k`` events; everything else censored).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features, no missing values.
        y : structured ndarray of shape (n_samples,)
            Competing-risks outcome (integer ``event`` 0/1/2, ``time``).

        Returns
        -------
        self
            The fitted model.
        """
        self._validate_params()
        code, time = check_competing_outcome(y)
        Xa = check_array(X, dtype=np.float64, ensure_min_samples=2)
        self._set_common(X, code, time, Xa.shape[1])
        models = []
        for cause in CAUSES:
            if not np.any(code == cause):
                raise ModelFitError(
                    f"{type(self).__name__}: no event of cause {cause} in the training data; "
                    "cause-specific models need events of both causes."
                )
            y_k = Surv.from_arrays(event=code == cause, time=time)
            models.append(self._cause_estimator().fit(X, y_k))
        self.estimators_ = models
        return self

    def predict_cif(self, X: Any, times: Sequence[float]) -> np.ndarray:
        """Cumulative incidence of cause 1 at ``times``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        times : sequence of float
            Time points (months).

        Returns
        -------
        ndarray of shape (n_samples, n_times)
            Predicted CIF of the event of interest, non-decreasing in time, in [0, 1].
        """
        check_is_fitted(self)
        at = np.atleast_1d(np.asarray(times, dtype=float))
        grids = [np.asarray(m.unique_times_, dtype=float) for m in self.estimators_]
        grid = np.union1d(*grids)
        cumhaz = [
            _step(g, np.asarray(m.predict_cumulative_hazard_function(X, return_array=True)), grid)
            for g, m in zip(grids, self.estimators_, strict=True)
        ]
        return _step(grid, _aj_cif(grid, *cumhaz), at)

    def linear_predictor(self, X: Any, cause: int = 1) -> np.ndarray:
        """Linear predictor ``X @ coef`` of a cause's model (for SHAP reasons).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        cause : {1, 2}, default=1
            The cause.

        Returns
        -------
        ndarray of shape (n_samples,)
            Log relative hazard of the cause.
        """
        check_is_fitted(self)
        return np.asarray(self.estimators_[cause - 1].predict(X), dtype=float)

    def hazard_ratio_table(self, level: float = 0.95) -> pd.DataFrame:
        """Cause-specific hazard ratios of both causes.

        Parameters
        ----------
        level : float, default=0.95
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Columns ``cause`` (1, 2), ``term``, ``hr``, ``hr_lo``, ``hr_hi``, ``p``; for the
            elastic-net kind the interval and p-value are NaN (see
            :func:`mmrisk.models.hazard_ratios`).
        """
        from mmrisk.models._summary import hazard_ratios

        check_is_fitted(self)
        tables = [hazard_ratios(m, level).assign(cause=k)
                  for k, m in zip(CAUSES, self.estimators_, strict=True)]
        out = pd.concat(tables, ignore_index=True)
        return out[["cause", "term", "hr", "hr_lo", "hr_hi", "p"]]


class CauseSpecificCoxPH(_CauseSpecific):
    """Cause-specific Cox models (one :class:`CoxPH` per cause) and the CIF of cause 1.

    Parameters
    ----------
    alpha : float, default=0.01
        Ridge penalty of each cause's :class:`CoxPH` (0 = unpenalised, as R's ``coxph``).
    ties : {'efron', 'breslow'}, default='efron'
        Handling of tied event times.
    n_iter : int, default=100
        Maximum Newton-Raphson iterations.
    tol : float, default=1e-9
        Convergence tolerance.
    horizon : float, default=None
        Time (months) of the CIF that :meth:`predict` returns; ``None``: the last training
        time with an event of interest. Set it to the last configured horizon.

    Attributes
    ----------
    estimators_ : list of CoxPH
        The fitted models of cause 1 and cause 2.
    last_event_time_ : float
        Largest training time with an event of interest.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` was a DataFrame.
    """

    _parameter_constraints: dict = dict(_COX_CONSTRAINTS)

    def __init__(self, alpha: float = DEFAULT_RIDGE_ALPHA, *, ties: str = "efron",
                 n_iter: int = 100, tol: float = 1e-9, horizon: float | None = None) -> None:
        self.alpha = alpha
        self.ties = ties
        self.n_iter = n_iter
        self.tol = tol
        self.horizon = horizon

    def _cause_estimator(self) -> CoxPH:
        return CoxPH(alpha=self.alpha, ties=self.ties, n_iter=self.n_iter, tol=self.tol)


class CauseSpecificCoxnet(_CauseSpecific):
    """Cause-specific elastic-net Cox models (one :class:`CoxnetCV` per cause).

    Each cause's penalty is chosen by its own inner cross-validation (Harrell's C of that
    cause), then both Breslow cumulative hazards give the CIF of cause 1.

    Parameters
    ----------
    l1_ratio : float, default=0.5
        Elastic-net mixing (1 = lasso).
    n_alphas : int, default=50
        Length of the penalty path.
    alphas : array-like of float, default=None
        Penalties to choose from; ``None`` computes the path.
    alpha_min_ratio : float or 'auto', default='auto'
        Smallest penalty of the path relative to the largest.
    penalty_factor : array-like of shape (n_features,), default=None
        Relative penalty of each feature.
    normalize : bool, default=False
        Scale features before fitting.
    tol : float, default=1e-7
        Coordinate-descent tolerance.
    max_iter : int, default=100000
        Coordinate-descent iterations.
    cv : int or cross-validation splitter, default=3
        Inner folds of each cause's penalty choice.
    random_state : int, RandomState instance or None, default=None
        Seed of the inner folds.
    horizon : float, default=None
        Time (months) of the CIF that :meth:`predict` returns; ``None``: the last training
        time with an event of interest.

    Attributes
    ----------
    estimators_ : list of CoxnetCV
        The fitted models of cause 1 and cause 2.
    last_event_time_ : float
        Largest training time with an event of interest.
    n_features_in_ : int
        Number of input columns.
    """

    _parameter_constraints: dict = {**CoxnetCV._parameter_constraints, "horizon": _HORIZON}

    def __init__(self, *, l1_ratio: float = 0.5, n_alphas: int = 50, alphas: Any = None,
                 alpha_min_ratio: float | str = "auto", penalty_factor: Any = None,
                 normalize: bool = False, tol: float = 1e-7, max_iter: int = 100000,
                 cv: Any = 3, random_state: Any = None, horizon: float | None = None) -> None:
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.alphas = alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.penalty_factor = penalty_factor
        self.normalize = normalize
        self.tol = tol
        self.max_iter = max_iter
        self.cv = cv
        self.random_state = random_state
        self.horizon = horizon

    def _cause_estimator(self) -> CoxnetCV:
        params = self.get_params(deep=False)
        params.pop("horizon")
        return CoxnetCV(**params)


def _censoring_left(code: np.ndarray, time: np.ndarray):
    """``t -> G(t-)``: Kaplan–Meier of the censoring times, censorings after events at ties."""
    uniq, idx = np.unique(time, return_inverse=True)
    n_cens = np.bincount(idx, weights=(code == 0).astype(float), minlength=uniq.size)
    n_all = np.bincount(idx, minlength=uniq.size).astype(float)
    n_event = n_all - n_cens
    at_risk = n_all[::-1].cumsum()[::-1] - n_event
    g = np.cumprod(1.0 - np.divide(n_cens, at_risk, out=np.zeros(uniq.size), where=at_risk > 0))

    def left(t: np.ndarray) -> np.ndarray:
        j = np.searchsorted(uniq, t, side="left") - 1
        return np.where(j >= 0, g[np.clip(j, 0, None)], 1.0)

    return left


class _FGData:
    """The Fine–Gray risk sets: weights of every patient at every distinct cause-1 time."""

    def __init__(self, X: np.ndarray, code: np.ndarray, time: np.ndarray, ties: str) -> None:
        self.X = X
        self.times = np.unique(time[code == 1])
        g_left = _censoring_left(code, time)
        g_t = g_left(self.times)
        g_own = g_left(time)
        at_risk = time[:, None] >= self.times[None, :]
        compet = (code == 2)[:, None] & (time[:, None] < self.times[None, :])
        ratio = np.divide(g_t[None, :], g_own[:, None], out=np.zeros((time.size, self.times.size)),
                          where=g_own[:, None] > 0)
        self.W = np.where(at_risk, 1.0, np.where(compet, ratio, 0.0))
        self.dead = np.flatnonzero(code == 1)
        self.k_of = np.searchsorted(self.times, time[self.dead])  # event -> its time index
        self.d = np.bincount(self.k_of, minlength=self.times.size)
        order = np.argsort(self.k_of, kind="mergesort")
        self.dead, self.k_of = self.dead[order], self.k_of[order]
        starts = np.repeat(np.cumsum(self.d) - self.d, self.d)
        rank = np.arange(self.dead.size) - starts  # r = 0 .. d_k - 1 within the tie group
        self.frac = rank / self.d[self.k_of] if ties == "efron" else np.zeros(self.dead.size)

    def terms(self, beta: np.ndarray) -> dict:
        """Log partial likelihood, score and information at ``beta`` (Efron/Breslow)."""
        X, W = self.X, self.W
        eta = X @ beta
        shift = eta.max() if eta.size else 0.0
        r = np.exp(eta - shift)
        R = W * r[:, None]
        s0 = R.sum(axis=0)
        s1 = R.T @ X
        rd = r[self.dead]
        s0d = np.bincount(self.k_of, weights=rd, minlength=self.times.size)
        s1d = np.zeros_like(s1)
        np.add.at(s1d, self.k_of, rd[:, None] * X[self.dead])
        den = s0[self.k_of] - self.frac * s0d[self.k_of]  # one row per event (k, r)
        xbar = (s1[self.k_of] - self.frac[:, None] * s1d[self.k_of]) / den[:, None]
        loglik = float(eta[self.dead].sum() - (np.log(den) + shift).sum())
        grad = X[self.dead].sum(axis=0) - xbar.sum(axis=0)
        a = np.bincount(self.k_of, weights=1.0 / den, minlength=self.times.size)
        b = np.bincount(self.k_of, weights=self.frac / den, minlength=self.times.size)
        wt = R @ a
        wt[self.dead] -= rd * b[self.k_of]
        info = (X * wt[:, None]).T @ X - xbar.T @ xbar
        return {"loglik": loglik, "grad": grad, "info": (info + info.T) / 2.0, "r": r,
                "xbar": xbar, "den": den, "a": a, "shift": shift}

    def score_residuals(self, t: dict) -> np.ndarray:
        """Per-patient score residuals (case-weighted, summed over the patient's risk time)."""
        X, W, r, xbar, den = self.X, self.W, t["r"], t["xbar"], t["den"]
        h = 1.0 / den
        m = self.times.size
        a_all = np.bincount(self.k_of, weights=h, minlength=m)
        b_all = np.zeros((m, X.shape[1]))
        np.add.at(b_all, self.k_of, h[:, None] * xbar)
        keep = 1.0 - self.frac  # Efron: a dead patient's share of the r-th risk set
        a_own = np.bincount(self.k_of, weights=h * keep, minlength=m)
        b_own = np.zeros_like(b_all)
        np.add.at(b_own, self.k_of, (h * keep)[:, None] * xbar)
        A = W @ a_all
        B = W @ b_all
        # the patient's own event time uses the Efron shares instead of full membership
        A[self.dead] += a_own[self.k_of] - a_all[self.k_of]
        B[self.dead] += b_own[self.k_of] - b_all[self.k_of]
        resid = -(r[:, None] * (X * A[:, None] - B))
        mean_xbar = np.zeros((m, X.shape[1]))
        np.add.at(mean_xbar, self.k_of, xbar / self.d[self.k_of][:, None])
        resid[self.dead] += X[self.dead] - mean_xbar[self.k_of]
        return resid


class FineGray(_CompetingBase):
    """Fine–Gray subdistribution-hazard regression for the event of interest (cause 1).

    Equivalent to R's ``coxph(Surv(fgstart, fgstop, fgstatus) ~ ..., weights=fgwt, id=id)`` on
    ``survival::finegray`` data (see the module docstring), with an optional ridge penalty.

    Parameters
    ----------
    alpha : float, default=0.01
        Ridge penalty ``alpha / 2 * ||coef||^2`` on the log pseudo-likelihood, as
        :class:`CoxPH`; 0 reproduces R.
    ties : {'efron', 'breslow'}, default='efron'
        Handling of tied event times.
    n_iter : int, default=100
        Maximum Newton-Raphson iterations.
    tol : float, default=1e-9
        Convergence threshold on the relative change of the objective.
    horizon : float, default=None
        Time (months) of the CIF that :meth:`predict` returns; ``None``: the last training
        time with an event of interest.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Log subdistribution hazard ratios.
    cov_ : ndarray of shape (n_features, n_features)
        Robust (sandwich) covariance, clustered by patient (R's ``robust se``).
    naive_cov_ : ndarray of shape (n_features, n_features)
        Inverse of the (penalised) information (R's ``se(coef)``).
    event_times_ : ndarray
        Distinct training times of the event of interest.
    cum_baseline_hazard_ : ndarray
        Baseline cumulative subdistribution hazard at ``event_times_`` (Efron or Breslow
        increments, as R's ``survfit`` on the fit).
    loglik_ : float
        Log pseudo-likelihood at ``coef_`` (unpenalised).
    last_event_time_ : float
        Largest training time with an event of interest.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` was a DataFrame.
    """

    _parameter_constraints: dict = dict(_COX_CONSTRAINTS)

    def __init__(self, alpha: float = DEFAULT_RIDGE_ALPHA, *, ties: str = "efron",
                 n_iter: int = 100, tol: float = 1e-9, horizon: float | None = None) -> None:
        self.alpha = alpha
        self.ties = ties
        self.n_iter = n_iter
        self.tol = tol
        self.horizon = horizon

    def fit(self, X: Any, y: Any) -> FineGray:
        """Fit by Newton-Raphson (step halving), then the robust covariance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features, no missing values.
        y : structured ndarray of shape (n_samples,)
            Competing-risks outcome (integer ``event`` 0/1/2, ``time``).

        Returns
        -------
        self : FineGray
            The fitted model.

        Raises
        ------
        mmrisk.exceptions.ModelFitError
            If there is no event of interest, or ``alpha`` is 0 with collinear columns.
        """
        self._validate_params()
        code, time = check_competing_outcome(y)
        Xa = check_array(X, dtype=np.float64, ensure_min_samples=2)
        self._set_common(X, code, time, Xa.shape[1])
        alpha = float(self.alpha)
        collinear = collinear_columns(Xa, getattr(X, "columns", None))
        if collinear and alpha == 0:
            raise ModelFitError(
                f"FineGray: columns {', '.join(collinear)} are constant or linearly dependent, "
                "so their coefficients are not identifiable with alpha=0; drop a reference "
                f"category or set alpha > 0 (default {DEFAULT_RIDGE_ALPHA})."
            )
        data = _FGData(Xa, code, time, self.ties)
        beta, terms, converged = self._newton(data, alpha)
        penalty = np.eye(beta.size) * alpha
        naive = _inverse(terms["info"] + penalty)
        resid = data.score_residuals(terms)
        dfbeta = resid @ naive
        self.coef_ = beta
        self.naive_cov_ = naive
        self.cov_ = dfbeta.T @ dfbeta
        self.loglik_ = terms["loglik"]
        self.event_times_ = data.times
        increments = terms["a"] * np.exp(-terms["shift"])
        self.cum_baseline_hazard_ = np.cumsum(increments)
        if not converged:
            warnings.warn(f"FineGray: no convergence in n_iter={self.n_iter} iterations; "
                          "increase n_iter or alpha.", ModelFitWarning, stacklevel=2)
        return self

    def _newton(self, data: _FGData, alpha: float) -> tuple[np.ndarray, dict, bool]:
        beta = np.zeros(data.X.shape[1])
        terms = data.terms(beta)
        obj = terms["loglik"] - alpha / 2 * beta @ beta
        for _ in range(int(self.n_iter)):
            grad = terms["grad"] - alpha * beta
            step = np.linalg.lstsq(terms["info"] + alpha * np.eye(beta.size), grad, rcond=None)[0]
            for _half in range(30):
                new_beta = beta + step
                new_terms = data.terms(new_beta)
                new_obj = new_terms["loglik"] - alpha / 2 * new_beta @ new_beta
                if new_obj >= obj - 1e-12 * abs(obj):
                    break
                step = step / 2.0
            done = abs(new_obj - obj) <= self.tol * max(abs(obj), 1.0)
            beta, terms, obj = new_beta, new_terms, new_obj
            if done:
                return beta, terms, True
        return beta, terms, False

    def linear_predictor(self, X: Any) -> np.ndarray:
        """Linear predictor ``X @ coef_`` (log subdistribution hazard ratio; SHAP reasons).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            Linear predictor.
        """
        check_is_fitted(self)
        Xa = check_array(X, dtype=np.float64)
        return Xa @ self.coef_

    def predict_cif(self, X: Any, times: Sequence[float]) -> np.ndarray:
        """Cumulative incidence of cause 1: ``1 - exp(-L0(t) exp(X @ coef_))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        times : sequence of float
            Time points (months).

        Returns
        -------
        ndarray of shape (n_samples, n_times)
            Predicted CIF of the event of interest.
        """
        at = np.atleast_1d(np.asarray(times, dtype=float))
        lp = self.linear_predictor(X)
        base = _step(self.event_times_, self.cum_baseline_hazard_, at)
        return 1.0 - np.exp(-np.exp(lp)[:, None] * base[None, :])

    def hazard_ratio_table(self, level: float = 0.95) -> pd.DataFrame:
        """Subdistribution hazard ratios with robust Wald intervals and p-values.

        Parameters
        ----------
        level : float, default=0.95
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Columns ``term``, ``hr``, ``hr_lo``, ``hr_hi``, ``p`` (the project's
            ``hazard_ratios.csv`` columns), one row per feature.
        """
        check_is_fitted(self)
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1); got {level!r}.")
        se = np.sqrt(np.clip(np.diag(self.cov_), 0.0, None))
        z = stats.norm.ppf(0.5 + level / 2.0)
        coef = self.coef_
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            table = pd.DataFrame({
                "term": _terms(self, coef.size), "hr": np.exp(coef),
                "hr_lo": np.exp(coef - z * se), "hr_hi": np.exp(coef + z * se),
                "p": 2.0 * stats.norm.sf(np.abs(coef / se)),
            })
        return table


def predict_cif_at(model: Any, X: Any, times: Sequence[float]) -> np.ndarray:
    """CIF of cause 1 at ``times`` from a fitted competing-risks model or its Pipeline.

    The competing-risks counterpart of :func:`mmrisk.models.predict_survival_at`.

    Parameters
    ----------
    model : fitted estimator, Pipeline or grid search
        A fitted model of :data:`COMPETING_MODEL_KINDS`, possibly behind feature steps.
    X : array-like of shape (n_samples, n_features)
        Input of the model (raw features when ``model`` is a Pipeline).
    times : sequence of float
        Time points (months), e.g. the configured horizons.

    Returns
    -------
    ndarray of shape (n_samples, n_times)
        Predicted CIF of the event of interest, in [0, 1], non-decreasing along each row.
    """
    while hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    if isinstance(model, Pipeline):
        X = model[:-1].transform(X) if len(model.steps) > 1 else X
        model = model.steps[-1][1]
    return model.predict_cif(X, times)


class CauseLinearPredictor(BaseEstimator):
    """The linear predictor of one cause of a fitted competing-risks model, as a risk score.

    ``predict(X) = X @ coef_``: the log cause-specific hazard ratio (``cs_cox``, ``cs_coxnet``)
    or the log subdistribution hazard ratio (``finegray``) of the cause, relative to all
    features at 0. It is what SHAP reasons of a competing-risks model explain (exactly, by the
    linear explainer): the cumulative incidence itself is not additive in the features.
    :meth:`fit` only reads the coefficients of the already fitted ``model``
    (:func:`cause_linear_model` does it).

    Parameters
    ----------
    model : fitted CauseSpecificCoxPH, CauseSpecificCoxnet or FineGray
        The competing-risks model (its final estimator, without feature steps).
    cause : {1, 2}, default=1
        The cause (``finegray`` models cause 1 only).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients of the cause's linear predictor.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when the model has them.
    """

    def __init__(self, model: Any, cause: int = 1) -> None:
        self.model = model
        self.cause = cause

    def fit(self, X: Any = None, y: Any = None) -> CauseLinearPredictor:
        """Read the cause's coefficients from the fitted ``model`` (``X`` and ``y`` are unused).

        Parameters
        ----------
        X, y : ignored
            Present for the scikit-learn API.

        Returns
        -------
        self : CauseLinearPredictor
            With ``coef_``.

        Raises
        ------
        ValueError
            If ``model`` is not a fitted competing-risks model or ``cause`` is not one of its
            causes.
        """
        model, cause = self.model, self.cause
        if isinstance(model, FineGray):
            if cause != 1:
                raise ValueError(f"a FineGray model describes cause 1 only; got cause={cause!r}.")
            check_is_fitted(model)
            coef = model.coef_
        elif isinstance(model, _CauseSpecific):
            if cause not in CAUSES:
                raise ValueError(f"cause must be 1 or 2; got {cause!r}.")
            check_is_fitted(model)
            coef = model.estimators_[cause - 1].coef_
        else:
            raise ValueError(f"{type(model).__name__} is not a competing-risks model of the "
                             f"kinds {', '.join(COMPETING_MODEL_KINDS)}.")
        self.coef_ = np.asarray(coef, dtype=float).reshape(-1)
        self.n_features_in_ = model.n_features_in_
        if hasattr(model, "feature_names_in_"):
            self.feature_names_in_ = model.feature_names_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Linear predictor ``X @ coef_`` of the cause.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input (after the feature steps).

        Returns
        -------
        ndarray of shape (n_samples,)
            Log (cause-specific or subdistribution) hazard ratio.
        """
        check_is_fitted(self)
        return check_array(X, dtype=np.float64) @ self.coef_


def cause_linear_model(model: Any, cause: int = 1) -> Any:
    """A fitted competing-risks Pipeline with its last step replaced by a cause's linear predictor.

    Parameters
    ----------
    model : fitted Pipeline, estimator or grid search
        A model of :data:`COMPETING_MODEL_KINDS`, possibly behind feature steps.
    cause : {1, 2}, default=1
        The cause whose linear predictor becomes the risk score.

    Returns
    -------
    sklearn.pipeline.Pipeline or CauseLinearPredictor
        The same fitted feature steps followed by ``('model', CauseLinearPredictor)`` (or the
        predictor alone for a model without feature steps); its risk score is affine in the
        model input, so :func:`mmrisk.explain.explain` explains it exactly.
    """
    while hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    if isinstance(model, Pipeline):
        final = CauseLinearPredictor(model.steps[-1][1], cause).fit()
        return Pipeline([*model.steps[:-1], (model.steps[-1][0], final)])
    return CauseLinearPredictor(model, cause).fit()


def _inverse(matrix: np.ndarray) -> np.ndarray:
    try:
        inv = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.full_like(matrix, np.nan)
    return (inv + inv.T) / 2.0


#: Competing-risks kinds (to join :data:`mmrisk.models.MODEL_KINDS`): name -> ModelKind.
def _kinds() -> Mapping[str, Any]:
    from types import MappingProxyType

    from mmrisk.models._catalogue import ModelKind

    kinds = (
        ModelKind(name="cs_cox", estimator=CauseSpecificCoxPH, cox_type=True,
                  description="Cause-specific Cox per cause (ridge alpha=0.01); CIF of cause 1."),
        ModelKind(name="cs_coxnet", estimator=CauseSpecificCoxnet, cox_type=True,
                  managed={"cv": "inner_cv", "random_state": "seed"},
                  description="Cause-specific elastic-net Cox per cause; CIF of cause 1."),
        ModelKind(name="finegray", estimator=FineGray, cox_type=True,
                  description="Fine-Gray subdistribution hazards (Efron ties, robust SE)."),
    )
    return MappingProxyType({k.name: k for k in kinds})


COMPETING_MODEL_KINDS: Mapping[str, Any] = _kinds()


def make_competing_model(
    kind: str,
    *,
    pipeline: str | Pipeline | None = None,
    params: Mapping[str, Any] | None = None,
    inner_cv: int = 3,
    seed: int = 0,
) -> Pipeline:
    """One unfitted competing-risks model: a feature pipeline followed by the model.

    The same rules as :func:`mmrisk.models.make_model` (parameter checks, managed ``seed`` and
    ``inner_cv``, the final step named ``'model'``) for the kinds of
    :data:`COMPETING_MODEL_KINDS`. Grids are not supported yet.

    Parameters
    ----------
    kind : {'cs_cox', 'cs_coxnet', 'finegray'}
        The model kind.
    pipeline : str or sklearn.pipeline.Pipeline, default=None
        Feature pipeline name (``'default'``) or a Pipeline of transformers.
    params : mapping, default=None
        Model parameters, e.g. ``{'horizon': 60, 'alpha': 0}``.
    inner_cv : int, default=3
        Inner folds of ``cs_coxnet``'s penalty choice.
    seed : int, default=0
        Seed of the inner folds.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Feature steps then ``('model', estimator)``; ``fit(X, y)`` takes a competing-risks
        outcome.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        For an unknown kind or parameter (the message names the key).
    """
    from mmrisk.exceptions import ConfigError
    from mmrisk.models import _catalogue as cat

    if kind not in COMPETING_MODEL_KINDS:
        raise ConfigError(f"unknown competing-risks model kind {kind!r}; available: "
                          f"{', '.join(sorted(COMPETING_MODEL_KINDS))}.")
    spec = COMPETING_MODEL_KINDS[kind]
    steps = cat._feature_steps(spec, pipeline)
    estimator = cat._make_estimator(spec, params, seed, inner_cv)
    return Pipeline([*steps, (cat.MODEL_STEP, clone(estimator))]).set_output(transform="pandas")
