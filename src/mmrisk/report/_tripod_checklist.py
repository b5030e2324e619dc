"""The TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378) and what a report covers.

27 items, 52 rows with their sub-items. Each row names the part of the report that can cover it
(``anchor``) or none when only the authors can report it (title, funding, interpretation, ...).
A row counts as covered only when that part has content in the report at hand; rows the report
covers in part say what is left to the authors. Item texts are paraphrased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from mmrisk.report._tripod_data import ROLES, AnalysisDescription, ReportData

__all__ = ["TRIPOD_AI_ITEMS", "TripodItem", "tripod_checklist"]


@dataclass(frozen=True)
class TripodItem:
    """One TRIPOD+AI checklist row.

    Parameters
    ----------
    item : str
        Item number (``"1"``, ``"3a"``, ...).
    section : str
        Part of the paper (Title, Abstract, Introduction, Methods, ...).
    topic : str
        Topic of the item.
    text : str
        What the item asks for (paraphrased).
    anchor : str or None
        Id of the report part that can cover it; ``None``: only the authors can.
    remainder : str or None
        What stays for the authors when that part has content.
    """

    item: str
    section: str
    topic: str
    text: str
    anchor: str | None = None
    remainder: str | None = None


_T = TripodItem
#: The TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378): 27 items, 52 rows.
TRIPOD_AI_ITEMS: tuple[TripodItem, ...] = (
    _T("1", "Title", "Title", "Identify the study as developing or evaluating a multivariable "
       "prediction model, its target population and the outcome predicted."),
    _T("2", "Abstract", "Abstract", "Structured abstract (see TRIPOD+AI for Abstracts)."),
    _T("3a", "Introduction", "Background", "Healthcare context, diagnostic or prognostic "
       "purpose, rationale, and existing models."),
    _T("3b", "Introduction", "Background", "Target population, intended purpose in the care "
       "pathway and intended users."),
    _T("3c", "Introduction", "Background", "Known health inequalities between "
       "sociodemographic groups."),
    _T("4", "Introduction", "Objectives", "Study objectives: development, evaluation or both."),
    _T("5a", "Methods", "Data", "Sources of data for development and evaluation, the "
       "rationale for using them and their representativeness.", "data-source",
       "rationale for using these data and their representativeness"),
    _T("5b", "Methods", "Data", "Dates of the data: start and end of accrual and end of "
       "follow-up.", "data-dates"),
    _T("6a", "Methods", "Participants", "Study setting, with the number and location of "
       "centres.", "setting", "location of the centres"),
    _T("6b", "Methods", "Participants", "Eligibility criteria.", "eligibility"),
    _T("6c", "Methods", "Participants", "Treatments received and how they were handled in "
       "development or evaluation.", "treatments"),
    _T("7", "Methods", "Data preparation", "Data pre-processing and quality checking, and "
       "whether they were similar across sociodemographic groups.", "data-preparation",
       "whether pre-processing was similar across sociodemographic groups"),
    _T("8a", "Methods", "Outcome", "Outcome definition and time horizon, how and when it was "
       "assessed, why it was chosen, and whether its assessment is consistent across "
       "sociodemographic groups.", "outcome",
       "rationale for the outcome; consistency of its assessment across groups"),
    _T("8b", "Methods", "Outcome", "Qualifications and demographics of outcome assessors, if "
       "assessment is subjective."),
    _T("8c", "Methods", "Outcome", "Actions to blind the outcome assessment."),
    _T("9a", "Methods", "Predictors", "How the initial predictors were chosen and any "
       "pre-selection before modelling.", "predictor-selection"),
    _T("9b", "Methods", "Predictors", "Definition of every predictor, how and when measured, "
       "and any blinding of their assessment.", "predictors",
       "any actions to blind predictor assessment"),
    _T("9c", "Methods", "Predictors", "Qualifications and demographics of predictor "
       "assessors, if measurement is subjective."),
    _T("10", "Methods", "Sample size", "How the study size was arrived at and why it suffices, "
       "with any sample-size calculation.", "sample-size",
       "study size of the evaluation data"),
    _T("11", "Methods", "Missing data", "How missing data were handled; reasons for omitting "
       "data.", "missing-data"),
    _T("12a", "Methods", "Analytical methods", "How the data were used and partitioned in the "
       "analysis.", "data-use"),
    _T("12b", "Methods", "Analytical methods", "How predictors were handled: functional form, "
       "rescaling, transformation, standardisation.", "predictor-handling"),
    _T("12c", "Methods", "Analytical methods", "Type of model and rationale, all model-building "
       "steps including hyperparameter tuning, and internal validation.", "models",
       "rationale for the type of model"),
    _T("12d", "Methods", "Analytical methods", "How heterogeneity of parameters and "
       "performance across clusters (e.g. centres) was handled and quantified.",
       "heterogeneity-method"),
    _T("12e", "Methods", "Analytical methods", "All measures and plots of performance "
       "(discrimination, calibration, clinical utility) and their rationale, and how models "
       "were compared.", "measures", "rationale for each measure"),
    _T("12f", "Methods", "Analytical methods", "Any model updating (e.g. recalibration) "
       "arising from the evaluation.", "updating-method"),
    _T("12g", "Methods", "Analytical methods", "For evaluation, how the model's predictions "
       "were calculated (formula, code, object, API).", "prediction-method"),
    _T("13", "Methods", "Class imbalance", "Class-imbalance methods, why, and any "
       "recalibration that followed.", "class-imbalance"),
    _T("14", "Methods", "Fairness", "Approaches used to address model fairness and their "
       "rationale."),
    _T("15", "Methods", "Model output", "The model's output and the rationale and thresholds "
       "of any classification.", "model-output", "rationale for the thresholds"),
    _T("16", "Methods", "Training versus evaluation", "Differences between development and "
       "evaluation data in setting, eligibility, outcome and predictors.",
       "evaluation-differences"),
    _T("17", "Methods", "Ethical approval", "Ethics committee approval and participant consent "
       "or its waiver."),
    _T("18a", "Open science", "Funding", "Funding sources and the funders' role."),
    _T("18b", "Open science", "Conflicts of interest", "Conflicts of interest and financial "
       "disclosures of all authors."),
    _T("18c", "Open science", "Protocol", "Where the protocol can be accessed, or that none "
       "was prepared."),
    _T("18d", "Open science", "Registration", "Study registration, or that it was not "
       "registered."),
    _T("18e", "Open science", "Data sharing", "Availability of the study data."),
    _T("18f", "Open science", "Code sharing", "Availability of the analytical code."),
    _T("19", "Patient and public involvement", "Patient and public involvement",
       "Patient and public involvement in the study, or that there was none."),
    _T("20a", "Results", "Participants", "Flow of participants, with and without the outcome, "
       "and follow-up; a diagram may help.", "flow"),
    _T("20b", "Results", "Participants", "Characteristics overall and per data source: key "
       "dates, predictors, treatments, sample size, events, follow-up, missing data; "
       "differences across demographic groups.", "table1",
       "differences across key demographic groups"),
    _T("20c", "Results", "Participants", "For evaluation, the distribution of important "
       "predictors compared with the development data.", "distributions"),
    _T("21", "Results", "Model development", "Participants and outcome events in each "
       "analysis (development, tuning, evaluation).", "analysis-counts"),
    _T("22", "Results", "Model specification", "The full model (formula, code, object, API) so "
       "that others can predict for new individuals, and any restrictions on access or "
       "re-use.", "model-spec", "restrictions to access or re-use"),
    _T("23a", "Results", "Model performance", "Performance with confidence intervals, "
       "including key subgroups; plots may help.", "performance"),
    _T("23b", "Results", "Model performance", "If examined, heterogeneity of performance "
       "across clusters.", "heterogeneity"),
    _T("24", "Results", "Model updating", "Results of any model updating: the updated model "
       "and its performance.", "updating"),
    _T("25", "Discussion", "Interpretation", "Overall interpretation, including fairness, "
       "in the context of the objectives and previous studies."),
    _T("26", "Discussion", "Limitations", "Limitations (representativeness, sample size, "
       "overfitting, missing data) and their effect on bias, uncertainty and "
       "generalisability."),
    _T("27a", "Discussion", "Usability in current care", "How poor-quality or unavailable "
       "input data should be assessed and handled when the model is used.", "scoring-rules"),
    _T("27b", "Discussion", "Usability in current care", "Whether users must interact with "
       "the input data or model, and the expertise they need."),
    _T("27c", "Discussion", "Usability in current care", "Next steps for research on "
       "applicability and generalisability."),
)
del _T


def _nonempty(df: pd.DataFrame | None) -> bool:
    return df is not None and len(df) > 0


def _text(s: str | None) -> bool:
    return bool(s and s.strip())


def _analysis_flags(a: AnalysisDescription | None) -> dict[str, bool]:
    a = a or AnalysisDescription()
    return {
        "data-use": _text(a.data_use),
        "predictor-handling": _text(a.predictor_handling),
        "models": bool(a.models) or _text(a.tuning) or _text(a.internal_validation),
        "heterogeneity-method": _text(a.heterogeneity_method),
        "measures": bool(a.measures),
        "updating-method": _text(a.updating_method),
        "prediction-method": _text(a.prediction_method),
        "class-imbalance": _text(a.class_imbalance),
        "model-output": _text(a.model_output),
    }


def _content_flags(data: ReportData) -> dict[str, bool]:
    """Which report parts have content; a part is rendered, and linked, only when it has."""
    cohorts = data.cohorts
    profiles = {c.role for c in cohorts if c.profile}
    model = data.model
    return {
        "data-source": any(_text(c.source) for c in cohorts),
        "data-dates": any(c.accrual_start or c.accrual_end or c.followup_end for c in cohorts),
        "setting": any(_text(c.setting) or c.n_centres for c in cohorts),
        "eligibility": any(c.eligibility for c in cohorts),
        "treatments": _text(data.treatments),
        "data-preparation": _text(data.data_preparation),
        "outcome": data.outcome is not None,
        "predictor-selection": _text(data.predictor_selection),
        "predictors": bool(data.predictors),
        "sample-size": data.sample_size is not None,
        "missing-data": _text(data.missing_data),
        **_analysis_flags(data.analysis),
        "evaluation-differences": _text(data.evaluation_differences),
        "flow": any(_nonempty(c.flow) for c in cohorts),
        "table1": any(_nonempty(c.table1) for c in cohorts),
        "distributions": profiles == set(ROLES),
        "analysis-counts": _nonempty(data.analysis_counts),
        "model-spec": model is not None and (model.is_cox or bool(model.model_uri)),
        "performance": any(_nonempty(t) for t in data.performance.values()),
        "decision-curves": _nonempty(data.decision_curves),
        "subgroups": _nonempty(data.subgroups),
        "heterogeneity": _nonempty(data.heterogeneity),
        "updating": bool(data.recalibrations),
        "scoring-rules": bool(data.scoring_rules),
    }


def _missing_dates(data: ReportData) -> str | None:
    """What the listed periods of the cohorts leave out ("not recorded" in the report)."""
    missing = []
    for c in data.cohorts:
        if not (c.accrual_start or c.accrual_end or c.followup_end):
            continue  # not listed at all
        gaps = [what for what, value in (("start of accrual", c.accrual_start),
                                         ("end of accrual", c.accrual_end),
                                         ("end of follow-up", c.followup_end)) if not value]
        if gaps:
            missing.append(f"{', '.join(gaps)} of the {c.label} cohort")
    return "; ".join(missing) or None


def _remainder(item: TripodItem, flags: dict[str, bool], data: ReportData) -> str | None:
    if item.item == "5b":
        return _missing_dates(data)
    if item.item == "23a" and not flags["subgroups"]:
        return "performance in key (e.g. sociodemographic) subgroups"
    if item.item == "10" and not any(c.role == "evaluation" for c in data.cohorts):
        return None
    if item.item == "20a" and not any(c.events is not None for c in data.cohorts):
        return "participants with and without the outcome; follow-up"
    if item.item == "24" and not any(_nonempty(r.performance) for r in data.recalibrations):
        return "performance of the updated model"
    return item.remainder


def tripod_checklist(data: ReportData) -> list[dict[str, Any]]:
    """The TRIPOD+AI checklist of a report: what it covers and what the authors must add.

    Parameters
    ----------
    data : ReportData
        The report's content.

    Returns
    -------
    list of dict
        One entry per item of :data:`TRIPOD_AI_ITEMS`, in order: ``item``, ``section``,
        ``topic``, ``text``, ``status`` (``"reported"``, ``"partly reported"`` or ``"author to
        complete"``), ``anchor`` (the id of the covering part, or ``None``) and ``remainder``
        (what is left to the authors, or ``None``).
    """
    flags = _content_flags(data)
    rows = []
    for it in TRIPOD_AI_ITEMS:
        covered = it.anchor is not None and flags[it.anchor]
        remainder = _remainder(it, flags, data) if covered else None
        status = ("author to complete" if not covered
                  else "partly reported" if remainder else "reported")
        rows.append({"item": it.item, "section": it.section, "topic": it.topic,
                     "text": it.text, "status": status,
                     "anchor": it.anchor if covered else None, "remainder": remainder})
    return rows
