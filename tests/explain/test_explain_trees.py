"""Exact TreeSHAP for scikit-survival trees: local accuracy and exactness against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sksurv.ensemble import (
    ExtraSurvivalTrees,
    GradientBoostingSurvivalAnalysis,
    RandomSurvivalForest,
)
from sksurv.tree import SurvivalTree

from mmrisk.exceptions import MMRiskError
from mmrisk.explain import as_tree_input, shap_tree_model, tree_shap
from mmrisk.explain._base import parse_output
from mmrisk.explain._outputs import output_function
from mmrisk.models import predict_survival_at

FOREST_OUTPUTS = ["risk", "surv_12m", "chf_12m", "surv_0m", "chf_999m"]


def _models():
    return {
        "rsf": RandomSurvivalForest(n_estimators=8, min_samples_leaf=6, random_state=0),
        "est": ExtraSurvivalTrees(n_estimators=8, min_samples_leaf=6, random_state=0),
        "tree": SurvivalTree(max_depth=6, min_samples_leaf=5),
        "gbsa": GradientBoostingSurvivalAnalysis(n_estimators=30, max_depth=3, random_state=0),
        "gbsa_dropout": GradientBoostingSurvivalAnalysis(
            n_estimators=20, dropout_rate=0.2, subsample=0.8, random_state=0
        ),
    }


@pytest.fixture(scope="module")
def fitted(small_data):
    X, y = small_data
    return {name: model.fit(X, y) for name, model in _models().items()}


def _truth(model, output, X):
    """The model's own output, computed without the explain code path."""
    spec = parse_output(output)
    if spec.kind == "risk":
        return model.predict(X)
    if spec.kind == "surv":
        return predict_survival_at(model, X, [spec.horizon])[:, 0]
    return np.array([fn(min(spec.horizon, fn.domain[1])) for fn in
                     model.predict_cumulative_hazard_function(X)])


@pytest.mark.parametrize("name", ["rsf", "est", "tree"])
@pytest.mark.parametrize("output", FOREST_OUTPUTS)
@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
def test_forest_local_accuracy(fitted, small_data, name, output, perturbation):
    X, _ = small_data
    model = fitted[name]
    phi, base = tree_shap(model, X[:30], output, feature_perturbation=perturbation,
                          background=X[100:150])
    np.testing.assert_allclose(base + phi.sum(axis=1), _truth(model, output, X[:30]),
                               rtol=0, atol=1e-6 * max(1.0, float(np.abs(base))))
    assert np.abs(phi).max() > 0


@pytest.mark.parametrize("name", ["gbsa", "gbsa_dropout"])
@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
def test_boosting_log_hazard_local_accuracy(fitted, small_data, name, perturbation):
    X, _ = small_data
    model = fitted[name]
    phi, base = tree_shap(model, X[:30], "risk", feature_perturbation=perturbation,
                          background=X[100:150])
    np.testing.assert_allclose(base + phi.sum(axis=1), model.predict(X[:30]), rtol=0, atol=1e-6)


def test_boosting_refuses_survival_output(fitted):
    with pytest.raises(MMRiskError, match="additive in the log hazard"):
        shap_tree_model(fitted["gbsa"], "surv_12m")


def test_low_memory_forest_risk_only(small_data):
    X, y = small_data
    rsf = RandomSurvivalForest(n_estimators=4, low_memory=True, random_state=0).fit(X, y)
    phi, base = tree_shap(rsf, X[:10], "risk")
    np.testing.assert_allclose(base + phi.sum(axis=1), rsf.predict(X[:10]), atol=1e-6)
    with pytest.raises(MMRiskError, match="low_memory=True"):
        tree_shap(rsf, X[:10], "surv_12m")


@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
def test_missing_values_follow_the_default_child(make_data, perturbation):
    X, y = make_data(200, 4, seed=3, missing=0.2)
    rsf = RandomSurvivalForest(n_estimators=5, max_depth=5, random_state=0).fit(X, y)
    assert np.isnan(X[:40]).any()
    phi, base = tree_shap(rsf, X[:40], "surv_10m", feature_perturbation=perturbation,
                          background=X[100:140])
    truth = predict_survival_at(rsf, X[:40], [10.0])[:, 0]
    np.testing.assert_allclose(base + phi.sum(axis=1), truth, atol=1e-9)


def test_float32_rounding_matches_predict(small_data):
    """A value between float32(x) and a float64 threshold must go where sklearn sends it."""
    X, y = small_data
    tree = SurvivalTree(max_depth=2).fit(X, y)
    thr = tree.tree_.threshold[0]
    feat = tree.tree_.feature[0]
    x = X[:5].copy()
    x[:, feat] = np.nextafter(thr, np.inf)  # just above in float64, rounds onto it in float32
    phi, base = tree_shap(tree, x, "risk")
    np.testing.assert_allclose(base + phi.sum(axis=1), tree.predict(x), atol=1e-9)


