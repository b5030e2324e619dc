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
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
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
    subgroup_frame,
    subgroup_table,
)
from mmrisk.models import hazard_ratios, make_model, model_kind, model_size_bytes
from mmrisk.predict import learn_cutpoints, risk_groups, training_profile
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








def _model_figures(name: str, kind: str, cv: CVResult, y: np.ndarray, horizons: list[int],
                   fitted: Any, fit_data: tuple[pd.DataFrame, np.ndarray], seed: int) -> None:
    pred = cv.predictions[(cv.predictions["model"] == name)
                          & (cv.predictions["repeat"] == cv.predictions["repeat"].min())]
    rows = pred["row"].to_numpy()
    y_t = y[rows]
    for h in horizons:
        surv = pred[f"surv_{h}m"].to_numpy()
        try:
            _log_figure(plot_calibration(y_t, surv, h, label=name), f"calibration_{h}m")
        except ValueError as e:  # e.g. a horizon beyond follow-up: skip the figure, say why
            log.warning("calibration figure at %s months skipped for %s: %s", h, name, e)
    risk = pred["risk"].to_numpy()
    _log_figure(plot_auc_over_time(y, y_t, {name: risk}, horizons), "td_auc")
    survs = np.column_stack([pred[f"surv_{h}m"].to_numpy() for h in horizons])
    _log_figure(plot_brier_over_time(y, y_t, {name: survs}, horizons), "brier_over_time")
    groups = risk_groups(risk, learn_cutpoints(risk))
    _log_figure(km_figure(y_t["time"], y_t["event"], groups,
                          title=f"{name}: out-of-fold risk groups (tertiles)"), "km_risk_groups")
    if model_kind(kind).cox_type:
        _log_figure(hr_forest_figure(hazard_ratios(fitted), title=f"{name}: hazard ratios"),
                    "hr_forest")
    _log_figure(_permutation_figure(fitted, *fit_data, seed, name), "permutation_importance")


def _clinical_utility(name: str, cv: CVResult, cohort: Cohort, horizons: list[int],
                      config: ExperimentConfig) -> None:
    """Out-of-fold decision curves, subgroups and centre heterogeneity of one model."""
    pred = cv.predictions[(cv.predictions["model"] == name)
                          & (cv.predictions["repeat"] == cv.predictions["repeat"].min())]
    rows = pred["row"].to_numpy()
    y = cohort.y[rows]
    surv = np.column_stack([pred[f"surv_{h}m"].to_numpy() for h in horizons])
    risk = pred["risk"].to_numpy()
    n_boot = min(config.validation.n_bootstrap, 200)
    table = cohort.data.iloc[rows].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        dc = decision_curve(y, surv, horizons, n_bootstrap=n_boot, seed=config.seed)
        dc.to_csv(Path(tmp) / "decision_curve.csv", index=False)
        _log_figure(plot_decision_curves(dc, label=name), "decision_curves")
        wanted = available_subgroups(table)
        if wanted:
            subgroup_table(subgroup_frame(table, subgroups=wanted), y, risk, surv, horizons,
                           n_bootstrap=n_boot, seed=config.seed).to_csv(
                Path(tmp) / "subgroups.csv", index=False)
        if "site" in table and table["site"].nunique() >= 2:
            het = centre_heterogeneity(table["site"].astype(str), y, risk,
                                       n_bootstrap=n_boot, seed=config.seed).summary()
            (Path(tmp) / "centre_heterogeneity.json").write_text(
                json.dumps({k: float(v) for k, v in het.items()}, indent=2))
        for path in sorted(Path(tmp).iterdir()):
            mlflow.log_artifact(str(path))


