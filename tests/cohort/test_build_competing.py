"""The competing-risks endpoint ``progression_cr`` against the PFS and TTP endpoints."""

from __future__ import annotations

import numpy as np
import pytest

from mmrisk.cohort import COMPETING_ENDPOINT, build_cohort
from mmrisk.config import CohortSpec
from mmrisk.models import check_competing_outcome
from mmrisk.registry import read_extract, simulate_registry


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    out = tmp_path_factory.mktemp("cr")
    simulate_registry(out, n=300, seed=9)
    return read_extract(out)


def _spec(landmark: str, endpoint: str) -> CohortSpec:
    # CohortSpec's endpoint Literal gains 'progression_cr' with the config change (lead)
    return CohortSpec(landmark=landmark).model_copy(update={"endpoint": endpoint})


@pytest.mark.parametrize("landmark", ["post_asct"])
def test_progression_cr_splits_pfs_into_progression_and_death(extract, landmark):
    cr = build_cohort(extract, _spec(landmark, COMPETING_ENDPOINT))
    pfs = build_cohort(extract, _spec(landmark, "pfs"))
    ttp = build_cohort(extract, _spec(landmark, "ttp"))
    assert cr.data["patient_id"].tolist() == pfs.data["patient_id"].tolist()
    code = cr.data["event"].to_numpy()
    assert set(np.unique(code)) == {0, 1, 2}
    # the same follow-up as PFS; any event is a PFS event
    np.testing.assert_array_equal(cr.data["time"], pfs.data["time"])
    np.testing.assert_array_equal(code > 0, pfs.data["event"])
    # cause 1 is exactly a TTP event at the same time; cause 2 is censored in TTP
    t = ttp.data.set_index("patient_id").loc[cr.data["patient_id"]]
    np.testing.assert_array_equal(code == 1, t["event"].to_numpy())
    np.testing.assert_array_equal(cr.data["time"][code == 1], t["time"].to_numpy()[code == 1])
    assert not t["event"].to_numpy()[code == 2].any()
    # the outcome array for the models and metrics
    ev, time = check_competing_outcome(cr.y)
    np.testing.assert_array_equal(ev, code)
    np.testing.assert_array_equal(time, cr.data["time"])
    assert pfs.y.dtype["event"].kind == "b"  # the other endpoints are unchanged
