"""``mmrisk train`` / ``score`` / ``cohort build`` with a competing-risks outcome (issue 17).

The data are simulated with known cause-specific hazards (exponential: progression
``0.03 exp(0.8 x1 + 0.6 x2)``, death ``0.012 exp(0.7 x3)`` per month, uniform censoring), so the
tests need no registry. Every logged metric is recomputed independently from the logged
out-of-fold predictions: Wolbers' C by brute force over all pairs (Wolbers et al. 2009,
Epidemiology 20:555, definition of comparable pairs) and with the tested
:func:`mmrisk.evaluation.cindex_wolbers`; AUC, Brier and O/E with the tested evaluation
functions (themselves checked against R's mgus2 outputs and lifelines in
tests/evaluation/test_evaluation_competing.py).
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from cr_job import simulate_competing
from mlflow.tracking import MlflowClient

from mmrisk.cohort import competing_outcome
from mmrisk.config import COMPETING_KINDS, load_config
from mmrisk.evaluation import (
    cif_auc,
    cif_brier_scores,
    cindex_wolbers,
    cumulative_incidence_at,
    gray_test,
)
from mmrisk.exceptions import ConfigError, MMRiskError
from mmrisk.explain import explain
from mmrisk.models import COMPETING_MODEL_KINDS, cause_linear_model, predict_cif_at, split_model
from mmrisk.predict import output_columns
from mmrisk.tracking import load_model, using_store
from mmrisk.workflows import score, train
from mmrisk.workflows._train_competing import _wolbers_replicates

H = [12, 24]

CONFIG = """
name: cr-tiny
seed: 3
data: {{table: {table}, time: t, event: status, id_column: pid, competing_risks: true}}
pipeline: passthrough
baseline: finegray
models:
  cs_cox: {{kind: cs_cox}}
  finegray: {{kind: finegray}}
