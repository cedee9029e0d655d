"""Vanishing radii, their stability and the chapter helpers of stelib.proper (proper_test,
proper_radii, proper_yin), against independent references: scipy's adaptive quadrature with
Brent's method, sympy's exact Gaussian integrals for the piecewise-polynomial derivatives, NumPy
re-implementations."""

import functools
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.optimize
import sympy as sp
import torch

from stelib import misspecified as ms
from stelib import proper, quadrature, ste, vanishing
from stelib._closedform import PHI0, second_moment
from stelib.gaussian import YinModel

F64 = torch.float64
PHI = 1 / math.sqrt(2 * math.pi)


def np_mu(name):
    return {"hardtanh": lambda y: float(abs(y) < 1), "approxsign": lambda y: max(0.0, 2 - 2 * abs(y)),
            "sigmoid": lambda y: math.exp(-abs(y)) / (1 + math.exp(-abs(y))) ** 2,
            "crelu": lambda y: float(0 < y < 1)}[name]


def scipy_moment(name, r, k, lo=-12.0, hi=12.0):
    mu = np_mu(name)
    pts = [p / r for p in (-4.0, -1.0, 0.0, 1.0, 4.0) if lo < p / r < hi]
    return scipy.integrate.quad(lambda x: x**k * mu(r * x) * math.exp(-x * x / 2) * PHI, lo, hi,
                                points=pts or None, limit=400, epsabs=1e-15, epsrel=1e-13)[0]


def scipy_radial(name, r):
    return 2 * PHI * scipy_moment(name, r, 1, lo=0.0) - scipy_moment(name, r, 2)


@pytest.mark.parametrize("name", ["crelu", "hardtanh", "approxsign", "sigmoid"])
def test_vanishing_radius_and_stability_against_scipy(name):
    found = ms.vanishing_radii(name)
    assert not found.everywhere and len(found.radii) == 1
    z = found.radii[0]
    grid = np.logspace(-3, 3, 61)
    vals = [scipy_radial(name, r) for r in grid]
    i = next(k for k in range(60) if vals[k] * vals[k + 1] < 0)  # first sign change
    root = scipy.optimize.brentq(lambda r: scipy_radial(name, r), grid[i], grid[i + 1], xtol=1e-13)
    assert z.radius == pytest.approx(root, rel=1e-9)
    h = 1e-4 * root
    slope = (scipy_radial(name, root + h) - scipy_radial(name, root - h)) / (2 * h)
    assert z.slope == pytest.approx(slope, rel=1e-5) and slope > 0
    assert z.tangential == pytest.approx(scipy_moment(name, root, 0), rel=1e-9)
    assert z.stable
    assert ms.vanishing_norm(name) == pytest.approx(root, rel=1e-9)
    assert sum(a * b < 0 for a, b in zip(vals[:-1], vals[1:], strict=True)) == 1


def test_vanishing_norm_stays_backward_compatible():
    assert isinstance(ms.vanishing_norm("crelu"), float)
    assert round(ms.vanishing_norm("crelu"), 6) == 0.763202
    assert ms.vanishing_norm("identity") is None and ms.vanishing_norm("relu") is None
    assert ms.vanishing_radii("crelu").radii[0].radius == pytest.approx(ms.vanishing_norm("crelu"), rel=1e-12)


def test_proper_test_registered_stes_have_no_radius_or_the_whole_ray():
    q_star = -(1 - 2 / math.pi)
    ste.register("t_leaky", lambda x: 0.9 * (x > 0).to(x.dtype) + 0.1, description="leaky",
                 breakpoints=[0.0])
    ste.register("t_flat", lambda x: (1 - q_star) * (x > 0).to(x.dtype) + q_star, description="vanishing ray",
                 breakpoints=[0.0])
    try:
        assert ms.vanishing_norm("t_leaky") is None
        found = ms.vanishing_radii("t_leaky")
        assert found.r_small == pytest.approx(1 / math.pi - 0.55, abs=1e-13) == found.r_large
        assert ms.vanishing_radii("t_flat").everywhere
        with pytest.raises(ValueError, match="vanishes at every radius"):
            ms.vanishing_norm("t_flat")
    finally:
        ste.unregister("t_leaky")
        ste.unregister("t_flat")


