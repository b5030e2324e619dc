"""``simulate_registry``: write a synthetic CMRG-DB-like registry extract (docs/registry.md).

Patients are generated in fixed-size batches, each from its own child of one ``SeedSequence``,
so the same seed gives byte-identical files, a larger ``n`` extends a smaller one's patients, and
memory stays bounded (one batch in memory at a time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mmrisk.exceptions import MMRiskError
from mmrisk.progress import Progress, report
from mmrisk.registry import _tables as T
from mmrisk.registry._analysis_view import analysis_view
from mmrisk.registry._defects import TIER_FACTOR, inject_defects
from mmrisk.registry._era import check_era_shift, data_cut, shift_tables
from mmrisk.registry._model import CALIBRATION_FILE, ModelParams, load_params, simulate_latent
from mmrisk.registry._spec import TABLE_ORDER, TABLES

__all__ = ["simulate_registry", "iter_batches", "batch_seeds", "GENERATOR_VERSION", "BATCH_SIZE"]

GENERATOR_VERSION = "1.0.0"
BATCH_SIZE = 20_000
log = logging.getLogger(__name__)

TRUTH_COLUMNS = [
    "age", "female", "iss", "ldh_high", "del17p", "t414", "t1416", "gain1q", "amp1q",
    "egfr_lt30", "fitness", "frailty", "lp", "regimen", "second_induction", "mel140", "tandem",
    "tandem_done", "resp100", "mrd_tested", "mrd_neg", "lm", "t_asct", "t_lm_start", "t_lm_end",
    "lm_end_reason", "progressed", "t_prog", "t_death", "t_obs_end", "lost", "admin", "ltfu",
]


class _Writer:
    """Appends batches of one table to a Parquet or CSV file with a fixed schema."""

    def __init__(self, path: Path, fmt: str, columns: list[str], dtypes: dict[str, str]):
        self.path, self.fmt, self.columns = path, fmt, columns
        self.schema = pa.schema([(c, _arrow_type(dtypes.get(c, "str"))) for c in columns])
        self._w = None

    def write(self, df: pd.DataFrame) -> None:
        tbl = pa.Table.from_pandas(df[self.columns], schema=self.schema, preserve_index=False)
        if self._w is None:
            if self.fmt == "parquet":
                self._w = pq.ParquetWriter(self.path, self.schema, compression="zstd")
            else:
                self._w = pacsv.CSVWriter(self.path, self.schema)
        self._w.write_table(tbl)

    def close(self) -> None:
        if self._w is None:  # no rows at all: still write the header / schema
            self.write(pd.DataFrame({c: pd.Series([], dtype=object) for c in self.columns}))
        self._w.close()


def _arrow_type(kind: str) -> pa.DataType:
    return {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}.get(kind, pa.string())


def _table_dtypes(table: str) -> dict[str, str]:
    return {c.name: c.dtype for c in TABLES[table].columns}


def _coerce(df: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Give every column the spec's type (nullable ints stay float-free via pandas Int64)."""
    out = {}
    for col in df.columns:
        kind = dtypes.get(col, "str")
        s = df[col]
        if kind == "int":
            out[col] = pd.array(pd.to_numeric(s).round(), dtype="Int64")
        elif kind == "float":
            out[col] = pd.to_numeric(s).astype(float)
        elif kind == "bool":
            out[col] = s.astype("boolean")
        else:
            out[col] = s.astype(object).where(s.notna(), None)
    return pd.DataFrame(out)


def _ids(start: int, n: int, width: int) -> np.ndarray:
    return np.array([f"P{i:0{width}d}" for i in range(start + 1, start + n + 1)], dtype=object)


