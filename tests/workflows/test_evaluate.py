"""``mmrisk evaluate`` / ``recalibrate`` on a new synthetic cohort, against independent numbers.

The trained job (tests/support/trained_job.py) registers a champion; a new extract (another
seed) is the evaluation cohort. Every number written is recomputed here without mmrisk's
evaluation code: Harrell's C with scikit-survival, observed risk with lifelines' Kaplan-Meier,
net benefit with the ``dcurves`` package.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from dcurves import dca
from lifelines import KaplanMeierFitter
from sksurv.metrics import concordance_index_censored
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import read_extract, simulate_registry
from mmrisk.tracking import evaluation_runs, load_model
from mmrisk.workflows import evaluate, recalibrate_model

runner = CliRunner()


@pytest.fixture(scope="module")
def new_cohort(tmp_path_factory):
    path = tmp_path_factory.mktemp("new-cohort") / "extract"
    simulate_registry(path, n=350, seed=7)
    return path


@pytest.fixture(scope="module")
def evaluated(trained_job, new_cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    res = evaluate(trained_job["registered"], new_cohort, out, n_bootstrap=20,
                   tracking_uri=trained_job["tracking_uri"])
    return res, out


def _independent(trained_job, new_cohort):
    """The model's predictions for the eligible patients, through the pyfunc itself."""
    loaded = load_model(trained_job["registered"], trained_job["tracking_uri"])
    cohort = build_cohort(read_extract(new_cohort), CohortSpec(**loaded.meta["cohort"]))
    scored = loaded.pyfunc.predict(cohort.data[loaded.features])
    ok = (scored["status"] != "error").to_numpy()
    return loaded, cohort, scored[ok].reset_index(drop=True), cohort.data[ok].reset_index(
        drop=True)


def test_discrimination_and_oe_match_independent_computations(trained_job, new_cohort,
                                                               evaluated):
    res, out = evaluated
    loaded, cohort, scored, data = _independent(trained_job, new_cohort)
    metrics = pd.read_csv(out / "metrics.csv").set_index("metric")
    assert list(pd.read_csv(out / "metrics.csv").columns) == ["metric", "value", "lo", "hi"]
    c = concordance_index_censored(data["event"].astype(bool), data["time"],
                                   scored["risk_score"])[0]
    assert metrics.loc["ext_cindex_harrell", "value"] == pytest.approx(c, abs=1e-9)
    for h in loaded.horizons:
        km = KaplanMeierFitter().fit(data["time"], data["event"])
        observed = 1 - float(km.survival_function_at_times(h).iloc[0])
        expected = float(np.mean(1 - scored[f"surv_{h}m"]))
        assert metrics.loc[f"ext_oe_{h}m", "value"] == pytest.approx(observed / expected,
                                                                     rel=1e-9)
        lo, hi = metrics.loc[f"ext_oe_{h}m", ["lo", "hi"]]
        assert lo <= metrics.loc[f"ext_oe_{h}m", "value"] <= hi
    facts = json.loads((out / "evaluation.json").read_text())
    assert facts["n_patients"] == len(data) and facts["n_events"] == int(data["event"].sum())
    flow = cohort.flow
    n_rows = int(flow.loc[flow["step"] == "extract", "n"].iloc[0])
    assert facts["n_patients"] + facts["n_excluded"] == n_rows  # every row is accounted for
    assert facts["model_version"] == trained_job["result"].registered["version"]


