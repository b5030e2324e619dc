"""Cohort at a landmark: flow accounting, exact endpoints vs the truth file, KM bands, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter

from mmrisk.cohort import EXCLUSION_REASONS, build_cohort, flat_cohort, table1
from mmrisk.config import CohortSpec, DataSpec
from mmrisk.registry import RegistryExtract, read_extract, simulate_registry
from mmrisk.registry._model import MONTH_DAYS

LANDMARKS = ["induction", "lm_start", "post_asct"]


@pytest.fixture(scope="module")
def default_extract(tmp_path_factory) -> RegistryExtract:
    out = tmp_path_factory.mktemp("default")
    simulate_registry(out, n=1256, seed=42)
    return read_extract(out)


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    simulate_registry(out, n=1500, seed=5, clean=True)
    return out


def _km_median(d: pd.DataFrame) -> float:
    return float(KaplanMeierFitter().fit(d["time"], d["event"]).median_survival_time_)


@pytest.mark.parametrize("landmark", LANDMARKS)
def test_flow_accounts_for_every_patient(default_extract, landmark):
    c = build_cohort(default_extract, CohortSpec(landmark=landmark))
    n_rows = len(default_extract["patients"])
    flow = c.flow.set_index("step")["n"]
    assert flow["extract"] == n_rows
    assert c.flow.loc[c.flow["step"] != "extract", "n"].sum() == n_rows
    assert len(c.status) == n_rows and c.status["included"].sum() == len(c.data)
    assert c.status.loc[~c.status["included"], "reason"].isin(EXCLUSION_REASONS.values()).all()
    assert c.status.loc[c.status["included"], "reason"].isna().all()
    assert set(c.data["patient_id"]) == set(c.status.loc[c.status["included"], "patient_id"])
    assert (c.data["time"] > 0).all()
    # The injected cross-centre duplicates never reach the analysis table.
    assert c.data["patient_id"].str.startswith("P1").sum() == 0


def test_induction_km_medians_in_published_bands(default_extract):
    """docs/registry.md §7 checks 2 and 3, via lifelines' Kaplan–Meier."""
    c = build_cohort(default_extract, CohortSpec(landmark="induction"))
    lm = c.data[c.data["lm_group"] == "LM"]
    no = c.data[c.data["lm_group"] == "no LM"]
    assert 53 <= _km_median(lm) <= 64
    assert 31 <= _km_median(no) <= 38.5


def test_lm_start_km_median_in_band(default_extract):
    """docs/registry.md §7 check 10: median PFS from LM start 42–56 months."""
    c = build_cohort(default_extract, CohortSpec(landmark="lm_start"))
    assert (c.data["lm_group"] == "LM").all()
    assert 42 <= _km_median(c.data) <= 56


def _truth_expectation(truth: pd.DataFrame, landmark: str, endpoint: str):
    t_prog = truth["t_prog"].where(truth["progressed"])
    if endpoint == "pfs":
        ev_t = np.fmin(t_prog, truth["t_death"])
        end = truth["t_obs_end"]
    elif endpoint == "ttp":
        ev_t = t_prog
        end = np.fmin(truth["t_obs_end"], truth["t_death"])
    else:  # OS: a death is counted when the registry knows it, even after the last visit
        ev_t = truth["t_death"]
        end = truth["t_obs_end"]
    event = (ev_t <= end).fillna(False) if endpoint != "os" else None
    start = {"induction": 0.0, "lm_start": truth["t_lm_start"],
             "post_asct": truth["t_asct"] + 180 / MONTH_DAYS}[landmark]
    return ev_t, end, event, start


@pytest.mark.parametrize(("landmark", "endpoint"), [("induction", "pfs"), ("lm_start", "pfs"),
                                                    ("post_asct", "ttp"), ("lm_start", "ttp")])
