"""Build the book: the driver behind ``stelib build``, and the book's tooling under one name.

``stelib build`` (``python -m stelib.book build``)
    ``jupyter-book build . -W --keep-going``. Chapters are executed through jupyter-cache
    (``execute: cache`` in ``_config.yml``, the cache in ``_build/.jupyter_cache``), so a
    second build with nothing changed re-runs nothing. On failure the chapters that caused
    errors or warnings are named. The default build is the teacher's edition (exercise
    solutions in dropdowns); ``--student`` builds the student's edition into
    ``_build/student`` and ``--pdf`` also prints each chapter to a PDF handout
    (:mod:`stelib.editions`).

``stelib.book`` is also the book's tooling under one name, as it was before the tooling was
split by idea: it re-exports (the same objects) the chapter list (:mod:`stelib.toc`), executing the
chapters and recording their times (:mod:`stelib.execution`, ``stelib execute``), the
student's edition and the PDF handouts (:mod:`stelib.editions`), the kernels' environment
(:func:`stelib.kernels.kernel_env`) and the Sphinx extension (:mod:`stelib.sphinxext`):
``_config.yml`` names ``stelib.book`` as an extension, so its ``setup`` is
:func:`stelib.sphinxext.setup`. To replace one of those names for a test, patch the module
that defines it, where its functions look it up (``stelib.toc.ROOT``,
``stelib.execution.execute_notebook``); :func:`build` is this module's own.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from stelib.tooling.editions import (
    CHROMIUM,
    PRINT_READY,
    SOLUTION_OPEN,
    STUDENT_ENV,
    print_pdfs,
    strip_built_sources,
    strip_notebook_solutions,
    strip_solutions,
)
from stelib.tooling.editions import _print_pdfs as _print_pdfs
from stelib.tooling.editions import _strip_lines as _strip_lines
from stelib.tooling.execution import (
    BUDGET_SECONDS,
    PACKAGES,
    TIMINGS,
    execute,
    execute_notebook,
    git_commit,
    merge_streams,
    strip_execution_metadata,
    timings_path,
    versions,
)
from stelib.tooling.execution import _execute_each as _execute_each
from stelib.tooling.execution import _interrupts as _interrupts
from stelib.tooling.execution import _locked as _locked
from stelib.tooling.execution import _read_record as _read_record
from stelib.tooling.execution import _write_atomic as _write_atomic
from stelib.tooling.kernels import kernel_env
from stelib.tooling.sphinxext import (
    HASH_OR_FILE,
    INTERACTIVE_MARK,
    TEX_WORDS,
    caption_alt,
    failed_executions,
    plotly_js,
    setup,
)
from stelib.tooling.sphinxext import _build_finished as _build_finished
from stelib.tooling.sphinxext import _config_inited as _config_inited
from stelib.tooling.sphinxext import _dedupe_scripts as _dedupe_scripts
from stelib.tooling.sphinxext import _figure_alt_text as _figure_alt_text
from stelib.tooling.sphinxext import _interactive_js as _interactive_js
from stelib.tooling.sphinxext import _table as _table
from stelib.tooling.toc import CHAPTER_DIR, ROOT, TOC, Chapter, chapter, chapters, toc_files
from stelib.tooling.toc import _title as _title

__all__ = [
    "BUDGET_SECONDS", "CHAPTER_DIR", "CHAPTER_DOC", "CHROMIUM", "Chapter", "HASH_OR_FILE", "INTERACTIVE_MARK",
    "JB_MAIN", "PACKAGES", "PRINT_READY", "ROOT", "SOLUTION_OPEN", "STUDENT_ENV", "TEX_WORDS", "TIMINGS", "TOC",
    "WARNING", "build", "caption_alt", "chapter", "chapters", "execute", "execute_notebook", "failed_executions",
    "failing_chapters", "git_commit", "kernel_env", "merge_streams", "plotly_js", "print_pdfs", "setup",
    "strip_built_sources", "strip_execution_metadata", "strip_notebook_solutions", "strip_solutions",
    "timings_path", "toc_files", "versions",
]

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
    index and every downloadable source (:mod:`stelib.editions`), into
    ``root/_build/student/_build/html`` unless ``output`` is given. The default is the
    teacher's edition, with the solutions. ``pdf``: then print every chapter to
    ``<output>/_build/pdf/<chapter>.pdf`` (:func:`stelib.editions.print_pdfs`).
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
