"""``mmrisk data``: simulate a calibrated synthetic registry extract, validate a real one."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mmrisk.cli._common import err, fail, out, progress_bars
from mmrisk.exceptions import MMRiskError

app = typer.Typer(
    help="Registry extracts: simulate a calibrated synthetic one, validate a real one.",
    no_args_is_help=True,
)


class FileFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@app.command("simulate")
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the extract into.")],
    n: Annotated[int, typer.Option(min=1, help="Number of patients.")] = 1256,
    seed: Annotated[int, typer.Option(
        help="Random seed: the same seed gives identical files.")] = 42,
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format of the tables.")]
    = FileFormat.parquet,
    clean: Annotated[bool, typer.Option(
        "--clean", help="Skip the data-quality defects of docs/registry.md §6.")] = False,
    era_shift: Annotated[int, typer.Option(
        "--era-shift", min=0, max=12, metavar="YEARS",
        help="A later era: move accrual, the data cut and every date this many years later "
             "(6: induction 2013-2021, cut 2024-01-31; docs/registry.md §2.1).")] = 0,
) -> None:
    """Write a synthetic registry extract calibrated to the CMRG-DB results (docs/registry.md).

    Every table of the data contract, an ``analysis_view``, the ``truth_*`` files (clean latent
    values and the list of injected defects; never show these to a model) and ``manifest.json``.
    """
    from mmrisk.registry import read_extract, simulate_registry, summarize_extract

    try:
        with progress_bars(transient=True) as tick:
            manifest = simulate_registry(out_dir, n=n, seed=seed, fmt=fmt.value, clean=clean,
                                         progress=tick, era_shift_years=era_shift)
        summary = summarize_extract(read_extract(out_dir))
    except MMRiskError as e:
        fail(str(e))
    out.print(f"Wrote {manifest['n_patients']:,} patients to [bold]{out_dir}[/] "
              f"({fmt.value}, seed {seed}{', clean' if clean else ''}"
              f"{f', {era_shift} years later' if era_shift else ''}).")
    records = manifest["files"][f"patients.{fmt.value}"]["rows"]
    if records != manifest["n_patients"]:
        out.print(f"The patients table has {records:,} rows: "
                  f"{records - manifest['n_patients']:,} duplicate registrations injected as "
                  "data-quality defects (docs/registry.md §6.3); the summary counts every row.")
    _print_summary(summary)


@app.command("calibrate")
def calibrate(
    n: Annotated[int, typer.Option(min=1000, help="Simulated patients per evaluation.")] = 300_000,
    seed: Annotated[int, typer.Option(help="Seed of the calibration cohort.")] = 11,
    write: Annotated[bool, typer.Option(
        "--write/--dry-run", help="Rewrite the package's calibration.json (default: dry run).")]
    = False,
) -> None:
    """Re-run the docs/registry.md §5.4 root-finding (Brent) for λ_prog, β_LM and λ_pps.

    Targets: KM median PFS from induction 34.6 (no LM) and 58.2 months (LM), OS 98 months (no
    LM). Deterministic: the same n and seed give the same file. Takes 5–8 minutes on 2 cores
    (n=300,000).
    """
    from mmrisk.registry._calibrate import CALIBRATION_FILE, write_calibration
    from mmrisk.registry._calibrate import calibrate as run

    logging.getLogger("mmrisk.registry._calibrate").setLevel(logging.INFO)
    result = run(n=n, seed=seed, log=lambda msg: err.print(msg, highlight=False))
    out.print_json(data=result)
    if write:
        write_calibration(result)
        out.print(f"Wrote {CALIBRATION_FILE}")


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title="Registry summary", show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        table.add_row(name, value if isinstance(value, str) else f"{value:,.4g}")
    out.print(table)


@app.command("validate")
def validate(
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
        findings = validate_extract(read_extract(path))
        if report is not None:
            write_report(findings, report)
    except MMRiskError as e:
        fail(str(e))
    _print_findings(findings, path)
    if report is not None:
        out.print(f"Wrote every finding ({len(findings):,} rows) to {report}")
    if (findings["severity"] == "error").any():
        raise typer.Exit(code=1)


def _print_findings(findings: Any, path: Path) -> None:
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
