r"""The planar linear-teacher model by quadrature (book: the chapter on general inputs).

For the chapter "Beyond Gaussian inputs" in the plane (n = 2) with a product density
(:data:`QUADRATURE_DISTRIBUTIONS`: ``gaussian``, ``uniform``, ``laplace``, ``anisotropic``).
:func:`strip_moments` integrates :math:`1, z, zz^\top` over a strip
:math:`\{lo < \hat w^\top z < hi\}` in rotated coordinates :math:`z = t\hat w + s u`, with
Gauss-Legendre rules on pieces split at every kink of the density, so the result is exact to
~1e-12. On it sit the linear-teacher quantities (student :math:`y = v\sigma(w^\top z)`, teacher
:math:`y^* = a^\top z`, m = 1; :func:`linear_teacher_quad`):

.. math::

    v_{\rm opt}(w) = \frac{E[a^\top z\,\sigma]}{E[\sigma]},\qquad
    \frac{E g_{\rm crelu}}{v} = v\,E[z\,1\{0<w^\top z<1\}] - E[zz^\top 1\{0<w^\top z<1\}]\,a,

the profile loss :math:`E y^{*2}/2 - E[y^*\sigma]^2/(2E\sigma)`, its minimising direction
(:func:`stationary_direction_quad`) and the cReLU fixed point solving both equations
(:func:`crelu_fixed_point_quad`). The same quantities for any law, from samples, are in
:mod:`stelib.gi_samples`; the chapter's checks built on both are listed in
:mod:`stelib.general_inputs`.

Example
-------
>>> from stelib.core.distributions import make_distribution
>>> v, w = crelu_fixed_point_quad(make_distribution("gaussian", 2), [1.0, 0.0])
>>> round(float(w[0]), 4), abs(float(w[1])) < 1e-9     # vanishing_norm("crelu") along a
(0.7632, True)
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize

from stelib.core.distributions import Distribution

__all__ = ["GAUSSIAN_RADIUS", "QUADRATURE_DISTRIBUTIONS", "crelu_fixed_point_quad", "linear_teacher_quad",
           "stationary_direction_quad", "strip_moments"]

QUADRATURE_DISTRIBUTIONS = ("gaussian", "uniform", "laplace", "anisotropic")
GAUSSIAN_RADIUS = 0.7632023628036961  # misspecified.vanishing_norm("crelu")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_SQ3 = math.sqrt(3.0)


def _coords(dist: Distribution):
    """Per coordinate: (pdf, kinks, splits, support half-width) of the product density."""
    if not isinstance(dist, Distribution) or dist.n != 2 or dist.name not in QUADRATURE_DISTRIBUTIONS:
        what = dist.describe() if isinstance(dist, Distribution) else type(dist).__name__
        raise ValueError(f"quadrature needs n = 2 and one of {QUADRATURE_DISTRIBUTIONS}; got {what}")
    if dist.name == "uniform":
        return [(lambda x: np.full_like(x, 0.5 / _SQ3), [], [], _SQ3)] * 2
    if dist.name == "laplace":
        b = 1 / math.sqrt(2.0)
        sp = [b * k for k in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40)]
        return [(lambda x: np.exp(-np.abs(x) / b) / (2 * b), [0.0], sp + [-x for x in sp], 44 * b)] * 2
    scales = dist.scales if dist.name == "anisotropic" else (1.0, 1.0)
    return [(lambda x, sd=sd: np.exp(-0.5 * (x / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
             [], [sd * k for k in range(-10, 11, 2)], 12 * sd) for sd in scales]


def strip_moments(dist: Distribution, w_hat, lo: float, hi: float) -> tuple[float, np.ndarray, np.ndarray]:
    r"""(P, M1, M2) = E[(1, z, zz^T) 1{lo < w_hat^T z < hi}] by quadrature, n = 2.

    ``w_hat`` a direction (2,) (normalised here); ``lo < hi`` (+-inf allowed). Shapes (), (2,),
    (2, 2). Densities are cut at their support (uniform) or at >= 12 standard deviations.
    """
    w_hat = np.asarray(w_hat, dtype=np.float64)
    w_hat = w_hat / np.linalg.norm(w_hat)
    u = np.array([-w_hat[1], w_hat[0]])
    cs = _coords(dist)
    half = [c[3] for c in cs]
    tmax = abs(w_hat[0]) * half[0] + abs(w_hat[1]) * half[1]
    lo, hi = max(lo, -tmax), min(hi, tmax)
    if hi <= lo:
        return 0.0, np.zeros(2), np.zeros((2, 2))
    k1, k2 = ([*c[1], -c[3], c[3]] for c in cs)
    corners = [w_hat[0] * x + w_hat[1] * y for x in k1 for y in k2]  # kinks of the t-integrand
    tb = np.unique(np.clip([lo, hi, *corners, *np.linspace(lo, hi, 9)], lo, hi))
    ta, tw = tb[:-1, None], (tb[1:] - tb[:-1])[:, None] / 2
    t = (ta + tw * (1 + _NODES)).ravel()  # (T,)
    wt = (tw * _WEIGHTS).ravel()
    cols = []
    for i, (_, kinks, splits, h) in enumerate(cs):
        if abs(u[i]) > 1e-12:
            cols += [(b - t * w_hat[i]) / u[i] for b in (*kinks, *splits, -h, h)]
    B = np.sort(np.stack(cols, axis=1), axis=1)  # (T, K) breakpoints in s
    sa, sw = B[:, :-1, None], (B[:, 1:] - B[:, :-1])[:, :, None] / 2
    s = sa + sw * (1 + _NODES)  # (T, K-1, q)
    z1 = t[:, None, None] * w_hat[0] + s * u[0]
    z2 = t[:, None, None] * w_hat[1] + s * u[1]
    inside = (np.abs(z1) <= half[0] * (1 + 1e-12)) & (np.abs(z2) <= half[1] * (1 + 1e-12))
    f = np.where(inside, cs[0][0](z1) * cs[1][0](z2) * (sw * _WEIGHTS) * wt[:, None, None], 0.0)
    m12 = (f * z1 * z2).sum()
    M2 = np.array([[(f * z1 * z1).sum(), m12], [m12, (f * z2 * z2).sum()]])
    return float(f.sum()), np.array([(f * z1).sum(), (f * z2).sum()]), M2


def linear_teacher_quad(dist: Distribution, a, w) -> dict[str, object]:
    """Linear-teacher quantities at ``w`` (2,), w != 0, by quadrature: ``v_opt``, ``profile``
    (min over v of the loss) and ``crelu`` = E g_crelu / v at v = v_opt, shape (2,)."""
    a, w = np.asarray(a, dtype=np.float64), np.asarray(w, dtype=np.float64)
    r = float(np.linalg.norm(w))
    if r == 0:
        raise ValueError("w = 0 is not allowed: the direction w/|w| is undefined")
    P, M1, _ = strip_moments(dist, w / r, 0.0, math.inf)
    _, _, S = strip_moments(dist, w / r, -math.inf, math.inf)
    v = float(a @ M1) / P
    _, M1c, M2c = strip_moments(dist, w / r, 0.0, 1.0 / r)
    return {"v_opt": v, "profile": 0.5 * float(a @ S @ a) - 0.5 * float(a @ M1) ** 2 / P,
            "crelu": v * M1c - M2c @ a}


def stationary_direction_quad(dist: Distribution, a) -> float:
    """Angle (radians) of the direction minimising the profile loss within 0.5 rad of a's angle."""
    a = np.asarray(a, dtype=np.float64)
    phi = math.atan2(a[1], a[0])
    res = scipy.optimize.minimize_scalar(
        lambda p: linear_teacher_quad(dist, a, [math.cos(p), math.sin(p)])["profile"],
        bounds=(phi - 0.5, phi + 0.5), method="bounded", options={"xatol": 1e-10})
    return float(res.x)


