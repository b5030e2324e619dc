"""Child runs prepared in parallel worker processes log what a serial train logs."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mmrisk.config import load_config
from mmrisk.registry import simulate_registry
from mmrisk.workflows import train

CONFIG = """
name: parallel
baseline: cox
seed: 4
data: {{synthetic_dir: {data}, simulate_n: 300, simulate_seed: 3}}
cohort: {{landmark: lm_start, endpoint: pfs}}
models:
  cox: {{kind: cox}}
  xgb: {{kind: xgb_cox, params: {{n_estimators: 20, max_depth: 2, n_jobs: 1}}}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 5}}
horizons: [12, 24]
explain: {{n_samples: 10}}
tracking: {{experiment: parallel, registered_model: parallel-model}}
"""


def _artifacts(client: MlflowClient, run_id: str, path: str = "") -> list[str]:
    out = []
    for item in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(out)


@pytest.fixture(scope="module")
def two_trains(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel")
    simulate_registry(root / "data", n=300, seed=3)
    (root / "c.yaml").write_text(CONFIG.format(data=root / "data"))
    results = {}
    for jobs in ("1", "2"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MMRISK_N_JOBS", jobs)
            uri = f"sqlite:///{root}/store{jobs}/mlflow.db"
            results[jobs] = (train(load_config(root / "c.yaml"), tracking_uri=uri), uri)
    return results


def test_same_child_runs_serial_and_parallel(two_trains, tmp_path):
    (serial, uri1), (parallel, uri2) = two_trains["1"], two_trains["2"]
    assert list(serial.child_run_ids) == list(parallel.child_run_ids) == ["cox", "xgb"]
    c1, c2 = MlflowClient(uri1), MlflowClient(uri2)
    for name in serial.child_run_ids:
        r1, r2 = serial.child_run_ids[name], parallel.child_run_ids[name]
        files = _artifacts(c1, r1)
        assert files == _artifacts(c2, r2)
        assert "decision_curve.csv" in files and "figures/permutation_importance.png" in files
        assert "shap/global_importance.csv" in files
        m1, m2 = c1.get_run(r1).data, c2.get_run(r2).data
        # The pickle's size depends on which equal strings share one object (pickle's memo),
        # which differs in a worker process; everything else is equal.
        size1, size2 = m1.metrics.pop("model_size_bytes"), m2.metrics.pop("model_size_bytes")
        assert abs(size1 - size2) <= 0.05 * size1
        assert m1.metrics == m2.metrics and m1.params == m2.params
        for table in ("decision_curve.csv", "shap/global_importance.csv") + (
                ("hazard_ratios.csv",) if name == "cox" else ()):
            a = pd.read_csv(c1.download_artifacts(r1, table, str(tmp_path / "a" / name)))
            b = pd.read_csv(c2.download_artifacts(r2, table, str(tmp_path / "b" / name)))
            pd.testing.assert_frame_equal(a, b)
    assert str(serial.registered["version"]) == str(parallel.registered["version"]) == "1"


def test_parallel_models_score_like_serial(two_trains):
    (serial, uri1), (parallel, uri2) = two_trains["1"], two_trains["2"]
    preds = []
    for result, uri in ((serial, uri1), (parallel, uri2)):
        mlflow.set_tracking_uri(uri)
        model = mlflow.pyfunc.load_model(f"runs:/{result.child_run_ids['xgb']}/model")
        example = model.input_example
        preds.append(model.predict(example))
    pd.testing.assert_frame_equal(preds[0], preds[1])
