"""Minimum sample size to develop a time-to-event prediction model (Riley et al.).

The three criteria of Riley et al. for a survival outcome, as the R and Stata package
``pmsampsize`` (``type = "s"``) computes them:

1. expected uniform shrinkage of predictor effects of at least ``shrinkage`` (default 0.9):
   ``n = P / ((S - 1) * ln(1 - R2_cs / S))``;
2. a small optimism (``r2_difference``, default 0.05) in the apparent Nagelkerke R²: criterion 1
   with ``S = R2_cs / (R2_cs + 0.05 * max R2_cs)``, where the maximum Cox-Snell R² comes from the
   null log-likelihood of an exponential model, ``E ln(E / n) - E``, evaluated as pmsampsize does
   at a reference ``n = 10,000`` with ``E = ceil(rate * meanfup * n)`` events;
3. a precise estimate of the overall risk at the timepoint: the 95% CI of
   ``1 - exp(-rate * t)``, from ``rate ± 1.96 sqrt(rate / person-time)``, within ``± margin``
   (default 0.05) of it.

Criterion 3 differs from pmsampsize in one respect: pmsampsize takes ``max(n1, n2)`` for
criterion 3 and only reports the confidence interval it gives; here criterion 3 also raises
``n`` until both sides of the interval are within the margin (solved in closed form). Whenever
``max(n1, n2)`` already meets the margin, as in every published example, the results are
identical.

Hand-written because no maintained Python package implements these criteria (pmsampsize is R and
Stata only); the formulas are a few lines each.

References
----------
Riley RD, Ensor J, Snell KIE, et al. Calculating the sample size required for developing a
clinical prediction model. BMJ 2020;368:m441.

Riley RD, Snell KIE, Ensor J, et al. Minimum sample size for developing a multivariable
prediction model: PART II - binary and time-to-event outcomes. Stat Med 2019;38:1276-96.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from mmrisk.evaluation._checks import _check_outcome
from mmrisk.exceptions import SampleSizeError

__all__ = [
    "SampleSizeCriterion",
    "SampleSizeResult",
    "cox_snell_rsquared",
    "event_rate_and_followup",
    "survival_sample_size",
]

#: pmsampsize's reference sample size for the maximum Cox-Snell R² (its ``n <- 10000``).
_REFERENCE_N = 10_000
_Z = 1.96

#: What each criterion asks for, in the order of the ``criteria`` list.
CRITERIA = {
    1: "expected shrinkage of predictor effects >= {shrinkage:g}",
    2: "optimism in apparent Nagelkerke R² <= {r2_difference:g}",
    3: "overall risk at t={timepoint:g} estimated within ± {margin:g}",
}


@dataclass(frozen=True)
class SampleSizeCriterion:
    """The sample size one criterion needs.

    Parameters
    ----------
    criterion : int
        1 (shrinkage), 2 (optimism in R²) or 3 (precise overall risk).
    description : str
        What the criterion asks for, with its target.
    n : int
        Participants needed.
    events : int
        Expected outcome events among them, ``ceil(n * rate * meanfup)``.
    shrinkage : float
        Expected shrinkage factor at that sample size.
    """

    criterion: int
    description: str
    n: int
    events: int
    shrinkage: float


@dataclass(frozen=True)
class SampleSizeResult:
    """Minimum sample size of a time-to-event prediction model and how it was reached.

    Parameters
    ----------
    n : int
        Minimum number of participants (the largest requirement of the criteria).
    events : int
        Expected outcome events, ``ceil(n * rate * meanfup)``.
    events_per_parameter : float
        ``n * rate * meanfup / parameters`` (unrounded; pmsampsize prints it to 2 decimals).
    criteria : tuple of SampleSizeCriterion
        One entry per criterion, in order 1, 2, 3.
    rsquared, parameters, rate, timepoint, meanfup, shrinkage, r2_difference, margin
        The inputs.
    max_rsquared : float
        Largest Cox-Snell R² the outcome allows.
    nagelkerke_rsquared : float
        ``rsquared / max_rsquared``.
    final_shrinkage : float
        Expected shrinkage at ``n``.
    person_time : float
        ``n * meanfup``, in the time unit of ``meanfup``.
    risk : float
        Overall risk at ``timepoint``, ``1 - exp(-rate * timepoint)``.
    risk_lower, risk_upper : float
        Its 95% confidence interval at ``n``.
    """

    n: int
    events: int
    events_per_parameter: float
    criteria: tuple[SampleSizeCriterion, ...]
    rsquared: float
    parameters: int
    rate: float
    timepoint: float
    meanfup: float
    shrinkage: float
    r2_difference: float
    margin: float
    max_rsquared: float
    nagelkerke_rsquared: float
    final_shrinkage: float
    person_time: float
    risk: float
    risk_lower: float
    risk_upper: float

    def to_dict(self) -> dict:
        """The result as plain JSON-ready types.

        Returns
        -------
        dict
            ``n``, ``events``, ``events_per_parameter`` and ``criteria`` (a list of
            ``{criterion, n, events, shrinkage}``) -- the public contract of
            ``mmrisk sample-size --format json`` -- followed by the inputs and the other
            attributes.
        """
        out = asdict(self)
        out["criteria"] = [{"criterion": c.criterion, "n": c.n, "events": c.events,
                            "shrinkage": c.shrinkage} for c in self.criteria]
        return out


def _require(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise SampleSizeError(f"{name} must be {expected}; got {value!r}.")


def _finite(x) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool) \
        and math.isfinite(float(x))


def _check_inputs(rsquared, parameters, rate, timepoint, meanfup, shrinkage, r2_difference,
                  margin) -> None:
    for name, value in (("rsquared", rsquared), ("rate", rate), ("timepoint", timepoint),
                        ("meanfup", meanfup), ("shrinkage", shrinkage),
                        ("r2_difference", r2_difference), ("margin", margin)):
        _require(_finite(value), name, value, "a finite number")
    _require(isinstance(parameters, int | np.integer) and not isinstance(parameters, bool)
             and parameters >= 1, "parameters", parameters, "a positive integer")
    _require(0 < rsquared < 1, "rsquared", rsquared, "a Cox-Snell R² in (0, 1)")
    _require(0 < shrinkage < 1, "shrinkage", shrinkage, "in (0, 1), e.g. 0.9")
    _require(shrinkage > rsquared, "shrinkage", shrinkage,
             f"larger than rsquared ({rsquared!r}), else ln(1 - R²/S) is undefined")
    _require(rate > 0, "rate", rate, "a positive event rate (events per unit of time)")
    _require(timepoint > 0, "timepoint", timepoint, "positive (same time unit as meanfup)")
    _require(meanfup > 0, "meanfup", meanfup, "a positive mean follow-up")
    _require(0 < r2_difference < 1, "r2_difference", r2_difference, "in (0, 1), e.g. 0.05")
    _require(0 < margin < 1, "margin", margin, "in (0, 1), e.g. 0.05")


def _n_for_shrinkage(parameters: int, rsquared: float, shrinkage: float) -> int:
    """Riley et al.'s equation: participants for an expected shrinkage ``shrinkage``."""
    return math.ceil(parameters / ((shrinkage - 1) * math.log(1 - rsquared / shrinkage)))


