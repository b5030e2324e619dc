"""Cross-validation driver: fit every model on identical splits, pool out-of-fold predictions,
compute the contract metrics with bootstrap intervals and paired differences from a baseline.
"""

from __future__ import annotations

import logging
import numbers
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import clone

from mmrisk.evaluation._bootstrap import (
    Predictions,
    _bootstrap_counts,
    _check_baseline,
    _check_bootstrap_args,
    _n_chunks,
    _prepare_predictions,
    _replicate_values,
    _summarise,
    _ticker,
)
from mmrisk.evaluation._checks import _check_horizons, _check_outcome, _horizon_labels
from mmrisk.evaluation._engine import _metric_names
from mmrisk.evaluation._splits import Split
from mmrisk.exceptions import MetricInputError
from mmrisk.models import predict_survival_at
from mmrisk.progress import Progress

__all__ = ["CVResult", "cross_validate", "predict_survival_at_own_time"]

logger = logging.getLogger(__name__)

_IBS_POINTS = 60


@dataclass(frozen=True)
class CVResult:
    """Outcome of :func:`cross_validate`.

    Parameters
    ----------
    metrics : DataFrame
        Columns ``model, metric, value, lo, hi``; ``metric`` carries the scope
        (``cv_cindex_uno``, ``test_brier_24m``); ``lo``/``hi`` bound the bootstrap interval.
    differences : DataFrame
        Columns ``model, metric, diff, lo, hi``: model minus baseline with paired bootstrap
        intervals; empty without a baseline.
    predictions : DataFrame
        Out-of-fold predictions: ``model, row, repeat, fold, risk, surv_<h>m...``; ``row`` is
        the positional index into ``X``. No identifiers.
    per_repeat : DataFrame
        Columns ``model, repeat, metric, value``: point estimates of each repeat.
    scope : str
        ``"cv"`` or ``"test"``.
    horizons : tuple of int
        The horizons in months.
    baseline : str or None, default=None
        The baseline model of ``differences``.
    splits : list of Split, default=[]
        The splits every model was evaluated on.
    """

    metrics: pd.DataFrame
    differences: pd.DataFrame
    predictions: pd.DataFrame
    per_repeat: pd.DataFrame
    scope: str
    horizons: tuple[int, ...]
    baseline: str | None = None
    splits: list[Split] = field(default_factory=list, repr=False)

    def flat(self, model: str) -> dict[str, float]:
        """One model's metrics as ``{name: value, name_lo: lo, name_hi: hi}`` (for MLflow).

        Parameters
        ----------
        model : str
            A model name of the run.

        Returns
        -------
        dict of str to float
        """
        rows = self.metrics[self.metrics["model"] == model]
        if rows.empty:
            raise MetricInputError(
                f"model {model!r} is not in this result; models: "
                f"{sorted(self.metrics['model'].unique())!r}."
            )
        out: dict[str, float] = {}
        for row in rows.itertuples(index=False):
            out[row.metric] = float(row.value)
            out[f"{row.metric}_lo"] = float(row.lo)
            out[f"{row.metric}_hi"] = float(row.hi)
        return out


