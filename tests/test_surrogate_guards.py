"""A user's surrogate cannot give a silently wrong number: undeclared jumps or kinks make the
quadrature refuse, and a derivative that is not finite somewhere it is evaluated is refused."""

from __future__ import annotations

import math

import pytest
import scipy.integrate
import scipy.stats
import torch

from stelib import gaussian, ste
from stelib import misspecified as ms
from stelib.quadrature import TOLERANCE, moments

F64 = torch.float64


@pytest.fixture
def registered():
    names = []

    def reg(name, derivative, **kw):
        ste.register(name, derivative, description=name, replace=True, **kw)
        names.append(name)
        return name

    yield reg
    for n in names:
        ste.unregister(n)


def window(x):
    return ((x > -0.37) & (x < 1.3)).to(x.dtype)


def staircase(x):
    return torch.floor(torch.clamp(x, 0, 3)) / 3 * (x < 3).to(x.dtype)


def _radial_scipy(f, r, points):
    """R(r) = 2 phi(0) M_1^+ - M_2 by scipy, split at the jumps of mu'(r x)."""
    phi = scipy.stats.norm.pdf
    g = lambda x: float(f(torch.tensor([r * x], dtype=F64))[0])  # noqa: E731
    pts = sorted({p / r for p in points} | {0.0})
    m1p = scipy.integrate.quad(lambda x: x * g(x) * phi(x), 0, 12, points=[p for p in pts if 0 < p < 12],
                               limit=200)[0]
    m2 = scipy.integrate.quad(lambda x: x * x * g(x) * phi(x), -12, 12, points=pts, limit=200)[0]
    return 2 * phi(0) * m1p - m2


@pytest.mark.parametrize("f,jumps", [(window, (-0.37, 1.3)), (staircase, (1.0, 2.0, 3.0))])
def test_undeclared_jumps_are_refused_and_declared_ones_are_exact(registered, f, jumps):
    name = registered("guard_undeclared", f)
    with pytest.raises(ValueError, match="guard_undeclared.*inaccurate.*breakpoints"):
        ms.vanishing_norm(name)
    with pytest.raises(ValueError, match="inaccurate"):
        moments(torch.tensor([0.7, 2.0], dtype=F64), name)
    ok = registered("guard_declared", f, breakpoints=jumps)
    for r in (0.5, 1.0, 2.5):
        m = moments(torch.tensor([r], dtype=F64), ok)
        got = float(2 * m.m1p[0] / math.sqrt(2 * math.pi) - m.m2[0])
        assert got == pytest.approx(_radial_scipy(f, r, jumps), abs=1e-9)


def test_the_window_radius_agrees_with_an_independent_quadrature(registered):
    name = registered("guard_window", window, breakpoints=(-0.37, 1.3))
    r0 = ms.vanishing_norm(name)
    assert abs(_radial_scipy(window, r0, (-0.37, 1.3))) < 1e-8
    assert r0 == pytest.approx(1.03455, abs=1e-5)  # not 1.04288, the undeclared-jump answer


def test_yins_model_refuses_an_undeclared_window(registered):
    name = registered("guard_yin", window)
    v, w = torch.tensor([1.0, -0.3], dtype=F64), torch.tensor([0.4, 0.9, -0.2], dtype=F64)
    with pytest.raises(ValueError, match="inaccurate"):
        gaussian.expected_coarse_grad(v, w, torch.tensor([0.8, 0.5], dtype=F64),
                                      torch.tensor([1.0, 0.0, 0.3], dtype=F64), name)


def test_smooth_and_declared_catalogue_stes_pass_the_error_check():
    r = torch.logspace(-3, 3, 25, dtype=F64)
    for name in ("hardtanh", "approxsign", "sigmoid"):
        moments(r, name, method="quadrature")  # would raise above TOLERANCE
    assert TOLERANCE <= 1e-9


def test_a_derivative_not_finite_beyond_the_probes_is_refused(registered):
    name = registered("guard_nan", lambda x: torch.where(x.abs() > 3.5, torch.nan, torch.ones_like(x)))
    with pytest.raises(ValueError, match=r"guard_nan.*not finite.*x in \["):
        ms.vanishing_norm(name)
    with pytest.raises(ValueError, match="not finite"):
        ste.surrogate_derivative(torch.tensor([0.0, 4.0]), name)
    x = torch.tensor([0.5, 5.0], requires_grad=True)
    with pytest.raises(ValueError, match="not finite"):
        ste.binary_step(x, name).sum().backward()
    inf = registered("guard_inf", lambda x: torch.where(x > 10, torch.inf, torch.ones_like(x)))
    with pytest.raises(ValueError, match=r"x in \[12, 12\]"):
        ste.surrogate_derivative(torch.tensor([1.0, 12.0], dtype=F64), inf)
    # a non-finite *input* is refused as such, not blamed on the derivative
    with pytest.raises(ValueError, match="^x contains non-finite"):
        ste.surrogate_derivative(torch.tensor([math.nan]), "sigmoid")


def test_vanishing_radii_use_signs_not_products(registered):
    from stelib.vanishing import vanishing_radii

    ref = vanishing_radii("hardtanh").radii[0].radius
    far = vanishing_radii("hardtanh", r_min=1e-3, r_max=1e300)  # R underflows to 0 at huge |w|
    assert [round(x.radius, 9) for x in far.radii] == [round(ref, 9)]
    tiny = registered("guard_tiny", lambda x: 1e-300 * (x.abs() < 1).to(x.dtype), breakpoints=(-1.0, 1.0))
    found = vanishing_radii(tiny)  # R ~ 1e-301: a product of two values underflows
    assert len(found.radii) == 1 and found.radii[0].radius == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("bad", ["01", b"01"])
def test_breakpoints_given_as_a_string_are_refused(bad):
    with pytest.raises(ValueError, match="breakpoints=.*not a string"):
        ste.register("stringy", window, description="w", breakpoints=bad)
    assert "stringy" not in ste.names()


def test_a_derivative_with_changing_state_gets_a_fresh_radius(registered):
    """A derivative reading a global (a temperature) is not served the cached radius of its
    old values; the same values are served from the cache."""
    from stelib.vanishing import _vanishing, vanishing_radii

    state = {"width": 1.0}
    name = registered("stateful", lambda x: torch.exp(-(x / state["width"]) ** 2))
    first = vanishing_radii(name)
    state["width"] = 0.5  # mu'(x) = exp(-4 x^2) now: mu'(r x) at r is the old one at 2 r
    second = vanishing_radii(name)
    assert len(first.radii) == len(second.radii) == 1
    assert second.radii[0].radius == pytest.approx(first.radii[0].radius / 2, rel=1e-9)
    state["width"] = 1.0
    hits = _vanishing.cache_info().hits
    assert vanishing_radii(name) == first and _vanishing.cache_info().hits == hits + 1
