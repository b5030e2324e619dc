"""A train's store is also its registry, even when another registry was pinned before."""

from __future__ import annotations

import mlflow
from mlflow.tracking import MlflowClient

from mmrisk.tracking import setup_experiment


def test_setup_experiment_points_the_registry_at_its_store(tmp_path):
    other = f"sqlite:///{tmp_path}/other/mlflow.db"
    store = f"sqlite:///{tmp_path}/store/mlflow.db"
    setup_experiment(other, "first")
    mlflow.set_registry_uri(other)  # pinned, as a test or a notebook may leave it
    try:
        setup_experiment(store, "second")
        assert mlflow.get_registry_uri() == store
        MlflowClient().create_registered_model("lands-here")
        assert MlflowClient(tracking_uri=store, registry_uri=store).get_registered_model(
            "lands-here").name == "lands-here"
        assert not MlflowClient(tracking_uri=other, registry_uri=other
                                ).search_registered_models(filter_string="name='lands-here'")
    finally:
        mlflow.set_registry_uri(None)
