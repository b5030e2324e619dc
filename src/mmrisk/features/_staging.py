"""Myeloma staging: ISS (Greipp 2005), R-ISS (Palumbo 2015) and R2-ISS (D'Agostino 2022).

Missing inputs are handled by asking which stages are still *possible*: a stage is reported
when every way of filling in the missing inputs gives the same stage, and NaN otherwise. So
ISS III needs only β2-microglobulin, ISS II with β2M in [3.5, 5.5) mg/L needs no albumin, an
ISS III patient with del(17p) detected is R-ISS III whatever the LDH, and an ISS II patient is
R-ISS II whatever the cytogenetics and LDH.

References
----------
.. [1] Greipp PR, San Miguel J, Durie BGM, et al. International staging system for multiple
   myeloma. J Clin Oncol 2005;23(15):3412-3420.
.. [2] Palumbo A, Avet-Loiseau H, Oliva S, et al. Revised International Staging System for
   multiple myeloma: a report from International Myeloma Working Group. J Clin Oncol
   2015;33(26):2863-2869.
.. [3] D'Agostino M, Cairns DA, Lahuerta JJ, et al. Second Revision of the International
   Staging System (R2-ISS) for overall survival in multiple myeloma: a European Myeloma
   Network (EMN) report within the HARMONY project. J Clin Oncol 2022;40(29):3406-3418.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mmrisk.conventions import ALBUMIN_LOW, BETA2M_HIGH, BETA2M_LOW
from mmrisk.features._base import ColumnDeriver, ColumnRef, numeric_column, resolve_unique
from mmrisk.features._cytogenetics import Status, any_of, cyto_status, known_present

__all__ = ["ISS", "RISS", "R2ISS"]


#: R2-ISS points (D'Agostino 2022).
R2ISS_POINTS = {
    "iss_2": 1.0,
    "iss_3": 1.5,
    "del17p": 1.0,
    "ldh_high": 1.0,
    "t_4_14": 1.0,
    "1q": 0.5,
}


def iss_possible(beta2m: np.ndarray, albumin: np.ndarray) -> tuple[np.ndarray, ...]:
    """Which ISS stages (I, II, III) are possible given β2M and albumin (NaN = unknown).

    Parameters
    ----------
    beta2m : numpy.ndarray of shape (n_samples,)
        Serum β2-microglobulin in mg/L.
    albumin : numpy.ndarray of shape (n_samples,)
        Serum albumin in g/L.

    Returns
    -------
    tuple of three numpy.ndarray of bool
        Masks "could be ISS I", "could be ISS II", "could be ISS III".
    """
    b_unknown = np.isnan(beta2m)
    a_unknown = np.isnan(albumin)
    with np.errstate(invalid="ignore"):
        b_low = beta2m < BETA2M_LOW
        b_mid = (beta2m >= BETA2M_LOW) & (beta2m < BETA2M_HIGH)
        b_high = beta2m >= BETA2M_HIGH
        a_normal = albumin >= ALBUMIN_LOW
        a_low = albumin < ALBUMIN_LOW
    could_1 = (b_unknown | b_low) & (a_unknown | a_normal)
    could_2 = b_unknown | b_mid | (b_low & (a_unknown | a_low))
    could_3 = b_unknown | b_high
    return could_1, could_2, could_3


def ldh_status(ldh: np.ndarray, uln: np.ndarray) -> Status:
    """(could be high, could be normal) for LDH against the upper limit of normal.

    LDH is high when ``ldh > uln`` and normal when ``ldh <= uln``; unknown when either is NaN.
    """
    unknown = np.isnan(ldh) | np.isnan(uln)
    with np.errstate(invalid="ignore"):
        high = ldh > uln
    return unknown | high, unknown | ~high


class _StagingBase(ColumnDeriver):
    """Reads β2M and albumin, and LDH and cytogenetics where the subclass needs them."""

    _string_inputs = True

    def _numbers(self, frame: pd.DataFrame, names: dict[ColumnRef, str], *params: str):
        owner = type(self).__name__
        return [numeric_column(frame, names[getattr(self, p)], owner) for p in params]

    def _cyto(self, frame: pd.DataFrame, names: dict[ColumnRef, str], param: str) -> Status:
        return cyto_status(frame, names[getattr(self, param)], type(self).__name__)


class ISS(_StagingBase):
    """International Staging System (Greipp 2005), computed from β2M and albumin.

    ISS I: β2M < 3.5 mg/L **and** albumin ≥ 35 g/L. ISS III: β2M ≥ 5.5 mg/L. ISS II: otherwise.
    The derived column ``iss_computed`` holds 1.0, 2.0, 3.0, or NaN when the stage cannot be
    determined from the available values (β2M missing; or β2M < 3.5 with albumin missing).
    ISS III needs only β2M, and ISS II with β2M in [3.5, 5.5) needs no albumin.

    Parameters
    ----------
    beta2m_col : str or int, default='beta2m_mg_L'
        Serum β2-microglobulin in mg/L (column name, or position for arrays).
    albumin_col : str or int, default='albumin_g_L'
        Serum albumin in g/L (not g/dL).
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
    RISS : revised ISS, adds LDH and high-risk cytogenetics.
    R2ISS : second revision, a points score.

    References
    ----------
    .. [1] Greipp PR et al. International staging system for multiple myeloma.
       J Clin Oncol 2005;23(15):3412-3420.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import ISS
    >>> X = pd.DataFrame({"beta2m_mg_L": [2.0, 4.0, 6.0, 2.0],
    ...                   "albumin_g_L": [40.0, None, None, None]})
    >>> ISS().fit_transform(X)["iss_computed"].tolist()
    [1.0, 2.0, 3.0, nan]
    """

    _column_params = ("beta2m_col", "albumin_col")
    _string_inputs = False

    def __init__(
        self,
        beta2m_col: ColumnRef = "beta2m_mg_L",
        albumin_col: ColumnRef = "albumin_g_L",
        *,
        keep_input: bool = True,
    ) -> None:
        self.beta2m_col = beta2m_col
        self.albumin_col = albumin_col
        self.keep_input = keep_input

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        return {"iss_computed": self._input_refs()}

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        beta2m, albumin = self._numbers(frame, names, "beta2m_col", "albumin_col")
        return {"iss_computed": resolve_unique(iss_possible(beta2m, albumin), [1.0, 2.0, 3.0])}


class RISS(_StagingBase):
    """Revised ISS (Palumbo 2015): ISS, LDH and high-risk cytogenetics.

    R-ISS I: ISS I **and** no high-risk CA **and** normal LDH. R-ISS III: ISS III **and**
    (high-risk CA **or** high LDH). R-ISS II: otherwise. High-risk CA is del(17p) and/or
    t(4;14) and/or t(14;16) detected; "no high-risk CA" needs all three ``'not_detected'``.
    LDH is high when ``ldh > uln`` (so LDH equal to the ULN is normal).

    The derived column ``riss`` holds 1.0, 2.0, 3.0, or NaN when the stage cannot be determined:
    a stage is reported when every way of filling in the missing or not-evaluable inputs gives
    the same stage. E.g. ISS III with del(17p) detected is R-ISS III even if LDH is missing,
    and ISS II is R-ISS II whatever the cytogenetics and LDH.

    Parameters
    ----------
    beta2m_col : str or int, default='beta2m_mg_L'
        Serum β2-microglobulin in mg/L.
    albumin_col : str or int, default='albumin_g_L'
        Serum albumin in g/L.
    ldh_col : str or int, default='ldh_U_L'
        Serum LDH in U/L.
    ldh_uln_col : str or int, default='ldh_uln_U_L'
        The laboratory's upper limit of normal for LDH, in U/L.
    del17p_col, t_4_14_col, t_14_16_col : str or int, default='del17p', 't_4_14', 't_14_16'
        Cytogenetic results: ``'detected'``, ``'not_detected'``, ``'not_tested'``,
        ``'failed'`` or missing.
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
    ISS, R2ISS

    References
    ----------
    .. [1] Palumbo A et al. Revised International Staging System for multiple myeloma.
       J Clin Oncol 2015;33(26):2863-2869.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import RISS
    >>> X = pd.DataFrame({"beta2m_mg_L": [6.0], "albumin_g_L": [30.0], "ldh_U_L": [None],
    ...                   "ldh_uln_U_L": [250.0], "del17p": ["detected"],
    ...                   "t_4_14": ["not_tested"], "t_14_16": [None]})
    >>> RISS().fit_transform(X)["riss"].tolist()
    [3.0]
    """

    _column_params = (
        "beta2m_col",
        "albumin_col",
        "ldh_col",
        "ldh_uln_col",
        "del17p_col",
        "t_4_14_col",
        "t_14_16_col",
    )

    def __init__(
        self,
        beta2m_col: ColumnRef = "beta2m_mg_L",
        albumin_col: ColumnRef = "albumin_g_L",
        ldh_col: ColumnRef = "ldh_U_L",
        ldh_uln_col: ColumnRef = "ldh_uln_U_L",
        del17p_col: ColumnRef = "del17p",
        t_4_14_col: ColumnRef = "t_4_14",
        t_14_16_col: ColumnRef = "t_14_16",
        *,
        keep_input: bool = True,
    ) -> None:
        self.beta2m_col = beta2m_col
        self.albumin_col = albumin_col
        self.ldh_col = ldh_col
        self.ldh_uln_col = ldh_uln_col
        self.del17p_col = del17p_col
        self.t_4_14_col = t_4_14_col
        self.t_14_16_col = t_14_16_col
        self.keep_input = keep_input

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        return {"riss": self._input_refs()}

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        beta2m, albumin, ldh, uln = self._numbers(
            frame, names, "beta2m_col", "albumin_col", "ldh_col", "ldh_uln_col"
        )
        iss1, iss2, iss3 = iss_possible(beta2m, albumin)
        hr_yes, hr_no = any_of([self._cyto(frame, names, p) for p in self._column_params[4:]])
        ldh_high, ldh_normal = ldh_status(ldh, uln)
        risky = hr_yes | ldh_high  # could have high-risk CA or high LDH
        safe = hr_no & ldh_normal  # could have neither
        could_1 = iss1 & safe
        could_3 = iss3 & risky
        could_2 = iss2 | (iss1 & risky) | (iss3 & safe)
        return {"riss": resolve_unique([could_1, could_2, could_3], [1.0, 2.0, 3.0])}


def r2iss_group(score: np.ndarray) -> np.ndarray:
    """Map R2-ISS scores to groups: I = 0, II = 0.5-1, III = 1.5-2.5, IV = 3-5.

    Parameters
    ----------
    score : numpy.ndarray
        R2-ISS total points (multiples of 0.5); NaN allowed.

    Returns
    -------
    numpy.ndarray
        Group 1.0-4.0, NaN where ``score`` is NaN.
    """
    score = np.asarray(score, dtype="float64")
    group = np.select([score < 0.25, score < 1.25, score < 2.75], [1.0, 2.0, 3.0], 4.0)
    return np.where(np.isnan(score), np.nan, group)


class R2ISS(_StagingBase):
    """Second revision of the ISS (D'Agostino 2022): points score and risk group.

    Points: ISS II 1, ISS III 1.5, del(17p) 1, high LDH (``ldh > uln``) 1, t(4;14) 1, 1q+
    (gain or amplification of 1q) 0.5. Groups: I = 0, II = 0.5-1, III = 1.5-2.5, IV = 3-5.
    Two columns are derived: ``r2iss_score`` and ``r2iss_group`` (1.0-4.0).

    ``r2iss_score`` is NaN when any component is unknown (a missing lab, or a cytogenetic result
    that is ``'not_tested'``, ``'failed'`` or missing). ``r2iss_group`` is then, with
    ``resolve_partial=True`` (the default), still reported when every way of filling in the
    unknown components gives the same group -- e.g. ISS III + del(17p) + high LDH is 3.5 points,
    group IV whatever t(4;14) and 1q show -- and NaN otherwise. With ``resolve_partial=False``
    the group is NaN whenever the score is (complete cases only, as in the derivation cohort).
    1q+ is known to be absent only when both gain(1q) and amp(1q) are ``'not_detected'``.

    Parameters
    ----------
    beta2m_col : str or int, default='beta2m_mg_L'
        Serum β2-microglobulin in mg/L.
    albumin_col : str or int, default='albumin_g_L'
        Serum albumin in g/L.
    ldh_col : str or int, default='ldh_U_L'
        Serum LDH in U/L.
    ldh_uln_col : str or int, default='ldh_uln_U_L'
        The laboratory's upper limit of normal for LDH, in U/L.
    del17p_col, t_4_14_col, gain1q_col, amp1q_col : str or int, \
default='del17p', 't_4_14', 'gain1q', 'amp1q'
        Cytogenetic results: ``'detected'``, ``'not_detected'``, ``'not_tested'``,
        ``'failed'`` or missing.
    resolve_partial : bool, default=True
        Report the group when the unknown components cannot change it.
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
    ISS, RISS

    References
    ----------
    .. [1] D'Agostino M et al. Second Revision of the International Staging System (R2-ISS) for
       overall survival in multiple myeloma. J Clin Oncol 2022;40(29):3406-3418.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import R2ISS
    >>> X = pd.DataFrame({"beta2m_mg_L": [6.0], "albumin_g_L": [30.0], "ldh_U_L": [400.0],
    ...                   "ldh_uln_U_L": [250.0], "del17p": ["detected"],
    ...                   "t_4_14": ["not_tested"], "gain1q": [None], "amp1q": [None]})
    >>> R2ISS(keep_input=False).fit_transform(X)
       r2iss_score  r2iss_group
    0          NaN          4.0
    """

    _column_params = (
        "beta2m_col",
        "albumin_col",
        "ldh_col",
        "ldh_uln_col",
        "del17p_col",
        "t_4_14_col",
        "gain1q_col",
        "amp1q_col",
    )

    def __init__(
        self,
        beta2m_col: ColumnRef = "beta2m_mg_L",
        albumin_col: ColumnRef = "albumin_g_L",
        ldh_col: ColumnRef = "ldh_U_L",
        ldh_uln_col: ColumnRef = "ldh_uln_U_L",
        del17p_col: ColumnRef = "del17p",
        t_4_14_col: ColumnRef = "t_4_14",
        gain1q_col: ColumnRef = "gain1q",
        amp1q_col: ColumnRef = "amp1q",
        *,
        resolve_partial: bool = True,
        keep_input: bool = True,
    ) -> None:
        self.beta2m_col = beta2m_col
        self.albumin_col = albumin_col
        self.ldh_col = ldh_col
        self.ldh_uln_col = ldh_uln_col
        self.del17p_col = del17p_col
        self.t_4_14_col = t_4_14_col
        self.gain1q_col = gain1q_col
        self.amp1q_col = amp1q_col
        self.resolve_partial = resolve_partial
        self.keep_input = keep_input

    def _check_extra_params(self) -> None:
        if not isinstance(self.resolve_partial, bool | np.bool_):
            raise ValueError(
                f"R2ISS: resolve_partial must be True or False; got {self.resolve_partial!r}."
            )

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        refs = self._input_refs()
        return {"r2iss_score": refs, "r2iss_group": refs}

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        beta2m, albumin, ldh, uln = self._numbers(
            frame, names, "beta2m_col", "albumin_col", "ldh_col", "ldh_uln_col"
        )
        iss1, iss2, iss3 = iss_possible(beta2m, albumin)
        pts = R2ISS_POINTS
        low = np.select([iss1, iss2, iss3], [0.0, pts["iss_2"], pts["iss_3"]], np.nan)
        high = np.select([iss3, iss2, iss1], [pts["iss_3"], pts["iss_2"], 0.0], np.nan)
        components: list[tuple[Status, float]] = [
            (self._cyto(frame, names, "del17p_col"), pts["del17p"]),
            (ldh_status(ldh, uln), pts["ldh_high"]),
            (self._cyto(frame, names, "t_4_14_col"), pts["t_4_14"]),
            (
                any_of([self._cyto(frame, names, p) for p in ("gain1q_col", "amp1q_col")]),
                pts["1q"],
            ),
        ]
        for status, points in components:
            low = low + points * known_present(status)
            high = high + points * status[0]
        score = np.where(low == high, low, np.nan)
        group_low, group_high = r2iss_group(low), r2iss_group(high)
        if self.resolve_partial:
            group = np.where(group_low == group_high, group_low, np.nan)
        else:
            group = r2iss_group(score)
        return {"r2iss_score": score, "r2iss_group": group}
