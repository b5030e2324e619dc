"""XGBoost survival models: Breslow baseline, AFT distributions, label encoding, early stopping."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from lifelines.fitters.coxph_fitter import SemiParametricPHFitter
from models_testdata import registry_frame, simulate_cox
from scipy import stats
from sklearn.base import clone
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from mmrisk.exceptions import ConfigError, ModelFitError
from mmrisk.models import XGBAFT, XGBCox, make_model, predict_survival_at

#: One thread: the suite runs beside other processes, where OpenMP threads wait on each other.
ONE = {"n_jobs": 1}
SCIPY = {"normal": stats.norm, "logistic": stats.logistic, "extreme": stats.gumbel_l}


def _harrell(y, risk):
    return concordance_index_censored(y["event"], y["time"], risk)[0]


@pytest.fixture(scope="module")
def cox_data():
    X, y = simulate_cox(400, np.array([0.8, -0.6, 0.4, 0.0]), seed=5, round_to=1.0)
    return X, y  # whole-month times: many ties


def test_breslow_baseline_equals_lifelines_with_the_same_fixed_linear_predictor(cox_data):
    """S(t | x) = exp(-H0(t) exp(f(x))) with H0 the Breslow estimate (lifelines' own code, fed
    the model's training margin f as a fixed linear predictor), tied times included."""
    X, y = cox_data
    model = XGBCox(n_estimators=40, max_depth=2, random_state=0, **ONE).fit(X, y)
    margin = model.predict(X)
    partial = pd.DataFrame(
        {"P": np.exp(margin), "E": y["event"].astype(float), "W": 1.0, "T": y["time"]}
    )
    # lifelines' Breslow estimate (what CoxPHFitter computes after fitting its coefficients)
    h0 = SemiParametricPHFitter()._compute_baseline_hazard(partial, "h")["h"]
    H0 = h0.cumsum()
    assert len(np.unique(y["time"][y["event"]])) < y["event"].sum()  # ties present
    np.testing.assert_allclose(model.unique_times_, H0.index.to_numpy())
    X_new = X.iloc[:7]
    expected_chf = H0.to_numpy()[None, :] * np.exp(model.predict(X_new))[:, None]
    np.testing.assert_allclose(
        model.predict_cumulative_hazard_function(X_new, return_array=True), expected_chf,
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        model.predict_survival_function(X_new, return_array=True), np.exp(-expected_chf),
        rtol=1e-9,
    )
    # step functions agree with the arrays, also between and beyond the training times
    horizons = [float(y["time"].min()), 12.0, 24.3, float(y["time"].max())]
    idx = np.searchsorted(model.unique_times_, horizons, side="right") - 1
    np.testing.assert_allclose(
        predict_survival_at(model, X_new, horizons), np.exp(-expected_chf[:, idx]), rtol=1e-9
    )


def test_cox_labels_encode_censoring_a_stump_model_recovers_the_cox_mle():
    """Boosted stumps on one binary feature converge to the two-group Cox model, whose log
    hazard ratio (Breslow ties; continuous times, so no ties) is scikit-survival's MLE. A
    wrong censoring encoding (ignored or flipped) would give another ratio."""
    rng = np.random.default_rng(3)
    n = 600
    x = rng.binomial(1, 0.4, n).astype(float)
    t_event = rng.exponential(20.0 * np.exp(-0.9 * x))
    t_censor = rng.uniform(0, 40, n)
    y = Surv.from_arrays(t_event <= t_censor, np.minimum(t_event, t_censor))
    X = x[:, None]
    ref = CoxPHSurvivalAnalysis(alpha=0.0, ties="breslow").fit(X, y)
    model = XGBCox(
        n_estimators=300, learning_rate=0.5, max_depth=1, min_child_weight=0.0,
        reg_lambda=0.0, random_state=0, **ONE,
    ).fit(X, y)
    risk = model.predict(np.array([[0.0], [1.0]]))
    assert risk[1] - risk[0] == pytest.approx(ref.coef_[0], abs=2e-3)
    assert 0.6 < ref.coef_[0] < 1.2  # the simulated log hazard ratio is 0.9


def test_a_patient_censored_at_time_zero_stays_censored():
    X = np.arange(6, dtype=float)[:, None]
    y = Surv.from_arrays([True, False, True, False, True, False], [1.0, 0.0, 2.0, 3.0, 4.0, 5.0])
    model = XGBCox(n_estimators=2)
    label = model._matrix(X.astype(np.float32), y["event"], y["time"]).get_label()
    assert np.all((label < 0) == ~y["event"])
    np.testing.assert_allclose(np.abs(label), np.maximum(y["time"], np.finfo(np.float32).tiny))


@pytest.mark.parametrize("distribution", ["normal", "logistic", "extreme"])
def test_aft_survival_is_the_fitted_distribution(distribution, cox_data):
    """S(t | x) = P(log T > log t) with log T = f(x) + scale * Z, Z from scipy's standard
    normal, logistic or minimum-Gumbel distribution; and the likelihood XGBoost reports for
    the fit is the one of that distribution (its noise conventions are the ones used here)."""
    X, y = cox_data
    scale = 0.7
    model = XGBAFT(
        n_estimators=30, learning_rate=0.3, max_depth=2, aft_loss_distribution=distribution,
        aft_loss_distribution_scale=scale, random_state=0, **ONE,
    ).fit(X, y)
    loc = model.predict_log_time(X)
    np.testing.assert_allclose(model.predict(X), -loc)
    dist = SCIPY[distribution]
    times = model.unique_times_
    expected = dist.sf(np.log(times)[None, :], loc=loc[:, None], scale=scale)
    np.testing.assert_allclose(
        model.predict_survival_function(X, return_array=True), expected, rtol=1e-9, atol=1e-300
    )
    np.testing.assert_allclose(
        model.predict_cumulative_hazard_function(X.iloc[:5], return_array=True),
        -dist.logsf(np.log(times)[None, :], loc=loc[:5, None], scale=scale), rtol=1e-9,
    )
    horizons = [0.0, 6.0, 24.0, 500.0]
    fns = model.predict_survival_function(X.iloc[:5])
    assert fns[0].domain == (0.0, np.inf)
    with np.errstate(divide="ignore"):
        log_h = np.log(horizons)
    np.testing.assert_allclose(
        predict_survival_at(model, X.iloc[:5], horizons),
        dist.sf(log_h[None, :], loc=loc[:5, None], scale=scale), rtol=1e-9, atol=1e-300,
    )
    # The likelihood XGBoost optimises, as it reports it while training a booster with the
    # estimator's own parameters (the same trees), is the one of this distribution and scale.
    event, time = y["event"], y["time"]
    dmat = xgb.DMatrix(
        X.to_numpy(dtype=np.float32), label_lower_bound=time,
        label_upper_bound=np.where(event, time, np.inf),
    )
    history = {}
    booster = xgb.train(
        model._booster_params(0), dmat, 30, evals=[(dmat, "train")], evals_result=history,
        verbose_eval=False,
    )
    np.testing.assert_allclose(booster.predict(dmat, output_margin=True), loc)
    loglik = np.where(
        event,
        dist.logpdf(np.log(time), loc=loc, scale=scale) - np.log(time),  # density of T
        dist.logsf(np.log(time), loc=loc, scale=scale),
    )
    # XGBoost floors each likelihood term at 1e-12 (aft::kEps in src/common/survival_util.h)
    loss = np.minimum(-loglik, -np.log(1e-12))
    assert history["train"]["aft-nloglik"][-1] == pytest.approx(loss.mean(), rel=1e-6)


def test_aft_recovers_a_known_acceleration_factor():
    """log T = 3 + 0.8 x + 0.5 Z (normal): stumps on the binary x recover the 0.8."""
    rng = np.random.default_rng(8)
    n = 4000
    x = rng.binomial(1, 0.5, n).astype(float)
    t_event = np.exp(3.0 + 0.8 * x + 0.5 * rng.normal(size=n))
    t_censor = rng.uniform(5, 80, n)
    y = Surv.from_arrays(t_event <= t_censor, np.minimum(t_event, t_censor))
    model = XGBAFT(
        n_estimators=300, learning_rate=0.3, max_depth=1, min_child_weight=0.0,
        reg_lambda=0.0, aft_loss_distribution_scale=0.5, random_state=0, **ONE,
    ).fit(x[:, None], y)
    loc = model.predict_log_time(np.array([[0.0], [1.0]]))
    assert loc[1] - loc[0] == pytest.approx(0.8, abs=0.06)  # SE about 0.02
    assert loc[0] == pytest.approx(3.0, abs=0.06)


def test_aft_refuses_events_at_time_zero():
    y = Surv.from_arrays([True, True, False], [0.0, 2.0, 3.0])
    with pytest.raises(ModelFitError, match=r"^XGBAFT: 1 event\(s\) at time 0"):
        XGBAFT(n_estimators=2).fit(np.arange(3.0)[:, None], y)


@pytest.mark.parametrize("kind", ["xgb_cox", "xgb_aft"])
def test_learns_a_strong_signal_from_registry_features(kind):
    X, y, lp = registry_frame(700, seed=21)
    train, test = np.arange(500), np.arange(500, 700)
    model = make_model(kind, params=ONE, seed=0).fit(X.iloc[train], y[train])
    c_model = _harrell(y[test], model.predict(X.iloc[test]))
    c_oracle = _harrell(y[test], lp[test])
    assert c_oracle > 0.7
    assert c_model > 0.65 and c_model > c_oracle - 0.08


@pytest.mark.parametrize("cls", [XGBCox, XGBAFT])
def test_early_stopping_keeps_the_best_round_of_a_seeded_inner_split(cls):
    X, y, _ = registry_frame(400, seed=4)
    X = pd.get_dummies(X, dtype=float)
    params = {"n_estimators": 400, "learning_rate": 0.3, "max_depth": 4, "random_state": 1,
              "early_stopping_rounds": 10, **ONE}
    model = cls(**params).fit(X, y)
    assert model.best_iteration_ is not None and model.best_iteration_ < 399
    assert model.n_estimators_ == model.best_iteration_ + 1
    again = cls(**params).fit(X, y)
    assert again.best_iteration_ == model.best_iteration_
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    other = cls(**{**params, "random_state": 2}).fit(X, y)
    assert not np.array_equal(other.predict(X), model.predict(X))
    plain = cls(**{**params, "early_stopping_rounds": None}).fit(X, y)
    assert plain.best_iteration_ is None and plain.n_estimators_ == 400


def test_early_stopping_split_too_small_is_a_fit_error():
    y = Surv.from_arrays([True, False, True], [1.0, 2.0, 3.0])
    with pytest.raises(ModelFitError, match="fewer than 2 samples"):
        XGBCox(early_stopping_rounds=5).fit(np.arange(3.0)[:, None], y)


def test_thread_count_and_seed_reach_xgboost(cox_data):
    X, y = cox_data
    model = XGBCox(n_estimators=5, n_jobs=1, subsample=0.5, random_state=7).fit(X, y)
    config = json.loads(model.booster_.save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"
    assert config["learner"]["generic_param"]["seed"] == "7"
    same = XGBCox(n_estimators=5, n_jobs=1, subsample=0.5, random_state=7).fit(X, y)
    np.testing.assert_array_equal(same.predict(X), model.predict(X))


@pytest.mark.parametrize("cls", [XGBCox, XGBAFT])
def test_sklearn_contract_clone_pickle_and_missing_values(cls, cox_data):
    X, y = cox_data
    X = X.copy()
    X.iloc[::7, 1] = np.nan
    model = cls(n_estimators=10, random_state=0, **ONE)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    model.fit(X, y)
    assert list(model.feature_names_in_) == list(X.columns)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    np.testing.assert_array_equal(
        restored.predict_survival_function(X, return_array=True),
        model.predict_survival_function(X, return_array=True),
    )
    assert model.score(X, y) == pytest.approx(_harrell(y, model.predict(X)))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(X[list(reversed(X.columns))])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_depth": 0}, "model 'xgb_cox': key 'params.max_depth': The 'max_depth' parameter"),
        ({"random_state": 1}, "model 'xgb_cox': key 'params.random_state': set by make_model"),
        ({"eta": 0.1}, "model 'xgb_cox': key 'params.eta': unknown parameter of XGBCox"),
    ],
)
def test_catalogue_checks_xgb_parameters(params, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        make_model("xgb_cox", params=params)


def test_catalogue_checks_the_aft_distribution():
    with pytest.raises(ConfigError, match="key 'params.aft_loss_distribution'"):
        make_model("xgb_aft", params={"aft_loss_distribution": "weibull"})
    model = make_model("xgb_aft", params={"aft_loss_distribution": "extreme"}, seed=3)
    assert model.named_steps["model"].random_state == 3


def test_grid_search_tunes_xgb_cox_by_inner_harrell_c(registry_data):
    X, y = registry_data
    search = make_model(
        "xgb_cox", params={"n_estimators": 20, **ONE}, grid={"max_depth": [1, 3]}, seed=2
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    best = [1, 3][int(np.argmax(scores))]
    assert search.best_params_ == {"model__max_depth": best}
    np.testing.assert_array_equal(
        search.predict_survival_function(X, return_array=True),
        search.best_estimator_.predict_survival_function(X, return_array=True),
    )


@pytest.mark.parametrize("cls", [XGBCox, XGBAFT])
def test_pickled_and_skops_state_hold_xgboosts_own_json_model(cls, cox_data, tmp_path):
    """The stored booster is exactly what ``Booster.save_model("m.json")`` writes (XGBoost's
    own file, the independent truth), and a model restored from it predicts identically."""
    import skops.io as sio

    X, y = cox_data
    X = X.copy()
    X.iloc[::7, 1] = np.nan
    model = cls(n_estimators=15, max_depth=3, random_state=0, early_stopping_rounds=3, **ONE
                ).fit(X, y)
    model.booster_.save_model(tmp_path / "m.json")
    state = model.__getstate__()
    assert isinstance(state["booster_"], bytes)
    assert json.loads(state["booster_"]) == json.loads((tmp_path / "m.json").read_bytes())
    assert isinstance(model.booster_, xgb.Booster)  # the fitted object is unchanged
    blob = sio.dumps(model)
    assert not [t for t in sio.get_untrusted_types(data=blob) if t.startswith("xgboost")]
    for restored in (pickle.loads(pickle.dumps(model)),
                     sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))):
        assert isinstance(restored.booster_, xgb.Booster)
        assert restored.best_iteration_ == model.best_iteration_
        np.testing.assert_array_equal(restored.predict(X), model.predict(X))
        np.testing.assert_array_equal(restored.predict_survival_function(X, return_array=True),
                                      model.predict_survival_function(X, return_array=True))
        np.testing.assert_array_equal(restored.booster_.predict(xgb.DMatrix(X), pred_contribs=True),
                                      model.booster_.predict(xgb.DMatrix(X), pred_contribs=True))
        config = json.loads(restored.booster_.save_config())
        assert config["learner"]["generic_param"]["nthread"] == "1"


def test_a_model_pickled_with_a_booster_object_still_loads(cox_data):
    """Models pickled before the JSON state (the Booster object itself) load unchanged."""
    X, y = cox_data
    model = XGBCox(n_estimators=5, random_state=0, **ONE).fit(X, y)
    legacy = dict(model.__dict__)  # what BaseEstimator pickled before: the Booster object
    restored = XGBCox.__new__(XGBCox)
    restored.__setstate__(pickle.loads(pickle.dumps(legacy)))
    assert isinstance(restored.booster_, xgb.Booster)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
