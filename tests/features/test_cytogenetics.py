"""High-risk cytogenetic abnormality count: del(17p), t(4;14), t(14;16) and 1q+ (gain or amp).

'not_tested', 'failed' and missing are *unknown*, never "absent": the count over evaluable
abnormalities comes with the number evaluated, so "0 of 4 tested" and "0 detected in 4 tests"
stay distinct.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mmrisk.features import HighRiskCACount

ND, DET, NT, FAIL = "not_detected", "detected", "not_tested", "failed"
NAN = np.nan
COLS = ["del17p", "t_4_14", "t_14_16", "gain1q", "amp1q"]

CASES = [
    # del17p, t(4;14), t(14;16), gain1q, amp1q, count, n evaluable, why
    (ND, ND, ND, ND, ND, 0.0, 4.0, "all four tested, none detected"),
    (NT, NT, NT, NT, NT, NAN, 0.0, "nothing tested: count unknown, not 0"),
    (None, None, None, None, None, NAN, 0.0, "all missing: unknown"),
    (FAIL, FAIL, FAIL, FAIL, FAIL, NAN, 0.0, "all failed: unknown"),
    (DET, ND, ND, ND, ND, 1.0, 4.0, "del(17p) only"),
    (ND, DET, ND, ND, ND, 1.0, 4.0, "t(4;14) only"),
    (ND, ND, DET, ND, ND, 1.0, 4.0, "t(14;16) only"),
    (ND, ND, ND, DET, ND, 1.0, 4.0, "gain(1q) only"),
    (ND, ND, ND, ND, DET, 1.0, 4.0, "amp(1q) only"),
    (ND, ND, ND, DET, DET, 1.0, 4.0, "gain and amp of 1q are one abnormality, 1q+"),
    (DET, DET, DET, DET, DET, 4.0, 4.0, "all four"),
    (ND, NT, NT, NT, NT, 0.0, 1.0, "only del(17p) tested, not detected: 0 of 1"),
    (ND, ND, ND, ND, NT, 0.0, 3.0, "amp(1q) not tested: 1q+ not evaluable"),
    (ND, ND, ND, NT, ND, 0.0, 3.0, "gain(1q) not tested: 1q+ not evaluable"),
    (ND, ND, ND, DET, NT, 1.0, 4.0, "gain(1q) detected: 1q+ evaluable whatever amp shows"),
    (DET, NT, FAIL, None, None, 1.0, 1.0, "1 detected, 1 evaluable (a lower bound)"),
]


def frame(rows):
    return pd.DataFrame([r[:5] for r in rows], columns=COLS)


@pytest.mark.parametrize("case", CASES, ids=[c[-1] for c in CASES])
def test_count_and_evaluable(case):
    out = HighRiskCACount().fit_transform(frame([case])).iloc[0]
    count, evaluable = out["hrca_count"], out["hrca_n_evaluable"]
    assert (np.isnan(count) and np.isnan(case[5])) or count == case[5], case[7]
    assert evaluable == case[6], case[7]


def test_not_tested_is_distinct_from_not_detected():
    out = HighRiskCACount(keep_input=False).fit_transform(frame([CASES[0], CASES[1]]))
    # same count would erase the difference; the evaluable column must tell them apart
    assert not out.iloc[0].equals(out.iloc[1])
    assert out["hrca_n_evaluable"].tolist() == [4.0, 0.0]


@pytest.mark.parametrize(("min_evaluable", "expected"), [(1, 0.0), (2, 0.0), (3, 0.0), (4, NAN)])
def test_min_evaluable_threshold(min_evaluable, expected):
    row = (ND, ND, ND, ND, NT)  # three of four evaluable
    got = HighRiskCACount(min_evaluable=min_evaluable).fit_transform(frame([row]))
    value = got["hrca_count"].iloc[0]
    assert (np.isnan(value) and np.isnan(expected)) or value == expected


@pytest.mark.parametrize("bad", [0, 5, 2.0, True, "2"])
def test_min_evaluable_validated(bad):
    msg = f"HighRiskCACount: min_evaluable must be an integer from 1 to 4; got {bad!r}."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        HighRiskCACount(min_evaluable=bad).fit(frame([CASES[0]]))


def test_unknown_code_fails_with_whole_message():
    X = frame([(ND, ND, ND, ND, ND)])
    X["gain1q"] = ["Detected"]
    msg = (
        "HighRiskCACount: column 'gain1q' holds 'Detected'; expected one of ['detected', "
        "'not_detected', 'not_tested', 'failed'] or missing."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        HighRiskCACount().fit(X)


def test_categorical_and_string_dtypes_accepted():
    X = frame(CASES)
    X["del17p"] = X["del17p"].astype("category")
    X["t_4_14"] = X["t_4_14"].astype("string")
    out = HighRiskCACount(keep_input=False).fit_transform(X)
    np.testing.assert_array_equal(out["hrca_count"], [c[5] for c in CASES])
    np.testing.assert_array_equal(out["hrca_n_evaluable"], [c[6] for c in CASES])


def test_lineage_names_all_five_inputs():
    est = HighRiskCACount().fit(frame([CASES[0]]).assign(age=[60]))
    assert est.feature_lineage_["hrca_count"] == COLS
    assert est.feature_lineage_["hrca_n_evaluable"] == COLS
    assert est.feature_lineage_["age"] == ["age"]
