"""A short, readable summary of an extract: size, maintenance uptake and the KM medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.nonparametric import kaplan_meier_estimator

from mmrisk.registry._analysis_view import analysis_view

__all__ = ["summarize_extract", "km_median"]


def km_median(time, event) -> float:
    """Kaplan–Meier median survival time; ``inf`` when the curve stays above 0.5."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    ok = ~np.isnan(time) & (time >= 0)
    if not ok.any():
        return float("nan")
    t, s = kaplan_meier_estimator(event[ok], time[ok])
    hit = np.flatnonzero(s <= 0.5)
    return float(t[hit[0]]) if hit.size else float("inf")


def summarize_extract(extract) -> dict[str, float | str]:
    """Headline figures of an extract, computed from its raw tables (no identifiers, no dates).

    Returns patients, centres, the share on lenalidomide maintenance (LM), Kaplan–Meier median
    PFS and OS from induction start by LM group, and the median follow-up (reverse KM).
    """
    tables = extract.tables
    view = analysis_view(tables)
    lm = view["lm_group_itt"].to_numpy(bool)
    pfs_t = pd.to_numeric(view["pfs_months_from_t0"]).to_numpy(float)
    pfs_e = view["pfs_event"].to_numpy(bool)
    os_t = pd.to_numeric(view["os_months_from_t0"]).to_numpy(float)
    os_e = view["os_event"].to_numpy(bool)

    def fmt(x: float) -> str:
        return "not reached" if np.isinf(x) else f"{x:.1f} months"

    return {
        "patients": float(len(view)),
        "centres": float(tables["patients"]["center_id"].nunique()),
        "on lenalidomide maintenance (%)": float(100 * lm.mean()),
        "median PFS from induction, LM": fmt(km_median(pfs_t[lm], pfs_e[lm])),
        "median PFS from induction, no LM": fmt(km_median(pfs_t[~lm], pfs_e[~lm])),
        "median OS from induction, LM": fmt(km_median(os_t[lm], os_e[lm])),
        "median OS from induction, no LM": fmt(km_median(os_t[~lm], os_e[~lm])),
        "median follow-up (reverse KM)": fmt(km_median(os_t, ~os_e)),
    }
