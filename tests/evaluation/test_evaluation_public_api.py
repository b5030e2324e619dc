"""The public surface: every name in __all__ imports and is documented."""

from __future__ import annotations

import inspect

import mmrisk.evaluation as evaluation


def test_all_names_import_and_have_docstrings():
    assert sorted(evaluation.__all__) == sorted(set(evaluation.__all__))
    for name in evaluation.__all__:
        obj = getattr(evaluation, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
            assert obj.__module__.startswith("mmrisk.evaluation._"), name


def test_functions_document_their_parameters():
    for name in evaluation.__all__:
        obj = getattr(evaluation, name)
        if inspect.isfunction(obj):
            doc = obj.__doc__
            for param in inspect.signature(obj).parameters:
                assert param in doc, f"{name}: parameter {param!r} not documented"
