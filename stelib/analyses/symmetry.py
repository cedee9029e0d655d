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
* :func:`radial_part`, :func:`least_squares_v`, :func:`loglog_slope`, :func:`ratio_se`: small
  helpers;
* the chapter's checks, each returning a small result that prints itself:
  :func:`rescaling_table` and :func:`covariance_checks` (the tables over laws and labels),
  :func:`crelu_limits` (the clipped ReLU at small and large ``|w|``); what the coarse gradients
  do along rays is in :mod:`stelib.rays`.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from stelib.analyses.gi_samples import optimal_v_on
from stelib.core._validate import (
    as_device,
    as_tensor,
    check_choice,
    check_choices,
    check_nonzero_rows,
    check_positive,
    check_positive_int,
    check_real,
)
from stelib.core.distributions import DISTRIBUTIONS, DTYPE, make_distribution
from stelib.core.montecarlo import true_grad_per_sample
from stelib.core.network import coarse_grads, sample_loss
from stelib.core.problems import Problem
from stelib.core.rounding import fmt_se
from stelib.core.ste import STE_NAMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LABEL_CHOICES", "REAL_DATA", "CovarianceChecks", "CreluLimits", "covariance_checks",
    "crelu_limits", "least_squares_v", "loglog_slope", "make_problem", "mean_se", "radial_part",
    "random_direction", "ratio_se", "rescaling_gaps", "rescaling_table", "scale_covariance_check",
    "smoothed_true_grad",
]

LABEL_CHOICES: tuple[str, ...] = ("teacher", "relu_teacher", "noisy_teacher", "linear", "sign")
REAL_DATA: tuple[str, ...] = ("digits",)  #: laws that are a finite set of points (no density)


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
    depend on |w|): :func:`stelib.gi_samples.optimal_v_on` for one direction. Raises
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


# --- the chapter's checks ------------------------------------------------------------------


