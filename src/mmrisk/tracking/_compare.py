"""``mmrisk compare``: the leaderboard of the latest finished ``train`` run of an experiment.

Only FINISHED train runs are compared: a train that failed, was killed or is still running has
a partial leaderboard. When the newest train run did not finish, the facts say so.
"""

from __future__ import annotations

from typing import Any

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


#: The default sort key by the parent run's ``outcome_kind`` tag (``cif``: competing risks).
_DEFAULT_METRIC = {"survival": "cindex_uno", "cif": "cindex_wolbers"}


def _default_metric(parent: Any, board: pd.DataFrame) -> str:
    """The outcome's C index, in the scope the run logged (``cv_``, else ``test_``)."""
    name = _DEFAULT_METRIC.get(parent.data.tags.get("outcome_kind", "survival"), "cindex_uno")
    scoped = [f"{scope}_{name}" for scope in ("cv", "test")]
    return next((m for m in scoped if m in board.columns), scoped[0])


def latest_leaderboard(uri: str, experiment: str, metric: str | None = None
                       ) -> tuple[pd.DataFrame, dict]:
    """Child-run metrics of the latest train run: one row per model, value/lo/hi per metric.

    Parameters
    ----------
    uri : str
        Tracking URI.
    experiment : str
        Experiment name.
    metric : str, optional
        Sort key (best first). Default: the outcome's C index as logged -- ``cv_cindex_uno``
        (``test_cindex_uno`` for a holdout scheme), or ``cv_cindex_wolbers`` /
        ``test_cindex_wolbers`` for a competing-risks run (parent tag ``outcome_kind: cif``).

    Returns
    -------
    board : pandas.DataFrame
        One row per model: ``model``, ``run_id``, each metric with ``_lo``/``_hi``.
    facts : dict
        The parent run: ``run_id``, ``run_name``, ``best_model``, ``registered_alias``,
        ``data_fingerprint``, ``metric`` (the sort key used); ``newest_unfinished`` is None,
        or, when the newest train run did not finish (failed, killed, still running, process
        gone), its ``run_id``, ``run_name``, ``state`` (:func:`mmrisk.tracking.run_state`)
        and ``description``.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the experiment has no finished train run (the message says what the newest did).
    """
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise MMRiskError(f"no experiment {experiment!r} in {uri}; run `mmrisk train` first")
    parent, unfinished = _latest_finished_train(client, exp.experiment_id, experiment)
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
    metric = metric or _default_metric(parent, board)
    if metric not in board.columns:
        known = sorted(c for c in board.columns if c.startswith(("cv_", "test_"))
                       and not c.endswith(("_lo", "_hi")))
        raise MMRiskError(f"metric {metric!r} was not logged; logged: {', '.join(known)}")
    board = board.sort_values(metric, ascending=lower_is_better(metric)).reset_index(drop=True)
    facts = {"run_id": parent.info.run_id, "run_name": parent.info.run_name,
             "best_model": parent.data.tags.get("best_model"),
             "registered_alias": parent.data.tags.get("registered_alias"),
             "data_fingerprint": parent.data.tags.get("data_fingerprint"),
             "metric": metric, "newest_unfinished": unfinished}
    return board, facts


def _latest_finished_train(client: MlflowClient, exp_id: str, experiment: str
                           ) -> tuple[Any, dict | None]:
    """The newest FINISHED train run, and the newest train run when that one did not finish."""
    from mmrisk.tracking._runs import describe_state, run_state

    query = f"tags.`{RUN_TYPE_TAG}` = 'train'"
    newest = client.search_runs([exp_id], query, order_by=["attributes.start_time DESC"],
                                max_results=1)
    if not newest:
        raise MMRiskError(f"experiment {experiment!r} has no train run yet")
    if newest[0].info.status == "FINISHED":
        return newest[0], None
    state = run_state(newest[0])
    unfinished = {"run_id": newest[0].info.run_id, "run_name": newest[0].info.run_name,
                  "state": state, "description": describe_state(state)}
    finished = client.search_runs([exp_id], f"{query} and attributes.status = 'FINISHED'",
                                  order_by=["attributes.start_time DESC"], max_results=1)
    if not finished:
        raise MMRiskError(f"experiment {experiment!r} has no finished train run: the newest, "
                          f"{unfinished['run_name']} ({unfinished['run_id']}), "
                          f"{unfinished['description']}")
    return finished[0], unfinished


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
        ``data_fingerprint``, ``apparent_calibration``, ``development_data`` (evaluated on
        the model's own training data), ``n_patients``, ``n_events`` and every
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
               "development_data": tags.get("development_data") == "true",
               "n_patients": params.get("n_patients"), "n_events": params.get("n_events")}
        row.update(run.data.metrics)
        rows.append(row)
    return pd.DataFrame(rows)
