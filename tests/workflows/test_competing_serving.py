"""A competing-risks model over ``mmrisk serve`` (REST) and Spark answers what its pyfunc answers.

The champion of the shared competing-risks job (tests/support/cr_job.py) outputs ``cif_<h>m``
(cumulative incidence of progression) instead of ``surv_<h>m``; the REST server and the Spark
engine must return the same columns and values, row for row, as the in-process pyfunc, which is
itself checked against :func:`mmrisk.models.predict_cif_at` in test_train_competing.py.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request

import numpy as np
import pandas as pd
import pytest
from servers import free_port, stop_process_group

from mmrisk.exceptions import MMRiskError
from mmrisk.predict import output_columns
from mmrisk.tracking import load_model
from mmrisk.workflows._serve import serve_command, serve_env, wait_until_ready

pytestmark = pytest.mark.slow


def _same(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(got.columns) == list(ref.columns) == output_columns([12, 24], "cif")
    assert len(got) == len(ref)
    for col in ref.columns:
        if pd.api.types.is_float_dtype(ref[col]):
            np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float),
                                       rtol=0, atol=1e-12, equal_nan=True, err_msg=col)
        else:
            a = got[col].astype(object).where(got[col].notna(), None).tolist()
            b = ref[col].astype(object).where(ref[col].notna(), None).tolist()
            assert a == b, col


def _rows(cr_job) -> tuple:
    loaded = load_model(cr_job["registered"], cr_job["tracking_uri"])
    # no missing value: the passthrough pipeline of this model has no imputer (a NaN would make
    # the row an error, "missing value in ...: this model has no imputation for it")
    return loaded, cr_job["new"][loaded.features].head(40).astype(float)


def test_rest_server_returns_the_pyfunc_cif(cr_job, tmp_path):
    loaded, X = _rows(cr_job)
    ref = loaded.pyfunc.predict(X, params={"reasons": True})
    assert (ref["status"] != "error").all() and ref["reason_1"].str.len().gt(0).all()
    port = free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(serve_command(cr_job["registered"], port),
                                env=serve_env(cr_job["tracking_uri"]), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_until_ready(port, proc=proc, timeout=150)
        except MMRiskError as e:
            pytest.fail(f"{e}\n{log_path.read_text(errors='replace')[-3000:]}")
        # json (repr) keeps every float exact
        split = {"columns": list(X.columns), "data": X.to_numpy().tolist()}
        payload = {"dataframe_split": split, "params": {"reasons": True}}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                     data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            body = json.load(r)
    finally:
        stop_process_group(proc, timeout=20)
    _same(pd.DataFrame(body["predictions"]), ref)


def test_spark_engine_returns_the_pyfunc_cif(cr_job, spark):
    from mmrisk.workflows._spark import score_spark

    loaded, X = _rows(cr_job)
    X = X.iloc[::-1]  # a non-trivial index: the output comes back in this order
    ref = loaded.pyfunc.predict(X)
    got = score_spark(cr_job["registered"], X, spark=spark, partitions=2)
    assert got.index.equals(X.index)
    _same(got.reset_index(drop=True), ref.reset_index(drop=True))
