"""The TRIPOD+AI HTML report: self-contained, parseable, honest checklist, embedded figures."""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import zlib
from html.parser import HTMLParser
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from mmrisk.cohort import table1
from mmrisk.evaluation import survival_sample_size
from mmrisk.exceptions import ReportDataError
from mmrisk.report import (
    SCORING_RULES,
    TRIPOD_AI_ITEMS,
    AnalysisDescription,
    ModelSpecification,
    OutcomeDefinition,
    Predictor,
    Recalibration,
    ReportCohort,
    ReportData,
    ReportFigure,
    SampleSizeCheck,
    render_tripod_report,
    tripod_checklist,
)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
# TRIPOD+AI (Collins et al., BMJ 2024;385:e078378), Table 1: the numbered items and sub-items.
TRIPOD_AI_NUMBERS = (
    "1 2 3a 3b 3c 4 5a 5b 6a 6b 6c 7 8a 8b 8c 9a 9b 9c 10 11 12a 12b 12c 12d 12e 12f 12g 13 14 "
    "15 16 17 18a 18b 18c 18d 18e 18f 19 20a 20b 20c 21 22 23a 23b 24 25 26 27a 27b 27c").split()
# Only the authors can report these, whatever the run holds.
AUTHOR_ONLY = {"1", "2", "3a", "3b", "3c", "4", "8b", "8c", "9c", "14", "17", "18a", "18b",
               "18c", "18d", "18e", "18f", "19", "25", "26", "27b", "27c"}


