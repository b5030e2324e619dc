"""Experiment configs: pydantic models, validated on load with errors naming the file and key.

A config is one YAML file with the blocks ``data``, ``cohort``, ``pipeline``, ``models``,
``validation``, ``horizons``, ``tracking`` and ``seed`` (docs/architecture.md "Contracts").
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mmrisk.exceptions import ConfigError

__all__ = [
    "CohortSpec",
    "DataSpec",
    "ExperimentConfig",
    "ModelSpec",
    "TrackingSpec",
    "ValidationSpec",
    "ExplainSpec",
    "config_hash",
    "load_cohort_spec",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortSpec(_Strict):
    """Who is in the analysis, from when the clock runs, and which endpoint is counted.

    Attributes
    ----------
    landmark : {"lm_start", "post_asct", "induction"}
        Time zero. ``lm_start``: first lenalidomide maintenance dose (LM patients only: the
        population "progression on maintenance"). ``post_asct``: ASCT + ``landmark_days``;
        patients alive, progression-free and followed then; LM status as known on that day (the
        comparison of LM vs no LM free of immortal-time bias). ``induction``: induction start,
        as the published registry analysis (LM group by later receipt: immortal-time biased).
    landmark_days : int
        Days after ASCT for ``post_asct`` (default 180).
    endpoint : {"pfs", "ttp", "os"}
        PFS = progression or death; TTP = progression, death censored; OS = death.
    data_cut : date or None
        Administrative censoring date (ISO). Default: none beyond each patient's last contact.
    group_by : str or None
        Column for Table 1 and the Kaplan–Meier figure. Default ``lm_group`` for ``induction``
        and ``post_asct``, ``lm_schedule`` for ``lm_start``.
    site_as_feature : bool
        Use the centre as a feature (default: metadata only, for splitting).
    exclude_features : list of str
        Feature columns to leave out.
    """

    landmark: Literal["lm_start", "post_asct", "induction"] = "lm_start"
    landmark_days: int = Field(180, ge=0, le=3650)
    endpoint: Literal["pfs", "ttp", "os"] = "pfs"
    data_cut: str | None = None
    group_by: str | None = None
    site_as_feature: bool = False
    exclude_features: list[str] = Field(default_factory=list)

    @field_validator("data_cut")
    @classmethod
    def _iso_date(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import datetime as dt

        try:
            dt.date.fromisoformat(str(v))
        except ValueError:
            raise ValueError(f"must be an ISO date YYYY-MM-DD, got {v!r}") from None
        return str(v)


class DataSpec(_Strict):
    """Where the data come from: a registry extract (default: the synthetic one) or a flat table.

    Exactly one of ``extract`` (a folder or workbook of registry tables) and ``table`` (a flat
    analysis table with ``time``, ``event`` and feature columns) is used; with neither, the
    synthetic registry (``simulate``) is written to ``synthetic_dir`` on first use.
    """

    extract: str | None = None
    synthetic_dir: str = "data/synthetic"
    simulate_n: int = Field(1256, ge=50)
    simulate_seed: int = 42
    table: str | None = None
    time: str | None = None
    event: str | None = None
    features: list[str] | None = None
    split_column: str | None = None
    id_column: str | None = None
    group_column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.extract and self.table:
            raise ValueError("give either 'extract' (registry tables) or 'table' (flat "
                             "analysis table), not both")
        if self.table and not (self.time and self.event):
            raise ValueError("a flat 'table' needs 'time' and 'event' column names")
        return self


class ModelSpec(_Strict):
    """One model of the catalogue: its kind, fixed parameters and an optional grid."""

    kind: str
    pipeline: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] | None = None


class ValidationSpec(_Strict):
    """Resampling: repeated stratified K-fold (default 5 x 2), temporal, by site or predefined."""

    scheme: Literal["kfold", "temporal", "by_site", "predefined"] = "kfold"
    n_splits: int = Field(5, ge=2, le=20)
    n_repeats: int = Field(2, ge=1, le=50)
    test_from_year: int | None = None
    n_bootstrap: int = Field(200, ge=0, le=10_000)
    inner_cv: int = Field(3, ge=2, le=10)


class TrackingSpec(_Strict):
    """MLflow: experiment, registered model name and the metric that picks the best model."""

    experiment: str = "mmrisk"
    registered_model: str = "mmrisk-progression"
    select_metric: str = "cv_cindex_uno"
    tracking_uri: str | None = None


class ExplainSpec(_Strict):
    """Global SHAP explanations logged by ``train``: on a sample of this many patients."""

    n_samples: int = Field(200, ge=0, le=100_000)


class ExperimentConfig(_Strict):
    """A whole ``mmrisk train`` experiment."""

    name: str = "default"
    seed: int = 42
    data: DataSpec = Field(default_factory=DataSpec)
    cohort: CohortSpec = Field(default_factory=CohortSpec)
    pipeline: str = "default"
    models: dict[str, ModelSpec]
    baseline: str | None = "staging"
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    horizons: list[int] = Field(default_factory=lambda: [12, 24, 36, 60])
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    explain: ExplainSpec = Field(default_factory=ExplainSpec)

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v: list[int]) -> list[int]:
        if not v or any(h <= 0 for h in v) or sorted(set(v)) != list(v):
            raise ValueError(f"must be increasing positive whole months, got {v}")
        return v

    @model_validator(mode="after")
    def _baseline_known(self) -> ExperimentConfig:
        if not self.models:
            raise ValueError("'models' must name at least one model")
        if self.baseline is not None and self.baseline not in self.models:
            raise ValueError(f"baseline {self.baseline!r} is not one of the models "
                             f"({', '.join(self.models)})")
        return self


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of blocks (data, cohort, models, ...)")
    return raw


def _problems(path: Path, e: ValidationError, prefix: str = "") -> ConfigError:
    text = "; ".join(f"key {prefix}{_where(err['loc'])}: {err['msg']}" for err in e.errors())
    return ConfigError(f"{path}: {text}")


def load_cohort_spec(path: str | Path) -> CohortSpec:
    """The ``cohort:`` block of a config file (defaults if the block is absent)."""
    path = Path(path)
    raw = _read_yaml(path)
    try:
        return CohortSpec.model_validate(raw.get("cohort") or {})
    except ValidationError as e:
        raise _problems(path, e, "cohort.") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate an experiment config.

    Parameters
    ----------
    path : str or Path
        A YAML file.
    overrides : dict, optional
        Top-level keys replacing those of the file (e.g. from the command line).

    Returns
    -------
    ExperimentConfig
        The validated config; relative data paths are resolved against the current directory.

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or a key is unknown or has a wrong value; the
        message names the file and the key.
    """
    path = Path(path)
    raw = _read_yaml(path)
    raw.update(overrides or {})
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as e:
        raise _problems(path, e) from None


def config_hash(config: ExperimentConfig) -> str:
    """A short SHA-256 of the validated config (stable key order), for run tags."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
