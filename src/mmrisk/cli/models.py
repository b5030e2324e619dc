"""``mmrisk explain``, ``score``, ``serve`` and ``ui``: use a trained model, browse the runs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mmrisk.cli._common import (
    DATA_HELP,
    MODEL_HELP,
    STORE_HELP,
    err,
    fail,
    interrupted,
    out,
    progress_bars,
)
from mmrisk.exceptions import MMRiskError


def _load(model: str, tracking_uri: str | None) -> Any:
    from mmrisk.tracking import load_model, resolve_tracking_uri

    try:
        return load_model(model, resolve_tracking_uri(tracking_uri))
    except MMRiskError as e:
        fail(str(e))


class ShapMethod(StrEnum):
    auto = "auto"
    permutation = "permutation"


def explain(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    output: Annotated[str, typer.Option(
        "--output", help="What to explain: risk (the risk score), surv_<h>m (survival "
        "probability h months after the landmark) or chf_<h>m (cumulative hazard).")] = "risk",
    rows: Annotated[str | None, typer.Option(
        "--rows", help="Comma-separated identifiers (or 0-based positions) of the patients "
        "who get a waterfall figure. Default: the highest and the lowest.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Identifier column of a flat table (default patient_id).")] = None,
    method: Annotated[ShapMethod, typer.Option(
        "--method", help="auto (exact TreeSHAP for forests and boosting, linear SHAP for Cox "
        "models) or permutation (model-agnostic; decomposes surv_<h>m of a Cox or boosting "
        "model directly; minutes for a few hundred patients).")] = ShapMethod.auto,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)]
    = None,
) -> None:
    """SHAP values per patient and clinical feature: tables, global importance and figures.

    Exact TreeSHAP for survival forests and boosting, linear SHAP for Cox models, a permutation
    fallback otherwise. Values are summed back to clinical features ("del17p=detected: +0.41").
    Rows that fail the input checks are listed in [bold]not_explained.csv[/] with the reason.
    """
    from mmrisk.workflows import explain_input

    loaded = _load(model, tracking_uri)
    wanted = [r for r in rows.split(",") if r.strip()] if rows else None
    try:
        with progress_bars(transient=True) as tick:
            res = explain_input(loaded, data, out_dir, output=output, rows=wanted,
                                id_column=id_column, method=method.value, progress=tick)
    except MMRiskError as e:
        fail(str(e))
    if res.output != output:
        err.print(f"[bold yellow]Note:[/] a {loaded.meta.get('model_kind')} model is additive in "
                  f"the log hazard, so its SHAP values explain [bold]{res.output}[/]; {output} "
                  f"is reported beside them in shap_values.parquet. For SHAP values of {output} "
                  "itself, add --method permutation.", highlight=False)
    out.print(f"Explained {res.output} of {res.n_explained:,} of {res.n_rows:,} rows with "
              f"{loaded.meta.get('model_kind', 'the')} model ({res.method}); "
              f"{res.n_not_explained:,} not explained (see not_explained.csv).")
    out.print(f"Wrote {len(res.files)} files to {out_dir}: shap_values.parquet, "
              f"global_importance.csv, reasons.csv, figures/ (beeswarm, bar, waterfall_*, "
              f"dependence_*).")


class Engine(StrEnum):
    pandas = "pandas"
    spark = "spark"


def score(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)],
    out_file: Annotated[Path, typer.Option(
        "--out", help="Output file, .parquet or .csv (the drift report goes beside it: "
        "<out>.drift.md and <out>.drift.json). With --engine spark: Parquet.")],
    engine: Annotated[Engine, typer.Option(
        "--engine", help="pandas (chunked, bounded memory; checks, reasons and drift) or spark "
        "(mlflow.pyfunc.spark_udf; flat CSV/Parquet input).")] = Engine.pandas,
    reasons: Annotated[bool, typer.Option(
        "--reasons/--no-reasons", help="Top three SHAP reasons per patient (reason_1..3).")]
    = True,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Identifier column of a flat table (default patient_id).")] = None,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", help="Rows scored at a time (pandas engine).", min=1)] = 50_000,
    master: Annotated[str, typer.Option(
        "--master", help="Spark master (spark engine): local[2], yarn, spark://host:7077, "
        "k8s://…")] = "local[2]",
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)]
    = None,
) -> None:
    """Score new patients: one output row per input row, in input order, never a silent drop.

    Each row gets [bold]status[/] (ok / warning / error) and [bold]reason[/], the risk score,
    the risk group (training cut-points), survival at each horizon and the top three SHAP
    reasons. Missing model columns stop the run before anything is written; a bad value makes
    only its row an error. The output is written atomically. A drift report compares the
    cohort with the training profile (PSI, KS, new categories, missingness, predicted risk).
    """
    from mmrisk.workflows import score as run
    from mmrisk.workflows import score_table_spark

    loaded = _load(model, tracking_uri)
    try:
        if engine == Engine.spark:
            n = score_table_spark(loaded.uri, data, out_file, reasons=reasons,
                                  id_column=id_column, master=master, tracking_uri=tracking_uri)
            out.print(f"Scored {n:,} rows with Spark ({master}) → {out_file}")
            return
        with progress_bars() as tick:
            res = run(loaded, data, out_file, chunk_size=chunk_size, reasons=reasons,
                      id_column=id_column, progress=tick)
    except MMRiskError as e:
        fail(str(e))
    except KeyboardInterrupt as e:
        interrupted(e, "nothing was written")
    counts = ", ".join(f"{res.counts.get(s, 0):,} {s}" for s in ("ok", "warning", "error"))
    out.print(f"Scored {res.n_rows:,} rows with {loaded.uri} ({counts}) in "
              f"{res.seconds:.1f} s → {res.out_path}")
    flagged = res.drift.flagged
    if flagged:
        err.print(f"[bold yellow]Drift:[/] {', '.join(flagged)} past the thresholds "
                  f"(see {res.drift_paths[0]}).", highlight=False)
    else:
        out.print(f"No feature past the drift thresholds (report: {res.drift_paths[0]}).")


def serve(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5001,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)]
    = None,
) -> None:
    """REST scoring on 127.0.0.1 through MLflow's scoring app (Ctrl-C to stop).

    POST /invocations with {"dataframe_split": {"columns": [...], "data": [[...]]}} or
    {"dataframe_records": [{...}, ...]} (add "params": {"reasons": true} for reason_1..3), or CSV
    with a header row (Content-Type: text/csv), returns one prediction per row (status, reason,
    risk_score, risk_group, surv_<h>m or cif_<h>m); a refused request gets a short JSON
    message that quotes no input. GET /ping answers once the model is loaded. Loopback only,
    no authentication.
    """
    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.workflows import serve as run

    uri = resolve_tracking_uri(tracking_uri)

    def announce(url: str) -> None:  # once the port is free and the model loads
        out.print(f"Serving {model} on {url} (store {uri})")

    try:
        raise typer.Exit(run(model, port, tracking_uri=uri, announce=announce))
    except MMRiskError as e:
        fail(str(e))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def ui(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)] = None,
) -> None:
    """Open the MLflow UI on 127.0.0.1 over the configured store (Ctrl-C to stop).

    MLflow's and uvicorn's output goes to the log file (mlruns/mmrisk.log, MMRISK_LOG_FILE;
    --verbose shows it).
    """
    from mmrisk.cli._logging import active_log_file
    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.workflows import ui as run

    uri = resolve_tracking_uri(tracking_uri)

    def announce(url: str) -> None:  # once the port is free
        out.print(f"MLflow UI on {url} over {uri}")

    try:
        raise typer.Exit(run(uri, port, log_path=active_log_file(), announce=announce))
    except MMRiskError as e:
        fail(str(e))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
