"""``analysis_view``: endpoints computed from the raw tables, as a registry analyst would.

Used by the generator (it ships the view beside the raw tables, docs/registry.md §3.12) and by the
summary. PFS runs from induction start to the first recorded progression or a death known to the
clinic; a death learnt only from the provincial registry leaves PFS censored at the last clinic
visit (§6.4). OS is censored at the data cut for patients traced alive in the provincial registry,
otherwise at the last contact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk.conventions import MONTH_DAYS

__all__ = ["analysis_view", "DATA_CUT"]

DATA_CUT = pd.Timestamp("2018-01-31")


def _first(df: pd.DataFrame, col: str, mask=None) -> pd.Series:
    d = df if mask is None else df[mask]
    dates = pd.to_datetime(d[col], format="%Y-%m-%d", errors="coerce")
    return dates.groupby(d["patient_id"]).min()


def _months(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.days / MONTH_DAYS


def analysis_view(tables: dict[str, pd.DataFrame],
                  data_cut: pd.Timestamp = DATA_CUT) -> pd.DataFrame:
    """One row per patient of ``tables["patients"]`` with LM group and PFS/OS (months).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Registry tables by name; ``patients``, ``transplants``, ``maintenance_episodes``,
        ``disease_events`` and ``followup`` are used. Dates are ``YYYY-MM-DD`` text; others
        count as missing.
    data_cut : pandas.Timestamp, default=DATA_CUT
        The extract's data cut (2018-01-31; later in an era-shifted extract, docs/registry.md
        §2.1): OS of a patient traced alive in the provincial registry is censored there.

    Returns
    -------
    pandas.DataFrame
        In the order of ``patients``: ``patient_id``, ``center_id``, ``t0`` (induction start),
        ``asct_date`` (first transplant of ``transplant_seq`` 1), ``lm_group_itt`` (any
        maintenance episode), ``lm_start`` (first one), ``pfs_months_from_t0`` and
        ``pfs_event``, ``os_months_from_t0`` and ``os_event``, and ``pfs_months_from_lm_start``
        and ``pfs_event_from_lm_start`` (missing without maintenance). Months are days divided
        by :data:`mmrisk.conventions.MONTH_DAYS`, rounded to 4 decimals.
    """
    pats = tables["patients"]
    pid = pats["patient_id"]
    t0 = pd.to_datetime(pats["induction_start_date"], format="%Y-%m-%d", errors="coerce")
    tr = tables["transplants"]
    asct = pid.map(_first(tr, "infusion_date", tr["transplant_seq"].astype(float) == 1))
    lm_start = pid.map(_first(tables["maintenance_episodes"], "start_date"))
    prog = pid.map(_first(tables["disease_events"], "event_date"))
    fu = tables["followup"].set_index("patient_id")
    last = pid.map(pd.to_datetime(fu["last_contact_date"], format="%Y-%m-%d", errors="coerce"))
    death = pid.map(pd.to_datetime(fu["death_date"], format="%Y-%m-%d", errors="coerce"))
    traced_alive = pid.map((fu["status_source"] == "provincial_registry")
                           & (fu["vital_status"] == "alive")).fillna(False).astype(bool)
    clinic_death = death.notna() & (death <= last)
    pfs_date = pd.concat([prog, death.where(clinic_death)], axis=1).min(axis=1)
    pfs_event = pfs_date.notna()
    pfs_end = pfs_date.where(pfs_event, last)
    os_event = death.notna()
    os_end = death.where(os_event, last.where(~traced_alive, data_cut))
    lm = lm_start.notna()
    return pd.DataFrame({
        "patient_id": pid.to_numpy(),
        "center_id": pats["center_id"].to_numpy(),
        "t0": pats["induction_start_date"].to_numpy(),
        "asct_date": asct.dt.strftime("%Y-%m-%d").to_numpy(),
        "lm_group_itt": lm.to_numpy(),
        "lm_start": lm_start.dt.strftime("%Y-%m-%d").to_numpy(),
        "pfs_months_from_t0": np.round(_months(pfs_end, t0), 4).to_numpy(),
        "pfs_event": pfs_event.to_numpy(),
        "os_months_from_t0": np.round(_months(os_end, t0), 4).to_numpy(),
        "os_event": os_event.to_numpy(),
        "pfs_months_from_lm_start": np.round(_months(pfs_end, lm_start), 4).where(lm).to_numpy(),
        "pfs_event_from_lm_start": pfs_event.where(lm).to_numpy(),
    })
