"""Where runs go, and a store that is ready before work starts.

The tracking URI in force is explicit > ``MLFLOW_TRACKING_URI`` > config > the local default
``sqlite:///mlruns/mlflow.db`` (:func:`resolve_tracking_uri`).

**A local SQLite store is prepared once per process before any work** (:func:`prepare_store`,
called by :func:`setup_experiment` and :func:`using_store`), under a lock file beside the
database so that concurrent processes do it one at a time:

1. *Initialise*: MLflow creates (migrates) the tables of a new database the first time a store
   object is built; two processes doing that at once both try to create the same tables
   (``table ... already exists``) and one loses its work. Under the lock, the first process
   migrates and the others find the tables ready.
2. *Relocate*: MLflow records absolute artifact locations (experiments, runs, logged models,
   model versions, trace tags), resolving relative ones against the working directory when an
   experiment is created (mlflow/mlflow#7670; relative locations are an open request,
   mlflow/mlflow#3144). The store's artifacts live in the folder ``artifacts`` beside the
   database (:func:`artifact_root`); when the store has been copied or moved, the locations
   still under the old ``artifacts`` folder are rewritten to the new one, so a copied
   ``mlruns/`` reads and writes its own files and works after the original is gone. (MLflow
   also caches artifact repositories by run id for the life of a process; switching stores
   with :func:`using_store` or :func:`setup_experiment` clears that cache.) The rewrite
   touches only locations that start with an old ``.../artifacts`` root of an experiment of this
   store; anything stored elsewhere (another artifact root, S3, a server) is left alone.

Locks are ``fcntl`` locks (POSIX): the kernel releases them when a process dies, so a killed
process never leaves a store locked. A tracking server (``http://``) initialises its own
database when it starts (``mmrisk server``); for those stores and for direct database URIs,
:func:`store_lock` uses a lock entry in the model registry instead (see its docstring).
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow

from mmrisk.exceptions import MMRiskError

__all__ = ["DEFAULT_TRACKING_URI", "artifact_root", "prepare_store", "relocate_store",
           "resolve_tracking_uri", "setup_experiment", "sqlite_path", "store_lock",
           "using_store"]

log = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"

#: Local stores prepared in this process (resolved database paths).
_PREPARED: set[str] = set()

#: Columns of MLflow's schema that hold artifact locations: (table, column, extra condition).
_LOCATION_COLUMNS = (
    ("experiments", "artifact_location", ""),
    ("runs", "artifact_uri", ""),
    ("logged_models", "artifact_location", ""),
    ("model_versions", "storage_location", ""),
    ("model_versions", "source", ""),
    ("trace_tags", "value", "AND key = 'mlflow.artifactLocation'"),
)


def resolve_tracking_uri(explicit: str | None = None, configured: str | None = None) -> str:
    """The tracking URI in force.

    Parameters
    ----------
    explicit : str, optional
        ``--tracking-uri``: wins.
    configured : str, optional
        The config's ``tracking.tracking_uri``, used after ``MLFLOW_TRACKING_URI``.

    Returns
    -------
    str
        ``explicit``, else ``MLFLOW_TRACKING_URI``, else ``configured``, else
        ``sqlite:///mlruns/mlflow.db``.
    """
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or configured or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a local SQLite store.

    Parameters
    ----------
    uri : str
        Tracking URI.

    Returns
    -------
    pathlib.Path or None
        The file of ``sqlite:///…`` (relative paths are relative to the working directory, as
        for MLflow); ``None`` for any other store.
    """
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///"))
    return None


def artifact_root(uri: str) -> str | None:
    """Where a store keeps artifacts when the server is given none.

    Parameters
    ----------
    uri : str
        Tracking URI.

    Returns
    -------
    str or None
        For a local SQLite store, the folder ``artifacts`` beside the database (a file URI);
        ``None`` for other stores (their own default).
    """
    db = sqlite_path(uri)
    if db is not None:
        return (db.parent / "artifacts").resolve().as_uri()
    return None


@contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MMRiskError(f"{path} was held by another process for more than "
                                      f"{timeout:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _holder_gone(holder: str) -> bool:
    """Whether a registry lock's holder (``host:pid:token``) is a dead process on this host."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def _registry_lock(uri: str, name: str, timeout: float, stale: float) -> Iterator[None]:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    entry = f"{name}.mmrisk-lock"
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            client.create_registered_model(
                entry, tags={"mmrisk.lock_holder": holder},
                description="mmrisk lock entry (held for a moment; removed on release)")
            break
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        try:
            held = client.get_registered_model(entry)
        except MlflowException:
            continue  # released meanwhile
        age = time.time() - held.creation_timestamp / 1000
        other = held.tags.get("mmrisk.lock_holder", "")
        if age > stale or _holder_gone(other):
            log.warning("breaking the lock %s of %s (held %.0f s)", entry, other, age)
            try:
                if client.get_registered_model(entry).tags.get("mmrisk.lock_holder") == other:
                    client.delete_registered_model(entry)
            except MlflowException:
                pass
            continue
        if time.monotonic() > deadline:
            raise MMRiskError(f"the lock {entry!r} in {uri} was held by {other} for more than "
                              f"{timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
    try:
        yield
    finally:
        try:
            client.delete_registered_model(entry)
        except MlflowException as e:  # broken by another process as stale
            log.warning("lock %s was gone at release: %s", entry, e)


@contextmanager
def store_lock(uri: str, name: str, *, timeout: float = 600.0, stale: float = 300.0
               ) -> Iterator[None]:
    """Hold a lock named ``name`` among every process that uses the store ``uri``.

    A local SQLite store uses a lock file beside the database (``.<db>.<name>.lock``; released
    by the kernel when the holder dies). Any other store (a tracking server, a database URI)
    uses an entry of its model registry, the registered model ``<name>.mmrisk-lock``: creating
    it succeeds for one process only (the database's unique name), the holder deletes it on
    release. An entry older than ``stale`` seconds, or held by a dead process on this host, is
    broken, so a killed holder delays the others but never blocks them.

    Parameters
    ----------
    uri : str
        Tracking URI (also the registry).
    name : str
        Lock name, e.g. ``champion.<registered model>``.
    timeout : float, default=600.0
        Seconds to wait before giving up.
    stale : float, default=300.0
        Age in seconds after which a registry lock entry is considered abandoned.

    Yields
    ------
    None
        While the lock is held.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        When the lock could not be taken within ``timeout`` seconds.
    """
    db = sqlite_path(uri)
    if db is not None:
        with _file_lock(db.with_name(f".{db.name}.{name}.lock"), timeout):
            yield
    else:
        with _registry_lock(uri, name, timeout, stale):
            yield


def _old_roots(con: sqlite3.Connection, root: str) -> list[str]:
    """Artifact roots of this store's experiments that are not ``root`` (``.../artifacts``)."""
    rows = con.execute("SELECT artifact_location FROM experiments").fetchall()
    olds = set()
    for (loc,) in rows:
        loc = (loc or "").rstrip("/")
        if loc.startswith("file://") and loc.endswith("/artifacts") and loc != root:
            olds.add(loc)
    return sorted(olds)


def _columns(con: sqlite3.Connection) -> list[tuple[str, str, str]]:
    present = []
    for table, column, where in _LOCATION_COLUMNS:
        cols = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
        if column in cols:
            present.append((table, column, where))
    return present


def _rewrite(con: sqlite3.Connection, old: str, new: str) -> int:
    """Replace the prefix ``old`` by ``new`` (as file URIs and as plain paths)."""
    from urllib.parse import unquote, urlparse

    pairs = [(old, new), (unquote(urlparse(old).path), unquote(urlparse(new).path))]
    changed = 0
    for table, column, where in _columns(con):
        for a, b in pairs:
            cur = con.execute(
                f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                f"WHERE ({column} = ? OR substr({column}, 1, ?) = ?) {where}",
                (b, len(a) + 1, a, len(a) + 1, a + "/"))
            changed += cur.rowcount
    return changed


def relocate_store(db: str | Path) -> int:
    """Point a copied or moved local store's artifact locations at its own ``artifacts`` folder.

    Every location under an old ``artifacts`` root of one of the store's experiments (see the
    module docstring) is rewritten to the same relative place under ``<db folder>/artifacts``,
    in one transaction. Call it under :func:`store_lock` (:func:`prepare_store` does).

    Parameters
    ----------
    db : str or path-like
        The SQLite database file.

    Returns
    -------
    int
        Rows rewritten (0 when the store has not moved or has no experiments yet).
    """
    db = Path(db)
    root = (db.parent / "artifacts").resolve().as_uri()
    con = sqlite3.connect(db, timeout=60)
    try:
        has_experiments = con.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='experiments'").fetchone()
        if not has_experiments:
            return 0
        olds = _old_roots(con, root)
        if not olds:
            return 0
        with con:  # one transaction
            changed = sum(_rewrite(con, old, root) for old in olds)
        log.info("store %s moved: %d artifact locations rewritten from %s to %s", db, changed,
                 ", ".join(olds), root)
        return changed
    finally:
        con.close()


def prepare_store(uri: str) -> str:
    """Make a store ready before any work: initialised once, and relocated if it moved.

    For a local SQLite store (see the module docstring), under the lock file beside the
    database: create its folder, let MLflow create or migrate the tables, then
    :func:`relocate_store`. Done once per process and store; other stores are returned as they
    are (a tracking server initialises its database when it starts).

    Parameters
    ----------
    uri : str
        Tracking URI.

    Returns
    -------
    str
        ``uri``.
    """
    db = sqlite_path(uri)
    if db is None:
        return uri
    key = str(db.resolve())
    if key in _PREPARED:
        return uri
    from mlflow.tracking import MlflowClient

    db.parent.mkdir(parents=True, exist_ok=True)
    with store_lock(uri, "init"):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)  # builds the stores: creates/migrates tables
        client.search_registered_models(max_results=1)
        relocate_store(db)
    _PREPARED.add(key)
    return uri


def setup_experiment(uri: str, experiment: str) -> str:
    """Point MLflow at ``uri`` and return the id of ``experiment`` (created if absent).

    The store is prepared first (:func:`prepare_store`); runs of the experiment still marked
    RUNNING whose process on this host is gone are marked KILLED
    (:func:`mmrisk.tracking.reap_dead_runs`). When another process creates the experiment at
    the same moment, its experiment is used. MLflow's tracking URI points at ``uri``
    afterwards.

    Parameters
    ----------
    uri : str
        Tracking URI (a local SQLite store's folder is created).
    experiment : str
        Experiment name.

    Returns
    -------
    str
        The experiment id.
    """
    from mlflow.exceptions import MlflowException

    from mmrisk.tracking._runs import reap_dead_runs

    prepare_store(uri)
    if uri != mlflow.get_tracking_uri():
        _forget_artifact_repos()
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        exp_id = found.experiment_id
    else:
        try:
            exp_id = mlflow.create_experiment(experiment, artifact_location=artifact_root(uri))
        except MlflowException as e:  # created by a concurrent process meanwhile
            found = mlflow.get_experiment_by_name(experiment)
            if found is None:
                raise
            log.info("experiment %s was created concurrently: %s", experiment, e)
            exp_id = found.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)  # nested (child) runs go here too
    reap_dead_runs(uri, exp_id)
    return exp_id


def _forget_artifact_repos() -> None:
    """Drop MLflow's process-wide cache of artifact repositories.

    MLflow caches a run's artifact repository by run id alone, not by store: a process that
    used a store and then a copy of it (same run ids) would keep writing into the first.
    """
    from mlflow.tracking._tracking_service import utils

    cache = getattr(utils, "_artifact_repos_cache", None)
    if cache is not None:
        cache.clear()


@contextmanager
def using_store(uri: str) -> Iterator[str]:
    """Point MLflow's tracking and registry at ``uri`` for a block, then restore them.

    The store is prepared first (:func:`prepare_store`).

    Parameters
    ----------
    uri : str
        Tracking URI (also used as the registry URI).

    Yields
    ------
    str
        ``uri``.
    """
    prepare_store(uri)
    if uri != mlflow.get_tracking_uri():
        _forget_artifact_repos()
    # MLflow keeps both URIs in module globals *and* in the MLFLOW_*_URI environment variables
    # (which child processes inherit): restore both, so that afterwards the registry follows
    # the tracking URI again unless it was pinned before.
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    old_tracking = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri(old_tracking)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type] - None: follow the env/tracking
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
