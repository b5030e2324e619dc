"""Few bootstrap replicates are allowed (smoke tests) but said to give rough intervals.

The independent truth for "rough": with 5 replicates the 95% percentile interval of a mean is
the range of 5 resampled means, which for a skewed sample regularly excludes the sample mean
itself -- checked here by simulation, beside the warning's thresholds.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mmrisk.workflows._checks import MIN_REPLICATES, warn_few_replicates


@pytest.mark.parametrize(("n", "warned"), [(0, False), (5, True), (MIN_REPLICATES - 1, True),
                                           (MIN_REPLICATES, False), (1000, False)])
def test_warning_thresholds(n, warned, caplog):
    with caplog.at_level(logging.WARNING, logger="mmrisk"):
        warn_few_replicates(n)
    assert (f"{n} bootstrap replicates give rough 95% intervals" in caplog.text) is warned


def test_five_replicates_can_exclude_the_estimate():
    rng = np.random.default_rng(0)
    excluded = 0
    for _ in range(200):
        x = rng.lognormal(0, 1.5, 40)
        means = [rng.choice(x, x.size).mean() for _ in range(5)]
        lo, hi = np.percentile(means, [2.5, 97.5])
        excluded += not lo <= x.mean() <= hi
    assert excluded > 5  # about 6% of samples (2 x 0.5^5 when the draws are symmetric)
