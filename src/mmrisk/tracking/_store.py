"""Where runs go: the tracking URI (explicit > MLFLOW_TRACKING_URI > config > local default)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow

__all__ = ["DEFAULT_TRACKING_URI", "artifact_root", "resolve_tracking_uri", "setup_experiment",
           "using_store"]

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def resolve_tracking_uri(explicit: str | None = None, configured: str | None = None) -> str:
    """The tracking URI in force.

    Parameters
    ----------
    explicit : str, optional
        ``--tracking-uri``: wins.
    configured : str, optional
        The config's ``tracking.tracking_uri``, used after ``MLFLOW_TRACKING_URI``.

    Returns
    -------
    str
        ``explicit``, else ``MLFLOW_TRACKING_URI``, else ``configured``, else
        ``sqlite:///mlruns/mlflow.db``.
    """
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or configured or DEFAULT_TRACKING_URI


def artifact_root(uri: str) -> str | None:
    """Where a store keeps artifacts when the server is given none.

    Parameters
    ----------
    uri : str
        Tracking URI.

    Returns
    -------
    str or None
        For a local SQLite store, the folder ``artifacts`` beside the database (a file URI);
        ``None`` for other stores (their own default).
    """
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def setup_experiment(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri`` and return the id of ``experiment`` (created if absent).

    Parameters
    ----------
    uri : str
        Tracking URI (a local SQLite store's folder is created).
    experiment : str
        Experiment name.

    Returns
    -------
    str
        The experiment id.
    """
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    exp_id = (found.experiment_id if found is not None
              else mlflow.create_experiment(experiment, artifact_location=artifact_root(uri)))
    mlflow.set_experiment(experiment_id=exp_id)  # nested (child) runs go here too
    return exp_id


@contextmanager
def using_store(uri: str) -> Iterator[str]:
    """Point MLflow's tracking and registry at ``uri`` for a block, then restore them.

    Parameters
    ----------
    uri : str
        Tracking URI (also used as the registry URI).

    Yields
    ------
    str
        ``uri``.
    """
    # MLflow keeps both URIs in module globals *and* in the MLFLOW_*_URI environment variables
    # (which child processes inherit): restore both, so that afterwards the registry follows
    # the tracking URI again unless it was pinned before.
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    old_tracking = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(old_tracking)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type] - None: follow the env/tracking
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
