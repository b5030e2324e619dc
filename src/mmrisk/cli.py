"""The ``mmrisk`` command line: thin Typer commands that call one library function each.

User mistakes (a missing file, a bad extract, a bad option) print one clear message on stderr and
exit with status 1 (2 for usage errors); no tracebacks, and locals are never shown because they
may hold patient data.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from mmrisk import __version__
from mmrisk.exceptions import MMRiskError

app = typer.Typer(
    name="mmrisk",
    help="Predict progression of multiple myeloma on lenalidomide maintenance after ASCT.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
data_app = typer.Typer(
    help="Registry extracts: simulate a calibrated synthetic one, validate a real one.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
cohort_app = typer.Typer(
    help="Cohorts at a landmark: analysis table, flow (who is excluded and why), Table 1.",
    no_args_is_help=True,
)
app.add_typer(cohort_app, name="cohort")

# Piped or logged output (make run, CI) is not a terminal: rich would cut tables to 80 columns,
# hiding metric names; use a wide page unless COLUMNS says otherwise.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 220
out = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)


class FileFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code=code)


def _version(value: bool) -> None:
    if value:
        out.print(f"mmrisk {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    """mmrisk: who progresses early on lenalidomide maintenance after ASCT."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


@data_app.command("simulate")
def data_simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the extract into.")],
    n: Annotated[int, typer.Option(min=1, help="Number of patients.")] = 1256,
    seed: Annotated[int, typer.Option(
        help="Random seed: the same seed gives identical files.")] = 42,
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format of the tables.")]
    = FileFormat.parquet,
    clean: Annotated[bool, typer.Option(
        "--clean", help="Skip the data-quality defects of REGISTRY.md §6.")] = False,
) -> None:
    """Write a synthetic registry extract calibrated to the CMRG-DB results (REGISTRY.md).

    Every table of the data contract, an ``analysis_view``, the ``truth_*`` files (clean latent
    values and the list of injected defects; never show these to a model) and ``manifest.json``.
    """
    from mmrisk.registry import read_extract, simulate_registry, summarize_extract

    try:
        manifest = simulate_registry(out_dir, n=n, seed=seed, fmt=fmt.value, clean=clean,
                                     progress=True)
        summary = summarize_extract(read_extract(out_dir))
    except MMRiskError as e:
        _fail(str(e))
    out.print(f"Wrote {manifest['n_patients']:,} patients to [bold]{out_dir}[/] "
              f"({fmt.value}, seed {seed}{', clean' if clean else ''}).")
    _print_summary(summary)


@data_app.command("calibrate")
def data_calibrate(
    n: Annotated[int, typer.Option(min=1000, help="Simulated patients per evaluation.")] = 300_000,
    seed: Annotated[int, typer.Option(help="Seed of the calibration cohort.")] = 11,
    write: Annotated[bool, typer.Option(
        "--write/--dry-run", help="Rewrite the package's calibration.json (default: dry run).")]
    = False,
) -> None:
    """Re-run the REGISTRY.md §5.4 root-finding (Brent) for λ_prog, β_LM and λ_pps.

    Targets: KM median PFS from induction 34.6 (no LM) and 58.2 months (LM), OS 98 months (no
    LM). Deterministic: the same n and seed give the same file. Takes 5–8 minutes on 2 cores
    (n=300,000).
    """
    from mmrisk.registry._calibrate import CALIBRATION_FILE, calibrate, write_calibration

    result = calibrate(n=n, seed=seed, log=lambda msg: err.print(msg, highlight=False))
    out.print_json(data=result)
    if write:
        write_calibration(result)
        out.print(f"Wrote {CALIBRATION_FILE}")


