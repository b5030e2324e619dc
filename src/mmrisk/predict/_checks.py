"""Row-level input checks for scoring: coerce each feature to its training kind, flag bad rows.

A cell that cannot be parsed or is impossible makes its row an ``error`` (not scored, never
silently imputed); a category unseen in training or a number outside the training range makes it
a ``warning`` (scored). Missing values are legitimate: the feature pipelines impute them.

"Impossible" means outside the registry's plausible range of the column a feature comes from
(``meta["input_rules"]``, taken from the registry specification at training), widened to the
training range (a model is never refused values it was trained on), or against a generic
rule: negative durations, labs or doses, percentages outside 0–100, flags other than 0/1, codes
outside the registry's code list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.conventions import DERIVED_CODES, FLAG_FEATURES, MISSING_TEXT
from mmrisk.exceptions import MissingColumnsError

__all__ = ["STATUSES", "check_columns", "check_rows", "feature_rules", "unimputed_features"]

#: Row statuses of the scoring output.
STATUSES = ("ok", "warning", "error")
_NONNEGATIVE_SUFFIXES = ("_g_L", "_g_dL", "_mmol_L", "_umol_L", "_mg_L", "_mg_dL", "_U_L",
                         "_mg", "_mg_m2", "_ml_min", "_1_73m2", "_kg")


@dataclass(frozen=True)
class _NumericRule:
    lo: float = -np.inf
    hi: float = np.inf
    integer: bool = False
    flag: bool = False


def _generic_rule(name: str) -> _NumericRule:
    low = name.lower()
    if name in FLAG_FEATURES:
        return _NumericRule(0, 1, integer=True, flag=True)
    if low.endswith("_pct") or low.endswith("_percent"):
        return _NumericRule(0, 100)
    if low == "age" or low.startswith("age_"):
        return _NumericRule(0, 120)
    if "months" in low or low.startswith("time") or low.startswith("n_") or \
            low.endswith(_NONNEGATIVE_SUFFIXES):
        return _NumericRule(lo=0)
    return _NumericRule()


def feature_rules(features: Sequence[str], profile: dict, registry: dict | None = None
                  ) -> dict[str, object]:
    """The check of every feature: a numeric rule or the valid codes of a categorical feature.

    Parameters
    ----------
    features : sequence of str
        The model's input columns.
    profile : dict
        The training profile (``meta["profile"]``) with each feature's kind and range.
    registry : dict, optional
        The registry column behind each feature (``meta["input_rules"]``, made at training by
        :func:`mmrisk.cohort.input_rules`): ``dtype``, ``min``, ``max``, ``allowed``.

    Returns
    -------
    dict
        ``{feature: _NumericRule}`` for numeric features, ``{feature: tuple of codes or None}``
        for categorical ones (``None``: any code is valid; unseen ones are warnings).
    """
    registry = registry or {}
    rules: dict[str, object] = {}
    for f in features:
        entry = profile["features"].get(f, {})
        col = registry.get(f)
        if entry.get("kind") == "categorical":
            codes = DERIVED_CODES.get(f) or (col.get("allowed") if col else None)
            seen = tuple(entry.get("shares", {}))
            rules[f] = None if codes is None else tuple(dict.fromkeys((*codes, *seen)))
            continue
        rule = _generic_rule(f)
        if col is not None and col.get("dtype") in ("float", "int"):
            lo = col["min"] if col.get("min") is not None else rule.lo
            hi = col["max"] if col.get("max") is not None else rule.hi
            rule = _NumericRule(lo, hi, integer=col["dtype"] == "int", flag=rule.flag)
        q = entry.get("quantiles") or []
        if q:  # never refuse values the model was trained on
            rule = _NumericRule(min(rule.lo, q[0]), max(rule.hi, q[-1]),
                                integer=rule.integer and all(float(v).is_integer() for v in q),
                                flag=rule.flag)
        rules[f] = rule
    return rules


def check_columns(columns: Iterable[str], features: Sequence[str], source: str = "input"
                  ) -> None:
    """Raise :class:`~mmrisk.exceptions.MissingColumnsError` listing every missing feature.

    Parameters
    ----------
    columns : iterable of str
        The columns of the input.
    features : sequence of str
        The model's input columns.
    source : str, default='input'
        What the input is (a file name), for the message.
    """
    have = set(map(str, columns))
    missing = [f for f in features if f not in have]
    if missing:
        raise MissingColumnsError(
            f"{source}: missing required column(s) {', '.join(missing)}; the model needs "
            f"{len(features)} input columns: {', '.join(features)}", missing)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.4g}"


class _Problems:
    """Error and warning messages per row position; only rows with problems are stored."""

    def __init__(self, n: int):
        self.n = n
        self.errors: dict[int, list[str]] = {}
        self.warnings: dict[int, list[str]] = {}

    def add(self, kind: str, positions: np.ndarray, messages: Iterable[str]) -> None:
        target = self.errors if kind == "error" else self.warnings
        for i, msg in zip(positions.tolist(), messages, strict=True):
            target.setdefault(i, []).append(msg)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        status = np.full(self.n, "ok", dtype=object)
        reason = np.full(self.n, "", dtype=object)
        for i, msgs in self.warnings.items():
            status[i] = "warning"
            reason[i] = "; ".join(msgs)
        for i, msgs in self.errors.items():
            status[i] = "error"
            reason[i] = "; ".join(msgs + self.warnings.get(i, []))
        return status, reason


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, stripped text per code, missing per code) of any column; work per unique value.

    Code ``-1`` (pandas' missing) indexes a trailing missing sentinel.
    """
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        codes, uniques = pd.factorize(s.to_numpy(dtype=float, na_value=np.nan))
        text = [_fmt(v) for v in uniques]
    else:
        codes, uniques = pd.factorize(s.to_numpy(dtype=object))
        text = [str(v).strip() for v in uniques]
    missing = [t in MISSING_TEXT for t in text]
    return (codes, np.array([*text, ""], dtype=object), np.array([*missing, True], dtype=bool))


