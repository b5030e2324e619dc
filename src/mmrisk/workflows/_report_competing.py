"""The TRIPOD+AI report of a competing-risks ``train`` run (progression vs death without it).

:func:`mmrisk.workflows.report_data` comes here when the model's ``meta.json`` says
``outcome_kind: cif``: this module registers :func:`competing_report_data` in
``workflows._report.OUTCOME_ASSEMBLERS`` when imported (``mmrisk.workflows`` imports it),
because it uses that module's helpers and an import back would be a cycle. The report is the
survival report's, with the parts that differ:

- outcome: the event of interest (cause 1) with the competing event (cause 2) not censored;
  the development cohort's Aalen–Johansen CIF of both causes at the horizons
  (``cohort_cif.csv``), and Gray's test between groups (``cohort_gray.csv``) under the cohort's
  CIF figure (``figures/cif_cohort.png``);
- participants: events of interest, competing events and censored in the flow diagram;
- performance: the child runs' ``cv_cindex_wolbers``, ``cv_cif_auc_<h>m``,
  ``cv_cif_brier_<h>m``, ``cv_cif_ici_<h>m``, ``cv_cif_oe_<h>m`` with their bootstrap intervals,
  the paired differences from the baseline (``leaderboard.csv``), the CIF calibration and the
  CIF by out-of-fold risk group figures;
- model: the hazard ratios of both causes (``hazard_ratios.csv``, column ``cause``; a Fine–Gray
  model has subdistribution hazard ratios of cause 1 only) and, for Fine–Gray, the baseline CIF
  at each horizon, from which ``CIF(h | x) = 1 - (1 - CIF0(h)) ** exp(LP)`` is computed by hand.
  A cause-specific model's CIF needs both baseline cumulative hazards at every event time, so
  the report gives its MLflow URI instead;
- no sample-size check: Riley et al.'s criteria for a time-to-event model do not address
  competing risks, so TRIPOD+AI item 10 is left to the authors; no decision curves.

Evaluation runs (``mmrisk evaluate`` of a competing-risks model, tagged ``outcome_kind: cif``)
add their cohort (flow with competing events, Table 1, predictor profile), ``ext_`` metrics,
subgroups and figures, as in the survival report; they have no decision curves or centre
heterogeneity.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.cohort import Cohort
from mmrisk.config import ExperimentConfig
from mmrisk.exceptions import MMRiskError
from mmrisk.models import COMPETING_MODEL_KINDS, predict_cif_at, split_model
from mmrisk.report import (
    SCORING_RULES,
    AnalysisDescription,
    ModelSpecification,
    OutcomeDefinition,
    ReportData,
    ReportFigure,
)
from mmrisk.tracking import LoadedModel
from mmrisk.workflows import _report as base

__all__ = ["competing_report_data"]

_CAUSES = {1: "progression", 2: "death without progression"}
_FIGURES = {
    "cif_calibration": ("calibration", "Calibration of the predicted CIF of progression at "
                        "each horizon (out-of-fold; Aalen–Johansen pseudo-values)"),
    "cif_risk_groups": ("performance", "Aalen–Johansen CIF by out-of-fold risk group"),
}


def _outcome(config: ExperimentConfig | None, meta: dict, cif: pd.DataFrame | None
             ) -> OutcomeDefinition | None:
    horizons = [float(h) for h in meta.get("horizons", [])]
    spec, flat = meta.get("cohort"), meta.get("outcome") or {}
    if spec:
        definition = ("Progression (IMWG criteria, as recorded in the registry's disease events) "
                      "is the event of interest (cause 1); death without progression is a "
                      "competing event (cause 2), not censored. Follow-up is otherwise censored "
                      "at the last contact (or the data cut).")
        landmark = base._LANDMARKS[spec["landmark"]][0].format(days=spec.get("landmark_days"))
    elif flat.get("time"):
        definition = (f"The event code {flat['event']!r} of the analysis table (1 = event of "
                      "interest, 2 = competing event, 0 = censored) with follow-up time "
                      f"{flat['time']!r}.")
        landmark = "time zero of the analysis table"
    else:
        return None
    definition += (" The model predicts the cumulative incidence function (CIF) of the event of "
                   "interest at each horizon: the probability of that event by the horizon, "
                   "with the competing event possible.")
    return OutcomeDefinition(definition, landmark, horizons, "months", _cif_text(cif))


def _cif_text(cif: pd.DataFrame | None) -> str | None:
    """The development cohort's Aalen–Johansen CIF of each cause at the horizons, in words."""
    if cif is None or not len(cif):
        return None
    parts = []
    for (group, cause), d in cif.groupby(["group", "cause"], sort=False):
        name = _CAUSES.get(int(cause), f"cause {cause}")
        values = ", ".join(f"{r.cif:.3f} [{r.lo:.3f}, {r.hi:.3f}] at {r.time:g}"
                           for r in d.itertuples(index=False))
        where = "" if str(group) == "all" else f" (group {group})"
        parts.append(f"{name}{where}: {values} months")
    return ("Development cohort, Aalen–Johansen cumulative incidence [95% CI]: "
            + "; ".join(parts) + ".")