def _png(width: int = 3, height: int = 2, shade: int = 0) -> bytes:
    """A real (tiny, grey) PNG file, built from its specification."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + bytes([shade] * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class _Page(HTMLParser):
    """Strict structure check: balanced tags, ids, links, images, and the text under each id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.tags: list[str] = []
        self.text_by_id: dict[str, list[str]] = {}
        self.rows: dict[str, list[str]] = {}
        self._row: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.append(a["id"])
            self.text_by_id[a["id"]] = []
            if tag == "tr" and a["id"].startswith("item-"):
                self._row = a["id"][5:]
                self.rows[self._row] = []
        for key in ("href", "src", "xlink:href", "action", "data"):
            if key in a:
                (self.hrefs if key != "src" else self.srcs).append(a[key])
        if tag not in VOID:
            self.stack.append((tag, a.get("id")))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
            return
        _, ident = self.stack.pop()
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        for _, ident in self.stack:
            if ident is not None and ident in self.text_by_id:
                self.text_by_id[ident].append(data)
        if self._row is not None:
            self.rows[self._row].append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def full() -> ReportData:
    rng = np.random.default_rng(3)
    n = 120
    dev = pd.DataFrame({"age": rng.normal(58, 8, n).round(), "iss": rng.choice(["I", "II", "III"],
                                                                                n),
                        "ldh_U_L": np.where(rng.random(n) < 0.1, np.nan, rng.normal(220, 40, n)),
                        "lm_schedule": rng.choice(["continuous", "21/28"], n)})
    ev = dev.sample(60, random_state=1).reset_index(drop=True)
    feats = ["age", "iss", "ldh_U_L"]
    flow = pd.DataFrame({
        "step": ["extract", "excluded", "excluded", "excluded", "included"],
        "reason": ["rows of the patients table", "not transplanted upfront (no auto_upfront ASCT)",
                   "did not start lenalidomide maintenance",
                   "progressed or died before the landmark", "analysed at the landmark"],
        "n": [1256, 61, 471, 33, 691],
    })
    prof = {"n": n, "features": {
        "age": {"kind": "numeric", "missing": 0.0,
                "quantiles": [40, 48, 51, 54, 56, 58, 60, 62, 65, 68, 77]},
        "iss": {"kind": "categorical", "missing": 0.05, "shares": {"I": 0.4, "II": 0.35,
                                                                    "III": 0.25}}}}
    prof_ev = {"n": 60, "features": {
        "age": {"kind": "numeric", "missing": 0.02,
                "quantiles": [42, 49, 52, 55, 57, 59, 61, 63, 66, 69, 79]},
        "iss": {"kind": "categorical", "missing": 0.0, "shares": {"I": 0.3, "III": 0.7}}}}
    ss = survival_sample_size(0.051, 30, 0.065, 2, 2.07)
    perf = pd.DataFrame({"model": ["coxnet", "coxnet", "staging", "staging"],
                         "metric": ["cv_cindex_uno", "cv_ibs"] * 2,
                         "value": [0.555, 0.189, 0.519, 0.188],
                         "lo": [0.526, 0.177, 0.489, 0.176], "hi": [0.588, 0.2, 0.552, 0.198]})
    return ReportData(
        title="coxnet: progression on lenalidomide maintenance",
        provenance={"run": "abc123", "model": "mmrisk-pfs-on-lm v3"},
        cohorts=[
            ReportCohort("development", "development", source="CMRG registry (synthetic)",
                         setting="transplant centres", n_centres=12, accrual_start="2008-01",
                         accrual_end="2019-12", followup_end="2023-06",
                         eligibility=["upfront ASCT", "started lenalidomide maintenance"],
                         flow=flow, n=691, events=333, median_followup=41.2,
                         table1=table1(dev, feats, "lm_schedule"), profile=prof),
            ReportCohort("external 2020-2023", "evaluation", source="new centres",
                         accrual_start="2020", accrual_end="2023",
                         table1=table1(ev, feats, None), profile=prof_ev, n=60, events=25),
        ],
        outcome=OutcomeDefinition("Progression (IMWG) or death, whichever first.",
                                  "first dose of lenalidomide maintenance", [12, 24, 36, 60],
                                  assessment="registry follow-up"),
        predictors=[Predictor("age", "age at diagnosis", "years", "numeric", 0.0),
                    Predictor("iss", "ISS stage at diagnosis", None, "categorical", 0.05),
                    Predictor("ldh_U_L", "LDH before ASCT", "U/L", "numeric", 0.1)],
        predictor_selection="all registry variables known at the landmark",
        data_preparation="validator findings set to missing (12 cells)",
        treatments="all on lenalidomide maintenance; schedule is a predictor",
        missing_data="median/mode imputation fitted on training folds",
        sample_size=SampleSizeCheck(ss, "apparent fit of the Cox model", 691, 333),
        analysis=AnalysisDescription(
            data_use="5 x 2 cross-validation on the whole cohort",
            predictor_handling="one-hot encoding; standardised for penalised models",
            models=["Cox (unpenalised)", "elastic-net Cox"], tuning="grid over alpha",
            internal_validation="5 x 2 CV with 200 bootstrap replicates",
            heterogeneity_method="leave-one-centre-out", measures=["Uno's C", "IBS"],
            updating_method="baseline recalibration",
            prediction_method="pyfunc model applied to the evaluation rows",
            class_imbalance="none used (survival outcome)",
            model_output="risk score, tertile risk groups, survival at horizons",
            software="mmrisk 0.1.0"),
        evaluation_differences="later period; same eligibility",
        analysis_counts=pd.DataFrame({"analysis": ["development", "evaluation"],
                                      "participants": [691, 60], "events": [333, 25]}),
        model=ModelSpecification("coxnet", "coxnet", coefficients={"age": 0.01, "iss_III": 0.3},
                                 centering={"age": 58.0}, baseline_survival={12: 0.8, 24: 0.6},
                                 model_uri="models:/mmrisk-pfs-on-lm@champion",
                                 input_columns=["age", "iss"],
                                 output_columns=["risk_score", "surv_12m"]),
        performance={"development, 5 x 2 CV": perf},
        decision_curves=pd.DataFrame({"horizon": [36, 36], "threshold": [0.2, 0.4],
                                      "net_benefit_model": [0.3, 0.1], "lo": [0.25, 0.05],
                                      "hi": [0.35, 0.15], "net_benefit_all": [0.28, 0.02]}),
        subgroups=pd.DataFrame({"subgroup": ["age < 65", "age >= 65"], "metric": ["c", "c"],
                                "value": [0.56, 0.53], "lo": [0.52, 0.48], "hi": [0.6, 0.58]}),
        heterogeneity=pd.DataFrame({"metric": ["cindex"], "tau2": [0.001], "I2": [0.12]}),
        recalibrations=[Recalibration("v4", "baseline", "v3", "S0 re-estimated",
                                      pd.DataFrame({"metric": ["ici_36m"], "value": [0.02],
                                                    "lo": [0.01], "hi": [0.03]}))],
        figures=[ReportFigure("calibration", "Calibration at 36 months", _png(shade=10)),
                 ReportFigure("performance", "Time-dependent AUC", _png(shade=200), "OOF")],
        scoring_rules=list(SCORING_RULES),
    )


