"""Read a registry extract: a folder of CSV or Parquet files, or one Excel workbook.

The reader only reads. Columns come back as they are in the file (CSV and Excel cells as strings,
empty cells as missing; Parquet with its own types), so that a wrong type, code or unit is reported
by the validator (:func:`mmrisk.registry.validate_extract`) with its table, row and column instead
of crashing here. Whatever stops a file from being read at all (a missing file or table, an empty
or binary file, a broken workbook) raises :class:`~mmrisk.exceptions.ExtractError` naming the file
and what was expected.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmrisk.exceptions import ExtractError
from mmrisk.registry._spec import TABLE_ORDER

__all__ = ["RegistryExtract", "read_extract", "check_csv", "TABLE_SUFFIXES", "WORKBOOK_SUFFIXES"]

logger = logging.getLogger(__name__)

#: File suffixes of one table in an extract folder, and the format each stands for.
TABLE_SUFFIXES: dict[str, str] = {".csv": "csv", ".parquet": "parquet"}
#: Suffixes of a workbook holding one sheet per table.
WORKBOOK_SUFFIXES: tuple[str, ...] = (".xlsx",)

_SNIFF_BYTES = 8192
_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class RegistryExtract:
    """The tables of one registry extract, exactly as read from disk.

    Parameters
    ----------
    path : pathlib.Path
        The folder or workbook the extract was read from.
    tables : dict of str to pandas.DataFrame
        One DataFrame per table of ``mmrisk.registry.TABLES``, keyed by table name. Row ``i``
        (0-based) of a DataFrame is data row ``i + 1`` of its file (the header excluded).
    source_files : dict of str to str
        The file each table came from: a file name (``patients.csv``) or, for a workbook,
        ``workbook.xlsx#patients``.
    fmt : {"csv", "parquet", "xlsx", "mixed"}
        The file format of the extract; ``"mixed"`` when a folder holds both CSV and Parquet.

    Examples
    --------
    >>> extract = read_extract("data/synthetic")  # doctest: +SKIP
    >>> extract["patients"].shape  # doctest: +SKIP
    (1256, 13)
    """

    path: Path
    tables: dict[str, pd.DataFrame]
    source_files: dict[str, str]
    fmt: str

    def __getitem__(self, table: str) -> pd.DataFrame:
        """Return the DataFrame of ``table``.

        Parameters
        ----------
        table : str
            A table name, e.g. ``"patients"``.

        Returns
        -------
        pandas.DataFrame
            The table as read.

        Raises
        ------
        KeyError
            If the extract has no such table; the message lists the tables it has.
        """
        try:
            return self.tables[table]
        except KeyError:
            raise KeyError(f"extract {self.path} has no table {table!r}; it has "
                           f"{', '.join(self.tables)}") from None

    def __contains__(self, table: object) -> bool:
        return table in self.tables

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)


def read_extract(path: str | Path) -> RegistryExtract:
    """Read a registry extract from a folder of CSV/Parquet files or from an Excel workbook.

    A folder holds one file per table, named ``<table>.csv`` or ``<table>.parquet``; other files
    (``truth_*``, ``analysis_view.*``, ``manifest.json``, reports) are ignored. A workbook
    (``.xlsx``) holds one sheet per table, named after the table.

    Parameters
    ----------
    path : str or pathlib.Path
        The extract folder, or the workbook file.

    Returns
    -------
    RegistryExtract
        Every table of ``mmrisk.registry.TABLES``, with its columns as in the file: CSV and Excel
        cells as strings (empty cells missing), Parquet columns with their stored types.

    Raises
    ------
    ExtractError
        If the path does not exist; if a folder holds no table file, or some tables are missing
        (all are listed); if a table file is empty, has no header, is not the type its suffix
        says, or cannot be parsed; or if a workbook or one of its sheets cannot be read.

    See Also
    --------
    mmrisk.registry.validate_extract : check the tables against the data contract.
    """
    path = Path(path)
    if not path.exists():
        raise ExtractError(f"{path}: no such file or folder; expected an extract folder of "
                           "<table>.csv or <table>.parquet files, or an .xlsx workbook")
    if path.is_dir():
        return _read_folder(path)
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return _read_workbook(path)
    raise ExtractError(
        f"{path.name}: unsupported extract file type {path.suffix or '(no suffix)'!r}; pass a "
        "folder of <table>.csv or <table>.parquet files (one per table), or an .xlsx workbook "
        "with one sheet per table")


# --------------------------------------------------------------------------------------------
# folder of files


def _read_folder(folder: Path) -> RegistryExtract:
    files = _table_files(folder)
    missing = [t for t in TABLE_ORDER if t not in files]
    if len(missing) == len(TABLE_ORDER):
        raise ExtractError(_no_tables_message(folder))
    if missing:
        _raise_missing(folder, missing)
    tables = {t: _read_table_file(files[t], t) for t in TABLE_ORDER}
    kinds = {TABLE_SUFFIXES[files[t].suffix.lower()] for t in TABLE_ORDER}
    fmt = kinds.pop() if len(kinds) == 1 else "mixed"
    logger.info("read %d tables (%s) from %s", len(tables), fmt, folder)
    return RegistryExtract(folder, tables, {t: files[t].name for t in TABLE_ORDER}, fmt)


def _table_files(folder: Path) -> dict[str, Path]:
    """Map each table to its file; two files for one table is an error."""
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.stem in TABLE_ORDER and p.suffix.lower() in TABLE_SUFFIXES:
            found.setdefault(p.stem, []).append(p)
    for table, paths in found.items():
        if len(paths) > 1:
            names = " and ".join(p.name for p in paths)
            raise ExtractError(f"{folder}: table {table!r} is in two files ({names}); keep one")
    return {t: paths[0] for t, paths in found.items()}


def _no_tables_message(folder: Path) -> str:
    msg = (f"{folder}: no registry table files found; expected one file per table named "
           f"<table>.csv or <table>.parquet (e.g. patients.csv), for the tables "
           f"{', '.join(TABLE_ORDER)}")
    books = sorted(p.name for p in folder.glob("*.xlsx"))
    if books:
        msg += f". The folder holds {', '.join(books)}: pass the workbook path instead"
    return msg


def _raise_missing(folder: Path, missing: list[str]) -> None:
    wrong = []
    for table in missing:
        others = sorted(p.name for p in folder.glob(f"{table}.*") if p.is_file())
        if others:
            wrong.append(f"{', '.join(others)} (unsupported file type; expected {table}.csv or "
                         f"{table}.parquet)")
    msg = (f"{folder}: missing required table(s): {', '.join(missing)}; expected a file "
           f"<table>.csv or <table>.parquet for each")
    if wrong:
        msg += ". Found " + "; ".join(wrong)
    raise ExtractError(msg)


def _read_table_file(path: Path, table: str) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise ExtractError(f"{path.name}: empty file (0 bytes); expected the table {table!r} "
                           "with a header row")
    if path.suffix.lower() == ".csv":
        return _read_csv(path, table)
    return _read_parquet(path, table)


# --------------------------------------------------------------------------------------------
# CSV


def _read_csv(path: Path, table: str) -> pd.DataFrame:
    _check_text(path, table)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[],
                         skip_blank_lines=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ExtractError(f"{path.name}: no header row; expected a CSV file of table {table!r} "
                           "whose first line names its columns") from None
    except UnicodeDecodeError:
        row, byte = _first_non_utf8(path)
        raise ExtractError(f"{path.name}: not UTF-8 text (data row {row}: byte 0x{byte:02x}); "
                           "save the table as a UTF-8 CSV file") from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise ExtractError(f"{path.name}: cannot be parsed as CSV for table {table!r}: "
                           f"{_first_line(e)}") from None
    _check_header(path, table, df)
    if not isinstance(df.index, pd.RangeIndex):
        _raise_extra_fields(path, table)
    return _blank_to_na(_drop_trailing_blank_rows(df))


def _raise_extra_fields(path: Path, table: str) -> None:
    """pandas takes extra leading fields as an index (silently shifting columns): refuse."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        longer = ((i, row) for i, row in enumerate(reader, start=1) if len(row) > len(header))
        row_number, fields = next(longer, (0, header))
    raise ExtractError(f"{path.name}: data row {row_number} has {len(fields)} fields but the "
                       f"header names {len(header)} columns; expected every row of table "
                       f"{table!r} to have one field per column (a stray comma?)")


