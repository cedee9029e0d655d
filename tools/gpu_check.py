"""Rerun chapters on another device and compare every printed number with the stored outputs.

Usage (on a machine with a GPU, from the repository root)::

    python tools/gpu_check.py                       # every chapter, device="cuda"
    python tools/gpu_check.py primer yin_gaussian --top 8 --out /tmp/gpu-runs
    python tools/gpu_check.py primer --device cpu   # the comparison itself: all differences 0
    python tools/gpu_check.py --cpu-baseline        # also time a CPU run on the same machine
    python tools/gpu_check.py --bench only          # only the ensemble benchmark (below)

On a GPU machine without a network whose Python has PyTorch, numba and SciPy but no Jupyter,
bring the notebook stack as wheels: ``make gpu-wheels`` here (``GPU_PYTHON=3.12`` by default;
about 50 MB into ``.whl/``, which git ignores), copy the checkout with ``.whl`` to that machine,
and there, from the repository root::

    python3 -m pip install -q --no-index --find-links .whl papermill ipykernel myst-nb plotly aiohttp
    PYTHONPATH=$PWD python3 tools/gpu_check.py --cpu-baseline --out /tmp/gpu-runs

Each chapter is executed with papermill and ``-p device DEVICE`` into ``--out`` (a temporary
folder by default; the chapters are never modified). Then, cell by cell, every number in the
text outputs (printed text and the plain-text form of tables and values) of the new notebook
is paired, in order, with the number at the same place in the stored notebook, after the same
sanitising nbval applies (``tests/sanitize.cfg``: timings, addresses, progress bars). For each
pair the relative difference |new - stored| / max(|new|, |stored|) is computed (0 when both are
equal, including both 0 or both nan). A cell whose outputs hold a different count of numbers is
reported as a mismatch (its numbers are still paired up to the shorter list).

The table per chapter gives the numbers compared, how many differ, the largest relative
differences (cell, stored text, new text) and the wall time: the CPU seconds recorded in
``chapters/reproducibility.json`` next to this run's seconds. Printed numbers are rounded, so
a difference from floating-point reordering shows up only where it changes a printed digit;
anything above ``--tol`` (default 1e-3) is flagged. Exit status: 0 if every chapter ran and
no number differs by more than ``--tol``, 1 otherwise, 2 for bad arguments.

The chapters keep every random draw on the CPU with seeded CPU generators and move only the
heavy work to the device, so the printed numbers are expected to agree up to reordering.

Before the chapters, on CUDA (``--bench auto``, the default; ``on`` for any device, ``off``,
``only`` without chapters), ``benchmarks/bench_bignets.py`` measures Yin et al.'s networks
(LeNet-5, VGG-11, ResNet-20): SGD steps of an ensemble of M models as one batched computation
against one model after another, in model-images per second, with the bf16 + channels-last
option too (target: about 80,000 model-images/s on one H200). ``--bench-args``
passes options to it (e.g. ``"--models 9 --batch 256"``). Then ``benchmarks/bench_steps.py``
counts and times one CGD run's step (the launch-bound single-run loops of the chapters);
``--steps-args`` passes options to it (default ``"--steps 300 --repeats 2"``).
"""

from __future__ import annotations

