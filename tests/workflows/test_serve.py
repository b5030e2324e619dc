"""``mmrisk serve``: the model server on 127.0.0.1 answers what the pyfunc answers; CSV is
accepted and scores like JSON; a refused request is a short JSON message that quotes no input
(issue 16). One server for the module (servers are slow to start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
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
    assert cmd[:3] == [sys.executable, "-m", "mmrisk.tracking._serving"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "5001"
    assert cmd[cmd.index("--model") + 1] == "models:/m@champion"
    with pytest.raises(MMRiskError, match="127.0.0.1 only"):
        serve_command("models:/m@champion", 5001, host="0.0.0.0")
    with pytest.raises(MMRiskError, match="port"):
        serve_command("models:/m@champion", 0)
    env = serve_env("sqlite:///x.db", base={"PATH": "/usr/bin"})
    assert env["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


# --- hostile requests (issue 16): CSV accepted, short JSON errors that quote no input ---------

#: Values that appear nowhere but in the request: an answer that contains one echoes the input.
MARKER_AGE = 61.987654321
MARKER_TEXT = "ZQX-not-a-code"


def _request(url: str, body: bytes, content_type: str | None, path: str = "/invocations"
             ) -> tuple[int, str, bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(f"{url}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def _assert_short_json_error(status: int, ctype: str, raw: bytes, expected_status: int,
                             expected: str) -> dict:
    """A short JSON message with no input value, path or stack trace."""
    assert status == expected_status, raw[:500]
    assert ctype.startswith("application/json"), ctype
    text = raw.decode()
    body = json.loads(text)
    assert set(body) == {"error_code", "message"}, body
    assert expected in body["message"], body["message"]
    assert len(text) < 400, text
    for leak in (str(MARKER_AGE), MARKER_TEXT, "61.98", "Traceback", 'File "', "site-packages",
                 "/tmp/"):
        assert leak not in text, (leak, text)
    return body


@pytest.fixture(scope="module")
def rows(trained_job):
    """Three cohort rows (one with a missing value) and the pyfunc's answer for them."""
    loaded = load_model(trained_job["registered"], trained_job["tracking_uri"])
    cohort = build_cohort(read_extract(trained_job["data"]), CohortSpec(**loaded.meta["cohort"]))
    X = cohort.data[loaded.features]
    with_missing = int(np.flatnonzero(X.isna().any(axis=1).to_numpy())[0])
    picked = X.iloc[sorted({0, 1, with_missing} if with_missing > 1 else {0, 1, 2})]
    return {"X": picked.reset_index(drop=True), "loaded": loaded,
            "ref": loaded.pyfunc.predict(picked)}


def _records(X: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in r.items()}
            for r in X.astype(object).to_dict(orient="records")]


def test_csv_body_scores_like_json(server, rows):
    csv_body = rows["X"].to_csv(index=False).encode()
    for ctype in ("text/csv", "text/csv; charset=utf-8"):
        status, rtype, raw = _request(server["url"], csv_body, ctype)
        assert status == 200, raw[:500]
        got = pd.DataFrame(json.loads(raw)["predictions"])
        json_body = json.dumps({"dataframe_records": _records(rows["X"])}).encode()
        as_json = pd.DataFrame(_post_raw(server["url"], json_body)["predictions"])
        pd.testing.assert_frame_equal(got, as_json)
        ref = rows["ref"]
        assert got["status"].tolist() == ref["status"].tolist()
        h = rows["loaded"].horizons[-1]
        np.testing.assert_allclose(got[f"surv_{h}m"].to_numpy(float),
                                   ref[f"surv_{h}m"].to_numpy(float), rtol=0, atol=1e-12)


def _post_raw(url: str, body: bytes) -> dict:
    status, _, raw = _request(url, body, "application/json")
    assert status == 200, raw[:500]
    return json.loads(raw)


def test_bad_cells_stay_row_errors_in_json_and_csv(server, rows):
    recs = _records(rows["X"])
    recs[1]["age"] = [MARKER_AGE, 1]  # a list in a cell
    body = _post_raw(server["url"], json.dumps({"dataframe_records": recs}).encode())
    assert [p["status"] for p in body["predictions"]][1] == "error"
    assert body["predictions"][1]["reason"] == "age: a list or object is not a value"
    assert body["predictions"][0]["status"] != "error"
    X = rows["X"].astype(object)
    X.loc[2, "age"] = "abc"  # unparseable in CSV: that row only
    status, _, raw = _request(server["url"], X.to_csv(index=False).encode(), "text/csv")
    preds = json.loads(raw)["predictions"]
    assert status == 200 and preds[2]["status"] == "error" and preds[0]["status"] != "error"
    assert preds[2]["reason"].startswith("age: 'abc' is not a number")


def test_bad_params_are_one_short_message_without_the_rows(server, rows):
    recs = _records(rows["X"])
    recs[0]["age"] = MARKER_AGE
    for params in ({"reasons": "yes"}, {"reasons": 1}, ["reasons"], {"other": True}):
        raw_body = json.dumps({"dataframe_records": recs, "params": params}).encode()
        _assert_short_json_error(*_request(server["url"], raw_body, "application/json"), 400,
                                 "params")


def test_malformed_json_is_not_echoed(server):
    for body in (f'{{"dataframe_records": [{{"age": {MARKER_AGE}, "sex": "{MARKER_TEXT}"',
                 f'[{{"age": {MARKER_AGE}}}]',
                 f'{{"records": [{{"age": {MARKER_AGE}}}]}}',
                 f'{{"dataframe_split": {{"columns": ["age", "sex"], "data": [[{MARKER_AGE}]]'
                 '}}, "extra": 1'):
        _assert_short_json_error(*_request(server["url"], body.encode(), "application/json"),
                                 400, "JSON")
    not_utf8 = f'{{"dataframe_records": [{{"age": {MARKER_AGE}}}]}}'.encode() + b"\xff"
    _assert_short_json_error(*_request(server["url"], not_utf8, "application/json"), 400,
                             "UTF-8")


def test_bad_csv_and_other_content_types_are_short_messages(server, rows):
    csv_text = rows["X"].to_csv(index=False)
    lines = csv_text.splitlines()
    lines[2] = lines[2] + f",{MARKER_AGE}"  # data row 2 has one field too many
    _assert_short_json_error(*_request(server["url"], "\n".join(lines).encode(), "text/csv"),
                             400, "data row 2")
    semi = csv_text.replace(",", ";").replace("61", str(MARKER_AGE))
    _assert_short_json_error(*_request(server["url"], semi.encode(), "text/csv"), 400,
                             "comma-separated")
    _assert_short_json_error(*_request(server["url"], b"", "text/csv"), 400, "header")
    _assert_short_json_error(*_request(server["url"], csv_text.encode() + b"\xff\n", "text/csv"),
                             400, "UTF-8")
    _assert_short_json_error(*_request(server["url"], str(MARKER_AGE).encode(), "text/plain"),
                             415, "application/json")
    _assert_short_json_error(*_request(server["url"], b"{}", None), 415, "text/csv")
    _assert_short_json_error(*_request(server["url"], b"{}", "text/csv; charset=latin-1"), 415,
                             "UTF-8")


def test_unknown_paths_and_methods_are_json_too(server):
    _assert_short_json_error(*_request(server["url"], None, None, path="/nothing"), 404,
                             "not found")
    status, ctype, raw = _request(server["url"], None, None, path="/invocations")  # GET
    _assert_short_json_error(status, ctype, raw, 405, "POST")
