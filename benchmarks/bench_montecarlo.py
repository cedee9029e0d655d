"""Monte Carlo coarse gradients: stelib's fused estimator vs the textbook autograd way.

On one large sample (m = n = 64, float64) both compute the batch mean of the coarse gradient
of each of the three STEs:

* textbook, means only: for each STE, ``loss = mean((binary_step(Z w, ste) @ v - y)^2) / 2``
  and ``loss.backward()`` -- three forward and three backward passes over Z;
* textbook, means and standard errors: the same autograd call on each group of samples that
  stelib's estimator sums over (batch means), giving the same standard errors;
* stelib: :func:`stelib.montecarlo.estimate_on` -- for patches this large, the fused kernel of
  ``stelib._fused``: per sample, the forward product, the residual and all three STEs' backward
  contractions while the sample is in cache, summed over groups of samples, with the loss, the
  v-gradient and every standard error.

Prints both speed-up ratios, the largest differences (target <= 1e-10) and the achieved
GFLOP/s next to the machine's float64 matrix-product GFLOP/s measured in the same run. Flop
counts: 2 m n per sample for Z w, 2 m n k for the k backward contractions. The textbook way
is bound by memory bandwidth: it reads Z six times, stelib's kernel once.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from tqdm.auto import tqdm

from stelib.montecarlo import _chunk_and_group, estimate_on
from stelib.ste import STE_NAMES, binary_step


def best_time(fn, repeats: int, label: str = "timing") -> float:
    """Shortest of ``repeats`` timed calls after a warm-up (the progress bar is outside the
    timed region, on stderr)."""
    fn()  # warm-up
    times = []
    for _ in tqdm(range(repeats), desc=label, file=sys.stderr, leave=False):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def textbook(v, w, Z, y):
    out = {}
    for ste in STE_NAMES:
        ww = w.clone().requires_grad_(True)
        loss = 0.5 * ((binary_step(Z @ ww, ste) @ v - y) ** 2).mean()
        loss.backward()
        out[ste] = ww.grad
    return out


def textbook_grouped(v, w, Z, y, group):
    """Autograd per group of ``group`` samples: group means, then their mean and standard error."""
    means = {s: [] for s in STE_NAMES}
    for Zg, yg in zip(Z.split(group), y.split(group), strict=True):
        for ste, g in textbook(v, w, Zg, yg).items():
            means[ste].append(g)
    out = {}
    for ste, gs in means.items():
        G = torch.stack(gs)  # (groups, n)
        out[ste] = (G.mean(0), G.std(0) / len(gs) ** 0.5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32768, help="samples (Z takes batch*m*n*8 bytes)")
    parser.add_argument("--m", type=int, default=64)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    b, m, n = args.batch, args.m, args.n
    Z = torch.randn(b, m, n, generator=g, dtype=torch.float64)
    v = torch.randn(m, generator=g, dtype=torch.float64)
    w = torch.randn(n, generator=g, dtype=torch.float64)
    y = torch.randn(b, generator=g, dtype=torch.float64)

    t_text = best_time(lambda: textbook(v, w, Z, y), args.repeats, "textbook autograd")
    t_ours = best_time(lambda: estimate_on(v, w, Z, y), args.repeats, "stelib estimate_on")
    ref, ours = textbook(v, w, Z, y), estimate_on(v, w, Z, y)
    diff = max((ref[s] - ours.coarse[s].mean).abs().max().item() for s in STE_NAMES)
    group = _chunk_and_group(m, n, b)[1]
    t_text_se = best_time(lambda: textbook_grouped(v, w, Z, y, group), 1, "textbook per group")
    ref_se = textbook_grouped(v, w, Z, y, group)
    diff_se = max(max((ref_se[s][0] - ours.coarse[s].mean).abs().max().item(),
                      (ref_se[s][1] - ours.coarse[s].se).abs().max().item()) for s in STE_NAMES)

    k = len(STE_NAMES)
    a = torch.randn(2048, 2048, generator=g, dtype=torch.float64)
    t_mm = best_time(lambda: a @ a, 3, "matmul")
    gflops_mm = 2 * 2048**3 / t_mm / 1e9
    flops_text = k * 2 * (2 * b * m * n)
    flops_ours = 2 * b * m * n + 2 * b * m * n * k

    print(f"sample: batch={b}, m={m}, n={n} (Z = {Z.numel() * 8 / 2**20:.0f} MiB, float64), threads={torch.get_num_threads()}")
    print(f"textbook autograd (3 STEs): {t_text * 1e3:.1f} ms, {flops_text / t_text / 1e9:.1f} GFLOP/s")
    print(f"stelib estimate_on (3 STEs + loss + v-grad + standard errors): {t_ours * 1e3:.1f} ms, "
          f"{flops_ours / t_ours / 1e9:.1f} GFLOP/s")
    print(f"machine float64 matmul (2048^2): {gflops_mm:.1f} GFLOP/s")
    print(f"textbook autograd per group of {group} samples (means + standard errors): {t_text_se * 1e3:.1f} ms")
    print(f"speed-up ratio, means only (textbook / stelib): {t_text / t_ours:.2f}x  (target >= 3x)")
    print(f"speed-up ratio, means and standard errors (textbook / stelib): {t_text_se / t_ours:.2f}x  (target >= 3x)")
    print(f"max |difference| of the means: {diff:.3g}; of means and standard errors: {diff_se:.3g}  (target <= 1e-10)")


if __name__ == "__main__":
    main()
