"""Validate a registry extract against the data contract (docs/registry.md §3, §6).

Two layers, both vectorised:

1. **Per column**, a pandera schema generated from :data:`mmrisk.registry._spec.TABLES`
   (:func:`table_schema`): type (str, int, float, ISO date, bool), nullability, allowed codes,
   ranges, and values that look like a wrong unit (:data:`~mmrisk.registry._spec.UNIT_HINTS`).
   It runs on the raw values (strings for CSV and Excel) with ``lazy=True``, and every failure
   case becomes one finding.
2. **Across rows and tables**, plain pandas: required and unknown columns, unique keys, foreign
   keys, date precision, date order per patient (``DATE_ORDER_RULES`` of the spec and
   :data:`EXTRA_DATE_ORDER_RULES`) and within a row (:data:`ROW_DATE_ORDER_RULES`), recorded
   versus computed ISS, and possible duplicate patients across centres.

The validator reads the tables and never modifies or drops data. Every finding names the table,
the 1-based data row of the file (header excluded), the patient, the column and the value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mmrisk.conventions import ALBUMIN_LOW, BETA2M_HIGH, BETA2M_LOW
from mmrisk.exceptions import ExtractError
from mmrisk.registry._spec import (
    DATE_ORDER_RULES,
    IMWG_RESPONSES,
    LEGACY_RESPONSE_CODES,
    TABLE_ORDER,
    TABLES,
    UNIT_HINTS,
    ColumnSpec,
    TableSpec,
)

__all__ = [
    "CHECKS",
    "EXTRA_DATE_ORDER_RULES",
    "FINDING_COLUMNS",
    "ROW_DATE_ORDER_RULES",
    "read_report",
    "table_schema",
    "validate_extract",
    "write_report",
]

logger = logging.getLogger(__name__)

#: Columns of the findings table, in order.
FINDING_COLUMNS: tuple[str, ...] = (
    "table", "row", "patient_id", "column", "value", "check", "severity", "message",
)

#: Every check the validator runs, and what it means.
CHECKS: dict[str, str] = {
    "missing_table": "a required table is absent",
    "missing_column": "a required column is absent (row is empty)",
    "empty_table": "the table has a header but no rows (an error for patients and centers)",
    "empty_column": "an optional column is empty in every row (warning: not exported?)",
    "unknown_column": "a column that is not in the data contract (warning)",
    "type": "the value is not of the column's type (int, float, ISO date, bool)",
    "not_null": "a required value is empty",
    "code": "the value is not one of the allowed codes (legacy IMWG codes get a hint)",
    "range": "the number is outside the column's range",
    "unit": "the number is outside the range but typical of another unit",
    "unique_key": "the row repeats the table's key",
    "foreign_key": "the value does not exist in the referenced table",
    "precision": "the date does not follow its precision convention (warning)",
    "date_order": "a patient's dates are in an impossible order",
    "iss_mismatch": "recorded ISS differs from the ISS computed from β2M and albumin (warning)",
    "duplicate_patient": "same sex, birth year and baseline labs as an earlier patient (warning)",
}

_TYPE_TEXT = {
    "int": "an integer",
    "float": "a number",
    "date": "an ISO date (YYYY-MM-DD)",
    "bool": "a boolean (true/false/1/0)",
}
_BOOL_TEXT = {
    "true": True, "True": True, "TRUE": True, "1": True, "1.0": True,
    "false": False, "False": False, "FALSE": False, "0": False, "0.0": False,
}
_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}(?:[ T]00:00:00(?:\.0+)?)?"
_KEY_SEP = "+"


# ============================================================================================
# parsing raw values (vectorised; never raises)


def _text(s: pd.Series) -> pd.Series:
    """The values as pandas strings (missing stays missing)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.strftime("%Y-%m-%d").astype("string")
    return s.astype("string")


