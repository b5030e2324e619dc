"""``mmrisk explain``: SHAP values of a logged model on any cohort, written to a folder.

The input is read and checked exactly as ``mmrisk score`` reads it (a registry extract at the
model's landmark, or a flat table); rows with ``status=error`` are not explained and are listed
in ``not_explained.csv`` with their reason, so every input row is accounted for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.exceptions import MMRiskError
from mmrisk.predict import check_rows, reference_rows
from mmrisk.workflows._input import read_scoring_input

__all__ = ["ExplainResult", "explain_input"]


@dataclass
class ExplainResult:
    """What :func:`explain_input` wrote: counts, the explanation, and the files.

    Parameters
    ----------
    n_rows : int
        Input rows.
    n_explained : int
        Rows explained.
    n_not_explained : int
        Rows that failed the input checks (listed in ``not_explained.csv`` with the reason).
    output : str
        The output explained (``risk``, ``surv_<h>m`` or ``chf_<h>m``).
    method : str
        ``tree``, ``linear``, ``permutation`` or ``kernel``.
    files : list of pathlib.Path
        Files written.
    explanation : Explanation
        The explanation itself.
    """

    n_rows: int
    n_explained: int
    n_not_explained: int
    output: str
    method: str
    files: list[Path] = field(default_factory=list)
    explanation: Any = field(default=None, repr=False)


def _row_positions(rows: Sequence[str] | None, ids: pd.Index, skipped: dict[str, str]
                   ) -> list[int] | None:
    """Waterfall rows given as identifiers or 0-based positions among the explained rows."""
    if rows is None:
        return None
    lookup = {str(v): i for i, v in enumerate(ids)}
    positions = []
    for r in rows:
        r = str(r).strip()
        if r in lookup:
            positions.append(lookup[r])
        elif r in skipped:
            raise MMRiskError(f"--rows: {r!r} is not explained: {skipped[r]}")
        elif r.isdigit() and int(r) < len(ids):
            positions.append(int(r))
        else:
            raise MMRiskError(f"--rows: {r!r} is neither an identifier of an explained row nor "
                              f"a position in [0, {len(ids)})")
    return positions


def _check_output(output: str, meta: dict) -> None:
    """Refuse a horizon beyond the longest follow-up the model was trained on."""
    from mmrisk.explain import parse_output

    spec = parse_output(output)
    longest = meta.get("max_follow_up_months")
    if spec.horizon is not None and longest is not None and spec.horizon > longest:
        raise MMRiskError(f"--output {output}: {spec.horizon:g} months is beyond the longest "
                          f"follow-up the model was trained on ({longest:.0f} months); its "
                          "survival there would be an extrapolation")


def explain_input(loaded: Any, data_path: str | Path, out_dir: str | Path, *,
                  output: str = "risk", rows: Sequence[str] | None = None,
                  id_column: str | None = None, method: str = "auto",
                  progress: Any = None) -> ExplainResult:
    """Explain a logged model's ``output`` on the rows of ``data_path``; write to ``out_dir``.

    Parameters
    ----------
    loaded : LoadedModel
        From :func:`mmrisk.tracking.load_model`.
    data_path : str or path-like
        A registry extract (the cohort is built at the model's landmark) or a flat table with
        the model's input columns.
    out_dir : str or path-like
        Folder for ``shap_values.parquet/.csv``, ``global_importance.csv``, ``reasons.csv``,
        ``not_explained.csv`` and ``figures/`` (beeswarm, bar, waterfalls, dependence plots).
    output : str, default='risk'
        ``risk``, ``surv_<h>m`` or ``chf_<h>m`` (see :func:`mmrisk.explain.explain`).
    rows : sequence of str, optional
        Patients who get a waterfall figure: identifiers or 0-based positions among the
        explained rows. Default: the highest and the lowest output.
    id_column : str, optional
        Identifier column of a flat table (default ``patient_id`` when present).
    method : str, default='auto'
        Exact TreeSHAP for forests and boosting, linear SHAP for Cox models, else permutation.
    progress : callable, optional
        Passed to :func:`mmrisk.explain.explain` (model-agnostic fallback only).

    Returns
    -------
    ExplainResult

    Notes
    -----
    Linear, interventional and model-agnostic SHAP need a background: the model's synthetic
    reference patients built from its training profile (summaries, not rows), so a patient's
    values do not depend on who else is in the file. Path-dependent TreeSHAP uses the training
    cover stored in the trees.
    """
    from mmrisk.explain import explain
    from mmrisk.report import write_explanation

    _check_output(output, loaded.meta)
    inp = read_scoring_input(data_path, loaded, id_column=id_column)
    frames, presets = [], []
    for frame, preset in inp.chunks():
        frames.append(frame)
        presets.append(np.full(len(frame), None, dtype=object) if preset is None else preset)
    frame = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame(columns=inp.read_columns))
    preset = np.concatenate(presets) if presets else np.array([], dtype=object)
    X, status, reason = check_rows(frame, loaded.meta, preset)
    ids = (frame[inp.id_column].astype(str).to_numpy() if inp.id_column
           else np.arange(len(frame)).astype(str))
    keep = status != "error"
    if not keep.any():
        raise MMRiskError(f"{data_path}: none of the {len(frame):,} rows can be explained "
                          f"(first reason: {reason[0] if len(reason) else 'no rows'})")
    Xk = X[keep].copy()
    Xk.index = pd.Index(ids[keep], name=inp.id_column or "row")
    skipped_ids = dict(zip(ids[~keep].tolist(), reason[~keep].tolist(), strict=True))
    positions = _row_positions(rows, Xk.index, skipped_ids)
    expl = explain(loaded.estimator, Xk, output=output, background=reference_rows(loaded.meta),
                   method=method, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = write_explanation(expl, out, rows=positions)
    skipped = pd.DataFrame({inp.id_column or "row": ids[~keep], "status": status[~keep],
                            "reason": reason[~keep]})
    skipped.to_csv(out / "not_explained.csv", index=False)
    files.append(out / "not_explained.csv")
    return ExplainResult(n_rows=len(frame), n_explained=int(keep.sum()),
                         n_not_explained=int((~keep).sum()), output=expl.output,
                         method=getattr(expl, "method", method), files=files, explanation=expl)
