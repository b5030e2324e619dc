"""``mmrisk train``: cohort → models → identical splits → metrics with CIs → MLflow runs.

One parent run per train (config, data fingerprint, flow table, Table 1, leaderboard) and one
child run per model (params, contract metrics, hazard ratios, out-of-fold predictions without
identifiers, figures, the fitted pyfunc model). The best model by the configured metric is
registered; it takes the ``champion`` alias only if it beats the current champion on the same
data fingerprint, otherwise ``challenger``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed, effective_n_jobs
from mlflow.tracking import MlflowClient
from sklearn.base import clone

from mmrisk import __version__
from mmrisk.cohort import Cohort, data_fingerprint, input_rules, load_cohort, table1
from mmrisk.config import ExperimentConfig, config_hash
from mmrisk.evaluation import (
    CVResult,
    centre_heterogeneity,
    cross_validate,
    decision_curve,
    make_splits,
    permutation_importance,
    subgroup_frame,
    subgroup_table,
)
from mmrisk.models import hazard_ratios, make_model, model_kind, model_size_bytes, split_model
from mmrisk.predict import learn_cutpoints, risk_groups, training_profile, unimputed_features
from mmrisk.progress import Progress
from mmrisk.report import (
    hr_forest_figure,
    km_figure,
    permutation_figure,
    plot_auc_over_time,
    plot_brier_over_time,
    plot_calibration,
    plot_decision_curves,
    write_explanation,
)
from mmrisk.tracking import (
    RUN_TYPE_TAG,
    log_model,
    lower_is_better,
    prepare_store,
    process_tags,
    register_model,
    resolve_tracking_uri,
    setup_experiment,
)
from mmrisk.workflows._checks import check_training_data
from mmrisk.workflows._lifecycle import kill_runs_on_interrupt
from mmrisk.workflows._report import log_report
from mmrisk.workflows._runfacts import available_subgroups, final_fit_rows, leaderboard
from mmrisk.workflows._runfacts import fit_tags as _fit_tags
from mmrisk.workflows._runfacts import git_commit as _git_commit
from mmrisk.workflows._runfacts import log_figure as _log_figure
from mmrisk.workflows._spark_train import check_engine, fit_backend

__all__ = ["TrainResult", "train", "leaderboard"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a train run produced (ids and tables; no patient data).

    Parameters
    ----------
    parent_run_id : str
        The train run.
    child_run_ids : dict
        Model name → child run id.
    leaderboard : pandas.DataFrame
        One row per model and metric (:func:`leaderboard`).
    cv : CVResult
        Out-of-fold predictions and metrics.
    registered : dict
        ``name``, ``version``, ``alias``, ``run_id`` of the registered model (empty if none).
    experiment_id, tracking_uri, data_fingerprint : str
        Where the runs went and which data they describe.
    """

    parent_run_id: str
    child_run_ids: dict[str, str]
    leaderboard: pd.DataFrame
    cv: CVResult
    registered: dict[str, Any]
    experiment_id: str
    tracking_uri: str
    data_fingerprint: str


def _save_figure(fig: Any, folder: Path, name: str) -> None:
    """``figures/<name>.png`` in ``folder`` (logged with the rest of the child run's files)."""
    (folder / "figures").mkdir(exist_ok=True)
    fig.savefig(folder / "figures" / f"{name}.png")


def _model_figures(name: str, kind: str, pred: pd.DataFrame, y: np.ndarray,
                   horizons: list[int], fitted: Any, fit_data: tuple[pd.DataFrame, np.ndarray],
                   seed: int, folder: Path) -> None:
    rows = pred["row"].to_numpy()
    y_t = y[rows]
    for h in horizons:
        surv = pred[f"surv_{h}m"].to_numpy()
        try:
            _save_figure(plot_calibration(y_t, surv, h, label=name), folder, f"calibration_{h}m")
        except ValueError as e:  # e.g. a horizon beyond follow-up: skip the figure, say why
            log.warning("calibration figure at %s months skipped for %s: %s", h, name, e)
    risk = pred["risk"].to_numpy()
    _save_figure(plot_auc_over_time(y, y_t, {name: risk}, horizons), folder, "td_auc")
    survs = np.column_stack([pred[f"surv_{h}m"].to_numpy() for h in horizons])
    _save_figure(plot_brier_over_time(y, y_t, {name: survs}, horizons), folder,
                 "brier_over_time")
    groups = risk_groups(risk, learn_cutpoints(risk))
    _save_figure(km_figure(y_t["time"], y_t["event"], groups,
                           title=f"{name}: out-of-fold risk groups (tertiles)"),
                 folder, "km_risk_groups")
    if model_kind(kind).cox_type:
        _save_figure(hr_forest_figure(hazard_ratios(fitted), title=f"{name}: hazard ratios"),
                     folder, "hr_forest")
    _save_figure(_permutation_figure(fitted, *fit_data, seed, name), folder,
                 "permutation_importance")


