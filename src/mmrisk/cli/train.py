"""``mmrisk train`` and ``mmrisk compare``: the main job and its leaderboard."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mmrisk.cli._common import STORE_HELP, df_table, err, fail, interrupted, out, progress_bars
from mmrisk.exceptions import MMRiskError


class TrainEngine(StrEnum):
    local = "local"
    spark = "spark"


def train(
    config: Annotated[Path, typer.Option("--config", help="Experiment config (YAML), e.g. "
                                         "configs/default.yaml.")] = Path("configs/default.yaml"),
    tracking_uri: Annotated[str | None, typer.Option(
        "--tracking-uri", help="MLflow store; wins over MLFLOW_TRACKING_URI and the config "
        "(default sqlite:///mlruns/mlflow.db).")] = None,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", help="MLflow experiment name (default: the config's).")] = None,
    engine: Annotated[TrainEngine | None, typer.Option(
        "--engine", help="Where the fold x model fits run: local processes or Spark tasks "
        "(default: the config's validation.engine, else local); same results.")] = None,
    master: Annotated[str | None, typer.Option(
        "--master", help="Spark master of --engine spark: local[2], spark://host:7077, yarn, "
        "k8s://… (default: spark-submit's, else local[*]).")] = None,
) -> None:
    """The main job: build the cohort, cross-validate every model on the same folds, log to MLflow.

    Each model gets metrics with 95% bootstrap CIs and its difference from the staging baseline
    (R-ISS), figures, and a pyfunc model; the best by [bold]tracking.select_metric[/] is
    registered (alias [bold]champion[/] only if it beats the current champion on the same data).
    """
    from mmrisk.config import load_config
    from mmrisk.workflows import train as run

    try:
        cfg = load_config(config)
        with progress_bars() as tick:
            result = run(cfg, tracking_uri=tracking_uri, experiment=experiment, progress=tick,
                         engine=engine.value if engine else None, master=master)
    except MMRiskError as e:
        fail(str(e))
    except KeyboardInterrupt as e:
        interrupted(e, "its MLflow runs are marked KILLED")
    reg = result.registered
    out.print(f"Parent run [bold]{result.parent_run_id}[/] in {result.tracking_uri} "
              f"(data fingerprint {result.data_fingerprint}).")
    if reg:
        out.print(f"Registered [bold]{reg['name']}[/] version {reg['version']} as "
                  f"[bold]{reg['alias']}[/] (models:/{reg['name']}@{reg['alias']}).")
    name = experiment or cfg.tracking.experiment
    out.print(f"Next: [bold]mmrisk compare --experiment {name}[/] for the leaderboard, "
              "[bold]mmrisk ui[/] to browse.")


class BoardFormat(StrEnum):
    table = "table"
    csv = "csv"
    markdown = "markdown"


def markdown(df: Any) -> str:
    """A GitHub Markdown table of ``df``'s cells as text (no optional dependency needed)."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |",
             "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


