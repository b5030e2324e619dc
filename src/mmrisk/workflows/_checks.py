"""Checks of a training cohort against its config, before any model is fitted.

``mmrisk train`` spends minutes fitting folds and bootstrap replicates; a cohort that cannot give
meaningful results must be refused first, with one message naming the column and the row, and
nothing logged: an empty cohort, horizons beyond the follow-up, or feature values a model's
pipeline passes on as missing, infinite or absurdly large (a ``passthrough`` pipeline imputes
nothing, and a scikit-survival estimator then fails deep in ``fit`` with a NumPy message).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from mmrisk.exceptions import MMRiskError

__all__ = ["check_training_data", "MAX_FEATURE_MAGNITUDE", "MIN_REPLICATES",
           "warn_few_replicates"]

log = logging.getLogger(__name__)

#: Bootstrap replicates below which 95% percentile intervals are rough: their ends are the
#: 2.5th and 97.5th of only a few values, move with the seed, and can even exclude the point
#: estimate. The toolkit's default; Efron and Tibshirani (An Introduction to the Bootstrap,
#: 1993) advise about 1,000 for percentile intervals.
MIN_REPLICATES = 200

#: Largest magnitude a feature may reach after its pipeline; beyond it a survival model's
#: exp(linear predictor) overflows (and no clinical measurement comes near it).
MAX_FEATURE_MAGNITUDE = 1e12


def _source(config: Any, extract_path: str | None) -> str:
    data = config.data
    if data.table and extract_path is None:
        return str(data.table)
    return str(extract_path or data.extract or data.synthetic_dir)


def _row_name(cohort: Any, position: int, flat: bool, id_column: str | None) -> str:
    pid = cohort.data["patient_id"].iloc[position]
    if flat and not id_column:
        return f"data row {pid}"
    return f"the row of {id_column if flat else 'patient_id'} {pid!r}"


def _check_not_empty(cohort: Any, source: str) -> None:
    if len(cohort.data):
        return
    flow = cohort.flow[cohort.flow["step"] == "excluded"].sort_values("n", ascending=False)
    why = "; ".join(f"{r.reason} ({r.n})" for r in flow.itertuples(index=False))
    raise MMRiskError(f"{source}: no patient is left in the cohort; excluded: "
                      f"{why or 'no rows in the data'}")


def _check_horizons(horizons: list[int], cohort: Any, source: str) -> None:
    longest = float(np.max(cohort.data["time"]))
    beyond = [h for h in horizons if h > longest]
    if beyond:
        raise MMRiskError(
            f"{source}: horizon(s) {', '.join(map(str, beyond))} months (config key horizons) "
            f"are beyond the longest follow-up of the cohort ({longest:.1f} months); survival "
            "there cannot be estimated or checked. Use horizons within the follow-up")


def _feature_pipeline(model: Any) -> Pipeline | None:
    pipe = getattr(model, "estimator", model)  # an unfitted grid search wraps the pipeline
    if isinstance(pipe, Pipeline) and len(pipe.steps) > 1:
        return clone(pipe[:-1])
    return None


def _bad_cells(names: list[str], Z: np.ndarray) -> tuple[list[str], np.ndarray] | None:
    """Columns with a missing, non-finite or huge value, and the rows holding one."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(Z) | (np.abs(Z) > MAX_FEATURE_MAGNITUDE)
    if not bad.any():
        return None
    return [names[c] for c in np.flatnonzero(bad.any(axis=0))], np.flatnonzero(bad.any(axis=1))


def _inputs_of(features: Pipeline, X: pd.DataFrame, outputs: list[str]) -> list[str]:
    from mmrisk.features import lineage

    try:
        lin = lineage(features, list(X.columns))
    except Exception:  # noqa: BLE001 - a step that cannot name its outputs: name the outputs
        return outputs
    return list(dict.fromkeys(c for o in outputs for c in lin.get(o, [o])))


