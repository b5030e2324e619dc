"""Every model the catalogue builds is stored with skops and read back with mmrisk's trusted-type
list only (no pickle), predicting exactly as the fitted object; the list trusts nothing the
catalogue does not use. Independent truth: the fitted object in memory."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio

from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.models import (
    COMPETING_MODEL_KINDS,
    MODEL_KINDS,
    make_competing_model,
    make_model,
    predict_cif_at,
    predict_survival_at,
    recalibrate,
)
from mmrisk.registry import read_extract, simulate_registry
from mmrisk.tracking._persist import TRUSTED_TYPES, load_estimator, save_estimator

SMALL = {"rsf": {"n_estimators": 5, "min_samples_leaf": 15},
         "gbsa": {"n_estimators": 10, "max_depth": 2},
         "xgb_cox": {"n_estimators": 10, "n_jobs": 1}, "xgb_aft": {"n_estimators": 10, "n_jobs": 1},
         "coxnet": {"l1_ratio": 0.5}, "cs_coxnet": {"l1_ratio": 0.5}}


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    root = tmp_path_factory.mktemp("persist")
    simulate_registry(root, n=300, seed=3)
    return read_extract(root)


@pytest.fixture(scope="module")
def pfs(extract):
    return build_cohort(extract, CohortSpec(landmark="lm_start", endpoint="pfs"))


@pytest.fixture(scope="module")
def competing(extract):
    return build_cohort(extract, CohortSpec(landmark="lm_start", endpoint="progression_cr"))


@pytest.fixture(scope="module")
def seen():
    return set()


def _roundtrip(model, X, folder, seen):
    path = save_estimator(model, folder)
    assert path.name == "estimator.skops"
    seen.update(sio.get_untrusted_types(file=path))
    return load_estimator(path)


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_every_survival_kind_is_stored_without_pickle(kind, pfs, tmp_path, seen):
    c = pfs
    model = make_model(kind, params=SMALL.get(kind), seed=1).fit(c.X, c.y)
    back = _roundtrip(model, c.X, tmp_path, seen)
    X = c.X.head(60)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(predict_survival_at(back, X, [12, 24]),
                                  predict_survival_at(model, X, [12, 24]))


@pytest.mark.parametrize("kind", sorted(COMPETING_MODEL_KINDS))
def test_every_competing_kind_is_stored_without_pickle(kind, competing, tmp_path, seen):
    c = competing
    model = make_competing_model(kind, params=SMALL.get(kind), seed=1).fit(c.X, c.y)
    back = _roundtrip(model, c.X, tmp_path, seen)
    X = c.X.head(60)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(predict_cif_at(back, X, [12, 24]),
                                  predict_cif_at(model, X, [12, 24]))


def test_grid_searches_and_recalibrated_models_too(pfs, tmp_path, seen):
    c = pfs
    grid = make_model("cox", pipeline="staging", grid={"alpha": [0.01, 0.1]}, inner_cv=2,
                      seed=1).fit(c.X, c.y)
    for i, model in enumerate([grid, *(recalibrate(grid, c.X, c.y, method=m, reference_time=24.0)
                                       for m in ("baseline", "intercept", "slope"))]):
        (tmp_path / str(i)).mkdir()
        back = _roundtrip(model, c.X, tmp_path / str(i), seen)
        np.testing.assert_array_equal(predict_survival_at(back, c.X, [12, 24]),
                                      predict_survival_at(model, c.X, [12, 24]))


def test_the_trusted_list_is_what_the_catalogue_uses(seen):
    """Run after the round trips above (same module): every listed type was needed."""
    if not seen:
        pytest.skip("run with the round-trip tests of this module")
    assert seen == set(TRUSTED_TYPES)
