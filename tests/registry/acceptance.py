"""The 24 acceptance figures of docs/registry.md §7, computed from an extract's RAW tables.

Independent of the generator: this reads the files with pandas, derives dates of induction,
progression, death and last contact as an analyst would, and uses lifelines (Kaplan–Meier,
log-rank, Cox) for every survival figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test

MONTH = 30.4375
EVALUABLE = ("detected", "not_detected")

#: check -> (figure key(s), low, high, published target or None)
BANDS = {
    1: ("lm_pct", 53, 62, 57.6),
    2: ("pfs_median_lm", 53, 64, 58.2),
    3: ("pfs_median_nolm", 31, 38.5, 34.6),
    4: ("os_median_nolm", 84, 122, 98),
    6: ("logrank_pfs_p", 0, 1e-4, None),
    7: ("logrank_os_p", 0, 1e-3, None),
    "8a": ("followup_median_lm", 44, 52, 49),
    "8b": ("followup_median_nolm", 42, 50, 45),
    9: ("hr_pfs_lm", 0.40, 0.62, 0.50),
    "9b": ("hr_os_lm", 0.50, 0.80, 0.65),
    10: ("pfs_median_from_lm", 42, 56, 48.5),
    11: ("hr_gain1q", 1.1, 2.0, 1.5),
    12: ("hr_hrca_lm", 1.4, 2.6, 1.91),
    15: ("nrm_12m_pct", 0.8, 2.5, 1.7),
    16: ("lm_duration_median", 22, 40, 35.0),
    17: ("lm_tox_stop_pct", 0, 20, 15.1),
    18: ("dose_below_10_pct", 33, 49, 41),
    "19a": ("spm_5y_lm_pct", 4, 10, 6.9),
    "19b": ("spm_5y_nolm_pct", 2, 7, 4.8),
    20: ("fish_missing_pct", 15, 35, 25),
    21: ("cindex_lm", 0.58, 0.68, 0.63),
    22: ("asct_to_lm_median", 2.8, 4.0, 3.3),
    23: ("vgpr_day100_pct", 55, 66, 60),
    24: ("mel140_pct", 9, 17, 12.5),
}
R2ISS_TARGET = {"I": 19.2, "II": 30.8, "III": 41.2, "IV": 8.8}


def read_tables(path: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for f in Path(path).iterdir():
        if f.suffix == ".parquet":
            out[f.stem] = pd.read_parquet(f)
        elif f.suffix == ".csv":
            out[f.stem] = pd.read_csv(f, dtype=str, keep_default_na=False).replace("", np.nan)
    return out


def _date(s):
    return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")


def _num(s):
    return pd.to_numeric(s, errors="coerce")


def _km_median(t, e):
    km = KaplanMeierFitter().fit(np.asarray(t, float), np.asarray(e, bool))
    return float(km.median_survival_time_)


def _cox_hr(df, duration, event, covariate):
    cph = CoxPHFitter().fit(df, duration_col=duration, event_col=event)
    return float(np.exp(cph.params_[covariate]))


def patient_frame(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient: dates, groups, endpoints and baseline covariates from raw tables."""
    p = t["patients"].set_index("patient_id")
    df = pd.DataFrame(index=p.index)
    df["t0"] = _date(p["induction_start_date"])
    tr = t["transplants"]
    first = tr[_num(tr["transplant_seq"]) == 1]
    df["asct"] = _date(first.set_index("patient_id")["infusion_date"]).reindex(df.index)
    df["mel140"] = first.set_index("patient_id")["conditioning"].reindex(df.index) == "MEL140"
    ep = t["maintenance_episodes"]
    epi = ep.assign(s=_date(ep["start_date"]), e=_date(ep["end_date"])).groupby("patient_id")
    df["lm_start"] = epi["s"].min().reindex(df.index)
    df["lm_end"] = epi["e"].max().reindex(df.index)
    first_ep = ep.drop_duplicates("patient_id").set_index("patient_id")
    df["lm_reason"] = first_ep["reason_stopped"].reindex(df.index)
    df["lm_dose"] = _num(first_ep["starting_dose_mg"]).reindex(df.index)
    df["lm"] = df["lm_start"].notna()
    ev = t["disease_events"]
    df["prog"] = _date(ev["event_date"]).groupby(ev["patient_id"]).min().reindex(df.index)
    fu = t["followup"].set_index("patient_id")
    df["last"] = _date(fu["last_contact_date"]).reindex(df.index)
    df["death"] = _date(fu["death_date"]).reindex(df.index)
    traced_alive = ((fu["status_source"] == "provincial_registry")
                    & (fu["vital_status"] == "alive")).reindex(df.index).fillna(False)
    clinic_death = df["death"].where(df["death"] <= df["last"])
    pfs_date = pd.concat([df["prog"], clinic_death], axis=1).min(axis=1)
    df["pfs_event"] = pfs_date.notna()
    df["pfs_end"] = pfs_date.fillna(df["last"])
    df["os_event"] = df["death"].notna()
    df["os_end"] = df["death"].fillna(df["last"].where(~traced_alive, pd.Timestamp("2018-01-31")))
    df["pfs"] = (df["pfs_end"] - df["t0"]).dt.days / MONTH
    df["os"] = (df["os_end"] - df["t0"]).dt.days / MONTH
    _add_covariates(df, t)
    return df


