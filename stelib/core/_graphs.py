"""One step of a training loop replayed as a CUDA graph.

A single run of population coarse gradient descent is about a hundred tiny tensor operations
per step. On a GPU each is a kernel launch of a few microseconds from Python, whatever its
size, so such a loop is bound by launches, not by arithmetic. A CUDA graph records the step's
kernels once and replays them with one launch (PyTorch's ``torch.cuda.CUDAGraph``).

:func:`capture_step` takes the step as a function that updates a fixed set of tensors in place
(the state) and reads nothing back to the host; it returns the graph's replay when the graph
gives the same state as running the function, bit for bit, and ``None`` otherwise (then the
loop runs the function itself). :func:`stelib.train.population_cgd` captures one step, or a
block of steps and the record that ends it. Nothing here runs on a CPU: population CGD uses it
only for runs on a CUDA device, and ``STELIB_CUDA_GRAPHS=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Sequence

import torch

from stelib.core import _closedform as cf

__all__ = ["MIN_STEPS", "capture_step", "wanted"]

MIN_STEPS = 64  # fewer steps than this do not repay a capture (a few milliseconds)
MIN_BLOCKS = 8  # a graph of several steps and a record: fewer replays than this do not repay it


def wanted(device: torch.device, steps: int) -> bool:
    """Whether a loop of ``steps`` steps on ``device`` should try a CUDA graph: a CUDA device,
    at least :data:`MIN_STEPS` steps, and ``STELIB_CUDA_GRAPHS`` not set to ``0``."""
    return (device.type == "cuda" and steps >= MIN_STEPS
            and os.environ.get("STELIB_CUDA_GRAPHS", "1").strip() != "0")


def capture_step(step: Callable[[], None], state: Sequence[torch.Tensor], *,
                 graph_factory: Callable | None = None) -> Callable[[], None] | None:
    """Advance ``state`` by one ``step`` and return a function that does the same by replaying
    ``step`` as a CUDA graph, or ``None`` when that is not possible or not the same.

    ``step()`` must update the tensors of ``state`` in place (every tensor it writes is in
    ``state``) and read nothing back to the host (otherwise a warning, and ``None``). A warm-up
    step on the capture's stream and the capture are followed by one replay, each from a copy of
    the state; then the state is restored and ``step()`` itself runs. The graph is kept only if
    its replay gave every tensor of the state bit for bit (NaNs included). So ``state`` always
    ends one ``step()`` further on, whatever happens.

    Checks the step leaves for later (:func:`stelib.core._closedform.check_later`, e.g. a
    registered surrogate's quadrature accuracy and finiteness) are replayed too: the graph ORs
    each one's flag into a flag of its own that no replay clears, and those flags stay among the
    pending checks, read at every :func:`~stelib.core._closedform.flush` (the loop's records) until
    the loop ends. A check that failed at any replay since the last record raises there, with its
    message and a note that the numbers in it are those of the last replay. A step that leaves a
    different number of checks in the warm-up and in the capture is not replayed (``None``, no
    warning). ``graph_factory`` stands in for ``torch.cuda.CUDAGraph`` (for tests): given the
    function to capture, it returns ``(replay, warm, capture)``, the graph's replay and the
    contexts for a warm-up step and for the capture.
    """
    saved = [x.clone() for x in state]
    pending = cf._PENDING.get()
    replay, replayed, sticky = None, None, []
    try:
        n0 = len(pending) if pending is not None else 0
        captured = step  # what the capture runs: redefined below when the step leaves checks, which
        # the warm-up counts; the factory's function looks it up when called
        replay, warm, context = (graph_factory or _cuda_graph)(lambda: captured())
        with warm:  # one step on the capture's stream first (libraries set up their handles)
            step()
        checks = (len(pending) - n0) if pending is not None else 0  # the step's deferred checks
        if checks:
            flags = torch.zeros(checks, dtype=torch.bool, device=state[0].device)  # before the capture

            def captured():  # the step, then its checks ORed into flags no replay clears
                first = len(pending)
                step()
                new = pending[first:]
                del pending[first:]
                if len(new) != checks:
                    raise _Deferred
                flags.logical_or_(torch.stack([b.reshape(()) for b, _ in new]))
                sticky[:] = [m for _, m in new]
        for x, y in zip(state, saved, strict=True):
            x.copy_(y)
        before = len(pending) if pending is not None else 0
        with context:
            captured()
        if pending is not None and len(pending) != before:  # a check outside the step: not replayable
            del pending[before:]
            raise _Deferred
        replay()
        replayed = [x.clone() for x in state]
        if checks:
            flags.zero_()  # the verification replay's step is redone below, with its own checks
    except _Deferred:
        replay = None
    except RuntimeError as e:  # e.g. a host read or an unsupported operation during capture
        warnings.warn(f"CUDA graph capture of the CGD step failed ({e}); running it without a graph",
                      RuntimeWarning, stacklevel=3)
        replay = None
    for x, y in zip(state, saved, strict=True):
        x.copy_(y)
    step()
    if replay is None:
        return None
    if not all(_same_bits(a, b) for a, b in zip(state, replayed, strict=True)):
        warnings.warn("the CUDA graph of the CGD step did not reproduce the step bit for bit; running "
                      "it without a graph", RuntimeWarning, stacklevel=3)
        return None
    for i, message in enumerate(sticky):
        pending.append((flags[i], _replayed(message), True))
    return replay


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (a NaN equals a NaN with the same bits, as in a record of a diverged run)."""
    if a.is_floating_point() and a.dtype == b.dtype and a.shape == b.shape:
        ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.view(ints), b.view(ints))
    return torch.equal(a, b)


def _replayed(message: Callable[[], str]) -> Callable[[], str]:
    return lambda: (f"{message()} [found at a step replayed as a CUDA graph since the last record: "
                    "the numbers are those of the last replay]")


class _Deferred(Exception):
    """The checks the step leaves for later differ between the warm-up and the capture."""


@contextlib.contextmanager
def _on(stream):
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        yield
    torch.cuda.current_stream().wait_stream(stream)


def _cuda_graph(fn: Callable[[], None]):  # fn: what the capture context will run (unused here)
    graph, stream = torch.cuda.CUDAGraph(), torch.cuda.Stream()
    return graph.replay, _on(stream), torch.cuda.graph(graph, stream=stream)
