"""Every figure mmrisk draws, as matplotlib ``Figure`` objects (no pyplot state, no backend switch).

- Cohorts: :func:`km_figure`, :func:`km_median`; competing risks :func:`cif_figure`
  (Aalen–Johansen CIF of both causes by group) and :func:`plot_cif_calibration`.
- Models: :func:`hr_forest_figure`, :func:`permutation_figure`.
- Evaluation: :func:`plot_calibration`, :func:`plot_auc_over_time`, :func:`plot_brier_over_time`;
  on a new cohort :func:`plot_decision_curves`, :func:`plot_calibration_band`.
- Explanations: :func:`plot_bar`, :func:`plot_beeswarm`, :func:`plot_waterfall`,
  :func:`plot_dependence`, and :func:`write_explanation` (tables and figures in a folder).
- The TRIPOD+AI report: :func:`render_tripod_report` turns a :class:`ReportData` into one
  self-contained HTML page; :func:`tripod_checklist` says which items it covers.
"""

from mmrisk.report._cif import cif_figure, plot_cif_calibration
from mmrisk.report._decision import plot_calibration_band, plot_decision_curves
from mmrisk.report._evaluation import plot_auc_over_time, plot_brier_over_time, plot_calibration
from mmrisk.report._explain import (
    plot_bar,
    plot_beeswarm,
    plot_dependence,
    plot_waterfall,
    write_explanation,
)
from mmrisk.report._km import hr_forest_figure, km_figure, km_median, permutation_figure
from mmrisk.report._tripod import render_tripod_report
from mmrisk.report._tripod_checklist import TRIPOD_AI_ITEMS, TripodItem, tripod_checklist
from mmrisk.report._tripod_data import (
    FIGURE_SECTIONS,
    SCORING_RULES,
    AnalysisDescription,
    ModelSpecification,
    OutcomeDefinition,
    Predictor,
    Recalibration,
    ReportCohort,
    ReportData,
    ReportFigure,
    SampleSizeCheck,
)

__all__ = [
    "cif_figure",
    "hr_forest_figure",
    "km_figure",
    "km_median",
    "permutation_figure",
    "plot_auc_over_time",
    "plot_bar",
    "plot_beeswarm",
    "plot_brier_over_time",
    "plot_calibration",
    "plot_calibration_band",
    "plot_cif_calibration",
    "plot_decision_curves",
    "plot_dependence",
    "plot_waterfall",
    "write_explanation",
    "FIGURE_SECTIONS",
    "SCORING_RULES",
    "TRIPOD_AI_ITEMS",
    "AnalysisDescription",
    "ModelSpecification",
    "OutcomeDefinition",
    "Predictor",
    "Recalibration",
    "ReportCohort",
    "ReportData",
    "ReportFigure",
    "SampleSizeCheck",
    "TripodItem",
    "render_tripod_report",
    "tripod_checklist",
]
