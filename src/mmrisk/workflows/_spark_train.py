"""Train with Spark: the split x model fits (and grid points) of ``cross_validate`` as Spark tasks.

:class:`SparkFitBackend` is a :class:`mmrisk.evaluation.FitBackend` on a ``SparkContext``. The
cohort, the unfitted models and the split indices are sent once, as a Spark broadcast; each
fit (a model on one split's training rows, predicting its test rows) or grid point (one
hyperparameter candidate on one inner fold) is a Spark job of one task,
``sc.parallelize([task], 1).map(fn).collect()``. The jobs are submitted together from a pool of
driver threads (Spark runs concurrent jobs of one application side by side: "Scheduling
Within an Application" in Spark's job-scheduling guide), so the cluster sees every pending
fit and the driver receives each result as soon as its fit finishes: progress is reported per
fit and a failure stops the run early (the remaining jobs are cancelled by job group). Every
fit is the same ``clone(model).fit`` on the same rows as the local engine, so the results are
the same.

Running on a cluster: ``mmrisk train --engine spark --master spark://host:7077`` (or ``yarn``,
``k8s://…``), or ``spark-submit`` a script that calls :func:`mmrisk.workflows.train` with
``engine="spark"`` and ``master=None``. The executors unpickle mmrisk's models and its task
function, so they need the same mmrisk (and scikit-survival, scikit-learn, xgboost) versions
as the driver (``spark.pyspark.python`` pointing at that environment); the driver holds the
cohort, the broadcast and the out-of-fold predictions (driver memory a few times the cohort).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from mmrisk.evaluation import FitBackend
from mmrisk.exceptions import MMRiskError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark import SparkContext

__all__ = ["ENGINES", "SparkFitBackend", "check_engine", "check_master", "fit_backend",
           "spark_fit_backend"]

logger = logging.getLogger(__name__)

#: Where ``mmrisk train`` fits: ``local`` (joblib processes, ``validation.n_jobs``) or ``spark``.
ENGINES = ("local", "spark")

_LOCAL_MASTER = re.compile(r"local(\[(\*|\d+)(,\s*\d+)?\])?$|local-cluster\[.+\]$")
_CONNECT_TIMEOUT = 5.0


def check_master(master: str | None) -> str | None:
    """The Spark master to use, checked before Spark starts (so a typo fails at once).

    Parameters
    ----------
    master : str or None
        ``local``, ``local[n]``, ``local[*]``, ``yarn``, ``spark://host:port[,host:port]``,
        ``k8s://https://…``; ``None``: the master of ``spark-submit`` when this process was
        started by it, otherwise ``local[*]``.

    Returns
    -------
    str or None
        The master (``None`` under ``spark-submit`` with no master given).

    Raises
    ------
    MMRiskError
        A master Spark does not accept, Spark Connect (``sc://``: no RDD API), or a standalone
        master (``spark://``) none of whose hosts accepts a connection within 5 seconds.
    """
    if master is None:
        return None if os.environ.get("PYSPARK_GATEWAY_PORT") else "local[*]"
    text = master.strip()
    if text.startswith("sc://"):
        raise MMRiskError(f"--master {master!r}: Spark Connect cannot run training tasks (it has "
                          "no RDD API); give the cluster's master (spark://, yarn, k8s://).")
    if not (text == "yarn" or _LOCAL_MASTER.match(text)
            or text.startswith(("spark://", "k8s://"))):
        raise MMRiskError(f"--master {master!r} is not a Spark master: expected local[n], "
                          "local[*], yarn, spark://host:7077 or k8s://https://host:port.")
    if text.startswith("spark://"):
        _check_reachable(text)
    return text


def _check_reachable(master: str) -> None:
    """A standalone master answers on at least one of its host:port pairs."""
    problems = []
    for hostport in master.removeprefix("spark://").split(","):
        host, _, port = hostport.strip().rpartition(":")
        if not host or not port.isdigit():
            raise MMRiskError(f"--master {master!r}: expected spark://host:port; got "
                              f"{hostport!r}.")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), _CONNECT_TIMEOUT):
                return
        except OSError as e:
            problems.append(f"{host}:{port}: {e.strerror or type(e).__name__}")
    raise MMRiskError(f"Spark master {master} is not reachable ({'; '.join(problems)}); is the "
                      "master running and the address right?")


def _call(fn: Callable[[Any, Any], Any], broadcast: Any, task: Any) -> Any:
    """What an executor runs: the task on the broadcast data."""
    return fn(broadcast.value, task)


def _summary(exc: BaseException) -> str:
    """The Python error behind a failed Spark job (its last traceback line), else the first line."""
    text = str(exc)
    if "Traceback (most recent call last)" in text:
        python = text.split("Traceback (most recent call last)")[-1]
        lines = [ln.strip() for ln in python.split("\n\tat ")[0].splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first


class SparkFitBackend(FitBackend):
    """Run ``cross_validate``'s fits as Spark tasks (a :class:`mmrisk.evaluation.FitBackend`).

    Parameters
    ----------
    spark_context : pyspark.SparkContext
        A running context (``SparkSession.sparkContext``).
    max_concurrent_jobs : int or None, default=None
        Spark jobs (one fit each) submitted at a time; ``None``: twice the context's default
        parallelism, at least 2, so every executor core has a fit queued.

    See Also
    --------
    spark_fit_backend : Start a session and give its back-end.
    """

    def __init__(self, spark_context: SparkContext, *, max_concurrent_jobs: int | None = None):
        self.spark_context = spark_context
        self.max_concurrent_jobs = max_concurrent_jobs

    def _workers(self, n_tasks: int) -> int:
        limit = self.max_concurrent_jobs
        if limit is None:
            limit = max(2, 2 * int(self.spark_context.defaultParallelism))
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise MMRiskError(f"max_concurrent_jobs must be a positive integer or None; got "
                              f"{self.max_concurrent_jobs!r}.")
        return max(1, min(limit, n_tasks))

    def _job(self, fn: Callable[[Any, Any], Any], broadcast: Any, task: Any, group: str,
             stopped: threading.Event) -> Any:
        if stopped.is_set():  # the run stopped before this job was submitted
            return None
        sc = self.spark_context
        sc.setJobGroup(group, str(getattr(task, "description", "mmrisk fit")),
                       interruptOnCancel=True)
        try:
            return sc.parallelize([task], 1).map(partial(_call, fn, broadcast)).collect()[0]
        except Exception as e:  # noqa: BLE001 - Py4J/Spark errors: one clear line
            raise MMRiskError(f"Spark job '{getattr(task, 'description', task)}' failed "
                              f"(master {sc.master}): {_summary(e)}") from None

    def map_unordered(
        self, fn: Callable[[Any, Any], Any], shared: Any, tasks: Sequence[Any]
    ) -> Iterator[Any]:
        """Run ``fn(shared, task)`` for every task on Spark; yield results as fits finish.

        Parameters
        ----------
        fn : callable
            ``fn(shared, task)``, a module-level function of mmrisk.
        shared : object
            Sent once to every executor as a Spark broadcast.
        tasks : sequence
            One Spark job of one task each.

        Returns
        -------
        iterator
            The results in the order the jobs finish. Closing it cancels the jobs still
            running (Spark job group) and frees the broadcast.
        """
        tasks = list(tasks)
        if not tasks:
            return
        sc = self.spark_context
        broadcast = sc.broadcast(shared)
        group = f"mmrisk-train-{uuid.uuid4().hex[:12]}"
        pool = ThreadPoolExecutor(self._workers(len(tasks)), thread_name_prefix="mmrisk-spark")
        stopped = threading.Event()
        try:
            futures = [pool.submit(self._job, fn, broadcast, task, group, stopped)
                       for task in tasks]
            for future in as_completed(futures):
                yield future.result()
        finally:
            stopped.set()
            sc.cancelJobGroup(group)
            pool.shutdown(wait=True, cancel_futures=True)
            broadcast.destroy()


@contextmanager
def spark_fit_backend(master: str | None = None, *, max_concurrent_jobs: int | None = None,
                      conf: dict[str, str] | None = None) -> Iterator[SparkFitBackend]:
    """A :class:`SparkFitBackend` on a Spark session; the session stops on exit if it began here.

    Parameters
    ----------
    master : str or None, default=None
        Checked by :func:`check_master` first (``None``: ``spark-submit``'s master, else
        ``local[*]``). If a session already runs in this process it is used as it is.
    max_concurrent_jobs : int or None, default=None
        See :class:`SparkFitBackend`.
    conf : dict of str to str, optional
        Extra Spark settings (see :func:`mmrisk.workflows.get_spark`).

    Yields
    ------
    SparkFitBackend
        The back-end to pass to ``cross_validate(..., backend=...)``.
    """
    from mmrisk.workflows._spark import _require_pyspark, get_spark

    master = check_master(master)
    _require_pyspark()
    from pyspark import SparkContext

    existing = SparkContext._active_spark_context  # what getActiveSession reads, any thread
    settings = {"spark.ui.showConsoleProgress": "false", **(conf or {})}
    spark = get_spark(master, app_name="mmrisk-train", conf=settings)
    sc = spark.sparkContext
    if existing is not None and master is not None and sc.master != master:
        logger.warning("a Spark session on %s already runs in this process; training uses it, "
                       "not %s", sc.master, master)
    try:
        yield SparkFitBackend(sc, max_concurrent_jobs=max_concurrent_jobs)
    finally:
        if existing is None:
            spark.stop()


def check_engine(engine: str, master: str | None = None,
                 competing: bool = False) -> tuple[str, str | None]:
    """Check a training engine and its master before any work (a typo fails at once).

    Parameters
    ----------
    engine : {"local", "spark"}
        The engine.
    master : str or None, default=None
        Spark master (``spark`` only); checked by :func:`check_master`.
    competing : bool, default=False
        A competing-risks config (trained by the local engine only).

    Returns
    -------
    tuple of (str, str or None)
        The engine and the master to use.

    Raises
    ------
    MMRiskError
        An unknown engine, a master with the local engine, a bad master, pyspark not
        installed, or the Spark engine for a competing-risks config.
    """
    if engine not in ENGINES:
        raise MMRiskError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}.")
    if engine == "local":
        if master is not None:
            raise MMRiskError("a Spark master was given but the engine is 'local'; the master "
                              "is for the 'spark' engine.")
        return engine, None
    if competing:
        raise MMRiskError("the 'spark' engine trains single-outcome configs; this config is "
                          "a competing-risks one (cohort.endpoint: progression_cr or "
                          "data.competing_risks: true), which the 'local' engine trains.")
    from mmrisk.workflows._spark import _require_pyspark

    _require_pyspark()
    return engine, check_master(master)


@contextmanager
def fit_backend(engine: str, master: str | None = None) -> Iterator[FitBackend | None]:
    """The fit back-end of a training engine: ``None`` for ``local``, Spark for ``spark``.

    Parameters
    ----------
    engine : {"local", "spark"}
        ``local``: ``cross_validate``'s own worker processes (``validation.n_jobs``).
    master : str or None, default=None
        Spark master (``spark`` only; see :func:`check_master`).

    Yields
    ------
    FitBackend or None
        What to pass as ``cross_validate(..., backend=...)``.

    Raises
    ------
    MMRiskError
        An unknown engine, a bad master (:func:`check_engine`), or a Spark session that
        cannot start.
    """
    engine, master = check_engine(engine, master)
    if engine == "local":
        yield None
        return
    with spark_fit_backend(master) as backend:
        yield backend
