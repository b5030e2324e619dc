"""Turn one batch of latent patients (``_model.simulate_latent``) into the clean raw tables.

Each ``_table_*`` function builds one table of docs/registry.md §3 from the latent dict, drawing
the details that do not feed back into the hazards (labs given stage, FISH results, responses,
dose changes, SPM outside maintenance, causes of death). Dates are ISO strings; times in the latent
dict are months from induction start (T0, ``t_*``) or from the first ASCT (``s_*``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk.conventions import MONTH_DAYS
from mmrisk.registry._model import MPY, _choice

EPOCH = np.datetime64("2007-01-01", "D")
CUT_DATE = np.datetime64("2018-01-31", "D")
DOSE_LEVELS = np.array([2.5, 5.0, 10.0, 15.0, 25.0])


def day_of(c: dict, months_from_t0) -> np.ndarray:
    """Calendar day (datetime64[D]) of a time in months from each patient's T0."""
    days = np.round(np.asarray(months_from_t0, dtype=float) * MONTH_DAYS)
    return c["t0_day"] + days.astype("timedelta64[D]")


def iso(days) -> np.ndarray:
    """ISO strings for datetime64[D] values; NaT becomes None."""
    arr = np.asarray(days, dtype="datetime64[D]")
    out = np.datetime_as_string(arr, unit="D").astype(object)
    out[np.isnat(arr)] = None
    return out


def prepare_days(c: dict) -> None:
    """Add calendar anchors and event times from T0 to the latent dict (in place).

    The observation window (``t_obs_end``, the last clinic contact, and ``lost``) comes from the
    model (``_model.simulate_latent``), so the calibration censors exactly as the tables do.
    """
    offset = np.floor((c["t0_year"] - 2007.0) * 365.25).astype("int64")
    c["t0_day"] = EPOCH + offset.astype("timedelta64[D]")
    c["t_death"] = c["t_asct"] + c["s_death"]
    c["t_prog"] = np.where(c["progressed"], c["t_asct"] + c["s_prog"], np.inf)
    c["t_lm_start"] = np.where(c["lm"], c["t_asct"] + c["s_dec"], np.nan)
    c["t_lm_end"] = np.where(c["lm"], c["t_asct"] + c["lm_end"], np.nan)


def table_centers(rng: np.random.Generator) -> pd.DataFrame:
    """Ten centres; tier C for two of them (their units defects live there)."""
    provinces = ["BC", "AB", "AB", "SK", "MB", "ON", "ON", "ON", "QC", "NS"]
    return pd.DataFrame({
        "center_id": [f"C{i:02d}" for i in range(1, 11)],
        "province": provinces,
        "lm_default_schedule": ["21of28", "28of28"] * 5,
        # 1q entered most routine panels early in 2010-2016 (docs/registry.md §3.1, §6.1).
        "fish_1q_available_from": rng.choice([2010, 2010, 2011, 2011, 2012, 2013, 2014, 2016], 10),
        "ldh_uln_U_L": rng.integers(19, 26, 10) * 10,
        "data_quality_tier": ["A", "A", "B", "B", "A", "B", "C", "A", "B", "C"],
    })


CENTER_WEIGHTS = np.array([0.08, 0.12, 0.1, 0.06, 0.08, 0.16, 0.1, 0.12, 0.1, 0.08])


def table_patients(rng, c, ids, centers) -> pd.DataFrame:
    n = len(ids)
    dx = c["t0_day"] - rng.integers(0, 46, n).astype("timedelta64[D]")
    dx_year = dx.astype("datetime64[Y]").astype(int) + 1970
    dx_frac = (dx - dx.astype("datetime64[Y]")).astype(int) / 365.25
    birth_year = np.floor(dx_year + dx_frac - c["age"]).astype(int)
    z = -0.5 * c["fitness"] + rng.normal(0, 0.87, n)
    ecog = np.digitize(z, [-0.126, 1.281, 2.326])
    legacy = c["year"] < 2010
    consent = np.where(legacy, rng.uniform(0, 36, n), rng.uniform(0, 2, n))
    consent = np.minimum(consent, np.minimum(c["t_obs_end"], c["t_death"]))
    return pd.DataFrame({
        "patient_id": ids,
        "center_id": c["center_id"],
        "sex": np.where(c["female"], "F", "M"),
        "birth_year": birth_year,
        "diagnosis_date": iso(dx),
        "diagnosis_date_precision": "day",
        "age_at_diagnosis": np.round(c["age"], 1),
        "ecog_at_diagnosis": ecog.astype(float),
        "induction_start_date": iso(c["t0_day"]),
        "induction_start_date_precision": "day",
        "on_clinical_trial_first_line": _choice(rng, rng.random(n), ["Y", "N", "unknown"],
                                                [0.10, 0.85, 0.05]),
        "consent_date": iso(day_of(c, consent)),
    })


