"""Drift of a scored cohort against the training profile stored with the model.

The profile holds summaries only (per-feature deciles, category shares, missingness, risk-score
deciles and risk-group shares); so does this report: no row, no identifier.

Conventions
-----------
- **PSI** (population stability index) ``sum((o - e) * ln(o / e))`` over bins, ``o`` and ``e``
  the observed and training shares, each floored at ``1e-4`` so that an empty bin counts without
  dividing by zero. Numeric features use the training deciles as bin edges (the interior
  ones, with open ends: ``(-inf, q10]``, ..., ``(q90, inf)``); tied deciles (discrete values)
  merge bins. Categorical features use the training categories plus one bin for all new ones.
  The usual reading: < 0.10 stable, 0.10–0.25 ``moderate``, >= 0.25 ``major`` (flagged).
- **KS** statistic ``sup |F_new(x) - F_train(x)|``. Only 11 training quantiles are stored, so
  ``F_train`` is approximated by linear interpolation between them, and the supremum is taken
  on a grid of 10 points per inner decile; the two tail deciles are read at their ends only
  (a straight line from the training minimum is a poor CDF there), plus the share below the
  training minimum. When quantiles tie (a discrete feature), every value is a point mass
  spanning its deciles ``i..k``: the CDF jumps from ``(i - 1/2) / 10`` to ``(k + 1/2) / 10``.
  On continuous data this is within about 0.01 of :func:`scipy.stats.ks_2samp` against the
  training rows themselves; a shift confined to the tails can be underestimated.
- **Missingness** change = new share missing - training share missing; ``|change| >= 0.10`` is
  flagged. Any **new category** is flagged (listed with counts).
- **Risk score**: PSI and KS of the predicted risk against the training risk deciles, and the
  risk-group shares against training (tertiles: about 1/3 each).

Counts are accumulated chunk by chunk (:class:`DriftAccumulator`), so memory stays bounded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DriftAccumulator", "DriftReport", "drift_report", "psi",
           "PSI_MODERATE", "PSI_MAJOR", "MISSING_CHANGE"]

#: PSI at or above which a feature has moderately drifted (reported, not flagged).
PSI_MODERATE = 0.10
#: PSI at or above which a feature has drifted majorly (flagged).
PSI_MAJOR = 0.25
#: Absolute change of the share missing that is flagged.
MISSING_CHANGE = 0.10
_EPS = 1e-4
_SUBDIV = 10
_MAX_NEW_LISTED = 20


def psi(observed: np.ndarray, expected: np.ndarray, eps: float = _EPS) -> float:
    """Population stability index of two vectors of bin shares (each summing to 1).

    Parameters
    ----------
    observed, expected : array-like of shape (n_bins,)
        Shares of the new data and of the training data.
    eps : float, default=1e-4
        Floor of every share (an empty bin would otherwise make the index infinite).

    Returns
    -------
    float
        ``sum((o - e) * ln(o / e))``; 0 for identical shares.
    """
    o = np.maximum(np.asarray(observed, float), eps)
    e = np.maximum(np.asarray(expected, float), eps)
    return float(np.sum((o - e) * np.log(o / e)))


def _level(value: float) -> str:
    if not np.isfinite(value):
        return ""
    return "major" if value >= PSI_MAJOR else "moderate" if value >= PSI_MODERATE else "stable"


class _Numeric:
    """Histogram of new values on a fine grid built from the training quantiles."""

    def __init__(self, quantiles: list[float]):
        q = np.asarray(quantiles, float)
        self.u, first = np.unique(q, return_index=True)
        last = len(q) - 1 - np.unique(q[::-1], return_index=True)[1]
        m = len(q) - 1
        # CDF just left of / at each unique value. Tied quantiles mean a discrete feature:
        # then every value is a point mass spanning its deciles i..k, from (i - 1/2) / 10 to
        # (k + 1/2) / 10; else the CDF is continuous through (q_i, i / 10).
        point = np.full(len(first), len(self.u) < len(q))
        self.f_left = np.where(point, np.maximum(first / m - 0.5 / m, 0), first / m)
        self.f_right = np.where(point, np.minimum(last / m + 0.5 / m, 1), first / m)
        self.f_left[0], self.f_right[-1] = 0.0, 1.0
        if len(self.u) == 1:
            self.f_right[0] = 1.0
        parts = [self.u]
        # Subdivide the inner deciles only: in the two tail deciles a straight line from the
        # training minimum / maximum is a poor CDF, so KS is read at their ends only.
        inner = np.unique(q[1:-1]) if len(q) > 2 else self.u
        for a, b in zip(inner[:-1], inner[1:], strict=True):
            parts.append(np.linspace(a, b, _SUBDIV + 1)[1:-1])
        self.grid = np.unique(np.concatenate(parts))
        self.edges = np.unique(q[1:-1]) if len(q) > 2 else self.u
        self.expected = np.diff(np.concatenate([[0.0], self.cdf(self.edges), [1.0]]))
        self.counts = np.zeros(len(self.grid) + 1, dtype=np.int64)
        self.n_below = 0

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The approximate training CDF (right-continuous) at ``x``."""
        x = np.asarray(x, float)
        j = np.searchsorted(self.u, x, side="right") - 1
        out = np.zeros(x.shape)
        inside = (j >= 0) & (j < len(self.u) - 1)
        ji = j[inside]
        a, b = self.u[ji], self.u[ji + 1]
        t = (x[inside] - a) / (b - a)
        out[inside] = np.where(t == 0, self.f_right[ji],
                               self.f_right[ji] + t * (self.f_left[ji + 1] - self.f_right[ji]))
        out[j >= len(self.u) - 1] = 1.0
        return out

    def add(self, x: np.ndarray) -> None:
        """Count finite values ``x`` into the grid cells ``(g[i-1], g[i]]``."""
        x = x[np.isfinite(x)]
        self.counts += np.bincount(np.searchsorted(self.grid, x, side="left"),
                                   minlength=len(self.counts))
        self.n_below += int(np.count_nonzero(x < self.u[0]))

    def summary(self) -> dict[str, Any]:
        """PSI, KS, shares outside the training range, observed and expected bin shares."""
        n = int(self.counts.sum())
        if n == 0:
            return {"psi": float("nan"), "ks": float("nan"), "below_min": float("nan"),
                    "above_max": float("nan"), "observed": [], "expected": []}
        cum = np.cumsum(self.counts)[:-1] / n  # share <= each grid point
        ks = float(np.max(np.abs(cum - self.cdf(self.grid))))
        ks = max(ks, self.n_below / n)  # just left of the training minimum
        at_edges = cum[np.searchsorted(self.grid, self.edges)]
        observed = np.diff(np.concatenate([[0.0], at_edges, [1.0]]))
        return {"psi": psi(observed, self.expected), "ks": ks, "below_min": self.n_below / n,
                "above_max": float(self.counts[-1]) / n, "observed": observed.tolist(),
                "expected": self.expected.tolist()}