def _coerce_numeric(name: str, s: pd.Series, problems: _Problems) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    codes, text, missing = _factorize(s)
    parsed = pd.to_numeric(pd.Series(np.where(missing, None, text)), errors="coerce")
    parsed = parsed.to_numpy(dtype=float, na_value=np.nan)
    bad_codes = np.flatnonzero(np.isnan(parsed) & ~missing)
    values = parsed[codes]
    bad = np.flatnonzero(np.isin(codes, bad_codes))
    problems.add("error", bad, (f"{name}: {text[codes[i]]!r} is not a number" for i in bad))
    return values


def _tol(bound: float) -> float:
    """Slack at a range bound: a value written to text and read back may differ in the last bit."""
    return 1e-9 * max(1.0, abs(bound)) if np.isfinite(bound) else 0.0


def _impossible(rule: _NumericRule) -> str:
    if np.isinf(rule.hi):
        return "is negative" if rule.lo == 0 else f"is below the plausible minimum {_fmt(rule.lo)}"
    if np.isinf(rule.lo):
        return f"is above the plausible maximum {_fmt(rule.hi)}"
    return f"is outside the plausible range {_fmt(rule.lo)}–{_fmt(rule.hi)}"


def _check_numeric(name: str, values: np.ndarray, rule: _NumericRule, train: list[float],
                   problems: _Problems) -> None:
    finite = np.isfinite(values)
    bad = np.flatnonzero(~finite & ~np.isnan(values))
    problems.add("error", bad, (f"{name}: {values[i]} is not a finite number" for i in bad))
    with np.errstate(invalid="ignore"):
        if rule.flag:
            out = finite & ~np.isin(values, (0.0, 1.0))
            msgs = (f"{name}: {_fmt(values[i])} is not 0 or 1" for i in np.flatnonzero(out))
        else:
            out = finite & ((values < rule.lo - _tol(rule.lo)) | (values > rule.hi + _tol(rule.hi)))
            msgs = (f"{name}: {_fmt(values[i])} {_impossible(rule)}" for i in np.flatnonzero(out))
        problems.add("error", np.flatnonzero(out), msgs)
        if rule.integer and not rule.flag:
            frac = finite & ~out & (np.floor(values) != values)
            problems.add("error", np.flatnonzero(frac), (
                f"{name}: {_fmt(values[i])} is not a whole number" for i in np.flatnonzero(frac)))
            out |= frac
        if train:
            lo, hi = float(train[0]), float(train[-1])
            warn = np.flatnonzero(finite & ~out & ((values < lo - _tol(lo))
                                                   | (values > hi + _tol(hi))))
            problems.add("warning", warn, (
                f"{name}: {_fmt(values[i])} is outside the training range {_fmt(lo)}–{_fmt(hi)}"
                for i in warn))
    values[~finite | out] = np.nan


def _check_categorical(name: str, s: pd.Series, codes: tuple[str, ...] | None,
                       seen: Iterable[str], problems: _Problems) -> np.ndarray:
    idx, text, missing = _factorize(s)
    missing = missing.copy()
    if codes is not None:
        invalid = np.flatnonzero(~missing & ~np.isin(text, list(codes)))
        if len(invalid):
            pos = np.flatnonzero(np.isin(idx, invalid))
            expected = ", ".join(sorted(codes))
            problems.add("error", pos, (f"{name}: {text[idx[i]]!r} is not a valid code "
                                        f"(expected {expected})" for i in pos))
            missing[invalid] = True
    seen = list(seen)
    if seen:
        unseen = np.flatnonzero(~missing & ~np.isin(text, seen))
        pos = np.flatnonzero(np.isin(idx, unseen))
        problems.add("warning", pos, (f"{name}: unseen category {text[idx[i]]!r}" for i in pos))
    labels = text.copy()
    labels[missing] = None
    return labels[idx]


