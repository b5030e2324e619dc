"""``mmrisk score``: check, score and explain every input row, in chunks; write atomically; drift.

The output (docs/architecture.md "Contracts") has one row per input row, in input order: the
identifier column if the input has one, ``status``, ``reason``, ``risk_score``, ``risk_group``,
``surv_<h>m`` per horizon and ``reason_1..3``. Rows are read and scored chunk by chunk (Parquet
row batches, CSV chunks), so memory is bounded by the chunk size. The output is written to a
temporary file in the same folder (``.<name>.<pid>@<host>.tmp``) and renamed at the end, with
the drift report (``<stem>.drift.md``, ``<stem>.drift.json``) beside it: an interrupted run
leaves nothing. SIGTERM, SIGHUP and SIGINT unwind the run and remove the temporary files
(:func:`mmrisk.workflows.interruptible`); those of a run killed outright (SIGKILL) are removed
by the next run that writes the same output, once their process is gone.
"""

from __future__ import annotations

import glob
import logging
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.predict import (
    STATUSES,
    DriftAccumulator,
    DriftReport,
    check_rows,
    output_columns,
    predict_rows,
)
from mmrisk.progress import Progress, report
from mmrisk.workflows._input import ScoringInput, read_scoring_input
from mmrisk.workflows._lifecycle import interruptible

__all__ = ["ScoreResult", "check_horizons", "remove_orphans", "score", "score_chunk"]

log = logging.getLogger(__name__)
_OUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass
class ScoreResult:
    """What :func:`score` did (counts and paths; no patient data).

    Parameters
    ----------
    out_path : pathlib.Path
        The scoring output.
    drift_paths : tuple of pathlib.Path
        The drift report as Markdown and JSON.
    counts : dict of str to int
        Rows per status (``ok``, ``warning``, ``error``).
    n_rows : int
        Rows written (= rows read).
    drift : DriftReport
        Drift against the training profile.
    model_uri : str
        The model scored with.
    seconds : float
        Wall time.
    """

    out_path: Path
    drift_paths: tuple[Path, Path]
    counts: dict[str, int]
    n_rows: int
    drift: DriftReport
    model_uri: str
    seconds: float


