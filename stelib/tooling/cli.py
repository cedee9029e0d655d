"""``stelib``: the book's command line (also ``python -m stelib``).

::

    stelib --version
    stelib list                          # the chapters
    stelib params CHAPTER                # defaults, allowed values, rules
    stelib rerun CHAPTER -p NAME VALUE [-p NAME VALUE ...] [-o DIR] [--overwrite]
    stelib build                         # the HTML book (jupyter-book, -W), into _build/html
    stelib build --student [--pdf]       # without solutions, into _build/student (+ PDFs)
    stelib execute [CHAPTER ...]         # re-execute chapters in place, record their times
    stelib sweep CHAPTER -p NAME V1,V2,... [-p ...] [-o DIR] [--workers N] [--scheduler ADDRESS]
    stelib results compute|check|show NAME   # results too expensive for a chapter (data/)

The book (the folder holding ``_toc.yml`` and ``chapters/``) is ``--root DIR`` if given, else
the working directory or the nearest folder above it that holds ``_toc.yml``, else the
checkout this package was imported from. ``list`` and ``params`` also work without a book
(from the specs in :mod:`stelib.specs`); ``rerun``, ``build`` and ``execute`` need one.

``rerun`` checks the new values against the chapter's spec and its cross-parameter rules
*before* papermill starts, so a bad value costs nothing and leaves no file. The executed
notebook goes to ``DIR/<chapter>-<hash of the parameter values>.ipynb`` (``DIR`` defaults to
``runs/`` in the book; never inside ``chapters/``). It is written to a hidden temporary file in
``DIR`` and moved into place only when every cell has run: an interrupted run (Ctrl-C,
SIGTERM) leaves nothing, a failed run leaves ``<name>.failed.ipynb``, and a run never writes
through an existing file, hard link or symbolic link (``--overwrite`` replaces the name).

Exit status: 0 done, 1 a chapter failed, 2 bad input (a message naming what is wrong), 130
interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

from stelib import __version__
from stelib.tooling import book, chapters, execution, kernels, params, toc
from stelib.tooling.chapters import INTERRUPTED, USAGE_ERROR, UsageError, find_root, output_path

__all__ = ["INTERRUPTED", "USAGE_ERROR", "UsageError", "find_root", "main", "output_path", "parser"]

# ----------------------------------------------------------------------------- list, params


def cmd_list(args) -> int:
    from stelib.tooling import specs

    root = find_root(args.root)
    if root is None:
        print("(no book found: names from stelib.tooling.specs; pass --root DIR for titles and reruns)")
        rows = [(n, "") for n in specs.names()]
    else:
        try:
            rows = [(c.name, c.title) for c in toc.chapters(root)]
        except ValueError as exc:  # a chapter of the table of contents that is not a notebook
            raise UsageError(str(exc)) from None
    width = max((len(r[0]) for r in rows), default=0)
    for name, title in rows:
        print(f"{name:<{width}}  {title}".rstrip())
    return 0


def cmd_params(args) -> int:
    spec = chapters.get_spec(args.chapter)
    root = find_root(args.root)
    if root is None and spec.defaults:  # the spec's defaults and meanings (the cell's, by test)
        rows = [(p.name, params.short(p.default), p.allowed, p.comment) for p in spec.described()]
        title = "(no book found: defaults and meanings from stelib.specs; pass --root DIR to rerun)"
    elif root is None:  # a spec of allowed values only: the defaults are in its notebook
        rows = [(k, "(in the book)", s.describe(), "") for k, s in spec.params.items()]
        title = "(no book found: defaults and meanings are in the chapter's parameters cell)"
    else:
        ch = chapters.get_chapter(args.chapter, root)
        try:
            described = params.describe(spec, ch.path)
        except ValueError as exc:  # e.g. a default that is not a literal
            raise UsageError(f"{ch.path}: {exc}") from None
        rows = [(p.name, params.short(p.default), p.allowed, p.comment) for p in described]
        title = ch.title
    header = ("name", "default", "allowed", "meaning")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    print(f"{spec.name}: {title}\n")
    for r in [header, *rows]:
        print(("  ".join(f"{c:<{w}}" for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3]).rstrip())
    if spec.rules:
        print("\nrules (checked with the values given):")
        for rule in spec.rules:
            print(f"  - {rule.text}")
    print(f"\nrerun with: stelib rerun {spec.name} -p NAME VALUE [-p NAME VALUE ...]")
    return 0


# ------------------------------------------------------------------------------------ rerun


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt while a run is in progress (so it is cleaned up)."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _parse_overrides(pairs: list[tuple[str, str]]) -> dict:
    overrides: dict = {}
    for name, text in pairs:
        if name in overrides:
            raise UsageError(f"parameter {params.short(name)} given twice")
        overrides[name] = params.parse_value(text)
    return overrides


def cmd_rerun(args) -> int:
    root = chapters.need_root(args.root, args.command)
    ch = chapters.get_chapter(args.chapter, root)
    overrides = _parse_overrides(args.param or [])
    try:
        values = params.check_overrides(chapters.get_spec(ch.name), ch.path, overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    outdir = chapters.output_dir(args.output if args.output is not None else str(root / "runs"), root)
    out = output_path(ch, values, outdir)
    if out.is_dir() and not out.is_symlink():
        raise UsageError(f"{out} is a directory; remove it or choose another -o DIR")
    if (out.exists() or out.is_symlink()) and not args.overwrite:
        raise UsageError(f"{out} exists (a run with these parameters); pass --overwrite to replace it")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".partial.ipynb", dir=outdir)
        os.close(fd)
    except OSError as exc:
        raise UsageError(f"cannot write runs into {params.short(str(outdir))}: "
                         f"{exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    changed = {k: chapters.jsonable(v) for k, v in overrides.items()}
    print(f"running {ch.name} with {params.short(changed, 200) if changed else 'default parameters'}"
          f" -> {out}", file=sys.stderr)
    import papermill

    os.environ.pop("MPLBACKEND", None)  # figures inline in the new notebook
    try:
        # The kernel imports ste_modules as the check did and starts quietly (kernels.py); it is
        # shut down at once, not gracefully: an interrupted kernel told to shut down politely
        # prints a ZMQError traceback above the message "interrupted".
        with _sigterm_as_interrupt(), kernels.kernel_path(), kernels.quiet_kernels() as quiet:
            papermill.execute_notebook(str(ch.path), str(tmp), parameters=changed,
                                       kernel_name="python3", progress_bar=not args.no_progress,
                                       cwd=str(ch.path.parent), shutdown_kernel="immediate", **quiet)
        from stelib.tooling import provenance

        prov = provenance.record(ch.path, values, commit=execution.git_commit(root))
        tmp.write_text(provenance.stamp(tmp.read_text(), prov, out))  # what produced this run
        os.chmod(tmp, chapters.file_mode())
        if args.overwrite:
            os.replace(tmp, out)  # atomic; replaces a link itself, never its target
        else:
            try:
                os.link(tmp, out)  # exclusive: fails if a run with these values finished meanwhile
            except FileExistsError:
                print(f"error: {out} appeared while this run was going (another run with the same "
                      f"parameters); it was kept, this run discarded (pass --overwrite to replace)",
                      file=sys.stderr)
                return USAGE_ERROR
    except papermill.PapermillExecutionError as exc:
        failed = out.with_name(f"{out.stem}.failed.ipynb")
        os.replace(tmp, failed)
        print(f"error: chapter {ch.name} failed in cell {exc.exec_count}: {exc.ename}: "
              f"{params.short(exc.evalue, 500)}\nthe partly executed notebook is {failed}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kernels.quiet_after_interrupt()
        print(f"\ninterrupted: {ch.name} was not finished and nothing was written", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # the kernel died (killed, out of memory) or could not start
        failed = out.with_name(f"{out.stem}.failed.ipynb")
        kept = tmp.exists() and tmp.stat().st_size > 0
        if kept:
            os.replace(tmp, failed)
        dead = type(exc).__name__ == "DeadKernelError"
        print(f"error: chapter {ch.name}: {'the kernel died' if dead else 'the run stopped'} "
              f"({type(exc).__name__}: {params.short(str(exc), 300)})"
              + (f"\nthe partly executed notebook is {failed}" if kept else ""), file=sys.stderr)
        return 1
    finally:
        tmp.unlink(missing_ok=True)
    out.with_name(f"{out.stem}.failed.ipynb").unlink(missing_ok=True)  # an earlier failure's
    print(out)
    return 0


# ---------------------------------------------------------------------------- build, execute


def cmd_build(args) -> int:
    root = chapters.need_root(args.root, args.command)
    try:
        import jupyter_book  # noqa: F401
    except ImportError:
        raise UsageError("building the book needs jupyter-book: pip install 'stelib[book]'") from None
    extra = ("--config", str(args.config)) if args.config else ()
    if args.teacher:
        print("note: --teacher is deprecated and builds the student's edition (no solutions): "
              "use --student; the default build, with the solutions, is the teacher's",
              file=sys.stderr)
    return book.build(root=root, extra=extra, student=args.student or args.teacher, pdf=args.pdf)


def cmd_execute(args) -> int:
    root = chapters.need_root(args.root, args.command)
    for name in args.names:
        chapters.get_chapter(name, root)
    try:
        return execution.execute(args.names, root=root)
    except ValueError as exc:  # a corrupt chapters/reproducibility.json, reported before anything runs
        raise UsageError(str(exc)) from None


# ------------------------------------------------------------------------------------ parser


DESCRIPTION = """\
stelib: the book's command line (also python -m stelib). List the chapters, show
a chapter's parameters, rerun it with new values or over a grid of values, build
or re-execute the book."""

EPILOG = """\
The book is the folder holding _toc.yml and chapters/: --root DIR if given, else
the working directory or the nearest folder above it holding both, else the
checkout this package was imported from. list and params also work without a
book; rerun, sweep, build and execute need one.