def _parse_float(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return pd.Series(np.nan, index=s.index), s.notna()
    if pd.api.types.is_numeric_dtype(s):
        values = s.astype("float64")
    else:
        values = pd.to_numeric(s.astype(object), errors="coerce").astype("float64")
    bad = s.notna() & ~np.isfinite(values)
    return values.where(~bad), bad


def _parse_int(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, bad = _parse_float(s)
    bad = bad | (values.notna() & (values % 1 != 0))
    return values.where(~bad), bad


def _parse_date(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(s):
        values = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return values.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=s.index)
    text = _text(s)
    ok = text.str.fullmatch(_DATE_PATTERN).fillna(False).astype(bool)
    day = text.str.slice(0, 10).astype(object).where(ok, None)
    values = pd.to_datetime(day, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
    return values, s.notna() & values.isna()


def _parse_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), pd.Series(False, index=s.index)
    mapped = _text(s).astype(object).map(_BOOL_TEXT)
    return mapped.astype("boolean"), s.notna() & mapped.isna()


def _parse_str(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _text(s), pd.Series(False, index=s.index)


_PARSERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "str": _parse_str, "int": _parse_int, "float": _parse_float, "date": _parse_date,
    "bool": _parse_bool,
}


def _parse(s: pd.Series, dtype: str) -> tuple[pd.Series, pd.Series]:
    """Parse raw values of a column of ``dtype``: (typed values, mask of unparseable values)."""
    return _PARSERS[dtype](s)


# ============================================================================================
# layer 1: pandera schemas generated from the spec


def _type_check(dtype: str) -> pa.Check:
    return pa.Check(lambda s: ~_parse(s, dtype)[1], name="type")


def _code_check(allowed: tuple[str, ...]) -> pa.Check:
    return pa.Check(lambda s: _text(s).isin(allowed).fillna(False).astype(bool), name="code")


def _in(values: pd.Series, lo: float | None, hi: float | None) -> pd.Series:
    ok = pd.Series(True, index=values.index)
    if lo is not None:
        ok &= values >= lo
    if hi is not None:
        ok &= values <= hi
    return ok


def _range_checks(col: ColumnSpec) -> list[pa.Check]:
    """``range`` (and ``unit`` when the column has a unit hint); unparseable values pass."""
    hint = UNIT_HINTS.get(col.name)

    def in_hint(v: pd.Series) -> pd.Series:
        return _in(v, hint[0], hint[1]) if hint else pd.Series(False, index=v.index)

    def range_ok(s: pd.Series) -> pd.Series:
        v = _parse(s, col.dtype)[0]
        return v.isna() | _in(v, col.min, col.max) | in_hint(v)

    checks = [pa.Check(range_ok, name="range")]
    if hint:
        def unit_ok(s: pd.Series) -> pd.Series:
            v = _parse(s, col.dtype)[0]
            return v.isna() | _in(v, col.min, col.max) | ~in_hint(v)

        checks.append(pa.Check(unit_ok, name="unit"))
    return checks


def _column_checks(col: ColumnSpec) -> list[pa.Check]:
    checks = []
    if col.dtype != "str":
        checks.append(_type_check(col.dtype))
    if col.allowed:
        checks.append(_code_check(col.allowed))
    if col.dtype in ("int", "float") and (col.min is not None or col.max is not None):
        checks.extend(_range_checks(col))
    return checks


@cache
def table_schema(table: str) -> pa.DataFrameSchema:
    """Build the pandera schema of one table from its :class:`~mmrisk.registry.TableSpec`.

    The schema checks raw values (strings for CSV and Excel, stored types for Parquet): the type
    (``type``: int, float, ISO ``YYYY-MM-DD`` date, bool as true/false/True/False/1/0),
    nullability (``not_null``), allowed codes (``code``), ranges (``range``) and values typical of
    a wrong unit (``unit``). Missing values pass every check except nullability. Columns are not
    required here: a missing column is reported by :func:`validate_extract`.

    Parameters
    ----------
    table : str
        A table name of ``mmrisk.registry.TABLES``.

    Returns
    -------
    pandera.DataFrameSchema
        The schema; each check's ``name`` is the finding's ``check``.

    Raises
    ------
    KeyError
        If ``table`` is not in the data contract.
    """
    spec = TABLES[table]
    columns = {
        c.name: pa.Column(None, _column_checks(c), nullable=c.nullable, required=False,
                          coerce=False)
        for c in spec.columns
    }
    return pa.DataFrameSchema(columns, name=table, strict=False, coerce=False)


# ============================================================================================
# findings


def _findings(table: str, rows: Iterable | None, patient_id, column: str | pd.Series,
              value, check: str, severity: str, message) -> pd.DataFrame:
    """Assemble findings; scalars broadcast over ``rows`` (``None`` for a table-level finding)."""
    rows = pd.array([pd.NA] if rows is None else list(rows), dtype="Int64")
    frame = pd.DataFrame({"row": rows})
    frame.insert(0, "table", table)
    for name, val in (("patient_id", patient_id), ("column", column), ("value", value),
                      ("check", check), ("severity", severity), ("message", message)):
        frame[name] = val.to_numpy(dtype=object) if isinstance(val, pd.Series) else val
    return frame


def _empty_findings() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in FINDING_COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reindex(columns=list(FINDING_COLUMNS))
    frame["row"] = frame["row"].astype("Int64")
    for c in FINDING_COLUMNS:
        if c != "row":
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    return frame


class _Table:
    """One table under validation: raw values by position, parsed columns cached."""

    def __init__(self, name: str, raw: pd.DataFrame, source: str | None = None):
        self.name = name
        #: "table 'patients' (patients.csv)": how messages name the table and its file.
        self.where = f"table {name!r}" + (f" ({source})" if source else "")
        self.spec: TableSpec = TABLES[name]
        self.raw = raw.reset_index(drop=True)
        self._parsed: dict[str, pd.Series] = {}
        self.intervals: dict[str, pd.DataFrame] = {}  # cache of _intervals()
        self.picks: dict[tuple[str, str, str], pd.DataFrame] = {}  # cache of _pick()

    def has(self, *columns: str) -> bool:
        return all(c in self.raw.columns for c in columns)

    def values(self, column: str) -> pd.Series:
        """The column's typed values; unparseable values are missing."""
        if column not in self._parsed:
            dtype = self.spec.column(column).dtype if column in self.spec.column_names else "str"
            self._parsed[column] = _parse(self.raw[column], dtype)[0]
        return self._parsed[column]

    def patient_ids(self, positions=None) -> pd.Series | None:
        if "patient_id" not in self.raw.columns:
            return None
        ids = self.values("patient_id")
        return ids if positions is None else ids.iloc[positions]

    def value_text(self, column: str, positions) -> pd.Series:
        values = self.raw[column].iloc[positions]
        if pd.api.types.is_float_dtype(values):  # Parquet floats: no binary noise in reports
            return values.map(lambda x: f"{x:.12g}", na_action="ignore").astype("string")
        return _text(values)

    def findings(self, positions, column: str, check: str, severity: str,
                 message) -> pd.DataFrame:
        """Findings at 0-based ``positions`` of ``column``, with their raw values."""
        positions = np.asarray(positions, dtype=np.int64)
        pids = self.patient_ids(positions)
        return _findings(self.name, positions + 1, pd.NA if pids is None else pids, column,
                         self.value_text(column, positions), check, severity, message)


# ============================================================================================
# layer 1 findings: pandera failure cases


def _schema_findings(t: _Table) -> list[pd.DataFrame]:
    try:
        table_schema(t.name).validate(t.raw, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
    else:
        return []
    cases = cases[cases["index"].notna() & cases["column"].isin(t.spec.column_names)]
    out = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        check = "not_null" if check == "not_nullable" else check
        positions = group["index"].astype(np.int64).to_numpy()
        values = t.value_text(column, positions)
        msg = _schema_message(t.spec.column(column), check, values)
        out.append(t.findings(positions, column, check, "error", msg))
    return out


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def _schema_message(col: ColumnSpec, check: str, values: pd.Series) -> pd.Series | str:
    quoted = "'" + values.fillna("") + "'"
    if check == "type":
        return quoted + f" is not {_TYPE_TEXT[col.dtype]}"
    if check == "not_null":
        return f"{col.name} is required but empty"
    if check == "code":
        return _code_message(col, values, quoted)
    unit = f" {col.unit}" if col.unit else ""
    text = quoted + f" is outside the range {_fmt(col.min)}–{_fmt(col.max)}{unit}"
    if check == "unit":
        return text + f"; it looks like {UNIT_HINTS[col.name][2]}"
    return text


def _code_message(col: ColumnSpec, values: pd.Series, quoted: pd.Series) -> pd.Series:
    allowed = ", ".join(col.allowed or ())
    msg = quoted + f" is not an allowed code; expected one of {allowed}"
    if col.allowed == IMWG_RESPONSES:
        for code, hint in LEGACY_RESPONSE_CODES.items():
            msg = msg.mask(values == code, f"'{code}' is a legacy IMWG code; recode as {hint}")
    return msg


# ============================================================================================
# layer 2: columns, keys, references


def _column_findings(t: _Table) -> list[pd.DataFrame]:
    out = []
    for c in t.spec.column_names:
        if c not in t.raw.columns:
            out.append(_findings(t.name, None, pd.NA, c, pd.NA, "missing_column", "error",
                                 f"required column {c!r} is missing from {t.where}"))
    for c in t.raw.columns:
        if c not in t.spec.column_names:
            out.append(_findings(t.name, None, pd.NA, str(c), pd.NA, "unknown_column", "warning",
                                 f"column {c!r} is not in the data contract of {t.where}; "
                                 "it is ignored"))
    return out


#: Tables every other table hangs from: without rows there is no extract to speak of.
_ROOT_TABLES = ("centers", "patients")


def _emptiness_findings(t: _Table) -> list[pd.DataFrame]:
    """One finding for a table without rows; one per optional column empty in every row."""
    if t.raw.empty:
        severity = "error" if t.name in _ROOT_TABLES else "warning"
        return [_findings(t.name, None, pd.NA, pd.NA, pd.NA, "empty_table", severity,
                          f"{t.where} has no rows (only a header)")]
    out = []
    for col in t.spec.columns:
        if col.nullable and col.name in t.raw.columns and t.raw[col.name].isna().all():
            out.append(_findings(t.name, None, pd.NA, col.name, pd.NA, "empty_column",
                                 "warning", f"column {col.name!r} of {t.where} is empty in all "
                                 f"{len(t.raw):,} rows; was it exported?"))
    return out


def _key_findings(t: _Table) -> list[pd.DataFrame]:
    key = list(t.spec.key)
    if not t.has(*key) or t.raw.empty:
        return []
    keys = pd.DataFrame({c: t.values(c) for c in key}).dropna()
    dup = keys.duplicated(keep="first")
    if not dup.any():
        return []
    first = keys.drop_duplicates(keep="first").reset_index(names="_first")
    later = keys[dup].reset_index(names="_pos").merge(first, on=key, how="left")
    column = _KEY_SEP.join(key)
    msg = (f"duplicate key ({', '.join(key)}); first seen on row "
           + (later["_first"] + 1).astype(str))
    pos = later["_pos"].to_numpy()
    pids = t.patient_ids(pos)
    values = pd.Series([", ".join(map(str, r)) for r in t.raw[key].iloc[pos].itertuples(False)])
    return [_findings(t.name, pos + 1, pd.NA if pids is None else pids, column, values,
                      "unique_key", "error", msg)]


def _foreign_key_findings(t: _Table, tables: dict[str, _Table]) -> list[pd.DataFrame]:
    out = []
    for column, target in t.spec.foreign_keys.items():
        parent_name, parent_col = target.split(".")
        parent = tables.get(parent_name)
        if parent is None or not parent.has(parent_col) or not t.has(column) or \
                parent.raw.empty:  # an empty parent is one empty_table finding, not one per row
            continue
        child = t.values(column)
        bad = child.notna() & ~child.isin(parent.values(parent_col).dropna())
        if bad.any():
            pos = np.flatnonzero(bad.to_numpy())
            msg = ("'" + child.iloc[pos].astype(str)
                   + f"' is not a {parent_col} of table {parent_name}")
            out.append(t.findings(pos, column, "foreign_key", "error", msg))
    return out


def _precision_findings(t: _Table) -> list[pd.DataFrame]:
    out = []
    for c in t.spec.columns:
        prec_col = f"{c.name}_precision"
        if c.dtype == "date" and t.has(c.name, prec_col):
            out += _precision_convention(t, c.name, prec_col)
            out += _precision_presence(t, c.name, prec_col)
    return out


def _precision_convention(t: _Table, column: str, prec_col: str) -> list[pd.DataFrame]:
    """Month dates are stored on day 15, year dates on 07-01."""
    date, prec = t.values(column), t.values(prec_col)
    bad_month = (prec == "month") & (date.dt.day != 15)
    bad_year = (prec == "year") & ~((date.dt.month == 7) & (date.dt.day == 1))
    bad = (date.notna() & (bad_month | bad_year)).fillna(False).astype(bool)
    if not bad.any():
        return []
    pos = np.flatnonzero(bad.to_numpy())
    stored = np.where((prec.iloc[pos] == "month").to_numpy(dtype=bool), "on day 15", "on 07-01")
    msg = (f"{prec_col} is '" + prec.iloc[pos].astype(str) + f"' but {column} is "
           + date.iloc[pos].dt.strftime("%Y-%m-%d") + "; such dates are stored " + stored)
    return [t.findings(pos, prec_col, "precision", "warning", msg)]


def _precision_presence(t: _Table, column: str, prec_col: str) -> list[pd.DataFrame]:
    """A date needs its precision, and a precision needs its date.

    Only for optional columns: an empty required one is already a ``not_null`` error.
    """
    has_date = t.raw[column].notna().to_numpy()
    has_prec = t.raw[prec_col].notna().to_numpy()
    out = []
    no_prec = np.flatnonzero(has_date & ~has_prec) if t.spec.column(prec_col).nullable else []
    if len(no_prec):
        out.append(t.findings(no_prec, prec_col, "precision", "warning",
                              f"{prec_col} is empty but {column} has a date; expected day, "
                              "month or year"))
    no_date = np.flatnonzero(has_prec & ~has_date) if t.spec.column(column).nullable else []
    if len(no_date):
        out.append(t.findings(no_date, prec_col, "precision", "warning",
                              f"{prec_col} is set but {column} is empty; leave both empty "
                              "or give the date"))
    return out


# ============================================================================================
# layer 2: date order per patient


#: Date-order rules of the issue ("death ≥ every other event; last contact ≥ every event";
#: "maintenance start ≤ progression") that ``DATE_ORDER_RULES`` of the spec does not list yet.
#: Same format; they belong in ``mmrisk.registry._spec.DATE_ORDER_RULES``.
_EVERY_EVENT = (
    "patients.consent_date", "baseline_labs.sample_date", "cytogenetics.test_date@last",
    "treatment_lines.start_date@last", "treatment_lines.end_date@last",
    "response_assessments.assessment_date@last", "maintenance_episodes.end_date@last",
    "maintenance_dose_changes.change_date@last", "spm.spm_date@last",
)
EXTRA_DATE_ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    ("maintenance_episodes.start_date@first", "disease_events.event_date@first", "error"),
    *((event, "followup.death_date", "error") for event in _EVERY_EVENT),
    *((event, "followup.last_contact_date", "error") for event in _EVERY_EVENT),
)
#: Dates that must be in order within each row: (table, earlier column, later column).
ROW_DATE_ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    ("treatment_lines", "start_date", "end_date"),
    ("maintenance_episodes", "start_date", "end_date"),
)


def _parse_side(side: str) -> tuple[str, str, str]:
    ref, _, agg = side.partition("@")
    table, column = ref.split(".")
    return table, column, agg


def _intervals(t: _Table, column: str) -> pd.DataFrame:
    """Per row: patient, position, the date, and the interval its precision allows (cached)."""
    if column in t.intervals:
        return t.intervals[column]
    date = t.values(column)
    prec_col = f"{column}_precision"
    prec = t.values(prec_col) if t.has(prec_col) else pd.Series(pd.NA, index=date.index)
    lo, hi = date.copy(), date.copy()
    for code, freq in (("month", "M"), ("year", "Y")):
        m = (prec == code).fillna(False).to_numpy(dtype=bool) & date.notna().to_numpy()
        if m.any():
            period = date[m].dt.to_period(freq)
            lo[m] = period.dt.start_time.dt.normalize().to_numpy()
            hi[m] = period.dt.end_time.dt.normalize().to_numpy()
    frame = pd.DataFrame({"pid": t.patient_ids(), "date": date, "lo": lo, "hi": hi})
    frame["pos"] = np.arange(len(frame))
    t.intervals[column] = frame = frame.dropna(subset=["pid", "date"])
    return frame


def _pick(t: _Table, column: str, agg: str, bound: str) -> pd.DataFrame:
    """The row per patient that ``@first``/``@last`` selects; every row without ``@`` (cached).

    Rows are ranked by ``bound`` (``"lo"`` for the earlier side of a rule, ``"hi"`` for the later
    side), so that with mixed precisions the row giving the tightest sure bound is picked.
    """
    key = (column, agg, bound)
    if key not in t.picks:
        frame = _intervals(t, column)
        if agg and not frame.empty:
            by = frame.groupby("pid", sort=False)[bound]
            frame = frame.loc[(by.idxmin() if agg == "first" else by.idxmax()).to_numpy()]
        t.picks[key] = frame
    return t.picks[key]


def _side_text(table: str, column: str, agg: str) -> str:
    prefix = {"first": "the first ", "last": "the last "}.get(agg, "")
    return f"{prefix}{table}.{column}"


def _order_findings(late: _Table, later: pd.DataFrame, early: pd.DataFrame, on: str,
                    l_col: str, texts: tuple[str, str], severity: str) -> list[pd.DataFrame]:
    """Findings where a later date's latest possible day is before the earlier date's first.

    ``early`` has one row per value of ``on`` (``pid`` or ``pos``) with the earlier ``date`` and
    its lower bound ``lo``; ``later`` has the later ``date``, its upper bound ``hi`` and ``pos``.
    """
    if later.empty or early.empty:
        return []
    early = early.set_index(on)
    lo_early = later[on].map(early["lo"])
    bad = (later["hi"] < lo_early).to_numpy(dtype=bool)  # no earlier date: NaT, never bad
    if not bad.any():
        return []
    rows = later[bad].assign(date_early=later[on][bad].map(early["date"])).sort_values("pos")
    msg = (f"{texts[0]} (" + rows["date"].dt.strftime("%Y-%m-%d") + f") is before {texts[1]} ("
           + rows["date_early"].dt.strftime("%Y-%m-%d") + ")")
    return [late.findings(rows["pos"].to_numpy(), l_col, "date_order", severity, msg)]


def _date_order_findings(rule: tuple[str, str, str],
                         tables: dict[str, _Table]) -> list[pd.DataFrame]:
    (e_tab, e_col, e_agg), (l_tab, l_col, l_agg) = map(_parse_side, rule[:2])
    early, late = tables.get(e_tab), tables.get(l_tab)
    if early is None or late is None or not (early.has("patient_id", e_col)
                                             and late.has("patient_id", l_col)):
        return []
    first = _pick(early, e_col, e_agg or "first", "lo")  # one row per patient
    later = _pick(late, l_col, l_agg, "hi")
    texts = (_side_text(l_tab, l_col, l_agg), _side_text(e_tab, e_col, e_agg))
    return _order_findings(late, later, first, "pid", l_col, texts, rule[2])


def _row_order_findings(rule: tuple[str, str, str],
                        tables: dict[str, _Table]) -> list[pd.DataFrame]:
    table, e_col, l_col = rule
    t = tables.get(table)
    if t is None or not t.has("patient_id", e_col, l_col):
        return []
    texts = (f"{table}.{l_col}", f"{table}.{e_col} of the same row")
    return _order_findings(t, _intervals(t, l_col), _intervals(t, e_col), "pos", l_col, texts,
                           "error")


# ============================================================================================
# layer 2: clinical consistency


def _iss(beta2m: pd.Series, albumin: pd.Series) -> pd.Series:
    """ISS from β2M (mg/L) and albumin (g/L): I, II or III (missing when either is missing)."""
    stage = np.select([beta2m >= BETA2M_HIGH, (beta2m < BETA2M_LOW) & (albumin >= ALBUMIN_LOW)],
                      ["III", "I"], "II")
    return pd.Series(stage, index=beta2m.index).where(beta2m.notna() & albumin.notna())


def _iss_findings(tables: dict[str, _Table]) -> list[pd.DataFrame]:
    t = tables.get("baseline_labs")
    if t is None or not t.has("beta2m_mg_L", "albumin_g_L", "iss_recorded"):
        return []
    b2m, alb = t.values("beta2m_mg_L"), t.values("albumin_g_L")
    spec_b, spec_a = t.spec.column("beta2m_mg_L"), t.spec.column("albumin_g_L")
    b2m = b2m.where(_in(b2m, spec_b.min, spec_b.max))
    alb = alb.where(_in(alb, spec_a.min, spec_a.max))
    computed, recorded = _iss(b2m, alb), t.values("iss_recorded")
    bad = (computed.notna() & recorded.isin(["I", "II", "III"]).fillna(False)
           & (recorded != computed)).fillna(False).astype(bool)
    if not bad.any():
        return []
    pos = np.flatnonzero(bad.to_numpy())
    msg = ("recorded ISS " + recorded.iloc[pos].astype(str) + " but β2M "
           + b2m.iloc[pos].map("{:g}".format) + " mg/L and albumin "
           + alb.iloc[pos].map("{:g}".format) + " g/L give ISS " + computed.iloc[pos])
    return [t.findings(pos, "iss_recorded", "iss_mismatch", "warning", msg)]


#: Baseline labs compared to find a patient registered twice; an empty value matches an empty
#: value, and at least ``_DUP_MIN_LABS`` of them must be recorded.
_DUP_LABS = ("hemoglobin_g_L", "calcium_mmol_L", "creatinine_umol_L", "albumin_g_L",
             "beta2m_mg_L", "ldh_U_L")
_DUP_MIN_LABS = 3


def _duplicate_patient_findings(tables: dict[str, _Table]) -> list[pd.DataFrame]:
    pts, labs = tables.get("patients"), tables.get("baseline_labs")
    if (pts is None or labs is None or not pts.has("patient_id", "sex", "birth_year")
            or not labs.has("patient_id", *_DUP_LABS)):
        return []
    left = pd.DataFrame({"pid": pts.patient_ids(), "sex": pts.values("sex"),
                         "birth_year": pts.values("birth_year"), "pos": np.arange(len(pts.raw))})
    right = pd.DataFrame({"pid": labs.patient_ids(), **{c: labs.values(c) for c in _DUP_LABS}})
    left = left.dropna().drop_duplicates("pid")
    right = right[right[list(_DUP_LABS)].notna().sum(axis=1) >= _DUP_MIN_LABS]
    right = right.dropna(subset=["pid"]).drop_duplicates("pid")
    both = left.merge(right, on="pid", how="inner").sort_values("pos")
    match = ["sex", "birth_year", *_DUP_LABS]
    dup = both.duplicated(match, keep="first")
    if not dup.any():
        return []
    groups = both.groupby(match, sort=False, dropna=False)
    both["first_pid"] = groups["pid"].transform("first")
    both["first_row"] = groups["pos"].transform("first") + 1
    later = both[dup]
    msg = ("possible duplicate of patient " + later["first_pid"].astype(str) + " (row "
           + later["first_row"].astype(str) + "): same sex, birth year and baseline "
           "hemoglobin, calcium, creatinine, albumin, β2M and LDH (empty where both are empty)")
    return [pts.findings(later["pos"].to_numpy(), "patient_id", "duplicate_patient", "warning",
                         msg)]


# ============================================================================================
# public API


def _table_findings(t: _Table, tables: dict[str, _Table]) -> list[pd.DataFrame]:
    return [*_column_findings(t), *_emptiness_findings(t), *_schema_findings(t),
            *_key_findings(t),
            *_foreign_key_findings(t, tables), *_precision_findings(t)]


def _sort(findings: pd.DataFrame) -> pd.DataFrame:
    table_rank = findings["table"].map({t: i for i, t in enumerate(TABLE_ORDER)})
    ranks = {f"{t}.{c}": i for t in TABLE_ORDER for i, c in enumerate(TABLES[t].column_names)}
    first_col = findings["column"].fillna("").str.split(_KEY_SEP, regex=False).str[0]
    col_rank = (findings["table"] + "." + first_col).map(ranks).fillna(len(ranks))
    order = pd.DataFrame({"t": table_rank, "r": findings["row"].fillna(0), "c": col_rank,
                          "k": findings["check"]})
    return findings.loc[order.sort_values(["t", "r", "c", "k"], kind="stable").index]


def validate_extract(extract) -> pd.DataFrame:
    """Check every table of an extract against the data contract; report, never modify.

    Parameters
    ----------
    extract : RegistryExtract or dict of str to pandas.DataFrame
        The extract, as returned by :func:`mmrisk.registry.read_extract` (or its ``tables``).
        Row ``i`` (0-based position) of a table is reported as row ``i + 1``.

    Returns
    -------
    pandas.DataFrame
        One row per finding, sorted by table, row and column, with columns ``table``, ``row``
        (1-based data row of the file, header excluded; missing for a table- or column-level
        finding), ``patient_id`` (missing when the table has none), ``column`` (for a key, the
        key columns joined by ``+``), ``value`` (the raw value), ``check`` (see :data:`CHECKS`),
        ``severity`` (``error`` or ``warning``) and ``message``. Empty when the extract is clean.

    See Also
    --------
    write_report : write the findings to a CSV or JSON file.

    Examples
    --------
    >>> findings = validate_extract(read_extract("data/synthetic"))  # doctest: +SKIP
    >>> findings.query("severity == 'error'").groupby("check").size()  # doctest: +SKIP
    """
    raw = getattr(extract, "tables", extract)
    sources = getattr(extract, "source_files", {})
    tables = {name: _Table(name, raw[name], sources.get(name)) for name in TABLE_ORDER
              if name in raw}
    parts = [_findings(name, None, pd.NA, pd.NA, pd.NA, "missing_table", "error",
                       f"required table {name!r} is missing from the extract")
             for name in TABLE_ORDER if name not in raw]
    for t in tables.values():
        parts += _table_findings(t, tables)
    for rule in (*DATE_ORDER_RULES, *EXTRA_DATE_ORDER_RULES):
        parts += _date_order_findings(rule, tables)
    for rule in ROW_DATE_ORDER_RULES:
        parts += _row_order_findings(rule, tables)
    parts += _iss_findings(tables) + _duplicate_patient_findings(tables)
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_findings()
    findings = _typed(pd.concat(parts, ignore_index=True))
    logger.info("validation: %d error(s), %d warning(s)",
                int((findings["severity"] == "error").sum()),
                int((findings["severity"] == "warning").sum()))
    return _sort(findings).reset_index(drop=True)


def _report_format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "json"):
        raise ExtractError(f"{path.name}: unsupported report file type "
                           f"{path.suffix or '(no suffix)'!r}; use .csv or .json")
    return fmt


