"""Scoring speed and memory of the prediction core, before/after in one run, outputs compared.

Usage::

    .venv/bin/python benchmarks/score.py                            # 1,000,000 rows, this code
    .venv/bin/python benchmarks/score.py --baseline-ref a3bc782     # + the code of another ref
    .venv/bin/python benchmarks/score.py --rows 200000 --baseline-ref a3bc782 --models coxnet rsf

Setup (not measured): the default synthetic registry (1,256 patients, seed 42) is simulated into
a temporary folder and ``mmrisk.workflows.train`` fits the default champion's configuration, the
elastic-net Cox ``coxnet`` of ``configs/default.yaml`` (``l1_ratio: 0.5``, the ``default``
feature pipeline, horizons 12/24/36/60), with a small validation (2 folds, no bootstrap) into a
temporary SQLite store; ``--models rsf`` adds the default forest (100 trees,
``min_samples_leaf=15``). Each fitted model and its metadata are pickled once, so that every
code version scores the very same fitted object. The feature rows of the cohort at the landmark
are resampled (with replacement) to ``--rows`` rows with fresh identifiers and written as
Parquet in row groups of ``--row-group`` rows.

Measured, each in a fresh process (its peak resident memory, ``ru_maxrss``, is its own; it
includes imports and the model), for every model:

- ``file``: the Parquet table read ``--chunk-size`` rows at a time, each chunk through
  ``predict_frame`` (row checks, risk score, risk group, survival at the horizons and, for
  ``coxnet``, ``reason_1..3``: exact linear SHAP against the training reference rows), the
  identifier put first, and the output appended to a Parquet file. The same loop runs with this
  checkout's code and, with ``--baseline-ref``, with the code of that git ref (checked out with
  ``git worktree add`` into a temporary folder and imported from its ``src``; before the
  prediction core existed the same function was ``mmrisk.scoring.score_frame``).
- ``workflow`` (this checkout only): ``mmrisk.workflows.score``, what ``mmrisk score`` runs:
  the same per chunk, plus drift accumulated, an atomic write and the drift report.

Seconds (wall clock) and CPU seconds (user + system, all threads) exclude imports and loading
the model; on a shared machine wall time above CPU time is time spent waiting for a core. Peak
RSS includes imports and the model. With ``--baseline-ref``
the two ``file`` outputs are compared: same columns in the same order, text columns equal,
``risk_score`` equal to 1e-12 (BLAS may change the last bit of a dot product between versions),
``surv_<h>m`` equal to 1e-12. The issue's goal: 1,000,000 rows of the champion, reasons on,
under 30 s end to end on 2 cores with bounded memory.
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

REPO = Path(__file__).resolve().parents[1]

CONFIG = """
name: bench-score
seed: 42
data: {{synthetic_dir: {data}, simulate_n: 1256, simulate_seed: 42}}
cohort: {{landmark: lm_start, endpoint: pfs}}
pipeline: default
baseline: null
models:
{models}
validation: {{n_splits: 2, n_repeats: 1, n_bootstrap: 0}}
horizons: [12, 24, 36, 60]
explain: {{n_samples: 0}}
tracking: {{experiment: bench-score, registered_model: bench-score}}
"""

MODELS = {
    "coxnet": "  coxnet: {kind: coxnet, params: {l1_ratio: 0.5}}",
    "rsf": "  rsf: {kind: rsf, params: {n_estimators: 100, min_samples_leaf: 15, "
           "max_features: sqrt, time_grid: 0.5}}",
}

SETUP = r"""
import json, pickle, sys, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from mmrisk.config import load_config
from mmrisk.workflows import train
from mmrisk.cohort import load_cohort
from mmrisk.tracking import load_model
args = json.loads(sys.argv[1])
cfg = load_config(args["config"])
res = train(cfg, tracking_uri=args["tracking_uri"])
for name, run_id in res.child_run_ids.items():
    loaded = load_model(f"runs:/{run_id}/model", args["tracking_uri"])
    with open(args["pickles"][name], "wb") as fh:
        pickle.dump({"estimator": loaded.estimator, "meta": loaded.meta}, fh)
