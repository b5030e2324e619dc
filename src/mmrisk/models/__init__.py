"""Estimator catalogue: every model is one scikit-learn object (feature pipeline + survival model).

- :func:`make_model` builds a model of a kind in :data:`MODEL_KINDS` (``'cox'``, ``'coxnet'``,
  ``'rsf'``, ``'gbsa'``, ``'xgb_cox'``, ``'xgb_aft'``, ``'staging'``): a feature pipeline whose
  last step, ``'model'``, is the survival model; with a ``grid``, a
  :class:`SurvivalGridSearchCV` around it.
- :class:`CoxPH` (Cox with a small ridge penalty and a Wald covariance) and :class:`CoxnetCV`
  (elastic-net Cox with the penalty chosen by inner CV) are the catalogue's own estimators;
  :class:`GridRandomSurvivalForest` is scikit-survival's random survival forest fitted on times
  rounded up to a grid (0.5 month), which bounds the size of the stored trees; boosting is
  scikit-survival's, unchanged; :class:`XGBCox` and :class:`XGBAFT` are XGBoost's Cox and
  accelerated failure time objectives (Breslow baseline; closed-form survival), fast at
  registry scale.
- competing risks (outcome: integer ``event`` 0/1/2 and ``time``; see
  :func:`check_competing_outcome`): :class:`CauseSpecificCoxPH`, :class:`CauseSpecificCoxnet`,
  :class:`FineGray`, built by :func:`make_competing_model` from :data:`COMPETING_MODEL_KINDS`;
  each has ``predict_cif(X, times)``; :func:`predict_cif_at` (CIF at horizons, also through a
  pipeline) and :func:`cause_linear_model` (a cause's linear predictor as the risk score, for
  SHAP reasons).
- :class:`RecalibratedSurvival` / :func:`recalibrate`: a fitted model updated on a new cohort
  (baseline, calibration intercept, or intercept and slope);
- :func:`hazard_ratios` (Cox-type models, competing-risks models too), :func:`model_size_bytes`,
  :func:`predict_survival_at` (survival at horizons, shape (n_samples, n_horizons)).

Every model follows the scikit-survival contract: ``fit(X, y)`` with ``y`` a structured
(event, time) array, ``predict(X)`` a risk score (higher = earlier progression),
``predict_survival_function(X, return_array=False)``.
"""

from mmrisk.models._catalogue import MODEL_KINDS, MODEL_STEP, ModelKind, make_model, model_kind
from mmrisk.models._competing import (
    COMPETING_MODEL_KINDS,
    CauseLinearPredictor,
    CauseSpecificCoxnet,
    CauseSpecificCoxPH,
    FineGray,
    cause_linear_model,
    check_competing_outcome,
    make_competing_model,
    predict_cif_at,
)
from mmrisk.models._cox import DEFAULT_RIDGE_ALPHA, CoxPH, collinear_columns, cox_information
from mmrisk.models._coxnet import CoxnetCV
from mmrisk.models._cv import EventStratifiedKFold, event_indicator
from mmrisk.models._forest import GridRandomSurvivalForest, coarsen_times
from mmrisk.models._predict import predict_survival_at
from mmrisk.models._recalibrate import RECALIBRATION_METHODS, RecalibratedSurvival, recalibrate
from mmrisk.models._search import SurvivalGridSearchCV
from mmrisk.models._summary import (
    HAZARD_RATIO_COLUMNS,
    final_estimator,
    hazard_ratios,
    model_size_bytes,
    split_model,
)
from mmrisk.models._xgb import XGBAFT, AFTSurvivalFunction, XGBCox

__all__ = [
    "COMPETING_MODEL_KINDS",
    "DEFAULT_RIDGE_ALPHA",
    "HAZARD_RATIO_COLUMNS",
    "MODEL_KINDS",
    "MODEL_STEP",
    "AFTSurvivalFunction",
    "CauseSpecificCoxPH",
    "CauseSpecificCoxnet",
    "RECALIBRATION_METHODS",
    "CoxPH",
    "CoxnetCV",
    "EventStratifiedKFold",
    "FineGray",
    "GridRandomSurvivalForest",
    "RecalibratedSurvival",
    "ModelKind",
    "SurvivalGridSearchCV",
    "CauseLinearPredictor",
    "cause_linear_model",
    "check_competing_outcome",
    "XGBAFT",
    "XGBCox",
    "coarsen_times",
    "collinear_columns",
    "cox_information",
    "event_indicator",
    "final_estimator",
    "hazard_ratios",
    "make_competing_model",
    "make_model",
    "model_kind",
    "model_size_bytes",
    "predict_cif_at",
    "predict_survival_at",
    "recalibrate",
    "split_model",
]
