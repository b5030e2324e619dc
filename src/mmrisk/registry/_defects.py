"""The missingness and data-quality defects of docs/registry.md §6, applied to clean tables.

``inject_defects`` changes the batch's tables in place and returns the list of injected defects
(one row per defect: class, table, patient, column, whether a validator can detect it from the
extract alone, and the severity it should get). Probabilities are multiplied by each centre's
``data_quality_tier`` factor (A ×0.7, B ×1.0, C ×1.6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk.conventions import MONTH_DAYS
from mmrisk.registry._spec import TABLES

TIER_FACTOR = {"A": 0.7, "B": 1.0, "C": 1.6}
ALBUMIN_G_DL_CENTER, CREATININE_MG_DL_CENTER = "C07", "C10"
REGIMEN_VARIANTS = {
    "CyBorD": ["CyBorD", "CYBORD", "VCD", "Cy-Bor-Dex", "bortezomib/cyclophosphamide/dex",
               "Velcade-CTX-Dex", "CyBor-D", "VCd weekly", "cybord", "CTX-Bortez-Dex"],
    "VD": ["VD", "Vel-Dex", "Bortezomib-Dex", "Bor/Dex", "velcade dexamethasone"],
    "VRD": ["VRD", "RVD", "VRd", "Len-Bor-Dex"],
}
LAB_NUMERIC = ["hemoglobin_g_L", "calcium_mmol_L", "creatinine_umol_L", "albumin_g_L",
               "beta2m_mg_L", "ldh_U_L", "bm_plasma_cell_pct", "serum_m_protein_g_L"]


class _Log:
    """Collects injected defects as rows of the truth file."""

    def __init__(self):
        self.rows: list[pd.DataFrame] = []

    def add(self, defect, table, patient_ids, column, detectable, severity="error"):
        pids = np.asarray(patient_ids, dtype=object)
        if pids.size == 0:
            return
        det = np.broadcast_to(np.asarray(detectable, dtype=bool), pids.shape)
        self.rows.append(pd.DataFrame({
            "defect": defect, "table": table, "patient_id": pids, "column": column,
            "detectable": det, "severity": np.where(det, severity, ""),
        }))

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame(columns=["defect", "table", "patient_id", "column", "detectable",
                                         "severity"])
        return pd.concat(self.rows, ignore_index=True)


def _p(c, base, rows=None):
    """Per-row probability: base × the row's centre tier factor."""
    f = c["tier_factor"] if rows is None else c["tier_factor"][rows]
    return np.minimum(base * f, 1.0)


def _shift_days(dates: pd.Series, days) -> pd.Series:
    d = pd.to_datetime(dates, format="%Y-%m-%d") + pd.to_timedelta(days, unit="D")
    return d.dt.strftime("%Y-%m-%d").astype(object).where(d.notna(), None)


def inject_defects(rng: np.random.Generator, t: dict, c: dict) -> pd.DataFrame:
    """Apply §6 to the tables ``t`` (in place); return the injected-defect list."""
    log = _Log()
    _missingness(rng, t, c)
    _fish_missingness(rng, t, c)
    _responses(rng, t, c, log)
    _labs(rng, t, c, log)
    _progression_dates(rng, t, c, log)
    _precision(rng, t, c)
    _regimen_text(rng, t, c, log)
    _date_order(rng, t, c, log)
    _duplicates(rng, t, c, log)
    return log.frame()


def _null(rng, df, col, p):
    hit = rng.random(len(df)) < p
    df.loc[hit, col] = None if df[col].dtype == object else np.nan
    return hit


