"""``mmrisk evaluate``: a fixed, registered model on a new cohort whose outcomes are known.

External or temporal validation (TRIPOD+AI "evaluation"): the model is not refitted. The
cohort is rebuilt from a registry extract at the model's landmark and endpoint (or read from a
flat table with the model's time and event columns); rows the model cannot score are counted
with their reason, never dropped silently. Outputs, in one folder and in an MLflow run of type
``evaluation`` in the model's experiment:

- ``metrics.csv`` (``metric, value, lo, hi``; contract names with the scope ``ext_``, 95%
  percentile bootstrap intervals; the censoring weights come from the new cohort itself);
- ``decision_curve.csv`` (net benefit of the model with its band, and of treating all);
- ``subgroups.csv`` (C-index and O/E by sex, age band, R-ISS, centre, transplant era);
- ``exclusions.csv`` (why rows were not evaluated, counts only); ``evaluation.json``;
- ``figures/``: calibration at each horizon with the smoothed curve and its band, KM by the
  model's risk groups (training cut-points), decision curves;
- for the TRIPOD+AI report (:mod:`mmrisk.workflows._evaluation_report`): ``table1.csv``,
  ``profile.json`` and ``cohort.json`` (summaries of the evaluated cohort) and, with the run
  logged, ``report.html`` (the model's development run and this evaluation).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.cohort import Cohort, build_cohort, data_fingerprint, flat_cohort, read_flat_table
from mmrisk.config import CohortSpec, DataSpec
from mmrisk.evaluation import (
    Predictions,
    bootstrap_metrics,
    centre_heterogeneity,
    decision_curve,
    predict_survival_at_own_time,
    subgroup_frame,
    subgroup_table,
)
from mmrisk.exceptions import MMRiskError
from mmrisk.models import predict_survival_at, split_model
from mmrisk.predict import check_rows, risk_groups
from mmrisk.progress import Progress, report
from mmrisk.registry import read_extract
from mmrisk.report import km_figure, plot_calibration_band, plot_decision_curves
from mmrisk.workflows._checks import warn_few_replicates
from mmrisk.workflows._evaluation_report import log_evaluation_report, write_cohort_summaries
from mmrisk.workflows._input import _is_extract
from mmrisk.workflows._runfacts import available_subgroups, development_data, evaluation_note

__all__ = ["EvaluationCohort", "EvaluationResult", "evaluate", "evaluation_cohort"]

log = logging.getLogger(__name__)


@dataclass
class EvaluationCohort:
    """The patients a model is evaluated (or recalibrated) on, and those it could not score.

    Parameters
    ----------
    cohort : Cohort
        The rows with usable outcomes (registry cohort or flat table).
    X : pandas.DataFrame
        The model's input columns of the scored rows, checked.
    y : numpy structured array
        Their outcome (``event``, ``time``).
    table : pandas.DataFrame
        Their analysis-table rows (for subgroups).
    exclusions : pandas.DataFrame
        ``stage, reason, n``: rows not evaluated and why (counts only).
    fingerprint : str
        Data fingerprint of the cohort.
    """

    cohort: Cohort
    X: pd.DataFrame
    y: np.ndarray
    table: pd.DataFrame
    exclusions: pd.DataFrame
    fingerprint: str


def _flat_spec(meta: dict, time: str | None, event: str | None) -> DataSpec:
    outcome = meta.get("outcome") or {}
    time, event = time or outcome.get("time"), event or outcome.get("event")
    if not time or not event:
        raise MMRiskError("this model does not record the time and event columns it was "
                          "trained with; give them with --time and --event")
    return DataSpec(table="evaluation", time=time, event=event, features=list(meta["features"]),
                    id_column=outcome.get("id_column"),
                    competing_risks=bool(outcome.get("competing_risks")))


def evaluation_cohort(meta: dict, data_path: str | Path, *, time: str | None = None,
                      event: str | None = None) -> EvaluationCohort:
    """Build the cohort of ``data_path`` as the model saw its training data, and check its rows.

    Parameters
    ----------
    meta : dict
        The model's metadata (``features``, ``cohort`` spec or ``outcome`` columns, profile).
    data_path : str or path-like
        A registry extract (the cohort is rebuilt at the model's landmark and endpoint) or a
        flat table with the model's input, time and event columns.
    time, event : str, optional
        The flat table's outcome columns (default: those the model was trained with).

    Returns
    -------
    EvaluationCohort
        The scored rows and the count of every excluded one, with the reason.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the input cannot be read, misses model columns, or no row can be evaluated.
    """
    path = Path(data_path)
    if not path.exists():
        raise MMRiskError(f"{path}: no such file or folder")
    if _is_extract(path):
        if not meta.get("cohort"):
            raise MMRiskError(f"{path} is a registry extract but the model was trained on a flat "
                              "table; give a flat table with its columns")
        cohort = build_cohort(read_extract(path), CohortSpec(**meta["cohort"]))
    else:
        cohort = flat_cohort(read_flat_table(path), _flat_spec(meta, time, event), str(path))
    rows = [{"stage": "cohort", "reason": r.reason, "n": int(r.n)}
            for r in _flow_exclusions(cohort.flow).itertuples(index=False)]
    X, status, reason = check_rows(cohort.data, meta)
    bad = status == "error"
    for text, n in pd.Series(reason[bad], dtype=object).value_counts().items():
        rows.append({"stage": "input check", "reason": str(text), "n": int(n)})
    keep = ~bad
    if not keep.any():
        raise MMRiskError(f"{path}: no row can be evaluated ({int(bad.sum())} failed the input "
                          "checks; see the reasons with `mmrisk score`)")
    table = cohort.data.loc[keep].reset_index(drop=True)
    y = cohort.y[keep]
    return EvaluationCohort(cohort, X.loc[keep].reset_index(drop=True), y, table,
                            pd.DataFrame(rows, columns=["stage", "reason", "n"]),
                            data_fingerprint(cohort))


def _flow_exclusions(flow: pd.DataFrame) -> pd.DataFrame:
    """``reason, n`` of the flow table's ``excluded`` rows."""
    out = flow.loc[flow["step"] == "excluded", ["reason", "n"]]
    return out.astype({"n": int})


@dataclass
class EvaluationResult:
    """What :func:`evaluate` computed and wrote.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``metric, value, lo, hi`` (scope ``ext_``).
    decision_curve : pandas.DataFrame
        ``horizon, threshold, net_benefit_model, lo, hi, net_benefit_all``.
    subgroups : pandas.DataFrame
        ``variable, level, n, events, metric, value, lo, hi, note``.
    heterogeneity : dict
        Random-effects summary of the centre-specific C (empty with fewer than 2 centres).
    facts : dict
        ``evaluation.json``: sizes, events, follow-up, model URI and version, exclusions.
    files : list of pathlib.Path
        Files written.
    run_id : str or None
        The MLflow evaluation run.
    """

    metrics: pd.DataFrame
    decision_curve: pd.DataFrame
    subgroups: pd.DataFrame
    heterogeneity: dict
    facts: dict
    files: list[Path] = field(default_factory=list)
    run_id: str | None = None


def _check_horizons(horizons: list[int], meta: dict) -> list[int]:
    longest = meta.get("max_follow_up_months")
    beyond = [h for h in horizons if longest is not None and h > longest]
    if beyond:
        raise MMRiskError(f"--horizons {', '.join(map(str, beyond))}: beyond the longest "
                          f"follow-up the model was trained on ({longest:.0f} months); its "
                          "survival there would be an extrapolation")
    if not horizons or any(h <= 0 for h in horizons):
        raise MMRiskError(f"--horizons must be positive whole months; got {horizons}")
    return sorted(set(int(h) for h in horizons))


def _predict(estimator: Any, X: pd.DataFrame, y: np.ndarray, horizons: list[int]
             ) -> Predictions:
    features, final = split_model(estimator)
    Z = X if features is None else features.transform(X)
    risk = np.asarray(final.predict(Z), float)
    surv = predict_survival_at(final, Z, horizons)
    own = predict_survival_at_own_time(final, Z, y["time"])
    return Predictions(risk, surv, own)


def _subgroups(ev: EvaluationCohort, pred: Predictions, horizons: list[int], n_bootstrap: int,
               seed: int) -> tuple[pd.DataFrame, dict]:
    wanted = available_subgroups(ev.table)
    subs = (subgroup_table(subgroup_frame(ev.table, subgroups=wanted), ev.y, pred.risk,
                           pred.surv_at_horizons, horizons, n_bootstrap=n_bootstrap, seed=seed)
            if wanted else pd.DataFrame())
    het: dict = {}
    if "site" in ev.table and ev.table["site"].nunique() >= 2:
        het = centre_heterogeneity(ev.table["site"].astype(str), ev.y, pred.risk,
                                   n_bootstrap=n_bootstrap, seed=seed).summary()
    return subs, het


def _figures(ev: EvaluationCohort, pred: Predictions, horizons: list[int], dc: pd.DataFrame,
             cutpoints: list[float], n_bootstrap: int, seed: int) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    for k, h in enumerate(horizons):
        try:
            figs[f"calibration_{h}m"] = plot_calibration_band(
                ev.y, pred.surv_at_horizons[:, k], h, n_bootstrap=n_bootstrap, seed=seed)
        except (ValueError, MMRiskError) as e:  # e.g. nobody followed that long
            log.warning("calibration figure at %s months skipped: %s", h, e)
    groups = risk_groups(pred.risk, cutpoints)
    figs["km_risk_groups"] = km_figure(ev.y["time"], ev.y["event"], groups,
                                       title="Evaluation cohort by the model's risk groups")
    figs["decision_curves"] = plot_decision_curves(dc)
    return figs


def _facts(ev: EvaluationCohort, loaded: Any, source: dict, horizons: list[int],
           n_bootstrap: int, apparent: bool) -> dict[str, Any]:
    t, e = ev.y["time"], ev.y["event"]
    # a model recalibrated on these data: its calibration note says what is apparent
    development = not apparent and development_data(source, ev.fingerprint)
    return {
        "model_uri": loaded.uri, "registered_model": source.get("name"),
        "model_version": source.get("version"), "source_run_id": source.get("run_id"),
        "model_kind": loaded.meta.get("model_kind"), "data_fingerprint": ev.fingerprint,
        "n_patients": int(len(t)), "n_events": int(np.sum(e)),
        "n_excluded": int(ev.exclusions["n"].sum()) if len(ev.exclusions) else 0,
        "median_follow_up_months": float(np.median(t)), "max_follow_up_months": float(np.max(t)),
        "horizons": horizons, "n_bootstrap": n_bootstrap,
        "apparent_calibration": apparent,
        "development_data": development,
        "note": evaluation_note(apparent, development),
    }



def evaluate(model: Any, data_path: str | Path, out_dir: str | Path, *,
             horizons: list[int] | None = None, n_bootstrap: int = 200, seed: int = 0,
             time: str | None = None, event: str | None = None,
             tracking_uri: str | None = None, log_run: bool = True,
             progress: Progress | None = None) -> EvaluationResult:
    """Evaluate a fixed model on a new cohort; write the results and log an MLflow run.

    Parameters
    ----------
    model : str or LoadedModel
        A model URI (``models:/NAME@champion``, ``models:/NAME/3``, ``runs:/ID/model``) or a
        loaded model.
    data_path : str or path-like
        A registry extract or a flat table with outcomes.
    out_dir : str or path-like
        Folder for the files (created).
    horizons : list of int, optional
        Months (default: the model's); none beyond the model's training follow-up.
    n_bootstrap : int, default=200
        Bootstrap replicates of every interval.
    seed : int, default=0
        Seed of the bootstrap.
    time, event : str, optional
        Outcome columns of a flat table (default: the model's).
    tracking_uri : str, optional
        The store the model URI resolves against and the run is logged to.
    log_run : bool, default=True
        Log the evaluation run to MLflow, with its TRIPOD+AI ``report.html`` (also written to
        ``out_dir``).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    EvaluationResult
        Metrics, decision curve, subgroups, heterogeneity, facts, files and the run id.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For an unusable model, input or horizon; nothing is written.
    """
    from mmrisk.tracking import load_model, model_source

    loaded = load_model(model, tracking_uri) if isinstance(model, str) else model
    horizons = _check_horizons(list(horizons or loaded.horizons), loaded.meta)
    warn_few_replicates(n_bootstrap)
    if loaded.meta.get("outcome_kind") == "cif":  # competing risks (issue 17)
        from mmrisk.workflows._evaluate_competing import evaluate_competing, tag_competing_run

        ev = evaluation_cohort(loaded.meta, data_path, time=time, event=event)
        source = model_source(loaded.uri, tracking_uri) if isinstance(model, str) else {}
        result = EvaluationResult(**evaluate_competing(
            loaded, ev, source, out_dir, horizons, n_bootstrap=n_bootstrap, seed=seed,
            progress=progress))
        result.files += write_cohort_summaries(out_dir, ev,
                                               registry=_is_extract(Path(data_path)))
        if log_run and source.get("experiment_id"):
            result.run_id = _log_run(result, source, Path(out_dir), tracking_uri)
            tag_competing_run(result.run_id, result.facts, tracking_uri)
            html = log_evaluation_report(result.run_id, out_dir, tracking_uri=tracking_uri)
            if html is not None:
                result.files.append(html)
        return result
    report(progress, "evaluate", 0, 4)
    ev = evaluation_cohort(loaded.meta, data_path, time=time, event=event)
    pred = _predict(loaded.estimator, ev.X, ev.y, horizons)
    report(progress, "evaluate", 1, 4)
    metrics, _ = bootstrap_metrics(ev.y, ev.y, {"model": pred}, horizons,
                                   n_bootstrap=n_bootstrap, seed=seed, scope="ext")
    metrics = metrics.drop(columns="model")
    dc = decision_curve(ev.y, pred.surv_at_horizons, horizons, n_bootstrap=n_bootstrap,
                        seed=seed)
    report(progress, "evaluate", 2, 4)
    subs, het = _subgroups(ev, pred, horizons, n_bootstrap, seed)
    report(progress, "evaluate", 3, 4)
    source = model_source(loaded.uri, tracking_uri) if isinstance(model, str) else {}
    recal = loaded.meta.get("recalibration") or {}
    apparent = bool(recal) and recal.get("data_fingerprint") == ev.fingerprint
    facts = _facts(ev, loaded, source, horizons, n_bootstrap, apparent)
    facts["centre_heterogeneity"] = het
    figs = _figures(ev, pred, horizons, dc, loaded.meta["cutpoints"], n_bootstrap, seed)
    files = _write(Path(out_dir), metrics, dc, subs, ev.exclusions, facts, figs)
    files += write_cohort_summaries(out_dir, ev, registry=_is_extract(Path(data_path)))
    result = EvaluationResult(metrics, dc, subs, het, facts, files)
    if log_run and source.get("experiment_id"):
        result.run_id = _log_run(result, source, Path(out_dir), tracking_uri)
        html = log_evaluation_report(result.run_id, out_dir, tracking_uri=tracking_uri)
        if html is not None:
            result.files.append(html)
    report(progress, "evaluate", 4, 4)
    return result


def _write(out: Path, metrics: pd.DataFrame, dc: pd.DataFrame, subs: pd.DataFrame,
           exclusions: pd.DataFrame, facts: dict, figs: dict[str, Any]) -> list[Path]:
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files = [out / "metrics.csv", out / "decision_curve.csv", out / "subgroups.csv",
             out / "exclusions.csv", out / "evaluation.json"]
    metrics.to_csv(files[0], index=False)
    dc.to_csv(files[1], index=False)
    subs.to_csv(files[2], index=False)
    exclusions.to_csv(files[3], index=False)
    files[4].write_text(json.dumps(facts, indent=2, default=_jsonable), encoding="utf-8")
    for name, fig in figs.items():
        path = out / "figures" / f"{name}.png"
        fig.savefig(path, dpi=120)
        files.append(path)
    return files


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _log_run(result: EvaluationResult, source: dict, out: Path, tracking_uri: str | None
             ) -> str:
    import mlflow

    from mmrisk.tracking import RUN_TYPE_TAG, resolve_tracking_uri, using_store

    facts = result.facts
    tags = {RUN_TYPE_TAG: "evaluation", "data_fingerprint": facts["data_fingerprint"],
            "model_uri": facts["model_uri"], "source_run_id": str(source.get("run_id")),
            "apparent_calibration": str(facts["apparent_calibration"]).lower(),
            "development_data": str(facts.get("development_data", False)).lower()}
    if source.get("name"):
        tags.update({"registered_model": source["name"],
                     "model_version": str(source.get("version"))})
    label = (f"{source['name']}-v{source.get('version')}" if source.get("name")
             else str(source.get("run_id"))[:8])
    metrics = {}
    for r in result.metrics.itertuples(index=False):
        for suffix, v in (("", r.value), ("_lo", r.lo), ("_hi", r.hi)):
            if v is not None and np.isfinite(v):
                metrics[f"{r.metric}{suffix}"] = float(v)
    with using_store(resolve_tracking_uri(tracking_uri)), mlflow.start_run(
            experiment_id=source["experiment_id"], run_name=f"evaluate-{label}",
            tags=tags) as run:
        mlflow.log_params({"horizons": ",".join(map(str, facts["horizons"])),
                           "n_bootstrap": facts["n_bootstrap"],
                           "n_patients": facts["n_patients"], "n_events": facts["n_events"],
                           "n_excluded": facts["n_excluded"]})
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out))
        return run.info.run_id
