"""Data for the model-catalogue tests: registry-shaped features and simulated Cox data.

A uniquely named module (not ``conftest``) so that test modules can import it by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.util import Surv

CYTO = ["detected", "not_detected", "not_tested"]
RESPONSES = ["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"]


def registry_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Feature columns that pipelines/default.yaml and staging.yaml read, plus an outcome.

    Progression hazard depends on del17p, beta-2 microglobulin, LDH and age (strong signal).

    Returns
    -------
    X : DataFrame
        Registry-shaped feature columns only.
    y : structured ndarray
        (event, time) in months.
    lp : ndarray
        True linear predictor.
    """
    rng = np.random.default_rng(seed)

    def cyto(p_detected: float) -> np.ndarray:
        return rng.choice(CYTO, n, p=[p_detected, 0.9 - p_detected, 0.1])

    X = pd.DataFrame(
        {
            "age": rng.normal(60, 8, n).round(),
            "sex": rng.choice(["M", "F"], n),
            "beta2m_mg_L": rng.lognormal(1.2, 0.6, n),
            "albumin_g_L": rng.normal(37, 5, n),
            "ldh_U_L": rng.lognormal(5.4, 0.35, n),
            "ldh_uln_U_L": rng.choice([225.0, 250.0], n),
            "del17p": cyto(0.12),
            "t_4_14": cyto(0.1),
            "t_14_16": cyto(0.04),
            "gain1q": cyto(0.3),
            "amp1q": cyto(0.1),
            "creatinine_umol_L": rng.lognormal(4.4, 0.3, n),
            "response_pre_asct": rng.choice(RESPONSES, n),
            "response_day100": rng.choice(RESPONSES, n),
        }
    )
    X.loc[rng.random(n) < 0.1, "albumin_g_L"] = np.nan
    X.loc[rng.random(n) < 0.05, "beta2m_mg_L"] = np.nan
    lp = (
        1.8 * (X["del17p"] == "detected")
        + 1.4 * np.log(X["beta2m_mg_L"].fillna(3.3))
        + 1.0 * (X["ldh_U_L"] > X["ldh_uln_U_L"])
        + 0.06 * (X["age"] - 60)
    ).to_numpy(dtype=float)
    t_event = rng.weibull(1.3, n) * 45.0 * np.exp(-(lp - lp.mean()) / 1.3)
    t_censor = rng.uniform(6, 90, n)
    y = Surv.from_arrays(t_event <= t_censor, np.minimum(t_event, t_censor))
    return X, y, lp


def simulate_cox(
    n: int, beta: np.ndarray, seed: int, round_to: float | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Weibull proportional-hazards data with log hazard ratios ``beta`` per unit of X."""
    rng = np.random.default_rng(seed)
    p = len(beta)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{j}" for j in range(p)])
    X["x0"] = rng.binomial(1, 0.4, n).astype(float)  # a binary feature, as after one-hot
    lp = X.to_numpy() @ np.asarray(beta, dtype=float)
    shape = 1.5
    t_event = (rng.exponential(size=n) / np.exp(lp)) ** (1 / shape) * 30.0
    t_censor = rng.uniform(5, 80, n)
    time = np.minimum(t_event, t_censor)
    if round_to is not None:
        time = np.maximum(np.round(time / round_to) * round_to, round_to)
    return X, Surv.from_arrays(t_event <= t_censor, time)
