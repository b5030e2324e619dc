"""``mmrisk train`` for a competing-risks outcome: progression vs death without progression.

Called by :func:`mmrisk.workflows.train` when the config's outcome is competing risks
(``cohort.endpoint: progression_cr``, or ``data.competing_risks: true`` for a flat table). The
same job as the survival path, with the competing-risks models, predictions and metrics:

- models of :data:`mmrisk.models.COMPETING_MODEL_KINDS` (``cs_cox``, ``cs_coxnet``,
  ``finegray``), each with ``horizon`` = the last configured horizon, so that its risk score is
  the predicted cumulative incidence (CIF) of progression there;
- identical splits for every model (:func:`mmrisk.evaluation.make_splits`, stratified on the
  indicator of cause 1);
- out-of-fold CIF of progression at the horizons, and per repeat the metrics
  ``cindex_wolbers`` (Wolbers' C of the risk score, events of interest up to the last
  horizon), ``cif_auc_<h>m``, ``cif_brier_<h>m`` (IPCW, cause 1), ``cif_ici_<h>m`` and
  ``cif_oe_<h>m`` (lowess through Aalen–Johansen pseudo-values; observed / expected), all from
  :mod:`mmrisk.evaluation`; the value is the mean over repeats;
- 95% percentile bootstrap intervals: patients are resampled ``n_bootstrap`` times (one draw for
  the run, shared by every model and repeat), each replicate's metrics are recomputed and
  averaged over repeats; differences from the baseline model use the same replicates (paired);
- one MLflow parent run and one child run per model, as the survival path, and registration of
  the best model by ``tracking.select_metric``.

Wolbers' C of the bootstrap replicates is computed for all replicates at once from the matrix of
comparable and concordant pairs (:func:`_wolbers_replicates`): the same pairs as
:func:`mmrisk.evaluation.cindex_wolbers` on the resampled rows (a test checks they are equal),
in one matrix product instead of one O(n^2) call per replicate. The lowess of the calibration
metrics uses statsmodels' ``delta`` of 1% of the range of the predictions, for the point estimate
and the replicates alike.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient
from sklearn.base import clone
from sksurv.util import Surv

from mmrisk import __version__
from mmrisk.cohort import Cohort, data_fingerprint, input_rules, load_cohort, table1
from mmrisk.config import ExperimentConfig, config_hash
from mmrisk.evaluation import (
    CVResult,
    Split,
    cif_auc,
    cif_brier_scores,
    cif_calibration_metrics,
    cindex_wolbers,
    make_splits,
)
from mmrisk.exceptions import ConfigError, MetricInputError
from mmrisk.models import (
    COMPETING_MODEL_KINDS,
    cause_linear_model,
    hazard_ratios,
    make_competing_model,
    model_size_bytes,
    predict_cif_at,
)
from mmrisk.predict import (
    RISK_GROUPS,
    learn_cutpoints,
    risk_groups,
    training_profile,
    unimputed_features,
)
from mmrisk.progress import Progress
from mmrisk.report import cif_figure, hr_forest_figure, plot_cif_calibration, write_explanation
from mmrisk.tracking import (
    RUN_TYPE_TAG,
    log_model,
    lower_is_better,
    register_model,
    resolve_tracking_uri,
    setup_experiment,
)
from mmrisk.workflows._checks import check_training_data
from mmrisk.workflows._cohort import CAUSE_NAMES, cohort_cif_tables
from mmrisk.workflows._report import log_report
from mmrisk.workflows._runfacts import final_fit_rows as _final_fit_rows
from mmrisk.workflows._runfacts import fit_tags as _fit_tags
from mmrisk.workflows._runfacts import git_commit as _git_commit
from mmrisk.workflows._runfacts import leaderboard as _leaderboard
from mmrisk.workflows._runfacts import log_figure as _log_figure
from mmrisk.workflows._runfacts import model_pipeline

__all__ = ["competing_metric_names", "cross_validate_competing", "train_competing"]

log = logging.getLogger(__name__)

#: statsmodels' lowess ``delta`` as a fraction of the range of the predictions.
_LOWESS_DELTA = 0.01


# The survival path's small helpers, repeated here: importing workflows._train would make an
# import cycle (it dispatches to this module). Keep them in step with workflows/_train.py.










def competing_metric_names(horizons: Sequence[int]) -> list[str]:
    """The competing-risks metrics of a run, without scope, in the order they are computed.

    Parameters
    ----------
    horizons : sequence of int
        Months.

    Returns
    -------
    list of str
        ``cindex_wolbers``, then ``cif_auc_<h>m``, ``cif_brier_<h>m``, ``cif_ici_<h>m`` and
        ``cif_oe_<h>m`` for each horizon.
    """
    hs = [int(h) for h in horizons]
    return (["cindex_wolbers"] + [f"cif_auc_{h}m" for h in hs] + [f"cif_brier_{h}m" for h in hs]
            + [f"cif_ici_{h}m" for h in hs] + [f"cif_oe_{h}m" for h in hs])


def _point_metrics(y_ipcw: np.ndarray, y: np.ndarray, cif: np.ndarray, horizons: np.ndarray,
                   wolbers: float) -> np.ndarray:
    """Every metric but Wolbers' C (given) for one set of predictions; NaN where undefined."""
    k = horizons.size
    out = np.full(1 + 4 * k, np.nan)
    out[0] = wolbers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out[1 : 1 + k] = cif_auc(y_ipcw, y, cif, horizons)
            out[1 + k : 1 + 2 * k] = cif_brier_scores(y_ipcw, y, cif, horizons)
        except (MetricInputError, ValueError, ZeroDivisionError):
            pass
        for j, h in enumerate(horizons):
            pred = cif[:, j]
            try:
                cal = cif_calibration_metrics(y, pred, float(h),
                                              delta=_LOWESS_DELTA * float(np.ptp(pred)))
            except (MetricInputError, ValueError, ZeroDivisionError):
                continue
            out[1 + 2 * k + j] = cal["ici"]
            out[1 + 3 * k + j] = cal["oe"]
    return out


