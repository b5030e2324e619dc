"""``mmrisk cohort build``: the analysis table at a landmark and the files that document it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.cohort import COMPETING_ENDPOINT, Cohort, build_cohort, table1
from mmrisk.config import CohortSpec, load_cohort_spec, load_horizons
from mmrisk.evaluation import cumulative_incidence_at, gray_test
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import read_extract
from mmrisk.report import cif_figure, km_figure

__all__ = ["CAUSE_NAMES", "CohortFiles", "cohort_cif_tables", "write_cohort"]

#: Names of the causes of the competing-risks endpoint (figures, tables, model metadata).
CAUSE_NAMES = {1: "progression", 2: "death without progression"}

_TABLE_SUFFIXES = (".parquet", ".csv")


@dataclass
class CohortFiles:
    """What :func:`write_cohort` built and wrote.

    Parameters
    ----------
    cohort : Cohort
        The cohort (analysis table, flow, issues).
    spec : CohortSpec
        The cohort block of the config.
    table1 : pandas.DataFrame
        Table 1 by the cohort's group.
    files : list of pathlib.Path
        The analysis table, ``<stem>_flow.csv``, ``<stem>_table1.csv``, ``<stem>_km.png``;
        for the competing-risks endpoint ``<stem>_cif.png``, ``<stem>_cif.csv`` and
        ``<stem>_gray.csv`` instead of the Kaplan–Meier figure.
    """

    cohort: Cohort
    spec: CohortSpec
    table1: pd.DataFrame
    files: list[Path]


def write_cohort(extract_path: str | Path, config_path: str | Path, out_path: str | Path
                 ) -> CohortFiles:
    """Build the cohort of an extract at the config's landmark and write it with its flow.

    Parameters
    ----------
    extract_path : str or path-like
        A registry extract (folder of tables or a workbook).
    config_path : str or path-like
        YAML config whose ``cohort:`` block sets landmark, endpoint, ...
    out_path : str or path-like
        The analysis table (``.parquet`` or ``.csv``); beside it ``<stem>_flow.csv``,
        ``<stem>_table1.csv`` and ``<stem>_km.png`` (Kaplan–Meier by group). For the endpoint
        ``progression_cr``: ``<stem>_cif.png`` (Aalen–Johansen CIF of progression and of death
        without progression by group, 95% bands, numbers at risk), ``<stem>_cif.csv`` (the
        same at the config's horizons: :func:`cohort_cif_tables`) and ``<stem>_gray.csv``
        (Gray's test between the groups, per cause) instead of the Kaplan–Meier figure.

    Returns
    -------
    CohortFiles
        The cohort, Table 1 and the files written.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        For an unsupported output name, a bad config or extract, or a cohort without any
        eligible patient (the message lists the exclusion reasons); nothing is written.
    """
    out = Path(out_path)
    if out.suffix.lower() not in _TABLE_SUFFIXES:
        raise MMRiskError(f"--out {out}: use a .parquet or .csv file name")
    spec = load_cohort_spec(config_path)
    cohort = build_cohort(read_extract(extract_path), spec)
    if cohort.data.empty:
        excluded = cohort.flow[cohort.flow["step"] == "excluded"].sort_values("n", ascending=False)
        why = "; ".join(f"{r.reason} ({r.n})" for r in excluded.itertuples(index=False))
        raise MMRiskError(f"{extract_path}: no patient is eligible at the landmark "
                          f"{spec.landmark}; excluded: {why}. Nothing was written")
    t1 = table1(cohort.data, cohort.features, cohort.group_by)
    competing = spec.endpoint == COMPETING_ENDPOINT
    horizons = load_horizons(config_path) if competing else []
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    files = [out, Path(f"{stem}_flow.csv"), Path(f"{stem}_table1.csv"), Path(f"{stem}_km.png")]
    if competing:
        files[3:] = [Path(f"{stem}_cif.png"), Path(f"{stem}_cif.csv"), Path(f"{stem}_gray.csv")]
    if out.suffix.lower() == ".csv":
        cohort.data.to_csv(out, index=False)
    else:
        cohort.data.to_parquet(out, index=False)
    cohort.flow.to_csv(files[1], index=False)
    t1.to_csv(files[2], index=False)
    group = cohort.data[cohort.group_by] if cohort.group_by in cohort.data else None
    if competing:
        _write_cif(cohort, group, horizons, files[3:])
        return CohortFiles(cohort, spec, t1, files)
    fig = km_figure(cohort.data["time"], cohort.data["event"],
                    group if group is not None else ["all"] * len(cohort.data),
                    title=f"{spec.endpoint.upper()} from landmark {spec.landmark}")
    fig.savefig(files[3], dpi=120)
    return CohortFiles(cohort, spec, t1, files)


def _write_cif(cohort: Cohort, group: Any, horizons: list[int], paths: list[Path]) -> None:
    labels = group if group is not None else np.array(["all"] * len(cohort.data), dtype=object)
    fig = cif_figure(cohort.data["time"], cohort.data["event"], labels,
                     title=f"Cumulative incidence from landmark {cohort.spec.landmark}"
                           f"{f' by {cohort.group_by}' if group is not None else ''}")
    fig.savefig(paths[0], dpi=120)
    cif, gray = cohort_cif_tables(cohort.y, labels, horizons)
    cif.to_csv(paths[1], index=False)
    gray.to_csv(paths[2], index=False)


def cohort_cif_tables(y: np.ndarray, groups: Any, horizons: Sequence[int]
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aalen–Johansen CIF of both causes at the horizons by group, and Gray's test per cause.

    Parameters
    ----------
    y : structured ndarray of shape (n_samples,)
        Competing-risks outcome.
    groups : array-like of shape (n_samples,)
        Group of each patient (missing labels become ``"missing"``).
    horizons : sequence of int
        Months.

    Returns
    -------
    cif : pandas.DataFrame
        :func:`mmrisk.evaluation.cumulative_incidence_at` with a ``cause_name`` column.
    gray : pandas.DataFrame
        ``cause``, ``cause_name``, ``statistic``, ``df``, ``p_value`` (Gray's test between the
        groups; empty with fewer than two groups).
    """
    labels = np.array(["missing" if pd.isna(g) else str(g) for g in groups], dtype=object)
    cif = cumulative_incidence_at(y, [float(h) for h in horizons], groups=labels)
    cif.insert(2, "cause_name", cif["cause"].map(CAUSE_NAMES))
    rows = []
    if len(set(labels)) >= 2:
        for cause in (1, 2):
            test = gray_test(y, labels, cause=cause)
            rows.append({"cause": cause, "cause_name": CAUSE_NAMES[cause],
                         "statistic": float(test["statistic"]), "df": int(test["df"]),
                         "p_value": float(test["p_value"])})
    gray = pd.DataFrame(rows, columns=["cause", "cause_name", "statistic", "df", "p_value"])
    return cif, gray
