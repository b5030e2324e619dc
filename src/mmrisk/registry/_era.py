"""A later era: move a synthetic extract's calendar by whole years (docs/registry.md §2.1).

The generator works in the registry's own frame (induction 2007–2015, data cut 2018-01-31).
With ``era_shift_years=k`` the finished tables are moved ``k`` calendar years later: every date
keeps its month and day (29 February becomes 28 February in a year that is not a leap year),
``birth_year`` and each centre's ``fish_1q_available_from`` gain ``k``, and the data cut becomes
2018+k-01-31. Whole years rather than a fixed number of days keep each date's calendar year
exactly ``k`` later (so ``transplant_year`` is too) and keep the ``-15`` / ``-07-01`` days that
mark month- and year-precision dates. The rule is monotone (an earlier date never moves past a
later one), so no date passes the data cut and no date-order rule breaks.

Written here rather than with ``pandas.DateOffset`` because the dates are ISO text, possibly
coarsened by the defects of §6, and the string arithmetic is exact and vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.registry._spec import TABLES

__all__ = ["MAX_ERA_SHIFT", "check_era_shift", "data_cut", "shift_iso_dates", "shift_tables"]

#: The largest shift: the latest birth year (induction in January 2016, age 28) plus 12 is 2000,
#: the top of the data contract's ``birth_year`` range, as is 2016 + 12 <= 2030 for
#: ``fish_1q_available_from``.
MAX_ERA_SHIFT = 12
CUT_DAY = "2018-01-31"


def check_era_shift(era_shift_years: int) -> int:
    """Validate a shift in whole years.

    Parameters
    ----------
    era_shift_years : int
        Years to move the calendar later; 0 to ``MAX_ERA_SHIFT``.

    Returns
    -------
    int
        The shift.

    Raises
    ------
    MMRiskError
        If it is not a whole number in that range.
    """
    if isinstance(era_shift_years, bool) or not isinstance(era_shift_years, (int, np.integer)):
        raise MMRiskError(f"era_shift_years must be a whole number of years, got "
                          f"{era_shift_years!r}.")
    if not 0 <= era_shift_years <= MAX_ERA_SHIFT:
        raise MMRiskError(f"era_shift_years must be between 0 and {MAX_ERA_SHIFT} (the data "
                          f"contract's birth_year range), got {era_shift_years}.")
    return int(era_shift_years)


def data_cut(era_shift_years: int = 0) -> pd.Timestamp:
    """The data cut of an extract shifted by ``era_shift_years``.

    Parameters
    ----------
    era_shift_years : int, default=0
        The shift in whole years.

    Returns
    -------
    pandas.Timestamp
        31 January of 2018 plus the shift.
    """
    return pd.Timestamp(f"{2018 + int(era_shift_years)}{CUT_DAY[4:]}")


def _leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def shift_iso_dates(dates: pd.Series, years: int) -> pd.Series:
    """Move ``YYYY-MM-DD`` dates ``years`` calendar years later; missing stays missing.

    Parameters
    ----------
    dates : pandas.Series
        ISO date strings or missing values.
    years : int
        Whole years to add.

    Returns
    -------
    pandas.Series
        Same index; object dtype; 29 February becomes 28 February when the new year is not a
        leap year.
    """
    if years == 0:
        return dates
    s = dates.astype(object)
    has = s.notna().to_numpy()
    out = s.copy()
    if not has.any():
        return out
    text = s[has].astype(str)
    year = text.str.slice(0, 4).astype(int).to_numpy() + years
    rest = text.str.slice(4).to_numpy(dtype=object)
    feb29 = (rest == "-02-29") & ~_leap(year)
    rest[feb29] = "-02-28"
    out[has] = np.char.zfill(year.astype(str), 4).astype(object) + rest
    return out


def shift_tables(tables: dict[str, pd.DataFrame], years: int) -> None:
    """Move every calendar value of the registry tables ``years`` later (in place).

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Raw tables by name (any of the data contract's); the date columns of the contract,
        ``patients.birth_year`` and ``centers.fish_1q_available_from`` are shifted, other
        columns and tables are left as they are.
    years : int
        Whole years to add.
    """
    if years == 0:
        return
    for name, df in tables.items():
        if name not in TABLES:
            continue
        for col in TABLES[name].columns:
            if col.dtype == "date" and col.name in df:
                df[col.name] = shift_iso_dates(df[col.name], years)
        for col in ("birth_year", "fish_1q_available_from"):
            if col in df:
                df[col] = df[col] + years
