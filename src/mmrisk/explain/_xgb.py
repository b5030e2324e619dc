"""Exact TreeSHAP for mmrisk's XGBoost survival models (``xgb_cox``, ``xgb_aft``).

Both models are additive in their risk score: the log relative hazard of ``xgb_cox`` and minus
the predicted log time of ``xgb_aft`` are sums of trees (XGBoost's margin, negated for the AFT
model). That score is what is explained; survival and cumulative hazard at a horizon are
monotone transforms of it and are reported alongside (as for scikit-survival's boosting).

- ``tree_path_dependent`` (default): XGBoost's own exact TreeSHAP (``pred_contribs=True``),
  which conditions on the training cover of each node. Its values are computed in single
  precision, so they add up to the risk score to about 1e-6.
- ``interventional``: ``shap.TreeExplainer`` on the booster with the background rows (XGBoost
  has no interventional algorithm of its own).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._outputs import as_model_input
from mmrisk.models import XGBAFT, XGBCox

__all__ = ["XGBoostShap", "is_xgboost_model"]


def is_xgboost_model(estimator: Any) -> bool:
    """Whether ``estimator`` is one of mmrisk's XGBoost survival models.

    Parameters
    ----------
    estimator : object
        The final survival estimator.

    Returns
    -------
    bool
        ``True`` for :class:`~mmrisk.models.XGBCox` and :class:`~mmrisk.models.XGBAFT`.
    """
    return isinstance(estimator, XGBCox | XGBAFT)


class XGBoostShap:
    """Exact TreeSHAP of the risk score of a fitted :class:`~mmrisk.models.XGBCox` / ``XGBAFT``.

    Parameters
    ----------
    estimator : XGBCox or XGBAFT
        Fitted.
    feature_perturbation : {'tree_path_dependent', 'interventional'}
        XGBoost's path-dependent algorithm, or shap's interventional one over ``background``.
    background : numpy.ndarray of shape (n_background, n_columns) or None
        Model input rows; required for ``'interventional'``.

    Attributes
    ----------
    base_value : float
        Expected risk score: over the training cover (path-dependent) or the background.
    """

    def __init__(
        self, estimator: Any, feature_perturbation: str, background: np.ndarray | None = None
    ) -> None:
        if not is_xgboost_model(estimator):
            raise MMRiskError(
                f"{type(estimator).__name__} is not an XGBoost survival model (XGBCox, XGBAFT)."
            )
        self._estimator = estimator
        self._sign = -1.0 if isinstance(estimator, XGBAFT) else 1.0
        self._explainer = None
        n_columns = int(estimator.n_features_in_)
        if feature_perturbation == "interventional":
            if background is None:
                raise MMRiskError("feature_perturbation='interventional' needs a background.")
            import shap

            bg = np.asarray(background, dtype=np.float32)
            self._explainer = shap.TreeExplainer(
                estimator.booster_, data=bg, feature_perturbation="interventional",
                model_output="raw",
            )
            self.base_value = float(np.mean(estimator.predict(as_model_input(estimator, bg))))
        elif feature_perturbation == "tree_path_dependent":
            # The bias column of pred_contribs is the same for every row.
            probe = np.full((1, n_columns), np.nan)
            contribs = estimator.predict_risk_contributions(as_model_input(estimator, probe))
            self.base_value = float(contribs[0, -1])
        else:
            raise MMRiskError(
                "feature_perturbation must be 'tree_path_dependent' or 'interventional'; got "
                f"{feature_perturbation!r}."
            )

    def __call__(self, Z: Any) -> np.ndarray:
        """SHAP values of the risk score.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_columns)
            Model input rows (the feature pipeline's output).

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_columns)
            One value per column; ``base_value`` plus a row's sum is its risk score.
        """
        if self._explainer is None:
            Z = as_model_input(self._estimator, Z)
            return self._estimator.predict_risk_contributions(Z)[:, :-1]
        Za = np.asarray(Z, dtype=np.float32)
        phi = self._explainer.shap_values(Za, check_additivity=False)
        return self._sign * np.asarray(phi, dtype=np.float64)
