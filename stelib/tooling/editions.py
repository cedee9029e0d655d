"""The student's edition of the book and the PDF handouts (``stelib build --student --pdf``).

The default build is the teacher's edition (exercise solutions in dropdowns). ``--student``
builds the student's edition into ``_build/student`` (``_build/student/_build/html``): the
solutions removed from the pages and the search index (sphinx-exercise's ``hide_solutions``,
switched on by :mod:`stelib.sphinxext` when ``STUDENT_ENV`` is set) and from every
downloadable source (the ``.ipynb`` and ``.md`` files under ``_sources`` and ``_downloads``,
and the executed notebooks beside the HTML: :func:`strip_built_sources`, run when the build
finishes). ``--pdf`` also prints each chapter to ``_build/<edition>/_build/pdf/<chapter>.pdf``
with the Chromium of the browser tests (``/usr/bin/chromium``; nothing is downloaded):
:func:`print_pdfs`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from stelib.tooling.execution import _write_atomic

STUDENT_ENV = "STELIB_STUDENT"  # set by `stelib build --student`: no exercise solutions
CHROMIUM = Path(os.environ.get("STELIB_CHROMIUM", "/usr/bin/chromium"))  # prints the PDF handouts


# The opening line of a solution directive (sphinx-exercise): ```{solution} ..., :::{solution},
# and the gated pair {solution-start} ... {solution-end} whose content lies between the two.
SOLUTION_OPEN = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,}|:{3,})[ \t]*"
                           r"\{(?P<name>solution(?:-start|-end)?)\}")


def _strip_lines(lines: list[str], gated: bool = False) -> tuple[list[str], bool]:
    """``lines`` without solution blocks; ``gated``: inside {solution-start} ... {solution-end}
    (which may span cells), in and out."""
    out, i = [], 0
    while i < len(lines):
        m = SOLUTION_OPEN.match(lines[i])
        if m:
            fence = m["fence"]
            close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            gated = {"solution-start": True, "solution-end": False}.get(m["name"], gated)
            i = j + 1
            continue
        if not gated:
            out.append(lines[i])
        i += 1
    return out, gated


def strip_solutions(text: str) -> str:
    """MyST text without its ``{solution}`` blocks (and gated solution ranges)."""
    return "".join(_strip_lines(text.splitlines(keepends=True))[0])


def strip_notebook_solutions(nb: dict) -> dict:
    """A notebook (as JSON) without solutions: solution blocks removed from markdown cells,
    and every cell between ``{solution-start}`` and ``{solution-end}`` dropped."""
    cells, gated = [], False
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        lines = src.splitlines(keepends=True) if isinstance(src, str) else list(src)
        if cell.get("cell_type") == "markdown":
            kept, gated_after = _strip_lines(lines, gated)
            if kept or not (gated or gated_after or len(kept) < len(lines)):
                cells.append({**cell, "source": "".join(kept) if isinstance(src, str) else kept})
            gated = gated_after
        elif not gated:
            cells.append(cell)
    return {**nb, "cells": cells}


def strip_built_sources(outdir: Path) -> list[Path]:
    """Remove the solutions from every source a reader can download from the HTML build in
    ``outdir`` (``_sources``, ``_downloads``) and from the executed notebooks beside it
    (``../jupyter_execute``); return the files changed. Raises ``RuntimeError`` naming a file
    that still holds a solution directive afterwards."""
    dirs = [outdir / "_sources", outdir / "_downloads", outdir.parent / "jupyter_execute"]
    changed, left = [], []
    for path in sorted(f for d in dirs if d.is_dir() for f in d.rglob("*") if f.is_file()):
        if path.suffix not in {".ipynb", ".md", ".txt", ".rst", ".myst"}:
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            new = json.dumps(strip_notebook_solutions(json.loads(text)), indent=1,
                             ensure_ascii=False) + "\n"
            new_text = "".join("".join(c.get("source", "")) for c in json.loads(new)["cells"])
        else:
            new = new_text = strip_solutions(text)
        if new != text and ("{solution" in text):
            _write_atomic(path, new)
            changed.append(path)
        if re.search(r"\{solution(?:-start|-end)?\}", new_text):
            left.append(path)
    if left:
        raise RuntimeError(f"solutions left in {', '.join(map(str, left))}")
    return changed


def print_pdfs(html: Path, dest: Path, pages: list[str], *, chromium: Path | None = None,
               timeout_ms: int = 60_000) -> list[Path]:
    """Print each page of the HTML build ``html`` (paths relative to it, ``chapters/x.html``) to
    ``dest/x.pdf`` with headless Chromium (playwright driving ``chromium``, by default
    ``CHROMIUM``; never a downloaded browser), once MathJax has typeset and every image has
    loaded. Pages are opened as ``file://`` URLs; any request elsewhere is refused. Runs in
    a thread of its own: playwright's sync API refuses to start inside another one's loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_print_pdfs, html, dest, pages, chromium, timeout_ms).result()


def _print_pdfs(html: Path, dest: Path, pages: list[str], chromium: Path | None,
                timeout_ms: int) -> list[Path]:
    chromium = chromium if chromium is not None else CHROMIUM
    if not chromium.exists():
        raise RuntimeError(f"{chromium} is missing: install Debian's chromium (or set "
                           "STELIB_CHROMIUM to a Chromium binary)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("printing PDFs needs playwright: pip install 'stelib[test]'") from None
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(("file://", "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking",
                                          "--disable-component-update"])
        try:
            for rel in pages:
                src = html / rel
                if not src.is_file():
                    raise RuntimeError(f"{src} was not built")
                page = browser.new_page(viewport={"width": 1100, "height": 1400})
                page.set_default_timeout(timeout_ms)
                page.route("**/*", route)
                page.goto(src.resolve().as_uri(), wait_until="load")
                page.evaluate(PRINT_READY)
                page.emulate_media(media="print")
                out = dest / f"{Path(rel).stem}.pdf"
                page.pdf(path=str(out), format="A4", print_background=True,
                         margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
                page.close()
                written.append(out)
        finally:
            browser.close()
    if outside:
        raise RuntimeError(f"pages asked for files outside the book: {sorted(set(outside))[:5]}")
    return written


# Before printing: MathJax has typeset everything, every image is decoded (lazy ones too),
# and the page has settled; interactive figures show their static fallback in print CSS.
PRINT_READY = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  for (const img of document.images) { img.loading = "eager"; try { await img.decode(); } catch (e) {} }
  await document.fonts.ready;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""