X = load_cohort(cfg.data, cfg.cohort).X.reset_index(drop=True)
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
print(json.dumps(sorted(res.child_run_ids)))
"""

CHILD = r"""
import json, pickle, resource, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
args = json.loads(sys.argv[1])
if args["mem_limit_bytes"]:
    resource.setrlimit(resource.RLIMIT_AS, (args["mem_limit_bytes"],) * 2)
import pyarrow as pa, pyarrow.parquet as pq
try:
    from mmrisk.predict import predict_frame
except ImportError:  # before the prediction core: mmrisk.scoring
    from mmrisk.scoring import score_frame as predict_frame
with open(args["model"], "rb") as fh:
    model = pickle.load(fh)
if args["path"] == "workflow":
    from mmrisk.tracking import LoadedModel
    from mmrisk.workflows import score
    loaded = LoadedModel(uri=args["model"], estimator=model["estimator"], meta=model["meta"],
                         pyfunc=None)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()
n = 0
if args["path"] == "workflow":
    n = score(loaded, args["table"], args["out"], chunk_size=args["chunk_size"],
              reasons=args["reasons"]).n_rows
else:
    writer = None
    for batch in pq.ParquetFile(args["table"]).iter_batches(batch_size=args["chunk_size"]):
        df = batch.to_pandas()
        out = predict_frame(model["estimator"], model["meta"], df, reasons=args["reasons"])
        out.insert(0, "patient_id", df["patient_id"].astype(str).to_numpy())
        table = pa.Table.from_pandas(out, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(args["out"], table.schema)
        writer.write_table(table.cast(writer.schema))
        n += len(out)
    writer.close()
seconds, cpu_seconds = time.perf_counter() - t, cpu() - c
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": n, "seconds": seconds, "cpu_seconds": cpu_seconds,
                  "peak_rss_mb": rss_kb / 1024}))
"""

COMPARE = r"""
import json, sys
import numpy as np, pandas as pd
args = json.loads(sys.argv[1])
a, b = pd.read_parquet(args["baseline"]), pd.read_parquet(args["current"])
problems = []
if list(a.columns) != list(b.columns):
    problems.append(f"columns differ: {list(a.columns)} vs {list(b.columns)}")
elif len(a) != len(b):
    problems.append(f"rows differ: {len(a)} vs {len(b)}")
else:
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            xv, yv = x.to_numpy(), y.to_numpy()
            if not np.array_equal(np.isnan(xv), np.isnan(yv)):
                problems.append(f"{col}: missing in different rows")
                continue
            diff = float(np.nanmax(np.abs(xv - yv))) if len(xv) else 0.0
            if not diff <= 1e-12:
                problems.append(f"{col}: max |difference| {diff:.3g} > 1e-12")
        elif not x.astype(object).equals(y.astype(object)):
            n_bad = int((x.astype(object) != y.astype(object)).sum())
            problems.append(f"{col}: {n_bad} rows differ")
