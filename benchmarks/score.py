"""Chunked scoring (``mmrisk.workflows.score``) vs loading everything and calling the model once.

Usage::

    .venv/bin/python benchmarks/score.py                       # 1,000,000 rows, coxnet and rsf
    .venv/bin/python benchmarks/score.py --rows 200000 --models coxnet
    .venv/bin/python benchmarks/score.py --rsf-reasons-rows 2000   # + TreeSHAP cost per row

Setup (not measured): the default synthetic registry (1,256 patients, seed 42) is simulated into
a temporary folder, and ``mmrisk.tracking.train`` fits a ``coxnet`` (elastic-net Cox) and an
``rsf`` (100 trees, ``min_samples_leaf=15`` as in ``configs/default.yaml``) with a small
validation into a temporary SQLite store. The feature rows of the cohort at the landmark are
resampled (with replacement) to ``--rows`` rows with fresh identifiers and written as Parquet in
row groups of ``--row-group`` rows.

Measured, each in a fresh process so that its peak resident memory (``ru_maxrss``) is its own,
for every model:

- ``chunked``: ``score(model, table.parquet, out.parquet, chunk_size=...)``: row checks,
  scores, survival at 4 horizons, risk groups, reasons (SHAP) if on, drift accumulated, output
  written as it goes (temporary file, then renamed), drift report.
- ``one-shot``: ``pd.read_parquet`` of the whole table, one ``score_frame`` call on all rows
  (the same checks, scores and reasons, no drift), ``to_parquet``.

Seconds exclude imports and model loading (the same for both); peak RSS includes them.
Reasons are on for ``coxnet`` (exact linear SHAP) and off for ``rsf`` by default: exact TreeSHAP
of a 100-tree forest costs milliseconds per row (``--rsf-reasons-rows`` measures it).
Goal (issue): peak memory under 4 GB at 1,000,000 rows, and the chunked path no slower.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
name: bench-score
seed: 42
data: {{synthetic_dir: {data}, simulate_n: 1256, simulate_seed: 42}}
cohort: {{landmark: lm_start, endpoint: pfs}}
baseline: null
models:
  coxnet: {{kind: coxnet, params: {{l1_ratio: 0.5}}}}
  rsf: {{kind: rsf, params: {{n_estimators: 100, min_samples_leaf: 15, max_features: sqrt}}}}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: [12, 24, 36, 60]
explain: {{n_samples: 0}}
tracking: {{experiment: bench-score, registered_model: bench-score}}
"""

SETUP = r"""
import json, sys
from pathlib import Path
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
from mmrisk.config import load_config
from mmrisk.workflows import train
from mmrisk.cohort import load_cohort
args = json.loads(sys.argv[1])
cfg = load_config(args["config"])
res = train(cfg, tracking_uri=args["tracking_uri"])
cohort = load_cohort(cfg.data, cfg.cohort)
X = cohort.X.reset_index(drop=True)
rng = np.random.default_rng(0)
writer = None
for lo in range(0, args["rows"], args["row_group"]):
    n = min(args["row_group"], args["rows"] - lo)
    part = X.iloc[rng.integers(0, len(X), size=n)].reset_index(drop=True)
    part.insert(0, "patient_id", [f"B{i:07d}" for i in range(lo, lo + n)])
    table = pa.Table.from_pandas(part, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(args["table"], table.schema)
    writer.write_table(table.cast(writer.schema))
writer.close()
print(json.dumps({k: f"runs:/{v}/model" for k, v in res.child_run_ids.items()}))
"""