def _gray_caption(gray: pd.DataFrame | None) -> str | None:
    if gray is None or not len(gray):
        return "One group: no Gray's test."
    return "Gray's test of equal cumulative incidence across the groups: " + "; ".join(
        f"{_CAUSES.get(int(r.cause), r.cause)}: chi² = {r.statistic:.3f}, df = {int(r.df)}, "
        f"p = {r.p_value:.3g}" for r in gray.itertuples(index=False)) + "."


def _figures(runs: Any, gray: pd.DataFrame | None, kind: str) -> list[ReportFigure]:
    out = [ReportFigure("participants", "Aalen–Johansen cumulative incidence of both causes in "
                        "the development cohort", png, _gray_caption(gray))
           for stem, png in runs.pngs(runs.parent.info.run_id, "figures")
           if stem == "cif_cohort"]
    rid = runs.model_run.info.run_id
    label = "subdistribution" if kind == "finegray" else "cause-specific"
    titles = {**_FIGURES, "hr_forest": ("model", f"{label.capitalize()} hazard ratios of "
                                                 "progression (cause 1)")}
    for stem, png in runs.pngs(rid, "figures"):
        section, title = titles.get(stem, ("performance", stem.replace("_", " ")))
        out.append(ReportFigure(section, title, png))
    for stem, png in runs.pngs(rid, "figures/shap"):
        out.append(ReportFigure("model", f"SHAP: {stem.replace('_', ' ')}", png,
                                "Global SHAP summary of the linear predictor of progression on "
                                "a sample of training patients."))
    return out


def _hazard_ratios(runs: Any, loaded: LoadedModel) -> pd.DataFrame | None:
    hr = runs.csv(runs.model_run.info.run_id, "hazard_ratios.csv")
    if hr is None:
        from mmrisk.models import hazard_ratios

        hr = hazard_ratios(loaded.estimator)
    if "cause" not in hr:
        hr = hr.assign(cause=1)
    cols = ["cause", "term", *[c for c in ("hr", "hr_lo", "hr_hi", "p") if c in hr]]
    return hr[cols].reset_index(drop=True)


def _baseline_cif(loaded: LoadedModel, terms: list[str]) -> dict[float, float]:
    """CIF of cause 1 with every encoded column 0 (Fine–Gray: ``1 - exp(-L0(h))``)."""
    _, final = split_model(loaded.estimator)
    zero = pd.DataFrame(np.zeros((1, len(terms))), columns=terms)
    cif = predict_cif_at(final, zero, [float(h) for h in loaded.horizons])[0]
    return {float(h): float(c) for h, c in zip(loaded.horizons, cif, strict=True)}


def _pipeline(config: ExperimentConfig | None, meta: dict) -> str | None:
    name, kind = meta.get("model_name"), meta.get("model_kind")
    if config is None or name not in config.models or kind not in COMPETING_MODEL_KINDS:
        return None
    return COMPETING_MODEL_KINDS[kind].pipeline_for(config.models[name].pipeline,
                                                    config.pipeline)


