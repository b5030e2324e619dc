"""Generic preprocessing steps: column selection, and imputation + one-hot encoding + scaling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from mmrisk.features._base import ColumnRef, FrameTransformer, _is_column_ref, resolve_refs

__all__ = ["SelectColumns", "make_encoder", "MISSING_CATEGORY"]

#: Category given to missing values of categorical columns before one-hot encoding.
MISSING_CATEGORY = "missing"


class SelectColumns(FrameTransformer):
    """Keep some columns, by name/position and/or by dtype; pass them through unchanged.

    Parameters
    ----------
    columns : list of str or int, default=None
        Columns to keep, in this order (names, or positions for arrays). ``None`` keeps all.
    dtype_include : str or list of str, default=None
        Keep only columns of these dtypes, as in :meth:`pandas.DataFrame.select_dtypes`
        (e.g. ``"number"``, ``["number", "bool"]``).
    dtype_exclude : str or list of str, default=None
        Drop columns of these dtypes.

    Attributes
    ----------
    selected_indices_ : list of int
        Positions of the kept input columns, in output order.
    feature_lineage_ : dict of str to list of str
        Every output column mapped to itself.
    n_features_in_ : int
        Number of input columns seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` in :meth:`fit` was a DataFrame with string names.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import SelectColumns
    >>> X = pd.DataFrame({"age": [60.0], "sex": ["F"], "sex_M": [False]})
    >>> SelectColumns(dtype_include=["number", "bool"]).fit_transform(X).columns.tolist()
    ['age', 'sex_M']
    """

    def __init__(
        self,
        columns: Sequence[ColumnRef] | None = None,
        *,
        dtype_include: str | Sequence[str] | None = None,
        dtype_exclude: str | Sequence[str] | None = None,
    ) -> None:
        self.columns = columns
        self.dtype_include = dtype_include
        self.dtype_exclude = dtype_exclude

    def fit(self, X: Any, y: Any = None) -> SelectColumns:
        """Choose the columns to keep.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Input table.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        cols = self.columns
        if cols is not None and (
            isinstance(cols, str)
            or not isinstance(cols, Sequence)
            or not all(_is_column_ref(c) for c in cols)
        ):
            raise ValueError(
                f"SelectColumns: columns must be a list of column names or positions; got {cols!r}."
            )
        frame, _ = self._validate(X, reset=True)
        names = list(frame.columns)
        wanted = (
            names if cols is None else list(resolve_refs(cols, names, "SelectColumns").values())
        )
        if self.dtype_include is not None or self.dtype_exclude is not None:
            typed = set(
                frame.select_dtypes(include=self.dtype_include, exclude=self.dtype_exclude).columns
            )
            wanted = [n for n in wanted if n in typed]
        position = {n: i for i, n in enumerate(names)}
        self.selected_indices_ = [position[n] for n in wanted]
        self.feature_lineage_ = self._lineage(names)
        return self

    def transform(self, X: Any) -> pd.DataFrame | np.ndarray:
        """Return the kept columns.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Input table with the same columns as in :meth:`fit`.

        Returns
        -------
        X_out : pandas.DataFrame or numpy.ndarray of shape (n_samples, n_selected)
            The kept columns, a DataFrame when ``X`` is one.
        """
        check_is_fitted(self)
        frame, is_frame = self._validate(X, reset=False)
        out = frame.iloc[:, self.selected_indices_]
        return out if is_frame else out.to_numpy()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the kept columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; defaults to ``feature_names_in_`` (or ``x0, x1, ...``).

        Returns
        -------
        feature_names_out : numpy.ndarray of str objects
            The kept columns' names.
        """
        check_is_fitted(self)
        names = self._input_names(input_features)
        return np.asarray([names[i] for i in self.selected_indices_], dtype=object)

    def _lineage(self, names: Sequence[str]) -> dict[str, list[str]]:
        return {names[i]: [names[i]] for i in self.selected_indices_}


def _is_numeric(series: pd.Series) -> bool:
    """Numeric and not boolean: imputed and scaled rather than one-hot encoded."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


class ColumnsOfKind:
    """Column selector for :class:`~sklearn.compose.ColumnTransformer`: numeric or not.

    Parameters
    ----------
    kind : {'numeric', 'categorical'}
        ``'numeric'`` picks numeric, non-boolean columns; ``'categorical'`` picks the rest.
    exclude : sequence of str, default=()
        Columns never picked (e.g. those listed explicitly for the other kind).
    """

    def __init__(self, kind: Literal["numeric", "categorical"], exclude: Sequence[str] = ()):
        self.kind = kind
        self.exclude = tuple(exclude)

    def __call__(self, X: pd.DataFrame) -> list[str]:
        """Names of the columns of ``X`` of this kind."""
        want_numeric = self.kind == "numeric"
        return [c for c in X.columns if c not in self.exclude and _is_numeric(X[c]) == want_numeric]

    def __repr__(self) -> str:
        return f"ColumnsOfKind({self.kind!r}, exclude={list(self.exclude)!r})"


def _category_label(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_category_strings(X: Any, missing: Any = MISSING_CATEGORY) -> pd.DataFrame:
    """Turn every column into strings for one-hot encoding; missing values become ``missing``.

    Whole-number floats lose their ``.0`` (R-ISS 2.0 becomes ``'2'``), so encoded names read
    ``riss_2`` rather than ``riss_2.0``.

    Parameters
    ----------
    X : pandas.DataFrame or array-like of shape (n_samples, n_features)
        Categorical columns.
    missing : object, default='missing'
        Value that replaces missing entries (use ``numpy.nan`` to impute them afterwards).

    Returns
    -------
    pandas.DataFrame of shape (n_samples, n_features), dtype object
        The string labels.
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    out = {}
    for col in frame.columns:
        series = frame[col]
        na = series.isna().to_numpy()
        labels = np.array([_category_label(v) for v in series.astype(object)], dtype=object)
        labels[na] = missing
        out[col] = labels
    return pd.DataFrame(out, index=frame.index, columns=frame.columns, dtype=object)


def make_encoder(
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    *,
    numeric_impute: Literal["mean", "median", "most_frequent"] | None = "median",
    add_indicator: bool = False,
    scale: bool = True,
    categorical_missing: Literal["category", "most_frequent"] = "category",
    drop: Literal["first", "if_binary"] | None = None,
    min_frequency: int | float | None = None,
    remainder: Literal["drop", "passthrough"] = "drop",
) -> ColumnTransformer:
    """Imputation, one-hot encoding and scaling as one :class:`~sklearn.compose.ColumnTransformer`.

    Numeric columns go through ``SimpleImputer`` (optional) then ``StandardScaler`` (optional)
    and come out as ``num__<name>`` (plus ``num__missingindicator_<name>`` with
    ``add_indicator``). Categorical columns are turned into strings (missing values become the
    category ``'missing'``, or are imputed by the most frequent category) and one-hot encoded
    as ``cat__<name>_<category>``; categories unseen in ``fit`` encode as all zeros.

    Parameters
    ----------
    categorical : list of str, default=None
        Columns to one-hot encode. ``None``: every non-numeric (or boolean) column not listed in
        ``numeric``.
    numeric : list of str, default=None
        Columns to impute and scale. ``None``: every numeric column not listed in
        ``categorical``. Use ``[]`` for none.
    numeric_impute : {'mean', 'median', 'most_frequent'} or None, default='median'
        Imputation of numeric columns; ``None`` leaves missing values in place.
    add_indicator : bool, default=False
        Add a missing-value indicator for every numeric column that had missing values in fit.
    scale : bool, default=True
        Standardise numeric columns (mean 0, variance 1).
    categorical_missing : {'category', 'most_frequent'}, default='category'
        Keep missing categorical values as their own category, or impute the most frequent.
    drop : {'first', 'if_binary'} or None, default=None
        Passed to :class:`~sklearn.preprocessing.OneHotEncoder` (``'first'`` for models without
        a penalty, which need a reference category).
    min_frequency : int or float, default=None
        Passed to :class:`~sklearn.preprocessing.OneHotEncoder`: rarer categories are merged.
    remainder : {'drop', 'passthrough'}, default='drop'
        What happens to columns that are in neither group.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Unfitted; its output names carry the prefixes ``num__`` and ``cat__``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import make_encoder
    >>> X = pd.DataFrame({"age": [50.0, None, 70.0], "sex": ["F", "M", None]})
    >>> enc = make_encoder(add_indicator=True).set_output(transform="pandas")
    >>> enc.fit_transform(X).columns.tolist()
    ['num__age', 'num__missingindicator_age', 'cat__sex_F', 'cat__sex_M', 'cat__sex_missing']
    """
    num_cols: Any = (
        list(numeric) if numeric is not None else ColumnsOfKind("numeric", categorical or ())
    )
    cat_cols: Any = (
        list(categorical)
        if categorical is not None
        else ColumnsOfKind("categorical", numeric or ())
    )
    num_steps: list[tuple[str, Any]] = []
    if numeric_impute is not None:
        num_steps.append(
            ("impute", SimpleImputer(strategy=numeric_impute, add_indicator=add_indicator))
        )
    if scale:
        num_steps.append(("scale", StandardScaler()))
    num_pipe: Any = Pipeline(num_steps) if num_steps else "passthrough"
    missing = MISSING_CATEGORY if categorical_missing == "category" else np.nan
    cat_steps: list[tuple[str, Any]] = [
        (
            "labels",
            FunctionTransformer(
                as_category_strings, kw_args={"missing": missing}, feature_names_out="one-to-one"
            ),
        )
    ]
    if categorical_missing == "most_frequent":
        cat_steps.append(("impute", SimpleImputer(strategy="most_frequent")))
    cat_steps.append(
        (
            "onehot",
            OneHotEncoder(
                handle_unknown="ignore",
                sparse_output=False,
                drop=drop,
                min_frequency=min_frequency,
            ),
        )
    )
    return ColumnTransformer(
        [("num", num_pipe, num_cols), ("cat", Pipeline(cat_steps), cat_cols)],
        remainder=remainder,
        verbose_feature_names_out=True,
    )
