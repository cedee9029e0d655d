"""The book's chapters: every notebook listed in ``_toc.yml``, in reading order.

The chapter list is ``_toc.yml``: every ``.ipynb`` listed there is a chapter, so adding a
chapter is one ``- file: chapters/NAME`` line (and its spec, ``stelib/tooling/specs/NAME.py``).
A chapter's ``name`` (its file stem, ``primer``) is what the commands take; its title is the
first ``# heading`` of its markdown cells. ``ROOT`` is the book of this checkout, the default
of every function here and of the commands' book (:func:`stelib.chapters.find_root`).

Every module of the book's tooling that needs the chapters imports them from here, and this
module imports none of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # stelib/tooling/toc.py -> the checkout
TOC = ROOT / "_toc.yml"
CHAPTER_DIR = ROOT / "chapters"


@dataclass(frozen=True)
class Chapter:
    """A notebook of the table of contents: ``name`` is what the CLI takes (``primer``)."""

    name: str
    path: Path
    title: str


def toc_files(toc: Path = TOC) -> list[str]:
    """Document paths of ``_toc.yml`` in reading order (``root`` first), without suffix."""
    return re.findall(r"^\s*(?:root|-?\s*file)\s*:\s*([^\s#]+)", toc.read_text(), flags=re.M)


def _title(path: Path) -> str:
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except (ValueError, OSError, KeyError, AttributeError) as exc:  # not JSON, not a notebook
        raise ValueError(f"{path} is not a readable notebook ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    for cell in nb.cells:
        m = re.search(r"^#\s+(.+)$", "".join(cell.source), flags=re.M)
        if cell.cell_type == "markdown" and m:
            return m.group(1).strip()
    return path.stem


def chapters(root: Path = ROOT) -> list[Chapter]:
    """Every notebook listed in ``_toc.yml``, in book order."""
    out = []
    for f in toc_files(root / "_toc.yml"):
        path = root / f"{Path(f).with_suffix('')}.ipynb"
        if path.exists():
            out.append(Chapter(path.stem, path, _title(path)))
    return out


def chapter(name: str, root: Path = ROOT) -> Chapter:
    """The chapter called ``name`` (file stem); ``ValueError`` listing the valid names."""
    found = {c.name: c for c in chapters(root)}
    if name not in found:
        raise ValueError(f"unknown chapter {name!r}; choose one of: {', '.join(found)}")
    return found[name]
