"""The MLflow pyfunc adapter: a fitted model + horizons + risk cut-points → a prediction table.

Keep :class:`MMRiskPyfunc` at this import path: MLflow pickles a reference to it
(scikit-learn#12927). :func:`load_model` is the one way the CLI (``explain``, ``score``,
``serve``) gets a trained model back from any MLflow URI.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.predict import check_rows, predict_rows
from mmrisk.tracking._persist import estimator_path, load_estimator
from mmrisk.tracking._store import using_store

__all__ = ["MMRiskPyfunc", "LoadedModel", "load_model", "upgrade_meta", "DIGEST_TAGS",
           "DIGEST_ENV", "MLFLOW_FILES", "file_digests", "recorded_digests"]

log = logging.getLogger(__name__)

#: Tag (on the run, the logged model and the registered version) holding the SHA-256 of each
#: file of an mmrisk model, recorded when it is logged: the estimator (``estimator.skops``, or
#: ``estimator.joblib``), ``meta.json``, and the two files MLflow reads before mmrisk's code
#: runs: ``MLmodel`` (which names the loader and any code path) and ``python_model.pkl`` (the
#: pickled pyfunc class reference).
DIGEST_TAGS = {"estimator": "mmrisk.sha256.estimator", "meta": "mmrisk.sha256.meta",
               "mlmodel": "mmrisk.sha256.mlmodel", "python_model": "mmrisk.sha256.python_model"}
#: Files of a logged model (relative to its folder) behind the :data:`DIGEST_TAGS` that MLflow
#: writes itself (the estimator and ``meta.json`` live in ``artifacts/``).
MLFLOW_FILES = {"mlmodel": "MLmodel", "python_model": "python_model.pkl"}
#: Environment variable through which ``mmrisk serve`` hands the recorded digests (JSON,
#: ``{"estimator": ..., "meta": ...}``) to the server process, which checks them on load.
DIGEST_ENV = "MMRISK_MODEL_SHA256"
#: Keys a model's ``meta.json`` must hold to score.
_META_KEYS = ("features", "horizons", "cutpoints")


def file_digests(paths: dict[str, str | os.PathLike]) -> dict[str, str]:
    """SHA-256 (hex) of each file.

    Parameters
    ----------
    paths : dict of str to path
        Artifact name (``estimator``, ``meta``) to file.

    Returns
    -------
    dict of str to str
        Artifact name to the hexadecimal SHA-256 of the file's bytes.
    """
    out = {}
    for name, path in paths.items():
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        out[name] = h.hexdigest()
    return out


def _verify(paths: dict[str, str | os.PathLike], expected: dict[str, str], where: str) -> None:
    """Refuse any artifact whose bytes differ from the digest recorded when it was logged."""
    actual = file_digests({k: paths[k] for k in expected if k in paths})
    changed = [k for k, v in expected.items() if k in actual and actual[k] != v]
    if changed:
        files = ", ".join(Path(paths[k]).name for k in changed)
        raise MMRiskError(
            f"model {where}: {files} changed after the model was logged (its SHA-256 differs "
            "from the digest recorded at training); refusing to load it: a changed model must "
            "not score, and a changed pickle would run its code. Restore the file or retrain "
            "and log the model")


def _check_meta(meta: Any, where: str) -> dict:
    if not isinstance(meta, dict):
        raise MMRiskError(f"model {where}: meta.json is not a JSON object")
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise MMRiskError(f"model {where}: meta.json lacks {', '.join(map(repr, missing))}; it "
                          "was not written by `mmrisk train` or was edited. Retrain the model")
    feats = meta["features"]
    if not isinstance(feats, list) or not feats or not all(isinstance(f, str) for f in feats):
        raise MMRiskError(f"model {where}: meta.json 'features' must be a non-empty list of "
                          "column names")
    horizons = meta["horizons"]
    if not isinstance(horizons, list) or not all(
            isinstance(h, int | float) and not isinstance(h, bool) and h > 0 for h in horizons):
        raise MMRiskError(f"model {where}: meta.json 'horizons' must be a list of positive "
                          "months")
    return meta


def upgrade_meta(meta: dict) -> dict:
    """Bring the metadata of a model logged by an older mmrisk up to date.

    Models logged before the prediction core stored ``input_rules`` (the registry range or code
    list of each feature); for them the rules are derived once, at load, from the registry
    specification, so that they score exactly as before. Newer models never import the
    registry.

    Parameters
    ----------
    meta : dict
        The model's ``meta.json``.

    Returns
    -------
    dict
        ``meta`` with ``input_rules``.
    """
    if "input_rules" not in meta:
        from mmrisk.cohort import input_rules  # legacy models only

        meta = {**meta, "input_rules": input_rules(meta["features"])}
    return meta


class MMRiskPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` returns the scoring output table (:func:`mmrisk.predict.predict_frame`).

    Columns: ``status``, ``reason``, ``risk_score``, ``risk_group``, ``surv_<h>m`` for each
    horizon, ``reason_1..3``; one row per input row, in order. A row with an unparseable or
    impossible value, or a request without some model columns, gets ``status='error'`` and no
    scores instead of failing the batch. Params:
    ``reasons`` (bool, default False) computes the SHAP reasons.
    """

    def load_context(self, context: Any) -> None:
        """Load the fitted estimator and its metadata once.

        The files are checked before the estimator is read: against ``digests.json``
        (written beside them when the model was logged) and, when the environment variable
        ``MMRISK_MODEL_SHA256`` is set (``mmrisk serve`` sets it from the tracking store's
        tags), against those digests; ``meta.json`` must hold ``features``, ``horizons`` and
        ``cutpoints``. The estimator is read with skops and mmrisk's list of trusted types
        (``estimator.skops``), or unpickled (``estimator.joblib``: older models, or a model
        holding a type outside that list).

        Parameters
        ----------
        context : mlflow.pyfunc.PythonModelContext
            Holds the paths of the ``estimator``, ``meta`` (and ``digests``) artifacts.

        Raises
        ------
        mmrisk.exceptions.MMRiskError
            If a file differs from its recorded digest, or ``meta.json`` is not a valid mmrisk
            model description.
        """
        paths = context.artifacts
        where = str(Path(paths["meta"]).parent.parent)
        expected = {}
        if "digests" in paths:  # written beside the files: catches accidental edits
            with open(paths["digests"], encoding="utf-8") as f:
                expected = json.load(f)
            _verify(paths, expected, where)
        if os.environ.get(DIGEST_ENV):  # from the tracking store, via `mmrisk serve`
            _verify(paths, json.loads(os.environ[DIGEST_ENV]), where)
        with open(paths["meta"], encoding="utf-8") as f:
            try:
                meta = json.load(f)
            except json.JSONDecodeError as e:
                raise MMRiskError(f"model {where}: meta.json is not valid JSON ({e})") from None
        self.meta_ = upgrade_meta(_check_meta(meta, where))
        self.model_ = load_estimator(paths["estimator"])  # verified first (a pickle runs code)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None
                ) -> pd.DataFrame:
        """Score ``model_input`` (a DataFrame with the training feature columns).

        Parameters
        ----------
        context : mlflow.pyfunc.PythonModelContext
            Unused (the state was loaded by :meth:`load_context`).
        model_input : pandas.DataFrame
            Input rows.
        params : dict, optional
            ``{"reasons": bool}`` (default False): compute ``reason_1..3``. Params of another
            type make every row ``status=error`` with the reason (nothing is raised: MLflow's
            server would quote the input rows in its error answer).

        Returns
        -------
        pandas.DataFrame
            The scoring output, one row per input row, in order.
        """
        frame = pd.DataFrame(model_input)
        preset = np.full(len(frame), None, dtype=object)
        reasons, bad_params = _reasons_param(params)
        if bad_params:  # every row says why: raising would echo the rows in MLflow's answer
            preset[:] = bad_params
        # A request without some model columns (REST, Spark) gets a row-level error naming them
        # instead of a failed batch; `mmrisk score` refuses such input before scoring.
        missing = [f for f in self.meta_["features"] if f not in frame.columns]
        if missing:
            frame = frame.assign(**{f: None for f in missing})
            preset[pd.isna(preset)] = f"missing input column(s): {', '.join(missing)}"
        frame = _nested_cells(frame, self.meta_["features"], preset)
        X, status, reason = check_rows(frame, self.meta_, preset if pd.notna(preset).any()
                                       else None)
        out = predict_rows(self.model_, self.meta_, X, status, reason, reasons=reasons)
        return out.reset_index(drop=True)


