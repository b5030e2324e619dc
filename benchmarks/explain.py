"""Exact TreeSHAP (mmrisk.explain) vs shap.PermutationExplainer on a random survival forest.

Usage::

    .venv/bin/python benchmarks/explain.py            # the full comparison (about 15 min)
    .venv/bin/python benchmarks/explain.py --sizes 1256 --full-sizes --perm-rows 3

For each cohort size a 100-tree ``RandomSurvivalForest`` (scikit-survival defaults) is fitted
on simulated patients with 30 features (continuous, binary and ordinal; an interaction and a
threshold effect in the hazard; about 30% censored; follow-up in days expressed in months).
One output of the forest is then explained, in the same run, by

- mmrisk's exact TreeSHAP, path-dependent and interventional (background of 100 patients),
  on ``--tree-rows`` patients; and
- ``shap.PermutationExplainer`` with its defaults (``max_evals=500``) on the same forest
  output, the same 100-patient background (``shap.maskers.Independent``) and the first
  ``--perm-rows`` of those patients -- it is slow, so only a few. shap's one-off JIT
  compilation is excluded by a warm-up call; so is the loading of mmrisk's compiled kernels.

Printed: milliseconds per patient of each method, the speed ratios, the largest local-accuracy
error ``|base + sum(SHAP) - model output|`` of each method, and the largest difference between
the permutation estimate and the exact interventional values on the rows both explained.
Everything runs single-threaded.

Three configurations:

- ``--sizes`` (default 1,256 and 10,000): the risk score of a forest fitted with
  ``low_memory=True``, which keeps the risk score only. Its ``predict`` is as cheap as
  scikit-survival's forests get, so this is the configuration most favourable to the
  permutation explainer, which calls it thousands of times per patient.
- ``--mmrisk-sizes`` (default 10,000): the risk score of the forest as mmrisk's default config
  fits it (``GridRandomSurvivalForest``: ``min_samples_leaf=15``, ``max_features='sqrt'``,
  survival curves on a half-month grid), the forest ``mmrisk explain`` meets in practice.
- ``--full-sizes`` (default 1,256): ``surv_24m`` of a forest with ``low_memory=False``, as mmrisk
  fits them to report survival at horizons; every ``predict_survival_function`` call fills an
  array of rows x unique times per tree. (At 10,000 patients with day-level follow-up such a
  forest needs about 12 GB: ``tree_.value`` is nodes x unique times x 2 per tree.)
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import shap
from sksurv.ensemble import RandomSurvivalForest
from sksurv.util import Surv

from mmrisk.explain import output_function, parse_output, tree_shap

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


def compare(
    forest: RandomSurvivalForest, X: np.ndarray, output: str, args: argparse.Namespace
) -> dict[str, float]:
    """Time exact TreeSHAP and shap's PermutationExplainer on one forest output."""
    n = len(X)
    f = output_function(forest, parse_output(output))
    rng = np.random.default_rng(args.seed + 1)
    background = X[rng.choice(n, size=100, replace=False)]
    rows = X[rng.choice(n, size=min(args.tree_rows, n), replace=False)]
    truth = f(rows)
    out: dict[str, float] = {"tree_rows": len(rows)}
    exact = {}
    for fp in ("tree_path_dependent", "interventional"):
        # warm-up: load the compiled kernels
        tree_shap(forest, rows[:2], output, feature_perturbation=fp, background=background)
        start = time.perf_counter()
        phi, base = tree_shap(
            forest, rows, output, feature_perturbation=fp, background=background
        )
        seconds = time.perf_counter() - start
        out[f"{fp}_s"] = _per_patient(seconds, len(rows))
        out[f"{fp}_err"] = float(np.abs(base + phi.sum(1) - truth).max())
        exact[fp] = phi

    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.PermutationExplainer(f, masker, seed=args.seed)
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