def _print_summary(summary) -> None:
    table = Table(title="Registry summary", show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(name, value if isinstance(value, str) else f"{value:,.4g}")
    out.print(table)


@data_app.command("validate")
def data_validate(
    path: Annotated[Path, typer.Argument(
        help="Extract: a folder of CSV/Parquet files (one per table) or an Excel workbook.")],
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write every finding to this file (.csv or .json).")] = None,
) -> None:
    """Check an extract against the data contract; exit 1 if any error is found.

    Checks required tables and columns, types, allowed codes, ranges, SI units, unique and
    foreign keys, date precision and the order of dates. Every finding names the table, the row
    (1 = first data row of the file), the column, the value and the check.
    """
    from mmrisk.registry import read_extract, validate_extract, write_report

    try:
        extract = read_extract(path)
        findings = validate_extract(extract)
    except MMRiskError as e:
        _fail(str(e))
    if report is not None:
        try:
            write_report(findings, report)
        except MMRiskError as e:
            _fail(str(e))
    _print_findings(findings, path)
    if (findings["severity"] == "error").any():
        raise typer.Exit(code=1)


def _print_findings(findings, path: Path) -> None:
    n_err = int((findings["severity"] == "error").sum())
    n_warn = int((findings["severity"] == "warning").sum())
    if findings.empty:
        out.print(f"[green]✓[/] {path}: no findings.")
        return
    grouped = (findings.groupby(["table", "column", "check", "severity"], dropna=False)
               .size().reset_index(name="rows").sort_values(["severity", "rows"],
                                                              ascending=[True, False]))
    table = Table(title=f"Findings in {path}", header_style="bold")
    for col in ("severity", "table", "column", "check", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for r in grouped.itertuples(index=False):
        style = "red" if r.severity == "error" else "yellow"
        table.add_row(f"[{style}]{r.severity}[/]", r.table, str(r.column), r.check, f"{r.rows:,}")
    out.print(table)
    colour = "red" if n_err else "yellow"
    out.print(f"[{colour}]{n_err:,} error(s), {n_warn:,} warning(s)[/]")


def _df_table(df, title: str, max_rows: int = 60) -> Table:
    table = Table(title=title, header_style="bold")
    for col in df.columns:
        table.add_column(str(col))
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


@cohort_app.command("build")
def cohort_build(
    path: Annotated[Path, typer.Argument(
        help="Registry extract: a folder of CSV/Parquet tables or an Excel workbook.")],
    config: Annotated[Path, typer.Option(
        "--config", help="YAML config; its [bold]cohort:[/] block sets landmark, endpoint, …")],
    out_file: Annotated[Path, typer.Option(
        "--out", help="Analysis table to write (.parquet or .csv). Beside it: <stem>_flow.csv, "
        "<stem>_table1.csv, <stem>_km.png.")],
) -> None:
    """Build the analysis table at a landmark, with the flow table, Table 1 and a KM figure.

    Landmarks: [bold]lm_start[/] (first maintenance dose; LM patients), [bold]post_asct[/]
    (ASCT + N days; LM status as known then), [bold]induction[/] (as the published analysis).
    Every patient of the extract is either in the table or in the flow with a reason.
    """
    from mmrisk.cohort import build_cohort, table1
    from mmrisk.config import load_cohort_spec
    from mmrisk.registry import read_extract
    from mmrisk.report import km_figure

    if out_file.suffix.lower() not in (".parquet", ".csv"):
        _fail(f"--out {out_file}: use a .parquet or .csv file name")
    try:
        spec = load_cohort_spec(config)
        cohort = build_cohort(read_extract(path), spec)
    except MMRiskError as e:
        _fail(str(e))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    stem = out_file.with_suffix("")
    if out_file.suffix.lower() == ".csv":
        cohort.data.to_csv(out_file, index=False)
    else:
        cohort.data.to_parquet(out_file, index=False)
    t1 = table1(cohort.data, cohort.features, cohort.group_by)
    cohort.flow.to_csv(f"{stem}_flow.csv", index=False)
    t1.to_csv(f"{stem}_table1.csv", index=False)
    group = cohort.data[cohort.group_by] if cohort.group_by in cohort.data else None
    fig = km_figure(cohort.data["time"], cohort.data["event"],
                    group if group is not None else ["all"] * len(cohort.data),
                    title=f"{spec.endpoint.upper()} from landmark {spec.landmark}")
    fig.savefig(f"{stem}_km.png", dpi=120)
    out.print(_df_table(cohort.flow, f"Flow: landmark {spec.landmark}, {spec.endpoint.upper()}"))
    if len(cohort.issues):
        out.print(f"[yellow]{int(cohort.issues['n'].sum()):,} value(s) rejected by validation "
                  "were treated as missing (run `mmrisk data validate` for the list).[/]")
    out.print(_df_table(t1, f"Table 1 by {cohort.group_by}", max_rows=200))
    out.print(f"Wrote {out_file} ({len(cohort.data):,} patients), {stem}_flow.csv, "
              f"{stem}_table1.csv, {stem}_km.png")


class BoardFormat(StrEnum):
    table = "table"
    csv = "csv"
    markdown = "markdown"


def _progress_callback(progress, tasks: dict):
    labels = {"fit": "Fitting models on folds", "metrics": "Bootstrap intervals",
              "log": "Logging runs to MLflow"}

    def tick(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(labels.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    return tick


@app.command("train")
def train_cmd(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (YAML), e.g. "
                                         "configs/default.yaml.")] = Path("configs/default.yaml"),
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", help="MLflow store; wins over MLFLOW_TRACKING_URI and the config "
        "(default sqlite:///mlruns/mlflow.db).")] = None,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", help="MLflow experiment name (default: the config's).")] = None,
) -> None:
    """The main job: build the cohort, cross-validate every model on the same folds, log to MLflow.

    Each model gets metrics with 95% bootstrap CIs and its difference from the staging baseline
    (R-ISS), figures, and a pyfunc model; the best by [bold]tracking.select_metric[/] is
    registered (alias [bold]champion[/] only if it beats the current champion on the same data).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from mmrisk.config import load_config
    from mmrisk.tracking import train

    try:
        cfg = load_config(config)
    except MMRiskError as e:
        _fail(str(e))
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as progress:
        try:
            result = train(cfg, tracking_uri=tracking_uri, experiment=experiment,
                           progress=_progress_callback(progress, {}))
        except MMRiskError as e:
            progress.stop()
            _fail(str(e))
    reg = result.registered
    out.print(f"Parent run [bold]{result.parent_run_id}[/] in {result.tracking_uri} "
              f"(data fingerprint {result.data_fingerprint}).")
    if reg:
        out.print(f"Registered [bold]{reg['name']}[/] version {reg['version']} as "
                  f"[bold]{reg['alias']}[/] (models:/{reg['name']}@{reg['alias']}).")
    out.print("Next: [bold]mmrisk compare[/] for the leaderboard, [bold]mmrisk ui[/] to browse.")


def _markdown(df) -> str:
    """A GitHub Markdown table of ``df``'s cells as text (no optional dependency needed)."""
    def cell(v) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _fmt_ci(v, lo, hi) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


@app.command("compare")
def compare_cmd(
    experiment: Annotated[str, typer.Option("--experiment", help="MLflow experiment.")] = "mmrisk",
    metric: Annotated[str, typer.Option(
        "--metric", help="Sort by this metric, e.g. cv_cindex_uno, cv_ibs, cv_auc_36m.")]
    = "cv_cindex_uno",
    fmt: Annotated[BoardFormat, typer.Option("--format", help="table, csv or markdown.")]
    = BoardFormat.table,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri")] = None,
) -> None:
    """Leaderboard of the latest [bold]mmrisk train[/]: each metric with its 95% CI, best marked."""
    from mmrisk.tracking import latest_leaderboard, resolve_tracking_uri

    try:
        board, facts = latest_leaderboard(resolve_tracking_uri(tracking_uri), experiment, metric)
    except MMRiskError as e:
        _fail(str(e))
    shown = [c for c in ("cv_cindex_harrell", "cv_cindex_uno", "cv_auc_12m", "cv_auc_36m",
                         "cv_ibs", "cv_ici_36m", "cv_calib_slope_36m", "cv_dcal_pvalue",
                         "test_cindex_uno", "test_ibs") if c in board.columns]
    if metric not in shown:
        shown.insert(0, metric)
    cells = {c: [_fmt_ci(r[c], r.get(f"{c}_lo"), r.get(f"{c}_hi")) for _, r in board.iterrows()]
             for c in shown}
    table = board[["model"]].copy()
    table["model"] = [f"{m} ★" if i == 0 else m for i, m in enumerate(board["model"])]
    for c in shown:
        table[c] = cells[c]
    if fmt == BoardFormat.csv:
        typer.echo(board.to_csv(index=False), nl=False)
        return
    if fmt == BoardFormat.markdown:
        typer.echo(_markdown(table))
        return
    out.print(_df_table(table, f"Leaderboard of run {facts['run_name']} "
                        f"(sorted by {metric}; ★ best; \\[lo, hi] = 95% bootstrap CI)"))
    out.print(f"Best: {facts['best_model']} (registered as {facts['registered_alias']}).")


@app.command("ui")
def ui_cmd(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri")] = None,
) -> None:
    """Open the MLflow UI on 127.0.0.1 over the configured store (Ctrl-C to stop)."""
    import os
    import sys

    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.tracking._store import _artifact_root

    uri = resolve_tracking_uri(tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", uri]
    root = _artifact_root(uri)
    if root:
        cmd += ["--default-artifact-root", root]
    out.print(f"MLflow UI on http://127.0.0.1:{port} over {uri}")
    sys.stdout.flush()
    # Become the MLflow server (exec): a SIGTERM or Ctrl-C reaches it directly, and no server
    # process is left behind when `mmrisk ui` is stopped.
    os.execve(sys.executable, cmd, {**os.environ, "MLFLOW_WORKERS": os.environ.get(
        "MLFLOW_WORKERS", "1")})


def _load(model: str, tracking_uri: str | None):
    """A logged model by URI over the resolved tracking store (shared by explain/score)."""
    import mlflow

    from mmrisk.tracking import load_model, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        return load_model(model)
    except MMRiskError as e:
        _fail(f"{e} (tracking store {uri})")


_STORE_HELP = ("MLflow store (default sqlite:///mlruns/mlflow.db; MLFLOW_TRACKING_URI also "
               "works).")
_MODEL_HELP = ("Model URI: models:/NAME@champion, models:/NAME/VERSION or runs:/RUN_ID/model "
               "(see `mmrisk train` output).")
_DATA_HELP = ("A registry extract (folder or workbook: the cohort is built at the model's "
              "landmark) or a flat table (.csv, .parquet, .xlsx) with the model's input columns.")


@app.command("explain")
def explain_cmd(
    model: Annotated[str, typer.Option("--model", help=_MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", help=_DATA_HELP)],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    output: Annotated[str, typer.Option(
        "--output", help="What to explain: risk (the risk score), surv_<h>m (survival "
        "probability h months after the landmark) or chf_<h>m (cumulative hazard).")] = "risk",
    rows: Annotated[str | None, typer.Option(
        "--rows", help="Comma-separated identifiers (or 0-based positions) of the patients "
        "who get a waterfall figure. Default: the highest and the lowest.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Identifier column of a flat table (default patient_id).")] = None,
    method: Annotated[str, typer.Option(
        "--method", help="auto (exact TreeSHAP for forests and boosting, linear SHAP for Cox "
        "models) or permutation (model-agnostic; decomposes surv_<h>m of a Cox or boosting "
        "model directly; minutes for a few hundred patients).")] = "auto",
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=_STORE_HELP)]
    = None,
) -> None:
    """SHAP values per patient and clinical feature: tables, global importance and figures.

    Exact TreeSHAP for survival forests and boosting, linear SHAP for Cox models, a permutation
    fallback otherwise. Values are summed back to clinical features ("del17p=detected: +0.41").
    Rows that fail the input checks are listed in [bold]not_explained.csv[/] with the reason.
    """
    from mmrisk.scoring._explain import explain_input

    loaded = _load(model, tracking_uri)
    wanted = [r for r in rows.split(",") if r.strip()] if rows else None
    try:
        res = explain_input(loaded, data, out_dir, output=output, rows=wanted,
                            id_column=id_column, method=method)
    except MMRiskError as e:
        _fail(str(e))
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