def score_chunk(estimator: Any, meta: dict, frame: pd.DataFrame,
                preset: np.ndarray | None = None, reasons: bool = True
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score one chunk of input rows.

    Parameters
    ----------
    estimator : fitted estimator
        A catalogue model.
    meta : dict
        The model's metadata.
    frame : pandas.DataFrame
        Input rows with the model's feature columns.
    preset : ndarray of shape (n_rows,), optional
        Per row a reason that makes it an error whatever its values (e.g. not eligible at the
        landmark), or ``None``.
    reasons : bool, default=True
        Compute ``reason_1..3``.

    Returns
    -------
    output : pandas.DataFrame
        :func:`~mmrisk.predict.predict_frame`'s columns, indexed like ``frame``.
    X : pandas.DataFrame
        The checked feature columns (for drift).
    """
    X, status, reason = check_rows(frame, meta, preset)
    return predict_rows(estimator, meta, X, status, reason, reasons=reasons), X


class _Writer:
    """Append chunks to a temporary file beside ``path``; :meth:`commit` renames it."""

    def __init__(self, path: Path, fmt: str, columns: list[str], id_column: str | None):
        self.path, self.fmt, self.columns, self.id_column = path, fmt, columns, id_column
        self.tmp = _tmp_path(path)
        self._pq: Any = None
        self._schema: Any = None
        self._started = False

    def _arrow_schema(self) -> Any:
        import pyarrow as pa

        floats = {"risk_score"} | {c for c in self.columns if c.startswith(("surv_", "cif_"))}
        return pa.schema([(c, pa.float64() if c in floats else pa.string())
                          for c in self.columns])

    def write(self, frame: pd.DataFrame) -> None:
        frame = frame[self.columns]
        if self.fmt == "csv":
            frame.to_csv(self.tmp, mode="a" if self._started else "w",
                         header=not self._started, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._pq is None:
                self._schema = self._arrow_schema()
                self._pq = pq.ParquetWriter(self.tmp, self._schema)
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            self._pq.write_table(table)
        self._started = True

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        if not self._started:  # no rows: still a valid, empty file with the header
            self.write(pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns}))
            self.close()

    def abort(self) -> None:
        try:
            if self._pq is not None:
                self._pq.close()
        finally:
            self._pq = None
            self.tmp.unlink(missing_ok=True)


def _tmp_path(final: Path) -> Path:
    """The temporary file of ``final`` written by this process."""
    return final.with_name(f".{final.name}.{os.getpid()}@{socket.gethostname()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(out_path: str | Path) -> list[Path]:
    """Remove the temporary files a killed ``score`` left beside ``out_path``.

    A temporary file (``.<name>.<pid>@<host>.tmp`` of the output or of its drift reports) is
    an orphan when its process, on this host, is gone; files of live processes and of other
    hosts are kept.

    Parameters
    ----------
    out_path : str or path-like
        The scoring output file.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    out = Path(out_path)
    host = socket.gethostname()
    removed = []
    for final in (out, *drift_paths(out)):
        prefix = f".{final.name}."
        for tmp in out.parent.glob(f"{glob.escape(prefix)}*.tmp"):
            pid, _, tmp_host = tmp.name[len(prefix):-len(".tmp")].partition("@")
            if tmp_host == host and pid.isdigit() and not _pid_alive(int(pid)):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    if removed:
        log.info("removed %d temporary file(s) of a killed run: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


def _out_format(out_path: Path) -> str:
    fmt = _OUT_FORMATS.get(out_path.suffix.lower())
    if fmt is None:
        raise MMRiskError(f"{out_path}: unsupported output type {out_path.suffix!r}; use "
                          ".parquet or .csv")
    return fmt


def _ids(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].astype("string").to_numpy(dtype=object, na_value=None)


def _commit(pairs: list[tuple[Path, Path]]) -> None:
    for tmp, final in pairs:
        os.replace(tmp, final)


def drift_paths(out_path: str | Path) -> tuple[Path, Path]:
    """Where the drift report of a scoring output goes.

    Parameters
    ----------
    out_path : str or path-like
        The scoring output file.

    Returns
    -------
    tuple of pathlib.Path
        ``<out stem>.drift.md`` and ``<out stem>.drift.json`` beside ``out_path``.
    """
    out = Path(out_path)
    return out.with_name(f"{out.stem}.drift.md"), out.with_name(f"{out.stem}.drift.json")


def write_drift(report: DriftReport, out_path: str | Path) -> tuple[Path, Path]:
    """Write a drift report as Markdown and JSON beside a scoring output (each atomically).

    Parameters
    ----------
    report : DriftReport
        The report.
    out_path : str or path-like
        The scoring output file; the reports are ``<stem>.drift.md`` and ``<stem>.drift.json``.

    Returns
    -------
    tuple of pathlib.Path
        The Markdown and JSON paths.
    """
    pairs = _write_drift_tmp(report, Path(out_path))
    try:
        _commit(pairs)
    finally:
        for tmp, _ in pairs:
            tmp.unlink(missing_ok=True)
    return pairs[0][1], pairs[1][1]


def _write_drift_tmp(report: DriftReport, out_path: Path) -> list[tuple[Path, Path]]:
    import json

    pairs = []
    md, js = drift_paths(out_path)
    for final, text in ((md, report.to_markdown()),
                        (js, json.dumps(report.to_dict(), indent=2, allow_nan=False))):
        tmp = _tmp_path(final)
        pairs.append((tmp, final))
        tmp.write_text(text, encoding="utf-8")
    return pairs


def check_horizons(meta: dict, source: str = "model") -> None:
    """Refuse a model whose horizons lie beyond the longest follow-up it was trained on.

    Parameters
    ----------
    meta : dict
        The model's metadata: ``horizons`` and ``max_follow_up_months`` (models logged before
        it was recorded are not checked).
    source : str, default="model"
        How the message names the model (its URI).

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If a horizon is beyond ``max_follow_up_months``: its survival would be extrapolated.
    """
    longest = meta.get("max_follow_up_months")
    beyond = [int(h) for h in meta.get("horizons", []) if longest is not None and h > longest]
    if beyond:
        raise MMRiskError(
            f"{source}: horizon(s) {', '.join(f'{h} months' for h in beyond)} are beyond the "
            f"longest follow-up the model was trained on ({longest:.0f} months); survival "
            "there would be an extrapolation. Retrain it with horizons within the follow-up")


def _check_scored(counts: Counter, n_rows: int, first_error: str | None, source: Any) -> None:
    """Refuse an input of which no row could be scored (nothing is written)."""
    if n_rows == 0:
        raise MMRiskError(f"{source}: no data rows to score (only a header?); nothing written")
    if counts["ok"] + counts["warning"] == 0:
        raise MMRiskError(f"{source}: none of the {n_rows:,} rows could be scored (every row "
                          f"has status error; first reason: {first_error}); nothing written")


def _run(inp: ScoringInput, loaded: Any, writer: _Writer, *, chunk_size: int, reasons: bool,
         progress: Progress | None) -> tuple[Counter, int, DriftAccumulator]:
    meta, estimator = loaded.meta, loaded.estimator
    acc = DriftAccumulator(meta)
    counts: Counter = Counter(dict.fromkeys(STATUSES, 0))
    done = 0
    first_error = None
    report(progress, "score", 0, inp.n_rows)
    for frame, preset in inp.chunks(chunk_size):
        out, X = score_chunk(estimator, meta, frame, preset, reasons=reasons)
        if inp.id_column:
            out.insert(0, inp.id_column, _ids(frame, inp.id_column))
        writer.write(out)
        scored = (out["status"] != "error").to_numpy()
        acc.update(X[scored], out["risk_score"].to_numpy()[scored],
                   out["risk_group"].to_numpy()[scored])
        counts.update(out["status"].value_counts().to_dict())
        if first_error is None and not scored.all():
            first_error = out["reason"].to_numpy()[~scored][0]
        done += len(out)
        report(progress, "score", done, inp.n_rows)
    _check_scored(counts, done, first_error, inp.path)
    return counts, done, acc


@interruptible
def score(model: Any, data_path: str | Path, out_path: str | Path, *, chunk_size: int = 50_000,
          reasons: bool = True, id_column: str | None = None,
          progress: Progress | None = None, tracking_uri: str | None = None) -> ScoreResult:
    """Score a registry extract or a flat table with a trained model; write output and drift.

    Parameters
    ----------
    model : str or LoadedModel
        Any MLflow URI (``models:/<name>@champion``, ``models:/<name>/<version>``,
        ``runs:/<id>/model``), or a model from :func:`mmrisk.tracking.load_model`.
    data_path : str or path-like
        A registry extract (folder or workbook; the cohort is built at the model's landmark)
        or a flat table (``.parquet``, ``.csv``, ``.xlsx``) with the model's input columns.
    out_path : str or path-like
        The output file, ``.parquet`` or ``.csv``. The drift report goes beside it.
    chunk_size : int, default=50_000
        Rows scored at a time (bounds memory).
    reasons : bool, default=True
        Compute ``reason_1..3`` (SHAP).
    id_column : str, optional
        The identifier column of a flat table (default ``patient_id`` if present).
    tracking_uri : str, optional
        The store that resolves a model URI (default: the configured one).
    progress : callable, optional
        ``progress("score", done_rows, total_rows)`` after each chunk (``total_rows`` may be
        None).

    Returns
    -------
    ScoreResult

    Raises
    ------
    mmrisk.exceptions.MissingColumnsError
        If model input columns are missing (all listed); nothing is written.
    mmrisk.exceptions.MMRiskError
        If the model cannot be loaded, has horizons beyond its training follow-up
        (:func:`check_horizons`), the input cannot be read or has no rows, no row could be
        scored (every row ``status=error``), or the output type is not supported; nothing is
        written.
    mmrisk.workflows.Interrupted
        On SIGINT, SIGTERM or SIGHUP; the temporary files are removed, nothing is written.
    """
    from mmrisk.tracking import load_model

    start = time.perf_counter()
    out_path = Path(out_path)
    fmt = _out_format(out_path)
    loaded = load_model(model, tracking_uri) if isinstance(model, str) else model
    check_horizons(loaded.meta, getattr(loaded, "uri", str(model)))
    inp = read_scoring_input(data_path, loaded, id_column=id_column)
    columns = output_columns(loaded.horizons, loaded.meta.get("outcome_kind", "survival"))
    if inp.id_column in columns:
        raise MMRiskError(f"identifier column {inp.id_column!r} has the name of an output "
                          "column; rename it or pass another --id-column")
    columns = ([inp.id_column] if inp.id_column else []) + columns
    out_path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(out_path)
    writer = _Writer(out_path, fmt, columns, inp.id_column)
    pairs: list[tuple[Path, Path]] = []
    try:
        counts, n_rows, acc = _run(inp, loaded, writer, chunk_size=chunk_size, reasons=reasons,
                                   progress=progress)
        writer.close()
        report = acc.report()
        pairs = [(writer.tmp, out_path), *_write_drift_tmp(report, out_path)]
        _commit(pairs)
    except BaseException:
        writer.abort()
        for tmp, _ in pairs:
            tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - start
    log.info("scored %d rows in %.1f s: %d ok, %d warning, %d error", n_rows, seconds,
             counts["ok"], counts["warning"], counts["error"])
    if report.flagged:
        log.info("drift past thresholds in: %s (see %s)", ", ".join(report.flagged),
                    pairs[1][1].name)
    return ScoreResult(out_path, (pairs[1][1], pairs[2][1]), dict(counts), n_rows, report,
                       getattr(loaded, "uri", str(model)), seconds)
