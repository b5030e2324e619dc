"""The extract validator: every check class, corruption properties, and detection of §6 defects.

Independent truths used here:

* the hand-written CLEAN fixture of ``conftest.py`` (no finding at all, in CSV, Parquet and
  Excel), changed one cell (or row, column, table) at a time, so that the place of the single
  defect is known before the validator runs;
* the generator's ``truth_defects`` file, for the detection rate on a default extract.

Which §6 defect classes are *detectable* by a validator that only sees the extract:

* detectable (check → class): ``code`` (legacy IMWG responses nCR/uCR), ``unit`` (albumin in g/dL,
  creatinine in mg/dL, β2M in nmol/L), ``range`` or ``unit`` (typos ×10 or ÷10 that leave the
  range; a creatinine typo ÷10 *is* a mg/dL-looking value), ``date_order`` (ASCT before
  induction, contact after death, maintenance before ASCT; labs sampled after T0 as a warning),
  ``iss_mismatch`` (warning, when β2M and albumin are recorded and plausible) and
  ``duplicate_patient`` (warning, same sex, birth year and baseline labs).
* not detectable: structural missingness (§6.1: an empty optional value is legal), the
  lead-time of ``next_line_proxy`` progression dates (the date is a plausible date and its
  source is coded honestly), free-text regimen variants (``regimen_text`` is free text; the coded
  ``regimen_code`` is what is checked), typos that stay inside the range (e.g. BMPC 45 → 4.5), and
  ISS disagreements whose labs are missing or themselves wrong. The truth file marks exactly these
  as ``detectable = False``; the tests below check that its flags agree with this list.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrisk.registry import read_extract, simulate_registry, validate_extract
from mmrisk.registry._spec import TABLE_ORDER, TABLES, UNIT_HINTS
from mmrisk.registry._validate import CHECKS, FINDING_COLUMNS, read_report, write_report

SETTINGS = settings(max_examples=5, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

Place = tuple[str, "int | None", "str | None", str]


def places(findings: pd.DataFrame, severity: str | None = None) -> set[Place]:
    """(table, row, column, check) of every finding (row/column None when table-level)."""
    if severity is not None:
        findings = findings[findings["severity"] == severity]
    return {(r.table, None if pd.isna(r.row) else int(r.row),
             None if pd.isna(r.column) else r.column, r.check)
            for r in findings.itertuples(index=False)}


def errors(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["severity"] == "error"]


def one(findings: pd.DataFrame, table: str, row: int | None, column: str, check: str) -> pd.Series:
    """The single finding at a place (fails if there is none or several)."""
    hit = findings[(findings["table"] == table) & (findings["column"] == column)
                   & (findings["check"] == check)]
    hit = hit[hit["row"].isna()] if row is None else hit[hit["row"] == row]
    assert len(hit) == 1, findings.to_string()
    return hit.iloc[0]


def columns_where(pred, tables=TABLE_ORDER) -> list[tuple[str, str]]:
    return [(t, c.name) for t in tables for c in TABLES[t].columns if pred(t, c)]


def spec_of(table: str, column: str):
    return TABLES[table].column(column)


def day_lo(date: str, precision) -> pd.Timestamp:
    """First day a (possibly coarse) date can stand for."""
    d = pd.Timestamp(date)
    if precision == "month":
        return d.replace(day=1)
    if precision == "year":
        return d.replace(month=1, day=1)
    return d


# ============================================================================================
# the clean fixture


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_clean_fixture_has_no_finding_in_any_format(clean_dirs, fmt):
    findings = validate_extract(read_extract(clean_dirs[fmt]))
    assert list(findings.columns) == list(FINDING_COLUMNS)
    assert findings.empty, findings.to_string()


def test_validator_never_modifies_its_input(make_tables):
    tables = make_tables()
    tables["baseline_labs"].loc[0, "creatinine_umol_L"] = "1.2"
    tables["patients"].loc[1, "sex"] = "X"
    before = copy.deepcopy(tables)
    findings = validate_extract(tables)
    assert len(errors(findings)) == 2
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(tables[name], before[name])


def test_header_only_tables_give_one_empty_table_finding_each(make_tables, writers, tmp_path):
    # issue 16: "table has no rows" instead of silence (or thousands of foreign-key errors)
    tables = {name: df.iloc[:0] for name, df in make_tables().items()}
    expected = {(name, None, None, "empty_table") for name in TABLE_ORDER}
    for f in (validate_extract(tables),
              validate_extract(read_extract(writers["parquet"](tables, tmp_path)))):
        assert places(f) == expected
        assert set(f.loc[f["severity"] == "error", "table"]) == {"centers", "patients"}
        assert f["message"].str.endswith("has no rows (only a header)").all()


def test_header_only_patients_is_one_error_not_a_foreign_key_error_per_row(make_tables):
    tables = make_tables()
    tables["patients"] = tables["patients"].iloc[:0]
    f = validate_extract(tables)
    assert places(f, "error") == {("patients", None, None, "empty_table")}


def test_unusual_parquet_types_are_reported_not_crashed_on(clean_dirs, tmp_path):
    t = {name: pd.read_parquet(clean_dirs["parquet"] / f"{name}.parquet") for name in TABLE_ORDER}
    t["patients"]["sex"] = t["patients"]["sex"].astype("category")
    t["patients"]["diagnosis_date"] = t["patients"]["diagnosis_date"].dt.tz_localize("UTC")
    t["baseline_labs"]["calcium_mmol_L"] = pd.to_timedelta([1, 2, 3, 4], unit="D")
    t["spm"]["invasive"] = [[1]]
    for name, df in t.items():
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    f = validate_extract(read_extract(tmp_path))
    assert places(f) == {("baseline_labs", r, "calcium_mmol_L", "type") for r in (1, 2, 3, 4)} | {
        ("spm", 1, "invasive", "type")}


# ============================================================================================
# one example per check class, with the message a user reads


def test_type_error_names_the_value(make_tables):
    t = make_tables()
    t["baseline_labs"].loc[1, "hemoglobin_g_L"] = "9,8"
    t["patients"].loc[2, "diagnosis_date"] = "2011/07/01"
    t["followup"].loc[3, "lost_to_followup"] = "maybe"
    t["patients"].loc[0, "birth_year"] = "1955.5"
    f = validate_extract(t)
    assert places(f) == {("baseline_labs", 2, "hemoglobin_g_L", "type"),
                         ("patients", 3, "diagnosis_date", "type"),
                         ("followup", 4, "lost_to_followup", "type"),
                         ("patients", 1, "birth_year", "type")}
    hb = one(f, "baseline_labs", 2, "hemoglobin_g_L", "type")
    assert (hb["patient_id"], hb["value"], hb["severity"]) == ("P002", "9,8", "error")
    assert hb["message"] == "'9,8' is not a number"
    assert "ISO date" in one(f, "patients", 3, "diagnosis_date", "type")["message"]


def test_required_value_missing(make_tables):
    t = make_tables()
    t["transplants"].loc[2, "infusion_date"] = np.nan
    f = validate_extract(t)
    assert places(f) == {("transplants", 3, "infusion_date", "not_null")}
    assert one(f, "transplants", 3, "infusion_date", "not_null")["patient_id"] == "P002"


def test_code_and_legacy_imwg_hint(make_tables):
    t = make_tables()
    t["patients"].loc[0, "sex"] = "male"
    t["response_assessments"].loc[0, "imwg_response"] = "nCR"
    t["transplants"].loc[0, "response_pre_asct"] = "uCR"
    f = validate_extract(t)
    assert places(f) == {("patients", 1, "sex", "code"),
                         ("response_assessments", 1, "imwg_response", "code"),
                         ("transplants", 1, "response_pre_asct", "code")}
    assert one(f, "patients", 1, "sex", "code")["message"] == (
        "'male' is not an allowed code; expected one of M, F")
    assert "legacy IMWG code" in one(f, "response_assessments", 1, "imwg_response",
                                     "code")["message"]
    assert "CR (unconfirmed)" in one(f, "transplants", 1, "response_pre_asct", "code")["message"]


def test_range_error(make_tables):
    t = make_tables()
    t["baseline_labs"].loc[0, "hemoglobin_g_L"] = "1100"
    t["patients"].loc[3, "ecog_at_diagnosis"] = "5"
    f = validate_extract(t)
    assert places(f) == {("baseline_labs", 1, "hemoglobin_g_L", "range"),
                         ("patients", 4, "ecog_at_diagnosis", "range")}
    assert one(f, "baseline_labs", 1, "hemoglobin_g_L", "range")["message"] == (
        "'1100' is outside the range 50–170 g/L")


@pytest.mark.parametrize(("column", "value", "unit"), [
    ("creatinine_umol_L", "1.2", "mg/dL"),  # the issue's example
    ("albumin_g_L", "3.4", "g/dL"),
    ("beta2m_mg_L", "254", "nmol/L"),
    ("hemoglobin_g_L", "11.2", "g/dL"),
    ("calcium_mmol_L", "9.6", "mg/dL"),
])
def test_si_unit_error(make_tables, column, value, unit):
    t = make_tables()
    t["baseline_labs"].loc[2, column] = value
    f = validate_extract(t)
    assert places(f) == {("baseline_labs", 3, column, "unit")}
    finding = one(f, "baseline_labs", 3, column, "unit")
    assert finding["severity"] == "error" and finding["value"] == value
    assert unit in finding["message"]


def test_unique_key_names_the_first_row(make_tables):
    t = make_tables()
    cy = t["cytogenetics"]
    t["cytogenetics"] = pd.concat([cy, cy.iloc[[1]]], ignore_index=True)
    t["patients"].loc[3, "patient_id"] = "P003"  # also breaks the foreign key of P004's rows
    f = validate_extract(t)
    key = one(f, "cytogenetics", 6, "patient_id+test_id+abnormality", "unique_key")
    assert key["value"] == "P001, T1, t(4;14)"
    assert key["message"].endswith("first seen on row 2")
    assert ("patients", 4, "patient_id", "unique_key") in places(f)


def test_foreign_keys(make_tables):
    t = make_tables()
    t["patients"].loc[1, "center_id"] = "C99"
    t["maintenance_dose_changes"].loc[2, "episode_id"] = "P004-M9"
    t["spm"].loc[0, "patient_id"] = "P777"
    f = validate_extract(t)
    assert places(f) == {("patients", 2, "center_id", "foreign_key"),
                         ("maintenance_dose_changes", 3, "episode_id", "foreign_key"),
                         ("spm", 1, "patient_id", "foreign_key")}
    assert one(f, "spm", 1, "patient_id", "foreign_key")["message"] == (
        "'P777' is not a patient_id of table patients")


def test_date_precision_convention_and_presence(make_tables):
    t = make_tables()
    t["patients"].loc[0, "diagnosis_date_precision"] = "month"  # 2010-03-04 is not on day 15
    t["followup"].loc[1, "last_contact_date_precision"] = "year"  # 2017-11-20 is not 07-01
    t["followup"].loc[3, "death_date_precision"] = np.nan  # death date without precision
    t["treatment_lines"].loc[4, "end_date_precision"] = "day"  # precision without a date
    f = validate_extract(t)
    assert places(f) == {("patients", 1, "diagnosis_date_precision", "precision"),
                         ("followup", 2, "last_contact_date_precision", "precision"),
                         ("followup", 4, "death_date_precision", "precision"),
                         ("treatment_lines", 5, "end_date_precision", "precision")}
    assert set(f["severity"]) == {"warning"}
    assert "stored on day 15" in one(f, "patients", 1, "diagnosis_date_precision",
                                     "precision")["message"]


def test_iss_recorded_against_computed(make_tables):
    t = make_tables()
    t["baseline_labs"].loc[0, "iss_recorded"] = "III"  # β2M 2.9, albumin 38.2: ISS I
    f = validate_extract(t)
    finding = one(f, "baseline_labs", 1, "iss_recorded", "iss_mismatch")
    assert finding["severity"] == "warning"
    assert finding["message"] == ("recorded ISS III but β2M 2.9 mg/L and albumin 38.2 g/L give "
                                  "ISS I")
    assert len(f) == 1


def test_possible_duplicate_patient(make_tables):
    t = make_tables()
    dup = t["patients"].iloc[[0]].assign(patient_id="P101", center_id="C02")
    t["patients"] = pd.concat([t["patients"], dup], ignore_index=True)
    labs = t["baseline_labs"].iloc[[0]].assign(patient_id="P101")
    t["baseline_labs"] = pd.concat([t["baseline_labs"], labs], ignore_index=True)
    f = validate_extract(t)
    assert places(f) == {("patients", 5, "patient_id", "duplicate_patient")}
    assert one(f, "patients", 5, "patient_id", "duplicate_patient")["message"].startswith(
        "possible duplicate of patient P001 (row 1)")


def test_duplicate_patient_with_empty_labs(make_tables):
    """Empty labs match empty labs (P003 has no LDH; here no albumin either), but three labs
    must be recorded."""
    t = make_tables()
    t["baseline_labs"].loc[2, "albumin_g_L"] = np.nan
    for name in ("patients", "baseline_labs"):
        t[name] = pd.concat([t[name], t[name].iloc[[2]].assign(patient_id="P103")],
                            ignore_index=True)
    assert places(validate_extract(t)) == {("patients", 5, "patient_id", "duplicate_patient")}
    sparse = ["calcium_mmol_L", "creatinine_umol_L", "albumin_g_L", "beta2m_mg_L"]
    t["baseline_labs"].loc[[2, 4], sparse] = np.nan  # only hemoglobin recorded
    assert validate_extract(t).empty


def test_missing_and_unknown_columns_and_tables(make_tables):
    t = make_tables()
    del t["spm"]
    t["patients"] = t["patients"].drop(columns="sex")
    t["followup"]["comment"] = "x"
    f = validate_extract(t)
    assert places(f) == {("spm", None, None, "missing_table"),
                         ("patients", None, "sex", "missing_column"),
                         ("followup", None, "comment", "unknown_column")}
    assert one(f, "followup", None, "comment", "unknown_column")["severity"] == "warning"


def test_missing_column_message_names_the_file(tmp_path, make_tables, writers):
    t = make_tables()
    t["transplants"] = t["transplants"].drop(columns="infusion_date")
    with pd.ExcelWriter(tmp_path / "book.xlsx", engine="openpyxl") as xl:
        for name, df in t.items():
            df.astype(object).where(df.notna(), None).to_excel(xl, sheet_name=name, index=False)
    for path, source in ((writers["csv"](t, tmp_path / "csv"), "transplants.csv"),
                         (tmp_path / "book.xlsx", "book.xlsx#transplants")):
        f = validate_extract(read_extract(path))
        assert places(f) == {("transplants", None, "infusion_date", "missing_column")}
        assert one(f, "transplants", None, "infusion_date", "missing_column")["message"] == (
            f"required column 'infusion_date' is missing from table 'transplants' ({source})")


# ============================================================================================
# date order


def test_each_issue_ordering_is_checked(make_tables):
    """diagnosis ≤ induction ≤ ASCT ≤ maintenance start ≤ progression; death and last contact
    after every event; start ≤ end of a line or a maintenance episode."""
    cases = [
        ("patients", 0, "induction_start_date", "2010-02-01"),  # before diagnosis
        ("transplants", 0, "infusion_date", "2010-03-01"),  # before induction
        ("maintenance_episodes", 0, "start_date", "2010-07-01"),  # before ASCT
        ("disease_events", 0, "event_date", "2010-10-01"),  # before maintenance start
        ("followup", 0, "death_date", "2013-03-01"),  # before progression
        ("followup", 1, "last_contact_date", "2013-04-02"),  # before maintenance start
        ("maintenance_episodes", 3, "end_date", "2014-06-01"),  # before its own start
        ("treatment_lines", 0, "end_date", "2010-03-02"),  # before its own start
    ]
    for table, row, column, value in cases:
        t = make_tables()
        t[table].loc[row, column] = value
        f = validate_extract(t)
        assert places(f) == {(table, row + 1, column, "date_order")}, (table, column)
        assert places(f, "error") == places(f), (table, column)


def test_consent_and_other_events_before_last_contact_and_death(make_tables):
    t = make_tables()
    t["patients"].loc[0, "consent_date"] = "2015-03-01"  # after P001's last contact
    t["spm"].loc[0, "spm_date"] = "2015-04-01"  # after P001's death
    f = validate_extract(t)
    assert places(f) == {("followup", 1, "last_contact_date", "date_order"),
                         ("followup", 1, "death_date", "date_order")}
    messages = " | ".join(f["message"])
    assert "patients.consent_date (2015-03-01)" in messages
    assert "the last spm.spm_date (2015-04-01)" in messages


def test_lab_after_t0_is_a_warning(make_tables):
    t = make_tables()
    t["baseline_labs"].loc[3, "sample_date"] = "2013-03-01"
    f = validate_extract(t)
    finding = one(f, "patients", 4, "induction_start_date", "date_order")
    assert finding["severity"] == "warning" and len(f) == 1


def test_coarse_dates_get_the_benefit_of_the_doubt(make_tables):
    # P003's progression is 2013-04-15 with month precision: any day of April 2013.
    t = make_tables()
    t["transplants"].loc[3, "infusion_date"] = "2013-04-30"
    assert validate_extract(t).empty
    t["transplants"].loc[3, "infusion_date"] = "2013-05-01"
    assert places(validate_extract(t)) == {("disease_events", 2, "event_date", "date_order")}
    # P003's last contact is 2014-07-01 with year precision: any day of 2014.
    t = make_tables()
    t["treatment_lines"].loc[4, ["start_date", "start_date_precision"]] = ["2014-12-31", "day"]
    assert validate_extract(t).empty
    t["treatment_lines"].loc[4, "start_date"] = "2015-01-02"
    assert places(validate_extract(t)) == {("followup", 3, "last_contact_date", "date_order")}


def test_mixed_precision_uses_the_tightest_sure_bound(make_tables):
    # P001 dies 2015-03-10. Two more progressions: "March 2015" (month) and 2015-03-12 (day).
    # The latest sure event is 03-12, after death, although the month date sorts later.
    t = make_tables()
    extra = t["disease_events"].iloc[[0, 0]].assign(
        event_date=["2015-03-15", "2015-03-12"], event_date_precision=["month", "day"])
    t["disease_events"] = pd.concat([t["disease_events"], extra], ignore_index=True)
    t["followup"].loc[0, "last_contact_date"] = "2015-03-10"
    f = validate_extract(t)
    assert places(f) == {("followup", 1, "death_date", "date_order"),
                         ("followup", 1, "last_contact_date", "date_order")}
    assert "(2015-03-12)" in one(f, "followup", 1, "death_date", "date_order")["message"]


def test_same_day_is_in_order(make_tables):
    t = make_tables()
    t["transplants"].loc[0, "infusion_date"] = "2010-03-20"  # = induction start
    t["followup"].loc[0, "last_contact_date"] = "2015-03-10"  # = death
    assert validate_extract(t).empty


# ============================================================================================
# property-based corruption: one defect at a random place → the report names exactly that place

_PARENT_KEYS = {("centers", "center_id"), ("patients", "patient_id"),
                ("maintenance_episodes", "episode_id")}
_TYPED = columns_where(lambda t, c: c.dtype in ("int", "float", "date", "bool"))
_REQUIRED = columns_where(lambda t, c: not c.nullable and (t, c.name) not in _PARENT_KEYS)
_CODED = columns_where(lambda t, c: c.allowed is not None)
_RANGED = columns_where(lambda t, c: c.dtype in ("int", "float") and c.min is not None)
_UNITS = [("baseline_labs", c) for c in UNIT_HINTS]
_FOREIGN = [(t, c) for t in TABLE_ORDER for c in TABLES[t].foreign_keys]
_PRECISE = columns_where(lambda t, c: c.dtype == "date"
                         and f"{c.name}_precision" in TABLES[t].column_names)
_ALL_COLUMNS = columns_where(lambda t, c: True)
_BAD_TEXT = ["abc", "n/a", "?", "1..2", "12 mg", "--"]
_BAD_CODE = ["zz", "??", "Other", "N/A", "x y"]


def _cell(data, tables, candidates, *, present: bool = False) -> tuple[str, int, str]:
    """Draw a table, column and row (optionally a row where the value is present: a value put
    in an empty date cell would also leave its empty precision wrong, a second defect)."""
    pool = [(t, c, r) for t, c in candidates for r in range(len(tables[t]))
            if not present or pd.notna(tables[t].loc[r, c])]
    return data.draw(st.sampled_from(pool))


def _type(data, t):
    table, col, row = _cell(data, t, _TYPED, present=True)
    t[table].loc[row, col] = data.draw(st.sampled_from(_BAD_TEXT))
    return {(table, row + 1, col, "type")}


def _not_null(data, t):
    table, col, row = _cell(data, t, _REQUIRED)
    t[table].loc[row, col] = np.nan
    return {(table, row + 1, col, "not_null")}


def _code(data, t):
    table, col, row = _cell(data, t, _CODED, present=True)
    t[table].loc[row, col] = data.draw(st.sampled_from(_BAD_CODE))
    return {(table, row + 1, col, "code")}


def _range(data, t):
    table, col, row = _cell(data, t, _RANGED, present=True)
    spec = spec_of(table, col)
    far = data.draw(st.integers(1, 10_000))
    # Far enough outside the range to be outside every unit hint as well.
    value = spec.max * 1000 + far if data.draw(st.booleans()) else spec.min - abs(spec.min) - far
    t[table].loc[row, col] = str(int(value)) if spec.dtype == "int" else f"{value:g}"
    return {(table, row + 1, col, "range")}


def _unit(data, t):
    table, col, row = _cell(data, t, _UNITS, present=True)
    lo, hi, _ = UNIT_HINTS[col]
    value = data.draw(st.floats(lo, hi).map(lambda v: round(v, 1)).filter(
        lambda v: lo <= v <= hi))
    t[table].loc[row, col] = f"{value:g}"
    return {(table, row + 1, col, "unit")}


def _unique_key(data, t):
    table = data.draw(st.sampled_from([n for n in TABLE_ORDER if len(t[n])]))
    row = data.draw(st.integers(0, len(t[table]) - 1))
    t[table] = pd.concat([t[table], t[table].iloc[[row]]], ignore_index=True)
    return {(table, len(t[table]), "+".join(TABLES[table].key), "unique_key")}


def _foreign_key(data, t):
    table, col, row = _cell(data, t, _FOREIGN, present=True)
    t[table].loc[row, col] = data.draw(st.sampled_from(["ZZ999", "P0001", "C1", "p001"]))
    return {(table, row + 1, col, "foreign_key")}


def _precision(data, t):
    pool = [(tb, c, r) for tb, c in _PRECISE for r in range(len(t[tb]))
            if t[tb].loc[r, f"{c}_precision"] == "day"]
    table, col, row = data.draw(st.sampled_from(pool))
    t[table].loc[row, f"{col}_precision"] = data.draw(st.sampled_from(["month", "year"]))
    return {(table, row + 1, f"{col}_precision", "precision")}


def _iss(data, t):
    labs = t["baseline_labs"]
    row = data.draw(st.integers(0, len(labs) - 1))
    b2m, alb = float(labs.loc[row, "beta2m_mg_L"]), float(labs.loc[row, "albumin_g_L"])
    computed = "III" if b2m >= 5.5 else "I" if b2m < 3.5 and alb >= 35 else "II"
    labs.loc[row, "iss_recorded"] = data.draw(st.sampled_from(
        [s for s in ("I", "II", "III") if s != computed]))
    return {("baseline_labs", row + 1, "iss_recorded", "iss_mismatch")}


def _duplicate(data, t):
    row = data.draw(st.integers(0, len(t["patients"]) - 1))
    new_id = data.draw(st.sampled_from(["P900", "P1001", "X1"]))
    for name in ("patients", "baseline_labs"):
        src = t[name][t[name]["patient_id"] == t["patients"].loc[row, "patient_id"]]
        t[name] = pd.concat([t[name], src.assign(patient_id=new_id)], ignore_index=True)
    return {("patients", len(t["patients"]), "patient_id", "duplicate_patient")}


def _missing_column(data, t):
    table, col = data.draw(st.sampled_from(_ALL_COLUMNS))
    t[table] = t[table].drop(columns=col)
    return {(table, None, col, "missing_column")}


def _unknown_column(data, t):
    table = data.draw(st.sampled_from(TABLE_ORDER))
    name = data.draw(st.sampled_from(["notes", "Sex", "patient id", "extra_1"]))
    t[table][name] = "x"
    return {(table, None, name, "unknown_column")}


def _missing_table(data, t):
    table = data.draw(st.sampled_from(TABLE_ORDER))
    del t[table]
    return {(table, None, None, "missing_table")}


def _empty_table(data, t):
    """A header-only root table: one finding, not one foreign-key error per child row."""
    table = data.draw(st.sampled_from(["centers", "patients"]))
    t[table] = t[table].iloc[:0]
    return {(table, None, None, "empty_table")}


#: Optional columns whose emptiness no other check looks at (no date order, ISS or precision).
_OPTIONAL_FREE = [("patients", "on_clinical_trial_first_line"), ("baseline_labs", "bone_disease"),
                  ("transplants", "mobilization"), ("followup", "cause_of_death"),
                  ("cytogenetics", "method"), ("spm", "invasive")]


def _empty_column(data, t):
    table, col = data.draw(st.sampled_from(_OPTIONAL_FREE))
    t[table][col] = None
    return {(table, None, col, "empty_column")}


#: The issue's orderings, as (earlier, later) cells of one patient. ``first``/``last`` is the
#: patient's earliest/latest row; ``row`` pairs two columns of the same row.
ORDER_PAIRS = [
    (("patients", "diagnosis_date", None), ("patients", "induction_start_date", None)),
    (("patients", "induction_start_date", None), ("transplants", "infusion_date", "first")),
    (("transplants", "infusion_date", "first"), ("maintenance_episodes", "start_date", "first")),
    (("maintenance_episodes", "start_date", "first"), ("disease_events", "event_date", "first")),
    (("transplants", "infusion_date", "first"), ("disease_events", "event_date", "first")),
    (("disease_events", "event_date", "last"), ("followup", "death_date", None)),
    (("maintenance_episodes", "end_date", "last"), ("followup", "death_date", None)),
    (("followup", "last_contact_date", None), ("followup", "death_date", None)),
    (("spm", "spm_date", "last"), ("followup", "death_date", None)),
    (("patients", "induction_start_date", None), ("followup", "last_contact_date", None)),
    (("transplants", "infusion_date", "last"), ("followup", "last_contact_date", None)),
    (("response_assessments", "assessment_date", "last"),
     ("followup", "last_contact_date", None)),
    (("patients", "consent_date", None), ("followup", "last_contact_date", None)),
    (("treatment_lines", "start_date", "row"), ("treatment_lines", "end_date", "row")),
    (("maintenance_episodes", "start_date", "row"), ("maintenance_episodes", "end_date", "row")),
]


def _rows(t, table, column, pid):
    df = t[table]
    return df.index[(df["patient_id"] == pid) & df[column].notna()]


def _precision_of(t, table, column, row):
    prec = f"{column}_precision"
    return t[table].loc[row, prec] if prec in t[table] else None


def _order_candidates(t):
    """(later table, later row, later column, earliest day the earlier date can be)."""
    out = []
    for (e_tab, e_col, e_agg), (l_tab, l_col, l_agg) in ORDER_PAIRS:
        if l_agg == "row":
            for r in t[l_tab].index[t[l_tab][e_col].notna() & t[l_tab][l_col].notna()]:
                out.append((l_tab, r, l_col, day_lo(t[l_tab].loc[r, e_col],
                                                    _precision_of(t, l_tab, e_col, r))))
            continue
        for pid in t["patients"]["patient_id"]:
            early, late = _rows(t, e_tab, e_col, pid), _rows(t, l_tab, l_col, pid)
            if not len(early) or not len(late):
                continue
            los = [day_lo(t[e_tab].loc[r, e_col], _precision_of(t, e_tab, e_col, r))
                   for r in early]
            lo = max(los) if e_agg == "last" else min(los)
            dates = pd.to_datetime(t[l_tab].loc[late, l_col])
            row = dates.idxmin() if l_agg == "first" else dates.idxmax()
            out.append((l_tab, row, l_col, lo))
    return out


def _date_order(data, t):
    table, row, col, earliest = data.draw(st.sampled_from(_order_candidates(t)))
    before = earliest - pd.Timedelta(days=data.draw(st.integers(1, 90)))
    t[table].loc[row, col] = before.strftime("%Y-%m-%d")
    if f"{col}_precision" in t[table]:
        t[table].loc[row, f"{col}_precision"] = "day"
    return {(table, row + 1, col, "date_order")}


CORRUPTIONS = {
    "type": _type, "not_null": _not_null, "code": _code, "range": _range, "unit": _unit,
    "unique_key": _unique_key, "foreign_key": _foreign_key, "precision": _precision,
    "iss_mismatch": _iss, "duplicate_patient": _duplicate, "missing_column": _missing_column,
    "unknown_column": _unknown_column, "missing_table": _missing_table,
    "date_order": _date_order, "empty_table": _empty_table, "empty_column": _empty_column,
}


def test_every_check_has_a_corruption_test():
    assert set(CORRUPTIONS) == set(CHECKS)


@pytest.mark.parametrize("check", list(CORRUPTIONS))
@SETTINGS
@given(data=st.data())
def test_one_corruption_is_reported_at_exactly_its_place(make_tables, check, data):
    tables = make_tables()
    expected = CORRUPTIONS[check](data, tables)
    findings = validate_extract(tables)
    assert places(findings) == expected, findings.to_string()
    severity = "warning" if check in ("unknown_column", "precision", "iss_mismatch",
                                      "duplicate_patient", "empty_column") else "error"
    assert places(findings, severity) == expected


# ============================================================================================
# the same findings whatever the file format


def test_findings_are_the_same_in_csv_parquet_and_xlsx(make_tables, tmp_path):
    t = make_tables()
    t["baseline_labs"].loc[0, "creatinine_umol_L"] = "1.2"
    t["patients"].loc[1, "sex"] = "X"
    t["transplants"].loc[0, "infusion_date"] = "2010-03-01"
    t["cytogenetics"].loc[4, "pct_positive_nuclei"] = "n/a"
    t["followup"].loc[2, "lost_to_followup"] = "maybe"
    t["patients"].loc[0, "birth_year"] = "1955.5"
    # Every cell as text: Parquet string columns, Excel text cells.
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    with pd.ExcelWriter(tmp_path / "book.xlsx", engine="openpyxl") as xl:
        for name, df in t.items():
            df.to_csv(tmp_path / "csv" / f"{name}.csv", index=False)
            df.astype("string").to_parquet(tmp_path / "pq" / f"{name}.parquet", index=False)
            df.astype(object).where(df.notna(), None).to_excel(xl, sheet_name=name, index=False)
    expected = {("baseline_labs", 1, "creatinine_umol_L", "unit"),
                ("patients", 2, "sex", "code"),
                ("transplants", 1, "infusion_date", "date_order"),
                ("cytogenetics", 5, "pct_positive_nuclei", "type"),
                ("followup", 3, "lost_to_followup", "type"),
                ("patients", 1, "birth_year", "type")}
    reports = {}
    for fmt, path in (("csv", tmp_path / "csv"), ("parquet", tmp_path / "pq"),
                      ("xlsx", tmp_path / "book.xlsx")):
        f = validate_extract(read_extract(path))
        assert places(f) == expected, (fmt, f.to_string())
        reports[fmt] = f
    pd.testing.assert_frame_equal(reports["csv"], reports["parquet"])
    pd.testing.assert_frame_equal(reports["csv"], reports["xlsx"])


def test_typed_parquet_values_are_reported_as_written(make_tables, tmp_path, writers):
    t = make_tables()
    t["baseline_labs"].loc[1, "hemoglobin_g_L"] = "1100"
    t["baseline_labs"].loc[2, "calcium_mmol_L"] = "0.1"
    f = validate_extract(read_extract(writers["parquet"](t, tmp_path)))
    assert one(f, "baseline_labs", 2, "hemoglobin_g_L", "range")["value"] == "1100"
    assert one(f, "baseline_labs", 3, "calcium_mmol_L", "range")["value"] == "0.1"


# ============================================================================================
# the report file


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_report_round_trip(make_tables, tmp_path, suffix):
    t = make_tables()
    t["patients"].loc[0, "sex"] = "male"
    t["patients"] = t["patients"].drop(columns="on_clinical_trial_first_line")
    findings = validate_extract(t)
    path = write_report(findings, tmp_path / "sub" / f"report{suffix}")
    back = read_report(path)
    pd.testing.assert_frame_equal(back, findings)
    assert len(back) == 2


# ============================================================================================
# detection of the simulator's defects (docs/registry.md §6) against the truth file

#: Defect class → checks that report it (at the truth's table, patient and column).
DETECTABLE = {
    "legacy_response_code": {"code"},
    "unit_albumin_g_dL": {"unit"},
    "unit_creatinine_mg_dL": {"unit"},
    "unit_beta2m_nmol_L": {"unit"},
    "out_of_range": {"range", "unit"},
    "date_order": {"date_order"},
    "lab_after_t0": {"date_order"},
    "iss_recorded_mismatch": {"iss_mismatch"},
    "duplicate_patient": {"duplicate_patient"},
}
#: Defect classes no validator can see in the extract (see the module docstring).
UNDETECTABLE = {"progression_date_proxy", "regimen_text_variant"}


@pytest.fixture(scope="module")
def default_extract(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    simulate_registry(out, n=1256, seed=42)
    return out, validate_extract(read_extract(out)), pd.read_parquet(out / "truth_defects.parquet")


@pytest.fixture(scope="module")
def clean_extract(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    simulate_registry(out, n=1256, seed=42, clean=True)
    return out, validate_extract(read_extract(out))


def _matched(findings: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The truth rows, with the severity of the finding at their table, patient, column and an
    expected check (``found_severity`` missing when nothing is reported there)."""
    at: dict[tuple, list[tuple[str, str]]] = {}
    for r in findings.itertuples(index=False):
        at.setdefault((r.table, r.patient_id, r.column), []).append((r.check, r.severity))
    severity = []
    for r in truth.itertuples(index=False):
        hits = [sev for check, sev in at.get((r.table, r.patient_id, r.column), [])
                if check in DETECTABLE.get(r.defect, ())]
        severity.append(hits[0] if hits else None)
    return truth.assign(found_severity=severity, found=[s is not None for s in severity])


