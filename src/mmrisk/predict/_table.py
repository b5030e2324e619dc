"""The one prediction table every path returns: CLI scoring, the pyfunc model, Spark, REST.

:func:`predict_frame` checks input rows and predicts them; :func:`predict_rows` predicts rows
already checked. Both return :func:`output_columns`, one row per input row.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmrisk.models import cause_linear_model, predict_cif_at, predict_survival_at, split_model
from mmrisk.predict._checks import check_rows

__all__ = ["RISK_GROUPS", "N_REASONS", "learn_cutpoints", "output_columns", "predict_table",
           "reference_rows", "risk_groups", "predict_rows", "predict_frame"]

RISK_GROUPS = ("low", "intermediate", "high")
#: SHAP reasons per scored row (``reason_1`` ... ``reason_3``).
N_REASONS = 3
#: Rows of the reference (background) sample built from the training profile.
_N_REFERENCE = 100
#: Rows explained per call when computing reasons (bounds the memory of large batches).
_REASON_BLOCK = 100_000


def learn_cutpoints(train_risk: np.ndarray) -> list[float]:
    """Tertile cut-points of the training risk scores (low / intermediate / high).

    Parameters
    ----------
    train_risk : array-like of shape (n_samples,)
        Risk scores of the training rows (non-finite ones are ignored).

    Returns
    -------
    list of float
        The 1/3 and 2/3 quantiles.
    """
    risk = np.asarray(train_risk, float)
    risk = risk[np.isfinite(risk)]
    if risk.size < 3:
        raise ValueError("at least 3 finite training risk scores are needed for risk groups")
    return [float(q) for q in np.quantile(risk, [1 / 3, 2 / 3])]


def risk_groups(risk: np.ndarray, cutpoints: Sequence[float]) -> np.ndarray:
    """Group labels from risk scores and the training cut-points.

    Parameters
    ----------
    risk : array-like of shape (n_samples,)
        Risk scores.
    cutpoints : sequence of float
        The training cut-points (:func:`learn_cutpoints`).

    Returns
    -------
    ndarray of shape (n_samples,)
        ``'low'``, ``'intermediate'`` or ``'high'``; ``None`` where the risk is not finite.
    """
    risk = np.asarray(risk, float)
    # Round both sides so that a score equal to a cut-point lands in the same group whatever
    # the batch size (BLAS may change the last bit of a linear predictor between batches).
    idx = np.searchsorted(np.round(np.asarray(cutpoints, float), 10), np.round(risk, 10),
                          side="right")
    out = np.asarray(RISK_GROUPS, dtype=object)[np.clip(idx, 0, len(RISK_GROUPS) - 1)]
    out[~np.isfinite(risk)] = None
    return out


#: Output kinds: survival models give ``surv_<h>m``, competing-risks models ``cif_<h>m`` (the
#: cumulative incidence of the event of interest); ``meta["outcome_kind"]`` says which.
_PREFIX = {"survival": "surv", "cif": "cif"}


def _outcome_kind(meta: dict) -> str:
    return meta.get("outcome_kind", "survival")


def predict_table(model: Any, X: pd.DataFrame, horizons: Sequence[int],
                  cutpoints: Sequence[float], outcome: str = "survival") -> pd.DataFrame:
    """``risk_score``, ``risk_group`` and ``surv_<h>m`` per horizon, one row per row of ``X``.

    Parameters
    ----------
    model : fitted estimator
        A catalogue model (feature pipeline + survival model).
    X : pandas.DataFrame
        Input rows with the model's feature columns.
    horizons : sequence of int
        Months.
    cutpoints : sequence of float
        Risk-group cut-points learned on the training data.
    outcome : {"survival", "cif"}, default="survival"
        ``"cif"`` for a competing-risks model: ``cif_<h>m`` columns (the cumulative incidence
        of the event of interest, :func:`mmrisk.models.predict_cif_at`) instead of
        ``surv_<h>m``; its risk score is the CIF at the last horizon.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``X``.
    """
    risk = np.asarray(model.predict(X), float)
    at = predict_cif_at if outcome == "cif" else predict_survival_at
    values = at(model, X, horizons)
    out = pd.DataFrame({"risk_score": risk, "risk_group": risk_groups(risk, cutpoints)},
                       index=X.index)
    for j, h in enumerate(horizons):
        out[f"{_PREFIX[outcome]}_{int(h)}m"] = values[:, j]
    return out


def output_columns(horizons: Sequence[int], outcome: str = "survival") -> list[str]:
    """The scoring output columns, in order (without the identifier column).

    Parameters
    ----------
    horizons : sequence of int
        Months of the ``surv_<h>m`` (or ``cif_<h>m``) columns.
    outcome : {"survival", "cif"}, default="survival"
        ``"cif"`` for a competing-risks model (``meta["outcome_kind"]``).

    Returns
    -------
    list of str
        ``status``, ``reason``, ``risk_score``, ``risk_group``, ``surv_<h>m``... (or
        ``cif_<h>m``...), ``reason_1``, ``reason_2``, ``reason_3``.
    """
    return (["status", "reason", "risk_score", "risk_group"]
            + [f"{_PREFIX[outcome]}_{int(h)}m" for h in horizons]
            + [f"reason_{j + 1}" for j in range(N_REASONS)])


def _spread(n: int, shares: dict[str, float]) -> list[Any]:
    """``n`` labels in proportion to ``shares`` (largest remainder), in a fixed order."""
    keys = list(shares)
    raw = np.array([shares[k] for k in keys], float) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return [k for k, c in zip(keys, counts, strict=True) for _ in range(c)]


def reference_rows(meta: dict, n: int = _N_REFERENCE) -> pd.DataFrame:
    """Synthetic reference patients built from the training profile (summaries, never rows).

    Numeric features take the training quantiles (interpolated at evenly spaced levels),
    categorical ones their training shares, and both their training share of missing values;
    each column is shuffled with a fixed seed. Used as the SHAP background, so that a patient's
    reasons do not depend on the other rows of the batch.

    Parameters
    ----------
    meta : dict
        The model's metadata (``features``, ``profile``).
    n : int, default=100
        Rows.

    Returns
    -------
    pandas.DataFrame of shape (n, n_features)
    """
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for f in meta["features"]:
        entry = meta["profile"]["features"].get(f, {})
        n_missing = int(round(float(entry.get("missing", 0.0)) * n))
        if entry.get("kind") == "categorical" and entry.get("shares"):
            values: list[Any] = _spread(n - n_missing, entry["shares"])
            col = np.array(values + [None] * n_missing, dtype=object)
        elif entry.get("quantiles"):
            q = np.asarray(entry["quantiles"], float)
            levels = (np.arange(n - n_missing) + 0.5) / max(n - n_missing, 1)
            col = np.concatenate([np.interp(levels, np.linspace(0, 1, len(q)), q),
                                  np.full(n_missing, np.nan)])
        else:
            col = np.array([None] * n, dtype=object)
        out[f] = col[rng.permutation(n)]
    return pd.DataFrame(out)


#: Reference rows through each model's feature pipeline, per model and training profile
#: (the same for every batch a model scores; models are immutable once trained).
_REFERENCE_INPUTS: weakref.WeakKeyDictionary[Any, tuple[str, Any]] = weakref.WeakKeyDictionary()


def _reference_input(estimator: Any, meta: dict) -> Any:
    """:func:`reference_rows` of ``meta`` through the estimator's feature pipeline, memoised."""
    from mmrisk.explain import transform_for_explain

    key = json.dumps([meta["features"], meta["profile"]["features"]], sort_keys=True,
                     default=str)
    try:
        cached = _REFERENCE_INPUTS.get(estimator)
    except TypeError:  # an estimator that cannot be weakly referenced: no memo
        return transform_for_explain(estimator, reference_rows(meta))
    if cached is not None and cached[0] == key:
        return cached[1]
    value = transform_for_explain(estimator, reference_rows(meta))
    _REFERENCE_INPUTS[estimator] = (key, value)
    return value