def _fish(t, df):
    cy = t["cytogenetics"]
    base = cy[cy["test_id"].str.endswith("F1") if "test_id" in cy else slice(None)]
    base = base.merge(df[["t0"]], left_on="patient_id", right_index=True)
    # Baseline = the test closest to T0 and no later than 60 days after it.
    base = base[_date(base["test_date"]) <= base["t0"] + pd.Timedelta(days=60)]
    res = base.pivot_table(index="patient_id", columns="abnormality", values="result",
                           aggfunc="first")
    return res.reindex(df.index)


def _add_covariates(df, t):
    lab = t["baseline_labs"].set_index("patient_id").reindex(df.index)
    b2m = _num(lab["beta2m_mg_L"]).where(lambda x: x.between(0.8, 40))
    alb = _num(lab["albumin_g_L"]).where(lambda x: x.between(15, 55))
    iss = pd.Series(np.nan, index=df.index)
    iss[b2m >= 5.5] = 3
    iss[(b2m < 5.5) & (b2m >= 3.5)] = 2
    iss[(b2m < 3.5) & (alb < 35)] = 2
    iss[(b2m < 3.5) & (alb >= 35)] = 1
    df["iss"] = iss
    ldh, uln = _num(lab["ldh_U_L"]), _num(lab["ldh_uln_U_L"])
    df["ldh_high"] = (ldh > uln).where(ldh.notna())
    fish = _fish(t, df)
    for ab, name in (("del17p", "del17p"), ("t(4;14)", "t414"), ("t(14;16)", "t1416"),
                     ("gain1q", "gain1q"), ("amp1q", "amp1q")):
        col = fish[ab] if ab in fish else pd.Series(np.nan, index=df.index)
        df[name] = (col == "detected").astype(float).where(col.isin(EVALUABLE))
    pats = t["patients"].set_index("patient_id").reindex(df.index)
    df["age"] = _num(pats["age_at_diagnosis"])
    df["female"] = (pats["sex"] == "F").astype(float)
    ra = t["response_assessments"]
    d100 = ra[ra["timepoint"] == "day100"].drop_duplicates("patient_id").set_index("patient_id")
    df["resp100"] = d100["imwg_response"].reindex(df.index)


def _cum_incidence_spm(t, df, group):
    spm = t["spm"]
    first = _date(spm["spm_date"]).groupby(spm["patient_id"]).min().reindex(df.index)
    end = pd.concat([df["death"], df["last"]], axis=1).min(axis=1)
    ev = first.notna() & (first <= end)
    stop = first.where(ev, end)
    tt = (stop - df["asct"]).dt.days / MONTH
    g = df[group] if isinstance(group, str) else group
    km = KaplanMeierFitter().fit(tt[g], ev[g])
    return 100 * (1 - float(km.survival_function_at_times(60).iloc[0]))


def acceptance_figures(path: Path) -> dict[str, float]:
    """Every figure of §7 for the extract at ``path``."""
    t = read_tables(path)
    df = patient_frame(t)
    lm = df["lm"].to_numpy()
    f = {"lm_pct": 100 * lm.mean()}
    f["pfs_median_lm"] = _km_median(df["pfs"][lm], df["pfs_event"][lm])
    f["pfs_median_nolm"] = _km_median(df["pfs"][~lm], df["pfs_event"][~lm])
    f["os_median_lm"] = _km_median(df["os"][lm], df["os_event"][lm])
    f["os_median_nolm"] = _km_median(df["os"][~lm], df["os_event"][~lm])
    f["logrank_pfs_p"] = logrank_test(df["pfs"][lm], df["pfs"][~lm], df["pfs_event"][lm],
                                      df["pfs_event"][~lm]).p_value
    f["logrank_os_p"] = logrank_test(df["os"][lm], df["os"][~lm], df["os_event"][lm],
                                     df["os_event"][~lm]).p_value
    # Time on study: induction start to death or last contact, median per group.
    on_study = (df["death"].fillna(df["last"]) - df["t0"]).dt.days / MONTH
    f["followup_median_lm"] = float(on_study[lm].median())
    f["followup_median_nolm"] = float(on_study[~lm].median())
    cox = df[["pfs", "pfs_event", "os", "os_event"]].assign(lm=lm.astype(float))
    f["hr_pfs_lm"] = _cox_hr(cox[["pfs", "pfs_event", "lm"]], "pfs", "pfs_event", "lm")
    f["hr_os_lm"] = _cox_hr(cox[["os", "os_event", "lm"]], "os", "os_event", "lm")
    lmdf = df[lm].copy()
    lmdf["pfs_lm"] = (lmdf["pfs_end"] - lmdf["lm_start"]).dt.days / MONTH
    f["pfs_median_from_lm"] = _km_median(lmdf["pfs_lm"], lmdf["pfs_event"])
    f.update(_risk_checks(df, lmdf))
    f.update(_treatment_checks(t, df, lmdf))
    return f