def _reasons_param(params: Any) -> tuple[bool, str | None]:
    """``(reasons, problem)`` from the request's params; a problem never quotes the params."""
    if params is None:
        return False, None
    if not isinstance(params, dict):
        return False, "params must be an object such as {\"reasons\": true}"
    value = params.get("reasons", False)
    if isinstance(value, bool | np.bool_):
        return bool(value), None
    return False, "params.reasons must be true or false"


def _nested_cells(frame: pd.DataFrame, features: list[str], preset: np.ndarray) -> pd.DataFrame:
    """A list or object in a cell makes its row an error (the cell becomes missing)."""
    copied = False
    for f in features:
        col = frame[f]
        if isinstance(col, pd.DataFrame) or col.dtype != object:
            continue
        nested = col.map(lambda v: isinstance(v, list | dict | tuple | set | np.ndarray))
        if not nested.any():
            continue
        if not copied:
            frame, copied = frame.copy(), True
        rows = np.flatnonzero(nested.to_numpy())
        for i in rows:
            text = f"{f}: a list or object is not a value"
            preset[i] = text if pd.isna(preset[i]) else f"{preset[i]}; {text}"
        frame[f] = col.where(~nested, None)
    return frame


@dataclass
class LoadedModel:
    """A trained mmrisk model loaded from MLflow.

    Parameters
    ----------
    uri : str
        The URI it was loaded from.
    estimator : fitted estimator
        Feature pipeline + survival model (the scikit-survival contract).
    meta : dict
        ``features`` (input columns, in order), ``horizons``, ``cutpoints`` (risk groups),
        ``profile`` (training summaries for drift: quantiles, category shares, missingness,
        risk-score quantiles), ``cohort`` (the cohort spec the model was trained at, or None
        for a flat table), ``model_name``, ``model_kind``, ``mmrisk_version``.
    pyfunc : mlflow.pyfunc.PyFuncModel
        The logged pyfunc (what Spark and the REST server call).
    """

    uri: str
    estimator: Any
    meta: dict
    pyfunc: Any

    @property
    def features(self) -> list[str]:
        """Input columns, in training order."""
        return list(self.meta["features"])

    @property
    def horizons(self) -> list[int]:
        """Horizons (months) of the ``surv_<h>m`` outputs."""
        return [int(h) for h in self.meta["horizons"]]


