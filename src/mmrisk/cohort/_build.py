"""``build_cohort``: one row per eligible patient at a landmark, features known then, an endpoint.

The data path step 2 of docs/architecture.md. Every patient of the extract ends up either in the
analysis table or in the flow table with the first reason that excluded them. Cells that the
validator reports as errors (out of range, wrong unit, unknown code, unparseable) are set to
missing and counted in ``Cohort.issues``; they are never "fixed". A record dated after the
landmark is never used as a feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sksurv.util import Surv

from mmrisk.cohort._competing import competing_outcome
from mmrisk.config import CohortSpec
from mmrisk.conventions import CYTO_COLUMNS, MONTH_DAYS
from mmrisk.exceptions import ExtractError
from mmrisk.registry import TABLES, RegistryExtract, validate_extract

__all__ = ["Cohort", "build_cohort", "EXCLUSION_REASONS", "META_COLUMNS", "CYTO_COLUMNS"]

META_COLUMNS = ["patient_id", "site", "transplant_year", "lm_group", "time", "event"]

EXCLUSION_REASONS = {
    "duplicate_id": "duplicate patient_id (a later row of the same patient)",
    "possible_duplicate": "possible duplicate record of an earlier patient (other centre)",
    "no_induction_date": "missing or unparseable induction start date",
    "not_upfront_asct": "not transplanted upfront (no auto_upfront ASCT)",
    "no_asct_date": "missing or unparseable ASCT date",
    "date_order": "impossible order of key dates (see the validation report)",
    "no_followup": "missing outcome dates (no last contact and no death date)",
    "no_lm": "did not start lenalidomide maintenance",
    "event_before_landmark": "progressed or died before the landmark",
    "censored_before_landmark": "follow-up ended before the landmark",
}
# Cells with these error checks are unusable values: set to missing, counted.
_BAD_VALUE_CHECKS = ("range", "unit", "code", "type")
#: The competing-risks endpoint: progression (1) vs death without progression (2).
COMPETING_ENDPOINT = "progression_cr"
# Date-order errors on these tables concern the dates the cohort's clock is built from.
_CLOCK_TABLES = ("patients", "transplants", "maintenance_episodes", "disease_events", "followup")
_SUMMABLE_LABS = ["hemoglobin_g_L", "calcium_mmol_L", "creatinine_umol_L", "albumin_g_L",
                  "beta2m_mg_L", "ldh_U_L", "ldh_uln_U_L", "bm_plasma_cell_pct"]
_CATEGORICAL_LABS = ["heavy_chain", "bone_disease", "extramedullary_disease"]


@dataclass
class Cohort:
    """The analysis table of one landmark, with its flow and data issues.

    Built by :func:`build_cohort` (registry extract) or :func:`mmrisk.cohort.flat_cohort`
    (flat analysis table); the fields are stored as given.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per included patient: ``patient_id``, ``site``, ``transplant_year``,
        ``lm_group`` (metadata), the feature columns, ``time`` (months from the landmark) and
        ``event`` (bool; for the competing-risks endpoint ``progression_cr`` an integer code:
        0 censored, 1 progression, 2 death without progression).
    features : list of str
        The feature columns of ``data`` (what a model may learn from).
    flow : pandas.DataFrame
        CONSORT-style counts: ``step``, ``reason``, ``n``; the excluded counts plus the included
        count add up to the rows of the extract's ``patients`` table.
    status : pandas.DataFrame
        Every row of ``patients``: ``patient_id``, ``included`` and ``reason``.
    issues : pandas.DataFrame
        Values set to missing because the validator reported them as errors: ``table``,
        ``column``, ``check``, ``n``.
    spec : CohortSpec
        The specification the cohort was built with.
    group_by : str or None, default=None
        Column of ``data`` that groups Table 1 and the Kaplan–Meier figure. :func:`build_cohort`
        sets ``spec.group_by``, else ``lm_schedule`` at the ``lm_start`` landmark and
        ``lm_group`` otherwise; for a flat table, its ``group_column``.

    Attributes
    ----------
    X : pandas.DataFrame of shape (n_samples, n_features)
        The ``features`` columns of ``data``.
    y : structured ndarray of shape (n_samples,)
        The outcome (``event``, ``time``) as a scikit-survival structured array.
    meta : pandas.DataFrame of shape (n_samples, 4)
        ``patient_id``, ``site``, ``transplant_year`` and ``lm_group``, for splitting and
        grouping.
    """

    data: pd.DataFrame
    features: list[str]
    flow: pd.DataFrame
    status: pd.DataFrame
    issues: pd.DataFrame
    spec: CohortSpec
    group_by: str | None = field(default=None)

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 - the scikit-learn name
        """Feature columns only."""
        return self.data[self.features]

    @property
    def y(self) -> np.ndarray:
        """Structured outcome: (``event``, ``time``) for scikit-survival, or for the endpoint
        ``progression_cr`` the competing-risks outcome (integer ``event`` 0/1/2, ``time``)."""
        if self.spec.endpoint == COMPETING_ENDPOINT:
            return competing_outcome(self.data["event"].to_numpy(), self.data["time"].to_numpy())
        return Surv.from_arrays(event=self.data["event"].to_numpy(bool),
                                time=self.data["time"].to_numpy(float))

    @property
    def meta(self) -> pd.DataFrame:
        """Metadata for splitting and grouping (identifiers stay in the process)."""
        return self.data[["patient_id", "site", "transplant_year", "lm_group"]]


def _date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def _text(s: pd.Series) -> pd.Series:
    out = s.astype("string").str.strip()
    return out.where(out != "", pd.NA)


def _months(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days / MONTH_DAYS


def _clean_tables(extract: RegistryExtract, findings: pd.DataFrame
                  ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Copies of the tables with every cell the validator rejected set to missing."""
    bad = findings[(findings["severity"] == "error")
                   & findings["check"].isin(_BAD_VALUE_CHECKS)
                   & findings["row"].notna()]
    tables = {name: df.copy() for name, df in extract.tables.items()}
    for (table, column), group in bad.groupby(["table", "column"]):
        df = tables.get(table)
        if df is None or column not in df.columns:
            continue
        positions = group["row"].astype(int).to_numpy() - 1
        positions = positions[(positions >= 0) & (positions < len(df))]
        col = df.columns.get_loc(column)
        df[column] = df[column].astype(object)
        df.iloc[positions, col] = None
    issues = (bad.groupby(["table", "column", "check"]).size().reset_index(name="n")
              if len(bad) else pd.DataFrame(columns=["table", "column", "check", "n"]))
    return tables, issues


