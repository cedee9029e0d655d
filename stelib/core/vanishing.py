r"""Where the expected coarse gradient vanishes on a minimising ray of the misspecified example.

On a minimising ray of the linear-teacher example (:mod:`stelib.misspecified`) the expected
coarse gradient of any STE is radial, :math:`\hat w^\top E g = 2\varphi_0|a|^2 R(|w|)` with

.. math::

    R(r) = 2\varphi_0 M_1^+(r) - M_2(r)

(:mod:`stelib.quadrature`; chapter *Which straight-through estimators are proper?*,
prop-proper-ms-coarse). :func:`vanishing_radii` finds every sign change of R on a range of
radii and classifies each zero: the fixed point of the CGD flow there is linearly stable iff
:math:`R'(r_0) > 0` and :math:`M_0(r_0) > 0` (prop-proper-stability).

Example
-------
>>> found = vanishing_radii("hardtanh")
>>> round(found.radii[0].radius, 6), found.radii[0].stable
(1.639895, True)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import scipy.optimize
import torch

from stelib.core import _closedform as cf
from stelib.core._validate import check_real
from stelib.core.quadrature import moments
from stelib.core.ste import check_ste, registry_version, surrogate_derivative

__all__ = ["VanishingRadius", "VanishingSet", "radial_function", "vanishing_radii"]


@dataclass(frozen=True)
class VanishingRadius:
    r"""A zero of the radial function :math:`R(|w|) = r_\mu(1/|w|)` on a minimising ray.

    ``radius`` |w|; ``slope`` dR/d|w| there; ``tangential`` :math:`M_0` there; ``stable``: the
    point is a linearly stable fixed point of the CGD flow (slope > 0 and tangential > 0,
    prop-proper-stability of the chapter *Which straight-through estimators are proper?*).
    """

    radius: float
    slope: float
    tangential: float
    stable: bool


@dataclass(frozen=True)
class VanishingSet:
    """Where the expected coarse gradient of ``ste`` vanishes on a minimising ray.

    ``radii``: the sign changes of R in [r_min, r_max], increasing; ``everywhere``: R is 0 at
    every radius (up to rounding); ``r_small``, ``r_large``: R at r_min and r_max.
    """

    ste: str
    radii: tuple[VanishingRadius, ...]
    everywhere: bool
    r_small: float
    r_large: float
    r_min: float
    r_max: float


def radial_function(r, ste: str) -> torch.Tensor:
    r"""R(|w|) = 2 phi(0) M_1^+ - M_2 at |w| = ``r`` (shape of ``r``): the radial coefficient
    :func:`stelib.misspecified.radial_coefficient` at c = 1/r, from :func:`stelib.quadrature.moments`."""
    mo = moments(r, ste)
    return 2 * cf.PHI0 * mo.m1p - mo.m2


def _radial_at(ste: str, r: float) -> float:
    return float(radial_function(torch.tensor([r], dtype=torch.float64), ste)[0])


@functools.lru_cache(maxsize=256)
def _vanishing(ste: str, r_min: float, r_max: float, points: int, version: int,
               fingerprint: bytes) -> VanishingSet:
    grid = torch.logspace(math.log10(r_min), math.log10(r_max), points, dtype=torch.float64)
    mo = moments(grid, ste)  # once: R and its scale from the same moments
    R = 2 * cf.PHI0 * mo.m1p - mo.m2  # radial_function(grid, ste)
    scale = float(torch.maximum(2 * cf.PHI0 * mo.m1p.abs(), mo.m2.abs()).max())
    if float(R.abs().max()) <= 1e-12 * max(scale, 1e-300):
        return VanishingSet(ste, (), True, float(R[0]), float(R[-1]), r_min, r_max)
    out = []
    # signs, not products (a product of two tiny values underflows to 0), and only between
    # nonzero values: a run of exact zeros (R underflowing at extreme radii) is no root
    nonzero = torch.nonzero(R != 0).flatten().tolist()
    sign = torch.sign(R)
    for i, j in zip(nonzero, nonzero[1:], strict=False):
        if sign[i] == sign[j]:
            continue
        lo, hi = float(grid[i]), float(grid[j])
        size = max(abs(float(R[i])), abs(float(R[j])))  # Brent's method on R / size: values of order 1
        root = scipy.optimize.brentq(lambda t, size=size: _radial_at(ste, t) / size, lo, hi,
                                     xtol=1e-300, rtol=8.9e-16)
        h = 1e-5 * root
        slope = (_radial_at(ste, root + h) - _radial_at(ste, root - h)) / (2 * h)
        m0 = float(moments(torch.tensor([root], dtype=torch.float64), ste).m0[0])
        out.append(VanishingRadius(root, slope, m0, slope > 0 and m0 > 0))
    return VanishingSet(ste, tuple(out), False, float(R[0]), float(R[-1]), r_min, r_max)


def vanishing_radii(ste: str, *, r_min: float = 1e-3, r_max: float = 1e3, points: int = 241) -> VanishingSet:
    """Every radius in [r_min, r_max] where E g of ``ste`` vanishes on a minimising ray, with stability.

    R(|w|) is evaluated on ``points`` log-spaced radii; each sign change is refined by Brent's
    method. The answer does not depend on |a| or n. Cached per (ste, r_min, r_max, points),
    state of the registry and values of mu' on a grid of [-4, 4].
    """
    check_ste(ste)
    r_min = check_real(r_min, name="r_min", low=0.0, low_open=True)
    r_max = check_real(r_max, name="r_max", low=r_min, low_open=True)
    if not isinstance(points, int) or isinstance(points, bool) or not 3 <= points <= 100_000:
        raise ValueError(f"points={points!r} must be an integer in [3, 100000]")
    return _vanishing(ste, r_min, r_max, points, registry_version(), _fingerprint(ste))


_PROBE = torch.linspace(-4.0, 4.0, 161, dtype=torch.float64, device="cpu")


def _fingerprint(ste: str) -> bytes:
    """mu' of ``ste`` on a fixed grid, as bytes: part of the cache key, so a derivative whose
    values depend on state that changed since (a global temperature, say) is not served a
    radius computed for its old values."""
    return surrogate_derivative(_PROBE, ste).numpy().tobytes()