def _problem(model: Any, X: pd.DataFrame, y: np.ndarray) -> tuple[list[str], np.ndarray] | None:
    """Input columns whose values reach the estimator missing, infinite or huge, and the rows."""
    features = _feature_pipeline(model)
    if features is None:
        Z = X.select_dtypes("number")
        return _bad_cells([str(c) for c in Z.columns], Z.to_numpy(dtype=float, na_value=np.nan))
    out = features.fit_transform(X, y)
    names = [str(c) for c in getattr(out, "columns", range(np.shape(out)[1]))]
    found = _bad_cells(names, np.asarray(out, dtype=float))
    return None if found is None else (_inputs_of(features, X, found[0]), found[1])


def _text(value: Any) -> str:
    return "(missing)" if pd.isna(value) else str(value)


def _check_values(name: str, pipeline_name: str, model: Any, cohort: Any, source: str,
                  flat_ids: tuple[bool, str | None]) -> None:
    X = cohort.X
    try:
        found = _problem(model, X, cohort.y)
    except ValueError as e:  # a transformer that refuses the values itself
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MMRiskError(f"{source}: the feature pipeline {pipeline_name!r} of model {name!r} "
                          f"cannot transform the cohort: {first}") from None
    if found is None:
        return
    inputs, rows = found
    first = rows[0]
    values = ", ".join(f"{c}={_text(X[c].iloc[first])}" for c in inputs if c in X.columns)
    more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
    raise MMRiskError(
        f"{source}: model {name!r} (pipeline {pipeline_name!r}) cannot use column(s) "
        f"{', '.join(map(repr, inputs))}: {_row_name(cohort, first, *flat_ids)} has {values}"
        f"{more}, which the pipeline passes on as a missing, infinite or too large value "
        f"(|x| > {MAX_FEATURE_MAGNITUDE:g}). Fill or fix these values, drop the rows, or use a "
        "pipeline that imputes missing values (e.g. 'default')")


def warn_few_replicates(n_bootstrap: int) -> None:
    """Log one warning when ``0 < n_bootstrap <`` :data:`MIN_REPLICATES`.

    Parameters
    ----------
    n_bootstrap : int
        Bootstrap replicates of every 95% interval (0: no intervals, no warning).
    """
    if 0 < n_bootstrap < MIN_REPLICATES:
        log.warning("%d bootstrap replicates give rough 95%% intervals (their ends move with "
                    "the seed and may exclude the estimate itself); use at least %d for "
                    "results you report", n_bootstrap, MIN_REPLICATES)


def check_training_data(config: Any, cohort: Any, models: dict[str, Any],
                        extract_path: str | None = None) -> None:
    """Refuse a cohort that cannot be trained on as configured, before anything is fitted.

    Also logs a warning when ``validation.n_bootstrap`` is below :data:`MIN_REPLICATES`.

    Parameters
    ----------
    config : ExperimentConfig
        The validated config (horizons, pipelines, data source).
    cohort : Cohort
        The analysis data (:func:`mmrisk.cohort.load_cohort`).
    models : dict of str to estimator
        The unfitted models by name (:func:`mmrisk.models.make_model`); each one's feature
        pipeline is fitted on the whole cohort once to see what the model would receive.
    extract_path : str, optional
        The extract that replaced the config's data source, for messages.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the cohort has no patient (the message lists the exclusion reasons), a horizon is
        beyond the longest follow-up, or a model's feature pipeline yields a missing,
        infinite or huge value (the message names the model, the input column, the row and
        the value).
    """
    from mmrisk.workflows._runfacts import model_pipeline

    source = _source(config, extract_path)
    warn_few_replicates(config.validation.n_bootstrap)
    _check_not_empty(cohort, source)
    _check_horizons(list(config.horizons), cohort, source)
    flat = bool(config.data.table and extract_path is None)
    for name, model in models.items():
        _check_values(name, model_pipeline(config, name), model, cohort, source,
                      (flat, config.data.id_column))
