"""Resampling schemes: partitions, stratification, determinism and the errors they raise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.util import Surv

from mmrisk.evaluation import SCHEMES, Split, make_splits
from mmrisk.exceptions import SplitError


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(0)
    n = 300
    event = rng.random(n) < 0.35
    y = Surv.from_arrays(event, rng.uniform(1, 100, n))
    meta = pd.DataFrame(
        {
            "site": rng.choice(["C01", "C02", "C03", "C04"], n),
            "transplant_year": rng.integers(2007, 2016, n),
            "split": np.where(rng.random(n) < 0.3, "test", "train"),
        }
    )
    return y, meta


def test_kfold_partitions_each_repeat(cohort):
    y, _ = cohort
    splits = make_splits("kfold", y, seed=1)
    assert len(splits) == 10 and all(isinstance(s, Split) for s in splits)
    assert [(s.repeat, s.fold) for s in splits] == [(r, f) for r in range(2) for f in range(5)]
    for r in range(2):
        tests = np.concatenate([s.test_idx for s in splits if s.repeat == r])
        assert np.array_equal(np.sort(tests), np.arange(y.size))
    for s in splits:
        assert np.intersect1d(s.train_idx, s.test_idx).size == 0
        assert s.train_idx.size + s.test_idx.size == y.size
        assert s.scope == "cv"


def test_kfold_is_stratified_on_the_event(cohort):
    y, _ = cohort
    counts = [int(y["event"][s.test_idx].sum()) for s in make_splits("kfold", y, seed=2)]
    assert max(counts) - min(counts) <= 1


def test_kfold_repeats_differ_and_seed_reproduces(cohort):
    y, _ = cohort
    a = make_splits("kfold", y, seed=3)
    b = make_splits("kfold", y, seed=3)
    c = make_splits("kfold", y, seed=4)
    assert all(np.array_equal(s.test_idx, t.test_idx) for s, t in zip(a, b, strict=True))
    assert not np.array_equal(a[0].test_idx, c[0].test_idx)
    assert not np.array_equal(a[0].test_idx, a[5].test_idx)  # repeat 1 reshuffles


def test_kfold_needs_enough_events():
    y = Surv.from_arrays([True, True, False, False, False, False], np.arange(1.0, 7.0))
    with pytest.raises(SplitError, match="at least n_splits=5 events and censored rows; got 2"):
        make_splits("kfold", y)


def test_temporal(cohort):
    y, meta = cohort
    (split,) = make_splits("temporal", y, meta, test_from_year=2013)
    years = meta["transplant_year"].to_numpy()
    assert np.all(years[split.train_idx] < 2013) and np.all(years[split.test_idx] >= 2013)
    assert split.scope == "test"
    (auto,) = make_splits("temporal", y, meta)
    assert 0.15 < auto.test_idx.size / y.size < 0.35


@pytest.mark.parametrize("year", [2030, 2000])
def test_temporal_cut_leaving_a_side_empty(cohort, year):
    y, meta = cohort
    with pytest.raises(SplitError, match=f"the cut at {year} leaves the .* side empty"):
        make_splits("temporal", y, meta, test_from_year=year)


def test_temporal_needs_the_year_column(cohort):
    y, meta = cohort
    with pytest.raises(SplitError, match="needs a column 'transplant_year' in meta"):
        make_splits("temporal", y, meta.drop(columns="transplant_year"), test_from_year=2012)


def test_by_site_holds_out_each_centre_once(cohort):
    y, meta = cohort
    splits = make_splits("by_site", y, meta)
    assert [s.label for s in splits] == ["site C01", "site C02", "site C03", "site C04"]
    for s in splits:
        assert meta["site"].iloc[s.test_idx].nunique() == 1
        assert s.label.split()[-1] not in set(meta["site"].iloc[s.train_idx])
    tests = np.concatenate([s.test_idx for s in splits])
    assert np.array_equal(np.sort(tests), np.arange(y.size))


def test_by_site_centre_without_events(cohort):
    y, meta = cohort
    meta = meta.copy()
    no_event_rows = np.flatnonzero(~y["event"])[:5]
    meta.loc[no_event_rows, "site"] = "C99"
    with pytest.raises(SplitError, match="centre 'C99' \\(5 rows\\) has no events"):
        make_splits("by_site", y, meta)


def test_predefined(cohort):
    y, meta = cohort
    (split,) = make_splits("predefined", y, meta)
    assert np.array_equal(split.test_idx, np.flatnonzero(meta["split"] == "test"))
    assert np.array_equal(split.train_idx, np.flatnonzero(meta["split"] == "train"))


def test_predefined_other_values(cohort):
    y, meta = cohort
    meta = meta.rename(columns={"split": "holdout"})
    meta.loc[[3, 7], "holdout"] = "validation"
    with pytest.raises(
        SplitError,
        match="'holdout' must hold only 'train' or 'test'; 2 row\\(s\\) hold "
        "'validation' \\(first at position 3\\)",
    ):
        make_splits("predefined", y, meta, split_column="holdout")


def test_predefined_without_test_rows(cohort):
    y, meta = cohort
    with pytest.raises(SplitError, match="has no 'test' row"):
        make_splits("predefined", y, meta.assign(split="train"))


def test_unknown_scheme(cohort):
    y, _ = cohort
    with pytest.raises(SplitError, match="unknown resampling scheme 'bootstrap'"):
        make_splits("bootstrap", y)
    assert SCHEMES == ("kfold", "temporal", "by_site", "predefined")