def _permutation_figure(fitted: Any, X: pd.DataFrame, y: np.ndarray, seed: int, name: str):
    from sklearn.inspection import permutation_importance

    from mmrisk.evaluation import cindex_harrell

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(len(X), 250), replace=False)
    Xs, ys = X.iloc[idx], y[idx]

    def score(est, X_, y_):
        return cindex_harrell(y_, y_, est.predict(X_))

    res = permutation_importance(fitted, Xs, ys, scoring=score, n_repeats=2, random_state=seed)
    return permutation_figure(
        np.asarray(X.columns), res.importances_mean, res.importances_std,
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






def _child_run(name: str, spec, config: ExperimentConfig, model: Any, cohort: Cohort,
               cv: CVResult, fingerprint: str, tags: dict,
               fit: tuple[np.ndarray | None, str] = (None, "all")) -> tuple[str, str, float]:
    rows, label = fit
    X, y = ((cohort.X, cohort.y) if rows is None
            else (cohort.X.iloc[rows].reset_index(drop=True), cohort.y[rows]))
    horizons = list(config.horizons)
    with mlflow.start_run(run_name=name, nested=True, experiment_id=tags["experiment_id"],
                          tags={**{k: v for k, v in tags.items()
                                   if k not in ("experiment_id", "cohort_spec")},
                                "model_name": name, "model_kind": spec.kind,
                                **_fit_tags(config, label)}) as run:
        fitted = clone(model).fit(X, y)
        train_risk = np.asarray(fitted.predict(X), float)
        cutpoints = learn_cutpoints(train_risk)
        mlflow.log_params(_model_params(spec, config, fitted))
        metrics = {k: v for k, v in cv.flat(name).items() if np.isfinite(v)}
        diffs = cv.differences[cv.differences["model"] == name]
        for row in diffs.itertuples(index=False):
            metrics[f"{row.metric}_diff_vs_baseline"] = float(row.diff)
        metrics["model_size_bytes"] = float(model_size_bytes(fitted))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        oof = cv.predictions[cv.predictions["model"] == name].drop(columns="model")
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "predictions_oof.parquet"
            oof.to_parquet(p, index=False)
            mlflow.log_artifact(str(p))
            if model_kind(spec.kind).cox_type:
                hp = Path(tmp) / "hazard_ratios.csv"
                hazard_ratios(fitted).to_csv(hp, index=False)
                mlflow.log_artifact(str(hp))
        _model_figures(name, spec.kind, cv, cohort.y, horizons, fitted, (X, y), config.seed)
        _clinical_utility(name, cv, cohort, horizons, config)
        _log_explanations(fitted, X, config, name)
        profile = training_profile(X)
        profile["risk_score"] = {
            "quantiles": [float(q) for q in np.quantile(train_risk, np.linspace(0, 1, 11))],
            "group_shares": {g: float(v) for g, v in pd.Series(
                risk_groups(train_risk, cutpoints)).value_counts(normalize=True).items()}}
        meta = {"features": list(X.columns), "horizons": horizons, "cutpoints": cutpoints,
                "profile": profile, "input_rules": input_rules(list(X.columns)),
                "model_name": name, "model_kind": spec.kind,
                "max_follow_up_months": float(np.max(y["time"])),
                "cohort": tags.get("cohort_spec"), "mmrisk_version": __version__,
                "outcome": ({"time": config.data.time, "event": config.data.event,
                             "id_column": config.data.id_column}
                            if tags.get("cohort_spec") is None else None)}
        model_uri = log_model(fitted, X, meta, seed=config.seed)
        value = cv.flat(name).get(config.tracking.select_metric, float("nan"))
        return run.info.run_id, model_uri, value


def _log_explanations(fitted: Any, X: pd.DataFrame, config: ExperimentConfig, name: str) -> None:
    """Global SHAP explanations on a sample (figures + importance table)."""
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
        for path in sorted(Path(tmp).rglob("*.png")):
            mlflow.log_artifact(str(path), "figures/shap")
        mlflow.log_artifact(str(Path(tmp) / "global_importance.csv"), "shap")


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
        for i, (name, spec) in enumerate(config.models.items()):
            tick("log", i, len(models))
            children[name], uris[name], values[name] = _child_run(
                name, spec, config, models[name], cohort, cv, fingerprint,
                {**tags, "experiment_id": exp_id, "cohort_spec": cohort_spec}, fit)
        tick("log", len(models), len(models))
        metric = config.tracking.select_metric
        higher = not lower_is_better(metric)
        finite = {k: val for k, val in values.items() if np.isfinite(val)}
        registered: dict[str, Any] = {}
        if finite:
            best = (max if higher else min)(finite, key=finite.get)
            mlflow.set_tag("best_model", best)
            registered = register_model(config.tracking.registered_model, uris[best],
                                        children[best], metric, finite[best], fingerprint,
                                        higher, client=MlflowClient())
            mlflow.set_tag("registered_version", registered["version"])
            mlflow.set_tag("registered_alias", registered["alias"])
    log_report(parent.info.run_id, tracking_uri=uri, cohort=cohort)  # warns, never fails
    return TrainResult(parent.info.run_id, children, board, cv, registered, exp_id, uri,
                       fingerprint)
