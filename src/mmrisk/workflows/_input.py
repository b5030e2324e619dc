"""What to score: a registry extract (rows at the model's landmark) or a flat table, in chunks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import ExtractError, MMRiskError
from mmrisk.predict import check_columns

__all__ = ["ScoringInput", "read_scoring_input", "identifier_column", "ID_COLUMN"]

log = logging.getLogger(__name__)

#: The identifier column detected by name when none is given.
ID_COLUMN = "patient_id"
_TABLE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel",
                   ".xls": "excel"}


@dataclass
class ScoringInput:
    """Input rows to score, read chunk by chunk.

    Parameters
    ----------
    path : pathlib.Path
        The file or extract folder.
    kind : {'extract', 'table'}
        A registry extract (rows built at the model's landmark) or a flat table.
    fmt : {'extract', 'parquet', 'csv', 'excel'}
        How the rows are read: Parquet by row groups, CSV in chunks, the others in memory.
    columns : list of str
        The columns of the input.
    id_column : str or None
        The identifier column copied to the output (``patient_id`` for an extract).
    n_rows : int or None
        Rows to score (for a CSV: counted when the file is checked, blank lines excluded).
    features : list of str
        The model's input columns.
    categorical : list of str
        Features read as text (categorical in training).
    frame : pandas.DataFrame or None
        The rows, for inputs read in memory (extracts, Excel).
    preset : ndarray or None
        Per row of an extract, the reason it is not eligible at the landmark (or ``None``).
    """

    path: Path
    kind: str
    fmt: str
    columns: list[str]
    id_column: str | None
    n_rows: int | None
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = field(default=None, repr=False)
    preset: np.ndarray | None = field(default=None, repr=False)

    @property
    def read_columns(self) -> list[str]:
        """The columns read from the file: the identifier, then the model's inputs."""
        ids = [self.id_column] if self.id_column else []
        return ids + [c for c in dict.fromkeys(self.features) if c != self.id_column]

    def chunks(self, chunk_size: int = 50_000
               ) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]:
        """Yield ``(rows, preset)`` in input order.

        ``preset`` holds, per row, a reason that makes it an error before any check (a patient
        not eligible at the landmark), or ``None``; it is ``None`` when no row has one.
        """
        if chunk_size < 1:
            raise MMRiskError(f"chunk_size must be a positive number of rows; got {chunk_size}")
        if self.fmt == "parquet":
            yield from self._parquet(chunk_size)
        elif self.fmt == "csv":
            yield from self._csv(chunk_size)
        else:
            frame = self.frame if self.frame is not None else pd.DataFrame()
            for lo in range(0, len(frame), chunk_size):
                pre = None if self.preset is None else self.preset[lo:lo + chunk_size]
                yield frame.iloc[lo:lo + chunk_size], pre

    def _parquet(self, chunk_size: int) -> Iterator[tuple[pd.DataFrame, None]]:
        import pyarrow.parquet as pq

        with pq.ParquetFile(self.path) as pf:
            for batch in pf.iter_batches(batch_size=chunk_size, columns=self.read_columns):
                yield batch.to_pandas(), None

    def _csv(self, chunk_size: int) -> Iterator[tuple[pd.DataFrame, None]]:
        text = {c: str for c in self.categorical + ([self.id_column] if self.id_column else [])}
        with pd.read_csv(self.path, chunksize=chunk_size, usecols=self.read_columns,
                         dtype=text, low_memory=False, float_precision="round_trip") as reader:
            for chunk in reader:
                yield chunk, None


def identifier_column(columns: list[str], id_column: str | None = None) -> str | None:
    """The identifier column of a flat table.

    Parameters
    ----------
    columns : list of str
        The table's columns.
    id_column : str, optional
        The user's choice (``--id-column``).

    Returns
    -------
    str or None
        ``id_column``, else ``patient_id`` if present, else None.
    """
    return id_column or (ID_COLUMN if ID_COLUMN in columns else None)


def _is_extract(path: Path) -> bool:
    if path.is_dir():
        return True
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True)
        except Exception:  # noqa: BLE001 - not a workbook: the table reader says why
            return False
        try:
            return "patients" in wb.sheetnames
        finally:
            wb.close()
    return False


def _categorical(meta: dict) -> list[str]:
    feats = (meta.get("profile") or {}).get("features", {})
    return [f for f in meta["features"] if feats.get(f, {}).get("kind") == "categorical"]