def _rows(model_input: Any, lo: int, hi: int) -> Any:
    """Rows ``lo:hi`` of a :class:`mmrisk.explain.ModelInput`."""
    from mmrisk.explain import ModelInput

    cols = model_input.columns
    return ModelInput(cols.iloc[lo:hi] if isinstance(cols, pd.DataFrame) else cols[lo:hi],
                      {k: v.iloc[lo:hi] for k, v in model_input.intermediate.items()})


def _reasons(estimator: Any, X: pd.DataFrame, meta: dict, model_input: Any = None
             ) -> pd.DataFrame:
    """``reason_1..3`` of every row: the largest SHAP contributions to the risk score.

    ``model_input`` is :func:`mmrisk.explain.transform_for_explain` of ``X`` when the caller has
    it (the feature pipeline is not run again). Rows are explained in blocks of
    ``_REASON_BLOCK``, so that the per-column SHAP values of a large batch are never all in
    memory at once.
    """
    from mmrisk.explain import explain, reasons_table

    if _outcome_kind(meta) == "cif":  # the CIF is not additive: explain cause 1's predictor
        expl = explain(cause_linear_model(estimator, cause=1), X, output="risk",
                       background=reference_rows(meta))
        return reasons_table(expl, k=N_REASONS)
    background = _reference_input(estimator, meta)
    parts = []
    for lo in range(0, len(X), _REASON_BLOCK):
        hi = min(lo + _REASON_BLOCK, len(X))
        expl = explain(estimator, X.iloc[lo:hi], output="risk", background=background,
                       model_input=None if model_input is None else _rows(model_input, lo, hi))
        parts.append(reasons_table(expl, k=N_REASONS))
    return parts[0] if len(parts) == 1 else pd.concat(parts)


