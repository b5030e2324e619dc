"""One small trained competing-risks job shared by the evaluate, REST and Spark tests.

A flat table simulated with known cause-specific hazards (exponential: progression
``0.03 exp(0.8 x1 + 0.6 x2)``, death without progression ``0.012 exp(0.7 x3)`` per month,
uniform censoring over 10-80 months), one ``cs_cox`` and one ``finegray`` model, a registered
champion (best by ``cv_cindex_wolbers``), and a second table from the same model (another seed)
whose outcomes a fixed model can be evaluated on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmrisk.config import load_config
from mmrisk.workflows import train

CONFIG = """
name: cr-shared
seed: 3
data: {{table: {table}, time: t, event: status, id_column: pid, competing_risks: true}}
pipeline: passthrough
baseline: null
models:
  cs_cox: {{kind: cs_cox}}
  finegray: {{kind: finegray}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 5}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: cr-shared, registered_model: cr-shared,
           select_metric: cv_cindex_wolbers}}
"""


def simulate_competing(n: int = 240, seed: int = 0, decimals: int = 3) -> pd.DataFrame:
    """A flat competing-risks table: ``pid, x1, x2, x3, t, status`` (0/1/2), times rounded."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=n), rng.binomial(1, 0.5, n), rng.normal(size=n)
    t1 = rng.exponential(1 / (0.03 * np.exp(0.8 * x1 + 0.6 * x2)))
    t2 = rng.exponential(1 / (0.012 * np.exp(0.7 * x3)))
    c = rng.uniform(10, 80, n)
    t = np.minimum.reduce([t1, t2, c])
    status = np.select([t == t1, t == t2], [1, 2], 0)
    return pd.DataFrame({"pid": [f"P{i:04d}" for i in range(n)], "x1": x1, "x2": x2, "x3": x3,
                         "t": np.round(t, decimals), "status": status})


@pytest.fixture(scope="session")
def cr_job(tmp_path_factory) -> dict:
    """Train once per test worker.

    Keys: ``root``, ``table`` and ``path`` (training table), ``new`` and ``new_path`` (300
    patients of another seed, times to 6 decimals so that none is tied, for evaluation),
    ``tracking_uri``, ``registered`` (``models:/cr-shared@champion``), ``runs`` ({model
    name: ``runs:/<id>/model``}), ``result`` (the train result).
    """
    root = tmp_path_factory.mktemp("cr-job")
    table, new = simulate_competing(240, seed=0), simulate_competing(300, seed=21, decimals=6)
    path, new_path = root / "table.csv", root / "new.csv"
    table.to_csv(path, index=False)
    new.to_csv(new_path, index=False)
    cfg_path = root / "cr.yaml"
    cfg_path.write_text(CONFIG.format(table=path))
    uri = f"sqlite:///{root}/store/mlflow.db"
    result = train(load_config(cfg_path), tracking_uri=uri)
    return {"root": root, "table": table, "path": path, "new": new, "new_path": new_path,
            "tracking_uri": uri,
            "registered": f"models:/{result.registered['name']}@{result.registered['alias']}",
            "runs": {k: f"runs:/{v}/model" for k, v in result.child_run_ids.items()},
            "result": result}