def test_conversion_does_not_touch_the_model(fitted, small_data):
    X, _ = small_data
    model = fitted["rsf"]
    weights = [e.tree_.weighted_n_node_samples.copy() for e in model.estimators_]
    before = model.predict(X[:20])
    tree_shap(model, X[:5], "risk", feature_perturbation="interventional", background=X[:20])
    shap.TreeExplainer(shap_tree_model(model), data=as_tree_input(X[:20]),
                       feature_perturbation="interventional")
    for w, e in zip(weights, model.estimators_, strict=True):
        np.testing.assert_array_equal(w, e.tree_.weighted_n_node_samples)
    np.testing.assert_array_equal(before, model.predict(X[:20]))


def test_path_dependent_equals_shap_on_the_exported_dict(fitted, small_data):
    """The exported dict is what shap.TreeExplainer accepts; several horizons at once."""
    X, _ = small_data
    model = fitted["rsf"]
    outputs = ["surv_6m", "surv_24m", "chf_24m"]
    explainer = shap.TreeExplainer(shap_tree_model(model, outputs))
    phi = explainer.shap_values(as_tree_input(X[:10]))
    assert phi.shape == (10, X.shape[1], len(outputs))
    for k, output in enumerate(outputs):
        ours, base = tree_shap(model, X[:10], output)
        np.testing.assert_allclose(phi[:, :, k], ours, atol=1e-12)
        assert base == pytest.approx(explainer.expected_value[k])
        f = output_function(model, parse_output(output))
        np.testing.assert_allclose(base + ours.sum(1), f(X[:10]), atol=1e-9)


def _small_models(X, y):
    return [
        ("rsf", RandomSurvivalForest(n_estimators=3, max_depth=3, random_state=1).fit(X, y)),
        ("est", ExtraSurvivalTrees(n_estimators=3, max_depth=3, random_state=1).fit(X, y)),
        ("gbsa", GradientBoostingSurvivalAnalysis(n_estimators=5, max_depth=3,
                                                  random_state=1).fit(X, y)),
    ]


@pytest.fixture(scope="module")
def small_trees(make_data):
    X, y = make_data(150, 4, seed=21)
    return X, _small_models(X, y)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_interventional_equals_brute_force_and_exact_explainer(small_trees, brute_shapley, index):
    X, models = small_trees
    name, model = models[index]
    background = X[:12]
    rows = X[60:64]
    outputs = ["risk"] if name == "gbsa" else ["risk", "surv_12m", "chf_30m"]
    for output in outputs:
        f = output_function(model, parse_output(output))
        phi, base = tree_shap(model, rows, output, feature_perturbation="interventional",
                              background=background)
        assert base == pytest.approx(f(background).mean(), abs=1e-9)
        brute = np.array([brute_shapley(f, x, background) for x in rows])
        np.testing.assert_allclose(phi, brute, atol=1e-6)
        masker = shap.maskers.Independent(background, max_samples=len(background))
        exact = shap.ExactExplainer(f, masker)(rows).values
        np.testing.assert_allclose(phi, exact, atol=1e-6)
        assert np.abs(brute).max() > 1e-3  # the comparison is not between zeros


def test_fast_kernels_equal_shap_and_the_depth_first_search(make_data, monkeypatch):
    """Two independent interventional implementations, and shap's path-dependent one."""
    from mmrisk.explain import _fastshap
    from mmrisk.explain._fastshap import TreeArrays, interventional_shap, shapley_coefficients
    from mmrisk.explain._interventional import dfs_interventional

    X, y = make_data(250, 5, seed=8, missing=0.15)
    models = [
        RandomSurvivalForest(n_estimators=4, random_state=2).fit(X, y),
        GradientBoostingSurvivalAnalysis(n_estimators=15, random_state=2).fit(
            np.nan_to_num(X), y
        ),
    ]
    rows, background = X[:25], X[100:130]
    for model, output in zip(models, ["chf_15m", "risk"], strict=True):
        exported = shap_tree_model(model, output)
        trees = TreeArrays(exported)
        fast, base = interventional_shap(trees, as_tree_input(rows), as_tree_input(background))
        coef_a, coef_b = shapley_coefficients(trees.max_depth + 2)
        dfs = dfs_interventional(trees, as_tree_input(rows), as_tree_input(background),
                                 coef_a, coef_b)
        np.testing.assert_allclose(fast, dfs, atol=1e-12)
        monkeypatch.setattr(_fastshap, "_MAX_BITS", 0)  # force the fallback branch
        fallback, _ = interventional_shap(trees, as_tree_input(rows), as_tree_input(background))
        monkeypatch.undo()
        np.testing.assert_allclose(fallback, fast, atol=1e-12)
        reference = shap.TreeExplainer(exported).shap_values(as_tree_input(rows))
        ours, _ = tree_shap(model, rows, output)
        np.testing.assert_allclose(ours, reference, atol=1e-12)
        assert np.abs(fast).max() > 1e-3


def test_tree_arrays_refuse_children_before_parents():
    from mmrisk.explain._fastshap import TreeArrays

    tree = {
        "children_left": np.array([-1, -1, 0]), "children_right": np.array([-1, -1, 1]),
        "children_default": np.array([-1, -1, 0]), "features": np.array([-2, -2, 0]),
        "thresholds": np.array([0.0, 0.0, 0.5]), "values": np.array([[1.0], [2.0], [1.5]]),
        "node_sample_weight": np.array([1.0, 1.0, 2.0]),
    }
    with pytest.raises(ValueError, match="before its children"):
        TreeArrays({"trees": [tree]})