def _missingness(rng, t, c):
    """Structural missingness of §6.1 (not defects: nothing for a validator to find)."""
    pats = t["patients"]
    _null(rng, pats, "ecog_at_diagnosis", _p(c, 0.35))
    ep = t["maintenance_episodes"]
    rows = ep["_row"].to_numpy()
    _null(rng, ep, "schedule", _p(c, 0.15, rows))
    _null(rng, ep, "starting_dose_mg", _p(c, 0.10, rows))
    stopped = ~ep["reason_stopped"].isin(["ongoing", "lost_to_followup"]).to_numpy()
    unk = stopped & (rng.random(len(ep)) < _p(c, 0.10, rows))
    ep.loc[unk, "reason_stopped"] = "unknown"
    dc = t["maintenance_dose_changes"]
    unk = (dc["reason"] != "resumed").to_numpy() & (
        rng.random(len(dc)) < _p(c, 0.25, dc["_row"].to_numpy()))
    dc.loc[unk, "reason"] = "unknown"
    fu = t["followup"]
    dead = fu["vital_status"].eq("dead").to_numpy()
    fu.loc[dead & (rng.random(len(fu)) < _p(c, 0.20)), "cause_of_death"] = "unknown"


def _fish_missingness(rng, t, c):
    cy = t["cytogenetics"]
    rows = cy["_row"].to_numpy()
    yr = c["year"]
    p_none = np.select([yr <= 2009, yr <= 2012], [0.40, 0.25], 0.15)
    no_fish = rng.random(yr.size) < _p(c, p_none)
    fish = cy["test_id"].str.endswith("-F1").to_numpy()
    drop = fish & no_fish[rows]
    u = rng.random(len(cy))
    ab = cy["abnormality"].to_numpy()
    res = cy["result"].to_numpy(dtype=object).copy()
    probe = fish & np.isin(ab, ["del17p", "t(4;14)"])
    res[probe & (u < 0.05)] = "failed"
    res[probe & (u >= 0.05) & (u < 0.10)] = None
    res[fish & (ab == "t(14;16)") & (u < 0.20)] = "not_tested"
    q1 = fish & np.isin(ab, ["gain1q", "amp1q"])
    before_1q = c["year"][rows] < c["fish_1q_from"][rows]
    q1_missing = before_1q | (rng.random(yr.size)[rows] < 0.15)  # per patient, both 1q rows
    res[q1 & q1_missing] = "not_tested"
    res[fish & np.isin(ab, ["t(14;20)", "del1p", "t(11;14)"]) & (u < 0.30)] = "not_tested"
    cy["result"] = res
    cy.loc[cy["result"] != "detected", "pct_positive_nuclei"] = np.nan
    t["cytogenetics"] = cy.loc[~drop].reset_index(drop=True)


def _responses(rng, t, c, log):
    ra = t["response_assessments"]
    n = len(ra)
    d100 = ra["timepoint"].eq("day100").to_numpy()
    u = rng.random(n)
    ra.loc[d100 & (u < 0.08), "imwg_response"] = None
    ra.loc[d100 & (u >= 0.08) & (u < 0.13), "imwg_response"] = "NE"
    cr = ra["imwg_response"].isin(["CR", "sCR"]).to_numpy() & ~ra["timepoint"].eq("pre_ASCT")
    v = rng.random(n)
    as_vgpr = cr & (v < 0.15)
    ra.loc[as_vgpr, "imwg_response"] = "VGPR"
    ra.loc[as_vgpr, "serum_ife"] = "not_done"
    ra.loc[cr & (v >= 0.15) & (v < 0.30), "confirmed"] = False
    legacy = (ra["assessment_date"] < "2012-01-01").to_numpy() & ra["imwg_response"].isin(
        ["CR", "VGPR"]).to_numpy()
    hit = legacy & (rng.random(n) < 0.02 / 0.6)  # ~2% of all responses before 2012
    codes = np.where(ra.loc[hit, "imwg_response"] == "CR", "uCR", "nCR")
    ra.loc[hit, "imwg_response"] = codes
    log.add("legacy_response_code", "response_assessments", ra.loc[hit, "patient_id"],
            "imwg_response", True)


