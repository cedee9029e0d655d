"""The package's folders are its layers (stelib/core, stelib/analyses, stelib/tooling): every
module is in exactly one, imports only from its own layer or the ones below it, and keeps its
short public name (``stelib.ste`` is ``stelib.core.ste``) through an ordinary module file,
``stelib/ste.py`` (tools/short_names.py), that editors resolve. The command line's modules
(stelib/tooling) import one another without a circle, and ``import stelib`` is light."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stelib

PKG = Path(stelib.__file__).resolve().parent
ORDER = ["core", "analyses", "tooling"]  # a layer may import from itself and the ones before it
SHORT = {name: layer for layer, names in stelib.LAYERS.items() for name in names}
_tool = importlib.util.spec_from_file_location("short_names", PKG.parent / "tools" / "short_names.py")
short_names = importlib.util.module_from_spec(_tool)
_tool.loader.exec_module(short_names)


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
    top = sorted(p.stem for p in PKG.glob("*.py") if p.stem not in short_names.KEEP)
    assert top == sorted(SHORT)  # stelib/NAME.py: the short names, nothing else


def test_every_module_has_its_short_name_file():
    """``stelib/NAME.py`` as tools/short_names.py writes it, for every module of LAYERS (after
    adding one, run ``python tools/short_names.py``)."""
    assert short_names.differences(PKG) == []
    assert short_names.layers(PKG / "__init__.py") == stelib.LAYERS


def test_the_short_name_check_notices_a_missing_or_edited_file(tmp_path):
    pkg = tmp_path / "stelib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('LAYERS = {"core": ("ste", "train"), "tooling": ("book",)}\n')
    assert short_names.write(pkg) == ["stelib/ste.py: missing", "stelib/train.py: missing",
                                      "stelib/book.py: missing"]
    assert short_names.differences(pkg) == []
    assert "from stelib.tooling.cli import main" in (pkg / "book.py").read_text()
    (pkg / "ste.py").write_text((pkg / "ste.py").read_text() + "x = 1\n")
    (pkg / "__init__.py").write_text('LAYERS = {"core": ("ste",), "tooling": ("book",)}\n')
    assert short_names.differences(pkg) == ["stelib/ste.py: outdated", "stelib/train.py: not in LAYERS"]


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
    assert sys.modules[f"stelib.{name}"] is long
    assert getattr(stelib, name) is long  # the attribute the import system sets


def test_each_short_name_works_as_its_first_use():
    """In a fresh process, for every module: ``stelib.NAME`` (PEP 562) or ``import stelib.NAME``
    (the file) as the first use of the short name gives the module under its long name."""
    code = ("import importlib, sys, stelib\n"
            "for i, (name, layer) in enumerate(sorted(stelib._LAYER_OF.items())):\n"
            "    long = f'stelib.{layer}.{name}'\n"
            "    first = getattr(stelib, name) if i % 2 else importlib.import_module(f'stelib.{name}')\n"
            "    again = importlib.import_module(f'stelib.{name}') if i % 2 else getattr(stelib, name)\n"
            "    assert first is again is sys.modules[long] and first.__name__ == long, name\n"
            "    exec(f'from stelib import {name} as m', g := {})\n"
            "    assert g['m'] is first, name\n"
            "print(len(stelib._LAYER_OF))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(len(SHORT))


def test_the_names_of_the_package_are_the_modules_own():
    """``from stelib import YinModel``: each name of ``_EXPORTS`` is its module's, and the block
    editors read (``if TYPE_CHECKING:``) imports exactly those names and modules."""
    tree = ast.parse((PKG / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    static = {}
    for node in block.body:
        for a in node.names:
            static[a.asname or a.name] = node.module
    modules = {k for k, v in static.items() if v == "stelib.core"}
    assert {k: v for k, v in static.items() if k not in modules} == {
        k: f"stelib.core.{m}" for k, m in stelib._EXPORTS.items()}
    assert sorted(stelib.__all__) == sorted([*stelib._EXPORTS, *modules])
    for name, module in stelib._EXPORTS.items():
        assert getattr(stelib, name) is getattr(importlib.import_module(f"stelib.core.{module}"), name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        stelib.no_such_name  # noqa: B018


def test_import_stelib_and_the_quick_commands_do_not_import_torch(tmp_path):
    """``import stelib``, ``stelib --version`` and ``stelib list`` (console script and
    ``python -m stelib``) import neither PyTorch nor NumPy (-X importtime lists every import)."""
    script = "import sys; from stelib.cli import main; sys.argv[0] = 'stelib'; sys.exit(main())"
    runs = {"import stelib": [sys.executable, "-X", "importtime", "-c", "import stelib"]}
    for args in (["--version"], ["list"]):
        runs[f"stelib {args[0]}"] = [sys.executable, "-X", "importtime", "-c", script, *args]
        runs[f"python -m stelib {args[0]}"] = [sys.executable, "-X", "importtime", "-m", "stelib", *args]
    env = dict(os.environ, PYTHONPATH=str(PKG.parent))  # this checkout, from a folder outside it
    for what, cmd in runs.items():
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
        assert r.returncode == 0, (what, r.stderr[-2000:])
        imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in r.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "stelib" in imported or what == "import stelib"
        assert not imported & {"torch", "numpy"}, what
    assert r.stdout.split() == sorted(r.stdout.split()) or "primer" in r.stdout  # it did list


def test_editors_complete_the_short_names():
    """jedi (IPython's completer) resolves the short names statically, without the import system."""
    jedi = pytest.importorskip("jedi")
    project = jedi.Project(str(PKG.parent), added_sys_path=[str(PKG.parent)])
    attrs = {c.name for c in jedi.Script("import stelib.ste\nstelib.ste.", project=project).complete()}
    assert {"surrogate_derivative", "register"} <= attrs
    names = {c.name for c in jedi.Script("from stelib.practice_report import ", project=project).complete()}
    assert "judge" in names
    top = {c.name for c in jedi.Script("from stelib import ", project=project).complete()}
    assert {"YinModel", "ste", "symmetry"} <= top


def test_a_registry_is_shared_between_the_two_names():
    from stelib.core import ste as long
    from stelib.ste import STES

    assert STES is long.STES


def test_a_chapter_spec_is_one_object_by_either_name():
    from stelib import specs

    assert specs is importlib.import_module("stelib.tooling.specs")
    assert specs.get("primer") is importlib.import_module("stelib.tooling.specs.primer").SPEC


def test_unknown_short_name_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("stelib.no_such_module")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("stelib.specs.no_such_chapter")
    with pytest.raises(ImportError):
        exec("from stelib import no_such_module", {})


def test_python_dash_m_runs_a_module_by_its_short_name():
    r = subprocess.run([sys.executable, "-m", "stelib.book", "--version"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"stelib {stelib.__version__}"


def test_python_dash_m_stelib_book_is_the_command_line():
    r = subprocess.run([sys.executable, "-m", "stelib.book", "params", "primer"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "rerun with: stelib rerun primer" in r.stdout


# ------------------------------------------------------------------ the command line's modules


def tooling_imports(root: Path) -> dict[str, set[str]]:
    """``{module: modules of stelib/tooling it imports}`` for every file under ``root`` (the
    folder stelib/tooling), at any depth of the file (also imports inside functions). A
    package's files are one module (``specs``)."""
    names = {p.stem for p in root.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}

    def target(dotted: str) -> str | None:
        parts = dotted.split(".")
        if parts[:2] == ["stelib", "tooling"] and len(parts) > 2:
            return parts[2]
        if parts[0] == "stelib" and len(parts) > 1 and parts[1] in names:
            return parts[1]
        return None

    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if rel == ("__init__.py",):
            continue
        me = rel[0] if len(rel) > 1 else path.stem
        edges = graph.setdefault(me, set())
        for node in ast.walk(ast.parse(path.read_text())):
            found: list[str | None] = []
            if isinstance(node, ast.Import):
                found = [target(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = [target(node.module)]
                if node.module in ("stelib", "stelib.tooling"):
                    found += [a.name for a in node.names if a.name in names]
            edges |= {t for t in found if t and t != me}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first search, each as the path that closes it."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_command_lines_modules_import_one_way():
    """stelib/tooling has no import circle: what the commands share is in ``chapters``, the
    parameter classes in ``chapterspec``, and ``cli`` is imported by none of them."""
    graph = tooling_imports(PKG / "tooling")
    assert cycles(graph) == []
    assert not [m for m, deps in graph.items() if "cli" in deps]
    assert {"chapters", "chapterspec", "kernels"} <= set(graph)


def test_the_cycle_check_notices_a_circle(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "__init__.py").write_text("from stelib.tooling.params import X\n")
    (tmp_path / "params.py").write_text("def f():\n    from stelib.tooling import specs\n")
    (tmp_path / "cli.py").write_text("import stelib.sweep\nfrom stelib import params\n")
    (tmp_path / "sweep.py").write_text("from stelib.tooling.cli import main\n")
    graph = tooling_imports(tmp_path)
    assert graph == {"cli": {"params", "sweep"}, "params": {"specs"}, "specs": {"params"},
                     "sweep": {"cli"}}
    assert sorted(cycles(graph)) == [["cli", "sweep", "cli"], ["params", "specs", "params"]]
