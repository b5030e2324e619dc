"""The TRIPOD+AI report: one self-contained HTML page from a plain :class:`ReportData`.

Sections follow TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) and end with the checklist of
its 27 items and their sub-items (52 rows). An item links to the part of the report that covers
it only when that part has content in this report; otherwise it says "author to complete".
Items the report covers only in part (e.g. the data source, but not the rationale for using it)
say which part is left to the authors.

The page is rendered by Jinja2 (autoescaping on) from ``templates/tripod_report.html.j2``. It
has inline CSS, figures as base64 ``data:`` URIs and an inline SVG participant-flow diagram, so
it opens offline; it references no other host. :class:`ReportData` holds summaries only: no
field takes a patient identifier or a calendar date (periods are years or year-months), and
tables with an identifier column or date values are refused.

Nothing here imports MLflow: an adapter gathers a :class:`ReportData` from tracked runs.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from mmrisk.exceptions import ReportDataError
from mmrisk.report._tripod_checklist import (
    TRIPOD_AI_ITEMS,
    _content_flags,
    _nonempty,
    tripod_checklist,
)
from mmrisk.report._tripod_data import (
    FIGURE_SECTIONS,
    ROLES,
    ModelSpecification,
    ReportCohort,
    ReportData,
    ReportFigure,
)

__all__ = ["render_tripod_report"]

_PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")
_FORBIDDEN_COLUMNS = {"patient_id", "patientid", "mrn", "nhs_number", "date_of_birth", "dob"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- validation
def _check_frame(df: pd.DataFrame | None, name: str, required: Sequence[str] = ()) -> None:
    if df is None:
        return
    if not isinstance(df, pd.DataFrame):
        raise ReportDataError(f"{name} must be a pandas DataFrame; got {type(df).__name__}.")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ReportDataError(f"{name} lacks the column(s) {missing!r}; it has "
                              f"{list(df.columns)!r}.")
    bad = [c for c in df.columns if str(c).lower() in _FORBIDDEN_COLUMNS]
    if bad:
        raise ReportDataError(f"{name} holds the identifier column(s) {bad!r}; a report takes "
                              "summaries only. Drop them.")
    dated = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])
             or (df[c].dtype == object and df[c].map(lambda v: hasattr(v, "year")
                                                     and hasattr(v, "day")).any())]
    if dated:
        raise ReportDataError(f"{name} holds calendar dates in column(s) {dated!r}; a report "
                              "shows periods as years or year-months only.")


def _check_cohort(c: ReportCohort, i: int) -> None:
    where = f"cohorts[{i}] ({c.label!r})"
    if c.role not in ROLES:
        raise ReportDataError(f"{where}: role must be one of {ROLES!r}; got {c.role!r}.")
    for attr in ("accrual_start", "accrual_end", "followup_end"):
        value = getattr(c, attr)
        if value is not None and not _PERIOD.match(str(value)):
            raise ReportDataError(f"{where}: {attr} must be a year or year-month ('YYYY' or "
                                  f"'YYYY-MM'), never a day; got {value!r}.")
    _check_frame(c.flow, f"{where}.flow", ("step", "reason", "n"))
    _check_frame(c.table1, f"{where}.table1", ("variable", "level"))
    if c.profile is not None and not isinstance(c.profile.get("features"), dict):
        raise ReportDataError(f"{where}.profile must have a 'features' dict, as "
                              "training_profile returns; got keys "
                              f"{sorted(c.profile)!r}.")


def _check_figure(f: ReportFigure, i: int) -> None:
    if f.section not in FIGURE_SECTIONS:
        raise ReportDataError(f"figures[{i}] ({f.title!r}): section must be one of "
                              f"{FIGURE_SECTIONS!r}; got {f.section!r}.")
    if not isinstance(f.png, bytes | bytearray) or not bytes(f.png).startswith(_PNG_MAGIC):
        head = bytes(f.png[:8]) if isinstance(f.png, bytes | bytearray) else type(f.png)
        raise ReportDataError(f"figures[{i}] ({f.title!r}): png must be the bytes of a PNG "
                              f"file; got {head!r}.")


def _validate(data: ReportData) -> None:
    labels = [c.label for c in data.cohorts]
    if len(set(labels)) != len(labels):
        raise ReportDataError(f"cohort labels must be unique; got {labels!r}.")
    for i, c in enumerate(data.cohorts):
        _check_cohort(c, i)
    for i, f in enumerate(data.figures):
        _check_figure(f, i)
    _check_frame(data.analysis_counts, "analysis_counts", ("analysis", "participants",
                                                           "events"))
    for label, df in data.performance.items():
        _check_frame(df, f"performance[{label!r}]", ("metric", "value"))
    _check_frame(data.decision_curves, "decision_curves", ("threshold", "net_benefit_model"))
    _check_frame(data.subgroups, "subgroups")
    _check_frame(data.heterogeneity, "heterogeneity")
    for r in data.recalibrations:
        _check_frame(r.performance, f"recalibrations[{r.version!r}].performance",
                     ("metric", "value"))


# --------------------------------------------------------------------------- view model
def _fmt(v: Any) -> str:
    """A cell: integers with thousands separators, floats to 3 decimals (or significant)."""
    if v is None or (isinstance(v, float | np.floating) and not math.isfinite(float(v))):
        return "—"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        if x.is_integer() and abs(x) >= 1000:
            return f"{x:,.0f}"
        if x != 0 and abs(x) < 0.001:
            return f"{x:.2e}"
        return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.3f}"
    if pd.isna(v):
        return "—"
    return str(v)


def _ci(value, lo, hi) -> str:
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(lo)}, {_fmt(hi)}]"


@dataclass
class _Table:
    columns: list[str]
    rows: list[list[str]]
    groups: list[tuple[str, int]] = field(default_factory=list)  # header spans


def _table(df: pd.DataFrame, fmt: Callable[[Any], str] = _fmt) -> _Table:
    """Any frame; ``value``/``lo``/``hi`` become one "estimate (95% CI)" column."""
    df = df.reset_index(drop=True)
    if {"value", "lo", "hi"} <= set(df.columns):
        est = [_ci(v, lo, hi) for v, lo, hi in zip(df["value"], df["lo"], df["hi"],
                                                    strict=True)]
        pos = list(df.columns).index("value")
        df = df.drop(columns=["value", "lo", "hi"])
        df.insert(pos, "estimate (95% CI)", est)
    if {"net_benefit_model", "lo", "hi"} <= set(df.columns):
        est = [_ci(v, lo, hi) for v, lo, hi in zip(df["net_benefit_model"], df["lo"], df["hi"],
                                                    strict=True)]
        df = df.drop(columns=["lo", "hi"]).assign(net_benefit_model=est)
    rows = [[fmt(v) for v in rec] for rec in df.itertuples(index=False, name=None)]
    return _Table([str(c) for c in df.columns], rows)


def _metric_table(df: pd.DataFrame) -> _Table:
    """Metrics with CIs; with a ``model`` column, one column per model."""
    if "model" not in df.columns:
        return _table(df)
    lo = df["lo"] if "lo" in df.columns else pd.Series(np.nan, index=df.index)
    hi = df["hi"] if "hi" in df.columns else pd.Series(np.nan, index=df.index)
    cells = df.assign(cell=[_ci(v, a, b) for v, a, b in zip(df["value"], lo, hi, strict=True)])
    wide = cells.pivot_table(index="metric", columns="model", values="cell", aggfunc="first",
                             sort=False)
    models = list(dict.fromkeys(df["model"]))
    metrics = list(dict.fromkeys(df["metric"]))
    wide = wide.reindex(index=metrics, columns=models)
    rows = [[m, *[str(x) if isinstance(x, str) else "—" for x in wide.loc[m]]] for m in metrics]
    return _Table(["metric", *models], rows)


def _table1_side_by_side(cohorts: list[ReportCohort]) -> _Table | None:
    parts = [(c.label, c.table1) for c in cohorts if _nonempty(c.table1)]
    if not parts:
        return None
    keys: list[tuple[str, str]] = []
    # A CSV read back gives NaN for the empty level of the "n" row: show it empty.
    parts = [(label, t.assign(level=t["level"].fillna(""))) for label, t in parts]
    for _, t in parts:
        for k in zip(t["variable"].astype(str), t["level"].astype(str), strict=True):
            if k not in keys:
                keys.append(k)
    columns, groups, lookup = ["variable", "level"], [("", 2)], []
    for label, t in parts:
        cols = [c for c in t.columns if c not in ("variable", "level")]
        columns += cols
        groups.append((label, len(cols)))
        idx = {(str(v), str(lv)): i for i, (v, lv) in enumerate(zip(t["variable"], t["level"],
                                                                     strict=True))}
        lookup.append((t, cols, idx))
    rows = []
    for var, level in keys:
        row = [var, level]
        for t, cols, idx in lookup:
            i = idx.get((var, level))
            row += [_fmt(t.iloc[i][c]) if i is not None else "" for c in cols]
        rows.append(row)
    return _Table(columns, rows, groups)


def _numeric_summary(entry: dict) -> str:
    q = entry.get("quantiles") or []
    if len(q) != 11:
        return "—"
    return f"{_fmt(q[5])} ({_fmt(q[1])} to {_fmt(q[9])})"


def _profile_rows(name: str, entries: list[dict | None]) -> list[list[str]]:
    kind = next((e.get("kind") for e in entries if e), None)
    rows = []
    if kind == "numeric":
        rows.append([name, "median (10th to 90th centile)",
                     *[_numeric_summary(e) if e else "—" for e in entries]])
    else:
        levels = list(dict.fromkeys(k for e in entries if e for k in e.get("shares", {})))
        for level in levels:
            rows.append([name, level, *[f"{100 * e['shares'].get(level, 0.0):.1f}%" if e else "—"
                                        for e in entries]])
    rows.append([name, "missing", *[f"{100 * e.get('missing', 0.0):.1f}%" if e else "—"
                                    for e in entries]])
    return rows


def _distributions(cohorts: list[ReportCohort]) -> _Table | None:
    with_profile = [c for c in cohorts if c.profile]
    if {c.role for c in with_profile} != set(ROLES):
        return None
    names = list(dict.fromkeys(f for c in with_profile for f in c.profile["features"]))
    rows = []
    for name in names:
        rows += _profile_rows(name, [c.profile["features"].get(name) for c in with_profile])
    return _Table(["predictor", "statistic", *[c.label for c in with_profile]], rows)


@dataclass
class _FlowDiagram:
    width: int
    height: int
    boxes: list[dict]
    arrows: list[tuple[int, int, int, int]]


def _box_width(lines: list[str], minimum: int) -> int:
    """Width that fits the longest line at 13 px Arial (about 7 px per character)."""
    return max(minimum, 7 * max(len(t) for t in lines) + 20)


def _flow_diagram(cohort: ReportCohort) -> _FlowDiagram | None:
    """CONSORT-style boxes: the extract, the exclusions beside the arrow, the analysed."""
    flow = cohort.flow
    if not _nonempty(flow):
        return None
    line, pad, main_x, main_w, side_x = 17, 12, 10, 250, 300
    centre = main_x + main_w // 2
    start = flow[flow["step"] == "extract"]
    excluded = flow[flow["step"] == "excluded"]
    included = flow[flow["step"] == "included"]
    boxes, arrows, y = [], [], 10
    if len(start):
        r = start.iloc[0]
        lines = [str(r["reason"]).capitalize(), f"n = {_fmt(int(r['n']))}"]
        boxes.append({"x": main_x, "y": y, "w": _box_width(lines, main_w),
                      "h": line * len(lines) + pad, "lines": lines})
        y += line * len(lines) + pad
    if len(excluded):
        lines = [f"Excluded (n = {_fmt(int(excluded['n'].sum()))})"] + [
            f"{reason}: {_fmt(int(n))}" for reason, n in zip(excluded["reason"], excluded["n"],
                                                             strict=True)]
        h = line * len(lines) + pad
        top, y = y, y + 30
        boxes.append({"x": side_x, "y": y, "w": _box_width(lines, 300), "h": h,
                      "lines": lines})
        arrows.append((centre, y + h // 2, side_x, y + h // 2))
        y += h + 30
        arrows.append((centre, top, centre, y))
    for _, r in included.iterrows():
        lines = [str(r["reason"]).capitalize(), f"n = {_fmt(int(r['n']))}"]
        if (cohort.events is not None and cohort.n is not None
                and cohort.competing_events is not None):
            lines.append(f"event of interest: {_fmt(int(cohort.events))}; competing event: "
                         f"{_fmt(int(cohort.competing_events))}; censored: "
                         f"{_fmt(int(cohort.n - cohort.events - cohort.competing_events))}")
        elif cohort.events is not None and cohort.n is not None:
            lines.append(f"with the outcome: {_fmt(int(cohort.events))}; without: "
                         f"{_fmt(int(cohort.n - cohort.events))}")
        if cohort.median_followup is not None:
            lines.append(f"median follow-up: {cohort.median_followup:.1f} months")
        boxes.append({"x": main_x, "y": y, "w": _box_width(lines, main_w),
                      "h": line * len(lines) + pad, "lines": lines})
        y += line * len(lines) + pad + 10
    width = max(b["x"] + b["w"] for b in boxes) + 10
    return _FlowDiagram(width=width, height=y + 10, boxes=boxes, arrows=arrows)


def _rest_example(model: ModelSpecification) -> str:
    columns = ", ".join(f'"{c}"' for c in model.input_columns)
    nulls = ", ".join("null" for _ in model.input_columns)
    body = f'{{"dataframe_split": {{"columns": [{columns}], "data": [[{nulls}]]}}}}'
    return (f"mmrisk serve --model {model.model_uri} --port {model.port}\n"
            f"curl -X POST 127.0.0.1:{model.port}/invocations \\\n"
            f"     -H 'Content-Type: application/json' \\\n"
            f"     -d '{body}'")


def _cause_hr_table(hr: pd.DataFrame) -> _Table:
    """Hazard ratios of each cause with their coefficients (log hazard ratios)."""
    rows = []
    for r in hr.itertuples(index=False):
        b = math.log(r.hr) if r.hr > 0 else float("nan")
        rows.append([str(r.cause), str(r.term), f"{b:.6g}", f"{r.hr:.6g}",
                     _ci(r.hr, getattr(r, "hr_lo", None), getattr(r, "hr_hi", None))
                     .partition(" ")[2] or "—",
                     _fmt(getattr(r, "p", None))])
    return _Table(["cause", "encoded column", "coefficient", "hazard ratio", "95% CI",
                   "p-value"], rows)


def _model_view(model: ModelSpecification | None) -> dict | None:
    if model is None:
        return None
    view: dict[str, Any] = {"spec": model, "coefficients": None, "baseline": None, "rest": None,
                            "cause_hr": None, "baseline_cif": None}
    if _nonempty(model.cause_hazard_ratios):
        view["cause_hr"] = _cause_hr_table(model.cause_hazard_ratios)
    if model.baseline_cif:
        view["baseline_cif"] = _Table(["horizon", "baseline CIF0(h)"],
                                      [[f"{h:g}", f"{c:.6g}"]
                                       for h, c in sorted(model.baseline_cif.items())])
    if model.is_cox:
        centre = model.centering or {}
        view["coefficients"] = _Table(
            ["encoded column", "coefficient", "hazard ratio", "centred at"],
            [[name, f"{b:.6g}", f"{math.exp(b):.6g}",
              f"{centre[name]:.6g}" if name in centre else "0"]
             for name, b in model.coefficients.items()])
        view["baseline"] = _Table(["horizon", "baseline survival S0(h)"],
                                  [[f"{h:g}", f"{s:.6g}"]
                                   for h, s in sorted(model.baseline_survival.items())])
    if model.model_uri:
        view["rest"] = _rest_example(model)
    return view


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(bytes(png)).decode("ascii")


def _figures_by_section(figures: list[ReportFigure]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {s: [] for s in FIGURE_SECTIONS}
    for f in figures:
        out[f.section].append({"title": f.title, "caption": f.caption, "src": _png_uri(f.png)})
    return out


def _view(data: ReportData) -> dict[str, Any]:
    flags = _content_flags(data)
    return {
        "d": data,
        "has": flags,
        "checklist": tripod_checklist(data),
        "n_items": len({it.item.rstrip("abcdefg") for it in TRIPOD_AI_ITEMS}),
        "flows": [(c, _flow_diagram(c)) for c in data.cohorts if _nonempty(c.flow)],
        "table1": _table1_side_by_side(data.cohorts),
        "distributions": _distributions(data.cohorts),
        "counts": _table(data.analysis_counts) if flags["analysis-counts"] else None,
        "performance": [(label, _metric_table(t)) for label, t in data.performance.items()
                        if _nonempty(t)],
        "decision_curves": _table(data.decision_curves) if flags["decision-curves"] else None,
        "subgroups": _table(data.subgroups) if flags["subgroups"] else None,
        "heterogeneity": _table(data.heterogeneity) if flags["heterogeneity"] else None,
        "recalibrations": [(r, _metric_table(r.performance) if _nonempty(r.performance)
                            else None) for r in data.recalibrations],
        "model": _model_view(data.model),
        "figures": _figures_by_section(data.figures),
        "sample_size": data.sample_size,
        "time_unit": data.outcome.time_unit if data.outcome else "units of time",
        "time_unit_singular": (data.outcome.time_unit.removesuffix("s") if data.outcome
                               else "unit of time"),
        "fmt": _fmt,
    }


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("mmrisk.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_tripod_report(data: ReportData) -> str:
    """Render the self-contained TRIPOD+AI HTML report.

    Parameters
    ----------
    data : ReportData
        The report's content; empty fields leave their TRIPOD+AI items to the authors.

    Returns
    -------
    str
        One HTML document: inline CSS (screen and print), figures as PNG data URIs, an inline
        SVG participant-flow diagram per cohort with a flow table, and the TRIPOD+AI checklist.

    Raises
    ------
    ReportDataError
        For invalid content: a figure that is not a PNG, a period with a day, a table with an
        identifier column or dates, a table without its required columns.
    """
    _validate(data)
    return _ENV.get_template("tripod_report.html.j2").render(**_view(data))
