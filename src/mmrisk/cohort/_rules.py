"""What the registry says a cohort feature may hold: its type, plausible range or code list.

Stored with every trained model (``meta["input_rules"]``) so that scoring checks input rows
without importing the registry specification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmrisk.conventions import FEATURE_SOURCES
from mmrisk.registry import TABLE_ORDER, TABLES

__all__ = ["input_rules"]


def _registry_columns() -> dict[str, Any]:
    specs = TABLES if isinstance(TABLES, dict) else {t.name: t for t in TABLES}
    by_name: dict[str, Any] = {}
    for table in TABLE_ORDER:
        for col in specs[table].columns:
            by_name.setdefault(col.name, col)
    for feature, (table, column) in FEATURE_SOURCES.items():
        by_name[feature] = specs[table].column(column)
    return by_name


def input_rules(features: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The registry column behind each feature: ``dtype``, ``min``, ``max`` and ``allowed``.

    Parameters
    ----------
    features : sequence of str
        Model input columns (cohort features or flat-table columns).

    Returns
    -------
    dict
        ``{feature: {"dtype": str, "min": float or None, "max": float or None,
        "allowed": list of str or None}}`` for every feature that a registry column (or a
        renamed one, :data:`mmrisk.conventions.FEATURE_SOURCES`) describes; JSON-ready.
        Features the registry does not describe are absent.
    """
    registry = _registry_columns()
    out: dict[str, dict[str, Any]] = {}
    for f in features:
        col = registry.get(f)
        if col is None:
            continue
        out[f] = {"dtype": col.dtype, "min": col.min, "max": col.max,
                  "allowed": list(col.allowed) if col.allowed is not None else None}
    return out
