"""Random survival forest and gradient boosting: scikit-survival's models that learn (the forest
on a coarse time grid, which bounds its size)."""

from __future__ import annotations

import numpy as np
import pytest
from models_testdata import registry_frame, simulate_cox
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.metrics import concordance_index_censored
from sksurv.nonparametric import kaplan_meier_estimator
from sksurv.util import Surv

from mmrisk.explain import tree_shap
from mmrisk.models import (
    MODEL_KINDS,
    GridRandomSurvivalForest,
    coarsen_times,
    make_model,
    model_size_bytes,
    predict_survival_at,
)

SMALL = {
    "rsf": {"n_estimators": 25, "min_samples_leaf": 8},
    "gbsa": {"n_estimators": 60, "max_depth": 2},
}
SKSURV = {"rsf": RandomSurvivalForest, "gbsa": GradientBoostingSurvivalAnalysis}


def _harrell(y, risk):
    return concordance_index_censored(y["event"], y["time"], risk)[0]


def _half_month_ceiling(y):
    """The outcome with every time rounded up to a multiple of 0.5 (written out by hand)."""
    out = y.copy()
    out["time"] = np.ceil(y["time"] * 2.0) / 2.0
    return out


@pytest.mark.parametrize(("kind", "time_grid"), [("rsf", None), ("rsf", 0.5), ("gbsa", None)])
def test_catalogue_model_equals_scikit_survivals_with_same_params_and_seed(kind, time_grid):
    """The catalogue forest is scikit-survival's forest fitted on times rounded up to the grid
    (``time_grid=None``: on the times as they are); boosting is scikit-survival's."""
    X, y = simulate_cox(300, np.array([0.8, -0.6, 0.4, 0.0]), seed=2)
    extra = {"time_grid": time_grid} if kind == "rsf" else {}
    ours = make_model(kind, pipeline="passthrough", params={**SMALL[kind], **extra}, seed=3)
    ours = ours.fit(X, y)
    params = {**MODEL_KINDS[kind].defaults, **MODEL_KINDS[kind].fixed, **SMALL[kind]}
    ref = SKSURV[kind](**params, random_state=3)
    ref = ref.fit(X, _half_month_ceiling(y) if time_grid else y)
    mine = ours.named_steps["model"].get_params()
    assert mine.pop("time_grid", None) == time_grid
    assert mine == ref.get_params()
    if kind == "rsf":
        np.testing.assert_array_equal(ours.named_steps["model"].unique_times_, ref.unique_times_)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    np.testing.assert_array_equal(
        ours.predict_survival_function(X.iloc[:10], return_array=True),
        ref.predict_survival_function(X.iloc[:10], return_array=True),
    )


@pytest.mark.parametrize("kind", ["rsf", "gbsa"])
def test_learns_a_strong_signal_from_registry_features(kind):
    X, y, lp = registry_frame(700, seed=21)
    train, test = np.arange(500), np.arange(500, 700)
    model = make_model(kind, params=SMALL[kind], seed=0).fit(X.iloc[train], y[train])
    c_model = _harrell(y[test], model.predict(X.iloc[test]))
    c_oracle = _harrell(y[test], lp[test])
    c_noise = _harrell(y[test], np.random.default_rng(0).normal(size=test.size))
    assert c_oracle > 0.7  # the simulated signal is strong
    assert c_model > 0.65 and c_model > c_oracle - 0.08
    assert abs(c_noise - 0.5) < 0.08  # the metric is not biased upwards here


@pytest.mark.parametrize("kind", ["rsf", "gbsa"])
def test_seed_controls_the_randomness(kind, registry_data):
    X, y = registry_data
    params = {**SMALL[kind], "subsample": 0.7} if kind == "gbsa" else SMALL[kind]
    a = make_model(kind, params=params, seed=1).fit(X, y).predict(X)
    b = make_model(kind, params=params, seed=1).fit(X, y).predict(X)
    c = make_model(kind, params=params, seed=2).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# --------------------------------------------------------------------------------------------
# The forest on a time grid: exact estimates at grid horizons, a bounded size, same accuracy
# --------------------------------------------------------------------------------------------
def test_coarsen_times_rounds_up_and_keeps_grid_points_exact():
    np.testing.assert_array_equal(
        coarsen_times([0.0, 11.8, 12.0, 12.2, 12.5, 59.99], 0.5),
        [0.0, 12.0, 12.0, 12.5, 12.5, 60.0],
    )
    # no floating-point drift: 1.2 / 0.1 is 11.999999999999998 in binary
    np.testing.assert_array_equal(coarsen_times([1.2, 0.3], 0.1), [1.2, 0.3])


