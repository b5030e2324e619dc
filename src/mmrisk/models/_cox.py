"""Cox proportional hazards with a small ridge penalty, Wald covariance and readable failures."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import check_array_survival

from mmrisk.exceptions import ModelFitError, ModelFitWarning

__all__ = ["CoxPH", "DEFAULT_RIDGE_ALPHA", "cox_information", "collinear_columns"]

#: Default ridge penalty of :class:`CoxPH`: ``alpha / 2 * ||beta||^2`` is subtracted from the
#: (summed) log partial likelihood, i.e. a N(0, 10^2) prior on each log hazard ratio. Small
#: enough to leave well-determined coefficients unchanged (a relative change of about
#: alpha / information), large enough to keep the fit finite for collinear one-hot columns and
#: (quasi-)separated data.
DEFAULT_RIDGE_ALPHA = 0.01

#: A coefficient whose hazard ratio across the observed range of its feature exceeds
#: exp(_EXTREME_LOG_HR) is reported as a sign of (quasi-)complete separation.
_EXTREME_LOG_HR = 15.0

_RANK_RTOL = 1e-10


def _names(feature_names: Any, n_features: int) -> list[str]:
    if feature_names is None:
        return [f"x{j}" for j in range(n_features)]
    return [str(n) for n in feature_names]


def _null_space(Xa: np.ndarray) -> np.ndarray:
    """Orthonormal basis (rows) of the null space of the column-centred ``Xa``."""
    Xc = Xa - Xa.mean(axis=0)
    # thin SVD when n >= p; otherwise the full one, so that vt spans all of R^p
    _, s, vt = np.linalg.svd(Xc, full_matrices=Xa.shape[0] < Xa.shape[1])
    s_full = np.zeros(Xa.shape[1])
    s_full[: s.size] = s
    top = s_full.max() if s_full.size else 0.0
    return vt[s_full <= _RANK_RTOL * max(top, np.finfo(float).tiny)]


def collinear_columns(X: Any, feature_names: Any = None) -> list[str]:
    """Columns that are constant or take part in an exact linear dependence (after centring).

    A Cox model has no intercept, so a column is redundant if it is constant or a linear
    combination of other columns plus a constant (e.g. every one-hot column of a category when
    none is dropped). Such coefficients are not identifiable without a penalty.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric feature matrix, as the model sees it.
    feature_names : sequence of str, default=None
        Column names; ``x0, x1, ...`` if not given.

    Returns
    -------
    list of str
        Names of the columns with a non-zero loading on a null direction of the centred ``X``,
        in column order; empty if ``X`` has full column rank.
    """
    Xa = np.asarray(X, dtype=float)
    null = _null_space(Xa)
    if not null.shape[0]:
        return []
    names = _names(feature_names, Xa.shape[1])
    return [names[j] for j in np.flatnonzero(np.abs(null).max(axis=0) > 1e-6)]


def _unpenalised_direction(Xa: np.ndarray, alphas: np.ndarray) -> bool:
    """Whether some null direction of ``Xa`` is not penalised (coefficients not identifiable)."""
    null = _null_space(Xa)
    if not null.shape[0]:
        return False
    form = (null * alphas) @ null.T  # the penalty restricted to the null space
    return bool(np.linalg.eigvalsh(form).min() <= 1e-12 * max(alphas.max(), 1.0))


def cox_information(
    X: Any, event: Any, time: Any, coef: Any, ties: str = "efron"
) -> np.ndarray:
    """Observed information (minus the Hessian) of the Cox log partial likelihood.

    The log partial likelihood is summed over events (not averaged) and has no penalty; ties
    are handled as in Breslow's or Efron's approximation. Computed with cumulative sums, in
    O(n_samples * n_features^2) time.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Feature matrix.
    event : array-like of shape (n_samples,)
        Event indicator (``True`` = event observed).
    time : array-like of shape (n_samples,)
        Event or censoring time.
    coef : array-like of shape (n_features,)
        Coefficients at which the information is evaluated.
    ties : {'efron', 'breslow'}, default='efron'
        Handling of tied event times.

    Returns
    -------
    ndarray of shape (n_features, n_features)
        The symmetric, positive semi-definite observed information matrix.
    """
    X = np.asarray(X, dtype=float)
    event = np.asarray(event, dtype=bool)
    time = np.asarray(time, dtype=float)
    order = np.argsort(time, kind="mergesort")
    X, event, time = X[order], event[order], time[order]
    eta = X @ np.asarray(coef, dtype=float)
    r = np.exp(eta - eta.max())  # a common factor cancels in every ratio below
    rx = r[:, None] * X
    s0_all = np.cumsum(r[::-1])[::-1]  # sums over {j: time_j >= time_i}
    s1_all = np.cumsum(rx[::-1], axis=0)[::-1]

    uniq = np.unique(time[event])  # distinct event times, ascending
    first = np.searchsorted(time, uniq, side="left")
    s0, s1 = s0_all[first], s1_all[first]
    group = np.searchsorted(uniq, time[event])  # event -> its distinct time
    d = np.bincount(group, minlength=uniq.size)
    d0 = np.bincount(group, weights=r[event], minlength=uniq.size)
    d1 = np.zeros_like(s1)
    np.add.at(d1, group, rx[event])

    # One row per event: l = 0 .. d_k - 1 within its tie group (Efron removes l/d_k of the dead).
    kk = np.repeat(np.arange(uniq.size), d)
    starts = np.repeat(np.cumsum(d) - d, d)
    frac = (np.arange(kk.size) - starts) / d[kk] if ties == "efron" else np.zeros(kk.size)
    s0_kl = s0[kk] - frac * d0[kk]
    z = (s1[kk] - frac[:, None] * d1[kk]) / s0_kl[:, None]
    a = np.bincount(kk, weights=1.0 / s0_kl, minlength=uniq.size)  # weight of survivors
    b = np.bincount(kk, weights=(1.0 - frac) / s0_kl, minlength=uniq.size)  # of the dead

    # Weight of sample j in sum_k sum_l S2_kl / S0_kl: all event times before t_j use a_k; the
    # event time equal to t_j (if any) uses b_k for j's own event, a_k if j is censored there.
    cum_a = np.concatenate([[0.0], np.cumsum(a)])
    n_before = np.searchsorted(uniq, time, side="left")
    weight = cum_a[n_before]
    at_event_time = (n_before < uniq.size) & (uniq[np.minimum(n_before, uniq.size - 1)] == time)
    k_same = n_before[at_event_time]
    weight[at_event_time] += np.where(event[at_event_time], b[k_same], a[k_same])
    info = (X * (r * weight)[:, None]).T @ X - z.T @ z
    return (info + info.T) / 2.0


class CoxPH(CoxPHSurvivalAnalysis):
    """Cox proportional hazards model with a small ridge penalty and a Wald covariance.

    scikit-survival's :class:`~sksurv.linear_model.CoxPHSurvivalAnalysis` (same parameters,
    same fit, same predictions), with Efron's ties and a ridge ``alpha`` by default, plus:

    - ``cov_``, the inverse of the observed information of the penalised log partial
      likelihood at the estimate, for Wald confidence intervals and p-values (with
      ``alpha=0``: the usual covariance reported by R's ``coxph`` and lifelines);
    - readable failures: with ``alpha=0``, collinear or constant columns raise
      :class:`~mmrisk.exceptions.ModelFitError` naming them (instead of a silently wrong fit);
      with ``alpha>0`` they give a :class:`~mmrisk.exceptions.ModelFitWarning`, as do extreme
      coefficients (a sign of separation) and non-convergence.

    Parameters
    ----------
    alpha : float or ndarray of shape (n_features,), default=0.01
        Ridge penalty: ``alpha / 2 * ||coef||^2`` is subtracted from the summed log partial
        likelihood (scikit-survival's scale; a N(0, 1/alpha) prior on each coefficient). The
        default 0.01 barely moves well-determined coefficients but keeps the fit finite for
        collinear one-hot columns and separated data. Use 0 for the unpenalised model.
    ties : {'efron', 'breslow'}, default='efron'
        Handling of tied event times (Efron's, as in R and lifelines, by default).
    n_iter : int, default=100
        Maximum number of Newton-Raphson iterations.
    tol : float, default=1e-9
        Convergence threshold on the relative change of the objective.
    verbose : int, default=0
        Verbosity of the optimiser.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Log hazard ratios, per unit of each input column.
    cov_ : ndarray of shape (n_features, n_features)
        ``inv(information_ + diag(alpha))``: covariance of ``coef_`` (Wald).
    information_ : ndarray of shape (n_features, n_features)
        Observed information of the unpenalised log partial likelihood at ``coef_``.
    collinear_features_ : list of str
        Columns that are constant or linearly dependent in the training data (see
        :func:`collinear_columns`); their coefficients are set by the penalty.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    sksurv.linear_model.CoxPHSurvivalAnalysis, mmrisk.models.hazard_ratios

    Examples
    --------
    >>> from sksurv.datasets import load_whas500
    >>> from mmrisk.models import CoxPH
    >>> X, y = load_whas500()
    >>> model = CoxPH().fit(X[["age", "bmi"]].astype(float), y)
    >>> model.cov_.shape
    (2, 2)
    """

    def __init__(
        self,
        alpha: float | np.ndarray = DEFAULT_RIDGE_ALPHA,
        *,
        ties: str = "efron",
        n_iter: int = 100,
        tol: float = 1e-9,
        verbose: int = 0,
    ) -> None:
        super().__init__(alpha=alpha, ties=ties, n_iter=n_iter, tol=tol, verbose=verbose)

    def fit(self, X: Any, y: Any) -> CoxPH:
        """Fit the model (Newton-Raphson), then compute the Wald covariance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features, no missing values.
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time), as made by :meth:`sksurv.util.Surv.from_arrays`.

        Returns
        -------
        self : CoxPH
            The fitted model.

        Raises
        ------
        mmrisk.exceptions.ModelFitError
            If ``alpha`` is 0 for columns that are collinear or constant, or if the optimiser
            fails.
        ValueError
            If ``X`` or ``y`` is invalid (e.g. missing values, all samples censored).
        """
        self._validate_params()
        names = getattr(X, "columns", None)
        Xa = check_array(X, dtype=np.float64, ensure_min_samples=2, estimator=self, input_name="X")
        event, time = check_array_survival(Xa, y)
        alphas = _alpha_vector(self.alpha, Xa.shape[1])
        collinear = collinear_columns(Xa, names)
        if collinear and _unpenalised_direction(Xa, alphas):
            raise ModelFitError(
                f"CoxPH: columns {', '.join(collinear)} are constant or linearly dependent "
                "(e.g. every one-hot column of a category), so their coefficients are not "
                "identifiable with alpha=0. Drop a reference category (encode with "
                "drop='first'), drop the redundant columns, or set alpha > 0 (default "
                f"{DEFAULT_RIDGE_ALPHA})."
            )
        converged = self._fit_quietly(X, y)
        self.collinear_features_ = collinear
        self.information_ = cox_information(Xa, event, time, self.coef_, self.ties)
        self.cov_ = _inverse(self.information_ + np.diag(alphas))
        self._warn_unreliable(Xa, names, converged)
        return self

    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """Survival functions (Breslow baseline), as scikit-survival's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        return_array : bool, default=False
            Values at ``unique_times_`` (computed for all rows at once) instead of step
            functions.

        Returns
        -------
        ndarray
            Step functions of shape (n_samples,) or values of shape
            (n_samples, n_unique_times).
        """
        if return_array:
            from mmrisk.models._predict import breslow_survival_array

            check_is_fitted(self, "coef_")
            return breslow_survival_array(self._baseline_model, self.predict(X))
        return super().predict_survival_function(X, return_array=False)

    def _fit_quietly(self, X: Any, y: Any) -> bool:
        """Run scikit-survival's fit; turn its failures into readable errors and warnings."""
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                super().fit(X, y)
        except (np.linalg.LinAlgError, ValueError) as exc:
            if isinstance(exc, ValueError) and "search direction" not in str(exc):
                raise
            raise ModelFitError(
                f"CoxPH: the Newton-Raphson fit failed ({exc}). The data are probably "
                "(quasi-)completely separated or the features badly scaled; set alpha > 0 "
                f"(default {DEFAULT_RIDGE_ALPHA}), standardise the features, or merge rare "
                "categories."
            ) from exc
        converged = True
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                converged = False
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return converged

    def _warn_unreliable(self, Xa: np.ndarray, names: Any, converged: bool) -> None:
        labels = _names(names, Xa.shape[1])
        messages = []
        if self.collinear_features_:
            messages.append(
                f"columns {', '.join(self.collinear_features_)} are constant or linearly "
                "dependent; their coefficients are set by the ridge penalty and their hazard "
                "ratios are not interpretable one by one (encode with drop='first' or drop "
                "redundant columns)"
            )
        spread = np.ptp(Xa, axis=0)
        extreme = [labels[j] for j in np.flatnonzero(np.abs(self.coef_) * spread > _EXTREME_LOG_HR)]
        if extreme:
            messages.append(
                f"coefficients of {', '.join(extreme)} are extreme (hazard ratio across the "
                f"observed range above exp({_EXTREME_LOG_HR:g})), a sign of (quasi-)complete "
                "separation; merge rare categories, drop the feature, or increase alpha"
            )
        if not converged:
            messages.append(
                f"the fit did not converge in n_iter={self.n_iter} iterations; increase n_iter "
                "or alpha"
            )
        if messages:
            warnings.warn("CoxPH: " + "; ".join(messages) + ".", ModelFitWarning, stacklevel=3)


def _alpha_vector(alpha: Any, n_features: int) -> np.ndarray:
    values = np.asarray(alpha, dtype=float)
    if values.ndim == 0:
        return np.full(n_features, float(values))
    if values.shape != (n_features,):
        raise ValueError(
            f"CoxPH: alpha has {values.size} values but X has {n_features} columns; give one "
            "value per column or a single number."
        )
    return values


def _inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric matrix; NaN where it is singular."""
    try:
        inv = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        return np.full_like(matrix, np.nan)
    return (inv + inv.T) / 2.0
