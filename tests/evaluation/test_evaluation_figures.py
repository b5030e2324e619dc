"""Figures: each helper returns a matplotlib Figure with the expected content, savable as PNG."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mmrisk.report import plot_auc_over_time, plot_brier_over_time, plot_calibration

TIMES = np.linspace(3.0, 70.0, 12)


def test_calibration_plot(weibull_test, tmp_path):
    fig = plot_calibration(weibull_test.y, weibull_test.survival([24.0])[:, 0], 24.0, label="true")
    assert isinstance(fig, Figure)
    main = fig.axes[0]
    labels = [line.get_label() for line in main.get_lines()]
    assert labels[0] == "ideal" and labels[1].startswith("true (ICI ")
    curve = main.get_lines()[1].get_ydata()
    assert np.all(np.isfinite(curve))
    fig.savefig(tmp_path / "calibration.png")
    assert (tmp_path / "calibration.png").stat().st_size > 1000


def test_auc_and_brier_over_time(weibull_train, weibull_test, tmp_path):
    times = np.r_[TIMES, 400.0]  # the last point is beyond follow-up: a gap, no warning
    risks = {"true": weibull_test.lp, "noise": np.random.default_rng(0).normal(size=600)}
    fig = plot_auc_over_time(weibull_train.y, weibull_test.y, risks, times)
    lines = fig.axes[0].get_lines()
    assert [ln.get_label() for ln in lines[:2]] == ["true", "noise"]
    auc_true = lines[0].get_ydata()
    assert np.isnan(auc_true[-1]) and np.all(auc_true[:-1] > 0.6)
    survs = {"true": weibull_test.survival(times)}
    fig = plot_brier_over_time(weibull_train.y, weibull_test.y, survs, times)
    brier = fig.axes[0].get_lines()[0].get_ydata()
    assert np.all((brier[:-1] > 0) & (brier[:-1] < 0.25))
    fig.savefig(tmp_path / "brier.png")
