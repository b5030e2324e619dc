"""The catalogue as a whole: construction and errors, sklearn contract, survival properties."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest
from models_testdata import registry_frame
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from sksurv.ensemble import GradientBoostingSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

import mmrisk.models
from mmrisk.exceptions import ConfigError
from mmrisk.features import build_pipeline
from mmrisk.models import (
    MODEL_KINDS,
    XGBAFT,
    CoxnetCV,
    CoxPH,
    EventStratifiedKFold,
    GridRandomSurvivalForest,
    SurvivalGridSearchCV,
    XGBCox,
    hazard_ratios,
    make_model,
    model_size_bytes,
    predict_survival_at,
)

KINDS = ["cox", "coxnet", "rsf", "gbsa", "xgb_cox", "xgb_aft", "staging"]
# small models keep the suite fast
FAST = {
    "cox": None,
    "coxnet": {"n_alphas": 10},
    "rsf": {"n_estimators": 15, "min_samples_leaf": 10},
    "gbsa": {"n_estimators": 30},
    "xgb_cox": {"n_estimators": 30, "n_jobs": 1},
    "xgb_aft": {"n_estimators": 30, "n_jobs": 1},
    "staging": None,
}
HORIZONS = [6, 12, 24, 36, 60]
# The 'default' pipeline gives a full-rank design (a reference category per one-hot group,
# exactly collinear columns dropped): a ModelFitWarning from the Cox models is an error here.
pytestmark = pytest.mark.filterwarnings("error::mmrisk.exceptions.ModelFitWarning")


@pytest.fixture(scope="module")
def fitted(registry_data):
    """Every kind fitted once on the registry-shaped data."""
    X, y = registry_data
    return {kind: make_model(kind, params=FAST[kind], seed=0).fit(X, y) for kind in KINDS}


def test_public_names_are_importable():
    for name in mmrisk.models.__all__:
        assert getattr(mmrisk.models, name) is not None
    assert "predict_survival_at" in mmrisk.models.__all__


def test_catalogue_lists_the_seven_kinds_with_their_models():
    assert sorted(MODEL_KINDS) == sorted(KINDS)
    expected = {
        "cox": CoxPH,
        "coxnet": CoxnetCV,
        "rsf": GridRandomSurvivalForest,
        "gbsa": GradientBoostingSurvivalAnalysis,
        "xgb_cox": XGBCox,
        "xgb_aft": XGBAFT,
        "staging": CoxPH,
    }
    for kind, cls in expected.items():
        model = make_model(kind)
        assert isinstance(model, Pipeline)
        assert model.steps[-1][0] == "model" and type(model.steps[-1][1]) is cls
        assert MODEL_KINDS[kind].cox_type == (cls in (CoxPH, CoxnetCV))
    with pytest.raises(TypeError):
        MODEL_KINDS["new"] = MODEL_KINDS["cox"]  # read-only


def test_defaults_params_and_seed_reach_the_model():
    rsf = make_model("rsf", params={"n_estimators": 7}, seed=5).named_steps["model"]
    assert (rsf.n_estimators, rsf.min_samples_leaf, rsf.random_state) == (7, 15, 5)
    assert rsf.low_memory is False
    coxnet = make_model("coxnet", inner_cv=4, seed=9).named_steps["model"]
    assert (coxnet.cv, coxnet.random_state) == (4, 9)
    cox = make_model("cox").named_steps["model"]
    assert (cox.alpha, cox.ties) == (0.01, "efron")


def test_pipelines_default_to_default_and_staging():
    names = [name for name, _ in build_pipeline("default").steps]
    assert [n for n, _ in make_model("rsf").steps] == [*names, "model"]
    staging = [name for name, _ in build_pipeline("staging").steps]
    assert [n for n, _ in make_model("staging").steps] == [*staging, "model"]
    assert [n for n, _ in make_model("cox", pipeline="passthrough").steps] == ["numeric", "model"]


def test_a_pipeline_object_is_cloned_not_reused():
    features = Pipeline([("scale", StandardScaler())])
    model = make_model("cox", pipeline=features)
    assert model.named_steps["scale"] is not features.named_steps["scale"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kind": "forest"},
            "unknown model kind 'forest'; available: cox, coxnet, gbsa, rsf, staging, xgb_aft, "
            "xgb_cox.",
        ),
        (
            {"kind": "rsf", "params": {"n_trees": 3}},
            "model 'rsf': key 'params.n_trees': unknown parameter of GridRandomSurvivalForest; "
            "valid: bootstrap, low_memory, max_depth, max_features, max_leaf_nodes, "
            "max_samples, min_samples_leaf, min_samples_split, min_weight_fraction_leaf, "
            "n_estimators, n_jobs, oob_score, time_grid, verbose, warm_start.",
        ),
        (
            {"kind": "gbsa", "params": {"random_state": 3}},
            "model 'gbsa': key 'params.random_state': set by make_model's 'seed' argument, "
            "not by params or grid.",
        ),
        (
            {"kind": "coxnet", "params": {"cv": 10}},
            "model 'coxnet': key 'params.cv': set by make_model's 'inner_cv' argument, not by "
            "params or grid.",
        ),
        (
            {"kind": "gbsa", "params": {"loss": "ipcwls"}},
            "model 'gbsa': key 'params.loss': must be 'coxph' (the catalogue needs survival "
            "functions); got 'ipcwls'.",
        ),
        (
            {"kind": "rsf", "params": {"low_memory": True}},
            "model 'rsf': key 'params.low_memory': must be False (the catalogue needs survival "
            "functions); got True.",
        ),
        (
            {"kind": "rsf", "params": {"max_depth": "deep"}},
            "model 'rsf': key 'params.max_depth': The 'max_depth' parameter of "
            "GridRandomSurvivalForest must be an int in the range [1, inf) or None. Got 'deep' "
            "instead.",
        ),
        (
            {"kind": "cox", "params": [("alpha", 1.0)]},
            "model 'cox': key 'params': expected a mapping of parameter: value; got list.",
        ),
        (
            {"kind": "rsf", "grid": {"max_depth": 3}},
            "model 'rsf': key 'grid.max_depth': expected a non-empty list of values; got 3.",
        ),
        (
            {"kind": "rsf", "grid": {"max_depth": []}},
            "model 'rsf': key 'grid.max_depth': expected a non-empty list of values; got [].",
        ),
        (
            {"kind": "rsf", "grid": {}},
            "model 'rsf': key 'grid': expected a non-empty mapping of parameter: list of "
            "values; got {}.",
        ),
        (
            {"kind": "coxnet", "grid": {"l1_ratio": [0.5, 1.5]}},
            "model 'coxnet': key 'grid.l1_ratio': The 'l1_ratio' parameter of CoxnetCV must be "
            "a float in the range (0.0, 1.0]. Got 1.5 instead.",
        ),
        (
            {"kind": "cox", "grid": {"encode__nope": [1]}},
            "model 'cox': key 'grid.encode__nope': not a parameter of the feature pipeline (use "
            "'<step>__<param>' for pipeline steps and plain names for the model).",
        ),
        (
            {"kind": "staging", "pipeline": "default"},
            "model 'staging': key 'pipeline': this model is defined by the 'staging' pipeline "
            "and cannot take 'default'; use kind 'cox' for a Cox model on other features.",
        ),
        (
            {"kind": "cox", "pipeline": 3},
            "model 'cox': key 'pipeline': expected a pipeline name or an sklearn Pipeline; got "
            "int.",
        ),
        (
            {"kind": "cox", "pipeline": Pipeline([("model", StandardScaler())])},
            "model 'cox': key 'pipeline': the feature pipeline has a step named 'model', which "
            "is reserved for the survival model; rename it.",
        ),
        (
            {"kind": "cox", "pipeline": Pipeline([("fit", CoxPH())])},
            "model 'cox': key 'pipeline': step 'fit' (CoxPH) is not a transformer; give "
            "feature steps only.",
        ),
        (
            {"kind": "cox", "inner_cv": 1},
            "model 'cox': key 'inner_cv': expected an integer >= 2; got 1.",
        ),
        (
            {"kind": "rsf", "seed": -1},
            "model 'rsf': key 'seed': expected an integer >= 0; got -1.",
        ),
    ],
)
def test_bad_configuration_is_a_config_error_naming_model_and_key(kwargs, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        make_model(**kwargs)


def test_unknown_pipeline_name_is_a_config_error_naming_the_model():
    with pytest.raises(ConfigError, match=r"^model 'cox': key 'pipeline': pipeline 'nope' not"):
        make_model("cox", pipeline="nope")


@pytest.mark.parametrize("kind", KINDS)
def test_clone_gives_an_equal_unfitted_model(kind, fitted):
    for model in (make_model(kind, params=FAST[kind]), fitted[kind]):
        twin = clone(model)
        assert repr(twin.get_params(deep=True)) == repr(model.get_params(deep=True))
        with pytest.raises(NotFittedError):
            check_is_fitted(twin.named_steps["model"])


def test_clone_works_on_grid_search():
    search = make_model("gbsa", params=FAST["gbsa"], grid={"max_depth": [1, 2]}, seed=4)
    twin = clone(search)
    assert isinstance(twin, SurvivalGridSearchCV)
    assert repr(twin.get_params(deep=True)) == repr(search.get_params(deep=True))


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip_gives_identical_predictions(kind, fitted, registry_data):
    X, _ = registry_data
    model = fitted[kind]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(
        restored.predict_survival_function(X, return_array=True),
        model.predict_survival_function(X, return_array=True),
    )
    assert model_size_bytes(model) == len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize("kind", KINDS)
def test_survival_is_a_probability_non_increasing_in_time_and_falls_with_risk(
    kind, fitted, registry_data
):
    X, _ = registry_data
    model = fitted[kind]
    surv = model.predict_survival_function(X, return_array=True)
    assert surv.shape[0] == len(X) and np.isfinite(surv).all()
    assert surv.min() >= 0.0 and surv.max() <= 1.0
    assert np.all(np.diff(surv, axis=1) <= 1e-12)
    at = predict_survival_at(model, X, HORIZONS)
    assert at.shape == (len(X), len(HORIZONS))
    assert np.all(np.diff(at, axis=1) <= 1e-12)
    assert at.min() < 0.9 and at.max() > 0.1  # not degenerate
    risk = model.predict(X)
    assert risk.shape == (len(X),) and np.isfinite(risk).all()
    rho = spearmanr(risk, at[:, HORIZONS.index(24)]).statistic
    assert rho < -0.7  # higher risk = lower survival


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_runs_on_registry_shaped_data_through_its_pipeline(kind, fitted):
    X, y, _ = registry_frame(120, seed=99)
    model = fitted[kind]
    names = list(model.named_steps["model"].feature_names_in_)
    assert all(isinstance(n, str) for n in names) and names  # named columns reach the model
    risk = model.predict(X)
    c = concordance_index_censored(y["event"], y["time"], risk)[0]
    assert c > 0.6  # models trained on another sample generalise to new patients


def test_staging_baseline_uses_only_riss(fitted, registry_data):
    X, _ = registry_data
    model = fitted["staging"]
    names = list(model.named_steps["model"].feature_names_in_)
    assert set(names) <= {"cat__riss_2", "cat__riss_3", "cat__riss_missing"}
    assert {"cat__riss_2", "cat__riss_3"} <= set(names)
    assert hazard_ratios(model)["term"].tolist() == names
    # columns that do not enter R-ISS do not change the prediction ...
    other = X.assign(
        age=X["age"] + 10,
        sex="F",
        creatinine_umol_L=300.0,
        gain1q="detected",
        amp1q="detected",
        response_day100="PD",
    )
    np.testing.assert_array_equal(model.predict(other), model.predict(X))
    # ... while R-ISS inputs do
    assert not np.array_equal(model.predict(X.assign(del17p="detected")), model.predict(X))


def test_grid_search_ranks_candidates_by_inner_harrell_c(registry_data):
    X, y = registry_data
    grid = {"learning_rate": [0.02, 0.3]}
    search = make_model("gbsa", params={"n_estimators": 20}, grid=grid, inner_cv=3, seed=2)
    search.fit(X, y)
    expected = []
    for lr in grid["learning_rate"]:
        scores = []
        for train, test in EventStratifiedKFold(3, random_state=2).split(X, y):
            model = make_model("gbsa", params={"n_estimators": 20, "learning_rate": lr}, seed=2)
            risk = model.fit(X.iloc[train], y[train]).predict(X.iloc[test])
            scores.append(concordance_index_censored(y["event"][test], y["time"][test], risk)[0])
        expected.append(np.mean(scores))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], expected, atol=1e-12)
    best = grid["learning_rate"][int(np.argmax(expected))]
    assert search.best_params_ == {"model__learning_rate": best}
    np.testing.assert_array_equal(
        search.predict_survival_function(X, return_array=True),
        search.best_estimator_.predict_survival_function(X, return_array=True),
    )
    assert predict_survival_at(search, X, HORIZONS).shape == (len(X), len(HORIZONS))
    restored = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(restored.predict(X), search.predict(X))


def test_grid_can_tune_a_feature_step_and_hazard_ratios_follow_the_best(registry_data):
    X, y = registry_data
    search = make_model("cox", grid={"encode__cat__onehot__drop": [None, "first"]})
    assert search.param_grid == {"encode__cat__onehot__drop": [None, "first"]}
    search.fit(X, y)
    table = hazard_ratios(search)
    assert table["term"].tolist() == list(search.best_estimator_[-1].feature_names_in_)
    dropped = search.best_params_["encode__cat__onehot__drop"] == "first"
    assert ("cat__sex_F" in table["term"].tolist()) != dropped


def test_unfitted_search_has_no_fitted_survival_function():
    search = make_model("cox", grid={"alpha": [0.01, 0.1]})
    with pytest.raises(NotFittedError):
        search.predict_survival_function(pd.DataFrame({"age": [60.0]}))


def test_event_stratified_folds_balance_events_and_follow_the_seed(registry_data):
    X, y = registry_data
    folds = list(EventStratifiedKFold(3, random_state=0).split(X, y))
    events = [int(y["event"][test].sum()) for _, test in folds]
    assert max(events) - min(events) <= 1
    assert sorted(np.concatenate([test for _, test in folds])) == list(range(len(X)))
    again = list(EventStratifiedKFold(3, random_state=0).split(X, y))
    other = list(EventStratifiedKFold(3, random_state=1).split(X, y))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))
    with pytest.raises(ValueError, match="structured array with fields"):
        list(EventStratifiedKFold(3).split(X, y["event"]))
