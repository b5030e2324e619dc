"""``mmrisk report``: gather a TRIPOD+AI :class:`~mmrisk.report.ReportData` from MLflow runs.

The adapter between the tracked runs and the renderer (:func:`mmrisk.report.render_tripod_report`):

- from a ``train`` parent run (``run_id``; the report describes its best model) or from a model
  URI (its run; a model run's parent is the train run; a recalibrated version leads to the
  version it updates), it reads the parent's ``config.yaml``, ``flow.csv``, ``table1.csv``,
  ``leaderboard.csv``, ``data_issues.csv`` and tags, every child run's metrics, the model run's
  ``hazard_ratios.csv``, ``predictions_oof.parquet`` and figures, and the model itself (its
  ``meta.json``: features, horizons, cut-points, the training profile);
- the model run's out-of-fold ``subgroups.csv`` and ``centre_heterogeneity.json`` enter the
  subgroup and centre-heterogeneity tables as the development cohort (internal validation);
- each evaluation run (``mmrisk evaluate``) adds its cohort, ``ext_`` metrics, decision curves,
  subgroups, centre heterogeneity and figures; registered versions tagged ``parent_version``
  (``mmrisk recalibrate``) are the model's updates.

Artifacts are downloaded with :mod:`mlflow.artifacts` into a temporary folder that is removed
afterwards. Only summaries enter the report: no patient identifier, no calendar date (periods
are years; the data cut, a study date, as a year-month), and :class:`ReportData` refuses tables
with identifier or date columns.

The sample-size check (Riley et al.) needs the development cohort's event rate and mean
follow-up, which no artifact holds: the cohort is the one :func:`mmrisk.workflows.train` passes
in, or is rebuilt from the run's config when its data are still where the config says and
have the run's data fingerprint; otherwise the check is left to the authors. The anticipated
Cox-Snell R² is that of a Cox model (lifelines) of the outcome on the model's out-of-fold risk
score: a cross-validated, hence optimism-adjusted, value; the report says so and gives the
apparent R² of the final model beside it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mmrisk import __version__
from mmrisk.cohort import Cohort, data_fingerprint, load_cohort
from mmrisk.config import ExperimentConfig
from mmrisk.conventions import FEATURE_SOURCES
from mmrisk.evaluation import cox_snell_rsquared, event_rate_and_followup, survival_sample_size
from mmrisk.exceptions import MMRiskError
from mmrisk.features import PIPELINES_DIR
from mmrisk.models import model_kind, predict_survival_at, split_model
from mmrisk.registry import TABLES
from mmrisk.report import (
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
    render_tripod_report,
)
from mmrisk.tracking import RUN_TYPE_TAG, LoadedModel, load_model, resolve_tracking_uri
from mmrisk.workflows._runfacts import model_pipeline

__all__ = ["build_report", "log_report", "report_data", "write_report"]

log = logging.getLogger(__name__)

_PARENT_TAG = "mlflow.parentRunId"

#: Report builders of other outcome kinds, by the model's ``meta.outcome_kind``: they import
#: this module's helpers, so they register here (``"cif"``: workflows._report_competing,
#: imported by ``mmrisk.workflows``) instead of being imported by it (no import cycle).
OUTCOME_ASSEMBLERS: dict[str, Any] = {}

_ENDPOINTS = {
    "pfs": ("progression-free survival",
            "Progression (IMWG criteria, as recorded in the registry's disease events) or death "
            "from any cause, whichever comes first. Follow-up is censored at the last contact "
            "(or the data cut); a death known only from the provincial registry after the last "
            "clinic visit censors at that visit, because progression status after it is "
            "unknown."),
    "ttp": ("time to progression",
            "Progression (IMWG criteria, as recorded in the registry's disease events); deaths "
            "without progression are censored at death, other follow-up at the last contact "
            "(or the data cut)."),
    "os": ("overall survival",
           "Death from any cause (registry follow-up, including deaths known from the "
           "provincial registry); censored at the last contact (or the data cut)."),
}
_LANDMARKS = {
    "lm_start": ("the first dose of lenalidomide maintenance",
                 "Patients transplanted upfront (ASCT) who started lenalidomide maintenance and "
                 "were alive, progression-free and in follow-up at its first dose."),
    "post_asct": ("{days} days after ASCT",
                  "Patients transplanted upfront (ASCT) who were alive, progression-free and in "
                  "follow-up {days} days after it (maintenance status as known on that day)."),
    "induction": ("the start of induction",
                  "Patients transplanted upfront (ASCT), from the start of induction."),
}
_TREATMENTS = {
    "lm_start": "Every participant received upfront ASCT and started lenalidomide maintenance "
                "(time zero). The starting dose, the schedule and the interval from ASCT to "
                "maintenance are candidate predictors; treatment after time zero (dose changes, "
                "interruptions, later lines) is not used.",
    "post_asct": "Every participant received upfront ASCT; maintenance status as known at the "
                 "landmark is a candidate predictor. Treatment after the landmark is not used.",
    "induction": "Every participant received upfront ASCT. Maintenance is defined by later "
                 "receipt, which carries immortal-time bias at this landmark.",
}
#: Performance measures by metric stem, in display order.
_MEASURES = {
    "cindex_harrell": "Harrell's C-index (discrimination)",
    "cindex_uno": "Uno's C-index, truncated at the largest horizon (discrimination, IPCW)",
    "auc": "time-dependent AUC at each horizon (cumulative/dynamic, IPCW)",
    "brier": "Brier score at each horizon (overall accuracy, IPCW)",
    "ibs": "integrated Brier score over the horizons",
    "calib_slope": "calibration slope at each horizon",
    "ici": "integrated calibration index (ICI) at each horizon (Austin et al. 2020)",
    "e50": "median absolute calibration error (E50) at each horizon",
    "e90": "90th centile of the absolute calibration error (E90) at each horizon",
    "oe": "observed / expected risk at each horizon (Kaplan-Meier vs mean predicted risk)",
    "dcal_pvalue": "D-calibration test p-value",
    "cindex_wolbers": "Wolbers' C-index of the event of interest up to the last horizon "
                      "(competing events stay comparable; discrimination)",
    "cif_auc": "time-dependent AUC of the predicted CIF at each horizon (cause 1, IPCW)",
    "cif_brier": "Brier score of the predicted CIF at each horizon (cause 1, IPCW)",
    "cif_ici": "integrated calibration index of the predicted CIF at each horizon (lowess "
               "through Aalen-Johansen pseudo-values)",
    "cif_oe": "observed (Aalen-Johansen) / expected (mean predicted) CIF at each horizon",
}
_SCHEMES = {
    "kfold": "event-stratified {k}-fold cross-validation repeated {r} time(s); "
             "every model sees identical folds; performance is computed on the pooled "
             "out-of-fold predictions and averaged over repeats",
    "temporal": "temporal validation: trained on earlier transplant years, tested on years "
                "from {year}",
    "by_site": "leave-one-centre-out cross-validation",
    "predefined": "a predefined train/test split (the split column of the data)",
}
#: Source of an evaluation cohort by its cohort.json ``registry`` flag (None: not recorded).
_EVALUATION_SOURCES = {
    True: "A registry extract in the mmrisk registry data contract; the cohort was rebuilt from "
          "it at the model's own landmark and endpoint.",
    False: "A flat analysis table with the model's input, time and event columns.",
    None: "The cohort of a new registry extract or table, rebuilt at the model's own landmark "
          "and endpoint.",
}
#: Thresholds of the decision-curve table (all are in the figure).
_DC_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
_FIGURE_TITLES = {
    "td_auc": ("performance", "Time-dependent AUC (out-of-fold)"),
    "brier_over_time": ("performance", "Brier score over time (out-of-fold)"),
    "km_risk_groups": ("performance", "Kaplan-Meier curves by out-of-fold risk group"),
    "hr_forest": ("model", "Hazard ratios of the encoded columns"),
    "permutation_importance": ("model", "Permutation importance (training data)"),
    "km_cohort": ("participants", "Kaplan-Meier curves of the development cohort"),
    "decision_curves": ("decision_curves", "Decision curves"),
}


# --------------------------------------------------------------------------- the runs
@dataclass
class _Runs:
    """The runs a report reads and a place to download their artifacts."""

    client: MlflowClient
    store: str
    tmp: Path
    parent: Any
    model_run: Any
    children: list = field(default_factory=list)
    model_uri: str = ""
    registered: dict = field(default_factory=dict)

    def listing(self, run_id: str, folder: str = "") -> list[str]:
        """Paths of the files directly in ``folder`` of a run's artifacts."""
        try:
            return [f.path for f in self.client.list_artifacts(run_id, folder or None)
                    if not f.is_dir]
        except (MlflowException, OSError):
            return []

    def file(self, run_id: str, path: str) -> Path | None:
        """Download one artifact; ``None`` when the run has no such file."""
        folder = path.rpartition("/")[0]
        if path not in self.listing(run_id, folder):
            return None
        return Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(self.tmp / run_id),
            tracking_uri=self.store))

    def csv(self, run_id: str, path: str) -> pd.DataFrame | None:
        local = self.file(run_id, path)
        return pd.read_csv(local) if local is not None else None

    def pngs(self, run_id: str, folder: str) -> list[tuple[str, bytes]]:
        """``(stem, bytes)`` of the PNG files directly in ``folder`` (one download)."""
        names = sorted(Path(p).name for p in self.listing(run_id, folder) if p.endswith(".png"))
        if not names:
            return []
        local = Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=folder, dst_path=str(self.tmp / run_id / "pngs"),
            tracking_uri=self.store))
        return [(Path(n).stem, (local / n).read_bytes()) for n in names]


