"""docs/registry.md §7: the 24 acceptance checks, computed from the raw tables of an extract.

At the default seed (n = 1,256) every check must be inside its band. At n = 50,000 the centre of
each distribution must match its target: inside the band and within a third of the band's width
of the published (or calibrated) target.
"""

from __future__ import annotations

import math

import pytest
from acceptance import BANDS, R2ISS_TARGET, acceptance_figures

from mmrisk.registry._simulate import simulate_registry


@pytest.fixture(scope="module")
def default_figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    simulate_registry(out, n=1256, seed=42)
    return acceptance_figures(out)


@pytest.fixture(scope="module")
def large_figures(tmp_path_factory):
    out = tmp_path_factory.mktemp("large")
    simulate_registry(out, n=50_000, seed=7)
    return acceptance_figures(out)


@pytest.mark.parametrize("check", list(BANDS), ids=[f"check_{k}" for k in BANDS])
def test_default_seed_inside_band(default_figures, check):
    key, lo, hi, _ = BANDS[check]
    assert lo <= default_figures[key] <= hi, f"check {check}: {key}={default_figures[key]:.4g}"


def test_check5_os_lm_not_reached_or_at_least_100(default_figures):
    v = default_figures["os_median_lm"]
    assert math.isinf(v) or math.isnan(v) or v >= 100


def test_check13_iss_gradient_is_monotone(default_figures):
    f = default_figures
    assert f["pfs_median_iss1"] > f["pfs_median_iss2"] > f["pfs_median_iss3"]


def test_check14_r2iss_distribution(default_figures):
    for group, target in R2ISS_TARGET.items():
        assert abs(default_figures[f"r2iss_{group}_pct"] - target) <= 8, group


@pytest.mark.slow
@pytest.mark.parametrize("check", [k for k, v in BANDS.items() if v[3] is not None],
                         ids=[f"check_{k}" for k, v in BANDS.items() if v[3] is not None])
def test_large_n_centre_matches_target(large_figures, check):
    key, lo, hi, target = BANDS[check]
    v = large_figures[key]
    assert lo <= v <= hi, f"{key}={v:.4g} outside [{lo}, {hi}]"
    assert abs(v - target) <= (hi - lo) / 3, f"{key}={v:.4g} far from target {target}"


@pytest.mark.slow
def test_large_n_r2iss_and_gradient(large_figures):
    f = large_figures
    assert f["pfs_median_iss1"] > f["pfs_median_iss2"] > f["pfs_median_iss3"]
    assert f["os_median_lm"] >= 100
    for group, target in R2ISS_TARGET.items():
        assert abs(f[f"r2iss_{group}_pct"] - target) <= 4, group