def _risk_checks(df, lmdf):
    f = {}
    cc = df.dropna(subset=["iss", "del17p", "t414", "t1416", "gain1q", "amp1q"])
    x = cc[["pfs", "pfs_event", "gain1q", "amp1q", "del17p", "t414", "t1416"]].assign(
        iss2=(cc["iss"] == 2).astype(float), iss3=(cc["iss"] == 3).astype(float))
    f["hr_gain1q"] = _cox_hr(x, "pfs", "pfs_event", "gain1q")
    hr = lmdf.dropna(subset=["del17p", "t414"])
    hrca = ((hr["del17p"] == 1) | (hr["t414"] == 1) | (hr["t1416"] == 1)).astype(float)
    f["hr_hrca_lm"] = _cox_hr(pd.DataFrame({"t": hr["pfs_lm"], "e": hr["pfs_event"],
                                            "hrca": hrca}), "t", "e", "hrca")
    for s in (1, 2, 3):
        g = df["iss"] == s
        f[f"pfs_median_iss{s}"] = _km_median(df["pfs"][g], df["pfs_event"][g])
    r2 = df.dropna(subset=["iss", "del17p", "t414", "ldh_high", "gain1q", "amp1q"])
    score = ((r2["iss"] == 2) * 1.0 + (r2["iss"] == 3) * 1.5 + r2["del17p"] + r2["ldh_high"]
             + r2["t414"] + 0.5 * ((r2["gain1q"] == 1) | (r2["amp1q"] == 1)))
    grp = pd.cut(score, [-0.1, 0.25, 1.25, 2.75, 6], labels=["I", "II", "III", "IV"])
    for g, share in grp.value_counts(normalize=True).items():
        f[f"r2iss_{g}_pct"] = 100 * share
    f["r2iss_complete_n"] = float(len(r2))
    f["fish_missing_pct"] = 100 * float((df["del17p"].isna() & df["t414"].isna()).mean())
    f["cindex_lm"] = _cindex_measured(lmdf)
    return f


def _cindex_measured(lmdf):
    x = pd.DataFrame({"t": lmdf["pfs_lm"], "e": lmdf["pfs_event"].astype(float)})
    x["age10"] = (lmdf["age"] - 58.5) / 10
    x["female"] = lmdf["female"]
    for s in (2, 3):
        x[f"iss{s}"] = (lmdf["iss"] == s).astype(float)
    x["iss_na"] = lmdf["iss"].isna().astype(float)
    for col in ("ldh_high", "del17p", "t414", "t1416", "gain1q", "amp1q"):
        x[col] = lmdf[col].fillna(0).astype(float)
        x[f"{col}_na"] = lmdf[col].isna().astype(float)
    for r in ("CR", "PR", "MR", "SD"):
        x[f"resp_{r}"] = lmdf["resp100"].isin([r, "sCR"] if r == "CR" else [r]).astype(float)
    x = x.loc[:, x.std() > 0]
    cph = CoxPHFitter(penalizer=0.01).fit(x, "t", "e")
    return float(cph.concordance_index_)


def _treatment_checks(t, df, lmdf):
    f = {}
    nrm = (df["death"].notna() & df["prog"].isna()
           & ((df["death"] - df["asct"]).dt.days <= 365.25))
    f["nrm_12m_pct"] = 100 * float(nrm.mean())
    end = lmdf["lm_end"]
    ended = end.notna()
    stop = end.where(ended, pd.concat([lmdf["last"], lmdf["death"]], axis=1).min(axis=1))
    f["lm_duration_median"] = _km_median((stop - lmdf["lm_start"]).dt.days / MONTH, ended)
    tox = lmdf["lm_reason"].isin(["toxicity_hematologic", "toxicity_nonhematologic"])
    f["lm_tox_stop_pct"] = 100 * float(tox.mean())
    dose = lmdf["lm_dose"].dropna()
    f["dose_below_10_pct"] = 100 * float((dose < 10).mean())
    f["spm_5y_lm_pct"] = _cum_incidence_spm(t, df, df["lm"])
    f["spm_5y_nolm_pct"] = _cum_incidence_spm(t, df, ~df["lm"])
    f["asct_to_lm_median"] = float(((lmdf["lm_start"] - lmdf["asct"]).dt.days / MONTH).median())
    r = df["resp100"].dropna()
    r = r[r != "NE"]
    f["vgpr_day100_pct"] = 100 * float(r.isin(["sCR", "CR", "VGPR", "nCR", "uCR"]).mean())
    f["mel140_pct"] = 100 * float(df["mel140"].mean())
    return f