def _read_extract_rows(path: Path, meta: dict) -> tuple[pd.DataFrame, np.ndarray]:
    from mmrisk.cohort import build_cohort
    from mmrisk.config import CohortSpec
    from mmrisk.registry import read_extract

    spec = CohortSpec(**meta["cohort"])
    cohort = build_cohort(read_extract(path), spec)
    check_columns(cohort.data.columns, meta["features"], source=f"{path} (cohort at "
                  f"{spec.landmark})")
    status = cohort.status.reset_index(drop=True)
    included = status["included"].to_numpy(bool)
    features = [c for c in dict.fromkeys(meta["features"]) if c != ID_COLUMN]
    rows = (cohort.data[features].set_axis(np.flatnonzero(included))
            .reindex(range(len(status))))
    rows.insert(0, ID_COLUMN, status["patient_id"].astype(str).to_numpy(dtype=object))
    preset = np.full(len(status), None, dtype=object)
    preset[~included] = [f"not eligible at the landmark ({spec.landmark}): {r}"
                         for r in status.loc[~included, "reason"]]
    log.info("extract: %d patients, %d eligible at the landmark", len(status), included.sum())
    return rows, preset


def _table_columns(path: Path, fmt: str) -> tuple[list[str], int | None, pd.DataFrame | None]:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(path) as pf:
                return list(pf.schema_arrow.names), pf.metadata.num_rows, None
        except Exception as e:  # noqa: BLE001 - one clear message naming the file
            raise ExtractError(f"{path}: cannot be read as parquet: {e}") from None
    if fmt == "csv":
        from mmrisk.registry import check_csv

        n_rows = check_csv(path)  # the whole file, before any row is scored or written
        try:
            header = pd.read_csv(path, nrows=0)
        except Exception as e:  # noqa: BLE001
            raise ExtractError(f"{path}: cannot be read as csv: {e}") from None
        return [str(c) for c in header.columns], n_rows, None
    from mmrisk.cohort import read_flat_table

    frame = read_flat_table(path)
    return [str(c) for c in frame.columns], len(frame), frame


def read_scoring_input(path: str | Path, loaded: Any, *, id_column: str | None = None
                       ) -> ScoringInput:
    """Open the input of ``mmrisk score``: a registry extract or a flat table.

    An extract (a folder of registry tables, or a workbook with a ``patients`` sheet) becomes
    one row per patient of its ``patients`` table: the cohort is built at the model's landmark
    with the model's own cohort spec; patients not eligible there are rows too, preset to
    ``status=error`` with the reason. A flat table (CSV, Parquet, Excel) is scored row by row as
    it is; its identifier column is ``id_column``, else ``patient_id`` if present, else none.

    Parameters
    ----------
    path : str or path-like
        The extract folder / workbook, or the table file.
    loaded : LoadedModel or dict
        The model (:func:`mmrisk.tracking.load_model`) or its ``meta``.
    id_column : str, optional
        The identifier column of a flat table.

    Returns
    -------
    ScoringInput

    Raises
    ------
    mmrisk.exceptions.MissingColumnsError
        If model input columns are missing (all are listed).
    mmrisk.exceptions.MMRiskError
        If an extract is given to a model trained on a flat table, the identifier column is
        not in the table, or the file cannot be read.
    """
    meta = loaded if isinstance(loaded, dict) else loaded.meta
    path = Path(path)
    if not path.exists():
        raise ExtractError(f"{path}: no such file or folder to score")
    features = list(meta["features"])
    categorical = _categorical(meta)
    if _is_extract(path):
        if not meta.get("cohort"):
            raise MMRiskError(
                f"{path} is a registry extract, but model {meta.get('model_name', '')!r} was "
                "trained on a flat table and has no cohort definition; score a flat table with "
                f"its input columns ({', '.join(features)})")
        frame, preset = _read_extract_rows(path, meta)
        return ScoringInput(path, "extract", "extract", list(frame.columns), ID_COLUMN,
                            len(frame), features, categorical, frame, preset)
    fmt = _TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ExtractError(f"{path}: unsupported file type {path.suffix!r}; score a .csv, "
                           ".parquet or .xlsx table, or a registry extract folder")
    columns, n_rows, frame = _table_columns(path, fmt)
    if id_column is not None and id_column not in columns:
        raise MMRiskError(f"{path}: identifier column {id_column!r} is not in the table; it "
                          f"has {', '.join(columns)}")
    check_columns(columns, features, source=str(path))
    ident = identifier_column(columns, id_column)
    if frame is not None and ident:
        frame[ident] = frame[ident].astype("string").astype(object)
    return ScoringInput(path, "table", fmt, columns, ident, n_rows, features, categorical,
                        frame)
