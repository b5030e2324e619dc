"""``mmrisk evaluate`` of a competing-risks model (issue 17), against independent numbers.

The shared job (tests/support/cr_job.py) registers a cause-specific Cox or Fine-Gray champion
trained on simulated data with known cause-specific hazards; a second simulated table (another
seed) is the evaluation cohort. The predictions are taken from the pyfunc itself, and every
number written is recomputed here without mmrisk's evaluation code: Wolbers' C by brute force
over all pairs (Wolbers et al. 2009, Epidemiology 20:555), AUC and Brier score from their
definitions with inverse-probability-of-censoring weights from lifelines' Kaplan-Meier of the
censoring times (Blanche et al. 2013, Stat Med 32:5381, definition 2 of controls; Graf et al.
1999), and observed CIFs with lifelines' ``AalenJohansenFitter``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter, KaplanMeierFitter
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.cohort import competing_outcome
from mmrisk.evaluation import cumulative_incidence_at
from mmrisk.exceptions import MMRiskError
from mmrisk.tracking import evaluation_runs, latest_leaderboard, load_model
from mmrisk.workflows import evaluate
from mmrisk.workflows._evaluate_competing import competing_subgroups

H = [12, 24]
N_BOOT = 20
runner = CliRunner()


@pytest.fixture(scope="module")
def evaluated(cr_job, tmp_path_factory):
    out = tmp_path_factory.mktemp("cr-evaluation")
    res = evaluate(cr_job["registered"], cr_job["new_path"], out, n_bootstrap=N_BOOT, seed=4,
                   tracking_uri=cr_job["tracking_uri"])
    return res, out


@pytest.fixture(scope="module")
def scored(cr_job):
    """The champion's pyfunc output on the evaluation table, and the outcome."""
    loaded = load_model(cr_job["registered"], cr_job["tracking_uri"])
    new = cr_job["new"]
    out = loaded.pyfunc.predict(new[loaded.features])
    assert (out["status"] != "error").all()  # "warning": a value outside the training range
    return loaded, out, new["status"].to_numpy(), new["t"].to_numpy(float)


def _metrics(out) -> pd.DataFrame:
    return pd.read_csv(out / "metrics.csv").set_index("metric")


def _brute_wolbers(code, time, risk, tau):
    num = den = 0.0
    for i in np.flatnonzero((code == 1) & (time <= tau)):
        free = (code == 2) | (time > time[i]) | ((time == time[i]) & (code == 0))
        free[i] = False
        den += free.sum()
        num += (risk[i] > risk[free]).sum() + 0.5 * (risk[i] == risk[free]).sum()
    return num / den


def _censoring_km(code, time):
    """G(t) and G(t-) from lifelines' Kaplan-Meier of the censoring times."""
    km = KaplanMeierFitter().fit(time, event_observed=(code == 0))

    def g(t, left=False):
        t = np.atleast_1d(np.asarray(t, float)) - (1e-9 if left else 0.0)
        return km.survival_function_at_times(t).to_numpy()

    return g


def _ipcw_auc_brier(code, time, cif, h):
    """Definition-level AUC (cases: progression by h; controls: event-free at h or died
    without progression by h) and Brier score of the CIF at h, with weights 1/G."""
    g = _censoring_km(code, time)
    w_own = 1.0 / g(time, left=True)
    case = np.where((time <= h) & (code == 1), w_own, 0.0)
    control = np.where(time > h, 1.0 / g(h)[0], np.where((time <= h) & (code == 2), w_own, 0.0))
    num = 0.0
    for i in np.flatnonzero(case):
        num += case[i] * (control * ((cif[i] > cif) + 0.5 * (cif[i] == cif))).sum()
    auc = num / (case.sum() * control.sum())
    brier = np.mean(case * (1 - cif) ** 2 + control * cif**2)
    return auc, brier


def _aj(code, time, h, cause=1):
    """lifelines' Aalen-Johansen CIF of a cause at h: the step function's value at h (times
    are untied, so lifelines does not jitter them)."""
    ajf = AalenJohansenFitter(calculate_variance=False).fit(time, code,
                                                            event_of_interest=cause)
    cdf = ajf.cumulative_density_.iloc[:, 0]
    before = cdf[cdf.index <= h]
    return float(before.iloc[-1]) if len(before) else 0.0


