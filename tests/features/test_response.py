"""Depth of response: IMWG categories as an ordered number (Kumar et al., Lancet Oncol 2016).

IMWG order, worst to best: PD < SD < MR < PR < VGPR < CR < sCR. 'NE' (not evaluable) and
missing carry no depth.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mmrisk.features import IMWG_RESPONSE_ORDER, ResponseDepth


def test_order_is_imwg():
    assert IMWG_RESPONSE_ORDER == ("PD", "SD", "MR", "PR", "VGPR", "CR", "sCR")


@pytest.mark.parametrize(
    ("category", "depth"),
    [("PD", 0), ("SD", 1), ("MR", 2), ("PR", 3), ("VGPR", 4), ("CR", 5), ("sCR", 6)],
)
def test_each_category(category, depth):
    X = pd.DataFrame({"r": [category]})
    assert ResponseDepth(columns=["r"]).fit_transform(X)["r_depth"].iloc[0] == depth


def test_deeper_response_is_larger():
    X = pd.DataFrame({"r": ["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD"]})
    depth = ResponseDepth(columns=["r"]).fit_transform(X)["r_depth"].to_numpy()
    assert np.all(np.diff(depth) < 0)


def test_not_evaluable_and_missing_have_no_depth():
    X = pd.DataFrame({"r": ["NE", None, np.nan, "CR"]})
    depth = ResponseDepth(columns=["r"]).fit_transform(X)["r_depth"]
    assert depth.isna().tolist() == [True, True, True, False]


def test_several_columns_keep_input_false():
    X = pd.DataFrame(
        {"response_pre_asct": ["PR", "VGPR"], "age": [60, 61], "response_day100": ["CR", "PD"]}
    )
    est = ResponseDepth(columns=["response_pre_asct", "response_day100"], keep_input=False)
    out = est.fit_transform(X)
    assert list(out.columns) == ["age", "response_pre_asct_depth", "response_day100_depth"]
    assert out["response_pre_asct_depth"].tolist() == [3.0, 4.0]
    assert out["response_day100_depth"].tolist() == [5.0, 0.0]
    assert est.feature_lineage_["response_day100_depth"] == ["response_day100"]


def test_misspelt_category_is_an_error_not_a_missing_value():
    X = pd.DataFrame({"r": ["CR", "nCR"]})
    msg = (
        "ResponseDepth: column 'r' holds 'nCR'; expected one of ['PD', 'SD', 'MR', 'PR', "
        "'VGPR', 'CR', 'sCR', 'NE'] or missing."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        ResponseDepth(columns=["r"]).fit(X)


@pytest.mark.parametrize("bad", [None, [], "r", [1.5]])
def test_columns_validated(bad):
    msg = (
        "ResponseDepth: columns must be a non-empty list of column names or positions, "
        f"e.g. ['response_pre_asct']; got {bad!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        ResponseDepth(columns=bad).fit(pd.DataFrame({"r": ["CR"]}))


def test_duplicate_columns_rejected():
    with pytest.raises(
        ValueError, match=r"^ResponseDepth: columns has duplicates: \['r', 'r'\]\.$"
    ):
        ResponseDepth(columns=["r", "r"]).fit(pd.DataFrame({"r": ["CR"]}))


def test_positions_on_arrays():
    X = np.array([["CR", 1.0], ["NE", 2.0]], dtype=object)
    est = ResponseDepth(columns=[0]).fit(X)
    out = est.transform(X)
    assert list(est.get_feature_names_out()) == ["x0", "x1", "x0_depth"]
    assert out[0, 2] == 5.0 and np.isnan(out[1, 2])
