"""Batched population coarse gradient descent vs the same runs one at a time.

256 independent runs (m = 20, n = 50, 2000 steps; the three STEs split over the runs) of
Yin et al.'s Gaussian model. Prints the speed-up ratio and the largest difference between
the batched and the one-at-a-time results.

The one-at-a-time runs are timed on a subset (``--single``, default 24 runs, spread over the
STEs) and the time is scaled to 256 runs; every one of them is compared with its batched twin.

Bitwise agreement needs one care: PyTorch's vectorised kernels for atan2, cos, erf, ... (used
by the closed forms) may differ from the scalar code path in the last bit, and the identity
STE's trajectories are chaotic near the spurious minima (Yin et al.'s instability), so a
last-bit difference can grow over 2000 steps. The benchmark therefore runs with
ATEN_CPU_CAPABILITY=default (the same kernels for every tensor shape) unless ``--native`` is
given; ``--native`` shows how far the chaotic runs drift apart with the vectorised kernels.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if "--native" not in sys.argv:
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "default")

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from stelib.gaussian import YinModel  # noqa: E402
from stelib.train import population_cgd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--single", type=int, default=24, help="runs timed one at a time")
    parser.add_argument("--native", action="store_true", help="keep PyTorch's vectorised kernels")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(2019)
    m, n, R = 20, 50, args.runs
    model = YinModel(torch.randn(m, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64))
    v0 = torch.randn(R, m, generator=g, dtype=torch.float64)
    w0 = torch.randn(R, n, generator=g, dtype=torch.float64)
    stes = tuple(("identity", "relu", "crelu")[i % 3] for i in range(R))
    lr = 0.05

    t0 = time.perf_counter()
    batched = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=args.steps)
    t_batched = time.perf_counter() - t0

    idx = torch.linspace(0, R - 1, min(args.single, R)).round().long().unique()
    diff_w = diff_loss = 0.0
    t0 = time.perf_counter()
    for i in tqdm(idx.tolist(), desc="runs one at a time", file=sys.stderr, leave=False):
        one = population_cgd(model, v0[i : i + 1], w0[i : i + 1], ste=stes[i], lr=lr, steps=args.steps)
        diff_w = max(diff_w, (one.w[0] - batched.w[i]).abs().max().item(), (one.v[0] - batched.v[i]).abs().max().item())
        diff_loss = max(diff_loss, (one.loss[:, 0] - batched.loss[:, i]).abs().max().item())
    t_single = (time.perf_counter() - t0) / len(idx) * R

    print(f"kernels: ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'native')}, threads={torch.get_num_threads()}")
    print(f"batched: {R} runs x {args.steps} steps in {t_batched:.2f} s")
    print(f"one at a time: {t_single:.1f} s for {R} runs (measured on {len(idx)} runs, scaled)")
    print(f"speed-up ratio (one at a time / batched): {t_single / t_batched:.1f}x  (target >= 20x)")
    print(f"max |difference| over the compared runs: v, w {diff_w:.3g}; loss history {diff_loss:.3g}  (target <= 1e-12)")
    print(batched.summary())


if __name__ == "__main__":
    main()
