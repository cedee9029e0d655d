"""Results are values: every dataclass of the core and analyses layers is frozen, so a result
printed in a chapter cannot be changed afterwards by a later cell (or a reader's experiment)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

from stelib import LAYERS

MODULES = [*LAYERS["core"], *LAYERS["analyses"]]


def dataclasses_of(name: str) -> list[type]:
    module = importlib.import_module(f"stelib.{name}")
    return [c for c in vars(module).values() if inspect.isclass(c) and dataclasses.is_dataclass(c)
            and c.__module__ == module.__name__]


def test_the_layers_define_result_classes():
    assert sum(len(dataclasses_of(m)) for m in MODULES) > 40


@pytest.mark.parametrize("name", MODULES)
def test_every_result_class_is_frozen(name):
    thawed = [c.__name__ for c in dataclasses_of(name) if not c.__dataclass_params__.frozen]
    assert not thawed, f"stelib.{name}: dataclasses that are not frozen: {thawed}"
