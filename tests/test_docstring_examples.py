"""The examples in the library's docstrings run and print what they show (doctest), module by
module: an example that drifts from the code fails here, not in a reader's session."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

LAYERS = ("stelib.core", "stelib.analyses", "stelib.tooling")
MODULES = sorted(m.name for layer in LAYERS
                 for m in pkgutil.walk_packages(importlib.import_module(layer).__path__, layer + "."))


def test_the_examples_are_found():
    with_examples = [name for name in MODULES
                     if any(t.examples for t in doctest.DocTestFinder().find(importlib.import_module(name)))]
    assert len(MODULES) > 60 and len(with_examples) > 30, (len(MODULES), len(with_examples))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, verbose=False, report=False,
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (run "\
        f"python -m doctest -v on it)"
