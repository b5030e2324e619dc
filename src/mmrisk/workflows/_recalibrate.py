"""``mmrisk recalibrate``: update a registered model for a new setting (TRIPOD+AI item 24).

The model is not refitted: on the new cohort, the baseline survival (``baseline``), a
calibration intercept (``intercept``) or intercept and slope on the linear predictor
(``slope``) are re-estimated (:func:`mmrisk.models.recalibrate`). The update is registered as a
new version of the same registered model, tagged with its parent version, the method and the
data fingerprint; the parent version and its aliases are untouched. Evaluating the update on the
same data reports that its calibration is apparent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmrisk.exceptions import MMRiskError
from mmrisk.models import RECALIBRATION_METHODS, recalibrate, split_model
from mmrisk.workflows._evaluate import evaluation_cohort

__all__ = ["RecalibrationResult", "recalibrate_model"]


@dataclass
class RecalibrationResult:
    """The registered update.

    Parameters
    ----------
    name : str
        Registered model name.
    version : int
        The new version.
    parent_version : int
        The version it updates.
    method : str
        ``baseline``, ``intercept`` or ``slope``.
    summary : dict
        Fitted recalibration values (intercept, slope, their standard errors, sizes).
    run_id : str
        The MLflow run that logged it.
    data_fingerprint : str
        The recalibration cohort.
    n_patients, n_events : int
        Its size.
    """

    name: str
    version: int
    parent_version: int
    method: str
    summary: dict
    run_id: str
    data_fingerprint: str
    n_patients: int
    n_events: int

    @property
    def uri(self) -> str:
        """``models:/NAME/VERSION`` of the update."""
        return f"models:/{self.name}/{self.version}"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def recalibrate_model(model_uri: str, data_path: str | Path, method: str, *,
                      tracking_uri: str | None = None, time: str | None = None,
                      event: str | None = None) -> RecalibrationResult:
    """Recalibrate a registered model on a new cohort and register the update.

    Parameters
    ----------
    model_uri : str
        ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` (a registered model).
    data_path : str or path-like
        A registry extract or a flat table with outcomes (as for ``mmrisk evaluate``).
    method : {"baseline", "intercept", "slope"}
        What is re-estimated.
    tracking_uri : str, optional
        The store.
    time, event : str, optional
        Outcome columns of a flat table (default: the model's).

    Returns
    -------
    RecalibrationResult
        The new version and the fitted values.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For an unknown method, a model URI that is not a registered version, or unusable data.
    """
    import mlflow

    from mmrisk.tracking import (
        RUN_TYPE_TAG,
        load_model,
        log_model,
        model_source,
        register_version,
        resolve_tracking_uri,
        using_store,
    )

    if method not in RECALIBRATION_METHODS:
        raise MMRiskError(f"--method {method!r}: use one of {', '.join(RECALIBRATION_METHODS)}")
    if not model_uri.startswith("models:/"):
        raise MMRiskError(f"{model_uri}: recalibrate a registered model (models:/NAME/VERSION "
                          "or models:/NAME@ALIAS); its update becomes a new version")
    store = resolve_tracking_uri(tracking_uri)
    loaded = load_model(model_uri, store)
    source = model_source(model_uri, store)
    ev = evaluation_cohort(loaded.meta, data_path, time=time, event=event)
    horizons = [int(h) for h in loaded.meta["horizons"]]
    updated = recalibrate(loaded.estimator, ev.X, ev.y, method=method,
                          reference_time=float(max(horizons)))
    summary = {k: _plain(v) for k, v in split_model(updated)[1].summary().items()}
    info = {"parent_version": source["version"], "parent_uri": model_uri, "method": method,
            "data_fingerprint": ev.fingerprint, **summary}
    meta = {**loaded.meta, "recalibration": info}
    tags = {RUN_TYPE_TAG: "recalibration", "registered_model": source["name"],
            "parent_version": str(source["version"]), "recalibration_method": method,
            "data_fingerprint": ev.fingerprint}
    with using_store(store):
        with mlflow.start_run(experiment_id=source["experiment_id"],
                              run_name=f"recalibrate-{source['name']}-v{source['version']}-"
                                       f"{method}", tags=tags) as run:
            mlflow.log_params({f"recal.{k}": v for k, v in summary.items()})
            logged = log_model(updated, ev.X, meta)
        mv = register_version(logged, source["name"], tags={
            "parent_version": str(source["version"]), "recalibration_method": method,
            "data_fingerprint": ev.fingerprint})
    return RecalibrationResult(source["name"], int(mv.version), int(source["version"]), method,
                               summary, run.info.run_id, ev.fingerprint, int(len(ev.y)),
                               int(np.sum(ev.y["event"])))
