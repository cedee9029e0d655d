r"""The scale symmetry :math:`w \mapsto c\,w` and what the STEs do with it (book: the scale-symmetry chapter).

For the binary network :math:`y = v^\top\sigma(Zw)` and any labels, :math:`\sigma(cx) = \sigma(x)`
(:math:`c > 0`) makes the sample loss invariant, :math:`\ell(v, cw; Z) = \ell(v, w; Z)`, hence

.. math::

    w^\top \nabla_w L = 0,\qquad \nabla_w L(v, cw) = \nabla_w L(v, w) / c,

while the coarse gradients obey :math:`g_\mu(v, cw; Z) = g_\mu(v, w; Z)` for the identity and
ReLU STEs and not for the clipped ReLU. This module holds the checks the chapter
``scale_symmetry`` runs for any input distribution and label model:

* :func:`make_problem`: a :class:`~stelib.problems.Problem` with random teacher weights drawn
  from an explicit generator, including the ``"noisy_teacher"`` label model;
* :func:`rescaling_gaps`: sample-by-sample differences of the loss and coarse gradients
  between ``w`` and ``c w`` (common random numbers);
* :func:`smoothed_true_grad`: per-sample smoothed-step estimate of :math:`\nabla_w L` (the
  estimator of :mod:`stelib.montecarlo`, per sample, so any linear functional gets a standard
  error), and :func:`scale_covariance_check` built on it;
* :func:`radial_part`, :func:`least_squares_v`, :func:`loglog_slope`: small helpers.

Example
-------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> p = make_problem("laplace", n=3, m=2, labels="teacher", generator=g)
>>> Z, y = p.sample(100, g)
>>> gaps = rescaling_gaps(torch.ones(2), torch.ones(3), Z, y, scales=[0.5, 4.0])
>>> gaps["loss"], gaps["identity"], gaps["relu"]
(0.0, 0.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from stelib.analyses.general_inputs import optimal_v_on
from stelib.core._validate import (
    as_device,
    as_tensor,
    check_choice,
    check_positive,
    check_positive_int,
    check_real,
)
from stelib.core.distributions import DTYPE, make_distribution
from stelib.core.montecarlo import true_grad_per_sample
from stelib.core.network import coarse_grads, sample_loss
from stelib.core.problems import Problem
from stelib.core.ste import STE_NAMES

__all__ = [
    "LABEL_CHOICES", "least_squares_v", "loglog_slope", "make_problem", "mean_se", "radial_part",
    "rescaling_gaps", "scale_covariance_check", "smoothed_true_grad",
]

LABEL_CHOICES: tuple[str, ...] = ("teacher", "relu_teacher", "noisy_teacher", "linear", "sign")


def make_problem(distribution: str, *, n: int, m: int, labels: str, generator: torch.Generator,
                 noise: float = 0.5, **shape) -> Problem:
    """A problem on ``distribution`` (R^n, m patches) with labels ``labels``.

    Teacher weights v* (m,), w* (n,) are drawn N(0, I) from ``generator``, the linear/sign
    teacher ``a`` (n,) is a random unit vector. ``"noisy_teacher"`` is Yin's teacher plus
    N(0, noise^2) label noise. ``shape`` goes to :func:`~stelib.distributions.make_distribution`.
    """
    check_choice(labels, LABEL_CHOICES, name="labels")
    check_real(noise, name="noise", low=0.0, high=1e6)
    dist = make_distribution(distribution, n, **shape)
    dev = generator.device
    v_star = torch.randn(m, generator=generator, dtype=DTYPE, device=dev)
    w_star = torch.randn(n, generator=generator, dtype=DTYPE, device=dev)
    a = torch.randn(n, generator=generator, dtype=DTYPE, device=dev)
    a = a / torch.linalg.vector_norm(a)
    if labels in ("teacher", "relu_teacher", "noisy_teacher"):
        kind = "relu_teacher" if labels == "relu_teacher" else "teacher"
        return Problem(dist, m, labels=kind, v_star=v_star, w_star=w_star,
                       noise=noise if labels == "noisy_teacher" else 0.0)
    return Problem(dist, m, labels=labels, a=a)


def rescaling_gaps(v, w, Z, y_star, scales: Sequence[float], stes=STE_NAMES) -> dict[str, float]:
    """max over c in ``scales`` and over samples of |q(v, c w; Z) - q(v, w; Z)|.

    q is the per-sample loss (key ``"loss"``) and the per-sample coarse gradient of each STE
    (keys = STE names; max over coordinates too). Same ``Z`` at w and c w: common random
    numbers, so an exact invariance shows as exactly 0.0.
    """
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    out = {"loss": 0.0, **{s: 0.0 for s in stes}}
    base_l = sample_loss(v, w, Z, y_star, per_sample=True)
    base_g = coarse_grads(v, w, Z, y_star, stes, per_sample=True)
    for c in scales:
        c = check_positive(c, name="scale")
        gap = (sample_loss(v, c * w, Z, y_star, per_sample=True) - base_l).abs().max().item()
        out["loss"] = max(out["loss"], gap)
        for s, g in coarse_grads(v, c * w, Z, y_star, stes, per_sample=True).items():
            out[s] = max(out[s], (g - base_g[s]).abs().max().item())
    return out


def smoothed_true_grad(v, w, Z, y_star, *, bandwidth: float = 0.02) -> torch.Tensor:
    r"""Per-sample terms of the kernel estimate of :math:`\nabla_w L`, shape ``(batch, n)``.

    The estimator of :func:`stelib.montecarlo.estimate` (``true_grad=True``): unit i's switching
    hyperplane :math:`z_i^\top w = 0` carries the jump :math:`v_i(r - v_i\sigma_i + v_i/2)` of the
    loss, and the Dirac mass there is replaced by a Gaussian kernel of width
    :math:`h = \text{bandwidth}\,|w|`; bias O(h^2) for smooth densities.
    """
    return true_grad_per_sample(v, w, Z, y_star, bandwidth=bandwidth)


def mean_se(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error along the first (sample) axis."""
    x = as_tensor(x, name="x")
    return x.mean(dim=0), x.std(dim=0) / math.sqrt(x.shape[0])


