"""The TRIPOD+AI report of a competing-risks train run (shared ``cr_job`` fixture).

Numbers in the report are checked against what the runs logged, read independently through
``MlflowClient`` (child-run metrics and intervals, ``hazard_ratios.csv`` of both causes), against
the simulated table itself (events of each cause and censored in the flow diagram), against
lifelines' Aalen–Johansen estimator (the cohort's CIF at the horizons) and against the model
(a Fine–Gray CIF recomputed by hand from the report's coefficients and baseline CIF equals the
model's prediction).
"""

from __future__ import annotations

import html as htmllib
import math
import re
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.exceptions import MMRiskError
from mmrisk.models import predict_cif_at, split_model
from mmrisk.tracking import load_model
from mmrisk.workflows import build_report, evaluate

runner = CliRunner()


def _fmt3(x: float) -> str:
    return f"{x:.3f}"


def _text(page: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", page))


def _table_rows(page: str, caption_start: str) -> list[list[str]]:
    """Cells of the table whose caption starts with ``caption_start``."""
    i = page.index(f"<caption>{caption_start}")
    body = page[i:page.index("</table>", i)]
    return [[htmllib.unescape(c.strip()) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
            if "<td>" in row]


@pytest.fixture(scope="module")
def client(cr_job):
    return MlflowClient(tracking_uri=cr_job["tracking_uri"])


@pytest.fixture(scope="module")
def logged(cr_job, tmp_path_factory):
    """``report.html`` as ``train`` logged it with the competing-risks parent run."""
    path = mlflow.artifacts.download_artifacts(
        run_id=cr_job["result"].parent_run_id, artifact_path="report.html",
        dst_path=str(tmp_path_factory.mktemp("cr-logged")), tracking_uri=cr_job["tracking_uri"])
    return open(path, encoding="utf-8").read()


@pytest.fixture(scope="module")
def rebuilt(cr_job, tmp_path_factory):
    """``mmrisk report --run <parent>``."""
    out = tmp_path_factory.mktemp("cr-rebuilt") / "report.html"
    res = runner.invoke(app, ["report", "--run", cr_job["result"].parent_run_id, "--out",
                              str(out), "--tracking-uri", cr_job["tracking_uri"]])
    assert res.exit_code == 0, res.output
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def finegray_page(cr_job):
    return build_report(model_uri=cr_job["runs"]["finegray"],
                        tracking_uri=cr_job["tracking_uri"])


def test_train_logs_and_report_rebuilds_it(logged, rebuilt):
    for page in (logged, rebuilt):
        assert page.startswith("<!DOCTYPE html>")
        assert "cumulative incidence" in page
    # The same content (the software line may differ; nothing else does).
    strip = lambda p: re.sub(r"Software:.*?</p>", "", p)  # noqa: E731
    assert strip(logged) == strip(rebuilt)


def test_performance_equals_the_child_runs_metrics(cr_job, client, rebuilt):
    rows = _table_rows(rebuilt, "Development")
    table = {r[0]: r[1:] for r in rows}
    expected_names = {"cv_cindex_wolbers"} | {f"cv_cif_{m}_{h}m" for m in
                                              ("auc", "brier", "ici", "oe") for h in (12, 24)}
    assert expected_names <= set(table)
    header = re.search(r"<caption>Development.*?</thead>", rebuilt, re.S).group(0)
    models = re.findall(r"<th>(.*?)</th>", header)[1:]
    assert set(models) == set(cr_job["result"].child_run_ids)
    for model, run_id in cr_job["result"].child_run_ids.items():
        m = client.get_run(run_id).data.metrics
        col = models.index(model)
        for name in expected_names:
            value, lo, hi = m[name], m.get(f"{name}_lo"), m.get(f"{name}_hi")
            cell = (f"{_fmt3(value)} [{_fmt3(lo)}, {_fmt3(hi)}]" if lo is not None
                    and hi is not None else _fmt3(value))
            assert table[name][col] == cell, (model, name)
    # Survival-only metric names never appear.
    assert "cv_cindex_harrell" not in rebuilt and "cv_ibs" not in rebuilt


def test_hazard_ratios_of_both_causes(cr_job, client, tmp_path):
    best = client.get_run(cr_job["result"].parent_run_id).data.tags["best_model"]
    run_id = cr_job["result"].child_run_ids[best]
    page = build_report(run_id=run_id, tracking_uri=cr_job["tracking_uri"])
    local = client.download_artifacts(run_id, "hazard_ratios.csv", str(tmp_path))
    hr = pd.read_csv(local)
    rows = _table_rows(page, "Cause-specific hazard ratios by cause")
    assert len(rows) == len(hr) and {r[0] for r in rows} == {"1", "2"}
    for r, ref in zip(rows, hr.itertuples(index=False), strict=True):
        assert (r[0], r[1]) == (str(ref.cause), ref.term)
        assert float(r[3]) == pytest.approx(ref.hr, rel=1e-5)
        assert float(r[2]) == pytest.approx(math.log(ref.hr), rel=1e-5, abs=1e-6)
    # Simulated truth: progression depends on x1 (and x2), death without it on x3.
    by = hr.set_index(["cause", "term"])["hr"]
    assert by[(1, "x1")] > 1.5 and by[(2, "x3")] > 1.3
    assert "not computable from a table at the horizons" in _text(page)


def test_finegray_cif_by_hand_equals_the_model(cr_job, finegray_page):
    rows = _table_rows(finegray_page, "Subdistribution hazard ratios by cause")
    assert {r[0] for r in rows} == {"1"}  # Fine-Gray models the event of interest only
    assert "hazard ratios of both causes" not in _text(finegray_page)
    coef = {r[1]: float(r[2]) for r in rows}
    cif0 = {float(r[0]): float(r[1]) for r in _table_rows(finegray_page, "Baseline cumulative")}
    assert sorted(cif0) == [12.0, 24.0]
    loaded = load_model(cr_job["runs"]["finegray"], cr_job["tracking_uri"])
    X = cr_job["new"][loaded.meta["features"]].head(25)
    pre, _ = split_model(loaded.estimator)
    Z = pre.transform(X) if pre is not None else X
    Z = pd.DataFrame(np.asarray(Z, float), columns=list(coef))
    lp = Z.to_numpy() @ np.array(list(coef.values()))
    by_hand = np.column_stack([1 - (1 - cif0[h]) ** np.exp(lp) for h in (12.0, 24.0)])
    model = predict_cif_at(loaded.estimator, X, [12.0, 24.0])
    np.testing.assert_allclose(by_hand, model, rtol=1e-4, atol=1e-6)


def test_cohort_cif_flow_and_gray(cr_job, rebuilt):
    text = _text(rebuilt)
    t = cr_job["table"]
    n1, n2 = int((t["status"] == 1).sum()), int((t["status"] == 2).sum())
    assert (f"event of interest: {n1}; competing event: {n2}; censored: {len(t) - n1 - n2}"
            in text)
    for cause, name in ((1, "progression"), (2, "death without progression")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aj = AalenJohansenFitter(calculate_variance=False).fit(
                t["t"], t["status"], event_of_interest=cause)
        cif = aj.cumulative_density_.iloc[:, 0]
        at = [float(cif[cif.index <= h].iloc[-1]) for h in (12, 24)]
        part = re.search(rf"; {name}: (.*?) months|: {name}: (.*?) months", text)
        shown = part.group(1) or part.group(2)
        values = [float(v) for v in re.findall(r"(\d\.\d{3}) \[", shown)]
        assert values == pytest.approx(at, abs=6e-4), name
    assert "Aalen–Johansen cumulative incidence of both causes" in text
    assert "One group: no Gray's test." in text  # the flat table has no groups
    assert "data:image/png;base64," in rebuilt


def test_no_identifier_or_date(cr_job, logged):
    assert not re.search(r"\bP\d{4}\b", logged)
    assert not re.search(r"\b(19|20)\d{2}-\d{2}-\d{2}\b", logged)
    assert "pid" not in re.findall(r"<code>(\w+)</code>", logged)


def test_survival_only_parts_claim_nothing(logged):
    text = _text(logged)
    for phrase in ("S0(h)", "baseline survival", "event-free", "Harrell", "Kaplan-Meier",
                   "D-calibration", "Riley"):
        assert phrase not in text, phrase
    for anchor in ("sample-size", "decision-curves", "subgroups", "heterogeneity",
                   "distributions", "updating"):
        assert f'id="{anchor}"' not in logged, anchor
    status = dict(re.findall(r'<tr id="item-(\w+)">.*?<td class="status-(\w+)"', logged, re.S))
    assert len(status) == 52
    for item in ("10", "20c", "23b", "24", "12d", "12f", "12g", "16"):
        assert status[item] == "author", item
    for item in ("8a", "20a", "21", "22", "23a", "12e"):
        assert status[item] in ("reported", "partly"), item
    # Every linked item points at a part that exists in the page.
    for anchor in re.findall(r'<td class="status-\w+"><a href="#([\w-]+)"', logged):
        assert f'id="{anchor}"' in logged, anchor


@pytest.fixture(scope="module")
def evaluated(cr_job, tmp_path_factory):
    """The champion evaluated on 300 new patients: its run logs ``report.html``."""
    out = tmp_path_factory.mktemp("cr-eval")
    res = evaluate(cr_job["registered"], cr_job["new_path"], out, n_bootstrap=20, seed=2,
                   tracking_uri=cr_job["tracking_uri"])
    return res, out


def test_evaluate_logs_a_report_with_the_evaluation(cr_job, client, evaluated, tmp_path):
    res, out = evaluated
    assert "report.html" in {f.path for f in client.list_artifacts(res.run_id)}
    page = (out / "report.html").read_text(encoding="utf-8")
    text = _text(page)
    metrics = pd.read_csv(client.download_artifacts(res.run_id, "metrics.csv", str(tmp_path)))
    caption = "Evaluation 1 (300 patients"
    rows = {r[0]: r[1] for r in _table_rows(page, caption)}
    assert set(rows) == set(metrics["metric"]) and "ext_cindex_wolbers" in rows
    for r in metrics.itertuples(index=False):
        assert rows[r.metric] == f"{_fmt3(r.value)} [{_fmt3(r.lo)}, {_fmt3(r.hi)}]", r.metric
    new = cr_job["new"]
    n1, n2 = int((new["status"] == 1).sum()), int((new["status"] == 2).sum())
    assert (f"event of interest: {n1}; competing event: {n2}; censored: "
            f"{len(new) - n1 - n2}" in text)
    status = dict(re.findall(r'<tr id="item-(\w+)">.*?<td class="status-(\w+)"', page, re.S))
    for item in ("16", "20c", "12g"):
        assert status[item] in ("reported", "partly"), item
    for item in ("10", "23b", "24"):
        assert status[item] == "author", item
    assert 'id="decision-curves"' not in page and "S0(h)" not in text
    assert not re.search(r"\bP\d{4}\b", page)
    assert "evaluation 1: Calibration of the predicted CIF" in text


def test_a_survival_evaluation_run_is_refused(cr_job):
    with pytest.raises(MMRiskError, match="evaluation run"):
        build_report(run_id=cr_job["result"].parent_run_id,
                     evaluation_run_ids=[cr_job["result"].parent_run_id],
                     tracking_uri=cr_job["tracking_uri"])
