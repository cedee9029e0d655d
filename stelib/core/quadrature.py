r"""One-dimensional Gaussian integrals of a surrogate derivative, for any registered STE.

Under Gaussian inputs every expected coarse gradient of the book reduces to integrals over the
single coordinate :math:`x = \hat w^\top z \sim N(0, 1)` (chapter *Which straight-through
estimators are proper?*, propositions prop-proper-ms-coarse and prop-proper-yin). With
:math:`r = |w|`:

.. math::

    M_0 = E[\mu'(rx)],\quad N_1 = E[x\,\mu'(rx)],\quad M_1^+ = E[x\,\mu'(rx)\,1\{x>0\}],\quad
    M_2 = E[x^2\mu'(rx)],

and, in Yin et al.'s model, with :math:`\theta` the angle between :math:`w` and :math:`w^*`,

.. math::

    P = E[x\,\mu'(rx)\,\Phi(x\cot\theta)],\qquad Q = E[\mu'(rx)\,\varphi(x\cot\theta)],

(the direction orthogonal to :math:`w` in the plane of :math:`w, w^*` is integrated out in
closed form: :math:`P(y > -x\cot\theta) = \Phi(x\cot\theta)` and
:math:`E[y\,1\{y > -x\cot\theta\}] = \varphi(x\cot\theta)` for :math:`y \sim N(0, 1)`). At
:math:`\theta = 0` the limits are :math:`P = M_1^+, Q = 0`, at :math:`\theta = \pi`
:math:`P = N_1 - M_1^+, Q = 0`.

For identity, relu and crelu the closed forms are used (``method="auto"``); any other STE, or
``method="quadrature"``, uses composite Gauss-Legendre quadrature on :math:`[-12, 12]` split at
0, at the STE's breakpoints divided by r, at :math:`\pm s/r` and :math:`\pm s\tan\theta` for
a few scales s, and at :math:`\pm 1, \pm 2, \pm 4, \pm 8`: each piece is smooth, so the rule
converges fast (about 1e-13 against the closed forms; the tests check it).

The quadrature knows its own error: every integral is computed twice, on those pieces and on
each piece halved, and the halved result is returned. Where the two differ by more than
``TOLERANCE`` (1e-9) the surrogate derivative is not smooth between the split points (a jump
or a kink that was not given as a breakpoint to :func:`stelib.ste.register`), and a
``ValueError`` names the STE and the radius instead of returning a wrong number.

Example
-------
>>> import torch
>>> m = moments(torch.tensor([0.5, 2.0], dtype=torch.float64), "crelu", method="quadrature")
>>> bool(torch.allclose(m.m2, moments(torch.tensor([0.5, 2.0], dtype=torch.float64), "crelu").m2))
True
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

from stelib.core import _closedform as cf
from stelib.core._validate import as_tensor, check_choice
from stelib.core.ste import STE_NAMES, check_ste, derivative_unchecked, get, registry_version

__all__ = ["TOLERANCE", "Moments", "PlaneMoments", "closed_form", "moments", "nodes", "plane_moments"]

HALF_WIDTH = 12.0  # phi(12) ~ 1e-32: the Gaussian mass beyond is below double rounding
ORDER = 32  # Gauss-Legendre points per piece
SCALES = (0.25, 1.0, 4.0, 16.0, 64.0)  # splits at +-s/r: resolves mu'(r x) when r is large
FIXED = (1.0, 2.0, 4.0, 8.0)  # splits at +-x: resolves phi(x)
TOLERANCE = 1e-9  # largest accepted gap between the rule and the rule on halved pieces
_T, _W = np.polynomial.legendre.leggauss(ORDER)
_T2 = np.concatenate([(_T - 1) / 2, (_T + 1) / 2])  # the same rule on both halves of [-1, 1]
_W2 = np.concatenate([_W, _W]) / 2


class Moments(NamedTuple):
    """M_0, N_1, M_1^+, M_2 of the module docstring, each of the shape of ``r``."""

    m0: torch.Tensor
    n1: torch.Tensor
    m1p: torch.Tensor
    m2: torch.Tensor


class PlaneMoments(NamedTuple):
    """P and Q of the module docstring, each of the broadcast shape of ``r`` and ``theta``."""

    p: torch.Tensor
    q: torch.Tensor


def closed_form(method: str, ste: str) -> bool:
    """True when ``method`` ("auto" or "quadrature") and ``ste`` select the closed form.

    Checks both names (``ValueError`` listing the valid ones)."""
    check_choice(method, ("auto", "quadrature"), name="method")
    return method == "auto" and check_ste(ste) in STE_NAMES


def _radius(r) -> torch.Tensor:
    if cf.unchecked(r):  # |w| inside a trusted step loop on a GPU: the loop keeps it > 0
        return r
    r = as_tensor(r, name="r")
    if not bool((r > 0).all()):
        raise ValueError(f"r = |w| must be > 0 everywhere, got {r}")
    return r


@functools.lru_cache(maxsize=64)
def _constants(ste: str, version: int, dtype: torch.dtype, device: torch.device, halved: bool = False):
    """Split points (those scaled by 1/r, the fixed ones) and the Gauss-Legendre rule (on each
    half of every piece when ``halved``)."""
    scaled = (*get(ste).breakpoints, *SCALES, *(-s for s in SCALES))
    fixed = (0.0, *FIXED, *(-f for f in FIXED), -HALF_WIDTH, HALF_WIDTH)
    t, w = (_T2, _W2) if halved else (_T, _W)
    return tuple(torch.tensor(v, dtype=dtype, device=device) for v in (scaled, fixed, t, w))


def nodes(r: torch.Tensor, ste: str, extra: torch.Tensor | None = None, *,
          halved: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Quadrature nodes x and weights (Gaussian density included) for :math:`E[h(x)\mu'(rx)]`.

    ``r`` has shape ``S``; ``extra`` (exactly ``S + (e,)``) adds split points; ``halved`` applies
    the rule to both halves of every piece. Returns two tensors of shape ``S + (k,)``:
    :math:`E[h(x)\mu'(rx)] \approx \sum_k w_k h(x_k)\mu'(r x_k)`.
    """
    r = r[..., None]
    scaled, fixed, t, wq = _constants(ste, registry_version(), r.dtype, r.device, halved)
    parts = [scaled / r, fixed.expand(*r.shape[:-1], -1)]
    if extra is not None:  # same leading shape as r (plane_moments broadcasts first)
        parts.append(extra)
    B = torch.sort(torch.cat(parts, dim=-1).clamp_(-HALF_WIDTH, HALF_WIDTH), dim=-1).values  # (..., K + 1)
    a, b = B[..., :-1, None], B[..., 1:, None]  # (..., K, 1)
    x = (a + b) / 2 + (b - a) / 2 * t  # (..., K, J)
    w = (b - a) / 2 * wq * cf.pdf(x)
    return x.flatten(-2), w.flatten(-2)


