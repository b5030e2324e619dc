"""Wall time and peak memory of the train job and of each model's single fit, by cohort size.

Usage::

    .venv/bin/python benchmarks/train.py                      # 1,256 and 10,000 patients
    .venv/bin/python benchmarks/train.py --sizes 1256 10000 50000   # and a 50,000 registry
    .venv/bin/python benchmarks/train.py --stages fit --models gbsa xgb_cox   # boosting only
    .venv/bin/python benchmarks/train.py --sizes 50000 --force-train   # the full job at 50,000

For each size a synthetic registry (``simulate_registry``, seed 42) is written to a temporary
folder (not measured), then every measurement runs in a fresh Python process so that its peak
resident memory belongs to that measurement alone:

- ``cohort``: read the extract and build the cohort of the config (``load_cohort``). Every fit
  process does the same (not timed) before its fit.
- ``train``: the training stage of ``make run``, i.e. ``mmrisk train --config
  configs/default.yaml`` (``mmrisk.workflows.train``: cohort, 5 x 2 cross-validation of every
  model, 200 bootstrap replicates, MLflow runs with figures and pyfunc models, registry) into a
  temporary SQLite store. Above ``--full-train-max`` patients (default 10,000) it is skipped
  unless ``--force-train``: it cross-validates every model 10 times and logs large forests.
- ``fit``: one row per model of the config, plus the catalogue kinds of ``--extra-kinds``
  (default ``xgb_cox``, fitted with the hyperparameters it shares with the config's ``gbsa``:
  trees, learning rate, depth, subsample; so the two boosting implementations are compared
  like for like). Each is built with ``make_model`` exactly as the train job builds it and
  fitted once on a fixed 70% of the cohort (event-stratified, seeded by the config's seed; the
  same rows for every model); ``test C`` is Harrell's C of its risk score on the other 30%.

Columns: the cohort's number of patients; wall seconds of the measured step (imports, and for
fits the cohort build, excluded), and for fits of a pipeline the seconds of its model step alone
(the rest is the feature pipeline's fit, the same for every model on the default pipeline); peak
RSS during the step (the process's peak resident memory,
reset just before the step via /proc/self/clear_refs, so it includes what was already resident)
and the RSS when the step started (after imports, and for fits the cohort); Harrell's C on the
30% test part (fits only).

Each process runs under an address-space limit (``--mem-limit-gb``, default 8) so that an
oversized fit (a ``low_memory=False`` forest stores nodes x unique times per tree) fails with
MemoryError instead of exhausting a shared machine.
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

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
t_start = time.perf_counter()
args = json.loads(sys.argv[1])
if args["mem_limit_bytes"]:
    lim = args["mem_limit_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

import warnings
warnings.simplefilter("ignore")
import psutil
from sklearn.base import clone
from mmrisk.cohort import load_cohort
from mmrisk.config import load_config
from mmrisk.models import make_model

def rss_mb():
    return psutil.Process().memory_info().rss / 2**20

def reset_peak():
    # Linux >= 4.0: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS, so
    # the peak read afterwards is that of the measured step (imports and cohort included as
    # far as they are still resident, see rss_start_mb).
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

def peak_mb(reset):
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if reset:
        with open("/proc/self/status") as fh:
            hwm_kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))
    else:  # the process's peak since it started
        hwm_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(hwm_kb, children_kb) / 1024

cfg = load_config(args["config"])
out = {"import_s": time.perf_counter() - t_start}
reset = False
try:
    if args["stage"] == "train":
        from mmrisk.workflows import train
        out["rss_start_mb"] = rss_mb()
        reset = reset_peak()
        t = time.perf_counter()
        result = train(cfg, tracking_uri=args["tracking_uri"], extract_path=args["extract"])
        out["seconds"] = time.perf_counter() - t
        out["n"] = int(len(result.cv.predictions["row"].unique()))
    else:
        out["rss_start_mb"] = rss_mb()
        reset = reset_peak()
        t = time.perf_counter()
        cohort = load_cohort(cfg.data, cfg.cohort, args["extract"])
        X, y = cohort.X, cohort.y
        out["n"] = len(X)
        if args["stage"] == "cohort":
            out["seconds"] = time.perf_counter() - t
        else:
            import numpy as np
            from sklearn.model_selection import train_test_split
            from sksurv.metrics import concordance_index_censored

            spec = args["model"]
            model = make_model(
                spec["kind"],
                pipeline=spec["pipeline"] or (None if spec["kind"] == "staging"
                                              else cfg.pipeline),
                params=spec["params"], grid=spec["grid"], inner_cv=cfg.validation.inner_cv,
                seed=cfg.seed)
            train_rows, test_rows = train_test_split(
                np.arange(len(X)), test_size=0.3, stratify=y["event"], random_state=cfg.seed)
            X_train, y_train = X.iloc[train_rows], y[train_rows]
            fitted = clone(model)
            out["rss_start_mb"] = rss_mb()
            reset = reset_peak()
            t = time.perf_counter()
            if hasattr(fitted, "steps"):  # what Pipeline.fit does, the model step timed alone
                Z = fitted[:-1].fit_transform(X_train, y_train)
                t_model = time.perf_counter()
                fitted.steps[-1][1].fit(Z, y_train)
                out["model_seconds"] = time.perf_counter() - t_model
            else:
                fitted.fit(X_train, y_train)
            out["seconds"] = time.perf_counter() - t
            y_test = y[test_rows]
            risk = fitted.predict(X.iloc[test_rows])
            out["test_c"] = float(concordance_index_censored(
                y_test["event"], y_test["time"], risk)[0])
except MemoryError:
    out["error"] = "MemoryError"
out["peak_rss_mb"] = peak_mb(reset)
out["peak_is_step"] = reset
print("RESULT " + json.dumps(out), flush=True)
"""

