"""Random survival forest and gradient boosting: scikit-survival's models, unchanged, that learn."""

from __future__ import annotations

import numpy as np
import pytest
from models_testdata import registry_frame, simulate_cox
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.metrics import concordance_index_censored

from mmrisk.models import MODEL_KINDS, make_model

SMALL = {
    "rsf": {"n_estimators": 25, "min_samples_leaf": 8},
    "gbsa": {"n_estimators": 60, "max_depth": 2},
}
SKSURV = {"rsf": RandomSurvivalForest, "gbsa": GradientBoostingSurvivalAnalysis}


def _harrell(y, risk):
    return concordance_index_censored(y["event"], y["time"], risk)[0]


@pytest.mark.parametrize("kind", ["rsf", "gbsa"])
def test_catalogue_model_equals_scikit_survivals_with_same_params_and_seed(kind):
    X, y = simulate_cox(300, np.array([0.8, -0.6, 0.4, 0.0]), seed=2)
    ours = make_model(kind, pipeline="passthrough", params=SMALL[kind], seed=3).fit(X, y)
    params = {**MODEL_KINDS[kind].defaults, **MODEL_KINDS[kind].fixed, **SMALL[kind]}
    ref = SKSURV[kind](**params, random_state=3).fit(X, y)
    assert ours.named_steps["model"].get_params() == ref.get_params()
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