def predict_frame(estimator: Any, meta: dict, frame: pd.DataFrame, reasons: bool = True
                ) -> pd.DataFrame:
    """Check, score and explain input rows: the scoring output, one row per row of ``frame``.

    Parameters
    ----------
    estimator : fitted estimator
        A catalogue model (feature pipeline + survival model).
    meta : dict
        The model's metadata (``features``, ``horizons``, ``cutpoints``, ``profile``).
    frame : pandas.DataFrame
        Input rows holding the model's feature columns (other columns are ignored).
    reasons : bool, default=True
        Compute ``reason_1..3`` (SHAP on the risk score, against :func:`reference_rows`; for a
        competing-risks model on the linear predictor of the event of interest);
        ``False`` leaves them empty.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``frame``, columns :func:`output_columns`: ``status`` (``ok``,
        ``warning``, ``error``), ``reason``, ``risk_score``, ``risk_group``, ``surv_<h>m``
        (``cif_<h>m`` when ``meta["outcome_kind"]`` is ``"cif"``), ``reason_1..3``. Rows with
        ``status == 'error'`` have no scores and no reasons.

    Raises
    ------
    mmrisk.exceptions.MissingColumnsError
        If model input columns are missing (all are listed); nothing is scored.
    """
    X, status, reason = check_rows(frame, meta)
    return predict_rows(estimator, meta, X, status, reason, reasons=reasons)


def predict_rows(estimator: Any, meta: dict, X: pd.DataFrame, status: np.ndarray,
                  reason: np.ndarray, reasons: bool = True) -> pd.DataFrame:
    """:func:`predict_frame` after :func:`~mmrisk.predict.check_rows`: score the non-error rows.

    Parameters
    ----------
    estimator : fitted estimator
        A catalogue model.
    meta : dict
        The model's metadata.
    X : pandas.DataFrame
        Checked feature columns, as returned by ``check_rows``.
    status, reason : ndarray of shape (n_rows,)
        Row statuses and reasons (a caller may have turned more rows into errors).
    reasons : bool, default=True
        Compute ``reason_1..3``.

    Returns
    -------
    pandas.DataFrame
        As :func:`predict_frame`, indexed like ``X``.
    """
    horizons = [int(h) for h in meta["horizons"]]
    outcome = _outcome_kind(meta)
    n = len(X)
    cols: dict[str, np.ndarray] = {"status": np.array(status, dtype=object),
                                   "reason": np.array(reason, dtype=object),
                                   "risk_score": np.full(n, np.nan),
                                   "risk_group": np.full(n, None, dtype=object)}
    cols.update({f"{_PREFIX[outcome]}_{h}m": np.full(n, np.nan) for h in horizons})
    cols.update({f"reason_{j + 1}": np.full(n, "", dtype=object) for j in range(N_REASONS)})
    scored = status != "error"
    if scored.any():
        try:
            parts = _score(estimator, meta, X if scored.all() else X[scored], horizons,
                           outcome, reasons)
        except ValueError:
            # A model without imputation (e.g. the passthrough pipeline) refuses a whole batch
            # that holds one missing value: those rows become errors, the others are scored.
            # Models logged with meta["unimputed"] have such rows flagged by check_rows;
            # this covers older ones.
            blank = X.isna().to_numpy()
            holes = scored & blank.any(axis=1)
            if not holes.any():
                raise
            for i in np.flatnonzero(holes):
                cols["status"][i] = "error"
                missing = ", ".join(str(c) for c in X.columns[blank[i]])
                cols["reason"][i] = (f"missing value in {missing}: this model has no "
                                     "imputation for it")
            scored = scored & ~holes
            parts = (_score(estimator, meta, X[scored], horizons, outcome, reasons)
                     if scored.any() else [])
        for part in parts:
            for col in part.columns:
                cols[col][scored] = part[col].to_numpy()
    return pd.DataFrame(cols, index=X.index)


def _score(estimator: Any, meta: dict, Xs: pd.DataFrame, horizons: list[int], outcome: str,
           reasons: bool) -> list[pd.DataFrame]:
    """Prediction table (and reasons) of the rows to score, indexed like ``Xs``."""
    features, final = split_model(estimator)
    model_input = None
    if features is None:
        Z = Xs
    elif reasons:  # once for risk, survival and reasons (with the derived values shown)
        from mmrisk.explain import transform_for_explain

        model_input = transform_for_explain(estimator, Xs)
        Z = model_input.columns
    else:
        Z = features.transform(Xs)  # once for risk and survival
    parts = [predict_table(final, Z, horizons, meta["cutpoints"], outcome
                           ).set_axis(Xs.index)]
    if reasons:
        parts.append(_reasons(estimator, Xs, meta, model_input))
    return parts
