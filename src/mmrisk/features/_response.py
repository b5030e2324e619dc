"""Depth of response (IMWG categories) as an ordinal number."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmrisk.features._base import ColumnDeriver, ColumnRef, _is_column_ref, category_codes

__all__ = ["ResponseDepth", "IMWG_RESPONSE_ORDER"]

#: IMWG response categories from worst to best; the ordinal value is the position.
IMWG_RESPONSE_ORDER: tuple[str, ...] = ("PD", "SD", "MR", "PR", "VGPR", "CR", "sCR")

#: Categories that are allowed but carry no depth ("not evaluable").
_NOT_EVALUABLE = ("NE",)


class ResponseDepth(ColumnDeriver):
    """IMWG response category as an ordinal number, from PD (0) to sCR (6).

    The order is PD 0 < SD 1 < MR 2 < PR 3 < VGPR 4 < CR 5 < sCR 6.
    For each input column ``c`` a column ``f"{c}_depth"`` is derived (float). ``'NE'`` (not
    evaluable) and missing values give NaN. Any other value is an error, so a misspelt category
    is never silently lost.

    Parameters
    ----------
    columns : list of str or int
        The response columns (names, or positions for arrays), e.g.
        ``["response_pre_asct", "response_day100"]``. Required; ``None`` fails in :meth:`fit`.
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

    Examples
    --------
    >>> import pandas as pd
    >>> from mmrisk.features import ResponseDepth
    >>> X = pd.DataFrame({"response_day100": ["VGPR", "NE", None, "sCR"]})
    >>> out = ResponseDepth(columns=["response_day100"]).fit_transform(X)
    >>> out["response_day100_depth"].tolist()
    [4.0, nan, nan, 6.0]
    """

    def __init__(
        self, columns: Sequence[ColumnRef] | None = None, *, keep_input: bool = True
    ) -> None:
        self.columns = columns
        self.keep_input = keep_input

    def _check_extra_params(self) -> None:
        cols = self.columns
        if (
            cols is None
            or isinstance(cols, str)
            or not isinstance(cols, Sequence)
            or len(cols) == 0
            or not all(_is_column_ref(c) for c in cols)
        ):
            raise ValueError(
                "ResponseDepth: columns must be a non-empty list of column names or positions, "
                f"e.g. ['response_pre_asct']; got {cols!r}."
            )
        if len(set(cols)) != len(cols):
            raise ValueError(f"ResponseDepth: columns has duplicates: {list(cols)!r}.")

    def _input_refs(self) -> list[ColumnRef]:
        return list(self.columns or [])

    def _outputs(self, names: dict[ColumnRef, str]) -> dict[str, list[ColumnRef]]:
        return {f"{names[ref]}_depth": [ref] for ref in self._input_refs()}

    def _derive(self, frame: pd.DataFrame, names: dict[ColumnRef, str]) -> dict[str, np.ndarray]:
        owner = type(self).__name__
        allowed = IMWG_RESPONSE_ORDER + _NOT_EVALUABLE
        # depth of each allowed category (NaN for NE), then NaN for missing (code -1)
        depth = np.array(
            [float(i) for i in range(len(IMWG_RESPONSE_ORDER))]
            + [np.nan] * len(_NOT_EVALUABLE)
            + [np.nan],
            dtype="float64",
        )
        out = {}
        for ref in self._input_refs():
            codes = category_codes(frame, names[ref], allowed, owner)
            out[f"{names[ref]}_depth"] = depth[codes]
        return out
