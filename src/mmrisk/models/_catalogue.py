"""The estimator catalogue: model kinds and :func:`make_model` (feature pipeline + model)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sksurv.ensemble import GradientBoostingSurvivalAnalysis

from mmrisk.exceptions import ConfigError
from mmrisk.features import build_pipeline
from mmrisk.models._cox import DEFAULT_RIDGE_ALPHA, CoxPH
from mmrisk.models._coxnet import CoxnetCV
from mmrisk.models._cv import EventStratifiedKFold
from mmrisk.models._forest import GridRandomSurvivalForest
from mmrisk.models._search import SurvivalGridSearchCV
from mmrisk.models._xgb import XGBAFT, XGBCox

__all__ = ["ModelKind", "MODEL_KINDS", "MODEL_STEP", "make_model", "model_kind"]

#: Name of the final (survival model) step of every catalogue pipeline.
MODEL_STEP = "model"


@dataclass(frozen=True)
class ModelKind:
    """One entry of the catalogue: a survival model class, its defaults and its pipeline.

    Parameters
    ----------
    name : str
        Key in :data:`MODEL_KINDS` (``kind`` of :func:`make_model`).
    description : str
        One line for listings.
    estimator : type
        The survival model class (the pipeline's final step).
    pipeline : str
        Name of the default feature pipeline (``pipelines/<name>.yaml``).
    defaults : Mapping
        Catalogue defaults that differ from the class's own.
    fixed : Mapping
        Parameters that must keep this value (the prediction contract depends on it).
    managed : Mapping
        Parameters set from :func:`make_model`'s arguments (``'seed'`` or ``'inner_cv'``),
        never through ``params`` or ``grid``.
    fixed_pipeline : bool
        The kind is defined by its pipeline; ``pipeline`` cannot be changed.
    cox_type : bool
        :func:`~mmrisk.models.hazard_ratios` applies.
    """

    name: str
    description: str
    estimator: type
    pipeline: str = "default"
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    managed: Mapping[str, str] = field(default_factory=dict)
    fixed_pipeline: bool = False
    cox_type: bool = False

    def pipeline_for(self, requested: str | None, configured: str | None) -> str:
        """The feature pipeline a model of this kind is built with.

        Parameters
        ----------
        requested : str or None
            The model's own ``pipeline`` in the config.
        configured : str or None
            The config's experiment-wide ``pipeline``.

        Returns
        -------
        str
            ``requested`` if given; the kind's own pipeline if the kind is defined by it
            (``staging``); otherwise ``configured`` (or the kind's default).
        """
        if requested:
            return requested
        if self.fixed_pipeline or not configured:
            return self.pipeline
        return configured


#: Catalogue defaults of the XGBoost kinds: gbsa's shape (shallow trees, slow learning rate,
#: row subsampling), and one thread per fit: cross-validation runs fits in parallel processes,
#: and OpenMP threads of concurrent fits on a busy machine wait on each other (one fit at
#: 10,000 patients took 6.3 s with 2 threads beside other jobs on 2 cores, 0.5 s with 1).
_XGB_DEFAULTS = MappingProxyType(
    {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 2, "subsample": 0.8, "n_jobs": 1}
)

_KINDS = (
    ModelKind(
        name="cox",
        description=f"Cox proportional hazards (Efron ties, ridge alpha={DEFAULT_RIDGE_ALPHA}).",
        estimator=CoxPH,
        cox_type=True,
    ),
    ModelKind(
        name="coxnet",
        description="Elastic-net Cox; penalty chosen by inner CV (Harrell's C).",
        estimator=CoxnetCV,
        managed={"cv": "inner_cv", "random_state": "seed"},
        cox_type=True,
    ),
    ModelKind(
        name="rsf",
        description="Random survival forest (scikit-survival) on times rounded up to 0.5 month.",
        estimator=GridRandomSurvivalForest,
        defaults={"n_estimators": 100, "min_samples_split": 10, "min_samples_leaf": 15},
        fixed={"low_memory": False},
        managed={"random_state": "seed"},
    ),
    ModelKind(
        name="gbsa",
        description="Gradient-boosted Cox model on regression trees (scikit-survival).",
        estimator=GradientBoostingSurvivalAnalysis,
        defaults={"learning_rate": 0.05, "n_estimators": 200, "min_samples_leaf": 10},
        fixed={"loss": "coxph"},
        managed={"random_state": "seed"},
    ),
    ModelKind(
        name="xgb_cox",
        description="Gradient-boosted Cox model on XGBoost (survival:cox); Breslow baseline.",
        estimator=XGBCox,
        defaults=_XGB_DEFAULTS,
        managed={"random_state": "seed"},
    ),
    ModelKind(
        name="xgb_aft",
        description="Gradient-boosted accelerated failure time model on XGBoost (survival:aft).",
        estimator=XGBAFT,
        defaults=_XGB_DEFAULTS,
        managed={"random_state": "seed"},
    ),
    ModelKind(
        name="staging",
        description="Baseline: Cox model on R-ISS only (pipelines/staging.yaml).",
        estimator=CoxPH,
        pipeline="staging",
        fixed_pipeline=True,
        cox_type=True,
    ),
)

#: The catalogue: kind name -> :class:`ModelKind` (read-only).
MODEL_KINDS: Mapping[str, ModelKind] = MappingProxyType({k.name: k for k in _KINDS})


def model_kind(kind: Any) -> ModelKind:
    """The catalogue entry of ``kind``.

    Parameters
    ----------
    kind : str
        A key of :data:`MODEL_KINDS`.

    Returns
    -------
    ModelKind
        Its class, defaults, pipeline and facts (``cox_type``).

    Raises
    ------
    mmrisk.exceptions.ConfigError
        If ``kind`` is not in the catalogue (the message lists the kinds).
    """
    return _get_kind(kind)


def _get_kind(kind: Any) -> ModelKind:
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        raise ConfigError(
            f"unknown model kind {kind!r}; available: {', '.join(sorted(MODEL_KINDS))}."
        )
    return MODEL_KINDS[kind]


def _feature_steps(spec: ModelKind, pipeline: Any) -> list[tuple[str, Any]]:
    if spec.fixed_pipeline and pipeline not in (None, spec.pipeline):
        raise ConfigError(
            f"model {spec.name!r}: key 'pipeline': this model is defined by the "
            f"{spec.pipeline!r} pipeline and cannot take {_short(pipeline)}; use kind 'cox' "
            "for a Cox model on other features."
        )
    if pipeline is None or isinstance(pipeline, str):
        try:
            features = build_pipeline(pipeline or spec.pipeline)
        except ConfigError as exc:
            raise ConfigError(f"model {spec.name!r}: key 'pipeline': {exc}") from exc
    elif isinstance(pipeline, Pipeline):
        features = clone(pipeline)
    else:
        raise ConfigError(
            f"model {spec.name!r}: key 'pipeline': expected a pipeline name or an sklearn "
            f"Pipeline; got {type(pipeline).__name__}."
        )
    for name, step in features.steps:
        if name == MODEL_STEP:
            raise ConfigError(
                f"model {spec.name!r}: key 'pipeline': the feature pipeline has a step named "
                f"{MODEL_STEP!r}, which is reserved for the survival model; rename it."
            )
        if step != "passthrough" and not hasattr(step, "transform"):
            raise ConfigError(
                f"model {spec.name!r}: key 'pipeline': step {name!r} "
                f"({type(step).__name__}) is not a transformer; give feature steps only."
            )
    return list(features.steps)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _valid_names(spec: ModelKind) -> list[str]:
    return sorted(set(spec.estimator().get_params(deep=False)) - set(spec.managed))


def _check_key(spec: ModelKind, key: Any, where: str) -> None:
    if not isinstance(key, str):
        raise ConfigError(f"model {spec.name!r}: key {where}: parameter names must be strings.")
    if key in spec.managed:
        raise ConfigError(
            f"model {spec.name!r}: key '{where}.{key}': set by make_model's "
            f"{spec.managed[key]!r} argument, not by params or grid."
        )
    if key not in spec.estimator().get_params(deep=False):
        raise ConfigError(
            f"model {spec.name!r}: key '{where}.{key}': unknown parameter of "
            f"{spec.estimator.__name__}; valid: {', '.join(_valid_names(spec))}."
        )


def _check_value(spec: ModelKind, estimator: BaseEstimator, key: str, value: Any, where: str):
    if key in spec.fixed and not _same(value, spec.fixed[key]):
        raise ConfigError(
            f"model {spec.name!r}: key '{where}.{key}': must be {spec.fixed[key]!r} (the "
            f"catalogue needs survival functions); got {_short(value)}."
        )
    trial = clone(estimator).set_params(**{key: value})
    validate = getattr(trial, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model {spec.name!r}: key '{where}.{key}': {exc}") from exc


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (ValueError, TypeError):
        return False


def _make_estimator(spec: ModelKind, params: Any, seed: int, inner_cv: int) -> BaseEstimator:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"model {spec.name!r}: key 'params': expected a mapping of parameter: value; got "
            f"{type(params).__name__}."
        )
    managed = {"seed": seed, "inner_cv": inner_cv}
    estimator = spec.estimator(
        **spec.defaults, **{k: managed[arg] for k, arg in spec.managed.items()}
    )
    for key in params:
        _check_key(spec, key, "params")
    for key, value in params.items():
        _check_value(spec, estimator, key, value, "params")
    return estimator.set_params(**dict(params))


def _check_grid(spec: ModelKind, pipe: Pipeline, grid: Any) -> dict[str, list[Any]]:
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(
            f"model {spec.name!r}: key 'grid': expected a non-empty mapping of parameter: list "
            f"of values; got {_short(grid)}."
        )
    estimator = pipe.named_steps[MODEL_STEP]
    pipe_params = pipe.get_params(deep=True)
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if (
            isinstance(values, str | bytes | Mapping)
            or not isinstance(values, Sequence | np.ndarray)
            or len(values) == 0
        ):
            raise ConfigError(
                f"model {spec.name!r}: key 'grid.{key}': expected a non-empty list of values; "
                f"got {_short(values)}."
            )
        if isinstance(key, str) and "__" in key:
            if key not in pipe_params or key.startswith(f"{MODEL_STEP}__"):
                raise ConfigError(
                    f"model {spec.name!r}: key 'grid.{key}': not a parameter of the feature "
                    "pipeline (use '<step>__<param>' for pipeline steps and plain names for "
                    "the model)."
                )
            out[key] = list(values)
            continue
        _check_key(spec, key, "grid")
        for value in values:
            _check_value(spec, estimator, key, value, "grid")
        out[f"{MODEL_STEP}__{key}"] = list(values)
    return out


def _check_int(name: str, value: Any, minimum: int, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(
            f"model {kind!r}: key {name!r}: expected an integer >= {minimum}; got {value!r}."
        )
    return int(value)


def make_model(
    kind: str,
    *,
    pipeline: str | Pipeline | None = None,
    params: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    inner_cv: int = 3,
    seed: int = 0,
) -> Pipeline | SurvivalGridSearchCV:
    """One unfitted scikit-learn object: a feature pipeline followed by a survival model.

    Parameters
    ----------
    kind : str
        A key of :data:`MODEL_KINDS`: ``'cox'``, ``'coxnet'``, ``'rsf'``, ``'gbsa'``,
        ``'xgb_cox'``, ``'xgb_aft'`` or ``'staging'``.
    pipeline : str or sklearn.pipeline.Pipeline, default=None
        Feature pipeline: a name or path for :func:`mmrisk.features.build_pipeline`, or a
        Pipeline of transformers (cloned). ``None`` uses the kind's default (``'default'``;
        ``'staging'`` for the staging baseline, which accepts no other).
    params : mapping, default=None
        Parameters of the survival model (plain names, e.g. ``{'n_estimators': 500}``),
        overriding the catalogue defaults of :data:`MODEL_KINDS`.
    grid : mapping of str to list, default=None
        Hyperparameter grid, e.g. ``{'max_depth': [2, 3], 'learning_rate': [0.05, 0.1]}``.
        Plain names are model parameters; ``'<step>__<param>'`` names a feature-step
        parameter. If given, the result is a :class:`SurvivalGridSearchCV` that selects the
        candidate with the best mean Harrell's C over ``inner_cv`` inner folds and refits it
        on all data it is given (the outer CV is the caller's).
    inner_cv : int, default=3
        Number of inner folds (event-stratified) for ``grid`` and for the penalty of
        ``'coxnet'``.
    seed : int, default=0
        Seed of every random step (forests, boosting subsamples, inner folds).

    Returns
    -------
    sklearn.pipeline.Pipeline or SurvivalGridSearchCV
        A Pipeline whose last step, named ``'model'``, is the survival model (feature steps
        output DataFrames, so the model sees named columns); or a grid search around it.
        Either has ``fit(X, y)``, ``predict(X)`` (risk; higher means earlier progression) and
        ``predict_survival_function(X, return_array=False)``.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        For an unknown kind, an unknown or wrongly typed parameter, a parameter that the
        catalogue fixes or that ``seed``/``inner_cv`` set, a malformed grid, or a pipeline
        that cannot be used. The message names the model and the key.

    See Also
    --------
    MODEL_KINDS, hazard_ratios, predict_survival_at

    Examples
    --------
    >>> from mmrisk.models import make_model
    >>> model = make_model("rsf", params={"n_estimators": 50}, seed=1)
    >>> model.steps[-1][0], model.named_steps["model"].random_state
    ('model', 1)
    """
    spec = _get_kind(kind)
    inner_cv = _check_int("inner_cv", inner_cv, 2, spec.name)
    seed = _check_int("seed", seed, 0, spec.name)
    steps = _feature_steps(spec, pipeline)
    estimator = _make_estimator(spec, params, seed, inner_cv)
    pipe = Pipeline([*steps, (MODEL_STEP, estimator)]).set_output(transform="pandas")
    if grid is None:
        return pipe
    param_grid = _check_grid(spec, pipe, grid)
    return SurvivalGridSearchCV(
        pipe,
        param_grid,
        scoring=None,
        refit=True,
        cv=EventStratifiedKFold(inner_cv, random_state=seed),
    )