def moments(r, ste: str, *, method: str = "auto") -> Moments:
    """M_0, N_1, M_1^+, M_2 at |w| = ``r`` (any shape, > 0) for the STE ``ste``."""
    closed = closed_form(method, ste)
    r = _radius(r)
    if closed:
        one, zero = torch.ones_like(r), torch.zeros_like(r)
        if ste == "identity":
            return Moments(one, zero, cf.PHI0 * one, one)
        if ste == "relu":
            return Moments(one / 2, cf.PHI0 * one, cf.PHI0 * one, one / 2)
        c = 1.0 / r
        first = cf.first_moment(c)
        return Moments(cf.cdf_minus_half(c), first, first, cf.second_moment(c))

    def integrals(x, wm):
        pos = (x > 0).to(x.dtype)
        return wm.sum(-1), (wm * x).sum(-1), (wm * x * pos).sum(-1), (wm * x * x).sum(-1)

    return Moments(*_checked(r, ste, None, integrals))


def _checked(r, ste, extra, integrals):
    """``integrals(x, w * mu'(r x))`` on the pieces and on the halved pieces; the halved values,
    or ``ValueError`` when the two differ by more than ``TOLERANCE`` (see the module docstring)."""
    est = []
    for halved in (False, True):
        x, w = nodes(r, ste, extra, halved=halved)
        est.append(integrals(x, w * derivative_unchecked(r[..., None] * x, ste)))  # r checked
    gap = torch.stack([(a - b).abs() for a, b in zip(*est, strict=True)]).amax(0)  # shape of r

    def message():
        k = int(gap.flatten().argmax())
        return (f"quadrature for STE {ste!r} is inaccurate at |w| = {float(r.flatten()[k]):.6g} (estimated "
                f"error {float(gap.flatten()[k]):.1e} > {TOLERANCE:g}): its derivative jumps or has a kink "
                f"that is not a breakpoint; register it with breakpoints=(...) at those points "
                f"(declared now: {get(ste).breakpoints})")

    cf.check_later((gap > TOLERANCE).any(), message)  # in a trusted loop on a GPU: at its next record
    return est[1]


