"""The fast paths of explain give what the straightforward ones give.

- ``reasons_table`` (top-k by repeated argmax, formatting once per distinct value) equals a
  row-by-row loop over a stable argsort, string for string;
- ``explain(model_input=...)`` with the pipeline's output (or a ``ModelInput`` carrying the
  derived values) equals ``explain`` transforming the rows itself; a ``ModelInput`` background
  equals the background rows;
- explaining a Cox model imports neither shap nor numba.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from registry_like import registry_like

from mmrisk.exceptions import MMRiskError
from mmrisk.explain import (
    Explanation,
    ModelInput,
    explain,
    format_value,
    reasons_table,
    transform_for_explain,
)
from mmrisk.models import make_model


def _contribution(value: float) -> str:
    return f"{value:+.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:+.2g}"


def _reasons_by_row(explanation: Explanation, k: int = 3) -> pd.DataFrame:
    """The definition: per row, a stable descending argsort of |SHAP|, formatted cell by cell."""
    values = explanation.values.to_numpy(dtype=float)
    data = explanation.data.to_numpy(dtype=object)
    names = [str(c) for c in explanation.values.columns]
    size = np.where((values != 0) & np.isfinite(values), np.abs(values), -1.0)
    top = np.argsort(-size, axis=1, kind="stable")[:, :k]
    cols: list[list[str]] = [[] for _ in range(k)]
    for i, row in enumerate(top):
        for j in range(k):
            f = row[j] if j < len(row) else None
            ok = f is not None and size[i, f] >= 0
            cols[j].append(f"{names[f]}={format_value(data[i, f])} ({_contribution(values[i, f])})"
                           if ok else "")
    return pd.DataFrame({f"reason_{j + 1}": cols[j] for j in range(k)},
                        index=explanation.values.index)


def _explanation(values: np.ndarray, data: pd.DataFrame) -> Explanation:
    frame = pd.DataFrame(values, columns=data.columns, index=data.index)
    return Explanation(values=frame, base_value=0.0, prediction=values.sum(1), data=data,
                       column_values=frame, column_data=frame, output="risk", requested="risk",
                       method="linear", feature_perturbation="interventional",
                       assignment={c: {c: 1.0} for c in data.columns})


def _awkward(n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """SHAP values with ties, zeros, NaN and tiny values; data of every kind, mixed included."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0, 0.3, (n, 7)), 2)
    values[rng.random(values.shape) < 0.15] = 0.0
    values[rng.random(values.shape) < 0.03] = np.nan
    values[:, 6] = rng.choice([0.004, -0.0049, 0.005, 1e-5], n)
    data = pd.DataFrame({
        "cat": rng.choice(np.array(["detected", "not_detected", None], dtype=object), n),
        "num": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.normal(50, 20, n), 3)),
        "whole": rng.choice([1.0, 2.0, 3.0, 1e16], n),
        "ints": rng.integers(0, 4, n),
        "mixed": rng.choice(np.array([1, True, "1", 1.0, None, pd.NA], dtype=object), n),
        "flag": rng.choice([True, False], n),
        "tiny": rng.normal(0, 1e-7, n),
    }).astype(object)
    return values, data


@pytest.mark.parametrize("k", [1, 3, 9])
def test_reasons_table_equals_the_row_by_row_definition(k):
    values, data = _awkward(400, seed=k)
    expl = _explanation(values, data.set_axis(np.arange(400) * 3 + 7))
    fast = reasons_table(expl, k=k)
    pd.testing.assert_frame_equal(fast, _reasons_by_row(expl, k))
    assert (fast["reason_1"] != "").mean() > 0.9


def test_reasons_table_of_no_rows_and_no_reasons():
    values, data = _awkward(5, seed=1)
    empty = reasons_table(_explanation(values[:0], data.iloc[:0]))
    assert list(empty.columns) == ["reason_1", "reason_2", "reason_3"] and len(empty) == 0
    zeros = reasons_table(_explanation(np.zeros_like(values), data))
    assert (zeros.to_numpy() == "").all()


@pytest.fixture(scope="module")
def coxnet():
    X, y = registry_like(240, seed=3)
    model = make_model("coxnet", pipeline="default", params={"l1_ratio": 0.5}, seed=0)
    return model.fit(X, y), X


def _assert_same(a: Explanation, b: Explanation) -> None:
    pd.testing.assert_frame_equal(a.values, b.values, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(a.data, b.data)
    pd.testing.assert_frame_equal(a.column_values, b.column_values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.prediction, b.prediction, rtol=0, atol=1e-12)
    assert a.base_value == pytest.approx(b.base_value, abs=1e-12)
    assert (a.method, a.output, a.assignment) == (b.method, b.output, b.assignment)


def test_explain_with_the_model_input_equals_explain(coxnet):
    model, X = coxnet
    rows, background = X.iloc[20:80], X.iloc[:100]
    plain = explain(model, rows, background=background)
    given = transform_for_explain(model, rows)
    pd.testing.assert_frame_equal(given.columns, model[:-1].transform(rows))
    assert {"riss", "iss_computed", "hrca_count"} <= set(given.intermediate)
    # derived features show their derived values (R-ISS stage), found between the steps
    assert {"riss", "hrca_count"} <= set(plain.values.columns)
    _assert_same(explain(model, rows, background=background, model_input=given), plain)
    _assert_same(explain(model, rows, background=background, model_input=given.columns), plain)
    _assert_same(explain(model, rows, background=transform_for_explain(model, background),
                         model_input=given), plain)
    pd.testing.assert_frame_equal(reasons_table(plain), _reasons_by_row(plain))


def test_model_input_must_match_the_rows(coxnet):
    model, X = coxnet
    with pytest.raises(MMRiskError, match="model_input has 5 rows; X has 6"):
        explain(model, X.head(6), model_input=transform_for_explain(model, X.head(5)))


def test_transform_for_explain_of_an_estimator_alone(coxnet):
    model, X = coxnet
    Z = model[:-1].transform(X.head(30))
    assert transform_for_explain(model[-1], Z).columns is Z
    assert transform_for_explain(model[-1], Z).intermediate == {}
    _assert_same(explain(model[-1], Z, model_input=ModelInput(Z)), explain(model[-1], Z))


def test_explaining_a_cox_model_imports_neither_shap_nor_numba():
    code = textwrap.dedent("""
        import sys
        from sksurv.datasets import load_whas500
        from mmrisk.explain import explain, reasons_table
        from mmrisk.models import make_model
        X, y = load_whas500()
        X = X[["age", "bmi", "hr"]].astype(float)
        model = make_model("cox", pipeline="passthrough").fit(X, y)
        reasons_table(explain(model, X.head(20), background=X))
        print(sorted(m for m in ("shap", "numba") if m in sys.modules))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip().splitlines()[-1] == "[]"
