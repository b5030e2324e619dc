"""The ASGI layer of ``mmrisk serve`` (:mod:`mmrisk.tracking._serving`) in process, over a stub
of MLflow's scoring app: what reaches the inner app, and what the client sees when the inner
app fails. Independent truth: the bytes the stub received and the literal values it echoed."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from mmrisk.tracking._serving import (
    RequestError,
    ScoringApp,
    csv_request_frame,
    json_request_problem,
)

SECRET = "71.123456789"


class Stub:
    """An inner app that records the request and answers like MLflow's does on errors."""

    def __init__(self, status=200, raise_=False):
        self.status, self.raise_, self.seen = status, raise_, None

    async def __call__(self, scope, receive, send):
        event = await receive()
        self.seen = {"headers": dict(scope["headers"]), "body": event["body"]}
        if self.raise_:
            raise RuntimeError(f"failed on {SECRET}")
        body = json.dumps({"error_code": "BAD_REQUEST", "message": f"Failed on '{SECRET}'",
                           "stack_trace": 'Traceback (most recent call last):\n  File "x"'}
                          ).encode() if self.status >= 400 else b'{"predictions": []}'
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body[:10], "more_body": True})
        await send({"type": "http.response.body", "body": body[10:]})


def _call(app, body: bytes, content_type: str | None, method="POST", path="/invocations",
          chunk: int = 0):
    headers = [(b"content-type", content_type.encode())] if content_type else []
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    events = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
              for i, p in enumerate(parts)]
    sent = []

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(event):
        sent.append(event)

    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": headers},
                    receive, send))
    start = next(e for e in sent if e["type"] == "http.response.start")
    raw = b"".join(e.get("body", b"") for e in sent if e["type"] == "http.response.body")
    return start["status"], raw


def test_csv_reaches_the_inner_app_as_the_equivalent_split_json():
    stub = Stub()
    body = b"age,sex,ecog\n61.2,F,1\n,M,\n0.1000000000000000055511151231257827,F,2\n"
    status, _ = _call(ScoringApp(stub, categorical=["sex", "ecog"]), body, "text/csv",
                      chunk=7)
    assert status == 200
    assert stub.seen["headers"][b"content-type"] == b"application/json"
    assert int(stub.seen["headers"][b"content-length"]) == len(stub.seen["body"])
    sent = json.loads(stub.seen["body"])
    assert sent == {"dataframe_split": {"columns": ["age", "sex", "ecog"],
                                        "data": [[61.2, "F", "1"], [None, "M", None],
                                                 [0.1, "F", "2"]]}}


def test_inner_errors_and_exceptions_become_short_messages():
    for stub in (Stub(status=400), Stub(status=500), Stub(raise_=True)):
        status, raw = _call(ScoringApp(stub), b'{"dataframe_records": []}', "application/json")
        assert status == (500 if stub.raise_ else stub.status)
        body = json.loads(raw)
        assert set(body) == {"error_code", "message"}
        assert SECRET not in raw.decode() and "Traceback" not in raw.decode()


def test_a_body_over_the_limit_is_413_and_never_reaches_the_model():
    stub = Stub()
    status, raw = _call(ScoringApp(stub, max_body_bytes=100), b"a,b\n" + b"1,2\n" * 100,
                        "text/csv", chunk=16)
    assert status == 413 and stub.seen is None
    assert json.loads(raw)["error_code"] == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"dataframe_split": {"columns": ["a"], "data": [[1], [1, 2]]}}', "data row 1 has 2"),
    (b'{"dataframe_split": {"columns": ["a", 3], "data": []}}', "column name"),
    (b'{"dataframe_records": [{"a": 1}, [1]]}', "record 1 is not an object"),
    (b'{"dataframe_records": [], "params": {"reasons": null}}', "params"),
    (b'{"dataframe_records": [], "inputs": []}', "exactly one of"),
    (b'[' * 100000, "nested too deeply"),
    (b"\xef\xbb\xbf" + b'{"dataframe_records": []}', None),  # a UTF-8 BOM is fine
])
def test_json_checks(body, expected):
    problem = json_request_problem(body)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in str(problem) and problem.status == 400


def test_csv_reads_like_score_reads_a_file(tmp_path):
    text = "age,sex\n61.2,F\nNA,\n1e-3,M\n"
    got = csv_request_frame(text.encode(), ["sex"])
    path = tmp_path / "x.csv"
    path.write_text(text)
    ref = pd.read_csv(path, dtype={"sex": str}, float_precision="round_trip")
    pd.testing.assert_frame_equal(got, ref)
    with pytest.raises(RequestError, match="data row 2 has 3 fields"):
        csv_request_frame(b"a,b\n1,2\n1,2,3\n")
    with pytest.raises(RequestError, match="data row 1 has 1 fields"):  # an unclosed quote
        csv_request_frame(b'a,b\n"1,2\n')
