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


def _stand_in(state, *, wrong=False, fail=False, defer=False):
    """A graph factory: given the function to capture, capturing runs it and restores the state
    (a capture launches nothing), the replay runs it again, Python and all (``wrong``: and then
    nudges the state; ``fail``: the capture raises; ``defer``: the capture leaves a check for later
    outside the captured function)."""

    def factory(fn):
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
            fn()
            if wrong:
                state[0].mul_(1 + 2**-50)

        return replay, contextlib.nullcontext(), capture()

    return factory


def _counter():
    x = torch.tensor([1.0, 2.0], dtype=F64)

    def step():
        x.mul_(1.5).add_(0.25)

    return x, step


def test_a_faithful_graph_is_kept_and_the_state_moves_one_step():
    x, step = _counter()
    replay = _graphs.capture_step(step, (x,), graph_factory=_stand_in((x,)))
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
        replay = _graphs.capture_step(step, (x,), graph_factory=_stand_in((x,), **{how: True}))
        assert not cf._PENDING.get()  # the captured step's deferred check is not left behind
    assert replay is None
    assert x.tolist() == [1.75, 3.25]  # still exactly one step
    warned = any(issubclass(w.category, RuntimeWarning) and "without a graph" in str(w.message) for w in caught)
    assert warned == (how != "defer")  # a deferred check is a known limit, not a failure


def test_a_deferred_check_of_the_step_is_replayed_and_sticks(monkeypatch):
    """A step that leaves a check for later is graphed: every replay ORs the check into a flag no
    replay clears, read at each flush. Here the check fails at one step only (x[0] in (5, 8)) and
    passes again at the next: a flush after both still raises, with the message of the check."""
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    x, count = _counter()

    def step():
        count()
        cf.check_later((x[0] > 5) & (x[0] < 8), lambda: f"x[0] = {float(x[0]):.4g}, in (5, 8)")

    with pytest.raises(ValueError, match="replayed as a CUDA graph"), cf.trusted():  # its exit flushes
        replay = _graphs.capture_step(step, (x,), graph_factory=_stand_in((x,)))
        assert replay is not None and x.tolist() == [1.75, 3.25]  # kept; still one step
        cf.flush()  # the warm-up's and the step's own checks pass; the graph's flag stays
        assert len(cf._PENDING.get()) == 1
        replay()
        replay()  # x[0] = 4.5625: passes
        cf.flush()
        replay()  # 7.09375: fails
        replay()  # 10.89: passes again
        with pytest.raises(ValueError, match=r"x\[0\] = 10.89, in \(5, 8\) \[found at a step replayed as a CUDA"):
            cf.flush()
        assert len(cf._PENDING.get()) == 1  # the flag stays set: every later flush raises too


def test_a_step_whose_checks_change_in_number_is_not_graphed(monkeypatch):
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    x, count = _counter()
    calls = []

    def step():
        count()
        calls.append(1)
        for _ in range(len(calls)):  # one check in the warm-up, two in the capture
            cf.check_later(x[0] < 0, lambda: "never")

    with cf.trusted(), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no warning: a known limit
        assert _graphs.capture_step(step, (x,), graph_factory=_stand_in((x,))) is None
        assert all(len(e) == 2 for e in cf._PENDING.get())  # ordinary checks only: read once
    assert x.tolist() == [1.75, 3.25]


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


REGISTERED = ("identity", "sigmoid", "crelu", "hardtanh", "approxsign")  # checks left for later


@pytest.mark.parametrize("case", [0, 1], ids=["yin", "linear_teacher"])
@pytest.mark.parametrize("lr", [0.2, (0.2, 1e3, 0.3, 1e50, 0.2)], ids=["converging", "diverging"])
@pytest.mark.parametrize("stes", [("identity", "relu", "crelu", "relu", "crelu"), REGISTERED],
                         ids=["builtin", "registered"])
@pytest.mark.parametrize(("every", "steps"), [(2, 81), (1, 80), (7, 80)],
                         ids=["records_apart", "record_every_step", "few_records"])
