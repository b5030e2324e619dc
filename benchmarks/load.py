"""How long a fresh process takes to load a logged mmrisk model, against its floor.

Usage::

    .venv/bin/python benchmarks/load.py --model models:/mmrisk-pfs-on-lm@champion \
        [--tracking-uri sqlite:///mlruns/mlflow.db] [--repeats 3]

Two fresh interpreters, alternated ``--repeats`` times (best of each reported, same run):

- ``load``: ``mlflow.pyfunc.load_model(URI)``, what every ``mmrisk score``, Spark executor and
  REST worker pays;
- ``floor``: ``import mlflow.pyfunc, sksurv.linear_model, sksurv.ensemble, sklearn.pipeline``:
  the libraries any scikit-survival model served by MLflow needs.

For ``load`` it also lists which mmrisk modules were imported and checks that none of the
registry, cohort, evaluation, report or workflow modules, and no matplotlib, were.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

LOAD = r"""
import sys, time, json, os
t = time.perf_counter()
import mlflow
mlflow.set_tracking_uri(os.environ["URI"]); mlflow.set_registry_uri(os.environ["URI"])
import mlflow.pyfunc
m = mlflow.pyfunc.load_model(os.environ["MODEL"])
dt = time.perf_counter() - t
mods = sorted(k for k in sys.modules if k == "mmrisk" or k.startswith("mmrisk."))
print(json.dumps({"seconds": dt, "mmrisk_modules": mods,
                  "matplotlib": "matplotlib" in sys.modules, "n_modules": len(sys.modules)}))
"""
FLOOR = r"""
import sys, time, json
t = time.perf_counter()
import mlflow.pyfunc, sksurv.linear_model, sksurv.ensemble, sklearn.pipeline
print(json.dumps({"seconds": time.perf_counter() - t, "n_modules": len(sys.modules)}))
"""
FORBIDDEN = ("mmrisk.registry", "mmrisk.cohort", "mmrisk.evaluation", "mmrisk.report",
             "mmrisk.workflows", "mmrisk.cli")


def _run(code: str, env: dict[str, str]) -> dict:
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure and print the two timings, their ratio and the imported mmrisk modules."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models:/mmrisk-pfs-on-lm@champion")
    ap.add_argument("--tracking-uri", default="sqlite:///mlruns/mlflow.db")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    env = {"URI": args.tracking_uri, "MODEL": args.model}
    loads, floors, last = [], [], {}
    for _ in range(args.repeats):
        last = _run(LOAD, env)
        loads.append(last["seconds"])
        floors.append(_run(FLOOR, env)["seconds"])
        time.sleep(0.5)
    bad = [m for m in last["mmrisk_modules"] if m.startswith(FORBIDDEN)]
    print(f"load_model  best {min(loads):6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in loads)})")
    print(f"floor       best {min(floors):6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in floors)})")
    print(f"ratio       {min(loads) / min(floors):.2f}x  (target <= 1.3x)")
    print(f"mmrisk modules imported: {len(last['mmrisk_modules'])}; matplotlib imported: "
          f"{last['matplotlib']}; forbidden: {bad or 'none'}")
    print("  " + ", ".join(last["mmrisk_modules"]))


if __name__ == "__main__":
    main()
