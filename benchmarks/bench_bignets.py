"""Yin et al.'s networks: an ensemble of M models as one computation vs one model after another.

For LeNet-5 (1x28x28), VGG-11 and ResNet-20 (3x32x32) with b-bit quantized activations, M
models (bit widths 1, 2, 4 x STEs identity, relu, crelu, cycled; seeds 0..M-1) take SGD steps
(momentum 0.9; each model its own batch of B random images, cross-entropy, as
``stelib.practice.fit`` does) in two forms: :class:`stelib.bignets.BatchedNets` (grouped
convolutions, batched matrix products: one computation) and :class:`stelib.bignets.NetList`
(M modules one after the other, the form used before). For each network it prints
model-images per second (M x B x steps / seconds: every model seeing one image counts once),
images per second per model (the same divided by M), the batched / one-at-a-time ratio, and
the largest |difference| of the two forms' initial logits (float32 reordering; with
quantizers a rounding difference can move an activation by one step), and the ATen operations
of one step of each form (kernel launches on a GPU, counted on any device: the batched form's
do not grow with M, the other's grow M-fold).

The device is the CPU, or CUDA when present (``--device``). Defaults are sized per device: on
the CPU small (a busy 2-core machine: a few seconds per network), on a GPU M = 27 (3 bit widths x
3 STEs x 3 seeds) and B = 128. On CUDA the batched form is also timed with
``mixed_precision=True`` (bf16 autocast and channels-last memory: changes the numerics), and
the TF32 settings of PyTorch are printed (cuDNN convolutions use TF32 by default on CUDA).
``--quick`` shrinks everything to a smoke test (used by the test suite's own checks by hand).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

from stelib.bignets import BatchedNets, NetList
from stelib.quantnets import ActConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by tools/gpu_check.py
from bench_steps import CountOps  # noqa: E402

SHAPES = {"lenet5": (1, 28, 28), "vgg11": (3, 32, 32), "resnet20": (3, 32, 32)}
CPU_SIZES = {"lenet5": (6, 32), "vgg11": (2, 4), "resnet20": (3, 8)}  # (M, B)
GPU_SIZES = {"lenet5": (27, 128), "vgg11": (27, 128), "resnet20": (27, 128)}


def configs(M: int) -> tuple[list[ActConfig], list[int]]:
    """M models: (bits, STE) cycling over 1, 2, 4 bits x identity, relu, crelu; seeds 0..M-1."""
    grid = [ActConfig(b, 1.0 / (2**b - 1), s) for b in (1, 2, 4) for s in ("identity", "relu", "crelu")]
    return [grid[m % len(grid)] for m in range(M)], list(range(M))


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """One SGD step (momentum 0.9) of ``model`` on the batch (x, y), as a function."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        logits = model(x)  # (M, B, 10)
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def time_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` SGD steps (after ``warmup`` untimed ones) on the batch (x, y)."""
    step, dev = _stepper(model, x, y), x.device
    for _ in range(warmup):
        step()
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(dev)
    return time.perf_counter() - t0


def ops_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """ATen operations of one SGD step (the second: momentum buffers exist), model untouched."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    step = _stepper(model, x, y)
    step()
    with CountOps() as c:
        step()
    model.load_state_dict(state)
    return c.n


def bench_arch(arch: str, M: int, B: int, steps: int, warmup: int, dev: torch.device, mixed: bool) -> dict:
    """Model-images per second of the batched and the one-at-a-time form (and mixed precision)."""
    cfg, seeds = configs(M)
    shape = SHAPES[arch]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(M, B, *shape, generator=g).to(dev)
    y = torch.randint(0, 10, (M, B), generator=g).to(dev)
    seq = NetList(cfg, seeds, arch=arch, in_shape=shape).to(dev)
    bat = BatchedNets.from_netlist(seq)
    with torch.no_grad():
        diff = (bat(x) - seq(x)).abs().max().item()
    work = M * B * steps
    out = {"diff": diff, "ops": (ops_per_step(bat, x, y), ops_per_step(seq, x, y))}
    out["batched"] = work / time_steps(bat, x, y, steps, warmup)
    del bat
    out["sequential"] = work / time_steps(seq, x, y, steps, warmup)
    if mixed:
        del seq
        fast = BatchedNets(cfg, seeds, arch=arch, in_shape=shape, mixed_precision=True).to(dev)
        out["mixed"] = work / time_steps(fast, x, y, steps, warmup)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (cuda when present, else cpu), cpu, cuda, cuda:1, ...")
    ap.add_argument("--archs", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    ap.add_argument("--models", type=int, default=None, help="M (default: per device and network)")
    ap.add_argument("--batch", type=int, default=None, help="B images per model and step (default: per device)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 3 on the CPU, 20 on a GPU)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 / 3)")
    ap.add_argument("--mixed", choices=("auto", "on", "off"), default="auto",
                    help="also time mixed_precision=True (auto: on CUDA only)")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU intra-op threads (default: PyTorch's; practice.fit uses 1)")
    ap.add_argument("--quick", action="store_true", help="M=2, B=2, 1 step: a smoke test")
    args = ap.parse_args(argv)
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    gpu = dev.type == "cuda"
    if gpu and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: PyTorch sees no CUDA GPU here")
    for name in ("models", "batch", "steps", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        _run(args, dev, gpu)
    finally:
        torch.set_num_threads(before)


def _run(args, dev: torch.device, gpu: bool) -> None:
    steps = args.steps or (1 if args.quick else 20 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (0 if args.quick else 3 if gpu else 1)
    mixed = args.mixed == "on" or (args.mixed == "auto" and gpu)
    name = torch.cuda.get_device_name(dev) if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {dev} ({name}); torch {torch.__version__}; steps {steps} (after {warmup} warm-up)")
    if gpu:
        print(f"TF32: cuDNN convolutions {torch.backends.cudnn.allow_tf32}, "
              f"matmul {torch.backends.cuda.matmul.allow_tf32}")
    print(f"{'network':>9} {'M':>3} {'B':>4}  {'batched':>10}  {'one at a time':>13}  {'ratio':>6}"
          + (f"  {'bf16+CL':>10}  {'ratio':>6}" if mixed else "") + "   (model-images/s)   ops/step   max |logit diff|")
    for arch in args.archs:
        M, B = (2, 2) if args.quick else (GPU_SIZES if gpu else CPU_SIZES)[arch]
        M, B = args.models or M, args.batch or B
        r = bench_arch(arch, M, B, steps, warmup, dev, mixed)
        line = (f"{arch:>9} {M:>3} {B:>4}  {r['batched']:>10.0f}  {r['sequential']:>13.0f}  "
                f"{r['batched'] / r['sequential']:>5.1f}x")
        if mixed:
            line += f"  {r['mixed']:>10.0f}  {r['mixed'] / r['sequential']:>5.1f}x"
        print(line + f"   per model: {r['batched'] / M:.0f} vs {r['sequential'] / M:.0f} images/s"
              f"   {r['ops'][0]} vs {r['ops'][1]}   {r['diff']:.1e}", flush=True)
    if gpu:
        print("target (issue 27): about 80,000 model-images/s per network on one H200")


if __name__ == "__main__":
    main()
