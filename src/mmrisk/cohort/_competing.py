"""The competing-risks outcome: event codes 0 (censored), 1 (event of interest), 2 (competing)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import ConfigError

__all__ = ["COMPETING_DTYPE", "competing_outcome", "check_event_codes"]

#: dtype of a competing-risks outcome: integer event code and float time (months).
COMPETING_DTYPE = np.dtype([("event", "<i8"), ("time", "<f8")])


def competing_outcome(event: Any, time: Any) -> np.ndarray:
    """The competing-risks outcome array, the counterpart of ``sksurv.util.Surv.from_arrays``.

    Parameters
    ----------
    event : array-like of int, shape (n_samples,)
        0 = censored, 1 = event of interest (progression), 2 = competing event (death without
        progression).
    time : array-like of float, shape (n_samples,)
        Time of the event or of censoring (months from the landmark).

    Returns
    -------
    ndarray of shape (n_samples,), dtype [('event', '<i8'), ('time', '<f8')]
        The outcome, as the competing-risks models and metrics take it.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        If a code is not 0, 1 or 2 (the message names the rows), or the lengths differ.
    """
    codes = check_event_codes(event, "event")
    t = np.asarray(time, dtype=float)
    if t.shape != codes.shape:
        raise ConfigError(f"event and time must have the same length; got {codes.size} and "
                          f"{t.size}.")
    out = np.empty(codes.size, dtype=COMPETING_DTYPE)
    out["event"] = codes
    out["time"] = t
    return out


def check_event_codes(values: Any, column: str) -> np.ndarray:
    """Event codes of a flat table's competing-risks column, as integers 0/1/2.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        The column (numbers, or strings of digits).
    column : str
        Its name, for the error message.

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        The codes.

    Raises
    ------
    mmrisk.exceptions.ConfigError
        If a value is missing or not one of 0, 1, 2; the message names the column, the first
        rows (0-based positions) and their values.
    """
    s = pd.Series(np.asarray(values, dtype=object).ravel())
    num = pd.to_numeric(s, errors="coerce")
    bad = ~num.isin([0, 1, 2])
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        shown = ", ".join(f"{r} ({s.iloc[r]!r})" for r in rows[:10])
        more = f" and {rows.size - 10} more" if rows.size > 10 else ""
        raise ConfigError(
            f"column {column!r}: competing-risks event codes must be 0 (censored), 1 (event of "
            f"interest) or 2 (competing event); rows {shown}{more} are not."
        )
    return num.to_numpy(dtype=np.int64)