def load_model(uri: str, tracking_uri: str | None = None) -> LoadedModel:
    """Load an mmrisk model from any MLflow URI (``models:/name@champion``, ``runs:/…``).

    Parameters
    ----------
    uri : str
        The model URI.
    tracking_uri : str, optional
        The store that resolves ``models:/`` and ``runs:/`` URIs (also the model registry),
        for this call only; default: MLflow's current tracking and registry URIs.

    Returns
    -------
    LoadedModel
        The estimator, its metadata and the pyfunc.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        With the URI and the store, when it cannot be resolved or is not an mmrisk model; when
        a file of the model differs from the SHA-256 recorded in the tracking store when it was
        logged (checked before MLflow or mmrisk reads any of them: ``MLmodel``,
        ``python_model.pkl``, the estimator, ``meta.json``).
    """
    store = tracking_uri or mlflow.get_tracking_uri()
    try:
        with using_store(store) if tracking_uri else nullcontext():
            expected = recorded_digests(uri)
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
            _verify_folder(local, expected, uri)
            pyfunc = mlflow.pyfunc.load_model(local)
    except MMRiskError as e:
        raise MMRiskError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - MLflow raises many types; one clear message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MMRiskError(f"model {uri!r} cannot be loaded: {first} (tracking store {store})"
                          ) from None
    inner = pyfunc.unwrap_python_model() if hasattr(pyfunc, "unwrap_python_model") else None
    if not isinstance(inner, MMRiskPyfunc):
        raise MMRiskError(f"model {uri!r} is not an mmrisk model (logged by `mmrisk train`)")
    return LoadedModel(uri=uri, estimator=inner.model_, meta=inner.meta_, pyfunc=pyfunc)


def _mlflow_digests(tags: dict) -> dict[str, str]:
    return {k: tags[t] for k, t in DIGEST_TAGS.items() if t in tags}


def recorded_digests(uri: str, client: Any = None) -> dict[str, str]:
    """The SHA-256 of each artifact of a model, as recorded in the tracking store at logging.

    Looked up, in this order, in the registered version's tags (``models:/name@alias``,
    ``models:/name/3``), the logged model's tags (``models:/m-…``) and the run's tags
    (``runs:/<id>/model``): the store's database, which whoever writes the artifact folder
    cannot change through it.

    Parameters
    ----------
    uri : str
        A model URI.
    client : mlflow.tracking.MlflowClient, optional
        Client of the store (default: MLflow's current one).

    Returns
    -------
    dict of str to str
        ``{"estimator": ..., "meta": ...}``; empty for a model logged before digests were
        recorded, or a URI that is not in a store (a local path).
    """
    from mlflow.tracking import MlflowClient

    client = client or MlflowClient()
    run_id = model_id = None
    if uri.startswith("models:/m-"):
        model_id = uri.removeprefix("models:/").split("/", 1)[0]
    elif uri.startswith("models:/"):
        rest = uri.removeprefix("models:/")
        if "@" in rest:
            name, alias = rest.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
        else:
            name, _, ver = rest.partition("/")
            mv = client.get_model_version(name, ver)
        found = _mlflow_digests(mv.tags or {})
        if found:
            return found
        run_id = mv.run_id
        source = str(mv.source or "")
        model_id = source.removeprefix("models:/") if source.startswith("models:/m-") else None
    elif uri.startswith("runs:/"):
        run_id = uri.removeprefix("runs:/").split("/", 1)[0]
    if model_id:
        found = _mlflow_digests(client.get_logged_model(model_id).tags or {})
        if found:
            return found
    return _mlflow_digests(client.get_run(run_id).data.tags) if run_id else {}


def _verify_folder(local: str, expected: dict[str, str], uri: str) -> None:
    folder = Path(local) / "artifacts"
    paths = {"estimator": estimator_path(folder), "meta": folder / "meta.json",
             **{k: Path(local) / name for k, name in MLFLOW_FILES.items()}}
    if not expected:
        log.warning("model %s has no SHA-256 recorded in the tracking store (logged before "
                    "mmrisk recorded digests); its files are not verified", uri)
        return
    unchecked = [MLFLOW_FILES[k] for k in MLFLOW_FILES if k not in expected]
    if unchecked:
        log.warning("model %s was logged before mmrisk recorded the SHA-256 of %s; those files "
                    "are not verified", uri, " and ".join(unchecked))
    _verify(paths, expected, repr(uri))
