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

A signal that arrives while the tracking store is being written (SQLAlchemy, sqlite3, MLflow's
store code on the stack) is held back until that call returns, then raised: an exception cut
into a store transaction leaves its connection holding SQLite's write lock, and every later
write -- the one that ends the run, the one that marks it KILLED -- fails with "database is
locked". While a signal is held back, a profile function (``sys.setprofile``, main thread only)
watches for the outermost store frame to return and re-delivers the signal there
(``_thread.interrupt_main``); a second signal from outside raises at once.
"""

from __future__ import annotations

import _thread
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
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


#: Code a signal must not cut into: the tracking store's database and file writes.
_STORE_MODULES = ("sqlalchemy", "sqlite3", "alembic", "psycopg2", "mlflow.store")


def _outermost_store_frame(frame: FrameType | None) -> FrameType | None:
    """The store frame nearest the bottom of the stack under ``frame``, if any."""
    found = None
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_STORE_MODULES):
            found = frame
        frame = frame.f_back
    return found


class _Handler:
    """Raises :class:`Interrupted`, holding a signal back while a store call runs."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._boundary: FrameType | None = None
        self._returning: FrameType | None = None
        self._redelivering = False
        self._previous_profile: Any = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        redelivered, self._redelivering = self._redelivering, False
        returning, self._returning = self._returning, None
        if self.pending is not None and not redelivered:
            signum = self.pending  # a second signal from outside: stop now
        else:
            boundary = _outermost_store_frame(frame)
            # Re-delivered from the profile function, the returning store frame is still on
            # the stack: it no longer counts.
            if boundary is not None and boundary is not returning:
                self._hold(signum, boundary)
                return
        self.cancel()
        raise Interrupted(signum, _active_runs())

    def _hold(self, signum: int, boundary: FrameType) -> None:
        if self.pending is None:
            self._previous_profile = sys.getprofile()
        self.pending, self._boundary = signum, boundary
        sys.setprofile(self._watch)

    def _watch(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event == "return" and frame is self._boundary and self.pending is not None:
            self._unwatch()
            self._redelivering, self._returning = True, frame
            _thread.interrupt_main(self.pending)

    def _unwatch(self) -> None:
        self._boundary = None
        sys.setprofile(self._previous_profile)

    def cancel(self) -> None:
        """Forget a held-back signal."""
        if self.pending is not None:
            self._unwatch()
        self.pending = None
        self._returning = None


@contextmanager
def signals_raise() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted`.

    Only in the main thread (elsewhere Python delivers no signals: the block runs as is); the
    previous handlers are restored at the end. A signal that comes during a call into the
    tracking store is raised when that call returns (see the module docstring); one still
    held back when the block ends is raised there.

    Yields
    ------
    None
        While the handlers are installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    handler = _Handler()
    previous = {}
    for s in SIGNALS:
        current = signal.getsignal(s)
        if current is not signal.SIG_IGN:
            previous[s] = signal.signal(s, handler)
    try:
        yield
    finally:
        pending = handler.pending
        handler.cancel()
        for s, old in previous.items():
            signal.signal(s, old)
    if pending is not None:
        raise Interrupted(pending, _active_runs())


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