def _wolbers_pairs(y: np.ndarray, risk: np.ndarray, tau: float | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Comparable (n, n) and concordant (n, n, ties 1/2) pairs of Wolbers' C.

    The pairs of :func:`mmrisk.evaluation.cindex_wolbers` (Harrell's C with competing events
    censored beyond every time, scikit-survival's tie rule: an anchor is comparable with a
    later time, or with a censoring at the same time).
    """
    code, time = y["event"], np.asarray(y["time"], float)
    t = time.copy()
    t[code == 2] = time.max() * 2.0 + 1.0
    event = code == 1
    if tau is not None:
        event &= time <= tau
    later = t[None, :] > t[:, None]
    tied_censored = (t[None, :] == t[:, None]) & ~event[None, :]
    comparable = event[:, None] & (later | tied_censored)
    np.fill_diagonal(comparable, False)
    score = np.where(risk[:, None] > risk[None, :], 1.0,
                     np.where(risk[:, None] == risk[None, :], 0.5, 0.0))
    return comparable.astype(float), comparable * score


def _wolbers_replicates(y: np.ndarray, risk: np.ndarray, tau: float | None,
                        counts: np.ndarray) -> np.ndarray:
    """Wolbers' C of each bootstrap replicate (rows of ``counts``: draws of each row)."""
    comparable, concordant = _wolbers_pairs(y, risk, tau)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = np.einsum("bi,ij,bj->b", counts, concordant, counts)
        den = np.einsum("bi,ij,bj->b", counts, comparable, counts)
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _bootstrap_indices(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))


