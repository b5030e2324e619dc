"""The REST app of ``mmrisk serve``: MLflow's scoring server behind a small checking layer.

MLflow's own FastAPI app (:func:`mlflow.pyfunc.scoring_server.init`) parses requests and calls
the pyfunc; :class:`ScoringApp` is an ASGI layer in front of it that

- reads ``text/csv`` bodies itself: checked as ``mmrisk score`` checks a CSV file (UTF-8,
  comma-separated, one field per column in every row), read with the same pandas options
  (categorical features as text, numbers round-trip), and handed to MLflow's app as the
  equivalent ``dataframe_split`` JSON, so a CSV request scores exactly as the same rows sent as
  JSON. MLflow's server reads CSV only with dtypes taken from the input schema, which mmrisk
  types ``Any`` (one bad cell is a row error), so it refuses CSV.
- checks ``application/json`` bodies before MLflow parses them (valid UTF-8 JSON, an object
  with exactly one input format, a well-formed table, ``params`` only ``{"reasons": bool}``):
  MLflow's messages quote the body of malformed JSON, and the input rows when ``params`` do not
  match the params schema.
- answers every error (its own, MLflow's, the web framework's: status 400 and above) with
  ``{"error_code": ..., "message": ...}``: a short message in mmrisk's words that never holds
  an input value, a path or a stack trace. Per-row problems (a bad cell, a record without any
  feature value) are not errors of the request: they stay ``status=error`` rows of a 200 answer.

Why hand-written: MLflow's scoring server has no option to hide its messages or to read CSV
without schema dtypes, and a reverse proxy that rewrites error bodies is one more component to
deploy; the layer is about 200 lines over the standard library and pandas.

Run with ``python -m mmrisk.tracking._serving --model URI --port P`` (what
:func:`mmrisk.workflows.serve` starts): it loads the model with
:func:`mmrisk.tracking.load_model` (files checked against the SHA-256 recorded in the tracking
store before anything is unpickled) in each ``uvicorn`` worker. The package ``mmrisk.tracking``
does not import this module, so that running it with ``-m`` imports it once.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError

__all__ = ["MODEL_ENV", "RequestError", "ScoringApp", "app_from_env", "csv_request_frame",
           "json_request_problem", "main", "scoring_app"]

log = logging.getLogger(__name__)

#: Environment variable naming the model URI a server worker loads (set by :func:`main`).
MODEL_ENV = "MMRISK_SERVE_MODEL"
#: Largest request body read (bytes); a larger one is refused with 413.
MAX_BODY_BYTES = 64 * 2**20
_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_SHAPES = ('{"dataframe_split": {"columns": [...], "data": [[...], ...]}} or '
           '{"dataframe_records": [{...}, ...]}')
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
          413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 422: "BAD_REQUEST",
          500: "INTERNAL_ERROR", 504: "TIMEOUT"}
#: What an error answered by MLflow's app (or the web framework) says instead of its own text.
_GENERIC = {
    400: f"the request could not be scored as a table; send JSON such as {_SHAPES}, or CSV "
         "with a header row (Content-Type: text/csv)",
    404: "not found: the endpoints are POST /invocations, GET /ping, GET /health, GET /version",
    405: "method not allowed: score with POST /invocations",
    504: "the request took longer than the server's timeout; send fewer rows per request",
}
_INTERNAL = "the server could not score this request (see the server's log)"


class RequestError(MMRiskError):
    """A request the server refuses as a whole: ``status`` and a message quoting no input.

    Parameters
    ----------
    status : int
        HTTP status of the answer.
    message : str
        The message (never an input value).
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error_body(status: int, message: str) -> bytes:
    return json.dumps({"error_code": _CODES.get(status, "INTERNAL_ERROR"),
                       "message": message}).encode()


# --- JSON ------------------------------------------------------------------------------------


