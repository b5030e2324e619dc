"""Performance by subgroup, and heterogeneity of discrimination across centres.

- :func:`subgroup_frame` turns a cohort table into subgroup labels: sex, age band (< 65,
  65-74, >= 75), R-ISS stage, centre, transplant era (all configurable);
- :func:`subgroup_table` gives, per subgroup, Harrell's and Uno's C-index and the observed /
  expected risk at each horizon with 95% percentile bootstrap intervals (patients resampled
  within the subgroup) and the numbers of patients and events. A subgroup with fewer than
  ``min_events`` events (default 10) is listed with its counts but not estimated (NaN and a
  note);
- :func:`centre_heterogeneity` meta-analyses the centre-specific Harrell's C on the logit scale
  (Debray et al. BMJ 2017; Snell et al. J Clin Epidemiol 2016): each centre's logit C with its
  bootstrap standard error, then :func:`~mmrisk.evaluation.random_effects_meta` (REML tau^2,
  HKSJ interval, prediction interval with k - 2 df); pooled value and intervals are
  back-transformed to the C scale.

Uno's C and the validity of the horizons use the censoring distribution of ``survival_train``
(default: the whole ``survival_test``, i.e. the validation cohort's own censoring).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from mmrisk.evaluation._bootstrap import (
    _bootstrap_counts,
    _check_bootstrap_args,
    _percentile_interval,
)
from mmrisk.evaluation._checks import _check_horizons, _check_outcome, _horizon_labels
from mmrisk.evaluation._engine import (
    _batch_harrell,
    _batch_uno,
    _prepare,
    _uno_anchor_weights,
    _valid_times,
)
from mmrisk.evaluation._meta import MetaAnalysis, random_effects_meta
from mmrisk.evaluation._oe import _batch_oe
from mmrisk.exceptions import MetricInputError

__all__ = [
    "DEFAULT_SUBGROUPS",
    "SUBGROUP_COLUMNS",
    "CentreHeterogeneity",
    "centre_heterogeneity",
    "subgroup_frame",
    "subgroup_levels",
    "subgroup_table",
]

#: Subgroup variables of :func:`subgroup_frame` by default.
DEFAULT_SUBGROUPS = ("sex", "age_band", "riss", "site", "transplant_era")

#: Columns of :func:`subgroup_table`.
SUBGROUP_COLUMNS = ["variable", "level", "n", "events", "metric", "value", "lo", "hi", "note"]

_MISSING = "missing"
_RISS_LABELS = {1.0: "I", 2.0: "II", 3.0: "III"}


def _band_labels(cuts: Sequence[float]) -> list[str]:
    def fmt(x: float) -> str:
        return f"{x:g}"

    def upper(x: float) -> str:
        return fmt(x - 1) if float(x).is_integer() else f"<{fmt(x)}"

    labels = [f"<{fmt(cuts[0])}"]
    labels += [f"{fmt(a)}-{upper(b)}" for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return labels + [f">={fmt(cuts[-1])}"]


def _band(values: pd.Series, cuts: Sequence[float], name: str) -> pd.Series:
    """Label each value by the band ``[cut_j, cut_{j+1})`` it falls in; missing stays missing."""
    cuts = [float(c) for c in cuts]
    if not cuts or np.any(np.diff(cuts) <= 0):
        raise MetricInputError(f"{name} must be strictly increasing cut-points; got {cuts!r}.")
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    labels = np.array(_band_labels(cuts), dtype=object)
    out = labels[np.searchsorted(cuts, x, side="right")]
    out[np.isnan(x)] = _MISSING
    return pd.Series(out, index=values.index)


def _riss(table: pd.DataFrame) -> pd.Series:
    if "riss" in table:
        stage = pd.to_numeric(table["riss"], errors="coerce")
    else:
        from mmrisk.features import RISS

        stage = pd.Series(RISS(keep_input=False).fit_transform(table)["riss"], index=table.index)
    return stage.map(_RISS_LABELS).fillna(_MISSING).astype(object)


def _labels(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), _MISSING).astype(str)


def subgroup_frame(
    table: pd.DataFrame,
    *,
    subgroups: Sequence[str] = DEFAULT_SUBGROUPS,
    age_bands: Sequence[float] = (65, 75),
    era_bands: Sequence[float] = (2010, 2013),
) -> pd.DataFrame:
    """Subgroup labels of each patient, one column per subgroup variable.

    Parameters
    ----------
    table : DataFrame
        The cohort (analysis table): one row per patient.
    subgroups : sequence of str, default=DEFAULT_SUBGROUPS
        Variables. ``"age_band"`` bands column ``age`` by ``age_bands``;
        ``"transplant_era"`` bands ``transplant_year`` by ``era_bands``; ``"riss"`` labels
        column ``riss`` (1/2/3 as I/II/III) or derives it from the laboratory and cytogenetic
        columns with :class:`mmrisk.features.RISS`; any other name is a column used as it is.
    age_bands : sequence of float, default=(65, 75)
        Cut-points: ``<65``, ``65-74``, ``>=75``.
    era_bands : sequence of float, default=(2010, 2013)
        Cut-points of the transplant year: ``<2010``, ``2010-2012``, ``>=2013``.

    Returns
    -------
    DataFrame
        Index of ``table``; string labels, ``"missing"`` where the value is unknown.
    """
    derived = {
        "age_band": lambda: _band(_column(table, "age"), age_bands, "age_bands"),
        "transplant_era": lambda: _band(
            _column(table, "transplant_year"), era_bands, "era_bands"
        ),
        "riss": lambda: _riss(table),
    }
    out = {}
    for name in subgroups:
        out[name] = derived[name]() if name in derived else _labels(_column(table, name))
    return pd.DataFrame(out, index=table.index)


def _column(table: pd.DataFrame, name: str) -> pd.Series:
    if name not in table:
        raise MetricInputError(
            f"subgroup column {name!r} is not in the table; available: {sorted(table.columns)!r}."
        )
    return table[name]


def _replicates(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    return np.vstack([np.ones((1, n)), _bootstrap_counts(n, n_bootstrap, seed)])


def _subgroup_values(y_ref, y_sub, risk, surv, horizons, W) -> dict[str, np.ndarray]:
    """Replicate values (n_rep,) of each metric on one subgroup."""
    d = _prepare(y_ref, y_sub, risk=risk, horizons=horizons, surv_h=surv)
    values = {"cindex_harrell": _batch_harrell(d, W)}
    weights = _uno_anchor_weights(d, float(d.horizons.max()), warn=False)
    values["cindex_uno"] = _batch_uno(d, W, weights)
    oe = _batch_oe(d.event, d.time, d.surv_h, d.horizons, W, _valid_times(d, d.horizons))
    for k, label in enumerate(_horizon_labels(d.horizons)):
        values[f"oe_{label}"] = oe[:, k]
    return values


def _group_rows(variable, level, n, events, names, values=None, note="", ci=0.95) -> list[dict]:
    """One row per metric; NaN values with ``note`` when ``values`` is None."""
    rows = []
    for name in names:
        row = {"variable": variable, "level": level, "n": n, "events": events, "metric": name}
        if values is None:
            row.update(value=np.nan, lo=np.nan, hi=np.nan, note=note)
        else:
            lo, hi = _percentile_interval(values[name][1:, None], ci)
            row.update(value=float(values[name][0]), lo=float(lo[0]), hi=float(hi[0]), note="")
        rows.append(row)
    return rows


def _level_order(labels: pd.Series) -> list[str]:
    levels = sorted(set(labels) - {_MISSING})
    return levels + ([_MISSING] if _MISSING in set(labels) else [])


def subgroup_levels(groups: pd.DataFrame) -> Iterator[tuple[str, str, np.ndarray]]:
    """Every subgroup of a label frame: variable, level and the positions of its rows.

    Levels of each variable in sorted order, a missing label last as the level ``"missing"``.

    Parameters
    ----------
    groups : DataFrame of shape (n_samples, n_variables)
        Subgroup labels (e.g. :func:`subgroup_frame`).

    Yields
    ------
    tuple of (str, str, ndarray)
        ``(variable, level, positions)``; positions are 0-based row numbers of ``groups``.
    """
    for variable in groups.columns:
        labels = _labels(groups[variable])
        for level in _level_order(labels):
            yield variable, level, np.flatnonzero(labels.to_numpy() == level)


def subgroup_table(
    groups: pd.DataFrame,
    survival_test,
    risk,
    surv_at_horizons,
    horizons: Sequence[float],
    *,
    survival_train=None,
    min_events: int = 10,
    n_bootstrap: int = 200,
    seed: int = 0,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """C-index and observed / expected risk per subgroup, with counts and bootstrap intervals.

    Parameters
    ----------
    groups : DataFrame of shape (n_samples, n_variables)
        Subgroup labels, rows aligned with ``survival_test`` (e.g. :func:`subgroup_frame`).
    survival_test : structured ndarray of shape (n_samples,)
        Outcome.
    risk : array-like of shape (n_samples,)
        Risk scores (higher = earlier event).
    surv_at_horizons : array-like of shape (n_samples, n_horizons)
        Predicted survival at the horizons.
    horizons : sequence of float
        Whole months; Uno's C is truncated at the largest.
    survival_train : structured ndarray, optional
        Outcome of the censoring distribution (default: ``survival_test``).
    min_events : int, default=10
        Subgroups with fewer events are listed but not estimated.
    n_bootstrap : int, default=200
        Replicates per subgroup (0: no interval).
    seed : int, default=0
        Seed of the resampling.
    confidence_level : float, default=0.95
        Coverage of the percentile intervals.

    Returns
    -------
    DataFrame
        Columns :data:`SUBGROUP_COLUMNS`; metrics ``cindex_harrell``, ``cindex_uno`` and
        ``oe_<h>m``, one row per variable, level and metric.
    """
    _check_bootstrap_args(n_bootstrap, confidence_level)
    event, time = _check_outcome(survival_test, "survival_test")
    horizons = _check_horizons(horizons)
    risk = np.asarray(risk, dtype=float)
    surv = np.asarray(surv_at_horizons, dtype=float).reshape(time.size, -1)
    if len(groups) != time.size:
        raise MetricInputError(
            f"groups has {len(groups)} rows but survival_test has {time.size}; pass one row "
            "per patient, in the same order."
        )
    y_ref = survival_test if survival_train is None else survival_train
    names = ["cindex_harrell", "cindex_uno"] + [f"oe_{h}" for h in _horizon_labels(horizons)]
    rows = []
    for variable, level, idx in subgroup_levels(groups):
        n_events = int(event[idx].sum())
        if n_events < min_events:
            note = f"fewer than {min_events} events: not estimated"
            rows += _group_rows(variable, level, idx.size, n_events, names, note=note)
            continue
        W = _replicates(idx.size, int(n_bootstrap), seed)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            values = _subgroup_values(y_ref, survival_test[idx], risk[idx], surv[idx], horizons, W)
        rows += _group_rows(
            variable, level, idx.size, n_events, names, values, ci=confidence_level
        )
    return pd.DataFrame(rows, columns=SUBGROUP_COLUMNS)


@dataclass(frozen=True)
class CentreHeterogeneity:
    """Result of :func:`centre_heterogeneity`.

    Parameters
    ----------
    centres : DataFrame
        One row per centre: ``centre, n, events, cindex, lo, hi, logit_cindex, logit_se,
        included, note``.
    meta : MetaAnalysis or None
        The random-effects meta-analysis on the logit scale; None with fewer than 2 centres
        estimated.
    """

    centres: pd.DataFrame
    meta: MetaAnalysis | None

    def summary(self) -> dict[str, float]:
        """Pooled C-index, its intervals and the heterogeneity, on the C scale.

        Returns
        -------
        dict of str to float
            ``cindex_pooled``, ``cindex_pooled_lo``, ``cindex_pooled_hi`` (confidence
            interval), ``cindex_pi_lo``, ``cindex_pi_hi`` (95% prediction interval for a new
            centre), ``tau2`` (logit scale), ``i2`` (percent), ``q_pvalue``, ``n_centres``
            (centres in the meta-analysis); NaN without a meta-analysis.
        """
        m = self.meta
        if m is None:
            keys = ("cindex_pooled", "cindex_pooled_lo", "cindex_pooled_hi", "cindex_pi_lo",
                    "cindex_pi_hi", "tau2", "i2", "q_pvalue")  # fmt: skip
            out = dict.fromkeys(keys, np.nan)
        else:
            out = {
                "cindex_pooled": float(expit(m.estimate)),
                "cindex_pooled_lo": float(expit(m.lo)),
                "cindex_pooled_hi": float(expit(m.hi)),
                "cindex_pi_lo": float(expit(m.pi_lo)),
                "cindex_pi_hi": float(expit(m.pi_hi)),
                "tau2": m.tau2,
                "i2": m.i2,
                "q_pvalue": m.q_pvalue,
            }
        out["n_centres"] = float(self.centres["included"].sum())
        return out


def _centre_row(centre, y, risk, min_events, n_bootstrap, seed, level) -> dict:
    event, _ = _check_outcome(y, "survival_test")
    row = {"centre": centre, "n": int(event.size), "events": int(event.sum()),
           "cindex": np.nan, "lo": np.nan, "hi": np.nan, "logit_cindex": np.nan,
           "logit_se": np.nan, "included": False, "note": ""}  # fmt: skip
    if row["events"] < min_events:
        row["note"] = f"fewer than {min_events} events: not estimated"
        return row
    W = _replicates(event.size, n_bootstrap, seed)
    with np.errstate(all="ignore"):
        c = _batch_harrell(_prepare(None, y, risk=risk), W)
    lo, hi = _percentile_interval(c[1:, None], level)
    row.update(cindex=float(c[0]), lo=float(lo[0]), hi=float(hi[0]))
    boot = c[1:][np.isfinite(c[1:]) & (c[1:] > 0) & (c[1:] < 1)]
    if not 0 < c[0] < 1 or boot.size < 2:
        row["note"] = "C-index of 0 or 1 (or no bootstrap spread): not in the meta-analysis"
        return row
    row.update(logit_cindex=float(logit(c[0])), logit_se=float(np.std(logit(boot), ddof=1)))
    row["included"] = bool(row["logit_se"] > 0)
    return row


def centre_heterogeneity(
    centre,
    survival_test,
    risk,
    *,
    min_events: int = 10,
    n_bootstrap: int = 200,
    seed: int = 0,
    method: str = "REML",
    confidence_level: float = 0.95,
    meta_options: Mapping | None = None,
) -> CentreHeterogeneity:
    """Random-effects meta-analysis of the centre-specific Harrell's C (logit scale).

    Parameters
    ----------
    centre : array-like of shape (n_samples,)
        Centre of each patient.
    survival_test : structured ndarray of shape (n_samples,)
        Outcome.
    risk : array-like of shape (n_samples,)
        Risk scores.
    min_events : int, default=10
        Centres with fewer events are listed but not estimated.
    n_bootstrap : int, default=200
        Replicates per centre for the interval of its C and the standard error of its logit.
    seed : int, default=0
        Seed of the resampling.
    method : {"REML", "DL"}, default="REML"
        Estimator of the between-centre variance.
    confidence_level : float, default=0.95
        Coverage of the per-centre intervals and of the pooled intervals.
    meta_options : mapping, optional
        Further keyword arguments of :func:`~mmrisk.evaluation.random_effects_meta`
        (``hartung_knapp``, ``prediction``).

    Returns
    -------
    CentreHeterogeneity
        Per-centre table and the meta-analysis (``.summary()`` on the C scale).
    """
    _check_bootstrap_args(n_bootstrap, confidence_level)
    event, time = _check_outcome(survival_test, "survival_test")
    risk = np.asarray(risk, dtype=float)
    labels = _labels(pd.Series(np.asarray(centre, dtype=object)))
    if labels.size != time.size or risk.size != time.size:
        raise MetricInputError(
            f"centre ({labels.size}), risk ({risk.size}) and survival_test ({time.size}) must "
            "have one value per patient."
        )
    rows = []
    for level in _level_order(labels):
        idx = np.flatnonzero(labels.to_numpy() == level)
        rows.append(_centre_row(level, survival_test[idx], risk[idx], min_events,
                                int(n_bootstrap), seed, confidence_level))  # fmt: skip
    centres = pd.DataFrame(rows)
    used = centres[centres["included"]]
    meta = None
    if len(used) >= 2:
        meta = random_effects_meta(
            used["logit_cindex"], used["logit_se"], method=method,
            confidence_level=confidence_level, **dict(meta_options or {}),
        )  # fmt: skip
    return CentreHeterogeneity(centres=centres, meta=meta)