def _batch(seed_seq, start, n, width, centers, params, clean, era_shift=0):
    """Generate one batch: clean tables, defects, analysis view and truth.

    Everything is drawn in the registry's frame (induction 2007–2015); with ``era_shift`` the
    post-progression calendar effects use the shifted calendar, and the finished tables' dates
    are moved ``era_shift`` years later before the analysis view is derived from them.
    """
    rng = np.random.default_rng(seed_seq)
    c = simulate_latent(rng, n, params, era_shift)
    T.prepare_days(c)
    ids = _ids(start, n, width)
    c["ids"] = ids
    c["dup_ids"] = np.array([f"P{10 ** (width - 1) + start + i + 1:0{width}d}" for i in range(n)],
                            dtype=object)
    ci = rng.choice(len(centers), size=n, p=T.CENTER_WEIGHTS)
    c["center_num"] = ci
    c["center_id"] = centers["center_id"].to_numpy()[ci]
    c["tier_factor"] = centers["data_quality_tier"].map(TIER_FACTOR).to_numpy()[ci]
    c["fish_1q_from"] = centers["fish_1q_available_from"].to_numpy()[ci]
    uln = centers["ldh_uln_U_L"].to_numpy()[ci]
    T.second_line(rng, c, era_shift)
    t = {"patients": T.table_patients(rng, c, ids, centers)}
    t["patients"]["_row"] = np.arange(n)
    t["baseline_labs"] = T.table_baseline_labs(rng, c, ids, uln)
    t["baseline_labs"]["_row"] = np.arange(n)
    m0 = t["baseline_labs"]["serum_m_protein_g_L"].to_numpy(float)
    t["cytogenetics"] = T.table_cytogenetics(rng, c, ids)
    t["treatment_lines"] = T.table_treatment_lines(rng, c, ids)
    t["transplants"] = T.table_transplants(rng, c, ids)
    t["response_assessments"] = T.table_response_assessments(rng, c, m0)
    sched = centers["lm_default_schedule"].to_numpy()[ci]
    t["maintenance_episodes"], t["maintenance_dose_changes"] = T.table_maintenance(
        rng, c, ids, sched)
    t["disease_events"] = T.table_disease_events(rng, c, ids, m0)
    t["spm"] = T.table_spm(rng, c, ids, params)
    t["followup"] = T.table_followup(rng, c, ids)
    t["followup"]["_row"] = np.arange(n)
    # Defects use their own stream, so --clean leaves every clean value exactly as it is.
    drng = np.random.default_rng(seed_seq.spawn(1)[0])
    defects = None if clean else inject_defects(drng, t, c)
    truth = pd.DataFrame({"patient_id": ids, "center_id": c["center_id"],
                          **{k: c[k] for k in TRUTH_COLUMNS}})
    shift_tables(t, era_shift)
    view = analysis_view(t, data_cut(era_shift))
    return t, view, truth, defects


