"""Penalised (elastic-net) Cox regression with the penalty chosen by inner cross-validation."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_is_fitted
from sksurv.base import SurvivalAnalysisMixin
from sksurv.exceptions import NoComparablePairException
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import check_array_survival

from mmrisk.models._cv import EventStratifiedKFold

__all__ = ["CoxnetCV"]

_SHARED = (
    "n_alphas",
    "alphas",
    "alpha_min_ratio",
    "l1_ratio",
    "penalty_factor",
    "normalize",
    "tol",
    "max_iter",
)


def _take(X: Any, idx: np.ndarray) -> Any:
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _harrell(y: np.ndarray, risk: np.ndarray) -> float:
    names = y.dtype.names
    try:
        return concordance_index_censored(y[names[0]], y[names[1]], risk)[0]
    except NoComparablePairException:
        return np.nan


class CoxnetCV(SurvivalAnalysisMixin, BaseEstimator):
    """Elastic-net Cox model whose penalty ``alpha`` is chosen by inner cross-validation.

    Wraps :class:`~sksurv.linear_model.CoxnetSurvivalAnalysis`. ``fit`` computes the
    regularisation path on all data, fits that path on each inner training fold and scores
    every ``alpha`` by Harrell's C on the held-out fold; ``alpha_`` maximises the mean C over
    folds (ties go to the larger penalty; folds without comparable pairs are skipped, and if no
    fold has any, the largest penalty is chosen). The path down to ``alpha_`` is then refitted
    on all data with ``fit_baseline_model=True``, so that survival functions can be predicted.

    Parameters
    ----------
    l1_ratio : float, default=0.5
        Elastic-net mixing: 1 is the lasso, values near 0 approach ridge (must be > 0).
    n_alphas : int, default=50
        Number of penalties on the path (when ``alphas`` is not given).
    alphas : array-like of float, default=None
        The penalties to choose from (used sorted, largest first); ``None`` computes a path of
        up to ``n_alphas`` values on all data (coordinate descent may stop the path early).
    alpha_min_ratio : float or 'auto', default='auto'
        Smallest penalty on the computed path, as a fraction of the largest.
    penalty_factor : array-like of shape (n_features,), default=None
        Relative penalty of each feature (0 = unpenalised).
    normalize : bool, default=False
        Scale features to unit length before fitting (coefficients are reported unscaled).
    tol : float, default=1e-7
        Convergence tolerance of coordinate descent.
    max_iter : int, default=100000
        Maximum number of coordinate-descent iterations.
    cv : int or cross-validation splitter, default=3
        Inner folds; an int means :class:`~mmrisk.models.EventStratifiedKFold`.
    random_state : int, RandomState instance or None, default=None
        Seed of the inner folds.

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    alphas_ : ndarray of shape (n_alphas,)
        The candidate penalties, largest first.
    cv_scores_ : ndarray of shape (n_folds, n_alphas)
        Harrell's C of every candidate on every inner held-out fold (NaN if undefined, or if
        the fit diverged there).
    n_diverged_ : int
        Smallest penalties left out because coordinate descent overflowed on an inner fold
        (about as many columns as events); they are never chosen.
    coef_ : ndarray of shape (n_features,)
        Coefficients (log hazard ratios) at ``alpha_``.
    estimator_ : CoxnetSurvivalAnalysis
        The refitted model; its last penalty is ``alpha_``.
    n_features_in_ : int
        Number of input columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    sksurv.linear_model.CoxnetSurvivalAnalysis, mmrisk.models.CoxPH

    Examples
    --------
    >>> from sksurv.datasets import load_whas500
    >>> from mmrisk.models import CoxnetCV
    >>> X, y = load_whas500()
    >>> model = CoxnetCV(n_alphas=10, random_state=0).fit(X[["age", "bmi"]].astype(float), y)
    >>> model.cv_scores_.shape
    (3, 10)
    """

    _parameter_constraints: dict = {
        **{k: CoxnetSurvivalAnalysis._parameter_constraints[k] for k in _SHARED},
        "cv": ["cv_object"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        l1_ratio: float = 0.5,
        n_alphas: int = 50,
        alphas: Any = None,
        alpha_min_ratio: float | str = "auto",
        penalty_factor: Any = None,
        normalize: bool = False,
        tol: float = 1e-7,
        max_iter: int = 100000,
        cv: Any = 3,
        random_state: Any = None,
    ) -> None:
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

    def _coxnet(self, **overrides: Any) -> CoxnetSurvivalAnalysis:
        params = {k: getattr(self, k) for k in _SHARED}
        return CoxnetSurvivalAnalysis(**{**params, **overrides})

    def _splitter(self) -> Any:
        if isinstance(self.cv, numbers.Integral):
            return EventStratifiedKFold(int(self.cv), random_state=self.random_state)
        return check_cv(self.cv)

    def fit(self, X: Any, y: Any) -> CoxnetCV:
        """Choose ``alpha`` by inner cross-validation and refit on all data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features, no missing values.
        y : structured ndarray of shape (n_samples,)
            Outcome (event, time), as made by :meth:`sksurv.util.Surv.from_arrays`.

        Returns
        -------
        self : CoxnetCV
            The fitted model.
        """
        self._validate_params()
        check_array_survival(X, y)
        if self.alphas is None:
            path = self._fit_path(X, y, None)[0].alphas_
        else:
            path = np.unique(np.asarray(self.alphas, dtype=float).ravel())[::-1]
        scores, diverged = self._score_path(X, y, path)
        valid = np.isfinite(scores)
        n_valid = valid.sum(axis=0)
        total = np.where(valid, scores, 0.0).sum(axis=0)
        mean = np.where((n_valid > 0) & ~diverged, total / np.maximum(n_valid, 1), -np.inf)
        best = int(np.argmax(mean))  # first maximum = largest penalty among ties
        self.estimator_ = self._coxnet(alphas=path[: best + 1], fit_baseline_model=True).fit(X, y)
        self.n_diverged_ = int(diverged.sum())
        self.alphas_ = path
        self.alpha_ = float(path[best])
        self.cv_scores_ = scores
        self.coef_ = self.estimator_.coef_[:, -1].copy()
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def _fit_path(self, X: Any, y: Any, path: np.ndarray | None) -> tuple[Any, int]:
        """Fit the penalty path, dropping the smallest penalties while the fit diverges.

        With about as many columns as events (small inner folds), coordinate descent at the
        weakest penalties can overflow (sksurv raises ``ArithmeticError``); the penalties it
        reached are kept and the rest are reported as diverged. Returns the fitted path model
        and how many of ``path``'s penalties it covers.
        """
        if path is None:  # the data's own path: retry with a shorter range of penalties
            for ratio in (self.alpha_min_ratio, 1e-2, 1e-1, 0.5):
                try:
                    model = self._coxnet(alpha_min_ratio=ratio).fit(X, y)
                    return model, model.alphas_.size
                except ArithmeticError:
                    continue
            raise ArithmeticError("the elastic-net Cox path diverges even at alpha_min_ratio=0.5")
        k = path.size
        while True:
            try:
                return self._coxnet(alphas=path[:k]).fit(X, y), k
            except ArithmeticError:
                if k == 1:
                    raise
                k = max(1, k // 2) if k > 8 else k - 1

    def _score_path(self, X: Any, y: Any, path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Harrell's C of every penalty on every inner held-out fold, and which diverged."""
        folds = list(self._splitter().split(X, y))
        scores = np.full((len(folds), path.size), np.nan)
        diverged = np.zeros(path.size, bool)
        for i, (train, test) in enumerate(folds):
            model, k = self._fit_path(_take(X, train), y[train], path)
            diverged[k:] = True
            X_test, y_test = _take(X, test), y[test]
            for j, alpha in enumerate(path[:k]):
                scores[i, j] = _harrell(y_test, model.predict(X_test, alpha=alpha))
        return scores, diverged

    def predict(self, X: Any) -> np.ndarray:
        """Risk score (linear predictor at ``alpha_``); higher means earlier events.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            Risk scores.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> Any:
        """Cumulative hazard functions at ``alpha_`` (Breslow baseline).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        return_array : bool, default=False
            Return an array of values at ``unique_times_`` instead of step functions.

        Returns
        -------
        ndarray
            Step functions of shape (n_samples,) or values of shape
            (n_samples, n_unique_times).
        """
        check_is_fitted(self)
        return self.estimator_.predict_cumulative_hazard_function(X, return_array=return_array)

    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """Survival functions at ``alpha_`` (Breslow baseline).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        return_array : bool, default=False
            Return an array of values at ``unique_times_`` instead of step functions.

        Returns
        -------
        ndarray
            Step functions of shape (n_samples,) or values of shape
            (n_samples, n_unique_times).
        """
        check_is_fitted(self)
        if return_array:  # the same values without one step function per row
            from mmrisk.models._predict import breslow_survival_array

            baseline = self.estimator_._get_baseline_model(None)
            return breslow_survival_array(baseline, self.estimator_.predict(X))
        return self.estimator_.predict_survival_function(X, return_array=return_array)

    @property
    def unique_times_(self) -> np.ndarray:
        """Distinct event times of the training data (the survival functions' steps)."""
        check_is_fitted(self)
        return self.estimator_.unique_times_
