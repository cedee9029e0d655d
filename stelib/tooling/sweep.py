r"""Parameter sweeps: one chapter executed over a grid of parameter values, on one machine or many.

::

    stelib sweep CHAPTER -p NAME V1,V2,... [-p NAME ...] [-o DIR] [--workers N] [--scheduler ADDRESS]

Every combination of the given values is one *grid point*. Before anything runs, every point
is checked against the chapter's spec and rules (:func:`stelib.params.check_overrides`, as
``rerun`` does): one bad value stops the sweep with a message naming the point and the
parameter, and nothing is written. Each point is then executed with papermill into
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
first 12) against the first swept parameter, one line per combination of the others. Every file is written to a temporary name and
renamed, so a reader never sees half a file.

Points run locally, ``--workers`` at a time (default: half the CPU cores), each in its own
Jupyter kernel process, or, with
``--scheduler``, on a Dask distributed cluster (``pip install stelib[sweep]``): the workers
receive the notebook's text and send the executed notebook back, so they need stelib and the
chapter's packages but no shared file system. The client alone writes files.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import itertools
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stelib.tooling import book, chapters, kernels, params, provenance
from stelib.tooling.chapters import output_path
from stelib.tooling.chapterspec import ChapterSpec

CONFIRM_ABOVE = 100  # a larger grid runs only with --yes (or a "y" at the terminal)
RECORD_PREFIX = "application/papermill.record/"
RECORD_JSON = "application/papermill.record+json"  # papermill's own pm.record


@dataclass(frozen=True)
class Point:
    """One grid point: the swept ``overrides``, the full parameter set ``values``, its file."""

    overrides: dict[str, Any]
    values: dict[str, Any]
    path: Path


@dataclass
class SweepResult:
    """What a sweep did: one ``rows`` entry per point (parameters, status, glued scalars)."""

    points: list[Point]
    rows: list[dict[str, Any]]
    csv: Path
    figure: Path | None
    failed: list[Point] = field(default_factory=list)


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


def _spec(chapter: book.Chapter, spec: ChapterSpec | None) -> ChapterSpec:
    from stelib.tooling import specs

    return specs.get(chapter.name) if spec is None else spec


def grid_points(chapter: book.Chapter, grid: Mapping[str, Sequence[Any]], outdir: Path,
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


def run_point(source: str, parameters: dict[str, Any], cwd: str | None) -> tuple[bool, str | None, str]:
    """Execute one notebook (its JSON text) with ``parameters``: ``(ok, executed JSON, error)``.

    Runs in a local worker thread or on a Dask worker; writes only to its own temporary directory.
    """
    import logging

    import nbformat
    import papermill

    os.environ.pop("MPLBACKEND", None)  # figures inline, as rerun does
    logging.getLogger("papermill").setLevel(logging.ERROR)  # not its notes on parameter comments
    nb = nbformat.reads(source, as_version=4)
    # The kernel starts in cwd (nbclient's resources path). papermill's own cwd= would chdir the
    # whole process, which races between worker threads and can leave it in another folder.
    where = {"resources": {"metadata": {"path": cwd}}} if cwd and Path(cwd).is_dir() else {}
    with tempfile.TemporaryDirectory() as tmp, kernels.quiet_kernels() as quiet:
        out = Path(tmp) / "run.ipynb"
        try:
            papermill.execute_notebook(nb, str(out), parameters=parameters, kernel_name="python3",
                                       progress_bar=False, **where, **quiet)
            ok, err = True, ""
        except papermill.PapermillExecutionError as exc:
            ok, err = False, f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        except Exception as exc:  # a kernel that died, a bad notebook: reported, the sweep goes on
            ok, err = False, f"{type(exc).__name__}: {exc}"
        text = out.read_text() if out.exists() else None
    return ok, text, err


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


def _execute(todo: list[Point], source: str, cwd: str, workers: int, scheduler: str | None,
             done: Callable[[Point, bool, str | None, str], None]) -> None:
    """Run the points on local processes or a Dask cluster, calling ``done`` as each finishes."""
    if scheduler is None:
        # Threads suffice: each point runs in its own kernel process, the thread only drives it.
        # (A process pool would re-import a calling script without a main guard, or fork a
        # process that holds PyTorch's threads.)
        from concurrent.futures import ThreadPoolExecutor, as_completed

        pool = ThreadPoolExecutor(max_workers=workers)
        futures = {pool.submit(run_point, source, _plain(p.overrides), cwd): p for p in todo}
        try:
            for fut in as_completed(futures):
                exc = fut.exception()
                done(futures[fut], *(fut.result() if exc is None else (False, None, f"{type(exc).__name__}: {exc}")))
        except KeyboardInterrupt:  # Ctrl-C: start nothing more, end the running kernels
            for fut in futures:
                fut.cancel()
            _end_kernels()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = {client.submit(run_point, source, _plain(p.overrides), cwd, pure=False): p for p in todo}
        for fut in as_completed(futures):
            if fut.status == "finished":
                done(futures[fut], *fut.result())
            else:
                done(futures[fut], False, None, f"{type(fut.exception()).__name__}: {fut.exception()}")


def _end_kernels(grace: float = 3.0) -> None:
    """Terminate the Jupyter kernels this process started (then kill what is left after
    ``grace`` seconds): their worker threads then return at once with an error."""
    import psutil

    kernels = [c for c in psutil.Process().children(recursive=True)
               if "ipykernel" in " ".join(_cmdline(c))]
    for k in kernels:
        with contextlib.suppress(psutil.Error):
            k.terminate()
    _, alive = psutil.wait_procs(kernels, timeout=grace)
    for k in alive:
        with contextlib.suppress(psutil.Error):
            k.kill()


def _cmdline(proc) -> list[str]:
    try:
        return proc.cmdline()
    except Exception:  # a process that ended or is not ours to read
        return []


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: ``result`` holds what finished (its CSV is written)."""

    def __init__(self, result: SweepResult):
        super().__init__("interrupted")
        self.result = result


def run(chapter: book.Chapter, grid: Mapping[str, Sequence[Any]], outdir: Path, *, workers: int | None = None,
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
    commit, library = book.git_commit(chapter.path.parent.parent), provenance.library_hash()
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


def earlier_rows(chapter: book.Chapter, outdir: Path, known: set[Path], names: list[str],
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
