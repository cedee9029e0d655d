"""What a sweep's runs say: their glued scalars in one table, ``sweep.csv``, and one figure,
``sweep.png``.

Every scalar the chapter glues (``myst_nb.glue``; papermill's ``record`` too) is read back from
the executed notebooks (:func:`glued_scalars`) into one table: one row per grid point, the
swept parameters as the first columns, then ``status``, ``notebook`` and the glued names (one
that equals a column name gets the prefix ``glued ``); below them one row for each finished run
of an earlier sweep in the folder whose provenance still matches (:func:`earlier_rows`: status
``ok (earlier sweep)``, with the parameters in which it differs from the defaults). The
summary figure plots each glued number that changes over the grid (the first 12) against the
first swept parameter, one line per combination of the others. Every file of a sweep is
written to a temporary name and renamed (:func:`_write_atomic`), so a reader never sees half a
file.
"""

from __future__ import annotations

import ast
import csv
import itertools
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stelib.tooling import chapters, params, provenance
from stelib.tooling.sweep_grid import _plain
from stelib.tooling.toc import Chapter

RECORD_PREFIX = "application/papermill.record/"
RECORD_JSON = "application/papermill.record+json"  # papermill's own pm.record


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, chapters.file_mode())  # as an ordinary file (mkstemp makes it 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def glued_scalars(notebook: Path | Mapping) -> dict[str, Any]:
    """Every scalar (number, bool, string) glued in an executed notebook, in order: name -> value."""
    nb = json.loads(Path(notebook).read_text()) if isinstance(notebook, str | Path) else notebook
    out: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            scrap = o.get("metadata", {}).get("scrapbook", {})
            name, prefix = scrap.get("name"), scrap.get("mime_prefix", RECORD_PREFIX)  # "" when displayed
            found = {}
            if name is not None:
                if prefix + "application/json" in data:
                    found[name] = data[prefix + "application/json"]
                elif prefix + "text/plain" in data:
                    found[name] = _literal(data[prefix + "text/plain"])
            if isinstance(data.get(RECORD_JSON), dict):
                found.update(data[RECORD_JSON])
            out.update({k: v for k, v in found.items() if isinstance(v, bool | int | float | str)})
    return out


_NUMPY_SCALAR = re.compile(r"np\.(?:float|int|uint)\d*\((.*)\)|np\.(True|False)_")


def _literal(text: Any) -> Any:
    """A glued value's repr as a Python value: literals, nan/inf, NumPy scalars; else ``None``."""
    text = ("".join(text) if isinstance(text, list) else str(text)).strip()
    m = _NUMPY_SCALAR.fullmatch(text)
    if m:
        text = m[1] or m[2]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(text)  # arrays etc.: None


def earlier_rows(chapter: Chapter, outdir: Path, known: set[Path], names: list[str],
                 commit: str, library: str) -> list[dict[str, Any]]:
    """Rows for the finished notebooks of ``chapter`` in ``outdir`` that are not points of this
    grid (``known``) and whose provenance still matches (same chapter, library and modules):
    the parameters ``names`` and those that differ from the chapter's defaults, status
    ``"ok (earlier sweep)"``, the glued scalars. A stale or foreign notebook gets no row."""
    defaults = {k: p.default for k, p in params.read_parameters(chapter.path).items()}
    found = []
    for path in sorted(outdir.glob(f"{chapter.name}-*.ipynb")):
        if path in known or path.name.endswith(".failed.ipynb"):
            continue
        prov = provenance.recorded(path)
        values = prov.get("parameters") if prov else None
        if not isinstance(values, dict):
            continue
        current = provenance.record(chapter.path, values, commit=commit, library=library)
        if provenance.differs(prov, current) is None:
            found.append((json.dumps(values, sort_keys=True, default=repr), path, values))
    varied = {k for _, _, values in found for k, v in values.items()
              if _plain(v) != _plain(defaults.get(k, v))}
    columns = [*names, *sorted(varied - set(names))]
    rows = []
    for _, path, values in sorted(found, key=lambda f: f[0]):  # in the order of their values
        row = {k: _cell(values[k]) for k in columns if k in values}
        row |= {"status": "ok (earlier sweep)", "notebook": path.name}
        row |= {(k if k not in row else f"glued {k}"): v for k, v in glued_scalars(path).items()}
        rows.append(row)
    return rows


def _cell(v: Any) -> Any:
    return json.dumps(_plain(v)) if isinstance(v, tuple | list) else v


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """One row per point; columns in order of first appearance (parameters first)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in columns})


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _varies(values: list[Any]) -> bool:
    """More than rounding: numbers spread beyond 1e-9 of their size, or any non-number differs."""
    nums = [float(v) for v in values if _number(v) and math.isfinite(v)]
    if len(nums) != len(values):
        return len({repr(v) for v in values}) > 1
    return max(nums) - min(nums) > 1e-9 * max(1e-300, *map(abs, nums))


def _write_figure(rows: list[dict[str, Any]], names: list[str], path: Path) -> bool:
    """Each glued number against the first swept parameter, one line per value of the others."""
    ok = [r for r in rows if r["status"] == "ok"]
    numeric = [k for k in dict.fromkeys(k for r in ok for k in r)
               if k not in names and k not in ("status", "notebook") and any(_number(r.get(k)) for r in ok)]
    varying = [k for k in numeric if _varies([r.get(k) for r in ok])]
    keys = (varying or numeric)[:12]  # what changes over the grid (all numbers when nothing does)
    if not keys:
        return False
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    from matplotlib.ticker import MaxNLocator

    x_name, others = names[0], names[1:]
    xs = list(dict.fromkeys(r[x_name] for r in rows))
    numeric_x = all(_number(x) for x in xs)
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False)
    def order(r):
        return [(0, r[o], "") if _number(r[o]) else (1, 0, str(r[o])) for o in others]

    for i, (ax, key) in enumerate(zip(axes.flat, keys, strict=False)):
        for combo, grp in itertools.groupby(sorted(ok, key=order), key=lambda r: tuple(r[o] for o in others)):
            pts = [(r[x_name] if numeric_x else xs.index(r[x_name]), r[key]) for r in grp if _number(r.get(key))]
            pts.sort()
            label = ", ".join(f"{o}={c}" for o, c in zip(others, combo, strict=True)) or None
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(x_name)
        if not numeric_x:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        elif all(isinstance(x, int) for x in xs):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if others and i == 0:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.tight_layout()
    _write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return True