def test_metrics_equal_independent_computations(evaluated, scored):
    res, out = evaluated
    loaded, pred, code, time = scored
    assert np.unique(time).size == time.size  # untied: lifelines' AJ does not jitter
    m = _metrics(out)
    assert list(pd.read_csv(out / "metrics.csv").columns) == ["metric", "value", "lo", "hi"]
    names = ["ext_cindex_wolbers"] + [f"ext_cif_{k}_{h}m" for k in ("auc", "brier", "ici", "oe")
                                      for h in H]
    assert list(m.index) == names  # the train metric names for CR, scope ext_
    risk = pred["risk_score"].to_numpy()
    np.testing.assert_allclose(risk, pred["cif_24m"], rtol=1e-12)
    assert m.loc["ext_cindex_wolbers", "value"] == pytest.approx(
        _brute_wolbers(code, time, risk, 24.0), rel=1e-12)
    for h in H:
        cif = pred[f"cif_{h}m"].to_numpy()
        auc, brier = _ipcw_auc_brier(code, time, cif, h)
        assert m.loc[f"ext_cif_auc_{h}m", "value"] == pytest.approx(auc, rel=1e-9)
        assert m.loc[f"ext_cif_brier_{h}m", "value"] == pytest.approx(brier, rel=1e-9)
        assert m.loc[f"ext_cif_oe_{h}m", "value"] == pytest.approx(
            _aj(code, time, h) / cif.mean(), rel=1e-9)
        assert 0 <= m.loc[f"ext_cif_ici_{h}m", "value"] < 0.2
    for name in names:
        lo, value, hi = m.loc[name, ["lo", "value", "hi"]]
        assert lo <= value <= hi, name
    # a model with the simulated risk factors discriminates well on new patients
    assert m.loc["ext_cindex_wolbers", "lo"] > 0.6


def test_bootstrap_interval_is_the_percentile_interval_of_resampled_patients(evaluated,
                                                                              scored):
    """O/E at 24 months on each of the run's draws (seed 4), recomputed independently."""
    _, out = evaluated
    _, pred, code, time = scored
    y = competing_outcome(code, time)
    cif = pred["cif_24m"].to_numpy()
    draws = np.random.default_rng(4).integers(0, code.size, size=(N_BOOT, code.size))
    reps = []
    for idx in draws:
        aj = cumulative_incidence_at(y[idx], [24.0])
        reps.append(float(aj.loc[aj["cause"] == 1, "cif"].iloc[0]) / cif[idx].mean())
    lo, hi = np.quantile(reps, [0.025, 0.975])
    got = _metrics(out).loc["ext_cif_oe_24m"]
    assert got["lo"] == pytest.approx(lo, rel=1e-9) and got["hi"] == pytest.approx(hi, rel=1e-9)


def test_calibration_tables_equal_aalen_johansen_within_groups(evaluated, scored):
    _, out = evaluated
    _, pred, code, time = scored
    cal = pd.read_csv(out / "calibration.csv")
    assert list(cal.columns) == ["horizon", "risk_group", "n", "predicted", "observed", "lo",
                                 "hi"]
    for h in H:
        part = cal[cal["horizon"] == h]
        assert len(part) == 10 and part["n"].sum() == code.size
        cif = pred[f"cif_{h}m"].to_numpy()
        order = np.argsort(cif, kind="stable")
        for g, idx in enumerate(np.array_split(order, 10), start=1):
            row = part[part["risk_group"] == g].iloc[0]
            assert row["predicted"] == pytest.approx(cif[idx].mean(), rel=1e-12)
            assert row["observed"] == pytest.approx(_aj(code[idx], time[idx], h), abs=1e-12)
            assert row["lo"] <= row["observed"] <= row["hi"]
    groups = pd.read_csv(out / "risk_groups.csv")
    assert set(groups["risk_group"]) <= {"low", "intermediate", "high"}
    for row in groups.itertuples(index=False):
        sel = (pred["risk_group"] == row.risk_group).to_numpy()
        assert row.n == sel.sum()
        assert row.predicted == pytest.approx(pred.loc[sel, f"cif_{row.horizon}m"].mean())
        assert row.observed == pytest.approx(_aj(code[sel], time[sel], row.horizon), abs=1e-12)
        assert row.observed_competing == pytest.approx(
            _aj(code[sel], time[sel], row.horizon, cause=2), abs=1e-12)
    by = groups[groups["horizon"] == 24].set_index("risk_group")["observed"]
    assert by["low"] < by["intermediate"] < by["high"]  # the model separates risk


def test_files_facts_and_mlflow_run(cr_job, evaluated, scored):
    res, out = evaluated
    _, _, code, _ = scored
    names = {p.name for p in out.rglob("*") if p.is_file()}
    assert names == {"metrics.csv", "calibration.csv", "risk_groups.csv", "subgroups.csv",
                     "exclusions.csv", "evaluation.json", "cif_calibration.png",
                     "cif_risk_groups.png", "table1.csv", "profile.json", "cohort.json",
                     "report.html"}
    facts = json.loads((out / "evaluation.json").read_text())
    assert facts["outcome_kind"] == "cif"
    assert facts["n_patients"] == code.size and facts["n_excluded"] == 0
    assert facts["n_events"] == int((code == 1).sum())
    assert facts["n_competing_events"] == int((code == 2).sum())
    assert facts["model_version"] == cr_job["result"].registered["version"]
    text = "".join(p.read_text() for p in out.rglob("*") if p.suffix in (".csv", ".json"))
    assert not any(pid in text for pid in cr_job["new"]["pid"].head(50))
    runs = evaluation_runs(cr_job["tracking_uri"], "cr-shared")
    run = runs[runs["run_id"] == res.run_id].iloc[0]
    m = res.metrics.set_index("metric")
    for name in ("ext_cindex_wolbers", "ext_cif_brier_24m", "ext_cif_oe_12m"):
        assert run[name] == pytest.approx(m.loc[name, "value"])
        assert run[f"{name}_lo"] == pytest.approx(m.loc[name, "lo"])
    logged = MlflowClient(cr_job["tracking_uri"]).get_run(res.run_id).data
    assert logged.tags["outcome_kind"] == "cif"
    assert logged.params["n_competing_events"] == str(int((code == 2).sum()))


