"""Spark tests need Java 17+ and pyspark: skipped where they are missing, a failure on CI."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def spark_missing() -> str | None:
    """Why Spark cannot start here, or None."""
    if shutil.which("java") is None:
        return "java is not on PATH"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'mmrisk[spark]')"
    return None


def require_spark() -> None:
    """Skip the test when Spark cannot start (fail instead when the CI variable is set)."""
    missing = spark_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"Spark tests cannot run on CI: {missing}")
        pytest.skip(f"Spark tests need Java 17+ and pyspark: {missing}")
