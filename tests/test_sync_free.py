"""Coarse gradient descent validates its start once, not at every step (each check of a value
reads it back from a GPU), and gives bit for bit the same runs as with every check on."""

from __future__ import annotations

import collections
import contextlib
import math

import pytest
import torch

import stelib.core._closedform as cf
from stelib import LinearTeacherModel, YinModel, population_cgd
from stelib.core import train

F64 = torch.float64


@pytest.fixture
def counted(monkeypatch):
    """Counts of the value checks the closed forms make (finiteness, nonzero rows)."""
    counts = collections.Counter()
    for name in ("as_tensor", "check_nonzero_rows"):
        real = getattr(cf, name)

        def spy(*a, _real=real, _name=name, **k):
            counts[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(cf, name, spy)
    return counts


def _runs():
    g = torch.Generator().manual_seed(0)
    yin = YinModel(torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    lin = LinearTeacherModel(torch.tensor([1.0, 0.5, 0.0], dtype=F64))
    w0 = torch.randn(4, 3, dtype=F64, generator=g)
    return [(yin, torch.ones(4, 2, dtype=F64), w0, "crelu"), (lin, torch.zeros(4, 1, dtype=F64), w0, "relu")]


@pytest.mark.parametrize("case", [0, 1], ids=["yin", "linear_teacher"])
def test_value_checks_do_not_grow_with_the_steps(counted, case):
    model, v0, w0, ste = _runs()[case]
    seen = []
    for steps in (5, 50):
        counted.clear()
        population_cgd(model, v0, w0, ste=ste, lr=0.1, steps=steps)
        seen.append(dict(counted))
    assert seen[0] == seen[1] and seen[0]["as_tensor"] > 0, seen


@pytest.mark.parametrize("case", [0, 1], ids=["yin", "linear_teacher"])
def test_the_trusted_loop_changes_no_number(monkeypatch, case):
    model, v0, w0, ste = _runs()[case]
    fast = population_cgd(model, v0, w0, ste=ste, lr=0.3, steps=40)
    monkeypatch.setattr(train, "trusted", contextlib.nullcontext)  # every check at every step
    slow = population_cgd(model, v0, w0, ste=ste, lr=0.3, steps=40)
    for name in ("loss", "theta", "w_norm", "grad_norm", "v", "w"):
        assert torch.equal(getattr(fast, name), getattr(slow, name)), name


def test_the_start_is_still_checked():
    model, v0, w0, ste = _runs()[0]
    w0 = w0.clone()
    w0[2] = 0.0
    with pytest.raises(ValueError, match="w"):
        population_cgd(model, v0, w0, ste=ste, lr=0.1, steps=3)


def test_trusted_is_scoped_and_skips_only_value_checks():
    bad = torch.tensor([[0.0, 0.0]], dtype=F64)
    with cf.trusted():
        cf.nonzero(bad, "w")  # not checked inside
        assert cf.vector(torch.tensor([float("nan")], dtype=F64), name="w").isnan().all()
        with pytest.raises(ValueError, match="w"):  # shapes are still checked
            cf.vector(torch.zeros(2, 0, dtype=F64), name="w")
        with pytest.raises(ValueError, match="must be numeric"):  # not a tensor: converted, checked
            cf.vector(None, name="w")
    with pytest.raises(ValueError, match="w"):
        cf.nonzero(bad, "w")
    with pytest.raises(RuntimeError), cf.trusted():
        raise RuntimeError
    with pytest.raises(ValueError, match="w"):  # reset after an exception too
        cf.nonzero(bad, "w")


def test_rowwise_polar_equals_the_branching_one_row_by_row():
    """The GPU path of polar/norm (no host read): each row as the CPU path gives it alone."""
    x = torch.tensor([[3.0, 4.0], [1e200, -2e200], [1e-200, 3e-201], [0.1, -0.2]], dtype=F64)
    r, xh = cf._polar_rowwise(x, torch.linalg.vector_norm(x, dim=-1, keepdim=True))
    for i in range(x.shape[0]):
        ri, xi = cf.polar(x[i:i + 1])
        assert torch.equal(r[i:i + 1], ri) and torch.equal(xh[i:i + 1], xi), i
    assert torch.isfinite(r).all() and torch.isfinite(xh).all()
    assert torch.equal(cf._polar_rowwise(x, torch.linalg.vector_norm(x, dim=-1, keepdim=True), unit=False), r)
    zero = torch.zeros(1, 2, dtype=F64)  # no division by 0 on this path: (0, 0)
    assert all(torch.equal(t, zero[:, :t.shape[1]]) for t in cf._polar_rowwise(zero, torch.zeros(1, 1, dtype=F64)))


def test_a_rows_polar_does_not_depend_on_the_other_rows_of_its_batch():
    """A batch holding one row out of range (squares overflow) scales that row only: every
    other row is computed as alone, bit for bit (before, the whole batch took the scaled path)."""
    x = torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    big = torch.cat([x, torch.tensor([[1e200, 0.0, -3e199]], dtype=F64)])
    (r, xh), (rb, xhb) = cf.polar(x), cf.polar(big)
    assert torch.equal(r, rb[:6]) and torch.equal(xh, xhb[:6])
    assert torch.equal(cf.norm(x), cf.norm(big)[:6])
    assert torch.equal(rb[6:], cf.polar(big[6:])[0]) and math.isfinite(float(rb[6]))


def _fields(h):
    return {k: getattr(h, k) for k in ("steps", "loss", "theta", "w_norm", "grad_norm", "v", "w",
                                       "diverged", "diverged_step")}


@pytest.mark.parametrize("lr", [0.3, 1e8], ids=["converging", "some_diverge"])
def test_the_gpus_sync_free_loop_gives_the_same_runs(monkeypatch, lr):
    """Taken on the CPU, the path without host reads (no branch on divergence inside the loop)
    gives the same histories, divergence steps included."""
    yin = YinModel(torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    g = torch.Generator().manual_seed(1)
    v0, w0 = torch.randn(6, 2, dtype=F64, generator=g), torch.randn(6, 3, dtype=F64, generator=g)
    lrs = torch.tensor([lr, 0.1, lr, 0.1, lr, 0.1], dtype=F64)
    args = dict(ste=("identity", "relu", "crelu") * 2, lr=lrs, steps=60, record_every=7)
    plain = _fields(population_cgd(yin, v0, w0, **args))
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    free = _fields(population_cgd(yin, v0, w0, **args))
    for k in plain:
        assert torch.equal(plain[k].isnan(), free[k].isnan()), k
        assert torch.equal(plain[k].nan_to_num(), free[k].nan_to_num()), k
    if lr > 1:
        assert plain["diverged"].any()


def test_a_single_run_raises_at_the_same_step_on_the_sync_free_path(monkeypatch):
    yin = YinModel(torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    v0, w0 = torch.ones(1, 2, dtype=F64), torch.tensor([[0.3, 1.0, 0.0]], dtype=F64)
    messages = []
    for free in (False, True):
        monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", free)
        with pytest.raises(train.TrainingDiverged) as info:
            population_cgd(yin, v0, w0, ste="identity", lr=1e8, steps=50, record_every=7)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "diverged at step" in messages[0]


def test_finite_rows_equals_testing_each_condition():
    """train._finite_rows (one amax and one scaled norm) marks the same rows as testing each
    condition on its own: v and w finite, w != 0, |w| finite (the overflow-safe norm)."""
    big, tiny, nan, inf = 1.3e308, 5e-324, math.nan, math.inf
    w = torch.tensor([[1.0, 2.0], [nan, 1.0], [1.0, -inf], [0.0, 0.0], [-0.0, 0.0], [tiny, 0.0],
                      [1e308, 1e308], [big, big], [-big, 1.0], [1e200, -1e200], [1e-200, 3e-300]], dtype=F64)
    rows = torch.cat([w, w, w, w])
    v = torch.ones(rows.shape[0], 3, dtype=F64)
    k = w.shape[0]
    v[k:2 * k, 1], v[2 * k:3 * k, 0], v[3 * k:, 2] = nan, -inf, 1e308
    want = (torch.isfinite(v).all(dim=1) & torch.isfinite(rows).all(dim=1) & (rows != 0).any(dim=1)
            & torch.isfinite(cf.norm(torch.where(torch.isfinite(rows), rows, 1.0))[:, 0]))
    got = train._finite_rows(v, rows)
    assert torch.equal(got, want), (got, want)
    assert got[:k].tolist() == [True, False, False, False, False, True, True, False, True, True, True]


def _cuda_runs():
    """The runs of :func:`_runs`, on the GPU."""
    dev = torch.device("cuda")
    out = []
    for model, v0, w0, ste in _runs():
        moved = (YinModel(model.v_star.to(dev), model.w_star.to(dev)) if isinstance(model, YinModel)
                 else LinearTeacherModel(model.a.to(dev)))
        out.append((moved, v0.to(dev), w0.to(dev), ste))
    return out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("graphs", ["1", "0"], ids=["cuda_graph", "op_by_op"])
@pytest.mark.parametrize("case", [0, 1], ids=["yin", "linear_teacher"])
def test_cuda_synchronisations_do_not_grow_with_the_steps(monkeypatch, case, graphs):
    """On a GPU, torch's sync debug mode reports every host-device synchronisation: one CGD run
    makes as many in 300 steps as in 100, recording every step (its start is checked once, and
    nothing inside the loop or a record reads a value back or copies one from the host), with the
    step replayed as a CUDA graph and launched op by op."""
    import warnings

    monkeypatch.setenv("STELIB_CUDA_GRAPHS", graphs)
    model, v0, w0, ste = _cuda_runs()[case]

    def syncs(steps: int) -> int:
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                population_cgd(model, v0, w0, ste=ste, lr=0.1, steps=steps)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message).lower() for w in seen)

    syncs(100)  # warm-up: first launches, the graph's first capture
    counts = [syncs(100), syncs(300)]
    assert counts[0] == counts[1], counts