def _model_spec(runs: Any, loaded: LoadedModel, config: ExperimentConfig | None
                ) -> ModelSpecification:
    meta = loaded.meta
    kind = meta.get("model_kind", "")
    _, final = split_model(loaded.estimator)
    pipe = _pipeline(config, meta)
    pre = ("Raw inputs pass through the fitted " + (base._pipeline_text(pipe) if pipe else
                                                     "feature pipeline")
           + f" stored in the model object, which yields the "
           f"{getattr(final, 'n_features_in_', '?')} encoded columns below (num__x: "
           "standardised value of x after median imputation; num__missingindicator_x: 1 if x "
           "was missing; cat__x_level: 1 if x = level).")
    hr = _hazard_ratios(runs, loaded)
    spec = ModelSpecification(
        name=meta.get("model_name", "model"), kind=kind, preprocessing=pre,
        model_uri=runs.model_uri, input_columns=list(meta["features"]),
        output_columns=["status", "reason", "risk_score", "risk_group",
                        *[f"cif_{h}m" for h in loaded.horizons]],
        cause_hazard_ratios=hr,
        hazard_ratio_kind="subdistribution" if kind == "finegray" else "cause-specific")
    if kind == "finegray" and hr is not None and np.all(hr["hr"].to_numpy(float) > 0):
        spec.baseline_cif = _baseline_cif(loaded, hr["term"].astype(str).tolist())
    return spec


def _model_lines(config: ExperimentConfig) -> list[str]:
    out = []
    for name, spec in config.models.items():
        kind = COMPETING_MODEL_KINDS.get(spec.kind)
        desc = kind.description if kind is not None else spec.kind
        pipe = (kind.pipeline_for(spec.pipeline, config.pipeline) if kind is not None
                else spec.pipeline or config.pipeline)
        params = f"; parameters {json.dumps(spec.params)}" if spec.params else ""
        role = " (the baseline every model is compared with)" if name == config.baseline else ""
        out.append(f"{name} ({spec.kind}){role}: {desc} Inputs: {base._pipeline_text(pipe)}"
                   f"{params}; its risk score is the predicted CIF of the event of interest at "
                   f"the last horizon ({config.horizons[-1]} months).")
    return out


def _analysis(config: ExperimentConfig | None, meta: dict, names: list[str],
              tags: dict, evaluations: list) -> AnalysisDescription | None:
    if config is None:
        return None
    v = config.validation
    scheme = base._scheme_text(config)
    cut = meta.get("cutpoints") or []
    horizons = ", ".join(str(h) for h in meta.get("horizons", []))
    return AnalysisDescription(
        data_use=(f"The final models were fitted on every patient of the development cohort. "
                  f"Performance was estimated by {scheme}, with splits stratified on the "
                  f"event of interest and {v.n_bootstrap} bootstrap replicates for the "
                  "intervals."),
        predictor_handling=base._handling_text(config),
        models=_model_lines(config),
        tuning=base._tuning_text(config),
        internal_validation=(f"{scheme[0].upper()}{scheme[1:]}; {v.n_bootstrap} bootstrap "
                             f"replicates; the best model by {config.tracking.select_metric} "
                             "is registered."),
        measures=base._measures(names),
        prediction_method=("Predictions for the evaluation cohorts come from the registered "
                           "model object (the MLflow model, not refitted): the CIF of the event "
                           "of interest at each horizon; rows failing the input checks are "
                           "counted and not evaluated." if evaluations else None),
        class_imbalance=("None: the outcome is time to event with a competing event; no "
                         "resampling, weighting or threshold moving was used."),
        model_output=(f"A risk score (the predicted CIF of the event of interest at the last "
                      f"horizon; higher means earlier events), the predicted CIF at {horizons} "
                      "months, and a risk group: low, intermediate or high by the tertiles of "
                      "the training risk score (cut-points "
                      + ", ".join(f"{c:.4g}" for c in cut) + ")."),
        software=base._software(tags))


