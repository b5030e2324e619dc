"""A signal never cuts into a tracking-store write (``mmrisk.workflows._lifecycle``).

The CI failure this guards against: SIGTERM arrived inside ``mlflow.log_params`` (a SQLAlchemy
transaction on the SQLite store); the exception left the connection holding the write lock, and
ending the run failed with "database is locked" after SQLite's busy timeout, so the process
died with a traceback instead of exit 143 and runs marked KILLED.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mmrisk.workflows import Interrupted, kill_runs_on_interrupt, signals_raise

# Code whose module name says "tracking store" (how the handler recognises one).
_STORE_CODE = """
def store_call(seconds, log):
    os.kill(os.getpid(), signal.SIGTERM)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    log.append("store call returned")
"""


def _fake_store_call():
    namespace = {"__name__": "mlflow.store.fake", "os": os, "signal": signal, "time": time}
    exec(_STORE_CODE, namespace)  # noqa: S102 - a function that looks like store code
    return namespace["store_call"]


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_signal_inside_a_store_call_is_raised_when_the_call_returns():
    store_call = _fake_store_call()
    log: list[str] = []
    start = time.monotonic()
    with pytest.raises(Interrupted) as info, signals_raise():
        store_call(0.3, log)
        _busy(5.0)  # the held-back signal is raised as the store call returns
        log.append("never")
    assert info.value.signum == signal.SIGTERM
    assert log == ["store call returned"]
    assert 0.3 <= time.monotonic() - start < 4


def test_a_signal_outside_the_store_is_raised_at_once():
    log: list[str] = []
    start = time.monotonic()
    with pytest.raises(Interrupted), signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        _busy(5.0)
        log.append("never")
    assert log == [] and time.monotonic() - start < 4


def test_a_store_call_that_ends_the_block_does_not_lose_the_signal():
    store_call = _fake_store_call()
    log: list[str] = []
    before = signal.getsignal(signal.SIGTERM), sys.getprofile()
    with pytest.raises(Interrupted), signals_raise():
        store_call(0.0, log)
    assert log == ["store call returned"]
    # the handlers and the profile function are those of before the block
    assert (signal.getsignal(signal.SIGTERM), sys.getprofile()) == before


def test_a_second_signal_from_outside_stops_a_long_store_call():
    namespace = {"__name__": "sqlalchemy.fake", "time": time}
    exec("def hang(log):\n    end = time.monotonic() + 10\n"  # noqa: S102
         "    while time.monotonic() < end:\n        pass\n    log.append('returned')\n",
         namespace)
    log: list[str] = []
    timers = [threading.Timer(t, os.kill, (os.getpid(), signal.SIGTERM)) for t in (0.1, 0.4)]
    start = time.monotonic()
    with pytest.raises(Interrupted), signals_raise():
        for t in timers:
            t.start()
        namespace["hang"](log)
    assert log == [] and time.monotonic() - start < 5


def test_sigterm_during_store_writes_leaves_a_usable_store(tmp_path):
    """Signals sent while a run logs to SQLite: the run still ends KILLED, no lock is left."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("signals")

        @kill_runs_on_interrupt
        def work():
            with mlflow.start_run(experiment_id=experiment):
                with mlflow.start_run(experiment_id=experiment, nested=True):
                    for i in range(100_000):
                        mlflow.log_param(f"p{i}", i)  # nearly all time in the store

        for delay in (0.2, 0.45, 0.7, 0.3, 0.55):
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGTERM))
            timer.start()
            with pytest.raises(Interrupted):
                work()
            timer.join()
        runs = MlflowClient(uri).search_runs([experiment])
        assert len(runs) == 10
        assert {r.info.status for r in runs} == {"KILLED"}
        assert {r.data.tags.get("mmrisk.end_reason") for r in runs} == {"SIGTERM"}
    finally:
        mlflow.set_tracking_uri(None)
