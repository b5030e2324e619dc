"""The public surface of mmrisk.features: every ``__all__`` name imports; docstring examples run."""

from __future__ import annotations

import doctest
import importlib

import pytest

import mmrisk.features as features

#: Modules with docstring examples (``_base`` has none).
EXAMPLE_MODULES = [
    "mmrisk.features._builder",
    "mmrisk.features._cytogenetics",
    "mmrisk.features._encoding",
    "mmrisk.features._lineage",
    "mmrisk.features._renal",
    "mmrisk.features._response",
    "mmrisk.features._staging",
]


@pytest.mark.parametrize("name", features.__all__)
def test_every_public_name_imports(name):
    namespace: dict = {}
    exec(f"from mmrisk.features import {name}", namespace)  # the import is the test
    assert namespace[name] is getattr(features, name)


def test_all_is_unique_and_lists_every_public_name():
    assert len(set(features.__all__)) == len(features.__all__)
    assert {n for n in vars(features) if not n.startswith("_")} == set(features.__all__)


@pytest.mark.parametrize("module", EXAMPLE_MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