def _first_by_patient(df: pd.DataFrame, col: str, mask: pd.Series | None = None) -> pd.Series:
    d = df if mask is None else df[mask]
    return _date(d[col]).groupby(d["patient_id"]).min()


class _Exclusions:
    """The first exclusion reason of every patient row, in the order the checks are applied."""

    def __init__(self, n: int):
        self.reason = pd.Series([None] * n, dtype=object)

    def apply(self, mask: pd.Series | np.ndarray, key: str) -> None:
        mask = np.asarray(mask, dtype=bool) & self.reason.isna().to_numpy()
        self.reason[mask] = key

    @property
    def alive(self) -> np.ndarray:
        return self.reason.isna().to_numpy()


def _clock(tables: dict[str, pd.DataFrame], pid: pd.Series) -> pd.DataFrame:
    """Key dates of every patient row: T0, ASCT, LM start, progression, death, last contact."""
    pats = tables["patients"]
    tr = tables["transplants"]
    upfront = _text(tr["transplant_type"]) == "auto_upfront"
    fu = tables["followup"].drop_duplicates("patient_id").set_index("patient_id")
    ev = tables["disease_events"]
    return pd.DataFrame({
        "t0": _date(pats["induction_start_date"]).to_numpy(),
        "diagnosis": _date(pats["diagnosis_date"]).to_numpy(),
        "has_upfront": pid.isin(tr.loc[upfront.fillna(False), "patient_id"]).to_numpy(),
        "asct": pid.map(_first_by_patient(tr, "infusion_date", upfront.fillna(False))).to_numpy(),
        "lm_start": pid.map(_first_by_patient(tables["maintenance_episodes"], "start_date"))
        .to_numpy(),
        "prog": pid.map(_first_by_patient(ev, "event_date")).to_numpy(),
        "death": pid.map(_date(fu["death_date"])).to_numpy(),
        "last": pid.map(_date(fu["last_contact_date"])).to_numpy(),
    })


