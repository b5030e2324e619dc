"""A small registry-like feature table with every input column of the ``default`` pipeline.

Numbers, strings with missing values and a survival outcome whose hazard depends on a few of
them: enough to fit a catalogue model quickly and exercise every derivation and the encoder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.util import Surv

CYTO = ["not_detected", "detected", "not_tested", "failed", None]
RESPONSE = ["PD", "SD", "MR", "PR", "VGPR", "CR", "sCR", "NE", None]


def _pick(rng: np.random.Generator, values: list, n: int, p: list[float]) -> np.ndarray:
    return np.array(values, dtype=object)[rng.choice(len(values), n, p=p)]


def registry_like(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` patients: the feature table and a scikit-survival outcome (months)."""
    rng = np.random.default_rng(seed)

    def num(mean, sd, missing, decimals=1):
        x = np.round(rng.normal(mean, sd, n), decimals)
        x[rng.random(n) < missing] = np.nan
        return x

    cyto_p = [0.7, 0.12, 0.1, 0.03, 0.05]
    X = pd.DataFrame({
        "age": num(60, 8, 0.0, 0),
        "sex": _pick(rng, ["M", "F", None], n, [0.55, 0.43, 0.02]),
        "beta2m_mg_L": np.abs(num(4.0, 2.0, 0.05, 2)) + 0.5,
        "albumin_g_L": num(37, 5, 0.05),
        "ldh_U_L": np.abs(num(220, 60, 0.1, 0)) + 50,
        "ldh_uln_U_L": _pick(rng, [220.0, 250.0], n, [0.5, 0.5]).astype(float),
        "del17p": _pick(rng, CYTO, n, cyto_p),
        "t_4_14": _pick(rng, CYTO, n, cyto_p),
        "t_14_16": _pick(rng, CYTO, n, cyto_p),
        "gain1q": _pick(rng, CYTO, n, [0.55, 0.27, 0.1, 0.03, 0.05]),
        "amp1q": _pick(rng, CYTO, n, cyto_p),
        "creatinine_umol_L": np.abs(num(90, 30, 0.05, 0)) + 30,
        "response_pre_asct": _pick(rng, RESPONSE, n, [.02, .03, .05, .3, .3, .15, .1, .03, .02]),
        "response_day100": _pick(rng, RESPONSE, n, [.02, .03, .05, .2, .35, .2, .1, .03, .02]),
        "ecog": _pick(rng, [0.0, 1.0, 2.0, np.nan], n, [0.5, 0.35, 0.1, 0.05]).astype(float),
        "induction_regimen": _pick(rng, ["VRd", "CyBorD", "KRd"], n, [0.5, 0.3, 0.2]),
    })
    X.loc[X.index[:3], "age"] = [50.0, 61.0, 72.0]  # whole numbers
    lp = (0.03 * (X["age"] - 60) + 0.6 * (X["del17p"] == "detected")
          + 0.15 * X["beta2m_mg_L"].fillna(4) + 0.3 * (X["induction_regimen"] == "CyBorD"))
    time = rng.exponential(40 * np.exp(-lp.to_numpy(float)))
    event = rng.random(n) < 0.7
    return X, Surv.from_arrays(event, np.round(time, 2) + 0.05)