def _lognormal(rng, median, sigma, n, lo=-np.inf, hi=np.inf):
    """Lognormal draws truncated to [lo, hi) by inverse-CDF sampling (exact, no rejection)."""
    from scipy.stats import norm

    a = norm.cdf((np.log(np.maximum(lo, 1e-12)) - np.log(median)) / sigma) if lo > 0 else 0.0
    b = norm.cdf((np.log(hi) - np.log(median)) / sigma) if np.isfinite(hi) else 1.0
    u = a + (b - a) * rng.random(n)
    return np.exp(np.log(median) + sigma * norm.ppf(np.clip(u, 1e-12, 1 - 1e-12)))


def ckd_epi_2021(creat_umol, age, female):
    """eGFR (mL/min/1.73m²) by the race-free CKD-EPI 2021 creatinine equation."""
    scr = creat_umol / 88.4
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    r = scr / kappa
    return (142 * np.minimum(r, 1) ** alpha * np.maximum(r, 1) ** -1.200 * 0.9938 ** age
            * np.where(female, 1.012, 1.0))


def _creatinine_for_egfr(egfr, age, female):
    """Invert CKD-EPI 2021 for creatinine (µmol/L): the equation is monotone in creatinine."""
    lo, hi = np.full_like(egfr, 10.0), np.full_like(egfr, 3000.0)
    for _ in range(50):
        mid = (lo + hi) / 2
        too_high = ckd_epi_2021(mid, age, female) > egfr
        lo = np.where(too_high, mid, lo)
        hi = np.where(too_high, hi, mid)
    return (lo + hi) / 2


def table_baseline_labs(rng, c, ids, uln) -> pd.DataFrame:
    n = len(ids)
    iss = c["iss"]
    # ISS II: 70% by beta2m in [3.5, 5.5); 30% by beta2m < 3.5 with albumin < 35 (§4.2).
    ii_by_alb = (iss == 2) & (rng.random(n) < 0.30)
    b2m = np.where(iss == 1, _lognormal(rng, 2.3, 0.25, n, 0.8, 3.5),
                   np.where(iss == 3, _lognormal(rng, 8.0, 0.45, n, 5.5, 40.0),
                            np.where(ii_by_alb, _lognormal(rng, 2.8, 0.15, n, 0.8, 3.5),
                                     rng.uniform(3.5, 5.5, n))))
    alb = np.where(iss == 1, 35 + np.abs(rng.normal(5.0, 3.5, n)),
                   np.where(iss == 3, rng.normal(33, 5, n),
                            np.where(ii_by_alb, 35 - np.abs(rng.normal(2.5, 2.0, n)) - 0.1,
                                     rng.normal(36, 5, n))))
    alb = np.clip(alb, 15.5, 54.5)
    # Keep the stage after rounding to the 2 decimals stored: a β2M drawn just below a cut-off
    # (3.5 or 5.5 mg/L) must not be stored on it, or the computed ISS would be one stage higher.
    b2m = np.round(b2m, 2)
    b2m = np.where((iss == 1) | ii_by_alb, np.minimum(b2m, 3.49),
                   np.where(iss == 2, np.clip(b2m, 3.5, 5.49), b2m))
    egfr_true = np.where(c["egfr_lt30"], rng.uniform(8, 29.5, n),
                         np.clip(rng.normal(82, 18, n), 30.5, 125))
    creat = np.clip(_creatinine_for_egfr(egfr_true, c["age"], c["female"]), 41, 1190)
    ldh = np.where(c["ldh_high"], uln * rng.uniform(1.05, 2.5, n), uln * rng.uniform(0.45, 0.98, n))
    heavy = _choice(rng, rng.random(n), ["IgG", "IgA", "none", "IgD", "IgM", "nonsecretory"],
                    [0.54, 0.20, 0.19, 0.015, 0.005, 0.02])
    light = np.where(heavy == "nonsecretory", "none",
                     np.where(rng.random(n) < 0.62, "kappa", "lambda"))
    secretory = np.isin(heavy, ["IgG", "IgA", "IgD", "IgM"])
    m_serum = np.where(secretory, np.clip(_lognormal(rng, 30, 0.5, n), 2, 110), 0.0)
    urine = np.where(heavy == "none", _lognormal(rng, 1500, 0.9, n, 200, 19000),
                     np.where(secretory, _lognormal(rng, 150, 1.0, n, 0, 5000), 0.0))
    flc_inv = np.where(heavy == "none", _lognormal(rng, 900, 0.8, n, 50, 40000),
                       _lognormal(rng, 120, 0.8, n, 5, 20000))
    hyper = rng.random(n) < 0.08
    ca = np.where(hyper, rng.uniform(2.8, 3.6, n), np.clip(rng.normal(2.35, 0.12, n), 1.9, 2.74))
    era_early = c["year"] <= 2010
    ds = np.where(rng.random(n) < np.where(era_early, 0.8, 0.2),
                  _choice(rng, rng.random(n), ["IA", "IIA", "IIIA", "IIIB"],
                          [0.2, 0.3, 0.42, 0.08]),
                  None)
    return pd.DataFrame({
        "patient_id": ids,
        "sample_date": iso(c["t0_day"] - rng.integers(0, 61, n).astype("timedelta64[D]")),
        "hemoglobin_g_L": np.round(np.clip(rng.normal(110, 18, n), 55, 168), 0),
        "calcium_mmol_L": np.round(ca, 2),
        "creatinine_umol_L": np.round(creat, 0),
        "egfr_ml_min_1_73m2": np.round(np.clip(ckd_epi_2021(np.round(creat, 0), c["age"],
                                                            c["female"]), 5, 130), 1),
        "albumin_g_L": np.round(alb, 1),
        "beta2m_mg_L": np.round(b2m, 2),
        "ldh_U_L": np.round(np.clip(ldh, 81, 1490), 0),
        "ldh_uln_U_L": uln,
        "heavy_chain": heavy,
        "light_chain": light,
        "serum_m_protein_g_L": np.round(m_serum, 1),
        "urine_m_protein_mg_24h": np.round(urine, 0),
        "flc_involved_mg_L": np.round(flc_inv, 1),
        "flc_uninvolved_mg_L": np.round(_lognormal(rng, 8, 0.5, n, 0.5, 100), 1),
        "bm_plasma_cell_pct": np.round(100 * rng.beta(2.5, 3.5, n), 0),
        "bone_disease": np.where(rng.random(n) < 0.75, "yes", "no"),
        "extramedullary_disease": np.where(rng.random(n) < 0.05, "yes", "no"),
        "iss_recorded": np.array(["I", "II", "III"], dtype=object)[iss - 1],
        "ds_stage_recorded": ds,
    })


