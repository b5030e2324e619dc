"""Penalised Cox: limit to the unpenalised model, inner-CV choice of alpha, hazard ratios."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

from mmrisk.models import (
    CoxnetCV,
    CoxPH,
    EventStratifiedKFold,
    hazard_ratios,
    make_model,
    predict_survival_at,
)


@pytest.fixture(scope="module")
def standardised_whas500(whas500):
    X, y = whas500
    return (X - X.mean()) / X.std(), y


def test_coefficients_approach_unpenalised_cox_as_alpha_goes_to_zero(standardised_whas500):
    X, y = standardised_whas500
    # glmnet-style coxnet uses Breslow's ties
    unpenalised = CoxPH(alpha=0.0, ties="breslow").fit(X, y).coef_
    distances = [
        np.abs(CoxnetCV(alphas=[alpha], cv=2).fit(X, y).coef_ - unpenalised).max()
        for alpha in (1e-1, 1e-2, 1e-3, 1e-4)
    ]
    assert all(a > b for a, b in zip(distances, distances[1:], strict=False))
    assert distances[0] > 0.05  # the penalty really shrinks at large alpha
    assert distances[-1] < 1e-3


def test_alpha_maximises_mean_inner_harrell_c_on_event_stratified_folds(standardised_whas500):
    X, y = standardised_whas500
    model = CoxnetCV(n_alphas=20, cv=3, random_state=7).fit(X, y)
    path = model.alphas_
    assert model.cv_scores_.shape == (3, path.size)
    # recompute the inner scores with scikit-survival directly
    folds = EventStratifiedKFold(3, random_state=7).split(X, y)
    for i, (train, test) in enumerate(folds):
        fold_model = CoxnetSurvivalAnalysis(alphas=path).fit(X.iloc[train], y[train])
        for j in (0, path.size // 2, path.size - 1):
            risk = fold_model.predict(X.iloc[test], alpha=path[j])
            c = concordance_index_censored(y["fstat"][test], y["lenfol"][test], risk)[0]
            assert model.cv_scores_[i, j] == pytest.approx(c, abs=1e-12)
    best = int(np.argmax(model.cv_scores_.mean(axis=0)))
    assert model.alpha_ == path[best]
    assert model.estimator_.alphas_[-1] == pytest.approx(model.alpha_)
    # the largest penalty (null model on all data) scores worse than the chosen one
    mean = model.cv_scores_.mean(axis=0)
    assert mean[best] > mean[0] + 0.05
    assert np.count_nonzero(model.coef_) > 0


def test_inner_folds_follow_the_seed(standardised_whas500):
    X, y = standardised_whas500
    a = CoxnetCV(n_alphas=10, random_state=1).fit(X, y).cv_scores_
    b = CoxnetCV(n_alphas=10, random_state=1).fit(X, y).cv_scores_
    c = CoxnetCV(n_alphas=10, random_state=2).fit(X, y).cv_scores_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_predictions_are_the_refitted_coxnet_at_the_chosen_alpha(standardised_whas500):
    X, y = standardised_whas500
    model = CoxnetCV(n_alphas=15, random_state=0).fit(X, y)
    ref = CoxnetSurvivalAnalysis(alphas=model.alphas_, fit_baseline_model=True).fit(X, y)
    np.testing.assert_allclose(model.predict(X), ref.predict(X, alpha=model.alpha_), atol=1e-8)
    surv = model.predict_survival_function(X.iloc[:4], return_array=True)
    ref_surv = ref.predict_survival_function(X.iloc[:4], alpha=model.alpha_, return_array=True)
    np.testing.assert_allclose(surv, ref_surv, atol=1e-8)


def test_hazard_ratios_of_coxnet_are_exp_coef_without_inference(registry_data):
    X, y = registry_data
    model = make_model("coxnet", params={"n_alphas": 15}).fit(X, y)
    table = hazard_ratios(model)
    final = model.named_steps["model"]
    assert table["term"].tolist() == list(final.feature_names_in_)
    np.testing.assert_allclose(table["hr"], np.exp(final.estimator_.coef_[:, -1]))
    assert table[["hr_lo", "hr_hi", "p"]].isna().all().all()
    # a hazard ratio of 1 exactly where the elastic net set the coefficient to zero
    np.testing.assert_array_equal(table["hr"] == 1.0, final.estimator_.coef_[:, -1] == 0)
    assert (table["hr"] != 1.0).any()
    surv = predict_survival_at(model, X.iloc[:5], [12, 24, 36])
    assert surv.shape == (5, 3)


def test_penalties_that_diverge_on_an_inner_fold_are_dropped_not_fatal():
    # A real training fold of a 400-patient synthetic registry through the default pipeline:
    # 116 rows, 62 columns, 3 inner folds of ~77 rows. sksurv's path fit overflows on one
    # inner fold at the weakest penalties (the precondition below).
    data = np.load(Path(__file__).parent / "data" / "coxnet_divergent_fold.npz")
    X, y = data["Z"], Surv.from_arrays(data["e"].astype(bool), data["t"])
    model = CoxnetCV(l1_ratio=0.5, cv=3, random_state=5)
    path = CoxnetSurvivalAnalysis(l1_ratio=0.5, n_alphas=50).fit(X, y).alphas_
    failing = []
    for train, _ in model._splitter().split(X, y):
        try:
            CoxnetSurvivalAnalysis(l1_ratio=0.5, alphas=path).fit(X[train], y[train])
        except ArithmeticError:
            failing.append(train)
    assert failing, "precondition: the full path diverges on some inner fold"
    model.fit(X, y)
    assert 0 < model.n_diverged_ < path.size
    assert np.isfinite(model.coef_).all()
    # The chosen penalty is one every fold reached, and the refit equals sksurv's own fit.
    kept = path[: path.size - model.n_diverged_]
    assert model.alpha_ in kept
    ref = CoxnetSurvivalAnalysis(l1_ratio=0.5, alphas=path[path >= model.alpha_]).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_[:, -1], rtol=1e-10, atol=1e-12)
