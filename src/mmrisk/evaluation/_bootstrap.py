"""Percentile bootstrap intervals for every metric, and paired intervals for differences."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmrisk.evaluation._checks import _check_horizons
from mmrisk.evaluation._engine import _batch_all, _EvalData, _metric_names, _prepare, _validity
from mmrisk.exceptions import MetricInputError
from mmrisk.progress import Progress

__all__ = ["Predictions", "bootstrap_metrics"]

"""``progress(stage, done, total)``: called as work advances; stages ``"fit"``, ``"metrics"``."""

_REPLICATES_PER_CHUNK = 128


@dataclass(frozen=True)
class Predictions:
    """One model's predictions for the test samples.

    Parameters
    ----------
    risk : ndarray of shape (n_samples,)
        Risk scores, higher meaning earlier progression.
    surv_at_horizons : ndarray of shape (n_samples, n_horizons)
        Predicted survival at the horizons.
    surv_at_own_time : ndarray of shape (n_samples,), optional
        Predicted survival at each sample's observed time (for D-calibration).
    ibs_times : ndarray of shape (n_ibs_times,), optional
        Grid of the integrated Brier score (default: the horizons).
    surv_at_ibs_times : ndarray of shape (n_samples, n_ibs_times), optional
        Predicted survival on ``ibs_times``.
    """

    risk: np.ndarray
    surv_at_horizons: np.ndarray
    surv_at_own_time: np.ndarray | None = None
    ibs_times: np.ndarray | None = None
    surv_at_ibs_times: np.ndarray | None = None


def _bootstrap_counts(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """Multinomial draw counts (n_bootstrap, n): how often each row is in each replicate."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    flat = (np.arange(n_bootstrap)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_bootstrap * n).reshape(n_bootstrap, n).astype(float)


def _prepare_predictions(y_train, y_test, pred: Predictions, horizons) -> _EvalData:
    return _prepare(
        y_train,
        y_test,
        risk=pred.risk,
        horizons=horizons,
        surv_h=pred.surv_at_horizons,
        surv_own=pred.surv_at_own_time,
        ibs_times=pred.ibs_times,
        surv_ibs=pred.surv_at_ibs_times,
    )


def _replicate_values(
    data: _EvalData, counts: np.ndarray, tick: Callable[[], None] | None = None
) -> np.ndarray:
    """Metrics for the point estimate (row 0) and every replicate: (1 + n_boot, n_metrics)."""
    validity = _validity(data, warn=True)
    n = data.time.size
    rows = [_batch_all(data, np.ones((1, n)), validity)]
    for start in range(0, counts.shape[0], _REPLICATES_PER_CHUNK):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rows.append(_batch_all(data, counts[start : start + _REPLICATES_PER_CHUNK], validity))
        if tick is not None:
            tick()
    return np.vstack(rows)


def _percentile_interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 ignoring NaN replicates; NaN if half or more are NaN."""
    alpha = (1.0 - level) / 2.0
    if values.shape[0] == 0:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(values, [alpha, 1.0 - alpha], axis=0)
    too_few = np.mean(np.isnan(values), axis=0) >= 0.5
    lo[too_few] = np.nan
    hi[too_few] = np.nan
    return lo, hi


def _summarise(
    values: Mapping[str, np.ndarray],
    names: Sequence[str],
    baseline: str | None,
    level: float,
    scope: str | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy tables from per-model replicate arrays (row 0 = point estimate)."""
    full = [f"{scope}_{name}" if scope else name for name in names]
    metric_rows, diff_rows = [], []
    # A p-value is a test result, not an estimate: no percentile interval, no difference.
    no_interval = np.array([name.startswith("dcal_pvalue") for name in names], bool)
    for model, vals in values.items():
        lo, hi = _percentile_interval(vals[1:], level)
        lo[no_interval], hi[no_interval] = np.nan, np.nan
        metric_rows.append(
            pd.DataFrame({"model": model, "metric": full, "value": vals[0], "lo": lo, "hi": hi})
        )
        if baseline is not None and model != baseline:
            keep = ~no_interval
            delta = (vals - values[baseline])[:, keep]
            dlo, dhi = _percentile_interval(delta[1:], level)
            diff_rows.append(
                pd.DataFrame(
                    {"model": model, "metric": np.asarray(full, dtype=object)[keep],
                     "diff": delta[0], "lo": dlo, "hi": dhi}
                )
            )
    metrics = pd.concat(metric_rows, ignore_index=True)
    empty = pd.DataFrame(
        {
            "model": pd.Series(dtype=object),
            "metric": pd.Series(dtype=object),
            "diff": pd.Series(dtype=float),
            "lo": pd.Series(dtype=float),
            "hi": pd.Series(dtype=float),
        }
    )
    diffs = pd.concat(diff_rows, ignore_index=True) if diff_rows else empty
    return metrics, diffs