def _first_non_utf8(path: Path) -> tuple[int, int]:
    """The data row (1-based, header excluded) and the value of the first byte that is not UTF-8.

    Rows are physical lines here (a quoted field holding a line break counts twice).
    """
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return lineno, line[e.start]
    return 0, 0


def _decoded_lines(path: Path, name: str) -> Iterator[str]:
    """The file's lines as text; a byte that is not UTF-8 stops with the row that holds it."""
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh):
            try:
                yield line.decode("utf-8-sig" if lineno == 0 else "utf-8")
            except UnicodeDecodeError as e:
                where = "the header" if lineno == 0 else f"data row {lineno}"
                raise ExtractError(f"{name}: not UTF-8 text ({where}, byte 0x{line[e.start]:02x} "
                                   f"at position {e.start + 1} of the line); save the table as a "
                                   "UTF-8 CSV file") from None


def _delimiter_hint(header: list[str], name: str) -> None:
    """A one-field header holding ``;`` or a tab: the file uses another delimiter."""
    if len(header) != 1:
        return
    for sep, label in ((";", "semicolon"), ("\t", "tab")):
        if sep in header[0]:
            raise ExtractError(f"{name}: the header looks {label}-separated ({header[0][:60]!r});"
                               " expected a comma-separated CSV file: save it again with ',' as "
                               "the delimiter (and '.' as the decimal mark)")


