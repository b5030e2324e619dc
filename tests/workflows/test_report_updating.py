"""The report's "model updating" section shows a recalibrated version's own performance.

The champion of the shared small job is recalibrated (``intercept``) on the shared evaluation's
extract and the new version is evaluated on the same extract. The report of the champion then
lists the update with its ``ext_`` metrics (those of the update's evaluation run) beside the
original version's on the same data. Independent truth: an intercept update shifts every linear
predictor by the same amount, so it cannot change the ranking of patients: Harrell's C of the
update equals the original's on the same patients; and its calibration there is apparent (the
report says so).
"""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from mmrisk.report import render_tripod_report
from mmrisk.workflows import evaluate, recalibrate_model, report_data


@pytest.fixture(scope="module")
def updated(trained_job, evaluated_job, tmp_path_factory):
    uri = trained_job["tracking_uri"]
    res = recalibrate_model(trained_job["registered"], evaluated_job["extract"], "intercept",
                            tracking_uri=uri)
    ev = evaluate(res.uri, evaluated_job["extract"], tmp_path_factory.mktemp("updated-eval"),
                  n_bootstrap=5, tracking_uri=uri)
    data = report_data(model_uri=trained_job["registered"], tracking_uri=uri)
    return {"recalibration": res, "evaluation": ev, "data": data}


def _metrics(run_id: str, uri: str) -> pd.DataFrame:
    return pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="metrics.csv", tracking_uri=uri))


def test_updated_version_performance_in_the_report(updated, evaluated_job, trained_job):
    res = updated["recalibration"]
    entry = next(r for r in updated["data"].recalibrations
                 if r.version == f"{res.name} version {res.version}")
    assert entry.method == "intercept" and entry.parent == f"version {res.parent_version}"
    perf = entry.performance
    assert list(dict.fromkeys(perf["model"])) == [
        f"version {res.parent_version} (before updating)", f"version {res.version} (updated)"]
    mine = perf[perf["model"].str.endswith("(updated)")].drop(columns="model")
    logged = _metrics(updated["evaluation"].run_id, trained_job["tracking_uri"])
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), logged)
    # The original version on the same data: the shared evaluation's point estimates (the
    # intervals depend on which evaluation run of it is the latest).
    before = perf[perf["model"].str.endswith("(before updating)")].set_index("metric")
    original = _metrics(evaluated_job["run_id"], trained_job["tracking_uri"]).set_index("metric")
    pd.testing.assert_series_equal(before["value"], original["value"])
    # An intercept shift keeps the ranking: the same Harrell's C on the same patients.
    c_before = before.loc["ext_cindex_harrell", "value"]
    c_after = mine.set_index("metric").loc["ext_cindex_harrell", "value"]
    assert c_after == pytest.approx(c_before, abs=1e-12)
    assert "apparent" in entry.description and updated["evaluation"].run_id in entry.description


def test_updating_section_and_checklist_row(updated):
    html = render_tripod_report(updated["data"])
    section = html[html.index('<section id="model-updating">'):html.index('<section id="usage">')]
    res = updated["recalibration"]
    assert f"version {res.version} (updated)" in section
    assert f"version {res.parent_version} (before updating)" in section
    assert "ext_cindex_harrell" in section
    row = html[html.index('<tr id="item-24">'):]
    row = row[:row.index("</tr>")]
    assert '<a href="#updating">reported</a>' in row  # with performance: not "partly"


def test_only_updates_of_the_described_version(updated, trained_job, evaluated_job):
    """Another registered version and its own update are not this version's updates (the
    report of a version lists only versions tagged ``parent_version`` = that version)."""
    from mlflow.tracking import MlflowClient

    from mmrisk.report import tripod_checklist

    uri = trained_job["tracking_uri"]
    res = updated["recalibration"]
    client = MlflowClient(tracking_uri=uri)
    champion = str(res.parent_version)
    source = client.get_model_version(res.name, champion)
    run_id = source.run_id
    other = client.create_model_version(res.name, source.source, run_id=run_id)
    other_update = recalibrate_model(f"models:/{res.name}/{other.version}",
                                     evaluated_job["extract"], "slope", tracking_uri=uri)
    # Truth from the registry: the versions tagged with each parent.
    tagged = {str(mv.version): mv.tags.get("parent_version")
              for mv in client.search_model_versions(f"name = '{res.name}'")}
    assert tagged[str(other_update.version)] == str(other.version)

    mine = report_data(model_uri=f"models:/{res.name}/{champion}", tracking_uri=uri)
    want = {f"{res.name} version {v}" for v, p in tagged.items() if p == champion}
    assert {r.version for r in mine.recalibrations} == want
    assert f"{res.name} version {other_update.version}" not in want

    theirs = report_data(model_uri=f"models:/{res.name}/{other.version}", tracking_uri=uri)
    assert [r.version for r in theirs.recalibrations] == [
        f"{res.name} version {other_update.version}"]
    assert {r.parent for r in theirs.recalibrations} == {f"version {other.version}"}

    # A version nobody updated: no updating section, checklist 12f and 24 left to the authors.
    lone = client.create_model_version(res.name, source.source, run_id=run_id)
    alone = report_data(model_uri=f"models:/{res.name}/{lone.version}", tracking_uri=uri)
    assert alone.recalibrations == []
    status = {r["item"]: r["status"] for r in tripod_checklist(alone)}
    assert status["12f"] == status["24"] == "author to complete"
