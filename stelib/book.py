"""Build, execute and describe the book: the driver behind ``make book`` and ``make execute``.

``python -m stelib.book build``
    ``jupyter-book build . -W --keep-going``. Chapters are executed through jupyter-cache
    (``execute: cache`` in ``_config.yml``), so a second build with nothing changed re-runs
    nothing. On failure the chapters that caused errors or warnings are named.
``python -m stelib.book execute [NAME ...]``
    Re-execute chapters in place with their default parameters (stored outputs are the book's
    promise, checked by nbval) and record each one's wall-clock time, with the package
    versions, in ``chapters/reproducibility.json`` (read by the Reproducibility page).

The chapter list is ``_toc.yml``: every ``.ipynb`` listed there is a chapter, so adding a
chapter is one ``- file: chapters/NAME`` line. This module is also a Sphinx extension (listed
in ``_config.yml``) providing the directives ``stelib-parameters`` (the parameter reference
of every chapter, read from the notebooks) and ``stelib-reproducibility`` (execution times
and versions from ``chapters/reproducibility.json`` and the build environment).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
CHAPTER_DIR = ROOT / "chapters"
TIMINGS = CHAPTER_DIR / "reproducibility.json"
BUDGET_SECONDS = 60.0
PACKAGES = ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "papermill", "nbclient",
            "ipykernel", "jupyter-book", "myst-nb", "jupyter-cache", "sphinx", "nbval")


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

    for cell in nbformat.read(str(path), as_version=4).cells:
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
          extra: tuple[str, ...] = ()) -> int:
    """Run ``jupyter-book build -W --keep-going``; print a summary naming failing chapters."""
    cmd = [sys.executable, "-c", JB_MAIN, "build", str(root), "-W", "--keep-going", *extra]
    if config is not None:
        cmd += ["--config", str(config)]
    if output is not None:
        cmd += ["--path-output", str(output)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=kernel_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
    rc = proc.wait()
    seconds = time.perf_counter() - t0
    if rc == 0:
        print(f"\nbook built in {seconds:.1f} s: {(output or root) / '_build' / 'html' / 'index.html'}")
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


# ---------------------------------------------------------------------------------- execute


def versions() -> dict[str, str]:
    """Python, platform and the installed versions of the packages the book depends on."""
    out = {"python": platform.python_version(), "platform": platform.platform(),
           "cpus": str(os.cpu_count())}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def execute_notebook(path: Path, *, timeout: int = 600) -> float:
    """Execute ``path`` in place (cwd = its folder) with default parameters; return seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    os.environ.pop("MPLBACKEND", None)  # the kernel inherits this process's environment
    t0 = time.perf_counter()
    client.execute(env=kernel_env())
    seconds = time.perf_counter() - t0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(nb, str(path))
    return seconds


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


def execute(names: list[str] | None = None, *, root: Path = ROOT) -> int:
    """Execute the named chapters (all by default) and record their times; 1 on failure."""
    chs = chapters(root) if not names else [chapter(n, root) for n in names]
    record = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    times = record.get("chapters", {})
    status = 0
    for ch in chs:
        print(f"executing {ch.name} ...", end=" ", flush=True)
        try:
            seconds = execute_notebook(ch.path)
        except Exception as exc:  # report and carry on with the other chapters
            print(f"FAILED\n  chapter {ch.name}: {type(exc).__name__}: {str(exc)[-2000:]}")
            status = 1
            continue
        over = "  OVER the 60 s budget" if seconds > BUDGET_SECONDS else ""
        print(f"{seconds:.1f} s{over}")
        times[ch.name] = {"seconds": round(seconds, 1), "title": ch.title}
    known = {c.name for c in chapters(root)}
    record = {"chapters": {k: v for k, v in times.items() if k in known},
              "environment": versions(), "budget_seconds": BUDGET_SECONDS}
    TIMINGS.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
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


def setup(app):
    """Sphinx entry point: the two generated-content directives."""
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    from stelib import params, specs

    class ParametersDirective(SphinxDirective):
        """One section per chapter: name, default, allowed values, meaning."""

        def run(self):
            out = []
            for ch in chapters(Path(self.env.srcdir)):
                self.env.note_dependency(str(ch.path))
                section = nodes.rubric(text=f"{ch.name}: {ch.title}")
                ref = nodes.paragraph()
                ref += nodes.Text("Chapter: ")
                ref += nodes.literal(text=f"python -m stelib rerun {ch.name} -p NAME VALUE")
                rows = [[p.name, repr(p.default), p.allowed, p.comment]
                        for p in params.describe(specs.get(ch.name), ch.path)]
                out += [section, ref, _table(["name", "default", "allowed", "meaning"], rows)]
            return out

    class ReproducibilityDirective(SphinxDirective):
        """Per-chapter execution times of ``make execute`` and the package versions."""

        def run(self):
            path = Path(self.env.srcdir) / TIMINGS.relative_to(ROOT)
            self.env.note_dependency(str(path))
            record = json.loads(path.read_text()) if path.exists() else {}
            times = record.get("chapters", {})
            rows = []
            for ch in chapters(Path(self.env.srcdir)):
                t = times.get(ch.name)
                sec = "not yet executed" if t is None else f"{t['seconds']:.1f}"
                ok = "" if t is None else ("yes" if t["seconds"] <= BUDGET_SECONDS else "NO")
                rows.append([ch.name, ch.title, sec, ok])
            total = sum(t["seconds"] for t in times.values())
            rows.append(["total", "", f"{total:.1f}", ""])
            recorded = record.get("environment", {})
            now = versions()
            vrows = [[k, recorded.get(k, "-"), now.get(k, "-")] for k in now]
            return [_table(["chapter", "title", "seconds", f"within {BUDGET_SECONDS:.0f} s"], rows),
                    nodes.rubric(text="Versions"),
                    _table(["package", "when the outputs were stored", "this build"], vrows)]

    app.add_directive("stelib-parameters", ParametersDirective)
    app.add_directive("stelib-reproducibility", ReproducibilityDirective)

    def always_reread(app, env, added, changed, removed):
        return [d for d in ("chapters/rerun", "chapters/reproducibility") if d in env.found_docs]

    app.connect("env-get-outdated", always_reread)
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stelib.book",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="execute chapters (cached) and build HTML into _build/html")
    ex = sub.add_parser("execute", help="re-execute chapters in place with default parameters")
    ex.add_argument("names", nargs="*", help="chapter names (default: all)")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build()
    return execute(args.names)


if __name__ == "__main__":
    sys.exit(main())