def write_report(findings: pd.DataFrame, path: str | Path) -> Path:
    """Write the findings of :func:`validate_extract` to a CSV or JSON file.

    Parameters
    ----------
    findings : pandas.DataFrame
        The findings table (columns :data:`FINDING_COLUMNS`).
    path : str or pathlib.Path
        The report file; its suffix picks the format: ``.csv`` (UTF-8, missing values empty)
        or ``.json`` (a list of records, missing values ``null``). Parent folders are created.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ExtractError
        If the suffix is neither ``.csv`` nor ``.json``, or the file cannot be written.
    """
    path = Path(path)
    fmt = _report_format(path)
    frame = _typed(findings.copy())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            records = [{k: (None if pd.isna(v) else (int(v) if k == "row" else v))
                        for k, v in rec.items()} for rec in frame.to_dict("records")]
            path.write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    except OSError as e:
        raise ExtractError(f"{path}: cannot write the report: {e.strerror or e}") from None
    return path


def read_report(path: str | Path) -> pd.DataFrame:
    """Read a report written by :func:`write_report` back into a findings table.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` or ``.json`` report.

    Returns
    -------
    pandas.DataFrame
        The findings, with the dtypes :func:`validate_extract` returns.

    Raises
    ------
    ExtractError
        If the suffix is neither ``.csv`` nor ``.json``, or the file cannot be read.
    """
    path = Path(path)
    fmt = _report_format(path)
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frame = frame.mask(frame == "")
        else:
            frame = pd.DataFrame(json.loads(path.read_text(encoding="utf-8")),
                                 columns=list(FINDING_COLUMNS))
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ExtractError(f"{path}: cannot read the report: {e}") from None
    frame["row"] = pd.to_numeric(frame["row"]).astype("Int64")
    return _typed(frame)
