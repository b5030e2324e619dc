"""Resampling schemes: which rows train and which test, computed once per run from data + seed.

Every model of a run is evaluated on the same list of :class:`Split`, so their out-of-fold
predictions are comparable patient by patient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold

from mmrisk.evaluation._checks import _check_outcome
from mmrisk.exceptions import SplitError

__all__ = ["SCHEMES", "Split", "make_splits"]

SCHEMES = ("kfold", "temporal", "by_site", "predefined")
"""Names accepted by :func:`make_splits`."""

_TEMPORAL_TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Split:
    """One train/test partition of the rows.

    Parameters
    ----------
    repeat : int
        Repeat number (0-based); folds of one repeat have disjoint test sets.
    fold : int
        Fold number within the repeat (0-based).
    train_idx : ndarray of int
        Positional indices of the training rows.
    test_idx : ndarray of int
        Positional indices of the test rows.
    scope : {"cv", "test"}, default="cv"
        Metric scope of the predictions: ``cv`` for K-fold, ``test`` for holdout schemes.
    label : str, default=""
        Human-readable description, e.g. ``"repeat 0, fold 3"`` or ``"site C04"``.
    """

    repeat: int
    fold: int
    train_idx: np.ndarray
    test_idx: np.ndarray
    scope: str = "cv"
    label: str = ""


def _require_column(meta: pd.DataFrame | None, column: str, scheme: str, n: int) -> pd.Series:
    if meta is None or column not in meta.columns:
        have = [] if meta is None else list(meta.columns)
        raise SplitError(
            f"scheme {scheme!r} needs a column {column!r} in meta; meta has columns {have!r}."
        )
    if len(meta) != n:
        raise SplitError(f"meta has {len(meta)} rows but y has {n}; they must be row-aligned.")
    values = meta[column].reset_index(drop=True)
    if values.isna().any():
        raise SplitError(
            f"scheme {scheme!r}: column {column!r} is missing in {int(values.isna().sum())} "
            f"row(s) (first at position {int(np.flatnonzero(values.isna())[0])}); fill or drop "
            "them."
        )
    return values


def _kfold(event: np.ndarray, n_splits: int, n_repeats: int, seed: int) -> list[Split]:
    if n_splits < 2 or n_repeats < 1:
        raise SplitError(
            f"kfold needs n_splits >= 2 and n_repeats >= 1; got {n_splits} and {n_repeats}."
        )
    n_events, n_censored = int(event.sum()), int((~event).sum())
    if min(n_events, n_censored) < n_splits:
        raise SplitError(
            f"kfold stratifies on the event indicator and needs at least n_splits={n_splits} "
            f"events and censored rows; got {n_events} events and {n_censored} censored. "
            "Lower n_splits."
        )
    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    dummy = np.zeros((event.size, 1))
    return [
        Split(
            k // n_splits,
            k % n_splits,
            tr,
            te,
            "cv",
            f"repeat {k // n_splits}, fold {k % n_splits}",
        )
        for k, (tr, te) in enumerate(cv.split(dummy, event))
    ]


def _auto_cut_year(years: pd.Series) -> int:
    """The cut for which the later years hold the share closest to 25% of the rows."""
    counts = years.value_counts().sort_index()
    later_share = counts[::-1].cumsum()[::-1] / counts.sum()
    candidates = later_share.iloc[1:]  # the earliest year cannot be a cut
    if candidates.empty:
        raise SplitError(
            f"temporal: all rows have the same year {int(counts.index[0])}; nothing to cut."
        )
    return int((candidates - _TEMPORAL_TEST_FRACTION).abs().idxmin())


def _temporal(event, meta, test_from_year, column) -> list[Split]:
    years = _require_column(meta, column, "temporal", event.size)
    years = pd.to_numeric(years, errors="raise")
    cut = _auto_cut_year(years) if test_from_year is None else test_from_year
    test = (years >= cut).to_numpy()
    for side, mask in (("train (years before)", ~test), ("test (years from)", test)):
        if not mask.any():
            raise SplitError(
                f"temporal: the cut at {cut} leaves the {side} side empty; {column!r} ranges "
                f"{int(years.min())}–{int(years.max())}. Choose test_from_year inside it."
            )
        if not event[mask].any():
            raise SplitError(
                f"temporal: the cut at {cut} leaves no event on the {side.split()[0]} side; "
                "choose another test_from_year."
            )
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    return [Split(0, 0, train_idx, test_idx, "test", f"{column} >= {cut}")]


def _by_site(event, meta, column) -> list[Split]:
    sites = _require_column(meta, column, "by_site", event.size).astype(str)
    names = sorted(sites.unique())
    if len(names) < 2:
        raise SplitError(f"by_site needs at least 2 distinct {column!r} values; got {names!r}.")
    splits = []
    for k, name in enumerate(names):
        test = (sites == name).to_numpy()
        if not event[test].any():
            raise SplitError(
                f"by_site: centre {name!r} ({int(test.sum())} rows) has no events, so its "
                "held-out metrics are undefined; merge it with another centre or drop it."
            )
        splits.append(
            Split(0, k, np.flatnonzero(~test), np.flatnonzero(test), "test", f"{column} {name}")
        )
    return splits


def _predefined(event, meta, column) -> list[Split]:
    values = _require_column(meta, column, "predefined", event.size)
    bad = ~values.isin(["train", "test"])
    if bad.any():
        shown = sorted(map(repr, values[bad].unique()))[:5]
        raise SplitError(
            f"predefined: column {column!r} must hold only 'train' or 'test'; {int(bad.sum())} "
            f"row(s) hold {', '.join(shown)} (first at position {int(np.flatnonzero(bad)[0])})."
        )
    test = (values == "test").to_numpy()
    for side, mask in (("train", ~test), ("test", test)):
        if not mask.any():
            raise SplitError(f"predefined: column {column!r} has no {side!r} row.")
        if not event[mask].any():
            raise SplitError(f"predefined: the {side!r} rows of {column!r} hold no event.")
    return [Split(0, 0, np.flatnonzero(~test), np.flatnonzero(test), "test", f"{column}")]


def make_splits(
    scheme: str,
    y,
    meta: pd.DataFrame | None = None,
    *,
    n_splits: int = 5,
    n_repeats: int = 2,
    test_from_year: int | None = None,
    split_column: str | None = None,
    site_column: str = "site",
    year_column: str = "transplant_year",
    seed: int = 0,
) -> list[Split]:
    """Train/test partitions of the rows for one resampling scheme.

    Parameters
    ----------
    scheme : {"kfold", "temporal", "by_site", "predefined"}
        ``kfold``: repeated K-fold stratified on the event indicator (scope ``cv``).
        ``temporal``: train on transplant years before ``test_from_year``, test on the rest.
        ``by_site``: leave one centre out, each centre once (scope ``test``; the held-out
        centres' predictions are pooled). ``predefined``: a column with ``"train"``/``"test"``.
    y : structured ndarray of shape (n_samples,)
        Outcome (``sksurv.util.Surv``); only the event indicator is used.
    meta : DataFrame, optional
        Row-aligned metadata holding the site, year or split column.
    n_splits : int, default=5
        Folds per repeat (``kfold``).
    n_repeats : int, default=2
        Repeats (``kfold``).
    test_from_year : int, optional
        First test year (``temporal``); default: the cut that puts closest to 25% of the rows
        in the test set.
    split_column : str, optional
        Column of ``meta`` for ``predefined``; default ``"split"``.
    site_column : str, default="site"
        Column of ``meta`` for ``by_site``.
    year_column : str, default="transplant_year"
        Column of ``meta`` for ``temporal``.
    seed : int, default=0
        Seed of the fold assignment (``kfold``); other schemes are deterministic.

    Returns
    -------
    list of Split
        Same data and seed give the same list.

    Raises
    ------
    SplitError
        When the scheme cannot be built from the data (unknown scheme, missing column, a split
        column with other values, a centre without events, a cut that leaves a side empty).
    """
    event, _ = _check_outcome(y, "y")
    if scheme == "kfold":
        return _kfold(event, n_splits, n_repeats, seed)
    if scheme == "temporal":
        return _temporal(event, meta, test_from_year, year_column)
    if scheme == "by_site":
        return _by_site(event, meta, site_column)
    if scheme == "predefined":
        return _predefined(event, meta, split_column or "split")
    raise SplitError(f"unknown resampling scheme {scheme!r}; choose one of {SCHEMES!r}.")
