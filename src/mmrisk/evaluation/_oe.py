"""Observed / expected risk at a horizon ("calibration in the large" for survival models).

Observed risk by ``h`` is ``1 - KM(h)`` (Kaplan–Meier of the outcome, so censoring is handled);
expected risk is the mean predicted risk ``1 - S(h | x_i)``. O/E above 1: the model
underpredicts. The interval of :func:`observed_expected` is analytic: on the log scale with the
expected risk held fixed and the delta-method standard error ``SE(KM(h)) / (1 - KM(h))``,
Greenwood's standard error of the Kaplan–Meier estimate (Debray et al., Stat Methods Med Res
2019, section on the O:E ratio of time-to-event models; R ``metamisc::oecalc`` from ``Po`` and
``Po.se``). In the metric tables (``oe_<h>m`` of :func:`~mmrisk.evaluation.bootstrap_metrics`
and of the subgroup table) the interval is the percentile bootstrap, as for every other metric.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from mmrisk.evaluation._checks import _check_matrix, _check_outcome, _check_times
from mmrisk.evaluation._km import _WeightedKM
from mmrisk.exceptions import MetricInputError

__all__ = ["observed_expected"]


def _batch_oe(event, time, surv_h, horizons, W, valid) -> np.ndarray:
    """O/E at each horizon for each replicate: (n_rep, n_horizons); NaN where not valid.

    Parameters
    ----------
    event, time : ndarray of shape (n,)
    surv_h : ndarray of shape (n, n_horizons)
        Predicted survival at the horizons.
    horizons : ndarray of shape (n_horizons,)
    W : ndarray of shape (n_rep, n)
        Replicate weights.
    valid : ndarray of bool, shape (n_horizons,)
        Horizons inside the follow-up.
    """
    km = _WeightedKM(event, time)
    observed = 1.0 - km.survival(km.sort(W), horizons)
    total = W.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (W @ (1.0 - surv_h)) / total
        out = observed / expected
    out[:, ~valid] = np.nan
    return out


def observed_expected(
    survival_test, estimate, times: Sequence[float], *, confidence_level: float = 0.95
) -> pd.DataFrame:
    """Observed / expected risk of an event by each time, with an analytic interval.

    Parameters
    ----------
    survival_test : structured ndarray of shape (n_samples,)
        Outcome of the predicted samples.
    estimate : array-like of shape (n_samples, n_times)
        Predicted survival probabilities at ``times``.
    times : sequence of float
        Strictly increasing time points (months).
    confidence_level : float, default=0.95
        Coverage of the interval.

    Returns
    -------
    DataFrame
        Index ``time``; columns ``observed`` (``1 - KM(t)``), ``observed_se`` (Greenwood),
        ``expected`` (mean predicted risk), ``oe``, ``lo``, ``hi`` (``exp(log(O/E) +- z *
        SE(KM) / O)``). Rows at times beyond the last follow-up time, or with no event by
        then, are NaN.
    """
    event, time = _check_outcome(survival_test, "survival_test")
    times = _check_times(times)
    surv = _check_matrix(estimate, time.size, times.size, "estimate")
    if not 0 < confidence_level < 1:
        raise MetricInputError(f"confidence_level must lie in (0, 1); got {confidence_level!r}.")
    km = _WeightedKM(event, time)
    ones = np.ones((1, time.size))
    s = km.survival(ones, times)[0]
    se = np.sqrt(km.greenwood_variance(ones, times)[0])
    observed = 1.0 - s
    expected = (1.0 - surv).mean(axis=0)
    valid = (times <= time.max()) & (observed > 0)
    z = stats.norm.ppf(0.5 + confidence_level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        oe = observed / expected
        half = z * se / observed
        lo, hi = oe * np.exp(-half), oe * np.exp(half)
    table = pd.DataFrame(
        {
            "observed": observed,
            "observed_se": se,
            "expected": expected,
            "oe": oe,
            "lo": lo,
            "hi": hi,
        },
        index=pd.Index(times, name="time"),
    )
    table.loc[~valid, ["observed", "observed_se", "oe", "lo", "hi"]] = np.nan
    return table
