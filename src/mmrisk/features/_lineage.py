"""Feature lineage: which input columns each output column of a fitted pipeline comes from.

Explanations (SHAP values) are computed on a model's input, i.e. the pipeline's *output*
columns (``cat__sex_F``, ``num__riss``). Lineage maps each of them back to the clinical columns
that went into the pipeline (``sex``; β2M, albumin, LDH, ULN and three cytogenetic results), so
contributions can be summed per clinical feature.

Rules, per step:

- mmrisk transformers report their own lineage (``feature_lineage_``);
- :class:`~sklearn.pipeline.Pipeline`: the steps' lineages are composed;
- :class:`~sklearn.compose.ColumnTransformer` and :class:`~sklearn.pipeline.FeatureUnion`: each
  part's lineage, under the part's name prefix;
- :class:`~sklearn.preprocessing.OneHotEncoder`: ``<col>_<category>`` comes from ``<col>``
  (matched by the number of categories of each input, so ``sex_M`` from ``sex`` is never
  taken for an input column named ``sex_M``);
- ``missingindicator_<col>`` (``SimpleImputer(add_indicator=True)``, ``MissingIndicator``) comes
  from ``<col>``;
- an output with the name of an input comes from that input; a one-to-one transformer
  (:class:`~sklearn.base.OneToOneFeatureMixin`, ``FunctionTransformer`` with
  ``feature_names_out="one-to-one"``) maps outputs to inputs by position;
- anything else (e.g. PCA): every output comes from every input (conservative).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import OneToOneFeatureMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from sklearn.utils.validation import check_is_fitted

__all__ = ["lineage", "get_feature_lineage"]

Lineage = dict[str, list[str]]

_INDICATOR_PREFIX = "missingindicator_"


def get_feature_lineage(estimator: Any) -> Lineage:
    """Lineage of a fitted transformer or pipeline, from the columns it was fitted on.

    Parameters
    ----------
    estimator : fitted transformer or sklearn.pipeline.Pipeline
        Must have been fitted on a DataFrame with string column names (so that it has
        ``feature_names_in_``).

    Returns
    -------
    dict of str to list of str
        Every output column (``get_feature_names_out()``) mapped to the input columns it comes
        from, in input order.

    See Also
    --------
    lineage : the same, with the input column names given explicitly.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        check_is_fitted(estimator)
        raise ValueError(
            f"{type(estimator).__name__} has no feature_names_in_: fit it on a DataFrame with "
            "string column names, or call lineage(estimator, input_columns)."
        )
    return lineage(estimator, list(names))


def lineage(estimator: Any, input_columns: Sequence[str] | None = None) -> Lineage:
    """Map every output column of a fitted estimator to the input columns it comes from.

    Parameters
    ----------
    estimator : fitted transformer, sklearn.pipeline.Pipeline or \
sklearn.compose.ColumnTransformer
        The fitted feature pipeline (or one step of it). A trailing step without
        ``get_feature_names_out`` (a model) is ignored.
    input_columns : sequence of str, default=None
        Names of the columns that went into ``estimator``; defaults to its
        ``feature_names_in_``.

    Returns
    -------
    dict of str to list of str
        Output column name -> input column names, each list in input order and without
        duplicates. Keys follow the order of ``get_feature_names_out()``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If a step cannot name its output columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmrisk.features import ISS, lineage, make_encoder
    >>> X = pd.DataFrame({"beta2m_mg_L": [2.0, 6.0], "albumin_g_L": [40.0, 30.0],
    ...                   "sex": ["F", "M"]})
    >>> pipe = make_pipeline(ISS(), make_encoder()).set_output(transform="pandas").fit(X)
    >>> lineage(pipe, list(X.columns))["num__iss_computed"]
    ['beta2m_mg_L', 'albumin_g_L']
    >>> lineage(pipe, list(X.columns))["cat__sex_F"]
    ['sex']
    """
    if input_columns is None:
        return get_feature_lineage(estimator)
    names = [str(c) for c in input_columns]
    rank = {n: i for i, n in enumerate(names)}
    return {
        out: sorted(dict.fromkeys(sources), key=lambda s: rank.get(s, len(rank)))
        for out, sources in _step_lineage(estimator, names).items()
    }


def _compose(first: Lineage, second: Lineage, order: Sequence[str]) -> Lineage:
    """Lineage of ``second`` after ``first``, expressed in the inputs of ``first``."""
    rank = {n: i for i, n in enumerate(order)}
    out: Lineage = {}
    for name, parents in second.items():
        sources = {src for p in parents for src in first.get(p, [p])}
        out[name] = sorted(sources, key=lambda s: rank.get(s, len(rank)))
    return out


def _step_lineage(est: Any, names: list[str]) -> Lineage:
    if est is None or (isinstance(est, str) and est == "passthrough"):
        return {n: [n] for n in names}
    if isinstance(est, str) and est == "drop":
        return {}
    if isinstance(est, Pipeline):
        return _pipeline_lineage(est, names)
    if isinstance(est, ColumnTransformer):
        return _column_transformer_lineage(est, names)
    if isinstance(est, FeatureUnion):
        return _feature_union_lineage(est, names)
    own = getattr(est, "_lineage", None)
    if callable(own) and hasattr(est, "feature_lineage_"):
        return own(names)
    return _generic_lineage(est, names)


