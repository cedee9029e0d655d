r"""The closed forms of the linear-teacher example, checked (chapter *A misspecified example*).

The model is :mod:`stelib.misspecified`: a one-unit binary student :math:`y = v\,\sigma(w^\top z)`,
inputs :math:`z \sim N(0, I_n)`, teacher :math:`y^* = a^\top z`. Each check returns a small
frozen result whose ``str`` is what the chapter prints (sections "The model, and why it is
misspecified" and "Expected coarse gradients in closed form"):

- :func:`loss_vs_monte_carlo`, :func:`coarse_vs_monte_carlo`: the closed forms of
  prop-ms-stationary and prop-ms-coarse against Monte Carlo means (largest :math:`|z|`);
- :func:`gradient_check`: :math:`\nabla_w L` against central finite differences;
- :func:`stationary_set_check`: the listed stationary rays are stationary, random points not
  (prop-ms-stationary).

It also holds the argument checks shared by :mod:`stelib.ms_rays` and :mod:`stelib.ms_c5`;
:mod:`stelib.linear_teacher` gathers the four modules for the chapter.

Example
-------
>>> import torch
>>> a = torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> print(gradient_check(a, [[1.0]], [[0.3, -0.2]]))
grad_w, closed form vs finite differences: max |diff| = <1e-8
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.core import misspecified as ms
from stelib.core._validate import as_tensor, check_positive_int, check_real
from stelib.core.montecarlo import estimate
from stelib.core.rounding import fmt
from stelib.core.ste import check_ste

__all__ = ["GradientCheck", "MonteCarloCheck", "StationaryCheck", "coarse_vs_monte_carlo", "gradient_check",
           "loss_vs_monte_carlo", "stationary_set_check"]

DTYPE = torch.float64


def _stes(stes: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of registered STE names, or ValueError naming ``stes``."""
    stes = (stes,) if isinstance(stes, str) else tuple(stes)
    if not stes:
        raise ValueError("stes=() is empty; give at least one registered STE name")
    return tuple(check_ste(s, name="stes") for s in stes)


def _points(a, V, W) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a (n,), V (k, 1), W (k, n) as float64, or ValueError naming the parameter."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    V = as_tensor(V, name="V", ndim=2, dtype=DTYPE)
    W = as_tensor(W, name="W", ndim=2, dtype=DTYPE)
    if V.shape[1] != 1 or W.shape != (V.shape[0], a.shape[0]) or not len(a) or not len(V):
        raise ValueError(f"V must have shape (k, 1) and W shape (k, n) with k >= 1 and n = len(a) >= 1; "
                         f"got V {tuple(V.shape)}, W {tuple(W.shape)}, a {tuple(a.shape)}")
    return a, V, W


@dataclass(frozen=True)
class MonteCarloCheck:
    """Largest |z| of a closed form against Monte Carlo means over ``points`` points (x
    ``coordinates`` coordinates); ``quantity`` is ``"loss"`` or an STE name."""

    quantity: str
    z_max: float
    points: int
    coordinates: int

    def __str__(self) -> str:
        if self.quantity == "loss":
            return (f"loss, closed form vs Monte Carlo: max |z| = {self.z_max:.2f} over "
                    f"{self.points} random points")
        return (f"{self.quantity:>8}: closed form vs Monte Carlo, max |z| over {self.points} points "
                f"x {self.coordinates} coordinates = {self.z_max:.2f}")


def loss_vs_monte_carlo(a, V, W, *, samples: int, generator: torch.Generator,
                        device=None) -> MonteCarloCheck:
    r"""max over the points :math:`(V_i, W_i)` of :math:`|\hat L - L|/\mathrm{se}`, with
    :math:`L = \tfrac14 v^2 - \varphi_0 v\,a^\top\hat w + \tfrac12|a|^2` (prop-ms-stationary) and
    :math:`\hat L` the mean of ``samples`` draws from ``generator`` per point (in this order),
    computed on ``device``. Under the closed form each z is about N(0, 1)."""
    a, V, W = _points(a, V, W)
    samples = check_positive_int(samples, name="samples", minimum=2)
    model = ms.LinearTeacherModel(a)
    mc = [estimate(V[i], W[i], model, samples=samples, generator=generator, stes=(), device=device).loss
          for i in range(len(V))]
    z = max(abs(e.z_score(model.loss(V[i], W[i])).item()) for i, e in enumerate(mc))
    return MonteCarloCheck("loss", z, len(V), 1)


