r"""The linear-teacher misspecified example (book: the misspecified example, prop-ms-stationary to prop-ms-rates).

Student :math:`y = v\,\sigma(w^\top z)` (one hidden unit, m = 1), inputs :math:`z\sim N(0, I_n)`,
teacher :math:`y^* = a^\top z` (linear: no binary network reproduces it). Write
:math:`\alpha = a^\top\hat w`, :math:`\beta u = a - \alpha\hat w` (the part of a orthogonal to w),
:math:`c = 1/|w|`, :math:`\varphi_0 = \varphi(0)`. Closed forms:

.. math::

    L(v, w) = \tfrac14 v^2 - \varphi_0\,v\,\alpha + \tfrac12|a|^2,\qquad
    \partial_v L = \tfrac12 v - \varphi_0\alpha,\qquad
    \partial_w L = -\frac{\varphi_0\,v}{|w|}\,(a - \alpha\hat w).

Shapes: ``v`` is (..., 1) (the second layer of an m = 1 network, so that batched trainers treat
this model like :mod:`stelib.gaussian` with m = 1), ``w`` (..., n), ``a`` (n,) or (..., n); leading
axes broadcast. Results are tensors of the common floating dtype (float64 for NumPy input).
``w = 0``, non-finite values, a last axis of ``v`` other than 1, mismatched n, non-broadcasting
batch shapes and unknown STE names raise ``ValueError`` before computing.

Any registered STE (:func:`stelib.ste.register`) is handled through the one-dimensional
Gaussian integrals of :mod:`stelib.quadrature`: with :math:`x = \hat w^\top z`,
:math:`M_0 = E\mu'(rx)`, :math:`M_1^+ = E[x\mu'(rx)1\{x>0\}]`, :math:`M_2 = E[x^2\mu'(rx)]`,
:math:`r = |w|`,

.. math::

    E\,g_\mu = v\big[(v M_1^+ - \alpha M_2)\,\hat w - M_0\,(a - \alpha\hat w)\big]

(chapter *Which straight-through estimators are proper?*, prop-proper-ms-coarse), and
:func:`vanishing_radii` finds every radius on a minimising ray where it vanishes, with its
stability.

Example
-------
>>> round(vanishing_norm("crelu"), 6), vanishing_norm("relu")
(0.763202, None)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import scipy.optimize
import scipy.special
import torch

from stelib.core import _closedform as cf
from stelib.core._validate import as_tensor
from stelib.core.quadrature import closed_form, moments
from stelib.core.ste import check_ste
from stelib.core.vanishing import VanishingRadius, VanishingSet, vanishing_radii

__all__ = [
    "LinearTeacherModel", "StationarySet", "VanishingRadius", "VanishingSet", "expected_coarse_grad",
    "is_stationary", "optimal_v", "population_grad", "population_loss", "profile_loss",
    "radial_coefficient", "stationary_points", "tangential_coefficient", "vanishing_norm",
    "vanishing_radii",
]


NO_V = object()  # internal: the function does not take v (a user's v=None is refused)


def _args(v, w, a):
    w, a = cf.vector(w, name="w"), cf.vector(a, name="a")
    cf.same_length(w, "w", a, "a")
    cf.nonzero(w, "w")
    if v is NO_V:  # functions of w alone
        cf.batch_shape(w=w, a=a)
        return (None, *cf.promote(w, a))
    v = cf.vector(v, name="v")
    if v.shape[-1] != 1:
        raise ValueError(
            f"v must have shape (..., 1) (m = 1 in this model), got shape {tuple(v.shape)}")
    cf.batch_shape(v=v, w=w, a=a)
    return cf.promote(v, w, a)


def population_loss(v, w, a) -> torch.Tensor:
    """L(v, w) = E[(v sigma(w^T z) - a^T z)^2] / 2 = v^2/4 - phi(0) v a^T w_hat + |a|^2/2, (...)."""
    v, w, a = _args(v, w, a)
    alpha = cf.dot(a, cf.polar(w)[1])
    return (v**2 / 4 - cf.PHI0 * v * alpha + cf.dot(a, a) / 2)[..., 0]


def population_grad(v, w, a) -> tuple[torch.Tensor, torch.Tensor]:
    """(dL/dv of shape (..., 1), dL/dw of shape (..., n)); L is smooth for w != 0."""
    v, w, a = _args(v, w, a)
    r, w_hat = cf.polar(w)
    alpha = cf.dot(a, w_hat)
    return v / 2 - cf.PHI0 * alpha, -cf.PHI0 * v / r * (a - alpha * w_hat)


def optimal_v(w, a) -> torch.Tensor:
    """argmin_v L(v, w) = 2 E[y* sigma(w^T z)] = 2 phi(0) a^T w_hat, shape (..., 1)."""
    _, w, a = _args(NO_V, w, a)
    return 2 * cf.PHI0 * cf.dot(a, cf.polar(w)[1])


def profile_loss(w, a) -> torch.Tensor:
    """min_v L(v, w) = |a|^2/2 - (a^T w_hat)^2/(2 pi), shape (...); depends on w_hat only."""
    _, w, a = _args(NO_V, w, a)
    return (cf.dot(a, a) / 2 - cf.dot(a, cf.polar(w)[1]) ** 2 / (2 * math.pi))[..., 0]


def is_stationary(v, w, a, *, atol: float = 1e-10) -> torch.Tensor:
    """|dL/dv| <= atol and |w| |dL/dw| <= atol (scale-free), bool of shape (...)."""
    gv, gw = population_grad(v, w, a)
    r = cf.norm(cf.vector(w, name="w"))[..., 0].to(gw.dtype)
    return (gv[..., 0].abs() <= atol) & (torch.linalg.vector_norm(gw, dim=-1) * r <= atol)


@dataclass(frozen=True)
class StationarySet:
    r"""The stationary set of L for one teacher ``a`` (every point is a ray: any |w| > 0).

    - minima: w_hat = ``min_directions[i]`` (= +a_hat, -a_hat), v = ``min_v[i]``
      (= +-2 phi(0)|a|), loss ``min_loss`` = |a|^2 (1/2 - 1/(2 pi));
    - saddles: v = 0 and w in the hyperplane a^T w = 0 (w != 0), spanned by the orthonormal
      rows of ``saddle_basis`` (n - 1, n) (empty for n = 1), loss ``saddle_loss`` = |a|^2/2.
    """

    a: torch.Tensor  # (n,)
    a_hat: torch.Tensor
    min_directions: torch.Tensor  # (2, n)
    min_v: torch.Tensor  # (2, 1)
    saddle_basis: torch.Tensor  # (n - 1, n)
    min_loss: float
    saddle_loss: float

    def contains(self, v, w, *, atol: float = 1e-10) -> torch.Tensor:
        """Same as :func:`is_stationary` for this ``a``."""
        return is_stationary(v, w, self.a, atol=atol)


def stationary_points(a) -> StationarySet:
    """The stationary set of L(v, w) for a teacher ``a`` of shape (n,), a != 0.

    dL/dv = 0 gives v = 2 phi(0) alpha; dL/dw = 0 needs v = 0 (then alpha = 0: w orthogonal to a)
    or a parallel to w (w_hat = +-a_hat, v = +-2 phi(0)|a|).
    """
    a = cf.vector(a, name="a")
    if a.ndim != 1:
        raise ValueError(f"a must have shape (n,), got shape {tuple(a.shape)}")
    cf.nonzero(a, "a")
    norm_a = float(torch.linalg.vector_norm(a))
    a_hat = a / norm_a
    q, _ = torch.linalg.qr(torch.cat([a_hat[:, None], torch.eye(len(a), dtype=a.dtype, device=a.device)], dim=1))
    basis = q[:, 1:].T  # (n - 1, n): orthonormal complement of a_hat
    v0 = 2 * cf.PHI0 * norm_a
    return StationarySet(
        a=a, a_hat=a_hat, min_directions=torch.stack([a_hat, -a_hat]),
        min_v=torch.tensor([[v0], [-v0]], dtype=a.dtype, device=a.device), saddle_basis=basis,
        min_loss=norm_a**2 * (0.5 - 1 / (2 * math.pi)), saddle_loss=norm_a**2 / 2)


def expected_coarse_grad(v, w, a, ste: str, *, method: str = "auto") -> torch.Tensor:
    r"""E_z[g_ste] with g = z mu'(w^T z) v (v sigma(w^T z) - a^T z), shape (..., n).

    - identity: :math:`v(v\varphi_0\hat w - a)`
    - relu: :math:`v(v\varphi_0\hat w - a/2)`
    - crelu: :math:`v\big[(v(\varphi_0-\varphi(c)) - \alpha(\Phi(c)-\tfrac12-c\varphi(c)))\hat w
      - (\Phi(c)-\tfrac12)(a - \alpha\hat w)\big]`, c = 1/|w|;
    - any other registered STE (or ``method="quadrature"``): the module's general formula with
      the moments of :func:`stelib.quadrature.moments`.

    Raises ``ValueError`` for an unknown ``ste`` or bad arrays.
    """
    closed = closed_form(method, ste)
    v, w, a = _args(v, w, a)
    return _coarse(v, a, *cf.polar(w), ste, closed)


def _coarse(v, a, r, w_hat, ste: str, closed: bool) -> torch.Tensor:
    """:func:`expected_coarse_grad` from the checked v, a and ``cf.polar(w)``."""
    if not closed:
        mo = moments(r, ste, method="quadrature")
        alpha = cf.dot(a, w_hat)
        return v * ((v * mo.m1p - alpha * mo.m2) * w_hat - mo.m0 * (a - alpha * w_hat))
    if ste == "identity":
        return v * (v * cf.PHI0 * w_hat - a)
    if ste == "relu":
        return v * (v * cf.PHI0 * w_hat - a / 2)
    c = 1.0 / r
    alpha = cf.dot(a, w_hat)
    radial = v * cf.first_moment(c) - alpha * cf.second_moment(c)
    return v * (radial * w_hat - cf.cdf_minus_half(c) * (a - alpha * w_hat))


def radial_coefficient(c, ste: str, *, method: str = "auto") -> torch.Tensor:
    r"""r(c) with w_hat^T E g_ste = 2 phi(0) |a|^2 r(c) on the minimizing rays, c = 1/|w| > 0
    (the book writes kappa for this c, and kappa* for c*).

    On a minimum (w_hat = +-a_hat, v = +-2 phi(0)|a|) the expected coarse gradient is radial:
    identity :math:`r = 1/\pi - 1`, relu :math:`r = 1/\pi - 1/2` (constants < 0: |w| grows
    without bound under coarse gradient descent), crelu
    :math:`r(c) = 2\varphi_0(\varphi_0 - \varphi(c)) - (\Phi(c) - \tfrac12 - c\varphi(c))`, > 0 for
    c < c* (|w| shrinks) and < 0 for c > c* (|w| grows): a stable radius 1/c*. Any other STE:
    :math:`r(c) = 2\varphi_0 M_1^+ - M_2` at :math:`|w| = 1/c` (:mod:`stelib.quadrature`). Shape of ``c``.
    """
    closed = closed_form(method, ste)
    c = as_tensor(c, name="c")
    if not bool((c > 0).all()):
        raise ValueError(f"c = 1/|w| must be > 0 everywhere, got {c}")
    if not closed:
        mo = moments(1.0 / c, ste, method="quadrature")
        return 2 * cf.PHI0 * mo.m1p - mo.m2
    if ste == "identity":
        return torch.full_like(c, 1 / math.pi - 1)
    if ste == "relu":
        return torch.full_like(c, 1 / math.pi - 0.5)
    return 2 * cf.PHI0 * cf.first_moment(c) - cf.second_moment(c)


def _radial_crelu(c: float) -> float:
    """r(c) for crelu in float arithmetic (scipy), for the root finder."""
    pdf = cf.PHI0 * math.exp(-c * c / 2)
    return 2 * cf.PHI0 * (cf.PHI0 - pdf) - (0.5 * scipy.special.erf(c / math.sqrt(2)) - c * pdf)


@functools.cache
def _c_star() -> float:
    # r increases on (0, 2 phi(0)) (r' = c phi(c)(2 phi(0) - c)), then decreases to 1/pi - 1/2 < 0.
    return scipy.optimize.brentq(_radial_crelu, 2 * cf.PHI0, 10.0, xtol=1e-15, rtol=8.9e-16)


def tangential_coefficient(c, ste: str, *, method: str = "auto") -> torch.Tensor:
    r""":math:`M_0 = E[\mu'(x/c)]` at :math:`|w| = 1/c`: the tangential part of :math:`E g` is
    :math:`-v M_0 (a - \alpha\hat w)`, which turns :math:`\hat w` towards :math:`\pm\hat a` when > 0."""
    closed_form(method, ste)
    c = as_tensor(c, name="c")
    if not bool((c > 0).all()):
        raise ValueError(f"c = 1/|w| must be > 0 everywhere, got {c}")
    return moments(1.0 / c, ste, method=method).m0


def vanishing_norm(ste: str) -> float | None:
    """|w| where the expected coarse gradient vanishes on a minimizing ray, or ``None``.

    crelu: 1/c* (the book's 1/kappa*) with c* the unique root of 2 phi(0)(phi(0) - phi(c)) = Phi(c) - 1/2 - c phi(c)
    (brentq, ~1e-15); it does not depend on |a| or n. identity, relu: ``None`` (the radial
    coefficient is a negative constant). Any other registered STE: the smallest radius of
    :func:`vanishing_radii` (its stability is there), ``None`` if there is none in
    [1e-3, 1e3]; ``ValueError`` if it vanishes on the whole ray (then no radius is singled out).
    Unknown ``ste`` -> ``ValueError``.
    """
    check_ste(ste)
    if ste in ("identity", "relu", "crelu"):
        return 1.0 / _c_star() if ste == "crelu" else None
    found = vanishing_radii(ste)
    if found.everywhere:
        raise ValueError(f"ste={ste!r}: the expected coarse gradient vanishes at every radius of the "
                         "minimising ray; see vanishing_radii")
    return found.radii[0].radius if found.radii else None


class LinearTeacherModel:
    """Population model protocol for the misspecified example: m = 1, n = len(a).

    Attributes ``m`` (= 1), ``n``, ``a`` (float64, (n,)). ``loss``, ``grad_v``, ``grad_w``,
    ``expected_coarse_grad`` take ``v`` (..., 1), ``w`` (..., n). ``sample(batch, generator)``
    returns ``Z`` (batch, 1, n) i.i.d. N(0, 1) in float64 and ``y_star = Z[:, 0, :] @ a``.
    """

    def __init__(self, a) -> None:
        a = cf.vector(a, name="a")
        if a.ndim != 1:
            raise ValueError(f"a must have shape (n,), got shape {tuple(a.shape)}")
        self.a = a.to(torch.float64)
        self.m, self.n = 1, self.a.shape[0]

    def __repr__(self) -> str:
        return f"LinearTeacherModel(n={self.n})"

    def loss(self, v, w) -> torch.Tensor:
        return population_loss(v, w, self.a)

    def grad_v(self, v, w) -> torch.Tensor:
        return population_grad(v, w, self.a)[0]

    def grad_w(self, v, w) -> torch.Tensor:
        return population_grad(v, w, self.a)[1]

    def expected_coarse_grad(self, v, w, ste: str) -> torch.Tensor:
        return expected_coarse_grad(v, w, self.a, ste)

    def _coarse_step(self, v, w, groups) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad_v, expected coarse gradients) of the runs v (R, 1), w (R, n), whose STEs are
        ``groups`` [(ste, slice of rows)] (names checked): one polar(w) for both, as CGD's step
        needs them; the same numbers as :meth:`grad_v` and :meth:`expected_coarse_grad`."""
        v, w, a = _args(v, w, self.a)
        r, w_hat = cf.polar(w)
        gw = [_coarse(v[sl], a, r[sl], w_hat[sl], ste, closed_form("auto", ste)) for ste, sl in groups]
        return v / 2 - cf.PHI0 * cf.dot(a, w_hat), torch.cat(gw)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        batch = cf.check_generator(generator, batch)
        Z = torch.randn(batch, 1, self.n, generator=generator, dtype=torch.float64, device=generator.device)
        return Z, Z[:, 0, :] @ self.a.to(Z.device)