def test_clean_extract_endpoints_equal_truth_to_the_day(clean_dir, landmark, endpoint):
    extract = read_extract(clean_dir)
    truth = pd.read_parquet(clean_dir / "truth_patients.parquet").set_index("patient_id")
    c = build_cohort(extract, CohortSpec(landmark=landmark, endpoint=endpoint))
    assert c.flow.loc[c.flow["reason"] == EXCLUSION_REASONS["date_order"]].empty
    d = c.data.set_index("patient_id")
    ev_t, end, event, start = _truth_expectation(truth, landmark, endpoint)
    # Eligibility from truth: alive, progression-free and followed at the landmark.
    # Compared in whole days, the unit of the registry's dates (ASCT day + 180 for post_asct).
    def day(x):
        return np.round(np.asarray(x, float) * MONTH_DAYS)

    first_bad = np.fmin(truth["t_prog"].where(truth["progressed"]), truth["t_death"])
    start_day = (day(truth["t_asct"]) + 180 if landmark == "post_asct"
                 else day(start if np.isscalar(start) else start.reindex(truth.index)))
    eligible = pd.Series((day(first_bad) > start_day) & (day(truth["t_obs_end"]) > start_day),
                         index=truth.index)
    if landmark == "lm_start":
        eligible &= truth["lm"]
    assert set(d.index) == set(truth.index[eligible])
    t = truth.loc[d.index]
    ev, en = event.loc[d.index], end.loc[d.index]
    np.testing.assert_array_equal(d["event"].to_numpy(), ev.to_numpy())
    stop = np.where(ev, ev_t.loc[d.index], en)
    st_ = start if np.isscalar(start) else start.loc[d.index]
    st_day = (day(t["t_asct"]) + 180 if landmark == "post_asct" else day(st_))
    days_expected = day(stop) - st_day
    days_expected = days_expected if np.ndim(days_expected) else np.full(len(t), days_expected)
    np.testing.assert_array_equal(np.round(d["time"].to_numpy() * MONTH_DAYS), days_expected)


def test_clean_extract_features_equal_truth(clean_dir):
    truth = pd.read_parquet(clean_dir / "truth_patients.parquet").set_index("patient_id")
    c = build_cohort(read_extract(clean_dir), CohortSpec(landmark="lm_start"))
    d = c.data.set_index("patient_id")
    t = truth.loc[d.index]
    np.testing.assert_allclose(d["age"], t["age"], atol=0.051)
    assert ((d["sex"] == "F") == t["female"]).all()
    assert ((d["melphalan_mg_m2"] == 140) == t["mel140"]).all()
    assert ((d["tandem_asct"] == 1) == t["tandem"]).all()
    tested = d["del17p"].isin(["detected", "not_detected"])
    assert ((d.loc[tested, "del17p"] == "detected") == t.loc[tested, "del17p"]).all()
    np.testing.assert_allclose(d["months_asct_to_lm"], t["t_lm_start"] - t["t_asct"],
                               atol=1.5 / MONTH_DAYS)


def _landmark_dates(tables: dict[str, pd.DataFrame], landmark: str) -> pd.Series:
    pats = tables["patients"].drop_duplicates("patient_id").set_index("patient_id")
    if landmark == "induction":
        return pd.to_datetime(pats["induction_start_date"], errors="coerce")
    if landmark == "lm_start":
        me = tables["maintenance_episodes"]
        return pd.to_datetime(me["start_date"], errors="coerce").groupby(me["patient_id"]).min()
    tr = tables["transplants"]
    up = tr[tr["transplant_type"] == "auto_upfront"]
    asct = pd.to_datetime(up["infusion_date"], errors="coerce").groupby(up["patient_id"]).min()
    return asct + pd.Timedelta(days=180)


_DATED = {"cytogenetics": "test_date", "treatment_lines": "start_date",
          "response_assessments": "assessment_date", "disease_events": "event_date",
          "maintenance_dose_changes": "change_date", "spm": "spm_date",
          "baseline_labs": "sample_date", "maintenance_episodes": "start_date"}
_KEEP = {"patient_id", "test_id", "episode_id", "line_number", "abnormality", "timepoint"}


@pytest.fixture(scope="module")
def small_extract(tmp_path_factory) -> RegistryExtract:
    out = tmp_path_factory.mktemp("small")
    simulate_registry(out, n=300, seed=8)
    return read_extract(out)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(landmark=st.sampled_from(LANDMARKS), seed=st.integers(0, 2**16), delete=st.booleans())
