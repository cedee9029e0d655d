r"""Parameter sweeps: one chapter executed over a grid of parameter values, on one machine or many.

::

    stelib sweep CHAPTER -p NAME V1,V2,... [-p NAME ...] [-o DIR] [--workers N] [--scheduler ADDRESS]

Every combination of the given values is one *grid point*. Before anything runs, every point
is checked against the chapter's spec and rules (:func:`stelib.params.check_overrides`, as
``rerun`` does; :mod:`stelib.sweep_grid`): one bad value stops the sweep with a message naming
the point and the parameter, and nothing is written. Each point is then executed with papermill into
``DIR/<chapter>-<hash of the parameter values>.ipynb`` -- the file name ``rerun`` gives the
same values (:func:`stelib.chapters.output_path`) -- so a second call skips the points already
finished and a sweep that was interrupted continues where it stopped. A finished point is
reused only when the provenance recorded in its metadata (:mod:`stelib.provenance`: stelib's
version and source, the chapter, any user STE module, the parameters) matches; otherwise it is
run again and the log says why (a truncated or foreign file under a point's name counts as
unfinished). A point that fails is
reported, its partly executed notebook kept as ``...-<hash>.failed.ipynb`` (retried on the
next call), and the others go on.

Every scalar the chapter glues (``myst_nb.glue``; papermill's ``record`` too) is read back
from the executed notebooks into one table, ``DIR/sweep.csv``: one row per grid point, the
swept parameters as the first columns, then ``status``, ``notebook`` and the glued names (one
that equals a column name gets the prefix ``glued ``); below them one row for each finished run
of an earlier sweep in the folder whose provenance still matches (status ``ok (earlier
sweep)``, with the parameters in which it differs from the defaults). One
summary figure, ``DIR/sweep.png``, plots each glued number that changes over the grid (the
first 12) against the first swept parameter, one line per combination of the others
(:mod:`stelib.sweep_table`). Every file is written to a temporary name and renamed, so a
reader never sees half a file.

Points run locally, ``--workers`` at a time (default: half the CPU cores), each in its own
Jupyter kernel process, or, with
``--scheduler``, on a Dask distributed cluster (``pip install stelib[sweep]``): the workers
receive the notebook's text and send the executed notebook back, so they need stelib and the
chapter's packages but no shared file system (:mod:`stelib.sweep_workers`). The client alone
writes files.

This module runs a sweep (:func:`run`) and is the ``stelib sweep`` command (:func:`cmd_sweep`);
it also gives every name of the three modules above, the same objects, as before they were
split from it (``stelib.sweep.glued_scalars``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stelib.tooling import chapters, execution, kernels, params, provenance
from stelib.tooling.chapterspec import ChapterSpec
from stelib.tooling.sweep_grid import Point, grid_points, parse_grid, split_values
from stelib.tooling.sweep_grid import _key as _key
from stelib.tooling.sweep_grid import _plain as _plain
from stelib.tooling.sweep_grid import _spec as _spec
from stelib.tooling.sweep_table import _NUMPY_SCALAR as _NUMPY_SCALAR
from stelib.tooling.sweep_table import RECORD_JSON, RECORD_PREFIX, earlier_rows, glued_scalars, write_csv
from stelib.tooling.sweep_table import _cell as _cell
from stelib.tooling.sweep_table import _literal as _literal
from stelib.tooling.sweep_table import _number as _number
from stelib.tooling.sweep_table import _varies as _varies
from stelib.tooling.sweep_table import _write_atomic as _write_atomic
from stelib.tooling.sweep_table import _write_figure as _write_figure
from stelib.tooling.sweep_workers import _cmdline as _cmdline
from stelib.tooling.sweep_workers import _end_kernels as _end_kernels
from stelib.tooling.sweep_workers import _execute as _execute
from stelib.tooling.sweep_workers import run_point
from stelib.tooling.toc import Chapter

__all__ = ["CONFIRM_ABOVE", "RECORD_JSON", "RECORD_PREFIX", "Point", "SweepInterrupted", "SweepResult", "add_parser",
           "cmd_sweep", "earlier_rows", "glued_scalars", "grid_points", "parse_grid", "run", "run_point",
           "split_values", "write_csv"]

CONFIRM_ABOVE = 100  # a larger grid runs only with --yes (or a "y" at the terminal)


@dataclass
class SweepResult:
    """What a sweep did: one ``rows`` entry per point (parameters, status, glued scalars)."""

    points: list[Point]
    rows: list[dict[str, Any]]
    csv: Path
    figure: Path | None
    failed: list[Point] = field(default_factory=list)


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: ``result`` holds what finished (its CSV is written)."""

    def __init__(self, result: SweepResult):
        super().__init__("interrupted")
        self.result = result


