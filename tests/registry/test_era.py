"""A later era (``era_shift_years``, docs/registry.md §2.1): the same patients, years later.

Truths used: the whole-year date rule is pandas' ``DateOffset(years=k)`` (29 February to 28
February in a common year); the post-progression calendar-year HR of 0.98 per year (§5.3) with the
Weibull shape k_pps = 1.10 lengthens every post-progression survival time by exactly
0.98^(-k/1.10); the second-line dates of §4.9 (KRd and Kd from 2015, DRd and DVd from 2017).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.cohort import build_cohort
from mmrisk.conventions import MONTH_DAYS
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import read_extract, validate_extract
from mmrisk.registry._era import check_era_shift, data_cut, shift_iso_dates
from mmrisk.registry._model import B_PPS, ModelParams
from mmrisk.registry._simulate import simulate_registry
from mmrisk.registry._spec import TABLES

SHIFT = 6


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Clean extracts of one seed, unshifted (0) and shifted (6), with their findings."""
    root = tmp_path_factory.mktemp("era_clean")
    out = {}
    for shift in (0, SHIFT):
        simulate_registry(root / str(shift), n=1200, seed=21, clean=True, era_shift_years=shift)
        ext = read_extract(root / str(shift))
        out[shift] = (root / str(shift), ext, validate_extract(ext))
    return out


@pytest.fixture(scope="module")
def defective(tmp_path_factory):
    """Extracts with the defects of §6, unshifted and shifted, with their findings."""
    root = tmp_path_factory.mktemp("era_defects")
    out = {}
    for shift in (0, SHIFT):
        simulate_registry(root / str(shift), n=1500, seed=9, era_shift_years=shift)
        out[shift] = (root / str(shift), validate_extract(read_extract(root / str(shift))))
    return out


def _read(folder, name):
    return pd.read_parquet(folder / f"{name}.parquet")


def test_whole_year_shift_is_pandas_date_offset_and_monotone():
    days = pd.date_range("2006-01-01", "2019-12-31", freq="D")
    iso = pd.Series(days.strftime("%Y-%m-%d"), dtype=object)
    for years in (1, 4, 6, 12):
        got = shift_iso_dates(iso, years)
        expected = (days + pd.DateOffset(years=years)).strftime("%Y-%m-%d")
        assert got.tolist() == list(expected)
        assert pd.to_datetime(got).is_monotonic_increasing
    assert shift_iso_dates(pd.Series(["2008-02-29", None, "2012-02-29"]), 6).tolist() == [
        "2014-02-28", None, "2018-02-28"]
    assert shift_iso_dates(pd.Series(["2008-02-29"]), 4).tolist() == ["2012-02-29"]
    assert data_cut(SHIFT) == pd.Timestamp("2024-01-31")


@pytest.mark.parametrize("bad", [-1, 13, 1.5, True, "6"])
def test_bad_shift_is_refused(bad, tmp_path):
    with pytest.raises(MMRiskError, match="era_shift_years"):
        check_era_shift(bad)
    with pytest.raises(MMRiskError, match="era_shift_years"):
        simulate_registry(tmp_path, n=5, era_shift_years=bad)


def test_manifest_records_the_shift(clean):
    unshifted = json.loads((clean[0][0] / "manifest.json").read_text())
    shifted = json.loads((clean[SHIFT][0] / "manifest.json").read_text())
    assert "era_shift_years" not in unshifted and "data_cut" not in unshifted
    assert shifted["era_shift_years"] == SHIFT
    assert shifted["data_cut"] == "2024-01-31"
    centers = [_read(clean[s][0], "centers").set_index("center_id") for s in (0, SHIFT)]
    assert (centers[1]["fish_1q_available_from"]
            == centers[0]["fish_1q_available_from"] + SHIFT).all()


def test_transplant_and_induction_dates_move_by_whole_years(clean):
    a, b = (_read(clean[s][0], "transplants").query("transplant_seq == 1")
            .set_index("patient_id")["infusion_date"] for s in (0, SHIFT))
    assert a.index.equals(b.index)
    assert (b.str[:4].astype(int) == a.str[:4].astype(int) + SHIFT).all()
    expected = (pd.to_datetime(a) + pd.DateOffset(years=SHIFT)).dt.strftime("%Y-%m-%d")
    assert (b == expected).all()
    t0 = _read(clean[SHIFT][0], "patients")["induction_start_date"]
    assert t0.min() >= "2013-01-01" and t0.max() <= "2022-01-31"
    # Birth years move with the diagnosis dates (a detail drawn anew: docs/registry.md §2.1).
    pats = _read(clean[SHIFT][0], "patients")
    dx = pd.to_datetime(pats["diagnosis_date"])
    age = dx.dt.year + dx.dt.dayofyear / 365.25 - pats["birth_year"]
    assert (age - pats["age_at_diagnosis"]).between(-0.06, 1.06).all()
    assert pats["birth_year"].max() <= 2000


def test_no_date_after_the_data_cut_and_every_date_is_real(clean):
    for shift in (0, SHIFT):
        folder = clean[shift][0]
        cut = data_cut(shift).strftime("%Y-%m-%d")
        for name, spec in TABLES.items():
            df = _read(folder, name)
            for col in (c.name for c in spec.columns if c.dtype == "date"):
                d = df[col].dropna()
                assert (pd.to_datetime(d, format="%Y-%m-%d", errors="coerce").notna()).all()
                assert (d <= cut).all(), (shift, name, col, d.max())


