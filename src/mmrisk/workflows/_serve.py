"""REST scoring on 127.0.0.1: MLflow's scoring app behind mmrisk's request checks.

``mmrisk serve --model URI --port P`` runs::

    <this python> -m mmrisk.tracking._serving --model URI --host 127.0.0.1 --port P

with ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_REGISTRY_URI``) set for the child, so
``models:/name@champion`` and ``runs:/…`` resolve against the same store as ``mmrisk train``.
Each ``uvicorn`` worker resolves and loads the model once at start-up with
:func:`mmrisk.tracking.load_model` (files checked against the SHA-256 recorded in the store
before anything is unpickled; an alias that moves later needs a restart) and serves MLflow's own
scoring app (:func:`mlflow.pyfunc.scoring_server.init`) behind
:class:`mmrisk.tracking._serving.ScoringApp`; answers are the pyfunc's own prediction table.

Endpoints: ``GET /ping`` and ``GET /health`` (200 once the model is loaded), ``GET /version``,
``POST /invocations`` with JSON such as::

    {"dataframe_split": {"columns": ["age", "sex", ...], "data": [[61.2, "F", ...], ...]}}
    {"dataframe_records": [{"age": 61.2, "sex": "F", ...}, ...]}

(``null`` for a missing value; optional ``"params": {"reasons": true}``), or CSV with a header
row (``Content-Type: text/csv``, read as ``mmrisk score`` reads a CSV file) →
``{"predictions": [{...}, ...]}``, one record per input row with the pyfunc's output columns.
A bad cell makes its row ``status=error``; a request that cannot be read as a whole is answered
with ``{"error_code": ..., "message": ...}`` (4xx), a short message that quotes no input value
and holds no stack trace.

The server binds to the loopback interface only and has no authentication: to reach it from
elsewhere put an authenticating reverse proxy (or an SSH tunnel) in front of it.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path

from mmrisk.exceptions import MMRiskError
from mmrisk.tracking import DIGEST_ENV

__all__ = ["LOOPBACK", "check_model", "run_server", "serve", "serve_command", "serve_env",
           "server", "server_command", "ui", "ui_command", "wait_until_ready"]

#: The only interface the server binds to.
LOOPBACK = "127.0.0.1"


def _check(host: str, port: int) -> None:
    if host != LOOPBACK:
        raise MMRiskError(f"mmrisk serve binds to {LOOPBACK} only (got host {host!r}); put an "
                          "authenticating reverse proxy in front of it to expose it")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise MMRiskError(f"port must be an integer in 1..65535, got {port!r}")


def _check_port_free(host: str, port: int) -> None:
    """Bind ``host:port`` for a moment (as the server will, with ``SO_REUSEADDR``): a port in
    use is one clear error before anything is started or announced."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise MMRiskError(f"port {port} on {host} is in use (choose another with "
                                  "--port)") from None
            raise MMRiskError(f"cannot listen on {host}:{port}: {e.strerror} (choose another "
                              "port with --port)") from None


def serve_command(model_uri: str, port: int, host: str = LOOPBACK, *, workers: int = 1,
                  timeout: int = 60) -> list[str]:
    """The model server's command line (run with this interpreter).

    Parameters
    ----------
    model_uri : str
        Any MLflow URI of an mmrisk model (``models:/name@champion``, ``runs:/<id>/model``).
    port : int
        TCP port on 127.0.0.1.
    host : str
        Must be ``"127.0.0.1"`` (anything else raises :class:`~mmrisk.exceptions.MMRiskError`).
    workers : int
        Uvicorn worker processes (each loads the model).
    timeout : int
        Seconds one request may take.

    Returns
    -------
    list of str
        The command line.
    """
    _check(host, port)
    return [sys.executable, "-m", "mmrisk.tracking._serving", "--model", str(model_uri),
            "--host", host, "--port", str(port), "--workers", str(int(workers)),
            "--timeout", str(int(timeout))]


