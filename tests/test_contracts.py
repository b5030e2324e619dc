"""Contracts that keep the architecture (docs/architecture.md): layers and documented surfaces.

- import-linter: the layers of ``pyproject.toml`` (``[tool.importlinter]``) point one way, the
  prediction core imports no MLflow/matplotlib/registry/cohort/evaluation, no import cycles.
- numpydoc's own validator on every public name (each package's and module's ``__all__``):
  a docstring, every parameter documented (and no unknown one), a Returns section when the
  function returns something.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from numpydoc.validate import validate

import mmrisk

ROOT = Path(__file__).resolve().parents[1]
#: numpydoc checks enforced: no docstring, summary, undocumented / unknown parameters, Returns.
CHECKS = {"GL08", "SS01", "PR01", "PR02", "RT01"}


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def _public_names():
    seen = set()
    for info in pkgutil.walk_packages(mmrisk.__path__, "mmrisk."):
        if info.name.startswith("mmrisk.cli"):
            continue  # Typer commands: their docstrings are the --help text
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            qual = f"{obj.__module__}.{obj.__qualname__}"
            if qual.startswith("mmrisk.") and qual not in seen:
                seen.add(qual)
                yield qual


PUBLIC = sorted(_public_names())


def test_there_is_a_public_surface_to_check():
    assert len(PUBLIC) > 100


@pytest.mark.parametrize("qualname", PUBLIC)
def test_public_docstring_is_numpydoc_complete(qualname):
    errors = [f"{code}: {msg}" for code, msg in validate(qualname)["errors"] if code in CHECKS]
    assert not errors, f"{qualname}: " + "; ".join(errors)