print(json.dumps({"rows": len(b), "columns": len(b.columns), "problems": problems}))
"""


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONWARNINGS": "ignore"}


def _run(code: str, args: dict, src: Path) -> dict | list:
    res = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True,
                         text=True, env=_env(src))
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"error": last[:200]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def setup(work: Path, names: list[str], rows: int, row_group: int) -> tuple[dict, Path]:
    """Train the models and write the table to score; returns (model pickles, table)."""
    cfg = work / "bench.yaml"
    cfg.write_text(CONFIG.format(data=work / "registry",
                                 models="\n".join(MODELS[n] for n in names)))
    pickles = {n: str(work / f"{n}.pkl") for n in names}
    table = work / "table.parquet"
    done = _run(SETUP, {"config": str(cfg), "tracking_uri": f"sqlite:///{work}/store/mlflow.db",
                        "rows": rows, "row_group": row_group, "table": str(table),
                        "pickles": pickles}, REPO / "src")
    if isinstance(done, dict):
        raise SystemExit(f"setup failed: {done['error']}")
    return pickles, table


def checkout(ref: str, work: Path) -> Path:
    """``git worktree add`` of ``ref`` (detached) under ``work``; returns its ``src``."""
    where = work / "baseline"
    res = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), ref],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"git worktree add {ref} failed: {res.stderr.strip()}")
    return where / "src"


def _line(label: str, name: str, reasons: bool, r: dict) -> str:
    if "error" in r:
        return f"{name:<8} {str(reasons):<8} {label:<22} failed: {r['error']}"
    return (f"{name:<8} {str(reasons):<8} {label:<22} {r['rows']:>10,} {r['seconds']:>9.1f} "
            f"{r['cpu_seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} "
            f"{r['peak_rss_mb']:>14,.0f}")


def _measure_model(name: str, model: str, table: Path, versions: dict[str, Path],
                   args: argparse.Namespace, work: Path) -> None:
    reasons = name == "coxnet"
    outs = {}
    for label, src in versions.items():
        out = work / f"out-{name}-{label}.parquet"
        r = _run(CHILD, {"model": model, "table": str(table), "path": "file", "out": str(out),
                         "reasons": reasons, "chunk_size": args.chunk_size,
                         "mem_limit_bytes": int(args.mem_limit_gb * 2**30)}, src)
        print(_line(f"file ({label})", name, reasons, r), flush=True)
        outs[label] = (out, r)
    if not args.no_workflow:
        out = work / f"out-{name}-workflow.parquet"
        r = _run(CHILD, {"model": model, "table": str(table), "path": "workflow",
                         "out": str(out), "reasons": reasons, "chunk_size": args.chunk_size,
                         "mem_limit_bytes": int(args.mem_limit_gb * 2**30)}, REPO / "src")
        print(_line("workflow (this code)", name, reasons, r), flush=True)
    if "baseline" not in outs:
        return
    (base_out, b), (cur_out, c) = outs["baseline"], outs["this code"]
    if "error" in b or "error" in c:
        return
    print(f"{name:<8} this code vs baseline: x{b['seconds'] / c['seconds']:.1f} faster, "
          f"peak RSS x{c['peak_rss_mb'] / b['peak_rss_mb']:.2f}", flush=True)
    cmp = _run(COMPARE, {"baseline": str(base_out), "current": str(cur_out)}, REPO / "src")
    if "error" in cmp:
        print(f"{name:<8} comparison failed: {cmp['error']}")
    elif cmp["problems"]:
        print(f"{name:<8} outputs DIFFER: " + "; ".join(cmp["problems"]))
    else:
        print(f"{name:<8} outputs identical: {cmp['rows']:,} rows x {cmp['columns']} columns "
              "(text equal, numbers to 1e-12)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--row-group", type=int, default=50_000)
    ap.add_argument("--models", nargs="+", default=["coxnet"], choices=sorted(MODELS))
    ap.add_argument("--baseline-ref", default=None,
                    help="also measure the code of this git ref (e.g. a3bc782) and compare outputs")
    ap.add_argument("--no-workflow", action="store_true",
                    help="skip the mmrisk.workflows.score measurement")
    ap.add_argument("--mem-limit-gb", type=float, default=16.0,
                    help="address-space limit of each measured process (0: none)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        pickles, table = setup(work, args.models, args.rows, args.row_group)
        versions = {"this code": REPO / "src"}
        if args.baseline_ref:
            versions = {"baseline": checkout(args.baseline_ref, work), **versions}
        size_mb = table.stat().st_size / 2**20
        print(f"setup: trained {', '.join(pickles)} and wrote {args.rows:,} rows "
              f"({size_mb:,.0f} MB Parquet) in {time.perf_counter() - t:.0f} s"
              + (f"; baseline = {args.baseline_ref}" if args.baseline_ref else ""), flush=True)
        print(f"{'model':<8} {'reasons':<8} {'path (code)':<22} {'rows':>10} {'seconds':>9} "
              f"{'CPU s':>8} {'rows/s':>9} {'peak RSS (MB)':>14}", flush=True)
        try:
            for name in args.models:
                _measure_model(name, pickles[name], table, versions, args, work)
        finally:
            if args.baseline_ref:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                                str(work / "baseline")], capture_output=True)


if __name__ == "__main__":
    main()
