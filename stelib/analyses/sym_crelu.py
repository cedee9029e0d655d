r"""The clipped ReLU at small and large :math:`|w|` (book: the scale-symmetry chapter).

The clipped ReLU's coarse gradient is not invariant under :math:`w \mapsto c\,w`: along a ray
:math:`w = r\hat w` it equals the ReLU's on every sample for small :math:`r` and tends to 0 for
large :math:`r` (prop-scale-coarse; section "What the STEs do with the symmetry"):

* :func:`crelu_limits`: the two limits on one sample (:class:`CreluLimits`, which prints
  itself), each ratio with its delta-method standard error (:func:`ratio_se`);
* :func:`loglog_slope`: the least-squares slope on log-log axes, with which
  :func:`stelib.rays.large_scale_fit` measures how fast the clipped ReLU and the true gradient
  decay at large :math:`|w|` (prop-scale-large).

Example
-------
>>> ratio_se([[1.0, 0.0], [3.0, 0.0]], [[2.0, 0.0], [2.0, 0.0]])   # |mean a| / |mean b|, its s.e.
(1.0, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.sym_rescaling import _positive_values
from stelib.core._validate import as_tensor, check_nonzero_rows
from stelib.core.distributions import DTYPE
from stelib.core.network import coarse_grads
from stelib.core.rounding import fmt_se

__all__ = ["CreluLimits", "crelu_limits", "loglog_slope", "ratio_se"]

def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (x, y > 0, 1-D, at least two points)."""
    x = as_tensor(x, name="x", ndim=1, dtype=DTYPE)
    y = as_tensor(y, name="y", ndim=1, dtype=DTYPE)
    if x.shape != y.shape or x.shape[0] < 2 or bool((x <= 0).any() | (y <= 0).any()):
        raise ValueError("x and y must be positive 1-D arrays of the same length >= 2")
    lx, ly = torch.log(x), torch.log(y)
    lx = lx - lx.mean()
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())


@dataclass(frozen=True)
class CreluLimits:
    r"""The clipped-ReLU sample mean :math:`\bar g_c(r) = \bar g_{\rm crelu}(v, r\hat w)` against
    :math:`\bar g_{\rm relu}(v, \hat w)`, one entry per ``norms`` value r."""

    norms: tuple[float, ...]
    to_relu: tuple[float, ...]  #: |g_c(r) - g_relu| / |g_relu|
    size: tuple[float, ...]  #: |g_c(r)| / |g_relu|
    same: tuple[float, ...]  #: fraction of samples with g_crelu(v, r w_hat; Z) = g_relu exactly
    to_relu_se: tuple[float, ...]  #: delta-method standard error of to_relu
    size_se: tuple[float, ...]  #: delta-method standard error of size

    def __str__(self) -> str:  # three lines per |w|, continued under the first quantity
        k, cont = len(self.norms), " " * 16
        return "\n".join(
            f"|w| = {self.norms[i]:8.3f}: |g_crelu - g_relu|/|g_relu| = "
            f"{fmt_se(self.to_relu[i], self.to_relu_se[i])},\n{cont}|g_crelu|/|g_relu| = "
            f"{fmt_se(self.size[i], self.size_se[i])},\n{cont}samples with g_crelu = g_relu: "
            f"{self.same[i]:.1%}" for i in sorted({0, k // 2, k - 1}))


def ratio_se(a, b) -> tuple[float, float]:
    r""":math:`R = |\bar a| / |\bar b|` of two per-sample vectors ``a``, ``b`` (batch, n) and its
    delta-method standard error.

    The influence of sample i is :math:`\psi_i = (\hat A^\top(a_i - \bar a) - R\,\hat
    B^\top(b_i - \bar b)) / |\bar b|` (:math:`\hat A`, :math:`\hat B` the unit vectors of the
    means, :math:`\hat A = 0` when :math:`\bar a = 0`), and the standard error is
    :math:`\mathrm{sd}(\psi)/\sqrt{N}`. A first-order error: it understates the error of a
    norm that is not large against it. ``ValueError`` if :math:`\bar b = 0`.
    """
    a = as_tensor(a, name="a", ndim=2, dtype=DTYPE)
    b = as_tensor(b, name="b", ndim=2, dtype=DTYPE).to(a.device)
    if a.shape != b.shape or a.shape[0] < 2:
        raise ValueError(f"a and b must have the same shape (batch >= 2, n); got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    A, B = a.mean(0), b.mean(0)
    nb = B.norm()
    if not bool(nb > 0):
        raise ValueError("the mean of b is 0: the ratio is not defined")
    na = A.norm()
    r = na / nb
    a_hat = A / na if bool(na > 0) else torch.zeros_like(A)
    psi = ((a - A) @ a_hat - r * ((b - B) @ (B / nb))) / nb
    return r.item(), (psi.std() / math.sqrt(a.shape[0])).item()


def crelu_limits(v, w, Z, y_star, *, norms: Sequence[float]) -> CreluLimits:
    r"""The limits of Proposition prop-scale-coarse on one sample, along the ray of ``w``.

    With :math:`\hat w = w/|w|`: for every r in ``norms``, the sample mean of
    :math:`g_{\rm crelu}(v, r\hat w; Z)` compared with that of :math:`g_{\rm relu}(v, \hat w; Z)`
    (which does not depend on r), and the fraction of samples on which the two per-sample coarse
    gradients are equal. Expected: equal for small r (every sample), the clipped ReLU tending
    to 0 for large r; each ratio with its delta-method standard error (:func:`ratio_se`).
    Returns a :class:`CreluLimits`.
    """
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    check_nonzero_rows(w)
    norms = _positive_values(norms, name="norms")
    w_hat = w / w.norm()
    g_relu = coarse_grads(v, w_hat, Z, y_star, "relu")["relu"]
    per_relu = coarse_grads(v, w_hat, Z, y_star, "relu", per_sample=True)["relu"]
    if not bool((g_relu != 0).any()):
        raise ValueError("the mean ReLU coarse gradient is 0 on this sample: nothing to compare with")
    to_relu, size, same, to_relu_se, size_se = [], [], [], [], []
    for r in torch.tensor(norms, dtype=DTYPE, device="cpu"):
        g_c = coarse_grads(v, r * w_hat, Z, y_star, "crelu")["crelu"]
        to_relu.append(((g_c - g_relu).norm() / g_relu.norm()).item())
        size.append((g_c.norm() / g_relu.norm()).item())
        per_c = coarse_grads(v, r * w_hat, Z, y_star, "crelu", per_sample=True)["crelu"]
        same.append((per_c == per_relu).all(dim=1).double().mean().item())
        to_relu_se.append(ratio_se(per_c - per_relu, per_relu)[1])
        size_se.append(ratio_se(per_c, per_relu)[1])
    return CreluLimits(norms, tuple(to_relu), tuple(size), tuple(same), tuple(to_relu_se),
                       tuple(size_se))
