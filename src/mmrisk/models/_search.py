"""Hyperparameter search by inner cross-validation that keeps the survival prediction API."""

from __future__ import annotations

from typing import Any

from sklearn.model_selection import GridSearchCV
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

__all__ = ["SurvivalGridSearchCV"]


def _best_has(method: str) -> Any:
    """``available_if`` check: the (fitted or unfitted) estimator has ``method``."""

    def check(self: SurvivalGridSearchCV) -> bool:
        inner = getattr(self, "best_estimator_", self.estimator)
        getattr(inner, method)  # raises AttributeError if absent
        return True

    return check


class SurvivalGridSearchCV(GridSearchCV):
    """:class:`~sklearn.model_selection.GridSearchCV` for survival models.

    Same parameters and behaviour as scikit-learn's grid search; in addition, after ``fit``
    (with ``refit=True``) it forwards ``predict_survival_function`` and
    ``predict_cumulative_hazard_function`` to ``best_estimator_``. With ``scoring=None``
    candidates are ranked by the estimator's own ``score``, which for scikit-survival models
    (and pipelines ending in one) is Harrell's concordance index.

    Parameters
    ----------
    estimator : estimator object
        A survival estimator or a Pipeline ending in one.
    param_grid : dict or list of dict
        Parameter names (with ``<step>__`` prefixes for pipelines) mapped to lists of values.
    scoring : str, callable or None, default=None
        ``None`` uses ``estimator.score`` (Harrell's C).
    n_jobs : int, default=None
        Parallel jobs.
    refit : bool, default=True
        Refit the best candidate on all data (needed for predictions).
    cv : int, cross-validation splitter or iterable, default=None
        Inner folds, e.g. :class:`~mmrisk.models.EventStratifiedKFold`.
    verbose : int, default=0
        Verbosity.
    pre_dispatch : int or str, default='2*n_jobs'
        Jobs dispatched during parallel execution.
    error_score : 'raise' or float, default=nan
        Score of a candidate whose fit fails.
    return_train_score : bool, default=False
        Also score the training folds.

    Attributes
    ----------
    best_estimator_ : estimator
        The refitted best candidate.
    best_params_ : dict
        Its parameters.
    cv_results_ : dict of ndarray
        Scores of every candidate on every inner fold.

    See Also
    --------
    sklearn.model_selection.GridSearchCV, mmrisk.models.make_model
    """

    @available_if(_best_has("predict_survival_function"))
    def predict_survival_function(self, X: Any, return_array: bool = False) -> Any:
        """Survival functions of the best candidate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the estimator.
        return_array : bool, default=False
            Return an array of values at the estimator's ``unique_times_`` instead of step
            functions.

        Returns
        -------
        ndarray
            Step functions of shape (n_samples,) or values of shape (n_samples, n_times).
        """
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_survival_function(X, return_array=return_array)

    @available_if(_best_has("predict_cumulative_hazard_function"))
    def predict_cumulative_hazard_function(self, X: Any, return_array: bool = False) -> Any:
        """Cumulative hazard functions of the best candidate.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the estimator.
        return_array : bool, default=False
            Return an array of values at the estimator's ``unique_times_`` instead of step
            functions.

        Returns
        -------
        ndarray
            Step functions of shape (n_samples,) or values of shape (n_samples, n_times).
        """
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_cumulative_hazard_function(
            X, return_array=return_array
        )