def _check_bootstrap_args(n_bootstrap: int, level: float) -> None:
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise MetricInputError(f"n_bootstrap must be a non-negative integer; got {n_bootstrap!r}.")
    if not 0 < level < 1:
        raise MetricInputError(f"confidence_level must lie in (0, 1); got {level!r}.")


def _check_baseline(baseline: str | None, models: Sequence[str]) -> None:
    if baseline is not None and baseline not in models:
        raise MetricInputError(
            f"baseline {baseline!r} is not among the models {sorted(models)!r}; pass one of "
            "them or None."
        )


def bootstrap_metrics(
    y_train,
    y_test,
    predictions: Mapping[str, Predictions],
    horizons: Sequence[float],
    *,
    baseline: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence_level: float = 0.95,
    scope: str | None = None,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics of several models on one test set, with percentile bootstrap intervals.

    Test patients are resampled with replacement; every model is evaluated on the same
    resampled patients, so the intervals of the differences from ``baseline`` are paired. The
    censoring distribution (IPCW) stays the one estimated from ``y_train``. Replicates where a
    metric is undefined are skipped; the interval is NaN when half or more are. ICI, E50 and
    E90 are distances (>= 0) estimated with upward bias, so their percentile interval can lie
    above the point estimate of a well-calibrated model.

    Parameters
    ----------
    y_train : structured ndarray
        Training outcome (censoring distribution).
    y_test : structured ndarray of shape (n_samples,)
        Test outcome.
    predictions : mapping of str to Predictions
        Each model's predictions for the test samples.
    horizons : sequence of float
        Whole months.
    baseline : str, optional
        Model the others are compared with.
    n_bootstrap : int, default=1000
        Number of replicates (0: point estimates only, NaN intervals).
    seed : int, default=0
        Seed of the resampling.
    confidence_level : float, default=0.95
        Coverage of the percentile intervals.
    scope : str, optional
        Prefix of the metric names (``"test"`` gives ``test_cindex_uno``).
    progress : callable, optional
        ``progress("metrics", done, total)`` after each chunk of replicates.

    Returns
    -------
    metrics : DataFrame
        Columns ``model, metric, value, lo, hi``.
    differences : DataFrame
        Columns ``model, metric, diff, lo, hi`` (model minus baseline); empty without baseline.
    """
    _check_bootstrap_args(n_bootstrap, confidence_level)
    _check_baseline(baseline, list(predictions))
    horizons = _check_horizons(horizons)
    prepared = {
        m: _prepare_predictions(y_train, y_test, p, horizons) for m, p in predictions.items()
    }
    n = next(iter(prepared.values())).time.size
    counts = _bootstrap_counts(n, int(n_bootstrap), seed)
    tick = _ticker(progress, "metrics", len(prepared) * _n_chunks(int(n_bootstrap)))
    values = {m: _replicate_values(d, counts, tick) for m, d in prepared.items()}
    return _summarise(values, _metric_names(horizons), baseline, confidence_level, scope)


def _n_chunks(n_bootstrap: int) -> int:
    return -(-n_bootstrap // _REPLICATES_PER_CHUNK)


def _ticker(progress: Progress | None, stage: str, total: int):
    """A no-argument callable that reports one more unit of ``stage`` done."""
    if progress is None:
        return None
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(stage, done[0], total)

    return tick