@dataclass
class DriftReport:
    """Drift of a scored cohort against the model's training profile (summaries only).

    Parameters
    ----------
    n_rows : int
        Rows compared (rows with ``status`` ``ok`` or ``warning``).
    n_train : int
        Training rows the profile was computed on.
    features : pandas.DataFrame
        One row per feature: ``feature``, ``kind``, ``psi``, ``psi_level`` (``stable``,
        ``moderate``, ``major``), ``ks`` (numeric only), ``missing_train``, ``missing_new``,
        ``missing_change``, ``outside_train_range`` (share of values outside the training
        min–max), ``new_categories`` (``'IgM (12), X (1)'``), ``n_new_category_rows``,
        ``flagged``, ``flags`` (why it is flagged).
    risk : dict
        ``psi``, ``psi_level``, ``ks``, ``decile_shares`` (new shares per training risk
        decile bin; 0.1 each in training), ``group_shares`` ({group: {train, new}}),
        ``flagged``.
    thresholds : dict
        ``psi_moderate``, ``psi_major``, ``missing_change``.
    """

    n_rows: int
    n_train: int
    features: pd.DataFrame
    risk: dict[str, Any]
    thresholds: dict[str, float] = field(default_factory=lambda: {
        "psi_moderate": PSI_MODERATE, "psi_major": PSI_MAJOR, "missing_change": MISSING_CHANGE})

    @property
    def flagged(self) -> list[str]:
        """Features past a threshold (major PSI, missingness change, new categories), and
        ``risk_score`` if the predicted-risk distribution drifted majorly."""
        names = self.features.loc[self.features["flagged"], "feature"].tolist()
        return names + (["risk_score"] if self.risk.get("flagged") else [])

    @property
    def moderate(self) -> list[str]:
        """Features with a moderate PSI (0.10–0.25), not flagged."""
        sel = (self.features["psi_level"] == "moderate") & ~self.features["flagged"]
        return self.features.loc[sel, "feature"].tolist()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN as None)."""
        feats = self.features.astype(object).where(self.features.notna(), None)
        return {"n_rows": self.n_rows, "n_train": self.n_train, "thresholds": self.thresholds,
                "flagged": self.flagged, "moderate": self.moderate,
                "features": feats.to_dict(orient="records"), "risk": _jsonable(self.risk)}

    def to_markdown(self) -> str:
        """A human-readable report."""
        lines = ["# Drift report", "",
                 f"Scored rows compared: {self.n_rows} (training profile: {self.n_train} rows). "
                 f"PSI >= {PSI_MAJOR} is major (flagged), {PSI_MODERATE}–{PSI_MAJOR} moderate; "
                 f"a missingness change >= {MISSING_CHANGE} and any new category are flagged. "
                 "KS is approximate (training CDF interpolated from 11 stored quantiles).", ""]
        lines.append("**Flagged:** " + (", ".join(self.flagged) or "nothing"))
        if self.moderate:
            lines.append("")
            lines.append("**Moderate PSI:** " + ", ".join(self.moderate))
        lines += ["", "## Predicted risk", "",
                  f"PSI {_num(self.risk.get('psi'))} ({self.risk.get('psi_level') or 'n/a'}), "
                  f"KS {_num(self.risk.get('ks'))}.", "",
                  "| risk group | training | new |", "|---|---|---|"]
        for g, v in self.risk.get("group_shares", {}).items():
            lines.append(f"| {g} | {_num(v['train'])} | {_num(v['new'])} |")
        lines += ["", "## Features", "",
                  "| feature | kind | PSI | level | KS | missing (train → new) | new categories |"
                  " flags |", "|---|---|---|---|---|---|---|---|"]
        for r in self.features.itertuples(index=False):
            lines.append(f"| {r.feature} | {r.kind} | {_num(r.psi)} | {r.psi_level} | "
                         f"{_num(r.ks)} | {_num(r.missing_train)} → {_num(r.missing_new)} | "
                         f"{r.new_categories} | {r.flags} |")
        return "\n".join(lines) + "\n"


def _num(v: Any) -> str:
    return "" if v is None or not np.isfinite(v) else f"{float(v):.3f}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    return obj


def _label_counts(values: pd.Series) -> dict[str, int]:
    """Rows per ``str(value)``; counted once per distinct value when that is the same."""
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    ):
        # equal strings have the same str(): count the values, then name the counts
        counts: Counter = Counter()
        for k, v in values.value_counts(dropna=False).items():
            counts[str(k)] += int(v)
        return dict(counts)
    return values.astype(str).value_counts().to_dict()


class DriftAccumulator:
    """Drift counts accumulated chunk by chunk; :meth:`report` gives the :class:`DriftReport`.

    Parameters
    ----------
    meta : dict
        The model's metadata (``features``, ``profile``, ``cutpoints``).
    """

    def __init__(self, meta: dict):
        self.profile = meta.get("profile") or {"features": {}}
        self.features = list(meta["features"])
        self.n_rows = 0
        self.numeric: dict[str, _Numeric] = {}
        self.categories: dict[str, Counter] = {}
        self.missing: dict[str, int] = dict.fromkeys(self.features, 0)
        for f in self.features:
            entry = self.profile["features"].get(f, {})
            if entry.get("kind") == "categorical":
                self.categories[f] = Counter()
            elif entry.get("quantiles"):
                self.numeric[f] = _Numeric(entry["quantiles"])
        rq = (self.profile.get("risk_score") or {}).get("quantiles")
        self.risk = _Numeric(rq) if rq else None
        self.groups: Counter = Counter()

    def update(self, X: pd.DataFrame, risk: np.ndarray | None = None,
               groups: np.ndarray | None = None) -> None:
        """Add rows: the checked features of scored rows, their risk scores and groups."""
        self.n_rows += len(X)
        for f in self.features:
            s = X[f]
            miss = pd.isna(s).to_numpy()
            self.missing[f] += int(miss.sum())
            if f in self.numeric:
                x = s.to_numpy(dtype=float, na_value=np.nan)[~miss]
                self.numeric[f].add(x)
            elif f in self.categories:
                self.categories[f].update(_label_counts(s[~miss]))
        if risk is not None and self.risk is not None:
            self.risk.add(np.asarray(risk, float))
        if groups is not None:
            self.groups.update(pd.Series(groups).dropna().astype(str).value_counts().to_dict())

    def _categorical(self, f: str, shares: dict[str, float]) -> dict[str, Any]:
        counts = self.categories[f]
        n = sum(counts.values())
        new = {k: v for k, v in counts.items() if k not in shares}
        if n == 0 or not shares:
            return {"psi": float("nan"), "new": new}
        keys = list(shares)
        observed = [counts.get(k, 0) / n for k in keys] + [sum(new.values()) / n]
        expected = [shares[k] for k in keys] + [0.0]
        return {"psi": psi(observed, expected), "new": new}

    def _feature_row(self, f: str) -> dict[str, Any]:
        entry = self.profile["features"].get(f, {})
        kind = entry.get("kind", "numeric")
        miss_train = float(entry.get("missing", float("nan")))
        miss_new = self.missing[f] / self.n_rows if self.n_rows else float("nan")
        row: dict[str, Any] = {"feature": f, "kind": kind, "psi": float("nan"),
                               "ks": float("nan"), "missing_train": miss_train,
                               "missing_new": miss_new, "missing_change": miss_new - miss_train,
                               "outside_train_range": float("nan"), "new_categories": "",
                               "n_new_category_rows": 0}
        flags = []
        if f in self.numeric:
            s = self.numeric[f].summary()
            row["psi"], row["ks"] = s["psi"], s["ks"]
            row["outside_train_range"] = s["below_min"] + s["above_max"]
        elif f in self.categories:
            c = self._categorical(f, entry.get("shares", {}))
            row["psi"] = c["psi"]
            top = sorted(c["new"].items(), key=lambda kv: (-kv[1], kv[0]))[:_MAX_NEW_LISTED]
            row["new_categories"] = ", ".join(f"{k} ({v})" for k, v in top)
            row["n_new_category_rows"] = int(sum(c["new"].values()))
            if c["new"]:
                flags.append(f"new categories: {row['new_categories']}")
        row["psi_level"] = _level(row["psi"])
        if row["psi_level"] == "major":
            flags.append(f"PSI {row['psi']:.2f} >= {PSI_MAJOR}")
        if np.isfinite(row["missing_change"]) and abs(row["missing_change"]) >= MISSING_CHANGE:
            flags.append(f"missing {miss_train:.0%} → {miss_new:.0%}")
        row["flagged"] = bool(flags)
        row["flags"] = "; ".join(flags)
        return row

    def _risk(self) -> dict[str, Any]:
        out: dict[str, Any] = {"psi": float("nan"), "ks": float("nan"), "psi_level": "",
                               "decile_shares": [], "group_shares": {}, "flagged": False}
        if self.risk is not None:
            s = self.risk.summary()
            out.update(psi=s["psi"], ks=s["ks"], psi_level=_level(s["psi"]),
                       decile_shares=s.get("observed", []))
            out["flagged"] = out["psi_level"] == "major"
        train = (self.profile.get("risk_score") or {}).get("group_shares", {})
        n = sum(self.groups.values())
        for g in dict.fromkeys([*train, *self.groups]):
            out["group_shares"][g] = {"train": float(train.get(g, 0.0)),
                                      "new": self.groups.get(g, 0) / n if n else float("nan")}
        return out

    def report(self) -> DriftReport:
        """The drift report of the rows added so far."""
        rows = [self._feature_row(f) for f in self.features]
        cols = ["feature", "kind", "psi", "psi_level", "ks", "missing_train", "missing_new",
                "missing_change", "outside_train_range", "new_categories", "n_new_category_rows",
                "flagged", "flags"]
        return DriftReport(n_rows=self.n_rows, n_train=int(self.profile.get("n", 0)),
                           features=pd.DataFrame(rows, columns=cols), risk=self._risk())


def drift_report(X: pd.DataFrame, risk: np.ndarray | None, meta: dict,
                 groups: np.ndarray | None = None) -> DriftReport:
    """Drift of scored rows against the training profile of the model.

    Parameters
    ----------
    X : pandas.DataFrame
        Checked feature columns (:func:`mmrisk.predict.check_rows`) of the scored rows.
    risk : ndarray of shape (n_rows,) or None
        Their predicted risk scores.
    meta : dict
        The model's metadata with the training ``profile``.
    groups : ndarray of shape (n_rows,), optional
        Their risk groups (for the group shares vs training).

    Returns
    -------
    DriftReport
    """
    acc = DriftAccumulator(meta)
    acc.update(X, risk, groups)
    return acc.report()