def _utf8(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = body[:e.start].count(b"\n") + 1
        raise RequestError(400, f"the {what} body is not UTF-8 text (line {line}, byte "
                                f"{e.start + 1}); send UTF-8") from None


def _check_split(split: Any) -> None:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) \
            or not isinstance(split.get("data"), list):
        raise RequestError(400, "dataframe_split must be an object with a list 'columns' and a "
                                "list of rows 'data'")
    if not all(isinstance(c, str) for c in split["columns"]):
        raise RequestError(400, "dataframe_split: every column name must be a string")
    n = len(split["columns"])
    for i, row in enumerate(split["data"]):
        if not isinstance(row, list) or len(row) != n:
            got = f"{len(row)} values" if isinstance(row, list) else "not a list"
            raise RequestError(400, f"dataframe_split: data row {i} has {got} but 'columns' "
                                    f"names {n}")
    if split.keys() - {"columns", "data", "index"}:
        raise RequestError(400, "dataframe_split may hold only 'columns', 'data' and 'index'")


def _check_records(records: Any) -> None:
    if not isinstance(records, list):
        raise RequestError(400, "dataframe_records must be a list of objects, one per row")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise RequestError(400, f"dataframe_records: record {i} is not an object")


def _check_params(params: Any) -> None:
    if params is None:
        return
    if not isinstance(params, dict) or params.keys() - {"reasons"} \
            or not isinstance(params.get("reasons", False), bool):
        raise RequestError(400, 'params must be {"reasons": true} or {"reasons": false} '
                                "(reason_1..3 on or off)")


def json_request_problem(body: bytes) -> RequestError | None:
    """Check a JSON scoring request before MLflow parses it.

    Parameters
    ----------
    body : bytes
        The request body.

    Returns
    -------
    RequestError or None
        Why the request is refused (status 400, a message that quotes no input), or None.
    """
    try:
        text = _utf8(body, "JSON")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise RequestError(400, f"the body is not valid JSON ({e.msg} at line {e.lineno}, "
                                    f"column {e.colno})") from None
        except RecursionError:
            raise RequestError(400, "the JSON body is nested too deeply") from None
        if not isinstance(doc, dict):
            raise RequestError(400, f"the JSON body must be an object such as {_SHAPES}")
        formats = [k for k in _FORMATS if k in doc]
        if len(formats) != 1 or doc.keys() - {*_FORMATS, "params"}:
            raise RequestError(400, "the JSON body must hold exactly one of "
                                    f"{', '.join(_FORMATS)} (and optionally params), e.g. "
                                    f"{_SHAPES}")
        if formats[0] == "dataframe_split":
            _check_split(doc["dataframe_split"])
        elif formats[0] == "dataframe_records":
            _check_records(doc["dataframe_records"])
        _check_params(doc.get("params"))
    except RequestError as e:
        return e
    return None


# --- CSV -------------------------------------------------------------------------------------


def _check_csv_text(text: str) -> None:
    if "\x00" in text:
        raise RequestError(400, "the CSV body is binary, not text; send comma-separated UTF-8 "
                                "text with a header row")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        if not any(h.strip() for h in header):
            raise RequestError(400, "the CSV body has no header row; its first line must name "
                                    "the columns")
        if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            raise RequestError(400, "the CSV header is not comma-separated (semicolons or tabs);"
                                    " send comma-separated values with '.' as the decimal mark")
        n = 0
        for row in reader:
            if not row:
                continue
            n += 1
            if len(row) != len(header):
                raise RequestError(400, f"CSV data row {n} has {len(row)} fields but the header "
                                        f"names {len(header)} columns (a stray comma?)")
    except csv.Error:
        raise RequestError(400, f"the CSV body cannot be parsed at line {reader.line_num} "
                                "(an unclosed quote?)") from None