def check_csv(path: str | Path, name: str | None = None) -> int:
    """Check that a CSV file is comma-separated UTF-8 text with one field per column in every row.

    The whole file is read once, line by line (with the ``csv`` module, so quoted fields are
    understood), before any row is used: pandas would otherwise take the extra fields of a
    trailing comma as an index (shifting every column), drop extra fields of later rows when
    only some columns are read, and fail on a non-UTF-8 byte only in the chunk that holds it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` file with a header row.
    name : str, optional
        How messages name the file (default: the path as given).

    Returns
    -------
    int
        The number of data rows (blank lines excluded).

    Raises
    ------
    mmrisk.exceptions.ExtractError
        If the file is binary, is not UTF-8 (the message names the row), has no header, looks
        semicolon- or tab-separated, or a data row has more or fewer fields than the header has
        columns (the message names the first such row and the field counts).
    """
    path = Path(path)
    name = str(path) if name is None else name
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head.startswith((_PARQUET_MAGIC, _ZIP_MAGIC)) or b"\x00" in head:
        raise ExtractError(f"{name}: is a binary file, not CSV text; expected comma-separated "
                           "UTF-8 text with a header row")
    reader = csv.reader(_decoded_lines(path, name))
    try:
        header = next(reader, [])
        if not any(h.strip() for h in header):
            raise ExtractError(f"{name}: no header row; expected the first line to name the "
                               "columns")
        _delimiter_hint(header, name)
        n = 0
        for row in reader:
            if not row:  # a blank line
                continue
            n += 1
            if len(row) != len(header):
                _raise_field_count(name, n, len(row), len(header), row)
    except csv.Error as e:
        raise ExtractError(f"{name}: cannot be parsed as CSV at line {reader.line_num}: {e}"
                           ) from None
    return n


def _raise_field_count(name: str, row: int, got: int, want: int, fields: list[str]) -> None:
    hint = ("it ends with an empty field: a trailing comma?" if got == want + 1
            and not fields[-1].strip() else "a stray comma or an unquoted comma in a value?"
            if got > want else "a missing field?")
    raise ExtractError(f"{name}: data row {row} has {got} fields but the header names {want} "
                       f"columns ({hint}); every row must have one field per column")


def _check_text(path: Path, table: str) -> None:
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    kind = None
    if head.startswith(_PARQUET_MAGIC):
        kind = "a Parquet file"
    elif head.startswith(_ZIP_MAGIC):
        kind = "a zip archive (an Excel workbook?)"
    elif b"\x00" in head:
        kind = "a binary file"
    if kind is not None:
        raise ExtractError(f"{path.name}: is {kind}, not a CSV text file; expected table "
                           f"{table!r} as comma-separated UTF-8 text with a header row")