def test_cohort_builder_sees_the_later_transplant_years(clean):
    cohorts = [build_cohort(clean[s][1], findings=clean[s][2]).data.set_index("patient_id")
               for s in (0, SHIFT)]
    assert cohorts[0].index.equals(cohorts[1].index)
    assert (cohorts[1]["transplant_year"] == cohorts[0]["transplant_year"] + SHIFT).all()
    assert cohorts[1]["transplant_year"].between(2013, 2023).all()
    # PFS from the landmark: the same events; times differ by at most a leap day.
    assert (cohorts[1]["event"] == cohorts[0]["event"]).all()
    assert np.abs(cohorts[1]["time"] - cohorts[0]["time"]).max() <= 1.01 / MONTH_DAYS


def _km(time, event):
    return KaplanMeierFitter().fit(time.astype(float), event.astype(bool))


def test_pfs_from_the_landmark_is_unchanged_within_sampling_error(defective):
    medians = []
    for shift in (0, SHIFT):
        v = _read(defective[shift][0], "analysis_view")
        lm = v[v["lm_group_itt"]]
        medians.append(_km(lm["pfs_months_from_lm_start"], lm["pfs_event_from_lm_start"]))
    # 95% CI of the unshifted median (where the pointwise band crosses 0.5, lifelines).
    lo, hi = median_survival_times(medians[0].confidence_interval_).iloc[0]
    assert lo < medians[1].median_survival_time_ < hi


def test_post_progression_survival_improves_with_the_calendar_year(clean):
    truth = [_read(clean[s][0], "truth_patients").set_index("patient_id") for s in (0, SHIFT)]
    prog = truth[0]["progressed"]
    pps = [t.loc[prog, "t_death"] - t.loc[prog, "t_prog"] for t in truth]
    ratio = np.exp(-B_PPS["year"] * SHIFT / ModelParams().k_pps)  # 0.98^(-6/1.1) = 1.1165
    np.testing.assert_allclose(pps[1] / pps[0], ratio, rtol=1e-9)
    np.testing.assert_array_equal(truth[1].loc[~prog, "t_death"], truth[0].loc[~prog, "t_death"])
    # Observed OS (analysis view, raw dates): better from 5 years on, in the same patients.
    views = [_read(clean[s][0], "analysis_view") for s in (0, SHIFT)]
    km = [_km(v["os_months_from_t0"], v["os_event"]) for v in views]
    for months in (60, 84, 108):
        assert km[1].predict(months) > km[0].predict(months)


def test_second_line_options_follow_the_calendar(clean):
    drd_share = []
    for shift in (0, SHIFT):
        tl = _read(clean[shift][0], "treatment_lines").query("phase == 'salvage'")
        start = tl["start_date"]
        assert not (tl["regimen_code"].isin(["DRd", "DVd"]) & (start < "2017-01-01")).any()
        assert not (tl["regimen_code"].isin(["KRd", "Kd"]) & (start < "2015-01-01")).any()
        drd_share.append((tl["regimen_code"] == "DRd").mean())
    assert drd_share[1] > 2 * drd_share[0]


def _kinds(findings):
    return set(zip(findings["table"], findings["column"], findings["check"], findings["severity"],
                   strict=True))


def test_validation_finds_the_same_kinds_of_findings(clean, defective):
    # a clean extract has no finding but the generator's one never-filled optional column
    # (response_assessments.urine_m_protein_mg_24h: an empty_column warning)
    for s in (0, SHIFT):
        found = clean[s][2]
        assert set(found["check"]) <= {"empty_column"}, found
        assert (found["severity"] == "warning").all()
    kinds = [_kinds(defective[s][1]) for s in (0, SHIFT)]
    checks = [{k[2:] for k in ks} for ks in kinds]
    assert checks[0] == checks[1]
    # The legacy-era defects move with the accrual window: unit errors, legacy response codes.
    for ks in kinds:
        assert {("baseline_labs", "albumin_g_L", "unit", "error"),
                ("baseline_labs", "creatinine_umol_L", "unit", "error"),
                ("response_assessments", "imwg_response", "code", "error")} <= ks
    shifted = defective[SHIFT][1]
    calendar = {"birth_year", "fish_1q_available_from"} | {
        c.name for spec in TABLES.values() for c in spec.columns if c.dtype == "date"}
    assert not (shifted["column"].isin(calendar) & ~shifted["check"].eq("date_order")).any()


def test_cli_era_shift(tmp_path):
    result = CliRunner().invoke(app, ["data", "simulate", "--out", str(tmp_path), "--n", "40",
                                      "--seed", "2", "--era-shift", "6", "--clean"])
    assert result.exit_code == 0, result.output
    assert "6 years later" in " ".join(result.output.split())
    assert json.loads((tmp_path / "manifest.json").read_text())["data_cut"] == "2024-01-31"
    bad = CliRunner().invoke(app, ["data", "simulate", "--out", str(tmp_path), "--n", "40",
                                   "--era-shift", "13"])
    assert bad.exit_code != 0
