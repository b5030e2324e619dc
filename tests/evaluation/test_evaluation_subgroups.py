"""Subgroup table and centre heterogeneity: counts, references (sksurv), simulated truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.util import Surv

from mmrisk.evaluation import (
    SUBGROUP_COLUMNS,
    centre_heterogeneity,
    observed_expected,
    random_effects_meta,
    subgroup_frame,
    subgroup_table,
)
from mmrisk.exceptions import MetricInputError

HORIZONS = [12, 36]


def test_subgroup_frame_bands_and_labels():
    table = pd.DataFrame({
        "age": [50.0, 64.9, 65.0, 74.9, 75.0, np.nan],
        "transplant_year": [2008, 2010, 2012, 2013, 2016, 2011],
        "sex": ["F", "M", None, "F", "M", "F"],
        "riss": [1.0, 2.0, 3.0, np.nan, 2.0, 1.0],
        "site": ["a", "b", "a", "b", "c", "a"],
    })  # fmt: skip
    out = subgroup_frame(table)
    assert list(out.columns) == ["sex", "age_band", "riss", "site", "transplant_era"]
    assert out["age_band"].tolist() == ["<65", "<65", "65-74", "65-74", ">=75", "missing"]
    assert out["transplant_era"].tolist() == ["<2010", "2010-2012", "2010-2012", ">=2013",
                                              ">=2013", "2010-2012"]  # fmt: skip
    assert out["riss"].tolist() == ["I", "II", "III", "missing", "II", "I"]
    assert out["sex"].tolist() == ["F", "M", "missing", "F", "M", "F"]
    with pytest.raises(MetricInputError, match="'centre' is not in the table"):
        subgroup_frame(table, subgroups=["centre"])


def test_subgroup_values_match_references_and_counts(weibull_test):
    y, lp = weibull_test.y, weibull_test.lp
    surv = weibull_test.survival(HORIZONS)
    rng = np.random.default_rng(0)
    groups = pd.DataFrame({"sex": rng.choice(["F", "M"], y.size)})
    table = subgroup_table(groups, y, lp, surv, HORIZONS, n_bootstrap=50, seed=0)
    assert list(table.columns) == SUBGROUP_COLUMNS
    for level in ["F", "M"]:
        sel = groups["sex"].to_numpy() == level
        rows = table[table["level"] == level].set_index("metric")
        assert rows["n"].iloc[0] == sel.sum()
        assert rows["events"].iloc[0] == y["event"][sel].sum()
        harrell = concordance_index_censored(y["event"][sel], y["time"][sel], lp[sel])[0]
        assert rows.loc["cindex_harrell", "value"] == pytest.approx(harrell, abs=1e-12)
        uno = concordance_index_ipcw(y, y[sel], lp[sel], tau=36)[0]
        assert rows.loc["cindex_uno", "value"] == pytest.approx(uno, abs=1e-10)
        oe = observed_expected(y[sel], surv[sel], HORIZONS)["oe"].to_numpy()
        assert rows.loc[["oe_12m", "oe_36m"], "value"].to_numpy() == pytest.approx(oe)
        assert np.all(rows["lo"] < rows["value"]) and np.all(rows["value"] < rows["hi"])


def test_small_subgroup_is_listed_but_not_estimated(weibull_test):
    y = weibull_test.y
    small = np.flatnonzero(y["event"])[:7]
    label = np.full(y.size, "big", dtype=object)
    label[small] = "small"
    table = subgroup_table(pd.DataFrame({"g": label}), y, weibull_test.lp,
                           weibull_test.survival(HORIZONS), HORIZONS, n_bootstrap=20)  # fmt: skip
    rows = table[table["level"] == "small"]
    assert len(rows) == 4 and rows["n"].eq(7).all() and rows["events"].eq(7).all()
    assert rows["value"].isna().all()
    assert rows["note"].eq("fewer than 10 events: not estimated").all()
    assert table.loc[table["level"] == "big", "value"].notna().all()


def _centres(n_centres, per_centre, seed, spread):
    """Centres differing in how strongly the marker predicts (a known source of heterogeneity)."""
    rng = np.random.default_rng(seed)
    strength = 1.0 + spread * rng.normal(size=n_centres)
    centre = np.repeat(np.arange(n_centres), per_centre)
    x = rng.normal(size=centre.size)
    t = rng.exponential(1.0 / np.exp(strength[centre] * x))
    c = rng.exponential(2.0, size=centre.size)
    return centre, Surv.from_arrays(t <= c, np.minimum(t, c)), x


def test_centre_meta_analysis_is_reml_on_logit_c():
    centre, y, x = _centres(8, 120, seed=1, spread=0.5)
    het = centre_heterogeneity(centre, y, x, n_bootstrap=100, seed=0)
    table = het.centres
    assert table["included"].all() and len(table) == 8
    for _, row in table.iterrows():
        sel = centre == int(row["centre"])
        c = concordance_index_censored(y["event"][sel], y["time"][sel], x[sel])[0]
        assert row["cindex"] == pytest.approx(c, abs=1e-12)
        assert row["logit_cindex"] == pytest.approx(logit(c), abs=1e-10)
    again = random_effects_meta(table["logit_cindex"], table["logit_se"])
    assert het.meta.tau2 == pytest.approx(again.tau2)
    summary = het.summary()
    assert summary["cindex_pooled_lo"] < summary["cindex_pooled"] < summary["cindex_pooled_hi"]
    assert summary["cindex_pi_lo"] <= summary["cindex_pooled_lo"]
    assert summary["n_centres"] == 8


def test_heterogeneity_is_found_when_centres_differ_and_not_when_they_do_not():
    centre, y, x = _centres(10, 150, seed=2, spread=0.0)
    same = centre_heterogeneity(centre, y, x, n_bootstrap=100).summary()
    centre, y, x = _centres(10, 150, seed=2, spread=1.2)
    differ = centre_heterogeneity(centre, y, x, n_bootstrap=100).summary()
    assert same["i2"] < 30
    assert differ["i2"] > 60
    assert differ["cindex_pi_hi"] - differ["cindex_pi_lo"] > same["cindex_pi_hi"] - same[
        "cindex_pi_lo"
    ]


def test_centre_with_few_events_is_listed_not_pooled():
    centre, y, x = _centres(4, 100, seed=3, spread=0.3)
    event = y["event"].copy()
    event[(centre == 3)] = False
    event[np.flatnonzero(centre == 3)[:5]] = True
    y = Surv.from_arrays(event, y["time"])
    het = centre_heterogeneity(centre, y, x, n_bootstrap=50)
    row = het.centres.set_index("centre").loc["3"]
    assert row["events"] == 5 and not row["included"] and np.isnan(row["cindex"])
    assert het.meta.k == 3
