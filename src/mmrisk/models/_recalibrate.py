"""Model updating on a new cohort (TRIPOD+AI item 24): baseline, intercept or intercept and slope.

The fitted model is kept as it is; only a few parameters are re-estimated on the new patients.
Every method works on the model's own predicted cumulative hazard ``H(t | x) = -log S(t | x)``,
so it applies to Cox models and to forests alike. The linear predictor is defined as
``LP(x) = log H(t* | x)``, the log cumulative hazard at a reference time ``t*`` (the largest
horizon, say), i.e. ``cloglog`` of the predicted risk by ``t*``. For a Cox model
``LP = log H0(t*) + x'beta``, so the choice of ``t*`` only shifts the reported intercept; for a
forest it picks the time at which the recalibration is anchored.

``method="baseline"``
    The baseline cumulative hazard is re-estimated by Breslow's estimator with ``LP`` as a
    fixed offset (coefficient 1; scikit-survival's ``BreslowEstimator``):
    ``H_new(t | x) = H0_new(t) exp(LP(x))``. For a Cox model this is the Cox model with its
    coefficients and a new baseline; a forest becomes proportional-hazards in its ``LP``.
``method="intercept"``
    ``H_new(t | x) = exp(a) H(t | x)``. ``a`` is the maximum-likelihood estimate under
    proportional scaling of the hazard: ``exp(a) = sum(d_i) / sum(H(T_i | x_i))`` (observed
    events over the model's expected cumulative hazard at each patient's own time; van
    Houwelingen, Stat Med 2000; Crowson, Atkinson & Therneau, Stat Methods Med Res 2016).
``method="slope"``
    ``log H_new(t | x) = a + b LP(x) + log H(t | x) - LP(x)``; at ``t*`` this is
    ``log H_new(t* | x) = a + b LP(x)``. ``(a, b)`` are maximum-likelihood estimates: the
    log-likelihood is that of a Poisson model of ``d_i`` with log link, covariate ``LP`` and
    offset ``log H(T_i | x_i) - LP_i`` (Crowson et al. 2016), fitted here by Newton-Raphson
    (two parameters; written out so that the fitted object needs no statsmodels import).

``predict`` returns the original model's risk score: recalibration with ``b > 0`` does not
change who is at higher risk, so risk groups and cut-points stay valid. The recalibrated
``LP`` is :meth:`RecalibratedSurvival.linear_predictor`. Times before the model's first event
time get the model's value at it (scikit-survival's step-function convention); predicted event
probabilities are kept within [1e-6, 1] on the log scale, as in the calibration metrics.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from sksurv.base import SurvivalAnalysisMixin
from sksurv.functions import StepFunction
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.util import check_array_survival

from mmrisk.exceptions import ModelFitError

__all__ = ["RECALIBRATION_METHODS", "RecalibratedSurvival", "recalibrate"]

#: The methods of :class:`RecalibratedSurvival`.
RECALIBRATION_METHODS = ("baseline", "intercept", "slope")

_PROB_EPS = 1e-6
_MAX_ITER = 100
_TOL = 1e-10


def _clip_surv(s: np.ndarray) -> np.ndarray:
    return np.clip(s, 1e-300, 1.0 - _PROB_EPS)


def _surv_at(functions, t: np.ndarray) -> np.ndarray:
    """S_i(t_i) for each step function (times clipped to its domain)."""
    out = np.empty(len(functions))
    for i, fn in enumerate(functions):
        lo, hi = fn.domain
        out[i] = fn(np.clip(t[i], lo, hi))
    return out


def _poisson_newton(d: np.ndarray, X: np.ndarray, offset: np.ndarray):
    """Maximum-likelihood Poisson log-linear fit; returns (coef, covariance)."""
    beta = np.zeros(X.shape[1])
    for _ in range(_MAX_ITER):
        mu = np.exp(X @ beta + offset)
        info = X.T @ (mu[:, None] * X)
        step = np.linalg.solve(info, X.T @ (d - mu))
        beta = beta + step
        if np.max(np.abs(step)) < _TOL:
            mu = np.exp(X @ beta + offset)
            return beta, np.linalg.inv(X.T @ (mu[:, None] * X))
    raise ModelFitError(
        f"RecalibratedSurvival: the intercept/slope fit did not converge in {_MAX_ITER} "
        "Newton steps; the new cohort may have too few events, or the model's linear "
        "predictor is (nearly) constant on it. Use method='intercept' or 'baseline'."
    )


class RecalibratedSurvival(SurvivalAnalysisMixin, BaseEstimator):
    """A fitted survival model recalibrated on new data (baseline, intercept or slope).

    ``fit`` never refits ``estimator``: it estimates the recalibration parameters on
    ``(X, y)`` given the fitted model's predictions. See the module docstring for the
    definitions.

    Parameters
    ----------
    estimator : fitted estimator
        A survival model (or Pipeline) with ``predict`` and ``predict_survival_function``.
    method : {"baseline", "intercept", "slope"}, default="slope"
        What is re-estimated.
    reference_time : float, default=None
        ``t*`` of ``LP(x) = log H(t* | x)`` (months; pass the largest horizon). None: the
        largest event time of the recalibration data.

    Attributes
    ----------
    method_ : str
        The method used.
    reference_time_ : float
        ``t*``.
    intercept_, slope_ : float
        ``a`` and ``b`` (``slope_`` is 1 unless ``method='slope'``; both are 0 and 1 for
        ``'baseline'``, whose fitted values are the baseline).
    intercept_se_, slope_se_ : float
        Standard errors (inverse information); NaN where not estimated.
    baseline_times_, baseline_cumhaz_ : ndarray
        ``method='baseline'``: event times of the new data and ``H0_new`` there.
    n_samples_fit_, n_events_fit_ : int
        Size of the recalibration data.
    unique_times_ : ndarray
        Time points of ``predict_*_function(..., return_array=True)``.
    """

    _parameter_constraints = {
        "estimator": [object],
        "method": [StrOptions(set(RECALIBRATION_METHODS))],
        "reference_time": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, estimator: Any, *, method: str = "slope", reference_time=None) -> None:
        self.estimator = estimator
        self.method = method
        self.reference_time = reference_time

    def fit(self, X: Any, y: Any) -> RecalibratedSurvival:
        """Estimate the recalibration parameters on new data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of ``estimator``.
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time) of the new cohort.

        Returns
        -------
        RecalibratedSurvival
            The fitted recalibration (``self``).
        """
        self._validate_params()
        event, time = check_array_survival(np.zeros((len(y), 1)), y)
        if event.sum() < 1:
            raise ModelFitError("RecalibratedSurvival: the recalibration data have no events.")
        t_ref = float(time[event].max()) if self.reference_time is None else self.reference_time
        self.method_, self.reference_time_ = self.method, t_ref
        self.n_samples_fit_, self.n_events_fit_ = int(time.size), int(event.sum())
        functions = self.estimator.predict_survival_function(X)
        lp = self._original_lp(functions)
        self.intercept_, self.slope_ = 0.0, 1.0
        self.intercept_se_, self.slope_se_ = np.nan, np.nan
        if self.method == "baseline":
            breslow = BreslowEstimator().fit(lp, event, time)
            self.baseline_times_ = breslow.unique_times_
            self.baseline_cumhaz_ = breslow.cum_baseline_hazard_.y
            self.unique_times_ = breslow.unique_times_
            return self
        own = -np.log(_clip_surv(_surv_at(functions, time)))
        d = event.astype(float)
        if self.method == "intercept":
            self.intercept_ = float(np.log(d.sum() / own.sum()))
            self.intercept_se_ = float(1.0 / np.sqrt(d.sum()))
        else:
            X_lp = np.column_stack([np.ones_like(lp), lp])
            coef, cov = _poisson_newton(d, X_lp, np.log(own) - lp)
            self.intercept_, self.slope_ = float(coef[0]), float(coef[1])
            self.intercept_se_, self.slope_se_ = np.sqrt(np.diag(cov)).tolist()
        self.unique_times_ = np.asarray(functions[0].x, dtype=float)
        return self

    def _original_lp(self, functions) -> np.ndarray:
        """``log H(t* | x)`` of the wrapped model."""
        t = np.full(len(functions), self.reference_time_)
        return np.log(-np.log(_clip_surv(_surv_at(functions, t))))

    def linear_predictor(self, X: Any) -> np.ndarray:
        """The recalibrated ``log H(t* | x)`` (``a + b LP(x)``; ``log H0_new(t*) + LP(x)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the wrapped estimator.

        Returns
        -------
        ndarray of shape (n_samples,)
            Recalibrated log cumulative hazard at ``reference_time_``.
        """
        check_is_fitted(self, "method_")
        lp = self._original_lp(self.estimator.predict_survival_function(X))
        if self.method_ == "baseline":
            idx = np.searchsorted(self.baseline_times_, self.reference_time_, side="right") - 1
            h0 = self.baseline_cumhaz_[max(idx, 0)]
            return np.log(max(h0, 1e-300)) + lp
        return self.intercept_ + self.slope_ * lp

    def predict(self, X: Any) -> np.ndarray:
        """Risk score of the original model (higher = earlier event).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the wrapped estimator.

        Returns
        -------
        ndarray of shape (n_samples,)
            The wrapped estimator's ``predict``.
        """
        check_is_fitted(self, "method_")
        return np.asarray(self.estimator.predict(X), dtype=float)

    def _survival_functions(self, X: Any) -> np.ndarray:
        functions = self.estimator.predict_survival_function(X)
        lp = self._original_lp(functions)
        if self.method_ == "baseline":
            risk = np.exp(lp)
            out = [np.exp(-self.baseline_cumhaz_ * r) for r in risk]
            return np.array(
                [StepFunction(self.baseline_times_, s) for s in out], dtype=object
            )
        power = np.exp(self.intercept_ + (self.slope_ - 1.0) * lp)
        new = np.empty(len(functions), dtype=object)
        for i, fn in enumerate(functions):
            values = np.clip(fn(fn.x), 0.0, 1.0) ** power[i]
            new[i] = StepFunction(np.asarray(fn.x, dtype=float), values, domain=fn.domain)
        return new

    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """Recalibrated survival functions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_array : bool, default=False
            Return values at :attr:`unique_times_` instead of step functions.

        Returns
        -------
        ndarray
            StepFunction objects of shape (n_samples,), or values of shape
            (n_samples, n_unique_times) with ``return_array=True``.
        """
        check_is_fitted(self, "method_")
        functions = self._survival_functions(X)
        if not return_array:
            return functions
        return np.vstack([fn(np.clip(self.unique_times_, *fn.domain)) for fn in functions])

    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> Any:
        """Recalibrated cumulative hazard functions ``-log S(t | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_array : bool, default=False
            Return values at :attr:`unique_times_` instead of step functions.

        Returns
        -------
        ndarray
            StepFunction objects of shape (n_samples,), or values of shape
            (n_samples, n_unique_times) with ``return_array=True``.
        """
        functions = self.predict_survival_function(X)
        out = np.empty(len(functions), dtype=object)
        for i, fn in enumerate(functions):
            out[i] = StepFunction(fn.x, -np.log(np.clip(fn.y, 1e-300, 1.0)), domain=fn.domain)
        if not return_array:
            return out
        return np.vstack([fn(np.clip(self.unique_times_, *fn.domain)) for fn in out])

    def summary(self) -> dict[str, Any]:
        """Method and fitted values, for logging (e.g. as MLflow params).

        Returns
        -------
        dict
            ``method``, ``reference_time``, ``intercept``, ``intercept_se``, ``slope``,
            ``slope_se``, ``n_samples``, ``n_events``; ``baseline_cumhaz_at_reference`` for
            the baseline method.
        """
        check_is_fitted(self, "method_")
        out = {
            "method": self.method_,
            "reference_time": self.reference_time_,
            "intercept": self.intercept_,
            "intercept_se": self.intercept_se_,
            "slope": self.slope_,
            "slope_se": self.slope_se_,
            "n_samples": self.n_samples_fit_,
            "n_events": self.n_events_fit_,
        }
        if self.method_ == "baseline":
            idx = np.searchsorted(self.baseline_times_, self.reference_time_, side="right") - 1
            out["baseline_cumhaz_at_reference"] = float(self.baseline_cumhaz_[max(idx, 0)])
        return out


def recalibrate(
    model: Any, X: Any, y: Any, *, method: str = "slope", reference_time=None
) -> Any:
    """Recalibrate a fitted catalogue model on new data, keeping its layout.

    A Pipeline keeps its fitted feature steps and gets its final survival model wrapped in a
    :class:`RecalibratedSurvival` (so scoring, which splits off the final step, and pickling
    work unchanged); a fitted grid search is replaced by its best pipeline; any other
    estimator is wrapped as it is.

    Parameters
    ----------
    model : fitted estimator
        A catalogue model (Pipeline, grid search, or bare survival model).
    X : DataFrame of shape (n_samples, n_features)
        The new cohort's input, as the model takes it.
    y : structured ndarray of shape (n_samples,)
        The new cohort's outcome.
    method : {"baseline", "intercept", "slope"}, default="slope"
        What is re-estimated.
    reference_time : float, default=None
        ``t*`` of the linear predictor (pass the largest horizon).

    Returns
    -------
    estimator
        A new object; ``model`` is not modified.
    """
    while hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    options = {"method": method, "reference_time": reference_time}
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        Z = model[:-1].transform(X)
        name, final = model.steps[-1]
        wrapped = RecalibratedSurvival(final, **options).fit(Z, y)
        return Pipeline(list(model.steps[:-1]) + [(name, wrapped)])
    return RecalibratedSurvival(model, **options).fit(X, y)
