"""Build, execute and describe the book: the driver behind ``stelib build`` and ``stelib execute``.

``stelib build`` (``python -m stelib.book build``)
    ``jupyter-book build . -W --keep-going``. Chapters are executed through jupyter-cache
    (``execute: cache`` in ``_config.yml``, the cache in ``_build/.jupyter_cache``), so a
    second build with nothing changed re-runs nothing. On failure the chapters that caused
    errors or warnings are named. The default build is the teacher's edition (exercise
    solutions in dropdowns). ``--student`` builds the student's edition into ``_build/student``
    (``_build/student/_build/html``): the solutions removed from the pages and the search index
    (sphinx-exercise's ``hide_solutions``) and from every downloadable source (the ``.ipynb`` and
    ``.md`` files under ``_sources`` and ``_downloads``, and the executed notebooks beside the
    HTML). ``--pdf`` also prints each chapter to ``_build/<edition>/_build/pdf/<chapter>.pdf``
    with the Chromium of the browser tests (``/usr/bin/chromium``; nothing is downloaded).
``stelib execute [NAME ...]`` (``python -m stelib.book execute``)
    Re-execute chapters in place with their default parameters (stored outputs are the book's
    promise, checked by nbval) and record each one's wall-clock time, with the package
    versions and the git commit, in ``chapters/reproducibility.json`` (read by the
    Reproducibility page).

The chapter list is ``_toc.yml``: every ``.ipynb`` listed there is a chapter, so adding a
chapter is one ``- file: chapters/NAME`` line (and its spec, ``stelib/tooling/specs/NAME.py``). This
module is also a Sphinx extension (listed in ``_config.yml``) providing the directives
``stelib-parameters`` (the parameter reference of every chapter, each table anchored as
``params-<chapter>``) and ``stelib-reproducibility`` (execution times and versions), and a
``build-finished`` hook that makes a plain ``jupyter-book build .`` fail when a chapter
failed to execute (read from myst-nb's execution records).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # stelib/tooling/book.py -> the checkout
TOC = ROOT / "_toc.yml"
CHAPTER_DIR = ROOT / "chapters"
TIMINGS = CHAPTER_DIR / "reproducibility.json"  # of this checkout; timings_path(root) in general
BUDGET_SECONDS = 60.0
# Every package that decides a printed digit or a stored output (numerics, data, formatting,
# the kernel and the text nbval compares), then the book's tool chain.
PACKAGES = ("stelib", "torch", "numpy", "scipy", "numba", "llvmlite", "pandas",
            "matplotlib", "plotly", "pillow", "ipython", "ipykernel", "jupyter-client", "nbformat",
            "nbclient", "papermill", "jupyter-book", "myst-nb", "jupyter-cache", "sphinx",
            "sphinx-book-theme", "sphinx-proof", "sphinx-exercise", "nbval")
STUDENT_ENV = "STELIB_STUDENT"  # set by `stelib build --student`: no exercise solutions
CHROMIUM = Path(os.environ.get("STELIB_CHROMIUM", "/usr/bin/chromium"))  # prints the PDF handouts


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


def timings_path(root: Path = ROOT) -> Path:
    """``chapters/reproducibility.json`` of the book at ``root``."""
    return root / "chapters" / "reproducibility.json"


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


def kernel_env() -> dict[str, str]:
    """Environment for kernels: inline figures (the Makefile's MPLBACKEND=Agg is for tests)."""
    env = dict(os.environ, PYTHONHASHSEED="0", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("MPLBACKEND", None)
    return env


# ------------------------------------------------------------------------------------ build

WARNING = re.compile(r"(?:(?P<loc>\S+?)(?::\d+)?:\s+)?\b(?P<kind>WARNING|ERROR|CRITICAL|SEVERE):"
                     r"\s*(?P<msg>.*)$")
CHAPTER_DOC = re.compile(r"(chapters/[\w.-]+?)(?:\.\w+)?$")
JB_MAIN = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"


def failing_chapters(log: str) -> dict[str, list[str]]:
    """``{document: [messages]}`` from the warnings and errors of a Sphinx log.

    Warnings that name no chapter (configuration, theme) are filed under ``"(book)"``.
    """
    out: dict[str, list[str]] = {}
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # colour codes
    for line in log.splitlines():
        m = WARNING.search(line.strip())
        if m:
            doc = CHAPTER_DOC.search(m["loc"] or "")
            out.setdefault(doc.group(1) if doc else "(book)", []).append(f"{m['kind']}: {m['msg']}")
    return out


def build(*, root: Path = ROOT, config: Path | None = None, output: Path | None = None,
          extra: tuple[str, ...] = (), student: bool = False, pdf: bool = False) -> int:
    """Run ``jupyter-book build -W --keep-going``; print a summary naming failing chapters.

    ``student``: the student's edition, exercise solutions removed from the pages, the search
    index and every downloadable source (see ``strip_solutions``), into
    ``root/_build/student/_build/html`` unless ``output`` is given. The default is the
    teacher's edition, with the solutions. ``pdf``: then print every chapter to
    ``<output>/_build/pdf/<chapter>.pdf`` (``print_pdfs``).
    """
    cmd = [sys.executable, "-c", JB_MAIN, "build", str(root), "-W", "--keep-going", *extra]
    env = kernel_env()
    if student:
        env[STUDENT_ENV] = "1"
        output = output if output is not None else root / "_build" / "student"
    else:
        env.pop(STUDENT_ENV, None)
    if config is not None:
        cmd += ["--config", str(config)]
    if output is not None:
        cmd += ["--path-output", str(output)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    rc = proc.wait()
    seconds = time.perf_counter() - t0
    if rc == 0:
        html = (output or root) / "_build" / "html"
        print(f"\nbook built in {seconds:.1f} s: {html / 'index.html'}")
        if pdf:
            t0 = time.perf_counter()
            try:
                written = print_pdfs(html, html.parent / "pdf",
                                     [f"{c.path.relative_to(root).with_suffix('')}.html"
                                      for c in chapters(root)])
            except (RuntimeError, OSError) as exc:
                print(f"printing the PDF handouts FAILED: {exc}", file=sys.stderr)
                return 1
            print(f"{len(written)} PDF handouts in {time.perf_counter() - t0:.1f} s: "
                  f"{html.parent / 'pdf'}")
        return 0
    bad = failing_chapters("".join(lines))
    print(f"\nbook build FAILED after {seconds:.1f} s (exit status {rc}).", file=sys.stderr)
    for doc, msgs in bad.items():
        what = "not tied to a chapter" if doc == "(book)" else f"failing chapter {doc}"
        print(f"  {what}:", file=sys.stderr)
        for msg in msgs[:5]:
            print(f"    {msg}", file=sys.stderr)
    if not bad:
        print("  (no chapter named in the log: see the Sphinx output above)", file=sys.stderr)
    return rc or 1


# ------------------------------------------------------- student edition, PDF handouts

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


# ---------------------------------------------------------------------------------- execute


def git_commit(root: Path = ROOT) -> str:
    """``git rev-parse HEAD`` of the book (``+dirty`` when tracked files differ from it), or
    ``"unknown"`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def versions(root: Path = ROOT) -> dict[str, str]:
    """Python, platform, the git commit and the installed versions of every package that
    decides a printed digit (``PACKAGES``)."""
    from stelib import __version__

    out = {"python": platform.python_version(), "platform": platform.platform(),
           "cpus": str(os.cpu_count()), "git commit": git_commit(root)}
    for pkg in PACKAGES:
        try:
            out[pkg] = __version__ if pkg == "stelib" else metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def execute_notebook(path: Path, *, timeout: int = 600) -> float:
    """Execute ``path`` in place (cwd = its folder) with default parameters; return seconds."""
    import nbformat
    from nbclient import NotebookClient

    from stelib.tooling.kernels import quiet_kernels

    nb = nbformat.read(str(path), as_version=4)
    os.environ.pop("MPLBACKEND", None)  # the kernel inherits this process's environment
    with quiet_kernels() as quiet:  # no transport warning from the kernel (kernels.py)
        # the kernel's own log only at CRITICAL: on Ctrl-C nbclient shuts the kernel down
        # mid-cell and the kernel would log a ZMQError traceback over the "interrupted" message
        # (a chapter's errors reach its outputs, and a dead kernel is reported, either way)
        quiet = {**quiet, "extra_arguments": [*quiet.get("extra_arguments", []),
                                              "--IPKernelApp.log_level=CRITICAL"]}
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}}, **quiet)
        t0 = time.perf_counter()
        try:
            client.execute(env=kernel_env())
        except Exception:
            # nbclient answers SIGINT/SIGTERM itself while it runs (it shuts the kernel down and
            # the execution then fails): that is an interrupt, not a failing chapter
            if getattr(client, "_async_cleanup_kernel_future", None) is not None:
                raise KeyboardInterrupt from None
            raise
        seconds = time.perf_counter() - t0
    strip_execution_metadata(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    text = nbformat.writes(nb)
    _write_atomic(path, text if text.endswith("\n") else text + "\n")  # as nbformat.write, atomically
    return seconds


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path``.lock for the duration (concurrent ``execute`` runs)."""
    import fcntl

    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_record(timings: Path) -> dict:
    if not timings.exists():
        return {}
    try:
        record = json.loads(timings.read_text())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise ValueError(f"{timings} is corrupt ({exc}); restore it from git "
                         f"(git checkout -- {timings.name}) or delete it, then execute again") from None
    return record


def strip_execution_metadata(nb) -> None:
    """Remove timestamps that say nothing about the outputs (cell ``execution`` records,
    papermill's notebook/cell records), so stored chapters differ only where outputs do."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks into one output, so that stored outputs do
    not depend on how the kernel happened to flush (nbval compares them merged, too)."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


@contextlib.contextmanager
def _interrupts():
    """SIGINT (Ctrl-C) and SIGTERM raise KeyboardInterrupt here and are remembered: a Ctrl-C in a
    terminal also reaches the kernel, whose death nbclient then reports as a failure of the
    chapter; the flag tells an interrupt from a failing chapter."""
    flag = threading.Event()

    def handler(signum, frame):
        flag.set()
        raise KeyboardInterrupt

    sigs = (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.getsignal(sig) for sig in sigs} if main else {}

    def arm() -> None:  # again before each chapter: nbclient resets the handlers after one
        for sig in old:
            signal.signal(sig, handler)

    arm()
    try:
        yield flag, arm
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _execute_each(chs, bar, done: dict, interrupted: threading.Event, arm) -> int:
    """Execute each chapter in turn into ``done``; 1 if one failed, 130 when interrupted."""
    status = 0
    try:
        for ch in bar:
            arm()
            bar.set_postfix_str(ch.name)
            try:
                seconds = execute_notebook(ch.path)
            except Exception as exc:
                if interrupted.is_set():  # the kernel died of the Ctrl-C, not of the chapter
                    raise KeyboardInterrupt from None
                bar.write(f"{ch.name}: FAILED\n  {type(exc).__name__}: {str(exc)[-2000:]}")
                status = 1
                continue  # report and carry on with the other chapters
            over = "  OVER the 60 s budget" if seconds > BUDGET_SECONDS else ""
            bar.write(f"{ch.name}: {seconds:.1f} s{over}")
            done[ch.name] = {"seconds": round(seconds, 1), "title": ch.title}
    except KeyboardInterrupt:
        from stelib.tooling.kernels import quiet_after_interrupt

        quiet_after_interrupt()
        bar.close()
        print(f"\ninterrupted: the chapter being executed was left as it was; "
              f"{len(done)} finished chapter(s) recorded", file=sys.stderr)
        return 130
    return status


def execute(names: list[str] | None = None, *, root: Path = ROOT) -> int:
    """Execute the named chapters (all by default) and record their times; 1 on failure."""
    from tqdm.auto import tqdm

    chs = chapters(root) if not names else [chapter(n, root) for n in names]
    timings = timings_path(root)
    _read_record(timings)  # a corrupt record is reported before anything runs
    done: dict[str, dict] = {}
    bar = tqdm(chs, desc="chapters", unit="chapter", file=sys.stderr, dynamic_ncols=True)
    with _interrupts() as (interrupted, arm):
        status = _execute_each(chs, bar, done, interrupted, arm)
    bar.close()
    if done:  # only chapters that finished change the record, each with its own environment
        env = versions(root)
        with _locked(timings):
            record = _read_record(timings)  # re-read: another execute may have written meanwhile
            times = record.get("chapters", {})
            for name, entry in done.items():
                times[name] = {**entry, "environment": env}
            known = {c.name for c in chapters(root)}
            record = {"chapters": {k: v for k, v in times.items() if k in known},
                      "environment": env, "budget_seconds": BUDGET_SECONDS}
            _write_atomic(timings, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return status


# ------------------------------------------------------------------ Sphinx extension


def _table(header: list[str], rows: list[list[str]]):
    from docutils import nodes

    table = nodes.table(classes=["stelib-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row(cells, head=False):
        r = nodes.row()
        for c in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=c) if not head else nodes.strong(text=c)
            r += entry
        return r

    thead = nodes.thead()
    thead += row(header, head=True)
    tbody = nodes.tbody()
    tbody.extend(row(r) for r in rows)
    group += [thead, tbody]
    return table


INTERACTIVE_MARK = 'class="stelib-interactive"'  # stelib.interactive's figures in a page body


def plotly_js() -> Path:
    """``plotly.min.js`` of the installed ``plotly`` package (MIT), which the book ships under
    ``_static`` for pages with interactive figures; ``RuntimeError`` when not installed."""
    try:
        import plotly
    except ImportError:
        raise RuntimeError("a page has interactive figures (stelib.interactive): install plotly "
                           "(pip install 'stelib[book]')") from None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the plotly package")
    return path


def _interactive_js(app, pagename, templatename, context, doctree):
    """Pages holding interactive figures load ``_static/plotly.min.js`` (in <head>, so the
    figures' own scripts find it); the file is copied there once, from the plotly package."""
    if INTERACTIVE_MARK not in str(context.get("body", "")):
        return
    static = Path(app.outdir) / "_static" / "plotly.min.js"
    if not static.exists():
        import shutil

        static.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js(), static)
    from sphinx.builders.html._assets import _JavaScript

    context["script_files"].append(_JavaScript("_static/plotly.min.js", priority=500))


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """Drop repeated <script> entries (sphinx-thebe registers its config script twice under
    Sphinx 7, and the second ``const THEBE_JS_URL`` is a JavaScript error in every page)."""
    seen, unique = set(), []
    for js in context.get("script_files", []):
        attrs = getattr(js, "attributes", {})
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(attrs.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if "script_files" in context:
        context["script_files"][:] = unique


def _config_inited(app, config):
    """Cache under ``<book>/_build`` whatever the working directory; the student's edition."""
    cache = config["nb_execution_cache_path"] if "nb_execution_cache_path" in config else ""
    if cache and not Path(cache).is_absolute():
        config["nb_execution_cache_path"] = str(Path(app.srcdir) / cache)
    if os.environ.get(STUDENT_ENV) and "hide_solutions" in config:
        config["hide_solutions"] = True


def failed_executions(env) -> dict[str, str]:
    """``{document: error}`` for every notebook myst-nb executed without success in this build."""
    try:
        from myst_nb.sphinx_ import NbMetadataCollector
    except ImportError:  # pragma: no cover - myst-nb is how chapters are executed at all
        return {}
    out = {}
    for doc in sorted(env.found_docs):
        data = NbMetadataCollector.get_exec_data(env, doc)
        if data and not data.get("succeeded", True):
            out[doc] = str(data.get("error") or "execution failed")
    return out


def _build_finished(app, exception):
    """Fail the build (exit status 1, even without -W) when a chapter failed to execute: its
    page would otherwise mix fresh outputs with stale stored ones."""
    if exception is not None:
        return
    from sphinx.util import logging

    failed = failed_executions(app.env)
    for doc, error in failed.items():
        logging.getLogger(__name__).error(f"chapter {doc} failed to execute ({error}); its page "
                                          "is not a result", location=doc)
    if failed:
        app.statuscode = 1
    if getattr(app.config, "hide_solutions", False) and app.builder.format == "html":
        try:  # the student's edition: no solution in any source a reader can download either
            strip_built_sources(Path(app.outdir))
        except (RuntimeError, ValueError, OSError) as exc:
            logging.getLogger(__name__).error(f"student edition: {exc}")
            app.statuscode = 1


HASH_OR_FILE = re.compile(r"(?:^|/)[0-9a-f]{16,}(?:\.\w+)?$|\.(?:png|jpe?g|svg|gif|webp|pdf)$", re.I)


TEX_WORDS = {**{g: chr(c) for g, c in [
    ("alpha", 945), ("beta", 946), ("gamma", 947), ("delta", 948), ("varepsilon", 949),
    ("epsilon", 949), ("eta", 951), ("theta", 952), ("lambda", 955), ("mu", 956), ("pi", 960),
    ("rho", 961), ("sigma", 963), ("tau", 964), ("phi", 966), ("varphi", 966), ("Phi", 934)]},
    "pm": "±", "times": "×", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "infty": "∞",
    "approx": "≈", "to": "→", "cdot": "·", "mathrm": "", "mathbb": "", "operatorname": "",
    "rm": "", "left": "", "right": "", "tfrac": "", "frac": ""}


def caption_alt(caption) -> str:
    """Alt text from a figure caption node: its text on one line, TeX commands of inline
    math reduced to their names (``\\mu'`` -> ``mu'``)."""
    text = re.sub(r"\\([A-Za-z]+)\s*", lambda m: TEX_WORDS.get(m[1], m[1] + " "), caption.astext())
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


def _figure_alt_text(app, doctree, docname):
    """Every image whose alt text is missing or a file name (myst-nb gives a cell's output
    image none, so the HTML showed its hash) gets its figure caption as alt text; an image
    without a caption is a warning (a failure under -W)."""
    from docutils import nodes
    from sphinx.util import logging

    for img in doctree.findall(nodes.image):
        alt = str(img.get("alt", "")).strip()
        if alt and not HASH_OR_FILE.search(alt) and alt != img.get("uri"):
            continue
        fig = img.parent
        while fig is not None and not isinstance(fig, nodes.figure):
            fig = fig.parent
        caption = next(iter(fig.findall(nodes.caption)), None) if fig is not None else None
        if caption is None or not caption.astext().strip():
            logging.getLogger(__name__).warning(
                f"image without a caption or alt text ({Path(str(img.get('uri', ''))).name}): "
                "give the cell a myst-nb figure caption (metadata mystnb.figure.caption)",
                location=img)
            continue
        img["alt"] = caption_alt(caption)


def setup(app):
    """Sphinx entry point: the two generated-content directives and the build checks."""
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    from stelib.tooling import params, specs

    class ParametersDirective(SphinxDirective):
        """One anchored section per chapter (``params-<chapter>``): name, default, allowed
        values, meaning, and the rules spanning parameters."""

        def run(self):
            out = []
            for ch in chapters(Path(self.env.srcdir)):
                self.env.note_dependency(str(ch.path))
                try:
                    spec = specs.get(ch.name)
                except ValueError as exc:  # a chapter without stelib/tooling/specs/<name>.py
                    out.append(self.state.document.reporter.warning(
                        f"{exc} (write stelib/tooling/specs/{ch.name}.py, e.g. with tools/convert_spec.py)",
                        line=self.lineno))
                    continue
                anchor = f"params-{ch.name}"
                section = nodes.rubric(text=f"{ch.name}: {ch.title}", ids=[anchor], names=[anchor])
                self.state.document.note_explicit_target(section)
                ref = nodes.paragraph()
                ref += nodes.Text("Rerun: ")
                ref += nodes.literal(text=f"stelib rerun {ch.name} -p NAME VALUE")
                rows = [[p.name, params.short(p.default), p.allowed, p.comment]
                        for p in params.describe(spec, ch.path)]
                out += [section, ref, _table(["name", "default", "allowed", "meaning"], rows)]
                if spec.rules:
                    rules = nodes.bullet_list()
                    for rule in spec.rules:
                        item = nodes.list_item()
                        item += nodes.paragraph(text=rule.text)
                        rules += item
                    intro = nodes.paragraph(text="Checked together, with the values given:")
                    out += [intro, rules]
            return out

    class ReproducibilityDirective(SphinxDirective):
        """Per-chapter execution times of ``stelib execute``, the versions and git commit."""

        def run(self):
            root = Path(self.env.srcdir)
            path = timings_path(root)
            self.env.note_dependency(str(path))
            record = json.loads(path.read_text()) if path.exists() else {}
            times = record.get("chapters", {})
            rows = []
            for ch in chapters(root):
                t = times.get(ch.name)
                sec = "not yet executed" if t is None else f"{t['seconds']:.1f}"
                ok = "" if t is None else ("yes" if t["seconds"] <= BUDGET_SECONDS else "NO")
                rows.append([ch.name, ch.title, sec, ok])
            total = sum(t["seconds"] for t in times.values())
            rows.append(["total", "", f"{total:.1f}", ""])
            recorded = record.get("environment", {})
            now = versions(root)
            vrows = [[k, recorded.get(k, "-"), now.get(k, "-")]
                     for k in dict.fromkeys([*now, *recorded])]
            return [_table(["chapter", "title", "seconds", f"within {BUDGET_SECONDS:.0f} s"], rows),
                    nodes.rubric(text="Versions"),
                    _table(["package", "when the outputs were stored", "this build"], vrows)]

    app.add_directive("stelib-parameters", ParametersDirective)
    app.add_directive("stelib-reproducibility", ReproducibilityDirective)

    def always_reread(app, env, added, changed, removed):
        return [d for d in ("chapters/rerun", "chapters/reproducibility") if d in env.found_docs]

    app.connect("config-inited", _config_inited, priority=900)
    app.connect("env-get-outdated", always_reread)
    app.connect("html-page-context", _interactive_js, priority=400)
    app.connect("html-page-context", _dedupe_scripts)
    app.connect("build-finished", _build_finished)
    app.connect("doctree-resolved", _figure_alt_text)
    from stelib import __version__

    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": __version__}