@pytest.fixture(scope="module")
def full_html(full) -> str:
    return render_tripod_report(full)


def test_the_page_parses_with_balanced_tags_and_unique_ids(full_html):
    page = _parse(full_html)
    assert page.errors == []
    assert [t for t, _ in page.stack] == []
    assert len(page.ids) == len(set(page.ids))
    assert full_html.lstrip().lower().startswith("<!doctype html>")


def test_no_reference_to_another_host(full_html):
    page = _parse(full_html)
    assert "http://" not in full_html and "https://" not in full_html
    assert "@import" not in full_html
    assert all(h.startswith("#") for h in page.hrefs), page.hrefs
    assert set(h[1:] for h in page.hrefs) <= set(page.ids)
    assert all(s.startswith("data:image/png;base64,") for s in page.srcs)
    assert set(re.findall(r"url\(([^)]*)\)", full_html)) <= {f"#arrow-{i}" for i in range(1, 9)}
    assert "<script" not in full_html and "<link" not in full_html


def test_citations_are_plain_text(full_html):
    assert "doi:10.1136/bmj-2023-078378" in full_html
    assert "doi:10.1136/bmj.m441" in full_html


def test_figures_are_embedded_byte_for_byte(full, full_html):
    page = _parse(full_html)
    decoded = [base64.b64decode(s.split(",", 1)[1]) for s in page.srcs]
    assert sorted(decoded) == sorted(f.png for f in full.figures)


def test_every_checklist_item_appears_once(full_html):
    assert [it.item for it in TRIPOD_AI_ITEMS] == TRIPOD_AI_NUMBERS
    assert len({n.rstrip("abcdefg") for n in TRIPOD_AI_NUMBERS}) == 27
    page = _parse(full_html)
    assert list(page.rows) == TRIPOD_AI_NUMBERS
    for n in TRIPOD_AI_NUMBERS:
        assert len(re.findall(rf'<tr id="item-{re.escape(n)}">', full_html)) == 1


def test_an_empty_report_leaves_every_item_to_the_authors():
    html = render_tripod_report(ReportData(title="nothing yet"))
    page = _parse(html)
    assert page.errors == []
    assert list(page.rows) == TRIPOD_AI_NUMBERS
    for n, texts in page.rows.items():
        assert "".join(texts).strip().endswith("author to complete"), n
    anchors = {it.anchor for it in TRIPOD_AI_ITEMS if it.anchor}
    assert not anchors & set(page.ids)
    assert all(r["status"] == "author to complete" for r in
               tripod_checklist(ReportData(title="nothing yet")))


def test_covered_items_link_to_parts_with_content(full, full_html):
    page = _parse(full_html)
    rows = tripod_checklist(full)
    for r in rows:
        cell = "".join(page.rows[r["item"]])
        if r["item"] in AUTHOR_ONLY:
            assert r["status"] == "author to complete" and "author to complete" in cell
            continue
        assert r["status"] in ("reported", "partly reported"), r
        assert r["anchor"] in page.ids
        text = " ".join(page.text_by_id[r["anchor"]]).split()
        assert len(text) >= 3, (r["item"], text)
        if r["status"] == "partly reported":
            assert f"author to complete: {r['remainder']}" in " ".join(cell.split())