def _get_run(client: MlflowClient, run_id: str, store: str) -> Any:
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise MMRiskError(f"no run {run_id!r} in the tracking store {store}") from None


def _version_run(client: MlflowClient, name: str, ver: str) -> str:
    return client.get_model_version(name, str(ver)).run_id


def _source_of_uri(client: MlflowClient, uri: str, store: str) -> tuple[str, dict]:
    """The run that logged a model URI, and its registered name and version."""
    from mmrisk.tracking import model_source

    try:
        src = model_source(uri, store)
    except MlflowException as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MMRiskError(f"model {uri!r} cannot be resolved: {first} (tracking store "
                          f"{store})") from None
    if not src.get("run_id"):
        raise MMRiskError(f"model {uri!r} has no MLflow run; give a models:/ or runs:/ URI")
    reg = {"name": src["name"], "version": src["version"]} if src.get("name") else {}
    return src["run_id"], reg


def _train_parent(client: MlflowClient, run: Any, store: str) -> tuple[Any, Any]:
    """(train parent run, model run) for a model's run; follows recalibrated versions."""
    for _ in range(10):
        tags = run.data.tags
        if _PARENT_TAG in tags:
            return _get_run(client, tags[_PARENT_TAG], store), run
        if tags.get("parent_version") and tags.get("registered_model"):
            run = _get_run(client, _version_run(client, tags["registered_model"],
                                                tags["parent_version"]), store)
            continue
        break
    raise MMRiskError(f"run {run.info.run_id} is not a model run of `mmrisk train` (no parent "
                      "train run); give the train run with --run")


def _children(client: MlflowClient, parent: Any) -> list:
    runs = client.search_runs([parent.info.experiment_id],
                              f"tags.`{_PARENT_TAG}` = '{parent.info.run_id}'")
    return sorted(runs, key=lambda r: r.info.start_time or 0)


def _resolve(client: MlflowClient, store: str, tmp: Path, run_id: str | None,
             model_uri: str | None) -> _Runs:
    if (run_id is None) == (model_uri is None):
        raise MMRiskError("give either a train run id or a model URI (one of them)")
    reg: dict = {}
    if model_uri is not None:
        rid, reg = _source_of_uri(client, model_uri, store)
        parent, model_run = _train_parent(client, _get_run(client, rid, store), store)
    else:
        run = _get_run(client, run_id, store)
        if run.data.tags.get(RUN_TYPE_TAG) == "train":
            parent, model_run = run, None
        else:
            parent, model_run = _train_parent(client, run, store)
    children = _children(client, parent)
    if not children:
        raise MMRiskError(f"train run {parent.info.run_id} has no model runs")
    if model_run is None:
        best = parent.data.tags.get("best_model")
        named = [c for c in children if c.data.tags.get("model_name") == best]
        model_run = named[0] if named else children[0]
    if model_uri is None:
        model_uri, reg = _default_uri(client, store, parent, model_run)
    return _Runs(client, store, tmp, parent, model_run, children, model_uri, reg)


def _default_uri(client: MlflowClient, store: str, parent: Any, model_run: Any
                 ) -> tuple[str, dict]:
    """``models:/NAME/VERSION`` when the train run registered this model, else ``runs:/``."""
    ver = parent.data.tags.get("registered_version")
    name = _config_of(parent, store).get("tracking", {}).get("registered_model")
    if ver and name:
        try:
            if _version_run(client, name, ver) == model_run.info.run_id:
                return f"models:/{name}/{ver}", {"name": name, "version": int(ver)}
        except MlflowException:
            pass
    return f"runs:/{model_run.info.run_id}/model", {}


def _config_of(parent: Any, store: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=parent.info.run_id, artifact_path="config.yaml", dst_path=tmp,
                tracking_uri=store)
        except (MlflowException, OSError):
            return {}
        return yaml.safe_load(Path(local).read_text(encoding="utf-8")) or {}


