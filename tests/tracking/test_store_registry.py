"""A train registers its model in its own store, whatever registry was pinned before.

MLflow keeps a pinned registry in a module global *and* in ``MLFLOW_REGISTRY_URI`` (which
``set_registry_uri(None)`` does not clear); a notebook or an earlier call may leave either.
"""

from __future__ import annotations

import os

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from mmrisk.config import load_config
from mmrisk.workflows import train

CONFIG = """
name: pinned
seed: 1
data: {{table: {table}, time: t, event: e}}
pipeline: passthrough
baseline: null
models:
  cox: {{kind: cox}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: [12]
explain: {{n_samples: 0}}
tracking: {{experiment: pinned, registered_model: pinned-model}}
"""


def test_train_registers_in_its_store_despite_a_pinned_registry(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    t = rng.exponential(30 / np.exp(0.7 * x))
    c = rng.uniform(5, 60, 200)
    pd.DataFrame({"x": x, "t": np.minimum(t, c).round(2), "e": (t <= c).astype(int)}).to_csv(
        tmp_path / "table.csv", index=False)
    (tmp_path / "c.yaml").write_text(CONFIG.format(table=tmp_path / "table.csv"))
    other = f"sqlite:///{tmp_path}/other/mlflow.db"
    store = f"sqlite:///{tmp_path}/store/mlflow.db"
    MlflowClient(tracking_uri=other, registry_uri=other).search_experiments()  # create it
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", other)
    mlflow.set_registry_uri(other)
    try:
        result = train(load_config(tmp_path / "c.yaml"), tracking_uri=store)
        pinned_after = (mlflow.get_registry_uri(), os.environ.get("MLFLOW_REGISTRY_URI"))
    finally:
        mlflow.set_registry_uri(None)
    assert result.registered["alias"] == "champion"
    here = MlflowClient(tracking_uri=store, registry_uri=store)
    assert str(here.get_model_version_by_alias("pinned-model", "champion").version) == "1"
    there = MlflowClient(tracking_uri=other, registry_uri=other)
    assert not there.search_registered_models(filter_string="name='pinned-model'")
    assert pinned_after == (other, other)  # the caller's pin is left as it was
