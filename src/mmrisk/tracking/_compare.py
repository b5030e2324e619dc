"""``mmrisk compare``: the leaderboard of the latest ``train`` run of an experiment."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from mmrisk.exceptions import MMRiskError

__all__ = ["RUN_TYPE_TAG", "evaluation_runs", "latest_leaderboard", "lower_is_better"]

#: Tag that says what a parent run is (``train``; ``evaluation`` for ``mmrisk evaluate``).
RUN_TYPE_TAG = "mmrisk.run_type"


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better.

    Parameters
    ----------
    metric : str
        Metric name, e.g. ``cv_ibs``.

    Returns
    -------
    bool
        True for error metrics (Brier, IBS, ICI, E50, E90), False for C-index, AUC, p-values.
    """
    return any(k in metric for k in ("brier", "ibs", "ici", "e50", "e90"))


def latest_leaderboard(uri: str, experiment: str, metric: str = "cv_cindex_uno"
                       ) -> tuple[pd.DataFrame, dict]:
    """Child-run metrics of the latest train run: one row per model, value/lo/hi per metric.

    Parameters
    ----------
    uri : str
        Tracking URI.
    experiment : str
        Experiment name.
    metric : str, default="cv_cindex_uno"
        Sort key (best first).

    Returns
    -------
    board : pandas.DataFrame
        One row per model: ``model``, ``run_id``, each metric with ``_lo``/``_hi``.
    facts : dict
        The parent run: ``run_id``, ``run_name``, ``best_model``, ``registered_alias``,
        ``data_fingerprint``.
    """
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise MMRiskError(f"no experiment {experiment!r} in {uri}; run `mmrisk train` first")
    parents = client.search_runs([exp.experiment_id], f"tags.`{RUN_TYPE_TAG}` = 'train'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    if not parents:
        raise MMRiskError(f"experiment {experiment!r} has no train run yet")
    parent = parents[0]
    children = client.search_runs(
        [exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    rows = []
    for run in children:
        m = run.data.metrics
        row = {"model": run.data.tags.get("model_name", run.info.run_name),
               "run_id": run.info.run_id}
        for name, value in m.items():
            # Intervals belong to estimates; a size or a count has none.
            if name == "model_size_bytes":
                row[name] = value
            elif not name.endswith(("_lo", "_hi")):
                row[name] = value
                row[f"{name}_lo"] = m.get(f"{name}_lo")
                row[f"{name}_hi"] = m.get(f"{name}_hi")
        rows.append(row)
    board = pd.DataFrame(rows)
    if metric not in board.columns:
        known = sorted(c for c in board.columns if c.startswith(("cv_", "test_"))
                       and not c.endswith(("_lo", "_hi")))
        raise MMRiskError(f"metric {metric!r} was not logged; logged: {', '.join(known)}")
    board = board.sort_values(metric, ascending=lower_is_better(metric)).reset_index(drop=True)
    facts = {"run_id": parent.info.run_id, "run_name": parent.info.run_name,
             "best_model": parent.data.tags.get("best_model"),
             "registered_alias": parent.data.tags.get("registered_alias"),
             "data_fingerprint": parent.data.tags.get("data_fingerprint")}
    return board, facts


def evaluation_runs(uri: str, experiment: str, model: str | None = None) -> pd.DataFrame:
    """The ``mmrisk evaluate`` runs of an experiment, newest first.

    Parameters
    ----------
    uri : str
        Tracking URI.
    experiment : str
        Experiment name.
    model : str, optional
        Only the evaluations of this registered model name.

    Returns
    -------
    pandas.DataFrame
        One row per evaluation: ``run_id``, ``registered_model``, ``model_version``,
        ``data_fingerprint``, ``apparent_calibration``, ``n_patients``, ``n_events`` and every
        ``ext_`` metric with its ``_lo``/``_hi``.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the experiment does not exist.
    """
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise MMRiskError(f"no experiment {experiment!r} in {uri}; run `mmrisk train` first")
    query = f"tags.`{RUN_TYPE_TAG}` = 'evaluation'"
    if model:
        query += f" and tags.registered_model = '{model}'"
    runs = client.search_runs([exp.experiment_id], query,
                              order_by=["attributes.start_time DESC"])
    rows = []
    for run in runs:
        tags, params = run.data.tags, run.data.params
        row = {"run_id": run.info.run_id, "registered_model": tags.get("registered_model"),
               "model_version": tags.get("model_version"),
               "data_fingerprint": tags.get("data_fingerprint"),
               "apparent_calibration": tags.get("apparent_calibration") == "true",
               "n_patients": params.get("n_patients"), "n_events": params.get("n_events")}
        row.update(run.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows)
