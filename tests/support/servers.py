"""Helpers for tests that start a server process (MLflow UI, model server): a free loopback
port, and stopping the server's whole process group so nothing outlives the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess

__all__ = ["free_port", "stop_process_group"]


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_group(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session=True``), wait,
    then SIGKILL whatever is left: children (uvicorn, MLflow workers) may outlive the leader."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=timeout)