def test_records_after_the_landmark_never_change_a_feature(small_extract, landmark, seed, delete):
    """Leakage guard: change or delete any record dated after the landmark; features unchanged."""
    rng = np.random.default_rng(seed)
    spec = CohortSpec(landmark=landmark)
    before = build_cohort(small_extract, spec)
    tables = {k: v.copy() for k, v in small_extract.tables.items()}
    lm = _landmark_dates(tables, landmark)
    for name, col in _DATED.items():
        df = tables[name]
        if name == "maintenance_episodes" and landmark != "post_asct":
            continue  # the LM start defines (lm_start) or groups (induction) the cohort
        after = (pd.to_datetime(df[col], errors="coerce") > df["patient_id"].map(lm)).to_numpy()
        after &= rng.random(len(df)) < 0.7
        if delete:
            tables[name] = df[~after].reset_index(drop=True)
            continue
        for c in df.columns:
            if c in _KEEP or c == col or c.endswith("_precision"):
                continue
            shuffled = df[c].sample(frac=1.0, random_state=int(rng.integers(1 << 30))).to_numpy()
            df.loc[after, c] = shuffled[after]
    changed = RegistryExtract(small_extract.path, tables, small_extract.source_files,
                              small_extract.fmt)
    after_c = build_cohort(changed, spec)
    a = before.data.set_index("patient_id")[before.features]
    b = after_c.data.set_index("patient_id")[after_c.features]
    common = a.index.intersection(b.index)
    assert len(common) > 0.8 * len(a)
    pd.testing.assert_frame_equal(a.loc[common], b.loc[common])


def test_table1_counts_match_the_data(default_extract):
    c = build_cohort(default_extract, CohortSpec(landmark="induction"))
    t1 = table1(c.data, c.features, "lm_group")
    n_row = t1.iloc[0]
    assert n_row["Overall"] == f"{len(c.data):,}"
    assert n_row["lm_group=LM"] == f"{(c.data['lm_group'] == 'LM').sum():,}"
    female = t1[(t1["variable"] == "sex") & (t1["level"] == "F")].iloc[0]
    n_f = int((c.data["sex"] == "F").sum())
    assert female["Overall"].startswith(f"{n_f:,} (")
    ecog_missing = t1[(t1["variable"] == "ecog") & (t1["level"] == "missing")].iloc[0]
    assert ecog_missing["Overall"] == f"{int(c.data['ecog'].isna().sum()):,}"
    age = t1[(t1["variable"] == "age") & (t1["level"] == "median [IQR]")].iloc[0]
    assert age["Overall"].startswith(f"{np.median(c.data['age']):.3g} [")


def test_table1_shows_indicators_as_counts(default_extract):
    """A 0/1 indicator is n (%) of 1 among the non-missing, not a median of zeros and ones."""
    c = build_cohort(default_extract, CohortSpec(landmark="lm_start"))
    t1 = table1(c.data, c.features, "lm_group")
    flags = [f for f in c.features if pd.api.types.is_numeric_dtype(c.data[f])
             and c.data[f].dropna().isin([0, 1]).all() and c.data[f].notna().any()]
    assert {"tandem_asct", "second_induction"} <= set(flags)
    for f in flags:
        values = c.data[f].dropna()
        row = t1[t1["variable"] == f]
        assert row["level"].tolist() == ["yes (1)", "missing"]
        n1 = int((values == 1).sum())
        assert row.iloc[0]["Overall"] == f"{n1:,} ({100 * n1 / len(values):.1f}%)"


def test_flat_table_rows_are_used_or_excluded_with_a_reason():
    table = pd.DataFrame({"ptime": [5.0, None, 7.5, -1.0, 3.0], "pstat": [1, 0, 2, 1, "0"],
                          "age": [60, 61, 62, 63, 64], "split": ["train"] * 3 + ["test"] * 2})
    c = flat_cohort(table, DataSpec(table="t.csv", time="ptime", event="pstat",
                                    split_column="split"))
    assert c.features == ["age"]
    assert len(c.data) == 2 and c.data["event"].tolist() == [True, False]
    reasons = c.status.loc[~c.status["included"], "reason"].tolist()
    assert reasons == ["missing, non-numeric or negative time", "event not 0/1 (or true/false)",
                       "missing, non-numeric or negative time"]
    assert c.flow["n"].iloc[1:].sum() == len(table)