def simulate_registry(
    out_dir: str | os.PathLike,
    n: int = 1256,
    seed: int = 42,
    fmt: str = "parquet",
    clean: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    era_shift_years: int = 0,
) -> dict:
    """Write a synthetic registry extract into ``out_dir``; return its manifest.

    Parameters
    ----------
    out_dir : path
        Folder to write (created if needed). Existing files of the same names are replaced.
    n : int, default=1256
        Number of patients (before the 0.5% duplicate registrations of §6.3).
    seed : int, default=42
        The same seed (and ``n``, ``fmt``, ``clean``) gives byte-identical files.
    fmt : {"parquet", "csv"}, default="parquet"
    clean : bool, default=False
        Skip the missingness and data-quality defects of docs/registry.md §6.
    progress : callable, optional
        ``progress("simulate", batches_done, batches)`` (:mod:`mmrisk.progress`).
    batch_size : int, default=20000
        Patients per batch; part of the random stream, so changing it changes the data.
    era_shift_years : int, default=0
        A later era (docs/registry.md §2.1): move the accrual window, the data cut and every
        calendar date this many whole years later (0 to 12; 6 gives induction 2013–2021 and a
        data cut on 2024-01-31). The post-progression calendar effects (second-line options,
        §4.9; the calendar-year HR of post-progression survival, §5.3) follow the calendar, so
        OS after progression is longer; everything else is drawn as without the shift.

    Returns
    -------
    dict
        The manifest written to ``manifest.json`` (generator version, seed, n, row counts, and
        the SHA-256 of every file; ``era_shift_years`` and ``data_cut`` when shifted).
    """
    if fmt not in ("parquet", "csv"):
        raise MMRiskError(f"--format must be 'parquet' or 'csv', got {fmt!r}.")
    if n < 1:
        raise MMRiskError(f"n must be at least 1, got {n}.")
    era_shift_years = check_era_shift(era_shift_years)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MMRiskError(f"Cannot create the output folder {out}: {e.strerror}.") from e
    params = load_params()
    centers = _centers(seed)
    writers = _open_writers(out, fmt)
    counts = {name: 0 for name in writers}
    batches = iter_batches(n, seed, params, clean, batch_size, centers, era_shift_years)
    n_batches = -(-n // batch_size)
    report(progress, "simulate", 0, n_batches)
    for i, (t, view, truth, defects) in enumerate(batches):
        t["analysis_view"], t["truth_patients"] = view, truth
        if defects is not None:
            t["truth_defects"] = defects
        for name, w in writers.items():
            if name == "centers" or name not in t:
                continue
            df = _coerce(t[name].drop(columns=[c for c in t[name] if c.startswith("_")]),
                         _dtypes(name))
            w.write(df)
            counts[name] += len(df)
        report(progress, "simulate", i + 1, n_batches)
    written = {"centers": centers.copy()}
    shift_tables(written, era_shift_years)
    writers["centers"].write(_coerce(written["centers"], _dtypes("centers")))
    counts["centers"] = len(centers)
    for w in writers.values():
        w.close()
    if clean:
        (out / f"truth_defects.{fmt}").unlink(missing_ok=True)
    return _write_manifest(out, fmt, n, seed, clean, counts, params, batch_size,
                           era_shift_years)


def _centers(seed: int) -> pd.DataFrame:
    return T.table_centers(np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]))


def iter_batches(n: int, seed: int, params: ModelParams, clean: bool = False,
                 batch_size: int = BATCH_SIZE, centers: pd.DataFrame | None = None,
                 era_shift_years: int = 0):
    """Yield ``(tables, analysis_view, truth, defects)`` for each batch of an extract.

    Exactly the batches that ``simulate_registry(n=n, seed=seed, clean=clean)`` writes, but with
    the given model parameters: the calibration (``_calibrate``) evaluates the post-defect
    analysis view with it, on common random numbers.

    Parameters
    ----------
    n : int
        Number of patients of the extract.
    seed : int
        Seed of the extract.
    params : ModelParams
        Parameters of the data-generating model.
    clean : bool, default=False
        Skip the data-quality defects of REGISTRY.md §6 (``defects`` is then ``None``).
    batch_size : int, default=20000
        Patients per batch; part of the random stream, so changing it changes the data.
    centers : pandas.DataFrame, default=None
        The ``centers`` table; ``None`` draws it from ``seed`` as ``simulate_registry`` does.
        Used unshifted (the registry's frame), whatever ``era_shift_years``.
    era_shift_years : int, default=0
        Shift the calendar this many whole years later, as ``simulate_registry`` does.

    Yields
    ------
    tables : dict of str to pandas.DataFrame
        The batch's registry tables by name, before type coercion (some carry a helper column
        ``_row`` that ``simulate_registry`` drops before writing).
    analysis_view : pandas.DataFrame
        :func:`~mmrisk.registry._analysis_view.analysis_view` of ``tables``.
    truth : pandas.DataFrame
        The latent truth of each patient (``patient_id``, ``center_id`` and the true
        covariates and event times).
    defects : pandas.DataFrame or None
        The injected defects, one row each; ``None`` with ``clean``.
    """
    centers = _centers(seed) if centers is None else centers
    width = max(6, len(str(n)) + 1)
    for child, start, size in batch_seeds(n, seed, batch_size):
        yield _batch(child, start, size, width, centers, params, clean, era_shift_years)


