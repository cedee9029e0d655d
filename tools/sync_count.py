"""Count, per chapter, the places where the code reads a tensor's value back to Python.

On a GPU each such read (``.item()``, ``bool(t)``, ``float(t)``, ``int(t)``, ``.tolist()``,
``.numpy()``) waits for the device: it is a host-device synchronisation. This tool finds them
without a GPU. It executes a chapter (nbclient, the chapter's own default parameters, nothing
written next to it) with those six ``torch.Tensor`` methods wrapped by a counter that records
each call's site: the innermost frame outside torch and, where different, the outermost
``stelib`` frame (the public function the chapter called). It prints the total and the sites
that read most. By default the library takes, on the CPU, the paths it takes on a GPU
(``stelib.core._closedform._DEVICE_PATH_ON_CPU``: no host reads where the CPU would branch on
a value), so that the count is the one a GPU run would make.

On the CPU every tensor is counted, including the ones a chapter keeps on the CPU on purpose
(its seeded random draws), so the count is an upper bound of the synchronisations a run with
``device="cuda"`` makes; what matters is which sites grow with the steps of a loop. On a GPU,
``torch.cuda.set_sync_debug_mode`` gives the exact count (``tests/test_sync_free.py``, run there
by ``tools/gpu_session.sh``).

``--ops`` also counts the ATen operations the chapter dispatches on its main thread (a
``TorchDispatchMode``; the run is slower for it). On a GPU most of them are kernel launches of
a few microseconds each whatever their size, so at 5 us per operation the count gives a rough
floor for a GPU run of the chapter, printed next to its recorded CPU time. Views and the
chapter's CPU-side tensors are counted too, so it is an estimate, not a measurement. A CGD step
that a GPU replays as a CUDA graph (``stelib.core._graphs``) is replayed here by a stand-in that
counts one operation per replay (the site ``(graph replays)``); the other operations are listed
by the stelib call the chapter made (the outermost stelib frame; ``chapter`` for its own code).

Usage::

    python tools/sync_count.py                    # every chapter
    python tools/sync_count.py yin_gaussian --top 20 --json /tmp/sync.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stelib.tooling import toc  # noqa: E402

READS = ("item", "__bool__", "__float__", "__int__", "tolist", "numpy")

SPY = r'''
import collections as _c, os as _os, sys as _s, torch as _t
import stelib as _stelib
_SYNC_SITES = _c.Counter()
_PKG = _os.path.dirname(_os.path.abspath(_stelib.__file__)) + _os.sep  # not "/stelib/" in a path:
# a virtual environment under ~/.cache/stelib/ holds it too

def _in_stelib(name):
    return name.startswith(_PKG)

def _short(name):
    return "stelib/" + name[len(_PKG):]

def _sync_site():
    f, frames = _s._getframe(2), []
    while f is not None:
        name = f.f_code.co_filename
        if "/torch/" not in name and (not frames or _in_stelib(name)):
            frames.append(f)
        f = f.f_back
    def where(fr):
        name = fr.f_code.co_filename
        short = _short(name) if _in_stelib(name) else "chapter"
        return f"{short}:{fr.f_lineno} {fr.f_code.co_name}"
    chain = frames[:1] + frames[1:][-3:]  # the read, then the outermost stelib calls
    return " <- ".join(where(fr) for fr in chain) if chain else "?"

def _sync_spy(name):
    real = getattr(_t.Tensor, name)
    def spy(self, *a, **k):
        _SYNC_SITES[(name, _sync_site())] += 1
        return real(self, *a, **k)
    setattr(_t.Tensor, name, spy)

for _n in READS:
    _sync_spy(_n)
import stelib.core._closedform as _cf
_cf._DEVICE_PATH_ON_CPU = GPU_PATHS
'''

OPS = r'''
import collections as _c2, contextlib as _cl
from torch.utils._python_dispatch import TorchDispatchMode as _TDM

class _OpCount(_TDM):
    n = 0
    off = False  # inside a stand-in graph replay: its operations are one launch
    sites = _c2.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not _OpCount.off:
            _OpCount.n += 1
            _OpCount.sites[_op_site()] += 1
        return func(*args, **(kwargs or {}))

def _op_site():
    """The outermost stelib frame below the chapter's code (the call the chapter made)."""
    f, site = _s._getframe(2), "chapter"
    while f is not None:
        name = f.f_code.co_filename
        if _in_stelib(name):
            site = f"{_short(name)}:{f.f_code.co_name}"
        f = f.f_back
    return site