def _pipeline_lineage(pipe: Pipeline, names: list[str]) -> Lineage:
    current: Lineage = {n: [n] for n in names}
    steps = list(pipe.steps)
    # A final estimator that is not a transformer (a model) has no output columns.
    if (
        steps
        and not hasattr(steps[-1][1], "get_feature_names_out")
        and not isinstance(steps[-1][1], str | type(None))
    ):
        steps = steps[:-1]
    for _, step in steps:
        current = _compose(current, _step_lineage(step, list(current)), names)
    return current


def _prefixed(prefix: str, feature: str, verbose: Any) -> str:
    if verbose is True:
        return f"{prefix}__{feature}"
    if verbose is False:
        return feature
    return str(verbose).format(transformer_name=prefix, feature_name=feature)


def _column_transformer_lineage(ct: ColumnTransformer, names: list[str]) -> Lineage:
    check_is_fitted(ct)
    verbose = ct.verbose_feature_names_out
    out: Lineage = {}
    for part, trans, columns in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        sub_names = _column_names(columns, names)
        if not sub_names:
            continue
        sub = _step_lineage(trans, sub_names)
        for feature, sources in sub.items():
            out[_prefixed(part, feature, verbose)] = sources
    expected = [str(c) for c in ct.get_feature_names_out(names)]
    if list(out) != expected:
        raise ValueError(
            f"lineage: could not match the output columns of ColumnTransformer "
            f"(expected {expected[:5]}..., derived {list(out)[:5]}...)."
        )
    return out


def _feature_union_lineage(union: FeatureUnion, names: list[str]) -> Lineage:
    out: Lineage = {}
    for part, trans in union.transformer_list:
        if trans is None or (isinstance(trans, str) and trans == "drop"):
            continue
        for feature, sources in _step_lineage(trans, names).items():
            out[_prefixed(part, feature, union.verbose_feature_names_out)] = sources
    return out


def _column_names(columns: Any, names: list[str]) -> list[str]:
    """Resolve a ColumnTransformer column specification (fitted) to column names."""
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, slice):
        return names[columns]
    cols = list(np.asarray(columns).ravel()) if not isinstance(columns, list) else columns
    if cols and all(isinstance(c, bool | np.bool_) for c in cols):
        return [n for n, keep in zip(names, cols, strict=True) if keep]
    return [names[int(c)] if isinstance(c, int | np.integer) else str(c) for c in cols]


def _generic_lineage(est: Any, names: list[str]) -> Lineage:
    if not hasattr(est, "get_feature_names_out"):
        raise ValueError(
            f"lineage: {type(est).__name__} cannot name its output columns "
            "(no get_feature_names_out)."
        )
    outputs = [str(c) for c in est.get_feature_names_out(names)]
    if isinstance(est, OneHotEncoder):
        return _one_hot_lineage(est, names, outputs)
    one_to_one = isinstance(est, OneToOneFeatureMixin) or (
        isinstance(est, FunctionTransformer) and est.feature_names_out == "one-to-one"
    )
    if one_to_one and len(outputs) == len(names):
        return {o: [n] for o, n in zip(outputs, names, strict=True)}
    known = set(names)
    out: Lineage = {}
    for o in outputs:
        if o in known:
            out[o] = [o]
        elif o.startswith(_INDICATOR_PREFIX) and o[len(_INDICATOR_PREFIX) :] in known:
            out[o] = [o[len(_INDICATOR_PREFIX) :]]
        else:
            out[o] = list(names)
    return out


def _one_hot_counts(enc: OneHotEncoder) -> list[int]:
    """Number of output columns of each input column of a fitted one-hot encoder.

    Computed from the public fitted attributes: one column per category, minus the dropped
    one (``drop_idx_``), with the infrequent categories (``infrequent_categories_``) merged
    into one.
    """
    drop = getattr(enc, "drop_idx_", None)
    try:
        infrequent = enc.infrequent_categories_
    except AttributeError:  # infrequent categories not enabled
        infrequent = None
    counts = []
    for i, categories in enumerate(enc.categories_):
        n = len(categories)
        if infrequent is not None and infrequent[i] is not None:
            n -= len(infrequent[i]) - 1
        if drop is not None and drop[i] is not None:
            n -= 1
        counts.append(n)
    return counts


def _one_hot_lineage(enc: OneHotEncoder, names: list[str], outputs: list[str]) -> Lineage:
    """Each ``<col>_<category>`` output of a one-hot encoder comes from ``<col>``.

    The outputs come grouped by input column, in input order, so they are assigned by count,
    not by name: an input ``sex_M`` next to an input ``sex`` (category ``M``) cannot be
    confused. If the counts do not add up, fall back to the longest input name that prefixes
    the output name.
    """
    counts = _one_hot_counts(enc)
    if len(counts) == len(names) and sum(counts) == len(outputs):
        owners = [name for name, n in zip(names, counts, strict=True) for _ in range(n)]
        return {o: [owner] for o, owner in zip(outputs, owners, strict=True)}
    by_length = sorted(names, key=len, reverse=True)
    out: Lineage = {}
    for o in outputs:
        match = next((n for n in by_length if o.startswith(f"{n}_")), None)
        out[o] = [match] if match is not None else list(names)
    return out
