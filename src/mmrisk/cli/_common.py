"""What every command shares: consoles, the one error exit, tables and progress bars."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

# Piped or logged output (make run, CI) is not a terminal: rich would cut tables to 80 columns,
# hiding metric names; use a wide page unless COLUMNS says otherwise.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 220
out = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)

STORE_HELP = ("MLflow store (default sqlite:///mlruns/mlflow.db; MLFLOW_TRACKING_URI also "
              "works).")
MODEL_HELP = ("Model URI: models:/NAME@champion, models:/NAME/VERSION or runs:/RUN_ID/model "
              "(see `mmrisk train` output).")
DATA_HELP = ("A registry extract (folder or workbook: the cohort is built at the model's "
             "landmark) or a flat table (.csv, .parquet, .xlsx) with the model's input columns.")

#: Bar labels of the library's progress stages (:mod:`mmrisk.progress`).
STAGE_LABELS = {"fit": "Fitting models on folds", "tune": "Tuning hyperparameters (grid points)",
                "metrics": "Bootstrap intervals",
                "log": "Logging runs to MLflow", "score": "Scoring rows",
                "simulate": "Simulating registry", "explain": "Explaining rows",
                "evaluate": "Evaluating"}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line on stderr and exit with ``code`` (no traceback)."""
    # soft_wrap: the terminal wraps the line; rich would break file paths at its page width
    err.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=code)


def interrupted(e: BaseException, done: str) -> NoReturn:
    """Exit after SIGINT/SIGTERM/SIGHUP with 128 + the signal number, saying what was cleaned."""
    import signal

    signum = getattr(e, "signum", signal.SIGINT)
    err.print(f"[bold red]Interrupted[/] by {signal.Signals(signum).name}: {done}.",
              highlight=False)
    raise typer.Exit(code=128 + int(signum))


def df_table(df: Any, title: str, max_rows: int = 60, whole: tuple[str, ...] = ()) -> Table:
    """A rich table of a DataFrame's first ``max_rows`` rows, cells as text.

    Columns named in ``whole`` (identifiers a user copies) are never shortened or wrapped.
    """
    table = Table(title=title, header_style="bold")
    for col in df.columns:
        if col in whole:
            width = max([len(str(col))] + [len(str(v)) for v in df[col].head(max_rows)])
            table.add_column(str(col), no_wrap=True, min_width=width)
        else:
            table.add_column(str(col))
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


@contextmanager
def progress_bars(transient: bool = False) -> Iterator[Any]:
    """Rich progress bars driven by the library's ``progress(stage, done, total)`` calls.

    Yields the callback; one bar per stage, labelled by :data:`STAGE_LABELS`. Transient bars
    on a stderr that is not a terminal (a log, CI) show nothing: rich would leave only blank
    lines there.
    """
    if transient and not err.is_terminal:
        yield lambda *_: None
        return
    tasks: dict[str, Any] = {}
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                  transient=transient) as bars:

        def tick(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(STAGE_LABELS.get(stage, stage), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        try:
            yield tick
        finally:
            bars.stop()