def _clinical_utility(name: str, pred: pd.DataFrame, data: pd.DataFrame, y: np.ndarray,
                      horizons: list[int], config: ExperimentConfig, folder: Path) -> None:
    """Out-of-fold decision curves, subgroups and centre heterogeneity of one model."""
    rows = pred["row"].to_numpy()
    y = y[rows]
    surv = np.column_stack([pred[f"surv_{h}m"].to_numpy() for h in horizons])
    risk = pred["risk"].to_numpy()
    n_boot = min(config.validation.n_bootstrap, 200)
    table = data.iloc[rows].reset_index(drop=True)
    dc = decision_curve(y, surv, horizons, n_bootstrap=n_boot, seed=config.seed)
    dc.to_csv(folder / "decision_curve.csv", index=False)
    _save_figure(plot_decision_curves(dc, label=name), folder, "decision_curves")
    wanted = available_subgroups(table)
    if wanted:
        subgroup_table(subgroup_frame(table, subgroups=wanted), y, risk, surv, horizons,
                       n_bootstrap=n_boot, seed=config.seed).to_csv(
            folder / "subgroups.csv", index=False)
    if "site" in table and table["site"].nunique() >= 2:
        het = centre_heterogeneity(table["site"].astype(str), y, risk,
                                   n_bootstrap=n_boot, seed=config.seed).summary()
        (folder / "centre_heterogeneity.json").write_text(
            json.dumps({k: float(v) for k, v in het.items()}, indent=2))


def _permutation_figure(fitted: Any, X: pd.DataFrame, y: np.ndarray, seed: int, name: str):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(len(X), 250), replace=False)
    res = permutation_importance(fitted, X.iloc[idx], y[idx], n_repeats=2, seed=seed)
    return permutation_figure(
        np.asarray(X.columns), res["importance_mean"].to_numpy(),
        res["importance_std"].to_numpy(),
        title=f"{name}: permutation importance (training data, {len(idx)} patients)")


def _model_params(spec, config: ExperimentConfig, fitted: Any) -> dict[str, Any]:
    params = {"kind": spec.kind,
              "pipeline": model_kind(spec.kind).pipeline_for(spec.pipeline, config.pipeline)}
    params.update({f"model.{k}": v for k, v in spec.params.items()})
    if spec.grid:
        params["grid"] = json.dumps(spec.grid)
        best = getattr(fitted, "best_params_", None)
        if best:
            params.update({f"best.{k}": v for k, v in best.items()})
    final = split_model(fitted)[1]
    if hasattr(final, "alpha_") and hasattr(final, "coef_"):
        # the penalty the logged fit chose by its own inner CV (each CV fold chose its own)
        params["chosen.alpha"] = f"{float(final.alpha_):.6g}"
        params["chosen.n_nonzero_coefs"] = int(np.count_nonzero(final.coef_))
    return params


def _parent_artifacts(config: ExperimentConfig, cohort: Cohort, board: pd.DataFrame) -> None:
    mlflow.log_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
                    "config.yaml")
    mlflow.log_table(cohort.flow, "flow.json")
    with tempfile.TemporaryDirectory() as tmp:
        for name, df in (("flow.csv", cohort.flow), ("leaderboard.csv", board),
                         ("table1.csv", table1(cohort.data, cohort.features, cohort.group_by)),
                         ("data_issues.csv", cohort.issues)):
            path = Path(tmp) / name
            df.to_csv(path, index=False)
            mlflow.log_artifact(str(path))
    group = cohort.data[cohort.group_by] if cohort.group_by in cohort.data else ["all"] * len(
        cohort.data)
    _log_figure(km_figure(cohort.data["time"], cohort.data["event"], group,
                          title=f"{config.cohort.endpoint.upper()} by {cohort.group_by}"),
                "km_cohort")