def _root_only_forest(n):
    """One tree, no bootstrap, no split: the forest's survival function is the Kaplan-Meier."""
    return GridRandomSurvivalForest(
        n_estimators=1, bootstrap=False, min_samples_leaf=n, max_features=None, random_state=0
    )


def _step_at(times, values, horizons):
    return values[np.searchsorted(times, horizons, side="right") - 1]


def test_survival_at_grid_horizons_equals_kaplan_meier_of_the_raw_times():
    rng = np.random.default_rng(4)
    n = 300
    X = rng.normal(size=(n, 2))
    time = rng.exponential(30.0, n)
    horizons = np.array([6.0, 12.0, 24.0, 36.0])
    # without censoring the product-limit telescopes within a grid interval: S(h) is exact
    event = np.ones(n, dtype=bool)
    forest = _root_only_forest(n).fit(X, Surv.from_arrays(event, time))
    assert forest.estimators_[0].tree_.node_count == 1
    surv = forest.predict_survival_function(X[:1], return_array=True)[0]
    km_t, km_s = kaplan_meier_estimator(event, time)
    np.testing.assert_allclose(
        _step_at(forest.unique_times_, surv, horizons), _step_at(km_t, km_s, horizons), atol=1e-12
    )
    # with censoring: the Kaplan-Meier of the rounded-up times (patients censored inside an
    # interval count as at risk to its end), within 0.005 of that of the raw times
    event = rng.random(n) < 0.6
    forest = _root_only_forest(n).fit(X, Surv.from_arrays(event, time))
    surv = _step_at(forest.unique_times_,
                    forest.predict_survival_function(X[:1], return_array=True)[0], horizons)
    t_up, s_up = kaplan_meier_estimator(event, np.ceil(time * 2) / 2)
    np.testing.assert_allclose(surv, _step_at(t_up, s_up, horizons), atol=1e-12)
    km_t, km_s = kaplan_meier_estimator(event, time)
    np.testing.assert_allclose(surv, _step_at(km_t, km_s, horizons), atol=0.005)


def test_time_grid_bounds_the_size_and_keeps_the_accuracy():
    X, y, lp = registry_frame(900, seed=8)
    train, test = np.arange(600), np.arange(600, 900)
    params = {"n_estimators": 20, "min_samples_leaf": 15}
    exact = make_model("rsf", params={**params, "time_grid": None}, seed=0)
    exact = exact.fit(X.iloc[train], y[train])
    grid = make_model("rsf", params=params, seed=0).fit(X.iloc[train], y[train])
    f_exact, f_grid = exact.named_steps["model"], grid.named_steps["model"]
    assert f_grid.time_grid == 0.5
    # the stored curves have one column per time point; at most one per half month
    n_grid = int(np.ceil(y["time"][train].max() / 0.5))
    assert len(f_grid.unique_times_) <= n_grid < len(f_exact.unique_times_) / 2
    for tree in f_grid.estimators_:
        assert tree.tree_.value.shape[1:] == (len(f_grid.unique_times_), 2)
    np.testing.assert_array_equal(f_grid.unique_times_ * 2, np.round(f_grid.unique_times_ * 2))
    ratio = model_size_bytes(f_grid) / model_size_bytes(f_exact)
    assert ratio < 0.5
    # same discrimination on held-out patients, close survival at the horizons
    c_exact = _harrell(y[test], exact.predict(X.iloc[test]))
    c_grid = _harrell(y[test], grid.predict(X.iloc[test]))
    assert abs(c_grid - c_exact) < 0.02 and c_grid > _harrell(y[test], lp[test]) - 0.1
    s_exact = predict_survival_at(exact, X.iloc[test], [12, 24, 36])
    s_grid = predict_survival_at(grid, X.iloc[test], [12, 24, 36])
    assert np.abs(s_grid - s_exact).mean() < 0.02


@pytest.mark.parametrize("output", ["risk", "surv_12m", "chf_13m"])
def test_exact_tree_shap_of_the_grid_forest_adds_up_to_its_predictions(output):
    X, y, _ = registry_frame(300, seed=9)
    model = make_model("rsf", params={"n_estimators": 10, "min_samples_leaf": 10}, seed=0)
    model = model.fit(X, y)
    forest = model.named_steps["model"]
    Z = model[:-1].transform(X.iloc[:20])
    phi, base = tree_shap(forest, Z, output)
    if output == "risk":
        truth = forest.predict(Z)
    elif output == "surv_12m":
        truth = predict_survival_at(forest, Z, [12])[:, 0]
    else:
        truth = np.array([fn(13.0) for fn in forest.predict_cumulative_hazard_function(Z)])
    np.testing.assert_allclose(base + phi.sum(axis=1), truth, rtol=1e-9, atol=1e-9)