@pytest.mark.parametrize("kw,match", [({"r_min": 0.0}, "r_min=0.0"), ({"r_max": 1e-4}, "r_max=0.0001"),
                                      ({"points": 2}, "points=2")])
def test_vanishing_radii_rejects_bad_ranges(kw, match):
    with pytest.raises(ValueError, match=match):
        ms.vanishing_radii("crelu", **kw)


# ------------------------------------------------------------------ sympy: exact integrals

X, C = sp.symbols("x c", positive=True)
PDF = sp.exp(-X**2 / 2) / sp.sqrt(2 * sp.pi)
PIECES = {  # (value of mu'(x / c) on 0 < x < c as a polynomial in x, same on -c < x < 0) with c = 1/|w|
    "crelu": (sp.Integer(1), sp.Integer(0)),
    "hardtanh": (sp.Integer(1), sp.Integer(1)),
    "approxsign": (2 - 2 * X / C, 2 - 2 * X / C),  # even: on x < 0 use |x| = x after x -> -x
}


@functools.cache  # two tests integrate the same pieces (seconds each)
def sympy_moments(name):
    """M_0, M_1^+, M_2 as exact functions of c (the negative half by x -> -x)."""
    pos, neg = PIECES[name]
    m0 = sp.integrate(pos * PDF, (X, 0, C)) + sp.integrate(neg * PDF, (X, 0, C))
    m1p = sp.integrate(X * pos * PDF, (X, 0, C))
    m2 = sp.integrate(X**2 * pos * PDF, (X, 0, C)) + sp.integrate(X**2 * neg * PDF, (X, 0, C))
    return m0, m1p, m2


@pytest.mark.parametrize("name", list(PIECES))
def test_sympy_gaussian_integrals_match_the_quadrature(name):
    m0, m1p, m2 = sympy_moments(name)
    radial = 2 / sp.sqrt(2 * sp.pi) * m1p - m2
    c = np.logspace(-2.5, 2.5, 41)
    exact = [float(radial.evalf(40, subs={C: sp.Float(x, 40)})) for x in c]  # no cancellation
    quad = ms.radial_coefficient(torch.tensor(c, dtype=F64), name, method="quadrature").numpy()
    np.testing.assert_allclose(quad, exact, rtol=1e-10, atol=1e-17)
    mo = quadrature.moments(torch.tensor(1 / c, dtype=F64), name, method="quadrature")
    np.testing.assert_allclose(mo.m0.numpy(), [float(m0.evalf(40, subs={C: sp.Float(x, 40)})) for x in c],
                               rtol=1e-10, atol=1e-17)


def test_sympy_confirms_the_clipped_relu_closed_form_and_the_hardtanh_identity():
    m0, m1p, m2 = sympy_moments("crelu")
    phi_c = sp.exp(-C**2 / 2) / sp.sqrt(2 * sp.pi)
    assert sp.simplify(m1p - (1 / sp.sqrt(2 * sp.pi) - phi_c)) == 0
    assert sp.simplify(m2 - (sp.erf(C / sp.sqrt(2)) / 2 - C * phi_c)) == 0
    h0, h1p, h2 = sympy_moments("hardtanh")
    assert sp.simplify(h2 - 2 * m2) == 0 and sp.simplify(h1p - m1p) == 0  # R_hardtanh = 2 phi0 M1+ - 2 M2(crelu)
    c = torch.tensor([0.1, 1.3, 7.0], dtype=F64)
    np.testing.assert_allclose(second_moment(c).numpy(), [float(m2.subs(C, float(x))) for x in c], rtol=1e-13)
    assert float(PHI0) == pytest.approx(1 / math.sqrt(2 * math.pi))


