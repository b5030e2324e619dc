"""One small trained job shared by the scoring tests: a registry extract, a tracking store with
registered models (champion = best by cv_cindex_uno), and the child runs of each model kind."""

from __future__ import annotations

import pytest

from mmrisk.config import load_config
from mmrisk.registry import simulate_registry
from mmrisk.workflows import train

CONFIG = """
name: scoring-tiny
seed: 5
data: {{synthetic_dir: {data}, simulate_n: 400, simulate_seed: 11}}
cohort: {{landmark: lm_start, endpoint: pfs}}
models:
  staging: {{kind: staging}}
  cox: {{kind: cox}}
  coxnet: {{kind: coxnet, params: {{l1_ratio: 0.5}}}}
  gbsa: {{kind: gbsa, params: {{n_estimators: 20, max_depth: 2}}}}
  rsf: {{kind: rsf, params: {{n_estimators: 10, min_samples_leaf: 15}}}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 10}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: scoring-tiny, registered_model: scoring-tiny}}
"""


@pytest.fixture(scope="session")
def trained_job(tmp_path_factory) -> dict:
    """Train once per test worker; returns paths, the store URI and model URIs.

    Keys: ``root``, ``data`` (the training extract), ``tracking_uri``, ``registered``
    (``models:/scoring-tiny@champion``), ``runs`` ({model name: ``runs:/<id>/model``} for
    every kind: staging, cox, coxnet, gbsa, rsf), ``result`` (the
    :class:`~mmrisk.tracking.TrainResult`).
    """
    root = tmp_path_factory.mktemp("scoring-job")
    data = root / "data"
    simulate_registry(data, n=400, seed=11)
    cfg_path = root / "tiny.yaml"
    cfg_path.write_text(CONFIG.format(data=data))
    uri = f"sqlite:///{root}/store/mlflow.db"
    result = train(load_config(cfg_path), tracking_uri=uri)
    return {"root": root, "data": data, "tracking_uri": uri,
            "registered": f"models:/{result.registered['name']}@{result.registered['alias']}",
            "runs": {k: f"runs:/{v}/model" for k, v in result.child_run_ids.items()},
            "result": result}


@pytest.fixture(scope="session")
def evaluated_job(trained_job, tmp_path_factory) -> dict:
    """The champion of :func:`trained_job` evaluated once on a new extract (another seed).

    Keys: ``extract`` (the evaluation extract), ``out`` (the evaluation's output folder),
    ``run_id`` (the evaluation run), ``result`` (the
    :class:`~mmrisk.workflows.EvaluationResult`).
    """
    from mmrisk.workflows import evaluate

    root = tmp_path_factory.mktemp("evaluated-job")
    simulate_registry(root / "extract", n=300, seed=23)
    res = evaluate(trained_job["registered"], root / "extract", root / "out", n_bootstrap=5,
                   tracking_uri=trained_job["tracking_uri"])
    return {"extract": root / "extract", "out": root / "out", "run_id": res.run_id,
            "result": res}
