"""Score with Spark: the logged mmrisk pyfunc through :func:`mlflow.pyfunc.spark_udf`.

The Spark engine returns exactly what the pyfunc returns when called directly (the same
columns, the same values, the same row order); it only spreads the rows over Spark tasks.

Three entry points, from the most to the least convenient:

* :func:`score_spark` - a pandas frame in, a pandas frame out (indexed like the input).
* :func:`score_file_spark` - a CSV/Parquet file or folder in, a Parquet file/folder out, with a
  contiguous ``row`` column (0, 1, ... in input order) and any id columns you keep.
* :func:`spark_score` - a Spark DataFrame in, a lazy Spark DataFrame out (kept columns + the
  model's output columns), for pipelines that already live in Spark.

:func:`get_spark` creates (or returns) a session with sensible local settings.

Running on a real cluster
-------------------------
Everything above works on any Spark master; only the session changes. Submit a driver script
with ``spark-submit`` and let it choose the master, i.e. pass ``master=None`` (or use
``mmrisk score --engine spark --master …``)::

    MLFLOW_TRACKING_URI=https://mlflow.example.org \\
    spark-submit --master yarn --deploy-mode client \\
        --conf spark.pyspark.python=/opt/mmrisk-venv/bin/python \\
        score_job.py

    # score_job.py
    from mmrisk.workflows import score_file_spark
    score_file_spark("models:/mmrisk@champion", "hdfs:///registry/cohort.parquet",
                     "hdfs:///scores/2024-06", master=None)

Masters: ``yarn``, ``k8s://https://<api-server>:6443`` (with ``spark.kubernetes.container.image``
set to an image that has mmrisk installed), ``spark://<host>:7077`` (standalone), ``local[n]``.

* **The model URI is resolved on the driver only.** ``spark_udf`` downloads the model there and,
  on a non-local master, ships it to the executors with ``SparkContext.addFile``; executors need
  no access to the tracking server or the artifact store. (Spark Connect is the exception:
  there the executors load the model from the URI themselves, so it must be reachable from
  them.) ``models:/name@alias`` is resolved once, so all tasks score with the same version.
* **Python environment.** The default ``env_manager="local"`` runs the model in the executors'
  own Python, which must have the same ``mmrisk`` (the pickled pyfunc class lives at
  ``mmrisk.tracking._pyfunc``), scikit-survival, scikit-learn, pandas and mlflow versions as
  the training run; point ``spark.pyspark.python`` at that interpreter (a shared venv, a conda
  pack shipped with ``--archives``, or the container image). ``env_manager="virtualenv"`` /
  ``"uv"`` / ``"conda"`` rebuild the model's logged environment on every executor instead (slow
  first start, needs network access to the package index, and the logged requirements do not
  include mmrisk itself - install it into the executors' base environment or add it to the
  model's requirements before using these).
* **Paths** must be visible to driver and executors (``hdfs://``, ``s3a://``, ``abfss://``, a
  shared mount). On a cluster the output is a Parquet folder; it is written to a temporary
  folder beside the destination and renamed into place (atomic on HDFS and local disks; object
  stores emulate rename with copy + delete).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

__all__ = ["get_spark", "spark_score", "score_spark", "score_file_spark", "with_row_number"]

#: Name of the contiguous input-order column (0, 1, ...) added by the file and pandas paths.
ROW_COLUMN = "row"
#: Rows per Spark task when :func:`score_spark` chooses the number of partitions.
ROWS_PER_PARTITION = 20_000

# ``spark_udf`` turns string fields of a struct result with ``Series.astype(str)``, which
# renders missing values as text; these are turned back into nulls.
_MISSING_AS_TEXT = ("None", "nan", "NaN", "<NA>", "NaT")

_LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
}
_COMMON_CONF = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise MMRiskError("pyspark is not installed: pip install 'mmrisk[spark]'") from None


#: Environment variable naming a file for the JVM's standard error (set by the CLI, which
#: keeps libraries' chatter off the console; unset, the JVM writes to this process's stderr).
JVM_LOG_ENV = "MMRISK_JVM_LOG"


@contextmanager
def _stderr_to(path: str | None) -> Iterator[None]:
    """File descriptor 2 points at ``path`` (appended) while the block runs.

    The Spark driver JVM, started inside the block, inherits the descriptor and keeps writing
    its start-up lines (the JVM's own warnings, log4j's profile and level notices) and later
    log4j output there, as do the Python workers it spawns; this process's stderr is restored
    when the block ends. Log4j settings alone cannot do this: the first lines come from the
    JVM launcher before log4j starts.
    """
    if not path:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        os.close(saved)
        yield
        return
    os.dup2(target, 2)
    os.close(target)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def get_spark(master: str | None = "local[2]", *, app_name: str = "mmrisk",
              conf: Mapping[str, str] | None = None, log_level: str = "ERROR") -> SparkSession:
    """Create or get the Spark session.

    Parameters
    ----------
    master : str or None
        ``local[n]`` (default ``local[2]``), ``yarn``, ``k8s://…``, ``spark://host:7077``; None
        keeps whatever ``spark-submit --master`` / ``spark-defaults.conf`` set.
    app_name : str
        Shown in the cluster's UI.
    conf : mapping, optional
        Extra Spark settings; they win over the defaults below.
    log_level : str
        Spark's log level once the session runs (startup lines are printed before it applies).

    Returns
    -------
    pyspark.sql.SparkSession
        The session.

    Notes
    -----
    On ``local`` masters: no web UI or progress bar, 4 shuffle partitions, driver bound to
    127.0.0.1, session time zone UTC, and the Python workers run this interpreter
    (``PYSPARK_PYTHON`` is set to ``sys.executable`` in this process unless already set).
    On every master: Arrow for pandas conversions. If a session already exists it is
    returned (static settings such as the master cannot change then).
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    settings: dict[str, str] = {}
    if master is not None and master.startswith("local"):
        settings.update(_LOCAL_CONF)
        if not os.environ.get("PYSPARK_PYTHON"):
            # PySpark starts its Python workers with $PYSPARK_PYTHON, else "python3" from PATH
            # (``spark.pyspark.python`` is only read by spark-submit), which need not be the
            # interpreter that has mmrisk.
            os.environ["PYSPARK_PYTHON"] = sys.executable
    settings.update(_COMMON_CONF)
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    jvm_log = os.environ.get(JVM_LOG_ENV)
    try:
        with _stderr_to(jvm_log):
            spark = builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - JVM start-up errors come in many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MMRiskError(f"Spark session cannot start (master={master!r}; is Java 17+ "
                          f"installed and JAVA_HOME set?): {first}"
                          + (f" (the JVM's own messages are in {jvm_log})" if jvm_log else "")
                          ) from None
    spark.sparkContext.setLogLevel(log_level)
    return spark