def _evaluation(runs: Any, run_id: str, i: int) -> dict:
    """An evaluation run of a competing-risks model: the survival reader, with competing
    events counted apart and the competing-risks figures titled."""
    e = base._evaluation(runs, run_id, i)
    if e["run"].data.tags.get("outcome_kind") != "cif":
        raise MMRiskError(f"evaluation run {run_id} did not evaluate a competing-risks model")
    competing = e["facts"].get("n_competing_events")
    e["cohort"].competing_events = int(competing) if competing is not None else None
    titles = {"cif_calibration": ("calibration", "Calibration of the predicted CIF of "
                                  "progression (tenths of predicted risk)"),
              "cif_risk_groups": ("performance", "Aalen–Johansen CIF by the model's risk "
                                  "groups")}
    e["figures"] = []
    for stem, png in runs.pngs(run_id, "figures"):
        section, title = titles.get(stem, ("performance", stem.replace("_", " ")))
        e["figures"].append(ReportFigure(section, f"{e['label']}: {title}", png))
    return e


def _title(meta: dict) -> str:
    name = f"{meta.get('model_name', 'model')} ({meta.get('model_kind', '?')})"
    spec = meta.get("cohort") or {}
    if not spec:
        return f"{name}: competing-risks prediction model (cumulative incidence)"
    landmark = base._LANDMARKS[spec["landmark"]][0].format(days=spec.get("landmark_days"))
    return (f"{name}: cumulative incidence of progression, death without progression "
            f"competing, from {landmark}")


def competing_report_data(runs: Any, loaded: LoadedModel, config: ExperimentConfig | None,
                          cohort: Cohort | None, evaluation_run_ids: list[str]) -> ReportData:
    """The report's content for a competing-risks train run (see the module docstring).

    Parameters
    ----------
    runs : mmrisk.workflows._report._Runs
        The resolved parent, model and child runs.
    loaded : LoadedModel
        The model (``meta.outcome_kind == "cif"``).
    config : ExperimentConfig or None
        The run's config, if readable.
    cohort : Cohort or None
        The development cohort, if available (accrual years, centres, follow-up).
    evaluation_run_ids : list of str
        Runs of ``mmrisk evaluate`` of this competing-risks model to include, in order.

    Returns
    -------
    ReportData
        Summaries only (no identifiers, no dates).

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If an evaluation run is not one of a competing-risks model.
    """
    meta, pid = loaded.meta, runs.parent.info.run_id
    scheme = base._scheme_text(config) if config is not None else "internal validation"
    evaluations = [_evaluation(runs, rid, i) for i, rid in enumerate(evaluation_run_ids, 1)]
    dev = base._development_cohort(runs, config, cohort, meta)
    competing = runs.parent.data.params.get("n_competing_events")
    dev.competing_events = int(competing) if competing is not None else None
    perf, names = base._performance(runs, meta, scheme.split(";")[0], evaluations)
    figures = _figures(runs, runs.csv(pid, "cohort_gray.csv"), meta.get("model_kind", ""))
    for e in evaluations:
        figures += e["figures"]
    issues = runs.csv(pid, "data_issues.csv")
    n_issues = int(issues["n"].sum()) if issues is not None and "n" in issues else 0
    landmark = (meta.get("cohort") or {}).get("landmark")
    surv = base._assemble_defaults(config, n_issues)
    return ReportData(
        title=_title(meta), provenance=base._provenance(runs, evaluations),
        cohorts=[dev] + [e["cohort"] for e in evaluations],
        outcome=_outcome(config, meta, runs.csv(pid, "cohort_cif.csv")),
        predictors=base._predictors(meta), predictor_selection=base._selection(config, meta),
        data_preparation=surv["data_preparation"],
        treatments=base._TREATMENTS.get(landmark) if landmark else None,
        missing_data=surv["missing_data"], sample_size=None,
        analysis=_analysis(config, meta, names, runs.parent.data.tags, evaluations),
        evaluation_differences=base._differences_text(evaluations, dev),
        analysis_counts=base._analysis_counts(dev, scheme.split(";")[0], evaluations),
        model=_model_spec(runs, loaded, config), performance=perf,
        subgroups=base._stack(evaluations, "subgroups"), figures=figures,
        scoring_rules=list(SCORING_RULES))


base.OUTCOME_ASSEMBLERS["cif"] = competing_report_data