import argparse
import configparser
import json
import math
import os
import re
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:nan|inf)(?![A-Za-z_])"
                    r"|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def sanitizers(path: Path = ROOT / "tests" / "sanitize.cfg") -> list[tuple[re.Pattern, str]]:
    """The regex replacements nbval applies to volatile text (timings, addresses, progress
    bars), without its rounding of full float reprs: those are compared at full precision."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections() if "float" not in s]


def numbers(text: str) -> list[tuple[str, float]]:
    """Every number in ``text`` as (the text it was printed as, its value), in order."""
    return [(m.group(0), float(m.group(0))) for m in NUMBER.finditer(text)]


def output_text(cell: dict, subs=()) -> str:
    """The text of a code cell's outputs: its standard output (the stream pieces joined as
    printed), then the text/plain of its results and displays, then any error."""
    out, rest = [], []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") == "stdout":
            out.append(_joined(o.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            rest.append(_joined(o.get("data", {}).get("text/plain", "")))
        elif kind == "error":
            rest.append(f"ERROR {o.get('ename')}: {o.get('evalue')}")
    text = "\n".join(["".join(out), *rest])
    for rx, rep in subs:
        text = rx.sub(rep, text)
    return text


def _joined(x) -> str:
    return "".join(x) if isinstance(x, list) else str(x)


def rel_diff(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|); 0 when equal (both 0, both inf of one sign, both nan)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


@dataclass
class Comparison:
    """Number pairs of one chapter: ``pairs`` (cell, stored text, new text, relative difference),
    ``count_mismatch`` (cell, stored count, new count) and ``errors`` (cells that raised)."""

    pairs: list[tuple[int, str, str, float]] = field(default_factory=list)
    count_mismatch: list[tuple[int, int, int]] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)

    def largest(self, k: int) -> list[tuple[int, str, str, float]]:
        return sorted(self.pairs, key=lambda p: -p[3])[:k]

    def differing(self, tol: float = 0.0) -> int:
        return sum(1 for p in self.pairs if p[3] > tol)


def compare(stored: dict, new: dict, subs=()) -> Comparison:
    """Pair the numbers of every code cell of two executions of the same notebook."""
    a = [c for c in stored["cells"] if c["cell_type"] == "code"]
    b = [c for c in new["cells"] if c["cell_type"] == "code"]
    if len(a) != len(b):
        raise ValueError(f"the notebooks have {len(a)} and {len(b)} code cells; not the same chapter")
    res = Comparison()
    for i, (ca, cb) in enumerate(zip(a, b, strict=True)):
        if any(o.get("output_type") == "error" for o in cb.get("outputs", [])):
            res.errors.append(i)
        na, nb = numbers(output_text(ca, subs)), numbers(output_text(cb, subs))
        if len(na) != len(nb):
            res.count_mismatch.append((i, len(na), len(nb)))
        res.pairs += [(i, sa, sb, rel_diff(xa, xb)) for (sa, xa), (sb, xb) in zip(na, nb, strict=False)]
    return res


def _strip_injected(nb: dict) -> dict:
    """papermill adds one cell (tagged injected-parameters) after the parameters cell."""
    cells = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    return {**nb, "cells": cells}


def run_chapter(path: Path, device: str, outdir: Path, timeout: int) -> tuple[Path, float]:
    """Execute the chapter with ``device`` into ``outdir``; return (notebook, seconds)."""
    import papermill

    outdir.mkdir(parents=True, exist_ok=True)
    out = outdir / f"{path.stem}-{device}.ipynb"
    os.environ.pop("MPLBACKEND", None)
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(out), parameters={"device": device}, kernel_name="python3",
                                   progress_bar=False, cwd=str(path.parent), execution_timeout=timeout)
    except papermill.PapermillExecutionError as exc:
        print(f"  {path.stem}: failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}")
    return out, time.perf_counter() - t0


def report(name: str, cmp: Comparison, cpu_s: float | None, new_s: float, device: str, top: int,
           tol: float, here_s: float | None = None) -> str:
    """One chapter's table; ``here_s``: a CPU run on this machine (``--cpu-baseline``)."""
    lines = [f"== {name}: {len(cmp.pairs)} numbers compared, {cmp.differing()} differ, "
             f"{cmp.differing(tol)} by more than {tol:g}; wall time CPU (recorded) "
             f"{'?' if cpu_s is None else f'{cpu_s:.1f}'} s, {device} {new_s:.1f} s"
             + (f" (ratio {cpu_s / new_s:.2f})" if cpu_s and new_s > 0 else "")
             + (f"; CPU on this machine {here_s:.1f} s (ratio {here_s / new_s:.2f})"
                if here_s is not None and new_s > 0 else "")]
    if cmp.errors:
        lines.append(f"   cells that raised on {device}: {cmp.errors}")
    for i, na, nb in cmp.count_mismatch:
        lines.append(f"   cell {i}: {na} numbers stored, {nb} now (outputs differ in shape)")
    big = [p for p in cmp.largest(top) if p[3] > 0]
    if big:
        lines.append(f"   {'code cell':>9}  {'stored':>16}  {'new':>16}  {'rel. diff':>9}")
        lines += [f"   {i:>9}  {sa:>16}  {sb:>16}  {d:9.2e}" for i, sa, sb, d in big]
    return "\n".join(lines)


