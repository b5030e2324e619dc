"""Linear SHAP for Cox-type models, and summing one-hot columns back to clinical features."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sksurv.ensemble import RandomSurvivalForest
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis

from mmrisk.exceptions import MMRiskError
from mmrisk.explain import explain
from mmrisk.models import predict_survival_at


def _cox_pipeline(drop, model=None):
    encode = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "b2m"]),
            ("cat", OneHotEncoder(drop=drop, sparse_output=False), ["grade", "sex"]),
        ]
    )
    model = model if model is not None else CoxPHSurvivalAnalysis(tol=1e-12, n_iter=200)
    return Pipeline([("encode", encode), ("model", model)]).set_output(transform="pandas")


@pytest.fixture(scope="module")
def cox(clinical_frame):
    X, y = clinical_frame
    return _cox_pipeline("first").fit(X, y)


def test_cox_local_accuracy_and_reported_survival(cox, clinical_frame):
    X, _ = clinical_frame
    expl = explain(cox, X, output="surv_24m", background=X)
    assert expl.method == "linear"
    assert expl.output == "risk" and expl.requested == "surv_24m"
    np.testing.assert_allclose(expl.prediction, cox.predict(X), atol=1e-12)
    assert expl.local_accuracy_error().max() < 1e-9
    np.testing.assert_allclose(
        expl.reported["surv_24m"], predict_survival_at(cox, X, [24.0])[:, 0], atol=1e-12
    )
    assert list(expl.values.columns) == ["age", "grade", "sex", "b2m"]
    assert expl.base_value == pytest.approx(cox.predict(X).mean())


def test_linear_values_equal_coef_times_centred_column(cox, clinical_frame):
    X, _ = clinical_frame
    expl = explain(cox, X.head(7), background=X)
    Z = cox[:-1].transform(X)
    coef = cox[-1].coef_
    expected = (Z.head(7) - Z.mean()) * coef
    np.testing.assert_allclose(expl.column_values.to_numpy(), expected.to_numpy(), atol=1e-12)


def test_summed_columns_equal_clinical_brute_force(cox, clinical_frame, brute_shapley):
    """Masking clinical features (raw input) through the whole pipeline is the truth."""
    X, _ = clinical_frame
    background = X.iloc[:25].reset_index(drop=True)
    rows = X.iloc[40:44]
    expl = explain(cox, rows, background=background)
    for i in range(len(rows)):
        truth = brute_shapley(cox.predict, rows.iloc[[i]], background)
        np.testing.assert_allclose(expl.values.iloc[i].to_numpy(), truth, atol=1e-9)
    assert expl.values["grade"].abs().max() > 0.05


def test_grade_value_does_not_depend_on_the_reference_category(clinical_frame):
    """Two encodings of the same Cox model: per-column values differ, per-feature ones agree."""
    X, y = clinical_frame
    first = _cox_pipeline("first").fit(X, y)
    last = _cox_pipeline(np.array(["c", "M"], dtype=object)).fit(X, y)
    # The same model: the linear predictors differ by a constant only (Cox has no intercept).
    assert np.ptp(first.predict(X) - last.predict(X)) < 1e-6
    a = explain(first, X.head(30), background=X)
    b = explain(last, X.head(30), background=X)
    np.testing.assert_allclose(a.values.to_numpy(), b.values.to_numpy(), atol=1e-6)
    assert set(a.column_values.columns) != set(b.column_values.columns)
    col_a = a.column_values["cat__grade_b"].to_numpy()
    col_b = b.column_values["cat__grade_b"].to_numpy()
    assert np.abs(col_a - col_b).max() > 0.05


def test_coxnet_path_coefficients_are_probed(clinical_frame):
    X, y = clinical_frame
    pipe = _cox_pipeline(None, CoxnetSurvivalAnalysis(l1_ratio=0.5, alpha_min_ratio=0.05))
    pipe.fit(X, y)
    assert pipe[-1].coef_.ndim == 2
    expl = explain(pipe, X.head(20), background=X)
    assert expl.method == "linear"
    assert expl.local_accuracy_error().max() < 1e-9


def test_grid_search_wrapper_is_unwrapped(clinical_frame):
    X, y = clinical_frame
    search = GridSearchCV(_cox_pipeline("first"), {"model__alpha": [0.0, 0.1]}, cv=2)
    search.fit(X, y)
    expl = explain(search, X.head(5), background=X)
    assert expl.method == "linear"
    np.testing.assert_allclose(expl.prediction, search.best_estimator_.predict(X.head(5)))
    wrapped_step = Pipeline(
        [("encode", search.best_estimator_[0]),
         ("model", GridSearchCV(CoxPHSurvivalAnalysis(), {"alpha": [0.0]}, cv=2))]
    )
    wrapped_step[-1].fit(search.best_estimator_[0].transform(X), y)
    expl2 = explain(wrapped_step, X.head(5), background=X)
    assert list(expl2.values.columns) == ["age", "grade", "sex", "b2m"]
    assert expl2.local_accuracy_error().max() < 1e-9


def test_linear_method_refuses_a_forest(clinical_frame):
    X, y = clinical_frame
    pipe = _cox_pipeline("first", RandomSurvivalForest(n_estimators=3, random_state=0))
    pipe.fit(X, y)
    with pytest.raises(MMRiskError, match="not linear"):
        explain(pipe, X.head(5), method="linear")
