"""``mmrisk serve`` and ``mmrisk ui`` from a new user's side: a port in use or a model URI that
does not resolve is one ``Error:`` line (exit 1) and nothing announced; the UI's MLflow and
uvicorn chatter goes to the log file, not the console."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from servers import free_port, stop_process_group
from typer.testing import CliRunner

import mmrisk
from mmrisk.cli import app
from mmrisk.exceptions import MMRiskError
from mmrisk.workflows import serve, ui


@pytest.fixture
def busy_port():
    """A port on 127.0.0.1 held by a listening socket for the test's duration."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    path = tmp_path / "mmrisk.log"
    monkeypatch.setenv("MMRISK_LOG_FILE", str(path))
    return path


def _one_error_line(output: str, words: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error:") and words in lines[0], output
    assert "Traceback" not in output and "Serving" not in output
    assert "MLflow UI on" not in output


@pytest.mark.parametrize("command", [["serve", "--model", "models:/anything@champion"], ["ui"]])
def test_a_port_in_use_is_one_error_line_and_nothing_announced(command, busy_port, tmp_path,
                                                              log_file):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    res = CliRunner().invoke(app, [*command, "--port", str(busy_port), "--tracking-uri", store])
    assert res.exit_code == 1, res.output
    _one_error_line(res.output, f"port {busy_port} on 127.0.0.1 is in use (choose another "
                                "with --port)")


def test_tracking_server_port_in_use_is_one_error_line(busy_port, tmp_path, log_file):
    res = CliRunner().invoke(app, ["server", "--backend-store-uri",
                                   f"sqlite:///{tmp_path}/team.db", "--artifacts-destination",
                                   str(tmp_path / "artifacts"), "--port", str(busy_port)])
    assert res.exit_code == 1, res.output
    _one_error_line(res.output, f"port {busy_port} on 127.0.0.1 is in use")
    assert "MLflow tracking server on" not in res.output


def test_the_library_checks_the_port_before_announcing(busy_port, tmp_path):
    announced: list[str] = []
    store = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.raises(MMRiskError, match="in use"):
        serve("models:/anything@champion", busy_port, tracking_uri=store,
              announce=announced.append)
    with pytest.raises(MMRiskError, match="in use"):
        ui(store, busy_port, announce=announced.append)
    assert announced == []


def test_a_model_uri_that_does_not_resolve_is_one_error_line(tmp_path, log_file):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    res = CliRunner().invoke(app, ["serve", "--model", "models:/mm-none@nope", "--port",
                                   str(free_port()), "--tracking-uri", store])
    assert res.exit_code == 1, res.output
    _one_error_line(res.output, "models:/mm-none@nope")


@pytest.mark.slow
def test_ui_chatter_goes_to_the_log_file_not_the_console(tmp_path):
    port = free_port()
    console, log = tmp_path / "console.txt", tmp_path / "mmrisk.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MMRISK_LOG_FILE=str(log), PYTHONPATH=str(Path(mmrisk.__file__).parents[1]),
               MLFLOW_WORKERS="1", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    cmd = [sys.executable, "-c", "from mmrisk.cli import app; app(prog_name='mmrisk')", "ui",
           "--port", str(port), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    with console.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 150
        while True:
            assert proc.poll() is None, console.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, console.read_text()
            time.sleep(0.5)
    finally:
        stop_process_group(proc)
    shown, logged = console.read_text(), log.read_text()
    # rich wraps at the console width (COLUMNS may be set by the test runner)
    assert f"MLflow UI on http://127.0.0.1:{port} over sqlite:///" in " ".join(shown.split())
    for chatter in ("Uvicorn", "Security middleware", "HTTP/1.1", "Registry store URI",
                    "DeprecationWarning"):
        assert chatter not in shown, shown
    assert "Uvicorn running on" in logged and '"GET / HTTP/1.1" 200' in logged, logged


def test_a_port_that_cannot_be_bound_otherwise_is_a_clear_error(monkeypatch, tmp_path):
    import errno

    def refuse(self, address):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(MMRiskError, match=r"cannot listen on 127\.0\.0\.1:80: Permission denied"):
        ui(f"sqlite:///{tmp_path}/mlflow.db", 80)