def _labs(rng, t, c, log):
    lab = t["baseline_labs"]
    n = len(lab)
    early = c["year"] <= 2010
    _null(rng, lab, "beta2m_mg_L", _p(c, np.where(early, 0.22, 0.12)))
    _null(rng, lab, "albumin_g_L", _p(c, 0.03))
    high = (lab["ldh_U_L"] > lab["ldh_uln_U_L"]).to_numpy()
    _null(rng, lab, "ldh_U_L", _p(c, np.where(high, 0.225, 0.25)))
    # Recorded ISS: 20% empty, 4% disagreeing with the labs.
    u = rng.random(n)
    lab.loc[u < 0.20, "iss_recorded"] = None
    wrong = (u >= 0.20) & (u < 0.24)
    shift = {"I": "II", "II": "III", "III": "II"}
    lab.loc[wrong, "iss_recorded"] = lab.loc[wrong, "iss_recorded"].map(shift)
    # Samples taken after T0 (post-treatment values, nearer normal).
    late = rng.random(n) < _p(c, 0.03)
    lab.loc[late, "sample_date"] = _shift_days(lab.loc[late, "sample_date"],
                                               rng.integers(65, 120, late.sum()))
    lab.loc[late, "hemoglobin_g_L"] = np.minimum(lab.loc[late, "hemoglobin_g_L"] + 12, 165)
    log.add("lab_after_t0", "patients", lab.loc[late, "patient_id"], "induction_start_date",
            True, "warning")
    used = np.zeros((n, len(LAB_NUMERIC)), dtype=bool)
    _units(rng, lab, c, log, used)
    _typos(rng, lab, log, used)
    # Only disagreements that the labs (as recorded) can reveal are detectable.
    b2m, alb = lab["beta2m_mg_L"].to_numpy(float), lab["albumin_g_L"].to_numpy(float)
    ok = (~np.isnan(b2m) & ~np.isnan(alb) & (b2m >= 0.8) & (b2m <= 40) & (alb >= 15)
          & (alb <= 55) & ~used[:, 3] & ~used[:, 4])
    log.add("iss_recorded_mismatch", "baseline_labs", lab.loc[wrong, "patient_id"],
            "iss_recorded", ok[wrong], "warning")


def _units(rng, lab, c, log, used):
    yr = c["year"]
    cols = {name: i for i, name in enumerate(LAB_NUMERIC)}
    alb = (c["center_id"] == ALBUMIN_G_DL_CENTER) & (yr <= 2011) & lab["albumin_g_L"].notna()
    lab.loc[alb, "albumin_g_L"] = np.round(lab.loc[alb, "albumin_g_L"] / 10, 1)
    used[alb, cols["albumin_g_L"]] = True
    log.add("unit_albumin_g_dL", "baseline_labs", lab.loc[alb, "patient_id"], "albumin_g_L", True)
    cre = (c["center_id"] == CREATININE_MG_DL_CENTER) & (yr <= 2012)
    lab.loc[cre, "creatinine_umol_L"] = np.round(lab.loc[cre, "creatinine_umol_L"] / 88.4, 2)
    used[cre, cols["creatinine_umol_L"]] = True
    log.add("unit_creatinine_mg_dL", "baseline_labs", lab.loc[cre, "patient_id"],
            "creatinine_umol_L", True)
    b2m = lab["beta2m_mg_L"].notna().to_numpy() & (rng.random(len(lab)) < 0.01)
    lab.loc[b2m, "beta2m_mg_L"] = np.round(lab.loc[b2m, "beta2m_mg_L"] * 84.7, 0)
    used[b2m, cols["beta2m_mg_L"]] = True
    log.add("unit_beta2m_nmol_L", "baseline_labs", lab.loc[b2m, "patient_id"], "beta2m_mg_L",
            True)


def _typos(rng, lab, log, used):
    """0.3% of numeric values mistyped by a factor of 10 (e.g. Hb 1100)."""
    for j, col in enumerate(LAB_NUMERIC):
        spec = TABLES["baseline_labs"].column(col)
        vals = lab[col].to_numpy(dtype=float)
        hit = (rng.random(len(lab)) < 0.003) & ~np.isnan(vals) & ~used[:, j] & (vals > 0)
        if not hit.any():
            continue
        up = vals[hit] * 10
        new = np.where(up > spec.max, up, vals[hit] / 10)
        lab.loc[hit, col] = new
        used[hit, j] = True
        outside = (new < spec.min) | (new > spec.max)
        log.add("out_of_range", "baseline_labs", lab.loc[hit, "patient_id"], col, outside)