@dataclass
class _Child:
    """One model's child run, prepared away from MLflow (in a worker when models run in
    parallel): the final fit, its params and meta, and the files of ``folder``."""

    fitted: Any
    params: dict[str, Any]
    meta: dict[str, Any]
    folder: Path
    size_bytes: float
    messages: list[logging.LogRecord]


def _prepare_child(name: str, spec: Any, config: ExperimentConfig, model: Any, cohort: Cohort,
                   preds: pd.DataFrame, fit: tuple[np.ndarray | None, str],
                   cohort_spec: dict | None, folder: Path) -> _Child:
    """Fit the model to log and write its figures and tables into ``folder``; no MLflow."""
    rows, _ = fit
    X, y = ((cohort.X, cohort.y) if rows is None
            else (cohort.X.iloc[rows].reset_index(drop=True), cohort.y[rows]))
    horizons = list(config.horizons)
    fitted = clone(model).fit(X, y)
    train_risk = np.asarray(fitted.predict(X), float)
    cutpoints = learn_cutpoints(train_risk)
    folder.mkdir(parents=True, exist_ok=True)
    preds.to_parquet(folder / "predictions_oof.parquet", index=False)
    if model_kind(spec.kind).cox_type:
        hazard_ratios(fitted).to_csv(folder / "hazard_ratios.csv", index=False)
    first = preds[preds["repeat"] == preds["repeat"].min()]
    _model_figures(name, spec.kind, first, cohort.y, horizons, fitted, (X, y), config.seed,
                   folder)
    _clinical_utility(name, first, cohort.data, cohort.y, horizons, config, folder)
    _write_explanations(fitted, X, config, folder)
    profile = training_profile(X)
    profile["risk_score"] = {
        "quantiles": [float(q) for q in np.quantile(train_risk, np.linspace(0, 1, 11))],
        "group_shares": {g: float(v) for g, v in pd.Series(
            risk_groups(train_risk, cutpoints)).value_counts(normalize=True).items()}}
    meta = {"features": list(X.columns), "horizons": horizons, "cutpoints": cutpoints,
            "profile": profile, "input_rules": input_rules(list(X.columns)),
            "unimputed": unimputed_features(fitted, X), "model_name": name, "model_kind": spec.kind,
            "max_follow_up_months": float(np.max(y["time"])),
            "cohort": cohort_spec, "mmrisk_version": __version__,
            "outcome": ({"time": config.data.time, "event": config.data.event,
                         "id_column": config.data.id_column} if cohort_spec is None else None)}
    return _Child(fitted, _model_params(spec, config, fitted), meta, folder,
                  float(model_size_bytes(fitted)), [])