def csv_request_frame(body: bytes, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """Read a ``text/csv`` scoring request as ``mmrisk score`` reads a CSV file.

    Parameters
    ----------
    body : bytes
        The request body: UTF-8, comma-separated, a header row, one field per column.
    categorical : sequence of str, default=()
        Features read as text (categorical in training); the others are parsed by pandas
        (``float_precision="round_trip"``: a number written by ``repr`` reads back exactly).

    Returns
    -------
    pandas.DataFrame
        The rows (empty fields and ``NA`` missing).

    Raises
    ------
    RequestError
        Status 400 with a message naming the line or data row (never a value) when the body is
        not UTF-8, has no header, is not comma-separated or a row has the wrong number of
        fields.
    """
    text = _utf8(body, "CSV")
    _check_csv_text(text)
    header = next(csv.reader(io.StringIO(text, newline="")))
    dtypes = {c: str for c in categorical if c in header}
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtypes, low_memory=False,
                           float_precision="round_trip")
    except (ValueError, pd.errors.ParserError):
        raise RequestError(400, "the CSV body cannot be read as a table") from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _as_split_json(frame: pd.DataFrame) -> bytes:
    data = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()
    return json.dumps({"dataframe_split": {"columns": [str(c) for c in frame.columns],
                                           "data": data}}, default=_plain).encode()


# --- the ASGI layer --------------------------------------------------------------------------


def _content_type(scope: dict) -> tuple[str, dict[str, str]]:
    raw = dict(scope.get("headers") or []).get(b"content-type", b"").decode("latin-1")
    mime, *rest = [p.strip() for p in raw.split(";")]
    params = {k.strip().lower(): v.strip().strip('"') for k, _, v in
              (p.partition("=") for p in rest if p)}
    return mime.lower(), params


def _with_json_body(scope: dict, body: bytes) -> dict:
    headers = [(k, v) for k, v in scope.get("headers") or []
               if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]
    return {**scope, "headers": headers}