exit status: 0 done, 1 a chapter failed, 2 bad input (a message naming what is
wrong), 130 interrupted.

`stelib COMMAND --help` describes one command."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stelib", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"stelib {__version__}")
    root_help = "the book's folder (default: found from the working directory)"
    p.add_argument("--root", metavar="DIR", help=root_help)
    common = argparse.ArgumentParser(add_help=False)  # --root also after the command
    common.add_argument("--root", metavar="DIR", default=argparse.SUPPRESS, help=root_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the chapters", parents=[common]).set_defaults(func=cmd_list)
    pp = sub.add_parser("params", help="a chapter's parameters: defaults, allowed values, rules",
                        parents=[common])
    pp.add_argument("chapter")
    pp.set_defaults(func=cmd_params)
    pr = sub.add_parser("rerun", help="execute a chapter with new parameters (papermill)",
                        parents=[common],
                        description="Values are Python literals (3, 0.1, -1e5, True, [1, 2], 'x'), "
                        "inf/-inf/nan, or else plain strings (relu).")
    pr.add_argument("chapter")
    pr.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                    help="set parameter NAME to VALUE (repeatable; VALUE may start with '-')")
    pr.add_argument("-o", "--output", default=None, metavar="DIR",
                    help="directory of the executed notebook (default: runs/ in the book)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing run")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_rerun)
    pb = sub.add_parser("build", help="execute chapters (cached) and build HTML into _build/html",
                        parents=[common])
    pb.add_argument("--student", action="store_true",
                    help="the student's edition: exercise solutions removed from the pages, the "
                    "search index and the downloadable sources (into _build/student); the "
                    "default build, with them, is the teacher's")
    pb.add_argument("--pdf", action="store_true",
                    help="also print each chapter to _build/[student/_build/]pdf/CHAPTER.pdf "
                    "with /usr/bin/chromium")
    pb.add_argument("--teacher", action="store_true", help=argparse.SUPPRESS)  # deprecated
    pb.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    pb.set_defaults(func=cmd_build)
    pe = sub.add_parser("execute", help="re-execute chapters in place with default parameters",
                        parents=[common])
    pe.add_argument("names", nargs="*", metavar="CHAPTER", help="chapter names (default: all)")
    pe.set_defaults(func=cmd_execute)
    from stelib.tooling.results import add_parser as add_results  # here: both import this module
    from stelib.tooling.sweep import add_parser as add_sweep

    add_sweep(sub, common)
    add_results(sub, common)
    return p


def _split_params(argv: list[str]) -> tuple[list[str], list[tuple[str, str]] | None]:
    """Take ``-p NAME VALUE`` out of ``argv`` before argparse sees it (so that ``-inf`` or
    ``-1e5`` is a value, not an option). ``None`` when ``-p`` lacks its two words."""
    rest, pairs = [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i:]
            break
        if a in ("-p", "--param"):
            if i + 2 >= len(argv):
                return argv, None
            pairs.append((argv[i + 1], argv[i + 2]))
            i += 3
            continue
        rest.append(a)
        i += 1
    return rest, pairs


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest, pairs = _split_params(argv)
    p = parser()
    try:
        if pairs is None:
            p.parse_args(argv)  # argparse's own message for an incomplete -p (exit 2)
            p.error("-p needs NAME VALUE")
        args = p.parse_args(rest)
        if pairs and args.command not in ("rerun", "sweep"):
            p.error("-p NAME VALUE belongs to `stelib rerun` and `stelib sweep`")
    except SystemExit as exc:  # --help, --version, argparse errors: their own status
        return exc.code if isinstance(exc.code, int) else USAGE_ERROR
    if args.command in ("rerun", "sweep"):
        args.param = pairs
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        sys.stderr.close()
        return 0
