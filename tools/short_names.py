"""Write the short-name modules ``stelib/NAME.py``, one per module of ``stelib.LAYERS``.

Usage (from the book's root, after adding a module to ``LAYERS`` in ``stelib/__init__.py``)::

    python tools/short_names.py           # write the missing or outdated ones, remove stale ones
    python tools/short_names.py --check   # exit 1 naming what differs, write nothing

Every module lives in a layer folder (``stelib/core/ste.py``) and is used by its short name
(``stelib.ste``). ``stelib/ste.py`` makes the short name an ordinary module file that editors
and type checkers resolve: it star-imports the real module (what static tools see) and then
puts the real module itself in ``sys.modules`` under the short name, so ``stelib.ste`` *is*
``stelib.core.ste`` at run time (one registry, one place to monkeypatch).
``tests/test_layers.py`` checks that every module of ``LAYERS`` has its file with exactly this
text (:func:`short_module`).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "stelib"
KEEP = ("__init__", "__main__", "_version")  # the package's own files, not short names
#: short names that also run with ``python -m stelib.NAME``: what they run
MAIN = {"book": "stelib.tooling.cli"}  # python -m stelib.book build|execute: the command line
MARK = "Written by tools/short_names.py from stelib.LAYERS; do not edit."


def layers(init: Path = PKG / "__init__.py") -> dict[str, tuple[str, ...]]:
    """``LAYERS`` as written in ``stelib/__init__.py`` (read, not imported)."""
    for node in ast.parse(init.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "LAYERS":
            return ast.literal_eval(node.value)
    raise ValueError(f"{init}: no LAYERS = {{...}}")


def short_module(name: str, layer: str) -> str:
    """The text of ``stelib/NAME.py`` for the module ``stelib/LAYER/NAME``."""
    main = ""
    if name in MAIN:
        main = (f'\nif __name__ == "__main__":  # python -m stelib.{name}\n'
                f"    from {MAIN[name]} import main\n\n"
                f"    _sys.exit(main())\n")
    return (f'"""``stelib.{name}`` is :mod:`stelib.{layer}.{name}`, the same module object.\n\n'
            f'{MARK}\n"""\n\n'
            f"import sys as _sys\n\n"
            f"from stelib.{layer} import {name} as _module\n"
            f"from stelib.{layer}.{name} import *  # noqa: F403  (the names, for editors and type checkers)\n"
            f"{main}\n"
            f"_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch\n")


def expected(pkg: Path = PKG) -> dict[Path, str]:
    return {pkg / f"{name}.py": short_module(name, layer)
            for layer, names in layers(pkg / "__init__.py").items() for name in names}


def stale(pkg: Path = PKG) -> list[Path]:
    """Short-name files of modules no longer in ``LAYERS`` (only files this tool wrote)."""
    want = expected(pkg)
    return sorted(p for p in pkg.glob("*.py")
                  if p.stem not in KEEP and p not in want and MARK in p.read_text())


def differences(pkg: Path = PKG) -> list[str]:
    out = [f"{p.relative_to(pkg.parent)}: {'missing' if not p.exists() else 'outdated'}"
           for p, text in expected(pkg).items() if not p.exists() or p.read_text() != text]
    out += [f"{p.relative_to(pkg.parent)}: not in LAYERS" for p in stale(pkg)]
    return out


def write(pkg: Path = PKG) -> list[str]:
    done = differences(pkg)
    for p in stale(pkg):
        p.unlink()
    for p, text in expected(pkg).items():
        if not p.exists() or p.read_text() != text:
            tmp = p.with_name(f".{p.name}.tmp")
            tmp.write_text(text)
            tmp.replace(p)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only report what differs (exit 1 if anything)")
    args = ap.parse_args(argv)
    found = differences() if args.check else write()
    for line in found:
        print(line)
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
