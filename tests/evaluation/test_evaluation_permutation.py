"""Permutation importance with one predict call equals scikit-learn's, feature by feature."""

from __future__ import annotations

import numpy as np
import pytest
from registry_like import registry_like
from sklearn.inspection import permutation_importance as sk_permutation_importance

from mmrisk.evaluation import cindex_harrell, permutation_importance
from mmrisk.exceptions import MetricInputError
from mmrisk.models import make_model


@pytest.fixture(scope="module")
def fitted():
    X, y = registry_like(200, seed=5)
    model = make_model("coxnet", pipeline="default", params={"l1_ratio": 0.5}, seed=0)
    return model.fit(X, y), X, y


@pytest.mark.parametrize("seed,n_repeats", [(0, 2), (7, 3)])
def test_equals_scikit_learn(fitted, seed, n_repeats):
    model, X, y = fitted
    sample = X.iloc[40:160]  # a non-default index, as a training sample has
    ys = y[40:160]

    def score(est, X_, y_):
        return cindex_harrell(None, y_, est.predict(X_))

    ref = sk_permutation_importance(model, sample, ys, scoring=score, n_repeats=n_repeats,
                                    random_state=seed)
    ours = permutation_importance(model, sample, ys, n_repeats=n_repeats, seed=seed)
    assert list(ours["feature"]) == list(X.columns)
    np.testing.assert_allclose(ours["importance_mean"], ref.importances_mean, atol=1e-12)
    np.testing.assert_allclose(ours["importance_std"], ref.importances_std, atol=1e-12)
    raw = ours[[f"importance_{r + 1}" for r in range(n_repeats)]].to_numpy()
    np.testing.assert_allclose(raw, ref.importances, atol=1e-12)
    assert np.abs(raw).max() > 0  # some column matters, so the comparison is not vacuous


def test_a_column_the_model_ignores_has_zero_importance(fitted):
    model, X, y = fitted
    sample = X.assign(noise=np.arange(len(X), dtype=float))  # not a model input
    table = permutation_importance(_Dropping(model), sample, y, seed=1)
    row = table.set_index("feature").loc["noise"]
    assert row["importance_mean"] == 0 and row["importance_std"] == 0


class _Dropping:
    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return self.model.predict(X.drop(columns="noise"))


def test_refuses_mismatched_rows(fitted):
    model, X, y = fitted
    with pytest.raises(MetricInputError, match="rows"):
        permutation_importance(model, X, y[:10])