def batch_seeds(n: int, seed: int, batch_size: int = BATCH_SIZE):
    """``(seed sequence, first patient, size)`` of each batch of an extract.

    A batch's latent patients are ``simulate_latent(np.random.default_rng(seed sequence), size,
    params)``: the first draws of ``_batch``.

    Parameters
    ----------
    n : int
        Number of patients of the extract.
    seed : int
        Seed of the extract.
    batch_size : int, default=20000
        Patients per batch (the last batch holds the rest).

    Returns
    -------
    list of tuple of (numpy.random.SeedSequence, int, int)
        One ``(seed sequence, first patient, size)`` per batch, ``ceil(n / batch_size)`` in
        all; the first patient is a 0-based position. Batch ``i``'s seed sequence does not
        depend on ``n``.
    """
    n_batches = -(-n // batch_size)
    # Child i of a SeedSequence is the same whatever the number spawned: batch i is stable.
    children = np.random.SeedSequence(seed, spawn_key=(1,)).spawn(n_batches)
    return [(children[b], b * batch_size, min(batch_size, n - b * batch_size))
            for b in range(n_batches)]


def _dtypes(name: str) -> dict[str, str]:
    if name in TABLES:
        return _table_dtypes(name)
    return {}


def _open_writers(out: Path, fmt: str) -> dict[str, _Writer]:
    writers = {}
    for name in TABLE_ORDER:
        writers[name] = _Writer(out / f"{name}.{fmt}", fmt, TABLES[name].column_names,
                                _table_dtypes(name))
    view_cols = ["patient_id", "center_id", "t0", "asct_date", "lm_group_itt", "lm_start",
                 "pfs_months_from_t0", "pfs_event", "os_months_from_t0", "os_event",
                 "pfs_months_from_lm_start", "pfs_event_from_lm_start"]
    view_types = {"lm_group_itt": "bool", "pfs_event": "bool", "os_event": "bool",
                  "pfs_event_from_lm_start": "bool", "pfs_months_from_t0": "float",
                  "os_months_from_t0": "float", "pfs_months_from_lm_start": "float"}
    writers["analysis_view"] = _Writer(out / f"analysis_view.{fmt}", fmt, view_cols, view_types)
    truth_types = {k: "float" for k in TRUTH_COLUMNS}
    truth_types.update({k: "bool" for k in ("female", "ldh_high", "del17p", "t414", "t1416",
                                             "gain1q", "amp1q", "egfr_lt30", "second_induction",
                                             "mel140", "tandem", "tandem_done", "mrd_tested",
                                             "mrd_neg", "lm", "progressed", "lost")})
    truth_types.update({"iss": "int", "regimen": "str", "resp100": "str", "lm_end_reason": "str"})
    writers["truth_patients"] = _Writer(out / f"truth_patients.{fmt}", fmt,
                                        ["patient_id", "center_id", *TRUTH_COLUMNS], truth_types)
    writers["truth_defects"] = _Writer(
        out / f"truth_defects.{fmt}", fmt,
        ["defect", "table", "patient_id", "column", "detectable", "severity"],
        {"detectable": "bool"})
    return writers


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_manifest(out, fmt, n, seed, clean, counts, params, batch_size, era_shift=0) -> dict:
    from mmrisk import __version__

    files = {}
    for name in sorted(counts):
        path = out / f"{name}.{fmt}"
        if path.exists():
            files[path.name] = {"rows": counts[name], "sha256": _sha256(path)}
    calib = json.loads(CALIBRATION_FILE.read_text())
    manifest = {
        "generator": "mmrisk.registry.simulate_registry",
        "generator_version": GENERATOR_VERSION,
        "mmrisk_version": __version__,
        "calibration_version": calib.get("version"),
        "calibrated_parameters": {k: calib[k] for k in ("lam_prog", "beta_lm", "lam_pps")},
        "seed": seed,
        "n_patients": n,
        "batch_size": batch_size,
        "format": fmt,
        "clean": clean,
        "tables": list(TABLE_ORDER),
        "files": files,
    }
    if era_shift:  # recorded only when shifted: an unshifted manifest stays as it always was
        manifest["era_shift_years"] = era_shift
        manifest["data_cut"] = data_cut(era_shift).strftime("%Y-%m-%d")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
