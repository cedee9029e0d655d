"""The package's folders are its layers (stelib/core, stelib/analyses, stelib/tooling): every
module is in exactly one, imports only from its own layer or the ones below it, and keeps its
short public name (``stelib.ste`` is ``stelib.core.ste``)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import stelib

PKG = Path(stelib.__file__).resolve().parent
ORDER = ["core", "analyses", "tooling"]  # a layer may import from itself and the ones before it
SHORT = {name: layer for layer, names in stelib.LAYERS.items() for name in names}


def _on_disk() -> dict[str, tuple[str, ...]]:
    out = {}
    for layer in ORDER:
        d = PKG / layer
        names = [p.stem for p in d.glob("*.py") if p.stem != "__init__"]
        names += [p.name for p in d.iterdir() if (p / "__init__.py").is_file()]
        out[layer] = tuple(sorted(names))
    return out


def _imported_layers(path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, its layer) for every import of a stelib module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "stelib":
                continue
            if len(parts) == 1:  # from stelib import x, y
                for a in node.names:
                    if a.name in SHORT:
                        found.append((node.lineno, a.name, SHORT[a.name]))
            elif parts[1] in ORDER:
                found.append((node.lineno, node.module, parts[1]))
            elif parts[1] in SHORT:
                found.append((node.lineno, node.module, SHORT[parts[1]]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "stelib" and len(parts) > 1:
                    layer = parts[1] if parts[1] in ORDER else SHORT.get(parts[1])
                    if layer:
                        found.append((node.lineno, a.name, layer))
    return found


def layer_violations(root: Path) -> list[str]:
    bad = []
    for layer in ORDER:
        for path in sorted((root / layer).rglob("*.py")):
            for line, mod, used in _imported_layers(path):
                if ORDER.index(used) > ORDER.index(layer):
                    bad.append(f"{path.relative_to(root)}:{line} ({layer}) imports {mod} ({used})")
    return bad


def test_the_layers_table_lists_every_module_on_disk():
    assert {k: tuple(sorted(v)) for k, v in stelib.LAYERS.items()} == _on_disk()
    assert not [p.name for p in PKG.glob("*.py") if p.stem not in ("__init__", "__main__", "_version")]


def test_no_module_imports_from_a_layer_above_its_own():
    assert layer_violations(PKG) == []


def test_the_layer_check_notices_an_upward_import(tmp_path):
    for layer in ORDER:
        (tmp_path / layer).mkdir()
    (tmp_path / "core" / "a.py").write_text("from stelib.analyses.symmetry import x\n")
    (tmp_path / "core" / "b.py").write_text("def f():\n    from stelib import cli\n")
    (tmp_path / "analyses" / "c.py").write_text("import stelib.book\nfrom stelib.core.ste import y\n")
    (tmp_path / "tooling" / "d.py").write_text("from stelib.practice import z\n")
    assert layer_violations(tmp_path) == [
        "core/a.py:1 (core) imports stelib.analyses.symmetry (analyses)",
        "core/b.py:2 (core) imports cli (tooling)",
        "analyses/c.py:1 (analyses) imports stelib.book (tooling)",
    ]


@pytest.mark.parametrize("name", sorted(SHORT))
def test_short_and_long_names_are_one_module(name):
    short = importlib.import_module(f"stelib.{name}")
    long = importlib.import_module(f"stelib.{SHORT[name]}.{name}")
    assert short is long
    assert getattr(stelib, name) is long  # the attribute the import system sets


def test_a_registry_is_shared_between_the_two_names():
    from stelib.core import ste as long
    from stelib.ste import STES

    assert STES is long.STES


def test_a_module_inside_a_moved_package_keeps_its_short_name():
    short = importlib.import_module("stelib.specs.primer")
    assert short is importlib.import_module("stelib.tooling.specs.primer")


def test_unknown_short_name_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("stelib.no_such_module")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("stelib.specs.no_such_chapter")


def test_python_dash_m_runs_a_module_by_its_short_name():
    r = subprocess.run([sys.executable, "-m", "stelib.book", "--version"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"stelib {stelib.__version__}"