CHILD = r"""
import json, resource, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
args = json.loads(sys.argv[1])
if args["mem_limit_bytes"]:
    resource.setrlimit(resource.RLIMIT_AS, (args["mem_limit_bytes"],) * 2)
import mlflow
import pandas as pd
from mmrisk.predict import predict_frame as score_frame
from mmrisk.workflows import score
from mmrisk.tracking import load_model
mlflow.set_tracking_uri(args["tracking_uri"])
loaded = load_model(args["model"])
t = time.perf_counter()
if args["path"] == "chunked":
    res = score(loaded, args["table"], args["out"], chunk_size=args["chunk_size"],
                reasons=args["reasons"])
    n = res.n_rows
else:
    df = pd.read_parquet(args["table"])
    if args.get("head"):
        df = df.head(args["head"])
    out = score_frame(loaded.estimator, loaded.meta, df, reasons=args["reasons"])
    out.insert(0, "patient_id", df["patient_id"].astype(str).to_numpy())
    out.to_parquet(args["out"], index=False)
    n = len(out)
seconds = time.perf_counter() - t
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": n, "seconds": seconds, "peak_rss_mb": rss_kb / 1024}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONWARNINGS": "ignore"}


def _run(code: str, args: dict) -> dict:
    res = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True,
                         text=True, env=_env())
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"error": last[:160]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def setup(work: Path, rows: int, row_group: int) -> tuple[str, dict[str, str], Path]:
    """Train the models and write the table to score; returns (store URI, model URIs, table)."""
    cfg = work / "bench.yaml"
    cfg.write_text(CONFIG.format(data=work / "registry"))
    uri = f"sqlite:///{work}/store/mlflow.db"
    table = work / "table.parquet"
    models = _run(SETUP, {"config": str(cfg), "tracking_uri": uri, "rows": rows,
                          "row_group": row_group, "table": str(table)})
    if "error" in models:
        raise SystemExit(f"setup failed: {models['error']}")
    return uri, models, table


def measure(uri: str, model: str, table: Path, path: str, *, reasons: bool, chunk_size: int,
            work: Path, mem_limit_gb: float, head: int | None = None) -> dict:
    out = work / f"out-{path}.parquet"
    r = _run(CHILD, {"tracking_uri": uri, "model": model, "table": str(table), "path": path,
                     "out": str(out), "reasons": reasons, "chunk_size": chunk_size,
                     "head": head, "mem_limit_bytes": int(mem_limit_gb * 2**30)})
    out.unlink(missing_ok=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--row-group", type=int, default=50_000)
    ap.add_argument("--models", nargs="+", default=["coxnet", "rsf"], choices=["coxnet", "rsf"])
    ap.add_argument("--rsf-reasons-rows", type=int, default=0,
                    help="also time rsf with reasons (TreeSHAP) on this many rows, one-shot")
    ap.add_argument("--mem-limit-gb", type=float, default=16.0,
                    help="address-space limit of each measured process (0: none), so that an "
                         "oversized one-shot run fails with MemoryError on a shared machine")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        uri, models, table = setup(work, args.rows, args.row_group)
        size_mb = table.stat().st_size / 2**20
        print(f"setup: trained {', '.join(models)} and wrote {args.rows:,} rows "
              f"({size_mb:,.0f} MB Parquet) in {time.perf_counter() - t:.0f} s", flush=True)
        print(f"{'model':<8} {'reasons':<8} {'path':<9} {'rows':>10} {'seconds':>9} "
              f"{'rows/s':>9} {'peak RSS (MB)':>14}", flush=True)
        for name in args.models:
            reasons = name == "coxnet"
            res = {path: measure(uri, models[name], table, path, reasons=reasons,
                                 chunk_size=args.chunk_size, work=work,
                                 mem_limit_gb=args.mem_limit_gb)
                   for path in ("chunked", "one-shot")}
            for path, r in res.items():
                if "error" in r:
                    print(f"{name:<8} {str(reasons):<8} {path:<9} failed: {r['error']}")
                    continue
                print(f"{name:<8} {str(reasons):<8} {path:<9} {r['rows']:>10,} "
                      f"{r['seconds']:>9.1f} {r['rows'] / r['seconds']:>9,.0f} "
                      f"{r['peak_rss_mb']:>14,.0f}", flush=True)
            c, o = res["chunked"], res["one-shot"]
            if "error" not in c and "error" not in o:
                print(f"{name:<8} chunked / one-shot: time x{c['seconds'] / o['seconds']:.2f}, "
                      f"peak RSS x{c['peak_rss_mb'] / o['peak_rss_mb']:.2f}", flush=True)
            if "error" not in c:
                print(f"{name:<8} chunked peak RSS < 4096 MB: "
                      f"{'met' if c['peak_rss_mb'] < 4096 else 'MISSED'}", flush=True)
        if args.rsf_reasons_rows and "rsf" in models:
            with_r, without = (measure(uri, models["rsf"], table, "one-shot", reasons=flag,
                                       chunk_size=args.chunk_size, work=work,
                                       mem_limit_gb=args.mem_limit_gb,
                                       head=args.rsf_reasons_rows) for flag in (True, False))
            per_row = (with_r["seconds"] - without["seconds"]) / with_r["rows"] * 1000
            print(f"rsf reasons (TreeSHAP) on {with_r['rows']:,} rows: {with_r['seconds']:.1f} s "
                  f"with, {without['seconds']:.1f} s without: {per_row:.2f} ms per row",
                  flush=True)

if __name__ == "__main__":
    main()
