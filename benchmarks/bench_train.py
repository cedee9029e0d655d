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

GPU against CPU: with CUDA present (or ``--device DEV`` given), 3 x 16384 runs (one block per
STE, ``--device-steps`` steps) go once on the CPU and once on the device, and the benchmark
prints both times, the GPU/CPU speed ratio and the largest difference of the final losses.
That part runs in a child process with PyTorch's vectorised CPU kernels (``--native``), so the
CPU is timed at its best. ``--device cpu`` runs it CPU against CPU (a dry run of the code).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

if "--native" not in sys.argv:
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "default")

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from stelib.gaussian import YinModel  # noqa: E402
from stelib.train import population_cgd  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_ratio(device: str, runs_per_ste: int, steps: int) -> None:
    """3 x ``runs_per_ste`` population CGD runs on the CPU and on ``device``: times and ratio."""
    dev = torch.device(device)
    g = torch.Generator().manual_seed(2019)
    m, n, R = 20, 50, 3 * runs_per_ste
    v_star, w_star = torch.randn(m, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    v0 = torch.randn(R, m, generator=g, dtype=torch.float64)
    w0 = torch.randn(R, n, generator=g, dtype=torch.float64)
    stes = tuple(s for s in ("identity", "relu", "crelu") for _ in range(runs_per_ste))
    times, finals = {}, {}
    for where in (torch.device("cpu"), dev):
        model = YinModel(v_star.to(where), w_star.to(where))
        population_cgd(model, v0[:3].to(where), w0[:3].to(where), ste=stes[::runs_per_ste], lr=0.05, steps=2)  # warm-up
        _sync(where)
        t0 = time.perf_counter()
        h = population_cgd(model, v0.to(where), w0.to(where), ste=stes, lr=0.05, steps=steps, record_every=steps)
        _sync(where)
        times[where.type if where.type not in times else f"{where.type} again"] = time.perf_counter() - t0
        finals[len(finals)] = h.loss[-1].cpu()
    (cpu_name, t_cpu), (dev_name, t_dev) = times.items()
    diff = (finals[0] - finals[1]).abs()
    rel = (diff / finals[0].abs().clamp_min(1e-300))[torch.isfinite(diff)]
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"devices: {R} runs (3 STEs x {runs_per_ste}) x {steps} steps, m={m}, n={n}; "
          f"CPU threads={torch.get_num_threads()}, device {dev} ({name})")
    print(f"CPU: {t_cpu:.2f} s; {dev_name}: {t_dev:.2f} s")
    print(f"GPU/CPU speed ratio (CPU time / {dev} time): {t_cpu / t_dev:.1f}x")
    print(f"final losses, CPU vs {dev}: max relative difference {rel.max().item() if rel.numel() else 0.0:.3g} "
          "(floating-point reordering; chaotic identity runs may drift)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--single", type=int, default=24, help="runs timed one at a time")
    parser.add_argument("--native", action="store_true", help="keep PyTorch's vectorised kernels")
    parser.add_argument("--device", default="auto",
                        help="device timed against the CPU: auto (cuda when present, else skipped), cuda, cpu")
    parser.add_argument("--device-runs", type=int, default=16384, help="runs per STE for the device comparison")
    parser.add_argument("--device-steps", type=int, default=200, help="steps for the device comparison")
    parser.add_argument("--device-only", action="store_true", help="only the device comparison")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else None) if args.device == "auto" else args.device
    if args.device_only:
        device_ratio(device or "cpu", args.device_runs, args.device_steps)
        return
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
    if device is None:
        print("devices: no CUDA device, GPU/CPU ratio not measured (--device cuda on a GPU machine)")
        return
    sys.stdout.flush()
    cmd = [sys.executable, __file__, "--native", "--device-only", "--device", device,
           "--device-runs", str(args.device_runs), "--device-steps", str(args.device_steps)]
    subprocess.run(cmd, check=True)  # a fresh process with the vectorised CPU kernels


if __name__ == "__main__":
    main()