def test_subgroups_of_a_flat_table_are_the_whole_cohort(evaluated):
    """A flat table has one centre ("all") and no transplant year ("missing"): both subgroups
    are every patient, so their estimates and intervals are metrics.csv's (same draws)."""
    res, out = evaluated
    subs = pd.read_csv(out / "subgroups.csv", keep_default_na=False, na_values=[""])
    m = _metrics(out)
    pairs = set(zip(subs["variable"], subs["level"], strict=True))
    assert pairs == {("site", "all"), ("transplant_era", "missing")}
    for row in subs.itertuples(index=False):
        want = m.loc[f"ext_{row.metric}"]
        assert row.n == 300 and row.note != row.note  # estimated: no note (NaN)
        for col in ("value", "lo", "hi"):
            assert getattr(row, col) == pytest.approx(want[col], rel=1e-9), (row.metric, col)


def test_subgroup_estimates_equal_independent_computations(scored):
    _, pred, code, time = scored
    y = competing_outcome(code, time)
    cif = pred[["cif_12m", "cif_24m"]].to_numpy()
    sex = np.where(np.arange(code.size) % 3 == 0, "F", "M").astype(object)
    sex[:19] = None  # missing: its own level, fewer than 20 progressions whatever happens
    table = pd.DataFrame({"sex": sex})
    subs = competing_subgroups(table, y, cif, H, n_bootstrap=10, seed=1, min_events=20)
    assert list(subs.columns) == ["variable", "level", "n", "events", "metric", "value", "lo",
                                  "hi", "note"]
    assert subs["level"].unique().tolist() == ["F", "M", "missing"]
    for level, part in subs.groupby("level"):
        sel = (pd.Series(sex).fillna("missing") == level).to_numpy()
        got = part.set_index("metric")
        assert got["n"].iloc[0] == sel.sum()
        assert got["events"].iloc[0] == int((code[sel] == 1).sum())
        if got["events"].iloc[0] < 20:
            assert got["value"].isna().all() and got["note"].str.contains("fewer than 20").all()
            continue
        assert got.loc["cindex_wolbers", "value"] == pytest.approx(
            _brute_wolbers(code[sel], time[sel], cif[sel, 1], 24.0), rel=1e-12)
        for j, h in enumerate(H):
            oe = _aj(code[sel], time[sel], h) / cif[sel, j].mean()
            assert got.loc[f"cif_oe_{h}m", "value"] == pytest.approx(oe, rel=1e-9)
        assert (got["lo"] <= got["value"]).all() and (got["value"] <= got["hi"]).all()
    assert subs.loc[subs["level"] == "missing", "value"].isna().all()  # listed, not estimated
    assert subs.loc[subs["level"] != "missing", "value"].notna().all()


def test_a_horizon_beyond_training_follow_up_is_refused(cr_job, tmp_path):
    with pytest.raises(MMRiskError, match="beyond the longest follow-up"):
        evaluate(cr_job["registered"], cr_job["new_path"], tmp_path / "x", horizons=[600],
                 tracking_uri=cr_job["tracking_uri"])
    assert not (tmp_path / "x").exists()


def test_survival_codes_in_place_of_competing_codes_name_the_rows(cr_job, tmp_path):
    bad = cr_job["new"].copy()
    bad.loc[[5, 9], "status"] = [3, 7]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(MMRiskError, match=r"rows 5 \(3\), 9 \(7\)"):
        evaluate(cr_job["registered"], tmp_path / "bad.csv", tmp_path / "y",
                 tracking_uri=cr_job["tracking_uri"], log_run=False)


def test_cli_evaluate_and_compare_default_to_the_competing_risks_c_index(cr_job, tmp_path):
    res = runner.invoke(app, ["evaluate", "--model", cr_job["registered"], "--data",
                              str(cr_job["new_path"]), "--out", str(tmp_path / "cli"),
                              "--n-bootstrap", "3", "--tracking-uri", cr_job["tracking_uri"]])
    assert res.exit_code == 0, res.output
    assert "ext_cindex_wolbers" in res.output and "competing events" in res.output
    board, facts = latest_leaderboard(cr_job["tracking_uri"], "cr-shared")
    assert facts["metric"] == "cv_cindex_wolbers"
    assert board["cv_cindex_wolbers"].is_monotonic_decreasing
    res = runner.invoke(app, ["compare", "--experiment", "cr-shared", "--tracking-uri",
                              cr_job["tracking_uri"], "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "cv_cindex_wolbers" in res.output and "cv_cindex_uno" not in res.output