def test_decision_curve_equals_dcurves(trained_job, new_cohort, evaluated):
    res, out = evaluated
    loaded, _, scored, data = _independent(trained_job, new_cohort)
    table = pd.read_csv(out / "decision_curve.csv")
    assert list(table.columns) == ["horizon", "threshold", "net_benefit_model", "lo", "hi",
                                   "net_benefit_all"]
    h = loaded.horizons[-1]
    thresholds = [0.05, 0.1, 0.2, 0.3]
    df = pd.DataFrame({"event": data["event"].astype(int), "time": data["time"],
                       "risk": 1 - scored[f"surv_{h}m"]})
    ref = dca(data=df, outcome="event", modelnames=["risk"], thresholds=thresholds, time=h,
              time_to_outcome_col="time")
    ours = table[table["horizon"] == h].set_index("threshold")
    for t in thresholds:
        got = ours.loc[ours.index[np.isclose(ours.index, t)][0]]
        want = ref[(ref["model"] == "risk") & np.isclose(ref["threshold"], t)]["net_benefit"]
        want_all = ref[(ref["model"] == "all") & np.isclose(ref["threshold"], t)]["net_benefit"]
        assert got["net_benefit_model"] == pytest.approx(float(want.iloc[0]), abs=1e-12)
        assert got["net_benefit_all"] == pytest.approx(float(want_all.iloc[0]), abs=1e-12)


def test_files_run_and_no_identifiers(trained_job, new_cohort, evaluated):
    res, out = evaluated
    names = {p.name for p in out.rglob("*") if p.is_file()}
    assert {"metrics.csv", "decision_curve.csv", "subgroups.csv", "exclusions.csv",
            "evaluation.json", "decision_curves.png", "km_risk_groups.png"} <= names
    subs = pd.read_csv(out / "subgroups.csv")
    assert {"sex", "age_band", "site"} <= set(subs["variable"])
    few = subs[subs["events"] < 10]
    assert few["value"].isna().all()  # listed, not estimated
    ids = set(read_extract(new_cohort).tables["patients"]["patient_id"].astype(str))
    for path in out.rglob("*"):
        if path.suffix in (".csv", ".json"):
            text = path.read_text()
            assert not any(pid in text for pid in list(ids)[:50]), path
    runs = evaluation_runs(trained_job["tracking_uri"], "scoring-tiny")
    run = runs[runs["run_id"] == res.run_id].iloc[0]
    assert run["registered_model"] == "scoring-tiny"
    assert run["ext_cindex_harrell"] == pytest.approx(
        res.metrics.set_index("metric").loc["ext_cindex_harrell", "value"])


def test_a_horizon_beyond_training_follow_up_is_refused(trained_job, new_cohort, tmp_path):
    with pytest.raises(MMRiskError, match="beyond the longest follow-up"):
        evaluate(trained_job["registered"], new_cohort, tmp_path / "x", horizons=[600],
                 tracking_uri=trained_job["tracking_uri"])
    assert not (tmp_path / "x").exists()


def test_recalibrated_version_records_its_parent_and_is_apparent_on_its_data(
        trained_job, new_cohort, tmp_path):
    uri = trained_job["tracking_uri"]
    res = recalibrate_model(trained_job["registered"], new_cohort, "slope", tracking_uri=uri)
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    mv = client.get_model_version(res.name, str(res.version))
    assert mv.tags["parent_version"] == str(res.parent_version)
    assert mv.tags["recalibration_method"] == "slope"
    champion = client.get_model_version_by_alias(res.name, "champion")
    assert int(champion.version) == res.parent_version  # the original keeps its alias
    parent, child = load_model(f"models:/{res.name}/{res.parent_version}", uri), load_model(
        res.uri, uri)
    X = pd.DataFrame(parent.meta["profile"]["features"]).columns  # just the names
    data = build_cohort(read_extract(new_cohort), CohortSpec(**parent.meta["cohort"])).data
    a, b = parent.pyfunc.predict(data[list(X)]), child.pyfunc.predict(data[list(X)])
    np.testing.assert_allclose(a["risk_score"], b["risk_score"])  # same ranking and groups
    assert not np.allclose(a[f"surv_{parent.horizons[-1]}m"], b[f"surv_{parent.horizons[-1]}m"])
    ev = evaluate(res.uri, new_cohort, tmp_path / "ev", n_bootstrap=0, tracking_uri=uri)
    assert ev.facts["apparent_calibration"] is True
    assert ev.facts["development_data"] is False and "recalibrated on these" in ev.facts["note"]


