"""Category counts of the drift report: once per distinct value, equal to ``str`` per cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmrisk.predict._drift import _label_counts


@pytest.mark.parametrize("values", [
    pd.Series(["M", "F", "F", "X", "M", "F"], dtype=object),
    pd.Series(np.array(["a", "b", "a"], dtype=object)),
    pd.Series([1, True, "1", 1.0, "True"], dtype=object),  # mixed: str per cell
    pd.Series([2.0, 1.0, 2.0]),
    pd.Series([], dtype=object),
])
def test_label_counts_equal_str_of_every_cell(values):
    assert _label_counts(values) == values.astype(str).value_counts().to_dict()
