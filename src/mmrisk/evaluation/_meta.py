"""Random-effects meta-analysis of one estimate per study (here: per centre).

The normal–normal model ``y_i ~ N(mu, v_i + tau^2)`` of R ``metafor::rma.uni``. Written here
(about 60 lines) because no installed library offers REML: statsmodels'
``combine_effects`` has DerSimonian–Laird and Paule–Mandel only. Choices, following Debray et
al. (BMJ 2017;356:i6460) and Riley, Higgins & Deeks (BMJ 2011;342:d549):

- ``tau^2`` by restricted maximum likelihood (REML, default) or DerSimonian–Laird (``"DL"``);
- the interval of ``mu`` by Hartung–Knapp–Sidik–Jonkman (``hartung_knapp=True``, default: a
  t distribution with k - 1 degrees of freedom and the HKSJ standard error) or Wald;
- the 95% prediction interval for the value in a new centre,
  ``mu +- t * sqrt(tau^2 + SE(mu)^2)`` with k - 2 degrees of freedom (Higgins, Thompson &
  Spiegelhalter 2009; ``prediction="t(k-2)"``, default), or as metafor prints it: ``"t(k-1)"``
  (with ``test="knha"``) or ``"z"`` (its default test);
- ``I^2 = tau^2 / (tau^2 + s^2)`` with the "typical" within-study variance
  ``s^2 = (k - 1) sum(w) / (sum(w)^2 - sum(w^2))``, ``w = 1 / v`` (metafor's definition; equal
  to ``(Q - (k - 1)) / Q`` for DerSimonian–Laird); Cochran's ``Q`` and its p-value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from mmrisk.exceptions import MetricInputError

__all__ = ["MetaAnalysis", "random_effects_meta"]

_PREDICTION = {"t(k-2)": 2, "t(k-1)": 1, "z": None}


@dataclass(frozen=True)
class MetaAnalysis:
    """Result of :func:`random_effects_meta` (on the scale of the estimates given).

    Parameters
    ----------
    k : int
        Number of studies.
    estimate, se, lo, hi : float
        Pooled mean ``mu``, its standard error and confidence interval.
    tau2 : float
        Between-study variance.
    i2 : float
        I^2 in percent.
    h2 : float
        H^2 (total over sampling variability).
    q, q_pvalue : float
        Cochran's Q (fixed-effect weights) and its chi-square p-value (k - 1 df).
    pi_lo, pi_hi : float
        Prediction interval for the true value in a new study; NaN when k is too small for
        its degrees of freedom.
    method : str
        ``"REML"`` or ``"DL"``.
    """

    k: int
    estimate: float
    se: float
    lo: float
    hi: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_pvalue: float
    pi_lo: float
    pi_hi: float
    method: str

    def as_dict(self) -> dict:
        """The fields as a plain dict.

        Returns
        -------
        dict
            Field name to value.
        """
        return asdict(self)


def _check_inputs(estimates, std_errors) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(estimates, dtype=float).reshape(-1)
    se = np.asarray(std_errors, dtype=float).reshape(-1)
    if y.shape != se.shape:
        raise MetricInputError(
            f"estimates and std_errors must have the same length; got {y.size} and {se.size}."
        )
    if y.size < 2:
        raise MetricInputError(f"a meta-analysis needs at least 2 studies; got {y.size}.")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(se)) and np.all(se > 0)):
        raise MetricInputError(
            "estimates must be finite and std_errors finite and > 0; got estimates "
            f"{y.tolist()!r} and std_errors {se.tolist()!r}."
        )
    return y, se**2


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / v
    mu = np.sum(w * y) / w.sum()
    q = np.sum(w * (y - mu) ** 2)
    return max(0.0, (q - (y.size - 1)) / (w.sum() - np.sum(w**2) / w.sum()))


def _neg_restricted_loglik(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / w.sum()
    return 0.5 * (np.sum(np.log(v + tau2)) + np.log(w.sum()) + np.sum(w * (y - mu) ** 2))


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    upper = 10.0 * (np.var(y) + v.max()) + 1e-8
    res = optimize.minimize_scalar(
        _neg_restricted_loglik,
        bounds=(0.0, upper),
        args=(y, v),
        method="bounded",
        options={"xatol": 1e-12 * max(upper, 1.0), "maxiter": 2000},
    )
    tau2 = float(res.x)
    if _neg_restricted_loglik(0.0, y, v) <= _neg_restricted_loglik(tau2, y, v):
        return 0.0
    return tau2


def random_effects_meta(
    estimates,
    std_errors,
    *,
    method: str = "REML",
    hartung_knapp: bool = True,
    prediction: str = "t(k-2)",
    confidence_level: float = 0.95,
) -> MetaAnalysis:
    """Random-effects meta-analysis: pooled mean, tau^2, I^2 and a prediction interval.

    Parameters
    ----------
    estimates : array-like of shape (k,)
        One estimate per study (e.g. the logit of a centre's C-index).
    std_errors : array-like of shape (k,)
        Their standard errors (> 0).
    method : {"REML", "DL"}, default="REML"
        Estimator of tau^2.
    hartung_knapp : bool, default=True
        Hartung–Knapp–Sidik–Jonkman interval for the mean (t, k - 1 df); Wald (z) otherwise.
    prediction : {"t(k-2)", "t(k-1)", "z"}, default="t(k-2)"
        Distribution of the prediction interval (see the module docstring).
    confidence_level : float, default=0.95
        Coverage of both intervals.

    Returns
    -------
    MetaAnalysis
        Pooled mean with its interval, tau^2, I^2, H^2, Q and the prediction interval.
    """
    if method not in ("REML", "DL"):
        raise MetricInputError(f"method must be 'REML' or 'DL'; got {method!r}.")
    if prediction not in _PREDICTION:
        raise MetricInputError(
            f"prediction must be one of {sorted(_PREDICTION)!r}; got {prediction!r}."
        )
    if not 0 < confidence_level < 1:
        raise MetricInputError(f"confidence_level must lie in (0, 1); got {confidence_level!r}.")
    y, v = _check_inputs(estimates, std_errors)
    k = y.size
    tau2 = _tau2_reml(y, v) if method == "REML" else _tau2_dl(y, v)
    w_fe = 1.0 / v
    mu_fe = np.sum(w_fe * y) / w_fe.sum()
    q = float(np.sum(w_fe * (y - mu_fe) ** 2))
    s2 = (k - 1) * w_fe.sum() / (w_fe.sum() ** 2 - np.sum(w_fe**2))
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / w.sum())
    alpha = 1.0 - confidence_level
    if hartung_knapp:
        se = float(np.sqrt(np.sum(w * (y - mu) ** 2) / ((k - 1) * w.sum())))
        crit = stats.t.ppf(1 - alpha / 2, k - 1)
    else:
        se = float(np.sqrt(1.0 / w.sum()))
        crit = stats.norm.ppf(1 - alpha / 2)
    lost = _PREDICTION[prediction]
    if lost is None:
        pcrit = stats.norm.ppf(1 - alpha / 2)
    else:
        pcrit = stats.t.ppf(1 - alpha / 2, k - lost) if k - lost >= 1 else np.nan
    half = pcrit * np.sqrt(tau2 + se**2)
    return MetaAnalysis(
        k=int(k),
        estimate=mu,
        se=se,
        lo=mu - crit * se,
        hi=mu + crit * se,
        tau2=float(tau2),
        i2=float(100.0 * tau2 / (tau2 + s2)),
        h2=float((tau2 + s2) / s2),
        q=q,
        q_pvalue=float(stats.chi2.sf(q, k - 1)),
        pi_lo=float(mu - half),
        pi_hi=float(mu + half),
        method=method,
    )