def run(chapter: Chapter, grid: Mapping[str, Sequence[Any]], outdir: Path, *, workers: int | None = None,
        scheduler: str | None = None, spec: ChapterSpec | None = None, log=None) -> SweepResult:
    """Execute ``chapter`` over ``grid``, skip finished points, write ``sweep.csv`` and ``sweep.png``.

    ``spec`` defaults to the chapter's spec in :mod:`stelib.specs`. Progress and failures go to
    ``log`` (default: standard error).
    """
    log = sys.stderr if log is None else log
    points = grid_points(chapter, grid, outdir, spec)  # every point validated before anything runs
    if workers is None:
        workers = max(1, (os.cpu_count() or 2) // 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} must be an integer >= 1")
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    commit, library = execution.git_commit(chapter.path.parent.parent), provenance.library_hash()
    prov = {p.path: provenance.record(chapter.path, p.values, commit=commit, library=library) for p in points}
    todo = []
    for p in points:
        why = provenance.mismatch(p.path, prov[p.path]) if p.path.exists() else "not run yet"
        if why is None:
            print(f"skip (finished): {_plain(p.overrides)} -> {p.path.name} (same provenance)", file=log)
        else:
            todo.append(p)
            if p.path.exists():
                print(f"rerun ({why}): {_plain(p.overrides)} -> {p.path.name}", file=log)
    failed: list[Point] = []
    errors: dict[Path, str] = {}
    interrupted = False

    def done(p: Point, ok: bool, text: str | None, err: str) -> None:
        target = p.path if ok else p.path.with_suffix(".failed.ipynb")
        if text is not None:
            text = provenance.stamp(text, prov[p.path], target)
            _write_atomic(target, lambda tmp: tmp.write_text(text))
        if ok:
            p.path.with_suffix(".failed.ipynb").unlink(missing_ok=True)
            print(f"done: {_plain(p.overrides)} -> {p.path.name}", file=log)
        else:
            failed.append(p)
            errors[p.path] = err
            print(f"FAILED: {_plain(p.overrides)}: {err}" + (f" (see {target.name})" if text else ""), file=log)

    if todo:
        print(f"running {len(todo)} of {len(points)} grid points of {chapter.name} "
              f"({'on ' + scheduler if scheduler else f'{workers} local workers'})", file=log)
        try:
            with kernels.kernel_path():  # local kernels import ste_modules as the parameter check did
                _execute(todo, chapter.path.read_text(), str(chapter.path.parent), workers, scheduler, done)
        except KeyboardInterrupt:
            kernels.quiet_after_interrupt()
            interrupted = True
            print("interrupted: no new grid point is started; finished ones are kept", file=log)
    rows = []
    for p in points:
        row = {k: _cell(v) for k, v in p.overrides.items()}
        if p.path.exists() and provenance.mismatch(p.path, prov[p.path]) is None:
            row |= {"status": "ok", "notebook": p.path.name}
            row |= {(k if k not in row else f"glued {k}"): v for k, v in glued_scalars(p.path).items()}
        else:
            why = errors.get(p.path, "interrupted" if interrupted else "not run")
            row |= {"status": "failed: " + why, "notebook": ""}
        rows.append(row)
    earlier = earlier_rows(chapter, outdir, {p.path for p in points}, list(grid), commit, library)
    if earlier:  # finished runs of earlier sweeps in this folder join the table
        shown = set(grid) | {k for r in earlier for k in r}
        for p, row in zip(points, rows, strict=True):
            row |= {k: _cell(v) for k, v in p.values.items() if k in shown and k not in row}
    csv_path = outdir / "sweep.csv"
    _write_atomic(csv_path, lambda tmp: write_csv(rows + earlier, tmp))
    fig_path = outdir / "sweep.png"
    drawn = _write_figure(rows, list(grid), fig_path)
    if not drawn:  # nothing to draw this time: no figure of an earlier sweep beside the table
        fig_path.unlink(missing_ok=True)
    result = SweepResult(points, rows, csv_path, fig_path if drawn else None, failed)
    if interrupted:
        raise SweepInterrupted(result)
    return result


def add_parser(sub, common) -> None:
    """Register ``sweep`` on the subcommands of :func:`stelib.cli.parser` (``common``: --root)."""
    p = sub.add_parser("sweep", help="execute a chapter over a grid of parameter values", parents=[common],
                       description="Values are read as by rerun; V1,V2,... are split at commas outside "
                       "brackets and quotes, so -p scales '[0.1, 4],[1, 2]' gives two lists.")
    p.add_argument("chapter")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "V1,V2,..."),
                   help="values of parameter NAME (repeatable: the grid is every combination)")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="directory of the notebooks, sweep.csv and sweep.png (default: runs/sweep-CHAPTER in the book)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="points run at once, each in its own kernel (default: half the CPU cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on this Dask distributed scheduler (e.g. tcp://host:8786) instead")
    p.add_argument("--yes", action="store_true",
                   help=f"run a grid of more than {CONFIRM_ABOVE} points without asking")
    p.set_defaults(func=cmd_sweep)


def _check_writable(outdir: Path, error) -> None:
    """Before any point runs: a file can be written into ``outdir``, or, while it does not
    exist yet, a folder into its nearest existing parent (nothing is left behind); ``error``
    otherwise."""
    outdir = Path(outdir)
    base = next((p for p in (outdir, *outdir.parents) if p.exists()), None)
    try:
        if base is None:
            raise OSError(f"no existing folder above {outdir}")
        probe = Path(tempfile.mkdtemp(dir=base, prefix=".write-test-"))
        probe.rmdir()
    except OSError as exc:
        raise error(f"cannot write into {params.short(str(outdir))}: {exc.strerror or exc}") from None


def _check_scheduler(address: str, error, timeout: float = 5.0) -> None:
    """Parse ``address`` and connect to it within ``timeout`` seconds, before anything is
    written; ``error`` with a message otherwise (a malformed address, a dead port, a server that
    is not a Dask scheduler, such as its dashboard one port away)."""
    try:
        from distributed.comm.addressing import parse_address
    except ImportError:
        raise error("--scheduler needs Dask's distributed package: pip install 'stelib[sweep]'") from None
    try:
        parse_address(address)
    except ValueError as exc:
        raise error(f"--scheduler {address!r}: {exc}") from None
    # In a child process with a hard limit: a server that is not a Dask scheduler (an HTTP
    # dashboard) can hold the handshake far beyond Client's own timeout.
    import subprocess

    code = ("import sys, logging; logging.disable(logging.CRITICAL); from distributed import Client; "
            f"Client(sys.argv[1], timeout={timeout!r}).close()")
    try:
        proc = subprocess.run([sys.executable, "-c", code, address], capture_output=True, text=True,
                              timeout=timeout + 6)
        why = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["no answer"])[-1]
    except subprocess.TimeoutExpired:
        why = "no answer"
    if why is not None:
        if why.startswith("ValueError"):
            raise error(f"--scheduler {address!r}: {why}")
        raise error(f"--scheduler {address}: no Dask scheduler answered within {timeout:g} s ({why[:200]}); "
                    f"check the address (the dashboard port is not the scheduler's)")


def cmd_sweep(args) -> int:
    """``python -m stelib sweep``: exit 0 when every point succeeded, 1 when some failed, 2 on bad input."""
    root = chapters.need_root(args.root, args.command)
    chapter = chapters.get_chapter(args.chapter, root)
    spec = chapters.get_spec(chapter.name)
    outdir = chapters.output_dir(args.output if args.output is not None else str(root / "runs" / f"sweep-{chapter.name}"),
                             root)
    try:
        grid = parse_grid(args.param or [])
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers {args.workers} must be an integer >= 1")
        points = grid_points(chapter, grid, outdir, spec)  # validate everything before touching the disk
    except ValueError as exc:
        raise chapters.UsageError(str(exc)) from None
    cores = os.cpu_count() or 1
    if args.workers is not None and args.workers > cores and args.scheduler is None:
        print(f"warning: --workers {args.workers} is more than the {cores} CPU cores; points will "
              f"compete for them", file=sys.stderr)
    print(f"{len(points)} grid points", file=sys.stderr)
    if len(points) > CONFIRM_ABOVE and not args.yes:
        if not sys.stdin.isatty():
            raise chapters.UsageError(f"{len(points)} grid points is more than {CONFIRM_ABOVE}: pass --yes to run them")
        if input(f"run {len(points)} grid points? [y/N] ").strip().lower() not in ("y", "yes"):
            raise chapters.UsageError("not confirmed; nothing was run")
    if args.scheduler is not None:
        _check_scheduler(args.scheduler, chapters.UsageError)
    _check_writable(outdir, chapters.UsageError)
    try:
        result = run(chapter, grid, outdir, workers=args.workers, scheduler=args.scheduler, spec=spec)
    except SweepInterrupted as stop:
        finished = sum(r.get("status") == "ok" for r in stop.result.rows)
        print(f"interrupted: {finished} of {len(stop.result.points)} grid points finished (in "
              f"{stop.result.csv}); the same command continues with the others", file=sys.stderr)
        return chapters.INTERRUPTED
    ok = len(result.points) - len(result.failed)
    print(f"{ok} of {len(result.points)} grid points finished, {len(result.failed)} failed")
    print(result.csv)
    if result.figure is not None:
        print(result.figure)
    return 1 if result.failed else 0