def fit(
    n: int, low_memory: bool, args: argparse.Namespace, mmrisk_forest: bool = False
) -> tuple[RandomSurvivalForest, np.ndarray, float]:
    """Simulate ``n`` patients and fit the forest (timed, not part of the comparison).

    ``mmrisk_forest``: the forest as ``configs/default.yaml`` fits it (``min_samples_leaf=15``,
    ``max_features='sqrt'``, survival curves kept on a half-month grid).
    """
    X, y = simulate(n, args.features, args.seed)
    if mmrisk_forest:
        from mmrisk.models import GridRandomSurvivalForest

        forest = GridRandomSurvivalForest(
            n_estimators=args.trees, min_samples_leaf=15, max_features="sqrt",
            time_grid=0.5, n_jobs=args.jobs, random_state=args.seed,
        )
    else:
        forest = RandomSurvivalForest(
            n_estimators=args.trees, low_memory=low_memory, n_jobs=args.jobs,
            random_state=args.seed,
        )
    start = time.perf_counter()
    forest.fit(X, y)
    seconds = time.perf_counter() - start
    forest.set_params(n_jobs=1)  # explain single-threaded, both methods alike
    return forest, X, seconds


def _report(title: str, r: dict[str, float]) -> None:
    pd_s, iv_s, pm_s = r["tree_path_dependent_s"], r["interventional_s"], r["permutation_s"]
    print(f"\n== {title}: {int(r['tree_rows'])} patients explained by TreeSHAP, "
          f"{int(r['perm_rows'])} by PermutationExplainer ==")
    print(f"  TreeSHAP path-dependent  : {pd_s * 1e3:10.3f} ms/patient   "
          f"max |local accuracy error| {r['tree_path_dependent_err']:.2e}")
    print(f"  TreeSHAP interventional  : {iv_s * 1e3:10.3f} ms/patient   "
          f"max |local accuracy error| {r['interventional_err']:.2e}")
    print(f"  shap PermutationExplainer: {pm_s * 1e3:10.1f} ms/patient   "
          f"max |local accuracy error| {r['permutation_err']:.2e}")
    print(f"  speed-up vs permutation  : path-dependent {pm_s / pd_s:,.0f}x, "
          f"interventional {pm_s / iv_s:,.0f}x")
    print(f"  permutation vs exact interventional: max |diff| {r['perm_vs_exact_max']:.3g} "
          f"(largest exact |SHAP| {r['exact_max_abs']:.3g})")


def main() -> None:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1256, 10000],
                        help="cohort sizes for the risk-score comparison (low_memory=True)")
    parser.add_argument("--full-sizes", type=int, nargs="*", default=[1256],
                        help="cohort sizes for the surv_24m comparison (low_memory=False)")
    parser.add_argument("--mmrisk-sizes", type=int, nargs="*", default=[10000],
                        help="cohort sizes for the risk score of the forest as mmrisk's "
                        "default config fits it (min_samples_leaf=15, max_features=sqrt, "
                        "half-month time grid)")
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--tree-rows", type=int, default=500)
    parser.add_argument("--perm-rows", type=int, default=5)
    parser.add_argument("--max-evals", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2, help="threads for fitting only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"shap {shap.__version__}; RandomSurvivalForest(n_estimators={args.trees}), "
          f"{args.features} features; background 100 patients; PermutationExplainer "
          f"max_evals={args.max_evals}; single-threaded explanations")
    for n in args.sizes:
        forest, X, seconds = fit(n, True, args)
        title = f"{n:,} patients, risk score, low_memory=True forest (fit {seconds:.0f} s)"
        _report(title, compare(forest, X, "risk", args))
    for n in args.mmrisk_sizes:
        forest, X, seconds = fit(n, False, args, mmrisk_forest=True)
        title = (f"{n:,} patients, risk score, mmrisk's default forest "
                 f"(min_samples_leaf=15, sqrt features, 0.5-month grid; fit {seconds:.0f} s)")
        _report(title, compare(forest, X, "risk", args))
    for n in args.full_sizes:
        forest, X, seconds = fit(n, False, args)
        title = f"{n:,} patients, surv_24m, low_memory=False forest (fit {seconds:.0f} s)"
        _report(title, compare(forest, X, "surv_24m", args))


if __name__ == "__main__":
    main()