def serve_env(tracking_uri: str | None = None, registry_uri: str | None = None,
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the server process.

    ``MLFLOW_TRACKING_URI`` is ``tracking_uri``, else this process's
    (``mlflow.get_tracking_uri()``, with ``get_registry_uri()`` as ``MLFLOW_REGISTRY_URI`` when
    that differs); ``registry_uri`` sets ``MLFLOW_REGISTRY_URI`` explicitly. This
    interpreter's ``bin`` folder goes first on ``PATH``: MLflow's own commands start programs
    by name (``bash -c "exec uvicorn …"``), so without it one from another environment (or
    none) would be used when mmrisk runs from a virtualenv that is not activated.

    Parameters
    ----------
    tracking_uri : str, optional
        The store models resolve against.
    registry_uri : str, optional
        The model registry, when it is not the tracking store.
    base : mapping, optional
        The environment to start from (default: this process's).

    Returns
    -------
    dict
        The environment.
    """
    import mlflow

    env = dict(os.environ if base is None else base)
    if tracking_uri is None:
        env["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
        registry_uri = registry_uri or mlflow.get_registry_uri()
    else:  # an explicit store: its registry too, unless one is given
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    if registry_uri and registry_uri != env["MLFLOW_TRACKING_URI"]:
        env["MLFLOW_REGISTRY_URI"] = registry_uri
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bindir, *[p for p in env.get("PATH", "").split(os.pathsep)
                                             if p and p != bindir]])
    return env


def _check_server_packages() -> None:
    missing = [m for m in ("uvicorn", "fastapi") if importlib.util.find_spec(m) is None]
    if missing:
        raise MMRiskError(f"the model server needs {' and '.join(missing)} "
                          f"(pip install {' '.join(missing)})")


def wait_until_ready(port: int, *, proc: subprocess.Popen | None = None,
                     timeout: float = 120.0, interval: float = 0.25, path: str = "/ping"
                     ) -> float:
    """Poll ``http://127.0.0.1:<port><path>`` until it answers 200.

    Parameters
    ----------
    port : int
        The server's port on 127.0.0.1.
    proc : subprocess.Popen, optional
        The server process: its exit ends the wait with an error.
    timeout : float, default=120.0
        Seconds to wait at most.
    interval : float, default=0.25
        Seconds between polls.
    path : str, default="/ping"
        The endpoint (``/ping`` of the model server, ``/health`` of the tracking server).

    Returns
    -------
    float
        Seconds waited.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        When ``proc`` exits first or after ``timeout`` seconds.
    """
    start = time.monotonic()
    url = f"http://{LOOPBACK}:{port}{path}"
    while True:
        if proc is not None and proc.poll() is not None:
            raise MMRiskError(f"the server exited with code {proc.returncode} before "
                              "it was ready (see its log above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise MMRiskError(f"the server did not answer {url} within {timeout:.0f} s")
        time.sleep(interval)


def _stop(proc: subprocess.Popen, sig: int, grace: float) -> None:
    """Send ``sig`` to the server's process group; SIGKILL it after ``grace`` seconds."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait()


def serve(model_uri: str, port: int, host: str = LOOPBACK, *, tracking_uri: str | None = None,
          workers: int = 1, timeout: int = 60, grace: float = 10.0,
          announce: Callable[[str], None] | None = None) -> int:
    """Run the model server in the foreground until it exits or this process is signalled.

    Before anything starts, the port is checked (bound for a moment on ``host``) and the model
    is loaded here once (:func:`check_model`): a port in use or a URI that does not resolve
    raises, and ``announce`` is not called. The server runs in its own process group
    (``uvicorn`` and its worker processes); SIGINT, SIGTERM and SIGHUP received here are
    forwarded to the whole group, which gets ``grace`` seconds to shut down before SIGKILL.

    Parameters
    ----------
    model_uri, port, host, workers, timeout
        See :func:`serve_command`.
    tracking_uri : str, optional
        Store the URI resolves against; default: the current MLflow tracking URI.
    grace : float
        Seconds between the forwarded signal and SIGKILL.
    announce : callable, optional
        Called with the scoring URL (``http://127.0.0.1:P/invocations``) once the checks
        passed, just before the server starts.

    Returns
    -------
    int
        The server's exit code (128 + signal number when it ended by a signal).

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For a bad host or port, a port in use, missing server packages, or a model that cannot
        be loaded.
    """
    cmd = serve_command(model_uri, port, host, workers=workers, timeout=timeout)
    _check_server_packages()
    _check_port_free(host, port)
    env = serve_env(tracking_uri)
    env[DIGEST_ENV] = json.dumps(check_model(model_uri, env["MLFLOW_TRACKING_URI"]))
    if announce is not None:
        announce(f"http://{host}:{port}/invocations")
    return run_server(cmd, env, grace=grace)


def check_model(model_uri: str, tracking_uri: str | None = None) -> dict[str, str]:
    """Load the model once here, before a server is started: a clear error if it cannot be.

    Parameters
    ----------
    model_uri : str
        The model URI to serve.
    tracking_uri : str, optional
        The store it resolves against (default: MLflow's current one).

    Returns
    -------
    dict of str to str
        The SHA-256 of its artifacts recorded in the store (empty for a model logged before
        digests were recorded); the server process checks its files against them.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the URI does not resolve, is not an mmrisk model, or its files differ from the
        recorded digests.
    """
    from mmrisk.tracking import load_model, recorded_digests, using_store

    load_model(model_uri, tracking_uri)
    with using_store(tracking_uri) if tracking_uri else nullcontext():
        return recorded_digests(model_uri)


#: Runs the server command as its child and ends the whole process group when the mmrisk
#: process that started it is gone (even killed with SIGKILL, when nothing can be forwarded).
#: Signals sent to the group reach the server directly; the supervisor only waits for it.
_SUPERVISOR = """
import os, signal, subprocess, sys, time
parent = int(sys.argv[1])
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, lambda *_: None)
child = subprocess.Popen(sys.argv[2:])
while child.poll() is None:
    if os.getppid() != parent:
        os.killpg(0, signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(0, signal.SIGKILL)
        break
    time.sleep(0.5)
rc = child.wait()
sys.exit(128 - rc if rc < 0 else rc)
"""


def run_server(cmd: list[str], env: Mapping[str, str], *, grace: float = 10.0,
               log_path: str | os.PathLike | None = None) -> int:
    """Run a server command in the foreground, in its own process group, until it exits.

    SIGINT, SIGTERM and SIGHUP received here are forwarded to the whole group (MLflow's CLI
    process and its web-server children), which gets ``grace`` seconds to shut down before
    SIGKILL: stopping mmrisk never leaves a server behind. The command runs under a small
    supervisor that ends the group when this process disappears without a word (SIGKILL).

    Parameters
    ----------
    cmd : list of str
        The command line.
    env : mapping
        Its environment.
    grace : float, default=10.0
        Seconds between the forwarded signal and SIGKILL.
    log_path : str or path-like, optional
        A file the server's standard output and error are appended to (default: this
        process's console).

    Returns
    -------
    int
        The server's exit code (128 + signal number when it ended by a signal).
    """
    argv = [sys.executable, "-c", _SUPERVISOR, str(os.getpid()), *cmd]
    if log_path is None:
        proc = subprocess.Popen(argv, env=dict(env), start_new_session=True)
    else:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, env=dict(env), start_new_session=True,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
    received: list[int] = []

    def forward(signum, _frame):
        received.append(signum)
        threading.Thread(target=_stop, args=(proc, signum, grace), daemon=True).start()

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, forward) for s in handled}
    try:
        rc = proc.wait()
    except BaseException:
        _stop(proc, signal.SIGTERM, grace)
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received and rc != 0:
        return 128 + received[0]
    return 128 - rc if rc < 0 else rc


