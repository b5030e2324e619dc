"""``mmrisk report`` / ``sample-size``: the TRIPOD+AI report gathered from MLflow runs.

The trained job (tests/support/trained_job.py) logs ``report.html`` with its parent run; a new
extract (another seed) is evaluated with the champion. Numbers in the report are checked against
what the runs logged (flow.csv, child-run metrics, evaluation metrics.csv), against the model
itself (a Cox prediction recomputed by hand from the report's coefficients and baseline
survival equals the pyfunc's), against statsmodels (the Cox-Snell R² of the out-of-fold risk)
and against the published pmsampsize outputs.
"""

from __future__ import annotations

import json
import math
import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.exceptions import MMRiskError, ReportDataError
from mmrisk.models import split_model
from mmrisk.registry import read_extract
from mmrisk.report import ReportCohort, ReportData, render_tripod_report, tripod_checklist
from mmrisk.tracking import load_model
from mmrisk.workflows import report_data, write_report

runner = CliRunner()
# TRIPOD+AI (Collins et al., BMJ 2024;385:e078378): the numbered items and sub-items.
ITEMS = ("1 2 3a 3b 3c 4 5a 5b 6a 6b 6c 7 8a 8b 8c 9a 9b 9c 10 11 12a 12b 12c 12d 12e 12f 12g "
         "13 14 15 16 17 18a 18b 18c 18d 18e 18f 19 20a 20b 20c 21 22 23a 23b 24 25 26 27a 27b "
         "27c").split()


@pytest.fixture(scope="module")
def evaluation(evaluated_job):
    """The champion evaluated on a new synthetic extract (another seed): the shared one."""
    return evaluated_job


@pytest.fixture(scope="module")
def logged_html(trained_job, tmp_path_factory):
    """``report.html`` as ``train`` logged it with the parent run."""
    dst = tmp_path_factory.mktemp("logged")
    path = mlflow.artifacts.download_artifacts(
        run_id=trained_job["result"].parent_run_id, artifact_path="report.html",
        dst_path=str(dst), tracking_uri=trained_job["tracking_uri"])
    return open(path, encoding="utf-8").read()


@pytest.fixture(scope="module")
def cox_report(trained_job, evaluation, tmp_path_factory):
    """The Cox model's report, from its model URI, with the evaluation."""
    uri = trained_job["runs"]["cox"]
    data = report_data(model_uri=uri, evaluation_run_ids=[evaluation["run_id"]],
                       tracking_uri=trained_job["tracking_uri"])
    out = write_report(tmp_path_factory.mktemp("cox") / "cox.html", model_uri=uri,
                       evaluation_run_ids=[evaluation["run_id"]],
                       tracking_uri=trained_job["tracking_uri"])
    return data, out.read_text(encoding="utf-8")


def _patient_ids(extract) -> list[str]:
    return read_extract(extract).tables["patients"]["patient_id"].astype(str).tolist()


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html)
    assert not re.search(r"url\((?!#)", html) and "@import" not in html  # url(#marker) is local
    srcs = re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    # Any URL in the text would be a plain-text citation; this report has none.
    assert not re.search(r"https?://", html)


def test_train_logs_a_self_contained_report(trained_job, logged_html):
    html = logged_html
    _assert_self_contained(html)
    for item in ITEMS:
        assert html.count(f'id="item-{item}"') == 1, item
    client = mlflow.MlflowClient(trained_job["tracking_uri"])
    parent = client.get_run(trained_job["result"].parent_run_id)
    flow = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="flow.csv",
        tracking_uri=trained_job["tracking_uri"]))
    for n in flow["n"]:
        assert f"{int(n):,}" in html
    excluded = int(flow.loc[flow["step"] == "excluded", "n"].sum())
    assert f"Excluded (n = {excluded:,})" in html
    best_model = parent.data.tags["best_model"]
    assert html.split("<h1>")[1].startswith(best_model)
    child = client.get_run(trained_job["result"].child_run_ids[best_model])
    value = child.data.metrics["cv_cindex_harrell"]
    cell = (f"{value:.3f} [{child.data.metrics['cv_cindex_harrell_lo']:.3f}, "
            f"{child.data.metrics['cv_cindex_harrell_hi']:.3f}]")
    assert cell in html
    ids = _patient_ids(trained_job["data"])
    assert not [p for p in ids if p in html]