def predict_survival_at_own_time(estimator: Any, X: Any, times: Sequence[float]) -> np.ndarray:
    """Predicted survival of each sample at its own time, ``S(times[i] | X[i])``.

    Same convention as :func:`mmrisk.models.predict_survival_at`: beyond the domain of a step
    function the estimate is held at its last value.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Anything with ``predict_survival_function(X)``.
    X : array-like of shape (n_samples, n_features)
    times : sequence of float of length n_samples

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    times = np.asarray(times, dtype=float)
    functions = estimator.predict_survival_function(X)
    if len(functions) != times.size:
        raise MetricInputError(f"got {len(functions)} survival functions for {times.size} times.")
    out = np.empty(times.size)
    for i, fn in enumerate(functions):
        lo, hi = fn.domain
        out[i] = fn(np.clip(times[i], lo, hi))
    return np.clip(out, 0.0, 1.0)


# ----------------------------------------------------------------------------- validation


def _check_splits(splits: Sequence[Split], n: int) -> tuple[str, list[int], np.ndarray]:
    """Scope, repeats and evaluated rows; every repeat must test the same rows once each."""
    if not splits:
        raise MetricInputError("splits is empty; build them with make_splits.")
    scopes = {s.scope for s in splits}
    if len(scopes) != 1 or not scopes <= {"cv", "test"}:
        raise MetricInputError(f"splits must share one scope, 'cv' or 'test'; got {scopes!r}.")
    repeats = sorted({s.repeat for s in splits})
    rows = None
    for r in repeats:
        tests = [np.asarray(s.test_idx) for s in splits if s.repeat == r]
        joined = np.concatenate(tests)
        if joined.size != np.unique(joined).size:
            raise MetricInputError(f"test sets of repeat {r} overlap; each row is tested once.")
        if joined.size and (joined.min() < 0 or joined.max() >= n):
            raise MetricInputError(f"repeat {r} indexes rows outside 0..{n - 1}.")
        joined = np.sort(joined)
        if rows is None:
            rows = joined
        elif not np.array_equal(rows, joined):
            raise MetricInputError(
                f"repeat {r} tests other rows than repeat {repeats[0]}; every repeat must "
                "cover the same rows."
            )
    return scopes.pop(), repeats, rows


def _check_inputs(models, X, y, horizons):
    if not isinstance(models, Mapping) or not models:
        raise MetricInputError("models must be a non-empty dict of name -> estimator.")
    if not isinstance(X, pd.DataFrame):
        raise MetricInputError(f"X must be a pandas DataFrame; got {type(X).__name__}.")
    _check_outcome(y, "y")
    if len(X) != len(y):
        raise MetricInputError(f"X has {len(X)} rows but y has {len(y)}.")
    return _check_horizons(horizons)


def _check_n_jobs(n_jobs) -> None:
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0
    ):
        raise MetricInputError(
            f"n_jobs must be a non-zero integer (-1: all cores) or None; got {n_jobs!r}."
        )


# ----------------------------------------------------------------------------- fitting


@dataclass
class _OOF:
    """Out-of-fold predictions of one model in one repeat, over the evaluated rows."""

    risk: np.ndarray
    surv_h: np.ndarray
    surv_ibs: np.ndarray
    surv_own: np.ndarray
    fold: np.ndarray

    @classmethod
    def empty(cls, m: int, n_h: int, n_grid: int) -> _OOF:
        return cls(
            risk=np.full(m, np.nan),
            surv_h=np.full((m, n_h), np.nan),
            surv_ibs=np.full((m, n_grid), np.nan),
            surv_own=np.full(m, np.nan),
            fold=np.full(m, -1),
        )


def _fit_predict(name, model, X_train, y_train, X_test, times, own_times, label):
    """Fit a clone on one fold's training rows; predictions for its test rows.

    Runs in a joblib worker when fits are parallel, so it receives the fold's rows only.
    """
    try:
        fitted = clone(model).fit(X_train, y_train)
        risk = np.asarray(fitted.predict(X_test), dtype=float)
        surv = predict_survival_at(fitted, X_test, times)
        own = predict_survival_at_own_time(fitted, X_test, own_times)
    except Exception as exc:  # add context, keep the type
        exc.add_note(f"while fitting model {name!r} on {label}")
        raise
    return risk, surv, own


def _fit_tasks(models, X, y, splits, times, time_of_row):
    """One task per split x model, as (key, args); the fold's rows are sliced when drawn."""
    for i, split in enumerate(splits):
        label = split.label or str(split)
        for name, model in models.items():
            args = (
                name, model, X.iloc[split.train_idx], y[split.train_idx],
                X.iloc[split.test_idx], times, time_of_row[split.test_idx], label,
            )
            yield (i, name), args


class _WorkerTraceback(Exception):
    """Where a fit failed in a worker process: the cause of the error raised again here."""


def _fit_in_worker(order, key, *args):
    """Run one task in a worker; a failure is returned (with its traceback), not raised."""
    try:
        return order, key, _fit_predict(*args), None
    except Exception as exc:
        return order, key, None, (exc, traceback.format_exc())


def _run_fits(tasks, n_tasks: int, n_jobs: int | None):
    """(key, (risk, surv, own)) for every task, in the order the fits finish.

    ``n_jobs`` workers (joblib's loky processes) fit in parallel; the task generator is drawn
    from as workers free up (joblib's ``pre_dispatch``), so at most about ``2 * n_jobs`` folds
    are held at once besides ``X``. One worker (or one task) fits in this process. If fits fail,
    the error of the first failing task in split x model order is raised (as in a serial run),
    once every task before it has finished.
    """
    workers = min(effective_n_jobs(n_jobs), n_tasks)
    if workers <= 1:
        for key, args in tasks:
            yield key, _fit_predict(*args)
        return
    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
    results = parallel(
        delayed(_fit_in_worker)(order, key, *args) for order, (key, args) in enumerate(tasks)
    )
    finished = np.zeros(n_tasks, dtype=bool)
    failure = None
    for order, key, value, error in results:
        finished[order] = True
        if error is not None and (failure is None or order < failure[0]):
            failure = (order, error)
        if failure is None:
            yield key, value
        elif finished[: failure[0]].all():
            with warnings.catch_warnings():  # joblib warns that it cancels the other fits
                warnings.filterwarnings("ignore", ".*tasks which were still being processed")
                results.close()
            exc, text = failure[1]
            raise exc from _WorkerTraceback(text)


