"""What ``mmrisk evaluate`` adds for the TRIPOD+AI report: cohort summaries and ``report.html``.

An evaluation run stores, beside its metrics, summaries of the cohort it evaluated (never rows):

- ``table1.csv``: Table 1 of the evaluated participants (:func:`mmrisk.cohort.table1`, the same
  columns and grouping as the development Table 1 of the train run), shown side by side with it;
- ``profile.json``: the predictor profile (:func:`mmrisk.predict.training_profile` of the model's
  checked input columns), compared with the development profile the model stores (TRIPOD+AI
  item 20c);
- ``cohort.json``: years of transplant (first and last; years only), number of centres, median
  follow-up by reverse Kaplan-Meier (lifelines) and whether the data were a registry extract.

:func:`log_evaluation_report` then builds the report of the evaluated model covering its
development run and this evaluation (:func:`mmrisk.workflows.write_report`), writes it into the
evaluation's output folder and logs it with the evaluation run. Both are called once, from
:func:`mmrisk.workflows.evaluate`; a report that cannot be built never fails the evaluation.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.cohort import table1
from mmrisk.predict import training_profile

__all__ = ["cohort_facts", "log_evaluation_report", "write_cohort_summaries"]

log = logging.getLogger(__name__)

#: Files of an evaluation's output folder that the report reads.
SUMMARY_FILES = ("table1.csv", "profile.json", "cohort.json")
REPORT_FILE = "report.html"


def _reverse_km_median(time: np.ndarray, event: np.ndarray) -> float | None:
    """Median follow-up by reverse Kaplan-Meier (censoring as the event); ``None`` if not
    reached."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(np.asarray(time, float), ~np.asarray(event).astype(bool))
    med = float(km.median_survival_time_)
    return med if math.isfinite(med) else None


def cohort_facts(table: pd.DataFrame, y: np.ndarray, *, registry: bool) -> dict[str, Any]:
    """Period, centres and follow-up of a cohort, as a report shows them (no dates, no ids).

    Parameters
    ----------
    table : pandas.DataFrame
        The analysed rows (``transplant_year`` and, for a registry, ``site`` are used when
        present).
    y : numpy structured array
        Their outcome (``event``, ``time``).
    registry : bool
        Whether the rows come from a registry extract (rather than a flat table).

    Returns
    -------
    dict
        ``accrual_start`` and ``accrual_end`` (``"YYYY"`` or ``None``), ``n_centres`` (int or
        ``None``), ``median_followup_months`` (reverse Kaplan-Meier, or ``None``) and
        ``registry`` (bool).
    """
    years = (pd.to_numeric(table["transplant_year"], errors="coerce").dropna()
             if "transplant_year" in table else pd.Series(dtype=float))
    return {
        "accrual_start": str(int(years.min())) if len(years) else None,
        "accrual_end": str(int(years.max())) if len(years) else None,
        "n_centres": int(table["site"].nunique()) if registry and "site" in table else None,
        "median_followup_months": (_reverse_km_median(y["time"], y["event"]) if len(y)
                                   else None),
        "registry": bool(registry),
    }


def write_cohort_summaries(out_dir: str | Path, ev: Any, *, registry: bool) -> list[Path]:
    """Write ``table1.csv``, ``profile.json`` and ``cohort.json`` of an evaluation cohort.

    Also removes a ``report.html`` left in ``out_dir`` by an earlier evaluation, so that the
    folder logged with this run never carries another run's report.

    Parameters
    ----------
    out_dir : str or path-like
        The evaluation's output folder (it exists).
    ev : EvaluationCohort
        The evaluated cohort (:func:`mmrisk.workflows.evaluation_cohort`; not imported here:
        :mod:`mmrisk.workflows._evaluate` imports this module).
    registry : bool
        Whether it was built from a registry extract (a flat table has no centres or years).

    Returns
    -------
    list of pathlib.Path
        The three files.
    """
    out = Path(out_dir)
    (out / REPORT_FILE).unlink(missing_ok=True)
    cohort = ev.cohort
    features = [f for f in cohort.features if f in ev.table.columns]
    paths = [out / name for name in SUMMARY_FILES]
    table1(ev.table, features, cohort.group_by).to_csv(paths[0], index=False)
    paths[1].write_text(json.dumps(training_profile(ev.X), indent=1), encoding="utf-8")
    facts = cohort_facts(ev.table, ev.y, registry=registry)
    paths[2].write_text(json.dumps(facts, indent=1), encoding="utf-8")
    return paths


def log_evaluation_report(run_id: str, out_dir: str | Path, *,
                          tracking_uri: str | None = None) -> Path | None:
    """Build the report of an evaluation run's model, write it to ``out_dir``, log it to the run.

    The report describes the evaluated model (the registered version, or the model run, named
    by the run's tags) with its development run and this evaluation. Never raises: a report
    that cannot be built is logged as a warning and the evaluation stands.

    Parameters
    ----------
    run_id : str
        The evaluation run (``mmrisk evaluate``).
    out_dir : str or path-like
        The evaluation's output folder; ``report.html`` is written there.
    tracking_uri : str, optional
        The store.

    Returns
    -------
    pathlib.Path or None
        ``out_dir/report.html``, or ``None`` when no report was written.
    """
    from mlflow.tracking import MlflowClient

    from mmrisk.tracking import resolve_tracking_uri
    from mmrisk.workflows._report import write_report

    store = resolve_tracking_uri(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=store)
        tags = client.get_run(run_id).data.tags
        if tags.get("registered_model") and tags.get("model_version"):
            uri = f"models:/{tags['registered_model']}/{tags['model_version']}"
        else:
            uri = f"runs:/{tags['source_run_id']}/model"
        path = write_report(Path(out_dir) / REPORT_FILE, model_uri=uri,
                            evaluation_run_ids=[run_id], tracking_uri=store)
        client.log_artifact(run_id, str(path))
    except Exception as e:  # noqa: BLE001 - a report must never fail the evaluation it describes
        log.warning("report.html was not written for evaluation run %s: %s", run_id, e)
        return None
    return path
