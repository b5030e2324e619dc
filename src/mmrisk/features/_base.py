"""Shared machinery of the column-deriving transformers.

Every clinical transformer of :mod:`mmrisk.features` reads a few named input columns, derives
one or more new columns, and either appends them to its input (``keep_input=True``) or replaces
the inputs it used (``keep_input=False``). The base class here owns everything that is not the
clinical rule itself: parameter checks, input validation (DataFrame or array), feature names,
output assembly, and feature lineage.

This is the only module of :mod:`mmrisk.features` that touches scikit-learn's validation helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__: list[str] = []

#: Values a cytogenetic result column may hold (besides missing).
CYTO_RESULTS = ("detected", "not_detected", "not_tested", "failed")

ColumnRef = str | int


def _is_column_ref(value: object) -> bool:
    """Return True for a column name (str) or position (int, not bool)."""
    return isinstance(value, str) or (
        isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
    )


def default_feature_names(n_features: int) -> list[str]:
    """Names scikit-learn gives to the columns of an array: ``x0, x1, ...``."""
    return [f"x{i}" for i in range(n_features)]


def numeric_column(frame: pd.DataFrame, name: str, owner: str) -> np.ndarray:
    """Return column ``name`` of ``frame`` as float64 with NaN for missing values.

    Parameters
    ----------
    frame : pandas.DataFrame
        The input table.
    name : str
        Column to read.
    owner : str
        Name of the calling estimator, used in the error message.

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
        The values as float64; missing values (None, NaN, pd.NA) are NaN.

    Raises
    ------
    ValueError
        If a non-missing value is not a number; the message quotes the first bad value.
    """
    col = frame[name]
    if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
        converted = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & converted.isna()
        if pd.api.types.is_bool_dtype(col.dtype) or bad.any():
            value = col[bad].iloc[0] if bad.any() else col.iloc[0]
            raise ValueError(
                f"{owner}: column {name!r} must be numeric; found {value!r} "
                f"(dtype {col.dtype}). Convert it to a number or set it to missing."
            )
        col = converted
    return col.astype("float64").to_numpy(na_value=np.nan)


def category_codes(
    frame: pd.DataFrame, name: str, allowed: Sequence[str], owner: str
) -> np.ndarray:
    """Return the position in ``allowed`` of every value of column ``name``, -1 where missing.

    Values are matched once per distinct value (:func:`pandas.factorize`), not cell by cell.

    Parameters
    ----------
    frame : pandas.DataFrame
        The input table.
    name : str
        Column to read.
    allowed : sequence of str
        The values the column may hold besides missing.
    owner : str
        Name of the calling estimator, used in the error message.

    Returns
    -------
    numpy.ndarray of shape (n_samples,), dtype intp
        ``allowed.index(value)``; -1 for missing values (None, NaN, pd.NA).

    Raises
    ------
    ValueError
        If a non-missing value is not in ``allowed``; the message quotes the first one (in row
        order) and lists the allowed values.
    """
    col = frame[name]
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    position = {value: i for i, value in enumerate(allowed)}
    found = [position.get(u, -2) if isinstance(u, str) else -2 for u in uniques]
    lookup = np.asarray(found + [-1], dtype=np.intp)
    out = lookup[codes]
    if len(found) and min(found) == -2:
        first = int(np.flatnonzero(out == -2)[0])
        raise ValueError(
            f"{owner}: column {name!r} holds {col.iloc[first]!r}; expected one of "
            f"{list(allowed)} or missing."
        )
    return out


def category_column(
    frame: pd.DataFrame, name: str, allowed: Sequence[str], owner: str
) -> np.ndarray:
    """Return column ``name`` as an object array of allowed strings, ``None`` where missing.

    Parameters
    ----------
    frame : pandas.DataFrame
        The input table.
    name : str
        Column to read.
    allowed : sequence of str
        The values the column may hold besides missing.
    owner : str
        Name of the calling estimator, used in the error message.

    Returns
    -------
    numpy.ndarray of shape (n_samples,), dtype object
        The values; missing values (None, NaN, pd.NA) become ``None``.

    Raises
    ------
    ValueError
        If a non-missing value is not in ``allowed``; the message quotes it and lists
        the allowed values.
    """
    codes = category_codes(frame, name, allowed, owner)
    return np.array([*allowed, None], dtype=object)[codes]


def resolve_unique(possible: Sequence[np.ndarray], values: Sequence[float]) -> np.ndarray:
    """Pick the value whose mask is the only True one in each row, else NaN.

    Parameters
    ----------
    possible : sequence of numpy.ndarray of bool, each of shape (n_samples,)
        ``possible[k][i]`` says whether outcome ``values[k]`` is possible for row ``i``.
    values : sequence of float
        The outcome each mask stands for.

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
        ``values[k]`` where only outcome ``k`` is possible, NaN where several are.
    """
    stack = np.vstack(possible)
    n_possible = stack.sum(axis=0)
    chosen = np.asarray(values, dtype="float64")[np.argmax(stack, axis=0)]
    return np.where(n_possible == 1, chosen, np.nan)


def resolve_refs(
    refs: Sequence[ColumnRef], names: Sequence[str], owner: str
) -> dict[ColumnRef, str]:
    """Map column references (names or positions) to the column names of ``names``.

    Parameters
    ----------
    refs : sequence of str or int
        Column names or positions.
    names : sequence of str
        The columns of the input.
    owner : str
        Name of the calling estimator, used in the error message.

    Returns
    -------
    dict
        Each reference mapped to its column name.

    Raises
    ------
    ValueError
        If a name is not among ``names`` or a position is out of range.
    """
    resolved: dict[ColumnRef, str] = {}
    unnamed = list(names) == default_feature_names(len(names))
    for ref in refs:
        if isinstance(ref, str):
            if ref not in names:
                hint = (
                    " X has no column names (a NumPy array?): pass a DataFrame or give column "
                    "positions."
                    if unnamed
                    else ""
                )
                raise ValueError(
                    f"{owner}: input column {ref!r} is missing from X.{hint} Set the matching "
                    f"parameter to the column's name."
                )
            resolved[ref] = ref
        else:
            if not 0 <= int(ref) < len(names):
                raise ValueError(
                    f"{owner}: column position {ref} is out of range for X with {len(names)} "
                    f"feature(s)."
                )
            resolved[ref] = names[int(ref)]
    return resolved


class FrameTransformer(TransformerMixin, BaseEstimator):
    """Base class: a transformer that works on DataFrames (and on arrays, by position).

    Subclasses get input validation that keeps DataFrames as they are (string columns are
    allowed) while still recording ``n_features_in_`` and ``feature_names_in_`` the
    scikit-learn way, and the usual tags (missing values allowed).
    """

    _string_inputs: ClassVar[bool] = True

    def _validate(self, X: Any, *, reset: bool) -> tuple[pd.DataFrame, bool]:
        """Validate ``X``; return it as a DataFrame with string columns, and whether it was one."""
        if isinstance(X, pd.DataFrame):
            if X.shape[0] == 0:
                raise ValueError(
                    f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a "
                    f"minimum of 1 is required by {type(self).__name__}."
                )
            validate_data(self, X, reset=reset, skip_check_array=True)
            frame = X
            if not all(isinstance(c, str) for c in X.columns):
                frame = X.set_axis(default_feature_names(X.shape[1]), axis=1)
            return frame, True
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=None if self._string_inputs else "numeric",
            ensure_all_finite=False,
            accept_sparse=False,
        )
        return pd.DataFrame(X, columns=default_feature_names(X.shape[1])), False

    def _input_names(self, input_features: Any = None) -> list[str]:
        """Input feature names, as in ``get_feature_names_out(input_features)``."""
        check_is_fitted(self, "n_features_in_")
        fitted = getattr(self, "feature_names_in_", None)
        if input_features is None:
            if fitted is not None:
                return [str(c) for c in fitted]
            return default_feature_names(self.n_features_in_)
        names = [str(c) for c in np.asarray(input_features, dtype=object)]
        if len(names) != self.n_features_in_:
            raise ValueError(
                f"input_features should have length equal to number of features "
                f"({self.n_features_in_}), got {len(names)}"
            )
        if fitted is not None and not np.array_equal(np.asarray(fitted, dtype=object), names):
            raise ValueError("input_features is not equal to feature_names_in_")
        return names

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn hook
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = self._string_inputs
        return tags


class ColumnDeriver(FrameTransformer):
    """Base class: derive columns from named input columns, append or replace them.

    Subclasses set ``_column_params`` (constructor parameters that each hold one column
    reference) or override :meth:`_input_refs`, and implement :meth:`_outputs` (the derived
    column names, each mapped to the input references it depends on) and :meth:`_derive`.

    A column reference is a column name (str) or a column position (int). Positions let the
    transformers work on NumPy arrays, which have no column names.
    """

    _column_params: ClassVar[tuple[str, ...]] = ()

    # -- hooks for subclasses -------------------------------------------------------------
    def _input_refs(self) -> list[ColumnRef]:
        """Column references this transformer reads, in a stable order."""
        return [getattr(self, p) for p in self._column_params]

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        """Derived column name -> input references it is computed from.

        ``names`` maps each input reference to its column name.
        """
        raise NotImplementedError

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        """Compute the derived columns; ``names`` maps each reference to its column name."""
        raise NotImplementedError

    def _check_extra_params(self) -> None:
        """Validate parameters other than column references and ``keep_input``."""

    # -- parameter and input checks -------------------------------------------------------
    def _check_params(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.keep_input, bool | np.bool_):
            raise ValueError(f"{owner}: keep_input must be True or False; got {self.keep_input!r}.")
        for param in self._column_params:
            value = getattr(self, param)
            if not _is_column_ref(value):
                raise ValueError(
                    f"{owner}: {param} must be a column name (str) or position (int); "
                    f"got {value!r}."
                )
        self._check_extra_params()

    def _resolve(self, names: Sequence[str]) -> dict[ColumnRef, str]:
        """Map every input reference to a column name of ``names``; raise if one is absent."""
        return resolve_refs(self._input_refs(), names, type(self).__name__)

    def _layout(self, names: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
        """Kept input names and the derived columns' lineage, for input columns ``names``."""
        resolved = self._resolve(names)
        used = set(resolved.values())
        kept = [n for n in names if self.keep_input or n not in used]
        derived: dict[str, list[str]] = {}
        for out, refs in self._outputs(resolved).items():
            sources = [resolved[r] for r in refs]
            derived[out] = [n for n in names if n in sources]
        clash = sorted(set(kept) & set(derived))
        if clash:
            raise ValueError(
                f"{type(self).__name__}: X already has column(s) {clash}, which this "
                f"transformer would create. Rename or drop them first, or set keep_input=False "
                f"if they are this transformer's own inputs."
            )
        return kept, derived

    # -- scikit-learn API -------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> ColumnDeriver:
        """Check the parameters and that ``X`` holds the input columns.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Input table. Arrays have no column names: give column positions then.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._check_params()
        frame, _ = self._validate(X, reset=True)
        names = list(frame.columns)
        resolved = self._resolve(names)
        self._derive(frame, resolved)  # validates the values; result discarded
        self.feature_lineage_ = self._lineage(names)
        return self

    def transform(self, X: Any) -> pd.DataFrame | np.ndarray:
        """Derive the new columns.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Input table with the same columns as in :meth:`fit`.

        Returns
        -------
        X_out : pandas.DataFrame or numpy.ndarray of shape (n_samples, n_features_out)
            The input columns (all of them, or those not used when ``keep_input=False``)
            followed by the derived columns. A DataFrame when ``X`` is one (or when
            ``set_output(transform="pandas")`` is set), an array otherwise.
        """
        check_is_fitted(self)
        frame, is_frame = self._validate(X, reset=False)
        names = list(frame.columns)
        kept, lineage = self._layout(names)
        derived = self._derive(frame, self._resolve(names))
        # Kept columns are not copied (the output shares them with X, as a passthrough would)
        # nor consolidated into one block: copying every column at every step cost more than
        # the clinical rules themselves.
        columns = {n: frame[n] for n in kept}
        columns.update((n, pd.Series(derived[n], index=frame.index)) for n in lineage)
        out = pd.DataFrame(columns, index=frame.index, copy=False)
        if not is_frame:
            return out.to_numpy()
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; defaults to ``feature_names_in_`` (or ``x0, x1, ...``).

        Returns
        -------
        feature_names_out : numpy.ndarray of str objects
            Kept input names followed by the derived column names.
        """
        kept, derived = self._layout(self._input_names(input_features))
        return np.asarray(kept + list(derived), dtype=object)

    def _lineage(self, names: Sequence[str]) -> dict[str, list[str]]:
        """Output column -> input columns, for input columns ``names``."""
        kept, derived = self._layout(list(names))
        return {**{n: [n] for n in kept}, **derived}
