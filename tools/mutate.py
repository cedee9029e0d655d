"""Mutation testing of the library: does each module's test file notice a one-operator change?

    python tools/mutate.py                      # every module, a fixed sample per module
    python tools/mutate.py --modules ste gaussian --per-module 0   # all mutants of two modules
    python tools/mutate.py --list --modules ste  # list the mutants, run nothing
    python tools/mutate.py --modules ste --rerun run.json   # only the survivors of a saved run

Each mutant is one semantic change on one line of ``stelib/<layer>/<module>.py``: a comparison made
strict or non-strict (``<`` <-> ``<=``, ``==`` <-> ``!=``, ``in`` <-> ``not in``), an arithmetic
operator swapped (``+`` <-> ``-``, ``*`` <-> ``/``, ``**`` -> ``*``, ``&`` <-> ``|``), ``and`` <->
``or``, a unary minus or ``not`` dropped, ``True`` <-> ``False``, an integer constant + 1 or a
float constant x 1.01 (0.0 -> 1.0). Strings, f-strings, ``raise`` statements (messages),
annotations, ``__all__`` and default argument values are left alone.

The mutants of a module run against the test files that cover it (``MODULE_TESTS`` plus
``tests/test_bad_inputs.py``; the chapters' nbval tests are never run). The parent process
imports the third-party modules once and forks one child per mutant (``--jobs`` at a time);
the child puts a copy of the package with the mutated file first on ``sys.path`` (and on
``PYTHONPATH`` for subprocesses), makes the copy's folder a book root (links to the checkout's
``_toc.yml``, ``chapters/`` entries and other top-level files: ``stelib.toc.ROOT`` is the
package's parent), works there, and runs pytest with ``-x``, fastest tests first (timed on
the unmutated run). A failing test, a collection error or a timeout kills the mutant. The
sample per module is fixed by ``--seed``; ``--report run.json`` reprints a saved run.

Mutants judged equivalent (no test can tell them apart from the original) are listed with a
reason in ``tools/mutate_equivalent.txt``, one ``key  # reason`` per line, the key being
``module|source line|change`` (``#k`` appended for the k-th same change on one line); they
are left out of the score. The score per module and in total is killed / (mutants -
equivalent).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "stelib"
EQUIV_FILE = ROOT / "tools" / "mutate_equivalent.txt"

COMMON = ["tests/test_bad_inputs.py", "tests/test_results_frozen.py"]
MODULE_TESTS: dict[str, list[str]] = {
    "_closedform": ["tests/test_gaussian.py", "tests/test_misspecified.py", "tests/test_closedform.py",
                    "tests/test_sync_free.py"],
    "_validate": ["tests/test_params_edges.py", "tests/test_ste.py", "tests/test_validate_edges.py"],
    "distributions": ["tests/test_distributions.py", "tests/test_library_bounds.py"],
    "fields": ["tests/test_fields.py"],
    "gaussian": ["tests/test_gaussian.py", "tests/test_closedform.py", "tests/test_gaussian_descent.py"],
    "general_inputs": ["tests/test_general_inputs.py", "tests/test_general_inputs_checks.py"],
    "gi_fixed_points": ["tests/test_general_inputs.py", "tests/test_general_inputs_checks.py"],
    "gi_laws": ["tests/test_general_inputs.py", "tests/test_general_inputs_checks.py"],
    "gi_quadrature": ["tests/test_general_inputs.py", "tests/test_general_inputs_checks.py"],
    "gi_samples": ["tests/test_general_inputs.py", "tests/test_general_inputs_checks.py"],
    "gi_stationary": ["tests/test_general_inputs.py", "tests/test_general_inputs_checks.py"],
    "misspecified": ["tests/test_misspecified.py", "tests/test_closedform.py"],
    "montecarlo": ["tests/test_montecarlo.py", "tests/test_closedform.py", "tests/test_montecarlo_edges.py",
                   "tests/test_library_bounds.py"],
    "network": ["tests/test_network.py", "tests/test_registry.py"],
    "outcomes": ["tests/test_outcomes.py", "tests/test_outcomes_edges.py", "tests/test_yin.py"],
    "params": ["tests/test_params.py", "tests/test_params_edges.py", "tests/test_registry.py", "tests/test_spec_bounds.py"],
    "practice": ["tests/test_practice.py", "tests/test_practice_edges.py", "tests/test_bignets.py",
                 "tests/test_precision.py"],
    "problems": ["tests/test_distributions.py", "tests/test_symmetry.py", "tests/test_library_bounds.py"],
    "profile": ["tests/test_fields.py", "tests/test_profile_edges.py"],
    "quantnets": ["tests/test_practice.py", "tests/test_practice_edges.py", "tests/test_bignets.py", "tests/test_rescaling.py",
                  "tests/test_ensemble_ops.py"],
    "ste": ["tests/test_ste.py", "tests/test_network.py", "tests/test_registry.py", "tests/test_proper.py", "tests/test_quadrature.py"],
    "proper_montecarlo": ["tests/test_proper.py", "tests/test_proper_checks.py"],
    "proper_radii": ["tests/test_proper.py", "tests/test_proper_checks.py"],
    "proper_test": ["tests/test_proper.py", "tests/test_proper_checks.py"],
    "proper_yin": ["tests/test_proper.py", "tests/test_proper_checks.py"],
    "quadrature": ["tests/test_quadrature.py", "tests/test_proper.py"],
    "vanishing": ["tests/test_proper.py", "tests/test_library_bounds.py", "tests/test_surrogate_guards.py"],
    "sweep": ["tests/test_sweep.py"],
    "sweep_grid": ["tests/test_sweep.py"],
    "sweep_table": ["tests/test_sweep.py"],
    "sweep_workers": ["tests/test_sweep.py"],
    "lloyd": ["tests/test_lloyd.py", "tests/test_lloyd_edges.py"],
    "report_frames": ["tests/test_practice_report.py", "tests/test_rescaling.py", "tests/test_precision.py",
                      "tests/test_practice_pairs.py"],
    "report_orderings": ["tests/test_practice_report.py", "tests/test_rescaling.py"],
    "report_yin": ["tests/test_practice_report.py", "tests/test_rescaling.py"],
    "bignets": ["tests/test_bignets.py", "tests/test_bignets_edges.py", "tests/test_ensemble_ops.py"],
    "datasets": ["tests/test_bignets.py", "tests/test_practice_edges.py", "tests/test_practice.py"],
    "sym_covariance": ["tests/test_symmetry.py", "tests/test_symmetry_checks.py"],
    "sym_crelu": ["tests/test_symmetry.py", "tests/test_symmetry_checks.py"],
    "sym_rescaling": ["tests/test_symmetry.py", "tests/test_symmetry_checks.py"],
    "rays": ["tests/test_symmetry_checks.py", "tests/test_library_bounds.py"],
    "yin_coarse": ["tests/test_yin.py"],
    "yin_landscape": ["tests/test_yin.py"],
    "yin_runs": ["tests/test_yin.py"],
    "ms_c5": ["tests/test_linear_teacher.py"],
    "ms_checks": ["tests/test_linear_teacher.py"],
    "ms_paths": ["tests/test_linear_teacher.py"],
    "ms_rays": ["tests/test_linear_teacher.py"],
    "ix_cgd_runs": ["tests/test_interactive.py", "tests/test_library_bounds.py"],
    "ix_figure": ["tests/test_interactive.py", "tests/test_library_bounds.py"],
    "ix_proper_window": ["tests/test_interactive.py", "tests/test_library_bounds.py"],
    "ix_scale_field": ["tests/test_interactive.py", "tests/test_library_bounds.py"],
    "ix_yin_landscape": ["tests/test_interactive.py", "tests/test_library_bounds.py"],
    "train": ["tests/test_train.py", "tests/test_closedform.py", "tests/test_library_bounds.py",
              "tests/test_sync_free.py", "tests/test_graphs.py"],
    "_graphs": ["tests/test_graphs.py"],
    "cli": ["tests/test_cli.py"],
}

BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
          ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**",
          ast.BitAnd: "&", ast.BitOr: "|", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
          ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}


@dataclass
class Mutant:
    module: str
    index: int  # the index-th mutation site of the module, in ast.walk order
    line: int
    change: str
    source: str  # the stripped source line
    occurrence: int = 0  # the same change earlier on the same line (ast.walk order: outer first)

    @property
    def key(self) -> str:
        return f"{self.module}|{self.source}|{self.change}" + (f"#{self.occurrence}" if self.occurrence else "")


def _skipped(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: strings, f-strings, raise statements, annotations, defaults."""
    skip: set[int] = set()

    def all_of(node):
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr | ast.Raise):
            all_of(node)
        elif isinstance(node, ast.AnnAssign):
            all_of(node.annotation)
        elif isinstance(node, ast.arg):
            all_of(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            all_of(node.returns)
            for d in (*node.args.defaults, *node.args.kw_defaults):
                all_of(d)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            all_of(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            all_of(node)  # docstrings
    return skip


def _sites(tree: ast.AST):
    """Yield (node, change, apply) for every mutation site, in a fixed order."""
    skip = _skipped(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in BINOPS:
            new = BINOPS[type(node.op)]
            yield node, f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}", (lambda n=node, k=new: setattr(n, "op", k()))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMPOPS:
                    new = CMPOPS[type(op)]

                    def apply(n=node, i=i, k=new):
                        n.ops[i] = k()
                    yield node, f"{SYMBOL[type(op)]} -> {SYMBOL[new]}", apply
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield node, f"{'and' if new is ast.Or else 'or'} -> {'or' if new is ast.Or else 'and'}", (
                lambda n=node, k=new: setattr(n, "op", k()))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
            what = "-" if isinstance(node.op, ast.USub) else "not"
            yield node, f"drop unary {what}", (lambda n=node: setattr(n, "op", ast.UAdd()) if isinstance(n.op, ast.USub)
                                               else setattr(n, "op", _Identity()))
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str | bytes) and node.value is not None:
            v = node.value
            if isinstance(v, bool):
                yield node, f"{v} -> {not v}", (lambda n=node: setattr(n, "value", not n.value))
            elif isinstance(v, int):
                yield node, f"{v} -> {v + 1}", (lambda n=node: setattr(n, "value", n.value + 1))
            elif isinstance(v, float):
                new_v = 1.0 if v == 0.0 else v * 1.01
                yield node, f"{v!r} -> {new_v!r}", (lambda n=node, x=new_v: setattr(n, "value", x))


class _Identity(ast.unaryop):
    """Marker: a `not` that was dropped (handled by _Unnot)."""


class _Unnot(ast.NodeTransformer):
    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return node.operand if isinstance(node.op, _Identity) else node


def module_file(module: str) -> Path:
    """``stelib/LAYER/module.py``, relative to the package."""
    (path,) = PKG.glob(f"*/{module}.py")  # one layer folder holds it (tooling/specs/ are not mutated)
    return path.relative_to(PKG)


def mutants(module: str) -> list[Mutant]:
    src = (PKG / module_file(module)).read_text()
    lines = src.splitlines()
    out, seen = [], {}
    for i, (node, change, _) in enumerate(_sites(ast.parse(src))):
        text = lines[node.lineno - 1].strip()
        k = seen.get((text, change), 0)
        seen[(text, change)] = k + 1
        out.append(Mutant(module, i, node.lineno, change, text, k))
    return out


def mutated_source(module: str, index: int) -> str:
    tree = ast.parse((PKG / module_file(module)).read_text())
    for i, (_, _, apply) in enumerate(_sites(tree)):
        if i == index:
            apply()
            break
    tree = _Unnot().visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def _load_equivalent() -> dict[str, str]:
    eq = {}
    if EQUIV_FILE.exists():
        for raw in EQUIV_FILE.read_text().splitlines():
            if raw.strip() and not raw.startswith("#"):
                key, sep, why = raw.rpartition("  # ")
                if not sep:
                    key, why = raw, ""
                eq[key.strip()] = why.strip()
    return eq


class _Order:
    """pytest plugin: record each test's duration on the unmutated run, then run the fastest
    tests first on the mutants (with -x, a mutant dies at its cheapest failing test)."""

    def __init__(self, times: Path, record: bool):
        self.times, self.record = times, record
        self.seen: dict[str, float] = {}

    def pytest_runtest_logreport(self, report):
        if self.record:
            self.seen[report.nodeid] = self.seen.get(report.nodeid, 0.0) + report.duration

    def pytest_collection_modifyitems(self, items):
        if not self.record and self.times.exists():
            known = json.loads(self.times.read_text())
            items.sort(key=lambda it: known.get(it.nodeid, 0.0))

    def pytest_sessionfinish(self):
        if self.record:
            self.times.write_text(json.dumps(self.seen))


def _mirror_book(tmp: Path) -> None:
    """Make ``tmp`` (which holds the mutated package) a book root as the checkout is one:
    ``stelib.toc.ROOT`` is the package's parent, and the CLI looks for ``_toc.yml`` and
    ``chapters/`` there or in the working directory. Every top-level entry of the checkout is
    linked, except ``chapters/``, which is a real folder of links, so that paths under it resolve
    inside ``tmp`` (the CLI compares resolved paths with its root's ``chapters/``)."""
    for entry in ROOT.iterdir():
        if entry.name.startswith(".") or entry.name in ("stelib", "runs", "_build"):
            continue
        if entry.name == "chapters":
            (tmp / "chapters").mkdir()
            for f in entry.iterdir():
                (tmp / "chapters" / f.name).symlink_to(f)
        else:
            (tmp / entry.name).symlink_to(entry)


def _run_child(tmp: Path, module: str, source: str | None, tests: list[str], log: Path) -> None:
    """In the forked child: mutated copy of the package first on the path, then pytest."""
    pkg = tmp / "stelib"
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if source is not None:
        (pkg / module_file(module)).write_text(source)
    _mirror_book(tmp)
    sys.path[:] = [str(tmp)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    os.environ["PYTHONPATH"] = str(tmp)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    import pytest
    import torch

    torch.set_num_threads(1)
    import stelib

    assert Path(stelib.__file__).resolve().parent == pkg.resolve(), stelib.__file__
    os.chdir(tmp)  # the copy is the book root (the CLI finds it from the working directory)
    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", "not nbval and not book",
                        "--rootdir", str(ROOT), "-W", "ignore::DeprecationWarning",
                        *(str(ROOT / t) for t in tests)],
                       plugins=[_Order(tmp.parent / f"{module}.times.json", source is None)])
    os._exit(int(code))