def _run_benchmark(name: str, title: str, argv: list[str]) -> bool:
    """Load ``benchmarks/<name>.py`` and run its ``main(argv)`` under the heading ``title``;
    True when it ran to the end (a failure, argparse's exit included, is reported, not raised)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    print(f"== {title}", flush=True)
    try:
        bench.main(argv)
    except (Exception, SystemExit) as exc:  # report (argparse exits on bad options) and go on
        print(f"   {name} failed: {type(exc).__name__}: {exc}")
        return False
    return True


def bench_bignets(device: str, args: str = "") -> bool:
    """Run ``benchmarks/bench_bignets.py`` on ``device`` (cpu, cuda or auto) with the extra
    options ``args``; True when it ran to the end."""
    return _run_benchmark("bench_bignets", "ensembles of Yin et al.'s networks: batched vs one at a time",
                          ["--device", device, *shlex.split(args)])


STEPS_ARGS = "--steps 300 --repeats 2"


def bench_steps(device: str, args: str = STEPS_ARGS) -> bool:
    """Run ``benchmarks/bench_steps.py`` (one CGD run's operations and time per step: the
    launch-bound loops of the chapters) on ``device`` (cpu, cuda or auto) with the options
    ``args``; True when it ran to the end."""
    import torch

    dev = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    return _run_benchmark("bench_steps", "one run of population CGD: operations and time per step",
                          ["--device", dev, *shlex.split(args)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapters", nargs="*", help="chapter names (default: every chapter of the book)")
    ap.add_argument("--device", default="cuda", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--out", type=Path, default=None, help="folder for the executed notebooks")
    ap.add_argument("--top", type=int, default=5, help="largest differences listed per chapter")
    ap.add_argument("--tol", type=float, default=1e-3, help="relative difference flagged")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--cpu-baseline", action="store_true",
                    help="also run each chapter with device='cpu' here, for a same-machine time ratio")
    ap.add_argument("--bench", choices=("auto", "on", "off", "only"), default="auto",
                    help="the ensemble benchmark bench_bignets first: auto (on CUDA), on, off, only (no chapters)")
    ap.add_argument("--bench-args", default="", help="options passed to benchmarks/bench_bignets.py")
    ap.add_argument("--steps-args", default=STEPS_ARGS, help="options passed to benchmarks/bench_steps.py")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from stelib.tooling import toc

    known = {c.name: c for c in toc.chapters(ROOT)}
    names = args.chapters or list(known)
    bad = [n for n in names if n not in known]
    if bad:
        ap.error(f"unknown chapter(s) {bad}; choose from {', '.join(known)}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            ap.error("--device cuda: PyTorch sees no CUDA GPU here")
    ok = True
    if args.bench in ("on", "only") or (args.bench == "auto" and args.device == "cuda"):
        ok = bench_bignets(args.device, args.bench_args)
        ok = bench_steps(args.device, args.steps_args) and ok
        if args.bench == "only":
            return 0 if ok else 1
    timings = json.loads((ROOT / "chapters" / "reproducibility.json").read_text())["chapters"]
    subs = sanitizers()
    outdir = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    outdir.mkdir(parents=True, exist_ok=True)
    print(f"device {args.device}; executed notebooks in {outdir}")
    for name in names:
        path = known[name].path
        here = None
        if args.cpu_baseline:
            here = run_chapter(path, "cpu", outdir / "cpu-baseline", args.timeout)[1]
        out, seconds = run_chapter(path, args.device, outdir, args.timeout)
        if not out.exists():
            print(f"== {name}: no notebook written")
            ok = False
            continue
        cmp = compare(json.loads(path.read_text()), _strip_injected(json.loads(out.read_text())), subs)
        print(report(name, cmp, timings.get(name, {}).get("seconds"), seconds, args.device, args.top, args.tol,
                     here), flush=True)
        ok = ok and not cmp.errors and not cmp.count_mismatch and cmp.differing(args.tol) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