class ScoringApp:
    """ASGI app: MLflow's scoring app behind request checks and short JSON errors.

    Parameters
    ----------
    app : ASGI application
        MLflow's scoring app (:func:`mlflow.pyfunc.scoring_server.init`).
    categorical : sequence of str, default=()
        The model's categorical features (read as text from CSV).
    max_body_bytes : int, default=67108864
        Largest request body read; a larger one is answered with 413.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], categorical: Sequence[str] = (),
                 max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.categorical = categorical
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        """Serve one ASGI connection (HTTP requests are checked; others pass through).

        Parameters
        ----------
        scope : dict
            The ASGI connection scope.
        receive : callable
            Awaitable returning the next ASGI event.
        send : callable
            Awaitable sending an ASGI event.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = {"started": False}

        async def reply(status: int, message: str) -> None:
            body = _error_body(status, message)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            sent["started"] = True

        try:
            if scope["path"] == "/invocations" and scope["method"] == "POST":
                scope, receive = await self._prepare(scope, receive)
            await self.app(scope, receive, _ErrorFilter(send, reply))
        except RequestError as e:
            log.info("request refused (%d): %s", e.status, e)
            if not sent["started"]:
                await reply(e.status, str(e))
        except Exception as e:  # noqa: BLE001 - an answer without the exception's text
            log.error("scoring failed with %s (message withheld: it may quote the request)",
                      type(e).__name__)
            if not sent["started"]:
                await reply(500, _INTERNAL)

    async def _read(self, receive: Callable) -> bytes:
        chunks, size = [], 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                raise RequestError(400, "the client disconnected before the body was read")
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise RequestError(413, f"the body is larger than {self.max_body_bytes} bytes; "
                                        "send fewer rows per request")
            chunks.append(chunk)
            if not event.get("more_body", False):
                return b"".join(chunks)

    async def _prepare(self, scope: dict, receive: Callable) -> tuple[dict, Callable]:
        """Check (and for CSV convert) the body; the inner app receives what was read."""
        mime, params = _content_type(scope)
        if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            raise RequestError(415, "only UTF-8 bodies are accepted (charset=utf-8)")
        if mime not in ("application/json", "text/csv"):
            raise RequestError(415, "send Content-Type: application/json (a JSON object such "
                                    "as {\"dataframe_split\": ...}) or text/csv (a header row)")
        body = await self._read(receive)
        if mime == "text/csv":
            body = _as_split_json(csv_request_frame(body, self.categorical))
            scope = _with_json_body(scope, body)
        else:
            problem = json_request_problem(body)
            if problem is not None:
                raise problem
        replayed = {"done": False}

        async def replay() -> dict:
            if not replayed["done"]:
                replayed["done"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return scope, replay


class _ErrorFilter:
    """``send`` of the inner app: an answer of status 400 or more is replaced by ours."""

    def __init__(self, send: Callable, reply: Callable):
        self.send, self.reply, self.status = send, reply, None

    async def __call__(self, event: dict) -> None:
        if event["type"] == "http.response.start":
            self.status = int(event["status"])
            if self.status < 400:
                await self.send(event)
            return
        if self.status is None or self.status < 400:
            await self.send(event)
            return
        if event["type"] == "http.response.body" and not event.get("more_body", False):
            log.info("request answered with status %d (message replaced)", self.status)
            await self.reply(self.status, _GENERIC.get(self.status, _INTERNAL))


def scoring_app(pyfunc: Any, categorical: Sequence[str] = (), *,
                max_body_bytes: int = MAX_BODY_BYTES) -> ScoringApp:
    """The checked REST app of a loaded mmrisk pyfunc.

    Parameters
    ----------
    pyfunc : mlflow.pyfunc.PyFuncModel
        The loaded model (:attr:`mmrisk.tracking.LoadedModel.pyfunc`).
    categorical : sequence of str, default=()
        Its categorical features (read as text from a CSV body).
    max_body_bytes : int, default=67108864
        Largest request body read.

    Returns
    -------
    ScoringApp
        The ASGI app (``/invocations``, ``/ping``, ``/health``, ``/version``).
    """
    from mlflow.pyfunc import scoring_server

    return ScoringApp(scoring_server.init(pyfunc), categorical, max_body_bytes)


def app_from_env() -> ScoringApp:
    """The app of the model named by ``MMRISK_SERVE_MODEL`` (the ``uvicorn`` factory).

    The model is loaded with :func:`mmrisk.tracking.load_model` against the store of
    ``MLFLOW_TRACKING_URI``: its files are checked against the recorded SHA-256 before anything
    is unpickled.

    Returns
    -------
    ScoringApp
        The app.
    """
    from mmrisk.tracking._pyfunc import load_model

    _server_logging()
    loaded = load_model(os.environ[MODEL_ENV])
    feats = (loaded.meta.get("profile") or {}).get("features", {})
    categorical = [f for f in loaded.features if feats.get(f, {}).get("kind") == "categorical"]
    return scoring_app(loaded.pyfunc, categorical)


def _server_logging() -> None:
    """The server's console: mmrisk's own lines (refused requests, replaced messages) on stderr;
    MLflow's per-request warnings (e.g. columns outside the signature, which mmrisk checks
    itself) and uvicorn's startup/access lines are left out."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("mmrisk serve: %(message)s"))
    ours = logging.getLogger("mmrisk")
    if not any(getattr(h, "_mmrisk_serve", False) for h in ours.handlers):
        handler._mmrisk_serve = True  # type: ignore[attr-defined]
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server: ``python -m mmrisk.tracking._serving --model URI --port P``.

    Parameters
    ----------
    argv : sequence of str, optional
        ``--model URI --host H --port P --workers N --timeout S`` (default: ``sys.argv``).
    """
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m mmrisk.tracking._serving")
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=60)
    args = parser.parse_args(argv)
    os.environ[MODEL_ENV] = args.model  # the workers inherit it
    os.environ["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(args.timeout)
    _server_logging()
    uvicorn.run("mmrisk.tracking._serving:app_from_env", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