# --------------------------------------------------------------------------------------------
# types


def _spark_type(dtype: Any):
    """Spark type of one pyfunc output column, from its pandas dtype."""
    from pyspark.sql import types as T

    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.DoubleType()
    if (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)):
        return T.StringType()
    raise MMRiskError(f"model output dtype {dtype} has no Spark equivalent")


def _result_type(output: pd.DataFrame) -> StructType:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(str(c), _spark_type(output[c].dtype), True)
                         for c in output.columns])


def _input_types(pyfunc: Any, features: Sequence[str]) -> dict[str, Any]:
    """Spark type of each feature the signature types (``None``: any value, passed as is).

    Models logged with typed inputs (``double``, ``string``) get their columns cast; models
    whose signature accepts any value (``AnyType``, the pyfunc's own row checks parse text and
    flag bad cells) get them unchanged - e.g. CSV text, which the row checks parse exactly as
    they parse text given to the pyfunc directly.
    """
    from mlflow.types.schema import DataType

    schema = pyfunc.metadata.get_input_schema()
    by_name = {} if schema is None else {s.name: s.type for s in schema.inputs}
    return {f: by_name[f].to_spark() if isinstance(by_name.get(f), DataType) else None
            for f in features}


def _feature_column(name: str, target: Any, current: Any):
    """``name`` as the UDF gets it: cast to ``target``; text read as missing becomes null."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from mmrisk.conventions import MISSING_TEXT as _MISSING_TEXT  # what the pyfunc reads as missing

    col = F.col(f"`{name}`")
    if target is None or target == current:
        return col.alias(name)
    if isinstance(current, T.StringType) and not isinstance(target, T.StringType):
        col = F.when(F.trim(col).isin(*sorted(_MISSING_TEXT)), F.lit(None)).otherwise(col)
    return col.cast(target).alias(name)


# --------------------------------------------------------------------------------------------
# the UDF


@contextmanager
def _model(model_uri: str) -> Iterator[tuple[str, Any]]:
    """Download the model once (resolving ``models:/…@alias`` once) → (local folder, model)."""
    import mlflow.artifacts

    from mmrisk.tracking import load_model

    tmp = tempfile.mkdtemp(prefix="mmrisk-spark-model-")
    try:
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
        except Exception as e:  # noqa: BLE001 - MLflow raises many types; one clear message
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise MMRiskError(f"model {model_uri!r} cannot be loaded: {first}") from None
        loaded = load_model(local)
        yield local, loaded
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _score(sdf: SparkDataFrame, local: str, loaded: Any, keep: Sequence[str],
           params: Mapping[str, Any] | None, result_type: StructType | None,
           env_manager: str) -> SparkDataFrame:
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    keep, features = list(keep), loaded.features
    missing = [f for f in [*features, *keep] if f not in sdf.columns]
    if missing:
        raise MMRiskError(f"the input has no column(s) {missing}")
    params = dict(params) if params else None
    if result_type is None:
        example = loaded.pyfunc.input_example
        if not isinstance(example, pd.DataFrame) or example.empty:
            example = sdf.select(*features).limit(5).toPandas()
        example = example.head(5)
        result_type = _result_type(loaded.pyfunc.predict(example, params=params))
    clash = sorted(set(keep) & set(result_type.fieldNames()))
    if clash:
        raise MMRiskError(f"kept column(s) {clash} clash with the model's output columns")
    # spark_udf copies the model out of ``local`` into its own folder (on a cluster it ships
    # that copy to the executors), so the caller may delete ``local`` once this returns.
    udf = mlflow.pyfunc.spark_udf(sdf.sparkSession, local, result_type=result_type,
                                  env_manager=env_manager, params=params)
    types, current = _input_types(loaded.pyfunc, features), dict(
        (f.name, f.dataType) for f in sdf.schema.fields)
    inputs = F.struct(*[_feature_column(f, types[f], current[f]) for f in features])
    pred = "__mmrisk_prediction"
    scored = sdf.select(*[F.col(f"`{k}`") for k in keep], udf(inputs).alias(pred))
    outs = []
    for field in result_type.fields:
        col = F.col(pred).getField(field.name)
        if field.dataType.typeName() == "string":
            col = F.when(col.isin(*_MISSING_AS_TEXT), F.lit(None).cast("string")).otherwise(col)
        outs.append(col.alias(field.name))
    return scored.select(*[F.col(f"`{k}`") for k in keep], *outs)


def spark_score(sdf: SparkDataFrame, model_uri: str, *, keep: Sequence[str] = (),
                params: Mapping[str, Any] | None = None, result_type: StructType | None = None,
                env_manager: str = "local") -> SparkDataFrame:
    """Score a Spark DataFrame with an mmrisk model through ``mlflow.pyfunc.spark_udf``.

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
        Holds the model's feature columns (any order, extra columns ignored). Columns the
        signature types are cast to that type; the others reach the pyfunc as they are (its
        row checks parse text and flag bad cells).
    model_uri : str
        Any MLflow URI (``models:/name@champion``, ``runs:/<id>/model``, a local folder),
        resolved once, on the driver, with the current tracking URI.
    keep : sequence of str
        Input columns copied to the result in front of the predictions (ids, ``row``).
    params : mapping, optional
        Inference params passed to the pyfunc (e.g. ``{"reasons": True}``); as with a direct
        ``pyfunc.predict``, MLflow ignores them (with a warning) unless the model's signature
        declares them.
    result_type : pyspark.sql.types.StructType, optional
        The output columns and their types. By default they are learned by calling the pyfunc
        (with ``params``) on the model's logged input example on the driver, so whatever columns
        the pyfunc returns come through, in its order.
    env_manager : str
        ``"local"`` (the executors' Python; default), ``"virtualenv"``, ``"uv"`` or ``"conda"``;
        see the module docstring.

    Returns
    -------
    pyspark.sql.DataFrame
        Lazy: the ``keep`` columns, then the model's output columns; one row per input row,
        in the input's partition order.
    """
    _require_pyspark()
    with _model(model_uri) as (local, loaded):
        return _score(sdf, local, loaded, keep, params, result_type, env_manager)


# --------------------------------------------------------------------------------------------
# pandas in, pandas out


def _spark_column(s: pd.Series, target: Any) -> tuple[np.ndarray, Any]:
    """(values, Spark type) of one feature: the signature's type, else one from the dtype."""
    from pyspark.sql import types as T

    if target is None:
        if pd.api.types.is_bool_dtype(s):
            target = T.BooleanType()
        elif pd.api.types.is_integer_dtype(s):
            target = T.LongType()
        elif pd.api.types.is_numeric_dtype(s):
            target = T.DoubleType()
        else:
            target = T.StringType()
    if isinstance(target, T.StringType):
        # missing → null; other values as text (``str`` of a float round-trips exactly)
        values = s.astype(object).where(s.notna(), None).map(
            lambda v: v if v is None or isinstance(v, str) else str(v))
    elif isinstance(target, (T.DoubleType, T.FloatType)):
        try:
            values = pd.to_numeric(s, errors="raise").astype(float)
        except (TypeError, ValueError) as e:
            raise MMRiskError(f"column {s.name!r}: {e} (the model expects numbers)") from None
    elif isinstance(target, (T.LongType, T.IntegerType)) and s.isna().any():
        raise MMRiskError(f"column {s.name!r} has missing values; the model expects integers")
    else:
        values = s
    return np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values), target