def _progression_dates(rng, t, c, log):
    """Lab dates jittered by up to ±45 days; 15% dated by the next line's start (lead time)."""
    ev = t["disease_events"]
    if ev.empty:
        return
    rows = ev["_row"].to_numpy()
    true_t = ev["_t"].to_numpy()
    lab = ev["date_source"].eq("lab").to_numpy()
    line2 = c["t_line2"][rows]
    lo = np.nanmax(np.column_stack([c["t_asct"][rows], np.nan_to_num(c["t_lm_start"][rows])]),
                   axis=1) + 1 / MONTH_DAYS
    hi = np.minimum(c["t_obs_end"][rows], c["t_death"][rows])
    proxy = lab & (rng.random(len(ev)) < 0.15) & np.isfinite(line2) & (line2 <= hi)
    jit = true_t + rng.integers(-45, 46, len(ev)) / MONTH_DAYS
    new_t = np.where(proxy, line2, np.where(lab, np.clip(jit, lo, hi), true_t))
    ev["event_date"] = _months_to_iso(c, rows, new_t)
    ev.loc[proxy, "date_source"] = "next_line_proxy"
    log.add("progression_date_proxy", "disease_events", ev.loc[proxy, "patient_id"],
            "event_date", False)
    ra = t["response_assessments"]
    at = ra["timepoint"].eq("at_progression").to_numpy()
    date_by_pid = dict(zip(ev["patient_id"], ev["event_date"], strict=True))
    ra.loc[at, "assessment_date"] = ra.loc[at, "patient_id"].map(date_by_pid).to_numpy()


def _months_to_iso(c, rows, months):
    days = np.round(months * MONTH_DAYS).astype("int64").astype("timedelta64[D]")
    return np.datetime_as_string(c["t0_day"][rows] + days, unit="D").astype(object)


def _coarsen(dates: pd.Series, precision: np.ndarray) -> pd.Series:
    s = dates.astype(object).copy()
    m = precision == "month"
    s[m] = s[m].str.slice(0, 8) + "15"
    y = precision == "year"
    s[y] = s[y].str.slice(0, 5) + "07-01"
    return s


def _precision(rng, t, c):
    """Month-only dates for 8% of legacy (2007-2010) and 3% of later dates; 0.5% year-only."""
    for table, col in (("patients", "diagnosis_date"), ("followup", "death_date"),
                       ("disease_events", "event_date")):
        df = t[table]
        has = df[col].notna().to_numpy()
        legacy = df[col].fillna("9999").str.slice(0, 4).astype(int).to_numpy() <= 2010
        u = rng.random(len(df))
        prec = np.where(u < 0.005, "year", np.where(u < np.where(legacy, 0.085, 0.035), "month",
                                                    "day"))
        prec = np.where(has, prec, None)
        if table == "patients":  # a coarse diagnosis date must not pass induction start
            prec = np.where(df[col].str.slice(0, 7) == df["induction_start_date"].str.slice(0, 7),
                            "day", prec)
            prec = np.where((prec == "year") & (df[col].str.slice(0, 4)
                                                == df["induction_start_date"].str.slice(0, 4)),
                            "day", prec)
        df[col] = _coarsen(df[col], prec).where(has, None)
        df[f"{col}_precision"] = prec


def _regimen_text(rng, t, c, log):
    tl = t["treatment_lines"]
    ind = tl["phase"].eq("induction").to_numpy()
    centre = c["center_num"][tl["_row"].to_numpy()]
    out = tl["regimen_text"].to_numpy(dtype=object).copy()
    for code, variants in REGIMEN_VARIANTS.items():
        hit = ind & (tl["regimen_code"].to_numpy() == code)
        # Each centre writes a small set of its own variants.
        k = (centre[hit] * 7 + rng.integers(0, 2, hit.sum())) % len(variants)
        out[hit] = np.asarray(variants, dtype=object)[k]
    changed = out != tl["regimen_text"].to_numpy(dtype=object)
    tl["regimen_text"] = out
    log.add("regimen_text_variant", "treatment_lines", tl.loc[changed, "patient_id"],
            "regimen_text", False)