def test_the_loop_with_a_graph_gives_the_same_runs(monkeypatch, case, lr, stes, every, steps):
    """The GPU's path (taken on the CPU) with the step replayed by the stand-in from step 2 on
    equals the same path without it, bit for bit, divergence records included; registered
    surrogates, whose quadrature and finiteness checks wait for the records, are graphed too;
    with records at most FUSE_EVERY steps apart and enough of them (not 11 blocks of 7 steps) the
    graph holds a block of steps and its record (four buffers and a row counter more in its
    state), and 81 steps with records 2 apart end with a shorter block of 1 step."""
    model, v0, w0 = _models()[case]
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    plain = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=steps, record_every=every)
    captured = []
    real = _graphs.capture_step

    def capture(step, state):
        replay = real(step, state, graph_factory=_stand_in(state))
        captured.append((len(state), replay is not None))
        return replay

    monkeypatch.setattr(_graphs, "wanted", lambda device, steps: True)
    monkeypatch.setattr(_graphs, "capture_step", capture)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the graph is kept, not dropped
        graphed = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=steps, record_every=every)
    assert captured == [(7 if every == 7 else 12, True)]  # one capture, kept
    for name in ("steps", "loss", "theta", "w_norm", "grad_norm", "v", "w", "diverged", "diverged_step"):
        a, b = getattr(plain, name), getattr(graphed, name)
        assert torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                                     and torch.equal(a.nan_to_num(), b.nan_to_num())), name
    if not isinstance(lr, float):  # runs 2 and 4 diverge, at steps past the capture
        assert plain.diverged.tolist() == [False, True, False, True, False]
        assert bool((plain.diverged_step[plain.diverged] > 2).all())


@pytest.mark.parametrize("every", [1, 5])
def test_a_single_run_that_diverges_raises_the_same_with_a_graph(monkeypatch, every):
    """One run (on_divergence="raise"): with the block of steps and record replayed by the stand-in
    the loop raises at the same record, with the same message, as without a graph."""
    from stelib.core.train import TrainingDiverged

    model, v0, w0 = _models()[1]
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    kw = dict(ste="crelu", lr=40.0, steps=200, record_every=every)
    with pytest.raises(TrainingDiverged) as plain:
        population_cgd(model, v0[:1], w0[:1], **kw)
    real = _graphs.capture_step
    kept = []
    monkeypatch.setattr(_graphs, "wanted", lambda device, steps: True)
    monkeypatch.setattr(_graphs, "capture_step", lambda step, state: _capture_kept(real, step, state, kept))
    with pytest.raises(TrainingDiverged) as graphed:
        population_cgd(model, v0[:1], w0[:1], **kw)
    assert kept == [True] and str(graphed.value) == str(plain.value)
    assert "diverged at step" in str(plain.value)


def _capture_kept(real, step, state, kept):
    replay = real(step, state, graph_factory=_stand_in(state))
    kept.append(replay is not None)
    return replay


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_same_bits_compares_bit_patterns(dtype):
    """The graph's check: NaN records of diverged runs are equal when their bits are; -0.0 is not 0.0."""
    a = torch.tensor([1.0, float("nan"), 0.0], dtype=dtype)
    assert _graphs._same_bits(a, a.clone()) and not torch.equal(a, a.clone())
    assert not _graphs._same_bits(a, torch.tensor([1.0, float("nan"), -0.0], dtype=dtype))
    assert not _graphs._same_bits(a, a.nan_to_num())
    assert _graphs._same_bits(torch.tensor([True, False]), torch.tensor([True, False]))


@pytest.mark.parametrize("gpu_path", [True, False], ids=["gpu_path", "cpu_path"])
def test_a_loss_that_overflows_at_the_start_raises_at_step_0(monkeypatch, gpu_path):
    """A single run with finite v and w whose loss overflows is stopped at the first record."""
    from stelib.core.train import TrainingDiverged

    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", gpu_path)
    model, _, w0 = _models()[1]
    with pytest.raises(TrainingDiverged, match="diverged at step 0 "):
        population_cgd(model, torch.full((1, 1), 1e200, dtype=F64), w0[:1], ste="relu", lr=0.1, steps=3)
