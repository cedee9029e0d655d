"""What the commands of ``stelib`` share: finding the book, a chapter and its spec, and where
a chapter's runs go; bad input from the command line is a :class:`UsageError`.

:mod:`stelib.cli`, :mod:`stelib.sweep` (and its ``sweep_grid`` and ``sweep_table``) and
:mod:`stelib.results` import this module, and it imports none of them (the chapters themselves
come from :mod:`stelib.toc`), so the command line's modules import one way only
(tests/test_layers.py checks that stelib/tooling has no import cycle).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from stelib.tooling import specs, toc
from stelib.tooling.chapterspec import ChapterSpec, short

__all__ = ["INTERRUPTED", "USAGE_ERROR", "UsageError", "find_root", "get_chapter", "get_spec",
           "jsonable", "need_root", "output_dir", "output_path"]

USAGE_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT, the shell's convention


class UsageError(Exception):
    """Bad input from the command line: reported with exit status 2."""


def find_root(explicit: str | None = None, cwd: Path | None = None) -> Path | None:
    """The book's folder: ``explicit``, else ``cwd`` or a parent holding ``_toc.yml``, else the
    checkout of this package; ``None`` when there is none. A bad ``explicit`` is a UsageError."""
    if explicit is not None:
        root = Path(explicit).expanduser()
        if not (root / "_toc.yml").is_file():
            raise UsageError(f"--root {short(explicit)}: no _toc.yml there (give the folder "
                             "of the book, which holds _toc.yml and chapters/)")
        return root.resolve()
    cwd = Path.cwd() if cwd is None else cwd
    for folder in (cwd, *cwd.parents):
        if (folder / "_toc.yml").is_file() and (folder / "chapters").is_dir():
            return folder.resolve()
    if (toc.ROOT / "_toc.yml").is_file():  # not inside a book: the package's own checkout
        print(f"note: {cwd} is not inside a book; using the book of this installation, "
              f"{toc.ROOT} (pass --root DIR for another)", file=sys.stderr)
        return toc.ROOT
    return None


def need_root(explicit: str | None, command: str) -> Path:
    """:func:`find_root`, or a UsageError saying that ``stelib COMMAND`` needs the book."""
    root = find_root(explicit)
    if root is None:
        raise UsageError(f"`stelib {command}` needs the book: run it inside the book's folder "
                         "or pass --root DIR (the folder holding _toc.yml and chapters/)")
    return root


def get_chapter(name: str, root: Path) -> toc.Chapter:
    """The chapter ``name`` of the book at ``root``; a UsageError listing the chapters."""
    try:
        return toc.chapter(name, root)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def get_spec(name: str) -> ChapterSpec:
    """The spec of chapter ``name`` (:mod:`stelib.specs`); a UsageError listing the chapters."""
    try:
        return specs.get(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def jsonable(x):
    """Tuples as lists, as papermill and JSON pass them."""
    if isinstance(x, tuple | list):
        return [jsonable(i) for i in x]
    return x


def output_path(ch: toc.Chapter, values: dict, outdir: Path) -> Path:
    """``outdir/<chapter>-<first 10 hex digits of the SHA-256 of the parameter values>.ipynb``."""
    key = json.dumps(jsonable(values), sort_keys=True, default=repr).encode()
    return outdir / f"{ch.name}-{hashlib.sha256(key).hexdigest()[:10]}.ipynb"


def output_dir(text: str, root: Path) -> Path:
    """The run folder ``text`` (``-o DIR``), checked: not in chapters/, not a file, no file on
    its path; a UsageError otherwise."""
    shown = short(text)
    outdir = Path(text).expanduser().absolute()
    chapters_dir = (root / "chapters").resolve()
    try:
        for p in (outdir, *outdir.parents):
            if p.exists() or p.is_symlink():
                if not p.is_dir():
                    kind = ("a symbolic link that leads nowhere (missing or looping)"
                            if p.is_symlink() and not p.exists() else "a file")
                    what = f"is {kind}" if p == outdir else f"is under {p}, which is {kind}"
                    raise UsageError(f"output directory {shown} {what}; give a directory (-o DIR)")
                break
        resolved = outdir.resolve()
    except OSError as exc:  # a name over 255 characters, a symlink loop, ...
        raise UsageError(f"output directory {shown}: {exc.strerror or exc}") from None
    if resolved == chapters_dir or resolved.is_relative_to(chapters_dir):
        raise UsageError(f"refusing -o {shown}: runs never go into the chapters folder "
                         f"{chapters_dir}")
    return outdir


@functools.cache
def file_mode() -> int:
    """The mode of an ordinary new file under this process's umask (0644 under umask 022), for
    files written through a temporary one (mkstemp makes it 0600). The umask is read once:
    reading it means setting it, which must not race with a sweep's worker threads."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
