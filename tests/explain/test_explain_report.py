"""Tables, figures, reasons, the public surface and input errors of mmrisk.explain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest

import mmrisk.explain as mx
from mmrisk.exceptions import MMRiskError
from mmrisk.explain import (
    explain,
    explanation_table,
    global_importance,
    parse_output,
    reasons_table,
    top_reasons,
)
from mmrisk.models import predict_survival_at
from mmrisk.report import write_explanation


def _pipeline(model):
    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "b2m"]),
            ("cat", OneHotEncoder(sparse_output=False), ["grade", "sex"]),
        ]
    )
    return Pipeline([("encode", encode), ("model", model)]).set_output(transform="pandas")


@pytest.fixture(scope="module")
def rsf_expl(clinical_frame):
    X, y = clinical_frame
    pipe = _pipeline(RandomSurvivalForest(n_estimators=10, min_samples_leaf=5, random_state=0))
    pipe.fit(X, y)
    return explain(pipe, X.head(40), output="surv_24m", background=X,
                   feature_perturbation="interventional")


def test_every_public_name_imports():
    for name in mx.__all__:
        assert getattr(mx, name) is not None, name
        assert getattr(mx, name).__doc__, name


def test_explanation_table_and_importance(rsf_expl):
    table = explanation_table(rsf_expl)
    assert list(table.columns[:2]) == ["base_value", "surv_24m"]
    shap_cols = [c for c in table.columns if c.startswith("shap__")]
    assert shap_cols == [f"shap__{f}" for f in ["age", "grade", "sex", "b2m"]]
    np.testing.assert_allclose(table["base_value"] + table[shap_cols].sum(1), table["surv_24m"],
                               atol=1e-9)
    imp = global_importance(rsf_expl)
    assert list(imp.columns) == ["feature", "mean_abs_shap", "mean_shap"]
    assert imp["mean_abs_shap"].is_monotonic_decreasing
    np.testing.assert_allclose(
        imp.set_index("feature")["mean_abs_shap"], rsf_expl.values.abs().mean()[imp["feature"]]
    )
    assert rsf_expl.feature_perturbation == "interventional"
    assert rsf_expl.meta["n_background"] == 100


def test_reasons_format():
    values = pd.DataFrame({"del17p": [0.41, 0.0], "age": [-0.0042, 0.2], "sex": [0.1, -0.3]})
    data = pd.DataFrame({"del17p": ["detected", None], "age": [71.0, 55.5], "sex": ["M", "F"]},
                        dtype=object)
    expl = mx.Explanation(
        values=values, base_value=1.0, prediction=np.array([1.5058, 0.9]), data=data,
        column_values=values, column_data=values, output="risk", requested="risk",
        method="linear", feature_perturbation="interventional", assignment={},
    )
    assert top_reasons(expl, k=3, row=0) == [
        "del17p=detected (+0.41)", "sex=M (+0.10)", "age=71 (-0.0042)"
    ]
    assert top_reasons(expl, k=3, row=1) == ["sex=F (-0.30)", "age=55.5 (+0.20)"]
    table = reasons_table(expl, k=3)
    assert list(table.columns) == ["reason_1", "reason_2", "reason_3"]
    assert table.iloc[1, 2] == ""
    with pytest.raises(MMRiskError, match="row must be"):
        top_reasons(expl, row=5)


def test_write_explanation_files(rsf_expl, tmp_path):
    paths = write_explanation(rsf_expl, tmp_path / "out", rows=[0, 7], n_dependence=2)
    names = {p.relative_to(tmp_path / "out").as_posix() for p in paths}
    assert {
        "shap_values.parquet", "shap_values.csv", "column_shap_values.parquet",
        "global_importance.csv", "reasons.csv", "figures/beeswarm.png", "figures/bar.png",
        "figures/waterfall_0.png", "figures/waterfall_7.png",
    } <= names
    assert sum(n.startswith("figures/dependence_") for n in names) == 2
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = pd.read_parquet(tmp_path / "out" / "shap_values.parquet")
    np.testing.assert_allclose(back["shap__grade"], rsf_expl.values["grade"])
    with pytest.raises(MMRiskError, match="rows must be"):
        write_explanation(rsf_expl, tmp_path / "bad", rows=[40])


def test_no_dependence_plot_for_a_feature_the_model_does_not_use(rsf_expl, tmp_path):
    import dataclasses

    values = rsf_expl.values.copy()
    values.loc[:, :] = 0.0
    values.iloc[:, 0] = rsf_expl.values.iloc[:, 0]  # only the first feature contributes
    unused = dataclasses.replace(rsf_expl, values=values)
    paths = write_explanation(unused, tmp_path, rows=[], n_dependence=4)
    deps = [p.name for p in paths if p.name.startswith("dependence_")]
    assert len(deps) == 1 and values.columns[0] in deps[0]


def test_default_waterfalls_are_highest_and_lowest(rsf_expl, tmp_path):
    paths = write_explanation(rsf_expl, tmp_path, n_dependence=0)
    rows = sorted(int(p.stem.split("_")[1]) for p in paths if p.stem.startswith("waterfall_"))
    pred = rsf_expl.prediction
    assert rows == sorted({int(np.argmax(pred)), int(np.argmin(pred))})


def test_boosting_survival_is_reported_alongside(clinical_frame):
    X, y = clinical_frame
    pipe = _pipeline(GradientBoostingSurvivalAnalysis(n_estimators=20, random_state=0)).fit(X, y)
    expl = explain(pipe, X.head(10), output="surv_24m")
    assert expl.method == "tree" and expl.output == "risk" and expl.requested == "surv_24m"
    np.testing.assert_allclose(expl.prediction, pipe.predict(X.head(10)))
    np.testing.assert_allclose(expl.reported["surv_24m"],
                               predict_survival_at(pipe, X.head(10), [24.0])[:, 0])
    assert "surv_24m" in explanation_table(expl).columns


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": "surv_24"}, "output must be"),
        ({"method": "shapley"}, "method must be"),
        ({"feature_perturbation": "marginal"}, "feature_perturbation must be"),
    ],
)
def test_bad_arguments(clinical_frame, kwargs, message):
    X, y = clinical_frame
    pipe = _pipeline(RandomSurvivalForest(n_estimators=2, random_state=0)).fit(X, y)
    with pytest.raises(MMRiskError, match=message):
        explain(pipe, X.head(3), **kwargs)


def test_parse_output():
    assert parse_output("risk").name == "risk"
    assert parse_output("surv_24m").horizon == 24.0
    assert parse_output("chf_6.5m").name == "chf_6.5m"