def _replicate_in_worker(data, counts):
    """:func:`_replicate_values` in a worker; its warnings are returned, not printed there."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vals = _replicate_values(data, counts)
    return vals, [(str(w.message), w.category) for w in caught]


def _bootstrap_all(prepared, counts, n_tasks: int, tick, n_jobs: int | None) -> list:
    """Metric values of every replicate, for each prepared (model, repeat), in order.

    With more than one worker the (model, repeat) units run in joblib processes (the counts
    matrix is shared read-only); the values are the same as in one process.
    """
    workers = min(effective_n_jobs(n_jobs), n_tasks)
    if workers <= 1:
        return [_replicate_values(data, counts, tick) for data in prepared]
    chunks = _n_chunks(counts.shape[0])
    out = []
    for vals, caught in Parallel(n_jobs=workers, return_as="generator")(
        delayed(_replicate_in_worker)(data, counts) for data in prepared
    ):
        for message, category in caught:  # the worker's warnings, raised here as in one process
            warnings.warn(message, category, stacklevel=2)
        out.append(vals)
        for _ in range(chunks):
            if tick is not None:
                tick()
    return out


def _collect_oof(models, X, y, splits, repeats, pos, horizons, grid, tick, n_jobs=None):
    """OOF predictions: {model: {repeat: _OOF}}."""
    _, time = _check_outcome(y, "y")
    times = np.concatenate([horizons, grid])
    m = int((pos >= 0).sum())
    oof = {name: {r: _OOF.empty(m, horizons.size, grid.size) for r in repeats} for name in models}
    tasks = _fit_tasks(models, X, y, splits, times, time)
    for (i, name), (risk, surv, own) in _run_fits(tasks, len(splits) * len(models), n_jobs):
        split = splits[i]
        rows = pos[split.test_idx]
        o = oof[name][split.repeat]
        o.risk[rows] = risk
        o.surv_h[rows] = surv[:, : horizons.size]
        o.surv_ibs[rows] = surv[:, horizons.size :]
        o.surv_own[rows] = own
        o.fold[rows] = split.fold
        logger.debug("fitted %s on %s", name, split.label)
        if tick is not None:
            tick()
    return oof


def _predictions_table(oof, rows, horizons) -> pd.DataFrame:
    labels = _horizon_labels(horizons)
    frames = []
    for name, by_repeat in oof.items():
        for r, o in by_repeat.items():
            frame = pd.DataFrame(
                {"model": name, "row": rows, "repeat": r, "fold": o.fold, "risk": o.risk}
            )
            for k, label in enumerate(labels):
                frame[f"surv_{label}"] = o.surv_h[:, k]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- driver


def cross_validate(
    models: Mapping[str, Any],
    X: pd.DataFrame,
    y,
    splits: Sequence[Split],
    horizons: Sequence[float],
    *,
    baseline: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence_level: float = 0.95,
    progress: Progress | None = None,
    n_jobs: int | None = None,
) -> CVResult:
    """Fit every model on every split and evaluate the pooled out-of-fold predictions.

    For each split a ``sklearn.clone`` of each model is fitted on the training rows; for the
    test rows it predicts the risk (``predict``), the survival at the horizons and on a grid of
    60 points up to the largest horizon (``mmrisk.models.predict_survival_at``), and the
    survival at each row's own time (D-calibration).

    Scope ``cv`` (K-fold splits): within a repeat the out-of-fold predictions are pooled over
    the folds and each metric is computed once; the reported value is the mean over repeats.
    Scope ``test`` (temporal, predefined, by-site splits): the held-out predictions (pooled
    over held-out centres for by-site) are evaluated once. The censoring distribution of the
    IPCW metrics comes from the full data's outcome when predictions are pooled over several
    splits (each row is then a test row once, so no single training set exists) and from the
    training rows for a single holdout split.

    Intervals: patients are resampled with replacement ``n_bootstrap`` times (one draw for the
    whole run, so every model and repeat sees the same replicates); a replicate's metric is
    averaged over repeats like the point estimate; the interval is the percentile interval.
    Differences from ``baseline`` use the same replicates (paired).

    Parameters
    ----------
    models : dict of str to estimator
        Unfitted scikit-survival-style estimators (or pipelines), by name.
    X : DataFrame of shape (n_samples, n_features)
        Features, row-aligned with ``y``.
    y : structured ndarray of shape (n_samples,)
        Outcome (``sksurv.util.Surv``).
    splits : sequence of Split
        From :func:`make_splits`; all of one scope.
    horizons : sequence of float
        Whole months, strictly increasing.
    baseline : str, optional
        Name of the model the others are compared with.
    n_bootstrap : int, default=1000
        Bootstrap replicates (0: no intervals).
    seed : int, default=0
        Seed of the bootstrap.
    confidence_level : float, default=0.95
        Coverage of the intervals.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"fit"`` after each model fit (as fits
        finish, also when they run in parallel) and ``"metrics"`` after each chunk of bootstrap
        replicates.
    n_jobs : int or None, default=None
        Split x model fits run in parallel in this many joblib worker processes (``-1``: one
        per core, what ``mmrisk train`` uses by default; ``None`` or ``1``: one after the other
        in this process). The results are
        identical either way: every fit is a ``clone`` of the given model (fixed seeds) on the
        same rows. Each worker receives one fold's rows at a time, not the whole ``X``;
        joblib limits the threads of OpenMP/BLAS libraries in a worker to its share of the
        cores (XGBoost's default thread count follows it).

    Returns
    -------
    CVResult
    """
    horizons = _check_inputs(models, X, y, horizons)
    _check_n_jobs(n_jobs)
    _check_bootstrap_args(n_bootstrap, confidence_level)
    _check_baseline(baseline, list(models))
    scope, repeats, rows = _check_splits(splits, len(y))
    pos = np.full(len(y), -1)
    pos[rows] = np.arange(rows.size)
    grid = np.linspace(0.0, horizons.max(), _IBS_POINTS + 1)[1:]
    fit_tick = _ticker(progress, "fit", len(splits) * len(models))
    oof = _collect_oof(models, X, y, splits, repeats, pos, horizons, grid, fit_tick, n_jobs)

    y_eval = y[rows]
    y_ipcw = {r: _ipcw_outcome(y, splits, r) for r in repeats}
    counts = _bootstrap_counts(rows.size, int(n_bootstrap), seed)
    names = _metric_names(horizons)
    metric_tick = _ticker(
        progress, "metrics", len(models) * len(repeats) * _n_chunks(int(n_bootstrap))
    )
    keys = [(name, r) for name in models for r in repeats]
    prepared = (
        _prepare_predictions(
            y_ipcw[r], y_eval,
            Predictions(oof[name][r].risk, oof[name][r].surv_h, oof[name][r].surv_own, grid,
                        oof[name][r].surv_ibs),
            horizons,
        )
        for name, r in keys
    )
    replicates = dict(zip(keys, _bootstrap_all(prepared, counts, len(keys), metric_tick, n_jobs),
                          strict=True))
    values, per_repeat = {}, []
    for name in models:
        by_repeat = [replicates[name, r] for r in repeats]
        for r, vals in zip(repeats, by_repeat, strict=True):
            per_repeat.append(
                pd.DataFrame({"model": name, "repeat": r, "metric": names, "value": vals[0]})
            )
        values[name] = np.mean(by_repeat, axis=0)
    metrics, differences = _summarise(values, names, baseline, confidence_level, scope)
    per_repeat_table = pd.concat(per_repeat, ignore_index=True)
    per_repeat_table["metric"] = scope + "_" + per_repeat_table["metric"]
    return CVResult(
        metrics=metrics,
        differences=differences,
        predictions=_predictions_table(oof, rows, horizons),
        per_repeat=per_repeat_table,
        scope=scope,
        horizons=tuple(int(h) for h in horizons),
        baseline=baseline,
        splits=list(splits),
    )


def _ipcw_outcome(y, splits: Sequence[Split], repeat: int):
    """Training outcome of a single holdout split; the full outcome when predictions pool."""
    in_repeat = [s for s in splits if s.repeat == repeat]
    if len(in_repeat) == 1:
        return y[in_repeat[0].train_idx]
    return y
