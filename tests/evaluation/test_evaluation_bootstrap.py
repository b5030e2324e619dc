"""Bootstrap: replicate weights equal explicit resampling; paired differences; contract names."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mmrisk.evaluation import Predictions, bootstrap_metrics, compute_metrics, metric_names
from mmrisk.evaluation._bootstrap import _prepare_predictions
from mmrisk.evaluation._engine import _batch_all, _validity
from mmrisk.exceptions import MetricInputError

HORIZONS = [12, 24, 36]
GRID = np.linspace(2.0, 36.0, 18)


def _predictions(data, lp_scale=1.0, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    lp = data.lp * lp_scale + noise * rng.normal(size=data.lp.size)

    def surv(t):
        return np.exp(-((np.asarray(t, dtype=float)[None, :] / 40.0) ** 1.4) * np.exp(lp)[:, None])

    own = np.exp(-((data.y["time"] / 40.0) ** 1.4) * np.exp(lp))
    return Predictions(lp, surv(HORIZONS), own, GRID, surv(GRID))


def test_contract_names():
    assert metric_names([12, 24]) == [
        "cindex_harrell", "cindex_uno", "auc_12m", "auc_24m", "brier_12m", "brier_24m", "ibs",
        "calib_slope_12m", "calib_slope_24m", "ici_12m", "ici_24m", "e50_12m", "e50_24m",
        "e90_12m", "e90_24m", "oe_12m", "oe_24m", "dcal_pvalue",
    ]  # fmt: skip
    with pytest.raises(MetricInputError, match="whole months"):
        metric_names([12.5])


def test_compute_metrics_returns_exactly_the_contract_names(weibull_train, weibull_test):
    p = _predictions(weibull_test)
    out = compute_metrics(
        weibull_train.y, weibull_test.y, p.risk, p.surv_at_horizons, HORIZONS, p.surv_at_own_time
    )
    assert list(out) == metric_names(HORIZONS)
    assert all(np.isfinite(v) for v in out.values())
    no_dcal = compute_metrics(weibull_train.y, weibull_test.y, p.risk, p.surv_at_horizons, HORIZONS)
    assert np.isnan(no_dcal["dcal_pvalue"])


def test_replicate_weights_equal_explicit_resampling(weibull_train, weibull_test):
    """The weighted computation of a replicate equals the metrics of the resampled rows."""
    p = _predictions(weibull_test, lp_scale=0.8)
    n = weibull_test.y.size
    idx = np.random.default_rng(5).integers(0, n, size=(3, n))
    counts = np.stack([np.bincount(i, minlength=n) for i in idx]).astype(float)
    data = _prepare_predictions(weibull_train.y, weibull_test.y, p, HORIZONS)
    weighted = _batch_all(data, counts, _validity(data, warn=False))
    for b, rows in enumerate(idx):
        explicit = compute_metrics(
            weibull_train.y,
            weibull_test.y[rows],
            p.risk[rows],
            p.surv_at_horizons[rows],
            HORIZONS,
            p.surv_at_own_time[rows],
            ibs_times=GRID,
            surv_at_ibs_times=p.surv_at_ibs_times[rows],
        )
        np.testing.assert_allclose(weighted[b], list(explicit.values()), rtol=1e-9, atol=1e-11)


@pytest.fixture(scope="module")
def two_models(weibull_train, weibull_test):
    preds = {
        "true": _predictions(weibull_test),
        "noisy": _predictions(weibull_test, noise=0.6, seed=1),
    }
    metrics, diffs = bootstrap_metrics(
        weibull_train.y, weibull_test.y, preds, HORIZONS, baseline="true", n_bootstrap=200,
        seed=3, scope="test",
    )  # fmt: skip
    return preds, metrics, diffs


def test_tables_and_point_estimates(weibull_train, weibull_test, two_models):
    preds, metrics, diffs = two_models
    assert list(metrics.columns) == ["model", "metric", "value", "lo", "hi"]
    assert list(diffs.columns) == ["model", "metric", "diff", "lo", "hi"]
    names = ["test_" + m for m in metric_names(HORIZONS)]
    assert metrics[metrics["model"] == "noisy"]["metric"].tolist() == names
    assert diffs["model"].unique().tolist() == ["noisy"]  # the baseline is not compared to itself
    p = preds["noisy"]
    point = compute_metrics(
        weibull_train.y, weibull_test.y, p.risk, p.surv_at_horizons, HORIZONS,
        p.surv_at_own_time, ibs_times=GRID, surv_at_ibs_times=p.surv_at_ibs_times,
    )  # fmt: skip
    got = metrics[metrics["model"] == "noisy"].set_index("metric")["value"]
    np.testing.assert_allclose(got.to_numpy(), list(point.values()), rtol=1e-12)
    value = metrics.set_index(["model", "metric"])["value"]
    expected_diff = (value["noisy"] - value["true"]).drop("test_dcal_pvalue")
    got_diff = diffs.set_index("metric")["diff"]
    assert got_diff.index.tolist() == expected_diff.index.tolist()
    np.testing.assert_allclose(got_diff, expected_diff, rtol=1e-12)


def test_intervals_cover_point_estimates_of_concordance(two_models):
    _, metrics, _ = two_models
    rows = metrics[metrics["metric"].str.contains("cindex|auc|brier|ibs|slope")]
    assert np.all(rows["lo"] < rows["value"]) and np.all(rows["value"] < rows["hi"])
    assert np.all(rows["hi"] - rows["lo"] < 0.5)


def test_a_p_value_gets_no_interval_and_no_difference(two_models):
    """D-calibration's p-value is a test result: a percentile interval of it is meaningless
    (it can exclude its own point estimate), so none is reported."""
    _, metrics, diffs = two_models
    dcal = metrics[metrics["metric"] == "test_dcal_pvalue"]
    assert np.isfinite(dcal["value"]).all()
    assert dcal["lo"].isna().all() and dcal["hi"].isna().all()
    # a difference of two p-values means nothing: no row (so no *_diff_vs_baseline metric)
    assert "test_dcal_pvalue" not in set(diffs["metric"])
    assert "test_cindex_harrell" in set(diffs["metric"])
    others = metrics[metrics["metric"] != "test_dcal_pvalue"]
    assert np.isfinite(others[["lo", "hi"]].to_numpy()).all()


def test_differences_are_paired(two_models):
    """Both models are scored on the same replicates: the interval of the difference of two
    correlated models is narrower than either model's own interval (independent replicates
    would make it about sqrt(2) times wider)."""
    _, metrics, diffs = two_models
    width = (metrics["hi"] - metrics["lo"]).to_numpy()
    m = metrics.set_index(["model", "metric"])
    d = diffs.set_index("metric")
    for name in ["test_cindex_harrell", "test_cindex_uno", "test_auc_24m", "test_brier_24m"]:
        own = m.loc[("true", name), "hi"] - m.loc[("true", name), "lo"]
        assert d.loc[name, "hi"] - d.loc[name, "lo"] < 0.9 * own, name
        assert d.loc[name, "lo"] <= d.loc[name, "diff"] <= d.loc[name, "hi"]
    assert np.all(np.isfinite(width[:10]))
    # The noisier model is worse: its C-index difference interval lies below 0.
    assert d.loc["test_cindex_harrell", "hi"] < 0


def test_same_model_twice_has_zero_difference(weibull_train, weibull_test):
    p = _predictions(weibull_test)
    _, diffs = bootstrap_metrics(
        weibull_train.y, weibull_test.y, {"a": p, "b": p}, HORIZONS, baseline="a",
        n_bootstrap=20, seed=0,
    )  # fmt: skip
    finite = diffs.dropna()
    assert len(finite) >= 20
    assert np.all(finite[["diff", "lo", "hi"]].to_numpy() == 0.0)


def test_seed_reproducibility_and_progress(weibull_train, weibull_test):
    p = {"m": _predictions(weibull_test)}
    calls = []
    args = (weibull_train.y, weibull_test.y, p, HORIZONS)
    a, _ = bootstrap_metrics(*args, n_bootstrap=150, seed=7, progress=lambda *c: calls.append(c))
    b, _ = bootstrap_metrics(*args, n_bootstrap=150, seed=7)
    c, _ = bootstrap_metrics(*args, n_bootstrap=150, seed=8)
    assert a.equals(b)
    assert not np.allclose(a["lo"], c["lo"], equal_nan=True)
    assert calls == [("metrics", 1, 2), ("metrics", 2, 2)]


def test_no_replicates_gives_nan_intervals(weibull_train, weibull_test):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics, _ = bootstrap_metrics(
            weibull_train.y, weibull_test.y, {"m": _predictions(weibull_test)}, HORIZONS,
            n_bootstrap=0,
        )  # fmt: skip
    assert metrics["lo"].isna().all() and metrics["value"].notna().all()


def test_unknown_baseline(weibull_train, weibull_test):
    with pytest.raises(MetricInputError, match="baseline 'cox' is not among the models"):
        bootstrap_metrics(
            weibull_train.y, weibull_test.y, {"m": _predictions(weibull_test)}, [12],
            baseline="cox",
        )  # fmt: skip
