"""The MLflow pyfunc adapter: a fitted model + horizons + risk cut-points → a prediction table.

Keep :class:`MMRiskPyfunc` at this import path: MLflow pickles a reference to it
(scikit-learn#12927). :func:`load_model` is the one way the CLI (``explain``, ``score``,
``serve``) gets a trained model back from any MLflow URI.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.predict import check_rows, predict_rows
from mmrisk.tracking._store import using_store

__all__ = ["MMRiskPyfunc", "LoadedModel", "load_model", "upgrade_meta"]


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

        Parameters
        ----------
        context : mlflow.pyfunc.PythonModelContext
            Holds the paths of the ``estimator`` and ``meta`` artifacts.
        """
        self.model_ = joblib.load(context.artifacts["estimator"])
        with open(context.artifacts["meta"], encoding="utf-8") as f:
            self.meta_ = upgrade_meta(json.load(f))

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
            ``{"reasons": bool}`` (default False): compute ``reason_1..3``.

        Returns
        -------
        pandas.DataFrame
            The scoring output, one row per input row, in order.
        """
        reasons = bool((params or {}).get("reasons", False))
        frame = pd.DataFrame(model_input)
        # A request without some model columns (REST, Spark) gets a row-level error naming them
        # instead of a failed batch; `mmrisk score` refuses such input before scoring.
        missing = [f for f in self.meta_["features"] if f not in frame.columns]
        preset = None
        if missing:
            frame = frame.assign(**{f: None for f in missing})
            preset = np.full(len(frame), f"missing input column(s): {', '.join(missing)}",
                             dtype=object)
        X, status, reason = check_rows(frame, self.meta_, preset)
        out = predict_rows(self.model_, self.meta_, X, status, reason, reasons=reasons)
        return out.reset_index(drop=True)


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
        With the URI and the store, when it cannot be resolved or is not an mmrisk model.
    """
    store = tracking_uri or mlflow.get_tracking_uri()
    try:
        with using_store(store) if tracking_uri else nullcontext():
            pyfunc = mlflow.pyfunc.load_model(uri)
    except Exception as e:  # noqa: BLE001 - MLflow raises many types; one clear message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MMRiskError(f"model {uri!r} cannot be loaded: {first} (tracking store {store})"
                          ) from None
    inner = pyfunc.unwrap_python_model() if hasattr(pyfunc, "unwrap_python_model") else None
    if not isinstance(inner, MMRiskPyfunc):
        raise MMRiskError(f"model {uri!r} is not an mmrisk model (logged by `mmrisk train`)")
    return LoadedModel(uri=uri, estimator=inner.model_, meta=inner.meta_, pyfunc=pyfunc)
