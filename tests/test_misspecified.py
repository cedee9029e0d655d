"""Tests of stelib.misspecified (book: the misspecified example): closed forms vs Monte Carlo, finite
differences, stationary set, the cReLU vanishing norm (claim C5), edge cases, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _stats import within
from hypothesis import given, settings
from hypothesis import strategies as st

from stelib import misspecified as ms
from stelib.network import coarse_grads, grad_v, sample_loss

STES = ("identity", "relu", "crelu")
F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)
A = torch.tensor([0.7, -1.2, 0.4], dtype=F64)
N_MC = 300_000


def t(*x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


POINTS = {
    "generic": (t(0.9), t(0.5, 0.3, -0.9)),
    "near-vanishing": (t(-1.3), t(-0.4, 0.5, 0.2)),
    "large": (t(0.4), t(2.0, 1.0, 2.5)),
}


@pytest.fixture(scope="module")
def sample():
    Z, y = ms.LinearTeacherModel(A).sample(N_MC, torch.Generator().manual_seed(7))
    return Z, y


@pytest.mark.parametrize("point", POINTS)
def test_closed_forms_vs_monte_carlo(sample, point):
    Z, y = sample
    v, w = POINTS[point]
    within(ms.population_loss(v, w, A), sample_loss(v, w, Z, y, per_sample=True))
    within(ms.population_grad(v, w, A)[0], grad_v(v, w, Z, y, per_sample=True))
    mc = coarse_grads(v, w, Z, y, STES, per_sample=True)
    for ste in STES:
        within(ms.expected_coarse_grad(v, w, A, ste), mc[ste])


def test_model_protocol(sample):
    Z, y = sample
    model = ms.LinearTeacherModel(A.numpy())
    assert (model.m, model.n) == (1, 3) and Z.shape == (N_MC, 1, 3) and Z.dtype == F64
    torch.testing.assert_close(y, Z[:, 0, :] @ A)
    v, w = POINTS["generic"]
    # the model's methods against its own sample (Monte Carlo) and the formulas in NumPy
    within(model.loss(v, w), sample_loss(v, w, Z, y, per_sample=True))
    within(model.expected_coarse_grad(v, w, "relu"), coarse_grads(v, w, Z, y, ("relu",), per_sample=True)["relu"])
    vn, wn, an = float(v[0]), w.numpy(), A.numpy()
    alpha = an @ wn / np.linalg.norm(wn)
    np.testing.assert_allclose(model.grad_v(v, w).numpy(), [vn / 2 - alpha / math.sqrt(2 * math.pi)], rtol=1e-13)
    gw = -vn / math.sqrt(2 * math.pi) / np.linalg.norm(wn) * (an - alpha * wn / np.linalg.norm(wn))
    np.testing.assert_allclose(model.grad_w(v, w).numpy(), gw, rtol=1e-13)
    with pytest.raises(ValueError, match="generator"):
        model.sample(5, None)


def test_grads_vs_finite_differences_and_gradcheck():
    v, w = POINTS["generic"]
    gv, gw = ms.population_grad(v, w, A)
    eps = 1e-6
    fd_v = (ms.population_loss(v + eps, w, A) - ms.population_loss(v - eps, w, A)) / (2 * eps)
    torch.testing.assert_close(fd_v.reshape(1), gv, atol=1e-8, rtol=1e-7)
    eye = torch.eye(3, dtype=F64) * eps
    fd_w = (ms.population_loss(v, w + eye, A) - ms.population_loss(v, w - eye, A)) / (2 * eps)
    torch.testing.assert_close(fd_w, gw, atol=1e-8, rtol=1e-7)
    vv, ww = v.clone().requires_grad_(), w.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v, w: ms.population_loss(v, w, A), (vv, ww))
    for ste in STES:
        assert torch.autograd.gradcheck(lambda v, w, s=ste: ms.expected_coarse_grad(v, w, A, s),
                                        (vv, ww))


def test_optimal_v_and_profile_loss():
    w = torch.randn(8, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    vo = ms.optimal_v(w, A)
    assert vo.shape == (8, 1)
    assert float(ms.population_grad(vo, w, A)[0].abs().max()) < 1e-15
    torch.testing.assert_close(ms.profile_loss(w, A), ms.population_loss(vo, w, A))
    torch.testing.assert_close(ms.profile_loss(5 * w, A), ms.profile_loss(w, A))
    assert bool((ms.population_loss(vo + 0.1, w, A) > ms.profile_loss(w, A)).all())


@pytest.mark.parametrize("n", [1, 2, 5])
def test_stationary_set(n):
    a = torch.linspace(-1.0, 1.5, n, dtype=F64) + 0.3
    s = ms.stationary_points(a)
    norm_a = float(a.norm())
    assert s.min_directions.shape == (2, n) and s.saddle_basis.shape == (n - 1, n)
    torch.testing.assert_close(s.saddle_basis @ a, torch.zeros(n - 1, dtype=F64))
    torch.testing.assert_close(s.saddle_basis @ s.saddle_basis.T, torch.eye(n - 1, dtype=F64))
    for scale in (1e-3, 1.0, 1e3):
        w_min = scale * s.min_directions
        assert bool(ms.is_stationary(s.min_v, w_min, a).all())
        assert bool(s.contains(s.min_v, w_min).all())
        torch.testing.assert_close(ms.population_loss(s.min_v, w_min, a),
                                   torch.full((2,), s.min_loss, dtype=F64))
        w_sad = scale * s.saddle_basis  # every basis vector (and combination) is a saddle w
        assert bool(ms.is_stationary(torch.zeros(n - 1, 1), w_sad, a).all())
        # at the saddles all coarse gradients vanish (factor v); at minima only crelu can
        for ste in STES:
            assert float(ms.expected_coarse_grad(torch.zeros(n - 1, 1), w_sad, a, ste)
                         .abs().sum()) == 0.0
    assert s.saddle_loss == pytest.approx(norm_a**2 / 2)
    with pytest.raises(AttributeError):  # frozen: a computed stationary set cannot be edited
        s.min_loss = 0.0
    assert s.min_v[0, 0] == pytest.approx(2 * PHI0 * norm_a)
    assert not bool(ms.is_stationary(s.min_v[:1] * 1.01, s.min_directions[0], a))
    if n > 1:  # a generic direction is not stationary, even with its optimal v
        w = s.min_directions[0] + s.saddle_basis[0]
        assert not bool(ms.is_stationary(ms.optimal_v(w, a), w, a))


def test_vanishing_norm_root_and_stability():
    r_w = ms.vanishing_norm("crelu")
    assert isinstance(r_w, float) and 0.5 < r_w < 1.0
    assert ms.vanishing_norm("identity") is None and ms.vanishing_norm("relu") is None
    c_star = 1 / r_w
    lhs = 2 * PHI0 * (PHI0 - PHI0 * math.exp(-c_star**2 / 2))
    rhs = 0.5 * math.erf(c_star / math.sqrt(2)) - c_star * PHI0 * math.exp(-c_star**2 / 2)
    assert abs(lhs - rhs) < 1e-15
    assert abs(float(ms.radial_coefficient(c_star, "crelu"))) < 1e-15
    # sign change: r > 0 for c < c* (|w| too large -> shrinks), r < 0 for c > c* (grows)
    assert float(ms.radial_coefficient(c_star * (1 - 1e-6), "crelu")) > 0
    assert float(ms.radial_coefficient(c_star * (1 + 1e-6), "crelu")) < 0
    c = torch.logspace(-3, 2, 200, dtype=F64)
    r = ms.radial_coefficient(c, "crelu")
    assert int((torch.diff(torch.sign(r)) != 0).sum()) == 1  # exactly one root
    for ste, const in (("identity", 1 / math.pi - 1), ("relu", 1 / math.pi - 0.5)):
        torch.testing.assert_close(ms.radial_coefficient(c, ste), torch.full_like(c, const))


@pytest.mark.parametrize("n", [2, 6])
@pytest.mark.parametrize("scale_a", [0.3, 4.0])
def test_claim_c5_on_minimizing_rays(n, scale_a):
    """Stationary points = crelu vanishing points (at |w| = vanishing_norm), never identity/relu;
    independent of |a| and n (checked through expected_coarse_grad itself)."""
    a = scale_a * torch.linspace(0.5, -1.0, n, dtype=F64)
    s = ms.stationary_points(a)
    r_w = ms.vanishing_norm("crelu")
    for i in range(2):  # both minimizing rays
        v, w_hat = s.min_v[i], s.min_directions[i]
        g_star = ms.expected_coarse_grad(v, r_w * w_hat, a, "crelu")
        assert float(g_star.norm()) < 1e-14 * float(a @ a)
        for norm in (0.1, r_w * 0.5, r_w * 2, 10.0):
            w = norm * w_hat
            for ste in STES:
                grad = ms.expected_coarse_grad(v, w, a, ste)
                radial = float(grad @ w_hat)
                torch.testing.assert_close(grad, radial * w_hat)  # purely radial
                expected = 2 * PHI0 * float(a @ a) * float(ms.radial_coefficient(1 / norm, ste))
                assert radial == pytest.approx(expected, rel=1e-12)
                if ste != "crelu":
                    assert abs(radial) > 0.1 * float(a @ a)
            # stability: the radial part pushes |w| back towards r_w
            radial = float(ms.expected_coarse_grad(v, w, a, "crelu") @ w_hat)
            assert (radial > 0) == (norm > r_w)


def test_crelu_coarse_descent_converges_to_vanishing_norm():
    s = ms.stationary_points(A)
    w = torch.stack([0.2 * s.min_directions[0], 2.5 * s.min_directions[1]])  # (2 runs, n)
    v = s.min_v  # (2, 1), held at its optimum
    for _ in range(600):
        w = w - 0.5 * ms.expected_coarse_grad(v, w, A, "crelu")
    torch.testing.assert_close(w.norm(dim=-1), torch.full((2,), ms.vanishing_norm("crelu"),
                                                          dtype=F64), rtol=1e-9, atol=0)


def test_extreme_norms_and_n1():
    v = t(0.8)
    for w, a in ((t(0.3, -0.2, 0.1), A), (t(-2.0), t(1.5))):
        tiny, huge = w / w.norm() * 1e-8, w / w.norm() * 1e8
        for ste in STES:
            for x in (tiny, huge):
                assert bool(torch.isfinite(ms.expected_coarse_grad(v, x, a, ste)).all())
        torch.testing.assert_close(ms.expected_coarse_grad(v, tiny, a, "crelu"),
                                   ms.expected_coarse_grad(v, tiny, a, "relu"))
        assert float(ms.expected_coarse_grad(v, huge, a, "crelu").abs().max()) < 1e-8
        assert bool(torch.isfinite(ms.population_grad(v, huge, a)[1]).all())
        torch.testing.assert_close(ms.population_loss(v, tiny, a), ms.population_loss(v, huge, a))
    assert float(ms.radial_coefficient(1e-8, "crelu")) == pytest.approx(PHI0**2 * 1e-16, rel=1e-6)


def test_bad_inputs():
    v, w = POINTS["generic"]
    with pytest.raises(ValueError, match="ste='straight' is not valid; choose one of"):
        ms.expected_coarse_grad(v, w, A, "straight")
    with pytest.raises(ValueError, match="ste="):
        ms.vanishing_norm("clipped")
    with pytest.raises(ValueError, match=r"v must have shape \(\.\.\., 1\)"):
        ms.population_loss(t(1.0, 2.0), w, A)
    with pytest.raises(ValueError, match="w = 0 is not allowed"):
        ms.population_grad(v, torch.zeros(3), A)
    with pytest.raises(ValueError, match="a = 0 is not allowed"):
        ms.stationary_points(torch.zeros(3))
    with pytest.raises(ValueError, match=r"w has shape \(2,\) and a has shape \(3,\)"):
        ms.optimal_v(t(1.0, 2.0), A)
    with pytest.raises(ValueError, match="a contains non-finite"):
        ms.profile_loss(w, t(1.0, math.nan, 0.0))
    with pytest.raises(ValueError, match="do not broadcast"):
        ms.population_loss(torch.ones(4, 1), torch.ones(3, 3), A)
    with pytest.raises(ValueError, match="c = 1/|w| must be > 0"):
        ms.radial_coefficient(0.0, "crelu")
    with pytest.raises(ValueError, match=r"a must have shape \(n,\)"):
        ms.LinearTeacherModel(np.ones((2, 3)))


@settings(max_examples=25, deadline=None)
@given(v=st.floats(-3, 3), w=st.lists(st.floats(-3, 3), min_size=3, max_size=3).filter(
    lambda x: np.linalg.norm(x) > 0.1), c=st.floats(0.01, 100.0))
def test_scale_symmetry(v, w, c):
    """L, dL/dv, E g_id, E g_relu invariant under w -> c w; dL/dw ~ 1/c and w^T dL/dw = 0;
    E g_crelu is the same function of c|w| (it depends on the scale)."""
    v, w = t(v), t(*w)
    for fn in (ms.population_loss, lambda *x: ms.population_grad(*x)[0],
               lambda *x: ms.expected_coarse_grad(*x, "identity"),
               lambda *x: ms.expected_coarse_grad(*x, "relu")):
        torch.testing.assert_close(fn(v, c * w, A), fn(v, w, A), rtol=1e-10, atol=1e-12)
    gw = ms.population_grad(v, w, A)[1]
    torch.testing.assert_close(ms.population_grad(v, c * w, A)[1] * c, gw, rtol=1e-10, atol=1e-12)
    assert abs(float(gw @ w)) < 1e-12 * (1 + float(gw.norm() * w.norm()))


def test_crelu_breaks_scale_symmetry():
    v, w = POINTS["generic"]
    diff = (ms.expected_coarse_grad(v, 0.5 * w, A, "crelu")
            - ms.expected_coarse_grad(v, 2 * w, A, "crelu"))
    assert float(diff.abs().max()) > 1e-2


def test_quadrature_path_equals_the_closed_forms():
    """method="quadrature" (the path of every non-builtin STE) against the closed forms of the
    three built-in STEs: E g on a batch with |w| from 0.2 to 5, and the radial and tangential
    coefficients (M_0 = 1, 1/2, Phi(c) - 1/2)."""
    gen = torch.Generator().manual_seed(8)
    v = torch.randn(6, 1, generator=gen, dtype=F64)
    w = torch.randn(6, 3, generator=gen, dtype=F64) * torch.logspace(-0.7, 0.7, 6, dtype=F64)[:, None]
    c = torch.tensor([0.1, 0.7, 1.3, 4.0], dtype=F64)
    m0 = {"identity": torch.ones_like(c), "relu": torch.full_like(c, 0.5),
          "crelu": torch.special.ndtr(c) - 0.5}
    for ste in STES:
        torch.testing.assert_close(ms.expected_coarse_grad(v, w, A, ste, method="quadrature"),
                                   ms.expected_coarse_grad(v, w, A, ste), rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(ms.radial_coefficient(c, ste, method="quadrature"),
                                   ms.radial_coefficient(c, ste), rtol=1e-9, atol=1e-12)
        for method in ("auto", "quadrature"):
            torch.testing.assert_close(ms.tangential_coefficient(c, ste, method=method), m0[ste],
                                       rtol=1e-9, atol=1e-12)


def test_is_stationary_is_scale_free():
    """At v = optimal_v and w off the rays and off the saddle plane, dL/dv = 0 while
    |w| |dL/dw| = phi(0) |v| |a - alpha w_hat| does not depend on |w|: never stationary."""
    w = t(0.5, 0.3, -0.9)
    w_hat = w / w.norm()
    vo = ms.optimal_v(w, A)
    scaled = PHI0 * abs(float(vo)) * float((A - (A @ w_hat) * w_hat).norm())
    assert scaled > 1e-2
    for c in (1e-6, 1.0, 1e6):
        assert not bool(ms.is_stationary(vo, c * w, A, atol=1e-4))
        assert bool(ms.is_stationary(vo, c * w, A, atol=2 * scaled))