def radial_part(g, w) -> torch.Tensor:
    """w_hat^T g over the last axis, shape (...): the component of g along the ray of w."""
    g = as_tensor(g, name="g", dtype=DTYPE)
    w = as_tensor(w, name="w", dtype=DTYPE).to(g.device)
    return (g * w).sum(-1) / torch.linalg.vector_norm(w, dim=-1)


def scale_covariance_check(v, w, problem, *, c: float, samples: int, generator: torch.Generator,
                           bandwidth: float = 0.02, device=None) -> dict[str, float]:
    r"""z-scores of :math:`\hat w^\top\nabla_w L = 0` and of :math:`c\nabla_w L(cw) = \nabla_w L(w)`.

    Two independent samples of size ``samples`` are drawn from ``problem``; on the first, the
    per-sample radial part :math:`\hat w^\top \nabla` gives ``z_radial`` = mean/se; the second is
    used at :math:`cw`, and ``z_scale`` is the largest over coordinates of
    :math:`|c\,\bar g(cw) - \bar g(w)| / \sqrt{c^2 se(cw)^2 + se(w)^2}`. Also returns the norm
    ``grad_norm`` of the estimate at w and the largest standard error ``se``. The samples come
    from the generator (on its device) and are used on ``device`` (default: the generator's).
    """
    samples = check_positive_int(samples, name="samples", minimum=2)
    check_positive(c, name="c")
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    dev = generator.device if device is None else as_device(device)

    def draw():
        return [t.to(dev) for t in problem.sample(samples, generator)]

    G1 = smoothed_true_grad(v, w, *draw(), bandwidth=bandwidth)
    G2 = smoothed_true_grad(v, c * w, *draw(), bandwidth=bandwidth)
    rad_mean, rad_se = mean_se(radial_part(G1, w))
    m1, s1 = mean_se(G1)
    m2, s2 = mean_se(G2)
    z = (c * m2 - m1) / torch.sqrt(c**2 * s2**2 + s1**2)
    return {"grad_norm": torch.linalg.vector_norm(m1).item(), "se": s1.max().item(),
            "radial": rad_mean.item(), "radial_se": rad_se.item(),
            "z_radial": (rad_mean / rad_se).item(), "z_scale": z.abs().max().item()}


def least_squares_v(w, Z, y_star) -> torch.Tensor:
    """argmin_v of the sample mean of (v^T sigma(Z w) - y*)^2, shape (m,) (least squares).

    For a population this is the optimal second layer for the direction of w (it does not
    depend on |w|): :func:`stelib.general_inputs.optimal_v_on` for one direction. Raises
    ``ValueError`` if some unit never fires on the sample.
    """
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    Z = as_tensor(Z, name="Z", ndim=3, dtype=DTYPE)
    w = w.to(Z.device)  # computed where the sample lives
    if bool((((Z @ w) > 0).sum(0) == 0).any()):
        raise ValueError("a hidden unit never fires on this sample: v is not identified")
    return optimal_v_on(w[None], Z, y_star)[0]


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (x, y > 0, 1-D, at least two points)."""
    x = as_tensor(x, name="x", ndim=1, dtype=DTYPE)
    y = as_tensor(y, name="y", ndim=1, dtype=DTYPE)
    if x.shape != y.shape or x.shape[0] < 2 or bool((x <= 0).any() | (y <= 0).any()):
        raise ValueError("x and y must be positive 1-D arrays of the same length >= 2")
    lx, ly = torch.log(x), torch.log(y)
    lx = lx - lx.mean()
    return float((lx * (ly - ly.mean())).sum() / (lx * lx).sum())