HEADER = (f"{'patients':>9}  {'stage / model':<14} {'cohort n':>9} {'wall s':>9} "
          f"{'model s':>8} {'peak RSS MB':>12} {'RSS at start MB':>16} {'test C':>7}  note")


def measure(stage: str, config: Path, extract: Path, workdir: Path,
            mem_limit_gb: float, model: dict | None = None) -> dict:
    """Run one stage in a fresh process (cwd: ``workdir``) and return its figures.

    ``model`` (``kind``, ``pipeline``, ``params``, ``grid``) is the model of a ``fit`` stage.
    """
    args = {"stage": stage, "config": str(config), "extract": str(extract), "model": model,
            "tracking_uri": f"sqlite:///{workdir}/store/mlflow.db",
            "mem_limit_bytes": int(mem_limit_gb * 2**30) if mem_limit_gb > 0 else 0}
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], cwd=workdir,
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        last = (res.stderr.strip().splitlines() or [""])[-1]
        why = ("killed (out of memory?)" if res.returncode in (-9, 137)
               else f"exit {res.returncode}: {last}")
        return {"error": why, "process_s": elapsed}
    r = json.loads(lines[-1].removeprefix("RESULT "))
    r["process_s"] = elapsed
    return r


def simulate(n: int, out: Path, seed: int) -> float:
    t = time.perf_counter()
    code = ("import sys; from mmrisk.registry import simulate_registry; "
            "simulate_registry(sys.argv[1], n=int(sys.argv[2]), seed=int(sys.argv[3]))")
    subprocess.run([sys.executable, "-c", code, str(out), str(n), str(seed)], check=True,
                   capture_output=True)
    return time.perf_counter() - t


def row(n: int, stage: str, r: dict, mem_limit_gb: float) -> str:
    note = "" if r.get("peak_is_step", True) else "peak since process start; "
    if "error" in r:
        note = (f"MemoryError above the {mem_limit_gb:g} GB limit (--mem-limit-gb)"
                if r["error"] == "MemoryError" else r["error"])
        if "seconds" not in r:
            note += f" after {r['process_s']:.0f} s"
    cohort_n = f"{r['n']:,}" if "n" in r else "—"
    wall = f"{r['seconds']:.1f}" if "seconds" in r else "—"
    peak = f"{r['peak_rss_mb']:,.0f}" if "peak_rss_mb" in r else "—"
    start = f"{r['rss_start_mb']:,.0f}" if "rss_start_mb" in r else "—"
    test_c = f"{r['test_c']:.3f}" if "test_c" in r else ""
    model_s = f"{r['model_seconds']:.2f}" if "model_seconds" in r else ""
    return (f"{n:>9,}  {stage:<14} {cohort_n:>9} {wall:>9} {model_s:>8} {peak:>12} {start:>16} "
            f"{test_c:>7}  {note}")


#: Hyperparameters of gbsa that mean the same for the XGBoost kinds.
SHARED_BOOSTING = ("n_estimators", "learning_rate", "max_depth", "subsample")