def _start(module: str, source: str | None, tests: list[str], workdir: Path):
    """Fork a child that runs the tests against ``source``; returns (pid, tmp dir, log, start)."""
    tmp = Path(tempfile.mkdtemp(dir=workdir))
    log = tmp / "pytest.log"
    pid = os.fork()
    if pid == 0:
        try:
            _run_child(tmp, module, source, tests, log)
        finally:
            os._exit(99)
    return pid, tmp, log, time.monotonic()


def _finish(job, timeout: float, block: bool):
    """(exit code or None on timeout, seconds), or ``False`` while the child still runs."""
    pid, tmp, log, t0 = job
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - t0 > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = None
            break
        if not block:
            return False
        time.sleep(0.05)
    shutil.rmtree(tmp if code == 0 else tmp / "stelib", ignore_errors=True)
    return code, time.monotonic() - t0


def run_one(module: str, source: str | None, tests: list[str], timeout: float, workdir: Path):
    """(exit code or None on timeout, seconds, log path)."""
    job = _start(module, source, tests, workdir)
    code, dt = _finish(job, timeout, block=True)
    return code, dt, job[2]


def run_many(module: str, muts: list[Mutant], tests: list[str], timeout: float, workdir: Path, jobs: int):
    """Run the mutants, ``jobs`` at a time; yields (mutant, outcome, seconds) in any order."""
    pending, running = list(muts), []
    while pending or running:
        while pending and len(running) < jobs:
            m = pending.pop(0)
            running.append((m, _start(module, mutated_source(module, m.index), tests, workdir)))
        for item in list(running):
            res = _finish(item[1], timeout, block=False)
            if res is not False:
                running.remove(item)
                code, dt = res
                yield item[0], "survived" if code == 0 else "timeout" if code is None else "killed", dt
        time.sleep(0.05)


