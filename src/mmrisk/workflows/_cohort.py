"""``mmrisk cohort build``: the analysis table at a landmark and the files that document it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmrisk.cohort import Cohort, build_cohort, table1
from mmrisk.config import CohortSpec, load_cohort_spec
from mmrisk.exceptions import MMRiskError
from mmrisk.registry import read_extract
from mmrisk.report import km_figure

__all__ = ["CohortFiles", "write_cohort"]

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
        The analysis table, ``<stem>_flow.csv``, ``<stem>_table1.csv``, ``<stem>_km.png``.
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
        ``<stem>_table1.csv`` and ``<stem>_km.png`` (Kaplan–Meier by group).

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
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    files = [out, Path(f"{stem}_flow.csv"), Path(f"{stem}_table1.csv"), Path(f"{stem}_km.png")]
    if out.suffix.lower() == ".csv":
        cohort.data.to_csv(out, index=False)
    else:
        cohort.data.to_parquet(out, index=False)
    cohort.flow.to_csv(files[1], index=False)
    t1.to_csv(files[2], index=False)
    group = cohort.data[cohort.group_by] if cohort.group_by in cohort.data else None
    fig = km_figure(cohort.data["time"], cohort.data["event"],
                    group if group is not None else ["all"] * len(cohort.data),
                    title=f"{spec.endpoint.upper()} from landmark {spec.landmark}")
    fig.savefig(files[3], dpi=120)
    return CohortFiles(cohort, spec, t1, files)