def ui_command(tracking_uri: str, port: int, host: str = LOOPBACK) -> list[str]:
    """The ``mlflow server`` command line of the MLflow UI over a store.

    Parameters
    ----------
    tracking_uri : str
        The store (a local SQLite store serves its artifacts from the folder beside it).
    port : int
        TCP port.
    host : str, default="127.0.0.1"
        Must be the loopback address.

    Returns
    -------
    list of str
        The command, run with this interpreter.
    """
    from mmrisk.tracking import artifact_root

    _check(host, port)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port),
           "--backend-store-uri", tracking_uri]
    root = artifact_root(tracking_uri)
    if root:
        cmd += ["--default-artifact-root", root]
    return cmd


def ui(tracking_uri: str, port: int = 5000, host: str = LOOPBACK, *, grace: float = 10.0,
       log_path: str | os.PathLike | None = None,
       announce: Callable[[str], None] | None = None) -> int:
    """Run the MLflow UI over ``tracking_uri`` in the foreground (as :func:`serve`).

    The port is checked first (bound for a moment on ``host``): a port in use raises before
    anything starts and ``announce`` is not called.

    Parameters
    ----------
    tracking_uri : str
        The store.
    port : int, default=5000
        TCP port on 127.0.0.1.
    host : str, default="127.0.0.1"
        Must be the loopback address.
    grace : float, default=10.0
        Seconds between a forwarded signal and SIGKILL.
    log_path : str or path-like, optional
        A file MLflow's and uvicorn's output (start-up lines, warnings, access log) is appended
        to (default: this process's console).
    announce : callable, optional
        Called with the UI's URL once the checks passed, just before the server starts.

    Returns
    -------
    int
        The server's exit code.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For a bad host or port, or a port in use.
    """
    from mmrisk.tracking import prepare_store

    cmd = ui_command(tracking_uri, port, host)
    _check_port_free(host, port)
    prepare_store(tracking_uri)  # tables ready and a copied store relocated before MLflow reads
    env = {**os.environ, "MLFLOW_WORKERS": os.environ.get("MLFLOW_WORKERS", "1")}
    if announce is not None:
        announce(f"http://{host}:{port}")
    return run_server(cmd, env, grace=grace, log_path=log_path)


#: Database drivers a backend store URI needs, by URI scheme (``postgresql+psycopg2`` etc.).
_DRIVERS = {"postgresql": ("psycopg2", "pip install 'mmrisk[server]' (psycopg2-binary)"),
            "mysql": ("pymysql", "pip install pymysql and use mysql+pymysql://"),
            "mssql": ("pyodbc", "pip install pyodbc")}


