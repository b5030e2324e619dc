"""Load the analysis data of a config: a registry extract at a landmark, or a flat table."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from mmrisk.cohort._build import COMPETING_ENDPOINT, Cohort, build_cohort
from mmrisk.cohort._competing import check_event_codes
from mmrisk.config import CohortSpec, DataSpec
from mmrisk.exceptions import ConfigError, ExtractError

__all__ = ["load_cohort", "read_flat_table", "flat_cohort", "data_fingerprint",
           "ensure_synthetic"]

#: Longest plausible follow-up of a flat table, in months (100 years).
MAX_TIME_MONTHS = 1200.0
#: Columns of the analysis table that are metadata: a flat table's feature may not take them.
_RESERVED = ("patient_id", "site", "transplant_year", "lm_group", "split", "time", "event")
_FLAT_REASONS = {
    "time": "missing, non-numeric or negative time",
    "event": "event not 0/1 (or true/false)",
}


def ensure_synthetic(spec: DataSpec) -> Path:
    """The synthetic registry of ``spec``: simulated into ``synthetic_dir`` on first use.

    Parameters
    ----------
    spec : DataSpec
        Data block of the config; ``synthetic_dir``, ``simulate_n`` and ``simulate_seed`` are
        used.

    Returns
    -------
    pathlib.Path
        The folder ``spec.synthetic_dir``. When it holds no ``manifest.json`` yet, a registry of
        ``simulate_n`` patients with seed ``simulate_seed`` is written there first
        (:func:`mmrisk.registry.simulate_registry`); otherwise the folder is used as it is.
    """
    from mmrisk.registry import simulate_registry

    out = Path(spec.synthetic_dir)
    if not (out / "manifest.json").is_file():
        simulate_registry(out, n=spec.simulate_n, seed=spec.simulate_seed)
    return out


def read_flat_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or Excel (first sheet) analysis table; clear error naming the file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv``, ``.parquet`` / ``.pq`` or ``.xlsx`` / ``.xls`` file (suffix in any case).

    Returns
    -------
    pandas.DataFrame
        The table as pandas reads it; its columns are not checked here.

    Raises
    ------
    mmrisk.exceptions.ExtractError
        If the file does not exist, has another suffix, or cannot be parsed; for a CSV file, if
        it is not comma-separated UTF-8 text with one field per column in every row
        (:func:`mmrisk.registry.check_csv`). The message names the file (and the row).
    """
    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"{path}: analysis table not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        from mmrisk.registry import check_csv

        check_csv(path)
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path)
    except Exception as e:  # noqa: BLE001 - any parser failure becomes one clear message
        raise ExtractError(f"{path}: cannot be read as {suffix[1:]}: {e}") from None
    raise ExtractError(f"{path}: unsupported file type {suffix!r}; use .csv, .parquet or .xlsx")


def _check_flat_features(table: pd.DataFrame, features: list[str], source: str) -> None:
    """Refuse features named like a metadata column, and infinite values."""
    clash = [c for c in features if c in _RESERVED]
    if clash:
        raise ConfigError(
            f"{source}: column(s) {', '.join(map(repr, clash))} would be feature(s), but "
            f"mmrisk reserves the name(s) for the analysis table's metadata "
            f"({', '.join(_RESERVED)}); rename the column(s) in the table, leave them out of "
            "data.features, or name an identifier column in data.id_column")
    for c in features:
        values = table[c]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        bad = np.flatnonzero(np.isinf(values.to_numpy(dtype=float, na_value=np.nan)))
        if len(bad):
            raise ExtractError(f"{source}: column {c!r}, data row {bad[0] + 1}: "
                               f"{values.iloc[bad[0]]} is not a finite number"
                               + (f" ({len(bad) - 1} more rows)" if len(bad) > 1 else ""))


def _check_flat_time(time: pd.Series, column: str, source: str) -> None:
    """Refuse follow-up times that cannot be months: infinite or beyond 100 years."""
    bad = np.flatnonzero((time > MAX_TIME_MONTHS).to_numpy())
    if len(bad):
        raise ExtractError(
            f"{source}: column {column!r} (data.time), data row {bad[0] + 1}: "
            f"{time.iloc[bad[0]]:g} is beyond {MAX_TIME_MONTHS:g} months (100 years)"
            + (f"; {len(bad) - 1} more rows too" if len(bad) > 1 else "")
            + "; follow-up time must be in months")


