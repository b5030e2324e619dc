"""The vectorised transforms give what the straightforward ones give.

- the one-hot transform of string columns equals scikit-learn's own ``OneHotEncoder`` output
  (and warnings) for every ``drop`` option, unseen and missing categories;
- category codes equal the cell-by-cell definition (``isin`` + ``==``), errors included;
- derivation steps return the same frame as the copying ``pd.concat`` they replaced, and
  leave their input untouched;
- the whole ``default`` pipeline equals its steps run on defensive copies;
- ``DropCollinear`` returns one float block with the same values as ``iloc`` selection.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder

from mmrisk.features import build_pipeline
from mmrisk.features._base import CYTO_RESULTS, category_codes
from mmrisk.features._encoding import DropCollinear, ReferenceOneHotEncoder, as_category_strings

from .conftest import clinical_table


def _strings(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "a": rng.choice(["x", "y", "z", "missing"], n, p=[0.5, 0.2, 0.2, 0.1]),
        "b": rng.choice(["detected", "not_detected", "not_tested"], n),
        "c": rng.choice(["F", "M"], n),
    }).astype(object)


def _unseen(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.iloc[0, 0] = "never_seen"
    out.iloc[1, 1] = None
    out.iloc[2, 2] = np.nan
    return out


def _sklearn_reference(encoder: ReferenceOneHotEncoder) -> OneHotEncoder:
    """scikit-learn's encoder with the fitted state of ``encoder`` (its own transform)."""
    ref = OneHotEncoder()
    for key, value in vars(encoder).items():
        setattr(ref, key, value)
    return ref


@pytest.mark.parametrize("drop", [None, "first", "if_binary", "most_frequent"])
def test_one_hot_equals_scikit_learn(drop):
    train, new = _strings(300, 0), _unseen(_strings(200, 1))
    enc = ReferenceOneHotEncoder(handle_unknown="ignore", sparse_output=False, drop=drop)
    enc.fit(train)
    ref = _sklearn_reference(enc)
    ref.drop = enc.reference_categories_ if drop == "most_frequent" else drop
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        fast = enc.transform(new)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        slow = OneHotEncoder.transform(ref, new)
    np.testing.assert_array_equal(fast, slow)
    assert fast.dtype == slow.dtype
    # scikit-learn warns about unseen categories with a dropped reference; the reference
    # encoder of 'most_frequent' keeps quiet (unseen = the reference, by design)
    expected = [str(w.message) for w in theirs] if drop not in (None, "most_frequent") else []
    assert [str(w.message) for w in ours] == expected


def test_one_hot_pandas_output_names_and_values():
    train, new = _strings(120, 2), _strings(50, 3)
    enc = ReferenceOneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                 drop="most_frequent").set_output(transform="pandas").fit(train)
    out = enc.transform(new)
    assert list(out.columns) == list(enc.get_feature_names_out())
    ref = OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                        drop=enc.reference_categories_).fit(train)
    np.testing.assert_array_equal(out.to_numpy(), ref.transform(new))


def test_one_hot_other_inputs_use_scikit_learn():
    """Arrays, numeric columns and sparse output: scikit-learn's own path."""
    train = pd.DataFrame({"n": [1, 2, 2, 3], "s": [0.5, 1.5, 1.5, np.nan]})
    enc = ReferenceOneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train)
    ref = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train)
    np.testing.assert_array_equal(enc.transform(train), ref.transform(train))
    arr = _strings(40, 4).to_numpy()
    enc = ReferenceOneHotEncoder(handle_unknown="ignore").fit(arr)
    ref = OneHotEncoder(handle_unknown="ignore").fit(arr)
    assert (enc.transform(arr) != ref.transform(arr)).nnz == 0


def test_one_hot_checks_feature_names_like_scikit_learn():
    train = _strings(50, 5)
    enc = ReferenceOneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train)
    with pytest.raises(ValueError, match="feature names"):
        enc.transform(train.rename(columns={"a": "other"}))


