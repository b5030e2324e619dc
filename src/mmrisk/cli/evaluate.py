"""``mmrisk evaluate`` and ``mmrisk recalibrate``: a registered model on a new cohort."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mmrisk.cli._common import (
    DATA_HELP,
    MODEL_HELP,
    STORE_HELP,
    df_table,
    err,
    fail,
    out,
    progress_bars,
)
from mmrisk.exceptions import MMRiskError

_OUTCOME_DATA_HELP = (DATA_HELP.removesuffix(".") + ", with the outcome: the cohort's time "
                      "and event (a flat table: the model's time and event columns).")
_SHOWN = ("cindex_harrell", "cindex_uno", "ibs", "cindex_wolbers")  # wolbers: competing risks


def _horizons(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        fail(f"--horizons {text!r}: give whole months separated by commas, e.g. 12,24,36")


def evaluate(
    model: Annotated[str, typer.Option("--model", help=MODEL_HELP)],
    data: Annotated[Path, typer.Option("--data", help=_OUTCOME_DATA_HELP)],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    horizons: Annotated[str | None, typer.Option(
        "--horizons", help="Months, comma-separated (default: the model's).")] = None,
    n_bootstrap: Annotated[int, typer.Option(
        "--n-bootstrap", min=0, help="Bootstrap replicates of every 95% interval.")] = 200,
    time: Annotated[str | None, typer.Option(
        "--time", help="Time column of a flat table (default: the model's).")] = None,
    event: Annotated[str | None, typer.Option(
        "--event", help="Event column of a flat table (default: the model's).")] = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)] = None,
) -> None:
    """Validate a fixed model on patients it has never seen, whose outcomes are now known.

    External or temporal validation: discrimination (Harrell's and Uno's C, time-dependent
    AUC), calibration (slope, ICI, E50/E90, observed/expected at each horizon, D-calibration),
    Brier scores, decision curves (net benefit against treat-all), subgroups (sex, age band,
    R-ISS, centre, era) and centre heterogeneity, each with a 95% bootstrap interval. Writes
    [bold]metrics.csv[/], [bold]decision_curve.csv[/], [bold]subgroups.csv[/],
    [bold]exclusions.csv[/], [bold]evaluation.json[/], the cohort's [bold]table1.csv[/],
    [bold]profile.json[/] and [bold]cohort.json[/], figures/ and the TRIPOD+AI
    [bold]report.html[/] (development beside this evaluation), and logs an MLflow run of type
    evaluation in the model's experiment. A competing-risks model (cif_<h>m) is evaluated
    with Wolbers' C, CIF AUC/Brier, calibration against Aalen–Johansen ([bold]calibration.csv[/],
    [bold]risk_groups.csv[/]), subgroups and its own report; no decision curves for it yet.
    """
    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.workflows import evaluate as run

    uri = resolve_tracking_uri(tracking_uri)
    try:
        with progress_bars(transient=True) as tick:
            res = run(model, data, out_dir, horizons=_horizons(horizons),
                      n_bootstrap=n_bootstrap, time=time, event=event, tracking_uri=uri,
                      progress=tick)
    except MMRiskError as e:
        fail(str(e))
    f = res.facts
    out.print(f"Evaluated {model} (version {f['model_version'] or '—'}) on {f['n_patients']:,} "
              f"patients, {f['n_events']:,} events"
              + (f" and {f['n_competing_events']:,} competing events"
                 if "n_competing_events" in f else "")
              + f" ({f['n_excluded']:,} not evaluated: see exclusions.csv).")
    if f["note"]:
        err.print(f"[bold yellow]Note:[/] {f['note']}.", highlight=False)
    m = res.metrics
    wanted = [f"ext_{k}" for k in _SHOWN] + [
        n for n in m["metric"] if n.startswith(("ext_oe_", "ext_calib_slope_", "ext_cif_auc_",
                                                "ext_cif_oe_"))]
    rows = m[m["metric"].isin(wanted)].copy()
    for c in ("value", "lo", "hi"):
        rows[c] = rows[c].map(lambda v: "—" if v != v else f"{v:.3f}")
    title = ("Apparent performance on the development data" if f.get("development_data")
             else "External validation")
    out.print(df_table(rows, f"{title} (95% bootstrap intervals)"))
    het = res.heterogeneity
    if het:
        out.print(f"Centre heterogeneity of C: pooled {het['cindex_pooled']:.3f} "
                  f"[{het['cindex_pooled_lo']:.3f}, {het['cindex_pooled_hi']:.3f}], "
                  f"I² {het['i2']:.0f}%, 95% prediction interval [{het['cindex_pi_lo']:.3f}, "
                  f"{het['cindex_pi_hi']:.3f}] over {int(het['n_centres'])} centres.")
    out.print(f"Wrote {len(res.files)} files to {out_dir}"
              + (f"; MLflow run {res.run_id}." if res.run_id else "."))


class RecalibrationMethod(StrEnum):
    baseline = "baseline"
    intercept = "intercept"
    slope = "slope"


def recalibrate(
    model: Annotated[str, typer.Option(
        "--model", help="A registered model: models:/NAME/VERSION or models:/NAME@ALIAS.")],
    data: Annotated[Path, typer.Option("--data", help=_OUTCOME_DATA_HELP)],
    method: Annotated[RecalibrationMethod, typer.Option(
        "--method", help="baseline (re-estimate the baseline survival), intercept "
        "(calibration-in-the-large) or slope (intercept and slope on the linear predictor).")]
    = RecalibrationMethod.slope,
    time: Annotated[str | None, typer.Option("--time", help="Time column of a flat table.")]
    = None,
    event: Annotated[str | None, typer.Option("--event", help="Event column of a flat table.")]
    = None,
    tracking_uri: Annotated[str | None, typer.Option("--tracking-uri", help=STORE_HELP)] = None,
) -> None:
    """Update a model for a new setting and register the update as a new version.

    The model is not refitted: the baseline survival, a calibration intercept, or intercept and
    slope on its linear predictor are re-estimated on the new cohort. The new version records
    its parent version, the method and the data fingerprint; the parent is untouched. Evaluate
    the update on [italic]other[/] patients: on the same ones its calibration is apparent.
    """
    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.workflows import recalibrate_model

    try:
        res = recalibrate_model(model, data, method.value, tracking_uri=resolve_tracking_uri(
            tracking_uri), time=time, event=event)
    except MMRiskError as e:
        fail(str(e))
    s = res.summary

    def estimate(name: str) -> str:
        value, se = s[name], s.get(f"{name}_se", float("nan"))
        if se == se:  # a fitted parameter: its Wald 95% interval
            return f"{name} {value:.3f} [{value - 1.96 * se:.3f}, {value + 1.96 * se:.3f}]"
        return f"{name} {value:.3f} (fixed)"

    out.print(f"Recalibrated {model} ({res.method}) on {res.n_patients:,} patients, "
              f"{res.n_events:,} events: {estimate('intercept')}, {estimate('slope')} "
              "(95% Wald intervals).")
    if res.n_events < 100:
        err.print(f"[bold yellow]Note:[/] {res.n_events} events: an update estimated on fewer "
                  "than 100 events is imprecise (Collins, Ogundimu & Altman 2016 recommend at "
                  "least 100, preferably 200, for validating a prognostic model); evaluate it "
                  "on other patients before use.", highlight=False)
    out.print(f"Registered [bold]{res.name}[/] version {res.version} (parent version "
              f"{res.parent_version}): [bold]{res.uri}[/]")
