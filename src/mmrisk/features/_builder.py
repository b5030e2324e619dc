"""Build a feature pipeline from a YAML definition: ordered, named, registered steps.

A pipeline file looks like::

    description: R-ISS only.        # optional
    steps:
      - name: riss                  # unique step name
        transformer: RISS           # a registered transformer (see available_transformers())
        params: {keep_input: true}  # optional; checked against the transformer's signature

Every file is validated before anything is built. Unknown keys, unknown transformers, unknown
parameters and values of the wrong type raise :class:`mmrisk.exceptions.ConfigError` with the
file, the step and the key in the message.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mmrisk.exceptions import ConfigError
from mmrisk.features._cytogenetics import HighRiskCACount
from mmrisk.features._encoding import DropCollinear, SelectColumns, make_encoder
from mmrisk.features._renal import EGFR_CKDEPI2021
from mmrisk.features._response import ResponseDepth
from mmrisk.features._staging import ISS, R2ISS, RISS

__all__ = ["build_pipeline", "available_pipelines", "available_transformers", "PIPELINES_DIR"]

#: Folder of the pipeline definitions shipped with mmrisk (package data).
PIPELINES_DIR = Path(__file__).resolve().parent / "pipelines"

_STEP_KEYS = ("name", "transformer", "params")
_TOP_KEYS = ("description", "steps")
_STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _simple_imputer(
    strategy: Literal["mean", "median", "most_frequent", "constant"] = "median",
    fill_value: str | int | float | None = None,
    add_indicator: bool = False,
    keep_empty_features: bool = False,
) -> SimpleImputer:
    """:class:`~sklearn.impute.SimpleImputer` with the parameters a pipeline file may set."""
    return SimpleImputer(
        strategy=strategy,
        fill_value=fill_value,
        add_indicator=add_indicator,
        keep_empty_features=keep_empty_features,
    )


def _standard_scaler(with_mean: bool = True, with_std: bool = True) -> StandardScaler:
    """:class:`~sklearn.preprocessing.StandardScaler` with the parameters a file may set."""
    return StandardScaler(with_mean=with_mean, with_std=with_std)


_REGISTRY: dict[str, Callable[..., Any]] = {
    "ISS": ISS,
    "RISS": RISS,
    "R2ISS": R2ISS,
    "HighRiskCACount": HighRiskCACount,
    "EGFR_CKDEPI2021": EGFR_CKDEPI2021,
    "ResponseDepth": ResponseDepth,
    "SimpleImputer": _simple_imputer,
    "StandardScaler": _standard_scaler,
    "encode": make_encoder,
    "select": SelectColumns,
    "drop_collinear": DropCollinear,
}


def available_transformers() -> list[str]:
    """Names a pipeline file may use as ``transformer``.

    Returns
    -------
    list of str
        The registered transformer names, sorted.
    """
    return sorted(_REGISTRY)


def available_pipelines(pipelines_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the pipeline definitions found in ``pipelines_dir`` and shipped with mmrisk.

    Parameters
    ----------
    pipelines_dir : path-like, default=None
        Extra folder of ``*.yaml`` files, searched before the shipped ones.

    Returns
    -------
    list of str
        Pipeline names (file names without ``.yaml``/``.yml``), sorted.
    """
    names = set()
    for folder in _search_dirs(pipelines_dir):
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
    return sorted(names)


def _search_dirs(pipelines_dir: str | os.PathLike[str] | None) -> list[Path]:
    dirs = [Path(pipelines_dir)] if pipelines_dir is not None else []
    return [*dirs, PIPELINES_DIR]


def _find_file(name_or_path: str | os.PathLike[str], pipelines_dir: Any) -> Path:
    text = os.fspath(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or text.endswith((".yaml", ".yml"))
        or "/" in text
        or os.sep in text
    )
    if looks_like_path:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"{path}: pipeline file not found.")
        return path
    for folder in _search_dirs(pipelines_dir):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{text}{suffix}"
            if candidate.is_file():
                return candidate
    searched = ", ".join(str(d) for d in _search_dirs(pipelines_dir))
    raise ConfigError(
        f"pipeline {text!r} not found (searched {searched}); available: "
        f"{', '.join(available_pipelines(pipelines_dir))}. Give a name or a path to a .yaml file."
    )


def _type_name(annotation: Any) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    return text.replace("typing.", "").replace("collections.abc.", "")


@cache
def _params_model(key: str) -> tuple[type[BaseModel], dict[str, str]]:
    """A strict pydantic model of the parameters of registered transformer ``key``."""
    factory = _REGISTRY[key]
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(factory).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[pname] = (hints.get(pname, Any), default)
    model = create_model(
        f"{key}Params", __config__=ConfigDict(extra="forbid", strict=True), **fields
    )
    return model, {k: _type_name(v[0]) for k, v in fields.items()}


