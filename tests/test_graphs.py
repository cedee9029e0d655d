"""A CGD step replayed as a CUDA graph (stelib.core._graphs): the bookkeeping around the capture,
checked on the CPU with a stand-in for the graph (a capture that records without running, a
replay that runs the step), and the step loop that uses it, bit for bit. The capture itself
needs a GPU: test_device.py runs it there."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

import stelib.core._closedform as cf
from stelib import LinearTeacherModel, YinModel, population_cgd
from stelib.core import _graphs

F64 = torch.float64


def _stand_in(state, step, *, wrong=False, fail=False, defer=False):
    """A graph factory: capturing saves and restores the state (a capture runs nothing), the
    replay runs ``step`` (``wrong``: and then nudges the state; ``fail``: the capture raises;
    ``defer``: the captured step leaves a check for later)."""

    @contextlib.contextmanager
    def capture():
        saved = [x.clone() for x in state]
        if fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        yield
        if defer:
            cf.check_later(torch.tensor(False), lambda: "never")
        for x, y in zip(state, saved, strict=True):
            x.copy_(y)

    def replay():
        step()
        if wrong:
            state[0].mul_(1 + 2**-50)

    return lambda: (replay, contextlib.nullcontext(), capture())


def _counter():
    x = torch.tensor([1.0, 2.0], dtype=F64)

    def step():
        x.mul_(1.5).add_(0.25)

    return x, step


def test_a_faithful_graph_is_kept_and_the_state_moves_one_step():
    x, step = _counter()
    replay = _graphs.capture_step(step, (x,), graph_factory=_stand_in((x,), step))
    assert replay is not None
    assert x.tolist() == [1.75, 3.25]  # one step, whatever the capture did
    replay()
    assert x.tolist() == [1.75 * 1.5 + 0.25, 3.25 * 1.5 + 0.25]


@pytest.mark.parametrize("how", ["wrong", "fail", "defer"])
def test_a_graph_that_differs_fails_or_defers_a_check_is_dropped(monkeypatch, how):
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)  # check_later defers, as on a GPU
    x, step = _counter()
    with cf.trusted(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replay = _graphs.capture_step(step, (x,), graph_factory=_stand_in((x,), step, **{how: True}))
        assert not cf._PENDING.get()  # the captured step's deferred check is not left behind
    assert replay is None
    assert x.tolist() == [1.75, 3.25]  # still exactly one step
    warned = any(issubclass(w.category, RuntimeWarning) and "without a graph" in str(w.message) for w in caught)
    assert warned == (how != "defer")  # a deferred check is a known limit, not a failure


def test_graphs_are_wanted_on_cuda_for_long_loops_unless_turned_off(monkeypatch):
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    monkeypatch.delenv("STELIB_CUDA_GRAPHS", raising=False)
    assert _graphs.wanted(cuda, _graphs.MIN_STEPS)
    assert not _graphs.wanted(cuda, _graphs.MIN_STEPS - 1) and not _graphs.wanted(cpu, 10**6)
    monkeypatch.setenv("STELIB_CUDA_GRAPHS", "0")
    assert not _graphs.wanted(cuda, 10**6)


def _models():
    yin = YinModel(torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    lin = LinearTeacherModel(torch.tensor([1.0, 0.5, 0.0], dtype=F64))
    g = torch.Generator().manual_seed(3)
    w0 = torch.randn(5, 3, dtype=F64, generator=g)
    return [(yin, torch.ones(5, 2, dtype=F64), w0), (lin, torch.zeros(5, 1, dtype=F64), w0)]


@pytest.mark.parametrize("case", [0, 1], ids=["yin", "linear_teacher"])
@pytest.mark.parametrize("lr", [0.2, (0.2, 1e3, 0.3, 1e50, 0.2)], ids=["converging", "diverging"])
def test_the_loop_with_a_graph_gives_the_same_runs(monkeypatch, case, lr):
    """The GPU's path (taken on the CPU) with the step replayed by the stand-in from step 2 on
    equals the same path without it, bit for bit, divergence records included."""
    model, v0, w0 = _models()[case]
    stes = ("identity", "relu", "crelu", "relu", "crelu")
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    plain = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=80, record_every=7)
    captured = []
    real = _graphs.capture_step

    def capture(step, state):
        captured.append(len(state))
        return real(step, state, graph_factory=_stand_in(state, step))

    monkeypatch.setattr(_graphs, "wanted", lambda device, steps: True)
    monkeypatch.setattr(_graphs, "capture_step", capture)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the graph is kept, not dropped
        graphed = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=80, record_every=7)
    assert captured == [7]
    for name in ("steps", "loss", "theta", "w_norm", "grad_norm", "v", "w", "diverged", "diverged_step"):
        a, b = getattr(plain, name), getattr(graphed, name)
        assert torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                                     and torch.equal(a.nan_to_num(), b.nan_to_num())), name
    if not isinstance(lr, float):  # runs 2 and 4 diverge, at steps past the capture
        assert plain.diverged.tolist() == [False, True, False, True, False]
        assert bool((plain.diverged_step[plain.diverged] > 2).all())
