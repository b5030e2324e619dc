"""The MLflow pyfunc adapter: a fitted model + horizons + risk cut-points → a prediction table.

Keep :class:`MMRiskPyfunc` at this import path: MLflow pickles a reference to it
(scikit-learn#12927). :func:`load_model` is the one way the CLI (``explain``, ``score``,
``serve``) gets a trained model back from any MLflow URI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import joblib
import mlflow.pyfunc
import pandas as pd

from mmrisk.exceptions import MMRiskError

__all__ = ["MMRiskPyfunc", "LoadedModel", "load_model"]


class MMRiskPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` returns the scoring output table (:func:`mmrisk.scoring.score_frame`).

    Columns: ``status``, ``reason``, ``risk_score``, ``risk_group``, ``surv_<h>m`` for each
    horizon, ``reason_1..3``; one row per input row, in order. A row with an unparseable or
    impossible value, or a request without some model columns, gets ``status='error'`` and no
    scores instead of failing the batch. Params:
    ``reasons`` (bool, default False) computes the SHAP reasons.
    """

    def load_context(self, context: Any) -> None:
        """Load the fitted estimator and its metadata once."""
        self.model_ = joblib.load(context.artifacts["estimator"])
        with open(context.artifacts["meta"], encoding="utf-8") as f:
            self.meta_ = json.load(f)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None
                ) -> pd.DataFrame:
        """Score ``model_input`` (a DataFrame with the training feature columns)."""
        import numpy as np

        from mmrisk.scoring import check_rows, score_checked

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
        out = score_checked(self.model_, self.meta_, X, status, reason, reasons=reasons)
        return out.reset_index(drop=True)


@dataclass
class LoadedModel:
    """A trained mmrisk model loaded from MLflow.

    Attributes
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


def load_model(uri: str) -> LoadedModel:
    """Load an mmrisk model from any MLflow URI (``models:/name@champion``, ``runs:/…``).

    Raises :class:`~mmrisk.exceptions.MMRiskError` with the URI when it cannot be resolved or
    is not an mmrisk model.
    """
    try:
        pyfunc = mlflow.pyfunc.load_model(uri)
    except Exception as e:  # noqa: BLE001 - MLflow raises many types; one clear message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MMRiskError(f"model {uri!r} cannot be loaded: {first}") from None
    inner = pyfunc.unwrap_python_model() if hasattr(pyfunc, "unwrap_python_model") else None
    if not isinstance(inner, MMRiskPyfunc):
        raise MMRiskError(f"model {uri!r} is not an mmrisk model (logged by `mmrisk train`)")
    return LoadedModel(uri=uri, estimator=inner.model_, meta=inner.meta_, pyfunc=pyfunc)
