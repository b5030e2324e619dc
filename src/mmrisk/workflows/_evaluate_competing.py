"""``mmrisk evaluate`` for a competing-risks model: the CIF of progression on a new cohort.

Called by :func:`mmrisk.workflows.evaluate` when the model's ``meta["outcome_kind"]`` is
``"cif"`` (``cs_cox``, ``cs_coxnet``, ``finegray``). The model is not refitted. The cohort is
rebuilt as for a survival model (:func:`mmrisk.workflows.evaluation_cohort`: at the model's
landmark with the ``progression_cr`` endpoint, or a flat table whose event column holds the codes
0 = censored, 1 = progression, 2 = death without progression). Outputs, in one folder and in an
MLflow run of type ``evaluation`` in the model's experiment (logged by ``evaluate``, then tagged
``outcome_kind: cif`` by :func:`tag_competing_run`; this module does not import
``workflows._evaluate``, which dispatches to it, so the workflows stay acyclic):

- ``metrics.csv`` (``metric, value, lo, hi``): the competing-risks metrics of ``train``
  (:func:`mmrisk.workflows._train_competing.competing_metric_names`) with the scope ``ext_`` --
  ``ext_cindex_wolbers`` (Wolbers' C of the CIF at the last horizon, progressions up to it),
  ``ext_cif_auc_<h>m``, ``ext_cif_brier_<h>m`` (IPCW, cause 1; the censoring weights come from
  the new cohort itself), ``ext_cif_ici_<h>m`` and ``ext_cif_oe_<h>m`` (lowess through
  Aalen–Johansen pseudo-values; Aalen–Johansen CIF over the mean predicted CIF), with 95%
  percentile bootstrap intervals computed exactly as in ``train`` (same functions, same draws
  for every metric);
- ``calibration.csv``: predicted vs Aalen–Johansen observed CIF of progression within tenths of
  predicted risk at each horizon (:func:`mmrisk.evaluation.cif_calibration`);
- ``risk_groups.csv``: the same within the model's risk groups (training cut-points), with the
  observed CIF of death without progression;
- ``subgroups.csv``: Wolbers' C and O/E at each horizon by sex, age band, R-ISS, centre and
  transplant era (those the cohort can label), with bootstrap intervals; fewer than 10
  progressions: listed, not estimated (:func:`competing_subgroups`);
- ``exclusions.csv``, ``evaluation.json`` (progressions and competing deaths counted apart);
- ``figures/``: ``cif_calibration`` (one panel per horizon) and ``cif_risk_groups`` (the
  Aalen–Johansen CIF of both causes by the model's risk groups, numbers at risk).

Decision curves and centre heterogeneity are survival-only for now (their functions take a
survival outcome); the result's ``decision_curve`` and ``heterogeneity`` are empty.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.evaluation import (
    SUBGROUP_COLUMNS,
    cif_calibration,
    cindex_wolbers,
    cumulative_incidence_at,
    subgroup_frame,
    subgroup_levels,
)
from mmrisk.exceptions import MetricInputError, MMRiskError
from mmrisk.models import predict_cif_at
from mmrisk.predict import RISK_GROUPS, risk_groups
from mmrisk.progress import Progress, report
from mmrisk.report import cif_figure, plot_cif_calibration
from mmrisk.workflows._runfacts import available_subgroups, development_data, evaluation_note
from mmrisk.workflows._train_competing import (
    _bootstrap_indices,
    _interval,
    _replicate_values,
    _summarise,
    _wolbers_replicates,
    competing_metric_names,
)

__all__ = ["competing_evaluation_metrics", "competing_subgroups", "evaluate_competing",
           "tag_competing_run"]

#: Risk groups of the calibration table (tenths of predicted CIF), fewer on a small cohort.
_N_CALIBRATION_GROUPS = 10


def competing_evaluation_metrics(y: np.ndarray, cif: np.ndarray, horizons: list[int], *,
                                 n_bootstrap: int = 200, seed: int = 0,
                                 confidence_level: float = 0.95) -> pd.DataFrame:
    """The ``ext_`` competing-risks metrics of fixed predictions, with bootstrap intervals.

    The same computation as ``train`` applies to one repeat of out-of-fold predictions: the
    censoring weights of the AUC and Brier score come from ``y`` itself, Wolbers' C uses the
    CIF at the last horizon and progressions up to it, and each replicate resamples patients.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2, ``time``).
    cif : ndarray of shape (n_samples, n_horizons)
        Predicted CIF of progression at each horizon.
    horizons : list of int
        Months, increasing.
    n_bootstrap : int, default=200
        Bootstrap replicates (0: no intervals).
    seed : int, default=0
        Seed of the draws.
    confidence_level : float, default=0.95
        Coverage of the percentile intervals.

    Returns
    -------
    pandas.DataFrame
        ``metric, value, lo, hi``; ``metric`` is ``ext_`` + each name of
        :func:`mmrisk.workflows._train_competing.competing_metric_names`.
    """
    hs = np.asarray([int(h) for h in horizons], dtype=float)
    cif = np.asarray(cif, float)
    if cif.shape != (y.size, hs.size):
        raise MetricInputError(f"cif must have shape (n_samples, n_horizons) = ({y.size}, "
                               f"{hs.size}); got {cif.shape}.")
    names = [f"ext_{m}" for m in competing_metric_names(horizons)]
    draws = _bootstrap_indices(y.size, int(n_bootstrap), seed)
    values = _replicate_values(None, y, cif, hs, draws, None)
    metrics, _ = _summarise({"model": values}, names, None, confidence_level)
    return metrics.drop(columns="model")


def _calibration_table(y: np.ndarray, cif: np.ndarray, horizons: list[int]) -> pd.DataFrame:
    n_groups = int(min(_N_CALIBRATION_GROUPS, max(1, y.size // 20)))
    frames = []
    for j, h in enumerate(horizons):
        try:
            table = cif_calibration(y, cif[:, j], float(h), n_groups=n_groups)
        except MetricInputError:  # e.g. nobody followed that long
            continue
        frames.append(table.assign(horizon=h))
    cols = ["horizon", "risk_group", "n", "predicted", "observed", "lo", "hi"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def _risk_group_table(y: np.ndarray, cif: np.ndarray, groups: np.ndarray,
                      horizons: list[int]) -> pd.DataFrame:
    """Predicted (mean) vs Aalen–Johansen observed CIF in each of the model's risk groups."""
    labels = np.where(pd.isna(groups), "missing", groups).astype(str)
    aj = cumulative_incidence_at(y, [float(h) for h in horizons], groups=labels)
    rows = []
    for g in [g for g in RISK_GROUPS if g in set(labels)]:
        sel = labels == g
        for j, h in enumerate(horizons):
            at = aj[(aj["group"] == g) & (aj["time"] == float(h))].set_index("cause")
            rows.append({"risk_group": g, "horizon": h, "n": int(sel.sum()),
                         "n_at_risk": int(at.loc[1, "n_risk"]),
                         "predicted": float(cif[sel, j].mean()),
                         "observed": float(at.loc[1, "cif"]), "lo": float(at.loc[1, "lo"]),
                         "hi": float(at.loc[1, "hi"]),
                         "observed_competing": float(at.loc[2, "cif"])})
    return pd.DataFrame(rows)