def model_specs(cfg, extra_kinds: list[str], xgb_threads: int | None) -> dict[str, dict]:
    """The config's models and the extra kinds, as ``name -> {kind, pipeline, params, grid}``.

    An extra kind takes the hyperparameters it shares with the config's ``gbsa`` (if any).
    """
    specs = {name: {"kind": m.kind, "pipeline": m.pipeline, "params": dict(m.params),
                    "grid": m.grid} for name, m in cfg.models.items()}
    gbsa = next((m for m in cfg.models.values() if m.kind == "gbsa"), None)
    for kind in extra_kinds:
        params = {k: v for k, v in (gbsa.params if gbsa else {}).items() if k in SHARED_BOOSTING}
        if kind.startswith("xgb_") and xgb_threads is not None:
            params["n_jobs"] = xgb_threads
        specs.setdefault(kind, {"kind": kind, "pipeline": None, "params": params, "grid": None})
    return specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1256, 10_000],
                    help="patients simulated per registry (add 50000 for a national registry)")
    ap.add_argument("--stages", nargs="+", choices=["cohort", "train", "fit"],
                    default=["cohort", "train", "fit"],
                    help="cohort build, the full train job, single fits of the models")
    ap.add_argument("--models", nargs="+", default=None,
                    help="models to fit: names in the config or of --extra-kinds "
                         "(default: all)")
    ap.add_argument("--extra-kinds", nargs="*", default=["xgb_cox"],
                    help="catalogue kinds fitted beside the config's models, with the "
                         "hyperparameters they share with the config's gbsa")
    ap.add_argument("--xgb-threads", type=int, default=None,
                    help="n_jobs of the XGBoost kinds (default: the catalogue's, 1)")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    ap.add_argument("--full-train-max", type=int, default=10_000,
                    help="largest size at which the full train job runs by default")
    ap.add_argument("--force-train", action="store_true",
                    help="run the full train job at every size, however large")
    ap.add_argument("--mem-limit-gb", type=float, default=8.0,
                    help="address-space limit per process (0: none)")
    ap.add_argument("--seed", type=int, default=42, help="seed of the simulated registry")
    args = ap.parse_args()

    from mmrisk.config import load_config

    config = args.config.resolve()
    cfg = load_config(config)
    specs = model_specs(cfg, args.extra_kinds, args.xgb_threads)
    models = args.models or list(specs)
    unknown = sorted(set(models) - set(specs))
    if unknown:
        ap.error(f"--models {', '.join(unknown)}: not in {config.name} or --extra-kinds "
                 f"({', '.join(specs)})")
    v = cfg.validation
    print(f"Config {config.name}: models {', '.join(cfg.models)}; {v.scheme} "
          f"{v.n_splits} x {v.n_repeats}, {v.n_bootstrap} bootstrap replicates; landmark "
          f"{cfg.cohort.landmark}, {cfg.cohort.endpoint}. {os.cpu_count()} CPU(s). Each row is "
          "a fresh process; wall s excludes imports (and, for fits, the cohort build); peak "
          "RSS is the process's during the step; fits use a fixed 70% of the cohort and "
          "test C is Harrell's C on the other 30%.")
    extra = [n for n in models if n not in cfg.models]
    if extra:
        print("Extra models: " + "; ".join(f"{n} {specs[n]['params']}" for n in extra))
    print(HEADER, flush=True)
    skipped = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"mmrisk-bench-{n}-") as tmp:
            tmp = Path(tmp)
            extract = tmp / "registry"
            sim_s = simulate(n, extract, args.seed)
            print(f"{'':>9}  (simulated {n:,} patients in {sim_s:.0f} s, not measured)",
                  flush=True)
            stages = []
            if "cohort" in args.stages:
                stages.append("cohort")
            if "train" in args.stages:
                run_train = n <= args.full_train_max or args.force_train
                stages.append("train" if run_train else "skip-train")
            if "fit" in args.stages:
                stages += models
            for stage in stages:
                if stage == "skip-train":
                    skipped.append(n)
                    print(f"{n:>9,}  {'train':<14} {'':>9} {'skipped':>9} {'':>8} {'':>12} "
                          f"{'':>16} {'':>7}  "
                          f"above --full-train-max {args.full_train_max:,}: use --force-train",
                          flush=True)
                    continue
                work = tmp / f"work-{stage}"
                work.mkdir()
                stage_arg = "fit" if stage in models else stage
                r = measure(stage_arg, config, extract, work, args.mem_limit_gb,
                            specs.get(stage) if stage in models else None)
                label = f"fit {stage}" if stage in models else stage
                print(row(n, label, r, args.mem_limit_gb), flush=True)
    if skipped:
        print(f"\nThe full train job was skipped at {', '.join(f'{n:,}' for n in skipped)} "
              f"patients (> --full-train-max {args.full_train_max:,}): it cross-validates "
              f"every model {v.n_splits * v.n_repeats} times and logs every model; the rows "
              "'fit <model>' show the cost of one fit. Run it with --force-train.")


if __name__ == "__main__":
    main()
