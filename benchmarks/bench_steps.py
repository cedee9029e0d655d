"""One run of population coarse gradient descent: operations and time per step.

A single run (R = 1) of Yin et al.'s model is made of many tiny tensor operations; on a GPU each
one is a kernel launch of a few microseconds, whatever its size, so the number of operations per
step bounds how fast such a loop can go there (the chapters' ray descents and small sweeps). This
benchmark counts the ATen operations of one step (PyTorch's dispatcher, as a GPU would launch
them) and times the steps, for each STE, two ways:

- *shared*: the library's step (``YinModel._coarse_step``: one geometry of (w, w*) for df/dv and
  the coarse gradient);
- *separate*: the model's public methods, ``grad_v`` and ``expected_coarse_grad``, each computing
  the geometry (what a user's model with only those methods gets).

Both run the GPU's code path (no host reads in the loop) and, with ``--device cpu``, also the
CPU's own. It prints the ratio separate/shared and checks that both give the same run bit for bit.
On CUDA it also times the step replayed as a CUDA graph against launched op by op.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from stelib import population_cgd
from stelib.core import _closedform as cf

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded by tools/gpu_check.py
from bench_checks import _time, setup  # noqa: E402


class CountOps(TorchDispatchMode):
    """Counts the ATen operations dispatched while active (kernel launches on a GPU)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


class _Separate:
    """The model with its public methods only (no shared step)."""

    def __init__(self, model):
        self._model = model
        self.m, self.n = model.m, model.n
        self.loss, self.grad_v = model.loss, model.grad_v
        self.expected_coarse_grad = model.expected_coarse_grad
        self.sample = model.sample


def _ops_per_step(model, v0, w0, ste) -> float:
    counts = []
    for steps in (10, 30):
        with CountOps() as c:
            population_cgd(model, v0, w0, ste=ste, lr=0.05, steps=steps, record_every=steps)
        counts.append(c.n)
    return (counts[1] - counts[0]) / 20


def _seconds_per_step(model, v0, w0, ste, steps, repeats) -> float:
    run = lambda: population_cgd(model, v0, w0, ste=ste, lr=0.05, steps=steps, record_every=steps)  # noqa: E731
    return _time(run, repeats) / steps


def main(argv=None) -> None:
    a, dev, yin, v0, w0 = setup(argv, __doc__.splitlines()[0], steps=1000, runs=1)
    paths = [("GPU path", True)] + ([("CPU path", False)] if dev.type == "cpu" else [])
    before = cf._DEVICE_PATH_ON_CPU
    try:
        for label, device_path in paths:
            cf._DEVICE_PATH_ON_CPU = device_path
            print(f"one run on {dev}, {label}: ATen operations and microseconds per step")
            for ste in ("identity", "relu", "crelu"):
                row = {}
                for name, model in (("shared", yin), ("separate", _Separate(yin))):
                    row[name] = (_ops_per_step(model, v0, w0, ste),
                                 1e6 * _seconds_per_step(model, v0, w0, ste, a.steps, a.repeats))
                h1 = population_cgd(yin, v0, w0, ste=ste, lr=0.05, steps=200)
                h2 = population_cgd(_Separate(yin), v0, w0, ste=ste, lr=0.05, steps=200)
                same = torch.equal(h1.v, h2.v) and torch.equal(h1.w, h2.w) and torch.equal(h1.loss, h2.loss)
                (ops_s, us_s), (ops_p, us_p) = row["shared"], row["separate"]
                print(f"  {ste:8s} shared {ops_s:5.0f} ops {us_s:7.1f} us | separate {ops_p:5.0f} ops "
                      f"{us_p:7.1f} us | ratio ops {ops_p / ops_s:.2f}x, time {us_p / us_s:.2f}x; "
                      f"identical runs: {same}")
    finally:
        cf._DEVICE_PATH_ON_CPU = before
    if dev.type == "cuda":
        _graph_vs_eager(yin, v0, w0, a.steps, a.repeats)


def _graph_vs_eager(model, v0, w0, steps, repeats) -> None:
    """On CUDA: the step replayed as a CUDA graph (stelib.core._graphs) against launched op by op
    (STELIB_CUDA_GRAPHS=0), microseconds per step, and whether the runs are the same bit for bit;
    for the built-in STEs and a registered one (sigmoid, whose deferred checks the graph replays)."""
    import os

    print(f"one run on {v0.device}: CUDA graph of the step against op by op, microseconds per step")
    old = os.environ.get("STELIB_CUDA_GRAPHS")
    try:
        for ste in ("identity", "relu", "crelu", "sigmoid"):  # sigmoid: registered, its checks replayed
            us, runs = {}, {}
            for flag in ("1", "0"):
                os.environ["STELIB_CUDA_GRAPHS"] = flag
                us[flag] = 1e6 * _seconds_per_step(model, v0, w0, ste, steps, repeats)
                runs[flag] = population_cgd(model, v0, w0, ste=ste, lr=0.05, steps=200)
            same = all(torch.equal(getattr(runs["1"], k), getattr(runs["0"], k)) for k in ("v", "w", "loss"))
            print(f"  {ste:8s} graph {us['1']:7.1f} us | op by op {us['0']:7.1f} us | "
                  f"speed-up {us['0'] / us['1']:.2f}x; identical runs: {same}")
    finally:
        if old is None:
            os.environ.pop("STELIB_CUDA_GRAPHS", None)
        else:
            os.environ["STELIB_CUDA_GRAPHS"] = old


if __name__ == "__main__":
    main()
