"""Pluggable back-ends for the split x model fits of :func:`cross_validate` (e.g. Spark).

A back-end (:class:`FitBackend`) receives one picklable ``shared`` object (the cohort, the
models and the splits: a cluster back-end sends it once per worker, e.g. as a Spark broadcast)
and many small picklable tasks, runs ``fn(shared, task)`` for each wherever it likes and yields
the results as they finish. mmrisk's Spark back-end lives in the workflows layer
(``mmrisk.workflows.spark_fit_backend``); this module never imports a cluster library.

Hyperparameter grids (a ``GridSearchCV`` with ``scoring=None`` and ``refit=True``, what
:func:`mmrisk.models.make_model` builds for a ``grid``) are unrolled so that their grid points
spread over the workers too: one task per (outer split, model, candidate, inner fold) scores a
candidate, then one task per (outer split, model) refits the best candidate on the split's
training rows and predicts. scikit-learn runs a whole search inside one ``fit`` and has no
public API to take inner scores computed elsewhere, so the selection is written here, with
scikit-learn's own pieces (``ParameterGrid``, the search's ``cv`` splitter, the estimator's
``score``) and the rule of ``GridSearchCV`` (mean inner score; NaN scores of failed fits rank
last; the first of tied candidates wins); a test checks that it chooses what ``GridSearchCV``
chooses.
"""

from __future__ import annotations

import traceback
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid, check_cv

__all__ = ["FitBackend", "InProcessBackend"]


class FitBackend(ABC):
    """Where the fits of :func:`mmrisk.evaluation.cross_validate` run.

    Implementations send ``shared`` once to each worker, run ``fn(shared, task)`` for every
    task and yield the return values in the order the tasks finish. ``fn``, ``shared`` and the
    tasks are picklable (``fn`` is a module-level function of mmrisk, so the workers need the
    same mmrisk version). ``fn`` never raises for a failing fit: it returns the error, and
    ``cross_validate`` raises it on the caller's side. When the caller stops iterating
    (``close()`` on the generator, e.g. after a failure), the implementation should cancel the
    tasks still running. Tasks have a ``description`` (text without data) for a cluster's UI.

    Any class with a ``map_unordered`` method counts as a back-end (``isinstance`` checks the
    method, as for the ``collections.abc`` classes); subclassing is optional.
    """

    @classmethod
    def __subclasshook__(cls, other: type) -> bool:
        if cls is FitBackend:
            return callable(getattr(other, "map_unordered", None)) or NotImplemented
        return NotImplemented

    @abstractmethod
    def map_unordered(
        self, fn: Callable[[Any, Any], Any], shared: Any, tasks: Sequence[Any]
    ) -> Iterator[Any]:
        """Run ``fn(shared, task)`` for every task; yield the results as they finish.

        Parameters
        ----------
        fn : callable
            ``fn(shared, task)``; picklable.
        shared : object
            The data every task reads; picklable.
        tasks : sequence
            Small picklable task descriptions.

        Returns
        -------
        iterator
            One result per task, in any order.
        """


class InProcessBackend(FitBackend):
    """The reference back-end: every task in this process, one after the other, in order.

    What a cluster back-end must reproduce; also useful to debug a back-end problem.
    """

    def map_unordered(
        self, fn: Callable[[Any, Any], Any], shared: Any, tasks: Sequence[Any]
    ) -> Iterator[Any]:
        """Run ``fn(shared, task)`` for every task, in order.

        Parameters
        ----------
        fn : callable
            ``fn(shared, task)``.
        shared : object
            The data every task reads.
        tasks : sequence
            Task descriptions.

        Returns
        -------
        iterator
            The results, in task order.
        """
        return (fn(shared, task) for task in tasks)


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class _Shared:
    """What every task reads: sent once per worker."""

    models: Mapping[str, Any]
    X: Any
    y: Any
    train: list[np.ndarray]
    test: list[np.ndarray]
    labels: list[str]
    times: np.ndarray
    own_time: np.ndarray
    fit_predict: Callable[..., Any]  # mmrisk.evaluation._cv._fit_predict (by reference)


