"""Where runs go: the tracking URI (explicit > MLFLOW_TRACKING_URI > config > local default)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

__all__ = ["DEFAULT_TRACKING_URI", "resolve_tracking_uri", "setup_experiment"]

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"


def resolve_tracking_uri(explicit: str | None = None, configured: str | None = None) -> str:
    """The tracking URI in force: ``--tracking-uri``, then ``MLFLOW_TRACKING_URI``, then the
    config's ``tracking.tracking_uri``, then ``sqlite:///mlruns/mlflow.db``."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or configured or DEFAULT_TRACKING_URI


def _artifact_root(uri: str) -> str | None:
    """For a local SQLite store, artifacts go in a folder beside the database."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def setup_experiment(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri`` and return the id of ``experiment`` (created if absent)."""
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    exp_id = (found.experiment_id if found is not None
              else mlflow.create_experiment(experiment, artifact_location=_artifact_root(uri)))
    mlflow.set_experiment(experiment_id=exp_id)  # nested (child) runs go here too
    return exp_id
