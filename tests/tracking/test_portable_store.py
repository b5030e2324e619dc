"""A local store is self-contained: a copied or moved ``mlruns/`` works on its own (issue 15).

MLflow records absolute artifact locations; before relocation, a copy kept reading from and
writing into the original, and once the original was moved its champion no longer loaded
(``No such artifact``). The reference is what the original store gives before it is moved.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from mmrisk.tracking import prepare_store, relocate_store, using_store
from mmrisk.workflows import score

LOCATIONS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
             ("logged_models", "artifact_location"), ("model_versions", "storage_location"))


def _store(trained_job) -> Path:
    return Path(trained_job["tracking_uri"].removeprefix("sqlite:///")).parent


def _locations(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [v for t, c in LOCATIONS for (v,) in con.execute(f"SELECT {c} FROM {t}")
                if v and v.startswith("file:")]
    finally:
        con.close()


def test_a_copy_scores_after_the_original_is_moved_away(trained_job, tmp_path):
    original = tmp_path / "original" / "mlruns"
    shutil.copytree(_store(trained_job), original)
    uri_original = f"sqlite:///{original}/mlflow.db"
    ref = score(trained_job["registered"], trained_job["data"], tmp_path / "ref.parquet",
                reasons=False, tracking_uri=uri_original)
    copy = tmp_path / "elsewhere" / "mlruns"
    shutil.copytree(original, copy)
    shutil.move(tmp_path / "original", tmp_path / "moved")  # the original is gone

    got = score(trained_job["registered"], trained_job["data"], tmp_path / "got.parquet",
                reasons=False, tracking_uri=f"sqlite:///{copy}/mlflow.db")
    pd.testing.assert_frame_equal(pd.read_parquet(got.out_path), pd.read_parquet(ref.out_path))
    own = (copy / "artifacts").resolve().as_uri()
    locations = [v for v in _locations(copy / "mlflow.db") if "/artifacts" in v]
    assert locations and all(v == own or v.startswith(own + "/") for v in locations)


def test_a_copy_writes_its_own_files_while_the_original_exists(trained_job, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(_store(trained_job), copy)
    run_id = trained_job["result"].parent_run_id
    with using_store(f"sqlite:///{copy}/mlflow.db"):
        MlflowClient().log_text(run_id, "copied", "note.txt")
        uri = MlflowClient().get_run(run_id).info.artifact_uri
    assert (copy / "artifacts" / run_id / "artifacts" / "note.txt").read_text() == "copied"
    assert not (_store(trained_job) / "artifacts" / run_id / "artifacts" / "note.txt").exists()
    assert uri.startswith((copy / "artifacts").resolve().as_uri())


def test_locations_outside_the_store_are_left_alone(tmp_path):
    store = tmp_path / "a" / "mlruns"
    uri = f"sqlite:///{store}/mlflow.db"
    prepare_store(uri)
    with using_store(uri):
        mlflow.create_experiment("ours", artifact_location=(store / "artifacts").as_uri())
        mlflow.create_experiment("bucket", artifact_location="s3://bucket/mlflow")
        mlflow.create_experiment("shared", artifact_location=(tmp_path / "shared").as_uri())
    moved = tmp_path / "b" / "mlruns"
    shutil.copytree(store, moved)
    assert relocate_store(moved / "mlflow.db") == 1  # the one location under the old store
    con = sqlite3.connect(moved / "mlflow.db")
    got = dict(con.execute("SELECT name, artifact_location FROM experiments"))
    con.close()
    assert got["ours"] == (moved / "artifacts").resolve().as_uri()
    assert got["bucket"] == "s3://bucket/mlflow"
    assert got["shared"] == (tmp_path / "shared").as_uri()
    assert relocate_store(moved / "mlflow.db") == 0  # nothing left to move