def _to_spark_frame(spark: SparkSession, frame: pd.DataFrame, types: Mapping[str, Any],
                    row: str) -> SparkDataFrame:
    """The features of ``frame`` as a Spark DataFrame, plus ``row`` = 0, 1, ... (its order)."""
    from pyspark.sql import types as T

    data = {row: np.arange(len(frame), dtype=np.int64)}
    fields = [T.StructField(row, T.LongType(), False)]
    for f, target in types.items():
        data[f], spark_type = _spark_column(frame[f], target)
        fields.append(T.StructField(f, spark_type, True))
    return spark.createDataFrame(pd.DataFrame(data, columns=[row, *types]),
                                 schema=T.StructType(fields))


def score_spark(model_uri: str, frame: pd.DataFrame, *, master: str | None = "local[2]",
                spark: SparkSession | None = None, params: Mapping[str, Any] | None = None,
                partitions: int | None = None, env_manager: str = "local") -> pd.DataFrame:
    """Score a pandas frame on Spark; the same table ``load_model(uri).pyfunc.predict`` returns.

    Parameters
    ----------
    model_uri : str
        Any MLflow URI of an mmrisk model.
    frame : pandas.DataFrame
        Rows to score, with the model's feature columns (extra columns ignored).
    master : str or None
        Spark master when no ``spark`` session is given (see :func:`get_spark`).
    spark : SparkSession, optional
        An existing session to use.
    params : mapping, optional
        Pyfunc inference params (see :func:`spark_score`).
    partitions : int, optional
        Spark partitions (= tasks, each starting or reusing a Python worker that loads the
        model). Default: one per :data:`ROWS_PER_PARTITION` rows, at most the default
        parallelism - a small cohort runs in one task, so only one worker pays the start-up.
    env_manager : str
        See :func:`spark_score`.

    Returns
    -------
    pandas.DataFrame
        The model's output columns, one row per row of ``frame``, in its order and with its
        index.
    """
    _require_pyspark()
    spark = spark or get_spark(master)
    with _model(model_uri) as (local, loaded):
        missing = [f for f in loaded.features if f not in frame.columns]
        if missing:
            raise MMRiskError(f"the input has no column(s) {missing} (model {model_uri!r})")
        sdf = _to_spark_frame(spark, frame, _input_types(loaded.pyfunc, loaded.features),
                              ROW_COLUMN)
        if partitions is None:
            partitions = min(spark.sparkContext.defaultParallelism,
                             -(-len(frame) // ROWS_PER_PARTITION))
        k, current = max(1, int(partitions)), sdf.rdd.getNumPartitions()
        if k < current:
            sdf = sdf.coalesce(k)
        elif k > current:
            sdf = sdf.repartitionByRange(k, ROW_COLUMN)
        scored = _score(sdf, local, loaded, [ROW_COLUMN], params, None, env_manager)
    out = scored.toPandas().sort_values(ROW_COLUMN, kind="stable").drop(columns=ROW_COLUMN)
    out.index = frame.index
    return out


# --------------------------------------------------------------------------------------------
# files


def with_row_number(sdf: SparkDataFrame, name: str = ROW_COLUMN) -> SparkDataFrame:
    """Add ``name`` = 0, 1, 2, ... in the order the rows appear in the input file(s).

    Call it on the DataFrame straight from ``spark.read`` (the file metadata is gone after a
    projection). ``monotonically_increasing_id`` is unique and increasing but not contiguous
    (the partition id sits in its upper bits), and a file source's partitions are not in file
    order when there are several files (Spark packs file splits largest first). So each row's
    position comes from its file (``_metadata.file_path``; files in name order), its split
    (``_metadata.file_block_start``) and its id: the rows of one split are read consecutively by
    one task, so ``id - min(id in the split)`` is the position within the split, and a small
    aggregate (one row per split, collected to the driver) gives each split's offset. No
    shuffle of the data and no per-row Python. Other DataFrames (no ``_metadata``) fall back to
    ``rdd.zipWithIndex()``, which numbers rows in partition order.

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
        Rows straight from ``spark.read``.
    name : str, default="row"
        The new column.

    Returns
    -------
    pyspark.sql.DataFrame
        ``sdf`` with the column ``name``.
    """
    _require_pyspark()
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if name in sdf.columns:
        raise MMRiskError(f"the input already has a column {name!r}")
    cols = [F.col(f"`{c}`") for c in sdf.columns]
    try:
        base = sdf.select(*cols, F.col("_metadata.file_path").alias("__f"),
                          F.col("_metadata.file_block_start").alias("__b"),
                          F.monotonically_increasing_id().alias("__m"))
        base.schema  # noqa: B018 - analysis fails here for non-file sources
    except Exception:  # noqa: BLE001 - AnalysisException: no _metadata column
        schema = T.StructType([*sdf.schema.fields, T.StructField(name, T.LongType(), False)])
        return (sdf.rdd.zipWithIndex().map(lambda t: (*t[0], t[1])).toDF(schema)
                .select(name, *cols))
    splits = (base.groupBy("__f", "__b")
              .agg(F.min("__m").alias("__m0"), F.count(F.lit(1)).alias("__n"))
              .orderBy("__f", "__b").collect())
    offsets, total = [], 0
    for s in splits:
        offsets.append((s["__f"], int(s["__b"]), total - int(s["__m0"])))
        total += int(s["__n"])
    shift = sdf.sparkSession.createDataFrame(  # via Arrow: no Python worker needed
        pd.DataFrame(offsets, columns=["__f", "__b", "__shift"]).astype(
            {"__f": object, "__b": np.int64, "__shift": np.int64}),
        "__f string, __b long, __shift long")
    return (base.join(F.broadcast(shift), on=["__f", "__b"], how="inner")
            .select((F.col("__m") + F.col("__shift")).alias(name), *cols))


def _read(spark: SparkSession, path: str) -> SparkDataFrame:
    """The input with ``row`` (file order). CSV cells stay text (empty cells are null)."""
    lower = path.rstrip("/").lower()
    if lower.endswith((".csv", ".csv.gz")):
        return with_row_number(spark.read.csv(path, header=True, inferSchema=False))
    if lower.endswith((".parquet", ".pq")) or (_is_local(path) and _local(path).is_dir()):
        return with_row_number(spark.read.parquet(path))
    raise MMRiskError(f"{path}: cannot tell the format; use a .csv or .parquet file or a "
                      "folder of Parquet files")


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _local(path: str) -> Path:
    return Path(path[len("file://"):] if path.startswith("file://") else path)


def _exists(spark: SparkSession, path: str) -> bool:
    if _is_local(path):
        return _local(path).exists()
    hpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return bool(hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hpath))


def _replace(spark: SparkSession, tmp: str, dest: str) -> None:
    """Move ``tmp`` to ``dest``, replacing it; the old ``dest`` is removed afterwards."""
    if _is_local(dest):
        src, dst = _local(tmp), _local(dest)
        if dst.is_dir():  # a folder cannot be replaced in one rename: move it aside first
            old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(dst, old)
            os.replace(src, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(src, dst)
        return
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path
    src, dst = hpath(tmp), hpath(dest)
    fs = dst.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    old = None
    if fs.exists(dst):
        old = hpath(f"{dest.rstrip('/')}.old-{uuid.uuid4().hex[:8]}")
        if not fs.rename(dst, old):
            raise MMRiskError(f"{dest}: cannot move the existing output aside")
    if not fs.rename(src, dst):
        raise MMRiskError(f"{dest}: cannot move the new output into place (left in {tmp})")
    if old is not None:
        fs.delete(old, True)


def _merge_parts(folder: Path, dest: Path) -> int:
    """Concatenate Spark's ``part-*`` files (in part order) into one Parquet file."""
    import pyarrow.parquet as pq

    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        raise MMRiskError(f"Spark wrote no Parquet part into {folder}")
    n = 0
    with pq.ParquetWriter(dest, pq.read_schema(parts[0])) as writer:
        for part in parts:
            table = pq.read_table(part)
            writer.write_table(table)
            n += table.num_rows
    return n


def score_file_spark(model_uri: str, in_path: str | os.PathLike, out_path: str | os.PathLike,
                     *, master: str | None = "local[2]", spark: SparkSession | None = None,
                     params: Mapping[str, Any] | None = None, keep: Sequence[str] = (),
                     single_file: bool | None = None, overwrite: bool = False,
                     env_manager: str = "local") -> int:
    """Score a CSV/Parquet file (or folder) with Spark and write Parquet; returns the row count.

    Parameters
    ----------
    model_uri : str
        Any MLflow URI of an mmrisk model.
    in_path : path or URI
        ``.csv``/``.csv.gz`` (header row; cells reach the pyfunc as text, which its row checks
        parse - the same as text given to the pyfunc directly), ``.parquet`` or a folder of
        Parquet files. Local paths or ``hdfs://``, ``s3a://``, ….
    out_path : path or URI
        Destination: one Parquet file (``single_file``) or a folder of ``part-*`` files in row
        order. Written beside the destination first and renamed into place, so readers never
        see a half-written output.
    master, spark, params, env_manager
        As in :func:`score_spark`.
    keep : sequence of str
        Input columns (e.g. a patient id) copied in front of the predictions.
    single_file : bool, optional
        Default: True for a local destination, False otherwise (always a folder on a cluster
        filesystem). Scoring still runs in parallel; the parts are concatenated on the driver.
    overwrite : bool
        Replace an existing destination (else :class:`~mmrisk.exceptions.MMRiskError`).

    Returns
    -------
    int
        Rows written. The output holds ``row`` (0, 1, ... in input order; with a folder of
        input files, files in name order), the ``keep`` columns and the model's output
        columns, sorted by ``row``.
    """
    _require_pyspark()
    spark = spark or get_spark(master)
    in_path, out_path = str(in_path), str(out_path)
    if _is_local(in_path) and not _local(in_path).exists():
        raise MMRiskError(f"{in_path}: no such file or folder")
    local_out = _is_local(out_path)
    single_file = local_out if single_file is None else single_file
    if single_file and not local_out:
        raise MMRiskError("single_file needs a local destination; write a folder instead")
    if not overwrite and _exists(spark, out_path):
        raise MMRiskError(f"{out_path} exists; pass overwrite=True to replace it")

    # Sort the *input* by row: the sort's sampling pass then reads the input only, and the
    # UDF runs once, after the shuffle, on partitions already in row order.
    sdf = _read(spark, in_path).orderBy(ROW_COLUMN)
    scored = spark_score(sdf, model_uri, keep=[ROW_COLUMN, *keep], params=params,
                         env_manager=env_manager)
    name = out_path.rstrip("/").rsplit("/", 1)[-1]
    tmp = f"{out_path.rstrip('/')[: -len(name)]}.{name}.tmp-{uuid.uuid4().hex[:8]}"
    if local_out:
        _local(out_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        scored.write.mode("error").parquet(tmp)
        if single_file:
            folder, tmp = _local(tmp), tmp + ".parquet"
            n = _merge_parts(folder, _local(tmp))
            shutil.rmtree(folder)
        else:
            n = spark.read.parquet(tmp).count()
        _replace(spark, tmp, out_path)
    finally:
        for leftover in (tmp, tmp.removesuffix(".parquet")):
            p = _local(leftover)
            if local_out and p.exists():
                (shutil.rmtree if p.is_dir() else os.remove)(p)
    return n


def score_table_spark(model_uri: str, data: str | os.PathLike, out_path: str | os.PathLike, *,
                      reasons: bool = True, id_column: str | None = None,
                      master: str | None = "local[2]", tracking_uri: str | None = None) -> int:
    """``mmrisk score --engine spark``: a flat CSV/Parquet table in, a Parquet file out.

    Parameters
    ----------
    model_uri : str
        Any MLflow URI of an mmrisk model.
    data : path
        A flat ``.csv``/``.csv.gz``/``.parquet`` table with the model's input columns (a registry
        extract is refused: build its cohort first).
    out_path : path
        The Parquet output.
    reasons : bool, default=True
        Compute ``reason_1..3``.
    id_column : str, optional
        Identifier column copied in front of the predictions (default ``patient_id`` when
        present; only the header is read on the driver).
    master : str or None, default="local[2]"
        Spark master.
    tracking_uri : str, optional
        The store that resolves the model URI.

    Returns
    -------
    int
        Rows written.
    """
    from mmrisk.tracking import resolve_tracking_uri, using_store
    from mmrisk.workflows._input import identifier_column

    data = Path(data)
    if data.is_dir() or data.suffix.lower() not in (".csv", ".parquet", ".pq", ".gz"):
        raise MMRiskError(
            f"{data}: the Spark engine scores a flat CSV/Parquet table; build the cohort of a "
            "registry extract first (`mmrisk cohort build EXTRACT --config … --out "
            "cohort.parquet`) or use --engine pandas")
    if not data.exists():
        raise MMRiskError(f"{data}: no such file")
    cols: list[str] = []
    if not id_column:  # only the header is read: the data stay with Spark
        import pyarrow.parquet as pq

        cols = (pq.ParquetFile(data).schema_arrow.names
                if data.suffix.lower() in (".parquet", ".pq")
                else list(pd.read_csv(data, nrows=0).columns))
    ident = identifier_column(cols, id_column)
    with using_store(resolve_tracking_uri(tracking_uri)):
        return score_file_spark(model_uri, data, out_path, master=master,
                                keep=[ident] if ident else [], params={"reasons": reasons})