@app.command("score")
def score_cmd(
    model: Annotated[str, typer.Option("--model", help=_MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", help=_DATA_HELP)],
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
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=_STORE_HELP)]
    = None,
) -> None:
    """Score new patients: one output row per input row, in input order, never a silent drop.

    Each row gets [bold]status[/] (ok / warning / error) and [bold]reason[/], the risk score,
    the risk group (training cut-points), survival at each horizon and the top three SHAP
    reasons. Missing model columns stop the run before anything is written; a bad value makes
    only its row an error. The output is written atomically. A drift report compares the
    cohort with the training profile (PSI, KS, new categories, missingness, predicted risk).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    loaded = _load(model, tracking_uri)
    if engine == Engine.spark:
        _score_spark(loaded, data, out_file, reasons, id_column, master)
        return
    from mmrisk.scoring import score

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as progress:
        task = progress.add_task("Scoring rows", total=None)

        def tick(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        try:
            res = score(loaded, data, out_file, chunk_size=chunk_size, reasons=reasons,
                        id_column=id_column, progress=tick)
        except MMRiskError as e:
            progress.stop()
            _fail(str(e))
    counts = ", ".join(f"{res.counts.get(s, 0):,} {s}" for s in ("ok", "warning", "error"))
    out.print(f"Scored {res.n_rows:,} rows with {loaded.uri} ({counts}) in "
              f"{res.seconds:.1f} s → {res.out_path}")
    flagged = res.drift.flagged
    if flagged:
        err.print(f"[bold yellow]Drift:[/] {', '.join(flagged)} past the thresholds "
                  f"(see {res.drift_paths[0]}).", highlight=False)
    else:
        out.print(f"No feature past the drift thresholds (report: {res.drift_paths[0]}).")


def _score_spark(loaded, data: Path, out_file: Path, reasons: bool, id_column: str | None,
                 master: str) -> None:
    from mmrisk.scoring._spark import score_file_spark

    if data.is_dir() or data.suffix.lower() not in (".csv", ".parquet", ".pq", ".gz"):
        _fail(f"{data}: the Spark engine scores a flat CSV/Parquet table; build the cohort of "
              "a registry extract first (`mmrisk cohort build EXTRACT --config … --out "
              "cohort.parquet`) or use --engine pandas")
    from mmrisk.scoring._input import identifier_column

    cols: list[str] = []
    if not id_column:  # only the header is read: the data stay with Spark
        import pandas as pd
        import pyarrow.parquet as pq

        cols = (pq.ParquetFile(data).schema_arrow.names if data.suffix.lower() in (".parquet",
                                                                                    ".pq")
                else list(pd.read_csv(data, nrows=0).columns))
    ident = identifier_column(cols, id_column)
    keep = [ident] if ident else []
    try:
        n = score_file_spark(loaded.uri, data, out_file, master=master, keep=keep,
                             params={"reasons": reasons})
    except MMRiskError as e:
        _fail(str(e))
    out.print(f"Scored {n:,} rows with Spark ({master}) → {out_file}")


@app.command("serve")
def serve_cmd(
    model: Annotated[str, typer.Option("--model", help=_MODEL_HELP)],
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5001,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=_STORE_HELP)]
    = None,
) -> None:
    """REST scoring on 127.0.0.1 through MLflow's model server (Ctrl-C to stop).

    POST /invocations with {"dataframe_split": {"columns": [...], "data": [[...]]}} returns one
    prediction per row (status, reason, risk_score, risk_group, surv_<h>m); GET /ping answers
    once the model is loaded. Loopback only, no authentication.
    """
    from mmrisk.scoring._serve import serve
    from mmrisk.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    out.print(f"Serving {model} on http://127.0.0.1:{port}/invocations (store {uri})")
    try:
        raise typer.Exit(serve(model, port, tracking_uri=uri))
    except MMRiskError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
