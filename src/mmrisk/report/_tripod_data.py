"""The content of a TRIPOD+AI report: plain dataclasses, summaries only.

No field takes a patient identifier or a calendar date: periods are years or year-months, tables
are summaries (Table 1, flow counts, metrics). :func:`mmrisk.report.render_tripod_report` checks
this again before rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from mmrisk.evaluation import SampleSizeResult

__all__ = [
    "FIGURE_SECTIONS",
    "ROLES",
    "SCORING_RULES",
    "AnalysisDescription",
    "ModelSpecification",
    "OutcomeDefinition",
    "Predictor",
    "Recalibration",
    "ReportCohort",
    "ReportData",
    "ReportFigure",
    "SampleSizeCheck",
]

#: Where a :class:`ReportFigure` can be placed.
FIGURE_SECTIONS = ("participants", "performance", "calibration", "decision_curves",
                   "subgroups", "heterogeneity", "updating", "model")

#: How mmrisk's scoring treats bad or missing inputs (``mmrisk score``; TRIPOD+AI item 27a).
SCORING_RULES = (
    "Every input row gets one output row, in input order, with a status (ok, warning, error) "
    "and a reason.",
    "Missing values are legitimate: the model's feature pipeline imputes them as in training.",
    "A value that cannot be parsed, or is impossible (outside the registry's plausible range "
    "widened to the training range, a negative duration, lab value or dose, a percentage "
    "outside 0-100, a flag other than 0/1, a code outside the registry's code list), makes "
    "its row an error: the row is not scored and is never silently imputed.",
    "A category unseen in training or a number outside the training range makes its row a "
    "warning: the row is scored and the reason names the feature.",
    "Columns the model needs that are absent from the input stop scoring before anything is "
    "written, with the full list of missing columns.",
)

#: Roles of a cohort in the report.
ROLES = ("development", "evaluation")


@dataclass
class ReportCohort:
    """One cohort of the report: the development cohort or an evaluation cohort.

    Parameters
    ----------
    label : str
        Short name shown in column headers, e.g. ``"development"``, ``"CMRG 2020-2023"``.
    role : {"development", "evaluation"}
        What the cohort was used for.
    source : str, optional
        Data source and design (e.g. "Canadian Myeloma Research Group registry, ...").
    setting : str, optional
        Care setting (e.g. "tertiary transplant centres").
    n_centres : int, optional
        Number of centres.
    accrual_start, accrual_end, followup_end : str, optional
        Periods as ``"YYYY"`` or ``"YYYY-MM"`` only (never a day).
    eligibility : list of str
        Inclusion and exclusion criteria, in words.
    flow : pandas.DataFrame, optional
        The cohort's flow table (``Cohort.flow``): ``step`` (``extract``, ``excluded``,
        ``included``), ``reason``, ``n``.
    n, events : int, optional
        Participants analysed and outcome events among them.
    competing_events : int, optional
        Competing-risks outcomes only: competing events among them (the flow diagram then
        shows events, competing events and censored).
    median_followup : float, optional
        Median follow-up (reverse Kaplan-Meier), in months.
    table1 : pandas.DataFrame, optional
        Table 1 as :func:`mmrisk.cohort.table1` returns it: ``variable``, ``level`` and one
        column per group (``Overall`` first).
    profile : dict, optional
        Predictor summaries as ``training_profile`` stores them: ``{"n": int, "features":
        {name: {"kind": "numeric", "missing": share, "quantiles": [11 deciles]} or {"kind":
        "categorical", "missing": share, "shares": {level: share}}}}``.
    """

    label: str
    role: str = "development"
    source: str | None = None
    setting: str | None = None
    n_centres: int | None = None
    accrual_start: str | None = None
    accrual_end: str | None = None
    followup_end: str | None = None
    eligibility: list[str] = field(default_factory=list)
    flow: pd.DataFrame | None = None
    n: int | None = None
    events: int | None = None
    competing_events: int | None = None
    median_followup: float | None = None
    table1: pd.DataFrame | None = None
    profile: dict | None = None


@dataclass
class OutcomeDefinition:
    """The predicted outcome (TRIPOD+AI 8a).

    Parameters
    ----------
    definition : str
        What counts as an event and what censors follow-up.
    landmark : str
        Time zero of the prediction (e.g. "first dose of lenalidomide maintenance").
    horizons : list of float
        Prediction horizons, in ``time_unit``.
    time_unit : str, default="months"
        Unit of time.
    assessment : str, optional
        How and when the outcome was assessed.
    """

    definition: str
    landmark: str
    horizons: list[float]
    time_unit: str = "months"
    assessment: str | None = None


@dataclass
class Predictor:
    """One candidate predictor (TRIPOD+AI 9b).

    Parameters
    ----------
    name : str
        Column name.
    description : str
        How it was measured or derived, and when (relative to the landmark).
    unit : str, optional
        Unit of measurement (``None`` for categorical predictors).
    kind : str, optional
        ``"numeric"`` or ``"categorical"``.
    missing : float, optional
        Share missing in the development cohort, in [0, 1].
    """

    name: str
    description: str
    unit: str | None = None
    kind: str | None = None
    missing: float | None = None


@dataclass
class SampleSizeCheck:
    """The Riley et al. sample-size check of the development cohort (TRIPOD+AI 10).

    Parameters
    ----------
    result : SampleSizeResult
        From :func:`mmrisk.evaluation.survival_sample_size`, with the cohort's own event rate,
        mean follow-up and the model's number of parameters.
    rsquared_source : str
        Where the Cox-Snell R² comes from (e.g. "apparent fit of the Cox model on the
        development cohort").
    available_n, available_events : int
        Participants and events in the development cohort.
    """

    result: SampleSizeResult
    rsquared_source: str
    available_n: int
    available_events: int

    @property
    def meets(self) -> bool:
        """Whether the cohort has at least the minimum number of participants."""
        return self.available_n >= self.result.n


@dataclass
class AnalysisDescription:
    """How the data were analysed (TRIPOD+AI 12-15); each field is free text or a list.

    Parameters
    ----------
    data_use : str, optional
        How the data were used and partitioned (12a).
    predictor_handling : str, optional
        Functional forms, transformations, encoding, scaling (12b).
    models : list of str
        One line per model: type and settings (12c).
    tuning : str, optional
        Hyperparameter tuning (12c).
    internal_validation : str, optional
        Internal validation scheme and bootstrap (12c).
    heterogeneity_method : str, optional
        How heterogeneity across centres was handled and quantified (12d).
    measures : list of str
        Performance measures and plots (12e).
    updating_method : str, optional
        Model updating method, e.g. recalibration (12f).
    prediction_method : str, optional
        For evaluation: how predictions were calculated (12g).
    class_imbalance : str, optional
        Class-imbalance methods, or that none were used (13).
    model_output : str, optional
        The model's output and any risk-group thresholds (15).
    software : str, optional
        Software and versions (shown with the analysis).
    """

    data_use: str | None = None
    predictor_handling: str | None = None
    models: list[str] = field(default_factory=list)
    tuning: str | None = None
    internal_validation: str | None = None
    heterogeneity_method: str | None = None
    measures: list[str] = field(default_factory=list)
    updating_method: str | None = None
    prediction_method: str | None = None
    class_imbalance: str | None = None
    model_output: str | None = None
    software: str | None = None


@dataclass
class ModelSpecification:
    """The full model (TRIPOD+AI 22): Cox coefficients and baseline survival, or a model URI.

    Parameters
    ----------
    name : str
        Model name (e.g. ``"coxnet"``).
    kind : str
        Catalogue kind (``cox``, ``coxnet``, ``rsf``, ``gbsa``, ...).
    coefficients : dict of str to float, optional
        Cox-type models: coefficient of each encoded column.
    centering : dict of str to float, optional
        Values subtracted from the encoded columns before the linear predictor (usually the
        development means); ``None`` when the linear predictor is not centred.
    baseline_survival : dict of float to float, optional
        Baseline survival ``S0(h)`` at each horizon ``h`` (for the centred linear predictor).
    preprocessing : str, optional
        How raw inputs become the encoded columns (imputation, encoding, derivations).
    model_uri : str, optional
        MLflow model URI, e.g. ``models:/mmrisk-pfs-on-lm@champion``.
    input_columns : list of str
        Raw input columns the served model expects.
    output_columns : list of str
        Columns the served model returns.
    port : int, default=5001
        Port of the REST example.
    cause_hazard_ratios : pandas.DataFrame, optional
        Competing-risks models: ``cause``, ``term``, ``hr`` (and ``hr_lo``, ``hr_hi``, ``p``),
        the cause-specific (or, for Fine–Gray, subdistribution) hazard ratios of each cause.
    hazard_ratio_kind : str, optional
        What ``cause_hazard_ratios`` holds: ``"cause-specific"`` or ``"subdistribution"``.
    baseline_cif : dict of float to float, optional
        Fine–Gray models: cumulative incidence of the event of interest at each horizon when
        every encoded column is 0, so that ``CIF(h | x) = 1 - (1 - CIF0(h)) ** exp(LP)``.
    """

    name: str
    kind: str
    coefficients: dict[str, float] | None = None
    centering: dict[str, float] | None = None
    baseline_survival: dict[float, float] | None = None
    preprocessing: str | None = None
    model_uri: str | None = None
    input_columns: list[str] = field(default_factory=list)
    output_columns: list[str] = field(default_factory=list)
    port: int = 5001
    cause_hazard_ratios: pd.DataFrame | None = None
    hazard_ratio_kind: str | None = None
    baseline_cif: dict[float, float] | None = None

    @property
    def is_cox(self) -> bool:
        """Whether coefficients and baseline survival are given (a hand-computable model)."""
        return bool(self.coefficients) and bool(self.baseline_survival)


@dataclass
class Recalibration:
    """One updated version of the model (TRIPOD+AI 24).

    Parameters
    ----------
    version : str
        Registered version or name of the updated model.
    method : str
        ``baseline``, ``intercept`` or ``slope`` (or a description).
    parent : str
        The version it updates.
    description : str, optional
        The updated parameters in words (e.g. "calibration slope 0.82 applied to the linear
        predictor").
    performance : pandas.DataFrame, optional
        Its performance (``metric``, ``value``, ``lo``, ``hi``; with ``model``, one column per
        model, e.g. the version before updating beside the update on the same data).
    """

    version: str
    method: str
    parent: str
    description: str | None = None
    performance: pd.DataFrame | None = None


@dataclass
class ReportFigure:
    """A figure, embedded in the page as a PNG data URI.

    Parameters
    ----------
    section : str
        One of :data:`FIGURE_SECTIONS`.
    title : str
        Title (and the image's alternative text).
    png : bytes
        The PNG file's bytes.
    caption : str, optional
        Caption below the figure.
    """

    section: str
    title: str
    png: bytes
    caption: str | None = None


@dataclass
class ReportData:
    """Everything the TRIPOD+AI report shows; every field but ``title`` may be left empty.

    Parameters
    ----------
    title : str
        Heading of the page (e.g. "coxnet: progression on lenalidomide maintenance").
    provenance : dict of str to str
        Run id, model version, config hash, git commit... shown under the title.
    cohorts : list of ReportCohort
        Development cohort first, then evaluation cohorts.
    outcome : OutcomeDefinition, optional
    predictors : list of Predictor
    predictor_selection : str, optional
        How the candidate predictors were chosen (9a).
    data_preparation : str, optional
        Pre-processing and quality checks (7).
    treatments : str, optional
        Treatments received and how they were handled (6c).
    missing_data : str, optional
        How missing data were handled (11).
    sample_size : SampleSizeCheck, optional
    analysis : AnalysisDescription, optional
    evaluation_differences : str, optional
        Differences between development and evaluation data (16).
    analysis_counts : pandas.DataFrame, optional
        Participants and events in each analysis (21): ``analysis``, ``participants``,
        ``events``.
    model : ModelSpecification, optional
    performance : dict of str to pandas.DataFrame
        Per analysis (e.g. "development, 5 x 2 cross-validation"), the metrics with ``metric``,
        ``value``, ``lo``, ``hi`` (and ``model``: then one column per model).
    decision_curves : pandas.DataFrame, optional
        Net benefit at the thresholds to show: ``horizon``, ``threshold``,
        ``net_benefit_model``, ``lo``, ``hi``, ``net_benefit_all``.
    subgroups : pandas.DataFrame, optional
        Performance per subgroup (any columns; ``value``/``lo``/``hi`` are combined).
    heterogeneity : pandas.DataFrame, optional
        Performance across centres and its heterogeneity (any columns).
    recalibrations : list of Recalibration
    figures : list of ReportFigure
    scoring_rules : list of str
        How poor or missing inputs are handled when the model is used (27a); see
        :data:`SCORING_RULES`.
    """

    title: str
    provenance: dict[str, str] = field(default_factory=dict)
    cohorts: list[ReportCohort] = field(default_factory=list)
    outcome: OutcomeDefinition | None = None
    predictors: list[Predictor] = field(default_factory=list)
    predictor_selection: str | None = None
    data_preparation: str | None = None
    treatments: str | None = None
    missing_data: str | None = None
    sample_size: SampleSizeCheck | None = None
    analysis: AnalysisDescription | None = None
    evaluation_differences: str | None = None
    analysis_counts: pd.DataFrame | None = None
    model: ModelSpecification | None = None
    performance: dict[str, pd.DataFrame] = field(default_factory=dict)
    decision_curves: pd.DataFrame | None = None
    subgroups: pd.DataFrame | None = None
    heterogeneity: pd.DataFrame | None = None
    recalibrations: list[Recalibration] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    scoring_rules: list[str] = field(default_factory=list)