validation: {{n_splits: 3, n_repeats: 2, n_bootstrap: 20}}
horizons: [12, 24]
explain: {{n_samples: 30}}
tracking: {{experiment: cr-tiny, registered_model: cr-tiny, select_metric: cv_cindex_wolbers}}
"""


def _brute_wolbers(code: np.ndarray, time: np.ndarray, risk: np.ndarray, tau: float) -> float:
    """Pairs (i, j): i progresses at T_i <= tau and j is known free of progression at T_i
    (later time, censored at the same time, or died without progression at any time)."""
    num = den = 0.0
    for i in np.flatnonzero((code == 1) & (time <= tau)):
        for j in range(code.size):
            if j == i:
                continue
            free = code[j] == 2 or time[j] > time[i] or (time[j] == time[i] and code[j] == 0)
            if free:
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("cr-job")
    table = simulate_competing()
    path = root / "table.csv"
    table.to_csv(path, index=False)
    cfg_path = root / "cr.yaml"
    cfg_path.write_text(CONFIG.format(table=path))
    uri = f"sqlite:///{root}/store/mlflow.db"
    result = train(load_config(cfg_path), tracking_uri=uri)
    return {"root": root, "table": table, "path": path, "uri": uri, "result": result,
            "cfg": cfg_path}


def _oof(job, name: str) -> pd.DataFrame:
    run_id = job["result"].child_run_ids[name]
    local = mlflow.artifacts.download_artifacts(run_id=run_id,
                                                artifact_path="predictions_oof.parquet",
                                                tracking_uri=job["uri"])
    return pd.read_parquet(local)


@pytest.mark.parametrize("name", ["cs_cox", "finegray"])
def test_logged_metrics_equal_independent_computations(job, name):
    table = job["table"]
    y = competing_outcome(table["status"], table["t"])
    oof = _oof(job, name)
    assert set(oof.columns) == {"row", "repeat", "fold", "risk", "cif_12m", "cif_24m"}
    wolbers, auc, brier, oe = [], [], [], []
    for _, part in oof.groupby("repeat"):
        part = part.sort_values("row")
        yr = y[part["row"].to_numpy()]
        cif = part[["cif_12m", "cif_24m"]].to_numpy()
        np.testing.assert_allclose(part["risk"], part["cif_24m"], rtol=1e-10)  # risk = CIF(24)
        brute = _brute_wolbers(yr["event"], yr["time"], part["risk"].to_numpy(), tau=24.0)
        assert cindex_wolbers(yr, part["risk"].to_numpy(), tau=24.0) == pytest.approx(brute)
        wolbers.append(brute)
        auc.append(cif_auc(yr, yr, cif, H))
        brier.append(cif_brier_scores(yr, yr, cif, H))
        aj = cumulative_incidence_at(yr, H)
        oe.append(aj[aj["cause"] == 1]["cif"].to_numpy() / cif.mean(axis=0))
    logged = MlflowClient(job["uri"]).get_run(job["result"].child_run_ids[name]).data.metrics
    assert logged["cv_cindex_wolbers"] == pytest.approx(np.mean(wolbers), rel=1e-9)
    for j, h in enumerate(H):
        assert logged[f"cv_cif_auc_{h}m"] == pytest.approx(np.mean(auc, axis=0)[j], rel=1e-9)
        assert logged[f"cv_cif_brier_{h}m"] == pytest.approx(np.mean(brier, axis=0)[j],
                                                             rel=1e-9)
        assert logged[f"cv_cif_oe_{h}m"] == pytest.approx(np.mean(oe, axis=0)[j], rel=1e-9)
        assert 0 <= logged[f"cv_cif_ici_{h}m"] < 0.5
    for key in ("cv_cindex_wolbers", "cv_cif_brier_24m"):
        assert logged[f"{key}_lo"] < logged[f"{key}_hi"]
    # the paired difference from the baseline is the difference of the point estimates
    if name == "cs_cox":
        base = MlflowClient(job["uri"]).get_run(
            job["result"].child_run_ids["finegray"]).data.metrics
        assert logged["cv_cindex_wolbers_diff_vs_baseline"] == pytest.approx(
            logged["cv_cindex_wolbers"] - base["cv_cindex_wolbers"], rel=1e-9)
    # the simulated progression hazard depends on x1, x2: the models find it
    assert logged["cv_cindex_wolbers"] > 0.6


def test_identical_folds_for_every_model_stratified_on_progression(job):
    pred = job["result"].cv.predictions
    folds = pred.pivot_table(index=["repeat", "row"], columns="model", values="fold")
    assert (folds["cs_cox"] == folds["finegray"]).all()
    code = job["table"]["status"].to_numpy()
    for split in job["result"].cv.splits:  # stratified: about a third of the progressions each
        share = (code[split.test_idx] == 1).mean()
        assert abs(share - (code == 1).mean()) < 0.02


def test_hazard_ratio_tables_and_registration(job):
    client = MlflowClient(job["uri"])
    cs = client.get_run(job["result"].child_run_ids["cs_cox"])
    local = mlflow.artifacts.download_artifacts(run_id=cs.info.run_id,
                                                artifact_path="hazard_ratios.csv",
                                                tracking_uri=job["uri"])
    hr = pd.read_csv(local)
    assert list(hr.columns) == ["cause", "term", "hr", "hr_lo", "hr_hi", "p"]
    assert set(hr["cause"]) == {1, 2}
    # simulated log HRs: progression x1 0.8, x2 0.6, x3 0; death x3 0.7 (within 3.3 SE,
    # the SE read back from the logged 95% Wald interval)
    for cause, term, true in ((1, "x1", 0.8), (1, "x2", 0.6), (1, "x3", 0.0), (2, "x3", 0.7)):
        row = hr[(hr["cause"] == cause) & (hr["term"] == term)].iloc[0]
        se = (np.log(row["hr_hi"]) - np.log(row["hr_lo"])) / (2 * 1.959964)
        assert abs(np.log(row["hr"]) - true) < 3.3 * se, (cause, term)
    arts = {a.path for a in client.list_artifacts(cs.info.run_id, "figures")}
    assert {"figures/cif_calibration.png", "figures/cif_risk_groups.png"} <= arts
    reg = job["result"].registered
    metrics = {n: client.get_run(r).data.metrics["cv_cindex_wolbers"]
               for n, r in job["result"].child_run_ids.items()}
    assert reg["run_id"] == job["result"].child_run_ids[max(metrics, key=metrics.get)]


@pytest.mark.parametrize("name", ["cs_cox", "finegray"])
def test_pyfunc_returns_cif_columns_equal_to_predict_cif_at(job, name):
    uri = f"runs:/{job['result'].child_run_ids[name]}/model"
    loaded = load_model(uri, tracking_uri=job["uri"])
    X = job["table"][["x1", "x2", "x3"]]
    with using_store(job["uri"]):
        out = mlflow.pyfunc.load_model(uri).predict(X.head(40), params={"reasons": True})
    assert list(out.columns) == output_columns(H, "cif")
    expected = predict_cif_at(loaded.estimator, X.head(40), H)
    np.testing.assert_allclose(out[["cif_12m", "cif_24m"]].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out["risk_score"], expected[:, 1], rtol=1e-12)
    train_risk = loaded.estimator.predict(X)
    np.testing.assert_allclose(loaded.meta["cutpoints"],
                               np.quantile(train_risk, [1 / 3, 2 / 3]), rtol=1e-12)
    assert (out["status"] == "ok").all() and out["reason_1"].str.len().gt(0).all()


@pytest.mark.parametrize("name", ["cs_cox", "finegray"])
def test_reasons_explain_the_linear_predictor_of_progression(job, name):
    loaded = load_model(f"runs:/{job['result'].child_run_ids[name]}/model",
                        tracking_uri=job["uri"])
    X = job["table"][["x1", "x2", "x3"]].head(25)
    lp_model = cause_linear_model(loaded.estimator, cause=1)
    _, final = split_model(loaded.estimator)
    lp = (final.linear_predictor(X) if name == "finegray"
          else final.estimators_[0].predict(X))
    np.testing.assert_allclose(lp_model.predict(X), lp, rtol=1e-12)
    expl = explain(lp_model, X, background=job["table"][["x1", "x2", "x3"]])
    assert expl.method == "linear"
    np.testing.assert_allclose(expl.base_value + expl.values.sum(axis=1), lp, atol=1e-9)
    coef = final.coef_ if name == "finegray" else final.estimators_[0].coef_
    centred = X - job["table"][["x1", "x2", "x3"]].mean()
    np.testing.assert_allclose(expl.values.to_numpy(), centred.to_numpy() * coef, atol=1e-9)


def test_score_writes_cif_columns(job, tmp_path):
    inp = job["table"][["pid", "x1", "x2", "x3"]].head(30).copy()
    inp["x1"] = inp["x1"].astype(object)
    inp.loc[3, "x1"] = "abc"
    inp.loc[7, "x3"] = np.nan  # the passthrough pipeline imputes nothing
    src = tmp_path / "new.csv"
    inp.to_csv(src, index=False)
    out_path = tmp_path / "scores.csv"
    uri = f"runs:/{job['result'].registered['run_id']}/model"
    loaded = load_model(uri, tracking_uri=job["uri"])
    # probed at training: the model itself refuses a missing value of every feature
    for f in ["x1", "x2", "x3"]:
        probe = job["table"][["x1", "x2", "x3"]].head(1).copy()
        probe[f] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            loaded.estimator.predict(probe)
    assert loaded.meta["unimputed"] == ["x1", "x2", "x3"]
    res = score(uri, src, out_path, id_column="pid", tracking_uri=job["uri"])
    out = pd.read_csv(out_path)
    assert list(out.columns) == ["pid", *output_columns(H, "cif")]
    assert res.counts["error"] == 2 and np.isnan(out.loc[[3, 7], "cif_12m"]).all()
    assert out.loc[7, "reason"] == "missing value in x3: this model has no imputation for it"
    ok = inp.drop(index=[3, 7]).drop(columns="pid").astype(float)
    np.testing.assert_allclose(out.drop(index=[3, 7])[["cif_12m", "cif_24m"]].to_numpy(),
                               predict_cif_at(loaded.estimator, ok, H), rtol=1e-9)


def test_flat_table_bad_codes_name_the_rows(tmp_path):
    table = simulate_competing(60, seed=1)
    table.loc[[4, 17], "status"] = [3, -1]
    path = tmp_path / "bad.csv"
    table.to_csv(path, index=False)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(CONFIG.format(table=path))
    with pytest.raises(ConfigError, match=r"column 'status'.*rows 4 \(3\), 17 \(-1\)"):
        train(load_config(cfg), tracking_uri=f"sqlite:///{tmp_path}/s.db")


def test_horizons_beyond_follow_up_and_unusable_values_are_refused(tmp_path, caplog):
    """The checks of a survival train apply to a competing-risks train too, before any fit."""
    table = simulate_competing(60, seed=1)
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(table=path).replace("horizons: [12, 24]",
                                                     "horizons: [12, 600]"))
    db = tmp_path / "s.db"
    with caplog.at_level("WARNING", logger="mmrisk"), \
            pytest.raises(MMRiskError, match=r"horizon.*600.*follow-up"):
        train(load_config(cfg), tracking_uri=f"sqlite:///{db}")
    assert not db.exists()  # refused before the store was touched
    assert "20 bootstrap replicates give rough 95% intervals" in caplog.text
    table.loc[5, "x3"] = np.nan  # the passthrough pipeline imputes nothing
    table.to_csv(path, index=False)
    cfg.write_text(CONFIG.format(table=path))
    with pytest.raises(MMRiskError, match=r"'x3': the row of pid 'P0005' has x3=\(missing\)"):
        train(load_config(cfg), tracking_uri=f"sqlite:///{db}")


def _raw(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_config_refuses_mismatched_kinds_metrics_and_sources(tmp_path):
    assert set(COMPETING_KINDS) == set(COMPETING_MODEL_KINDS)
    base = "baseline: null\n"
    with pytest.raises(ConfigError, match=r"models.m.kind: 'cox' cannot fit a competing"):
        _raw(tmp_path, base + "cohort: {endpoint: progression_cr}\nmodels: {m: {kind: cox}}\n"
             "tracking: {select_metric: cv_cindex_wolbers}\n")
    with pytest.raises(ConfigError, match=r"models.m.kind: 'finegray' needs a competing"):
        _raw(tmp_path, base + "models: {m: {kind: finegray}}\n")
    with pytest.raises(ConfigError, match=r"select_metric 'cv_cindex_uno' is not logged"):
        _raw(tmp_path, base + "cohort: {endpoint: progression_cr}\n"
             "models: {m: {kind: cs_cox}}\n")
    with pytest.raises(ConfigError, match=r"'competing_risks' describes the event codes"):
        _raw(tmp_path, base + "data: {competing_risks: true}\nmodels: {m: {kind: cs_cox}}\n")
    with pytest.raises(ConfigError, match=r"grids are not supported"):
        _raw(tmp_path, base + "cohort: {endpoint: progression_cr}\n"
             "models: {m: {kind: cs_cox, grid: {alpha: [0.1, 1]}}}\n"
             "tracking: {select_metric: cv_cif_brier_24m}\n")
    ok = _raw(tmp_path, base + "cohort: {endpoint: progression_cr}\n"
              "models: {m: {kind: cs_coxnet}}\ntracking: {select_metric: cv_cif_ici_36m}\n")
    assert ok.competing


def test_bootstrap_wolbers_equals_cindex_wolbers_on_resampled_rows():
    table = simulate_competing(120, seed=4)
    y = competing_outcome(table["status"], np.round(table["t"]))  # rounded: tied times
    rng = np.random.default_rng(0)
    risk = np.round(rng.normal(size=120) + table["x1"].to_numpy(), 1)  # tied risks
    draws = rng.integers(0, 120, size=(6, 120))
    counts = np.stack([np.bincount(d, minlength=120) for d in draws]).astype(float)
    got = _wolbers_replicates(y, risk, 24.0, counts)
    want = [cindex_wolbers(y[d], risk[d], tau=24.0) for d in draws]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cohort_build_writes_cif_table_figure_and_gray(tmp_path):
    from mmrisk.registry import simulate_registry
    from mmrisk.workflows import write_cohort

    data = tmp_path / "reg"
    simulate_registry(data, n=300, seed=9)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cohort: {landmark: post_asct, endpoint: progression_cr}\n"
                   "horizons: [12, 36]\n")
    res = write_cohort(data, cfg, tmp_path / "out" / "cohort.parquet")
    names = [p.name for p in res.files]
    assert names == ["cohort.parquet", "cohort_flow.csv", "cohort_table1.csv", "cohort_cif.png",
                     "cohort_cif.csv", "cohort_gray.csv"]
    assert all(p.is_file() for p in res.files)
    cif = pd.read_csv(res.files[4])
    y, group = res.cohort.y, res.cohort.data[res.cohort.group_by].astype(str)
    for g in group.unique():
        sel = (group == g).to_numpy()
        for cause in (1, 2):
            # lifelines' Aalen-Johansen estimator of this group and cause, at the horizons
            from lifelines import AalenJohansenFitter

            ajf = AalenJohansenFitter(calculate_variance=False, seed=0)
            ajf.fit(y["time"][sel], y["event"][sel], event_of_interest=cause)
            want = ajf.predict([12, 36]).to_numpy().ravel()
            got = cif[(cif["group"] == g) & (cif["cause"] == cause)]["cif"].to_numpy()
            np.testing.assert_allclose(got, want, atol=2e-3)  # lifelines jitters tied times
            # n_event: events of this cause in the group up to and including each horizon,
            # counted directly from the cohort's outcome
            rows = cif[(cif["group"] == g) & (cif["cause"] == cause)]
            ev, tm = y["event"][sel], y["time"][sel]
            counted = [int(((ev == cause) & (tm <= h)).sum()) for h in (12, 36)]
            assert rows["n_event"].tolist() == counted
            assert counted[-1] > 0  # the column is not trivially zero
    gray = pd.read_csv(res.files[5])
    assert list(gray["cause"]) == [1, 2]
    for cause in (1, 2):
        want = gray_test(y, group.to_numpy(), cause=cause)
        assert gray.loc[gray["cause"] == cause, "p_value"].item() == pytest.approx(
            want["p_value"])
