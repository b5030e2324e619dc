"""What both train (and both evaluate) workflows, survival and competing risks, record the same way.

Run facts (git commit), the leaderboard table, figures logged to the active run, and which rows
the logged model is fitted on (``final_fit``).
"""

from __future__ import annotations

import subprocess
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from mmrisk.config import HOLDOUT_SCHEMES, ExperimentConfig
from mmrisk.evaluation import DEFAULT_SUBGROUPS, CVResult, subgroup_frame

__all__ = ["available_subgroups", "development_data", "evaluation_note", "final_fit_rows",
           "leaderboard", "model_pipeline"]


def git_commit() -> str:
    """The checked-out commit of the working directory, or ``unknown``."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def leaderboard(cv: CVResult) -> pd.DataFrame:
    """One row per model and metric with the value, its 95% CI and the difference vs baseline.

    Parameters
    ----------
    cv : CVResult
        Result of :func:`mmrisk.evaluation.cross_validate`.

    Returns
    -------
    pandas.DataFrame
        ``model``, ``metric``, value and interval columns, ``diff_vs_baseline``, ``diff_lo``,
        ``diff_hi``.
    """
    board = cv.metrics.copy()
    if len(cv.differences):
        diffs = cv.differences.rename(columns={"diff": "diff_vs_baseline", "lo": "diff_lo",
                                               "hi": "diff_hi"})
        board = board.merge(diffs, on=["model", "metric"], how="left")
    return board


def log_figure(fig: Any, name: str) -> None:
    """Log ``fig`` to the active run as ``figures/<name>.png``."""
    mlflow.log_figure(fig, f"figures/{name}.png")


def final_fit_rows(config: ExperimentConfig, splits: list) -> tuple[np.ndarray | None, str]:
    """The rows the logged model is fitted on, and what they are.

    Parameters
    ----------
    config : ExperimentConfig
        Its ``final_fit`` and validation scheme.
    splits : list of Split
        The run's splits.

    Returns
    -------
    rows : ndarray or None
        Positions of the development rows, or None for every row.
    label : str
        ``"development"`` or ``"all"``.
    """
    scheme = config.validation.scheme
    choice = config.final_fit or ("development" if scheme in HOLDOUT_SCHEMES else "all")
    if choice == "development" and scheme in HOLDOUT_SCHEMES:
        return np.asarray(splits[0].train_idx), "development"
    return None, "all"


def fit_tags(config: ExperimentConfig, label: str) -> dict[str, str]:
    """Run tags saying which rows the logged model was fitted on (and a note when needed)."""
    tags = {"final_fit": label}
    if label == "all" and config.validation.scheme in HOLDOUT_SCHEMES:
        tags["note"] = ("final_fit: all: this model was refitted on every row; the test_ "
                        "metrics describe the fit on the development rows")
    return tags


def available_subgroups(table: pd.DataFrame) -> list[str]:
    """The default subgroups (``evaluation.DEFAULT_SUBGROUPS``) that ``table`` can label.

    Parameters
    ----------
    table : pandas.DataFrame
        The analysis table.

    Returns
    -------
    list of str
        Subgroup names for :func:`mmrisk.evaluation.subgroup_frame`.
    """
    wanted = []
    for name in DEFAULT_SUBGROUPS:
        try:
            subgroup_frame(table.head(5), subgroups=[name])
        except Exception:  # noqa: BLE001 - a subgroup whose columns this cohort lacks
            continue
        wanted.append(name)
    return wanted


def development_data(source: dict, fingerprint: str) -> bool:
    """Whether the evaluation data are the model's own development data (same fingerprint).

    Parameters
    ----------
    source : dict
        :func:`mmrisk.tracking.model_source` of the model (its ``data_fingerprint``).
    fingerprint : str
        The evaluation cohort's data fingerprint.

    Returns
    -------
    bool
        True when the train run recorded the same fingerprint.
    """
    return bool(source.get("data_fingerprint")) and source["data_fingerprint"] == fingerprint


def evaluation_note(apparent: bool, development: bool) -> str:
    """The caveat shown with an evaluation whose numbers are not an external validation.

    Parameters
    ----------
    apparent : bool
        The model was recalibrated on these data.
    development : bool
        These are the data the model was trained on.

    Returns
    -------
    str
        The note, or ``""``.
    """
    if development:
        return ("these are the model's development data (the same data fingerprint as its "
                "train run): the performance here is apparent, not an external validation; "
                "use the train run's cross-validated metrics for internal validation")
    if apparent:
        return ("this model was recalibrated on these data: its calibration here is apparent "
                "(fitted on the same patients), not a validation")
    return ""


def model_pipeline(config: ExperimentConfig, name: str) -> str:
    """The feature pipeline of a configured model: its own, its kind's or the config's.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment config.
    name : str
        A key of ``config.models`` (a survival or a competing-risks kind).

    Returns
    -------
    str
        The pipeline's name or path.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        If the model's kind is in neither catalogue.
    """
    from mmrisk.models import COMPETING_MODEL_KINDS, model_kind

    spec = config.models[name]
    kind = COMPETING_MODEL_KINDS.get(spec.kind) or model_kind(spec.kind)
    return kind.pipeline_for(spec.pipeline, config.pipeline)
