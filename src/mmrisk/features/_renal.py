"""Kidney function: eGFR by the 2021 race-free CKD-EPI creatinine equation (Inker 2021)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mmrisk.features._base import ColumnDeriver, ColumnRef, category_codes, numeric_column

__all__ = ["EGFR_CKDEPI2021", "egfr_ckd_epi_2021"]

#: µmol/L of creatinine per mg/dL.
CREATININE_UMOL_L_PER_MG_DL = 88.4


def egfr_ckd_epi_2021(creatinine_umol_L: ArrayLike, age: ArrayLike, female: ArrayLike) -> Any:
    """eGFR by the 2021 CKD-EPI creatinine equation, without a race term.

    ``eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^-1.200 × 0.9938^age × 1.012 [if female]``,
    with Scr in mg/dL (µmol/L divided by 88.4), κ = 0.7 (female) or 0.9 (male), and
    α = -0.241 (female) or -0.302 (male).

    Parameters
    ----------
    creatinine_umol_L : array-like of shape (n_samples,)
        Serum creatinine in µmol/L.
    age : array-like of shape (n_samples,)
        Age in years.
    female : array-like of shape (n_samples,)
        1/True for female, 0/False for male, NaN when unknown.

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
        eGFR in mL/min/1.73 m²; NaN where any input is missing.

    References
    ----------
    .. [1] Inker LA, Eneanya ND, Coresh J, et al. New creatinine- and cystatin C-based equations
       to estimate GFR without race. N Engl J Med 2021;385(19):1737-1749.

    Examples
    --------
    >>> from mmrisk.features import egfr_ckd_epi_2021
    >>> round(float(egfr_ckd_epi_2021(1.2 * 88.4, 60, False)), 1)
    69.2
    """
    scr = np.asarray(creatinine_umol_L, dtype="float64") / CREATININE_UMOL_L_PER_MG_DL
    age = np.asarray(age, dtype="float64")
    is_female = np.asarray(female, dtype="float64")
    kappa = np.where(is_female == 1, 0.7, 0.9)
    alpha = np.where(is_female == 1, -0.241, -0.302)
    sex_factor = np.where(is_female == 1, 1.012, 1.0)
    ratio = scr / kappa
    egfr = (
        142.0
        * np.minimum(ratio, 1.0) ** alpha
        * np.maximum(ratio, 1.0) ** -1.200
        * 0.9938**age
        * sex_factor
    )
    return np.where(np.isnan(is_female), np.nan, egfr)


class EGFR_CKDEPI2021(ColumnDeriver):  # noqa: N801 - the name says which equation
    """Estimated GFR by the 2021 race-free CKD-EPI creatinine equation.

    Derives ``egfr_ckd_epi_2021`` (mL/min/1.73 m²) from serum creatinine (µmol/L), age (years)
    and sex (``'M'``/``'F'``); NaN where any of the three is missing. See
    :func:`egfr_ckd_epi_2021` for the equation.

    Parameters
    ----------
    creatinine_col : str or int, default='creatinine_umol_L'
        Serum creatinine in µmol/L (not mg/dL). Values must be positive.
    age_col : str or int, default='age'
        Age in years. Values must not be negative.
    sex_col : str or int, default='sex'
        ``'M'``, ``'F'`` or missing.
    keep_input : bool, default=True
        Keep the input columns (True) or drop them (False).

    Attributes
    ----------
    feature_lineage_ : dict of str to list of str
        Every output column mapped to the input columns it comes from.
    n_features_in_ : int
        Number of input columns seen in :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Input column names, when ``X`` in :meth:`fit` was a DataFrame with string names.

    See Also
    --------
    egfr_ckd_epi_2021 : the equation as a function.

    References
    ----------
    .. [1] Inker LA et al. New creatinine- and cystatin C-based equations to estimate GFR
       without race. N Engl J Med 2021;385(19):1737-1749.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import EGFR_CKDEPI2021
    >>> X = pd.DataFrame({"creatinine_umol_L": [79.56, 106.08], "age": [50, 60],
    ...                   "sex": ["F", "M"]})
    >>> EGFR_CKDEPI2021().fit_transform(X)["egfr_ckd_epi_2021"].round(1).tolist()
    [77.9, 69.2]
    """

    _column_params = ("creatinine_col", "age_col", "sex_col")

    def __init__(
        self,
        creatinine_col: ColumnRef = "creatinine_umol_L",
        age_col: ColumnRef = "age",
        sex_col: ColumnRef = "sex",
        *,
        keep_input: bool = True,
    ) -> None:
        self.creatinine_col = creatinine_col
        self.age_col = age_col
        self.sex_col = sex_col
        self.keep_input = keep_input

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        return {"egfr_ckd_epi_2021": self._input_refs()}

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        owner = type(self).__name__
        creat_name, age_name = names[self.creatinine_col], names[self.age_col]
        creatinine = numeric_column(frame, creat_name, owner)
        age = numeric_column(frame, age_name, owner)
        sex = category_codes(frame, names[self.sex_col], ("M", "F"), owner)
        for values, name, ok in (
            (creatinine, creat_name, creatinine > 0),
            (age, age_name, age >= 0),
        ):
            bad = ~np.isnan(values) & ~ok
            if bad.any():
                raise ValueError(
                    f"{owner}: column {name!r} holds {float(values[bad][0])!r}; creatinine must be "
                    f"positive (µmol/L) and age non-negative (years)."
                )
        female = np.array([0.0, 1.0, np.nan])[sex]  # codes of M, F and missing (-1)
        return {"egfr_ckd_epi_2021": egfr_ckd_epi_2021(creatinine, age, female)}
