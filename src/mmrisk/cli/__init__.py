"""The ``mmrisk`` command line: one module per group; each command parses, calls one library
function (mostly :mod:`mmrisk.workflows`) and renders its result.

User mistakes (a missing file, a bad extract, a bad option) print one clear message on stderr and
exit with status 1 (2 for usage errors); no tracebacks, and locals are never shown because they
may hold patient data. Libraries' log lines go to a log file (``--verbose`` shows them).
"""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from mmrisk import __version__
from mmrisk.cli import cohort, data, evaluate, models, report, server, train
from mmrisk.cli._common import out
from mmrisk.cli._logging import configure

__all__ = ["app"]

app = typer.Typer(
    name="mmrisk",
    help="Predict progression of multiple myeloma on lenalidomide maintenance after ASCT.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
app.add_typer(data.app, name="data")
app.add_typer(cohort.app, name="cohort")
app.command("train")(train.train)
app.command("compare")(train.compare)
app.command("ui")(models.ui)
app.command("explain")(models.explain)
app.command("score")(models.score)
app.command("serve")(models.serve)
app.command("server")(server.server)
app.command("evaluate")(evaluate.evaluate)
app.command("recalibrate")(evaluate.recalibrate)
app.command("report")(report.report)
app.command("sample-size")(report.sample_size)


def _version(value: bool) -> None:
    if value:
        out.print(f"mmrisk {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Show progress details and the libraries' log lines (MLflow, "
        "Spark); by default they go to mlruns/mmrisk.log (MMRISK_LOG_FILE).")] = False,
) -> None:
    """mmrisk: who progresses early on lenalidomide maintenance after ASCT."""
    configure(verbose)


def _reflow(doc: str) -> str:
    """Each paragraph of a help text on one line (list items, ``- ...``, on their own), so
    that rich wraps it at the terminal's width; typer keeps a docstring's own line breaks,
    which then wrap raggedly."""
    paragraphs = []
    for para in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in para.splitlines():
            if lines and not line.lstrip().startswith(("- ", "* ")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _reflow_commands(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        if info.callback is not None and info.callback.__doc__:
            info.callback.__doc__ = _reflow(info.callback.__doc__)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _reflow_commands(group.typer_instance)


_reflow_commands(app)