@dataclass(frozen=True)
class _Task:
    """One unit of work: ``kind`` is ``fit`` (fit + predict), ``score`` (one grid candidate on
    one inner fold) or ``refit`` (the chosen candidate fitted on the split, then predicts)."""

    kind: str
    order: int
    split: int
    name: str
    candidate: int = -1
    inner: int = -1
    params: Mapping[str, Any] | None = None

    @property
    def description(self) -> str:
        """What a cluster UI shows for the task (no data, no identifiers)."""
        where = f"outer split {self.split}"
        if self.kind == "score":
            return (f"mmrisk: score {self.name} candidate {self.candidate} on {where}, "
                    f"inner fold {self.inner}")
        return f"mmrisk: {self.kind} {self.name} on {where}"


def _unrolled(model: Any) -> bool:
    """Grid searches whose selection this module reproduces."""
    return (isinstance(model, GridSearchCV) and model.scoring is None and model.refit is True
            and isinstance(model.param_grid, Mapping | list))


def _inner_splits(search: GridSearchCV, X: Any, y: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    cv = check_cv(search.cv, y, classifier=False)
    return list(cv.split(X, y))


class _WorkerTraceback(Exception):
    """Where a fit failed in a worker: the cause of the error raised again by the caller."""


def _fit_predict(shared: _Shared, task: _Task, model: Any):
    train, test = shared.train[task.split], shared.test[task.split]
    return shared.fit_predict(task.name, model, shared.X.iloc[train], shared.y[train],
                              shared.X.iloc[test], shared.times, shared.own_time[test],
                              shared.labels[task.split])


def _score(shared: _Shared, task: _Task) -> tuple[float, str | None]:
    """Inner score of one candidate on one inner fold; NaN (and the error) when the fit fails."""
    search = shared.models[task.name]
    rows = shared.train[task.split]
    X, y = shared.X.iloc[rows], shared.y[rows]
    tr, te = _inner_splits(search, X, y)[task.inner]
    params = list(ParameterGrid(search.param_grid))[task.candidate]
    est = clone(search.estimator).set_params(**clone(params, safe=False))
    try:
        est.fit(X.iloc[tr], y[tr])
        return float(est.score(X.iloc[te], y[te])), None
    except Exception as exc:
        if search.error_score == "raise":
            raise
        return float(search.error_score), f"{type(exc).__name__}: {exc}"


def _run_task(shared: _Shared, task: _Task) -> tuple[int, _Task, Any, Any]:
    """``(order, task, value, error)`` of one task; a failure is returned, not raised."""
    try:
        if task.kind == "score":
            value = _score(shared, task)
        elif task.kind == "refit":
            search = shared.models[task.name]
            best = clone(search.estimator).set_params(**clone(task.params, safe=False))
            value = _fit_predict(shared, task, best)
        else:
            value = _fit_predict(shared, task, shared.models[task.name])
    except Exception as exc:
        if task.kind == "score":  # error_score="raise": the error of the whole search
            exc.add_note(f"while fitting model {task.name!r} on {shared.labels[task.split]}")
        return task.order, task, None, (exc, traceback.format_exc())
    return task.order, task, value, None


# ----------------------------------------------------------------------------- driver


def _ordered(results: Iterator[Any], n_tasks: int) -> Iterator[tuple[_Task, Any]]:
    """(task, value) as results arrive; the error of the first failing task in task order is
    raised once every task before it has finished (as in a serial run)."""
    finished = np.zeros(n_tasks, dtype=bool)
    failure = None
    try:
        for order, task, value, error in results:
            finished[order] = True
            if error is not None and (failure is None or order < failure[0]):
                failure = (order, error)
            if failure is None:
                yield task, value
            elif finished[: failure[0]].all():
                break
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if failure is not None:
        exc, text = failure[1]
        raise exc from _WorkerTraceback(text)


def _best_candidate(scores: np.ndarray) -> int:
    """GridSearchCV's choice from (n_candidates, n_inner) scores."""
    means = np.average(scores, axis=1)
    if np.isnan(means).all():
        return 0
    means = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return int(rankdata(-means, method="min").argmin())


def _check_inner_failures(name: str, label: str, errors: list[str]) -> None:
    """Warn or raise as ``GridSearchCV`` does when inner fits fail."""
    failed = [e for e in errors if e is not None]
    if not failed:
        return
    if len(failed) == len(errors):
        raise ValueError(f"All the {len(errors)} inner fits of model {name!r} on {label} "
                         f"failed; the first: {failed[0]}")
    warnings.warn(f"{len(failed)} of the {len(errors)} inner fits of model {name!r} on "
                  f"{label} failed and score NaN; the first: {failed[0]}",
                  FitFailedWarning, stacklevel=2)


def _first_wave(shared: _Shared) -> tuple[list[_Task], dict[tuple[int, str], np.ndarray]]:
    """Plain fits and grid points; the score table of each unrolled (split, model)."""
    tasks, tables = [], {}
    for i, rows in enumerate(shared.train):
        for name, model in shared.models.items():
            if not _unrolled(model):
                tasks.append(_Task("fit", len(tasks), i, name))
                continue
            n_cand = len(ParameterGrid(model.param_grid))
            n_inner = check_cv(model.cv, shared.y[rows], classifier=False).get_n_splits(
                shared.X.iloc[rows], shared.y[rows])
            tables[i, name] = np.full((n_cand, n_inner), np.nan)
            tasks += [_Task("score", len(tasks) + c * n_inner + k, i, name, c, k)
                      for c in range(n_cand) for k in range(n_inner)]
    return tasks, tables


def _backend_fits(
    backend: FitBackend, fit_predict: Callable[..., Any], models: Mapping[str, Any], X: Any,
    y: Any, splits: Sequence[Any], times: np.ndarray, own_time: np.ndarray,
    grid_tick: Callable[[], None] | None = None,
) -> Iterable[tuple[tuple[int, str], Any]]:
    """((split index, model name), (risk, surv, own)) of every split x model, via ``backend``.

    ``fit_predict(name, model, X_train, y_train, X_test, times, own_times, label)`` fits and
    predicts one task (the local engine's function). Two waves: the plain fits and every grid
    point, then the refits of the chosen candidates.
    """
    shared = _Shared(dict(models), X, y, [np.asarray(s.train_idx) for s in splits],
                     [np.asarray(s.test_idx) for s in splits],
                     [s.label or str(s) for s in splits], times, own_time, fit_predict)
    tasks, tables = _first_wave(shared)
    errors: dict[tuple[int, str], list] = {key: [] for key in tables}
    results = backend.map_unordered(_run_task, shared, tasks)
    for task, value in _ordered(results, len(tasks)):
        if task.kind == "fit":
            yield (task.split, task.name), value
            continue
        tables[task.split, task.name][task.candidate, task.inner] = value[0]
        errors[task.split, task.name].append(value[1])
        if grid_tick is not None:
            grid_tick()
    refits = []
    for (i, name), table in tables.items():
        _check_inner_failures(name, shared.labels[i], errors[i, name])
        params = list(ParameterGrid(models[name].param_grid))[_best_candidate(table)]
        refits.append(_Task("refit", len(refits), i, name, params=params))
    if refits:
        results = backend.map_unordered(_run_task, shared, refits)
        for task, value in _ordered(results, len(refits)):
            yield (task.split, task.name), value


def _n_grid_points(models: Mapping[str, Any], X: Any, y: Any, splits: Sequence[Any]) -> int:
    """How many grid-point tasks :func:`_backend_fits` runs (for progress)."""
    total = 0
    for s in splits:
        rows = np.asarray(s.train_idx)
        for model in models.values():
            if _unrolled(model):
                n_inner = check_cv(model.cv, y[rows], classifier=False).get_n_splits(
                    X.iloc[rows], y[rows])
                total += len(ParameterGrid(model.param_grid)) * n_inner
    return total
