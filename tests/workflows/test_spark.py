"""The Spark engine (``mlflow.pyfunc.spark_udf`` on ``local[2]``) returns what the pyfunc returns.

Needs Java 17+ and pyspark (``mmrisk[spark]``): skipped without them, unless ``CI`` is set, in
which case their absence is a failure.
"""

from __future__ import annotations

import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import read_extract
from mmrisk.tracking import load_model

pytestmark = pytest.mark.slow


def _features(trained_job, uri):
    mlflow.set_tracking_uri(trained_job["tracking_uri"])
    loaded = load_model(uri)
    cohort = build_cohort(read_extract(trained_job["data"]), CohortSpec(**loaded.meta["cohort"]))
    return loaded, cohort.data[loaded.features]


def assert_same_predictions(got: pd.DataFrame, ref: pd.DataFrame, cutpoints=None) -> None:
    """Column for column: floats to 1e-12, everything else equal (missing == missing).

    No exception for ``risk_group`` at an exact cut-point (with training data some scores
    equal a training quantile): ``risk_groups`` rounds both sides, so a last-bit difference of
    the linear predictor between batch sizes cannot flip the group.
    """
    assert list(got.columns) == list(ref.columns)
    assert len(got) == len(ref)
    for col in ref.columns:
        if pd.api.types.is_float_dtype(ref[col]):
            np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float),
                                       rtol=0, atol=1e-12, equal_nan=True, err_msg=col)
            continue
        a = got[col].astype(object).where(got[col].notna(), None).to_numpy()
        b = ref[col].astype(object).where(ref[col].notna(), None).to_numpy()
        same = np.array([x == y for x, y in zip(a, b, strict=True)], bool)
        assert same.all(), f"{col}: rows {np.flatnonzero(~same)[:10].tolist()} differ"


@pytest.mark.parametrize(("model", "partitions"), [("rsf", 2), ("coxnet", None)])
def test_spark_engine_equals_pyfunc(trained_job, spark, model, partitions):
    from mmrisk.workflows._spark import score_spark

    uri = trained_job["runs"][model]
    loaded, X = _features(trained_job, uri)
    X = X.iloc[::-1]  # a non-trivial index: the output must come back in this order
    ref = loaded.pyfunc.predict(X)
    got = score_spark(uri, X, spark=spark, partitions=partitions)
    assert got.index.equals(X.index)
    assert_same_predictions(got.reset_index(drop=True), ref, loaded.meta["cutpoints"])


def test_score_file_spark_keeps_order_and_ids(trained_job, spark, tmp_path):
    from mmrisk.workflows._spark import score_file_spark

    uri = trained_job["registered"]
    loaded, X = _features(trained_job, uri)
    table = X.assign(patient_id=[f"P{i:04d}" for i in range(len(X))])
    table.to_csv(tmp_path / "cohort.csv", index=False)
    out = tmp_path / "scores.parquet"
    # small splits: several partitions, so order across partitions is exercised
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(16 * 1024))
    try:
        n = score_file_spark(uri, tmp_path / "cohort.csv", out, spark=spark,
                             keep=["patient_id"])
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert n == len(X) and out.is_file()
    got = pd.read_parquet(out)
    assert got["row"].tolist() == list(range(len(X)))
    assert got["patient_id"].tolist() == table["patient_id"].tolist()
    ref = loaded.pyfunc.predict(X)
    assert_same_predictions(got.drop(columns=["row", "patient_id"]), ref,
                            loaded.meta["cutpoints"])
    with pytest.raises(MMRiskError, match="exists"):
        score_file_spark(uri, tmp_path / "cohort.csv", out, spark=spark)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_row_numbers_follow_file_order_across_files(spark, tmp_path):
    """Files in name order, rows in file order, even when Spark reads the big file first."""
    from mmrisk.workflows._spark import with_row_number

    folder = tmp_path / "in"
    folder.mkdir()
    idx = np.arange(300)
    pd.DataFrame({"idx": idx[:40]}).to_parquet(folder / "part-0.parquet", row_group_size=10)
    pd.DataFrame({"idx": idx[40:]}).to_parquet(folder / "part-1.parquet", row_group_size=10)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "512")
    spark.conf.set("spark.sql.files.openCostInBytes", "1")
    try:
        sdf = with_row_number(spark.read.parquet(str(folder)))
        assert sdf.rdd.getNumPartitions() > 2
        got = sdf.toPandas()
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    got = got.sort_values("row")
    assert got["row"].tolist() == list(range(300))
    assert got["idx"].tolist() == idx.tolist()


def test_missing_pyspark_says_how_to_install(monkeypatch):
    from mmrisk.workflows import _spark

    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(MMRiskError, match=r"pip install 'mmrisk\[spark\]'"):
        _spark.get_spark()
