"""The closed forms' numerics: truncated moments against quadrature, and exactness for every
finite non-zero |w| in float64 (norms that neither overflow nor underflow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import torch

from stelib import _closedform as cf
from stelib import gaussian as g
from stelib import misspecified as ms
from stelib import montecarlo as mc
from stelib.gaussian import YinModel
from stelib.train import population_cgd

F64 = torch.float64
V = torch.tensor([1.0, -0.5, 0.8], dtype=F64)
VS = torch.tensor([0.3, 1.0, -1.0], dtype=F64)
W = torch.tensor([0.6, -0.8], dtype=F64)
WS = torch.tensor([1.0, 0.2], dtype=F64)
A = torch.tensor([1.0, 0.2], dtype=F64)
SCALES = [1e-300, 1e-200, 1e-163, 1e-155, 1e155, 1e160, 1e200, 1e300]


def _phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("c", [1e-6, 0.01, 0.1, 0.2, 0.2499, 0.25, 0.3, 1.0, 3.0])
def test_truncated_moments_match_quadrature(c):
    """E[x 1{0<x<c}] and E[x^2 1{0<x<c}] by adaptive quadrature (relative 1e-13), on both
    sides of the series cut at c = 0.25 -- not through radial_coefficient, which uses them."""
    m1 = scipy.integrate.quad(lambda x: x * _phi(x), 0, c, epsabs=0, epsrel=1e-13)[0]
    m2 = scipy.integrate.quad(lambda x: x * x * _phi(x), 0, c, epsabs=0, epsrel=1e-13)[0]
    t = torch.tensor([c, -c], dtype=F64)
    assert float(cf.first_moment(t)[0]) == pytest.approx(m1, rel=1e-12)
    assert float(cf.second_moment(t)[0]) == pytest.approx(m2, rel=1e-12)
    assert float(cf.second_moment(t)[1]) == pytest.approx(-m2, rel=1e-12)  # odd in c


def test_second_moment_limits():
    t = torch.tensor([0.0, math.inf, 1e-100], dtype=F64)
    out = cf.second_moment(t)
    assert out[0] == 0 and out[1] == 0.5
    assert float(out[2]) == pytest.approx(cf.PHI0 * 1e-300 / 3, rel=1e-14)  # phi(0) c^3 / 3


def test_second_moment_series_is_accurate_to_the_last_bits():
    """Below |c| = 0.25 (Horner's scheme on the Taylor series) within 3 ulps of the exact value
    (mpmath, 50 digits: (1/2) P(3/2, c^2/2), the regularised incomplete gamma), odd in c; and
    within 64 ulps at the cut, where Phi(c) - 1/2 - c phi(c) loses a few bits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    c = np.concatenate([np.logspace(-100, math.log10(0.2499999), 400), [0.25, 0.2500001]])
    got = cf.second_moment(torch.tensor(np.concatenate([c, -c]), dtype=F64)).numpy()
    exact = np.array([float(mpmath.gammainc(1.5, 0, mpmath.mpf(x) ** 2 / 2, regularized=True) / 2) for x in c])
    ulps = np.abs(got[:c.size] - exact) / np.spacing(exact)
    assert ulps[:400].max() <= 3, ulps[:400].max()
    assert ulps[400:].max() <= 64, ulps[400:]
    assert np.array_equal(got[c.size:], -got[:c.size])


@pytest.mark.parametrize("scale", [1e-320, 1e-200, 1.0, 1e200, 1e307])
def test_polar_is_exact_at_any_scale(scale):
    x = torch.tensor([[3.0, -4.0], [0.0, 2.0]], dtype=F64) * scale
    r, u = cf.polar(x)
    want = torch.tensor([[5.0], [2.0]], dtype=F64) * scale
    torch.testing.assert_close(r, want, rtol=1e-15 if scale > 1e-300 else 1e-3, atol=0)
    torch.testing.assert_close(u, torch.tensor([[0.6, -0.8], [0.0, 1.0]], dtype=F64),
                               rtol=1e-15 if scale > 1e-300 else 1e-3, atol=0)
    torch.testing.assert_close(cf.norm(x), r, rtol=0, atol=0)


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_closed_forms_are_exact_at_any_scale(scale):
    """f and the identity/ReLU coarse gradients depend on w_hat only; df/dw scales as 1/c; the
    cReLU one is checked against its limits (its window 1/|w| covers everything or nothing)."""
    w = scale * W
    assert float(g.population_loss(V, w, VS, WS)) == pytest.approx(float(g.population_loss(V, W, VS, WS)), rel=1e-14)
    gv, gw = g.population_grad(V, w, VS, WS)
    gv1, gw1 = g.population_grad(V, W, VS, WS)
    torch.testing.assert_close(gv, gv1, rtol=1e-14, atol=0)
    torch.testing.assert_close(gw * scale, gw1, rtol=1e-13, atol=0)
    for ste in ("identity", "relu"):
        torch.testing.assert_close(g.expected_coarse_grad(V, w, VS, WS, ste),
                                   g.expected_coarse_grad(V, W, VS, WS, ste), rtol=1e-14, atol=1e-16)
    cr = g.expected_coarse_grad(V, w, VS, WS, "crelu")
    if scale < 1:  # window 1/|w| -> inf: the cReLU STE acts as the ReLU one
        torch.testing.assert_close(cr, g.expected_coarse_grad(V, W, VS, WS, "relu"), rtol=1e-13, atol=0)
    else:  # window -> 0: E g = O(1/|w|) and |w| E g converges
        ref = g.expected_coarse_grad(V, 1e100 * W, VS, WS, "crelu") * 1e100
        torch.testing.assert_close(cr * scale, ref, rtol=1e-12, atol=0)
    assert float(g.angle(w, WS)) == pytest.approx(float(g.angle(W, WS)), rel=1e-15)
    assert bool(g.is_critical(V, w, V, WS)) == bool(g.is_critical(V, W, V, WS))


@pytest.mark.parametrize("scale", SCALES)
def test_misspecified_closed_forms_are_exact_at_any_scale(scale):
    v, w = V[:1], scale * W
    assert float(ms.population_loss(v, w, A)) == pytest.approx(float(ms.population_loss(v, W, A)), rel=1e-14)
    torch.testing.assert_close(ms.population_grad(v, w, A)[1] * scale, ms.population_grad(v, W, A)[1],
                               rtol=1e-13, atol=0)
    torch.testing.assert_close(ms.optimal_v(w, A), ms.optimal_v(W, A), rtol=1e-14, atol=0)
    torch.testing.assert_close(ms.profile_loss(w, A), ms.profile_loss(W, A), rtol=1e-14, atol=0)
    for ste in ("identity", "relu"):
        torch.testing.assert_close(ms.expected_coarse_grad(v, w, A, ste), ms.expected_coarse_grad(v, W, A, ste),
                                   rtol=1e-14, atol=1e-16)
    cr = ms.expected_coarse_grad(v, w, A, "crelu")
    assert bool(torch.isfinite(cr).all())
    if scale < 1:
        torch.testing.assert_close(cr, ms.expected_coarse_grad(v, W, A, "relu"), rtol=1e-13, atol=0)
    assert bool(ms.is_stationary(v, w, A)) == bool(ms.is_stationary(v, W, A))


def test_subnormal_w_gives_no_nan():
    w = 1e-320 * W
    for ste in ("identity", "relu", "crelu"):
        assert bool(torch.isfinite(ms.expected_coarse_grad(V[:1], w, A, ste)).all())
        assert bool(torch.isfinite(g.expected_coarse_grad(V, w, VS, WS, ste)).all())
    w0 = torch.tensor([1e-320, 0.0], dtype=F64)  # cos theta = 0 exactly with a = 1/|w| = inf
    out = g.expected_coarse_grad(V, w0, VS, torch.tensor([0.0, 1.0], dtype=F64), "crelu")
    assert bool(torch.isfinite(out).all())


def test_crelu_coarse_gradient_is_continuous_through_a_right_angle():
    """cos theta = 0 exactly takes its own branch (Phi(a cot theta) = 1/2): it must agree with
    angles a hair either side."""
    ws = torch.tensor([0.0, 1.0], dtype=F64)
    at = g.expected_coarse_grad(V, torch.tensor([0.8, 0.0], dtype=F64), VS, ws, "crelu")
    for eps in (1e-9, -1e-9):
        near = g.expected_coarse_grad(V, 0.8 * torch.tensor([math.cos(eps), math.sin(eps)], dtype=F64), VS, ws, "crelu")
        torch.testing.assert_close(at, near, rtol=0, atol=1e-8)


def test_cgd_marks_runs_whose_norm_or_loss_overflows():
    """A run pushed past |w| ~ 1e154 used to record |w| = inf without being marked."""
    model = YinModel(VS, WS)
    v0 = torch.tensor([[0.1, 0.2, 0.3], [1e200, 0.0, 0.0]], dtype=F64)
    w0 = torch.tensor([[1e300, 1e300], [0.6, 0.8]], dtype=F64)
    h = population_cgd(model, v0, w0, ste="identity", lr=0.1, steps=3)
    assert h.w_norm[0, 0] == pytest.approx(math.sqrt(2) * 1e300, rel=1e-15)  # finite, recorded
    assert h.diverged.tolist() == [False, True] and int(h.diverged_step[1]) == 0  # loss ~ 1e400
    assert bool(torch.isnan(h.loss[:, 1]).all()) and torch.equal(h.v[1], v0[1])
    w_big = torch.tensor([[1.5e308, 1.5e308]], dtype=F64)  # |w| itself overflows
    h = population_cgd(model, v0[:1], w_big, ste="relu", lr=0.1, steps=2, on_divergence="mark")
    assert bool(h.diverged[0])


@pytest.mark.parametrize("scale", [1e-250, 1e-170, 1e170, 1e250])
def test_true_gradient_and_its_standard_error_at_any_scale(scale):
    """grad_w L(v, c w) = grad_w L(v, w) / c sample by sample: same draws at both scales."""
    model = YinModel(VS, WS)
    kw = dict(samples=4000, bandwidth=0.05)
    ref = mc.true_grad_w(V, W, model, generator=torch.Generator().manual_seed(1), **kw)
    est = mc.true_grad_w(V, scale * W, model, generator=torch.Generator().manual_seed(1), **kw)
    torch.testing.assert_close(est.mean * scale, ref.mean, rtol=1e-9, atol=0)
    torch.testing.assert_close(est.se * scale, ref.se, rtol=1e-9, atol=0)
    Z, y = model.sample(50, torch.Generator().manual_seed(2))
    per = mc.true_grad_per_sample(V, W, Z, y)  # terms below 1e-308 c underflow at scale c
    torch.testing.assert_close(mc.true_grad_per_sample(V, scale * W, Z, y) * scale, per,
                               rtol=1e-9, atol=1e-12 * float(per.abs().max()))


def test_tiny_nonzero_w_is_not_called_zero():
    w = torch.tensor([1e-170, 0.0], dtype=F64)
    assert float(g.angle(w, WS)) == pytest.approx(math.atan2(0.2, 1.0), rel=1e-14)
    np.testing.assert_allclose(ms.optimal_v(w, A).numpy(), [2 * cf.PHI0 * 1.0], rtol=1e-15)
    with pytest.raises(ValueError, match="w = 0"):
        g.angle(torch.zeros(2, dtype=F64), WS)


@pytest.mark.parametrize("theta", [0.0, math.pi])
def test_angles_within_64_epsilons_of_0_or_pi_are_snapped(theta):
    """plane's contract: an angle 5e-15 (< 64 eps = 1.4e-14) from 0 or pi is exactly 0 or pi,
    with sin = 0 and su = 0; one 1e-13 away is kept (Kahan's formula resolves it)."""
    ws = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    e = torch.tensor([0.0, 1.0, 0.0], dtype=F64)
    sign = 1.0 if theta == 0.0 else -1.0
    for d, snapped in ((5e-15, True), (1e-13, False)):
        w = sign * ws + d * e  # angle d from ws (theta = 0) or pi - d (theta = pi)
        _, _, _, th, cos, sin, su = cf.plane(w, ws)
        if snapped:
            assert float(th) == theta and float(sin) == 0.0 and float(cos) == sign
            assert float(su.abs().max()) == 0.0
        else:
            want = d if theta == 0.0 else math.pi - d
            assert float(th) == pytest.approx(want, abs=1e-28 if theta == 0.0 else 1e-15)
            assert float(sin) == pytest.approx(d, rel=1e-6)
