"""Row-level input checks: coercion, errors (unparseable, impossible), warnings (unseen category,
outside the training range), missing columns, and a property test of the row accounting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrisk.cohort import input_rules
from mmrisk.exceptions import MissingColumnsError
from mmrisk.predict import check_rows

META = {
    "features": ["age", "sex", "ecog", "del17p", "months_dx_to_asct", "tandem_asct", "score_x"],
    "profile": {"n": 100, "features": {
        "age": {"missing": 0.0, "kind": "numeric",
                "quantiles": [40.0, 45, 50, 55, 58, 60, 62, 64, 66, 68, 72]},
        "sex": {"missing": 0.0, "kind": "categorical", "shares": {"M": 0.6, "F": 0.4}},
        "ecog": {"missing": 0.2, "kind": "numeric",
                 "quantiles": [0.0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2]},
        "del17p": {"missing": 0.05, "kind": "categorical",
                   "shares": {"not_detected": 0.8, "detected": 0.1, "not_tested": 0.1}},
        "months_dx_to_asct": {"missing": 0.0, "kind": "numeric",
                              "quantiles": [3.0, 4, 5, 5.5, 6, 6.5, 7, 7.5, 8, 9, 12]},
        "tandem_asct": {"missing": 0.0, "kind": "numeric",
                        "quantiles": [0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]},
        "score_x": {"missing": 0.0, "kind": "numeric",
                    "quantiles": [-1.0, -0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1]},
    }},
}
# What training stores beside the profile: the registry's range or code list of each feature.
META["input_rules"] = input_rules(META["features"])


def _row(**overrides) -> dict:
    base = {"age": 60.0, "sex": "F", "ecog": 1.0, "del17p": "not_detected",
            "months_dx_to_asct": 6.0, "tandem_asct": 0.0, "score_x": 0.1}
    return {**base, **overrides}


def _check(*rows: dict):
    frame = pd.DataFrame(list(rows))
    return check_rows(frame, META)


def test_clean_rows_and_missing_values_are_ok():
    X, status, reason = _check(_row(), _row(age=None, sex=None, ecog=np.nan, del17p=""))
    assert status.tolist() == ["ok", "ok"]
    assert reason.tolist() == ["", ""]
    assert X.loc[1, "sex"] is None and X.loc[1, "del17p"] is None and np.isnan(X.loc[1, "age"])
    assert X["age"].dtype == float and X["sex"].dtype == object


@pytest.mark.parametrize(("cell", "message"), [
    ({"age": "abc"}, "age: 'abc' is not a number"),
    ({"age": 150}, "age: 150 is outside the plausible range 18–80"),
    ({"age": float("inf")}, "age: inf is not a finite number"),
    ({"ecog": 1.5}, "ecog: 1.5 is not a whole number"),
    ({"ecog": 7}, "ecog: 7 is outside the plausible range 0–4"),
    ({"months_dx_to_asct": -2}, "months_dx_to_asct: -2 is negative"),
    ({"tandem_asct": 2}, "tandem_asct: 2 is not 0 or 1"),
    ({"sex": "X"}, "sex: 'X' is not a valid code (expected F, M)"),
    ({"del17p": "maybe"}, "del17p: 'maybe' is not a valid code (expected detected, failed, "
                          "not_detected, not_tested)"),
])
def test_unparseable_or_impossible_value_is_an_error_row(cell, message):
    X, status, reason = _check(_row(), _row(**cell))
    assert status.tolist() == ["ok", "error"]
    assert reason[1] == message
    col = next(iter(cell))
    assert pd.isna(X.loc[1, col])  # the bad cell is not passed on as a value


@pytest.mark.parametrize(("cell", "message"), [
    ({"age": 76}, "age: 76 is outside the training range 40–72"),
    ({"score_x": 3.5}, "score_x: 3.5 is outside the training range -1–1"),
    ({"del17p": "failed"}, "del17p: unseen category 'failed'"),
])
def test_unseen_category_or_out_of_training_range_is_a_warning(cell, message):
    X, status, reason = _check(_row(**cell))
    assert status.tolist() == ["warning"]
    assert reason[0] == message
    col = next(iter(cell))
    assert X.loc[0, col] == cell[col]  # scored with the value as given


def test_training_range_widens_the_registry_range():
    meta = {**META, "profile": {**META["profile"], "features": {
        **META["profile"]["features"],
        "age": {"missing": 0.0, "kind": "numeric", "quantiles": [40.0] + [60.0] * 9 + [85.0]}}}}
    _, status, reason = check_rows(pd.DataFrame([_row(age=84), _row(age=86)]), meta)
    assert status.tolist() == ["ok", "error"]
    assert reason[1] == "age: 86 is outside the plausible range 18–85"


def test_every_problem_of_a_row_is_listed_errors_first():
    _, status, reason = _check(_row(age=76, sex="X", months_dx_to_asct="soon"))
    assert status.tolist() == ["error"]
    assert reason[0] == ("sex: 'X' is not a valid code (expected F, M); months_dx_to_asct: "
                         "'soon' is not a number; age: 76 is outside the training range 40–72")


def test_text_numbers_and_numeric_categories_are_coerced():
    frame = pd.DataFrame([_row(age=" 61.5 ", ecog="1"), _row(age="NA")]).astype(object)
    X, status, _ = check_rows(frame, META)
    assert status.tolist() == ["ok", "ok"]
    assert X["age"].iloc[0] == 61.5 and np.isnan(X["age"].iloc[1]) and X["ecog"].iloc[0] == 1


def test_missing_columns_are_listed_all_at_once():
    frame = pd.DataFrame([_row()]).drop(columns=["sex", "tandem_asct"])
    with pytest.raises(MissingColumnsError) as err:
        check_rows(frame, META)
    assert err.value.missing == ["sex", "tandem_asct"]
    assert str(err.value) == (
        "input: missing required column(s) sex, tandem_asct; the model needs 7 input columns: "
        "age, sex, ecog, del17p, months_dx_to_asct, tandem_asct, score_x")


# --- property: every row comes back, with the status its defects call for -------------------

_DEFECTS = {
    "none": ("ok", {}),
    "missing": ("ok", {"age": None}),
    "blank": ("ok", {"sex": " "}),
    "text": ("error", {"age": "n/a?"}),
    "impossible": ("error", {"age": -3}),
    "negative": ("error", {"months_dx_to_asct": -0.5}),
    "flag": ("error", {"tandem_asct": 3}),
    "code": ("error", {"sex": "U"}),
    "range": ("warning", {"score_x": 9.0}),
    "padded": ("ok", {"del17p": " not_tested "}),
    "unseen": ("warning", {"del17p": "failed"}),
}
_RANK = {"ok": 0, "warning": 1, "error": 2}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(sorted(_DEFECTS)), max_size=3), max_size=40))
def test_rows_out_equal_rows_in_each_with_the_status_of_its_defects(defects):
    rows, expected = [], []
    for kinds in defects:
        cells: dict = {}
        worst = "ok"
        for k in kinds:
            status, cell = _DEFECTS[k]
            if set(cell) & set(cells):
                continue  # one defect per cell
            cells.update(cell)
            worst = max(worst, status, key=_RANK.get)
        rows.append(_row(**cells))
        expected.append(worst)
    frame = pd.DataFrame(rows, columns=META["features"]).astype(object)
    X, status, reason = check_rows(frame, META)
    assert len(X) == len(status) == len(reason) == len(frame)
    assert status.tolist() == expected
    assert all((r == "") == (s == "ok") for s, r in zip(status, reason, strict=True))
