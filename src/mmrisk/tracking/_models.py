"""Log a fitted model as an mmrisk pyfunc, and register it behind the champion gate."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from mmrisk.predict import predict_frame, synthetic_example
from mmrisk.tracking._persist import save_estimator
from mmrisk.tracking._pyfunc import (
    DIGEST_TAGS,
    MLFLOW_FILES,
    MMRiskPyfunc,
    file_digests,
    recorded_digests,
)

log = logging.getLogger(__name__)

__all__ = ["log_model", "model_source", "register_model", "register_version"]

#: What a served model needs; declared so MLflow does not infer the environment per model.
_REQUIREMENTS = ("scikit-survival", "scikit-learn", "pandas", "xgboost", "skops")


def _requirements() -> list[str]:
    reqs = [f"mlflow=={mlflow.__version__}"]
    for dist in _REQUIREMENTS:
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except Exception:  # noqa: BLE001 - an optional package that is not installed
            continue
    return reqs


def log_model(fitted: Any, X: pd.DataFrame, meta: dict, *, seed: int = 0) -> str:
    """Log ``fitted`` under the active run as the ``model`` artifact (an mmrisk pyfunc).

    ``meta.json`` holds what scoring needs (summaries, never rows). The fitted object is stored
    with skops (``estimator.skops``: no pickle; loaded with mmrisk's list of trusted types), or
    with joblib when it holds a type outside that list (see :mod:`mmrisk.tracking._persist`).
    The SHA-256 of the estimator file and ``meta.json`` is written beside them
    (``digests.json``) and, with those of MLflow's ``MLmodel`` and ``python_model.pkl``,
    recorded as tags (:data:`~mmrisk.tracking.DIGEST_TAGS`) of the logged model and of the
    active run; loading checks them before any file is read. The input signature names
    every feature column with type ``Any``, marked optional: MLflow leaves values and presence
    to :func:`mmrisk.predict.check_rows`, so one bad cell makes that row ``status=error``
    instead of failing the whole batch. The output schema is inferred from the scoring output
    of synthetic rows (:func:`mmrisk.predict.synthetic_example`, nobody's data); the
    ``reasons`` param (default False) turns the SHAP reasons on.

    Parameters
    ----------
    fitted : fitted estimator
        Feature pipeline + survival model.
    X : pandas.DataFrame
        The training feature columns (only their summaries are stored).
    meta : dict
        ``features``, ``horizons``, ``cutpoints``, ``profile``, ``input_rules`` and facts
        about the model (name, kind, cohort spec, mmrisk version).
    seed : int, default=0
        Seed of the synthetic input example.

    Returns
    -------
    str
        The logged model's URI (``models:/m-...``).
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    example = synthetic_example(X, seed=seed)
    output = predict_frame(fitted, meta, example, reasons=False)
    inferred = infer_signature(example, output, params={"reasons": False})
    inputs = Schema([ColSpec(AnyType(), str(c), required=False) for c in X.columns])
    signature = ModelSignature(inputs=inputs, outputs=inferred.outputs, params=inferred.params)
    with tempfile.TemporaryDirectory() as tmp:
        est_path = save_estimator(fitted, tmp)
        meta_path = Path(tmp) / "meta.json"
        meta_path.write_text(json.dumps(meta))
        digests = file_digests({"estimator": est_path, "meta": meta_path})
        digest_path = Path(tmp) / "digests.json"
        digest_path.write_text(json.dumps(digests))
        logged = mlflow.pyfunc.log_model(
            name="model", python_model=MMRiskPyfunc(),
            artifacts={"estimator": str(est_path), "meta": str(meta_path),
                       "digests": str(digest_path)},
            signature=signature, input_example=example, pip_requirements=_requirements(),
        )
        digests.update(_mlflow_file_digests(logged.model_id, Path(tmp) / "logged"))
    tags = {DIGEST_TAGS[k]: v for k, v in digests.items()}
    mlflow.set_logged_model_tags(logged.model_id, tags)
    if mlflow.active_run() is not None:
        mlflow.set_tags(tags)
    return logged.model_uri


def _mlflow_file_digests(model_id: str, dst: Path) -> dict[str, str]:
    """SHA-256 of the files MLflow wrote for a logged model and reads first when loading it."""
    dst.mkdir()
    location = mlflow.get_logged_model(model_id).artifact_location.rstrip("/")
    files = {k: mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/{name}",
                                                     dst_path=str(dst))
             for k, name in MLFLOW_FILES.items()}
    return file_digests(files)


def register_version(model_uri: str, name: str, tags: dict[str, str] | None = None) -> Any:
    """``mlflow.register_model`` without its console lines (they go to the log instead).

    Parameters
    ----------
    model_uri : str
        The logged model.
    name : str
        Registered model name (created if absent).
    tags : dict, optional
        Version tags.

    Returns
    -------
    mlflow.entities.model_registry.ModelVersion
        The new version.
    """
    # The artifacts' SHA-256 go with the version: verified when it is loaded.
    digests = recorded_digests(model_uri)
    tags = {**{DIGEST_TAGS[k]: v for k, v in digests.items()}, **(tags or {})}
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.redirect_stdout(buffer):
        mv = mlflow.register_model(model_uri, name, tags=tags or None)
    for line in buffer.getvalue().splitlines():
        if line.strip():
            logging.getLogger("mlflow").info(line.strip())
    return mv


def _incumbent(client: MlflowClient, name: str) -> tuple[Any, str | None]:
    """The current champion and, when it does not count, why (its run or train did not finish).

    A champion counts while its run and the run's parent (the ``train``) are FINISHED or still
    RUNNING with a live (or remote) process; a champion from a train that failed, was killed
    or whose process is gone does not.
    """
    from mmrisk.tracking._runs import describe_state, run_state

    try:
        champ = client.get_model_version_by_alias(name, "champion")
    except mlflow.exceptions.MlflowException:
        return None, None
    if not champ.run_id:
        return champ, None
    try:
        run = client.get_run(champ.run_id)
        runs = [run]
        parent = run.data.tags.get("mlflow.parentRunId")
        if parent:
            runs.append(client.get_run(parent))
    except mlflow.exceptions.MlflowException:
        return champ, None
    for r in runs:
        state = run_state(r)
        if state not in ("FINISHED", "RUNNING"):
            return None, (f"version {champ.version}'s run {r.info.run_id} "
                          f"{describe_state(state)}")
    return champ, None


def register_model(name: str, model_uri: str, run_id: str, metric: str, value: float,
                   fingerprint: str, higher_is_better: bool,
                   client: MlflowClient | None = None) -> dict[str, Any]:
    """Register a model version; it becomes ``champion`` only if it beats the current one.

    The gate is atomic: registering the version, reading the champion and moving the alias
    happen under one lock of the store (:func:`mmrisk.tracking.store_lock`), so concurrent
    trains end with the champion a serial order would have chosen, and version numbers follow
    the order in which the gate was passed. A champion whose run or train did not finish
    (failed, killed, process gone) does not count: the new version replaces it. The decision
    is stored as the version tag ``mmrisk.gate``.

    Parameters
    ----------
    name : str
        Registered model name.
    model_uri : str
        The logged model.
    run_id : str
        The run that logged it.
    metric : str
        The selection metric (stored as a version tag).
    value : float
        Its value for this model.
    fingerprint : str
        Data fingerprint: a champion is only challenged on the same data.
    higher_is_better : bool
        Direction of ``metric``.
    client : MlflowClient, optional
        Client of the active store.

    Returns
    -------
    dict
        ``name``, ``version``, ``alias`` (``champion`` or ``challenger``), ``run_id``, and
        ``replaced_unfinished`` (why a champion that did not finish was replaced, or None).
    """
    from mmrisk.tracking._store import store_lock, using_store

    client = client or MlflowClient()
    uri = getattr(client, "_registry_uri", None) or mlflow.get_registry_uri()
    with store_lock(uri, f"champion.{name}"), using_store(uri):
        # The client's store is also the registry MLflow's fluent API registers into, whatever
        # registry an earlier call pinned in this process.
        mv = register_version(model_uri, name)
        client.set_model_version_tag(name, mv.version, "data_fingerprint", fingerprint)
        client.set_model_version_tag(name, mv.version, metric, repr(float(value)))
        champ, unfinished = _incumbent(client, name)
        if unfinished:
            log.warning("the champion of %s does not count: %s", name, unfinished)
        alias = "champion"
        if champ is not None:
            same_data = champ.tags.get("data_fingerprint") == fingerprint
            champ_value = float(champ.tags.get(metric, "nan"))
            better = value > champ_value if higher_is_better else value < champ_value
            alias = "champion" if same_data and better else "challenger"
        client.set_registered_model_alias(name, alias, mv.version)
        client.set_model_version_tag(name, mv.version, "mmrisk.gate", alias)
    return {"name": name, "version": int(mv.version), "alias": alias, "run_id": run_id,
            "replaced_unfinished": unfinished}


def model_source(uri: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """Where a model URI comes from: registered name and version, run and experiment.

    Parameters
    ----------
    uri : str
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``runs:/RUN_ID/model``.
    tracking_uri : str, optional
        The store (default: MLflow's current one).

    Returns
    -------
    dict
        ``name`` and ``version`` (None for a run URI), ``run_id``, ``experiment_id`` (None when
        the URI is a local path) and ``data_fingerprint`` (the run's tag: the fingerprint of
        the data the model was trained on; None when unknown).
    """
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    name = version = run_id = None
    if uri.startswith("models:/"):
        rest = uri.removeprefix("models:/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, _, ver = rest.partition("/")
            mv = client.get_model_version(name, ver)
        version, run_id = int(mv.version), mv.run_id
    elif uri.startswith("runs:/"):
        run_id = uri.removeprefix("runs:/").split("/", 1)[0]
    run = client.get_run(run_id) if run_id else None
    return {"name": name, "version": version, "run_id": run_id,
            "experiment_id": run.info.experiment_id if run else None,
            "data_fingerprint": run.data.tags.get("data_fingerprint") if run else None}
