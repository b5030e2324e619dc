"""The one prediction table every path returns: CLI scoring, the pyfunc model, the REST server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.models import predict_survival_at

__all__ = ["RISK_GROUPS", "learn_cutpoints", "predict_table", "risk_groups"]

RISK_GROUPS = ("low", "intermediate", "high")


def learn_cutpoints(train_risk: np.ndarray) -> list[float]:
    """Tertile cut-points of the training risk scores (low / intermediate / high)."""
    risk = np.asarray(train_risk, float)
    risk = risk[np.isfinite(risk)]
    if risk.size < 3:
        raise ValueError("at least 3 finite training risk scores are needed for risk groups")
    return [float(q) for q in np.quantile(risk, [1 / 3, 2 / 3])]


def risk_groups(risk: np.ndarray, cutpoints: Sequence[float]) -> np.ndarray:
    """Group labels from risk scores and the training cut-points (NaN risk → missing)."""
    risk = np.asarray(risk, float)
    idx = np.searchsorted(np.asarray(cutpoints, float), risk, side="right")
    out = np.asarray(RISK_GROUPS, dtype=object)[np.clip(idx, 0, len(RISK_GROUPS) - 1)]
    out[~np.isfinite(risk)] = None
    return out


def predict_table(model: Any, X: pd.DataFrame, horizons: Sequence[int],
                  cutpoints: Sequence[float]) -> pd.DataFrame:
    """``risk_score``, ``risk_group`` and ``surv_<h>m`` per horizon, one row per row of ``X``.

    Parameters
    ----------
    model : fitted estimator
        A catalogue model (feature pipeline + survival model).
    X : pandas.DataFrame
        Input rows with the model's feature columns.
    horizons : sequence of int
        Months.
    cutpoints : sequence of float
        Risk-group cut-points learned on the training data.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``X``.
    """
    risk = np.asarray(model.predict(X), float)
    surv = predict_survival_at(model, X, horizons)
    out = pd.DataFrame({"risk_score": risk, "risk_group": risk_groups(risk, cutpoints)},
                       index=X.index)
    for j, h in enumerate(horizons):
        out[f"surv_{int(h)}m"] = surv[:, j]
    return out