def _subgroup_values(y: np.ndarray, cif: np.ndarray, horizons: list[int],
                     draws: np.ndarray) -> np.ndarray:
    """Wolbers' C and O/E at each horizon: the estimate (row 0) and each replicate."""
    hs = [float(h) for h in horizons]
    risk, tau = cif[:, -1], hs[-1]

    def oe(rows: np.ndarray) -> np.ndarray:
        aj = cumulative_incidence_at(y[rows], hs)
        return aj.loc[aj["cause"] == 1, "cif"].to_numpy() / cif[rows].mean(axis=0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = np.concatenate([[cindex_wolbers(y, risk, tau=tau)], oe(np.arange(y.size))])
        rows = [first]
        if draws.shape[0]:
            counts = np.stack([np.bincount(d, minlength=y.size) for d in draws]).astype(float)
            wolbers = _wolbers_replicates(y, risk, tau, counts)
            rows += [np.concatenate([[w], oe(d)]) for w, d in zip(wolbers, draws, strict=True)]
    return np.vstack(rows)


def competing_subgroups(table: pd.DataFrame, y: np.ndarray, cif: np.ndarray,
                        horizons: list[int], *, min_events: int = 10, n_bootstrap: int = 200,
                        seed: int = 0, confidence_level: float = 0.95) -> pd.DataFrame:
    """Wolbers' C and CIF O/E of a competing-risks model per subgroup, with bootstrap CIs.

    The competing-risks counterpart of :func:`mmrisk.evaluation.subgroup_table`: subgroups
    of :func:`mmrisk.evaluation.subgroup_frame` (those the table can label), patients resampled
    within each subgroup; a subgroup with fewer than ``min_events`` progressions is listed with
    its counts but not estimated.

    Parameters
    ----------
    table : pandas.DataFrame
        The evaluated rows of the analysis table (sex, age, R-ISS, site, transplant year).
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome (integer ``event`` 0/1/2, ``time``).
    cif : ndarray of shape (n_samples, n_horizons)
        Predicted CIF of progression; Wolbers' C uses the last column, progressions up to the
        last horizon.
    horizons : list of int
        Months, increasing.
    min_events : int, default=10
        Fewest progressions for an estimate.
    n_bootstrap : int, default=200
        Replicates per subgroup (0: no interval).
    seed : int, default=0
        Seed of the resampling.
    confidence_level : float, default=0.95
        Coverage of the percentile intervals.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`mmrisk.evaluation.SUBGROUP_COLUMNS` (``events`` counts progressions);
        metrics ``cindex_wolbers`` and ``cif_oe_<h>m``; empty if no subgroup can be labelled.
    """
    wanted = available_subgroups(table)
    if not wanted:
        return pd.DataFrame(columns=SUBGROUP_COLUMNS)
    groups = subgroup_frame(table, subgroups=wanted).reset_index(drop=True)
    names = ["cindex_wolbers"] + [f"cif_oe_{int(h)}m" for h in horizons]
    rows = []
    for variable, level, idx in subgroup_levels(groups):
        events = int(np.sum(y["event"][idx] == 1))
        base = {"variable": variable, "level": level, "n": int(idx.size), "events": events}
        if events < min_events:
            rows += [{**base, "metric": m, "value": np.nan, "lo": np.nan, "hi": np.nan,
                      "note": f"fewer than {min_events} events: not estimated"}
                     for m in names]
            continue
        values = _subgroup_values(y[idx], cif[idx], horizons,
                                  _bootstrap_indices(idx.size, int(n_bootstrap), seed))
        lo, hi = _interval(values[1:], confidence_level)
        rows += [{**base, "metric": m, "value": float(values[0, k]), "lo": float(lo[k]),
                  "hi": float(hi[k]), "note": ""} for k, m in enumerate(names)]
    return pd.DataFrame(rows, columns=SUBGROUP_COLUMNS)


def _facts(ev: Any, loaded: Any, source: dict, horizons: list[int],
           n_bootstrap: int) -> dict[str, Any]:
    t, code = ev.y["time"], ev.y["event"]
    development = development_data(source, ev.fingerprint)
    return {
        "model_uri": loaded.uri, "registered_model": source.get("name"),
        "model_version": source.get("version"), "source_run_id": source.get("run_id"),
        "model_kind": loaded.meta.get("model_kind"), "outcome_kind": "cif",
        "data_fingerprint": ev.fingerprint, "n_patients": int(len(t)),
        "n_events": int(np.sum(code == 1)), "n_competing_events": int(np.sum(code == 2)),
        "causes": loaded.meta.get("causes") or {"1": "progression",
                                                "2": "death without progression"},
        "n_excluded": int(ev.exclusions["n"].sum()) if len(ev.exclusions) else 0,
        "median_follow_up_months": float(np.median(t)), "max_follow_up_months": float(np.max(t)),
        "horizons": horizons, "n_bootstrap": n_bootstrap,
        "apparent_calibration": False,
        "development_data": development,
        "note": evaluation_note(False, development),
    }


def _figures(ev: Any, cif: np.ndarray, groups: np.ndarray, horizons: list[int],
             label: str) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    n_groups = int(min(_N_CALIBRATION_GROUPS, max(1, ev.y.size // 20)))
    try:
        figs["cif_calibration"] = plot_cif_calibration(
            ev.y, cif, horizons, n_groups=n_groups,
            title=f"{label or 'model'}: calibration of the progression CIF (evaluation cohort)")
    except (MetricInputError, ValueError):  # e.g. nobody followed to a horizon
        pass
    shown = np.where(pd.isna(groups), "missing", groups).astype(str)
    figs["cif_risk_groups"] = cif_figure(
        ev.y["time"], ev.y["event"], shown, order=RISK_GROUPS,
        title="Evaluation cohort by the model's risk groups: Aalen–Johansen CIF")
    return figs


def _write(out: Path, tables: dict[str, pd.DataFrame], facts: dict,
           figs: dict[str, Any]) -> list[Path]:
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in tables.items():
        files.append(out / f"{name}.csv")
        table.to_csv(files[-1], index=False)
    files.append(out / "evaluation.json")
    files[-1].write_text(json.dumps(facts, indent=2, default=_jsonable), encoding="utf-8")
    for name, fig in figs.items():
        files.append(out / "figures" / f"{name}.png")
        fig.savefig(files[-1], dpi=120)
    return files


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def evaluate_competing(loaded: Any, ev: Any, source: dict, out_dir: str | Path,
                       horizons: list[int], *, n_bootstrap: int = 200, seed: int = 0,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate a fixed competing-risks model on its evaluation cohort; write the files.

    Called by :func:`mmrisk.workflows.evaluate`, which builds the cohort, makes the
    :class:`~mmrisk.workflows.EvaluationResult` of the returned fields and logs the MLflow run
    (then :func:`tag_competing_run`).

    Parameters
    ----------
    loaded : LoadedModel
        The model (``meta["outcome_kind"] == "cif"``).
    ev : EvaluationCohort
        Its evaluation cohort (:func:`mmrisk.workflows.evaluation_cohort`), whose ``y`` is the
        competing-risks outcome.
    source : dict
        :func:`mmrisk.tracking.model_source` of the model URI (empty for a loaded model).
    out_dir : str or path-like
        Folder for the files (created).
    horizons : list of int
        Months, checked by the caller (none beyond the training follow-up).
    n_bootstrap : int, default=200
        Bootstrap replicates of every interval.
    seed : int, default=0
        Seed of the bootstrap.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Returns
    -------
    dict
        The fields of :class:`~mmrisk.workflows.EvaluationResult` but ``run_id``: ``metrics``
        (``ext_`` competing-risks metrics), ``decision_curve`` (empty), ``subgroups``
        (:func:`competing_subgroups`), ``heterogeneity`` (empty), ``facts`` and ``files``.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the model is not a competing-risks model or the cohort's outcome is not one.
    """
    if loaded.meta.get("outcome_kind") != "cif" or ev.y.dtype.names != ("event", "time") \
            or ev.y["event"].dtype.kind not in "iu":
        raise MMRiskError(f"{loaded.uri} is not a competing-risks model with a competing-risks "
                          "evaluation cohort; use mmrisk.workflows.evaluate")
    horizons = [int(h) for h in horizons]
    report(progress, "evaluate", 0, 4)
    cif = predict_cif_at(loaded.estimator, ev.X, horizons)
    groups = risk_groups(np.asarray(loaded.estimator.predict(ev.X), float),
                         loaded.meta["cutpoints"])
    report(progress, "evaluate", 1, 4)
    metrics = competing_evaluation_metrics(ev.y, cif, horizons, n_bootstrap=n_bootstrap,
                                           seed=seed)
    report(progress, "evaluate", 2, 4)
    subgroups = competing_subgroups(ev.table, ev.y, cif, horizons, n_bootstrap=n_bootstrap,
                                    seed=seed)
    tables = {"metrics": metrics, "calibration": _calibration_table(ev.y, cif, horizons),
              "risk_groups": _risk_group_table(ev.y, cif, groups, horizons),
              "subgroups": subgroups, "exclusions": ev.exclusions}
    facts = _facts(ev, loaded, source, horizons, n_bootstrap)
    figs = _figures(ev, cif, groups, horizons, str(loaded.meta.get("model_name", "")))
    report(progress, "evaluate", 3, 4)
    files = _write(Path(out_dir), tables, facts, figs)
    report(progress, "evaluate", 4, 4)
    return {"metrics": metrics, "decision_curve": pd.DataFrame(), "subgroups": subgroups,
            "heterogeneity": {}, "facts": facts, "files": files}


def tag_competing_run(run_id: str, facts: dict, tracking_uri: str | None = None) -> None:
    """Add the competing-risks facts to an evaluation run (``outcome_kind``, competing events).

    Parameters
    ----------
    run_id : str
        The MLflow evaluation run.
    facts : dict
        ``facts`` of :func:`evaluate_competing`.
    tracking_uri : str, optional
        The store of the run.
    """
    from mlflow.tracking import MlflowClient

    from mmrisk.tracking import resolve_tracking_uri

    client = MlflowClient(tracking_uri=resolve_tracking_uri(tracking_uri))
    client.set_tag(run_id, "outcome_kind", "cif")
    client.log_param(run_id, "n_competing_events", facts["n_competing_events"])
