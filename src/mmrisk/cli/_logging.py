"""Quiet by default: mmrisk's own warnings on the console, libraries' chatter in a log file."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from rich.logging import RichHandler

from mmrisk.cli._common import err

#: Loggers of the libraries mmrisk drives (MLflow, its database layer, Spark, HTTP clients).
LIBRARY_LOGGERS = ("mlflow", "alembic", "sqlalchemy", "urllib3", "py4j", "pyspark", "numba",
                   "shap", "matplotlib", "git", "py.warnings")


def log_file() -> Path:
    """Where library logs go: ``mmrisk.log`` beside the local MLflow store.

    ``MMRISK_LOG_FILE`` overrides it. For a local SQLite store (the default
    ``sqlite:///mlruns/mlflow.db``) that is ``mlruns/mmrisk.log``; for a remote store,
    ``./mmrisk.log``.
    """
    explicit = os.environ.get("MMRISK_LOG_FILE")
    if explicit:
        return Path(explicit)
    uri = os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent / "mmrisk.log"
    return Path("mmrisk.log")


#: The log file :func:`configure` chose last (None: console, ``--verbose``, or not configured).
_active: Path | None = None


def active_log_file() -> Path | None:
    """The log file libraries' output goes to, as :func:`configure` set it (None: console)."""
    return _active


def configure(verbose: bool) -> Path | None:
    """Route logging: mmrisk's loggers to stderr; libraries to :func:`log_file` (or stderr).

    Parameters
    ----------
    verbose : bool
        Show mmrisk's INFO messages and every library's log lines and warnings on stderr.

    Returns
    -------
    pathlib.Path or None
        The log file in use (None when ``verbose``).
    """
    global _active
    _active = None
    console = RichHandler(console=err, show_path=False)
    root = logging.getLogger()
    root.handlers[:] = [console]
    root.setLevel(logging.WARNING)
    logging.getLogger("mmrisk").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.captureWarnings(True)
    if verbose:
        return None
    # MLflow configures its own stderr handler at import unless told not to; its artifact
    # download bars go to stderr too.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--conf spark.ui.showConsoleProgress=false "
                          "pyspark-shell")
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The Spark driver JVM writes its start-up lines and log4j output to this file too
    # (mmrisk.workflows._spark.JVM_LOG_ENV; the JVM gets the descriptor when it starts).
    if not isinstance(handler, logging.NullHandler):
        os.environ.setdefault("MMRISK_JVM_LOG", str(path))
        _active = path
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        lib.handlers[:] = [handler]
        lib.propagate = False
        # SQLAlchemy's INFO is every SQL statement with its parameters (thousands of lines per
        # command): warnings only.
        lib.setLevel(logging.WARNING if name in ("sqlalchemy", "alembic") else logging.INFO)
    warnings.simplefilter("default")
    return path
