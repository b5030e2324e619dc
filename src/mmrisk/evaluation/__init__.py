"""Model evaluation: resampling schemes, survival metrics, bootstrap intervals, CV driver.

- :func:`make_splits` -- repeated stratified K-fold, temporal, leave-one-centre-out and
  predefined train/test splits, computed once from data + seed (:class:`Split`);
- metrics as plain functions of ``(survival_train, survival_test, estimate, times)``:
  :func:`cindex_harrell`, :func:`cindex_uno`, :func:`time_dependent_auc`,
  :func:`brier_scores`, :func:`integrated_brier_score`, :func:`calibration_metrics`,
  :func:`calibration_curve`, :func:`d_calibration`; :func:`compute_metrics` returns every
  contract metric (``cindex_harrell``, ``auc_<h>m``, ...; see :func:`metric_names`);
- :func:`bootstrap_metrics` -- percentile bootstrap intervals and paired differences;
- :func:`cross_validate` -- fits each model on identical splits and returns a
  :class:`CVResult` (tidy metrics with scope ``cv``/``test``, differences, OOF predictions);
  its fits run in local processes or on a :class:`FitBackend` (e.g. Spark;
  :class:`InProcessBackend` is the reference);
- :func:`survival_sample_size` -- Riley et al. minimum sample size of a survival model
  (:class:`SampleSizeResult`), with :func:`cox_snell_rsquared` and
  :func:`event_rate_and_followup` for the inputs;
- competing risks (outcome with integer ``event`` 0/1/2): :func:`aalen_johansen`,
  :func:`cumulative_incidence_at`, :func:`gray_test`, :func:`cindex_wolbers`, :func:`cif_auc`,
  :func:`cif_brier_scores`, :func:`cif_calibration`, :func:`cif_calibration_curve`,
  :func:`cif_calibration_metrics`;
- new cohorts: :func:`observed_expected` (O/E at horizons), :func:`decision_curve` (net
  benefit, survival extension), :func:`calibration_curve_band`, :func:`subgroup_frame` /
  :func:`subgroup_table` (per-subgroup C and O/E), :func:`centre_heterogeneity` and
  :func:`random_effects_meta` (REML meta-analysis: pooled value, I^2, prediction interval);
- :func:`permutation_importance` -- scikit-learn's algorithm with one ``predict`` call.
"""

from mmrisk.evaluation._backend import FitBackend, InProcessBackend
from mmrisk.evaluation._bootstrap import Predictions, bootstrap_metrics
from mmrisk.evaluation._calband import calibration_curve_band
from mmrisk.evaluation._competing import (
    aalen_johansen,
    cif_auc,
    cif_brier_scores,
    cif_calibration,
    cif_calibration_curve,
    cif_calibration_metrics,
    cindex_wolbers,
    cumulative_incidence_at,
    gray_test,
)
from mmrisk.evaluation._cv import CVResult, cross_validate, predict_survival_at_own_time
from mmrisk.evaluation._decision import DECISION_CURVE_COLUMNS, DEFAULT_THRESHOLDS, decision_curve
from mmrisk.evaluation._meta import MetaAnalysis, random_effects_meta
from mmrisk.evaluation._metrics import (
    brier_scores,
    calibration_curve,
    calibration_metrics,
    cindex_harrell,
    cindex_uno,
    compute_metrics,
    d_calibration,
    integrated_brier_score,
    metric_names,
    time_dependent_auc,
)
from mmrisk.evaluation._oe import observed_expected
from mmrisk.evaluation._permutation import permutation_importance
from mmrisk.evaluation._samplesize import (
    SampleSizeCriterion,
    SampleSizeResult,
    cox_snell_rsquared,
    event_rate_and_followup,
    survival_sample_size,
)
from mmrisk.evaluation._splits import SCHEMES, Split, make_splits
from mmrisk.evaluation._subgroups import (
    DEFAULT_SUBGROUPS,
    SUBGROUP_COLUMNS,
    CentreHeterogeneity,
    centre_heterogeneity,
    subgroup_frame,
    subgroup_levels,
    subgroup_table,
)

__all__ = [
    "DECISION_CURVE_COLUMNS",
    "DEFAULT_SUBGROUPS",
    "DEFAULT_THRESHOLDS",
    "SUBGROUP_COLUMNS",
    "CVResult",
    "CentreHeterogeneity",
    "FitBackend",
    "InProcessBackend",
    "MetaAnalysis",
    "Predictions",
    "SCHEMES",
    "SampleSizeCriterion",
    "SampleSizeResult",
    "Split",
    "aalen_johansen",
    "bootstrap_metrics",
    "brier_scores",
    "calibration_curve",
    "calibration_curve_band",
    "centre_heterogeneity",
    "calibration_metrics",
    "cif_auc",
    "cif_brier_scores",
    "cif_calibration",
    "cif_calibration_curve",
    "cif_calibration_metrics",
    "cindex_harrell",
    "cindex_uno",
    "cindex_wolbers",
    "compute_metrics",
    "cox_snell_rsquared",
    "cross_validate",
    "cumulative_incidence_at",
    "d_calibration",
    "event_rate_and_followup",
    "gray_test",
    "decision_curve",
    "integrated_brier_score",
    "make_splits",
    "metric_names",
    "observed_expected",
    "permutation_importance",
    "predict_survival_at_own_time",
    "survival_sample_size",
    "random_effects_meta",
    "subgroup_frame",
    "subgroup_levels",
    "subgroup_table",
    "time_dependent_auc",
]
