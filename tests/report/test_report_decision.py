"""Decision-curve and calibration-band figures draw the numbers of mmrisk.evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from sksurv.util import Surv

from mmrisk.evaluation import calibration_curve, decision_curve
from mmrisk.exceptions import MetricInputError
from mmrisk.report import plot_calibration_band, plot_decision_curves


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    t = 30.0 * rng.exponential(size=500) / np.exp(0.8 * x)
    c = rng.uniform(10, 80, 500)
    y = Surv.from_arrays(t <= c, np.minimum(t, c))
    surv = np.exp(-np.outer(np.exp(0.8 * x), [12.0, 36.0]) / 30.0)
    return y, surv


def test_decision_curve_figure_draws_the_table(data):
    y, surv = data
    table = decision_curve(y, surv, [12, 36], n_bootstrap=30)
    fig = plot_decision_curves(table, label="coxnet")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax = fig.axes[1]
    lines = {line.get_label(): line for line in ax.get_lines()}
    part = table[table["horizon"] == 36]
    np.testing.assert_allclose(lines["coxnet"].get_ydata(), part["net_benefit_model"])
    np.testing.assert_allclose(lines["treat all"].get_ydata(), part["net_benefit_all"])
    assert "treat none" in lines and len(ax.collections) == 1  # the band
    with pytest.raises(MetricInputError, match="lacks columns"):
        plot_decision_curves(table.drop(columns="lo"))


def test_calibration_band_figure_draws_the_smoothed_curve(data):
    y, surv = data
    fig = plot_calibration_band(y, surv[:, 1], 36, n_bootstrap=30)
    curve = calibration_curve(y, surv[:, 1], 36)
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "model"][0]
    np.testing.assert_allclose(line.get_ydata(), curve["observed"], rtol=1e-10)
    assert len(fig.axes[0].collections) == 1
