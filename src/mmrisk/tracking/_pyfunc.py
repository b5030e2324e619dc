"""The MLflow pyfunc adapter: a fitted model + horizons + risk cut-points → a prediction table.

Keep this class at this import path: MLflow pickles a reference to it (scikit-learn#12927).
"""

from __future__ import annotations

import json
from typing import Any

import joblib
import mlflow.pyfunc
import pandas as pd

__all__ = ["MMRiskPyfunc"]


class MMRiskPyfunc(mlflow.pyfunc.PythonModel):
    """``predict`` returns ``risk_score``, ``risk_group`` and ``surv_<h>m`` for each horizon."""

    def load_context(self, context: Any) -> None:
        """Load the fitted estimator and its metadata once."""
        self.model_ = joblib.load(context.artifacts["estimator"])
        with open(context.artifacts["meta"], encoding="utf-8") as f:
            self.meta_ = json.load(f)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None
                ) -> pd.DataFrame:
        """Score ``model_input`` (a DataFrame with the training feature columns)."""
        from mmrisk.scoring import predict_table

        X = pd.DataFrame(model_input)[self.meta_["features"]]
        return predict_table(self.model_, X, self.meta_["horizons"],
                             self.meta_["cutpoints"]).reset_index(drop=True)