@pytest.mark.parametrize("column", ["del17p", "t_4_14", "gain1q", "amp1q"])
def test_category_codes_equal_the_cell_definition(column):
    frame = clinical_table()
    codes = category_codes(frame, column, CYTO_RESULTS, "owner")
    expected = [CYTO_RESULTS.index(v) if isinstance(v, str) else -1 for v in frame[column]]
    assert codes.tolist() == expected


def test_category_codes_name_the_first_bad_value_in_row_order():
    frame = pd.DataFrame({"c": ["detected", None, "positive", "negative", np.nan]})
    with pytest.raises(ValueError, match=r"column 'c' holds 'positive'; expected one of"):
        category_codes(frame, "c", CYTO_RESULTS, "Owner")
    frame = pd.DataFrame({"c": pd.Series([np.nan, 1.0, np.nan])})
    with pytest.raises(ValueError, match=r"holds .*1\.0"):
        category_codes(frame, "c", CYTO_RESULTS, "Owner")
    frame = pd.DataFrame({"c": pd.Categorical(["failed", None, "detected"])})
    assert category_codes(frame, "c", CYTO_RESULTS, "Owner").tolist() == [3, -1, 0]


def _straightforward(pipe, X: pd.DataFrame) -> pd.DataFrame:
    """Each derivation's rule, assembled with a copying concat (the previous layout)."""
    frame = X.copy()
    for _, step in pipe.steps:
        if hasattr(step, "_derive"):
            names = list(frame.columns)
            kept, lineage = step._layout(names)
            derived = step._derive(frame.copy(), step._resolve(names))
            new = pd.DataFrame(derived, index=frame.index, columns=list(lineage))
            frame = pd.concat([frame[kept].copy(), new], axis=1)
        else:
            frame = step.transform(frame.copy())
    return frame


def test_default_pipeline_equals_the_copying_assembly():
    X = pd.concat([clinical_table()] * 5, ignore_index=True)
    X["bone_disease"] = X["bone_disease"].astype(object)
    pipe = build_pipeline("default")[:-2].fit(X)  # the derivation steps
    before = X.copy()
    fast = pipe.transform(X)
    pd.testing.assert_frame_equal(fast, _straightforward(pipe, X))
    pd.testing.assert_frame_equal(X, before)  # the input is not modified
    fast.iloc[:, -1] = -1.0  # writing to a derived column leaves the input alone too
    pd.testing.assert_frame_equal(X, before)


def test_default_encoder_equals_scikit_learn_on_the_clinical_table():
    X = pd.concat([clinical_table()] * 4, ignore_index=True)
    pipe = build_pipeline("default").fit(X)
    Z = pipe.transform(X)
    inner = pipe.named_steps["encode"].named_transformers_["cat"]
    labels = as_category_strings(X[inner.feature_names_in_])
    onehot = inner.named_steps["onehot"]
    ref = OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                        drop=onehot.reference_categories_).fit(labels)
    expected = ref.transform(labels)
    names = [f"cat__{n}" for n in ref.get_feature_names_out()]
    kept = [n for n in names if n in Z.columns]
    np.testing.assert_array_equal(Z[kept].to_numpy(), expected[:, [names.index(n) for n in kept]])


def test_drop_collinear_output_is_one_block_with_the_selected_values():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(50, 4)), columns=list("abcd"))
    X["e"] = X["a"] + X["b"]
    X = pd.concat([X[["a", "b"]], X[["c", "d", "e"]].copy()], axis=1)  # two blocks
    step = DropCollinear().fit(X)
    out = step.transform(X)
    pd.testing.assert_frame_equal(out, X.iloc[:, step.selected_indices_])
    assert out._mgr.nblocks == 1
    ints = X.assign(a=np.arange(50))
    pd.testing.assert_frame_equal(step.transform(ints), ints.iloc[:, step.selected_indices_])