def test_removing_content_uncovers_its_item(full):
    import dataclasses

    cases = {"11": {"missing_data": None}, "10": {"sample_size": None},
             "22": {"model": None}, "24": {"recalibrations": []},
             "27a": {"scoring_rules": []}, "21": {"analysis_counts": None},
             "23b": {"heterogeneity": None}, "16": {"evaluation_differences": None}}
    for item, change in cases.items():
        data = dataclasses.replace(full, **change)
        row = next(r for r in tripod_checklist(data) if r["item"] == item)
        assert row["status"] == "author to complete", item
        html = render_tripod_report(data)
        anchor = next(it.anchor for it in TRIPOD_AI_ITEMS if it.item == item)
        assert f'id="{anchor}"' not in html, item


def test_predictor_comparison_needs_both_roles(full):
    import dataclasses

    only_dev = dataclasses.replace(full, cohorts=full.cohorts[:1])
    row = next(r for r in tripod_checklist(only_dev) if r["item"] == "20c")
    assert row["status"] == "author to complete"


def test_subgroups_missing_leave_23a_partly_to_the_authors(full):
    import dataclasses

    rows = {r["item"]: r for r in tripod_checklist(dataclasses.replace(full, subgroups=None))}
    assert rows["23a"]["status"] == "partly reported"
    assert "subgroups" in rows["23a"]["remainder"]
    rows = {r["item"]: r for r in tripod_checklist(full)}
    assert rows["23a"]["status"] == "reported"


def test_the_data_structure_has_no_identifier_or_date_field():
    import dataclasses

    from mmrisk.report import _tripod_data

    for name in _tripod_data.__all__:
        cls = getattr(_tripod_data, name)
        if dataclasses.is_dataclass(cls):
            for f in dataclasses.fields(cls):
                assert not re.search(r"patient|_id$|date|birth|dob", f.name), (name, f.name)


def test_no_calendar_day_or_identifier_can_enter(full, full_html):
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", full_html)
    with pytest.raises(ReportDataError, match=r"accrual_start must be a year or year-month"):
        render_tripod_report(ReportData("x", cohorts=[ReportCohort("d", accrual_start="2019-03"
                                                                   "-15")]))
    with_id = full.cohorts[0].table1.assign(patient_id="P0001")
    with pytest.raises(ReportDataError, match=r"identifier column\(s\) \['patient_id'\]"):
        render_tripod_report(ReportData("x", cohorts=[ReportCohort("d", table1=with_id)]))
    dated = pd.DataFrame({"analysis": ["dev"], "participants": [1], "events": [0],
                          "cut": pd.to_datetime(["2020-01-31"])})
    with pytest.raises(ReportDataError, match=r"calendar dates in column\(s\) \['cut'\]"):
        render_tripod_report(ReportData("x", analysis_counts=dated))


def test_text_is_escaped(full):
    import dataclasses

    data = dataclasses.replace(full, predictors=[Predictor("x", "<script>alert(1)</script>")])
    html = render_tripod_report(data)
    assert "script" not in _parse(html).tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_invalid_figures_and_tables_are_refused():
    with pytest.raises(ReportDataError, match=r"png must be the bytes of a PNG file"):
        render_tripod_report(ReportData("x", figures=[ReportFigure("performance", "f",
                                                                   b"GIF89a...")]))
    with pytest.raises(ReportDataError, match=r"section must be one of"):
        render_tripod_report(ReportData("x", figures=[ReportFigure("appendix", "f", _png())]))
    with pytest.raises(ReportDataError, match=r"flow lacks the column\(s\) \['n'\]"):
        render_tripod_report(ReportData("x", cohorts=[ReportCohort(
            "d", flow=pd.DataFrame({"step": ["extract"], "reason": ["all"]}))]))
    with pytest.raises(ReportDataError, match=r"role must be one of"):
        render_tripod_report(ReportData("x", cohorts=[ReportCohort("d", role="test")]))


def test_flow_diagram_shows_every_count(full, full_html):
    svg = re.search(r"<svg.*?</svg>", full_html, re.S).group(0)
    flow = full.cohorts[0].flow
    for reason, n in zip(flow["reason"], flow["n"], strict=True):
        assert f"{n:,}" in svg
        if reason.startswith(("not", "did", "progressed")):
            assert f"{reason}: {n:,}" in svg
    assert f"Excluded (n = {61 + 471 + 33:,})" in svg
    assert "with the outcome: 333; without: 358" in svg