def _blank_rows(cols: dict[str, np.ndarray], problems: _Problems) -> None:
    """A row without any feature value is no patient to score: an error, ``no feature values``."""
    if not cols:
        return
    blank = np.logical_and.reduce([pd.isna(v) for v in cols.values()])
    rows = np.array([i for i in np.flatnonzero(blank) if i not in problems.errors], dtype=int)
    problems.add("error", rows, ["no feature values"] * len(rows))


def unimputed_features(estimator: Any, X: pd.DataFrame) -> list[str]:
    """The features for which a fitted model refuses a missing value (it has no imputation).

    Probed, not inferred from the pipeline's steps: the first row of ``X`` is predicted with
    one feature's value removed at a time (all probes in one call first), and the features
    whose probe raises ``ValueError`` (scikit-learn's "Input contains NaN") are returned. A
    pipeline that imputes, or a model that takes missing values itself (XGBoost), gives ``[]``.
    Stored in the model's ``meta["unimputed"]`` so that :func:`check_rows` makes such rows
    errors before prediction.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted model with ``predict``.
    X : pandas.DataFrame
        Rows it was fitted on (only the first is used).

    Returns
    -------
    list of str
        Feature names, in column order.
    """
    import warnings

    row = X.iloc[[0]]
    probes = []
    for f in X.columns:
        probe = row.copy()
        if pd.api.types.is_numeric_dtype(probe[f]):
            probe[f] = np.nan
        else:
            probe[f] = pd.Series([None], index=probe.index, dtype=object)
        probes.append(probe)

    def refuses(frame: pd.DataFrame) -> bool:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator.predict(frame)
        except ValueError:
            return True
        return False

    # One call answers for every feature when the model takes them all missing (the usual
    # case: the pipelines impute); otherwise one call per feature.
    if not refuses(pd.concat(probes, ignore_index=True)):
        return []
    return [str(f) for f, probe in zip(X.columns, probes, strict=True) if refuses(probe)]


def _unimputed_rows(cols: dict[str, np.ndarray], unimputed: Iterable[str] | None,
                    problems: _Problems) -> None:
    """A missing value the model cannot impute makes the row an error, naming the features."""
    names = [f for f in (unimputed or []) if f in cols]
    if not names:
        return
    holes = np.column_stack([pd.isna(cols[f]) for f in names])
    for i in np.flatnonzero(holes.any(axis=1)):
        if i not in problems.errors:
            missing = ", ".join(f for f, hole in zip(names, holes[i], strict=True) if hole)
            problems.add("error", np.array([i]),
                         [f"missing value in {missing}: this model has no imputation for it"])


def check_rows(frame: pd.DataFrame, meta: dict, preset: np.ndarray | None = None
               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Coerce the model's input columns and give every row a status and a reason.

    Parameters
    ----------
    frame : pandas.DataFrame
        Input rows; must hold every column of ``meta["features"]`` (others are ignored).
    meta : dict
        The model's metadata (``features``, ``profile``, ``input_rules``, ``unimputed``), as in
        :attr:`mmrisk.tracking.LoadedModel.meta`.
    preset : ndarray of shape (n_rows,), optional
        Per row a reason that makes it an error whatever its values (a patient not eligible at
        the landmark), or ``None``.

    Returns
    -------
    X : pandas.DataFrame
        The feature columns, numeric ones as float64 and categorical ones as object (``None``
        for missing), indexed like ``frame``. Cells that caused an error are missing.
    status : ndarray of shape (n_rows,)
        ``'ok'``, ``'warning'`` (scored: unseen category, value outside the training range) or
        ``'error'`` (not scored: unparseable or impossible value, no feature value at all:
        ``no feature values``, or a missing value of a feature in ``meta["unimputed"]``:
        ``missing value in b: this model has no imputation for it``).
    reason : ndarray of shape (n_rows,)
        Every problem of the row, ``'; '``-separated (``''`` for ``ok`` rows), e.g.
        ``"age: 'abc' is not a number"``.

    Raises
    ------
    mmrisk.exceptions.MissingColumnsError
        If feature columns are missing (all are listed).
    """
    features = list(meta["features"])
    check_columns(frame.columns, features)
    profile = meta.get("profile") or {"features": {}}
    rules = feature_rules(features, profile, meta.get("input_rules"))
    problems = _Problems(len(frame))
    cols: dict[str, np.ndarray] = {}
    for f in features:
        entry = profile["features"].get(f, {})
        s = frame[f]
        if isinstance(s, pd.DataFrame):  # a duplicated column name: the first one counts
            s = s.iloc[:, 0]
        if entry.get("kind") == "categorical":
            cols[f] = _check_categorical(f, s, rules[f], entry.get("shares", {}), problems)
        else:
            values = _coerce_numeric(f, s, problems)
            _check_numeric(f, values, rules[f], entry.get("quantiles") or [], problems)
            cols[f] = values
    _blank_rows(cols, problems)
    _unimputed_rows(cols, meta.get("unimputed"), problems)
    status, reason = problems.result()
    if preset is not None:
        forced = pd.notna(preset)
        status = np.where(forced, "error", status).astype(object)
        reason = np.where(forced, preset, reason).astype(object)
    return pd.DataFrame(cols, index=frame.index), status, reason