def coarse_vs_monte_carlo(a, V, W, ste: str, *, samples: int, generator: torch.Generator,
                          device=None) -> MonteCarloCheck:
    r"""max over points and coordinates of :math:`|\bar g - E g_\mu|/\mathrm{se}` for the STE
    ``ste``: the closed form :math:`E g_\mu` of prop-ms-coarse against the mean of ``samples``
    coarse gradients per point, drawn from ``generator`` point by point."""
    a, V, W = _points(a, V, W)
    check_ste(ste)
    samples = check_positive_int(samples, name="samples", minimum=2)
    model, zs = ms.LinearTeacherModel(a), []
    for i in range(len(V)):
        est = estimate(V[i], W[i], model, samples=samples, generator=generator, stes=(ste,),
                       device=device).coarse[ste]
        zs.append(est.z_score(model.expected_coarse_grad(V[i], W[i], ste)).abs().max().item())
    return MonteCarloCheck(ste, max(zs), len(V), W.shape[1])


@dataclass(frozen=True)
class GradientCheck:
    """Largest |closed-form dL/dw - central difference| over points and coordinates."""

    max_diff: float
    eps: float

    def __str__(self) -> str:
        # below 1e-8 the difference is the rounding term ~1e-16 |L| / eps of the central difference
        # (machine-dependent digits): printed as "<1e-8"
        return f"grad_w, closed form vs finite differences: max |diff| = {fmt(self.max_diff, '.1e', floor=1e-8)}"


def gradient_check(a, V, W, *, eps: float = 1e-6) -> GradientCheck:
    r""":math:`\max_{i,j} |\partial_{w_j} L(V_i, W_i) - (L(W_i + \epsilon e_j) - L(W_i - \epsilon
    e_j))/(2\epsilon)|` for the closed-form gradient of prop-ms-stationary (error
    O(:math:`\epsilon^2`) plus rounding O(:math:`10^{-16}/\epsilon`))."""
    a, V, W = _points(a, V, W)
    eps = check_real(eps, name="eps", low=0.0, high=0.1, low_open=True)
    model, fd = ms.LinearTeacherModel(a), []
    for j in range(W.shape[1]):
        dw = torch.zeros(W.shape[1], dtype=DTYPE, device=W.device)
        dw[j] = eps
        fd.append((model.loss(V, W + dw) - model.loss(V, W - dw)) / (2 * eps))
    return GradientCheck((torch.stack(fd, 1) - model.grad_w(V, W)).abs().max().item(), eps)


@dataclass(frozen=True)
class StationaryCheck:
    """Which points of the listed stationary set are stationary (prop-ms-stationary)."""

    n: int
    minima_ok: bool  #: both minimising rays, at every scale tried
    saddles: int  #: random saddle points tried (0 for n = 1)
    saddles_ok: bool
    random_stationary: int  #: how many of the random points are stationary (expected: 0)
    random_points: int
    min_loss: float
    saddle_loss: float

    def __str__(self) -> str:
        pad = " " * len(f"n = {self.n}: ")  # the three checks one under the other (88 columns)
        return (f"n = {self.n}: minima rays stationary at 3 scales: {self.minima_ok};\n{pad}"
                + (f"{self.saddles} random saddle points stationary: {self.saddles_ok};\n{pad}" if self.saddles
                   else f"no saddle points to try (n = 1: a^T w = 0 only at w = 0);\n{pad}")
                + f"random points that are stationary: {self.random_stationary} of {self.random_points}\n"
                f"minimum loss {self.min_loss:.4f} = |a|^2 (1/2 - 1/(2 pi)) > 0; saddle loss "
                f"{self.saddle_loss:.4f} = |a|^2/2")


def stationary_set_check(a, V, W, *, generator: torch.Generator, saddles: int = 5) -> StationaryCheck:
    r"""Test the stationary set of prop-ms-stationary with :func:`stelib.misspecified.is_stationary`:
    the minima :math:`(\pm 2\varphi_0|a|, \pm s\hat a)` at :math:`s = 0.01, 1, 100`, ``saddles``
    points :math:`(0, w)`, :math:`a^\top w = 0`, drawn from ``generator`` (none when n = 1), and
    the random points :math:`(V_i, W_i)`, which should not be stationary."""
    a, V, W = _points(a, V, W)
    saddles = check_positive_int(saddles, name="saddles")
    S, n = ms.stationary_points(a), len(a)
    scales = torch.tensor([0.01, 1.0, 100.0], dtype=DTYPE, device=a.device)[:, None]
    ok_min = all(bool(S.contains(S.min_v[i], d * scales).all()) for i, d in enumerate(S.min_directions))
    sad = (torch.randn(saddles, n - 1, generator=generator, dtype=DTYPE, device=generator.device) @ S.saddle_basis
           if n > 1 else torch.zeros(0, n, device=a.device))
    ok_sad = bool(S.contains(torch.zeros(len(sad), 1, device=a.device), sad).all()) if n > 1 else True
    return StationaryCheck(n, ok_min, len(sad), ok_sad, int(S.contains(V, W).sum()), len(V),
                           S.min_loss, S.saddle_loss)
