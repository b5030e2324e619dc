"""Fixtures shared by the workflow tests."""

from __future__ import annotations

import pytest
from spark_env import require_spark


@pytest.fixture(scope="module")
def spark():
    """A ``local[2]`` Spark session for one test module (skipped without Java and pyspark)."""
    require_spark()
    from mmrisk.workflows._spark import get_spark

    session = get_spark("local[2]")
    yield session
    session.stop()