# --------------------------------------------------------------------------- cohorts
def _rebuild_cohort(config: ExperimentConfig | None, fingerprint: str | None) -> Cohort | None:
    """The development cohort, when its data are still where the config says (never simulated
    anew) and have the run's fingerprint."""
    if config is None or not fingerprint:
        return None
    d = config.data
    source = d.table or d.extract or str(Path(d.synthetic_dir) / "manifest.json")
    if not Path(source).exists():
        log.info("report: the development data (%s) are not available; the sample-size check "
                 "is left to the authors", source)
        return None
    try:
        cohort = load_cohort(d, config.cohort)
    except (MMRiskError, OSError) as e:
        log.info("report: the development cohort cannot be rebuilt: %s", e)
        return None
    if data_fingerprint(cohort) != fingerprint:
        log.info("report: the development data have changed since the run (fingerprint "
                 "differs); the sample-size check is left to the authors")
        return None
    return cohort


def _reverse_km_median(y: np.ndarray) -> float | None:
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(y["time"], ~y["event"].astype(bool))
    med = float(km.median_survival_time_)
    return med if math.isfinite(med) else None


def _years(cohort: Cohort | None) -> tuple[str | None, str | None]:
    if cohort is None or "transplant_year" not in cohort.data:
        return None, None
    years = pd.to_numeric(cohort.data["transplant_year"], errors="coerce").dropna()
    if years.empty:
        return None, None
    return str(int(years.min())), str(int(years.max()))


def _source_text(config: ExperimentConfig | None) -> str | None:
    if config is None:
        return None
    d = config.data
    if d.table:
        return ("A flat analysis table (one row per patient with follow-up time in months and "
                "an event indicator).")
    if d.extract:
        return ("A registry extract in the mmrisk registry data contract (patients, labs, "
                "cytogenetics, treatment lines, transplants, responses, maintenance, disease "
                "events, follow-up); the cohort was built from it at the landmark.")
    return (f"The synthetic registry of mmrisk ({d.simulate_n:,} patients, seed "
            f"{d.simulate_seed}), calibrated to published results of the Canadian Myeloma "
            "Research Group registry; not real patients.")


def _eligibility(config: ExperimentConfig | None, flow: pd.DataFrame | None) -> list[str]:
    out = []
    if config is not None and not config.data.table:
        spec = config.cohort
        out.append(_LANDMARKS[spec.landmark][1].format(days=spec.landmark_days))
    if flow is not None:
        out += [f"Excluded: {r}." for r in flow.loc[flow["step"] == "excluded", "reason"]]
    return out


def _development_cohort(runs: _Runs, config: ExperimentConfig | None, cohort: Cohort | None,
                        meta: dict) -> ReportCohort:
    pid = runs.parent.info.run_id
    flow = runs.csv(pid, "flow.csv")
    params = runs.parent.data.params
    start, end = _years(cohort)
    cut = config.cohort.data_cut if config is not None else None
    n = int(params["n_patients"]) if "n_patients" in params else None
    events = int(params["n_events"]) if "n_events" in params else None
    return ReportCohort(
        label="development", role="development", source=_source_text(config),
        setting=("Transplant centres contributing to the registry" if config is not None
                 and not config.data.table else None),
        n_centres=(int(cohort.data["site"].nunique()) if cohort is not None
                   and "site" in cohort.data else None),
        accrual_start=start, accrual_end=end, followup_end=cut[:7] if cut else None,
        eligibility=_eligibility(config, flow), flow=flow, n=n, events=events,
        median_followup=_reverse_km_median(cohort.y) if cohort is not None else None,
        table1=runs.csv(pid, "table1.csv"),
        profile={"n": meta["profile"].get("n"), "features": meta["profile"]["features"]}
        if meta.get("profile") else None)


# --------------------------------------------------------------------------- predictors
def _registry_column(feature: str) -> tuple[str, Any] | None:
    table, column = FEATURE_SOURCES.get(feature, (None, feature))
    for name, spec in TABLES.items():
        if table is not None and name != table:
            continue
        if column in spec.column_names:
            return name, spec.column(column)
    return None


def _predictors(meta: dict) -> list[Predictor]:
    profile = (meta.get("profile") or {}).get("features", {})
    out = []
    for f in meta["features"]:
        found = _registry_column(f)
        if found is not None:
            table, col = found
            what = f"; {col.description}" if col.description else ""
            desc = (f"Registry table {table}, column {col.name}{what}; the value known at "
                    "the landmark (records dated after it are never used).")
            unit = col.unit or None
        else:
            desc = ("Derived by the cohort builder from registry records dated at or before "
                    "the landmark.")
            unit = "months" if f.startswith("months_") else None
        entry = profile.get(f, {})
        out.append(Predictor(f, desc, unit, entry.get("kind"), entry.get("missing")))
    return out