# ------------------------------------------------------------------ chapter helpers


@pytest.mark.parametrize("name,verdict", [("identity", "keeps"), ("relu", "keeps"), ("crelu", "breaks"),
                                          ("hardtanh", "breaks"), ("approxsign", "breaks"), ("sigmoid", "breaks")])
def test_symmetry_row_against_numpy(name, verdict):
    g = torch.Generator().manual_seed(4)
    model = YinModel([1.0, -0.5, 0.8], [1.0, 0.5, -0.2])
    Z, y = model.sample(300, g)
    v, w = torch.tensor([0.3, 1.0, -0.7], dtype=F64), torch.tensor([0.4, -0.9, 0.6], dtype=F64)
    row = proper.symmetry_row(name, v, w, Z, y, scales=[0.5, 3.0])
    assert row["verdict"] == verdict
    x = np.arange(-1000, 1001) / 125  # the default grid: exact multiples, x[1000] == 0
    assert x[1000] == 0.0
    mu = np.vectorize(np_mu(name)) if name not in ("identity", "relu") else (
        (lambda t: np.ones_like(t)) if name == "identity" else (lambda t: (t > 0).astype(float)))
    assert row["grid_gap"] == pytest.approx(max(np.abs(mu(c * x) - mu(x)).max() for c in (0.5, 3.0)), abs=1e-15)
    Zn, yn, vn, wn = Z.numpy(), y.numpy(), v.numpy(), w.numpy()

    def g_np(wv):
        pre = Zn @ wv
        return np.einsum("bmn,bm->bn", Zn, mu(pre) * vn * ((pre > 0) @ vn - yn)[:, None])

    gaps = [np.abs(g_np(c * wn) - g_np(wn)) for c in (0.5, 3.0)]
    assert row["sample_gap"] == pytest.approx(max(d.max() for d in gaps), rel=1e-12, abs=0)
    assert row["changed"] == int(np.any([(d > 0).any(1) for d in gaps], axis=0).sum())
    assert (row["halfline_gap"] == 0) == (verdict == "keeps")
    half = max(np.abs(mu(x[x > 0]) - mu(np.array([1.0]))).max(), np.abs(mu(x[x < 0]) - mu(np.array([-1.0]))).max())
    assert row["halfline_gap"] == pytest.approx(half, abs=1e-15)
    assert row["samples"] == 300 and row["ste"] == name
    if name == "approxsign":  # the half-line x > 0 starts at 1/125, not at a rounding-level 1e-16
        assert row["halfline_gap"] == pytest.approx(2 - 2 / 125, abs=1e-15)


def test_spurious_radial_and_radial_curve():
    r = torch.tensor([0.4, 2.0, 9.0], dtype=F64)
    for name in ("hardtanh", "approxsign", "sigmoid"):
        ref = [-scipy_moment(name, float(t), 1, hi=0.0) for t in r]
        np.testing.assert_allclose(proper.spurious_radial(r, name).numpy(), ref, rtol=1e-9)
        np.testing.assert_allclose(proper.radial_curve(name, r).numpy(), [scipy_radial(name, float(t)) for t in r],
                                   rtol=1e-9)
    assert float(proper.spurious_radial(r, "crelu").abs().max()) == 0.0
    np.testing.assert_allclose(vanishing.radial_function(r, "approxsign").numpy(),
                               [scipy_radial("approxsign", float(t)) for t in r], rtol=1e-9)
    row = proper.vanishing_row("relu")
    assert row["radius"] is None and row["zeros"] == 0 and row["r_small"] == pytest.approx(1 / math.pi - 0.5)
    with pytest.raises(ValueError, match="norms must be > 0"):
        proper.radial_curve("crelu", [0.0, 1.0])
    with pytest.raises(ValueError, match="scales"):
        proper.symmetry_row("crelu", torch.ones(1), torch.ones(1), torch.ones(2, 1, 1), torch.ones(2), scales=[])