def _landmark(clock: pd.DataFrame, spec: CohortSpec) -> pd.Series:
    if spec.landmark == "induction":
        return clock["t0"]
    if spec.landmark == "post_asct":
        return clock["asct"] + pd.to_timedelta(spec.landmark_days, unit="D")
    return clock["lm_start"]


def _endpoint(clock: pd.DataFrame, spec: CohortSpec) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(end of follow-up, date of the endpoint event or NaT, date alive-and-progression-free ends).

    A death known only after the last clinic contact (provincial registry) is not a PFS/TTP
    event: progression status after the last contact is unknown, so PFS is censored there.
    """
    end = clock["last"].fillna(clock["death"])
    if spec.data_cut:
        end = end.where(end <= pd.Timestamp(spec.data_cut), pd.Timestamp(spec.data_cut))
    clinic_death = clock["death"].where(clock["death"] <= clock["last"].fillna(clock["death"]))
    first_bad = pd.concat([clock["prog"], clinic_death], axis=1).min(axis=1)
    if spec.endpoint in ("pfs", COMPETING_ENDPOINT):
        event = first_bad
    elif spec.endpoint == "ttp":
        event = clock["prog"]
        end = pd.concat([end, clinic_death], axis=1).min(axis=1)
    else:
        event = clock["death"]
        if spec.data_cut:
            event = event.where(event <= pd.Timestamp(spec.data_cut))
        end = end.where(event.isna(), event)
    event = event.where(event <= end) if spec.endpoint != "os" else event
    return end, event, pd.concat([clock["prog"], clock["death"]], axis=1).min(axis=1)


def _competing_codes(event_date: pd.Series, progression: pd.Series) -> np.ndarray:
    """0 censored, 1 progression first (a progression on the day of death counts as
    progression), 2 death without progression (a clinic death before any progression)."""
    code = np.where(event_date.isna(), 0, 2)
    return np.where(event_date.notna() & (progression == event_date), 1, code).astype(np.int64)


def _eligibility(findings, pid, clock, spec, landmark, end, first_bad) -> _Exclusions:
    ex = _Exclusions(len(pid))
    ex.apply(pid.duplicated(keep="first"), "duplicate_id")
    dups = findings.loc[findings["check"] == "duplicate_patient", "row"].dropna().astype(int) - 1
    ex.apply(pid.index.isin(dups), "possible_duplicate")
    ex.apply(clock["t0"].isna(), "no_induction_date")
    ex.apply(~clock["has_upfront"], "not_upfront_asct")
    ex.apply(clock["asct"].isna(), "no_asct_date")
    order_err = findings[(findings["check"] == "date_order") & (findings["severity"] == "error")
                         & findings["table"].isin(_CLOCK_TABLES)]["patient_id"]
    ex.apply(pid.isin(order_err) | (clock["asct"] < clock["t0"]), "date_order")
    ex.apply(clock["last"].isna() & clock["death"].isna(), "no_followup")
    if spec.landmark == "lm_start":
        ex.apply(clock["lm_start"].isna(), "no_lm")
    ex.apply(first_bad <= landmark, "event_before_landmark")
    ex.apply(end <= landmark, "censored_before_landmark")
    return ex


def _per_patient(values: pd.Series, pid: pd.Series) -> pd.Series:
    """``values`` (aligned with the patient rows) keyed by patient_id, first row per patient."""
    by_id = pd.Series(values.to_numpy(), index=pid.to_numpy())
    return by_id[~by_id.index.duplicated()]


def _cytogenetics(tables, pid: pd.Series, landmark: pd.Series) -> pd.DataFrame:
    """Per abnormality: detected > not_detected > failed > not_tested, from tests ≤ landmark.

    A patient with no evaluable record of an abnormality dated by the landmark is
    ``not_tested``; a NULL result is missing (NaN), never "not detected".
    """
    cy = tables["cytogenetics"]
    lm_by_pid = _per_patient(landmark, pid)
    known = _date(cy["test_date"]) <= cy["patient_id"].map(lm_by_pid)
    cy = cy[known.fillna(False)]
    rank = {"detected": 4, "not_detected": 3, "failed": 2, "not_tested": 1}
    result = _text(cy["result"])
    score = result.map(rank).astype(float).fillna(0.5)  # NULL result: below every status
    out = {}
    for code, column in CYTO_COLUMNS.items():
        sel = _text(cy["abnormality"]) == code
        best = score[sel.fillna(False)].groupby(cy.loc[sel.fillna(False), "patient_id"]).max()
        status = best.map({4: "detected", 3: "not_detected", 2: "failed", 1: "not_tested"})
        values = pid.map(status)
        tested = pid.isin(best.index)
        out[column] = values.where(tested, "not_tested").to_numpy(dtype=object)
        out[column][tested.to_numpy() & values.isna().to_numpy()] = None
    return pd.DataFrame(out)


def _response(tables, pid, landmark, timepoint: str) -> pd.Series:
    ra = tables["response_assessments"]
    lm_by_pid = _per_patient(landmark, pid)
    ok = (_text(ra["timepoint"]) == timepoint) & (
        _date(ra["assessment_date"]) <= ra["patient_id"].map(lm_by_pid))
    sel = ra[ok.fillna(False)].sort_values("assessment_date")
    return pid.map(_text(sel["imwg_response"]).groupby(sel["patient_id"]).last())


def _mrd(tables, pid, landmark) -> pd.Series:
    ra = tables["response_assessments"]
    lm_by_pid = _per_patient(landmark, pid)
    res = _text(ra["mrd_result"])
    ok = res.isin(["negative", "positive"]) & (
        _date(ra["assessment_date"]) <= ra["patient_id"].map(lm_by_pid))
    sel = ra[ok.fillna(False)].sort_values("assessment_date")
    last = res[ok.fillna(False)].reindex(sel.index).groupby(sel["patient_id"]).last()
    return pid.map(last).fillna("not_tested")


def _lines(tables, pid, clock, landmark) -> pd.DataFrame:
    tl = tables["treatment_lines"]
    start = _date(tl["start_date"])
    phase = _text(tl["phase"])
    known = start <= tl["patient_id"].map(_per_patient(landmark, pid))
    first = tl[(_num(tl["line_number"]) == 1) & known.fillna(False)]
    regimen = pid.map(_text(first["regimen_code"]).groupby(first["patient_id"]).first())
    asct = _per_patient(clock["asct"], pid)
    second = (phase == "induction") & (_num(tl["line_number"]) >= 2) & known.fillna(False) & (
        start <= tl["patient_id"].map(asct))
    return pd.DataFrame({
        "induction_regimen": regimen.to_numpy(dtype=object),
        "second_induction": pid.isin(tl.loc[second.fillna(False), "patient_id"]).astype(float)
        .where(regimen.notna().to_numpy()).to_numpy(),
    })


def _transplant(tables, pid, clock, landmark) -> pd.DataFrame:
    tr = tables["transplants"]
    typ = _text(tr["transplant_type"])
    lm_by_pid = _per_patient(landmark, pid)
    known = (_date(tr["infusion_date"]) <= tr["patient_id"].map(lm_by_pid)).fillna(False)
    up = tr[(typ == "auto_upfront").fillna(False) & known]
    tandem = tr[(typ == "auto_tandem").fillna(False) & known]
    asct_known = (clock["asct"] <= landmark).to_numpy()
    mel = pid.map(_num(up["melphalan_mg_m2"]).groupby(up["patient_id"]).first())
    return pd.DataFrame({
        "melphalan_mg_m2": mel.to_numpy(dtype=float),
        "tandem_asct": np.where(asct_known, pid.isin(tandem["patient_id"]).astype(float), np.nan),
        "months_dx_to_asct": np.where(asct_known, _months(clock["asct"], clock["diagnosis"]),
                                      np.nan),
    })


def _maintenance(tables, pid, clock) -> pd.DataFrame:
    me = tables["maintenance_episodes"].copy()
    me["_start"] = _date(me["start_date"])
    first = me.sort_values("_start").groupby("patient_id").first()
    return pd.DataFrame({
        "months_asct_to_lm": _months(clock["lm_start"], clock["asct"]).to_numpy(),
        "lm_start_dose_mg": pid.map(_num(first["starting_dose_mg"])).to_numpy(dtype=float),
        "lm_schedule": pid.map(_text(first["schedule"])).to_numpy(dtype=object),
    })


def _baseline(tables, pid, landmark) -> pd.DataFrame:
    """Demographics and diagnosis labs; a lab sample dated after the landmark is not used."""
    pats = tables["patients"]
    labs = tables["baseline_labs"].drop_duplicates("patient_id").set_index("patient_id")
    sample = pid.map(_date(labs["sample_date"]))
    usable = (sample <= landmark).to_numpy()
    out = {
        "age": _num(pats["age_at_diagnosis"]).to_numpy(),
        "sex": _text(pats["sex"]).to_numpy(dtype=object),
        "ecog": _num(pats["ecog_at_diagnosis"]).to_numpy(),
    }
    for col in _SUMMABLE_LABS:
        out[col] = np.where(usable, pid.map(_num(labs[col])).to_numpy(dtype=float), np.nan)
    for col in _CATEGORICAL_LABS:
        values = pid.map(_text(labs[col])).to_numpy(dtype=object)
        values[~usable] = None
        out[col] = values
    return pd.DataFrame(out)


def _features(tables, pid, clock, landmark, spec) -> pd.DataFrame:
    parts = [_baseline(tables, pid, landmark), _cytogenetics(tables, pid, landmark)]
    if spec.landmark != "induction":
        parts.append(_lines(tables, pid, clock, landmark))
        parts.append(_transplant(tables, pid, clock, landmark))
        parts.append(pd.DataFrame({
            "response_pre_asct": _response(tables, pid, landmark, "pre_ASCT").to_numpy(object),
            "response_day100": _response(tables, pid, landmark, "day100").to_numpy(object),
            "mrd_status": _mrd(tables, pid, landmark).to_numpy(object),
        }))
    if spec.landmark == "lm_start":
        parts.append(_maintenance(tables, pid, clock))
    feats = pd.concat(parts, axis=1)
    if spec.landmark == "post_asct":
        feats["lm_by_landmark"] = (clock["lm_start"] <= landmark).astype(float).to_numpy()
    return feats


def _group(clock: pd.DataFrame, landmark: pd.Series, spec: CohortSpec) -> np.ndarray:
    if spec.landmark == "post_asct":
        lm = (clock["lm_start"] <= landmark).to_numpy()
    else:
        lm = clock["lm_start"].notna().to_numpy()
    return np.where(lm, "LM", "no LM")


def _flow(status: pd.DataFrame) -> pd.DataFrame:
    rows = [{"step": "extract", "reason": "rows of the patients table", "n": len(status)}]
    counts = status.loc[~status["included"], "reason"].value_counts()
    for text in EXCLUSION_REASONS.values():
        if counts.get(text, 0):
            rows.append({"step": "excluded", "reason": text, "n": int(counts[text])})
    rows.append({"step": "included", "reason": "analysed at the landmark",
                 "n": int(status["included"].sum())})
    return pd.DataFrame(rows)


def _check_usable(extract: RegistryExtract) -> None:
    """Refuse an extract no cohort can come from: no patients, or dates in another format."""
    sources = getattr(extract, "source_files", {})
    if len(extract["patients"]) == 0:
        raise ExtractError(f"{sources.get('patients', 'patients')}: table 'patients' has no "
                           "rows (only a header); expected one row per patient")
    for table, df in extract.tables.items():
        for col in (c.name for c in TABLES[table].columns if c.dtype == "date"):
            if col not in df.columns or pd.api.types.is_datetime64_any_dtype(df[col]):
                continue
            text = df[col].dropna().astype(str).str.strip()
            text = text[text != ""]
            if len(text) and _date(text).isna().all():
                row = int(np.flatnonzero(df[col].notna().to_numpy())[0]) + 1
                raise ExtractError(
                    f"{sources.get(table, table)}: column {col!r} holds no ISO date "
                    f"(data row {row}: {text.iloc[0]!r}); dates must be written YYYY-MM-DD "
                    "(e.g. 2015-03-31), not DD/MM/YYYY or MM/DD/YYYY")


def build_cohort(extract: RegistryExtract, spec: CohortSpec | None = None,
                 findings: pd.DataFrame | None = None) -> Cohort:
    """Select the patients eligible at the landmark and compute their features and endpoint.

    Parameters
    ----------
    extract : RegistryExtract
        Registry tables, from :func:`mmrisk.registry.read_extract`.
    spec : CohortSpec, optional
        Landmark, endpoint and options (default: ``lm_start``, PFS).
    findings : pandas.DataFrame, optional
        The extract's validation report, if already computed (else it is computed here).

    Returns
    -------
    Cohort
        Analysis table, flow table, per-patient status and data issues.

    Raises
    ------
    mmrisk.exceptions.ExtractError
        If the ``patients`` table has no rows, or a date column holds values of which none is
        an ISO date (e.g. every date written DD/MM/YYYY); the message names file, column and
        row.
    """
    spec = spec or CohortSpec()
    _check_usable(extract)
    if findings is None:
        findings = validate_extract(extract)
    tables, issues = _clean_tables(extract, findings)
    pid = tables["patients"]["patient_id"].astype(str).reset_index(drop=True)
    for name in tables:
        tables[name] = tables[name].reset_index(drop=True)
    clock = _clock(tables, pid)
    landmark = _landmark(clock, spec)
    end, event_date, first_bad = _endpoint(clock, spec)
    ex = _eligibility(findings, pid, clock, spec, landmark, end, first_bad)
    event = event_date.notna().to_numpy()
    time = _months(event_date.where(event_date.notna(), end), landmark).to_numpy()

    feats = _features(tables, pid, clock, landmark, spec)
    drop = [c for c in spec.exclude_features if c in feats.columns]
    feats = feats.drop(columns=drop)
    features = list(feats.columns)
    site = tables["patients"]["center_id"].astype(str).to_numpy()
    data = pd.DataFrame({
        "patient_id": pid.to_numpy(),
        "site": site,
        "transplant_year": clock["asct"].dt.year.to_numpy(dtype=float),
        "lm_group": _group(clock, landmark, spec),
    })
    if spec.site_as_feature:
        feats.insert(0, "site_feature", site)
        features.insert(0, "site_feature")
    data = pd.concat([data, feats], axis=1)
    data["time"] = np.round(time, 4)
    data["event"] = event
    if spec.endpoint == COMPETING_ENDPOINT:
        data["event"] = _competing_codes(event_date, clock["prog"])
    keep = ex.alive
    status = pd.DataFrame({
        "patient_id": pid.to_numpy(),
        "included": keep,
        "reason": ex.reason.map(EXCLUSION_REASONS).to_numpy(dtype=object),
    })
    group_by = spec.group_by or ("lm_schedule" if spec.landmark == "lm_start" else "lm_group")
    return Cohort(data=data[keep].reset_index(drop=True), features=features, flow=_flow(status),
                  status=status, issues=issues, spec=spec, group_by=group_by)
