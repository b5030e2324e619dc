"""Exact TreeSHAP (mmrisk.explain) vs shap.PermutationExplainer on a random survival forest.

Usage::

    .venv/bin/python benchmarks/explain.py                 # 1,256 and 10,000 patients
    .venv/bin/python benchmarks/explain.py --sizes 1256 --perm-rows 5

For each cohort size a 100-tree ``RandomSurvivalForest`` is fitted on simulated patients with
30 features (continuous, binary and ordinal; an interaction and a threshold effect in the
hazard; about 30% censored; follow-up in days expressed in months). The forest's risk score
(``predict``) is then explained, in the same run, by

- mmrisk's exact TreeSHAP, path-dependent and interventional (background of 100 patients),
  on ``--tree-rows`` patients; and
- ``shap.PermutationExplainer`` with its defaults (``max_evals=500``) on the same forest, the
  same 100-patient background (``shap.maskers.Independent``) and the first ``--perm-rows`` of
  those patients -- it is slow, so only a few. shap's one-off JIT compilation is excluded
  by a warm-up call.

Printed: seconds per patient of each method, the speed ratios, the largest local-accuracy
error ``|base + sum(SHAP) - predict|`` of each method, and the largest difference between the
permutation estimate and the exact interventional values on the rows both explained.

The forest is fitted with ``low_memory=True`` (it keeps the risk score only): a forest that
keeps survival functions for 10,000 patients with day-level follow-up needs tens of gigabytes
(``tree_.value`` is nodes x unique times x 2), and ``predict`` is much faster without them, so
this setting favours the permutation explainer, which calls ``predict`` thousands of times.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import shap
from sksurv.ensemble import RandomSurvivalForest
from sksurv.util import Surv

from mmrisk.explain import tree_shap

MONTH_DAYS = 30.4375


def simulate(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Simulated patients: ``p`` features and a Weibull progression time with censoring."""
    rng = np.random.default_rng(seed)
    n_cont = p // 2
    n_bin = p // 3
    X = np.empty((n, p))
    X[:, :n_cont] = rng.normal(size=(n, n_cont))
    X[:, n_cont : n_cont + n_bin] = rng.random((n, n_bin)) < 0.3
    X[:, n_cont + n_bin :] = rng.integers(1, 4, size=(n, p - n_cont - n_bin))
    lp = (
        0.6 * X[:, 0]
        - 0.4 * X[:, 1]
        + 0.8 * X[:, n_cont]
        + 0.5 * X[:, n_cont + 1] * (X[:, 2] > 0.5)
        + 0.3 * (X[:, n_cont + n_bin] - 2)
        + 0.2 * np.abs(X[:, 3])
    )
    months = 40.0 * (-np.log(rng.random(n)) / np.exp(lp)) ** (1 / 1.3)
    censor = rng.uniform(6.0, 96.0, n)
    time_days = np.ceil(np.minimum(months, censor) * MONTH_DAYS)
    y = Surv.from_arrays(months <= censor, time_days / MONTH_DAYS)
    return X, y


def _per_patient(seconds: float, rows: int) -> float:
    return seconds / max(rows, 1)


def run_size(n: int, args: argparse.Namespace) -> dict[str, float]:
    """Fit one forest and time both explainers on it."""
    X, y = simulate(n, args.features, args.seed)
    forest = RandomSurvivalForest(
        n_estimators=args.trees, low_memory=True, n_jobs=args.jobs, random_state=args.seed
    )
    start = time.perf_counter()
    forest.fit(X, y)
    fit_seconds = time.perf_counter() - start
    forest.set_params(n_jobs=1)  # explain single-threaded, both methods alike
    rng = np.random.default_rng(args.seed + 1)
    background = X[rng.choice(n, size=100, replace=False)]
    rows = X[rng.choice(n, size=min(args.tree_rows, n), replace=False)]
    truth = forest.predict(rows)

    out: dict[str, float] = {"n": n, "fit_s": fit_seconds, "tree_rows": len(rows)}
    tree_shap(forest, rows[:2], "risk", feature_perturbation="interventional",
              background=background)  # warm-up: load the compiled kernel
    exact = {}
    for fp in ("tree_path_dependent", "interventional"):
        start = time.perf_counter()
        phi, base = tree_shap(forest, rows, "risk", feature_perturbation=fp,
                              background=background)
        seconds = time.perf_counter() - start
        out[f"{fp}_s"] = _per_patient(seconds, len(rows))
        out[f"{fp}_err"] = float(np.abs(base + phi.sum(1) - truth).max())
        exact[fp] = phi

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.PermutationExplainer(forest.predict, masker, seed=args.seed)
    p = X.shape[1]
    explainer(rows[:1], max_evals=2 * p + 1, silent=True)  # warm-up: shap's JIT compilation
    perm_rows = rows[: args.perm_rows]
    start = time.perf_counter()
    res = explainer(perm_rows, max_evals=args.max_evals, silent=True)
    seconds = time.perf_counter() - start
    out["permutation_s"] = _per_patient(seconds, len(perm_rows))
    perm_total = np.asarray(res.base_values).reshape(-1) + res.values.sum(1)
    out["permutation_err"] = float(np.abs(perm_total - truth[: len(perm_rows)]).max())
    diff = np.abs(res.values - exact["interventional"][: len(perm_rows)])
    out["perm_vs_exact_max"] = float(diff.max())
    out["exact_max_abs"] = float(np.abs(exact["interventional"][: len(perm_rows)]).max())
    out["perm_rows"] = len(perm_rows)
    return out


def _report(r: dict[str, float]) -> None:
    pd_s, iv_s, pm_s = r["tree_path_dependent_s"], r["interventional_s"], r["permutation_s"]
    print(f"\n== {int(r['n']):,} patients, {int(r['tree_rows'])} explained by TreeSHAP, "
          f"{int(r['perm_rows'])} by PermutationExplainer (forest fit {r['fit_s']:.1f} s) ==")
    print(f"  TreeSHAP path-dependent : {pd_s * 1e3:10.3f} ms/patient   "
          f"max |local accuracy error| {r['tree_path_dependent_err']:.2e}")
    print(f"  TreeSHAP interventional : {iv_s * 1e3:10.3f} ms/patient   "
          f"max |local accuracy error| {r['interventional_err']:.2e}")
    print(f"  shap PermutationExplainer: {pm_s * 1e3:9.1f} ms/patient   "
          f"max |local accuracy error| {r['permutation_err']:.2e}")
    print(f"  speed-up vs permutation : path-dependent {pm_s / pd_s:,.0f}x, "
          f"interventional {pm_s / iv_s:,.0f}x")
    print(f"  permutation vs exact interventional: max |diff| {r['perm_vs_exact_max']:.3g} "
          f"(largest exact |SHAP| {r['exact_max_abs']:.3g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1256, 10000])
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--tree-rows", type=int, default=500)
    parser.add_argument("--perm-rows", type=int, default=5)
    parser.add_argument("--max-evals", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="threads for fitting only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"shap {shap.__version__}; RandomSurvivalForest(n_estimators={args.trees}, "
          f"low_memory=True), {args.features} features, background 100, "
          f"PermutationExplainer max_evals={args.max_evals}")
    for n in args.sizes:
        _report(run_size(n, args))


if __name__ == "__main__":
    main()