@pytest.mark.parametrize("name", ["hardtanh", "relu"])
def test_vanishing_row_is_the_first_radius_of_the_set(name):
    """vanishing_row against vanishing_radii (itself checked against scipy above)."""
    found, row = ms.vanishing_radii(name), proper.vanishing_row(name)
    assert row["zeros"] == len(found.radii) == (1 if name == "hardtanh" else 0)
    assert row["everywhere"] is False and row["ste"] == name
    assert (row["r_small"], row["r_large"]) == (found.r_small, found.r_large)
    if name == "relu":  # R = 1/pi - 1/2 at every radius (M_1^+ = phi(0), M_2 = 1/2): no zero
        assert row["r_small"] == pytest.approx(1 / math.pi - 0.5, rel=1e-12) == row["r_large"]
        assert [row[k] for k in ("radius", "slope", "tangential", "stable")] == [None] * 4
        return
    z = found.radii[0]
    assert (row["radius"], row["slope"], row["tangential"], row["stable"]) == (z.radius, z.slope, z.tangential, True)
    assert row["radius"] == pytest.approx(1.639895, abs=1e-6)  # the module's documented example


def test_vanishing_radii_argument_ranges(monkeypatch):
    """points in [3, 100000] (integers only) and 0 < r_min < r_max are accepted, nothing else;
    the computation itself is replaced by a recorder (the checks come before it)."""
    import dataclasses

    calls = []
    monkeypatch.setattr(vanishing, "_vanishing", lambda *a: calls.append(a))
    for points in (3, 100_000):
        vanishing.vanishing_radii("crelu", points=points)
    vanishing.vanishing_radii("crelu", r_min=1e-300, r_max=2e-300)
    assert [c[1:4] for c in calls] == [(1e-3, 1e3, 3), (1e-3, 1e3, 100_000), (1e-300, 2e-300, 241)]
    for points in (2, 100_001, 2.5, True, 10.0):
        with pytest.raises(ValueError, match=rf"points={points!r} must be an integer in \[3, 100000\]"):
            vanishing.vanishing_radii("crelu", points=points)
    for kw, match in (({"r_min": 0.0}, r"r_min=0.0 must be a finite number in \(0.0, inf\]"),
                      ({"r_min": 0.5, "r_max": 0.5}, r"r_max=0.5 must be a finite number in \(0.5, inf\]")):
        with pytest.raises(ValueError, match=match):
            vanishing.vanishing_radii("crelu", **kw)
    assert len(calls) == 3
    found = vanishing.VanishingRadius(1.0, 1.0, 1.0, True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.radius = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        vanishing.VanishingSet("crelu", (), False, 0.0, 0.0, 1.0, 2.0).radii = (found,)


def test_symmetry_row_half_lines_leave_out_zero():
    """The half-lines are x > 0 and x < 0 strictly: mu'(0) never enters (approxsign: mu'(0) = 2,
    mu'(+-1) = 0, mu'(+-0.5) = 1); no point off 0 gives gap 0."""
    g = torch.Generator().manual_seed(5)
    Z, y = torch.randn(8, 2, 2, generator=g, dtype=F64), torch.zeros(8, dtype=F64)
    v, w = torch.ones(2, dtype=F64), torch.tensor([1.0, 0.0], dtype=F64)

    def row(name, x):
        return proper.symmetry_row(name, v, w, Z, y, scales=[2.0], x=x)

    assert row("approxsign", [-2.0, -0.5, 0.0, 0.5, 2.0])["halfline_gap"] == 1.0
    assert row("approxsign", [0.0, 0.5, 2.0])["halfline_gap"] == 1.0
    assert row("approxsign", [-2.0, -0.5, 0.0])["halfline_gap"] == 1.0
    assert row("approxsign", [0.0])["halfline_gap"] == 0.0
    assert row("crelu", [0.25, 0.5])["halfline_gap"] == 1.0  # mu'(1) = 0 for the clipped ReLU
    s1 = math.exp(-1) / (1 + math.exp(-1)) ** 2  # sigmoid: each half-line against its own mu'(+-1)
    for x in ([0.5, 3.0], [-3.0, -0.5]):
        ref = max(abs(np_mu("sigmoid")(t) - s1) for t in x)
        assert row("sigmoid", x)["halfline_gap"] == pytest.approx(ref, rel=1e-12, abs=0)


def _flat_plus(name, delta, eps=0.0, extra="hardtanh"):
    """Register mu' = (1 - q) 1{x > 0} + q + eps mu'_extra with q = 2/pi - 1 + 2 delta: then
    M_1^+ = phi(0), M_2 = 1/pi + delta, so R = -delta + eps R_extra (R is linear in mu')."""
    q = 2 / math.pi - 1 + 2 * delta
    ste.register(name, lambda x: (1 - q) * (x > 0).to(x.dtype) + q + eps * ste.surrogate_derivative(x, extra),
                 description="flat ray plus a little", breakpoints=[-1.0, 0.0, 1.0])
    return name


def test_vanishing_everywhere_threshold_and_ends():
    """'everywhere' means max |R| <= 1e-12 max(2 phi(0) |M_1^+|, |M_2|) = 1e-12 (1/pi + delta)."""
    try:
        for delta, everywhere in ((0.995e-12 / math.pi, True), (1.005e-12 / math.pi, False)):
            found = vanishing.vanishing_radii(_flat_plus("t_delta", delta))
            assert found.everywhere is everywhere and found.radii == ()
            assert found.r_small == pytest.approx(-delta, rel=1e-3, abs=0) == found.r_large
            ste.unregister("t_delta")
        eps = 1e-13  # |R| <= 1e-13 * 0.7 < 1e-12 / pi: R is 0 at every radius, up to rounding
        found = vanishing.vanishing_radii(_flat_plus("t_eps", 0.0, eps), r_min=0.5, r_max=1.2, points=5)
        assert found.everywhere and (found.r_min, found.r_max) == (0.5, 1.2)
        # R = eps * R_hardtanh is a difference of O(1) quadrature sums: rounding ~1e-16 absolute
        assert found.r_small == pytest.approx(eps * scipy_radial("hardtanh", 0.5), rel=0, abs=3e-16)
        assert found.r_large == pytest.approx(eps * scipy_radial("hardtanh", 1.2), rel=0, abs=3e-16)
    finally:
        for name in ("t_delta", "t_eps"):
            if name in ste.names():
                ste.unregister(name)
    found = vanishing.vanishing_radii("hardtanh", r_min=0.5, r_max=1.2, points=5)  # no zero in range
    assert found.radii == () and not found.everywhere
    assert found.r_small == pytest.approx(scipy_radial("hardtanh", 0.5), rel=1e-9)
    assert found.r_large == pytest.approx(scipy_radial("hardtanh", 1.2), rel=1e-9)
    assert vanishing.vanishing_radii("hardtanh").r_large == pytest.approx(scipy_radial("hardtanh", 1e3), rel=1e-6, abs=0)


def test_vanishing_everywhere_floor_for_tiny_surrogates():
    """For mu' = c (constant) R = c (1/pi - 1) and the scale is c: below c = 1e-300 the threshold
    is 1e-12 * 1e-300, so mu' = 0 vanishes everywhere and c = 1.47e-312 (|R| = 1.0025e-312) not."""
    for c, everywhere in ((0.0, True), (1.40e-312, True), (1.47e-312, False)):
        ste.register("t_tiny", lambda x, c=c: torch.full_like(x, c), description="tiny constant")
        try:
            assert vanishing.vanishing_radii("t_tiny").everywhere is everywhere, c
        finally:
            ste.unregister("t_tiny")
