"""Column SHAP values summed to clinical features through the feature pipeline's lineage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sksurv.ensemble import RandomSurvivalForest
from sksurv.util import Surv

from mmrisk.exceptions import MMRiskError
from mmrisk.explain import aggregate_columns, column_assignment, explain, top_reasons
from mmrisk.explain._aggregate import derived_name
from mmrisk.features import build_pipeline

CYTO = np.array(["detected", "not_detected", "not_tested", "failed", None], dtype=object)


@pytest.fixture(scope="module")
def registry_like():
    """Columns the shipped 'default' pipeline reads, with missing values."""
    rng = np.random.default_rng(2)
    n = 220
    X = pd.DataFrame(
        {
            "beta2m_mg_L": rng.gamma(2.0, 2.0, n),
            "albumin_g_L": rng.normal(38, 5, n),
            "ldh_U_L": rng.normal(220, 60, n),
            "ldh_uln_U_L": np.full(n, 250.0),
            "del17p": rng.choice(CYTO, n),
            "t_4_14": rng.choice(CYTO, n),
            "t_14_16": rng.choice(CYTO, n),
            "gain1q": rng.choice(CYTO, n),
            "amp1q": rng.choice(CYTO, n),
            "creatinine_umol_L": rng.normal(90, 20, n),
            "age": rng.normal(60, 8, n),
            "sex": rng.choice(["M", "F"], n),
            "response_pre_asct": rng.choice(["CR", "VGPR", "PR"], n),
            "response_day100": rng.choice(["sCR", "CR", "VGPR", "PR"], n),
        }
    )
    X.loc[::9, "albumin_g_L"] = np.nan
    lp = 1.0 * (X["del17p"] == "detected") + 0.15 * X["beta2m_mg_L"]
    time = rng.exponential(30 * np.exp(-lp))
    y = Surv.from_arrays(rng.random(n) < 0.8, np.round(time, 2) + 0.01)
    return X, y


@pytest.fixture(scope="module")
def default_rsf(registry_like):
    X, y = registry_like
    model = RandomSurvivalForest(n_estimators=10, min_samples_leaf=8, random_state=0)
    return Pipeline([*build_pipeline("default").steps, ("model", model)]).fit(X, y)


def test_derived_name():
    assert derived_name("num__missingindicator_riss") == "riss"
    assert derived_name("num__riss") == "riss"
    assert derived_name("outer__inner__egfr") == "egfr"
    assert derived_name("plain") == "plain"


def test_assignment_shares_add_up_to_one():
    lineage = {"cat__sex_F": ["sex"], "num__riss": ["b2m", "alb", "del17p"], "num__x": []}
    derived = column_assignment(list(lineage), lineage)
    assert derived == {"cat__sex_F": {"sex": 1.0}, "num__riss": {"riss": 1.0},
                       "num__x": {"x": 1.0}}
    split = column_assignment(list(lineage), lineage, multi_input="split")
    assert split["num__riss"] == pytest.approx({"b2m": 1 / 3, "alb": 1 / 3, "del17p": 1 / 3})
    with pytest.raises(MMRiskError, match="multi_input"):
        column_assignment(list(lineage), lineage, multi_input="first")


def test_aggregate_sums_columns_in_input_order():
    cols = pd.DataFrame({"cat__sex_F": [0.1, -0.2], "cat__sex_M": [0.3, 0.0],
                         "num__riss": [0.6, 0.3], "num__age": [1.0, 2.0]})
    lineage = {"cat__sex_F": ["sex"], "cat__sex_M": ["sex"], "num__riss": ["b2m", "age"],
               "num__age": ["age"]}
    out = aggregate_columns(cols, column_assignment(list(cols), lineage), ["age", "sex", "b2m"])
    assert list(out.columns) == ["age", "sex", "riss"]
    np.testing.assert_allclose(out["sex"], [0.4, -0.2])
    np.testing.assert_allclose(out["age"], [1.0, 2.0])
    split = aggregate_columns(
        cols, column_assignment(list(cols), lineage, multi_input="split"), ["age", "sex", "b2m"]
    )
    assert list(split.columns) == ["age", "sex", "b2m"]
    np.testing.assert_allclose(split["age"], [1.3, 2.15])
    np.testing.assert_allclose(split["b2m"], [0.3, 0.15])
    np.testing.assert_allclose(split.sum(axis=1), cols.sum(axis=1))


def test_default_pipeline_reads_as_clinical_features(default_rsf, registry_like):
    X, _ = registry_like
    expl = explain(default_rsf, X.head(40), output="surv_24m")
    assert expl.local_accuracy_error().max() < 1e-9
    # The four non-reference one-hot columns of del17p (five levels, the most frequent is the
    # reference) become one feature; R-ISS (7 inputs) is its own feature.
    assert "del17p" in expl.values.columns
    assert "riss" in expl.values.columns
    assert not any("__" in c for c in expl.values.columns)
    del17p_cols = [c for c in expl.column_values.columns if c.startswith("cat__del17p_")]
    assert len(del17p_cols) == 4
    np.testing.assert_allclose(expl.values["del17p"], expl.column_values[del17p_cols].sum(1))
    riss_cols = ["num__riss", "num__missingindicator_riss"]
    np.testing.assert_allclose(expl.values["riss"], expl.column_values[riss_cols].sum(1))
    # Display values: raw input for inputs, the derived stage (not the scaled column) for R-ISS.
    assert set(expl.data["del17p"].dropna()) <= set(CYTO[:4])
    assert set(pd.Series(expl.data["riss"]).dropna().astype(float)) <= {1.0, 2.0, 3.0}
    np.testing.assert_allclose(expl.values.sum(1), expl.column_values.sum(1), atol=1e-12)


def test_split_mode_keeps_local_accuracy(default_rsf, registry_like):
    X, _ = registry_like
    derived = explain(default_rsf, X.head(25))
    split = explain(default_rsf, X.head(25), multi_input="split")
    assert "riss" not in split.values.columns
    assert split.local_accuracy_error().max() < 1e-9
    np.testing.assert_allclose(split.column_values, derived.column_values)
    # del17p gets its own columns plus shares of R-ISS, R2-ISS and the HR-CA counts.
    assert not np.allclose(split.values["del17p"], derived.values["del17p"])


def test_top_reasons_name_the_clinical_value(default_rsf, registry_like):
    X, _ = registry_like
    expl = explain(default_rsf, X.head(10))
    for row in range(10):
        reasons = top_reasons(expl, k=3, row=row)
        assert len(reasons) == 3
        shap_row = expl.values.iloc[row]
        top = shap_row.abs().sort_values(ascending=False).index[0]
        assert reasons[0].startswith(f"{top}=")
        assert reasons[0].endswith(f"({shap_row[top]:+.2f})") or "e-" in reasons[0]
        assert "__" not in reasons[0]
