"""Gaussian quadrature for any surrogate: against the closed forms of the built-in STEs, against
scipy's adaptive quadrature and sympy's exact integrals, and against Monte Carlo in both models."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import torch
from _stats import within

from stelib import gaussian, quadrature, ste
from stelib import misspecified as ms
from stelib.network import coarse_grads

CATALOGUE = ("hardtanh", "approxsign", "sigmoid")
F64 = torch.float64


def np_mu(name):
    """The catalogue's derivatives in NumPy, written independently of stelib."""
    return {"identity": lambda y: 1.0, "relu": lambda y: float(y > 0), "crelu": lambda y: float(0 < y < 1),
            "hardtanh": lambda y: float(abs(y) < 1), "approxsign": lambda y: max(0.0, 2 - 2 * abs(y)),
            "sigmoid": lambda y: math.exp(-abs(y)) / (1 + math.exp(-abs(y))) ** 2}[name]


def quad_moment(name, r, k, sign=0):
    """E[x^k mu'(r x) (1{sign * x > 0})] by scipy.integrate.quad with the kinks as points."""
    mu = np_mu(name)
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    lo, hi = (-12.0 if sign <= 0 else 0.0), (12.0 if sign >= 0 else 0.0)
    pts = sorted({p / r for p in (-4.0, -1.0, 0.0, 1.0, 4.0) if lo < p / r < hi} | ({0.0} if lo < 0 < hi else set()))
    f = lambda x: x**k * mu(r * x) * pdf(x)  # noqa: E731
    return scipy.integrate.quad(f, lo, hi, points=pts or None, limit=400, epsabs=1e-14, epsrel=1e-12)[0]


@pytest.mark.parametrize("name", ["identity", "relu", "crelu"])
def test_quadrature_matches_closed_forms_of_the_builtins(name):
    r = torch.logspace(-3, 3, 49, dtype=F64)
    for a, b in zip(quadrature.moments(r, name), quadrature.moments(r, name, method="quadrature"), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-15)  # measured: 2.3e-16
    th = torch.tensor([0.0, 1e-9, 1e-4, 0.3, math.pi / 2, 2.9, math.pi - 1e-6, math.pi], dtype=F64)
    R, T = torch.meshgrid(r, th, indexing="ij")
    cos, sin = torch.cos(T), torch.sin(T)
    sin[:, 0] = sin[:, -1] = 0.0
    cos[:, 0], cos[:, -1] = 1.0, -1.0
    for a, b in zip(quadrature.plane_moments(R, cos, sin, name),
                    quadrature.plane_moments(R, cos, sin, name, method="quadrature"), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-15)  # measured: 1.2e-16


