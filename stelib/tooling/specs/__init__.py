"""The parameter specs of the book's chapters: one module per chapter,
``stelib/tooling/specs/<chapter>.py`` (:func:`get` returns its ``SPEC``).

Each module defines ``SPEC``, a :class:`stelib.chapterspec.ChapterSpec` naming every parameter
of the chapter's ``parameters`` cell (in its order) with its default, allowed values and
meaning (``Param(default, allowed, meaning)``, the cell's line word for word:
tests/test_params.py compares them), and the rules that span parameters. The modules import
:mod:`stelib.chapterspec`, not :mod:`stelib.params` (which imports this package). The chapter's hidden validation cell calls
``stelib.params.check_chapter("<chapter>", globals())``; ``stelib params`` and ``stelib rerun``
read the same module, so the allowed values are written once and no notebook is executed to
learn them. A new chapter adds a module here (``tools/convert_spec.py`` writes one from an
old-style ``SPEC = {...}`` cell).
"""

from __future__ import annotations

import importlib
import pkgutil

from stelib.tooling.chapterspec import ChapterSpec

__all__ = ["get", "names"]


def names() -> list[str]:
    """Chapters that have a spec module, sorted by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(chapter: str) -> ChapterSpec:
    """The spec of ``chapter``; ``ValueError`` listing the chapters that have one."""
    if chapter not in names():
        raise ValueError(f"no parameter spec for chapter {chapter!r}; chapters with one: "
                         + ", ".join(names()))
    spec = importlib.import_module(f"{__name__}.{chapter}").SPEC
    if not isinstance(spec, ChapterSpec) or spec.name != chapter:
        raise ValueError(f"stelib/tooling/specs/{chapter}.py must define SPEC = ChapterSpec({chapter!r}, ...)")
    return spec
