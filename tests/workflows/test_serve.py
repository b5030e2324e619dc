"""``mmrisk serve``: MLflow's model server on 127.0.0.1 answers what the pyfunc answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import mlflow
import numpy as np
import pandas as pd
import pytest
from servers import free_port, stop_process_group

from mmrisk.cohort import build_cohort
from mmrisk.config import CohortSpec
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import read_extract
from mmrisk.tracking import load_model
from mmrisk.workflows._serve import serve_command, serve_env, wait_until_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(trained_job, tmp_path_factory):
    """The registered champion served on a free port; killed (whole process group) after."""
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(serve_command(trained_job["registered"], port),
                                env=serve_env(trained_job["tracking_uri"]),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_until_ready(port, proc=proc, timeout=150)
        except MMRiskError as e:
            pytest.fail(f"{e}\n{log_path.read_text(errors='replace')[-3000:]}")
        yield {"url": f"http://127.0.0.1:{port}", "proc": proc}
    finally:
        stop_process_group(proc, timeout=20)


def _post(url: str, payload: dict) -> dict:
    req = urllib.request.Request(f"{url}/invocations", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def test_rest_server_scores_three_patients_like_the_pyfunc(trained_job, server):
    mlflow.set_tracking_uri(trained_job["tracking_uri"])
    loaded = load_model(trained_job["registered"])
    cohort = build_cohort(read_extract(trained_job["data"]), CohortSpec(**loaded.meta["cohort"]))
    X = cohort.data[loaded.features]
    # three patients, at least one with a missing value (sent as JSON null)
    with_missing = int(np.flatnonzero(X.isna().any(axis=1).to_numpy())[0])
    rows = X.iloc[sorted({0, 1, with_missing} if with_missing > 1 else {0, 1, 2})]
    assert len(rows) == 3
    # json (repr) keeps every float exact; DataFrame.to_json would round to 10 digits
    split = {"columns": list(rows.columns),
             "data": rows.astype(object).where(rows.notna(), None).to_numpy().tolist()}
    body = _post(server["url"], {"dataframe_split": split})

    got = pd.DataFrame(body["predictions"])
    ref = loaded.pyfunc.predict(rows)
    assert list(got.columns) == list(ref.columns)
    assert len(got) == 3
    for col in ref.columns:
        if pd.api.types.is_float_dtype(ref[col]):
            np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float),
                                       rtol=0, atol=1e-12, equal_nan=True, err_msg=col)
        else:
            a = got[col].astype(object).where(got[col].notna(), None).tolist()
            b = ref[col].astype(object).where(ref[col].notna(), None).tolist()
            assert a == b, col


def test_health_endpoints(server):
    for path in ("/ping", "/health"):
        with urllib.request.urlopen(server["url"] + path, timeout=10) as r:
            assert r.status == 200


def test_serve_command_is_loopback_only_and_uses_this_python():
    cmd = serve_command("models:/m@champion", 5001)
    assert cmd[:3] == [sys.executable, "-m", "mlflow"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--env-manager") + 1] == "local"
    assert cmd[cmd.index("-m", 3) + 1] == "models:/m@champion"
    with pytest.raises(MMRiskError, match="127.0.0.1 only"):
        serve_command("models:/m@champion", 5001, host="0.0.0.0")
    with pytest.raises(MMRiskError, match="port"):
        serve_command("models:/m@champion", 0)
    env = serve_env("sqlite:///x.db", base={"PATH": "/usr/bin"})
    assert env["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