# --------------------------------------------------------------------------- sample size
def _cox_snell_of_score(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> float:
    """Cox-Snell R² of a Cox model (lifelines, Efron ties) of the outcome on one score."""
    from lifelines import CoxPHFitter

    df = pd.DataFrame({"time": time, "event": event.astype(int), "score": score})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = CoxPHFitter().fit(df, "time", "event")
        lr = float(fit.log_likelihood_ratio_test().test_statistic)
    ll = float(fit.log_likelihood_)
    return cox_snell_rsquared(ll, ll - lr / 2, len(df))


def _oof_rsquared(runs: _Runs, y: np.ndarray) -> float | None:
    local = runs.file(runs.model_run.info.run_id, "predictions_oof.parquet")
    if local is None:
        return None
    oof = pd.read_parquet(local)
    if "repeat" in oof:
        oof = oof[oof["repeat"] == oof["repeat"].min()]
    rows = oof["row"].to_numpy()
    if len(rows) == 0 or rows.max() >= len(y):
        return None
    return _cox_snell_of_score(y["time"][rows], y["event"][rows], oof["risk"].to_numpy(float))


def _sample_size(runs: _Runs, loaded: LoadedModel, cohort: Cohort | None, scheme: str
                 ) -> SampleSizeCheck | None:
    if cohort is None:
        return None
    y = cohort.y
    name = loaded.meta.get("model_name", "the model")
    try:
        apparent = _cox_snell_of_score(y["time"], y["event"],
                                       np.asarray(loaded.estimator.predict(cohort.X), float))
        oof = _oof_rsquared(runs, y)
        rate, meanfup = event_rate_and_followup(y)
        parameters = int(split_model(loaded.estimator)[1].n_features_in_)
        r2 = oof if oof is not None else apparent
        result = survival_sample_size(r2, parameters, rate, float(max(loaded.horizons)),
                                      meanfup)
    except (MMRiskError, ValueError, AttributeError) as e:
        log.info("report: no sample-size check: %s", e)
        return None
    if oof is not None:
        source = (f"Cox-Snell R² of a Cox model (lifelines) of the outcome on {name}'s "
                  f"out-of-fold risk score ({scheme}), so adjusted for optimism; the apparent "
                  f"R² of the final model on the development data is {apparent:.4f}")
    else:
        source = (f"apparent Cox-Snell R² of {name} on the development data (a Cox model of "
                  "the outcome on its risk score); apparent values overstate the R² a new "
                  "study can expect")
    return SampleSizeCheck(result, source, int(len(y)), int(np.sum(y["event"])))


# --------------------------------------------------------------------------- analysis
def _pipeline_text(pipeline: str) -> str:
    path = PIPELINES_DIR / f"{pipeline}.yaml"
    if not path.exists() and Path(pipeline).exists():
        path = Path(pipeline)
    try:
        desc = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("description")
    except OSError:
        desc = None
    return f"feature pipeline '{pipeline}'" + (f" ({desc.rstrip('.')})" if desc else "")


def _scheme_text(config: ExperimentConfig) -> str:
    v = config.validation
    year = v.test_from_year if v.test_from_year is not None else "a data-driven cut"
    return _SCHEMES[v.scheme].format(k=v.n_splits, r=v.n_repeats, year=year)


def _model_lines(config: ExperimentConfig) -> list[str]:
    out = []
    for name, spec in config.models.items():
        try:
            kind = model_kind(spec.kind)
            desc, pipe = kind.description, kind.pipeline_for(spec.pipeline, config.pipeline)
        except MMRiskError:
            desc, pipe = spec.kind, spec.pipeline or config.pipeline
        params = f"; parameters {json.dumps(spec.params)}" if spec.params else ""
        grid = f"; grid {json.dumps(spec.grid)}" if spec.grid else ""
        base = " (the baseline every model is compared with)" if name == config.baseline else ""
        out.append(f"{name} ({spec.kind}){base}: {desc} Inputs: {_pipeline_text(pipe)}"
                   f"{params}{grid}.")
    return out


def _software(tags: dict) -> str:
    parts = [f"mmrisk {tags.get('mmrisk_version', __version__)}"]
    for dist in ("scikit-survival", "scikit-learn", "lifelines", "mlflow"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            continue
    return ", ".join(parts) + " (versions of the environment that wrote this report)."


def _measures(names: Sequence[str]) -> list[str]:
    stems = {re.sub(r"^(cv|test|ext)_", "", n) for n in names}
    stems = {re.sub(r"_\d+m$", "", s) for s in stems}
    return [text for stem, text in _MEASURES.items() if stem in stems] + [
        "95% percentile bootstrap intervals of every measure; paired bootstrap intervals of "
        "each model's difference from the baseline"]


#: Model kinds that choose their penalty by inner cross-validation of their own.
_SELF_TUNING = {"coxnet": "its penalty (Harrell's C)",
                "cs_coxnet": "each cause's penalty (Harrell's C of that cause)"}


def _tuning_text(config: ExperimentConfig) -> str:
    """Item 12c: the grid searches and the models that tune themselves, as configured."""
    v = config.validation
    grids = [f"{n}: {json.dumps(m.grid)}" for n, m in config.models.items() if m.grid]
    own = [f"{n} chooses {_SELF_TUNING[m.kind]}" for n, m in config.models.items()
           if m.kind in _SELF_TUNING]
    text = (f"Grid search by inner {v.inner_cv}-fold cross-validation (Harrell's C) within each "
            "training fold: " + "; ".join(grids) if grids
            else "No hyperparameter grid was searched")
    if own:
        text += (f"; {', '.join(own)} by inner {v.inner_cv}-fold cross-validation within each "
                 "training fold")
    return text + "."


def _handling_text(config: ExperimentConfig) -> str:
    """Item 9a/12b: the feature pipelines of the configured models and how predictors enter."""
    pipes = "; ".join(_pipeline_text(p) for p in _pipelines(config))
    return (f"Each model's {pipes}, fitted on the training folds only. Cox-type models take "
            "continuous predictors linearly (no splines or categorisation); forests and "
            "boosting split on them.")


def _heterogeneity_text(internal: bool, evaluations: list) -> str | None:
    where = (["the development cohort (internal validation: the out-of-fold predictions of "
              "the cross-validation)"] if internal else []) + (
        ["each evaluation cohort"] if any(e["heterogeneity"] for e in evaluations) else [])
    if not where:
        return None
    return (f"In {' and in '.join(where)}, centre-specific C-indices are pooled by a "
            "random-effects meta-analysis on the logit scale (REML), with I² and a 95% "
            "prediction interval.")


def _analysis(config: ExperimentConfig | None, meta: dict, metric_names: Sequence[str],
              tags: dict, evaluations: list, recalibrated: bool,
              internal_heterogeneity: bool = False) -> AnalysisDescription | None:
    if config is None:
        return None
    v = config.validation
    cut = meta.get("cutpoints") or []
    horizons = ", ".join(str(h) for h in meta.get("horizons", []))
    return AnalysisDescription(
        data_use=(f"The final models were fitted on every patient of the development cohort. "
                  f"Performance was estimated by {_scheme_text(config)}, with {v.n_bootstrap} "
                  "bootstrap replicates for the intervals."),
        predictor_handling=_handling_text(config),
        models=_model_lines(config),
        tuning=_tuning_text(config),
        internal_validation=(f"{_scheme_text(config)[0].upper()}{_scheme_text(config)[1:]}; "
                             f"{v.n_bootstrap} bootstrap replicates; the best model by "
                             f"{config.tracking.select_metric} is registered."),
        heterogeneity_method=_heterogeneity_text(internal_heterogeneity, evaluations),
        measures=_measures(metric_names),
        updating_method=("Registered updates (mmrisk recalibrate) re-estimate the baseline "
                         "survival, a calibration intercept, or intercept and slope on the "
                         "linear predictor, on a new cohort, without refitting the predictor "
                         "effects." if recalibrated else None),
        prediction_method=("Predictions for the evaluation cohorts come from the registered "
                           "model object (the MLflow model, not refitted); rows failing the "
                           "input checks are counted and not evaluated." if evaluations
                           else None),
        class_imbalance=("None: the outcome is time to event; no resampling, weighting or "
                         "threshold moving was used."),
        model_output=(f"A risk score (higher means earlier events), the predicted event-free "
                      f"probability at {horizons} months, and a risk group: low, intermediate "
                      f"or high by the tertiles of the training risk score (cut-points "
                      + ", ".join(f"{c:.4g}" for c in cut) + ")."),
        software=_software(tags))


# --------------------------------------------------------------------------- performance
def _metric_key(name: str) -> tuple:
    stem = re.sub(r"^(cv|test|ext)_", "", name)
    m = re.match(r"(.*)_(\d+)m$", stem)
    base, h = (m.group(1), int(m.group(2))) if m else (stem, 0)
    order = list(_MEASURES)
    return (name.split("_", 1)[0], order.index(base) if base in order else len(order), h, stem)


def _child_metrics(children: list, first: str) -> pd.DataFrame:
    rows = []
    ordered = sorted(children, key=lambda c: c.data.tags.get("model_name") != first)
    for c in ordered:
        m = c.data.metrics
        for name, value in m.items():
            if (name.startswith(("cv_", "test_")) and not name.endswith(("_lo", "_hi"))
                    and "_diff_vs_" not in name):
                rows.append({"model": c.data.tags.get("model_name", c.info.run_name),
                             "metric": name, "value": value, "lo": m.get(f"{name}_lo"),
                             "hi": m.get(f"{name}_hi")})
    df = pd.DataFrame(rows, columns=["model", "metric", "value", "lo", "hi"])
    keys = {n: _metric_key(n) for n in df["metric"].unique()}
    df["_k"] = df["metric"].map(keys)
    models = list(dict.fromkeys(df["model"]))
    df["_m"] = df["model"].map(models.index)
    return df.sort_values(["_k", "_m"]).drop(columns=["_k", "_m"]).reset_index(drop=True)


def _differences(board: pd.DataFrame | None, order: list[str]) -> pd.DataFrame | None:
    if board is None or "diff_vs_baseline" not in board:
        return None
    d = board.dropna(subset=["diff_vs_baseline"])
    if d.empty:
        return None
    d = d.assign(_m=d["model"].map(lambda m: order.index(m) if m in order else len(order)))
    d = d.sort_values(["_m"], kind="stable")
    return pd.DataFrame({"model": d["model"], "metric": d["metric"],
                         "value": d["diff_vs_baseline"], "lo": d["diff_lo"],
                         "hi": d["diff_hi"]}).reset_index(drop=True)


def _figures(runs: _Runs, run_id: str, label: str = "") -> list[ReportFigure]:
    out = []
    prefix = f"{label}: " if label else ""
    for stem, png in runs.pngs(run_id, "figures"):
        m = re.match(r"calibration_(\d+)m$", stem)
        if m:
            section, title = "calibration", f"Calibration at {m.group(1)} months"
        else:
            section, title = _FIGURE_TITLES.get(stem, ("performance", stem.replace("_", " ")))
        out.append(ReportFigure(section, prefix + title, png))
    for stem, png in runs.pngs(run_id, "figures/shap"):
        out.append(ReportFigure("model", f"{prefix}SHAP: {stem.replace('_', ' ')}", png,
                                "Global SHAP summary on a sample of training patients."))
    return out


# --------------------------------------------------------------------------- evaluations
def _evaluation(runs: _Runs, run_id: str, i: int) -> dict:
    run = _get_run(runs.client, run_id, runs.store)
    if run.data.tags.get(RUN_TYPE_TAG) != "evaluation":
        raise MMRiskError(f"run {run_id} is not an evaluation run (`mmrisk evaluate`)")
    facts_path = runs.file(run_id, "evaluation.json")
    facts = json.loads(facts_path.read_text(encoding="utf-8")) if facts_path else {}
    label = f"evaluation {i}"
    excl = runs.csv(run_id, "exclusions.csv")
    n, events = facts.get("n_patients"), facts.get("n_events")
    flow = None
    if excl is not None and n is not None:
        flow = pd.DataFrame(
            [{"step": "extract", "reason": "rows of the evaluation data",
              "n": int(n + excl["n"].sum())}]
            + [{"step": "excluded", "reason": (r.reason if r.stage == "cohort"
                                               else f"{r.stage}: {r.reason}"), "n": int(r.n)}
               for r in excl.itertuples(index=False)]
            + [{"step": "included", "reason": "evaluated", "n": int(n)}])
    het = facts.get("centre_heterogeneity") or {}
    profile = runs.file(run_id, "profile.json")
    about_path = runs.file(run_id, "cohort.json")  # written by evaluate since the report
    about = json.loads(about_path.read_text(encoding="utf-8")) if about_path else {}
    centres = about.get("n_centres") or het.get("n_centres")
    cohort = ReportCohort(
        label=label, role="evaluation", source=_EVALUATION_SOURCES[about.get("registry")],
        setting=("Transplant centres contributing to the registry" if about.get("registry")
                 else None),
        n_centres=int(centres) if centres else None,
        accrual_start=about.get("accrual_start"), accrual_end=about.get("accrual_end"),
        eligibility=["As the development cohort (the same cohort specification)."]
        + ([f"Excluded: {r}." for r in flow.loc[flow["step"] == "excluded", "reason"]]
           if flow is not None else []),
        flow=flow, n=n, events=events, median_followup=about.get("median_followup_months"),
        table1=runs.csv(run_id, "table1.csv"),
        profile=json.loads(profile.read_text(encoding="utf-8")) if profile else None)
    return {"run": run, "label": label, "facts": facts, "cohort": cohort,
            "metrics": runs.csv(run_id, "metrics.csv"),
            "decision_curve": runs.csv(run_id, "decision_curve.csv"),
            "subgroups": runs.csv(run_id, "subgroups.csv"), "heterogeneity": het,
            "figures": _figures(runs, run_id, label)}


_INTERNAL_LABEL = "development (out-of-fold, internal validation)"


def _internal(runs: _Runs) -> dict:
    """The model run's out-of-fold ``subgroups.csv`` and ``centre_heterogeneity.json`` (logged
    by ``mmrisk train``), shaped as an evaluation for :func:`_stack` and
    :func:`_heterogeneity`."""
    rid = runs.model_run.info.run_id
    het_path = runs.file(rid, "centre_heterogeneity.json")
    het = json.loads(het_path.read_text(encoding="utf-8")) if het_path else {}
    return {"label": _INTERNAL_LABEL, "subgroups": runs.csv(rid, "subgroups.csv"),
            "heterogeneity": het}


def _stack(evaluations: list, key: str) -> pd.DataFrame | None:
    parts = [e[key].assign(evaluation=e["label"]) for e in evaluations
             if e[key] is not None and len(e[key])]
    if not parts:
        return None
    df = pd.concat(parts, ignore_index=True)
    return df[["evaluation", *[c for c in df.columns if c != "evaluation"]]]


def _decision_table(evaluations: list) -> pd.DataFrame | None:
    df = _stack(evaluations, "decision_curve")
    if df is None:
        return None
    keep = np.isclose(df["threshold"].to_numpy(float)[:, None], _DC_THRESHOLDS).any(axis=1)
    return df[keep].reset_index(drop=True)


def _heterogeneity(evaluations: list) -> pd.DataFrame | None:
    rows = [{"evaluation": e["label"], "centres": int(h["n_centres"]),
             "metric": "C-index, pooled (random effects)", "value": h["cindex_pooled"],
             "lo": h["cindex_pooled_lo"], "hi": h["cindex_pooled_hi"],
             "95% prediction interval": f"{h['cindex_pi_lo']:.3f} to {h['cindex_pi_hi']:.3f}",
             "I² (%)": round(float(h["i2"]), 1), "tau²": h["tau2"], "Q p-value": h["q_pvalue"]}
            for e in evaluations if (h := e["heterogeneity"])]
    return pd.DataFrame(rows) if rows else None


# --------------------------------------------------------------------------- the model
def _coefficients(runs: _Runs, loaded: LoadedModel) -> dict[str, float] | None:
    hr = runs.csv(runs.model_run.info.run_id, "hazard_ratios.csv")
    if hr is None:
        from mmrisk.models import hazard_ratios

        hr = hazard_ratios(loaded.estimator)
    with np.errstate(divide="ignore"):
        coef = np.log(hr["hr"].to_numpy(float))
    if not np.all(np.isfinite(coef)):
        return None
    return dict(zip(hr["term"].astype(str), coef.tolist(), strict=True))


def _baseline_survival(loaded: LoadedModel, terms: list[str]) -> dict[float, float]:
    """S(h | every encoded column = 0): the baseline of the uncentred linear predictor.

    Under proportional hazards ``S(h | z) = S(h | 0) ** exp(coef · z)`` exactly, whatever
    centring the estimator uses internally.
    """
    _, final = split_model(loaded.estimator)
    zero = pd.DataFrame(np.zeros((1, len(terms))), columns=terms)
    surv = predict_survival_at(final, zero, [float(h) for h in loaded.horizons])[0]
    return {float(h): float(s) for h, s in zip(loaded.horizons, surv, strict=True)}


def _model_spec(runs: _Runs, loaded: LoadedModel, config: ExperimentConfig | None
                ) -> ModelSpecification:
    meta = loaded.meta
    kind = meta.get("model_kind", "")
    _, final = split_model(loaded.estimator)
    n_cols = getattr(final, "n_features_in_", None)
    pipe = (model_kind(kind).pipeline_for(config.models[meta["model_name"]].pipeline,
                                          config.pipeline)
            if config is not None and meta.get("model_name") in config.models else None)
    pre = ("Raw inputs pass through the fitted " + (_pipeline_text(pipe) if pipe else
                                                     "feature pipeline")
           + f" stored in the model object, which yields the {n_cols} encoded columns below "
           "(num__x: standardised value of x after median imputation; "
           "num__missingindicator_x: 1 if x was missing; cat__x_level: 1 if x = level). "
           "The imputation medians and scaling constants are part of the model object.")
    spec = ModelSpecification(
        name=meta.get("model_name", "model"), kind=kind, preprocessing=pre,
        model_uri=runs.model_uri, input_columns=list(meta["features"]),
        output_columns=["status", "reason", "risk_score", "risk_group",
                        *[f"surv_{h}m" for h in loaded.horizons]])
    cox = False
    try:
        cox = model_kind(kind).cox_type
    except MMRiskError:
        pass
    if cox:
        coef = _coefficients(runs, loaded)
        if coef:
            spec.coefficients = coef
            spec.baseline_survival = _baseline_survival(loaded, list(coef))
    return spec


def _version_evaluations(runs: _Runs, experiment_ids: list[str], name: str, version: str,
                         fingerprint: str | None = None) -> list:
    """Evaluation runs of one registered version, latest first (optionally on one data set)."""
    query = (f"tags.`{RUN_TYPE_TAG}` = 'evaluation' and tags.registered_model = '{name}' "
             f"and tags.model_version = '{version}'")
    if fingerprint:
        query += f" and tags.data_fingerprint = '{fingerprint}'"
    try:
        return runs.client.search_runs(experiment_ids, query,
                                       order_by=["attributes.start_time DESC"])
    except MlflowException:
        return []


def _updated_performance(runs: _Runs, name: str, mv: Any, parent: str
                         ) -> tuple[pd.DataFrame | None, str]:
    """``ext_`` metrics of the latest evaluation of an updated version, beside those of its
    parent version on the same data when it was evaluated there; and a sentence saying which."""
    experiments = list(dict.fromkeys([runs.parent.info.experiment_id] + (
        [runs.client.get_run(mv.run_id).info.experiment_id] if mv.run_id else [])))
    own = _version_evaluations(runs, experiments, name, str(mv.version))
    table = runs.csv(own[0].info.run_id, "metrics.csv") if own else None
    if table is None or not len(table):
        return None, (" Its performance is not reported: evaluate it with `mmrisk evaluate "
                      f"--model models:/{name}/{mv.version}`.")
    ev = own[0]
    fp = ev.data.tags.get("data_fingerprint")
    apparent = ev.data.tags.get("apparent_calibration") == "true"
    label = f"version {mv.version} (updated)"
    parts = [table.assign(model=label)]
    before = _version_evaluations(runs, experiments, name, parent, fp)
    base = runs.csv(before[0].info.run_id, "metrics.csv") if before else None
    if base is not None and len(base):
        parts.insert(0, base.assign(model=f"version {parent} (before updating)"))
    text = (f" Performance from evaluation run {ev.info.run_id} on data with fingerprint {fp} "
            f"({ev.data.params.get('n_patients', '?')} patients, "
            f"{ev.data.params.get('n_events', '?')} events)"
            + (f", beside version {parent} evaluated on the same data" if len(parts) > 1
               else "")
            + ("; the update was fitted on these patients, so its calibration there is "
               "apparent, not validated." if apparent else "."))
    perf = pd.concat(parts, ignore_index=True)[["model", "metric", "value", "lo", "hi"]]
    return perf, text


def _recalibrations(runs: _Runs) -> list[Recalibration]:
    """Updates of the described version: registered versions whose ``parent_version`` is it
    (and the described version itself when it is an update); other versions' updates are not
    this model's."""
    name, described = runs.registered.get("name"), str(runs.registered.get("version", ""))
    if not name or not described:
        return []
    try:
        versions = runs.client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return []
    out = []
    for mv in sorted(versions, key=lambda v: int(v.version)):
        parent = mv.tags.get("parent_version")
        if not parent or described not in (parent, str(mv.version)):
            continue
        params = runs.client.get_run(mv.run_id).data.params if mv.run_id else {}
        fitted = ", ".join(f"{k.removeprefix('recal.')} = {v}" for k, v in sorted(
            params.items()) if k.startswith("recal."))
        perf, perf_text = _updated_performance(runs, name, mv, parent)
        out.append(Recalibration(
            version=f"{name} version {mv.version}",
            method=mv.tags.get("recalibration_method", "unknown"),
            parent=f"version {parent}",
            description=(f"Re-estimated on data with fingerprint "
                         f"{mv.tags.get('data_fingerprint', 'unknown')}"
                         + (f": {fitted}." if fitted else ".") + perf_text),
            performance=perf))
    return out


# --------------------------------------------------------------------------- assembly
def _load_config(runs: _Runs) -> ExperimentConfig | None:
    raw = _config_of(runs.parent, runs.store)
    if not raw:
        return None
    try:
        return ExperimentConfig.model_validate(raw)
    except ValueError as e:
        log.info("report: the run's config.yaml cannot be read: %s", e)
        return None


def _outcome(config: ExperimentConfig | None, meta: dict) -> OutcomeDefinition | None:
    horizons = [float(h) for h in meta.get("horizons", [])]
    if meta.get("cohort"):
        spec = meta["cohort"]
        label, definition = _ENDPOINTS.get(spec["endpoint"], (spec["endpoint"], spec["endpoint"]))
        landmark = _LANDMARKS[spec["landmark"]][0].format(days=spec.get("landmark_days"))
        return OutcomeDefinition(f"{label[0].upper()}{label[1:]}. {definition}", landmark,
                                 horizons, "months",
                                 "From the registry records at each data cut; time in months "
                                 "(30.4375 days) from time zero.")
    outcome = meta.get("outcome") or {}
    if outcome.get("time"):
        return OutcomeDefinition(
            f"The event indicator {outcome['event']!r} of the analysis table (1 = event, "
            f"0 = censored) with follow-up time {outcome['time']!r}.",
            "time zero of the analysis table", horizons, "months")
    return None


def _title(meta: dict) -> str:
    spec = meta.get("cohort") or {}
    name = f"{meta.get('model_name', 'model')} ({meta.get('model_kind', '?')})"
    if not spec:
        return f"{name}: time-to-event prediction model"
    label = _ENDPOINTS.get(spec["endpoint"], (spec["endpoint"],))[0]
    landmark = _LANDMARKS[spec["landmark"]][0].format(days=spec.get("landmark_days"))
    return f"{name}: {label} from {landmark}"


def _provenance(runs: _Runs, evaluations: list) -> dict[str, str]:
    tags = runs.parent.data.tags
    out = {"train run": runs.parent.info.run_id, "model run": runs.model_run.info.run_id,
           "model": runs.model_uri}
    for key in ("config_hash", "data_fingerprint", "git_commit", "mmrisk_version"):
        if tags.get(key):
            out[key.replace("_", " ")] = tags[key][:12] if key == "git_commit" else tags[key]
    if evaluations:
        out["evaluation runs"] = ", ".join(e["run"].info.run_id for e in evaluations)
    return out


def _analysis_counts(dev: ReportCohort, scheme: str, evaluations: list) -> pd.DataFrame:
    rows = [{"analysis": f"development: model fitting and {scheme}", "participants": dev.n,
             "events": dev.events}]
    rows += [{"analysis": f"{e['label']}: " + ("apparent performance on the development data"
                                              if e["facts"].get("development_data")
                                              else "external evaluation"),
              "participants": e["facts"].get("n_patients"),
              "events": e["facts"].get("n_events")} for e in evaluations]
    return pd.DataFrame(rows)


def _performance(runs: _Runs, meta: dict, scheme: str, evaluations: list
                 ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    first = meta.get("model_name", "")
    metrics = _child_metrics(runs.children, first)
    order = list(dict.fromkeys(metrics["model"]))
    perf: dict[str, pd.DataFrame] = {}
    for scope, text in (("cv", f"Development, {scheme} (out-of-fold)"),
                        ("test", "Development, held-out test set")):
        part = metrics[metrics["metric"].str.startswith(f"{scope}_")]
        if len(part):
            perf[text] = part.reset_index(drop=True)
    diffs = _differences(runs.csv(runs.parent.info.run_id, "leaderboard.csv"), order)
    if diffs is not None:
        perf["Difference from the baseline model (paired bootstrap)"] = diffs
    for e in evaluations:
        if e["metrics"] is not None and len(e["metrics"]):
            f = e["facts"]
            perf[f"{e['label'][0].upper()}{e['label'][1:]} ({f.get('n_patients')} patients, "
                 f"{f.get('n_events')} events)"] = e["metrics"]
    names = list(metrics["metric"]) + [n for e in evaluations if e["metrics"] is not None
                                       for n in e["metrics"]["metric"]]
    return perf, names


def report_data(*, run_id: str | None = None, model_uri: str | None = None,
                evaluation_run_ids: Sequence[str] = (), tracking_uri: str | None = None,
                cohort: Cohort | None = None) -> ReportData:
    """Gather the content of a TRIPOD+AI report from a train run or a model, and evaluations.

    Parameters
    ----------
    run_id : str, optional
        A ``train`` parent run (the report describes its best model) or one of its model runs.
    model_uri : str, optional
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN_ID/model`` (instead of
        ``run_id``).
    evaluation_run_ids : sequence of str, default=()
        Runs of ``mmrisk evaluate`` to include, in order.
    tracking_uri : str, optional
        The store (default: ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlruns/mlflow.db``).
    cohort : Cohort, optional
        The development cohort, when the caller holds it (``train`` does); otherwise it is
        rebuilt from the run's config if its data are available with the run's fingerprint.

    Returns
    -------
    ReportData
        Summaries only (no identifiers, no dates).

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For an unknown run or model, a run that is not a train/model/evaluation run, or both or
        neither of ``run_id`` and ``model_uri``.
    """
    store = resolve_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    with tempfile.TemporaryDirectory(prefix="mmrisk-report-") as tmp:
        runs = _resolve(client, store, Path(tmp), run_id, model_uri)
        loaded = load_model(f"runs:/{runs.model_run.info.run_id}/model", store)
        config = _load_config(runs)
        if cohort is None:
            cohort = _rebuild_cohort(config, runs.parent.data.tags.get("data_fingerprint"))
        return _assemble(runs, loaded, config, cohort, list(evaluation_run_ids))


#: How each packaged feature pipeline treats a missing predictor (report item 11).
_MISSING_BY_PIPELINE = {
    "default": ("a missing numeric value is imputed by the training median with a missing "
                "indicator, and a missing category is a category of its own"),
    "staging": ("an R-ISS stage that cannot be determined (a missing input) is a category of "
                "its own"),
    "passthrough": ("nothing is imputed: training refuses a missing predictor value, so the "
                    "development data had none, and a scored row with one is returned as an "
                    "error, not scored"),
}

#: Model kinds that select predictors within their fit (report item 8a).
_SELECTING_KINDS = {"coxnet": "the elastic-net Cox model",
                    "cs_coxnet": "the elastic-net cause-specific Cox model"}


def _pipelines(config: ExperimentConfig) -> list[str]:
    """The feature pipelines of the configured models, in config order."""
    out = []
    for name, spec in config.models.items():
        try:
            pipe = model_pipeline(config, name)
        except MMRiskError:  # a kind no longer in the catalogue (an old run's config)
            pipe = spec.pipeline or config.pipeline
        if pipe not in out:
            out.append(pipe)
    return out


def _missing_text(config: ExperimentConfig) -> str:
    parts = []
    for pipe in _pipelines(config):
        rule = _MISSING_BY_PIPELINE.get(pipe)
        parts.append(f"pipeline '{pipe}': {rule}" if rule else
                     f"{_pipeline_text(pipe)}: as that pipeline defines")
    return ("No participant was excluded for a missing predictor. Within each model's feature "
            "pipeline, fitted on training data only — " + "; ".join(parts) + ". The share "
            "missing of each predictor is in the predictors table.")


def _assemble_defaults(config: ExperimentConfig | None, n_issues: int) -> dict[str, str | None]:
    """Data preparation (7) and missing data (11): the same for every outcome kind."""
    if config is None:
        return {"data_preparation": None, "missing_data": None}
    if config.data.table:
        preparation = (
            "The flat analysis table was used as given (no registry checks apply): rows whose "
            "time or event could not be used were excluded and counted in the participant "
            "flow, a non-finite predictor value or a time beyond 1,200 months stopped the "
            "analysis, and no value was corrected.")
    else:
        preparation = (
            "The extract was checked against the registry data contract (types, codes, "
            "ranges, SI units, keys, date precision and order). Values the validator rejects "
            f"were set to missing and counted ({n_issues:,} values), never corrected; records "
            "dated after the landmark are never predictors. The same checks apply to every "
            "participant.")
    return {"data_preparation": preparation, "missing_data": _missing_text(config)}


def _assemble(runs: _Runs, loaded: LoadedModel, config: ExperimentConfig | None,
              cohort: Cohort | None, evaluation_run_ids: list[str]) -> ReportData:
    meta = loaded.meta
    if meta.get("outcome_kind") == "cif":
        if "cif" not in OUTCOME_ASSEMBLERS:
            raise MMRiskError("no report for competing-risks models is available (import "
                              "mmrisk.workflows)")
        return OUTCOME_ASSEMBLERS["cif"](runs, loaded, config, cohort, evaluation_run_ids)
    scheme = _scheme_text(config) if config is not None else "internal validation"
    evaluations = [_evaluation(runs, rid, i) for i, rid in enumerate(evaluation_run_ids, 1)]
    dev = _development_cohort(runs, config, cohort, meta)
    perf, names = _performance(runs, meta, scheme.split(";")[0], evaluations)
    recal = _recalibrations(runs)
    internal = _internal(runs)
    figures = [ReportFigure("participants", "Kaplan-Meier curves of the development cohort",
                            png) for stem, png in runs.pngs(runs.parent.info.run_id, "figures")
               if stem == "km_cohort"]
    figures += _figures(runs, runs.model_run.info.run_id)
    for e in evaluations:
        figures += e["figures"]
    issues = runs.csv(runs.parent.info.run_id, "data_issues.csv")
    n_issues = int(issues["n"].sum()) if issues is not None and "n" in issues else 0
    landmark = (meta.get("cohort") or {}).get("landmark")
    return ReportData(
        title=_title(meta), provenance=_provenance(runs, evaluations),
        cohorts=[dev] + [e["cohort"] for e in evaluations], outcome=_outcome(config, meta),
        predictors=_predictors(meta),
        predictor_selection=_selection(config, meta),
        **_assemble_defaults(config, n_issues),
        treatments=_TREATMENTS.get(landmark) if landmark else None,
        sample_size=_sample_size(runs, loaded, cohort, scheme.split(";")[0]),
        analysis=_analysis(config, meta, names, runs.parent.data.tags, evaluations,
                           bool(recal), bool(internal["heterogeneity"])),
        evaluation_differences=_differences_text(evaluations, dev),
        analysis_counts=_analysis_counts(dev, scheme.split(";")[0], evaluations),
        model=_model_spec(runs, loaded, config), performance=perf,
        decision_curves=_decision_table(evaluations),
        subgroups=_stack([internal, *evaluations], "subgroups"),
        heterogeneity=_heterogeneity([internal, *evaluations]),
        recalibrations=recal, figures=figures, scoring_rules=list(SCORING_RULES))


def _selection(config: ExperimentConfig | None, meta: dict) -> str | None:
    if config is None:
        return None
    excluded = config.cohort.exclude_features
    return (f"Every candidate predictor the cohort builder derives from records dated at or "
            f"before the landmark ({len(meta['features'])} predictors)"
            + (f", except those the analysis plan excluded ({', '.join(excluded)})"
               if excluded else "")
            + "; no selection on the outcome before modelling" + _within_fit(config) + ".")


def _within_fit(config: ExperimentConfig) -> str:
    """" (the elastic-net Cox model selects within its fit)" for the models that do, or ""."""
    selecting = list(dict.fromkeys(_SELECTING_KINDS[m.kind] for m in config.models.values()
                                   if m.kind in _SELECTING_KINDS))
    if not selecting:
        return ""
    if len(selecting) == 1:
        return f" ({selecting[0]} selects within its fit)"
    return f" ({' and '.join(selecting)} select within their fits)"


def _differences_text(evaluations: list, dev: ReportCohort) -> str | None:
    if not evaluations:
        return None
    parts = [f"{e['label']}: {e['facts'].get('n_patients')} patients and "
             f"{e['facts'].get('n_events')} events (development: {dev.n} and {dev.events})"
             for e in evaluations]
    return ("Each evaluation cohort was built with the model's own cohort specification: the "
            "same landmark, eligibility, outcome definition and predictor definitions as the "
            "development cohort. " + "; ".join(parts) + ".")


def build_report(*, run_id: str | None = None, model_uri: str | None = None,
                 evaluation_run_ids: Sequence[str] = (), tracking_uri: str | None = None,
                 cohort: Cohort | None = None) -> str:
    """The self-contained TRIPOD+AI HTML report of a train run or a model.

    Parameters
    ----------
    run_id : str, optional
        A ``train`` parent run or one of its model runs.
    model_uri : str, optional
        A model URI, instead of ``run_id``.
    evaluation_run_ids : sequence of str, default=()
        Runs of ``mmrisk evaluate`` to include.
    tracking_uri : str, optional
        The store.
    cohort : Cohort, optional
        The development cohort, if the caller holds it.

    Returns
    -------
    str
        One HTML document (:func:`mmrisk.report.render_tripod_report`).
    """
    return render_tripod_report(report_data(run_id=run_id, model_uri=model_uri,
                                            evaluation_run_ids=evaluation_run_ids,
                                            tracking_uri=tracking_uri, cohort=cohort))


def write_report(out_path: str | Path, *, run_id: str | None = None,
                 model_uri: str | None = None, evaluation_run_ids: Sequence[str] = (),
                 tracking_uri: str | None = None, cohort: Cohort | None = None) -> Path:
    """Build the report and write it to ``out_path`` atomically (temporary file, then rename).

    Parameters
    ----------
    out_path : str or path-like
        The HTML file (its folder is created).
    run_id, model_uri, evaluation_run_ids, tracking_uri, cohort
        As for :func:`build_report`.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    html = build_report(run_id=run_id, model_uri=model_uri,
                        evaluation_run_ids=evaluation_run_ids, tracking_uri=tracking_uri,
                        cohort=cohort)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 -> what open() would have given
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def log_report(run_id: str, *, tracking_uri: str | None = None,
               cohort: Cohort | None = None) -> bool:
    """Log ``report.html`` of a train run as an artifact of that run; never raises.

    For the end of :func:`mmrisk.workflows.train`: a report that cannot be built is logged as a
    warning and training still succeeds.

    Parameters
    ----------
    run_id : str
        The train parent run.
    tracking_uri : str, optional
        The store.
    cohort : Cohort, optional
        The development cohort (saves rebuilding it).

    Returns
    -------
    bool
        Whether the report was logged.
    """
    store = resolve_tracking_uri(tracking_uri)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_report(Path(tmp) / "report.html", run_id=run_id, tracking_uri=store,
                                cohort=cohort)
            MlflowClient(tracking_uri=store).log_artifact(run_id, str(path))
    except Exception as e:  # noqa: BLE001 - a report must never fail the training it describes
        log.warning("report.html was not written for run %s: %s", run_id, e)
        return False
    return True
