"""The step of population coarse gradient descent on Yin et al.'s model computes the geometry of
(w, w*) once, for df/dv and every STE's coarse gradient (``YinModel._coarse_step``): fewer tensor
operations per step (kernel launches on a GPU; benchmarks/bench_steps.py counts them), the same
numbers as the model's public methods."""

from __future__ import annotations

import pytest
import torch

import stelib.core._closedform as cf
from stelib import LinearTeacherModel, YinModel, population_cgd

F64 = torch.float64
STES = ("identity", "crelu", "relu", "hardtanh")  # hardtanh: registered, by quadrature


def _yin():
    return YinModel(torch.tensor([1.0, 0.5, -0.3], dtype=F64), torch.tensor([1.0, 0.0, 0.0, 0.2], dtype=F64))


def _starts(R):
    g = torch.Generator().manual_seed(5)
    w = torch.randn(R, 4, dtype=F64, generator=g)
    return torch.randn(R, 3, dtype=F64, generator=g), 0.3 * w / w.norm(dim=1, keepdim=True)


class _Public:
    """The model seen through its public methods only, as a user's model would be."""

    def __init__(self, model):
        self.m, self.n, self.loss = model.m, model.n, model.loss
        self.grad_v, self.expected_coarse_grad = model.grad_v, model.expected_coarse_grad
        self.reference_direction = getattr(model, "w_star", getattr(model, "a", None))  # for theta


@pytest.mark.parametrize("device_path", [False, True])
def test_one_geometry_per_step(monkeypatch, device_path):
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", device_path)
    calls = []
    real = cf.plane
    monkeypatch.setattr(cf, "plane", lambda *a: calls.append(1) or real(*a))
    v0, w0 = _starts(4)
    counts = []
    for steps in (5, 15):
        calls.clear()
        population_cgd(_yin(), v0, w0, ste=STES, lr=0.01, steps=steps, record_every=steps)
        counts.append(len(calls))
    assert counts[1] - counts[0] == 10, counts  # one per step, for all four STEs together


def test_shared_step_equals_the_public_methods():
    yin = _yin()
    v, w = _starts(8)
    groups = [(s, slice(2 * i, 2 * i + 2)) for i, s in enumerate(STES)]
    gv, gw = yin._coarse_step(v, w, groups)
    assert torch.equal(gv, yin.grad_v(v, w))
    for s, sl in groups:  # each STE's rows, here computed in one batch with the others
        torch.testing.assert_close(gw[sl], yin.expected_coarse_grad(v[sl], w[sl], s), rtol=1e-13, atol=0)
    for s in STES:  # one STE for all runs: the same batch both ways, bit for bit
        assert torch.equal(yin._coarse_step(v, w, [(s, slice(0, 8))])[1], yin.expected_coarse_grad(v, w, s)), s


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu"])
def test_runs_with_the_shared_step_equal_those_with_the_public_methods(ste):
    v0, w0 = _starts(3)
    a = population_cgd(_yin(), v0, w0, ste=ste, lr=0.05, steps=300, record_every=50)
    b = population_cgd(_Public(_yin()), v0, w0, ste=ste, lr=0.05, steps=300, record_every=50)
    for k in ("loss", "theta", "w_norm", "grad_norm", "v", "w"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k


def test_the_trainer_takes_the_shared_step_from_the_model(monkeypatch):
    used = []
    yin = _yin()
    real = yin._coarse_step
    monkeypatch.setattr(yin, "_coarse_step", lambda *a: used.append(1) or real(*a), raising=False)
    v0, w0 = _starts(2)
    population_cgd(yin, v0, w0, ste="relu", lr=0.05, steps=3)
    assert len(used) == 4  # the start and three steps


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu", "hardtanh"])
def test_the_linear_teachers_shared_step_gives_the_same_runs(ste):
    lin = LinearTeacherModel(torch.tensor([1.0, -0.5, 0.25], dtype=F64))
    g = torch.Generator().manual_seed(2)
    v0, w0 = torch.randn(3, 1, dtype=F64, generator=g), 0.5 * torch.randn(3, 3, dtype=F64, generator=g)
    a = population_cgd(lin, v0, w0, ste=ste, lr=0.02, steps=200, record_every=50)
    b = population_cgd(_Public(lin), v0, w0, ste=ste, lr=0.02, steps=200, record_every=50)
    for k in ("loss", "theta", "w_norm", "grad_norm", "v", "w"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k


def _plane_one_call_each(w, w_star):
    """cf.plane as it was written before its rows were batched: one polar or norm call per
    quantity (the reference of the test below)."""
    r, w_hat = cf.polar(w)
    ws_hat = cf.polar(w_star)[1]
    theta = 2.0 * torch.atan2(cf.norm(w_hat - ws_hat), cf.norm(w_hat + ws_hat))
    tol = 64.0 * torch.finfo(theta.dtype).eps
    theta = torch.where(theta < tol, torch.zeros_like(theta), theta)
    theta = torch.where(theta > torch.pi - tol, torch.full_like(theta, torch.pi), theta)
    parallel = (theta == 0) | (theta == torch.pi)
    sign = torch.where(theta == 0, 1.0, -1.0).to(theta.dtype)
    cos = torch.where(parallel, sign, torch.cos(theta))
    sin = torch.where(parallel, torch.zeros_like(theta), torch.sin(theta))
    p = ws_hat - cf.dot(ws_hat, w_hat) * w_hat
    pn = cf.norm(p)
    safe = torch.where(parallel | (pn == 0), torch.ones_like(pn), pn)
    su = torch.where(parallel, torch.zeros_like(p), p / safe * sin)
    return w_hat, ws_hat, r, theta, cos, sin, su


@pytest.mark.parametrize("device_path", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_plane_batches_its_rows_with_the_same_values(monkeypatch, device_path, dtype):
    """plane computes the polar forms of w and w* in one call and its three norms in another:
    bit for bit what one call per quantity gives, on both paths, at every scale (rows whose
    squares overflow or underflow next to plain ones), exactly parallel and antiparallel rows,
    broadcast shapes; and the same gradients up to the order autograd sums them in (an ulp)."""
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", device_path)
    g = torch.Generator().manual_seed(11)
    big = 1e200 if dtype == torch.float64 else 1e30
    w = torch.randn(9, 4, generator=g, dtype=F64).to(dtype)
    w[1] *= big
    w[2] /= big
    w_star = torch.tensor([1.0, 0.5, -0.3, 0.2], dtype=dtype)
    w[3], w[4] = 3 * w_star, -0.5 * w_star  # exactly parallel, antiparallel
    cases = [(w, w_star), (w[5:6], w_star), (w[0], w_star), (w[0], w[5:]), (w[:2], w_star * big)]
    for a, b in cases:
        for trusted in (False, True):
            with cf.trusted() if trusted else torch.no_grad():
                got, ref = cf.plane(a, b), _plane_one_call_each(a, b)
            for x, y in zip(got, ref, strict=True):
                assert x.shape == y.shape and torch.equal(x, y), (a.shape, b.shape, trusted)
    a = w[5:].clone().requires_grad_(True)
    grads = []
    for f in (cf.plane, _plane_one_call_each):
        _, _, r, theta, _, _, su = f(a, w_star)
        (g1,) = torch.autograd.grad((r * theta).sum() + su.sum(), a)
        grads.append(g1)
    scale = grads[1].abs().max().item()
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=4 * torch.finfo(dtype).eps * scale)
