"""Four ``mmrisk train`` processes started at once against a new local store (issue 15).

Before the store was initialised under a lock, concurrent trains on a new SQLite store crashed
when MLflow created its tables twice (``table ... already exists``), and the champion gate
(read the champion, then move the alias) let two runs both become champion. Now every process
must finish, every run and version must be present, and the gate's decisions must be those of
a serial order: replaying the gate over the versions in version order (the order in which the
gate was passed) gives each version's recorded decision, what its process reported, and the
final champion.
"""

from __future__ import annotations

import re

import pytest
from concurrent_trains import launch, serial_gate, write_configs
from mlflow.tracking import MlflowClient

from mmrisk.registry import simulate_registry
from mmrisk.tracking import RUN_TYPE_TAG

pytestmark = pytest.mark.slow

EXPERIMENT, MODEL = "concurrent", "concurrent-model"


def check_concurrent_trains(uri: str, results: list[tuple[int, str]], n: int) -> None:
    """Every process finished; runs, versions and champion as a serial gate decides."""
    for rc, out in results:
        assert rc == 0, out[-4000:]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    parents = client.search_runs([exp.experiment_id], f"tags.`{RUN_TYPE_TAG}` = 'train'")
    assert len(parents) == n
    assert {p.info.status for p in parents} == {"FINISHED"}
    children = client.search_runs([exp.experiment_id], "tags.`mlflow.parentRunId` != ''")
    assert len(children) == n and {c.info.status for c in children} == {"FINISHED"}
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert sorted(int(v.version) for v in versions) == list(range(1, n + 1))
    assert {v.run_id for v in versions} == {c.info.run_id for c in children}

    decisions, champion = serial_gate(client, MODEL)
    assert {int(v.version): v.tags["mmrisk.gate"] for v in versions} == decisions
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == champion
    reported = {}
    for _, out in results:
        found = re.search(rf"Registered {MODEL} version (\d+) as (champion|challenger)", out)
        assert found, out[-2000:]
        reported[int(found.group(1))] = found.group(2)
    assert reported == decisions


def test_four_trains_at_once_on_a_new_local_store(tmp_path):
    data = tmp_path / "data"
    simulate_registry(data, n=250, seed=11)
    configs = write_configs(tmp_path, data, EXPERIMENT, MODEL, n=4)
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"  # does not exist yet
    results = launch(configs, uri, tmp_path)
    check_concurrent_trains(uri, results, 4)
