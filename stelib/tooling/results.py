"""``stelib results``: results too expensive for a chapter (:mod:`stelib.stored`).

::

    stelib results compute practice-full [--overwrite] [--output DIR] [--arch A ...] [--seed S ...]
    stelib results check practice-full [--arch A ...] [--seed S ...] [--record]
    stelib results show practice-full

``compute`` runs every unit and writes ``data/<name>.csv`` and its provenance
``data/<name>.json`` into the book (or ``--output DIR``); it refuses to replace a stored result
without ``--overwrite``. ``check`` recomputes (all units, or the ones named) and lists every
number that differs from the stored one: exit 0 when none does, 1 otherwise; ``--record``
appends the outcome to the provenance (``checks``). ``show`` prints the provenance. Bad names exit 2 before anything runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from stelib.tooling.chapters import UsageError, find_root


class _StoredNames:
    """The names of :data:`stelib.stored.NAMES`, read when argparse checks or shows them:
    importing :mod:`stelib.stored` imports PyTorch, which ``stelib --version`` must not wait for."""

    def _names(self) -> list[str]:
        from stelib.analyses import stored

        return list(stored.NAMES)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def _subset(args):
    from stelib.analyses import stored

    p = stored.PRACTICE_FULL
    archs = args.arch or None
    try:
        seeds = [int(s) for s in args.seed] if args.seed else None
    except ValueError:
        raise UsageError(f"--seed {args.seed}: seeds are integers from {p['seeds']}") from None
    for what, vals, allowed in (("--arch", archs, p["archs"]), ("--seed", seeds, p["seeds"])):
        bad = [v for v in vals or () if v not in allowed]
        if bad:
            raise UsageError(f"{what} {bad[0]}: allowed values are {', '.join(map(str, allowed))}")
    return archs, seeds


def _name(args) -> str:
    from stelib.analyses import stored

    if args.name not in stored.NAMES:
        raise UsageError(f"unknown stored result {args.name!r}; known: {', '.join(stored.NAMES)}")
    return args.name


def _directory(args) -> Path:
    from stelib.analyses import stored

    if getattr(args, "output", None):
        out = Path(args.output)
        if not out.is_dir():
            raise UsageError(f"--output {args.output}: not a folder")
        return out
    root = find_root(args.root)
    return stored.data_dir(root) if root is not None else stored.data_dir()


def cmd_results(args) -> int:
    from stelib.analyses import stored

    name, (archs, seeds) = _name(args), _subset(args)
    if getattr(args, "record", False) and args.action != "check":
        raise UsageError(f"--record goes with check, not with {args.action}")
    directory = _directory(args)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.action == "show":
        try:
            _, prov = stored.load(name, directory=directory)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        print(json.dumps(prov, indent=1))
        return 0
    if args.action == "compute":
        target = directory / f"{stored.NAMES[name]}.csv"
        if target.exists() and not args.overwrite:
            raise UsageError(f"{target} exists: pass --overwrite to replace the stored result")
        rows, prov = stored.compute(name, archs=archs, seeds=seeds, progress=say)
        path = stored.write(name, rows, prov, directory=directory, overwrite=args.overwrite)
        print(f"{len(rows)} rows in {path} ({prov['wall_seconds']} s); provenance in {path.with_suffix('.json')}")
        return 0
    try:
        bad = stored.check(name, archs=archs, seeds=seeds, directory=directory, progress=say,
                           record=args.record)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    for r in bad:
        print(" ".join(f"{k}={v}" for k, v in r.items()))
    print(f"{name}: {len(bad)} stored numbers differ from the recomputation")
    return 1 if bad else 0


def add_parser(sub, common) -> None:
    p = sub.add_parser("results", help="results too expensive for a chapter: compute, check, show",
                       parents=[common], description="Compute, check or show a result stored under data/ "
                       "with its provenance (stelib.stored).")
    p.add_argument("action", choices=("compute", "check", "show"))
    p.add_argument("name", metavar="NAME", choices=_StoredNames(), help="one of: %(choices)s")
    p.add_argument("--arch", action="append", help="only this network (repeatable)")
    p.add_argument("--seed", action="append", help="only this seed (repeatable)")
    p.add_argument("--output", metavar="DIR", help="compute: write into DIR instead of the book's data/")
    p.add_argument("--overwrite", action="store_true", help="compute: replace a stored result")
    p.add_argument("--record", action="store_true",
                   help="check: append the outcome to the stored provenance (data/NAME.json)")
    p.set_defaults(func=cmd_results)
