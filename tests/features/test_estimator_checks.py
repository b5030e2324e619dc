"""scikit-learn estimator contract.

``parametrize_with_checks`` runs every generic check on the transformers that can take its
numeric test data (ISS by column position, SelectColumns). The others read string columns
(cytogenetic results, sex, IMWG categories), which the generic checks never generate: they get
the data-free checks plus the same contract checked on clinical data.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest
import sklearn.utils.estimator_checks as sk_checks
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from mmrisk.features import (
    EGFR_CKDEPI2021,
    ISS,
    R2ISS,
    RISS,
    HighRiskCACount,
    ResponseDepth,
    SelectColumns,
)
from mmrisk.features._encoding import DropCollinear

from .conftest import clinical_table


@parametrize_with_checks(
    [
        ISS(0, 1),
        ISS(beta2m_col=1, albumin_col=0, keep_input=False),
        SelectColumns(),
        SelectColumns(columns=[1, 0]),
        SelectColumns(dtype_include="number"),
        DropCollinear(),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


ALL = [
    ISS(),
    RISS(),
    R2ISS(),
    R2ISS(resolve_partial=False, keep_input=False),
    HighRiskCACount(min_evaluable=2),
    EGFR_CKDEPI2021(),
    ResponseDepth(columns=["response_pre_asct", "response_day100"]),
    ResponseDepth(columns=["response_day100"], keep_input=False),
    SelectColumns(columns=["sex", "age"]),
]
IDS = [repr(e).replace("\n", "").replace(" ", "") for e in ALL]

DATA_FREE_CHECKS = [
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_no_attributes_set_in_init",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
]


@pytest.mark.parametrize("check", DATA_FREE_CHECKS)
@pytest.mark.parametrize("estimator", ALL, ids=IDS)
def test_data_free_checks(estimator, check):
    getattr(sk_checks, check)(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize("estimator", ALL, ids=IDS)
def test_contract_on_clinical_data(estimator):
    X = clinical_table()
    before = X.copy()
    est = clone(estimator)
    with pytest.raises(NotFittedError):
        est.transform(X)
    assert est.fit(X) is est
    out = est.transform(X)
    pd.testing.assert_frame_equal(X, before)  # input untouched
    assert list(out.columns) == list(est.get_feature_names_out())
    assert list(out.index) == list(X.index)
    assert est.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(est.feature_names_in_, X.columns)
    # clone keeps the parameters unchanged; refitting gives the same output
    assert clone(est).get_params() == estimator.get_params()
    pd.testing.assert_frame_equal(clone(estimator).fit(X).transform(X), out)
    pd.testing.assert_frame_equal(clone(estimator).fit_transform(X), out)
    # pickling keeps the fitted state
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(est)).transform(X), out)
    # transforming a subset of rows equals the subset of the transform
    pd.testing.assert_frame_equal(est.transform(X.iloc[2:5]), out.iloc[2:5])
    # fitted on one table, refuses another layout
    with pytest.raises(ValueError, match="feature names"):
        est.transform(X[X.columns[::-1]])


DERIVERS = [(e, i) for e, i in zip(ALL, IDS, strict=True) if not isinstance(e, SelectColumns)]


@pytest.mark.parametrize("estimator", [e for e, _ in DERIVERS], ids=[i for _, i in DERIVERS])
def test_numpy_input_needs_positions_and_says_so(estimator):
    X = clinical_table()
    # ISS reads numbers only, so it validates arrays as numeric
    X = (X.select_dtypes("number") if isinstance(estimator, ISS) else X).to_numpy()
    with pytest.raises(ValueError, match="X has no column names \\(a NumPy array\\?\\)"):
        clone(estimator).fit(X)


def test_positions_work_on_numpy_and_set_output():
    X = clinical_table()
    names = list(X.columns)
    est = RISS(
        *[
            names.index(c)
            for c in (
                "beta2m_mg_L",
                "albumin_g_L",
                "ldh_U_L",
                "ldh_uln_U_L",
                "del17p",
                "t_4_14",
                "t_14_16",
            )
        ]
    )
    arr_out = clone(est).fit(X.to_numpy()).transform(X.to_numpy())
    np.testing.assert_array_equal(
        arr_out[:, -1].astype(float), RISS().fit_transform(X)["riss"].to_numpy()
    )
    pandas_out = clone(est).set_output(transform="pandas").fit(X.to_numpy()).transform(X.to_numpy())
    assert list(pandas_out.columns) == [f"x{i}" for i in range(X.shape[1])] + ["riss"]


def test_derived_name_clash_is_an_error():
    X = clinical_table().assign(riss=1.0)
    with pytest.raises(ValueError, match=r"^RISS: X already has column\(s\) \['riss'\]"):
        RISS().fit(X)


@pytest.mark.parametrize("param", ["beta2m_col", "keep_input"])
def test_bad_parameters(param):
    value = 1.5
    est = ISS(**{param: value})
    expected = (
        f"ISS: keep_input must be True or False; got {value!r}."
        if param == "keep_input"
        else f"ISS: beta2m_col must be a column name (str) or position (int); got {value!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        est.fit(clinical_table())
