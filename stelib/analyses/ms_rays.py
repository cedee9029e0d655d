r"""The minimising rays of the linear-teacher example (chapter *A misspecified example*).

On a minimising ray :math:`w = r\hat a`, :math:`v = 2\varphi_0|a|` the gradient of the loss is 0
at every :math:`r`, while the expected coarse gradients have a radial part: constant for the
identity and ReLU STEs, changing sign at :math:`r = 1/\kappa^*` for the clipped ReLU
(prop-ms-vanishing; section "Where the coarse gradients vanish"). Each check returns a small
frozen result whose ``str`` is what the chapter prints:

- :func:`radial_roots`: the zero of the radial part on a minimising ray is :math:`1/\kappa^*`
  for every :math:`|a|` and n (prop-ms-vanishing (c));
- :func:`minimising_ray`: :math:`|\nabla L|` and the radial parts along the +a ray;
- :func:`angle_to_minimising_rays`: the angle of :math:`w` (n = 2) to the nearer of
  :math:`\pm\hat a`, in which :mod:`stelib.ms_paths` and the chapter's figures measure paths.

Example
-------
>>> import torch
>>> a = torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> print(minimising_ray(a, [2.0], ["relu"]))
|w| = 2.0000: |grad L| = <1e-12; radial: relu -0.1812
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.optimize
import torch

from stelib.analyses.ms_checks import DTYPE, _stes
from stelib.core import misspecified as ms
from stelib.core._validate import as_tensor, check_positive, check_positive_int, check_real
from stelib.core.rounding import floor_for, fmt

__all__ = ["RadialRoots", "RayTable", "angle_to_minimising_rays", "minimising_ray", "radial_roots"]


@dataclass(frozen=True)
class RadialRoots:
    """Zeros of the clipped-ReLU radial part on the minimising ray, one per (n, |a|)."""

    r_star: float  #: ``vanishing_norm("crelu")`` = 1/kappa*
    norms: tuple[float, ...]
    dims: tuple[int, ...]
    roots: tuple[float, ...]  #: for every n in dims, every |a| in norms
    residuals: tuple[float, ...]  #: |E g| / |a|^2 at each root
    inside_negative: bool  #: radial part < 0 at 0.9 root, for every root
    outside_positive: bool  #: radial part > 0 at 1.1 root, for every root

    def __str__(self) -> str:
        dev = max(abs(t - self.r_star) for t in self.roots)
        return (f"vanishing_norm('crelu') = 1/κ* = {self.r_star:.6f}   (κ* = {1 / self.r_star:.6f})\n"
                f"roots over |a| in {list(self.norms)} and n in {list(self.dims)}: max |root - 1/κ*| = "
                f"{fmt(dev, '.1e')}\nmax residual |E g| / |a|^2 at the roots = "
                f"{fmt(max(self.residuals), '.1e')};\n    radial part <0 inside, >0 outside: "
                f"{(self.inside_negative, self.outside_positive)}")


def radial_roots(norms: Sequence[float], dims: Sequence[int]) -> RadialRoots:
    r"""For :math:`a = |a|(1, \dots, 1)/\sqrt n`, the root :math:`t_0` in [0.1, 10] (Brent,
    xtol 1e-14) of :math:`t \mapsto \hat a^\top E g_{\mathrm{crelu}}(v(\hat a), t\hat a)` on the
    slice :math:`v = 2\varphi_0|a|`, the residual :math:`|E g|/|a|^2` there and the signs at
    :math:`0.9t_0`, :math:`1.1t_0`. prop-ms-vanishing (c): :math:`t_0 = 1/\kappa^*` whatever
    :math:`|a|` and n."""
    norms = tuple(check_real(s, name="norms", low=0.0, low_open=True) for s in norms)
    dims = tuple(check_positive_int(d, name="dims", maximum=10_000) for d in dims)
    if not norms or not dims:
        raise ValueError(f"norms={norms} and dims={dims} must each hold at least one value")
    roots, res, inside, outside = [], [], True, True
    for dim in dims:
        for s in norms:
            A = s * torch.ones(dim, dtype=DTYPE, device="cpu") / math.sqrt(dim)  # host-side root finding

            def radial(t, A=A, s=s):
                return float(ms.expected_coarse_grad(ms.optimal_v(t * A, A), t * A / s, A, "crelu") @ A / s)

            t0 = scipy.optimize.brentq(radial, 0.1, 10.0, xtol=1e-14)
            roots.append(t0)
            res.append(ms.expected_coarse_grad(ms.optimal_v(A, A), t0 * A / s, A, "crelu").norm().item() / s**2)
            inside, outside = inside and radial(0.9 * t0) < 0, outside and radial(1.1 * t0) > 0
    return RadialRoots(ms.vanishing_norm("crelu"), norms, dims, tuple(roots), tuple(res), inside, outside)


@dataclass(frozen=True)
class RayTable:
    r"""At points :math:`(v(\hat a), r\hat a)` of the +a minimising ray: :math:`|\nabla L|` and
    :math:`\hat a^\top E g_\mu` for each STE, one row per radius r."""

    radii: tuple[float, ...]
    grad_norm: tuple[float, ...]
    radial: tuple[dict[str, float], ...]
    scale: float = 1.0  #: |a|^2, the size of the gradients: values below floor_for(scale) are rounding

    def radial_at(self, radius: float, ste: str) -> float:
        """The radial part of ``ste`` at the tabulated ``radius``."""
        if radius not in self.radii or ste not in self.radial[0]:
            raise ValueError(f"radius={radius!r}, ste={ste!r}: not in the table; radii {self.radii}, "
                             f"stes {tuple(self.radial[0])}")
        return self.radial[self.radii.index(radius)][ste]

    def __str__(self) -> str:
        low = floor_for(self.scale)
        return "\n".join(f"|w| = {r:.4f}: |grad L| = {fmt(g, '.1e', floor=low)}; radial: "
                         + ", ".join(f"{s} {fmt(x, '+.4f', floor=low)}" for s, x in rad.items())
                         for r, g, rad in zip(self.radii, self.grad_norm, self.radial, strict=True))


def minimising_ray(a, radii: Sequence[float], stes: Sequence[str]) -> RayTable:
    r""":math:`|(\partial_v L, \nabla_w L)|` and :math:`\hat a^\top E g_\mu` at
    :math:`v = 2\varphi_0|a|`, :math:`w = r\hat a` for every r in ``radii`` (prop-ms-vanishing:
    the gradient is 0 at every r; identity and ReLU radial parts are the constants
    :math:`2\varphi_0|a|^2 r_\mu`, the clipped ReLU's changes sign at :math:`1/\kappa^*`)."""
    A = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    radii = tuple(check_positive(r, name="radii") for r in radii)
    stes = _stes(stes)
    model, grads, radial = ms.LinearTeacherModel(A), [], []
    for radius in radii:
        w = radius * A / A.norm()
        v_opt = ms.optimal_v(w, A)
        grads.append(float(torch.cat([model.grad_v(v_opt, w).reshape(1), model.grad_w(v_opt, w)]).norm()))
        radial.append({s: float(model.expected_coarse_grad(v_opt, w, s) @ A / A.norm()) for s in stes})
    return RayTable(radii, tuple(grads), tuple(radial), float(A @ A))


def angle_to_minimising_rays(w, a) -> torch.Tensor:
    r"""The angle in [0, pi/2] between each w (..., 2) and the nearer of :math:`\pm\hat a`,
    :math:`\mathrm{atan2}(|w \times \hat a|, |w^\top\hat a|)`: accurate to relative rounding near 0."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", dtype=DTYPE)
    if a.shape != (2,) or w.ndim == 0 or w.shape[-1] != 2:
        raise ValueError(f"w must have shape (..., 2) and a shape (2,) (the plane); got "
                         f"{tuple(w.shape)}, {tuple(a.shape)}")
    a_hat = a / a.norm()
    cross = (w[..., 0] * a_hat[1] - w[..., 1] * a_hat[0]).abs()
    return torch.atan2(cross, (w @ a_hat).abs())
