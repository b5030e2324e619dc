"""N ``mmrisk train`` processes started at once against one store, and what a serial order of
the champion gate would have decided.

Every config trains one model on the same synthetic extract (so the same data fingerprint),
different model kinds or penalties, so the selection metrics differ and the gate has to choose.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

__all__ = ["MODELS", "launch", "serial_gate", "write_configs"]

METRIC = "cv_cindex_uno"

#: One model per config (kind and params): four different fits of the same data.
MODELS = (
    ("cox", "{kind: cox}"),
    ("staging", "{kind: staging}"),
    ("coxnet", "{kind: coxnet, params: {l1_ratio: 0.9}}"),
    ("ridge", "{kind: coxnet, params: {l1_ratio: 0.05}}"),
)

CONFIG = """
name: concurrent-{name}
seed: 7
data: {{synthetic_dir: {data}, simulate_n: 250, simulate_seed: 11}}
cohort: {{landmark: lm_start, endpoint: pfs}}
baseline: null
models:
  {name}: {spec}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: [12, 24]
explain: {{n_samples: 0}}
tracking: {{experiment: {experiment}, registered_model: {model}, select_metric: {metric}}}
"""


def write_configs(folder: Path, data: Path, experiment: str, model: str, n: int = 4
                  ) -> list[Path]:
    """Write ``n`` configs (one model each, see :data:`MODELS`) into ``folder``."""
    paths = []
    for name, spec in MODELS[:n]:
        path = folder / f"{name}.yaml"
        path.write_text(CONFIG.format(name=name, spec=spec, data=data, experiment=experiment,
                                      model=model, metric=METRIC))
        paths.append(path)
    return paths


def _cli() -> list[str]:
    return [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')"]


def launch(configs: list[Path], tracking_uri: str, logs: Path, timeout: float = 900
           ) -> list[tuple[int, str]]:
    """Start one ``mmrisk train`` per config at once; wait for all; (exit code, output) each."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MMRISK_LOG_FILE=str(logs / "libraries.log"), MLFLOW_DISABLE_TELEMETRY="true",
               DO_NOT_TRACK="true", COLUMNS="200")
    procs = []
    for cfg in configs:
        out = open(logs / f"{cfg.stem}.out", "wb")  # noqa: SIM115 - closed below
        procs.append((out, subprocess.Popen(
            [*_cli(), "train", "--config", str(cfg), "--tracking-uri", tracking_uri],
            stdout=out, stderr=subprocess.STDOUT, env=env)))
    results = []
    for out, proc in procs:
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        out.close()
        results.append((rc, Path(out.name).read_text(errors="replace")))
    return results


def serial_gate(client: MlflowClient, model: str) -> tuple[dict[int, str], int]:
    """Replay the champion gate over the registered versions in version order.

    The gate registers under a lock, so version numbers are the order in which it was passed:
    a version becomes champion when there is none, or when it beats the champion's value on the
    same data fingerprint (strictly; ``nan`` never wins).

    Returns
    -------
    decisions : dict of int to str
        Version → ``champion`` or ``challenger``, as the serial order decides.
    champion : int
        The version that holds the alias at the end.
    """
    versions = sorted(client.search_model_versions(f"name = '{model}'"),
                      key=lambda v: int(v.version))
    decisions: dict[int, str] = {}
    champion = None
    for v in versions:
        value = float(v.tags[METRIC])
        if champion is None:
            wins = True
        else:
            same = v.tags["data_fingerprint"] == champion.tags["data_fingerprint"]
            best = float(champion.tags[METRIC])
            wins = same and not math.isnan(value) and value > best
        decisions[int(v.version)] = "champion" if wins else "challenger"
        if wins:
            champion = v
    return decisions, int(champion.version)