def _preload() -> None:
    """Import every third-party module the library and its tests use, once, in the parent:
    the forked children inherit them and only re-import the (small) stelib modules."""
    import importlib

    for name in ("numpy", "torch", "scipy.optimize", "scipy.special", "scipy.integrate", "scipy.stats",
                 "pytest", "hypothesis", "hypothesis.strategies", "matplotlib", "matplotlib.pyplot",
                 "sklearn.datasets", "nbformat", "numba",
                 "torch._dynamo", "pandas", "seaborn"):  # torch.optim's first optimizer imports torch._dynamo
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    sys.path.insert(0, str(ROOT))
    import stelib  # noqa: F401  (its imports of third-party modules stay loaded)
    import stelib.fields  # noqa: F401
    import stelib.general_inputs  # noqa: F401
    import stelib.profile  # noqa: F401
    import stelib.symmetry  # noqa: F401

    for name in [k for k in sys.modules if k == "stelib" or k.startswith("stelib.")]:
        del sys.modules[name]
    sys.path.remove(str(ROOT))


def _report(rows: list[dict], equivalent: dict[str, str]) -> int:
    """The score table of a finished run, with the equivalents of tools/mutate_equivalent.txt."""
    print(f"{'module':<15} {'mutants':>7} {'equiv':>5} {'killed':>6} {'survived':>8} {'score':>6}")
    tot = [0, 0, 0]
    for module in dict.fromkeys(r["module"] for r in rows):
        mine = [r for r in rows if r["module"] == module]
        eq = sum(r["key"] in equivalent or r["outcome"] == "equivalent" for r in mine)
        killed = sum(r["outcome"] in ("killed", "timeout") for r in mine if r["key"] not in equivalent)
        n = len(mine) - eq
        print(f"{module:<15} {len(mine):>7} {eq:>5} {killed:>6} {n - killed:>8} {killed / max(n, 1):>6.1%}")
        for r in mine:
            if r["outcome"] == "survived" and r["key"] not in equivalent:
                print(f"    survived {module}:{r['line']} {r['change']}: {r['source']}")
        tot = [tot[0] + len(mine), tot[1] + eq, tot[2] + killed]
    n = tot[0] - tot[1]
    print(f"{'total':<15} {tot[0]:>7} {tot[1]:>5} {tot[2]:>6} {n - tot[2]:>8} {tot[2] / max(n, 1):>6.1%}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modules", nargs="*", default=list(MODULE_TESTS))
    ap.add_argument("--per-module", type=int, default=40, help="sample size per module (0: all mutants)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at the same time")
    ap.add_argument("--timeout-factor", type=float, default=4.0)
    ap.add_argument("--list", action="store_true", help="list the sampled mutants and exit")
    ap.add_argument("--json", type=Path, help="write every mutant's outcome to this file")
    ap.add_argument("--report", type=Path, help="reprint the scores of a --json file with the current equivalents")
    ap.add_argument("--rerun", type=Path, help="run only the mutants that survived in this --json file "
                    "(matched by key, so edits elsewhere in the module do not matter)")
    args = ap.parse_args(argv)
    if args.report:
        return _report(json.loads(args.report.read_text())["mutants"], _load_equivalent())
    unknown = sorted(set(args.modules) - set(MODULE_TESTS))
    if unknown:
        ap.error(f"unknown module(s) {unknown}; choose from {sorted(MODULE_TESTS)}")
    equivalent = _load_equivalent()
    _preload()

    workdir = Path(tempfile.mkdtemp(prefix="stelib-mutate-"))
    results, totals = [], {"mutants": 0, "equivalent": 0, "killed": 0}
    if not args.list:
        print(f"{'module':<15} {'mutants':>7} {'equiv':>5} {'killed':>6} {'survived':>8} {'score':>6}  time", flush=True)
    for module in args.modules:
        tests = [t for t in MODULE_TESTS[module] + COMMON if (ROOT / t).exists()]
        muts = mutants(module)
        if args.rerun:
            again = {r["key"] for r in json.loads(args.rerun.read_text())["mutants"]
                     if r["module"] == module and r["outcome"] == "survived"}
            muts = [m for m in muts if m.key in again]
            if not muts:
                continue
        elif args.per_module and len(muts) > args.per_module:
            muts = sorted(random.Random(f"{args.seed}:{module}").sample(muts, args.per_module), key=lambda m: m.index)
        if args.list:
            for m in muts:
                print(f"{m.module}:{m.line} [{m.index}] {m.change:<14} {m.source}")
            continue
        t0 = time.monotonic()
        code, base, log = run_one(module, None, tests, 1800, workdir)
        if code != 0:
            print(f"{module}: the unmutated tests fail (exit {code}); see {log}", flush=True)
            continue
        timeout = args.timeout_factor * base + 20
        killed = eq = 0
        survivors = []
        for m in muts:
            if m.key in equivalent:
                eq += 1
                results.append({**m.__dict__, "key": m.key, "outcome": "equivalent"})
        todo = [m for m in muts if m.key not in equivalent]
        for m, outcome, dt in run_many(module, todo, tests, timeout, workdir, args.jobs):
            killed += outcome != "survived"
            if outcome == "survived":
                survivors.append(m)
            results.append({**m.__dict__, "key": m.key, "outcome": outcome, "seconds": round(dt, 2)})
        n = len(muts) - eq
        score = killed / n if n else float("nan")
        print(f"{module:<15} {len(muts):>7} {eq:>5} {killed:>6} {n - killed:>8} {score:>6.1%}  "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        for m in sorted(survivors, key=lambda m: m.index):
            print(f"    survived {m.module}:{m.line} [{m.index}] {m.change}: {m.source}", flush=True)
        totals["mutants"] += len(muts)
        totals["equivalent"] += eq
        totals["killed"] += killed
        if args.json:  # after every module, so an interrupted run keeps what it finished
            args.json.write_text(json.dumps({"totals": totals, "mutants": results}, indent=1))
    if not args.list:
        n = totals["mutants"] - totals["equivalent"]
        print(f"{'total':<15} {totals['mutants']:>7} {totals['equivalent']:>5} {totals['killed']:>6} "
              f"{n - totals['killed']:>8} {totals['killed'] / max(n, 1):>6.1%}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"totals": totals, "mutants": results}, indent=1))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
