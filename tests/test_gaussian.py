"""Tests of stelib.gaussian: closed forms vs Monte Carlo (stelib.network), finite differences,
gradcheck, Yin's landscape lemmas, edge cases and argument validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _stats import within
from hypothesis import given, settings
from hypothesis import strategies as st

from stelib import gaussian as g
from stelib.network import coarse_grads, grad_v, sample_loss, teacher

STES = ("identity", "relu", "crelu")
F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)
V_STAR = torch.tensor([1.0, -0.5, 0.8], dtype=F64)  # (1^T v*)^2 = 1.69 < 2 |v*|^2 = 3.78
W_STAR = torch.tensor([0.6, -1.0, 0.3, 0.5], dtype=F64)
N_MC = 200_000


def t(*x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


def at_angle(theta: float, norm: float = 1.0, w_star: torch.Tensor = W_STAR) -> torch.Tensor:
    """A w with angle(w, w*) = theta and |w| = norm, in the plane of w* and a fixed direction."""
    ws = w_star / w_star.norm()
    e = torch.ones_like(ws)
    e = e - (e @ ws) * ws
    e = e / e.norm()
    return norm * (math.cos(theta) * ws + math.sin(theta) * e)


POINTS = {
    "generic": (t(0.7, 1.1, -0.4), at_angle(1.1, 0.8)),
    "wide-window": (t(-0.3, 0.9, 0.6), at_angle(2.5, 0.45)),
}


@pytest.fixture(scope="module")
def sample():
    gen = torch.Generator().manual_seed(20240607)
    Z = torch.randn(N_MC, 3, 4, generator=gen, dtype=F64)  # (batch, m, n)
    return Z, teacher(V_STAR, W_STAR, Z)


@pytest.mark.parametrize("point", POINTS)
def test_loss_and_grad_v_vs_monte_carlo(sample, point):
    Z, y = sample
    v, w = POINTS[point]
    within(g.population_loss(v, w, V_STAR, W_STAR), sample_loss(v, w, Z, y, per_sample=True))
    within(g.population_grad(v, w, V_STAR, W_STAR)[0], grad_v(v, w, Z, y, per_sample=True))


@pytest.mark.parametrize("point", POINTS)
def test_expected_coarse_grad_vs_monte_carlo(sample, point):
    Z, y = sample
    v, w = POINTS[point]
    mc = coarse_grads(v, w, Z, y, STES, per_sample=True)
    for ste in STES:
        within(g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste), mc[ste])


def test_yin_model_sample_and_protocol():
    model = g.YinModel(V_STAR.numpy(), W_STAR)
    assert (model.m, model.n) == (3, 4)
    Z, y = model.sample(50_000, torch.Generator().manual_seed(1))
    Z2, _ = model.sample(50_000, torch.Generator().manual_seed(1))
    assert Z.shape == (50_000, 3, 4) and Z.dtype == F64 and torch.equal(Z, Z2)
    assert torch.equal(y, teacher(V_STAR, W_STAR, Z))
    v, w = POINTS["generic"]
    within(model.loss(v, w), sample_loss(v, w, Z, y, per_sample=True))
    # the model's methods against independent references: Monte Carlo on its own sample, and
    # the population gradient (I + 11^T) v / 4 - (k I + 11^T) v* / 4 written out in NumPy
    within(model.grad_v(v, w), grad_v(v, w, Z, y, per_sample=True))
    within(model.expected_coarse_grad(v, w, "crelu"), coarse_grads(v, w, Z, y, ("crelu",), per_sample=True)["crelu"])
    k = 1 - 2 * math.acos(float(w @ W_STAR / (w.norm() * W_STAR.norm()))) / math.pi
    vn, vs = v.numpy(), V_STAR.numpy()
    np.testing.assert_allclose(model.grad_v(v, w).numpy(), (vn + vn.sum() - k * vs - vs.sum()) / 4, rtol=1e-13)
    h = 1e-6 * at_angle(1.1 + math.pi / 2)  # along u: df/dw . u by a central difference of f
    fd = (float(model.loss(v, w + h)) - float(model.loss(v, w - h))) / 2
    assert float(model.grad_w(v, w) @ h) == pytest.approx(fd, rel=1e-6)
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        model.sample(10, 0)
    with pytest.raises(ValueError, match="batch"):
        model.sample(0, torch.Generator())


@pytest.mark.parametrize("point", POINTS)
def test_grad_vs_finite_differences(point):
    v, w = POINTS[point]
    gv, gw = g.population_grad(v, w, V_STAR, W_STAR)
    eps = 1e-6

    def f(v, w):
        return float(g.population_loss(v, w, V_STAR, W_STAR))

    def e(i, k):
        d = torch.zeros(k, dtype=F64)
        d[i] = eps
        return d

    for grad, shift in ((gv, lambda d: (v + d, w)), (gw, lambda d: (v, w + d))):
        k = len(grad)
        fd = torch.tensor(
            [(f(*shift(e(i, k))) - f(*shift(-e(i, k)))) / (2 * eps) for i in range(k)], dtype=F64)
        torch.testing.assert_close(fd, grad, atol=1e-8, rtol=1e-7)


def test_gradcheck_smooth_closed_forms():
    v, w = (x.clone().requires_grad_() for x in POINTS["generic"])
    assert torch.autograd.gradcheck(lambda v, w: g.population_loss(v, w, V_STAR, W_STAR), (v, w))
    for ste in STES:  # expected coarse gradients are smooth in (v, w) for theta in (0, pi)
        assert torch.autograd.gradcheck(
            lambda v, w, s=ste: g.expected_coarse_grad(v, w, V_STAR, W_STAR, s), (v, w))


def test_autograd_of_loss_equals_closed_grad():
    v, w = (x.clone().requires_grad_() for x in POINTS["wide-window"])
    g.population_loss(v, w, V_STAR, W_STAR).backward()
    gv, gw = g.population_grad(v.detach(), w.detach(), V_STAR, W_STAR)
    torch.testing.assert_close(v.grad, gv)
    torch.testing.assert_close(w.grad, gw)


def test_spurious_minimizer_lemmas():
    vt = g.spurious_minimizer_v(V_STAR)
    m, s = 3, float(V_STAR.sum())
    torch.testing.assert_close(vt, torch.linalg.solve(torch.eye(m, dtype=F64) + 1,
                                                      (torch.ones(m, m, dtype=F64) - torch.eye(m,
                                                       dtype=F64)) @ V_STAR))
    assert g.spurious_minima_exist(V_STAR) and not g.spurious_minima_exist(t(1.0, 1.0, 1.0))
    assert float(g._h(vt, V_STAR)) == pytest.approx(0.0, abs=1e-14)
    expected_norm = 2 * (m - 1) * s**2 / (math.sqrt(2 * math.pi) * (m + 1) ** 2)
    norm_at_spurious = float(g.identity_grad_norm_at_spurious(V_STAR))
    assert norm_at_spurious == pytest.approx(expected_norm, rel=1e-14)
    for scale in (1e-3, 0.5, 1.0, 7.0, 1e3):
        w = -scale * W_STAR
        gv, gw = g.population_grad(vt, w, V_STAR, W_STAR)
        assert float(gv.abs().max()) < 1e-15 and float(gw.abs().max()) == 0.0
        for ste in ("relu", "crelu"):
            assert float(g.expected_coarse_grad(vt, w, V_STAR, W_STAR, ste).abs().max()) < 1e-15
        gid = g.expected_coarse_grad(vt, w, V_STAR, W_STAR, "identity")
        assert float(gid.norm()) == pytest.approx(expected_norm, rel=1e-12)
        assert g.classify_critical_point(vt, w, V_STAR, W_STAR) == "spurious minimum"
    # a local minimum: f does not decrease when theta moves off pi or v moves off v~
    f0 = float(g.population_loss(vt, -W_STAR, V_STAR, W_STAR))
    assert float(g.population_loss(vt, at_angle(math.pi - 0.01), V_STAR, W_STAR)) > f0
    assert float(g.population_loss(vt + 0.01, -W_STAR, V_STAR, W_STAR)) > f0
    assert g.identity_grad_norm_at_spurious(t(2.0)) == 0.0  # m = 1: no spurious gradient


def test_batched_closed_forms_equal_row_by_row():
    gen = torch.Generator().manual_seed(3)
    v, w = torch.randn(5, 3, generator=gen, dtype=F64), torch.randn(5, 4, generator=gen, dtype=F64)
    loss = g.population_loss(v, w, V_STAR, W_STAR)
    gv, gw = g.population_grad(v, w, V_STAR, W_STAR)
    assert loss.shape == (5,) and gv.shape == (5, 3) and gw.shape == (5, 4)
    for i in range(5):
        assert loss[i].item() == pytest.approx(g.population_loss(v[i], w[i], V_STAR, W_STAR).item(), rel=1e-14)
        torch.testing.assert_close(gv[i], g.population_grad(v[i], w[i], V_STAR, W_STAR)[0], rtol=1e-14, atol=1e-16)
        for ste in STES:
            torch.testing.assert_close(g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste)[i],
                                       g.expected_coarse_grad(v[i], w[i], V_STAR, W_STAR, ste), rtol=1e-14, atol=1e-16)
        assert g.coarse_true_inner(v, w, V_STAR, W_STAR, "crelu")[i].item() == pytest.approx(
            g.coarse_true_inner(v[i], w[i], V_STAR, W_STAR, "crelu").item(), rel=1e-14)
    vs = V_STAR + torch.randn(5, 3, generator=gen, dtype=F64)  # a batch of teachers too
    loss, (gv, _) = g.population_loss(v, w, vs, W_STAR), g.population_grad(v, w, vs, W_STAR)
    assert loss.shape == (5,) and gv.shape == (5, 3)
    for i in range(5):
        assert loss[i].item() == pytest.approx(g.population_loss(v[i], w[i], vs[i], W_STAR).item(), rel=1e-14)
        torch.testing.assert_close(gv[i], g.population_grad(v[i], w[i], vs[i], W_STAR)[0], rtol=1e-14, atol=1e-16)
        torch.testing.assert_close(g.optimal_v(w, vs, W_STAR)[i], g.optimal_v(w[i], vs[i], W_STAR), rtol=1e-14, atol=1e-16)
        torch.testing.assert_close(g.expected_coarse_grad(v, w, vs, W_STAR, "relu")[i],
                                   g.expected_coarse_grad(v[i], w[i], vs[i], W_STAR, "relu"), rtol=1e-14, atol=1e-16)


def test_proposition_1_boundary_is_strict():
    """(1^T v*)^2 < (m + 1)/2 |v*|^2 strictly: the teacher (1, 1, 0) sits on the boundary."""
    on = t(1.0, 1.0, 0.0)  # s^2 = 4 = (3 + 1)/2 * 2
    assert float(on.sum()) ** 2 == (3 + 1) / 2 * float(on @ on)
    assert not g.spurious_minima_exist(on)
    assert g.spurious_minima_exist(t(1.0, 1.0, -1e-6)) and not g.spurious_minima_exist(t(1.0, 1.0, 1e-6))
    assert g.saddle_angle(on) is None
    # just inside, the saddle angle approaches pi (k_s -> -1)
    assert g.saddle_angle(t(1.0, 1.0, -1e-6)) == pytest.approx(math.pi, abs=1e-5)
    # m = 1: (1^T v*)^2 = |v*|^2 = (m + 1)/2 |v*|^2, never spurious
    assert not g.spurious_minima_exist(t(2.0))


def test_theta_pi_without_spurious_minima_is_a_saddle():
    """(v~, theta = pi) is critical for every v*; when v~^T v* >= 0 f decreases off pi."""
    v_star = t(1.0, 1.0, 1.0)  # (1^T v*)^2 = 9 >= 2 * 3: no spurious minimum
    vt = g.spurious_minimizer_v(v_star)
    w_star = W_STAR[:2]
    assert bool(g.is_critical(vt, -w_star, v_star, w_star))
    assert g.classify_critical_point(vt, -w_star, v_star, w_star) == "saddle"
    f0 = float(g.population_loss(vt, -w_star, v_star, w_star))
    off = t(-math.cos(0.05), math.sin(0.05)) @ torch.stack([w_star / w_star.norm(), t(-w_star[1], w_star[0]) / w_star.norm()])
    assert float(g.population_loss(vt, off, v_star, w_star)) < f0
    assert g.classify_critical_point(vt, -w_star, v_star, w_star, atol=1e-10) != "spurious minimum"


def test_global_minimum_and_optimal_v():
    assert g.classify_critical_point(V_STAR, 2 * W_STAR, V_STAR, W_STAR) == "global minimum"
    assert abs(float(g.population_loss(V_STAR, 5 * W_STAR, V_STAR, W_STAR))) < 1e-15
    for ste in STES:
        grad = g.expected_coarse_grad(V_STAR, W_STAR, V_STAR, W_STAR, ste)
        assert float(grad.abs().max()) < 1e-15
    w = torch.randn(5, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    vo = g.optimal_v(w, V_STAR, W_STAR)  # (5, 3)
    assert vo.shape == (5, 3)
    assert float(g.population_grad(vo, w, V_STAR, W_STAR)[0].abs().max()) < 1e-15
    f0 = g.population_loss(vo, w, V_STAR, W_STAR)
    assert bool((g.population_loss(vo + 0.05 * torch.randn_like(vo), w, V_STAR, W_STAR) > f0).all())
    torch.testing.assert_close(g.optimal_v(-W_STAR, V_STAR, W_STAR), g.spurious_minimizer_v(V_STAR))


def test_saddles():
    theta = g.saddle_angle(V_STAR)
    assert 0 < theta < math.pi
    vs = g.saddle_v(V_STAR)
    assert float(vs @ V_STAR) == pytest.approx(0.0, abs=1e-14)
    for norm in (0.1, 3.0):
        w = at_angle(theta, norm)
        assert bool(g.is_critical(vs, w, V_STAR, W_STAR))
        assert g.classify_critical_point(vs, w, V_STAR, W_STAR) == "saddle"
        # relu and crelu coarse gradients vanish there too (Y5); v^T v* = 0 and h = 0 there
        for ste in ("relu", "crelu"):
            assert float(g.expected_coarse_grad(vs, w, V_STAR, W_STAR, ste).abs().max()) < 1e-14
    assert g.classify_critical_point(vs, at_angle(theta + 0.1), V_STAR, W_STAR) == "not critical"
    assert g.saddle_angle(t(1.0, 1.0, 1.0)) is None
    with pytest.raises(ValueError, match="no saddle"):
        g.saddle_v(t(1.0, 1.0, 1.0))


def test_coarse_true_inner_closed_forms():
    gen = torch.Generator().manual_seed(5)
    v = torch.randn(20, 3, generator=gen, dtype=F64)
    w = torch.randn(20, 4, generator=gen, dtype=F64) * torch.logspace(-1, 1, 20, dtype=F64)[:, None]
    gw = g.population_grad(v, w, V_STAR, W_STAR)[1]
    for ste in STES:
        inner = g.coarse_true_inner(v, w, V_STAR, W_STAR, ste)
        direct = (g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste) * gw).sum(-1)
        torch.testing.assert_close(inner, direct, rtol=1e-12, atol=1e-15)
        assert bool((inner >= 0).all())
    assert float(g.coarse_true_inner(V_STAR, -W_STAR, V_STAR, W_STAR, "crelu")) == 0.0


@pytest.mark.parametrize("ste", STES)
@pytest.mark.parametrize("theta, near", [(0.0, 1e-7), (math.pi, math.pi - 1e-7)])
def test_parallel_limits(ste, theta, near):
    v = t(0.7, 1.1, -0.4)
    for norm in (0.3, 1.0, 4.0):
        exact = W_STAR * norm / W_STAR.norm() * (1 if theta == 0 else -1)
        assert float(g.angle(exact, W_STAR)) == theta
        assert float(g.angle(3 * exact, 7 * W_STAR)) == theta  # rounding is snapped
        close = at_angle(near, norm)
        for fn in (g.population_loss, lambda *a: g.population_grad(*a)[0],
                   lambda *a, s=ste: g.expected_coarse_grad(*a, s),
                   lambda *a, s=ste: g.coarse_true_inner(*a, s)):
            x, y = fn(v, exact, V_STAR, W_STAR), fn(v, close, V_STAR, W_STAR)
            assert bool(torch.isfinite(x).all())
            torch.testing.assert_close(x, y, atol=1e-6, rtol=0)
        assert float(g.population_grad(v, exact, V_STAR, W_STAR)[1].abs().max()) == 0.0


@pytest.mark.parametrize("theta", [0.0, 1.0, math.pi])
def test_extreme_norms_are_finite_and_limits(theta):
    v = t(0.7, 1.1, -0.4)
    tiny, huge = at_angle(theta, 1e-8), at_angle(theta, 1e8)
    for w in (tiny, huge):
        for ste in STES:
            assert bool(torch.isfinite(g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste)).all())
            assert bool(torch.isfinite(g.coarse_true_inner(v, w, V_STAR, W_STAR, ste)).all())
        assert all(bool(torch.isfinite(x).all()) for x in g.population_grad(v, w, V_STAR, W_STAR))
    # |w| -> 0: the crelu window covers x > 0, crelu -> relu
    torch.testing.assert_close(g.expected_coarse_grad(v, tiny, V_STAR, W_STAR, "crelu"),
                               g.expected_coarse_grad(v, tiny, V_STAR, W_STAR, "relu"))
    # |w| -> inf: crelu -> the true gradient, both O(1/|w|), difference O(1/|w|^2)
    crelu = g.expected_coarse_grad(v, huge, V_STAR, W_STAR, "crelu")
    true = g.population_grad(v, huge, V_STAR, W_STAR)[1]
    assert float((crelu - true).abs().max()) < 1e-15


def test_m1_n1():
    for w in (t(2.0), t(-0.5)):  # n = 1: theta is 0 or pi
        for ste in STES:
            x = g.expected_coarse_grad(t(0.4, 1.0), w, t(1.0, -2.0), t(3.0), ste)
            assert x.shape == (1,) and bool(torch.isfinite(x).all())
    gen = torch.Generator().manual_seed(9)
    Z = torch.randn(100_000, 1, 2, generator=gen, dtype=F64)  # m = 1
    vs, ws, v, w = t(1.5), t(1.0, 0.2), t(-0.7), t(0.3, 1.0)
    y = teacher(vs, ws, Z)
    mc = coarse_grads(v, w, Z, y, STES, per_sample=True)
    for ste in STES:
        within(g.expected_coarse_grad(v, w, vs, ws, ste), mc[ste])
    within(g.population_loss(v, w, vs, ws), sample_loss(v, w, Z, y, per_sample=True))


def test_batching_and_dtypes():
    gen = torch.Generator().manual_seed(11)
    v = torch.randn(6, 3, generator=gen, dtype=F64)
    w = torch.randn(6, 4, generator=gen, dtype=F64)
    vs = torch.randn(6, 3, generator=gen, dtype=F64)
    for ste in STES:
        batched = g.expected_coarse_grad(v, w, vs, W_STAR, ste)
        rows = torch.stack(
            [g.expected_coarse_grad(v[i], w[i], vs[i], W_STAR, ste) for i in range(6)])
        torch.testing.assert_close(batched, rows, rtol=1e-14, atol=1e-15)
    loss = g.population_loss(v[:, None], w[None], V_STAR, W_STAR)  # (6, 6) grid
    assert loss.shape == (6, 6)
    torch.testing.assert_close(loss[2, 4], g.population_loss(v[2], w[4], V_STAR, W_STAR))
    out = g.population_loss(v.numpy(), w.numpy(), V_STAR.numpy(), W_STAR.numpy())
    assert out.dtype == F64
    out32 = g.expected_coarse_grad(v.float(), w.float(), V_STAR.float(), W_STAR.float(), "crelu")
    assert out32.dtype == torch.float32
    assert g.angle([1.0, 0.0], [0.0, 2.0]).item() == pytest.approx(math.pi / 2)


def test_bad_inputs():
    v, w = POINTS["generic"]
    with pytest.raises(ValueError, match="ste='sgd' is not valid; choose one of 'identity'"):
        g.expected_coarse_grad(v, w, V_STAR, W_STAR, "sgd")
    with pytest.raises(ValueError, match="ste="):
        g.coarse_true_inner(v, w, V_STAR, W_STAR, "ReLU")
    with pytest.raises(ValueError, match="w = 0 is not allowed"):
        g.population_loss(v, torch.zeros(2, 4, dtype=F64), V_STAR, W_STAR)
    with pytest.raises(ValueError, match="w_star = 0 is not allowed"):
        g.YinModel(V_STAR, torch.zeros(4))
    with pytest.raises(ValueError, match=r"v has shape \(4,\) and v_star has shape \(3,\)"):
        g.population_grad(t(1.0, 2.0, 3.0, 4.0), w, V_STAR, W_STAR)
    with pytest.raises(ValueError, match=r"w has shape \(3,\) and w_star"):
        g.angle(t(1.0, 2.0, 3.0), W_STAR)
    with pytest.raises(ValueError, match="v contains non-finite"):
        g.population_loss(t(1.0, math.nan, 0.0), w, V_STAR, W_STAR)
    with pytest.raises(ValueError, match="w_star contains non-finite"):
        g.optimal_v(w, V_STAR, t(1.0, math.inf, 0.0, 0.0))
    with pytest.raises(ValueError, match="do not broadcast"):
        g.population_loss(torch.zeros(2, 3), torch.ones(5, 4), V_STAR, W_STAR)
    with pytest.raises(ValueError, match=r"v_star must have shape \(m,\)"):
        g.spurious_minima_exist(torch.ones(2, 3))
    with pytest.raises(ValueError, match="w must have shape"):
        g.population_loss(v, torch.tensor(1.0), V_STAR, W_STAR)
    with pytest.raises(ValueError, match="real floating"):
        g.population_loss(v, np.ones(4) * 1j, V_STAR, W_STAR)
    for bad in (torch.ones(4, dtype=torch.complex128), torch.ones(4, dtype=torch.bool)):  # tensors too
        with pytest.raises(ValueError, match="w must be a real floating array, got dtype torch"):
            g.population_loss(v, bad, V_STAR, W_STAR)


vectors = st.lists(st.floats(-3, 3), min_size=4, max_size=4).filter(
    lambda x: 0.1 < np.linalg.norm(x))


@settings(max_examples=25, deadline=None)
@given(v=st.lists(st.floats(-3, 3), min_size=3, max_size=3), w=vectors,
       c=st.floats(0.01, 100.0))
def test_scale_symmetry(v, w, c):
    """C1/C2: f, df/dv, E g_id, E g_relu are invariant under w -> c w; df/dw scales as 1/c and is
    orthogonal to w (Euler); the correlations are >= 0."""
    v, w = t(*v), t(*w)
    for fn in (g.population_loss, lambda *a: g.population_grad(*a)[0],
               lambda *a: g.expected_coarse_grad(*a, "identity"),
               lambda *a: g.expected_coarse_grad(*a, "relu")):
        torch.testing.assert_close(fn(v, c * w, V_STAR, W_STAR), fn(v, w, V_STAR, W_STAR),
                                   rtol=1e-10, atol=1e-12)
    gw = g.population_grad(v, w, V_STAR, W_STAR)[1]
    torch.testing.assert_close(g.population_grad(v, c * w, V_STAR, W_STAR)[1] * c, gw,
                               rtol=1e-10, atol=1e-12)
    assert abs(float(gw @ w)) < 1e-12 * (1 + float(gw.norm() * w.norm()))
    for ste in STES:
        assert float(g.coarse_true_inner(v, w, V_STAR, W_STAR, ste)) >= 0


def test_crelu_breaks_scale_symmetry():
    v, w = POINTS["generic"]
    small = g.expected_coarse_grad(v, 0.5 * w, V_STAR, W_STAR, "crelu")
    large = g.expected_coarse_grad(v, 2.0 * w, V_STAR, W_STAR, "crelu")
    assert float((small - large).abs().max()) > 1e-2


def test_centred_teacher_has_a_second_global_minimum_not_a_spurious_one():
    """1^T v* = 0: (v~, pi) = (-v*, pi) has zero loss, so it is global (Yin's Prop. 1 needs s* != 0)."""
    v_star = torch.tensor([1.0, -1.0, 2.0, -2.0], dtype=torch.float64)
    w_star = torch.tensor([1.0, 0.0], dtype=torch.float64)
    v_t = g.spurious_minimizer_v(v_star)
    assert not g.spurious_minima_exist(v_star)
    assert abs(float(g.population_loss(v_t, -w_star, v_star, w_star))) < 1e-15
    assert g.classify_critical_point(v_t, -w_star, v_star, w_star) == "global minimum"
    centred = torch.tensor([0.3, -1.7, 2.2, 0.9], dtype=torch.float64)
    centred = centred - centred.mean()  # 1^T v* is ~1e-16 here, not exactly 0
    assert not g.spurious_minima_exist(centred)


@pytest.mark.parametrize("v_star", [t(1.0, -1.0, 2.0, -2.0), t(0.3, -1.7, 2.2, 0.9) - t(0.3, -1.7, 2.2, 0.9).mean()])
def test_centred_teacher_has_saddles_at_a_right_angle_with_v_zero(v_star):
    """1^T v* = 0 (exactly, or to rounding): no spurious minima, but saddles at theta_s = pi/2 with
    v_s = 0 (book: prop-yin-landscape item 3). f is |v*|^2/8 there and does not depend on theta at
    v = 0; along v = a v*, k = a f drops, so it is a saddle; the identity coarse gradient vanishes
    there too (prop-yin-vanish)."""
    w_star = W_STAR
    assert not g.spurious_minima_exist(v_star)
    assert g.saddle_angle(v_star) == math.pi / 2
    vs = g.saddle_v(v_star)
    assert float(vs.abs().max()) < 1e-15
    for norm in (0.3, 2.0):
        w = at_angle(math.pi / 2, norm)
        assert bool(g.is_critical(vs, w, v_star, w_star))
        assert g.classify_critical_point(vs, w, v_star, w_star) == "saddle"
        f0 = float(g.population_loss(vs, w, v_star, w_star))
        assert f0 == pytest.approx(float(v_star @ v_star) / 8, rel=1e-14)
        a = 0.01  # v = a v*, theta with k = a: f - f0 = (a^2 - 2 a^2) |v*|^2 / 8 < 0
        down = float(g.population_loss(vs + a * v_star, at_angle(math.pi / 2 * (1 - a), norm), v_star, w_star))
        assert down - f0 == pytest.approx(-(a**2) * float(v_star @ v_star) / 8, rel=1e-9)
        assert float(g.population_loss(vs + a * v_star, w, v_star, w_star)) > f0  # up along v alone
        for ste in STES:
            assert float(g.expected_coarse_grad(vs, w, v_star, w_star, ste).abs().max()) < 1e-14


def test_saddles_exist_iff_the_strict_inequality_holds():
    """saddle_angle is in [pi/2, pi) iff (1^T v*)^2 < (m+1)/2 |v*|^2, and None otherwise."""
    gen = torch.Generator().manual_seed(5)
    for _ in range(200):
        v_star = torch.randn(int(torch.randint(1, 6, (1,), generator=gen)), generator=gen, dtype=F64)
        m, s2, n2 = v_star.numel(), float(v_star.sum()) ** 2, float(v_star @ v_star)
        theta = g.saddle_angle(v_star)
        assert (theta is not None) == (s2 < (m + 1) / 2 * n2)
        if theta is not None:
            assert math.pi / 2 <= theta < math.pi
            assert float(g.saddle_v(v_star) @ v_star) == pytest.approx(0.0, abs=1e-12 * n2)
        if g.spurious_minima_exist(v_star):
            assert theta is not None
    with pytest.raises(ValueError, match=r"v_star=\[1.0, 1.0, 0.0\] has no saddle .* needs"):
        g.saddle_v(t(1.0, 1.0, 0.0))


def test_quadrature_path_equals_the_closed_forms():
    """method="quadrature" (the path of every non-builtin STE) against the three closed forms,
    on a batch with generic, parallel and anti-parallel w and |w| from 0.2 to 5."""
    gen = torch.Generator().manual_seed(21)
    v = torch.randn(6, 3, generator=gen, dtype=F64)
    w = torch.randn(6, 4, generator=gen, dtype=F64) * torch.logspace(-0.7, 0.7, 6, dtype=F64)[:, None]
    w[4], w[5] = 0.3 * W_STAR, -2.0 * W_STAR
    for ste in STES:
        closed = g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste)
        quad = g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste, method="quadrature")
        torch.testing.assert_close(quad, closed, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(g.coarse_true_inner(v, w, V_STAR, W_STAR, ste, method="quadrature"),
                                   g.coarse_true_inner(v, w, V_STAR, W_STAR, ste), rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(g.expected_coarse_grad(v[0], w[0], V_STAR, W_STAR, ste, method="quadrature"),
                                   closed[0], rtol=1e-9, atol=1e-11)  # one point, no batch axis
    # a catalogue STE (quadrature only): <E g, df/dw> equals the inner product of the two
    eg = g.expected_coarse_grad(v[:4], w[:4], V_STAR, W_STAR, "hardtanh")
    torch.testing.assert_close(g.coarse_true_inner(v[:4], w[:4], V_STAR, W_STAR, "hardtanh"),
                               (eg * g.population_grad(v[:4], w[:4], V_STAR, W_STAR)[1]).sum(-1),
                               rtol=1e-10, atol=1e-13)


def test_is_critical_is_scale_free():
    """At v = optimal_v and a generic angle, df/dv = 0 but |df/dw| = |v^T v*| / (2 pi |w|): the
    scale-free test |w| |df/dw| <= atol says "not critical" at every |w|."""
    w = at_angle(1.1)
    vo = g.optimal_v(w, V_STAR, W_STAR)
    gw_scaled = abs(float(vo @ V_STAR)) / (2 * math.pi)  # |w| |df/dw|, independent of |w|
    assert gw_scaled > 1e-2
    for c in (1e-6, 1.0, 1e6):
        assert not bool(g.is_critical(vo, c * w, V_STAR, W_STAR, atol=1e-4))
        assert bool(g.is_critical(vo, c * w, V_STAR, W_STAR, atol=2 * gw_scaled))


def test_spurious_minimizer_and_identity_norm_batched():
    """A batch of teachers (5, 3): v~ = 2 (1^T v*)/(m + 1) 1 - v* row by row, in NumPy."""
    vs = torch.randn(5, 3, generator=torch.Generator().manual_seed(4), dtype=F64)
    a = vs.numpy()
    want = 2 * a.sum(1, keepdims=True) / 4 - a
    np.testing.assert_allclose(g.spurious_minimizer_v(vs).numpy(), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g.identity_grad_norm_at_spurious(vs).numpy(),
                               2 * 2 * a.sum(1) ** 2 / (math.sqrt(2 * math.pi) * 16), rtol=1e-13)


def test_zero_sum_test_of_proposition_1_is_scale_free():
    """1^T v* counts as 0 only at rounding level, relative to |v*| and m: a centred v* stays
    centred at any scale and for m = 1000, while 1^T v* = 1e-8 |v*| (10^8 roundings) is a genuine spurious case."""
    for x in (t(0.3, -1.7, 2.2, 0.9), torch.randn(1000, generator=torch.Generator().manual_seed(17), dtype=F64)):
        x = x - x.mean()
        assert float(x.sum()) != 0.0  # rounding, not exactly zero
        for scale in (1e-6, 1.0, 1e6):
            assert not g.spurious_minima_exist(scale * x)
    v = t(1.0, -1.0, 0.0)
    v[2] = 1e-8 * math.sqrt(2)
    assert g.spurious_minima_exist(v) and g.spurious_minima_exist(1e6 * v)
