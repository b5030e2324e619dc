"""What a model keeps of its training data: summaries per feature, never rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["synthetic_example", "training_profile"]


def synthetic_example(X: pd.DataFrame, n: int = 3, seed: int = 0) -> pd.DataFrame:
    """Rows that look like the input but are nobody: each column sampled independently.

    Numeric columns take training quantiles (10th–90th), other columns observed categories;
    sampling columns independently breaks any link to a real patient.

    Parameters
    ----------
    X : pandas.DataFrame
        Training feature columns.
    n : int, default=3
        Rows.
    seed : int, default=0
        Seed of the sampling.

    Returns
    -------
    pandas.DataFrame of shape (n, n_features)
        The example rows (the MLflow ``input_example``).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.dropna()
            out[col] = (np.quantile(v, rng.uniform(0.1, 0.9, n)) if len(v)
                        else np.full(n, np.nan))
        else:
            levels = sorted(s.dropna().astype(str).unique())
            out[col] = rng.choice(levels, n) if levels else np.array([None] * n, dtype=object)
    return pd.DataFrame(out)


def training_profile(X: pd.DataFrame) -> dict:
    """Per-feature summaries for input checks and drift: quantiles, category shares, missingness.

    Parameters
    ----------
    X : pandas.DataFrame
        Training feature columns.

    Returns
    -------
    dict
        ``{"n": rows, "features": {name: {"missing": share, "kind": "numeric"|"categorical",
        "quantiles": 11 deciles | "shares": {category: share}}}}``; summaries only.
    """
    prof: dict[str, Any] = {"n": int(len(X)), "features": {}}
    for col in X.columns:
        s = X[col]
        entry: dict[str, Any] = {"missing": float(s.isna().mean())}
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.dropna().astype(float)
            entry["kind"] = "numeric"
            entry["quantiles"] = ([float(q) for q in np.quantile(v, np.linspace(0, 1, 11))]
                                  if len(v) else [])
        else:
            entry["kind"] = "categorical"
            entry["shares"] = {str(k): float(v) for k, v in
                               s.dropna().astype(str).value_counts(normalize=True).items()}
        prof["features"][col] = entry
    return prof
