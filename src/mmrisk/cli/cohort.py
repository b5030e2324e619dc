"""``mmrisk cohort``: the analysis table at a landmark, its flow, Table 1 and KM figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmrisk.cli._common import df_table, fail, out
from mmrisk.exceptions import MMRiskError

app = typer.Typer(
    help="Cohorts at a landmark: analysis table, flow (who is excluded and why), Table 1.",
    no_args_is_help=True,
)


@app.command("build")
def build(
    path: Annotated[Path, typer.Argument(
        help="Registry extract: a folder of CSV/Parquet tables or an Excel workbook.")],
    config: Annotated[Path, typer.Option(
        "--config", help="YAML config; its [bold]cohort:[/] block sets landmark, endpoint, …")],
    out_file: Annotated[Path, typer.Option(
        "--out", help="Analysis table to write (.parquet or .csv). Beside it: <stem>_flow.csv, "
        "<stem>_table1.csv, <stem>_km.png; for endpoint progression_cr also <stem>_cif.png, "
        "<stem>_cif.csv (Aalen–Johansen CIFs at the horizons) and <stem>_gray.csv (Gray's "
        "test).")],
) -> None:
    """Build the analysis table at a landmark, with the flow table, Table 1 and a KM figure.

    Landmarks: [bold]lm_start[/] (first maintenance dose; LM patients), [bold]post_asct[/]
    (ASCT + N days; LM status as known then), [bold]induction[/] (as the published analysis).
    Every patient of the extract is either in the table or in the flow with a reason.
    """
    from mmrisk.workflows import write_cohort

    try:
        res = write_cohort(path, config, out_file)
    except MMRiskError as e:
        fail(str(e))
    cohort, spec = res.cohort, res.spec
    out.print(df_table(cohort.flow, f"Flow: landmark {spec.landmark}, {spec.endpoint.upper()}"))
    if len(cohort.issues):
        out.print(f"[yellow]{int(cohort.issues['n'].sum()):,} value(s) rejected by validation "
                  "were treated as missing (run `mmrisk data validate` for the list).[/]")
    out.print(df_table(res.table1, f"Table 1 by {cohort.group_by}", max_rows=200))
    first, *rest = res.files
    out.print(f"Wrote {first} ({len(cohort.data):,} patients), "
              f"{', '.join(str(p) for p in rest)}")
