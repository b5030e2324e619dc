"""`mmrisk score` from the command line: one row per patient, the same scores
as the pyfunc, drift flagged on a shifted cohort, clear errors without tracebacks."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from mmrisk.cli import app
from mmrisk.registry import read_extract, simulate_registry
from mmrisk.tracking import load_model

runner = CliRunner()


def _args(job, *rest):
    return [*rest, "--tracking-uri", job["tracking_uri"]]


def test_score_a_new_extract_with_the_champion(trained_job, tmp_path):
    new = tmp_path / "new_cohort"
    simulate_registry(new, n=150, seed=99)  # a different seed: new patients
    out = tmp_path / "scores.csv"
    res = runner.invoke(app, _args(trained_job, "score", "--model", trained_job["registered"],
                                   "--data", str(new), "--out", str(out)))
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(out)
    patients = read_extract(new).tables["patients"]
    assert scores["patient_id"].tolist() == patients["patient_id"].astype(str).tolist()
    assert set(scores["status"]) <= {"ok", "warning", "error"}
    assert scores.loc[scores.status == "error", "reason"].notna().all()
    ok = scores[scores.status != "error"]
    assert len(ok) > 50 and ok["reason_1"].notna().all()
    assert (out.parent / "scores.drift.md").is_file()
    assert (out.parent / "scores.drift.json").is_file()
    # Same numbers as the registered pyfunc called directly on the same feature rows.
    mlflow.set_tracking_uri(trained_job["tracking_uri"])
    loaded = load_model(trained_job["registered"])
    from mmrisk.cohort import build_cohort
    from mmrisk.config import CohortSpec

    cohort = build_cohort(read_extract(new), CohortSpec(**loaded.meta["cohort"]))
    direct = loaded.pyfunc.predict(cohort.data[loaded.features])
    direct.index = cohort.data["patient_id"].astype(str)
    mine = scores.set_index(scores["patient_id"].astype(str)).loc[direct.index]
    np.testing.assert_allclose(mine["risk_score"], direct["risk_score"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(mine["surv_12m"], direct["surv_12m"], rtol=0, atol=1e-9)
    assert (mine["risk_group"].to_numpy() == direct["risk_group"].to_numpy()).all()


def test_score_flags_a_shifted_cohort_on_the_console(trained_job, tmp_path):
    mlflow.set_tracking_uri(trained_job["tracking_uri"])
    loaded = load_model(trained_job["registered"])
    from mmrisk.cohort import build_cohort
    from mmrisk.config import CohortSpec

    X = build_cohort(read_extract(trained_job["data"]),
                     CohortSpec(**loaded.meta["cohort"])).data[loaded.features]
    shifted = X.sample(600, replace=True, random_state=1).reset_index(drop=True)
    shifted["age"] = shifted["age"] + 12  # an older population
    path = tmp_path / "older.parquet"
    shifted.to_parquet(path)
    res = runner.invoke(app, _args(trained_job, "score", "--model", trained_job["registered"],
                                   "--data", str(path), "--out", str(tmp_path / "o.parquet"),
                                   "--no-reasons"))
    assert res.exit_code == 0, res.output
    assert "Drift" in res.output and "age" in res.output
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert len(out) == 600 and (out["reason_1"].fillna("") == "").all()


def test_score_missing_columns_is_one_error_and_writes_nothing(trained_job, tmp_path):
    mlflow.set_tracking_uri(trained_job["tracking_uri"])
    loaded = load_model(trained_job["registered"])
    table = pd.DataFrame({"patient_id": ["A", "B"], "age": [60.0, 70.0]})
    table.to_csv(tmp_path / "thin.csv", index=False)
    out = tmp_path / "never.csv"
    res = runner.invoke(app, _args(trained_job, "score", "--model", trained_job["registered"],
                                   "--data", str(tmp_path / "thin.csv"), "--out", str(out)))
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    missing = [f for f in loaded.features if f != "age"]
    assert all(f in res.output.replace("\n", "") for f in missing[:3])
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["thin.csv"]


def test_score_spark_engine_refuses_an_extract_with_guidance(trained_job, tmp_path):
    res = runner.invoke(app, _args(trained_job, "score", "--model", trained_job["registered"],
                                   "--data", str(trained_job["data"]), "--out",
                                   str(tmp_path / "s.parquet"), "--engine", "spark"))
    assert res.exit_code == 1 and "cohort build" in res.output


def test_an_unknown_model_is_one_clear_error(trained_job):
    res = runner.invoke(app, _args(trained_job, "explain", "--model", "runs:/0123/model",
                                   "--data", str(trained_job["data"]), "--out", "x"))
    assert res.exit_code == 1 and "runs:/0123/model" in res.output
