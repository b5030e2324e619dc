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


def _grid(c):
    return make_model("cox", pipeline="staging", grid={"alpha": [0.01, 0.1]}, inner_cv=2,
                      seed=1).fit(c.X, c.y)


@pytest.fixture(scope="module")
def stored(pfs, competing, tmp_path_factory):
    """Every catalogue model fitted, saved with skops and read back with the trusted list.

    One fixture for all of them (not one per test) so that the set of types the files hold is
    complete on whichever test worker checks it.
    """
    root = tmp_path_factory.mktemp("stored")
    fitted = {("pfs", k): make_model(k, params=SMALL.get(k), seed=1).fit(pfs.X, pfs.y)
              for k in sorted(MODEL_KINDS)}
    fitted |= {("cr", k): make_competing_model(k, params=SMALL.get(k), seed=1).fit(
        competing.X, competing.y) for k in sorted(COMPETING_MODEL_KINDS)}
    grid = _grid(pfs)
    fitted[("grid", "grid")] = grid
    fitted |= {("grid", m): recalibrate(grid, pfs.X, pfs.y, method=m, reference_time=24.0)
               for m in ("baseline", "intercept", "slope")}
    out, seen = {}, set()
    for i, (key, model) in enumerate(fitted.items()):
        folder = root / str(i)
        folder.mkdir()
        path = save_estimator(model, folder)
        assert path.name == "estimator.skops"
        seen.update(sio.get_untrusted_types(file=path))
        out[key] = (model, load_estimator(path))
    return out, seen


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_every_survival_kind_is_stored_without_pickle(kind, pfs, stored):
    model, back = stored[0][("pfs", kind)]
    X = pfs.X.head(60)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(predict_survival_at(back, X, [12, 24]),
                                  predict_survival_at(model, X, [12, 24]))


@pytest.mark.parametrize("kind", sorted(COMPETING_MODEL_KINDS))
def test_every_competing_kind_is_stored_without_pickle(kind, competing, stored):
    model, back = stored[0][("cr", kind)]
    X = competing.X.head(60)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(predict_cif_at(back, X, [12, 24]),
                                  predict_cif_at(model, X, [12, 24]))


@pytest.mark.parametrize("which", ["grid", "baseline", "intercept", "slope"])
def test_grid_searches_and_recalibrated_models_too(which, pfs, stored):
    model, back = stored[0][("grid", which)]
    np.testing.assert_array_equal(predict_survival_at(back, pfs.X, [12, 24]),
                                  predict_survival_at(model, pfs.X, [12, 24]))


def test_the_trusted_list_is_what_the_catalogue_uses(stored):
    """Every listed type is needed by some catalogue model, and no other type is."""
    assert stored[1] == set(TRUSTED_TYPES)