def flat_cohort(table: pd.DataFrame, spec: DataSpec, source: str = "table") -> Cohort:
    """A :class:`Cohort` from a flat analysis table (docs/architecture.md "Flat analysis table").

    Rows whose time or event cannot be used are excluded with the reason (never dropped
    silently); ``split_column`` and ``id_column`` are metadata, not features.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per patient with the time, event and feature columns.
    spec : DataSpec
        Names the columns: ``time`` (numeric, >= 0), ``event`` (0/1 or true/false),
        ``features`` (default: every column that is not a named metadata column),
        ``split_column`` (``train``/``test``, copied to ``data["split"]`` in lower case),
        ``competing_risks`` (``event`` holds codes 0/1/2: ``data["event"]`` is that integer
        code and ``spec.endpoint`` is ``progression_cr``),
        ``id_column`` (default: row numbers from 1) and ``group_column``.
    source : str, default="table"
        What the table is (its file name), for error messages.

    Returns
    -------
    Cohort
        ``data`` holds the included rows with ``site="all"``, ``transplant_year`` missing,
        ``lm_group`` from ``group_column`` (else ``"all"``), the features, ``time`` and
        ``event``; ``flow`` and ``status`` give the excluded rows and their reason; ``issues``
        is empty; ``spec`` is a default :class:`~mmrisk.config.CohortSpec`.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        If a column named in ``spec`` is not in ``table``, a feature column has the name of a
        metadata column (``patient_id``, ``site``, ``transplant_year``, ``lm_group``,
        ``split``, ``time``, ``event``), or (``competing_risks``) an event code is not 0, 1 or
        2 (the message names the rows).
    mmrisk.exceptions.ExtractError
        If a numeric feature holds an infinite value, or a time is beyond 1200 months (the
        message names the column and the data row).
    """
    for key in ("time", "event", "split_column", "id_column", "group_column"):
        col = getattr(spec, key)
        if col is not None and col not in table.columns:
            raise ConfigError(f"{source}: column {col!r} (data.{key}) is not in the table; it "
                              f"has {', '.join(map(str, table.columns))}")
    meta_cols = [c for c in (spec.time, spec.event, spec.split_column, spec.id_column,
                             spec.group_column) if c]
    features = spec.features or [c for c in table.columns if c not in meta_cols]
    missing = [c for c in features if c not in table.columns]
    if missing:
        raise ConfigError(f"{source}: feature column(s) {', '.join(missing)} (data.features) "
                          f"are not in the table")
    _check_flat_features(table, features, source)
    time = pd.to_numeric(table[spec.time], errors="coerce")
    _check_flat_time(time, spec.time, source)
    raw_event = table[spec.event]
    if spec.competing_risks:  # codes 0/1/2; any other value is an error naming the rows
        event = pd.Series(check_event_codes(raw_event.to_numpy(), spec.event))
    else:
        as_text = raw_event.astype(str).str.strip().str.lower()
        event = as_text.map({"1": True, "0": False, "1.0": True, "0.0": False, "true": True,
                             "false": False})
    reason = pd.Series([None] * len(table), dtype=object)
    reason[(time.isna() | (time < 0)).to_numpy()] = _FLAT_REASONS["time"]
    reason[(event.isna() & reason.isna()).to_numpy()] = _FLAT_REASONS["event"]
    keep = reason.isna().to_numpy()
    ids = (table[spec.id_column].astype(str) if spec.id_column
           else pd.Series(np.arange(1, len(table) + 1).astype(str)))
    data = pd.DataFrame({
        "patient_id": ids.to_numpy(),
        "site": "all",
        "transplant_year": np.nan,
        "lm_group": (table[spec.group_column].astype(str).to_numpy() if spec.group_column
                     else "all"),
    })
    if spec.split_column:
        data["split"] = table[spec.split_column].astype(str).str.strip().str.lower().to_numpy()
    data = pd.concat([data, table[features].reset_index(drop=True)], axis=1)
    data["time"] = time.to_numpy(float)
    data["event"] = (event.to_numpy(np.int64) if spec.competing_risks
                     else event.eq(True).to_numpy(bool))
    status = pd.DataFrame({"patient_id": ids.to_numpy(), "included": keep,
                           "reason": reason.to_numpy()})
    flow = [{"step": "extract", "reason": "rows of the table", "n": len(table)}]
    for text, n in status.loc[~keep, "reason"].value_counts().items():
        flow.append({"step": "excluded", "reason": text, "n": int(n)})
    flow.append({"step": "included", "reason": "analysed", "n": int(keep.sum())})
    return Cohort(data=data[keep].reset_index(drop=True), features=list(features),
                  flow=pd.DataFrame(flow), status=status,
                  issues=pd.DataFrame(columns=["table", "column", "check", "n"]),
                  spec=CohortSpec(endpoint=COMPETING_ENDPOINT if spec.competing_risks
                                  else "pfs"), group_by=spec.group_column)


def load_cohort(data: DataSpec, cohort: CohortSpec, extract_path: str | Path | None = None
                ) -> Cohort:
    """The analysis data a config describes.

    A flat ``data.table`` is read as it is; otherwise the registry extract (``extract_path``,
    else ``data.extract``, else the synthetic registry, simulated on first use) is read and the
    cohort is built at the configured landmark.

    Parameters
    ----------
    data : DataSpec
        The config's ``data`` block: the source of the data.
    cohort : CohortSpec
        The config's ``cohort`` block: landmark, endpoint and exclusions (registry extracts
        only; a flat table ignores it).
    extract_path : str or pathlib.Path, default=None
        A registry extract (folder or workbook) that replaces the config's source, the flat
        ``data.table`` included.

    Returns
    -------
    Cohort
        From :func:`flat_cohort` for a flat table, else from
        :func:`mmrisk.cohort.build_cohort`.
    """
    if data.table and extract_path is None:
        return flat_cohort(read_flat_table(data.table), data, source=str(data.table))
    from mmrisk.registry import read_extract

    path = extract_path or data.extract or ensure_synthetic(data)
    return build_cohort(read_extract(path), cohort)


def data_fingerprint(cohort: Cohort) -> str:
    """SHA-256 (16 hex) of the analysis table's content: same data → same fingerprint.

    Parameters
    ----------
    cohort : Cohort
        Its ``data`` (values of every row, not the index, and the column names) is hashed.

    Returns
    -------
    str
        The first 16 hexadecimal digits of the digest.
    """
    hashed = pd.util.hash_pandas_object(cohort.data, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, cohort.data.columns)).encode())
    return digest.hexdigest()[:16]