def test_cli_evaluate_prints_the_table(trained_job, new_cohort, tmp_path):
    res = runner.invoke(app, ["evaluate", "--model", trained_job["registered"], "--data",
                              str(new_cohort), "--out", str(tmp_path / "cli"), "--n-bootstrap",
                              "5", "--tracking-uri", trained_job["tracking_uri"]])
    assert res.exit_code == 0, res.output
    assert "ext_cindex_harrell" in res.output and "not evaluated" in res.output
    bad = runner.invoke(app, ["evaluate", "--model", trained_job["registered"], "--data",
                              str(new_cohort), "--out", str(tmp_path / "bad"), "--horizons",
                              "12,x", "--tracking-uri", trained_job["tracking_uri"]])
    assert bad.exit_code == 1 and "Traceback" not in bad.output


def test_evaluating_on_the_development_data_is_called_apparent(trained_job, new_cohort, tmp_path):
    """The train run's data fingerprint identifies the development data: an evaluation on them
    is labelled apparent performance (console, evaluation.json, run tag), never "External
    validation"; on another cohort it is an external validation."""
    uri = trained_job["tracking_uri"]
    res = runner.invoke(app, ["evaluate", "--model", trained_job["registered"], "--data",
                              str(trained_job["data"]), "--out", str(tmp_path / "dev"),
                              "--n-bootstrap", "0", "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "Apparent performance on the development data" in text
    assert "External validation" not in text
    assert "these are the model's development data" in text
    facts = json.loads((tmp_path / "dev" / "evaluation.json").read_text())
    assert facts["development_data"] is True
    train_run = mlflow.MlflowClient(uri).get_run(trained_job["result"].parent_run_id)
    assert facts["data_fingerprint"] == train_run.data.tags["data_fingerprint"]
    runs = mlflow.MlflowClient(uri).search_runs(
        [train_run.info.experiment_id], "tags.development_data = 'true'")
    assert facts["data_fingerprint"] in {r.data.tags["data_fingerprint"] for r in runs}

    ext = evaluate(trained_job["registered"], new_cohort, tmp_path / "ext", n_bootstrap=0,
                   tracking_uri=uri)
    assert ext.facts["development_data"] is False and ext.facts["note"] == ""
    assert ext.facts["data_fingerprint"] != facts["data_fingerprint"]
    board = runner.invoke(app, ["compare", "--experiment", "scoring-tiny", "--evaluations",
                                "--tracking-uri", uri])
    assert board.exit_code == 0, board.output
    assert ext.run_id in board.output  # whole, for `mmrisk report --evaluation`
    table = runner.invoke(app, ["compare", "--experiment", "scoring-tiny", "--evaluations",
                                "--format", "csv", "--tracking-uri", uri])
    runs = pd.read_csv(io.StringIO(table.output)).set_index("run_id")
    assert not runs.loc[ext.run_id, "development_data"]
    dev = runs[runs["development_data"]]
    assert len(dev) and (dev["data_fingerprint"] == facts["data_fingerprint"]).all()


def test_cli_recalibrate_prints_wald_intervals_and_warns_on_few_events(trained_job, new_cohort,
                                                                     tmp_path):
    # a copy of the shared store: the new version must not change what other tests see
    src = Path(trained_job["tracking_uri"].removeprefix("sqlite:///")).parent
    shutil.copytree(src, tmp_path / "store")
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    res = runner.invoke(app, ["recalibrate", "--model", trained_job["registered"], "--data",
                              str(new_cohort), "--method", "slope", "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    version = re.search(r"version (\d+) \(parent", res.output).group(1)
    info = load_model(f"models:/scoring-tiny/{version}", uri).meta["recalibration"]
    text = " ".join(res.output.split())
    s, se = info["slope"], info["slope_se"]
    assert f"slope {s:.3f} [{s - 1.96 * se:.3f}, {s + 1.96 * se:.3f}]" in text
    assert info["n_events"] < 100 and f"Note: {info['n_events']} events" in text