FISH_ROWS = ("del17p", "t(4;14)", "t(14;16)", "t(14;20)", "gain1q", "amp1q", "del1p", "t(11;14)")


def table_cytogenetics(rng, c, ids) -> pd.DataFrame:
    """One FISH panel per patient at diagnosis, a karyotype in 30%, a repeat FISH at relapse."""
    n = len(ids)
    truth = {
        "del17p": c["del17p"], "t(4;14)": c["t414"], "t(14;16)": c["t1416"],
        "t(14;20)": rng.random(n) < 0.015, "gain1q": c["gain1q"], "amp1q": c["amp1q"],
        "del1p": rng.random(n) < 0.10, "t(11;14)": rng.random(n) < 0.18,
        "hyperdiploid": rng.random(n) < 0.50, "del13q": rng.random(n) < 0.45,
    }
    c["t1114"], c["hyperdiploid"] = truth["t(11;14)"], truth["hyperdiploid"]
    fish_day = c["t0_day"] + rng.integers(-30, 31, n).astype("timedelta64[D]")
    method = np.where(rng.random(n) < 0.7, "FISH_CD138_enriched", "FISH_unenriched")
    frames = []
    for ab in FISH_ROWS:
        cut = rng.uniform(20, 60, n) if ab == "del17p" else rng.uniform(10, 20, n)
        det = truth[ab]
        frames.append(pd.DataFrame({
            "patient_id": ids, "test_id": [f"{p}-F1" for p in ids], "test_date": iso(fish_day),
            "method": method, "abnormality": ab,
            "result": np.where(det, "detected", "not_detected"),
            "pct_positive_nuclei": np.where(det, np.round(cut + rng.uniform(5, 95 - cut), 0),
                                            np.nan),
            "lab_cutoff_pct": np.round(cut, 0), "_row": np.arange(n),
        }))
    kary = rng.random(n) < 0.30
    kidx = np.flatnonzero(kary)
    kday = c["t0_day"][kidx] + rng.integers(-30, 1, kidx.size).astype("timedelta64[D]")
    for ab in ("hyperdiploid", "del13q"):
        frames.append(pd.DataFrame({
            "patient_id": ids[kidx], "test_id": [f"{p}-K1" for p in ids[kidx]],
            "test_date": iso(kday), "method": "karyotype", "abnormality": ab,
            "result": np.where(truth[ab][kidx], "detected", "not_detected"),
            "pct_positive_nuclei": np.nan, "lab_cutoff_pct": np.nan, "_row": kidx,
        }))
    # A repeat FISH at relapse (after the landmark: never a baseline feature); clonal evolution.
    # Taken ~9 days after progression: only for a patient alive and still followed by then.
    t_rep = c["t_prog"] + 0.3
    rep = np.flatnonzero((t_rep <= np.minimum(c["t_obs_end"], c["t_death"]))
                         & (rng.random(n) < 0.10))
    acquired = truth["del17p"][rep] | (rng.random(rep.size) < 0.2)
    frames.append(pd.DataFrame({
        "patient_id": ids[rep], "test_id": [f"{p}-F2" for p in ids[rep]],
        "test_date": iso(day_of({"t0_day": c["t0_day"][rep]}, t_rep[rep])),
        "method": "FISH_CD138_enriched", "abnormality": "del17p",
        "result": np.where(acquired, "detected", "not_detected"),
        "pct_positive_nuclei": np.where(acquired, 45.0, np.nan), "lab_cutoff_pct": 20.0,
        "_row": rep,
    }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["_row", "test_id", "abnormality"], kind="mergesort").reset_index(
        drop=True)


REGIMEN_TEXT = {"CyBorD": "CyBorD", "VD": "Bortezomib-Dex", "VTD": "VTD", "PAD": "PAD",
                "VRD": "VRD", "Rd": "Rd", "KRd": "KRd", "Kd": "Kd", "DRd": "DRd",
                "PomDex": "Pom-Dex", "DVd": "DVd", "other": "other"}


def _salvage_regimen(rng, c, idx, era_shift_years=0):
    """Second-line regimen (§4.9), by maintenance exposure and calendar year of progression."""
    n = idx.size
    lm = c["lm"][idx]
    yr = c["t0_year"][idx] + c["t_prog"][idx] / MPY + era_shift_years
    u = rng.random(n)
    no_lm = _choice(rng, u, ["Rd", "CyBorD", "VRD", "KRd", "ASCT", "other"],
                    [0.45, 0.20, 0.15, 0.10, 0.05, 0.05])
    no_lm = np.where((no_lm == "KRd") & (yr < 2015), "Rd", no_lm)
    on_lm = np.where(u < 0.45, np.where(yr >= 2017, "DRd", np.where(yr >= 2015, "KRd", "Rd")),
                     _choice(rng, rng.random(n), ["CyBorD", "Kd", "PomDex", "DVd"],
                             [0.4, 0.25, 0.25, 0.10]))
    on_lm = np.where((on_lm == "DVd") & (yr < 2017), "CyBorD", on_lm)
    on_lm = np.where((on_lm == "Kd") & (yr < 2015), "CyBorD", on_lm)
    return np.where(lm, on_lm, no_lm)


def second_line(rng, c, era_shift_years: int = 0) -> None:
    """Start and regimen of the second line after progression (in place, months from T0).

    The regimens available depend on the calendar year of progression: the registry's frame
    plus ``era_shift_years`` (docs/registry.md §2.1, §4.9).
    """
    n = c["t0_day"].size
    delay = np.clip(rng.gamma(2.0, 0.6, n), 0, 4)
    start = c["t_prog"] + delay
    starts = (c["progressed"] & (rng.random(n) >= 0.08) & (start < c["t_death"])
              & (start <= c["t_obs_end"]))
    c["t_line2"] = np.where(starts, start, np.inf)
    reg = np.full(n, None, dtype=object)
    idx = np.flatnonzero(starts)
    reg[idx] = _salvage_regimen(rng, c, idx, era_shift_years)
    c["line2_regimen"] = reg


def table_treatment_lines(rng, c, ids) -> pd.DataFrame:
    n = len(ids)
    two = c["second_induction"]
    t_ind1_end = np.where(two, rng.uniform(2.8, 3.6, n), c["t_asct"] - rng.uniform(0.3, 1.0, n))
    cycles = np.clip(np.round(t_ind1_end * MONTH_DAYS / 28), 3, 6)
    rows = {
        "patient_id": ids, "line_number": 1, "phase": "induction", "regimen_code": c["regimen"],
        "regimen_text": [REGIMEN_TEXT.get(r, r) for r in c["regimen"]],
        "start_date": iso(c["t0_day"]), "start_date_precision": "day",
        "end_date": iso(day_of(c, t_ind1_end)), "end_date_precision": "day",
        "n_cycles": cycles, "reason_end": np.where(two, "other", "proceed_to_ASCT"),
        "_row": np.arange(n),
    }
    frames = [pd.DataFrame(rows)]
    k = np.flatnonzero(two)
    reg2 = np.where(c["regimen"][k] == "CyBorD", "VRD", "CyBorD")
    ck = {"t0_day": c["t0_day"][k]}
    frames.append(pd.DataFrame({
        "patient_id": ids[k], "line_number": 2, "phase": "induction", "regimen_code": reg2,
        "regimen_text": [REGIMEN_TEXT[r] for r in reg2],
        "start_date": iso(day_of(ck, t_ind1_end[k] + 0.1)), "start_date_precision": "day",
        "end_date": iso(day_of(ck, c["t_asct"][k] - 0.4)), "end_date_precision": "day",
        "n_cycles": 3, "reason_end": "proceed_to_ASCT", "_row": k,
    }))
    s = np.flatnonzero(np.isfinite(c["t_line2"]))
    cs = {"t0_day": c["t0_day"][s]}
    regs = c["line2_regimen"][s]
    code = np.where(regs == "ASCT", "CyBorD", regs)
    frames.append(pd.DataFrame({
        "patient_id": ids[s], "line_number": np.where(two[s], 3, 2), "phase": "salvage",
        "regimen_code": code, "regimen_text": [REGIMEN_TEXT[r] for r in code],
        "start_date": iso(day_of(cs, c["t_line2"][s])), "start_date_precision": "day",
        "end_date": None, "end_date_precision": None, "n_cycles": np.nan,
        "reason_end": "ongoing", "_row": s,
    }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["_row", "line_number"], kind="mergesort").reset_index(drop=True)


def table_transplants(rng, c, ids) -> pd.DataFrame:
    n = len(ids)
    other_mel = rng.random(n) < 0.01
    mel = np.where(c["mel140"], 140, np.where(other_mel, np.where(rng.random(n) < 0.5, 100, 180),
                                              200))
    pre = _choice(rng, rng.random(n), ["CR", "VGPR", "PR", "MR", "SD", "PD"],
                  [0.08, 0.30, 0.48, 0.06, 0.07, 0.01])
    first = pd.DataFrame({
        "patient_id": ids, "transplant_seq": 1, "transplant_type": "auto_upfront",
        "mobilization": _choice(rng, rng.random(n), ["GCSF", "GCSF_plerixafor", "CY_GCSF"],
                                [0.65, 0.10, 0.25]),
        "cd34_collected_1e6_per_kg": np.round(_lognormal(rng, 8, 0.4, n, 2, 30), 1),
        "conditioning": np.where(mel == 200, "MEL200", np.where(mel == 140, "MEL140", "other")),
        "melphalan_mg_m2": mel,
        "infusion_date": iso(day_of(c, c["t_asct"])), "infusion_date_precision": "day",
        "anc_engraftment_day": np.clip(np.round(rng.normal(12, 2, n)), 9, 25),
        "response_pre_asct": pre, "_row": np.arange(n),
    })
    c["response_pre_asct"] = pre
    # The tandem (drawn in the model) is recorded only if it was given: the patient was alive and
    # progression-free on its day, and the clinic followed them up to it (``t_obs_end``).
    k = np.flatnonzero(c["tandem_done"])
    gap = c["s_tandem"][k]
    ck = {"t0_day": c["t0_day"][k]}
    tandem = pd.DataFrame({
        "patient_id": ids[k], "transplant_seq": 2, "transplant_type": "auto_tandem",
        "mobilization": None, "cd34_collected_1e6_per_kg": np.nan, "conditioning": "MEL200",
        "melphalan_mg_m2": 200, "infusion_date": iso(day_of(ck, c["t_asct"][k] + gap)),
        "infusion_date_precision": "day",
        "anc_engraftment_day": np.clip(np.round(rng.normal(12, 2, k.size)), 9, 25),
        "response_pre_asct": None, "_row": k,
    })
    s = np.flatnonzero((c["line2_regimen"] == "ASCT")
                       & (c["t_line2"] + 4 < np.minimum(c["t_death"], c["t_obs_end"])))
    cs = {"t0_day": c["t0_day"][s]}
    salvage = pd.DataFrame({
        "patient_id": ids[s], "transplant_seq": np.where(c["tandem_done"][s], 3, 2),
        "transplant_type": "auto_salvage", "mobilization": None,
        "cd34_collected_1e6_per_kg": np.nan, "conditioning": "MEL200", "melphalan_mg_m2": 200,
        "infusion_date": iso(day_of(cs, c["t_line2"][s] + 4)), "infusion_date_precision": "day",
        "anc_engraftment_day": np.clip(np.round(rng.normal(13, 2, s.size)), 9, 25),
        "response_pre_asct": None, "_row": s,
    })
    out = pd.concat([first, tandem, salvage], ignore_index=True)
    return out.sort_values(["_row", "transplant_seq"], kind="mergesort").reset_index(drop=True)


RESP_FRACTION = {"sCR": (0, 0), "CR": (0, 0), "VGPR": (0.01, 0.1), "PR": (0.1, 0.5),
                 "MR": (0.5, 0.75), "SD": (0.75, 1.05), "PD": (1.3, 1.8), "NE": (0, 0)}
UPGRADE = {"PR": "VGPR", "VGPR": "CR"}


def _assessments(rng, c, idx, when, timepoint, response, m0) -> pd.DataFrame:
    """Response rows whose M-protein values are consistent with the IMWG category (§4.4b)."""
    k = idx.size
    lo = np.array([RESP_FRACTION[r][0] for r in response])
    hi = np.array([RESP_FRACTION[r][1] for r in response])
    frac = lo + (hi - lo) * rng.random(k)
    m = m0[idx] * frac
    pd_rise = np.maximum(m0[idx] * 0.05 + 5.5, 0)
    m = np.where(response == "PD", m0[idx] * 0.1 + pd_rise, m)
    cr = np.isin(response, ["CR", "sCR"])
    secretory = m0[idx] > 0
    return pd.DataFrame({
        "patient_id": c["ids"][idx],
        "assessment_date": iso(day_of({"t0_day": c["t0_day"][idx]}, when)),
        "timepoint": timepoint, "imwg_response": response,
        "serum_m_protein_g_L": np.where(secretory, np.round(m, 1), np.nan),
        "urine_m_protein_mg_24h": np.nan,
        "flc_ratio": np.where(cr, np.round(rng.uniform(0.5, 1.5, k), 2), np.nan),
        "bm_pc_pct": np.where(cr, np.round(rng.uniform(0, 4, k), 0), np.nan),
        "serum_ife": np.where(cr, "negative", np.where(secretory, "positive", "not_done")),
        "urine_ife": np.where(cr, "negative", "not_done"),
        "mrd_method": "none", "mrd_sensitivity": None, "mrd_result": "not_done",
        "confirmed": True, "_row": idx, "_t": when,
    })


def table_response_assessments(rng, c, m0) -> pd.DataFrame:
    n = c["t0_day"].size
    alive_at = lambda t: (t < c["t_death"]) & (t <= c["t_obs_end"])  # noqa: E731
    all_idx = np.arange(n)
    frames = [_assessments(rng, c, all_idx, c["t_asct"] - rng.uniform(0.25, 0.9, n), "pre_ASCT",
                           c["response_pre_asct"], m0)]
    t100 = c["t_asct"] + (100 + rng.integers(-10, 11, n)) / MONTH_DAYS
    resp = c["resp100"]
    d100 = np.where(resp == "CR", np.where(rng.random(n) < 0.3, "sCR", "CR"),
                    np.where(resp == "MR_SD", np.where(rng.random(n) < 0.45, "MR", "SD"), resp))
    d100 = np.where(resp == "PD", "PD", d100)
    c["resp100_code"] = d100
    ok = np.flatnonzero(alive_at(t100))
    day100 = _assessments(rng, c, ok, t100[ok], "day100", d100[ok], m0)
    mrd = c["mrd_tested"][ok]
    day100.loc[mrd, "mrd_method"] = np.where(c["year"][ok][mrd] >= 2014, "NGF", "ASO_PCR")
    day100.loc[mrd, "mrd_sensitivity"] = "1e-5"
    day100.loc[mrd, "mrd_result"] = np.where(c["mrd_neg"][ok][mrd], "negative", "positive")
    frames.append(day100)
    t12 = c["t_asct"] + 12
    ok = np.flatnonzero(alive_at(t12) & (c["t_prog"] > t12) & (resp != "PD"))
    frames.append(_assessments(rng, c, ok, t12[ok], "m12", d100[ok], m0))
    # Best response on maintenance: 25% of VGPR/PR move up one category within 12 months.
    t_best = c["t_lm_start"] + np.minimum(12, np.nan_to_num(c["lm_end"] - c["s_dec"]))
    ok = np.flatnonzero(c["lm"] & (t_best - c["t_lm_start"] >= 6) & alive_at(t_best)
                        & (c["t_prog"] > t_best))
    best = d100[ok].copy()
    up = np.isin(best, list(UPGRADE)) & (rng.random(ok.size) < 0.25)
    best[up] = [UPGRADE[b] for b in best[up]]
    frames.append(_assessments(rng, c, ok, t_best[ok], "best_on_maintenance", best, m0))
    ok = np.flatnonzero(c["progressed"] & (c["t_prog"] <= c["t_obs_end"]) & (resp != "PD"))
    frames.append(_assessments(rng, c, ok, c["t_prog"][ok], "at_progression",
                               np.full(ok.size, "PD", dtype=object), m0))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["_row", "_t"], kind="mergesort").reset_index(drop=True)


TOX_REASONS = (["neutropenia", "thrombocytopenia", "fatigue", "rash", "diarrhea", "infection",
                "other"], [0.40, 0.15, 0.15, 0.10, 0.10, 0.05, 0.05])
TOX_STOP_CODE = {"neutropenia": "toxicity_hematologic", "thrombocytopenia": "toxicity_hematologic",
                 "infection": "infection"}


def table_maintenance(rng, c, ids, center_schedule) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = np.flatnonzero(c["lm"])
    k = idx.size
    start, end = c["t_lm_start"][idx], c["t_lm_end"][idx]
    obs_end = np.minimum(c["t_obs_end"][idx], c["t_death"][idx])
    ended = end <= obs_end
    reason = c["lm_end_reason"][idx].astype(object)
    tox = _choice(rng, rng.random(k), *TOX_REASONS)
    reason = np.where(reason == "toxicity",
                      [TOX_STOP_CODE.get(t, "toxicity_nonhematologic") for t in tox], reason)
    reason = np.where(ended, reason, np.where(c["lost"][idx], "lost_to_followup", "ongoing"))
    sched = np.where(rng.random(k) < 0.9, center_schedule[idx],
                     np.where(center_schedule[idx] == "21of28", "28of28", "21of28"))
    dose = _choice(rng, rng.random(k), [10.0, 5.0, 2.5, 15.0],
                   [0.54, 0.37, 0.04, 0.05]).astype(float)
    eids = np.array([f"{p}-M1" for p in ids[idx]], dtype=object)
    ck = {"t0_day": c["t0_day"][idx]}
    episodes = pd.DataFrame({
        "patient_id": ids[idx], "episode_id": eids, "agent": "lenalidomide",
        "start_date": iso(day_of(ck, start)), "start_date_precision": "day",
        "end_date": iso(np.where(ended, day_of(ck, end), np.datetime64("NaT"))),
        "end_date_precision": np.where(ended, "day", None),
        "schedule": sched, "starting_dose_mg": dose, "reason_stopped": reason, "_row": idx,
    })
    c["lm_start_dose"] = np.full(len(ids), np.nan)
    c["lm_start_dose"][idx] = dose
    changes = _dose_changes(rng, ids[idx], eids, ck, start, np.minimum(end, obs_end), dose, sched,
                            idx)
    return episodes, changes


def _dose_changes(rng, pids, eids, ck, start, stop, dose, sched, rows) -> pd.DataFrame:
    """Per 28-day cycle: reductions (6%/cycle in cycles 1-6, 2% later) and 1-2 cycle
    interruptions (3%/cycle), ×1.5 on the continuous schedule (§4.6)."""
    cyc = 28 / MONTH_DAYS
    n_cyc = np.floor((stop - start) / cyc).astype(int)
    mult = np.where(sched == "28of28", 1.5, 1.0)
    cur = dose.copy()
    paused_until = np.full(dose.size, -1)
    recs = []
    for j in range(1, int(n_cyc.max(initial=0))):
        active = j < n_cyc
        t = start + j * cyc
        resume = active & (paused_until == j)
        if resume.any():
            recs.append((np.flatnonzero(resume), t[resume], cur[resume], "resumed"))
        can = active & (paused_until < j)
        p_red = np.where(j <= 6, 0.06, 0.02) * mult
        red = can & (rng.random(dose.size) < p_red) & (cur > DOSE_LEVELS[0])
        if red.any():
            lvl = np.searchsorted(DOSE_LEVELS, cur[red]) - 1
            cur[red] = DOSE_LEVELS[np.maximum(lvl, 0)]
            recs.append((np.flatnonzero(red), t[red], cur[red], None))
        pause = can & ~red & (rng.random(dose.size) < 0.03 * mult)
        if pause.any():
            paused_until[pause] = j + rng.integers(1, 3, pause.sum())
            recs.append((np.flatnonzero(pause), t[pause], np.zeros(pause.sum()), None))
    if not recs:
        return pd.DataFrame(columns=["patient_id", "episode_id", "change_date", "new_dose_mg",
                                     "new_schedule", "reason", "_row", "_t"])
    who = np.concatenate([r[0] for r in recs])
    when = np.concatenate([r[1] for r in recs])
    new = np.concatenate([r[2] for r in recs])
    fixed = np.concatenate([np.full(r[0].size, r[3], dtype=object) for r in recs])
    why = _choice(rng, rng.random(who.size), *TOX_REASONS)
    why = np.where(why == "diarrhea", "diarrhea", why)
    out = pd.DataFrame({
        "patient_id": pids[who], "episode_id": eids[who],
        "change_date": iso(day_of({"t0_day": ck["t0_day"][who]}, when)),
        "new_dose_mg": new, "new_schedule": sched[who],
        "reason": np.where(pd.isna(fixed), why, fixed), "_row": rows[who], "_t": when,
    })
    return out.sort_values(["_row", "_t"], kind="mergesort").reset_index(drop=True)


def table_disease_events(rng, c, ids, m0) -> pd.DataFrame:
    idx = np.flatnonzero(c["progressed"] & (c["t_prog"] <= c["t_obs_end"]))
    k = idx.size
    clinical = rng.random(k) < 0.10
    secretory = m0[idx] > 0
    criterion = np.where(clinical, np.where(rng.random(k) < 0.7, "new_bone_lesion", "plasmacytoma"),
                         np.where(secretory, "serum_M", np.where(rng.random(k) < 0.6, "FLC",
                                                                 "urine_M")))
    from_cr = np.isin(c["resp100_code"][idx], ["CR", "sCR"])
    etype = np.where(clinical, "clinical_progression",
                     np.where(from_cr, "relapse_from_CR", "progression"))
    on_lm = c["lm"][idx] & (c["lm_end_reason"][idx] == "progression")
    return pd.DataFrame({
        "patient_id": ids[idx],
        "event_date": iso(day_of({"t0_day": c["t0_day"][idx]}, c["t_prog"][idx])),
        "event_date_precision": "day", "event_type": etype, "criterion": criterion,
        "date_source": np.where(clinical, "clinic_note", "lab"),
        "on_maintenance_at_event": on_lm, "_row": idx, "_t": c["t_prog"][idx],
    })


HAEM = (["MDS", "AML", "B-ALL", "Hodgkin", "NHL"], [0.30, 0.30, 0.20, 0.05, 0.15])
SOLID = (["solid_breast", "solid_prostate", "solid_lung", "solid_colorectal", "solid_other",
          "melanoma"], [0.2, 0.2, 0.15, 0.15, 0.2, 0.1])


def table_spm(rng, c, ids, p) -> pd.DataFrame:
    """First SPM: invasive ones that stopped LM come from the latent model; NMSC during LM and
    any SPM off LM are drawn here, on 0.9 per 100 patient-years (§4.7)."""
    n = len(ids)
    lm = c["lm"]
    t_end = np.minimum(c["t_death"], c["t_obs_end"])
    t_spm = np.where(c["spm_stop"], c["t_lm_end"], np.inf)
    on_rate = p.spm_on_lm_per_100py * (1 - p.spm_invasive_share) / 100 / MPY
    nmsc_on = c["t_lm_start"] + rng.exponential(1 / on_rate, n)
    nmsc_on = np.where(lm & (nmsc_on < c["t_lm_end"]), nmsc_on, np.inf)
    off_rate = p.spm_off_lm_per_100py / 100 / MPY
    # Off-LM exposure: ASCT -> LM start, then LM end -> end of time (or ASCT -> for non-LM).
    e = rng.exponential(1 / off_rate, n)
    pre = np.where(lm, c["t_lm_start"] - c["t_asct"], np.inf)
    off = np.where(e < pre, c["t_asct"] + e, c["t_lm_end"] + (e - pre))
    cand = np.column_stack([t_spm, nmsc_on, off])
    first = cand.argmin(axis=1)
    t = cand.min(axis=1)
    keep = np.flatnonzero(t <= t_end)
    kind = first[keep]
    haem_share = np.where(kind == 0, 0.40 / 0.65, 0.20 / 0.65)
    u = rng.random(keep.size)
    invasive_cat = np.where(u < haem_share, _choice(rng, rng.random(keep.size), *HAEM),
                            _choice(rng, rng.random(keep.size), *SOLID))
    nmsc = (kind == 1) | ((kind == 2) & (rng.random(keep.size) < 0.35))
    cat = np.where(nmsc, "NMSC", invasive_cat)
    c["t_spm"] = np.full(n, np.inf)
    c["t_spm"][keep] = t[keep]
    return pd.DataFrame({
        "patient_id": ids[keep],
        "spm_date": iso(day_of({"t0_day": c["t0_day"][keep]}, t[keep])),
        "category": cat, "invasive": ~nmsc, "_row": keep,
    })


def table_followup(rng, c, ids) -> pd.DataFrame:
    """Last contact and vital status; half of those lost are traced in the provincial registry."""
    n = len(ids)
    lost = c["lost"]
    died_seen = c["t_death"] <= c["t_obs_end"]
    traced = lost & (rng.random(n) < 0.5)
    died_traced = traced & ~died_seen & (c["t_death"] <= c["admin"])
    dead = died_seen | died_traced
    last = np.where(died_seen, c["t_death"], c["t_obs_end"])
    vital = np.where(dead, "dead", np.where(lost & ~traced, "unknown", "alive"))
    source = np.where(died_traced | (traced & ~dead), "provincial_registry", "clinic")
    cause = _cause_of_death(rng, c, n)
    return pd.DataFrame({
        "patient_id": ids,
        "last_contact_date": iso(day_of(c, last)), "last_contact_date_precision": "day",
        "vital_status": vital,
        "death_date": iso(np.where(dead, day_of(c, c["t_death"]), np.datetime64("NaT"))),
        "death_date_precision": np.where(dead, "day", None),
        "cause_of_death": np.where(dead, cause, None),
        "status_source": source,
        "transferred_to_community": lost & (rng.random(n) < 0.8),
        "lost_to_followup": lost,
    })


def _cause_of_death(rng, c, n):
    prog = c["progressed"]
    after_prog = _choice(rng, rng.random(n), ["myeloma", "infection", "SPM", "cardiovascular",
                                              "other"], [0.86, 0.07, 0.03, 0.02, 0.02])
    nrm = _choice(rng, rng.random(n), ["infection", "cardiovascular", "SPM", "other"],
                  [0.30, 0.28, 0.17, 0.25])
    nrm = np.where(c["trm"], "treatment_related", nrm)
    return np.where(prog, after_prog, nrm)
