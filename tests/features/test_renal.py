"""eGFR by the 2021 CKD-EPI creatinine equation (Inker et al., N Engl J Med 2021;385:1737).

eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^-1.200 × 0.9938^age × 1.012 [if female],
Scr in mg/dL (µmol/L ÷ 88.4), κ = 0.7 (F) / 0.9 (M), α = -0.241 (F) / -0.302 (M).

Every expected value below is worked by hand (calculator style) in the case's comment, with
each factor rounded to 5 significant digits; the tolerance (0.05 mL/min/1.73 m²) covers that
rounding and is far below what any wrong constant would change.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mmrisk.features import EGFR_CKDEPI2021, egfr_ckd_epi_2021

WORKED = [
    # Scr µmol/L (= mg/dL × 88.4), age, sex, eGFR by hand
    # Male, 60 y, Scr 1.2 mg/dL: Scr/κ = 1.2/0.9 = 1.3333 > 1, so min term = 1;
    # 1.3333^-1.2 = exp(-1.2 × 0.28768) = 0.70807; 0.9938^60 = exp(60 × -0.0062193) = 0.68856;
    # 142 × 0.70807 × 0.68856 = 69.23
    (106.08, 60, "M", 69.23),
    # Female, 50 y, Scr 0.9 mg/dL: 0.9/0.7 = 1.2857; 1.2857^-1.2 = exp(-1.2 × 0.25131) = 0.73965;
    # 0.9938^50 = 0.73274; 142 × 0.73965 × 0.73274 × 1.012 = 77.88
    (79.56, 50, "F", 77.88),
    # Female, 60 y, Scr 0.7 mg/dL = κ: both creatinine terms are 1;
    # 142 × 0.68856 × 1.012 = 98.95
    (61.88, 60, "F", 98.95),
    # Male, 40 y, Scr 0.9 mg/dL = κ: 142 × 0.9938^40 = 142 × 0.77976 = 110.73
    (79.56, 40, "M", 110.73),
    # Male, 40 y, Scr 0.45 mg/dL: 0.45/0.9 = 0.5 < 1, so max term = 1;
    # 0.5^-0.302 = 2^0.302 = 1.2329; 142 × 1.2329 × 0.77976 = 136.51
    (39.78, 40, "M", 136.51),
    # Female, 30 y, Scr 0.35 mg/dL: 0.35/0.7 = 0.5; 0.5^-0.241 = 2^0.241 = 1.1818;
    # 0.9938^30 = 0.82979; 142 × 1.1818 × 0.82979 × 1.012 = 140.92
    (30.94, 30, "F", 140.92),
    # Female, 70 y, Scr 2.0 mg/dL: 2.0/0.7 = 2.8571; 2.8571^-1.2 = exp(-1.2 × 1.0498) = 0.28371;
    # 0.9938^70 = 0.64704; 142 × 0.28371 × 0.64704 × 1.012 = 26.38
    (176.8, 70, "F", 26.38),
    # Female, 50 y, Scr 1.0 mg/dL: 1/0.7 = 1.4286; 1.4286^-1.2 = 0.65180;
    # 142 × 0.65180 × 0.73274 × 1.012 = 68.63
    (88.4, 50, "F", 68.63),
]


@pytest.mark.parametrize(("creatinine", "age", "sex", "expected"), WORKED)
def test_worked_examples(creatinine, age, sex, expected):
    X = pd.DataFrame({"creatinine_umol_L": [creatinine], "age": [age], "sex": [sex]})
    got = EGFR_CKDEPI2021().fit_transform(X)["egfr_ckd_epi_2021"].iloc[0]
    assert got == pytest.approx(expected, abs=0.05)


def test_function_takes_arrays_and_female_flags():
    creat = np.array([c[0] for c in WORKED])
    age = np.array([c[1] for c in WORKED])
    female = np.array([c[2] == "F" for c in WORKED])
    np.testing.assert_allclose(
        egfr_ckd_epi_2021(creat, age, female), [c[3] for c in WORKED], atol=0.05
    )


def test_female_factor_is_1_012_at_equal_creatinine_ratio():
    # Scr/κ = 1 for both (0.7 mg/dL female, 0.9 mg/dL male): only the 1.012 factor differs.
    female = egfr_ckd_epi_2021(0.7 * 88.4, 55, True)
    male = egfr_ckd_epi_2021(0.9 * 88.4, 55, False)
    assert female / male == pytest.approx(1.012, rel=1e-12)


def test_decreases_with_creatinine_and_age():
    creat = np.linspace(30, 1000, 50)
    for female in (True, False):
        assert np.all(np.diff(egfr_ckd_epi_2021(creat, 60, female)) < 0)
        assert np.all(np.diff(egfr_ckd_epi_2021(90.0, np.arange(18, 90), female)) < 0)


def test_missing_input_gives_nan():
    X = pd.DataFrame(
        {
            "creatinine_umol_L": [np.nan, 90.0, 90.0, 90.0],
            "age": [60.0, np.nan, 60.0, 60.0],
            "sex": ["M", "F", None, "F"],
        }
    )
    out = EGFR_CKDEPI2021().fit_transform(X)["egfr_ckd_epi_2021"]
    assert out.isna().tolist() == [True, True, True, False]


def test_custom_columns_and_keep_input_false():
    X = pd.DataFrame({"crea": [106.08], "age_at_diagnosis": [60], "gender": ["M"], "x": [1]})
    est = EGFR_CKDEPI2021("crea", "age_at_diagnosis", "gender", keep_input=False)
    out = est.fit_transform(X)
    assert list(out.columns) == ["x", "egfr_ckd_epi_2021"]
    assert out["egfr_ckd_epi_2021"].iloc[0] == pytest.approx(69.23, abs=0.05)
    assert est.feature_lineage_["egfr_ckd_epi_2021"] == ["crea", "age_at_diagnosis", "gender"]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "creatinine_umol_L",
            0.0,
            "EGFR_CKDEPI2021: column 'creatinine_umol_L' holds 0.0; creatinine must "
            "be positive (µmol/L) and age non-negative (years).",
        ),
        (
            "age",
            -1.0,
            "EGFR_CKDEPI2021: column 'age' holds -1.0; creatinine must be positive "
            "(µmol/L) and age non-negative (years).",
        ),
        (
            "sex",
            "female",
            "EGFR_CKDEPI2021: column 'sex' holds 'female'; expected one of ['M', 'F'] or missing.",
        ),
    ],
)
def test_bad_values_fail_with_whole_message(column, value, message):
    X = pd.DataFrame({"creatinine_umol_L": [90.0], "age": [60.0], "sex": ["F"]})
    X[column] = pd.Series([value], dtype=object if isinstance(value, str) else float)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        EGFR_CKDEPI2021().fit(X)