def _max_rsquared(rate: float, meanfup: float) -> float:
    """Largest Cox-Snell R², from the exponential null log-likelihood (pmsampsize's recipe)."""
    n = _REFERENCE_N
    events = math.ceil(rate * (meanfup * n))
    ll_null = events * math.log(events / n) - events
    return 1 - math.exp(2 * ll_null / n)


def _risk_interval(rate: float, timepoint: float, person_time: float) -> tuple[float, float]:
    half = _Z * math.sqrt(rate / person_time)
    return (1 - math.exp(-(rate - half) * timepoint), 1 - math.exp(-(rate + half) * timepoint))


def _n_for_margin(rate: float, timepoint: float, meanfup: float, margin: float) -> int:
    """Smallest n whose 95% CI of the overall risk lies within ``± margin`` of it.

    Lower side: ``risk - lower <= m`` iff the rate's half-width ``h <= rate + ln(S + m) / t``;
    upper side: ``upper - risk <= m`` iff ``h <= -ln(S - m) / t - rate`` (always when
    ``S <= m``), with ``S = exp(-rate t)`` and ``h = 1.96 sqrt(rate / (n * meanfup))``.
    """
    surv = math.exp(-rate * timepoint)
    half = rate + math.log(surv + margin) / timepoint
    if surv > margin:
        half = min(half, -math.log(surv - margin) / timepoint - rate)
    n = rate / meanfup * (_Z / half) ** 2
    return max(1, math.ceil(n * (1 - 1e-12)))