def _replicate_values(y_ipcw: np.ndarray | None, y: np.ndarray, cif: np.ndarray,
                      horizons: np.ndarray, draws: np.ndarray, tick: Any) -> np.ndarray:
    """Metrics of the point estimate (row 0) and of every replicate: (1 + n_boot, n_metrics)."""
    tau = float(horizons.max())
    risk = cif[:, -1]
    rows = [_point_metrics(y if y_ipcw is None else y_ipcw, y, cif, horizons,
                           cindex_wolbers(y, risk, tau=tau))]
    if draws.shape[0]:
        counts = np.stack([np.bincount(d, minlength=y.size) for d in draws]).astype(float)
        wolbers = _wolbers_replicates(y, risk, tau, counts)
        for b, idx in enumerate(draws):
            yb = y[idx]
            rows.append(_point_metrics(yb if y_ipcw is None else y_ipcw, yb, cif[idx],
                                       horizons, wolbers[b]))
            if tick is not None and (b + 1) % 50 == 0:
                tick()
    return np.vstack(rows)


def _interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over replicates (NaN if half or more are NaN)."""
    if values.shape[0] == 0:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan
    alpha = (1.0 - level) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(values, [alpha, 1.0 - alpha], axis=0)
    few = np.mean(np.isnan(values), axis=0) >= 0.5
    lo[few], hi[few] = np.nan, np.nan
    return lo, hi


def _summarise(values: Mapping[str, np.ndarray], names: list[str], baseline: str | None,
               level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    metric_rows, diff_rows = [], []
    for model, vals in values.items():
        lo, hi = _interval(vals[1:], level)
        metric_rows.append(pd.DataFrame({"model": model, "metric": names, "value": vals[0],
                                         "lo": lo, "hi": hi}))
        if baseline is not None and model != baseline:
            delta = vals - values[baseline]
            dlo, dhi = _interval(delta[1:], level)
            diff_rows.append(pd.DataFrame({"model": model, "metric": names, "diff": delta[0],
                                           "lo": dlo, "hi": dhi}))
    diffs = (pd.concat(diff_rows, ignore_index=True) if diff_rows else
             pd.DataFrame({c: pd.Series(dtype=object if c in ("model", "metric") else float)
                           for c in ("model", "metric", "diff", "lo", "hi")}))
    return pd.concat(metric_rows, ignore_index=True), diffs


def _oof(models: Mapping[str, Any], X: pd.DataFrame, y: np.ndarray, splits: Sequence[Split],
         horizons: np.ndarray, tick: Any) -> pd.DataFrame:
    """Out-of-fold predictions of every model: ``model, row, repeat, fold, risk, cif_<h>m``."""
    frames = []
    done = 0
    for split in splits:
        X_train, X_test = X.iloc[split.train_idx], X.iloc[split.test_idx]
        for name, model in models.items():
            try:
                fitted = clone(model).fit(X_train, y[split.train_idx])
                cif = predict_cif_at(fitted, X_test, horizons)
                risk = np.asarray(fitted.predict(X_test), float)
            except Exception as exc:  # add context, keep the type
                exc.add_note(f"while fitting model {name!r} on {split.label or split}")
                raise
            frame = pd.DataFrame({"model": name, "row": np.asarray(split.test_idx),
                                  "repeat": split.repeat, "fold": split.fold, "risk": risk})
            for j, h in enumerate(horizons):
                frame[f"cif_{int(h)}m"] = cif[:, j]
            frames.append(frame)
            done += 1
            tick("fit", done, len(splits) * len(models))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["model", "repeat", "row"], kind="stable").reset_index(drop=True)


def _ipcw_outcome(y: np.ndarray, splits: Sequence[Split], repeat: int) -> np.ndarray | None:
    """Training outcome of a single holdout split; None (the evaluated rows) when pooled."""
    in_repeat = [s for s in splits if s.repeat == repeat]
    return y[in_repeat[0].train_idx] if len(in_repeat) == 1 else None


def cross_validate_competing(
    models: Mapping[str, Any], X: pd.DataFrame, y: np.ndarray, splits: Sequence[Split],
    horizons: Sequence[int], *, baseline: str | None = None, n_bootstrap: int = 200,
    seed: int = 0, confidence_level: float = 0.95, progress: Progress | None = None,
) -> CVResult:
    """Fit competing-risks models on identical splits; metrics of the out-of-fold CIF with CIs.

    Parameters
    ----------
    models : dict of str to estimator
        Unfitted competing-risks models (:func:`mmrisk.models.make_competing_model`), whose
        ``predict`` is the CIF of cause 1 at the last horizon.
    X : pandas.DataFrame of shape (n_samples, n_features)
        Features.
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2, ``time``).
    splits : sequence of Split
        From :func:`mmrisk.evaluation.make_splits`; every repeat tests every evaluated row once.
    horizons : sequence of int
        Months, increasing.
    baseline : str, optional
        Model the others are compared with (paired bootstrap differences).
    n_bootstrap : int, default=200
        Bootstrap replicates (0: no intervals).
    seed : int, default=0
        Seed of the bootstrap draws.
    confidence_level : float, default=0.95
        Coverage of the intervals.
    progress : callable, optional
        ``progress(stage, done, total)``: ``"fit"`` per model fit, ``"metrics"`` per model and
        repeat.

    Returns
    -------
    CVResult
        ``metrics`` (``model, metric, value, lo, hi``; ``metric`` named
        ``<scope>_`` + :func:`competing_metric_names`), ``differences`` from the baseline,
        ``predictions`` (``model, row, repeat, fold, risk, cif_<h>m``; no identifiers),
        ``per_repeat``, ``scope``, ``horizons``, ``baseline``, ``splits``.
    """
    tick = progress or (lambda *_: None)
    if baseline is not None and baseline not in models:
        raise MetricInputError(f"baseline {baseline!r} is not among the models {list(models)}.")
    hs = np.asarray([int(h) for h in horizons], dtype=float)
    scope = splits[0].scope
    repeats = sorted({s.repeat for s in splits})
    pred = _oof(models, X, y, splits, hs, tick)
    names = [f"{scope}_{m}" for m in competing_metric_names(horizons)]
    rows = np.sort(pred.loc[(pred["model"] == next(iter(models)))
                            & (pred["repeat"] == repeats[0]), "row"].to_numpy())
    draws = _bootstrap_indices(rows.size, int(n_bootstrap), seed)
    cif_cols = [f"cif_{int(h)}m" for h in hs]
    values, per_repeat = {}, []
    step, total = 0, len(models) * len(repeats)
    for name in models:
        by_repeat = []
        for r in repeats:
            part = pred[(pred["model"] == name) & (pred["repeat"] == r)].set_index("row").loc[rows]
            vals = _replicate_values(_ipcw_outcome(y, splits, r), y[rows],
                                     part[cif_cols].to_numpy(float), hs, draws, None)
            by_repeat.append(vals)
            per_repeat.append(pd.DataFrame({"model": name, "repeat": r, "metric": names,
                                            "value": vals[0]}))
            step += 1
            tick("metrics", step, total)
        values[name] = np.mean(by_repeat, axis=0)
    metrics, differences = _summarise(values, names, baseline, confidence_level)
    return CVResult(metrics=metrics, differences=differences, predictions=pred,
                    per_repeat=pd.concat(per_repeat, ignore_index=True), scope=scope,
                    horizons=tuple(int(h) for h in hs), baseline=baseline, splits=list(splits))


def _make(spec: Any, config: ExperimentConfig) -> Any:
    last = float(config.horizons[-1])
    given = spec.params.get("horizon")
    if given is not None and float(given) != last:
        raise ConfigError(f"params.horizon of a competing-risks model is the last horizon "
                          f"({last:g} months: the risk score is the CIF there); got {given!r}")
    kind = COMPETING_MODEL_KINDS[spec.kind]
    return make_competing_model(
        spec.kind, pipeline=kind.pipeline_for(spec.pipeline, config.pipeline),
        params={**spec.params, "horizon": last}, inner_cv=config.validation.inner_cv,
        seed=config.seed)


def _first_repeat(cv: CVResult, name: str) -> pd.DataFrame:
    pred = cv.predictions
    return pred[(pred["model"] == name) & (pred["repeat"] == pred["repeat"].min())]


def _model_figures(name: str, kind: str, cv: CVResult, y: np.ndarray, horizons: list[int],
                   fitted: Any) -> None:
    pred = _first_repeat(cv, name)
    y_t = y[pred["row"].to_numpy()]
    cif = pred[[f"cif_{h}m" for h in horizons]].to_numpy(float)
    try:
        _log_figure(plot_cif_calibration(y_t, cif, horizons, label=name), "cif_calibration")
    except (MetricInputError, ValueError) as e:
        log.warning("CIF calibration figure skipped for %s: %s", name, e)
    groups = risk_groups(pred["risk"].to_numpy(), learn_cutpoints(pred["risk"].to_numpy()))
    _log_figure(cif_figure(y_t["time"], y_t["event"], groups,
                           title=f"{name}: Aalen–Johansen CIF by out-of-fold risk group "
                                 "(tertiles)", order=RISK_GROUPS), "cif_risk_groups")
    hr = hazard_ratios(fitted)
    if "cause" in hr:
        hr = hr[hr["cause"] == 1].drop(columns="cause")
    label = "subdistribution" if kind == "finegray" else "cause-specific"
    _log_figure(hr_forest_figure(hr, title=f"{name}: {label} hazard ratios of progression"),
                "hr_forest")


def _log_explanations(fitted: Any, X: pd.DataFrame, config: ExperimentConfig) -> None:
    """Global SHAP of the linear predictor of progression on a sample (figures, importance)."""
    if config.explain.n_samples <= 0:
        return
    from mmrisk.explain import explain

    rng = np.random.default_rng(config.seed)
    idx = rng.choice(len(X), size=min(len(X), config.explain.n_samples), replace=False)
    sample = X.iloc[np.sort(idx)].reset_index(drop=True)
    expl = explain(cause_linear_model(fitted, cause=1), sample, output="risk",
                   background=sample)
    with tempfile.TemporaryDirectory() as tmp:
        write_explanation(expl, tmp, rows=[])
        for path in sorted(Path(tmp).rglob("*.png")):
            mlflow.log_artifact(str(path), "figures/shap")
        mlflow.log_artifact(str(Path(tmp) / "global_importance.csv"), "shap")


def _meta(name: str, spec: Any, config: ExperimentConfig, fitted: Any, X: pd.DataFrame,
          y: np.ndarray, train_risk: np.ndarray, cohort_spec: dict | None) -> dict:
    cutpoints = learn_cutpoints(train_risk)
    profile = training_profile(X)
    profile["risk_score"] = {
        "quantiles": [float(q) for q in np.quantile(train_risk, np.linspace(0, 1, 11))],
        "group_shares": {g: float(v) for g, v in pd.Series(
            risk_groups(train_risk, cutpoints)).value_counts(normalize=True).items()}}
    return {"features": list(X.columns), "horizons": list(config.horizons),
            "cutpoints": cutpoints, "profile": profile,
            "input_rules": input_rules(list(X.columns)), "model_name": name,
            "unimputed": unimputed_features(fitted, X),
            "model_kind": spec.kind, "outcome_kind": "cif",
            "causes": {str(k): v for k, v in CAUSE_NAMES.items()},
            "max_follow_up_months": float(np.max(y["time"])), "cohort": cohort_spec,
            "mmrisk_version": __version__,
            "outcome": ({"time": config.data.time, "event": config.data.event,
                         "id_column": config.data.id_column, "competing_risks": True}
                        if cohort_spec is None else None)}


def _child_run(name: str, spec: Any, config: ExperimentConfig, model: Any, cohort: Cohort,
               cv: CVResult, tags: dict, fit: tuple[np.ndarray | None, str]
               ) -> tuple[str, str, float]:
    rows, label = fit
    X, y = ((cohort.X, cohort.y) if rows is None
            else (cohort.X.iloc[rows].reset_index(drop=True), cohort.y[rows]))
    horizons = list(config.horizons)
    run_tags = {k: v for k, v in tags.items() if k not in ("experiment_id", "cohort_spec")}
    with mlflow.start_run(run_name=name, nested=True, experiment_id=tags["experiment_id"],
                          tags={**run_tags, "model_name": name, "model_kind": spec.kind,
                                "outcome_kind": "cif", **_fit_tags(config, label)}) as run:
        fitted = clone(model).fit(X, y)
        train_risk = np.asarray(fitted.predict(X), float)
        params = {"kind": spec.kind, "pipeline": model_pipeline(config, name),
                  **{f"model.{k}": v for k, v in spec.params.items()}}
        mlflow.log_params(params)
        metrics = dict(cv.flat(name))
        for row in cv.differences[cv.differences["model"] == name].itertuples(index=False):
            metrics[f"{row.metric}_diff_vs_baseline"] = float(row.diff)
        metrics["model_size_bytes"] = float(model_size_bytes(fitted))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            oof = cv.predictions[cv.predictions["model"] == name].drop(columns="model")
            oof.to_parquet(Path(tmp) / "predictions_oof.parquet", index=False)
            hazard_ratios(fitted).to_csv(Path(tmp) / "hazard_ratios.csv", index=False)
            for path in sorted(Path(tmp).iterdir()):
                mlflow.log_artifact(str(path))
        _model_figures(name, spec.kind, cv, cohort.y, horizons, fitted)
        _log_explanations(fitted, X, config)
        meta = _meta(name, spec, config, fitted, X, y, train_risk, tags.get("cohort_spec"))
        model_uri = log_model(fitted, X, meta, seed=config.seed)
        value = cv.flat(name).get(config.tracking.select_metric, float("nan"))
        return run.info.run_id, model_uri, value


def _parent_artifacts(config: ExperimentConfig, cohort: Cohort, board: pd.DataFrame) -> None:
    mlflow.log_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
                    "config.yaml")
    mlflow.log_table(cohort.flow, "flow.json")
    group = (cohort.data[cohort.group_by] if cohort.group_by in cohort.data
             else np.array(["all"] * len(cohort.data), dtype=object))
    cif, gray = cohort_cif_tables(cohort.y, group, config.horizons)
    with tempfile.TemporaryDirectory() as tmp:
        for name, df in (("flow.csv", cohort.flow), ("leaderboard.csv", board),
                         ("table1.csv", table1(cohort.data, cohort.features, cohort.group_by)),
                         ("data_issues.csv", cohort.issues), ("cohort_cif.csv", cif),
                         ("cohort_gray.csv", gray)):
            df.to_csv(Path(tmp) / name, index=False)
            mlflow.log_artifact(str(Path(tmp) / name))
    _log_figure(cif_figure(cohort.data["time"], cohort.data["event"], group,
                           title=f"Cumulative incidence by {cohort.group_by or 'cohort'}"),
                "cif_cohort")


def train_competing(config: ExperimentConfig, *, tracking_uri: str | None = None,
                    experiment: str | None = None, progress: Progress | None = None,
                    extract_path: str | None = None) -> dict[str, Any]:
    """The main job for a competing-risks outcome (see the module docstring).

    Parameters
    ----------
    config : ExperimentConfig
        Validated config whose outcome is competing risks (``config.competing``).
    tracking_uri, experiment : str, optional
        Override the config (``--tracking-uri`` / ``--experiment``).
    progress : callable, optional
        ``progress(stage, done, total)`` for the stages ``fit``, ``metrics``, ``log``.
    extract_path : str, optional
        A registry extract to use instead of the config's data source.

    Returns
    -------
    dict
        The fields of :class:`mmrisk.workflows.TrainResult` (``parent_run_id``,
        ``child_run_ids``, ``leaderboard``, ``cv``, ``registered``, ``experiment_id``,
        ``tracking_uri``, ``data_fingerprint``); ``cv.predictions`` holds ``cif_<h>m`` columns.
    """
    tick = progress or (lambda *_: None)
    if not config.competing:
        raise ConfigError("train_competing needs a competing-risks outcome "
                          "(cohort.endpoint: progression_cr or data.competing_risks: true)")
    cohort = load_cohort(config.data, config.cohort, extract_path)
    fingerprint = data_fingerprint(cohort)
    X, y = cohort.X, cohort.y
    models = {name: _make(spec, config) for name, spec in config.models.items()}
    check_training_data(config, cohort, models, extract_path)
    v = config.validation
    meta = cohort.data.drop(columns=cohort.features + ["time", "event"])
    y_cause1 = Surv.from_arrays(event=y["event"] == 1, time=y["time"])  # stratify on cause 1
    splits = make_splits(v.scheme, y_cause1, meta, n_splits=v.n_splits, n_repeats=v.n_repeats,
                         test_from_year=v.test_from_year, split_column="split", seed=config.seed)
    fit = _final_fit_rows(config, splits)
    cv = cross_validate_competing(models, X, y, splits, config.horizons,
                                  baseline=config.baseline, n_bootstrap=v.n_bootstrap,
                                  seed=config.seed, progress=tick)
    board = _leaderboard(cv)
    uri = resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri)
    exp_id = setup_experiment(uri, experiment or config.tracking.experiment)
    tags = {"data_fingerprint": fingerprint, "config_hash": config_hash(config),
            "git_commit": _git_commit(), "mmrisk_version": __version__}
    cohort_spec = (None if config.data.table and extract_path is None
                   else config.cohort.model_dump(mode="json"))
    children, uris, values = {}, {}, {}
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train-{config.name}",
                          tags={**tags, RUN_TYPE_TAG: "train", "outcome_kind": "cif"}) as parent:
        mlflow.set_tags(_fit_tags(config, fit[1]))
        code = y["event"]
        mlflow.log_params({"landmark": config.cohort.landmark,
                           "endpoint": config.cohort.endpoint if cohort_spec else "competing",
                           "pipeline": config.pipeline, "scheme": v.scheme,
                           "n_patients": len(cohort.data), "n_events": int((code == 1).sum()),
                           "n_competing_events": int((code == 2).sum()),
                           "horizons": ",".join(map(str, config.horizons)),
                           "n_bootstrap": v.n_bootstrap, "seed": config.seed})
        _parent_artifacts(config, cohort, board)
        for i, (name, spec) in enumerate(config.models.items()):
            tick("log", i, len(models))
            children[name], uris[name], values[name] = _child_run(
                name, spec, config, models[name], cohort, cv,
                {**tags, "experiment_id": exp_id, "cohort_spec": cohort_spec}, fit)
        tick("log", len(models), len(models))
        registered = _register(config, values, uris, children, fingerprint, uri)
    log_report(parent.info.run_id, tracking_uri=uri, cohort=cohort)  # warns, never fails
    return {"parent_run_id": parent.info.run_id, "child_run_ids": children,
            "leaderboard": board, "cv": cv, "registered": registered, "experiment_id": exp_id,
            "tracking_uri": uri, "data_fingerprint": fingerprint}


def _register(config: ExperimentConfig, values: dict, uris: dict, children: dict,
              fingerprint: str, uri: str) -> dict[str, Any]:
    metric = config.tracking.select_metric
    higher = not lower_is_better(metric)
    finite = {k: val for k, val in values.items() if np.isfinite(val)}
    if not finite:
        log.warning("no model has a finite %s; nothing registered", metric)
        return {}
    best = (max if higher else min)(finite, key=finite.get)
    mlflow.set_tag("best_model", best)
    registered = register_model(config.tracking.registered_model, uris[best], children[best],
                                metric, finite[best], fingerprint, higher,
                                client=MlflowClient(tracking_uri=uri, registry_uri=uri))
    mlflow.set_tag("registered_version", registered["version"])
    mlflow.set_tag("registered_alias", registered["alias"])
    return registered
