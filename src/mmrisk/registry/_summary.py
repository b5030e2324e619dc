"""A short, readable summary of an extract: size, maintenance uptake and the KM medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sksurv.nonparametric import kaplan_meier_estimator

from mmrisk.registry._analysis_view import analysis_view

__all__ = ["summarize_extract", "km_median"]


def km_median(time, event) -> float:
    """Kaplan–Meier median survival time; ``inf`` when the curve stays above 0.5.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Follow-up times; missing and negative times are left out.
    event : array-like of shape (n_samples,)
        Whether the event was observed (``True``) or the time is censored.

    Returns
    -------
    float
        The first time at which the Kaplan–Meier estimate (scikit-survival's) is at or below
        0.5; ``inf`` if it never is, ``nan`` if no time is usable.
    """
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

    Parameters
    ----------
    extract : RegistryExtract
        The extract, from :func:`mmrisk.registry.read_extract` (only its ``tables`` are used).

    Returns
    -------
    dict of str to float or str
        Readable labels mapped to: the numbers of patients and centres and the share (%) on
        lenalidomide maintenance (LM), as floats; the Kaplan–Meier median PFS and OS from
        induction start by LM group (of :func:`~mmrisk.registry._analysis_view.analysis_view`)
        and the median follow-up (reverse Kaplan–Meier of OS), as text such as ``"58.2
        months"`` or ``"not reached"``.
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
        "patient records": float(len(view)),
        "centres": float(tables["patients"]["center_id"].nunique()),
        "on lenalidomide maintenance (%)": float(100 * lm.mean()),
        "median PFS from induction, LM": fmt(km_median(pfs_t[lm], pfs_e[lm])),
        "median PFS from induction, no LM": fmt(km_median(pfs_t[~lm], pfs_e[~lm])),
        "median OS from induction, LM": fmt(km_median(os_t[lm], os_e[lm])),
        "median OS from induction, no LM": fmt(km_median(os_t[~lm], os_e[~lm])),
        "median follow-up (reverse KM)": fmt(km_median(os_t, ~os_e)),
    }