def _check_header(path: Path, table: str, df: pd.DataFrame) -> None:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    if not any(h.strip() for h in header):
        raise ExtractError(f"{path.name}: no header row; expected the first line to name the "
                           f"columns of table {table!r}")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ExtractError(f"{path.name}: duplicate column name(s) in the header: "
                           f"{', '.join(dupes)}; each column of table {table!r} must appear once")
    if len(header) == 1 and ";" in header[0]:
        raise ExtractError(f"{path.name}: the header looks semicolon-separated "
                           f"({header[0][:60]!r}); expected a comma-separated CSV file")


def _drop_trailing_blank_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Drop blank lines at the end of the file (they are no data rows); keep inner ones."""
    if df.empty:
        return df
    blank = (df == "").all(axis=1).to_numpy()
    if not blank[-1]:
        return df
    last = len(blank) - int(np.argmin(blank[::-1])) if not blank.all() else 0
    return df.iloc[:last]


def _blank_to_na(df: pd.DataFrame) -> pd.DataFrame:
    return df.mask(df == "") if len(df) else df


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# --------------------------------------------------------------------------------------------
# Parquet


def _read_parquet(path: Path, table: str) -> pd.DataFrame:
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(max(path.stat().st_size - 4, 0))
        tail = fh.read(4)
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        raise ExtractError(f"{path.name}: not a Parquet file (no Parquet magic bytes); expected "
                           f"table {table!r} written as Parquet, or name a CSV file {table}.csv")
    try:
        df = pd.read_parquet(path, engine="pyarrow")
    except Exception as e:  # pyarrow raises many types (ArrowInvalid, OSError, ...)
        raise ExtractError(f"{path.name}: cannot be read as Parquet for table {table!r}: "
                           f"{_first_line(e)}") from None
    if df.shape[1] == 0:
        raise ExtractError(f"{path.name}: has no columns; expected the columns of table "
                           f"{table!r}")
    return df


# --------------------------------------------------------------------------------------------
# Excel workbook


def _read_workbook(path: Path) -> RegistryExtract:
    if path.stat().st_size == 0:
        raise ExtractError(f"{path.name}: empty file (0 bytes); expected an Excel workbook "
                           "with one sheet per table")
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as e:  # openpyxl / zipfile raise many types
        raise ExtractError(f"{path.name}: cannot be read as an Excel workbook (.xlsx): "
                           f"{_first_line(e)}") from None
    with book:
        sheets = _sheet_map(path, book.sheet_names)
        tables = {t: _read_sheet(book, path, sheets[t], t) for t in TABLE_ORDER}
    logger.info("read %d tables (xlsx) from %s", len(tables), path)
    sources = {t: f"{path.name}#{sheets[t]}" for t in TABLE_ORDER}
    return RegistryExtract(path, tables, sources, "xlsx")


def _sheet_map(path: Path, names: list[str]) -> Mapping[str, str]:
    """Map each table to its sheet (exact name, else the one case-insensitive match)."""
    lower = {n.strip().lower(): n for n in names}
    sheets = {t: t if t in names else lower.get(t) for t in TABLE_ORDER}
    missing = [t for t, s in sheets.items() if s is None]
    if missing:
        raise ExtractError(
            f"{path.name}: missing required sheet(s): {', '.join(missing)}; expected one sheet "
            f"per table, named after it. The workbook has: {', '.join(names) or '(no sheets)'}")
    return sheets  # type: ignore[return-value]


def _read_sheet(book: pd.ExcelFile, path: Path, sheet: str, table: str) -> pd.DataFrame:
    where = f"{path.name}#{sheet}"
    try:
        df = book.parse(sheet, dtype=str, keep_default_na=False, na_values=[])
    except Exception as e:  # openpyxl raises many types
        raise ExtractError(f"{where}: cannot read the sheet of table {table!r}: "
                           f"{_first_line(e)}") from None
    if df.shape[1] == 0:
        raise ExtractError(f"{where}: empty sheet (no header row); expected the first row to "
                           f"name the columns of table {table!r}")
    unnamed = [str(c) for c in df.columns if str(c).startswith("Unnamed:")]
    if len(unnamed) == df.shape[1]:
        raise ExtractError(f"{where}: no header row; expected the first row to name the "
                           f"columns of table {table!r}")
    return _blank_to_na(_drop_trailing_blank_rows(df))
