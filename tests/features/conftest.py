"""Shared inputs of the mmrisk.features tests: a small, hand-written clinical table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

ND, DET, NT, FAIL = "not_detected", "detected", "not_tested", "failed"


def clinical_table() -> pd.DataFrame:
    """Eight patients with every input column of the ``default`` pipeline, plus a comorbidity.

    Rows cover ISS I/II/III and undeterminable stages, LDH at and above the site ULN (two
    sites, ULN 220 and 250 U/L), detected/not detected/not tested/failed/missing
    cytogenetics, both sexes, and missing values in most columns.
    """
    return pd.DataFrame(
        {
            "beta2m_mg_L": [2.1, 3.5, 6.2, 4.4, np.nan, 2.8, 9.0, 3.0],
            "albumin_g_L": [41.0, 38.0, 29.0, 35.0, 40.0, 33.0, np.nan, 36.0],
            "ldh_U_L": [180.0, 220.0, 400.0, 260.0, 150.0, np.nan, 300.0, 251.0],
            "ldh_uln_U_L": [250.0, 220.0, 250.0, 250.0, 220.0, 220.0, 250.0, 250.0],
            "del17p": [ND, ND, DET, ND, NT, None, ND, ND],
            "t_4_14": [ND, DET, ND, ND, NT, FAIL, ND, ND],
            "t_14_16": [ND, ND, ND, NT, NT, None, ND, ND],
            "gain1q": [ND, DET, ND, ND, NT, None, DET, ND],
            "amp1q": [ND, ND, ND, DET, NT, None, ND, ND],
            "creatinine_umol_L": [80.0, 95.0, 250.0, 61.88, np.nan, 106.08, 130.0, 70.0],
            "age": [55.0, 62.0, 68.0, 60.0, 49.0, 60.0, 70.0, 58.0],
            "sex": ["M", "F", "M", "F", None, "M", "F", "M"],
            "response_pre_asct": ["VGPR", "PR", "CR", "NE", None, "sCR", "PR", "VGPR"],
            "response_day100": ["CR", "VGPR", "sCR", "PR", "SD", None, "PD", "MR"],
            "bone_disease": ["yes", "no", "yes", "unknown", "yes", None, "no", "yes"],
        }
    )


@pytest.fixture
def clinical() -> pd.DataFrame:
    """A fresh copy of :func:`clinical_table` for each test."""
    return clinical_table()