def survival_sample_size(rsquared: float, parameters: int, rate: float, timepoint: float,
                         meanfup: float, *, shrinkage: float = 0.9, r2_difference: float = 0.05,
                         margin: float = 0.05) -> SampleSizeResult:
    """Minimum sample size to develop a time-to-event prediction model (Riley et al. criteria).

    Parameters
    ----------
    rsquared : float
        Anticipated Cox-Snell R² of the model (an optimism-adjusted value from a previous model,
        or the apparent R² of a model evaluated on other data).
    parameters : int
        Number of candidate predictor parameters (encoded columns, not predictors).
    rate : float
        Overall event rate per unit of time (events / person-time).
    timepoint : float
        Timepoint of interest for prediction, in the time unit of ``meanfup``.
    meanfup : float
        Anticipated mean follow-up per participant.
    shrinkage : float, default=0.9
        Target expected shrinkage of predictor effects (criterion 1).
    r2_difference : float, default=0.05
        Largest acceptable optimism in the apparent Nagelkerke R² (criterion 2).
    margin : float, default=0.05
        Largest acceptable distance of the 95% CI of the overall risk at ``timepoint`` from the
        risk (criterion 3).

    Returns
    -------
    SampleSizeResult
        ``n``, ``events``, ``events_per_parameter`` and the three criteria; ``to_dict()`` gives
        the JSON form.

    Raises
    ------
    SampleSizeError
        For impossible inputs, e.g. ``rsquared`` above the maximum Cox-Snell R² the event rate
        and follow-up allow, a ``shrinkage`` not above ``rsquared``, a non-positive rate.
    """
    _check_inputs(rsquared, parameters, rate, timepoint, meanfup, shrinkage, r2_difference,
                  margin)
    parameters = int(parameters)
    max_r2 = _max_rsquared(rate, meanfup)
    if rsquared > max_r2:
        raise SampleSizeError(
            f"rsquared ({rsquared!r}) is larger than the maximum Cox-Snell R² ({max_r2:.4f}) an "
            f"event rate of {rate!r} with a mean follow-up of {meanfup!r} allows; give a "
            "Cox-Snell (not Nagelkerke) R² at most that large.")
    s2 = rsquared / (rsquared + r2_difference * max_r2)
    if s2 <= rsquared:
        raise SampleSizeError(
            f"rsquared ({rsquared!r}) is too close to its maximum ({max_r2:.4f}) for an optimism "
            f"of {r2_difference!r} in Nagelkerke's R²; lower rsquared or raise r2_difference.")
    n1 = _n_for_shrinkage(parameters, rsquared, shrinkage)
    n2 = _n_for_shrinkage(parameters, rsquared, s2)
    n3 = max(n1, n2, _n_for_margin(rate, timepoint, meanfup, margin))
    s3 = max(shrinkage, s2)
    per_person = rate * meanfup

    def row(k: int, n: int, s: float) -> SampleSizeCriterion:
        text = CRITERIA[k].format(shrinkage=shrinkage, r2_difference=r2_difference,
                                  timepoint=timepoint, margin=margin)
        return SampleSizeCriterion(k, text, n, math.ceil(n * per_person - 1e-9), s)

    criteria = (row(1, n1, shrinkage), row(2, n2, s2), row(3, n3, s3))
    n = max(n1, n2, n3)
    person_time = round(meanfup * n, 1)
    lower, upper = _risk_interval(rate, timepoint, person_time)
    return SampleSizeResult(
        n=n, events=math.ceil(n * per_person - 1e-9),
        events_per_parameter=n * per_person / parameters, criteria=criteria,
        rsquared=float(rsquared), parameters=parameters, rate=float(rate),
        timepoint=float(timepoint), meanfup=float(meanfup), shrinkage=float(shrinkage),
        r2_difference=float(r2_difference), margin=float(margin), max_rsquared=max_r2,
        nagelkerke_rsquared=rsquared / max_r2, final_shrinkage=s3, person_time=person_time,
        risk=1 - math.exp(-rate * timepoint), risk_lower=lower, risk_upper=upper)


def cox_snell_rsquared(log_likelihood: float, null_log_likelihood: float, n: int) -> float:
    """Cox-Snell R² of a fitted model: ``1 - exp(2 (ll0 - ll) / n)``.

    Parameters
    ----------
    log_likelihood : float
        (Partial) log-likelihood of the fitted model.
    null_log_likelihood : float
        Log-likelihood of the model without predictors, on the same data.
    n : int
        Number of participants the model was fitted on.

    Returns
    -------
    float
        The apparent Cox-Snell R² (use an optimism-adjusted value to plan a new study).
    """
    _require(_finite(log_likelihood) and _finite(null_log_likelihood), "log_likelihood",
             (log_likelihood, null_log_likelihood), "finite")
    _require(isinstance(n, int | np.integer) and n >= 1, "n", n, "a positive integer")
    return 1 - math.exp(2 * (null_log_likelihood - log_likelihood) / n)


def event_rate_and_followup(y: np.ndarray) -> tuple[float, float]:
    """Overall event rate (events / person-time) and mean follow-up of a cohort.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Outcome (event, time) made by ``sksurv.util.Surv``.

    Returns
    -------
    rate : float
        Events per unit of time (the time unit of ``y``).
    meanfup : float
        Mean follow-up time.
    """
    event, time = _check_outcome(y)
    if time.size == 0 or time.sum() <= 0:
        raise SampleSizeError(f"y must hold some follow-up time; got {time.size} rows with a "
                              f"total time of {float(time.sum())!r}.")
    return float(event.sum() / time.sum()), float(time.mean())
