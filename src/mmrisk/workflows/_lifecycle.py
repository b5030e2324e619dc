"""Interrupted work cleans up: SIGTERM, SIGHUP and SIGINT become an exception.

By default SIGTERM (a scheduler's kill, ``kill PID``) and SIGHUP (a closed terminal) end a
Python process on the spot: no ``finally`` block runs, so MLflow runs stay RUNNING and
temporary files stay behind. :func:`signals_raise` turns them, and SIGINT (Ctrl-C), into
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so ``with`` blocks unwind:
temporary folders and files are removed and ``mlflow.start_run`` blocks end their runs.
:func:`interruptible` applies it to a workflow; :func:`kill_runs_on_interrupt` also marks the
MLflow runs that were active when the signal came, with their unfinished children, KILLED
(MLflow itself would record FAILED). A signal that was ignored when the block started (e.g. a
job started with ``nohup``) stays ignored. SIGKILL cannot be caught: the runs it leaves
RUNNING are recognised by their process tags (:func:`mmrisk.tracking.run_state`).
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["Interrupted", "interruptible", "kill_runs_on_interrupt", "signals_raise"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: The signals turned into :class:`Interrupted`.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):  # noqa: N818 - a KeyboardInterrupt, named like one
    """A workflow was stopped by a signal (SIGINT, SIGTERM or SIGHUP).

    Parameters
    ----------
    signum : int
        The signal number.
    runs : list of str, optional
        MLflow runs that were active when the signal came.
    """

    def __init__(self, signum: int, runs: list[str] | None = None):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.runs = list(runs or [])


def _active_runs() -> list[str]:
    """The active MLflow run of this thread and its parent (read from memory only)."""
    import sys

    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is None:
        return []
    run = fluent.active_run()
    if run is None:
        return []
    ids = [run.info.run_id]
    parent = run.data.tags.get("mlflow.parentRunId")
    if parent:
        ids.insert(0, parent)
    return ids


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted`.

    Only in the main thread (elsewhere Python delivers no signals: the block runs as is); the
    previous handlers are restored at the end.

    Yields
    ------
    None
        While the handlers are installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(signum, _active_runs())

    previous = {}
    for s in SIGNALS:
        current = signal.getsignal(s)
        if current is not signal.SIG_IGN:
            previous[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def interruptible(fn: F) -> F:
    """Decorate a workflow so that SIGTERM, SIGHUP and SIGINT unwind it (:func:`signals_raise`).

    Parameters
    ----------
    fn : callable
        The workflow.

    Returns
    -------
    callable
        ``fn``, run under :func:`signals_raise`.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with signals_raise():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def kill_runs_on_interrupt(fn: F) -> F:
    """Decorate a workflow that logs MLflow runs: on a signal, its runs end KILLED.

    The runs active when the signal came (the child run and its parent) and the parent's
    children that did not finish are marked KILLED with the tag ``mmrisk.end_reason``
    (``SIGTERM``, ...), then the :class:`Interrupted` exception propagates.

    Parameters
    ----------
    fn : callable
        The workflow.

    Returns
    -------
    callable
        ``fn``, run under :func:`signals_raise`.
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with signals_raise():
            try:
                return fn(*args, **kwargs)
            except Interrupted as e:
                if e.runs:
                    _mark(e)
                raise

    return wrapper  # type: ignore[return-value]


def _mark(e: Interrupted) -> None:
    from mlflow.tracking import MlflowClient

    from mmrisk.tracking import mark_killed

    try:
        marked = mark_killed(MlflowClient(), e.runs, signal.Signals(e.signum).name)
        log.warning("interrupted by %s: run(s) %s marked KILLED",
                    signal.Signals(e.signum).name, ", ".join(marked))
    except Exception as err:  # noqa: BLE001 - the store may be the reason; keep the interrupt
        log.warning("interrupted by %s; the runs could not be marked KILLED: %s",
                    signal.Signals(e.signum).name, err)
