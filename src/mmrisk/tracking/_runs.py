"""Run lifecycle: which process a run belongs to, whether it finished, and runs whose process is
gone.

MLflow marks a run FINISHED or FAILED when its ``with mlflow.start_run()`` block ends, and
leaves it RUNNING forever when the process is killed outright (SIGKILL, a crashed node). mmrisk
tags every train run with the process that owns it (:func:`process_tags`: host name, process
id and the process's start time, so that a recycled process id is not mistaken for the owner).
:func:`run_state` then tells a live RUNNING run from a ``DEAD`` one, on the same host; on
another host a RUNNING run is taken at its word. :func:`reap_dead_runs` marks dead runs KILLED
(called when a train starts in the experiment); :func:`mark_killed` is what an interrupted
train does with its own runs.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any

import psutil
from mlflow.tracking import MlflowClient

__all__ = ["HOST_TAG", "PID_STARTED_TAG", "PID_TAG", "describe_state", "mark_killed",
           "process_alive", "process_tags", "reap_dead_runs", "run_state"]

log = logging.getLogger(__name__)

HOST_TAG = "mmrisk.host"
PID_TAG = "mmrisk.pid"
PID_STARTED_TAG = "mmrisk.pid_started"
#: Why a run was ended by mmrisk rather than by its own process.
END_REASON_TAG = "mmrisk.end_reason"

#: Seconds of tolerance when comparing a process's start time with the recorded one.
_START_TOLERANCE = 1.0


def process_tags() -> dict[str, str]:
    """Tags naming the current process: host, process id and the process's start time.

    Returns
    -------
    dict of str to str
        ``mmrisk.host``, ``mmrisk.pid``, ``mmrisk.pid_started`` (seconds since the epoch).
    """
    started = psutil.Process().create_time()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            PID_STARTED_TAG: f"{started:.3f}"}


def process_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether the process recorded in a run's tags is still running.

    Parameters
    ----------
    tags : mapping
        The run's tags (:func:`process_tags`).

    Returns
    -------
    bool or None
        True or False for a process of this host; None when it cannot be told (no tags, or
        another host).
    """
    pid = tags.get(PID_TAG, "")
    if tags.get(HOST_TAG) != socket.gethostname() or not pid.isdigit():
        return None
    try:
        proc = psutil.Process(int(pid))
        started = proc.create_time()
        zombie = proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
    recorded = tags.get(PID_STARTED_TAG)
    if recorded and abs(started - float(recorded)) > _START_TOLERANCE:
        return False  # the process id was given to another process
    return not zombie


def run_state(run: Any) -> str:
    """A run's status, with ``DEAD`` for a RUNNING run whose process is gone.

    Parameters
    ----------
    run : mlflow.entities.Run
        The run.

    Returns
    -------
    str
        ``FINISHED``, ``FAILED``, ``KILLED``, ``SCHEDULED``, ``RUNNING`` (alive, or on another
        host) or ``DEAD``.
    """
    status = run.info.status
    if status == "RUNNING" and process_alive(run.data.tags) is False:
        return "DEAD"
    return status


def describe_state(state: str) -> str:
    """A phrase for a run state, e.g. ``"was killed"``.

    Parameters
    ----------
    state : str
        From :func:`run_state`.

    Returns
    -------
    str
        What happened to the run, in words.
    """
    return {"FINISHED": "finished", "FAILED": "failed", "KILLED": "was killed",
            "RUNNING": "is still running", "SCHEDULED": "has not started",
            "DEAD": "is marked RUNNING but its process is gone"}.get(state, state.lower())


def mark_killed(client: MlflowClient, run_ids: Iterable[str], reason: str) -> list[str]:
    """Mark runs and their unfinished child runs KILLED.

    Parameters
    ----------
    client : MlflowClient
        Client of the store.
    run_ids : iterable of str
        Runs to mark (parents: their children that did not finish are marked too).
    reason : str
        Stored in the tag ``mmrisk.end_reason``.

    Returns
    -------
    list of str
        The runs marked.
    """
    marked: list[str] = []
    for run_id in dict.fromkeys(run_ids):
        run = client.get_run(run_id)
        children = client.search_runs(
            [run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run_id}'")
        for r in [*children, run]:
            if r.info.status != "FINISHED" and r.info.run_id not in marked:
                client.set_tag(r.info.run_id, END_REASON_TAG, reason)
                client.set_terminated(r.info.run_id, status="KILLED")
                marked.append(r.info.run_id)
    return marked


def reap_dead_runs(uri: str, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs of an experiment whose process on this host is gone.

    Parameters
    ----------
    uri : str
        Tracking URI.
    experiment_id : str
        The experiment.

    Returns
    -------
    list of str
        The runs marked.
    """
    client = MlflowClient(tracking_uri=uri)
    running = client.search_runs(
        [experiment_id],
        f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{socket.gethostname()}'")
    dead = [r.info.run_id for r in running if run_state(r) == "DEAD"]
    marked = mark_killed(client, dead, "process gone") if dead else []
    if marked:
        log.warning("marked %d run(s) KILLED whose process was gone: %s", len(marked),
                    ", ".join(marked))
    return marked
