"""The generator's contracts: reproducible bytes, manifest, formats, clean mode, batching."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmrisk.exceptions import MMRiskError
from mmrisk.registry._calibrate import CALIBRATION_FILE, TARGETS, calibrate, registry_medians
from mmrisk.registry._model import MONTH_DAYS, ModelParams, load_params
from mmrisk.registry._simulate import simulate_registry
from mmrisk.registry._spec import TABLE_ORDER, TABLES

PARAMS = ("lam_prog", "beta_lm", "lam_pps")


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_byte_identical_files(tmp_path, fmt):
    a, b = tmp_path / "a", tmp_path / "b"
    simulate_registry(a, n=400, seed=3, fmt=fmt)
    simulate_registry(b, n=400, seed=3, fmt=fmt)
    assert _digest(a) == _digest(b)
    simulate_registry(b, n=400, seed=4, fmt=fmt)
    assert _digest(a)["patients." + fmt] != _digest(b)["patients." + fmt]


def test_manifest_lists_every_table_with_rows_and_sha256(tmp_path):
    manifest = simulate_registry(tmp_path, n=300, seed=1)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["seed"] == 1 and manifest["n_patients"] == 300
    for table in (*TABLE_ORDER, "analysis_view", "truth_patients", "truth_defects"):
        entry = manifest["files"][f"{table}.parquet"]
        df = pd.read_parquet(tmp_path / f"{table}.parquet")
        assert entry["rows"] == len(df)
        assert entry["sha256"] == hashlib.sha256(
            (tmp_path / f"{table}.parquet").read_bytes()).hexdigest()
    for table in TABLE_ORDER:
        assert list(pd.read_parquet(tmp_path / f"{table}.parquet").columns) == \
            TABLES[table].column_names


def test_csv_and_parquet_hold_the_same_values(tmp_path):
    simulate_registry(tmp_path / "p", n=200, seed=5, fmt="parquet")
    simulate_registry(tmp_path / "c", n=200, seed=5, fmt="csv")
    for table in ("patients", "baseline_labs", "disease_events", "followup"):
        p = pd.read_parquet(tmp_path / "p" / f"{table}.parquet")
        c = pd.read_csv(tmp_path / "c" / f"{table}.csv")
        assert p.shape == c.shape
        for col in p.columns:
            if pd.api.types.is_numeric_dtype(c[col]) and not pd.api.types.is_bool_dtype(c[col]):
                np.testing.assert_allclose(p[col].astype(float), c[col].astype(float))
            else:
                assert (p[col].astype(str).replace("<NA>", "nan").replace("None", "nan")
                        .str.lower().tolist()
                        == c[col].astype(str).str.lower().tolist()), (table, col)


def test_clean_extract_has_no_defects_and_dates_match_truth_exactly(tmp_path):
    simulate_registry(tmp_path, n=800, seed=11, clean=True)
    assert not (tmp_path / "truth_defects.parquet").exists()
    truth = pd.read_parquet(tmp_path / "truth_patients.parquet").set_index("patient_id")
    pats = pd.read_parquet(tmp_path / "patients.parquet").set_index("patient_id")
    ev = pd.read_parquet(tmp_path / "disease_events.parquet").set_index("patient_id")
    assert (pats["diagnosis_date_precision"] == "day").all()
    assert ev["date_source"].isin(["lab", "clinic_note"]).all()
    t0 = pd.to_datetime(pats["induction_start_date"])
    days = (pd.to_datetime(ev["event_date"]) - t0.reindex(ev.index)).dt.days
    expected = np.round(truth.loc[ev.index, "t_prog"] * MONTH_DAYS)
    np.testing.assert_array_equal(days.to_numpy(), expected.to_numpy())
    # Every observed progression is recorded, and none after the last contact.
    seen = truth["progressed"] & (truth["t_prog"] <= truth["t_obs_end"])
    assert set(ev.index) == set(truth.index[seen])
    # Maintenance: exactly the LM patients of the truth file.
    ep = pd.read_parquet(tmp_path / "maintenance_episodes.parquet")
    assert set(ep["patient_id"]) == set(truth.index[truth["lm"]])
    labs = pd.read_parquet(tmp_path / "baseline_labs.parquet")
    assert labs["beta2m_mg_L"].notna().all() and labs["ldh_U_L"].notna().all()


def test_default_extract_injects_every_defect_class(tmp_path):
    simulate_registry(tmp_path, n=1256, seed=42)
    defects = pd.read_parquet(tmp_path / "truth_defects.parquet")
    expected = {"date_order", "lab_after_t0", "unit_albumin_g_dL", "unit_creatinine_mg_dL",
                "unit_beta2m_nmol_L", "out_of_range", "duplicate_patient",
                "legacy_response_code", "iss_recorded_mismatch", "progression_date_proxy",
                "regimen_text_variant"}
    assert expected <= set(defects["defect"])
    pats = pd.read_parquet(tmp_path / "patients.parquet")
    dup_ids = defects.loc[defects["defect"] == "duplicate_patient", "patient_id"]
    assert dup_ids.isin(pats["patient_id"]).all()
    assert pats["patient_id"].is_unique


def test_different_n_gives_the_same_distributions(tmp_path):
    simulate_registry(tmp_path / "small", n=4000, seed=9, clean=True)
    simulate_registry(tmp_path / "big", n=45_000, seed=9, clean=True)
    small = pd.read_parquet(tmp_path / "small" / "truth_patients.parquet")
    big = pd.read_parquet(tmp_path / "big" / "truth_patients.parquet")
    assert stats.ks_2samp(small["age"], big["age"]).pvalue > 0.01
    assert stats.ks_2samp(small["t_asct"], big["t_asct"]).pvalue > 0.01
    for col in ("lm", "del17p", "female", "progressed"):
        p, q = small[col].mean(), big[col].mean()
        se = np.sqrt(q * (1 - q) / len(small))
        assert abs(p - q) < 4 * se, col
    shares_small = small["iss"].value_counts(normalize=True).sort_index()
    shares_big = big["iss"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(shares_small, shares_big, atol=0.03)


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(MMRiskError, match="--format must be 'parquet' or 'csv'"):
        simulate_registry(tmp_path, n=10, fmt="xlsx")
    with pytest.raises(MMRiskError, match="n must be at least 1"):
        simulate_registry(tmp_path, n=0)


def test_calibration_is_reproducible_and_hits_its_targets():
    quiet = lambda *_: None  # noqa: E731
    small = dict(n=5_000, seed=5, log=quiet, view_iterations=1)
    assert calibrate(**small) == calibrate(**small)
    a = calibrate(n=20_000, seed=3, log=quiet)
    for key, target in TARGETS.items():
        # The post-defect analysis view (what the §7 checks see) reproduces the published medians.
        assert abs(a["achieved"][key] - target) < 0.5, key
        # The latent solve hits its bias-corrected targets.
        assert abs(a["latent"]["achieved"][key] - a["latent"]["targets"][key]) < 0.1, key
    # The view matched is really the generator's: the same medians from the extract's own view.
    assert registry_medians(replace(ModelParams(), **{k: a[k] for k in PARAMS}), 20_000, 3) == (
        pytest.approx(a["achieved"], abs=1e-3))


def test_shipped_calibration_hits_the_targets_on_the_analysis_view():
    calib = json.loads(CALIBRATION_FILE.read_text())
    params = load_params()
    assert {k: getattr(params, k) for k in PARAMS} == {k: calib[k] for k in PARAMS}
    assert calib["view"]["converged"]
    for key, target in TARGETS.items():
        assert abs(calib["achieved"][key] - target) <= calib["view"]["tolerance_months"], key


@pytest.mark.slow
def test_shipped_calibration_is_what_the_generator_gives():
    calib = json.loads(CALIBRATION_FILE.read_text())
    got = registry_medians(load_params(), calib["n"], calib["seed"])
    # Same draws, but numpy's vectorised exp/log/power take CPU-specific code paths (AVX2 vs
    # AVX-512) that differ in the last bit; over 300,000 patients that moves a KM median by up
    # to ~0.15 month (measured: 58.152 vs 58.185 on this machine). Far inside the §7 bands.
    assert got == pytest.approx(calib["achieved"], abs=0.25)