def crelu_fixed_point_quad(dist: Distribution, a, *, radius0: float | None = None) -> tuple[float, np.ndarray]:
    """(v, w) with E g_crelu = 0 and dL/dv = 0 (linear teacher, m = 1, n = 2), by quadrature and
    ``scipy.optimize.root`` in (|w|, angle), started on the ray of a at ``radius0`` (default:
    the Gaussian radius 0.7632 over the standard deviation of a_hat^T z). ``ValueError`` if the
    root finder fails."""
    a = np.asarray(a, dtype=np.float64)
    if radius0 is None:
        _, _, S = strip_moments(dist, a, -math.inf, math.inf)
        radius0 = GAUSSIAN_RADIUS / math.sqrt(float(a @ S @ a) / float(a @ a))

    def polar(x):
        return x[0] * np.array([math.cos(x[1]), math.sin(x[1])])

    def eq(x):
        return linear_teacher_quad(dist, a, polar(x))["crelu"]

    sol = scipy.optimize.root(eq, [radius0, math.atan2(a[1], a[0])], method="hybr", tol=1e-13)
    if not sol.success and np.abs(eq(sol.x)).max() > 1e-10:
        raise ValueError(f"no cReLU fixed point found for {dist.describe()}: {sol.message}")
    w = polar(sol.x)
    return linear_teacher_quad(dist, a, w)["v_opt"], w
