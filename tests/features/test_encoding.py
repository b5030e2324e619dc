"""Selection, imputation, one-hot encoding and scaling (make_encoder, SelectColumns)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder

from mmrisk.features import MISSING_CATEGORY, SelectColumns, get_feature_lineage, make_encoder
from mmrisk.features._encoding import DropCollinear

TRAIN = pd.DataFrame(
    {
        "age": [50.0, 60.0, np.nan, 70.0],  # median 60, mean 60, sd of imputed 7.0711
        "riss": [1.0, 2.0, 3.0, np.nan],  # numeric by dtype unless declared categorical
        "sex": ["F", "M", None, "F"],
        "flag": [True, False, True, True],
    }
)
NEW = pd.DataFrame(
    {"age": [np.nan, 80.0], "riss": [np.nan, 2.0], "sex": ["X", None], "flag": [False, True]}
)


def fit_pandas(encoder, X=TRAIN):
    return encoder.set_output(transform="pandas").fit(X)


def test_default_columns_and_names():
    enc = fit_pandas(make_encoder())
    assert list(enc.get_feature_names_out()) == [
        "num__age",
        "num__riss",
        "cat__sex_F",
        "cat__sex_M",
        "cat__sex_missing",
        "cat__flag_False",
        "cat__flag_True",
    ]


def test_median_imputation_then_scaling_learned_on_training_data():
    enc = fit_pandas(make_encoder(numeric=["age"], categorical=[]))
    # training age after median imputation: 50, 60, 60, 70 -> mean 60, population sd sqrt(50)
    out = enc.transform(NEW)
    sd = np.sqrt(50.0)
    np.testing.assert_allclose(out["num__age"], [(60 - 60) / sd, (80 - 60) / sd])
    assert list(out.columns) == ["num__age"]


@pytest.mark.parametrize(
    ("strategy", "fill"), [("mean", 64.0), ("median", 51.0), ("most_frequent", 50.0)]
)
def test_no_scaling_keeps_imputed_values(strategy, fill):
    # training ages 50, 50, 52, 104 and one missing: mean 256/4 = 64, median (50+52)/2 = 51,
    # most frequent 50
    X = pd.DataFrame({"age": [50.0, 50.0, 52.0, np.nan, 104.0]})
    enc = fit_pandas(
        make_encoder(numeric=["age"], categorical=[], numeric_impute=strategy, scale=False), X
    )
    assert enc.transform(NEW)["num__age"].tolist() == [fill, 80.0]


def test_missing_indicator_for_columns_with_missing_values():
    enc = fit_pandas(make_encoder(categorical=[], add_indicator=True, scale=False))
    out = enc.transform(NEW)
    assert list(out.columns) == [
        "num__age",
        "num__riss",
        "num__missingindicator_age",
        "num__missingindicator_riss",
    ]
    assert out["num__missingindicator_age"].tolist() == [1.0, 0.0]
    assert out["num__riss"].tolist() == [2.0, 2.0]  # median of 1, 2, 3


def test_no_imputation_leaves_nan():
    enc = fit_pandas(
        make_encoder(numeric=["age"], categorical=[], numeric_impute=None, scale=False)
    )
    assert np.isnan(enc.transform(NEW)["num__age"].iloc[0])


def test_missing_category_and_unseen_category():
    enc = fit_pandas(make_encoder(categorical=["sex"], numeric=[]))
    out = enc.transform(NEW)
    assert list(out.columns) == ["cat__sex_F", "cat__sex_M", f"cat__sex_{MISSING_CATEGORY}"]
    # 'X' was never seen: all zeros (with sklearn's warning); missing: its own category
    assert out.iloc[0].tolist() == [0.0, 0.0, 0.0]
    assert out.iloc[1].tolist() == [0.0, 0.0, 1.0]


def test_most_frequent_imputation_of_categories():
    enc = fit_pandas(
        make_encoder(categorical=["sex"], numeric=[], categorical_missing="most_frequent")
    )
    out = enc.transform(NEW.iloc[[1]])
    assert list(out.columns) == ["cat__sex_F", "cat__sex_M"]
    assert out.iloc[0].tolist() == [1.0, 0.0]  # missing -> 'F', the most frequent


def test_float_categories_lose_trailing_zero_and_drop_first():
    enc = fit_pandas(make_encoder(categorical=["riss"], numeric=[], drop="first"))
    out = enc.transform(pd.DataFrame({"riss": [1.0, 2.0, 3.0, np.nan]}))
    assert list(out.columns) == ["cat__riss_2", "cat__riss_3", "cat__riss_missing"]
    np.testing.assert_array_equal(out.to_numpy(), [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_remainder_passthrough_and_drop():
    kept = fit_pandas(make_encoder(numeric=["age"], categorical=[], remainder="passthrough"))
    assert "remainder__sex" in kept.get_feature_names_out()
    dropped = fit_pandas(make_encoder(numeric=["age"], categorical=[]))
    assert list(dropped.get_feature_names_out()) == ["num__age"]


def test_min_frequency_merges_rare_categories():
    X = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 5 + ["rare"]})
    enc = fit_pandas(make_encoder(min_frequency=2), X)
    assert list(enc.get_feature_names_out()) == [
        "cat__c_a",
        "cat__c_b",
        "cat__c_infrequent_sklearn",
    ]


def test_most_frequent_category_is_the_reference():
    # 'not_detected' is the commonest but not the first in sorted order ('detected' is);
    # 'b' and 'a' tie for the commonest: the first in sorted order ('a') is the reference.
    X = pd.DataFrame(
        {
            "del17p": ["not_detected"] * 5 + ["detected"] * 2 + ["not_tested", None],
            "tie": ["b", "a", "b", "a", "c", "c", "x", "y", "z"],
        }
    )
    enc = fit_pandas(make_encoder(drop="most_frequent"), X)
    assert list(enc.get_feature_names_out()) == [
        "cat__del17p_detected",
        "cat__del17p_missing",
        "cat__del17p_not_tested",
        "cat__tie_b",
        "cat__tie_c",
        "cat__tie_x",
        "cat__tie_y",
        "cat__tie_z",
    ]
    onehot = enc.named_transformers_["cat"].named_steps["onehot"]
    assert onehot.reference_categories_ == ["not_detected", "a"]
    # independent truth: scikit-learn's encoder told the references explicitly
    labels = X.astype(object).where(X.notna(), MISSING_CATEGORY)
    ref = OneHotEncoder(drop=["not_detected", "a"], sparse_output=False).fit(labels)
    np.testing.assert_array_equal(enc.transform(X).to_numpy(), ref.transform(labels))
    # an unseen category encodes as the reference (all zeros), without a warning
    new = pd.DataFrame({"del17p": ["failed"], "tie": ["a"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert enc.transform(new).to_numpy().sum() == 0.0


def test_most_frequent_reference_gives_full_rank_one_hot_groups():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({c: rng.choice(["p", "q", "r", "s"], 200, p=[0.1, 0.2, 0.6, 0.1])
                      for c in ("a", "b", "c")})
    full = fit_pandas(make_encoder(), X).transform(X).to_numpy()
    ref = fit_pandas(make_encoder(drop="most_frequent"), X).transform(X).to_numpy()
    # without a reference each group sums to one: 3 dependencies among 12 columns
    assert full.shape[1] == 12
    assert np.linalg.matrix_rank(full - full.mean(0)) == 9
    assert ref.shape[1] == 9
    assert np.linalg.matrix_rank(ref - ref.mean(0)) == 9


# --------------------------------------------------------------------------------------------
# DropCollinear
# --------------------------------------------------------------------------------------------
def _dependent_table(n=100, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.binomial(1, 0.3, n).astype(float)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "const": np.full(n, 0.1),  # its mean is not exactly 0.1 in floating point
            "a_copy": a.copy(),  # a duplicate (e.g. two identical missing indicators)
            "near": a + 1e-3 * rng.normal(size=n),  # close to a, but not dependent
            "combo": 3.0 * a - b + 5.0,  # exact combination plus a constant
            "c": rng.normal(size=n),
        }
    )


def test_drop_collinear_drops_exactly_the_dependent_columns():
    X = _dependent_table()
    step = DropCollinear().fit(X)
    assert step.dropped_ == ["const", "a_copy", "combo"]
    out = step.transform(X)
    assert list(out.columns) == ["a", "b", "near", "c"]
    pd.testing.assert_frame_equal(out, X[["a", "b", "near", "c"]])
    Z = out.to_numpy()
    assert np.linalg.matrix_rank(Z - Z.mean(0)) == Z.shape[1]
    assert get_feature_lineage(step) == {c: [c] for c in out.columns}


def test_drop_collinear_prefer_drop_chooses_the_dropped_column_keeps_the_order():
    X = _dependent_table()
    step = DropCollinear(prefer_drop=["a", "not_a_column"]).fit(X)
    # 'a' is examined last: its duplicate survives and 'a' is the one dropped
    assert step.dropped_ == ["a", "const", "combo"]
    assert list(step.transform(X).columns) == ["b", "a_copy", "near", "c"]


def test_drop_collinear_keeps_columns_with_missing_values_and_small_tables():
    X = _dependent_table()
    X.loc[3, "combo"] = np.nan
    assert DropCollinear().fit(X).dropped_ == ["const", "a_copy"]
    # 4 rows: centred columns span at most 3 dimensions; after that nothing more is dropped
    # for being dependent (only constants are)
    small = _dependent_table(n=4)
    step = DropCollinear().fit(small)
    assert step.dropped_ == ["const", "a_copy"]
    assert len(step.get_feature_names_out()) == 5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tol": 1.5}, "DropCollinear: tol must be a number in [0, 1); got 1.5."),
        ({"prefer_drop": "a"}, "DropCollinear: prefer_drop must be a list of column names; "
         "got 'a'."),
    ],
)
def test_drop_collinear_bad_parameters(params, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        DropCollinear(**params).fit(_dependent_table())


# --------------------------------------------------------------------------------------------
# SelectColumns
# --------------------------------------------------------------------------------------------
def test_select_by_name_in_given_order():
    out = SelectColumns(columns=["sex", "age"]).fit_transform(TRAIN)
    assert list(out.columns) == ["sex", "age"]
    pd.testing.assert_frame_equal(out, TRAIN[["sex", "age"]])


def test_select_by_dtype():
    sel = SelectColumns(dtype_include=["number", "bool"]).fit(TRAIN)
    assert list(sel.get_feature_names_out()) == ["age", "riss", "flag"]
    assert list(SelectColumns(dtype_exclude="number").fit(TRAIN).get_feature_names_out()) == [
        "sex",
        "flag",
    ]


def test_select_by_position_on_array():
    X = np.arange(12.0).reshape(4, 3)
    sel = SelectColumns(columns=[2, 0]).fit(X)
    np.testing.assert_array_equal(sel.transform(X), X[:, [2, 0]])
    assert list(sel.get_feature_names_out()) == ["x2", "x0"]


def test_select_missing_column_message():
    msg = (
        "SelectColumns: input column 'ldh' is missing from X. Set the matching parameter to "
        "the column's name."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        SelectColumns(columns=["ldh"]).fit(TRAIN)


def test_select_bad_columns_parameter():
    msg = "SelectColumns: columns must be a list of column names or positions; got 'age'."
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        SelectColumns(columns="age").fit(TRAIN)