def plane_moments(r, cos, sin, ste: str, *, method: str = "auto") -> PlaneMoments:
    r"""P and Q at |w| = ``r`` for the angle with :math:`\cos\theta` = ``cos``, :math:`\sin\theta` = ``sin``.

    ``sin`` >= 0 and ``cos**2 + sin**2 = 1`` (to 1e-6; ``ValueError`` otherwise); where
    ``sin == 0`` the limits at theta = 0 (``cos`` = 1) or pi (``cos`` = -1) are returned.
    Shapes broadcast.
    """
    closed = closed_form(method, ste)
    r = _radius(r)
    if not cf.unchecked(cos, sin):  # (inside a trusted loop on a GPU: from the loop's own w)
        cos, sin = as_tensor(cos, name="cos"), as_tensor(sin, name="sin")
    r, cos, sin = torch.broadcast_tensors(r, cos.to(r.dtype), sin.to(r.dtype))
    if not cf.unchecked(r) and (not bool((sin >= 0).all())
                                or not bool(((cos * cos + sin * sin - 1).abs() <= 1e-6).all())):
        raise ValueError(f"cos, sin must be the cosine and sine of an angle in [0, pi] (sin >= 0, "
                         f"cos^2 + sin^2 = 1), got cos={cos}, sin={sin}")
    par = sin == 0
    if closed:
        if ste == "identity":
            return PlaneMoments(cf.PHI0 * cos, cf.PHI0 * sin)
        if ste == "relu":
            return PlaneMoments(cf.PHI0 * (1 + cos) / 2, cf.PHI0 * sin / 2)
        a = 1.0 / r
        safe = torch.where(par, torch.ones_like(sin), sin)
        big = torch.where(par, torch.full_like(sin, 0.5), cf.cdf_minus_half(a / safe))
        cot = torch.where(par, (cos > 0).to(sin.dtype), cf.cdf(a * cos / safe))
        return PlaneMoments(cf.PHI0 / 2 - cf.pdf(a) * cot + cos * cf.PHI0 * big, sin * cf.PHI0 * big)
    tan = sin / cos.abs().clamp(min=1e-300)
    extra = torch.stack([f * tan for f in (0.25, 1.0, 4.0, 16.0, -0.25, -1.0, -4.0, -16.0)], dim=-1)
    cot = torch.where(par, torch.zeros_like(sin), cos / torch.where(par, torch.ones_like(sin), sin))[..., None]

    def integrals(x, wm):
        kx = cot * x
        step = torch.where(cos[..., None] > 0, (x > 0).to(x.dtype), (x < 0).to(x.dtype))
        Phi = torch.where(par[..., None], step, cf.cdf(kx))
        phi = torch.where(par[..., None], torch.zeros_like(kx), cf.pdf(kx))
        return (wm * x * Phi).sum(-1), (wm * phi).sum(-1)

    return PlaneMoments(*_checked(r, ste, extra, integrals))