def test_table1_side_by_side(full_html):
    page = _parse(full_html)
    text = " ".join(" ".join(page.text_by_id["table1"]).split())
    assert "development" in text and "external 2020-2023" in text
    assert "lm_schedule=continuous" in text


def test_sample_size_states_whether_the_cohort_meets_it(full, full_html):
    import dataclasses

    assert "it does not meet the minimum of 5,143 participants" in " ".join(full_html.split())
    ok = dataclasses.replace(full, sample_size=SampleSizeCheck(full.sample_size.result, "x",
                                                               6000, 800))
    assert "it meets the minimum of 5,143" in " ".join(render_tripod_report(ok).split())


def test_rest_call_is_valid_json_with_the_model_inputs(full_html):
    page = _parse(full_html)
    text = " ".join(page.text_by_id["model-spec"])
    body = re.search(r"-d '(\{.*\})'", text).group(1)
    payload = json.loads(body)
    assert payload["dataframe_split"]["columns"] == ["age", "iss"]
    assert "mmrisk serve --model models:/mmrisk-pfs-on-lm@champion" in text


def _cells(html: str, caption: str) -> list[list[str]]:
    """Rows of the table whose caption starts with ``caption``."""
    table = re.search(rf"<caption>{re.escape(caption)}.*?</table>", html, re.S).group(0)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table,
                                                                       re.S)[1:]]


def test_cox_prediction_recomputed_from_the_report_matches_lifelines():
    # The report must carry enough to recompute a prediction by hand (issue 13): fit lifelines'
    # CoxPHFitter on the Rossi data, report it, read the numbers back from the HTML and compare
    # S(h | x) = S0(h) ^ exp(sum b (x - centre)) with lifelines' own prediction.
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    rossi = load_rossi()
    cph = CoxPHFitter().fit(rossi, "week", "arrest")
    horizons = [13.0, 26.0, 52.0]
    s0 = [cph.baseline_survival_.loc[:h].iloc[-1, 0] for h in horizons]  # step function
    spec = ModelSpecification("cox", "cox", coefficients=cph.params_.to_dict(),
                              centering=cph._norm_mean.to_dict(),
                              baseline_survival=dict(zip(horizons, s0, strict=True)))
    html = render_tripod_report(ReportData("rossi", model=spec))
    coef = {r[0]: (float(r[1]), float(r[3])) for r in _cells(html, "Coefficients")}
    base = {float(r[0]): float(r[1]) for r in _cells(html, "Baseline survival")}
    x = rossi.drop(columns=["week", "arrest"]).iloc[[0, 5, 17]]
    lp = sum(b * (x[name] - c) for name, (b, c) in coef.items())
    mine = np.array([[base[h] ** math.exp(v) for h in horizons] for v in lp])
    ref = cph.predict_survival_function(x, times=horizons).T.to_numpy()
    np.testing.assert_allclose(mine, ref, atol=1e-5)


def test_template_is_package_data():
    template = files("mmrisk.report") / "templates" / "tripod_report.html.j2"
    assert template.is_file()


def test_dates_without_end_of_follow_up_are_partly_reported(full):
    """5b: a listed period that says "end of follow-up not recorded" is not fully reported."""
    import dataclasses

    dev = dataclasses.replace(full.cohorts[0], followup_end=None)
    rows = {r["item"]: r for r in tripod_checklist(dataclasses.replace(full, cohorts=[dev]))}
    assert "not recorded" in render_tripod_report(dataclasses.replace(full, cohorts=[dev]))
    assert rows["5b"]["status"] == "partly reported"
    assert rows["5b"]["remainder"] == "end of follow-up of the development cohort"
    complete = dataclasses.replace(full, cohorts=full.cohorts[:1])  # 2008-01 to 2019-12; 2023-06
    assert {r["item"]: r for r in tripod_checklist(complete)}["5b"]["status"] == "reported"
    # The full fixture's evaluation cohort has accrual years but no end of follow-up.
    rows = {r["item"]: r for r in tripod_checklist(full)}
    assert rows["5b"]["remainder"] == "end of follow-up of the external 2020-2023 cohort"
