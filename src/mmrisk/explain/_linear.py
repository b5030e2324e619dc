"""Linear SHAP for Cox-type models: ``coef_j * (z_j - mean of the background's z_j)``.

For a model whose risk score is affine in its input columns, ``f(z) = a + coef · z`` (Cox
proportional hazards, penalised Cox, componentwise boosting, linear survival SVMs), the
interventional Shapley value of column ``j`` is exactly ``coef_j (z_j - E_b[z_j])`` and the base
value is ``E_b[f(b)]`` over the background. The coefficients are read from ``coef_`` when it is
one vector per input column, and otherwise recovered from the model's own predictions at the
origin and the unit vectors; either way, affinity is checked on the explained and background
rows before any value is returned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmrisk.exceptions import MMRiskError
from mmrisk.explain._base import OutputSpec
from mmrisk.explain._outputs import as_model_input, output_function

__all__ = ["linear_coefficients", "linear_parts", "linear_shap"]

#: Relative tolerance of the affinity check.
_RTOL = 1e-8


def _probe(f: Any, p: int) -> np.ndarray:
    rows = np.vstack([np.zeros((1, p)), np.eye(p)])
    pred = f(rows)
    return pred[1:] - pred[0]


def _affine(
    estimator: Any, blocks: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Coefficients and the risk scores of each block of rows, if affine on all of them."""
    if not hasattr(estimator, "coef_"):
        return None
    p = blocks[0].shape[1]
    f = output_function(estimator, OutputSpec("risk"))
    raw = np.asarray(estimator.coef_, dtype=float)
    coef = raw.reshape(-1) if raw.size == p else _probe(f, p)
    # one call per block: a risk score affine in its input needs no memory beyond the rows
    # (output_function predicts large inputs in chunks, for models that need it)
    preds = [
        np.asarray(estimator.predict(as_model_input(estimator, Z)), dtype=float).reshape(-1)
        for Z in blocks
    ]
    lin = [Z @ coef for Z in blocks]
    pred, fit = np.concatenate(preds), np.concatenate(lin)
    resid = pred - fit
    scale = 1.0 + np.max(np.abs(pred)) + np.max(np.abs(fit))
    if not np.all(np.isfinite(resid)) or np.ptp(resid) > _RTOL * scale:
        return None
    return coef, preds


def linear_coefficients(estimator: Any, Z: np.ndarray) -> np.ndarray | None:
    """Coefficients of an estimator whose ``predict`` is affine in its input, else ``None``.

    Parameters
    ----------
    estimator : fitted estimator
        The final survival estimator; only estimators with ``coef_`` are considered.
    Z : numpy.ndarray of shape (n_samples, n_columns)
        Rows on which affinity is verified (explained and background rows).

    Returns
    -------
    numpy.ndarray of shape (n_columns,) or None
        ``coef`` such that ``predict(z) - coef · z`` is constant on ``Z`` (to 1e-8 relative),
        or ``None`` if there is no ``coef_`` or the check fails.
    """
    found = _affine(estimator, [np.asarray(Z, dtype=float)])
    return None if found is None else found[0]


def linear_parts(
    estimator: Any, Z: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Linear SHAP values, base value, coefficients and the risk scores of ``Z``.

    The affinity check runs on the explained and background rows together (as in
    :func:`linear_coefficients` of both stacked), without stacking them.

    Parameters
    ----------
    estimator : fitted estimator
        The final survival estimator (with ``coef_``).
    Z : numpy.ndarray of shape (n_samples, n_columns)
        Model input rows to explain.
    background : numpy.ndarray of shape (n_background, n_columns)
        Model input rows whose mean is the reference point.

    Returns
    -------
    phi : numpy.ndarray of shape (n_samples, n_columns)
        ``coef * (Z - background.mean(0))``.
    base_value : float
        Mean risk score over the background.
    coef : numpy.ndarray of shape (n_columns,)
        The coefficients used.
    prediction : numpy.ndarray of shape (n_samples,)
        The model's risk scores of ``Z``.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the risk score is not affine in the model input.
    """
    found = _affine(estimator, [Z, background])
    if found is None:
        raise MMRiskError(
            f"{type(estimator).__name__}: the risk score is not linear in the model input "
            "(or the model has no coef_); use method='auto' or method='permutation'."
        )
    coef, (pred, pred_bg) = found
    base = float(np.mean(pred_bg))
    phi = Z - background.mean(axis=0)
    phi *= coef  # in place: (Z - mean) * coef, one array instead of two
    return phi, base, coef, pred


def linear_shap(
    estimator: Any, Z: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Exact SHAP values of an affine risk score.

    Parameters
    ----------
    estimator : fitted estimator
        The final survival estimator (with ``coef_``).
    Z : numpy.ndarray of shape (n_samples, n_columns)
        Model input rows to explain.
    background : numpy.ndarray of shape (n_background, n_columns)
        Model input rows whose mean is the reference point.

    Returns
    -------
    phi : numpy.ndarray of shape (n_samples, n_columns)
        ``coef * (Z - background.mean(0))``.
    base_value : float
        Mean risk score over the background.
    coef : numpy.ndarray of shape (n_columns,)
        The coefficients used.

    Raises
    ------
    mmrisk.exceptions.MMRiskError
        If the risk score is not affine in the model input.
    """
    phi, base, coef, _ = linear_parts(estimator, Z, background)
    return phi, base, coef