def fmt_ci(v: Any, lo: Any, hi: Any) -> str:
    """``0.555 [0.526, 0.588]``; the value alone without an interval; ``—`` when missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


_SHOWN = ("cv_cindex_harrell", "cv_cindex_uno", "cv_auc_12m", "cv_auc_36m", "cv_ibs",
          "cv_ici_36m", "cv_calib_slope_36m", "cv_dcal_pvalue", "test_cindex_uno", "test_ibs",
          # competing-risks runs (issue 17)
          "cv_cindex_wolbers", "cv_cif_auc_12m", "cv_cif_auc_36m", "cv_cif_brier_36m",
          "cv_cif_ici_36m", "cv_cif_oe_36m", "test_cindex_wolbers", "test_cif_brier_36m")


def compare(
    experiment: Annotated[str, typer.Option("--experiment", help="MLflow experiment.")] = "mmrisk",
    metric: Annotated[str | None, typer.Option(
        "--metric", help="Sort by this metric, e.g. cv_cindex_uno, cv_ibs, cv_auc_36m "
        "(default: cv_cindex_uno; cv_cindex_wolbers for a competing-risks run).")] = None,
    fmt: Annotated[BoardFormat, typer.Option("--format", help="table, csv or markdown.")]
    = BoardFormat.table,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)] = None,
    evaluations: Annotated[bool, typer.Option(
        "--evaluations", help="List the [bold]mmrisk evaluate[/] runs of the experiment instead "
        "(external validation of registered models, newest first).")] = False,
) -> None:
    """Leaderboard of the latest [bold]mmrisk train[/]: each metric with its 95% CI, best marked."""
    from mmrisk.tracking import latest_leaderboard, resolve_tracking_uri

    if evaluations:
        _evaluations(resolve_tracking_uri(tracking_uri), experiment, fmt)
        return
    try:
        board, facts = latest_leaderboard(resolve_tracking_uri(tracking_uri), experiment, metric)
    except MMRiskError as e:
        fail(str(e))
    metric = facts["metric"]
    shown = [c for c in _SHOWN if c in board.columns]
    if metric not in shown:
        shown.insert(0, metric)
    table = board[["model"]].copy()
    table["model"] = [f"{m} ★" if i == 0 else m for i, m in enumerate(board["model"])]
    for c in shown:
        table[c] = [fmt_ci(r[c], r.get(f"{c}_lo"), r.get(f"{c}_hi")) for _, r in board.iterrows()]
    if fmt == BoardFormat.csv:
        typer.echo(board.to_csv(index=False), nl=False)
        return
    if fmt == BoardFormat.markdown:
        typer.echo(markdown(table))
        return
    out.print(df_table(table, f"Leaderboard of run {facts['run_name']} "
                       f"(sorted by {metric}; ★ best; \\[lo, hi] = 95% bootstrap CI)"))
    top = board["model"].iloc[0]
    if top == facts["best_model"]:
        out.print(f"Best: {top} (registered as {facts['registered_alias']}).")
    else:
        out.print(f"★ {top} is the best by {metric}; the train registered {facts['best_model']} "
                  f"({facts['registered_alias']}), the best by its tracking.select_metric.")
    newest = facts.get("newest_unfinished")
    if newest:
        err.print(f"[bold yellow]Note:[/] the newest train run, {newest['run_name']} "
                  f"({newest['run_id']}), {newest['description']}; this is the latest finished "
                  "one.", highlight=False)


_EXT_SHOWN = ("ext_cindex_harrell", "ext_cindex_uno", "ext_ibs", "ext_cindex_wolbers")


def _evaluations(uri: str, experiment: str, fmt: BoardFormat) -> None:
    from mmrisk.tracking import evaluation_runs

    try:
        runs = evaluation_runs(uri, experiment)
    except MMRiskError as e:
        fail(str(e))
    if runs.empty:
        fail(f"experiment {experiment!r} has no evaluation run yet; run `mmrisk evaluate`")
    if fmt == BoardFormat.csv:
        typer.echo(runs.to_csv(index=False), nl=False)
        return
    shown = [c for c in runs.columns if c in _EXT_SHOWN or (
        c.startswith(("ext_oe_", "ext_calib_slope_", "ext_cif_oe_"))
        and not c.endswith(("_lo", "_hi")))]
    table = runs[["run_id", "registered_model", "model_version", "data_fingerprint",
                  "n_patients", "n_events"]].copy()
    table["apparent"] = [
        "development data" if dev else "calibration" if cal else ""
        for dev, cal in zip(runs["development_data"], runs["apparent_calibration"], strict=True)]
    for c in shown:
        table[c] = [fmt_ci(r[c], r.get(f"{c}_lo"), r.get(f"{c}_hi")) for _, r in runs.iterrows()]
    table = table.rename(columns={
        "registered_model": "model", "model_version": "version", "data_fingerprint": "data",
        "n_patients": "patients", "n_events": "events",
        **{c: c.removeprefix("ext_") for c in shown}})
    if fmt == BoardFormat.markdown:
        typer.echo(markdown(table))
        return
    out.print(df_table(table, f"Evaluations in {experiment} (newest first; ext_ metrics with "
                              "95% bootstrap CI; --format csv for every column)",
                       whole=("run_id",)))
