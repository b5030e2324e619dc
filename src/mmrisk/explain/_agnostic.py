"""Model-agnostic SHAP (shap's Permutation or Kernel explainer) with a time estimate up front.

Any survival model can be explained through a plain prediction function of its input columns,
against a small background: a random sample for the permutation explainer, k-means centres
(``shap.kmeans``) for the kernel explainer. Before the first row is explained, one batch of
model evaluations (one permutation, or ``2 p + 2`` kernel coalitions, of the first row) is
timed after one untimed warm-up, and extrapolated to all rows; the estimate
goes to the progress callback, which is then called after every row.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mmrisk.exceptions import MMRiskError
from mmrisk.progress import Progress, report

log = logging.getLogger(__name__)

__all__ = ["agnostic_shap", "summarise_background"]


def _summary(
    background: np.ndarray, size: int, method: str, random_state: int | None
) -> tuple[np.ndarray, np.ndarray, Any]:
    n = len(background)
    if n <= size:
        return background, np.full(n, 1.0 / n), background
    if method == "kernel":
        import shap  # imported on first use: explaining a linear or tree model never needs it

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = shap.kmeans(background, size)
        w = np.asarray(summary.weights, dtype=float)
        return np.asarray(summary.data, dtype=float), w / w.sum(), summary
    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(n, size=size, replace=False))
    return background[idx], np.full(size, 1.0 / size), background[idx]


def summarise_background(
    background: np.ndarray, size: int, method: str, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small background: all rows if there are at most ``size``, else a sample or k-means.

    Parameters
    ----------
    background : numpy.ndarray of shape (n_background, n_columns)
        Model input rows.
    size : int
        Number of rows to keep.
    method : {'permutation', 'kernel'}
        ``'permutation'`` samples rows (without replacement); ``'kernel'`` uses
        ``shap.kmeans`` (centres weighted by cluster size).
    random_state : int or None, default=0
        Seed of the sample.

    Returns
    -------
    rows : numpy.ndarray of shape (k, n_columns)
        The background rows.
    weights : numpy.ndarray of shape (k,)
        Their weights (sum to 1).
    """
    rows, weights, _ = _summary(background, size, method, random_state)
    return rows, weights


def _batches_per_row(method: str, p: int, max_evals: int | str) -> tuple[int, int]:
    """(evaluations in one timing batch, number of such batches one row needs)."""
    if method == "kernel":
        n = 2 * p + 2048 if max_evals == "auto" else int(max_evals)
        if p < 31:
            n = min(n, 2**p - 2)
        batch = min(n, 2 * p + 2)
        return batch, max(1, round(n / batch))
    n = 10 * 2 * p if max_evals == "auto" else int(max_evals)
    if n < 2 * p + 1:
        raise MMRiskError(
            f"max_evals={max_evals} is too low for the permutation explainer: it needs at least "
            f"2 * n_columns + 1 = {2 * p + 1}."
        )
    return 2 * p + 1, n // (2 * p + 1)


def _estimate_seconds(run: Any, z: np.ndarray, method: str, max_evals: int | str) -> float:
    """Seconds per row: one batch of evaluations on ``z`` (after one warm-up), extrapolated.

    The batch is one forward-backward permutation (permutation) or ``2 p + 2`` coalitions
    (kernel). The untimed warm-up absorbs one-off costs such as shap's JIT compilation.
    """
    batch, n_batches = _batches_per_row(method, z.shape[1], max_evals)
    run(z, batch)
    start = time.perf_counter()
    run(z, batch)
    return (time.perf_counter() - start) * n_batches


