"""A sweep's grid: parameter values from the command line, and every combination of them.

``-p NAME V1,V2,...`` gives one parameter's values, read like ``rerun``'s
(:func:`stelib.params.parse_value`) and split at commas outside brackets and quotes
(:func:`split_values`, so ``-p scales '[0.1, 4],[1, 2]'`` gives two lists). Every combination of
the given values is one *grid point* (:class:`Point`), checked against the chapter's spec and
rules (:func:`stelib.params.check_overrides`, as ``rerun`` does) before anything runs: one bad
value stops the sweep with a message naming the point and the parameter. A point's notebook is
``DIR/<chapter>-<hash of the parameter values>.ipynb``, the file name ``rerun`` gives the same
values (:func:`stelib.chapters.output_path`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stelib.tooling import params
from stelib.tooling.chapters import output_path
from stelib.tooling.chapterspec import ChapterSpec
from stelib.tooling.toc import Chapter


@dataclass(frozen=True)
class Point:
    """One grid point: the swept ``overrides``, the full parameter set ``values``, its file."""

    overrides: dict[str, Any]
    values: dict[str, Any]
    path: Path


def split_values(text: str) -> list[str]:
    """``"1,2,[3, 4],'a,b'"`` -> ``["1", "2", "[3, 4]", "'a,b'"]``: commas outside brackets/quotes."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    parts.append(cur.strip())
    return parts


def parse_grid(pairs: Sequence[tuple[str, str]]) -> dict[str, list[Any]]:
    """``[("lr", "0.1,0.2"), ("ste", "relu,crelu")]`` -> ``{"lr": [0.1, 0.2], "ste": [...]}``.

    Values are read like ``rerun``'s (:func:`stelib.params.parse_value`). ``ValueError`` for
    a parameter given twice, an empty value or a value listed twice.
    """
    grid: dict[str, list[Any]] = {}
    for name, text in pairs:
        if name in grid:
            raise ValueError(f"parameter {name!r} given twice; list all its values in one -p {name} V1,V2,...")
        texts = split_values(text)
        if any(t == "" for t in texts):
            raise ValueError(f"parameter {name}={text!r} has an empty value; give V1,V2,... without empty entries")
        values = [params.parse_value(t) for t in texts]
        keys = [_key(v) for v in values]  # 1 and 1.0, [1, 2] and (1, 2) are one value
        if len(set(keys)) != len(keys):
            raise ValueError(f"parameter {name}={text!r} lists a value twice; give each value once")
        grid[name] = values
    if not grid:
        raise ValueError("no parameter to sweep; give at least one -p NAME V1,V2,...")
    return grid


def _key(x) -> str:
    """One key per value a chapter sees: numbers by value (1 and 1.0 alike, booleans apart),
    tuples as lists."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return repr(x)
    if isinstance(x, int | float):
        return repr(float(x))
    if isinstance(x, tuple | list):
        return "[" + ", ".join(_key(i) for i in x) + "]"
    return repr(x)


def _plain(x):
    """Tuples as lists, as papermill and rerun pass them."""
    return [_plain(i) for i in x] if isinstance(x, tuple | list) else x


def _spec(chapter: Chapter, spec: ChapterSpec | None) -> ChapterSpec:
    from stelib.tooling import specs

    return specs.get(chapter.name) if spec is None else spec


def grid_points(chapter: Chapter, grid: Mapping[str, Sequence[Any]], outdir: Path,
                spec: ChapterSpec | None = None) -> list[Point]:
    """Every combination of the grid's values, each checked against the chapter's spec first
    (``spec``, default :func:`stelib.specs.get` of the chapter's name)."""
    outdir = Path(outdir).resolve()
    if outdir.is_relative_to(chapter.path.parent.resolve()):
        raise ValueError(f"refusing to write into {outdir}: runs never go into the chapters folder")
    spec = _spec(chapter, spec)
    points = []
    for combo in itertools.product(*grid.values()):
        overrides = dict(zip(grid, combo, strict=True))
        try:
            values = params.check_overrides(spec, chapter.path, overrides)
        except ValueError as exc:
            raise ValueError(f"grid point {_plain(overrides)}: {exc}") from None
        points.append(Point(overrides, values, output_path(chapter, values, outdir)))
    return points
