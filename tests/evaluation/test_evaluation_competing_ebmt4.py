"""Aalen-Johansen CIF and Gray's test on mstate's ``ebmt4`` data against R (issue 17).

Data: ``ebmt4`` of the R package mstate (EBMT, 2279 patients transplanted 1985-1998; mstate's
help page: "simplified for the purpose of illustration"), in tests/evaluation/data/ebmt4.csv.
Competing risks: relapse (cause 1, ``rel.s == 1`` at ``rel``) vs death without relapse
(cause 2, ``srv.s == 1`` without relapse, at ``srv``), time in days. mstate's documentation and
its tutorial vignette print no competing-risks estimates for ebmt4 (the tutorial's
competing-risks section uses ``aidssi``), so the reference values are R's own, computed on the
same file by tests/evaluation/data/ebmt4_reference.R with R 4.2.2, survival 3.5-3 and
cmprsk 2.2-11:

    fit <- survfit(Surv(time, event) ~ 1, data=d)                  # and per year of transplant
    summary(fit, times=c(365, 730, 1826))                           # ebmt4_aj.csv
    cuminc(d$time, d$code, group=d$year, cencode=0)$Tests           # ebmt4_gray_year.csv

Independent of R, lifelines' ``AalenJohansenFitter`` agrees to its jitter of tied days.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter

from mmrisk.cohort import competing_outcome
from mmrisk.evaluation import cumulative_incidence_at, gray_test

DATA = Path(__file__).parent / "data"
TIMES = [365.0, 730.0, 1826.0]


def load_ebmt4() -> tuple[pd.DataFrame, np.ndarray]:
    """ebmt4.csv and its outcome: relapse (1) vs death without relapse (2), days."""
    d = pd.read_csv(DATA / "ebmt4.csv")
    code = np.where(d["rel.s"] == 1, 1, 2 * d["srv.s"])
    return d, competing_outcome(code, d["rel"].to_numpy(float))


@pytest.fixture(scope="module")
def ebmt4():
    return load_ebmt4()


def test_the_file_is_mstates_ebmt4(ebmt4):
    """mstate's help page: 2279 patients; 370 relapses and 533 deaths without relapse in R's
    ``table(d$event)`` (ebmt4_reference.R); no relapse after death."""
    d, y = ebmt4
    assert len(d) == 2279
    assert (d["rel"] <= d["srv"]).all()
    assert np.bincount(y["event"]).tolist() == [1376, 370, 533]


def test_aalen_johansen_matches_r_survfit_overall_and_by_year(ebmt4):
    d, y = ebmt4
    ref = pd.read_csv(DATA / "ebmt4_aj.csv")
    ours = cumulative_incidence_at(y, TIMES, groups=d["year"])
    allrows = cumulative_incidence_at(y, TIMES)
    for group, r in ref.groupby("group"):
        got = allrows if group == "all" else ours[ours["group"] == group]
        rel, dead = got[got["cause"] == 1], got[got["cause"] == 2]
        np.testing.assert_array_equal(rel["n_risk"], r["n.risk"])
        np.testing.assert_allclose(rel["cif"], r["relapse"], rtol=1e-10)
        np.testing.assert_allclose(dead["cif"], r["death"], rtol=1e-10)
        np.testing.assert_allclose(rel["se"], r["se_relapse"], rtol=1e-8)  # IJ, as survfit
        np.testing.assert_allclose(dead["se"], r["se_death"], rtol=1e-8)
        np.testing.assert_allclose(rel["lo"], r["lo_relapse"], rtol=1e-8)
        np.testing.assert_allclose(rel["hi"], r["hi_relapse"], rtol=1e-8)


def test_gray_test_between_years_matches_cmprsk(ebmt4):
    d, y = ebmt4
    ref = pd.read_csv(DATA / "ebmt4_gray_year.csv")
    for cause in (1, 2):
        got = gray_test(y, d["year"], cause=cause)
        r = ref[ref["cause"] == cause].iloc[0]
        assert got["statistic"] == pytest.approx(r["stat"], rel=1e-8)
        assert got["p_value"] == pytest.approx(r["pv"], rel=1e-6)
        assert got["df"] == r["df"] == 2
    # the year of transplant changes death without relapse, not relapse (R: p 1.8e-6 vs 0.70)
    assert gray_test(y, d["year"], cause=2)["p_value"] < 1e-5


def test_aalen_johansen_matches_lifelines_up_to_its_jitter(ebmt4):
    _, y = ebmt4
    ours = cumulative_incidence_at(y, TIMES)
    for cause in (1, 2):
        ajf = AalenJohansenFitter(calculate_variance=False, seed=0)
        with pytest.warns(Warning, match="[Tt]ied"):  # ebmt4 has tied days: lifelines jitters
            ajf.fit(y["time"], y["event"], event_of_interest=cause)
        cdf = ajf.cumulative_density_.iloc[:, 0]
        want = [float(cdf[cdf.index <= t].iloc[-1]) for t in TIMES]
        got = ours.loc[ours["cause"] == cause, "cif"].to_numpy()
        np.testing.assert_allclose(got, want, atol=2e-3)