def _make_explainer(
    method: str, f: Callable[[np.ndarray], np.ndarray], data: Any, seed: Any
) -> Callable[[np.ndarray, Any], tuple[np.ndarray, float]]:
    import shap  # imported on first use (seconds): linear and tree models never need it

    if method == "kernel":
        if seed is not None:
            np.random.seed(seed)  # the coalitions kernel SHAP samples (state restored by caller)
        kernel = shap.KernelExplainer(f, data)

        def run_kernel(z: np.ndarray, max_evals: Any) -> tuple[np.ndarray, float]:
            phi = kernel.shap_values(z, nsamples=max_evals, l1_reg=False, silent=True)
            return np.asarray(phi, dtype=float).reshape(z.shape), float(
                np.ravel(kernel.expected_value)[0]
            )

        return run_kernel
    masker = shap.maskers.Independent(data, max_samples=len(data))
    perm = shap.PermutationExplainer(f, masker, seed=seed)

    def run_permutation(z: np.ndarray, max_evals: Any) -> tuple[np.ndarray, float]:
        res = perm(z, max_evals=max_evals, silent=True)
        return np.asarray(res.values, dtype=float).reshape(z.shape), float(
            np.ravel(res.base_values)[0]
        )

    return run_permutation


def agnostic_shap(
    f: Callable[[np.ndarray], np.ndarray],
    Z: np.ndarray,
    background: np.ndarray,
    *,
    method: str = "permutation",
    max_evals: int | str = "auto",
    background_size: int = 100,
    random_state: int | None = 0,
    progress: Progress | None = None,
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """SHAP values of any prediction function, by permutation or kernel SHAP.

    Parameters
    ----------
    f : callable
        ``f(Z) -> ndarray of shape (n,)`` on model input rows.
    Z : numpy.ndarray of shape (n_samples, n_columns)
        Rows to explain.
    background : numpy.ndarray of shape (n_background, n_columns)
        Background rows; summarised to ``background_size`` rows (sample or k-means).
    method : {'permutation', 'kernel'}, default='permutation'
        The shap explainer.
    max_evals : int or 'auto', default='auto'
        Masked evaluations per row: permutation ``max_evals`` (auto: 10 forward-backward
        permutations) or kernel ``nsamples`` (auto: ``2 * n_columns + 2048``).
    background_size : int, default=100
        Rows kept in the background.
    random_state : int or None, default=0
        Seed of the background sample and of the permutations.
    progress : callable or None, default=None
        Called with an :class:`ExplainProgress` before the first row (with the time
        estimate) and after every row.

    Returns
    -------
    phi : numpy.ndarray of shape (n_samples, n_columns)
        SHAP values.
    base_value : float
        Weighted mean of ``f`` over the summarised background.
    info : dict
        ``estimated_seconds``, ``seconds`` and ``n_background``.
    """
    if method not in ("permutation", "kernel"):
        raise MMRiskError(f"method must be 'permutation' or 'kernel'; got {method!r}.")
    # shap's explainers draw from (and PermutationExplainer reseeds) numpy's global generator:
    # keep the caller's state as it was.
    saved = np.random.get_state()
    try:
        return _agnostic(f, Z, background, method, max_evals, background_size, random_state,
                         progress)
    finally:
        np.random.set_state(saved)


def _agnostic(
    f: Callable[[np.ndarray], np.ndarray],
    Z: np.ndarray,
    background: np.ndarray,
    method: str,
    max_evals: int | str,
    background_size: int,
    random_state: int | None,
    progress: Progress | None,
) -> tuple[np.ndarray, float, dict[str, Any]]:
    start = time.perf_counter()
    bg, w, data = _summary(background, background_size, method, random_state)
    n, p = Z.shape
    run = _make_explainer(method, f, data, random_state)
    phi = np.zeros((n, p))
    base = float(np.dot(w, f(bg)))
    estimate = 0.0
    if n:
        per_row = _estimate_seconds(run, Z[:1], method, max_evals)
        estimate = time.perf_counter() - start + per_row * n
    log.info("%s SHAP of %d rows: about %.0f s", method, n, estimate)
    report(progress, "explain", 0, n)
    for i in range(n):
        phi[i : i + 1], base = run(Z[i : i + 1], max_evals)
        report(progress, "explain", i + 1, n)
    info = {
        "estimated_seconds": estimate,
        "seconds": time.perf_counter() - start,
        "n_background": len(bg),
    }
    return phi, base, info
