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

The bandwidth limit: a kernel that must read Z cannot beat one streaming pass over it. The
benchmark times ``Z.sum()``, ``estimate_on`` and the matrix-vector product ``Z w`` (each pass
reads Z once) in turn, round after round, and prints stelib's fastest time as a multiple of the
fastest pass (1.0 would be the limit; target 1.25), with the median and range of the same ratio
per round (a shared machine's drift moves both sides of one round alike). To tell a kernel
bound by memory from one bound by compute, it also times the fused kernel on a small sample (at
most 8 MiB, in the last-level cache) called often enough to make up the same number of samples:
when that time alone is close to one pass over Z, the cores cannot go faster on this machine
whatever the memory does. It is an upper bound on the compute: each call starts the kernel's
threads once.

GPU against CPU: with CUDA present (or ``--device DEV`` given), :func:`stelib.montecarlo.estimate`
draws ``--device-samples`` (default 10^7) samples of Yin et al.'s Gaussian model (m = n = 8,
three STEs and the true gradient) once with a CPU generator and once with a generator on the
device, and prints both times, the GPU/CPU speed ratio and how the two estimates agree (different
random streams: in standard errors). ``--device cpu`` runs it CPU against CPU (a dry run).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from tqdm.auto import tqdm

from stelib.gaussian import YinModel
from stelib.montecarlo import _chunk_and_group, estimate, estimate_on
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


def paired_times(pass_a, pass_b, fn, rounds: int):
    """Times of two streaming passes and ``fn`` taken in turn, ``rounds`` times (after a warm-up):
    the fastest of each, and the min / median / max over rounds of fn's time divided by the faster
    pass of the same round. Taken in turn, a drift of the machine's speed (other load, clock)
    reaches both sides of the ratio alike."""
    for f in (pass_a, pass_b, fn):
        f()
    ta, tb, tf = [], [], []
    for _ in tqdm(range(rounds), desc="bandwidth rounds", file=sys.stderr, leave=False):
        for f, ts in ((pass_a, ta), (fn, tf), (pass_b, tb)):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    per_round = sorted(f / min(a, b) for a, b, f in zip(ta, tb, tf, strict=True))
    return min(ta), min(tb), min(tf), (per_round[0], per_round[len(per_round) // 2], per_round[-1])


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


def in_cache_time(v, w, Z, y, group, repeats):
    """Seconds the fused kernel takes for ``len(Z)`` samples when they come from a small sample
    (at most 8 MiB) that stays in the cache, and the number of kernel calls that took: the compute
    alone, without the wait for memory. Each call starts the kernel's threads once, so the time
    is an upper bound on the compute (with OMP_WAIT_POLICY=PASSIVE the starts cost far more)."""
    from stelib.core import _fused

    b, m, n = Z.shape
    small = max(group, min(b, 2**23 // (8 * m * n)) // group * group)
    calls = max(1, b // small)
    args = [t.detach().contiguous().numpy() for t in (Z[:small], y[:small], v, w)]
    t = best_time(lambda: [_fused.group_sums(*args, group) for _ in range(calls)], repeats, "kernel in cache")
    return t * b / (calls * small), calls


def device_ratio(device: str, samples: int) -> None:
    """``estimate`` with ``samples`` draws on the CPU and on ``device``: times, ratio, agreement."""
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    m = n = 8
    model = YinModel(torch.randn(m, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64))
    v, w = torch.randn(m, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    chunk = 2**18  # draws per sampler call: ~17 MiB of Z, ~70 MiB of per-sample products
    out = []
    for where in (torch.device("cpu"), dev):
        def run(k, where=where):
            gen = torch.Generator(device=where).manual_seed(1)
            res = estimate(v, w, model, samples=k, generator=gen, true_grad=True, chunk=chunk)
            res.loss.mean.item()  # waits for the device
            return res

        run(2 * chunk)  # warm-up
        t0 = time.perf_counter()
        res = run(samples)
        out.append((time.perf_counter() - t0, res))
    (t_cpu, a), (t_dev, b) = out
    z = max(((a.coarse[s].mean - b.coarse[s].mean.cpu()).abs()
             / (a.coarse[s].se ** 2 + b.coarse[s].se.cpu() ** 2).sqrt()).max().item() for s in STE_NAMES)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"devices: estimate with {samples:.3g} samples (m = n = 8, 3 STEs + true gradient, chunk {chunk}); "
          f"CPU threads={torch.get_num_threads()}, device {dev} ({name})")
    print(f"CPU: {t_cpu:.2f} s; {dev}: {t_dev:.2f} s")
    print(f"GPU/CPU speed ratio (CPU time / {dev} time): {t_cpu / t_dev:.1f}x")
    print(f"coarse gradients, CPU vs {dev}: largest |difference| / combined standard error {z:.2f} "
          "(independent streams: below ~4 expected)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32768, help="samples (Z takes batch*m*n*8 bytes)")
    parser.add_argument("--m", type=int, default=64)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto",
                        help="device timed against the CPU: auto (cuda when present, else skipped), cuda, cpu")
    parser.add_argument("--device-samples", type=int, default=10**7, help="samples for the device comparison")
    parser.add_argument("--device-only", action="store_true", help="only the device comparison")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else None) if args.device == "auto" else args.device
    if args.device_only:
        device_ratio(device or "cpu", args.device_samples)
        return
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

    Zf = Z.reshape(-1, n)
    t_sum, t_mv, t_pair, ratios = paired_times(lambda: Z.sum(), lambda: Zf @ w, lambda: estimate_on(v, w, Z, y),
                                               2 * args.repeats)
    t_pass = min(t_sum, t_mv)

    t_cache, calls = in_cache_time(v, w, Z, y, group, args.repeats) if m * n > 256 else (None, 0)

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
    gbs = Z.numel() * 8 / t_pass / 1e9
    print(f"one streaming pass over Z: Z.sum() {t_sum * 1e3:.1f} ms, Z w {t_mv * 1e3:.1f} ms ({gbs:.1f} GB/s)")
    lo, med, hi = ratios
    print(f"bandwidth ratio (stelib estimate_on / one pass over Z): {t_pair / t_pass:.2f}x  "
          f"(target <= 1.25x; 1.0 = the memory-bandwidth limit; fastest of each, timed in turn)")
    print(f"  the same ratio per round of {2 * args.repeats} rounds: median {med:.2f}x, range {lo:.2f}-{hi:.2f}x")
    if t_cache is not None:
        print(f"  the fused kernel alone, sample in cache (same number of samples, {calls} call{'s' * (calls != 1)}): "
              f"{t_cache * 1e3:.1f} ms = {t_cache / t_pass:.2f}x one pass over Z "
              "(near or above 1: bound by the cores, not the memory)")
    if device is None:
        print("devices: no CUDA device, GPU/CPU ratio not measured (--device cuda on a GPU machine)")
    else:
        device_ratio(device, args.device_samples)


if __name__ == "__main__":
    main()