def random_direction(n: int, *, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random unit vector of R^n: a N(0, I) draw from ``generator``, normalised."""
    n = check_positive_int(n, name="n", maximum=4096)
    d = torch.randn(n, generator=generator, dtype=DTYPE, device=generator.device)
    return d / d.norm()


def _point_and_grid(v, w, distributions, label_models, *, n, m, noise, samples):
    """Validated (v, w, laws, label models, samples) of a table over laws and labels."""
    n = check_positive_int(n, name="n", maximum=4096)
    m = check_positive_int(m, name="m", maximum=4096)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    if v.shape != (m,) or w.shape != (n,):
        raise ValueError(f"v must have shape ({m},) and w shape ({n},); "
                         f"got {tuple(v.shape)} and {tuple(w.shape)}")
    check_nonzero_rows(w)
    laws = check_choices(distributions, tuple(DISTRIBUTIONS), name="distributions")
    labels = check_choices(label_models, LABEL_CHOICES, name="label_models")
    check_real(noise, name="noise", low=0.0, high=1e6)
    return v, w, laws, labels, check_positive_int(samples, name="samples", minimum=2)


def rescaling_table(v, w, *, distributions: Sequence[str], label_models: Sequence[str], n: int,
                    m: int, noise: float, samples: int, scales: Sequence[float],
                    generator: torch.Generator, device=None) -> pd.DataFrame:
    r"""Propositions prop-scale-loss and prop-scale-coarse, sample by sample, for many problems.

    For every law in ``distributions`` and, inside, every label model in ``label_models``, a
    teacher is drawn from ``generator`` (:func:`make_problem`), then ``samples`` inputs; the row
    holds :func:`rescaling_gaps` at ``(v, w)``: :math:`\max_{c, Z}|q(v, cw; Z) - q(v, w; Z)|`
    over c in ``scales``, for q the loss (column ``loss``) and each STE's coarse gradient (one
    column per STE name). Exact invariances give exactly 0.0. The draws are made on the
    generator's device and moved to ``device`` (default: the generator's) for the arithmetic.

    Returns a pandas DataFrame with columns ``distribution``, ``labels``, ``loss`` and the STEs.
    """
    import pandas as pd

    v, w, laws, labels, samples = _point_and_grid(v, w, distributions, label_models, n=n, m=m,
                                                  noise=noise, samples=samples)
    scales = _positive_values(scales, name="scales")
    dev = generator.device if device is None else as_device(device)
    rows = []
    for dist in laws:
        for lab in labels:
            problem = make_problem(dist, n=n, m=m, labels=lab, noise=noise, generator=generator)
            Z, y = problem.sample(samples, generator)
            gaps = rescaling_gaps(v, w, Z.to(dev), y.to(dev), scales)
            rows.append({"distribution": dist, "labels": lab, **gaps})
    return pd.DataFrame(rows)


def _positive_values(values, *, name: str) -> tuple[float, ...]:
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name}={values!r} must be a list of numbers > 0")
    values = tuple(values)
    if not values:
        raise ValueError(f"{name}=() is empty; give at least one number > 0")
    return tuple(check_positive(x, name=f"{name} entry") for x in values)


def _shown(x: float, spec: str) -> float:
    """x as the table shows it (``format(x, spec)`` read back)."""
    return float(format(x, spec))


@dataclass(frozen=True, eq=False)
class CovarianceChecks:
    """Rows of :func:`scale_covariance_check` over laws and label models (numeric ``data``)."""

    data: pd.DataFrame  #: distribution, labels, grad_norm, se, z_radial, z_scale

    @property
    def rows(self) -> int:
        return len(self.data)

    def largest_radial_z(self, *, real_data: bool = False) -> float:
        """max |z_radial| as shown (two decimals) over the rows whose law is in
        :data:`REAL_DATA` (``real_data=True``) or not; NaN when there is no such row."""
        real = self.data["distribution"].isin(REAL_DATA) == real_data
        return max((abs(_shown(z, "+.2f")) for z in self.data["z_radial"][real]), default=math.nan)

    @property
    def largest_scaling_z(self) -> float:
        """max of the rescaling |z| as shown (two decimals); NaN without rows."""
        return max((_shown(z, ".2f") for z in self.data["z_scale"]), default=math.nan)

    def table(self) -> pd.DataFrame:
        """The rows as the chapter shows them (strings with the digits the estimate supports)."""
        import pandas as pd

        d = self.data
        return pd.DataFrame({
            "distribution": d["distribution"], "labels": d["labels"],
            "|grad L|": [f"{x:.3f}" for x in d["grad_norm"]], "se": [f"{x:.3f}" for x in d["se"]],
            "z radial": [f"{x:+.2f}" for x in d["z_radial"]],
            "max |z| scaling": [f"{x:.2f}" for x in d["z_scale"]]})

    def __str__(self) -> str:
        return (f"{self.rows} rows: largest |z| radial {self.largest_radial_z():.2f} "
                f"({', '.join(REAL_DATA)} rows: {self.largest_radial_z(real_data=True):.2f}), "
                f"largest |z| of the rescaling {self.largest_scaling_z:.2f}")


def covariance_checks(v, w, *, distributions: Sequence[str], label_models: Sequence[str], n: int,
                      m: int, noise: float, c: float, samples: int, generator: torch.Generator,
                      bandwidth: float = 0.02, device=None) -> CovarianceChecks:
    r"""Euler's relation and the :math:`1/c` scaling of :math:`\nabla_w L` (eq-sym-euler), by law.

    For every law in ``distributions`` and, inside, every label model in ``label_models``, a
    teacher is drawn from ``generator`` (:func:`make_problem`), then
    :func:`scale_covariance_check` at ``(v, w)`` with factor ``c``: the z-score of the radial
    part :math:`\hat w^\top\nabla_w L` and the largest z-score of
    :math:`c\nabla_w L(cw) - \nabla_w L(w)` from two independent samples of ``samples``.
    Returns a :class:`CovarianceChecks` (its ``str`` is the summary line, ``table()`` the rows).
    """
    import pandas as pd

    v, w, laws, labels, samples = _point_and_grid(v, w, distributions, label_models, n=n, m=m,
                                                  noise=noise, samples=samples)
    check_positive(c, name="c")
    check_positive(bandwidth, name="bandwidth")
    dev = generator.device if device is None else as_device(device)
    rows = []
    for dist in laws:
        for lab in labels:
            problem = make_problem(dist, n=n, m=m, labels=lab, noise=noise, generator=generator)
            chk = scale_covariance_check(v, w, problem, c=c, samples=samples, generator=generator,
                                         bandwidth=bandwidth, device=dev)
            rows.append({"distribution": dist, "labels": lab, "grad_norm": chk["grad_norm"],
                         "se": chk["se"], "z_radial": chk["z_radial"], "z_scale": chk["z_scale"]})
    return CovarianceChecks(pd.DataFrame(rows))


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