def test_truth_flags_agree_with_what_a_validator_can_see(default_extract):
    out, _, truth = default_extract
    assert set(truth["defect"]) == set(DETECTABLE) | UNDETECTABLE
    assert not truth.loc[truth["defect"].isin(UNDETECTABLE), "detectable"].any()
    mixed = truth[truth["defect"].isin(DETECTABLE) & ~truth["detectable"]]
    assert set(mixed["defect"]) <= {"out_of_range", "iss_recorded_mismatch"}
    # An "undetectable" typo must really be inside its column's range.
    labs = pd.read_parquet(out / "baseline_labs.parquet").set_index("patient_id")
    for r in mixed[mixed["defect"] == "out_of_range"].itertuples():
        spec = spec_of("baseline_labs", r.column)
        assert spec.min <= labs.loc[r.patient_id, r.column] <= spec.max


def test_detects_at_least_95_percent_of_detectable_defects(default_extract):
    _, findings, truth = default_extract
    detectable = _matched(findings, truth[truth["detectable"]])
    rate = detectable.groupby("defect")["found"].mean()
    assert detectable["found"].mean() >= 0.95, rate.to_string()
    assert (rate >= 0.95).all(), rate.to_string()
    hit = detectable[detectable["found"]]
    assert (hit["found_severity"] == hit["severity"]).all()


def test_defects_add_no_unexplained_error(default_extract, clean_extract):
    """Every error of the default extract is an injected defect or is already in --clean."""
    _, findings, truth = default_extract
    _, clean = clean_extract
    known = set(zip(truth["table"], truth["patient_id"], truth["column"], strict=True))
    errs = errors(findings)
    keys = zip(errs["table"], errs["patient_id"], errs["column"], errs["check"], strict=True)
    clean_keys = set(zip(clean["table"], clean["patient_id"], clean["column"], clean["check"],
                         strict=True))
    unexplained = [k for k in keys if k[:3] not in known and k not in clean_keys]
    assert not unexplained


def test_clean_extract_has_no_error(clean_extract):
    _, findings = clean_extract
    assert errors(findings).empty, errors(findings).to_string()


def test_clean_extract_has_no_warning_either(clean_extract):
    # The one exception: the generator does not simulate urine M-protein at response
    # assessments, so that optional column is empty in every row (an empty_column warning).
    _, findings = clean_extract
    assert places(findings) == {("response_assessments", None, "urine_m_protein_mg_24h",
                                 "empty_column")}, findings.to_string()
