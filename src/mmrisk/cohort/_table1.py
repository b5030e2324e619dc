"""Table 1: baseline characteristics by group, as in a clinical paper."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["table1"]


def _numeric(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return "—"
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return f"{med:.3g} [{q1:.3g}–{q3:.3g}]"


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _is_indicator(s: pd.Series) -> bool:
    """A 0/1 (or boolean) column: shown as n (%) of 1, not as a median of zeros and ones."""
    if pd.api.types.is_bool_dtype(s):
        return True
    v = s.dropna()
    return _is_numeric(s) and not v.empty and bool(v.isin([0, 1]).all())


def _indicator(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return "—"
    n = int((v.astype(float) == 1).sum())
    return f"{n:,} ({100 * n / len(v):.1f}%)"


def table1(data: pd.DataFrame, features: list[str], group: str | None) -> pd.DataFrame:
    """Median [IQR] for numeric features, n (%) of 1 for 0/1 indicators, n (%) per level for
    the others, and missing n.

    Parameters
    ----------
    data : pandas.DataFrame
        The analysis table.
    features : list of str
        Columns to describe, in order.
    group : str or None
        Column whose values make the table's columns (besides "Overall"); missing values form
        a "missing" group.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable``, ``level``, ``Overall`` and one per group; the first row holds n.
        Percentages are of the non-missing values of the group.
    """
    groups: dict[str, pd.DataFrame] = {"Overall": data}
    if group is not None and group in data.columns:
        labels = data[group].astype(object).where(data[group].notna(), "missing").astype(str)
        for g in sorted(labels.unique()):
            groups[f"{group}={g}"] = data[labels == g]
    rows = [{"variable": "n", "level": "", **{k: f"{len(v):,}" for k, v in groups.items()}}]
    for col in features:
        if col == group:
            continue
        if _is_indicator(data[col]):
            rows.append({"variable": col, "level": "yes (1)",
                         **{k: _indicator(v[col]) for k, v in groups.items()}})
        elif _is_numeric(data[col]):
            rows.append({"variable": col, "level": "median [IQR]",
                         **{k: _numeric(v[col]) for k, v in groups.items()}})
        else:
            for level in sorted(data[col].dropna().astype(str).unique()):
                cells = {}
                for k, v in groups.items():
                    s = v[col].dropna().astype(str)
                    n = int((s == level).sum())
                    cells[k] = f"{n:,} ({100 * n / len(s):.1f}%)" if len(s) else "—"
                rows.append({"variable": col, "level": level, **cells})
        rows.append({"variable": col, "level": "missing",
                     **{k: f"{int(v[col].isna().sum()):,}" for k, v in groups.items()}})
    return pd.DataFrame(rows)
