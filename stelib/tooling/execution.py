"""Execute the book's chapters in place and record how long each took: ``stelib execute``.

``stelib execute [NAME ...]`` (``python -m stelib.book execute``)
    Re-execute chapters in place with their default parameters (stored outputs are the book's
    promise, checked by nbval) and record each one's wall-clock time, with the package
    versions and the git commit, in ``chapters/reproducibility.json`` (read by the
    Reproducibility page, :mod:`stelib.sphinxext`).

A chapter is executed by nbclient in a kernel of its own (:mod:`stelib.kernels`), then stored
without the timestamps that say nothing about its outputs and with consecutive stream outputs
merged, so stored chapters differ only where outputs do. Only chapters that finished change
the record, each with its own environment (:func:`versions`); the record is written atomically
under a lock, so concurrent runs do not lose each other's times. Ctrl-C (or SIGTERM) stops
after recording the chapters that finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

from stelib.tooling.kernels import kernel_env
from stelib.tooling.toc import CHAPTER_DIR, ROOT, chapter, chapters

TIMINGS = CHAPTER_DIR / "reproducibility.json"  # of this checkout; timings_path(root) in general
BUDGET_SECONDS = 60.0
# Every package that decides a printed digit or a stored output (numerics, data, formatting,
# the kernel and the text nbval compares), then the book's tool chain.
PACKAGES = ("stelib", "torch", "numpy", "scipy", "numba", "llvmlite", "pandas",
            "matplotlib", "plotly", "pillow", "ipython", "ipykernel", "jupyter-client", "nbformat",
            "nbclient", "papermill", "jupyter-book", "myst-nb", "jupyter-cache", "sphinx",
            "sphinx-book-theme", "sphinx-proof", "sphinx-exercise", "nbval")


def timings_path(root: Path = ROOT) -> Path:
    """``chapters/reproducibility.json`` of the book at ``root``."""
    return root / "chapters" / "reproducibility.json"


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
