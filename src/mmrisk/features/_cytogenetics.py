"""High-risk cytogenetic abnormalities: status of each, and a count.

A cytogenetic column holds ``'detected'``, ``'not_detected'``, ``'not_tested'``, ``'failed'`` or
missing. Only ``'detected'`` and ``'not_detected'`` are results; the other three mean *unknown*.
An unknown abnormality is never counted as absent.

Status of an abnormality is kept as two boolean masks, "could be present" and "could be absent";
exactly one is True when the result is known, both when it is not. A combination ("any of") of
abnormalities could be present when any part could be, and could be absent only when every part
could be. That is how 1q+ (gain **or** amplification of 1q) and the R-ISS high-risk group
(del(17p) **or** t(4;14) **or** t(14;16)) are formed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmrisk.features._base import CYTO_RESULTS, ColumnDeriver, ColumnRef, category_codes

__all__ = ["HighRiskCACount"]

Status = tuple[np.ndarray, np.ndarray]


def cyto_status(frame: pd.DataFrame, name: str, owner: str) -> Status:
    """Return (could_be_present, could_be_absent) for one cytogenetic column."""
    codes = category_codes(frame, name, CYTO_RESULTS, owner)
    detected = codes == CYTO_RESULTS.index("detected")
    not_detected = codes == CYTO_RESULTS.index("not_detected")
    return ~not_detected, ~detected


def any_of(statuses: Sequence[Status]) -> Status:
    """Status of "at least one of these abnormalities is present"."""
    could_be_present = np.logical_or.reduce([s[0] for s in statuses])
    could_be_absent = np.logical_and.reduce([s[1] for s in statuses])
    return could_be_present, could_be_absent


def known_present(status: Status) -> np.ndarray:
    """Rows where the abnormality is certainly present."""
    return status[0] & ~status[1]


def known_absent(status: Status) -> np.ndarray:
    """Rows where the abnormality is certainly absent."""
    return ~status[0] & status[1]


class HighRiskCACount(ColumnDeriver):
    """Count of high-risk cytogenetic abnormalities, keeping "not tested" apart from "absent".

    The four abnormalities are del(17p), t(4;14), t(14;16) and 1q+ (gain or amplification of
    1q, counted once). Two columns are derived:

    - ``hrca_count``: how many of the four are detected. It is a count over the *evaluable*
      abnormalities (those with a ``'detected'`` or ``'not_detected'`` result), so it is a lower
      bound when some were not evaluable; it is NaN when fewer than ``min_evaluable`` of the four
      are evaluable (by default: when none is).
    - ``hrca_n_evaluable``: how many of the four are evaluable (0 to 4). A model can tell
      "0 of 4 tested" from "0 detected of 4 tested" with it.

    1q+ is evaluable when gain(1q) or amp(1q) is detected, or when both are ``'not_detected'``;
    "gain not detected" alone does not rule out an amplification.

    Parameters
    ----------
    del17p_col, t_4_14_col, t_14_16_col, gain1q_col, amp1q_col : str or int, \
default='del17p', 't_4_14', 't_14_16', 'gain1q', 'amp1q'
        Input columns (names, or positions for arrays). Each holds ``'detected'``,
        ``'not_detected'``, ``'not_tested'``, ``'failed'`` or missing.
    min_evaluable : int, default=1
        ``hrca_count`` is NaN when fewer of the four abnormalities are evaluable. ``4`` gives
        complete-case counts. Must be between 1 and 4.
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
    RISS : uses del(17p), t(4;14) and t(14;16).
    R2ISS : uses del(17p), t(4;14) and 1q+.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import HighRiskCACount
    >>> X = pd.DataFrame({"del17p": ["detected", "not_tested"],
    ...                   "t_4_14": ["not_detected", "not_tested"],
    ...                   "t_14_16": ["not_detected", "failed"],
    ...                   "gain1q": ["detected", None], "amp1q": ["not_detected", None]})
    >>> HighRiskCACount(keep_input=False).fit_transform(X)
       hrca_count  hrca_n_evaluable
    0         2.0               4.0
    1         NaN               0.0
    """

    _column_params = ("del17p_col", "t_4_14_col", "t_14_16_col", "gain1q_col", "amp1q_col")

    def __init__(
        self,
        del17p_col: ColumnRef = "del17p",
        t_4_14_col: ColumnRef = "t_4_14",
        t_14_16_col: ColumnRef = "t_14_16",
        gain1q_col: ColumnRef = "gain1q",
        amp1q_col: ColumnRef = "amp1q",
        *,
        min_evaluable: int = 1,
        keep_input: bool = True,
    ) -> None:
        self.del17p_col = del17p_col
        self.t_4_14_col = t_4_14_col
        self.t_14_16_col = t_14_16_col
        self.gain1q_col = gain1q_col
        self.amp1q_col = amp1q_col
        self.min_evaluable = min_evaluable
        self.keep_input = keep_input

    def _check_extra_params(self) -> None:
        value = self.min_evaluable
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or not (1 <= value <= 4)
        ):
            raise ValueError(
                f"HighRiskCACount: min_evaluable must be an integer from 1 to 4; got {value!r}."
            )

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        refs = self._input_refs()
        return {"hrca_count": refs, "hrca_n_evaluable": refs}

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        owner = type(self).__name__
        status = {
            p: cyto_status(frame, names[getattr(self, p)], owner) for p in self._column_params
        }
        abnormalities = [
            status["del17p_col"],
            status["t_4_14_col"],
            status["t_14_16_col"],
            any_of([status["gain1q_col"], status["amp1q_col"]]),
        ]
        present = np.sum([known_present(s) for s in abnormalities], axis=0).astype("float64")
        evaluable = np.sum(
            [known_present(s) | known_absent(s) for s in abnormalities], axis=0
        ).astype("float64")
        count = np.where(evaluable >= self.min_evaluable, present, np.nan)
        return {"hrca_count": count, "hrca_n_evaluable": evaluable}
