"""Fixtures of the model-catalogue tests (data builders live in ``models_testdata``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_testdata import registry_frame
from sksurv.datasets import load_whas500


@pytest.fixture(scope="session")
def registry_data() -> tuple[pd.DataFrame, np.ndarray]:
    """300 registry-shaped patients (features + outcome)."""
    X, y, _ = registry_frame(300, seed=11)
    return X, y


@pytest.fixture(scope="session")
def whas500() -> tuple[pd.DataFrame, np.ndarray]:
    """Six numeric columns of scikit-survival's bundled WHAS500 data (tied follow-up days)."""
    X, y = load_whas500()
    cols = ["age", "bmi", "hr", "diasbp", "gender", "chf"]
    return X[cols].astype(float), y
