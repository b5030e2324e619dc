"""``mmrisk evaluate`` writes the TRIPOD+AI report of the model with this evaluation.

The shared evaluation (tests/support/trained_job.py: the champion of the small job on a new
extract, another seed) stores Table 1, the predictor profile and the cohort facts of the
evaluated patients. Each is checked against numbers computed here, independently, from the
cohort rebuilt from the extract: medians and IQRs with numpy, counts with pandas, follow-up by
reverse Kaplan-Meier with statsmodels. The report in the output folder is the one logged with
the evaluation run, shows the evaluation's Table 1 beside the development one and the predictor
distributions development vs evaluation (TRIPOD+AI 20c), and holds no identifier or date.
"""

from __future__ import annotations

import json
import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.registry import read_extract
from mmrisk.tracking import load_model
from mmrisk.workflows._evaluation_report import log_evaluation_report


@pytest.fixture(scope="module")
def evaluated(trained_job, evaluated_job):
    """The evaluated job with its cohort rebuilt here and its report as text."""
    loaded = load_model(trained_job["registered"], trained_job["tracking_uri"])
    cohort = build_cohort(read_extract(evaluated_job["extract"]),
                          CohortSpec(**loaded.meta["cohort"]))
    exclusions = pd.read_csv(evaluated_job["out"] / "exclusions.csv")
    # Every cohort row passed the input checks, so the evaluated rows are the cohort's rows.
    assert not (exclusions["stage"] == "input check").any()
    assert len(cohort.data) == evaluated_job["result"].facts["n_patients"]
    html = (evaluated_job["out"] / "report.html").read_text(encoding="utf-8")
    return {**evaluated_job, "cohort": cohort, "meta": loaded.meta, "html": html}


def _iqr_cell(values: pd.Series) -> str:
    q1, med, q3 = np.percentile(values.dropna().to_numpy(float), [25, 50, 75])
    return f"{med:.3g} [{q1:.3g}–{q3:.3g}]"


def test_table1_of_the_evaluation_cohort(evaluated):
    t1 = pd.read_csv(evaluated["out"] / "table1.csv", dtype=str, keep_default_na=False)
    data = evaluated["cohort"].data
    cell = t1.set_index(["variable", "level"])["Overall"]
    assert cell[("n", "")] == f"{len(data):,}"
    assert cell[("age", "median [IQR]")] == _iqr_cell(data["age"])
    assert cell[("age", "missing")] == str(int(data["age"].isna().sum()))
    sex = data["sex"].dropna().astype(str)
    for level, n in sex.value_counts().items():
        assert cell[("sex", level)] == f"{n:,} ({100 * n / len(sex):.1f}%)"
    # Grouped as the development Table 1 (lm_schedule at the lm_start landmark).
    n_row = t1[t1["variable"] == "n"]
    for level, n in data["lm_schedule"].dropna().astype(str).value_counts().items():
        assert n_row[f"lm_schedule={level}"].item() == f"{n:,}"
    assert n_row["lm_schedule=missing"].item() == f"{data['lm_schedule'].isna().sum():,}"


def test_profile_and_cohort_facts(evaluated):
    data = evaluated["cohort"].data
    prof = json.loads((evaluated["out"] / "profile.json").read_text(encoding="utf-8"))
    assert prof["n"] == len(data) and list(prof["features"]) == evaluated["meta"]["features"]
    age = prof["features"]["age"]
    np.testing.assert_allclose(age["quantiles"], np.quantile(data["age"].dropna(),
                                                             np.linspace(0, 1, 11)))
    assert age["missing"] == pytest.approx(data["age"].isna().mean())
    shares = data["sex"].dropna().astype(str).value_counts(normalize=True)
    assert prof["features"]["sex"]["shares"] == pytest.approx(shares.to_dict())
    facts = json.loads((evaluated["out"] / "cohort.json").read_text(encoding="utf-8"))
    years = data["transplant_year"].astype(int)
    assert (facts["accrual_start"], facts["accrual_end"]) == (str(years.min()), str(years.max()))
    assert facts["n_centres"] == data["site"].nunique() and facts["registry"] is True
    # Median follow-up: reverse Kaplan-Meier (censoring as the event), statsmodels.
    reverse = SurvfuncRight(data["time"].to_numpy(float), 1 - data["event"].to_numpy(int))
    assert facts["median_followup_months"] == pytest.approx(reverse.quantile(0.5), rel=1e-9)


def _section(html: str, anchor: str) -> str:
    start = html.index(f'<div id="{anchor}">')
    return html[start:html.index("</div>", start)]


def test_report_written_logged_and_filled(evaluated, trained_job):
    html, data = evaluated["html"], evaluated["cohort"].data
    logged = mlflow.artifacts.download_artifacts(
        run_id=evaluated["run_id"], artifact_path="report.html",
        tracking_uri=trained_job["tracking_uri"])
    assert open(logged, encoding="utf-8").read() == html
    assert evaluated["out"] / "report.html" in evaluated["result"].files
    # Table 1: development and the evaluation side by side; the evaluation's own numbers.
    table1 = _section(html, "table1")
    assert '<th colspan="4" class="group">development</th>' in table1
    assert '<th colspan="4" class="group">evaluation 1</th>' in table1
    age_row = re.search(r"<tr><td>age</td><td>median \[IQR\]</td>(.*?)</tr>", table1).group(1)
    assert _iqr_cell(data["age"]) in age_row
    # Predictor distributions (20c): the evaluation's median age beside the development one.
    dist = _section(html, "distributions")
    dev_q = evaluated["meta"]["profile"]["features"]["age"]["quantiles"]
    row = re.search(r"<tr><td>age</td><td>median \(10th to 90th centile\)</td>"
                    r"<td>([^<]*)</td><td>([^<]*)</td></tr>", dist)
    assert row.group(1).startswith(f"{dev_q[5]:.3f} (")
    assert row.group(2).startswith(f"{np.quantile(data['age'].dropna(), 0.5):.3f} (")
    assert 'id="item-20c"' in html and '<a href="#distributions">reported</a>' in html
    # Period and follow-up of the evaluation cohort (years only).
    years = data["transplant_year"].astype(int)
    assert (f"<strong>evaluation 1</strong>: accrual {years.min()} to {years.max()}"
            in html)
    assert "median follow-up:" in _section(html, "flow")
    # No identifier, no calendar date.
    ids = read_extract(evaluated["extract"]).tables["patients"]["patient_id"].astype(str)
    assert not [p for p in ids if p in html]
    assert not re.search(r"\b(19|20)\d\d-[01]\d-[0-3]\d\b", html)


def test_a_report_that_cannot_be_built_never_fails(tmp_path, trained_job, caplog):
    assert log_evaluation_report("0" * 32, tmp_path,
                                 tracking_uri=trained_job["tracking_uri"]) is None
    assert not (tmp_path / "report.html").exists()
    assert "report.html was not written" in caplog.text
