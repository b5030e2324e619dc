"""Feature lineage: every output column of a pipeline names the input columns it comes from.

Independent check: perturb one input column at a time and see which output columns change;
each of them must list that input in its lineage (otherwise SHAP values summed by lineage
would miss a clinical feature's contribution).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mmrisk.features import (
    IMWG_RESPONSE_ORDER,
    ISS,
    RISS,
    SelectColumns,
    build_pipeline,
    get_feature_lineage,
    lineage,
    make_encoder,
)

from .conftest import clinical_table

CYTO = ["detected", "not_detected", "not_tested", "failed"]
ROTATE = {
    **{c: CYTO for c in ("del17p", "t_4_14", "t_14_16", "gain1q", "amp1q")},
    "sex": ["M", "F"],
    "response_pre_asct": list(IMWG_RESPONSE_ORDER),
    "response_day100": list(IMWG_RESPONSE_ORDER),
    "bone_disease": ["yes", "no", "unknown"],
}


def _perturb(X: pd.DataFrame, column: str) -> pd.DataFrame:
    """Change every value of one column to another valid value (missing ones too)."""
    Y = X.copy()
    if column in ROTATE:
        codes = ROTATE[column]
        Y[column] = [
            codes[(codes.index(v) + 1) % len(codes)] if v in codes else codes[0] for v in X[column]
        ]
    else:
        Y[column] = X[column].fillna(X[column].median()) * 1.7 + 1.0
    return Y


@pytest.mark.parametrize("name", ["default", "staging", "passthrough"])
def test_lineage_covers_every_input_that_changes_an_output(name):
    X = clinical_table()
    pipe = build_pipeline(name).fit(X)
    lin = get_feature_lineage(pipe)
    base = pipe.transform(X)
    assert list(lin) == list(base.columns)
    checked = 0
    for column in X.columns:
        new = pipe.transform(_perturb(X, column))
        changed = (~((new == base) | (new.isna() & base.isna()))).any()
        for out in changed[changed].index:
            assert column in lin[out], (out, column, lin[out])
            checked += 1
    assert checked > 0


def test_default_lineage_of_derived_columns():
    X = clinical_table()
    lin = get_feature_lineage(build_pipeline("default").fit(X))
    assert lin["num__iss_computed"] == ["beta2m_mg_L", "albumin_g_L"]
    assert lin["num__riss"] == [
        "beta2m_mg_L",
        "albumin_g_L",
        "ldh_U_L",
        "ldh_uln_U_L",
        "del17p",
        "t_4_14",
        "t_14_16",
    ]
    assert lin["num__r2iss_group"] == [
        "beta2m_mg_L",
        "albumin_g_L",
        "ldh_U_L",
        "ldh_uln_U_L",
        "del17p",
        "t_4_14",
        "gain1q",
        "amp1q",
    ]
    assert lin["num__hrca_count"] == ["del17p", "t_4_14", "t_14_16", "gain1q", "amp1q"]
    assert lin["num__egfr_ckd_epi_2021"] == ["creatinine_umol_L", "age", "sex"]
    assert lin["num__missingindicator_riss"] == lin["num__riss"]
    assert lin["num__response_day100_depth"] == ["response_day100"]
    assert lin["cat__sex_F"] == ["sex"]
    assert lin["cat__del17p_detected"] == ["del17p"]
    assert lin["num__age"] == ["age"]


def test_shap_like_values_sum_back_to_clinical_features():
    """Sum per-output contributions of single-source outputs per clinical feature."""
    X = clinical_table()
    pipe = build_pipeline("default").fit(X)
    lin = get_feature_lineage(pipe)
    out = pipe.transform(X)
    contributions = pd.DataFrame(1.0, index=out.index, columns=out.columns)
    single = {o: s[0] for o, s in lin.items() if len(s) == 1}
    per_feature = contributions[list(single)].T.groupby(single).sum().T
    # sex: cat__sex_F, cat__sex_missing -> 2 outputs ('M', the most frequent, is the reference)
    assert per_feature["sex"].iloc[0] == 2.0
    # age: num__age only (age has no missing values, so no missing indicator)
    assert per_feature["age"].iloc[0] == 1.0
    # β2M: num__beta2m_mg_L and its missing indicator
    assert per_feature["beta2m_mg_L"].iloc[0] == 2.0


def test_one_hot_of_a_column_next_to_a_column_with_a_prefixed_name():
    """'sex' with category 'M' gives 'sex_M', which must not be read as the input 'sex_M'."""
    X = pd.DataFrame({"sex": ["M", "F", "M"], "sex_M": ["yes", "no", "yes"], "a": [1.0, 2.0, 3.0]})
    ct = make_column_transformer(
        (OneHotEncoder(sparse_output=False), ["sex", "sex_M"]), remainder="passthrough"
    ).fit(X)
    assert lineage(ct, list(X.columns)) == {
        "onehotencoder__sex_F": ["sex"],
        "onehotencoder__sex_M": ["sex"],
        "onehotencoder__sex_M_no": ["sex_M"],
        "onehotencoder__sex_M_yes": ["sex_M"],
        "remainder__a": ["a"],
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"drop": "first"},
        {"min_frequency": 2},
        {"drop": "if_binary", "min_frequency": 2},
        {},
    ],
)
def test_one_hot_options_keep_lineage_exact(kwargs):
    X = pd.DataFrame({"s": ["a", "a", "b", "b", "c"], "s_a": ["x", "y", "x", "y", "x"]})
    enc = OneHotEncoder(sparse_output=False, **kwargs).fit(X)
    lin = lineage(enc, ["s", "s_a"])
    for out, sources in lin.items():
        assert sources == (["s_a"] if out.startswith("s_a_") else ["s"]), (out, sources)


def test_column_transformer_without_prefix_feature_union_and_pca():
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [2.0, 1.0, 0.0, 5.0], "c": [1, 2, 3, 4]})
    ct = make_column_transformer(
        (StandardScaler(), ["b"]), remainder="passthrough", verbose_feature_names_out=False
    ).fit(X)
    assert lineage(ct, list(X.columns)) == {"b": ["b"], "a": ["a"], "c": ["c"]}
    union = make_union(
        SimpleImputer(add_indicator=True), make_pipeline(SimpleImputer(), PCA(n_components=1))
    ).fit(X[["b", "a"]])
    assert lineage(union, ["b", "a"]) == {
        "simpleimputer__b": ["b"],
        "simpleimputer__a": ["a"],
        "simpleimputer__missingindicator_a": ["a"],
        "pipeline__pca0": ["b", "a"],  # PCA mixes everything; listed in input order
    }


def test_pipeline_ending_in_a_model_ignores_the_model():
    X = clinical_table()[["beta2m_mg_L", "albumin_g_L", "sex"]]
    y = np.arange(len(X), dtype=float)
    pipe = make_pipeline(ISS(), make_encoder(), LinearRegression())
    pipe.set_output(transform="pandas").fit(X, y)
    lin = get_feature_lineage(pipe)
    assert lin["num__iss_computed"] == ["beta2m_mg_L", "albumin_g_L"]
    assert lin["cat__sex_M"] == ["sex"]


def test_transformer_lineage_attribute_and_keep_input_false():
    X = clinical_table()
    riss = RISS(keep_input=False).fit(X)
    assert riss.feature_lineage_["riss"][0] == "beta2m_mg_L"
    assert "beta2m_mg_L" not in riss.feature_lineage_  # dropped
    assert riss.feature_lineage_["age"] == ["age"]
    assert list(riss.feature_lineage_) == list(riss.get_feature_names_out())
    sel = SelectColumns(columns=["sex", "age"]).fit(X)
    assert sel.feature_lineage_ == {"sex": ["sex"], "age": ["age"]}


def test_explicit_input_columns_for_array_fitted_pipeline():
    X = clinical_table()[["beta2m_mg_L", "albumin_g_L"]]
    pipe = make_pipeline(ISS(0, 1), StandardScaler()).fit(X.to_numpy())
    msg = (
        "Pipeline has no feature_names_in_: fit it on a DataFrame with string column names, "
        "or call lineage(estimator, input_columns)."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        get_feature_lineage(pipe)
    # names as in get_feature_names_out(input_features)
    lin = lineage(pipe, ["b2m", "alb"])
    assert lin == {"b2m": ["b2m"], "alb": ["alb"], "iss_computed": ["b2m", "alb"]}
    assert list(lin) == list(pipe.get_feature_names_out(["b2m", "alb"]))


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        lineage(build_pipeline("staging"), ["beta2m_mg_L"])