def _date_order(rng, t, c, log):
    """0.3% of patients get an impossible ordering, kept for the validator to catch."""
    n = c["t0_day"].size
    hit = np.flatnonzero(rng.random(n) < 0.003)
    kind = rng.integers(0, 3, hit.size)
    ids = c["ids"]
    tr, fu, ep = t["transplants"], t["followup"], t["maintenance_episodes"]
    for row, k in zip(hit, kind, strict=True):
        pid = ids[row]
        if k == 2 and not (ep["patient_id"] == pid).any():
            k = 0
        if k == 1 and fu.loc[row, "vital_status"] != "dead":
            k = 0
        if k == 0:  # ASCT before induction start
            m = (tr["patient_id"] == pid) & (tr["transplant_seq"] == 1)
            ind = t["patients"].loc[row, "induction_start_date"]
            tr.loc[m, "infusion_date"] = _shift_days(pd.Series([ind]), -int(rng.integers(5, 60)))[0]
            log.add("date_order", "transplants", [pid], "infusion_date", True)
        elif k == 1:  # a clinic contact recorded after death
            fu.loc[row, "last_contact_date"] = _shift_days(
                pd.Series([fu.loc[row, "death_date"]]), int(rng.integers(10, 200)))[0]
            fu.loc[row, "death_date_precision"] = "day"
            fu.loc[row, "death_date"] = _shift_days(pd.Series([fu.loc[row, "death_date"]]), 0)[0]
            log.add("date_order", "followup", [pid], "death_date", True)
        else:  # maintenance start before ASCT
            m = ep["patient_id"] == pid
            asct = tr.loc[(tr["patient_id"] == pid) & (tr["transplant_seq"] == 1),
                          "infusion_date"].iloc[0]
            ep.loc[m, "start_date"] = _shift_days(pd.Series([asct]), -int(rng.integers(5, 40)))[0]
            log.add("date_order", "maintenance_episodes", [pid], "start_date", True)


DUP_TABLES = ("patients", "baseline_labs", "transplants", "treatment_lines", "followup")
DATE_COLS = {
    "patients": ["diagnosis_date", "induction_start_date", "consent_date"],
    "baseline_labs": ["sample_date"],
    "transplants": ["infusion_date"],
    "treatment_lines": ["start_date", "end_date"],
    "followup": ["last_contact_date", "death_date"],
}


def _duplicates(rng, t, c, log):
    """0.5% of patients registered twice (a transfer), at another centre, dates shifted."""
    n = c["t0_day"].size
    dup = np.flatnonzero(rng.random(n) < 0.005)
    if dup.size == 0:
        return
    new_ids = dict(zip(c["ids"][dup], c["dup_ids"][dup], strict=True))
    shift = dict(zip(c["ids"][dup], rng.integers(-20, 21, dup.size), strict=True))
    for table in DUP_TABLES:
        df = t[table]
        part = df[df["patient_id"].isin(new_ids)].copy()
        days = part["patient_id"].map(shift).to_numpy()
        for col in DATE_COLS[table]:
            has = part[col].notna()
            part.loc[has, col] = _shift_days(part.loc[has, col], days[has.to_numpy()])
            if f"{col}_precision" in part:
                part.loc[has, f"{col}_precision"] = "day"
        if table == "patients":
            centre = part["center_id"].str.slice(1).astype(int)
            part["center_id"] = [f"C{(k % 10) + 1:02d}" for k in centre]
        if table == "treatment_lines":
            part = part[part["phase"] == "induction"]
        part["patient_id"] = part["patient_id"].map(new_ids)
        part["_row"] = -1
        t[table] = pd.concat([df, part], ignore_index=True)
    log.add("duplicate_patient", "patients", list(new_ids.values()), "patient_id", True, "warning")
