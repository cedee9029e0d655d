"""``python -m stelib``: list the chapters, show a chapter's parameters, rerun a chapter.

::

    python -m stelib list
    python -m stelib params CHAPTER
    python -m stelib rerun CHAPTER -p NAME VALUE [-p NAME VALUE ...] [-o DIR] [--overwrite]

``rerun`` checks the new values against the chapter's ``SPEC`` (see :mod:`stelib.params`)
*before* papermill starts, so a bad value costs nothing and leaves no file: the command exits
with status 2 and a message naming the parameter. The executed notebook goes to
``DIR/<chapter>-<hash of the parameter values>.ipynb`` (``DIR`` defaults to ``runs/``); an
existing file is overwritten only with ``--overwrite``, a chapter source never.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from stelib import book, params

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the command line: reported with exit status 2."""


def _chapter(name: str) -> book.Chapter:
    try:
        return book.chapter(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _spec(name: str) -> params.ChapterSpec:
    from stelib import specs

    try:
        return specs.get(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_list(args) -> int:
    chs = book.chapters()
    width = max((len(c.name) for c in chs), default=0)
    for c in chs:
        print(f"{c.name:<{width}}  {c.title}")
    return 0


def cmd_params(args) -> int:
    ch = _chapter(args.chapter)
    spec = _spec(ch.name)
    rows = [(p.name, repr(p.default), p.allowed, p.comment) for p in params.describe(spec, ch.path)]
    header = ("name", "default", "allowed", "meaning")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    print(f"{ch.name}: {ch.title}\n")
    for r in [header, *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    print(f"\nrerun with: python -m stelib rerun {ch.name} -p NAME VALUE [-p NAME VALUE ...]")
    return 0


def _jsonable(x):
    if isinstance(x, tuple | list):
        return [_jsonable(i) for i in x]
    return x


def output_path(ch: book.Chapter, values: dict, outdir: Path) -> Path:
    """``outdir/<chapter>-<first 10 hex digits of the SHA-256 of the parameter values>.ipynb``."""
    key = json.dumps(_jsonable(values), sort_keys=True, default=repr).encode()
    return outdir / f"{ch.name}-{hashlib.sha256(key).hexdigest()[:10]}.ipynb"


def cmd_rerun(args) -> int:
    ch = _chapter(args.chapter)
    overrides: dict = {}
    for name, text in args.param or []:
        if name in overrides:
            raise UsageError(f"parameter {name!r} given twice")
        overrides[name] = params.parse_value(text)
    try:
        values = params.check_overrides(_spec(ch.name), ch.path, overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = output_path(ch, values, Path(args.output)).resolve()
    sources = {c.path.resolve() for c in book.chapters()}
    if out in sources or out.parent == book.CHAPTER_DIR.resolve():
        raise UsageError(f"refusing to write {out}: runs never go into the chapters folder")
    if out.exists() and not args.overwrite:
        raise UsageError(f"{out} exists (a run with these parameters); pass --overwrite to replace it")
    import papermill

    out.parent.mkdir(parents=True, exist_ok=True)
    changed = {k: _jsonable(v) for k, v in overrides.items()}
    print(f"running {ch.name} with {changed or 'default parameters'} -> {out}", file=sys.stderr)
    os.environ.pop("MPLBACKEND", None)  # figures inline in the new notebook
    try:
        papermill.execute_notebook(str(ch.path), str(out), parameters=changed,
                                   kernel_name="python3", progress_bar=not args.no_progress,
                                   cwd=str(ch.path.parent))
    except papermill.PapermillExecutionError as exc:
        print(f"error: chapter {ch.name} failed in cell {exc.exec_count}: {exc.ename}: "
              f"{exc.evalue}\nthe partly executed notebook is {out}", file=sys.stderr)
        return 1
    print(out)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stelib", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the chapters").set_defaults(func=cmd_list)
    pp = sub.add_parser("params", help="a chapter's parameters: defaults and allowed values")
    pp.add_argument("chapter")
    pp.set_defaults(func=cmd_params)
    pr = sub.add_parser("rerun", help="execute a chapter with new parameters (papermill)",
                        description="Values are Python literals (3, 0.1, True, [1, 2], 'x') or, "
                        "failing that, plain strings (relu).")
    pr.add_argument("chapter")
    pr.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                    help="set parameter NAME to VALUE (repeatable)")
    pr.add_argument("-o", "--output", default=str(book.ROOT / "runs"), metavar="DIR",
                    help="directory of the executed notebook (default: runs/)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing run")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_rerun)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        sys.stderr.close()
        return 0