@pytest.mark.parametrize("name", CATALOGUE)
@pytest.mark.parametrize("r", [0.01, 0.3, 1.0, 3.7, 50.0])
def test_moments_match_scipy_adaptive_quadrature(name, r):
    mo = quadrature.moments(torch.tensor([r], dtype=F64), name)
    ref = [quad_moment(name, r, 0), quad_moment(name, r, 1), quad_moment(name, r, 1, sign=1),
           quad_moment(name, r, 2)]
    np.testing.assert_allclose([float(t[0]) for t in mo], ref, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", CATALOGUE)
def test_plane_moments_match_scipy_double_check(name):
    r, theta = 1.7, 2.2
    pm = quadrature.plane_moments(torch.tensor(r, dtype=F64), math.cos(theta), math.sin(theta), name)
    cot, mu = math.cos(theta) / math.sin(theta), np_mu(name)
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    kw = dict(points=[-1 / r, 0.0, 1 / r], limit=400, epsabs=1e-14, epsrel=1e-12)
    p = scipy.integrate.quad(lambda x: x * mu(r * x) * cdf(x * cot) * pdf(x), -12, 12, **kw)[0]
    q = scipy.integrate.quad(lambda x: mu(r * x) * pdf(x * cot) * pdf(x), -12, 12, **kw)[0]
    np.testing.assert_allclose([float(pm.p), float(pm.q)], [p, q], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", CATALOGUE)
def test_misspecified_expected_coarse_grad_against_monte_carlo(name):
    g = torch.Generator().manual_seed(11)
    model = ms.LinearTeacherModel([1.0, -0.5, 0.3])
    for v, w in ([0.8, [0.5, 0.4, -0.2]], [-1.2, [1.5, -2.0, 0.7]]):
        v, w = torch.tensor([v], dtype=F64), torch.tensor(w, dtype=F64)
        Z, y = model.sample(200_000, g)
        within(model.expected_coarse_grad(v, w, name), coarse_grads(v, w, Z, y, (name,), per_sample=True)[name],
               k=4.5)


@pytest.mark.parametrize("name", CATALOGUE)
def test_yin_expected_coarse_grad_against_monte_carlo(name):
    g = torch.Generator().manual_seed(12)
    model = gaussian.YinModel([1.0, -0.6, 0.9], [0.3, 1.0, -0.5])
    for v, w in ([[0.5, 1.0, -0.3], [1.0, 0.2, 0.4]], [[-0.4, 0.8, 1.1], [-0.7, -1.5, 0.6]]):
        v, w = torch.tensor(v, dtype=F64), torch.tensor(w, dtype=F64)
        Z, y = model.sample(200_000, g)
        within(model.expected_coarse_grad(v, w, name), coarse_grads(v, w, Z, y, (name,), per_sample=True)[name],
               k=4.5)


@pytest.mark.parametrize("name", ["identity", "relu", "crelu", *CATALOGUE])
def test_general_formulas_reduce_to_the_closed_forms_and_the_inner_product(name):
    g = torch.Generator().manual_seed(3)
    v, w = torch.randn(6, 4, generator=g, dtype=F64), torch.randn(6, 3, generator=g, dtype=F64)
    vs, ws = torch.randn(4, generator=g, dtype=F64), torch.randn(3, generator=g, dtype=F64)
    quad = gaussian.expected_coarse_grad(v, w, vs, ws, name, method="quadrature")
    np.testing.assert_allclose(quad.numpy(), gaussian.expected_coarse_grad(v, w, vs, ws, name).numpy(), atol=1e-12)
    inner = (quad * gaussian.population_grad(v, w, vs, ws)[1]).sum(-1)
    np.testing.assert_allclose(gaussian.coarse_true_inner(v, w, vs, ws, name).numpy(), inner.numpy(), atol=1e-13)
    a = torch.randn(3, generator=g, dtype=F64)
    np.testing.assert_allclose(ms.expected_coarse_grad(v[:, :1], w, a, name, method="quadrature").numpy(),
                               ms.expected_coarse_grad(v[:, :1], w, a, name).numpy(), atol=1e-12)


def test_yin_minima_global_zero_and_spurious_radial():
    vs, ws = torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.5], dtype=F64)
    vt = gaussian.spurious_minimizer_v(vs)
    const = 2 * (3 - 1) * float(vs.sum()) ** 2 / 16
    assert float(vt @ vt + vt @ vs) == pytest.approx(const, rel=1e-14)
    for name in ("identity", "relu", "crelu", *CATALOGUE):
        for r in (0.3, 1.0, 5.0):
            assert float(gaussian.expected_coarse_grad(vs, r * ws, vs, ws, name).norm()) < 1e-14
            eg = gaussian.expected_coarse_grad(vt, -r * ws, vs, ws, name)
            neg = quad_moment(name, r * float(ws.norm()), 1, sign=-1)  # M_1^-, scipy
            np.testing.assert_allclose(eg.numpy(), (-neg * const * -ws / ws.norm()).numpy(), atol=1e-12)


def test_sample_at_the_spurious_minimum_matches_monte_carlo():
    g = torch.Generator().manual_seed(5)
    model = gaussian.YinModel([1.0, -0.5, 0.8], [1.0, 0.5])
    vt, w = gaussian.spurious_minimizer_v(model.v_star), -2.0 * model.w_star
    Z, y = model.sample(300_000, g)
    for name in ("hardtanh", "approxsign"):
        within(model.expected_coarse_grad(vt, w, name), coarse_grads(vt, w, Z, y, (name,), per_sample=True)[name])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"method='exact' is not valid"):
        quadrature.moments(torch.ones(1), "crelu", method="exact")
    with pytest.raises(ValueError, match="r = |w| must be > 0"):
        quadrature.moments(torch.tensor([0.0]), "sigmoid")
    with pytest.raises(ValueError, match="ste='x' is not valid"):
        quadrature.plane_moments(torch.ones(1), 1.0, 0.0, "x")
    assert ste.is_builtin_closed_form("crelu") and not ste.is_builtin_closed_form("sigmoid")
    for cos, sin in ((0.0, 0.0), (0.6, -0.8), (1.0, 0.1)):  # not an angle in [0, pi]
        for method in ("auto", "quadrature"):
            with pytest.raises(ValueError, match=r"cos, sin must be the cosine and sine of an angle in \[0, pi\]"):
                quadrature.plane_moments(torch.ones(1), cos, sin, "crelu", method=method)


def test_batch_shape_broadcasts_like_torch():
    from stelib._closedform import batch_shape

    rng = np.random.default_rng(0)
    for _ in range(300):
        shapes = [tuple(int(d) for d in rng.choice([1, 2, 3], size=rng.integers(1, 4))) for _ in range(3)]
        ts = {f"t{i}": torch.zeros(s) for i, s in enumerate(shapes)}
        try:
            expected = torch.broadcast_shapes(*(s[:-1] for s in shapes))
        except RuntimeError:
            with pytest.raises(ValueError, match="do not broadcast"):
                batch_shape(**ts)
        else:
            assert batch_shape(**ts) == expected
