"""Gradient-boosted survival models on XGBoost: a Cox model and an accelerated failure time model.

scikit-survival's :class:`~sksurv.ensemble.GradientBoostingSurvivalAnalysis` evaluates the Cox
loss over all pairs of patients at every boosting step, so one fit grows with the square of the
cohort (about 1,600 s at 27,000 patients). XGBoost's ``survival:cox`` objective sorts once and
builds histogram trees, which keeps a fit in the order of a second at registry scale. Both
estimators here wrap XGBoost's native API (``xgboost.train``; the scikit-learn wrapper of
XGBoost has no interval labels for the AFT objective) in the scikit-survival contract:

- :class:`XGBCox` (kind ``xgb_cox``): objective ``survival:cox`` (label = time, negated for a
  censored patient). ``predict`` is the margin, i.e. the log relative hazard. Survival and
  cumulative hazard come from Breslow's estimate of the baseline hazard on the training fit
  (scikit-survival's :class:`~sksurv.linear_model.coxph.BreslowEstimator`, the estimator its
  own gradient boosting uses), as step functions at the training times (``unique_times_``).
- :class:`XGBAFT` (kind ``xgb_aft``): objective ``survival:aft``,
  ``log T = margin(x) + scale * Z`` with ``Z`` standard normal, logistic or extreme-value
  (minimum; then ``T`` is Weibull). A censored patient is the interval ``[time, +inf)``, an
  event the point ``[time, time]``. ``predict`` is ``-margin`` (minus the predicted log time, so
  that higher means earlier progression); the survival function is the fitted distribution's,
  in closed form (:class:`AFTSurvivalFunction`).

Both take XGBoost's usual hyperparameters, optional early stopping on a seeded, event-stratified
inner validation split, a thread count (``n_jobs``) and a seed (``random_state``); both give
exact TreeSHAP values of their risk score through XGBoost's own ``pred_contribs``
(:meth:`XGBCox.predict_risk_contributions`).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import xgboost as xgb
from scipy import special
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from sksurv.base import SurvivalAnalysisMixin
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.util import check_array_survival

from mmrisk.exceptions import ModelFitError
from mmrisk.models._predict import breslow_survival_array

__all__ = ["AFTSurvivalFunction", "XGBAFT", "XGBCox"]

#: Noise distributions of :class:`XGBAFT` (XGBoost's ``aft_loss_distribution``).
AFT_DISTRIBUTIONS = ("normal", "logistic", "extreme")


class _XGBSurvival(SurvivalAnalysisMixin, BaseEstimator):
    """What both XGBoost survival models share: parameters, training, margins, contributions."""

    #: Set by each subclass: XGBoost objective and early-stopping metric, and the sign that
    #: turns the margin into the risk score.
    _objective = ""
    _eval_metric = ""
    _risk_sign = 1.0

    _parameter_constraints: dict = {
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, 1, closed="right")],
        "max_depth": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_child_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(numbers.Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "reg_alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "gamma": [Interval(numbers.Real, 0, None, closed="left")],
        "max_bin": [Interval(numbers.Integral, 2, None, closed="left")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_jobs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def _booster_params(self, seed: int) -> dict[str, Any]:
        params = {
            "objective": self._objective,
            "eval_metric": self._eval_metric,
            "tree_method": "hist",
            "eta": float(self.learning_rate),
            "max_depth": int(self.max_depth),
            "min_child_weight": float(self.min_child_weight),
            "subsample": float(self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "lambda": float(self.reg_lambda),
            "alpha": float(self.reg_alpha),
            "gamma": float(self.gamma),
            "max_bin": int(self.max_bin),
            "seed": seed,
            "verbosity": 0,
        }
        if self.n_jobs is not None:
            params["nthread"] = int(self.n_jobs)
        return params

    def __getstate__(self) -> dict[str, Any]:
        """State for pickle and skops: the booster as XGBoost's own JSON model.

        ``booster_`` is stored as the bytes ``Booster.save_raw("json")`` returns (the format
        of ``Booster.save_model("model.json")``, which XGBoost reads back across versions),
        not as a pickled ``Booster``: a model file then holds no XGBoost object to trust.

        Returns
        -------
        dict
            The estimator's attributes, ``booster_`` as UTF-8 JSON bytes.
        """
        state = super().__getstate__()
        booster = state.get("booster_")
        if isinstance(booster, xgb.Booster):
            state = {**state, "booster_": bytes(booster.save_raw(raw_format="json"))}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the attributes; a JSON ``booster_`` is loaded by XGBoost.

        Parameters
        ----------
        state : dict
            What :meth:`__getstate__` returned (or, for models pickled before, a ``Booster``).
        """
        booster = state.get("booster_")
        if isinstance(booster, bytes | bytearray):
            loaded = xgb.Booster()
            loaded.load_model(bytearray(booster))
            n_jobs = state.get("n_jobs")
            if n_jobs is not None:
                loaded.set_param({"nthread": int(n_jobs)})
            state = {**state, "booster_": loaded}
        super().__setstate__(state)

    def _nthread(self) -> int:
        """Threads for XGBoost: ``n_jobs``, or -1 (XGBoost's default) when it is ``None``."""
        return -1 if self.n_jobs is None else int(self.n_jobs)

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _train(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> None:
        """Fit the booster (with early stopping on an inner split if asked)."""
        seed = self._seed()
        params = self._booster_params(seed)
        self.best_iteration_ = None
        if self.early_stopping_rounds is None:
            booster = xgb.train(
                params, self._matrix(X, event, time), int(self.n_estimators), verbose_eval=False
            )
        else:
            fit_idx, val_idx = _inner_split(event, float(self.validation_fraction), seed)
            dfit = self._matrix(X[fit_idx], event[fit_idx], time[fit_idx])
            dval = self._matrix(X[val_idx], event[val_idx], time[val_idx])
            booster = xgb.train(
                params,
                dfit,
                int(self.n_estimators),
                evals=[(dval, "validation")],
                early_stopping_rounds=int(self.early_stopping_rounds),
                verbose_eval=False,
            )
            self.best_iteration_ = int(booster.best_iteration)
            booster = booster[: self.best_iteration_ + 1]
        self.booster_ = booster
        self.n_estimators_ = int(booster.num_boosted_rounds())

    def _validated(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self._validate_params()
        Xa = validate_data(
            self, X, dtype=np.float32, ensure_all_finite="allow-nan", ensure_min_samples=2
        )
        event, time = check_array_survival(Xa, y)
        if not event.any():
            raise ModelFitError(
                f"{type(self).__name__}: all {event.size} samples are censored; a survival "
                "model needs at least one event."
            )
        return Xa, event, time

    def _margin(self, X: Any) -> np.ndarray:
        """XGBoost's raw output (before the objective's link) for the rows of ``X``."""
        check_is_fitted(self, "booster_")
        Xa = validate_data(self, X, dtype=np.float32, ensure_all_finite="allow-nan", reset=False)
        margin = self.booster_.inplace_predict(Xa, predict_type="margin")
        return np.asarray(margin, dtype=np.float64).reshape(-1)

    def predict_risk_contributions(self, X: Any) -> np.ndarray:
        """Exact TreeSHAP values of ``predict(X)`` (XGBoost's ``pred_contribs``).

        Path-dependent TreeSHAP (Lundberg et al. 2020) as XGBoost computes it on its own trees:
        feature absence is handled by the training cover of each node.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.

        Returns
        -------
        ndarray of shape (n_samples, n_features + 1)
            One value per input column and, last, the expected risk score over the training
            cover (the same for every row); each row sums to ``predict(X)`` (up to XGBoost's
            single precision).
        """
        check_is_fitted(self, "booster_")
        Xa = validate_data(self, X, dtype=np.float32, ensure_all_finite="allow-nan", reset=False)
        data = xgb.DMatrix(Xa, missing=np.nan, nthread=self._nthread())
        contribs = self.booster_.predict(data, pred_contribs=True)
        return self._risk_sign * np.asarray(contribs, dtype=np.float64)

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags: missing values are allowed (XGBoost routes them)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _inner_split(event: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Event-stratified split of the rows into fitting and validation rows (seeded)."""
    rows = np.arange(event.size)
    n_val = int(np.ceil(fraction * event.size))
    stratify = event if min(event.sum(), (~event).sum()) >= 2 else None
    if n_val < 2 or event.size - n_val < 2:
        raise ModelFitError(
            f"early stopping: validation_fraction={fraction:g} of {event.size} samples leaves "
            "fewer than 2 samples on one side of the inner split; lower it or turn early "
            "stopping off (early_stopping_rounds=None)."
        )
    fit_idx, val_idx = train_test_split(
        rows, test_size=n_val, stratify=stratify, random_state=seed
    )
    if not event[fit_idx].any() or not event[val_idx].any():
        raise ModelFitError(
            "early stopping: the inner validation split has no event on one side; use more "
            "data, a larger validation_fraction, or early_stopping_rounds=None."
        )
    return np.sort(fit_idx), np.sort(val_idx)


class XGBCox(_XGBSurvival):
    """Gradient-boosted Cox model on XGBoost's ``survival:cox`` objective, with a Breslow baseline.

    XGBoost fits the log relative hazard ``f(x)`` as a sum of histogram trees by Newton steps on
    the negative Cox log partial likelihood (Breslow's ties). After the fit, Breslow's
    estimator of the cumulative baseline hazard ``H0`` is computed from ``f`` on all training
    rows; ``S(t | x) = exp(-H0(t) exp(f(x)))``.

    Parameters
    ----------
    n_estimators : int, default=200
        Boosting rounds (trees); the maximum with early stopping.
    learning_rate : float, default=0.05
        Shrinkage of every tree (XGBoost's ``eta``).
    max_depth : int, default=3
        Depth of each tree.
    min_child_weight : float, default=1.0
        Minimum sum of Hessian weights in a leaf.
    subsample : float, default=1.0
        Fraction of rows drawn (without replacement) for each tree.
    colsample_bytree : float, default=1.0
        Fraction of columns drawn for each tree.
    reg_lambda : float, default=1.0
        L2 penalty on leaf values.
    reg_alpha : float, default=0.0
        L1 penalty on leaf values.
    gamma : float, default=0.0
        Minimum loss reduction for a split.
    max_bin : int, default=256
        Histogram bins per feature.
    early_stopping_rounds : int or None, default=None
        If set, ``validation_fraction`` of the training rows (event-stratified, seeded by
        ``random_state``) are held out, boosting stops when their negative partial
        log-likelihood has not improved for this many rounds, and the trees up to the best
        round are kept. The baseline hazard is estimated on all training rows.
    validation_fraction : float, default=0.2
        Share of the rows held out for early stopping.
    n_jobs : int or None, default=None
        Threads of XGBoost (``nthread``); ``None``: XGBoost's default, all the threads OpenMP
        allows (joblib workers allow their share of the cores).
    random_state : int, RandomState instance or None, default=None
        Seed of the row and column subsampling and of the inner split.

    Attributes
    ----------
    booster_ : xgboost.Booster
        The fitted trees.
    n_estimators_ : int
        Number of trees kept.
    best_iteration_ : int or None
        Best round of early stopping (0-based); ``None`` without early stopping.
    unique_times_ : ndarray of shape (n_unique_times,)
        Distinct training times, where ``return_array=True`` evaluates the functions.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    XGBAFT : The accelerated failure time model on the same trees.
    sksurv.ensemble.GradientBoostingSurvivalAnalysis : The same model; quadratic in the cohort.

    Examples
    --------
    >>> import numpy as np
    >>> from sksurv.util import Surv
    >>> from mmrisk.models import XGBCox
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = Surv.from_arrays(rng.random(200) < 0.7, rng.exponential(20, 200) * np.exp(-X[:, 0]))
    >>> model = XGBCox(n_estimators=20, random_state=0).fit(X, y)
    >>> model.predict_survival_function(X[:2], return_array=True).shape[0]
    2
    """

    _objective = "survival:cox"
    _eval_metric = "cox-nloglik"

    def __init__(
        self,
        n_estimators: int = 200,
        *,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.2,
        n_jobs: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _matrix(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> Any:
        # A censored time is negated; a censoring at time 0 must stay negative (-0.0 is not).
        tiny = np.finfo(np.float32).tiny
        label = np.where(event, time, -np.maximum(time, tiny)).astype(np.float32)
        return xgb.DMatrix(X, label=label, missing=np.nan, nthread=self._nthread())

    def fit(self, X: Any, y: Any) -> XGBCox:
        """Fit the trees, then Breslow's baseline hazard on the training margins.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; missing values (NaN) are allowed (XGBoost learns a default
            direction at each split).
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time), as made by :meth:`sksurv.util.Surv.from_arrays`.

        Returns
        -------
        self : XGBCox
            The fitted model.

        Raises
        ------
        mmrisk.exceptions.ModelFitError
            If no sample has an event, or the early-stopping split cannot be made.
        """
        Xa, event, time = self._validated(X, y)
        self._train(Xa, event, time)
        margin = np.asarray(self.booster_.inplace_predict(Xa, predict_type="margin"), float)
        # Centring cancels in S(t|x) = S0(t)^exp(f - c) and keeps exp() finite.
        self.margin_offset_ = float(margin.mean())
        self.baseline_ = BreslowEstimator().fit(margin - self.margin_offset_, event, time)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk score: the log relative hazard (XGBoost's margin); higher means earlier events.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``f(x)``, up to a constant that the baseline hazard absorbs.
        """
        return self._margin(X)

    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> Any:
        """Cumulative hazard ``H0(t) exp(f(x))`` with Breslow's ``H0``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.
        return_array : bool, default=False
            Return the values at ``unique_times_`` instead of step functions.

        Returns
        -------
        ndarray
            Of :class:`sksurv.functions.StepFunction` (n_samples,), or of shape
            (n_samples, n_unique_times).
        """
        lp = self._margin(X) - self.margin_offset_
        if return_array:  # all rows at once, the values the step functions take at their steps
            h0 = np.asarray(self.baseline_.cum_baseline_hazard_.y, dtype=float)
            return h0[np.newaxis, :] * np.exp(lp)[:, np.newaxis]
        return self._predict_cumulative_hazard_function(self.baseline_, lp, return_array)

    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """Survival ``S0(t) ^ exp(f(x))`` with Breslow's baseline ``S0``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.
        return_array : bool, default=False
            Return the values at ``unique_times_`` instead of step functions.

        Returns
        -------
        ndarray
            Of :class:`sksurv.functions.StepFunction` (n_samples,), or of shape
            (n_samples, n_unique_times).
        """
        lp = self._margin(X) - self.margin_offset_
        if return_array:
            return breslow_survival_array(self.baseline_, lp)
        return self._predict_survival_function(self.baseline_, lp, return_array)

    @property
    def unique_times_(self) -> np.ndarray:
        """Distinct training times (event or censoring), ascending.

        Returns
        -------
        ndarray of shape (n_unique_times,)
            Where ``return_array=True`` evaluates the functions.
        """
        check_is_fitted(self, "baseline_")
        return self.baseline_.unique_times_


class AFTSurvivalFunction:
    """Survival function of an accelerated failure time model, ``S(t) = 1 - F((log t - mu) / s)``.

    Evaluated in closed form: ``F`` is the standard normal, logistic or minimum extreme-value
    distribution function (the last makes ``T`` Weibull).

    Parameters
    ----------
    loc : float
        ``mu``: the mean of ``log T`` under the normal and logistic noise, its location otherwise.
    scale : float
        ``s`` > 0.
    distribution : {'normal', 'logistic', 'extreme'}
        The noise distribution.
    cumulative_hazard : bool, default=False
        Return ``H(t) = -log S(t)`` instead of ``S(t)``.
    """

    def __init__(
        self, loc: float, scale: float, distribution: str, cumulative_hazard: bool = False
    ) -> None:
        self.loc = float(loc)
        self.scale = float(scale)
        self.distribution = distribution
        self.cumulative_hazard = cumulative_hazard

    @property
    def domain(self) -> tuple[float, float]:
        """Times at which the function is defined.

        Returns
        -------
        tuple of float
            ``(0, inf)``: every non-negative time.
        """
        return (0.0, np.inf)

    def __call__(self, t: Any) -> np.ndarray:
        """Evaluate the function.

        Parameters
        ----------
        t : array-like
            Times >= 0.

        Returns
        -------
        ndarray
            ``S(t)`` (or ``H(t)``), of the shape of ``t``.
        """
        t = np.asarray(t, dtype=float)
        if np.any(t < 0):
            raise ValueError(f"times must be >= 0; got {t.min()!r}.")
        with np.errstate(divide="ignore"):
            z = (np.log(t) - self.loc) / self.scale
        chf = aft_cumulative_hazard(z, self.distribution)
        return chf if self.cumulative_hazard else np.exp(-chf)


def aft_cumulative_hazard(z: Any, distribution: str) -> np.ndarray:
    """``-log(1 - F(z))`` of a standardised AFT noise distribution, in closed form.

    Parameters
    ----------
    z : array-like
        Standardised log time, ``(log t - mu) / scale``.
    distribution : {'normal', 'logistic', 'extreme'}
        ``F``: standard normal, standard logistic (``1 / (1 + exp(-z))``) or minimum extreme
        value (``1 - exp(-exp(z))``).

    Returns
    -------
    ndarray
        Values >= 0, computed without cancellation in either tail.
    """
    z = np.asarray(z, dtype=float)
    if distribution == "normal":
        return -special.log_ndtr(-z)
    if distribution == "logistic":
        return np.logaddexp(0.0, z)
    if distribution == "extreme":
        with np.errstate(over="ignore"):
            return np.exp(z)
    raise ValueError(
        f"distribution must be one of {list(AFT_DISTRIBUTIONS)}; got {distribution!r}."
    )


class XGBAFT(_XGBSurvival):
    """Gradient-boosted accelerated failure time model (XGBoost's ``survival:aft``).

    ``log T = f(x) + scale * Z``; XGBoost fits ``f`` as a sum of trees by maximising the
    censored likelihood: an event at ``t`` is the label interval ``[t, t]``, a patient censored
    at ``c`` the interval ``[c, +inf)``. ``predict`` is ``-f(x)`` (higher = shorter predicted
    time); the survival function is the fitted distribution's (:class:`AFTSurvivalFunction`).

    Parameters
    ----------
    n_estimators : int, default=200
        Boosting rounds (trees); the maximum with early stopping.
    learning_rate : float, default=0.05
        Shrinkage of every tree (XGBoost's ``eta``).
    max_depth : int, default=3
        Depth of each tree.
    min_child_weight : float, default=1.0
        Minimum sum of Hessian weights in a leaf.
    subsample : float, default=1.0
        Fraction of rows drawn for each tree.
    colsample_bytree : float, default=1.0
        Fraction of columns drawn for each tree.
    reg_lambda : float, default=1.0
        L2 penalty on leaf values.
    reg_alpha : float, default=0.0
        L1 penalty on leaf values.
    gamma : float, default=0.0
        Minimum loss reduction for a split.
    max_bin : int, default=256
        Histogram bins per feature.
    early_stopping_rounds : int or None, default=None
        As for :class:`XGBCox`, on the negative log-likelihood of the held-out rows.
    validation_fraction : float, default=0.2
        Share of the rows held out for early stopping.
    n_jobs : int or None, default=None
        Threads of XGBoost (``nthread``); ``None``: XGBoost's default.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsampling and of the inner split.
    aft_loss_distribution : {'normal', 'logistic', 'extreme'}, default='normal'
        Distribution of ``Z``: log-normal, log-logistic or Weibull times.
    aft_loss_distribution_scale : float, default=1.0
        ``scale`` of the noise (fixed, not estimated; tune it like a hyperparameter).

    Attributes
    ----------
    booster_ : xgboost.Booster
        The fitted trees.
    n_estimators_ : int
        Number of trees kept.
    best_iteration_ : int or None
        Best round of early stopping (0-based); ``None`` without early stopping.
    unique_times_ : ndarray of shape (n_unique_times,)
        Distinct training times, where ``return_array=True`` evaluates the functions.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    XGBCox : The Cox model on the same trees.
    AFTSurvivalFunction : The survival function of one patient.
    """

    _objective = "survival:aft"
    _eval_metric = "aft-nloglik"
    _risk_sign = -1.0

    _parameter_constraints: dict = {
        **_XGBSurvival._parameter_constraints,
        "aft_loss_distribution": [StrOptions(set(AFT_DISTRIBUTIONS))],
        "aft_loss_distribution_scale": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_estimators: int = 200,
        *,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        gamma: float = 0.0,
        max_bin: int = 256,
        early_stopping_rounds: int | None = None,
        validation_fraction: float = 0.2,
        n_jobs: int | None = None,
        random_state: Any = None,
        aft_loss_distribution: str = "normal",
        aft_loss_distribution_scale: float = 1.0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.gamma = gamma
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.aft_loss_distribution = aft_loss_distribution
        self.aft_loss_distribution_scale = aft_loss_distribution_scale

    def _booster_params(self, seed: int) -> dict[str, Any]:
        params = super()._booster_params(seed)
        params["aft_loss_distribution"] = self.aft_loss_distribution
        params["aft_loss_distribution_scale"] = float(self.aft_loss_distribution_scale)
        return params

    def _matrix(self, X: np.ndarray, event: np.ndarray, time: np.ndarray) -> Any:
        lower = time.astype(np.float32)
        upper = np.where(event, time, np.inf).astype(np.float32)
        return xgb.DMatrix(
            X, label_lower_bound=lower, label_upper_bound=upper, missing=np.nan,
            nthread=self._nthread(),
        )

    def fit(self, X: Any, y: Any) -> XGBAFT:
        """Fit the trees on the censored log-time likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; missing values (NaN) are allowed.
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time); event times must be > 0 (the model is for ``log T``).

        Returns
        -------
        self : XGBAFT
            The fitted model.

        Raises
        ------
        mmrisk.exceptions.ModelFitError
            If no sample has an event, an event time is 0, or the early-stopping split cannot
            be made.
        """
        Xa, event, time = self._validated(X, y)
        zero = event & (time <= 0)
        if zero.any():
            raise ModelFitError(
                f"XGBAFT: {int(zero.sum())} event(s) at time 0; an accelerated failure time "
                "model needs positive event times (log T). Add a small offset to those times "
                "or use kind 'xgb_cox'."
            )
        self._train(Xa, event, time)
        self.unique_times_ = np.unique(time)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Risk score: minus the predicted log time ``-f(x)``; higher means earlier events.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``-f(x)``.
        """
        return -self._margin(X)

    def predict_log_time(self, X: Any) -> np.ndarray:
        """``f(x)``: the location of ``log T`` (its mean for normal and logistic noise).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``f(x)``, in log months.
        """
        return self._margin(X)

    def _functions(self, X: Any, return_array: bool, cumulative_hazard: bool) -> Any:
        loc = self._margin(X)
        scale = float(self.aft_loss_distribution_scale)
        if return_array:
            with np.errstate(divide="ignore"):
                z = (np.log(self.unique_times_)[None, :] - loc[:, None]) / scale
            chf = aft_cumulative_hazard(z, self.aft_loss_distribution)
            return chf if cumulative_hazard else np.exp(-chf)
        return np.array(
            [AFTSurvivalFunction(m, scale, self.aft_loss_distribution, cumulative_hazard)
             for m in loc],
            dtype=object,
        )

    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """Survival ``1 - F((log t - f(x)) / scale)`` of the fitted distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.
        return_array : bool, default=False
            Return the values at ``unique_times_`` instead of functions.

        Returns
        -------
        ndarray
            Of :class:`AFTSurvivalFunction` (n_samples,), callable at any time >= 0 with
            ``domain == (0, inf)``; or of shape (n_samples, n_unique_times).
        """
        return self._functions(X, return_array, cumulative_hazard=False)

    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> Any:
        """Cumulative hazard ``-log S(t | x)`` of the fitted distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Model input.
        return_array : bool, default=False
            Return the values at ``unique_times_`` instead of functions.

        Returns
        -------
        ndarray
            Of :class:`AFTSurvivalFunction` (n_samples,), or of shape
            (n_samples, n_unique_times).
        """
        return self._functions(X, return_array, cumulative_hazard=True)