def test_performance_equals_the_runs_metrics(trained_job, evaluation, cox_report):
    data, html = cox_report
    client = mlflow.MlflowClient(trained_job["tracking_uri"])
    dev = next(t for k, t in data.performance.items() if k.startswith("Development,"))
    for name, run_id in trained_job["result"].child_run_ids.items():
        logged = client.get_run(run_id).data.metrics
        mine = dev[dev["model"] == name].set_index("metric")
        cv = {k for k in logged if k.startswith("cv_") and not k.endswith(("_lo", "_hi"))
              and "_diff_vs_" not in k}
        assert set(mine.index) == cv
        for metric in cv:
            assert mine.loc[metric, "value"] == logged[metric]
            if f"{metric}_lo" in logged:
                assert mine.loc[metric, "lo"] == logged[f"{metric}_lo"]
                assert mine.loc[metric, "hi"] == logged[f"{metric}_hi"]
    ext = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=evaluation["run_id"], artifact_path="metrics.csv",
        tracking_uri=trained_job["tracking_uri"]))
    table = next(t for k, t in data.performance.items() if k.startswith("Evaluation 1"))
    pd.testing.assert_frame_equal(table.reset_index(drop=True), ext)
    row = ext.set_index("metric").loc["ext_cindex_harrell"]
    assert f"{row['value']:.3f} [{row['lo']:.3f}, {row['hi']:.3f}]" in html
    facts = evaluation["result"].facts
    assert f"{facts['n_patients'] + facts['n_excluded']:,}" in html  # the evaluation flow
    _assert_self_contained(html)
    assert not [p for p in _patient_ids(evaluation["extract"]) if p in html]
    assert data.model.model_uri == trained_job["runs"]["cox"]
    assert {"decision_curves", "calibration", "model"} <= {f.section for f in data.figures}


def test_cox_prediction_recomputed_from_the_report(trained_job, cox_report):
    data, html = cox_report
    spec = data.model
    assert spec.is_cox and spec.centering is None
    loaded = load_model(trained_job["runs"]["cox"], trained_job["tracking_uri"])
    cohort = build_cohort(read_extract(trained_job["data"]),
                          CohortSpec(**loaded.meta["cohort"]))
    X = cohort.X.head(40)
    features, _ = split_model(loaded.estimator)
    Z = pd.DataFrame(features.transform(X), columns=list(spec.coefficients))
    lp = Z.to_numpy(float) @ np.array(list(spec.coefficients.values()))
    scored = loaded.pyfunc.predict(X)
    for h, s0 in spec.baseline_survival.items():
        np.testing.assert_allclose(s0 ** np.exp(lp), scored[f"surv_{int(h)}m"], rtol=1e-8,
                                   atol=1e-12)
    assert len(spec.coefficients) == data.sample_size.result.parameters == Z.shape[1]


def test_sample_size_uses_the_cohort_and_the_out_of_fold_r2(trained_job, cox_report):
    data, html = cox_report
    check = data.sample_size
    loaded = load_model(trained_job["runs"]["cox"], trained_job["tracking_uri"])
    cohort = build_cohort(read_extract(trained_job["data"]),
                          CohortSpec(**loaded.meta["cohort"]))
    t, e = cohort.data["time"].to_numpy(float), cohort.data["event"].to_numpy(int)
    res = check.result
    assert res.rate == pytest.approx(e.sum() / t.sum(), rel=1e-12)
    assert res.meanfup == pytest.approx(t.mean(), rel=1e-12)
    assert res.timepoint == max(loaded.horizons)
    assert (check.available_n, check.available_events) == (len(t), int(e.sum()))
    # R² of the out-of-fold risk, recomputed with statsmodels' Cox model (Efron ties).
    oof = pd.read_parquet(mlflow.artifacts.download_artifacts(
        run_id=trained_job["result"].child_run_ids["cox"],
        artifact_path="predictions_oof.parquet", tracking_uri=trained_job["tracking_uri"]))
    oof = oof[oof["repeat"] == oof["repeat"].min()]
    rows = oof["row"].to_numpy()
    model = PHReg(t[rows], oof[["risk"]].to_numpy(), status=e[rows], ties="efron")
    fit = model.fit()
    r2 = 1 - math.exp(2 * (model.loglike(np.zeros(1)) - fit.llf) / len(rows))
    assert res.rsquared == pytest.approx(r2, rel=1e-5)
    assert "out-of-fold" in check.rsquared_source
    assert f"it {'meets' if check.meets else 'does not meet'} the minimum" in html


def test_report_data_refuses_identifiers_and_days():
    t1 = pd.DataFrame({"variable": ["age"], "level": ["median"], "patient_id": ["P000001"]})
    with pytest.raises(ReportDataError, match="identifier"):
        render_tripod_report(ReportData("x", cohorts=[ReportCohort("dev", table1=t1)]))
    with pytest.raises(ReportDataError, match="never a day"):
        render_tripod_report(ReportData("x", cohorts=[ReportCohort(
            "dev", accrual_start="2015-03-14")]))


def test_report_needs_exactly_one_source(trained_job):
    with pytest.raises(MMRiskError, match="one of them"):
        report_data(tracking_uri=trained_job["tracking_uri"])
    with pytest.raises(MMRiskError, match="no run"):
        report_data(run_id="0" * 32, tracking_uri=trained_job["tracking_uri"])


