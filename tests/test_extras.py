"""`pip install "stelib[rerun]"` installs everything a chapter imports.

Every import of every code cell of ``chapters/*.ipynb`` is read with ``ast``, then, transitively,
every import of the stelib modules they import (their package ``__init__`` files included;
imports inside functions count, since a chapter may call them; an import guarded by ``except
ImportError`` is optional and does not). Each third-party module is mapped to the distributions
that provide it (``importlib.metadata.packages_distributions()``), and one of them must be a
core dependency or in the ``rerun`` extra of pyproject.toml.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import stelib

ROOT = Path(__file__).resolve().parents[1]
PKG = Path(stelib.__file__).resolve().parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


@functools.cache
def _provided() -> dict[str, list[str]]:
    return packages_distributions()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(*groups: str) -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [r for g in groups for r in (meta["dependencies"] if g == "core" else meta["optional-dependencies"][g])]
    return {_norm(re.match(r"[A-Za-z0-9_.\-]+", r)[0]) for r in reqs}


def _optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``try: ... except ImportError`` (or ModuleNotFoundError), or ``if TYPE_CHECKING:``."""
    child, node = node, parents.get(node)
    while node is not None:
        if isinstance(node, ast.Try) and child in node.body:
            for h in node.handlers:
                names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
                if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
        child, node = node, parents.get(node)
    return False


def imports_of(source: str, package: str = "") -> set[str]:
    """Absolute dotted names imported by ``source``, ``from a import b`` giving ``a`` and ``a.b``
    (``a.b`` may be an attribute: the caller checks); relative imports resolved in ``package``."""
    tree = ast.parse(source)
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and not _optional(node, parents):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not _optional(node, parents):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names if a.name != "*"}
    return {m for m in out if m}


def chapter_imports(path: Path) -> set[str]:
    cells = json.loads(path.read_text())["cells"]
    code = ["\n".join(line for line in "".join(c["source"]).splitlines()
                      if not line.lstrip().startswith(("%", "!")))  # IPython magics and shell lines
            for c in cells if c["cell_type"] == "code"]
    return set().union(*(imports_of(c) for c in code))


def stelib_file(name: str) -> Path | None:
    """The file of stelib module ``name`` (short names such as stelib.params included), or None
    for an attribute (``from stelib.rounding import fmt``)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, AttributeError, ValueError):
        return None
    return Path(spec.origin).resolve() if spec is not None and spec.origin else None


def closure(names: set[str]) -> tuple[set[str], set[Path]]:
    """Third-party and stdlib top-level names imported by ``names`` and every stelib module they
    import, transitively; and the stelib files read."""
    todo, seen, external = list(names), set(), set()
    while todo:
        name = todo.pop()
        if name.split(".")[0] != "stelib":
            external.add(name.split(".")[0])
            continue
        f = stelib_file(name)
        if f is None:
            continue
        files = [f] + [d / "__init__.py" for d in [f.parent, *f.parent.parents] if d == PKG or PKG in d.parents]
        for path in files:
            if path in seen or not path.is_file():
                continue
            seen.add(path)
            package = ".".join(("stelib", *path.parent.relative_to(PKG).parts))
            todo.extend(imports_of(path.read_text(), package))
    return external - set(sys.stdlib_module_names) - {"__future__"}, seen


def test_the_reader_sees_guards_functions_and_relative_imports():
    src = ("import a.b\nfrom c import d\ndef f():\n    import e\ntry:\n    import g\nexcept ImportError:\n"
           "    pass\nfrom . import h\nfrom ..k import m\n")
    assert imports_of(src, "stelib.core") == {"a.b", "c", "c.d", "e", "stelib.core", "stelib.core.h",
                                              "stelib.k", "stelib.k.m"}
    ext, files = closure({"stelib.datasets"})
    assert PKG / "analyses" / "datasets.py" in files and PKG / "__init__.py" in files
    assert PKG / "core" / "distributions.py" in files
    assert "torch" in ext and "torchvision" not in ext  # torchvision: guarded by except ImportError


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_import_of_a_chapter_is_installed_by_rerun(chapter):
    wanted = requirement_names("core", "rerun")
    provided = _provided()
    external, _ = closure(chapter_imports(chapter))
    missing = {}
    for mod in sorted(external):
        dists = {_norm(d) for d in provided.get(mod, [])}
        assert dists, f"{chapter.name} imports {mod!r}, which no installed distribution provides"
        if not dists & wanted:
            missing[mod] = sorted(dists)
    assert not missing, (f"{chapter.name} imports modules that neither the core dependencies nor "
                         f"[rerun] install: {missing}")


def test_rerun_holds_nothing_the_chapters_do_not_import():
    """[rerun] is exactly what the chapters need beyond the core (no stale extra)."""
    provided = _provided()
    external, _ = closure(set().union(*(chapter_imports(c) for c in CHAPTERS)))
    used = {_norm(d) for mod in external for d in provided.get(mod, [])}
    assert requirement_names("rerun") <= used, requirement_names("rerun") - used
    assert "seaborn" in requirement_names("rerun")  # stelib.practice_report draws with it