if GRAPHS:  # population CGD replays its step as a CUDA graph on a GPU: here a stand-in
    import stelib.core._graphs as _g
    _real_capture = _g.capture_step
    _g.wanted = lambda device, steps: steps >= _g.MIN_STEPS

    def _capture(step, state, graph_factory=None):
        def factory(fn):  # fn: the step (and its deferred checks) as the library captures it
            @_cl.contextmanager
            def capture():  # a capture records the step once (counted) and launches nothing
                saved = [x.clone() for x in state]
                yield
                for x, y in zip(state, saved):
                    x.copy_(y)

            def replay():  # one launch, whatever the step holds
                _OpCount.off = True
                try:
                    fn()
                finally:
                    _OpCount.off = False
                _OpCount.n += 1
                _OpCount.sites["(graph replays)"] += 1

            return replay, _cl.nullcontext(), capture()

        return _real_capture(step, state, graph_factory=factory)

    _g.capture_step = _capture

_OPS = _OpCount()
_OPS.__enter__()  # active for the cells that follow, on this thread
'''

DUMP = r'''
import json as _j
_ops = None
if "_OPS" in globals():
    _OPS.__exit__(None, None, None)
    _ops = {"n": _OpCount.n, "sites": _OpCount.sites.most_common()}
with open(OUT, "w") as _f:
    _j.dump({"reads": [[k[0], k[1], v] for k, v in _SYNC_SITES.most_common()], "ops": _ops}, _f)
'''
LAUNCH_US = 5.0  # a typical CUDA kernel launch, in microseconds (the --ops floor)


def count(path: Path, workdir: Path, gpu_paths: bool = True, ops: bool = False) -> tuple[list, float, dict | None]:
    """Execute the notebook ``path`` (in its folder) with the counting spies; the (method, site,
    count) rows, most first, the seconds it took, and with ``ops`` the ATen operations it
    dispatched, ``{"n": total, "sites": [[call, count], ...]}`` (else None); with ``gpu_paths``
    a CGD step that a GPU replays as a CUDA graph counts as one operation per replay. Nothing is
    written next to it."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    out = workdir / f"{path.stem}.json"
    spy = SPY.replace("for _n in READS", f"for _n in {READS!r}").replace("GPU_PATHS", repr(gpu_paths))
    nb.cells.insert(0, nbformat.v4.new_code_cell(spy + (OPS.replace("GRAPHS", repr(gpu_paths)) if ops else "")))
    nb.cells.append(nbformat.v4.new_code_cell(DUMP.replace("OUT", repr(str(out)))))
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    got = json.loads(out.read_text())
    return got["reads"], time.perf_counter() - t0, got["ops"]


def _recorded_seconds(chapter: str) -> float | None:
    """The chapter's CPU time recorded by ``stelib execute`` (chapters/reproducibility.json)."""
    rec = ROOT / "chapters" / "reproducibility.json"
    entry = json.loads(rec.read_text()).get("chapters", {}).get(chapter, {}) if rec.exists() else {}
    return entry.get("seconds")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter names (default: every chapter of the book)")
    parser.add_argument("--top", type=int, default=12, help="sites shown per chapter")
    parser.add_argument("--json", type=Path, help="write every chapter's rows here")
    parser.add_argument("--cpu-paths", action="store_true",
                        help="keep the CPU's own paths (by default the code takes the paths it takes "
                             "on a GPU, which avoid host reads, so that the count is the GPU's)")
    parser.add_argument("--ops", action="store_true",
                        help=f"also count ATen operations (a floor for a GPU run at {LAUNCH_US:g} us each)")
    args = parser.parse_args(argv)
    paths = {c.name: c.path for c in toc.chapters(ROOT)}
    known = list(paths)
    chosen = args.chapters or known
    bad = [c for c in chosen if c not in known]
    if bad:
        parser.error(f"unknown chapter(s) {', '.join(bad)}; choose from {', '.join(known)}")
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for chapter in chosen:
            rows, secs, ops = count(paths[chapter], Path(tmp), not args.cpu_paths, args.ops)
            report[chapter] = rows if ops is None else {"reads": rows, "ops": ops}
            total = sum(r[2] for r in rows)
            print(f"\n{chapter}: {total} value reads ({secs:.0f} s)")
            if ops is not None:
                cpu = _recorded_seconds(chapter)
                n = ops["n"]
                print(f"  {n} ATen operations: x {LAUNCH_US:g} us = {n * LAUNCH_US * 1e-6:.1f} s "
                      f"launch floor on a GPU" + (f" (recorded CPU run {cpu:.1f} s)" if cpu else ""))
                for site, k in ops["sites"][:args.top]:
                    print(f"  {k:8d}  ops       {site}")
            for method, site, n in rows[:args.top]:
                print(f"  {n:8d}  {method:9s} {site}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
