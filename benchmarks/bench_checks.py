"""Coarse gradient descent with its start validated once against every value checked at every step.

Inside the step loop of :mod:`stelib.train` the closed forms skip the checks of values
(finiteness, nonzero rows), which on a GPU read a value back to the host at every call; the
runs are the same bit for bit (tests/test_sync_free.py). This benchmark times 30 runs of Yin et
al.'s model (m = 3, n = 4, the three STEs, ``--steps`` steps) both ways on the CPU, where no
read-back costs anything, and prints the ratio: what the checks alone cost. ``--device cuda``
times the same on a GPU, where the saved host reads matter most.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from stelib import YinModel, population_cgd
from stelib.core import train

F64 = torch.float64


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def setup(argv, description: str, *, steps: int, runs: int):
    """Parse --steps/--repeats/--device and build Yin et al.'s model (m = 3, n = 4) on the
    device with ``runs`` seeded starts: (args, device, model, v0, w0). One intra-op thread."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    dev = torch.device(a.device)
    yin = YinModel(torch.tensor([1.0, 0.5, -0.3], dtype=F64, device=dev),
                   torch.tensor([1.0, 0.0, 0.0, 0.2], dtype=F64, device=dev))
    g = torch.Generator().manual_seed(0)
    v0 = torch.randn(runs, 3, dtype=F64, generator=g).to(dev)
    w0 = torch.randn(runs, 4, dtype=F64, generator=g).to(dev)
    return a, dev, yin, v0, w0


def main(argv=None) -> None:
    a, dev, yin, v0, w0 = setup(argv, __doc__.splitlines()[0], steps=2000, runs=30)
    stes = ("identity", "relu", "crelu") * 10

    def run():
        return population_cgd(yin, v0, w0, ste=stes, lr=0.05, steps=a.steps)

    fast = _time(run, a.repeats)
    h_fast = run()
    real = train.trusted
    train.trusted = contextlib.nullcontext  # every check at every step, as before
    try:
        slow = _time(run, a.repeats)
        h_slow = run()
    finally:
        train.trusted = real
    same = all(torch.equal(getattr(h_fast, k), getattr(h_slow, k)) for k in ("loss", "v", "w"))
    print(f"population CGD, 30 runs x {a.steps} steps on {dev}: every step checked {slow:.2f} s, "
          f"start checked once {fast:.2f} s: ratio {slow / fast:.2f}x; identical runs: {same}")


if __name__ == "__main__":
    main()
