"""Drift: closed-form PSI, KS against scipy within the quantile approximation, flags, chunked
accumulation, and a shifted cohort flagged where an unshifted resample is not."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.predict import DriftAccumulator, drift_report, psi, training_profile
from mmrisk.predict import predict_frame as score_frame
from mmrisk.registry import read_extract
from mmrisk.tracking import load_model
from mmrisk.workflows import write_drift


def _meta(train: pd.DataFrame, risk: np.ndarray | None = None) -> dict:
    profile = training_profile(train)
    if risk is not None:
        profile["risk_score"] = {"quantiles": np.quantile(risk, np.linspace(0, 1, 11)).tolist(),
                                 "group_shares": {"low": 1 / 3, "intermediate": 1 / 3,
                                                  "high": 1 / 3}}
    return {"features": list(train.columns), "profile": profile}


def test_psi_of_identical_shares_is_zero_and_matches_a_hand_computed_value():
    assert psi([0.25, 0.25, 0.5], [0.25, 0.25, 0.5]) == 0.0
    # (0.2-0.3) ln(0.2/0.3) + 0 + (0.5-0.4) ln(0.5/0.4) = 0.040547 + 0.022314
    assert psi([0.2, 0.3, 0.5], [0.3, 0.3, 0.4]) == pytest.approx(0.0628615, abs=1e-6)
    # an empty bin is floored at 1e-4: (0 - 0.1) ln(1e-4 / 0.1) + (1 - 0.9) ln(1 / 0.9)
    assert psi([0.0, 1.0], [0.1, 0.9]) == pytest.approx(
        (1e-4 - 0.1) * np.log(1e-4 / 0.1) + 0.1 * np.log(1 / 0.9), rel=1e-9)


def test_psi_on_training_deciles_equals_the_closed_form():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"x": rng.normal(size=5000)})
    q = np.quantile(train["x"], np.linspace(0, 1, 11))
    new = rng.normal(0.3, 1, size=4000)
    observed = np.histogram(new, bins=[-np.inf, *q[1:-1], np.inf])[0] / len(new)
    report = drift_report(pd.DataFrame({"x": new}), None, _meta(train))
    assert report.features.loc[0, "psi"] == pytest.approx(psi(observed, np.full(10, 0.1)),
                                                          rel=1e-9)
    same = drift_report(train, None, _meta(train))
    assert same.features.loc[0, "psi"] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("dist", ["normal", "gamma", "uniform"])
@pytest.mark.parametrize("shift", [0.0, 0.2, 0.8])
def test_ks_matches_scipy_within_the_quantile_approximation(dist, shift):
    rng = np.random.default_rng(7)
    draw = {"normal": lambda n: rng.normal(size=n), "gamma": lambda n: rng.gamma(2.0, size=n),
            "uniform": lambda n: rng.uniform(size=n)}[dist]
    train, new = draw(4000), draw(4000) + shift
    report = drift_report(pd.DataFrame({"x": new}), None, _meta(pd.DataFrame({"x": train})))
    assert report.features.loc[0, "ks"] == pytest.approx(ks_2samp(train, new).statistic,
                                                         abs=0.015)


def test_discrete_feature_is_stable_against_its_own_distribution():
    rng = np.random.default_rng(3)
    values = [0.0, 1.0, 2.0, 3.0]
    p = [0.55, 0.3, 0.1, 0.05]
    train = pd.DataFrame({"ecog": rng.choice(values, p=p, size=3000)})
    new = pd.DataFrame({"ecog": rng.choice(values, p=p, size=3000)})
    row = drift_report(new, None, _meta(train)).features.iloc[0]
    assert row["psi"] < 0.01 and row["ks"] < 0.03 and not row["flagged"]


def test_new_categories_and_missingness_change_are_flagged():
    train = pd.DataFrame({"hc": ["IgG"] * 60 + ["IgA"] * 40, "x": np.arange(100.0)})
    new = pd.DataFrame({"hc": ["IgG"] * 50 + ["IgM"] * 3 + ["IgX"] * 1 + ["IgA"] * 46,
                        "x": [np.nan] * 20 + list(np.arange(80.0))})
    report = drift_report(new, None, _meta(train))
    rows = report.features.set_index("feature")
    assert rows.loc["hc", "new_categories"] == "IgM (3), IgX (1)"
    assert rows.loc["hc", "n_new_category_rows"] == 4
    assert rows.loc["x", "missing_change"] == pytest.approx(0.2)
    assert report.flagged == ["hc", "x"]
    assert "missing 0% → 20%" in rows.loc["x", "flags"]


def test_chunked_accumulation_equals_one_pass():
    rng = np.random.default_rng(5)
    train = pd.DataFrame({"x": rng.normal(size=800), "c": rng.choice(list("abc"), size=800)})
    risk_train = rng.normal(size=800)
    meta = _meta(train, risk_train)
    new = pd.DataFrame({"x": rng.normal(0.5, 1, size=1000),
                        "c": rng.choice(list("abcd"), size=1000)})
    risk = rng.normal(0.2, 1, size=1000)
    one = drift_report(new, risk, meta).to_dict()
    acc = DriftAccumulator(meta)
    for lo in range(0, 1000, 137):
        acc.update(new.iloc[lo:lo + 137], risk[lo:lo + 137])
    assert acc.report().to_dict() == one


def test_write_drift_writes_markdown_and_strict_json_beside_the_output(tmp_path):
    train = pd.DataFrame({"x": np.arange(50.0), "c": ["a", "b"] * 25})
    report = drift_report(pd.DataFrame({"x": [np.nan] * 5, "c": [None] * 5}), None,
                          _meta(train))
    md, js = write_drift(report, tmp_path / "scores.parquet")
    assert md == tmp_path / "scores.drift.md" and js == tmp_path / "scores.drift.json"
    data = json.loads(js.read_text())
    assert data["n_rows"] == 5 and {f["feature"] for f in data["features"]} == {"x", "c"}
    assert "# Drift report" in md.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.drift.json", "scores.drift.md"]


# --- on a trained model: a shifted cohort is flagged, an unshifted resample is not -----------

@pytest.fixture(scope="module")
def cohort_and_model(trained_job):
    mlflow.set_tracking_uri(trained_job["tracking_uri"])
    loaded = load_model(trained_job["runs"]["coxnet"])
    cohort = build_cohort(read_extract(trained_job["data"]), CohortSpec(**loaded.meta["cohort"]))
    return cohort.X.reset_index(drop=True), loaded


def _drift_of(X: pd.DataFrame, loaded) -> object:
    out = score_frame(loaded.estimator, loaded.meta, X, reasons=False)
    assert (out["status"] != "error").all()
    return drift_report(X, out["risk_score"].to_numpy(), loaded.meta,
                        out["risk_group"].to_numpy())


def test_unshifted_resample_is_not_flagged(cohort_and_model):
    X, loaded = cohort_and_model
    rng = np.random.default_rng(11)
    sample = X.iloc[rng.integers(0, len(X), size=3000)].reset_index(drop=True)
    report = _drift_of(sample, loaded)
    assert report.flagged == []
    assert report.features["psi"].max() < 0.1
    assert report.risk["psi"] < 0.1


def test_older_cohort_with_more_del17p_is_flagged(cohort_and_model):
    X, loaded = cohort_and_model
    rng = np.random.default_rng(12)
    weights = np.exp((X["age"].to_numpy() - X["age"].mean()) / 4)
    idx = rng.choice(len(X), size=3000, p=weights / weights.sum())
    shifted = X.iloc[idx].reset_index(drop=True)
    shifted.loc[rng.random(len(shifted)) < 0.3, "del17p"] = "detected"
    report = _drift_of(shifted, loaded)
    assert {"age", "del17p"} <= set(report.flagged)
    rows = report.features.set_index("feature")
    assert rows.loc["age", "psi_level"] == "major" and rows.loc["del17p", "psi_level"] == "major"
    assert rows.loc["age", "ks"] > 0.3