class _Collect(logging.Handler):
    """Keeps the log records of a worker, to be handled again in the main process."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info = record.getMessage(), None, None
        self.records.append(record)


def _prepare_in_worker(*args: Any) -> _Child:
    """:func:`_prepare_child` in a worker process: its log records and warnings come back."""
    handler = _Collect()
    logger = logging.getLogger("mmrisk")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            child = _prepare_child(*args)
    finally:
        logger.removeHandler(handler)
    for w in caught:
        handler.emit(logging.LogRecord("py.warnings", logging.WARNING, w.filename, w.lineno,
                                       f"{w.category.__name__}: {w.message}", None, None))
    child.messages = handler.records
    return child


def _prepare_children(config: ExperimentConfig, models: dict[str, Any], cohort: Cohort,
                      cv: CVResult, fit: tuple[np.ndarray | None, str], cohort_spec: dict | None,
                      tmp: Path):
    """(name, prepared child) in config order; models in parallel over ``validation.n_jobs``.

    Each task receives the cohort and that model's out-of-fold predictions only.
    """
    tasks = [(name, spec, config, models[name], cohort,
              cv.predictions[cv.predictions["model"] == name].drop(columns="model"),
              fit, cohort_spec, tmp / f"child{i}")
             for i, (name, spec) in enumerate(config.models.items())]
    workers = min(effective_n_jobs(config.validation.effective_n_jobs), len(tasks))
    if workers <= 1:
        for task in tasks:
            yield task[0], _prepare_child(*task)
        return
    results = Parallel(n_jobs=workers, return_as="generator")(
        delayed(_prepare_in_worker)(*task) for task in tasks)
    for task, child in zip(tasks, results, strict=True):
        for record in child.messages:
            logging.getLogger(record.name).handle(record)
        yield task[0], child


def _log_child(name: str, spec: Any, config: ExperimentConfig, child: _Child, cv: CVResult,
               tags: dict, fit: tuple[pd.DataFrame, str]) -> tuple[str, str, float]:
    """The child run of one prepared model: params, metrics, files and the pyfunc model."""
    with mlflow.start_run(run_name=name, nested=True, experiment_id=tags["experiment_id"],
                          tags={**{k: v for k, v in tags.items()
                                   if k not in ("experiment_id", "cohort_spec")},
                                "model_name": name, "model_kind": spec.kind,
                                **_fit_tags(config, fit[1])}) as run:
        mlflow.log_params(child.params)
        flat = cv.flat(name)
        metrics = {k: v for k, v in flat.items() if np.isfinite(v)}
        diffs = cv.differences[cv.differences["model"] == name]
        for row in diffs.itertuples(index=False):
            metrics[f"{row.metric}_diff_vs_baseline"] = float(row.diff)
        metrics["model_size_bytes"] = child.size_bytes
        mlflow.log_artifacts(str(child.folder))
        # The model first, then the metrics linked to it in the same call: logged after the
        # metrics, MLflow would read back every metric's history to link it (1 s per model).
        model_uri = log_model(child.fitted, fit[0], child.meta, seed=config.seed)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)},
                           model_id=model_uri.rsplit("/", 1)[-1])
        value = flat.get(config.tracking.select_metric, float("nan"))
        return run.info.run_id, model_uri, value


def _write_explanations(fitted: Any, X: pd.DataFrame, config: ExperimentConfig,
                        folder: Path) -> None:
    """Global SHAP explanations on a sample: ``figures/shap/*.png``, ``shap/*.csv``."""
    if config.explain.n_samples <= 0:
        return
    from mmrisk.explain import explain

    rng = np.random.default_rng(config.seed)
    idx = rng.choice(len(X), size=min(len(X), config.explain.n_samples), replace=False)
    sample = X.iloc[np.sort(idx)].reset_index(drop=True)
    expl = explain(fitted, sample, output="risk", background=sample)
    with tempfile.TemporaryDirectory() as tmp:
        write_explanation(expl, tmp, rows=[])
        # Global summaries only: figures and mean |SHAP|. Per-patient tables (values,
        # reasons) describe a sample of real patients and stay out of the run.
        (folder / "figures" / "shap").mkdir(parents=True, exist_ok=True)
        (folder / "shap").mkdir(exist_ok=True)
        for path in sorted(Path(tmp).rglob("*.png")):
            shutil.copy(path, folder / "figures" / "shap" / path.name)
        shutil.copy(Path(tmp) / "global_importance.csv", folder / "shap")


@kill_runs_on_interrupt
def train(config: ExperimentConfig, *, tracking_uri: str | None = None,
          experiment: str | None = None, progress: Progress | None = None,
          extract_path: str | None = None, engine: str | None = None,
          master: str | None = None) -> TrainResult:
    """Run the main job described by ``config``; see the module docstring.

    Parameters
    ----------
    config : ExperimentConfig
        Validated config (:func:`mmrisk.config.load_config`).
    tracking_uri, experiment : str, optional
        Override the config (``--tracking-uri`` / ``--experiment``).
    progress : callable, optional
        ``progress(stage, done, total)`` as folds, models and logging advance.
    extract_path : str, optional
        A registry extract to use instead of the config's data source.
    engine : {"local", "spark"}, optional
        Where the fold x model fits run (default: the config's ``validation.engine``); see
        :func:`mmrisk.workflows.fit_backend`.
    master : str, optional
        Spark master of the ``spark`` engine (default: ``spark-submit``'s, else ``local[*]``).

    Returns
    -------
    TrainResult

    Raises
    ------
    mmrisk.workflows.Interrupted
        On SIGINT, SIGTERM or SIGHUP: temporary files are removed and the runs are marked
        KILLED (:func:`mmrisk.workflows.kill_runs_on_interrupt`).
    """
    engine, master = check_engine(engine or config.validation.engine, master,
                                  bool(config.competing))
    if config.competing:  # progression vs death without progression: its own path
        from mmrisk.workflows._train_competing import train_competing
        return TrainResult(**train_competing(config, tracking_uri=tracking_uri,
                                             experiment=experiment, progress=progress,
                                             extract_path=extract_path))
    tick = progress or (lambda *_: None)
    cohort = load_cohort(config.data, config.cohort, extract_path)
    fingerprint = data_fingerprint(cohort)
    X, y = cohort.X, cohort.y
    models = {name: make_model(
        spec.kind, pipeline=model_kind(spec.kind).pipeline_for(spec.pipeline, config.pipeline),
        params=spec.params, grid=spec.grid, inner_cv=config.validation.inner_cv,
        seed=config.seed) for name, spec in config.models.items()}
    check_training_data(config, cohort, models, extract_path)
    # The store is ready (tables migrated once, relocated if moved) before the long work, and
    # only once the data are known to be usable (a refused train writes nothing).
    prepare_store(resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri))
    meta = cohort.data.drop(columns=cohort.features + ["time", "event"])
    v = config.validation
    splits = make_splits(v.scheme, y, meta, n_splits=v.n_splits, n_repeats=v.n_repeats,
                         test_from_year=v.test_from_year, split_column="split", seed=config.seed)
    fit = final_fit_rows(config, splits)
    with fit_backend(engine, master) as backend:
        cv = cross_validate(models, X, y, splits, config.horizons, baseline=config.baseline,
                            n_bootstrap=v.n_bootstrap, seed=config.seed, progress=tick,
                            n_jobs=v.effective_n_jobs, backend=backend)
    board = leaderboard(cv)
    uri = resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri)
    exp_id = setup_experiment(uri, experiment or config.tracking.experiment)
    tags = {"data_fingerprint": fingerprint, "config_hash": config_hash(config),
            "git_commit": _git_commit(), "mmrisk_version": __version__, **process_tags()}
    children, uris, values = {}, {}, {}
    # Scoring rebuilds the cohort of a registry extract with the same spec; a flat table has none.
    cohort_spec = (None if config.data.table and extract_path is None
                   else config.cohort.model_dump(mode="json"))
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train-{config.name}",
                          tags={**tags, RUN_TYPE_TAG: "train"}) as parent:
        mlflow.set_tags(_fit_tags(config, fit[1]))
        mlflow.log_params({"landmark": config.cohort.landmark,
                           "endpoint": config.cohort.endpoint, "pipeline": config.pipeline,
                           "scheme": v.scheme, "n_patients": len(cohort.data),
                           "n_events": int(cohort.data["event"].sum()),
                           "horizons": ",".join(map(str, config.horizons)),
                           "n_bootstrap": v.n_bootstrap, "seed": config.seed})
        _parent_artifacts(config, cohort, board)
        tick("log", 0, len(models))
        X_fit = X if fit[0] is None else X.iloc[fit[0]].reset_index(drop=True)
        with tempfile.TemporaryDirectory() as tmp:
            prepared = _prepare_children(config, models, cohort, cv, fit, cohort_spec,
                                         Path(tmp))
            for i, (name, child) in enumerate(prepared):
                children[name], uris[name], values[name] = _log_child(
                    name, config.models[name], config, child, cv,
                    {**tags, "experiment_id": exp_id}, (X_fit, fit[1]))
                tick("log", i + 1, len(models))
        metric = config.tracking.select_metric
        higher = not lower_is_better(metric)
        finite = {k: val for k, val in values.items() if np.isfinite(val)}
        registered: dict[str, Any] = {}
        if finite:
            best = (max if higher else min)(finite, key=finite.get)
            mlflow.set_tag("best_model", best)
            registered = register_model(config.tracking.registered_model, uris[best],
                                        children[best], metric, finite[best], fingerprint,
                                        higher,
                                        client=MlflowClient(tracking_uri=uri, registry_uri=uri))
            mlflow.set_tag("registered_version", registered["version"])
            mlflow.set_tag("registered_alias", registered["alias"])
    log_report(parent.info.run_id, tracking_uri=uri, cohort=cohort)  # warns, never fails
    return TrainResult(parent.info.run_id, children, board, cv, registered, exp_id, uri,
                       fingerprint)
