"""Generic preprocessing steps: column selection, imputation + one-hot encoding + scaling, and
removal of exactly collinear columns."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from mmrisk.features._base import ColumnRef, FrameTransformer, _is_column_ref, resolve_refs

__all__ = [
    "SelectColumns",
    "DropCollinear",
    "ReferenceOneHotEncoder",
    "make_encoder",
    "MISSING_CATEGORY",
]

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


#: Relative residual below which :class:`DropCollinear` counts a column as dependent.
_COLLINEAR_TOL = 1e-8


class DropCollinear(SelectColumns):
    """Drop constant columns and columns that are linear combinations of earlier ones.

    A Cox model has no intercept, so without a penalty a constant column, or one that equals
    a linear combination of other columns plus a constant, has no identifiable coefficient
    (e.g. ``missingindicator_creatinine`` and ``missingindicator_egfr``, which are the same
    column; or a count derived from one-hot columns that are also in the design). This step
    keeps the columns in order and drops every column whose centred values lie (to a relative
    tolerance ``tol``) in the span of the centred columns already kept, so the output has full
    column rank after centring on the data it was fitted on. Columns with missing values are
    kept unchanged and not used. Which column of a dependence is dropped follows the
    examination order: input order, with ``prefer_drop`` moved to the end. With no more rows
    than columns the centred columns cannot all be independent: once the kept columns span the
    ``n_samples - 1`` dimensions available, the remaining columns are kept (constant ones
    excepted), so a small table is not cut down to ``n_samples - 1`` columns.

    Parameters
    ----------
    prefer_drop : list of str, default=()
        Columns examined after all the others (in this order), so that when they take part in
        a dependence they are the ones dropped: e.g. a summary derived from columns that are
        also in the design. The output keeps the input order either way.
    tol : float, default=1e-8
        A column is dropped when the norm of its centred values after projection on the kept
        columns is at most ``tol`` times its centred norm, or when it is constant (centred
        norm at most ``tol`` times its uncentred norm bound).

    Attributes
    ----------
    selected_indices_ : list of int
        Positions of the kept input columns, in output order.
    dropped_ : list of str
        Names of the dropped columns, in input order.
    feature_lineage_ : dict of str to list of str
        Every output column mapped to itself.
    n_features_in_ : int
        Number of input columns seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` in :meth:`fit` was a DataFrame with string names.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features._encoding import DropCollinear
    >>> X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 0.0],
    ...                   "a_plus_b": [1.0, 3.0, 3.0, 4.0], "one": [1.0, 1.0, 1.0, 1.0]})
    >>> step = DropCollinear().fit(X)
    >>> step.transform(X).columns.tolist(), step.dropped_
    (['a', 'b'], ['a_plus_b', 'one'])
    """

    _string_inputs = False

    def __init__(self, prefer_drop: Sequence[str] = (), tol: float = _COLLINEAR_TOL) -> None:
        self.prefer_drop = prefer_drop
        self.tol = tol

    def fit(self, X: Any, y: Any = None) -> DropCollinear:
        """Choose the columns to keep.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Numeric columns (e.g. the encoder's output).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        if isinstance(self.tol, bool) or not isinstance(self.tol, int | float) or not (
            0 <= self.tol < 1
        ):
            raise ValueError(f"DropCollinear: tol must be a number in [0, 1); got {self.tol!r}.")
        prefer = self.prefer_drop
        if isinstance(prefer, str) or not all(isinstance(c, str) for c in prefer):
            raise ValueError(
                f"DropCollinear: prefer_drop must be a list of column names; got {prefer!r}."
            )
        frame, _ = self._validate(X, reset=True)
        names = list(frame.columns)
        values = frame.to_numpy(dtype=float)
        late = [names.index(c) for c in prefer if c in names]
        order = [j for j in range(len(names)) if j not in late] + late
        basis = np.empty((values.shape[0], 0))
        # Centred columns live in a space of dimension n_samples - 1: once the kept columns
        # span it, every further column is a combination of them for lack of rows, not by
        # construction, and is kept (only constant columns are still dropped).
        n_free = max(values.shape[0] - 1, 0)
        keep, dropped = [], []
        for j in order:
            name, col = names[j], values[:, j]
            if np.isnan(col).any():
                keep.append(j)
                continue
            v = col - col.mean()
            norm = np.linalg.norm(v)
            size = np.abs(col).max() * np.sqrt(col.size)  # norm of the column, at most
            r = v.copy()
            for _ in range(2):  # Gram-Schmidt, twice for numerical stability
                r -= basis @ (basis.T @ r)
            rest = np.linalg.norm(r)
            constant = norm <= self.tol * size
            if constant or (basis.shape[1] < n_free and rest <= self.tol * norm):
                dropped.append(name)
                continue
            keep.append(j)
            if basis.shape[1] < n_free:
                basis = np.column_stack([basis, r / rest])
        self.selected_indices_ = sorted(keep)
        gone = set(dropped)
        self.dropped_ = [n for n in names if n in gone]
        self.feature_lineage_ = self._lineage(names)
        return self

    def transform(self, X: Any) -> pd.DataFrame | np.ndarray:
        """Return the kept columns.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Numeric columns with the same names as in :meth:`fit`.

        Returns
        -------
        X_out : pandas.DataFrame or numpy.ndarray of shape (n_samples, n_selected)
            The kept columns, a DataFrame when ``X`` is one. Float64 columns come out as one
            block of memory, so that a model's ``predict`` reads them without another copy.
        """
        check_is_fitted(self)
        frame, is_frame = self._validate(X, reset=False)
        if not is_frame:
            return frame.iloc[:, self.selected_indices_].to_numpy()
        idx = self.selected_indices_
        if not idx or any(frame.dtypes.iloc[i] != np.float64 for i in idx):
            return frame.iloc[:, idx]
        values = np.empty((len(idx), len(frame)), dtype=np.float64)  # column-major
        for j, i in enumerate(idx):
            values[j] = frame.iloc[:, i].to_numpy()
        return pd.DataFrame(values.T, index=frame.index, columns=frame.columns[idx], copy=False)


class ReferenceOneHotEncoder(OneHotEncoder):
    """:class:`~sklearn.preprocessing.OneHotEncoder` that can drop the most frequent category.

    Every parameter of scikit-learn's encoder; ``drop`` also takes ``'most_frequent'``: the
    category seen most often in :meth:`fit` (ties: the first in sorted order) is the reference
    of each column and gets no output column. Without a penalty a model needs one reference
    per one-hot group (the group's columns otherwise sum to one: collinear); the most frequent
    category gives the most stable reference and readable hazard ratios ("del(17p) detected vs
    not detected", rather than vs whichever category sorts first).

    With a dropped reference, a category never seen in :meth:`fit` encodes as all zeros, i.e.
    as the reference; with ``drop='most_frequent'`` this happens without scikit-learn's
    warning about unknown categories.

    The parameters are scikit-learn's, passed on unchanged (see
    :class:`~sklearn.preprocessing.OneHotEncoder` for details); only ``drop`` takes one more
    value.

    Parameters
    ----------
    categories : 'auto' or list of array-like, default='auto'
        Categories of each column: found in :meth:`fit` (``'auto'``) or given per column.
    drop : {'first', 'if_binary', 'most_frequent'}, array-like or None, default=None
        Category of each column that gets no output column. ``'most_frequent'``: the category
        seen most often in :meth:`fit` (ties: the first in sorted order); ``'first'``,
        ``'if_binary'`` and an array-like of shape (n_features,) as in scikit-learn. ``None``
        keeps every category.
    sparse_output : bool, default=True
        Return a sparse matrix rather than a dense array.
    dtype : number type, default=numpy.float64
        Type of the output.
    handle_unknown : {'error', 'ignore', 'infrequent_if_exist', 'warn'}, default='error'
        What :meth:`transform` does with a category not seen in :meth:`fit`.
    min_frequency : int or float, default=None
        Categories rarer than this (a count, or a share of the rows) are merged into one
        infrequent category.
    max_categories : int, default=None
        Upper limit of output categories per column, the infrequent category included.
    feature_name_combiner : "concat" or callable, default="concat"
        How an output name is made from a column name and a category (``"concat"``:
        ``<column>_<category>``).

    Attributes
    ----------
    reference_categories_ : list or None
        With ``drop='most_frequent'``: the reference category of each input column.
    """

    _parameter_constraints = {
        **OneHotEncoder._parameter_constraints,
        "drop": [StrOptions({"first", "if_binary", "most_frequent"}), "array-like", None],
    }

    def fit(self, X: Any, y: Any = None) -> ReferenceOneHotEncoder:
        """Fit the encoder (and find the reference categories).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Categorical columns.
        y : None
            Ignored.

        Returns
        -------
        self : ReferenceOneHotEncoder
        """
        if not (isinstance(self.drop, str) and self.drop == "most_frequent"):
            self.reference_categories_ = None
            return super().fit(X, y)
        self._validate_params()
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
        references = []
        for j in range(frame.shape[1]):
            counts = frame.iloc[:, j].value_counts(dropna=False)
            top = counts[counts == counts.max()].index
            references.append(sorted(top, key=str)[0])
        params = {**self.get_params(deep=False), "drop": references}
        inner = OneHotEncoder(**params).fit(X, y)
        for key, value in vars(inner).items():
            if key not in params and key != "_sklearn_output_config":
                setattr(self, key, value)
        self.reference_categories_ = references
        return self

    def transform(self, X: Any) -> Any:
        """One-hot encode ``X``; unseen categories encode as the reference (all zeros).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Categorical columns.

        Returns
        -------
        ndarray, sparse matrix or DataFrame
            As :meth:`sklearn.preprocessing.OneHotEncoder.transform`.
        """
        most_frequent = isinstance(self.drop, str) and self.drop == "most_frequent"
        fast = _fast_one_hot(self, X, warn_unknown=not most_frequent)
        if fast is not None:
            return fast
        if not most_frequent:
            return super().transform(X)
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Found unknown categories", category=UserWarning
            )
            return super().transform(X)


def _string_values(values: Any) -> bool:
    """Whether an object array or Series holds only strings (and missing values)."""
    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _fast_one_hot(encoder: OneHotEncoder, X: Any, *, warn_unknown: bool) -> np.ndarray | None:
    """:meth:`OneHotEncoder.transform` of string columns by hashing, or None where it may differ.

    scikit-learn maps object columns to category positions with a Python dictionary look-up per
    cell; :meth:`pandas.Index.get_indexer` does the same matching (equal values, missing values
    unknown) in compiled code. Taken only for the configuration mmrisk's encoder uses: a
    DataFrame of object columns holding strings, string categories, ``handle_unknown='ignore'``,
    dense output and no infrequent categories; everything else goes to scikit-learn.
    """
    check_is_fitted(encoder)
    if (
        not isinstance(X, pd.DataFrame)
        or encoder.sparse_output
        or encoder.handle_unknown != "ignore"
        or getattr(encoder, "_infrequent_enabled", True)
        or len(X) == 0
        or X.shape[1] != len(encoder.categories_)
        or any(
            c.dtype != object or pd.isna(c).any() or not _string_values(c)
            for c in encoder.categories_
        )
        or any(X.iloc[:, i].dtype != object for i in range(X.shape[1]))
    ):
        return None
    columns = [X.iloc[:, i].to_numpy() for i in range(X.shape[1])]
    if not all(_string_values(c) for c in columns):
        return None
    validate_data(encoder, X=X, reset=False, skip_check_array=True)  # names and count, as sklearn
    drop = encoder._drop_idx_after_grouping
    widths = encoder._n_features_outs
    out = np.zeros((len(X), int(np.sum(widths))), dtype=encoder.dtype)
    offset, unknown = 0, []
    for i, (values, cats) in enumerate(zip(columns, encoder.categories_, strict=True)):
        codes = pd.Index(cats, dtype=object).get_indexer(values)
        valid = codes >= 0
        if not valid.all():
            unknown.append(i)
        if drop is not None and drop[i] is not None:
            valid &= codes != drop[i]
            codes = codes - (codes > drop[i])
        rows = np.flatnonzero(valid)
        out[rows, offset + codes[rows]] = 1
        offset += widths[i]
    if unknown and warn_unknown and encoder.drop is not None:
        warnings.warn(
            f"Found unknown categories in columns {unknown} during transform. These unknown "
            "categories will be encoded as all zeros",
            UserWarning,
            stacklevel=3,
        )
    return out


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


def _labels(series: pd.Series, missing: Any) -> np.ndarray:
    """``_category_label`` of every cell, computed once per distinct value where that is exact.

    Distinct values come from :func:`pandas.factorize`, which merges values that compare equal
    (``1`` and ``True``); that only happens in object columns of mixed types, which keep the
    per-cell path.
    """
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) in (
        "string",
        "empty",
    ):
        # missing values (None, NaN, pd.NA, NaT) get the code -1: the table's last entry
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        table = np.array([_category_label(v) for v in uniques] + [missing], dtype=object)
        return table[codes]
    na = series.isna().to_numpy()
    labels = np.array([_category_label(v) for v in series.astype(object)], dtype=object)
    labels[na] = missing
    return labels


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
        out[col] = _labels(series, missing)
    return pd.DataFrame(out, index=frame.index, columns=frame.columns, dtype=object)


def make_encoder(
    categorical: Sequence[str] | None = None,
    numeric: Sequence[str] | None = None,
    *,
    numeric_impute: Literal["mean", "median", "most_frequent"] | None = "median",
    add_indicator: bool = False,
    scale: bool = True,
    categorical_missing: Literal["category", "most_frequent"] = "category",
    drop: Literal["first", "if_binary", "most_frequent"] | None = None,
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
    drop : {'first', 'if_binary', 'most_frequent'} or None, default=None
        Reference category of each one-hot group, which gets no column (models without a
        penalty need one: a group's columns otherwise sum to one). ``'most_frequent'``: the
        category seen most often in fit (see :class:`ReferenceOneHotEncoder`; an unseen
        category then encodes as the reference); ``'first'``/``'if_binary'``: as
        :class:`~sklearn.preprocessing.OneHotEncoder`. ``None`` keeps every category.
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
            ReferenceOneHotEncoder(
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
