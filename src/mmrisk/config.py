"""Experiment configs: pydantic models, validated on load with errors naming the file and key.

A config is one YAML file with the blocks ``data``, ``cohort``, ``pipeline``, ``models``,
``validation``, ``horizons``, ``tracking`` and ``seed`` (docs/architecture.md "Contracts").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
    "COMPETING_KINDS",
    "COMPETING_METRIC",
    "config_hash",
    "load_horizons",
    "load_cohort_spec",
    "load_config",
    "selectable_metrics",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortSpec(_Strict):
    """Who is in the analysis, from when the clock runs, and which endpoint is counted.

    Parameters
    ----------
    landmark : {"lm_start", "post_asct", "induction"}, default="lm_start"
        Time zero. ``lm_start``: first lenalidomide maintenance dose (LM patients only: the
        population "progression on maintenance"). ``post_asct``: ASCT + ``landmark_days``;
        patients alive, progression-free and followed then; LM status as known on that day (the
        comparison of LM vs no LM free of immortal-time bias). ``induction``: induction start,
        as the published registry analysis (LM group by later receipt: immortal-time biased).
    landmark_days : int, default=180
        Days after ASCT for ``post_asct`` (0 to 3650; ignored by the other landmarks).
    endpoint : {"pfs", "ttp", "os", "progression_cr"}, default="pfs"
        PFS = progression or death; TTP = progression, death censored; OS = death;
        ``progression_cr``: competing risks, progression (1) vs death without progression (2),
        trained with the competing-risks model kinds (:data:`COMPETING_KINDS`).
    data_cut : str or None, default=None
        Administrative censoring date, ISO ``YYYY-MM-DD``. ``None``: no censoring beyond each
        patient's last contact.
    group_by : str or None, default=None
        Column for Table 1 and the Kaplan–Meier figure. ``None``: ``lm_group`` for
        ``induction`` and ``post_asct``, ``lm_schedule`` for ``lm_start``.
    site_as_feature : bool, default=False
        Use the centre as a feature (column ``site_feature``); otherwise the centre is metadata
        only, for splitting.
    exclude_features : list of str, default=[]
        Feature columns to leave out (names that are not features are ignored).
    """

    landmark: Literal["lm_start", "post_asct", "induction"] = "lm_start"
    landmark_days: int = Field(180, ge=0, le=3650)
    endpoint: Literal["pfs", "ttp", "os", "progression_cr"] = "pfs"
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

    At most one of ``extract`` (a folder or workbook of registry tables) and ``table`` (a flat
    analysis table with ``time``, ``event`` and feature columns) may be given; with neither,
    the synthetic registry (``simulate``) is written to ``synthetic_dir`` on first use.

    Parameters
    ----------
    extract : str or None, default=None
        Path of a registry extract: a folder of CSV/Parquet tables or an Excel workbook.
    synthetic_dir : str, default="data/synthetic"
        Folder of the synthetic registry used when neither ``extract`` nor ``table`` is given.
    simulate_n : int, default=1256
        Patients of the synthetic registry when it is simulated (at least 50).
    simulate_seed : int, default=42
        Seed of the synthetic registry when it is simulated.
    table : str or None, default=None
        Path of a flat analysis table (``.csv``, ``.parquet`` or ``.xlsx``); needs ``time`` and
        ``event``.
    time : str or None, default=None
        Column of ``table`` with the follow-up time (months, >= 0).
    event : str or None, default=None
        Column of ``table`` with the event indicator (0/1 or true/false).
    features : list of str or None, default=None
        Feature columns of ``table``. ``None``: every column not named in this block. An
        empty list is an error.
    split_column : str or None, default=None
        Column of ``table`` holding ``train``/``test``, for the ``predefined`` validation
        scheme.
    id_column : str or None, default=None
        Column of ``table`` with patient identifiers. ``None``: row numbers from 1.
    group_column : str or None, default=None
        Column of ``table`` that groups Table 1 and the Kaplan–Meier figure.
    competing_risks : bool, default=False
        ``event`` holds competing-risks codes: 0 = censored, 1 = event of interest,
        2 = competing event (any other value is an error naming the rows); the models must be
        of the competing-risks kinds (:data:`COMPETING_KINDS`).
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
    competing_risks: bool = False

    @field_validator("features")
    @classmethod
    def _some_features(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("is empty; list the feature columns, or leave the key out to use "
                             "every column not named in this block")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if self.extract and self.table:
            raise ValueError("give either 'extract' (registry tables) or 'table' (flat "
                             "analysis table), not both")
        if self.table and not (self.time and self.event):
            raise ValueError("a flat 'table' needs 'time' and 'event' column names")
        if self.competing_risks and not self.table:
            raise ValueError("'competing_risks' describes the event codes of a flat 'table'; "
                             "for a registry extract set cohort.endpoint: progression_cr")
        return self


class ModelSpec(_Strict):
    """One model of the catalogue: its kind, fixed parameters and an optional grid.

    Parameters
    ----------
    kind : str
        A model kind of the catalogue (:data:`mmrisk.models.MODEL_KINDS`), e.g. ``"cox"``,
        ``"coxnet"``, ``"rsf"``, ``"gbsa"`` or ``"staging"``.
    pipeline : str or None, default=None
        This model's feature pipeline (a name or path of a pipeline file). ``None``: the
        config's ``pipeline`` (or the kind's own, for kinds defined by their pipeline).
    params : dict of str to object, default={}
        Parameters of the survival model, overriding the catalogue defaults.
    grid : dict of str to list or None, default=None
        Hyperparameter grid searched by inner cross-validation (``validation.inner_cv``
        folds); see :func:`mmrisk.models.make_model`.
    """

    kind: str
    pipeline: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] | None = None


#: Validation schemes with one development/test split: the logged model is the development fit.
HOLDOUT_SCHEMES = ("temporal", "predefined")


class ValidationSpec(_Strict):
    """Resampling: repeated stratified K-fold (default 5 x 2), temporal, by site or predefined.

    Parameters
    ----------
    scheme : {"kfold", "temporal", "by_site", "predefined"}, default="kfold"
        Resampling scheme of :func:`mmrisk.evaluation.make_splits`.
    n_splits : int, default=5
        Folds per repeat for ``kfold`` (2 to 20).
    n_repeats : int, default=2
        Repeats for ``kfold`` (1 to 50).
    test_from_year : int or None, default=None
        First transplant year of the test set for ``temporal``. ``None``: the cut that puts
        closest to 25% of the patients in the test set.
    n_bootstrap : int, default=200
        Bootstrap replicates of the metric intervals (0 to 10000; 0: no intervals).
    inner_cv : int, default=3
        Inner folds for hyperparameter grids and the ``coxnet`` penalty (2 to 10).
    n_jobs : int, default=-1
        Processes that fit fold x model tasks in parallel (-1: all cores, 1: serial); the
        results are identical either way. The environment variable ``MMRISK_N_JOBS`` overrides
        it (e.g. ``1`` under a test runner that is already parallel).
    engine : {"local", "spark"}, default="local"
        Where the fold x model fits (and the grid points of nested CV) run: ``local`` worker
        processes (``n_jobs``) or Spark tasks (``mmrisk train --engine spark --master URL``
        wins over it); the results are the same.
    """

    scheme: Literal["kfold", "temporal", "by_site", "predefined"] = "kfold"
    n_splits: int = Field(5, ge=2, le=20)
    n_repeats: int = Field(2, ge=1, le=50)
    test_from_year: int | None = None
    n_bootstrap: int = Field(200, ge=0, le=10_000)
    inner_cv: int = Field(3, ge=2, le=10)
    n_jobs: int = Field(-1, ge=-1)
    engine: Literal["local", "spark"] = "local"

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs(cls, v: int) -> int:
        if v == 0:
            raise ValueError("must be -1 (all cores) or a positive number of processes")
        return v

    @property
    def effective_n_jobs(self) -> int:
        """``n_jobs``, unless the environment variable ``MMRISK_N_JOBS`` says otherwise."""
        env = os.environ.get("MMRISK_N_JOBS")
        return int(env) if env and env.lstrip("-").isdigit() and int(env) != 0 else self.n_jobs


class TrackingSpec(_Strict):
    """MLflow: experiment, registered model name and the metric that picks the best model.

    Parameters
    ----------
    experiment : str, default="mmrisk"
        MLflow experiment the runs are logged to.
    registered_model : str, default="mmrisk-progression"
        Name under which the best model is registered.
    select_metric : str, default="cv_cindex_uno"
        Metric (as named in the cross-validation results) that picks the model to register;
        its direction (higher or lower is better) follows the metric. Checked when the config
        is loaded: ``<scope>_<metric>`` with scope ``cv`` for ``kfold`` and ``test`` for the
        holdout schemes (the default takes the scheme's scope).
    tracking_uri : str or None, default=None
        MLflow tracking URI, used when neither ``--tracking-uri`` nor ``MLFLOW_TRACKING_URI``
        gives one.
    """

    experiment: str = "mmrisk"
    registered_model: str = "mmrisk-progression"
    select_metric: str = "cv_cindex_uno"
    tracking_uri: str | None = None


class ExplainSpec(_Strict):
    """Global SHAP explanations logged by ``train``: on a sample of this many patients.

    Parameters
    ----------
    n_samples : int, default=200
        Patients sampled (without replacement) for the explanations; 0 logs none.
    """

    n_samples: int = Field(200, ge=0, le=100_000)


#: Model kinds for a competing-risks outcome (``mmrisk.models.COMPETING_MODEL_KINDS``; config
#: sits below the models layer, so the names are repeated here and a test keeps them equal).
COMPETING_KINDS = ("cs_cox", "cs_coxnet", "finegray")
#: Competing-risks metric names (``<scope>_<metric>``): the only ones a competing run logs.
COMPETING_METRIC = re.compile(r"^(cv|test)_(cindex_wolbers|cif_(auc|brier|ici|oe)_\d+m)$")


class ExperimentConfig(_Strict):
    """A whole ``mmrisk train`` experiment.

    Parameters
    ----------
    name : str, default="default"
        Name of the experiment; the training run is named ``train-<name>``.
    seed : int, default=42
        Seed of every random step: splits, models, bootstrap and explanation sample.
    data : DataSpec, default=DataSpec()
        Where the data come from.
    cohort : CohortSpec, default=CohortSpec()
        Landmark, endpoint and exclusions of the cohort.
    pipeline : str, default="default"
        Feature pipeline of every model that names none.
    models : dict of str to ModelSpec
        The models to compare, by name; at least one.
    baseline : str or None, default="staging"
        Name of the model (a key of ``models``) the others are compared with; ``None``: no
        comparison.
    validation : ValidationSpec, default=ValidationSpec()
        Resampling and bootstrap.
    horizons : list of int, default=[12, 24, 36, 60]
        Prediction horizons in months: positive whole numbers, strictly increasing.
    tracking : TrackingSpec, default=TrackingSpec()
        MLflow experiment, registered model and selection metric.
    explain : ExplainSpec, default=ExplainSpec()
        Global SHAP explanations.
    final_fit : {"development", "all"} or None, default=None
        The rows the logged and registered model is fitted on. ``None``: the development
        (training) rows for the single-split holdout schemes ``temporal`` and ``predefined``,
        so the model is the one its ``test_`` metrics describe; every row for ``kfold`` and
        ``by_site``. ``"all"`` refits a holdout scheme's model on every row (the run then says
        that its test metrics describe the development fit).

    Attributes
    ----------
    competing : bool
        The outcome is competing risks (``cohort.endpoint: progression_cr`` for a registry
        extract, ``data.competing_risks: true`` for a flat table).
    """

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
    final_fit: Literal["development", "all"] | None = None

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
        if self.final_fit == "development" and self.validation.scheme not in HOLDOUT_SCHEMES:
            raise ValueError(f"final_fit: development needs a single holdout split (scheme "
                             f"{' or '.join(HOLDOUT_SCHEMES)}); scheme "
                             f"{self.validation.scheme!r} has no one development set")
        self._competing_consistent()
        return self

    @property
    def competing(self) -> bool:
        """Whether the outcome is competing risks (see the class docstring)."""
        if self.data.table:
            return self.data.competing_risks
        return self.cohort.endpoint == "progression_cr"

    def _competing_consistent(self) -> None:
        if self.data.table and self.cohort.endpoint == "progression_cr" \
                and not self.data.competing_risks:
            raise ValueError("a flat 'table' declares competing-risks event codes with "
                             "data.competing_risks: true, not cohort.endpoint")
        outcome = ("competing-risks outcome (cohort.endpoint: progression_cr or "
                   "data.competing_risks: true)")
        for name, spec in self.models.items():
            if self.competing and spec.kind not in COMPETING_KINDS:
                raise ValueError(f"models.{name}.kind: {spec.kind!r} cannot fit a {outcome}; "
                                 f"use one of {', '.join(COMPETING_KINDS)}")
            if not self.competing and spec.kind in COMPETING_KINDS:
                raise ValueError(f"models.{name}.kind: {spec.kind!r} needs a {outcome}")
            if self.competing and spec.grid:
                raise ValueError(f"models.{name}.grid: grids are not supported for the "
                                 "competing-risks kinds; give fixed params")
        metric = self.tracking.select_metric
        if self.competing and not COMPETING_METRIC.match(metric):
            raise ValueError(f"tracking.select_metric {metric!r} is not logged for a "
                             f"{outcome}; use e.g. cv_cindex_wolbers, cv_cif_auc_<h>m, "
                             "cv_cif_brier_<h>m or cv_cif_ici_<h>m")

    @model_validator(mode="after")
    def _select_metric_known(self) -> ExperimentConfig:
        if self.competing:  # its own metric names, checked by _competing_consistent
            return self
        scope = "cv" if self.validation.scheme == "kfold" else "test"
        metric = self.tracking.select_metric
        if "select_metric" not in self.tracking.model_fields_set and \
                not metric.startswith(f"{scope}_"):
            # the default names the k-fold scope; a holdout scheme selects on the test set
            metric = f"{scope}_{metric.split('_', 1)[1]}"
            object.__setattr__(self, "tracking",
                               self.tracking.model_copy(update={"select_metric": metric}))
        valid = selectable_metrics(self.horizons, scope)
        if metric not in valid:
            wrong_scope = metric.split("_", 1)[-1] in {v.split("_", 1)[1] for v in valid}
            why = (f"the {self.validation.scheme!r} scheme logs {scope}_ metrics"
                   if wrong_scope else "not a metric mmrisk logs")
            raise ValueError(f"tracking.select_metric {metric!r}: {why}; choose one of "
                             f"{', '.join(valid)}")
        return self


#: Metric names (without scope) per horizon label, as :func:`mmrisk.evaluation.metric_names`
#: gives them (the config sits below the evaluation layer; a test keeps the two equal).
_METRICS_AT_HORIZON = ("auc", "brier", "calib_slope", "ici", "e50", "e90", "oe")


def selectable_metrics(horizons: list[int], scope: str) -> list[str]:
    """The metric names ``tracking.select_metric`` may take for these horizons and scope.

    Parameters
    ----------
    horizons : list of int
        The config's horizons (whole months).
    scope : {"cv", "test"}
        ``cv`` for the ``kfold`` scheme, ``test`` for the holdout schemes.

    Returns
    -------
    list of str
        ``<scope>_<metric>`` for every contract metric, in the order of
        :func:`mmrisk.evaluation.metric_names`.
    """
    labels = [f"{h}m" for h in horizons]
    names = ["cindex_harrell", "cindex_uno"]
    names += [f"auc_{h}" for h in labels] + [f"brier_{h}" for h in labels] + ["ibs"]
    for stem in _METRICS_AT_HORIZON[2:]:
        names += [f"{stem}_{h}" for h in labels]
    return [f"{scope}_{n}" for n in [*names, "dcal_pvalue"]]


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


def _problem(err: dict, prefix: str) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"] and msg.startswith("tracking."):  # a whole-config check names its key
        return f"key {msg}"
    return f"key {prefix}{_where(err['loc'])}: {msg}"


def _problems(path: Path, e: ValidationError, prefix: str = "") -> ConfigError:
    return ConfigError(f"{path}: " + "; ".join(_problem(err, prefix) for err in e.errors()))


def load_cohort_spec(path: str | Path) -> CohortSpec:
    """The ``cohort:`` block of a config file (defaults if the block is absent).

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML config file: a whole experiment config (then validated as a whole, as ``train``
        will, so a typo anywhere is found now) or only a ``cohort:`` (and ``horizons:``) block.

    Returns
    -------
    CohortSpec
        The validated block.

    Raises
    ------
    ConfigError
        If the file is missing or is not a YAML mapping, or a key is unknown or has a wrong
        value; the message names the file and the key.
    """
    path = Path(path)
    raw = _read_yaml(path)
    try:
        spec = CohortSpec.model_validate(raw.get("cohort") or {})
    except ValidationError as e:
        raise _problems(path, e, "cohort.") from None
    if set(raw) - {"cohort", "horizons"}:
        load_config(path)
    return spec


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


def load_horizons(path: str | Path) -> list[int]:
    """The ``horizons`` of a config file (the default if absent), validated as in a config.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML config file; its other blocks are not validated.

    Returns
    -------
    list of int
        Increasing positive whole months.

    Raises
    ------
    ConfigError
        If the file is missing or the horizons are not increasing positive whole months.
    """
    path = Path(path)
    raw = _read_yaml(path)
    if raw.get("horizons") is None:
        return ExperimentConfig.model_fields["horizons"].default_factory()
    try:
        return ExperimentConfig._horizons(list(raw["horizons"]))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: key horizons: {e}") from None


def config_hash(config: ExperimentConfig) -> str:
    """A short SHA-256 of the validated config (stable key order), for run tags.

    Parameters
    ----------
    config : ExperimentConfig
        A validated config; every field, defaults included, is hashed.

    Returns
    -------
    str
        The first 16 hexadecimal digits of the SHA-256 of the config's JSON form.
    """
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