def test_cli_report_from_the_run(trained_job, tmp_path):
    out = tmp_path / "r.html"
    uri = trained_job["tracking_uri"]
    res = runner.invoke(app, ["report", "--run", trained_job["result"].parent_run_id, "--out",
                              str(out), "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    assert out.is_file() and "TRIPOD+AI report" in res.output
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file
    for args, message in (([], "one of them"),
                          (["--run", "x", "--model", "y"], "one of them"),
                          (["--run", "0" * 32], "no run"),
                          (["--model", "models:/nope/1"], "cannot be resolved")):
        bad = runner.invoke(app, ["report", *args, "--out", str(tmp_path / "b.html"),
                                  "--tracking-uri", uri])
        assert bad.exit_code == 1, (args, bad.output)
        assert message in bad.output and "Traceback" not in bad.output
        assert not (tmp_path / "b.html").exists()


# pmsampsize (R) help-page example, after Riley et al., BMJ 2020;368:m441:
# pmsampsize(type="s", rsquared=0.051, parameters=30, rate=0.065, timepoint=2, meanfup=2.07)
# -> criterion 1: n 5143, criterion 2: n 1039, criterion 3: n 5143; final 5143, 692 events,
#    EPP 23.07. And pmsampsize's tests/testthat/test_surv.R:
#    (rsquared 0.3, parameters 80, rate 0.03, timepoint 1, meanfup 5) -> 1974, 2272, 2272, 2272.
def test_cli_sample_size_reproduces_pmsampsize():
    args = ["sample-size", "--rsquared", "0.051", "--parameters", "30", "--rate", "0.065",
            "--timepoint", "2", "--meanfup", "2.07"]
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert (got["n"], got["events"], round(got["events_per_parameter"], 2)) == (5143, 692, 23.07)
    assert [c["n"] for c in got["criteria"]] == [5143, 1039, 5143]
    assert set(got["criteria"][0]) == {"criterion", "n", "events", "shrinkage"}
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "5,143" in table.output and "23.07" in table.output
    other = runner.invoke(app, ["sample-size", "--rsquared", "0.3", "--parameters", "80",
                                "--rate", "0.03", "--timepoint", "1", "--meanfup", "5",
                                "--format", "json"])
    assert [c["n"] for c in json.loads(other.output)["criteria"]] == [1974, 2272, 2272]


def test_cli_sample_size_errors_are_one_line():
    res = runner.invoke(app, ["sample-size", "--rsquared", "0.95", "--parameters", "30",
                              "--rate", "0.065", "--timepoint", "2", "--meanfup", "2.07"])
    assert res.exit_code == 1
    assert "Traceback" not in res.output and "shrinkage must be larger than rsquared" in (
        res.output)
    res = runner.invoke(app, ["sample-size", "--rsquared", "0.6", "--parameters", "30",
                              "--rate", "0.065", "--timepoint", "2", "--meanfup", "2.07"])
    assert res.exit_code == 1 and "maximum Cox-Snell R²" in res.output
    assert res.output.count("Error:") == 1 and "Traceback" not in res.output


def test_train_report_has_the_models_out_of_fold_subgroups_and_centres(trained_job,
                                                                       logged_html):
    """The registered (best) model's own ``subgroups.csv`` and ``centre_heterogeneity.json``
    (out-of-fold, logged by train) are the development rows of the report; 12d, 23a and 23b
    follow."""
    uri = trained_job["tracking_uri"]
    client = mlflow.MlflowClient(uri)
    parent = client.get_run(trained_job["result"].parent_run_id)
    best = trained_job["result"].child_run_ids[parent.data.tags["best_model"]]
    other = next(r for n, r in trained_job["result"].child_run_ids.items()
                 if r != best and n != "staging")

    def logged(run_id, path):
        return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path,
                                                   tracking_uri=uri)

    data = report_data(run_id=parent.info.run_id, tracking_uri=uri)
    label = "development (out-of-fold, internal validation)"
    assert set(data.subgroups["evaluation"]) == {label}
    want = pd.read_csv(logged(best, "subgroups.csv"))
    pd.testing.assert_frame_equal(data.subgroups.drop(columns="evaluation"), want)
    assert not want.equals(pd.read_csv(logged(other, "subgroups.csv")))  # the model's own
    het = json.loads(open(logged(best, "centre_heterogeneity.json"), encoding="utf-8").read())
    row = data.heterogeneity.set_index("evaluation").loc[label]
    assert row["centres"] == int(het["n_centres"])
    assert row["value"] == het["cindex_pooled"] and row["hi"] == het["cindex_pooled_hi"]
    assert "out-of-fold" in data.analysis.heterogeneity_method
    status = {r["item"]: r["status"] for r in tripod_checklist(data)}
    assert status["12d"] == status["23a"] == status["23b"] == "reported"
    # The report train logs says the same.
    assert 'id="heterogeneity"' in logged_html and label in logged_html