class _Where:
    """Formats and raises errors that name the file, the step and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, step: str | None, key: str, problem: str) -> typing.NoReturn:
        where = f"{self.path}: " + (f"{step}, " if step else "")
        raise ConfigError(f"{where}key {key!r}: {problem}")


def _load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _check_top(data: Any, where: _Where) -> list[Any]:
    if not isinstance(data, Mapping):
        where.fail(None, "steps", "the file must be a mapping with a 'steps' list.")
    for key in data:
        if key not in _TOP_KEYS:
            where.fail(None, str(key), f"unknown key; expected {', '.join(_TOP_KEYS)}.")
    if data.get("description") is not None and not isinstance(data["description"], str):
        where.fail(None, "description", "must be a string.")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        where.fail(None, "steps", f"must be a non-empty list of steps; got {steps!r}.")
    return steps


def _check_step(index: int, raw: Any, seen: set[str], where: _Where) -> tuple[str, str, dict]:
    label = f"step #{index + 1}"
    if not isinstance(raw, Mapping):
        where.fail(label, "steps", f"each step must be a mapping; got {raw!r}.")
    if isinstance(raw.get("name"), str):
        label = f"step {raw['name']!r}"
    for key in raw:
        if key not in _STEP_KEYS:
            where.fail(label, str(key), f"unknown key; a step has {', '.join(_STEP_KEYS)}.")
    for key in ("name", "transformer"):
        if not isinstance(raw.get(key), str):
            where.fail(label, key, f"required, a string; got {raw.get(key)!r}.")
    name, transformer = raw["name"], raw["transformer"]
    if not _STEP_NAME.match(name) or "__" in name:
        where.fail(
            label,
            "name",
            f"use letters, digits and single underscores, starting with a letter; got {name!r}.",
        )
    if name in seen:
        where.fail(label, "name", f"duplicate step name {name!r}.")
    seen.add(name)
    if transformer not in _REGISTRY:
        where.fail(
            label,
            "transformer",
            f"unknown transformer {transformer!r}; registered: "
            f"{', '.join(available_transformers())}.",
        )
    return name, transformer, _check_params_mapping(raw.get("params"), label, where)


def _check_params_mapping(raw: Any, label: str, where: _Where) -> dict:
    params = raw or {}
    if not isinstance(params, Mapping):
        where.fail(label, "params", f"must be a mapping of parameter: value; got {params!r}.")
    for key in params:
        if not isinstance(key, str):
            where.fail(label, f"params.{key}", "parameter names must be strings.")
    return dict(params)


def _key_named_in(message: str, params: Mapping[str, Any]) -> str:
    """``params.<key>`` for the first parameter the message names, else ``params``."""
    for key in params:
        if re.search(rf"\b{re.escape(str(key))}\b", message):
            return f"params.{key}"
    return "params"


def _build_step(name: str, transformer: str, params: dict, where: _Where) -> Any:
    label = f"step {name!r} ({transformer})"
    model, types = _params_model(transformer)
    try:
        valid = model(**params)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "params"
        if err["type"] == "extra_forbidden":
            where.fail(
                label,
                f"params.{key}",
                f"unknown parameter; {transformer} takes {', '.join(types)}.",
            )
        if err["type"] == "missing":
            where.fail(label, f"params.{key}", "required parameter is missing.")
        value = params.get(key)
        where.fail(
            label,
            f"params.{key}",
            f"expected {types.get(key, '?')}, got {type(value).__name__} {value!r}.",
        )
    kwargs = {k: getattr(valid, k) for k in params}
    estimator = _REGISTRY[transformer](**kwargs)
    check = getattr(estimator, "_check_params", None)
    if callable(check):
        try:
            check()
        except ValueError as exc:
            where.fail(label, _key_named_in(str(exc), params), str(exc))
    return estimator


def build_pipeline(
    name_or_path: str | os.PathLike[str], pipelines_dir: str | os.PathLike[str] | None = None
) -> Pipeline:
    """Build the feature pipeline defined by a YAML file.

    Parameters
    ----------
    name_or_path : str or path-like
        A pipeline name (``'default'``, ``'staging'``, ``'passthrough'``, or the stem of a file
        in ``pipelines_dir``) or a path to a ``.yaml`` file.
    pipelines_dir : path-like, default=None
        Folder searched for ``<name>.yaml`` before the definitions shipped with mmrisk.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted, with ``set_output(transform="pandas")`` so that every step sees (and the
        pipeline returns) a DataFrame with named columns.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        If the file is missing or invalid: not YAML, an unknown key, an unknown transformer, an
        unknown parameter or a value of the wrong type. The message names the file, the step and
        the key.

    See Also
    --------
    available_pipelines, available_transformers, lineage

    Examples
    --------
    >>> from mmrisk.features import build_pipeline
    >>> [name for name, _ in build_pipeline("staging").steps]
    ['riss', 'select', 'encode']
    """
    path = _find_file(name_or_path, pipelines_dir)
    where = _Where(path)
    raw_steps = _check_top(_load_yaml(path), where)
    seen: set[str] = set()
    checked = [_check_step(i, raw, seen, where) for i, raw in enumerate(raw_steps)]
    steps = [(name, _build_step(name, tr, params, where)) for name, tr, params in checked]
    return Pipeline(steps).set_output(transform="pandas")
