"""The default feature pipeline gives an identifiable Cox design that recovers known effects.

Independent truths: the rank of the design matrix (numpy's SVD), the synthetic registry's own
generator (simulated here, then read back through the cohort builder, as the main job does),
and simulated data whose log hazard ratios are known.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from models_testdata import registry_frame
from sklearn.base import clone

from mmrisk.cohort import load_cohort
from mmrisk.config import CohortSpec, DataSpec
from mmrisk.exceptions import ModelFitWarning
from mmrisk.features import build_pipeline, make_encoder
from mmrisk.models import collinear_columns, make_model


@pytest.fixture(scope="module")
def registry_cohort(tmp_path_factory):
    """The main job's cohort: synthetic registry (N=1256, seed 42), LM start, PFS."""
    data = DataSpec(synthetic_dir=str(tmp_path_factory.mktemp("synthetic")))
    return load_cohort(data, CohortSpec(landmark="lm_start", endpoint="pfs"))


def _rank(Z: pd.DataFrame) -> int:
    values = Z.to_numpy(dtype=float)
    return int(np.linalg.matrix_rank(values - values.mean(axis=0)))


def test_default_design_of_the_registry_cohort_has_full_column_rank(registry_cohort):
    X, y = registry_cohort.X, registry_cohort.y
    design = build_pipeline("default")[:-1]  # everything up to the encoder's output
    encoded = clone(design).fit_transform(X)
    # the encoder alone leaves exact dependencies (duplicated missing indicators, HR-CA counts
    # that are sums of one-hot cytogenetic columns)
    assert _rank(encoded) < encoded.shape[1]
    Z = build_pipeline("default").fit_transform(X)
    assert _rank(Z) == Z.shape[1]
    assert collinear_columns(Z, Z.columns) == []
    # every one-hot group has its reference (no group sums to one)
    assert "cat__del17p_not_detected" not in Z.columns
    assert "cat__del17p_detected" in Z.columns
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelFitWarning)
        fitted = make_model("cox").fit(X, y)
    assert fitted.named_steps["model"].collinear_features_ == []
    assert np.isfinite(fitted.named_steps["model"].cov_).all()


def test_without_a_reference_the_registry_design_is_collinear(registry_cohort):
    """The defect the default pipeline fixes: every category of a group kept, plus indicators."""
    pipe = build_pipeline("default")
    steps = pipe.steps[:-2] + [("encode", make_encoder(add_indicator=True))]
    Z = type(pipe)(steps).set_output(transform="pandas").fit_transform(registry_cohort.X)
    assert "cat__del17p_not_detected" in Z.columns
    assert Z.shape[1] - _rank(Z) >= 12  # one per one-hot group at least
    with pytest.warns(ModelFitWarning, match="linearly dependent"):
        make_model("cox", pipeline=type(pipe)(steps)).fit(registry_cohort.X, registry_cohort.y)


def _log_hr(model, X: pd.DataFrame, column: str, value, reference) -> float:
    """Mean change of the model's log hazard when ``column`` goes from reference to value."""
    hi, lo = X.copy(), X.copy()
    hi[column], lo[column] = value, reference
    return float(np.mean(model.predict(hi) - model.predict(lo)))


def test_cox_on_the_default_pipeline_recovers_known_effects():
    # true model: log HR 1.8 for del(17p) detected, 1.0 for LDH above the ULN, 0.06 per year
    # of age, none for sex or for t(14;16)
    X, y, _ = registry_frame(3000, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelFitWarning)
        model = make_model("cox").fit(X, y)
    assert _log_hr(model, X, "del17p", "detected", "not_detected") == pytest.approx(1.8, abs=0.2)
    # LDH above the ULN has no column of its own (it enters through LDH in U/L and the R-ISS
    # and R2-ISS): the step of the truth is only partly captured, in the right direction
    ldh_high = X.assign(ldh_U_L=X["ldh_uln_U_L"] + 50.0)
    ldh_normal = X.assign(ldh_U_L=X["ldh_uln_U_L"] - 50.0)
    effect = np.mean(model.predict(ldh_high) - model.predict(ldh_normal))
    assert 0.3 < effect < 1.2
    older = np.mean(model.predict(X.assign(age=X["age"] + 10)) - model.predict(X))
    assert older == pytest.approx(0.6, abs=0.15)
    assert _log_hr(model, X, "sex", "F", "M") == pytest.approx(0.0, abs=0.15)
    assert _log_hr(model, X, "t_14_16", "detected", "not_detected") == pytest.approx(0.0, abs=0.4)
