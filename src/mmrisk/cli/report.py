"""``mmrisk report`` (the TRIPOD+AI report) and ``mmrisk sample-size`` (Riley et al.)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mmrisk.cli._common import MODEL_HELP, STORE_HELP, df_table, fail, out
from mmrisk.exceptions import MMRiskError


class _Format(StrEnum):
    table = "table"
    json = "json"


def report(
    out_path: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
    run: Annotated[str | None, typer.Option(
        "--run", help="A train run id (the report describes its best model) or one of its "
        "model runs.")] = None,
    model: Annotated[str | None, typer.Option("--model", help=MODEL_HELP)] = None,
    evaluation: Annotated[list[str] | None, typer.Option(
        "--evaluation", help="An `mmrisk evaluate` run id to include (repeat for several).")]
    = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)] = None,
) -> None:
    """Write the TRIPOD+AI report of a model: one self-contained HTML page.

    Give exactly one of --run (a train, model or evaluation run) or --model (a model URI).

    Data and participants (flow diagram, Table 1), outcome and predictors, the Riley et al.
    sample-size check, the analysis, the model specification (Cox coefficients and baseline
    survival, or how to call the model over REST), performance with 95% intervals, decision
    curves, subgroups and centre heterogeneity of the evaluations, recalibrated versions, the
    scoring rules, and the TRIPOD+AI checklist with what is left to the authors. It opens
    offline: figures are embedded, nothing is fetched from another host.
    """
    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.workflows import write_report

    if (run is None) == (model is None):
        fail("give either --run RUN_ID or --model URI (one of them)")
    if out_path.suffix.lower() not in (".html", ".htm"):
        fail(f"--out {out_path}: the report is an HTML file; name it *.html")
    try:
        path = write_report(out_path, run_id=run, model_uri=model,
                            evaluation_run_ids=evaluation or [],
                            tracking_uri=resolve_tracking_uri(tracking_uri))
    except MMRiskError as e:
        fail(str(e))
    out.print(f"Wrote the TRIPOD+AI report to [bold]{path}[/] "
              f"({path.stat().st_size / 1e6:.1f} MB).")


def sample_size(
    rsquared: Annotated[float, typer.Option(
        "--rsquared", help="Anticipated Cox-Snell R² of the model (not Nagelkerke's).")],
    parameters: Annotated[int, typer.Option(
        "--parameters", help="Candidate predictor parameters (encoded columns).")],
    rate: Annotated[float, typer.Option(
        "--rate", help="Overall event rate per unit of time (events / person-time).")],
    timepoint: Annotated[float, typer.Option(
        "--timepoint", help="Timepoint of interest, in the time unit of --meanfup.")],
    meanfup: Annotated[float, typer.Option(
        "--meanfup", help="Anticipated mean follow-up per participant.")],
    shrinkage: Annotated[float, typer.Option(
        "--shrinkage", help="Target expected shrinkage of predictor effects.")] = 0.9,
    fmt: Annotated[_Format, typer.Option("--format", help="table or json.")] = _Format.table,
) -> None:
    """Minimum sample size to develop a time-to-event prediction model (Riley et al. 2019/2020).

    The three criteria of the R/Stata package pmsampsize (type "s"): expected shrinkage of at
    least --shrinkage, optimism of at most 0.05 in the apparent Nagelkerke R², and the overall
    risk at --timepoint estimated within ± 0.05. Prints each criterion's sample size, events
    and shrinkage, and the final requirement.
    """
    from mmrisk.evaluation import survival_sample_size

    try:
        res = survival_sample_size(rsquared, parameters, rate, timepoint, meanfup,
                                   shrinkage=shrinkage)
    except MMRiskError as e:
        fail(str(e))
    if fmt is _Format.json:
        typer.echo(json.dumps(res.to_dict(), indent=2))
        return
    import pandas as pd

    rows = pd.DataFrame([{"criterion": f"{c.criterion}. {c.description}", "n": f"{c.n:,}",
                          "events": f"{c.events:,}",
                          "events per parameter": f"{c.n * rate * meanfup / parameters:.2f}",
                          "shrinkage": f"{c.shrinkage:.3f}"} for c in res.criteria])
    out.print(df_table(rows, "Riley et al. criteria (pmsampsize, type s)"))
    out.print(f"Minimum sample size: [bold]{res.n:,}[/] participants, {res.events:,} events, "
              f"{res.events_per_parameter:.2f} events per parameter; expected shrinkage "
              f"{res.final_shrinkage:.3f}. Overall risk at t={timepoint:g}: {res.risk:.3f} "
              f"(95% CI {res.risk_lower:.3f} to {res.risk_upper:.3f}). Maximum Cox-Snell R² "
              f"{res.max_rsquared:.3f}; Nagelkerke R² {res.nagelkerke_rsquared:.3f}.",
              highlight=False)