def _backend_uri(uri: str) -> str:
    """Check a backend store URI's driver; name psycopg2 when only it is installed.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; mmrisk's ``server`` extra installs
    psycopg2, so a bare ``postgresql://`` becomes ``postgresql+psycopg2://`` unless psycopg 3
    is installed.
    """
    scheme, sep, rest = uri.partition("://")
    dialect, _, driver = scheme.partition("+")
    if not sep or (dialect not in _DRIVERS and dialect != "sqlite"):
        shown = re.sub(r"//[^@/]*@", "//…@", uri)
        raise MMRiskError(f"backend store URI {shown!r}: use a database URI "
                          "(postgresql://USER@HOST:PORT/DB, mysql+pymysql://…, sqlite:///FILE)")
    if dialect == "postgresql" and not driver:
        if importlib.util.find_spec("psycopg") is not None:
            return uri
        driver = "psycopg2"
        uri = f"postgresql+psycopg2://{rest}"
    if dialect in _DRIVERS:
        module, hint = _DRIVERS[dialect]
        module = {"mysqldb": "MySQLdb"}.get(driver, driver) or module
        if importlib.util.find_spec(module) is None:
            raise MMRiskError(f"a {dialect} backend store needs the Python package {module} "
                              f"({hint})")
    return uri


def server_command(backend_store_uri: str, artifacts_destination: str, port: int = 5000,
                   host: str = LOOPBACK, *, workers: int = 4, app_name: str | None = None
                   ) -> list[str]:
    """The ``mlflow server`` command line of a team's tracking server.

    The server keeps runs, metrics and the model registry in ``backend_store_uri`` and proxies
    artifacts (``--serve-artifacts``): new experiments get ``mlflow-artifacts:/`` locations,
    clients upload and download through the server, and the files go to
    ``artifacts_destination``, a folder of the server (or an object store URI); clients never
    see server paths.

    Parameters
    ----------
    backend_store_uri : str
        A database URI, e.g. ``postgresql://mlflow@db.example.org:5432/mlflow`` (PostgreSQL
        needs ``psycopg2``: ``pip install 'mmrisk[server]'``; a bare ``postgresql://`` is
        given the ``psycopg2`` driver unless psycopg 3 is installed).
    artifacts_destination : str
        A local folder (made absolute and created) or a URI (``s3://…``, ``gs://…``).
    port : int, default=5000
        TCP port.
    host : str, default="127.0.0.1"
        Interface to bind; anything but the loopback address exposes the server to the
        network (put authentication in front of it: README, "Team deployment").
    workers : int, default=4
        Web-server worker processes.
    app_name : str, optional
        MLflow's ``--app-name``, e.g. ``basic-auth`` for its built-in authentication.

    Returns
    -------
    list of str
        The command, run with this interpreter.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For a bad port or worker count, a URI that is not a database, or a missing driver.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise MMRiskError(f"port must be an integer in 1..65535, got {port!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise MMRiskError(f"workers must be a positive integer, got {workers!r}")
    backend_store_uri = _backend_uri(backend_store_uri)
    dest = str(artifacts_destination)
    if "://" not in dest:
        folder = os.path.abspath(os.path.expanduser(dest))
        os.makedirs(folder, exist_ok=True)
        dest = folder
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_store_uri,
           "--serve-artifacts", "--artifacts-destination", dest, "--host", host,
           "--port", str(port), "--workers", str(workers)]
    if app_name:
        cmd += ["--app-name", app_name]
    return cmd


def server(backend_store_uri: str, artifacts_destination: str, port: int = 5000,
           host: str = LOOPBACK, *, workers: int = 4, app_name: str | None = None,
           grace: float = 10.0, announce: Callable[[str], None] | None = None) -> int:
    """Run a team's MLflow tracking server in the foreground (see :func:`server_command`).

    MLflow creates or migrates the backend database's tables once, at start-up, before it
    answers requests; clients then use ``--tracking-uri http://HOST:PORT`` (or
    ``MLFLOW_TRACKING_URI``). Signals are forwarded as for :func:`serve`.

    Parameters
    ----------
    backend_store_uri, artifacts_destination, port, host, workers, app_name
        See :func:`server_command`.
    grace : float, default=10.0
        Seconds between a forwarded signal and SIGKILL.
    announce : callable, optional
        Called with the server's URL once the arguments are valid and the port is free (a
        port in use raises :class:`~mmrisk.exceptions.MMRiskError` first).

    Returns
    -------
    int
        The server's exit code (128 + signal number when it ended by a signal).
    """
    cmd = server_command(backend_store_uri, artifacts_destination, port, host, workers=workers,
                         app_name=app_name)
    _check_port_free(host, port)
    if announce is not None:
        announce(f"http://{host}:{port}")
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)  # the server is the store; it is nobody's client
    return run_server(cmd, env, grace=grace)
