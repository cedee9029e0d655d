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
* :func:`radial_part`, :func:`least_squares_v`, :func:`loglog_slope`: small helpers;
* the chapter's checks, each returning a small result that prints itself:
  :func:`rescaling_table` and :func:`covariance_checks` (the tables over laws and labels),
  :func:`crelu_limits` (the clipped ReLU at small and large ``|w|``), :func:`yin_radial_parts`,
  :func:`linear_teacher_ray` and :func:`ray_montecarlo` (radial parts on stationary rays),
  :func:`linear_ray_descent` and :func:`spurious_ray_descent` (coarse gradient descent along a
  ray) and :func:`large_scale_fit` (the clipped ReLU against the true gradient at large ``|w|``).

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

from stelib.analyses.general_inputs import optimal_v_on
from stelib.core import gaussian, misspecified
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
from stelib.core.rounding import fmt
from stelib.core.ste import STE_NAMES
from stelib.core.train import History, population_cgd

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LABEL_CHOICES", "REAL_DATA", "CovarianceChecks", "CreluLimits", "LargeScaleFit",
    "LinearTeacherRay", "RayDescent", "RayMonteCarlo", "RayRadialParts", "SpuriousRayDescent",
    "covariance_checks", "crelu_limits", "large_scale_fit", "least_squares_v",
    "linear_ray_descent", "linear_teacher_ray", "loglog_slope", "make_problem", "mean_se",
    "radial_part", "random_direction", "ray_montecarlo", "rescaling_gaps", "rescaling_table",
    "scale_covariance_check", "smoothed_true_grad", "spurious_ray_descent", "yin_radial_parts",
    "yin_teacher",
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

    def __str__(self) -> str:
        k = len(self.norms)
        return "\n".join(
            f"|w| = {self.norms[i]:8.3f}: |g_crelu - g_relu|/|g_relu| = {self.to_relu[i]:.4f}, "
            f"|g_crelu|/|g_relu| = {self.size[i]:.4f}, samples with g_crelu = g_relu: "
            f"{self.same[i]:.1%}" for i in sorted({0, k // 2, k - 1}))


def crelu_limits(v, w, Z, y_star, *, norms: Sequence[float]) -> CreluLimits:
    r"""The limits of Proposition prop-scale-coarse on one sample, along the ray of ``w``.

    With :math:`\hat w = w/|w|`: for every r in ``norms``, the sample mean of
    :math:`g_{\rm crelu}(v, r\hat w; Z)` compared with that of :math:`g_{\rm relu}(v, \hat w; Z)`
    (which does not depend on r), and the fraction of samples on which the two per-sample coarse
    gradients are equal. Expected: equal for small r (every sample), the clipped ReLU tending
    to 0 for large r. Returns a :class:`CreluLimits`.
    """
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    check_nonzero_rows(w)
    norms = _positive_values(norms, name="norms")
    w_hat = w / w.norm()
    g_relu = coarse_grads(v, w_hat, Z, y_star, "relu")["relu"]
    per_relu = coarse_grads(v, w_hat, Z, y_star, "relu", per_sample=True)["relu"]
    if not bool((g_relu != 0).any()):
        raise ValueError("the mean ReLU coarse gradient is 0 on this sample: nothing to compare with")
    to_relu, size, same = [], [], []
    for r in torch.tensor(norms, dtype=DTYPE, device="cpu"):
        g_c = coarse_grads(v, r * w_hat, Z, y_star, "crelu")["crelu"]
        to_relu.append(((g_c - g_relu).norm() / g_relu.norm()).item())
        size.append((g_c.norm() / g_relu.norm()).item())
        per_c = coarse_grads(v, r * w_hat, Z, y_star, "crelu", per_sample=True)["crelu"]
        same.append((per_c == per_relu).all(dim=1).double().mean().item())
    return CreluLimits(norms, tuple(to_relu), tuple(size), tuple(same))


def yin_teacher(*, m: int, n: int, generator: torch.Generator,
                max_draws: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Teacher weights :math:`v^*` (m,), :math:`w^*` (n,) of Yin's model, drawn N(0, I).

    For m > 1, :math:`v^*` is redrawn until the ray :math:`\theta = \pi` holds spurious minima
    (:func:`stelib.gaussian.spurious_minima_exist`); then :math:`w^*` is drawn. ``ValueError``
    after ``max_draws`` draws of :math:`v^*` without one.
    """
    m = check_positive_int(m, name="m", maximum=4096)
    n = check_positive_int(n, name="n", maximum=4096)
    max_draws = check_positive_int(max_draws, name="max_draws")
    def draw(k: int) -> torch.Tensor:
        return torch.randn(k, generator=generator, dtype=DTYPE, device=generator.device)

    v_star = draw(m)
    for _ in range(max_draws):
        if m == 1 or gaussian.spurious_minima_exist(v_star):
            return v_star, draw(n)
        v_star = draw(m)
    raise ValueError(f"no v* with spurious minima in max_draws={max_draws} draws")


@dataclass(frozen=True)
class RayRadialParts:
    """Radial parts ``rho[ste]`` at points ``|w| = r`` of named rays: rows (ray, kind, r, rho)."""

    rows: tuple[tuple[str, str, float, dict[str, float]], ...]

    def __str__(self) -> str:
        return "\n".join(
            f"{name:24s} [{kind}] |w| = {r}: rho = "
            + ", ".join(f"{s} {fmt(x, '+.4f')}" for s, x in rho.items())
            for name, kind, r, rho in self.rows)


def yin_radial_parts(v_star, w_star, *, norms: Sequence[float] = (0.5, 2.0)) -> RayRadialParts:
    r"""Radial parts :math:`\rho_\mu = \hat w^\top\mathbb{E}\,g_\mu` on Yin's two minimising rays.

    The rays are :math:`v = v^*, \theta = 0` (global minimum) and :math:`v = \tilde v,
    \theta = \pi` (:func:`stelib.gaussian.spurious_minimizer_v`), each classified by
    :func:`stelib.gaussian.classify_critical_point`; closed forms of Yin's Gaussian model at
    every r in ``norms``, for every STE (Proposition prop-scale-radial). Returns a
    :class:`RayRadialParts`.
    """
    norms = _positive_values(norms, name="norms")
    ws_hat = w_star / w_star.norm()
    rays = {"Yin, v = v*, theta = 0": (v_star, ws_hat),
            "Yin, v = v~, theta = pi": (gaussian.spurious_minimizer_v(v_star), -ws_hat)}
    rows = []
    for name, (v, d) in rays.items():
        kind = gaussian.classify_critical_point(v, d, v_star, w_star)
        for r in norms:
            rho = {s: radial_part(gaussian.expected_coarse_grad(v, r * d, v_star, w_star, s), d).item()
                   for s in STE_NAMES}
            rows.append((name, kind, r, rho))
    return RayRadialParts(tuple(rows))


@dataclass(frozen=True, eq=False)
class LinearTeacherRay:
    r"""The minimising ray :math:`\hat w = \hat a` of the linear teacher under Gaussian inputs."""

    a: torch.Tensor  #: the teacher (n,)
    v: torch.Tensor  #: the optimal second layer (1,), 2 phi(0) |a|
    rho: dict[str, float]  #: radial part of each STE at |w| = 1
    r_star: float  #: |w| where the clipped-ReLU expected coarse gradient vanishes
    norms: tuple[float, ...]
    rho_curve: dict[str, tuple[float, ...]]  #: radial part of each STE at every |w| in norms

    def __str__(self) -> str:
        return ("linear teacher, |w| = 1: rho = " + ", ".join(f"{s} {x:+.4f}" for s, x in self.rho.items())
                + f"; clipped ReLU vanishes at |w| = {self.r_star:.6f}")


def linear_teacher_ray(a, *, norms: Sequence[float]) -> LinearTeacherRay:
    r"""Radial parts on the linear teacher's minimising ray (Proposition prop-scale-radial).

    For :math:`y^* = a^\top z` (m = 1) and Gaussian inputs, the closed forms of
    :mod:`stelib.misspecified` at :math:`v = 2\varphi(0)|a|`, :math:`w = r\hat a`:
    :math:`\rho_\mu(r) = \hat a^\top\mathbb{E}\,g_\mu`, at r = 1 (identity
    :math:`2\varphi(0)|a|^2(1/\pi - 1)`, ReLU :math:`2\varphi(0)|a|^2(1/\pi - 1/2)`) and at every
    r in ``norms``, and the root :math:`1/\kappa^*` of the clipped-ReLU one. ``a`` must be a unit
    vector (the ray's direction). Returns a :class:`LinearTeacherRay`.
    """
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    if abs(float(a.norm()) - 1.0) > 1e-12:
        raise ValueError(f"a must be a unit vector, got |a| = {float(a.norm())!r}")
    norms = _positive_values(norms, name="norms")
    lin = misspecified.LinearTeacherModel(a)
    v = misspecified.stationary_points(a).min_v[0]
    rho = {s: radial_part(lin.expected_coarse_grad(v, a, s), a).item() for s in STE_NAMES}
    R = torch.tensor(norms, dtype=DTYPE, device="cpu")
    curve = {s: tuple(radial_part(lin.expected_coarse_grad(v, r * a, s), a).item() for r in R)
             for s in STE_NAMES}
    return LinearTeacherRay(a, v, rho, misspecified.vanishing_norm("crelu"), norms, curve)


@dataclass(frozen=True, eq=False)
class RayMonteCarlo:
    r"""Sample radial parts on the ray :math:`\hat w = \hat a` of a linear teacher (any law)."""

    distribution: str
    v: float  #: least-squares second layer on the sample
    v_gaussian: float  #: the optimal v under Gaussian inputs, 2 phi(0) |a|
    grad_norm: float  #: |w| |grad_w L| at |w| = 1, smoothed Monte Carlo estimate
    grad_z: float  #: largest |z| over its coordinates
    norms: tuple[float, ...]
    rho: dict[str, tuple[float, ...]]  #: sample radial part of each STE at every |w| in norms
    sign_changes: tuple[tuple[float, float], ...]  #: consecutive norms where rho_crelu goes - to +

    def __str__(self) -> str:
        changes = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in self.sign_changes) or "none"
        return (f"{self.distribution}: v = {self.v:.4f} (Gaussian: {self.v_gaussian:.4f}); on the "
                f"ray |w| |grad_w L| = {self.grad_norm:.4f}, largest |z| of its coordinates "
                f"{self.grad_z:.2f}\n{self.distribution}: the clipped-ReLU radial part changes "
                f"sign between |w| = {changes}")


def ray_montecarlo(problem: Problem, *, samples: int, norms: Sequence[float], bandwidth: float,
                   generator: torch.Generator) -> RayMonteCarlo:
    r"""Radial parts of the sample coarse gradients on a linear teacher's ray, for any law.

    ``problem`` has ``labels="linear"`` and m = 1, teacher ``a`` (unit); ``samples`` draws from
    ``generator``, used at every point. :math:`v` is fitted by least squares
    (:func:`least_squares_v`); the smoothed estimate of :math:`|w|\nabla_w L` at :math:`w = a`
    (:func:`smoothed_true_grad`) says whether the ray is stationary for this law; then
    :math:`\hat a^\top\bar g_\mu(v, r\hat a)` for every r in ``norms`` and STE, and the
    intervals of ``norms`` where the clipped-ReLU one changes sign from - to +.
    Returns a :class:`RayMonteCarlo`.
    """
    if not isinstance(problem, Problem) or problem.labels != "linear" or problem.m != 1:
        raise ValueError(f"problem={problem!r} must be a stelib Problem with labels='linear' and m=1")
    samples = check_positive_int(samples, name="samples", minimum=2)
    norms = _positive_values(norms, name="norms")
    check_positive(bandwidth, name="bandwidth")
    a = problem.a
    Z, y = problem.sample(samples, generator)
    v = least_squares_v(a, Z, y)  # (1,)
    G_mean, G_se = mean_se(smoothed_true_grad(v, a, Z, y, bandwidth=bandwidth))
    rho = {s: [] for s in STE_NAMES}
    for r in torch.tensor(norms, dtype=DTYPE, device="cpu"):
        for s, g in coarse_grads(v, r * a, Z, y).items():
            rho[s].append(radial_part(g, a).item())
    crelu = rho["crelu"]
    changes = tuple((norms[i], norms[i + 1]) for i in range(len(norms) - 1)
                    if crelu[i] < 0 <= crelu[i + 1])
    return RayMonteCarlo(problem.distribution.name, v.item(),
                         misspecified.stationary_points(a).min_v[0].item(),
                         G_mean.norm().item(), (G_mean / G_se).abs().max().item(), norms,
                         {s: tuple(x) for s, x in rho.items()}, changes)


@dataclass(frozen=True, eq=False)
class RayDescent:
    """Population coarse gradient descent runs started on one ray, one run per start."""

    label: str
    stes: tuple[str, ...]
    starts: tuple[float, ...]  #: |w| at step 0 of each run
    history: History  #: on the CPU

    @property
    def final_norms(self) -> tuple[float, ...]:
        return tuple(self.history.w_norm[-1].tolist())

    @property
    def signed_norm(self) -> torch.Tensor:
        r""":math:`|w|\cos\theta = w^\top\hat w_{\rm ref}` (records, runs): a sign change is a
        passage through the origin along the reference direction."""
        return self.history.w_norm * torch.cos(self.history.theta)

    @property
    def crossings(self) -> tuple[int, ...]:
        """Sign changes of :attr:`signed_norm` in each run (passages through the origin)."""
        return tuple(int(x) for x in (torch.diff(torch.sign(self.signed_norm), dim=0) != 0).sum(0))

    def __str__(self) -> str:
        return "\n".join(f"{self.label}, {s:>8} from |w| = {r:.1f}: final |w| = {f:.4f}"
                         for s, r, f in zip(self.stes, self.starts, self.final_norms, strict=True))


def _descend(model, v, direction, starts, *, stes, lr, steps, device) -> History:
    """CGD runs of ``model`` (on ``device``) from (v, r direction), r in ``starts``, every step
    recorded, divergence marked; the history comes back on the CPU."""
    w0 = torch.tensor(starts, dtype=DTYPE, device="cpu")[:, None] * direction
    return population_cgd(model, v.expand(len(starts), model.m).to(device), w0.to(device),
                          ste=stes, lr=lr, steps=steps, on_divergence="mark").cpu()


def linear_ray_descent(a, v, *, starts: Sequence[float], stes: Sequence[str], lr: float,
                       steps: int, device=None) -> RayDescent:
    r"""Coarse gradient descent on the linear teacher's population model (Gaussian inputs),
    started on the ray :math:`\hat w = \hat a` at :math:`|w| = r` (one run per ``starts`` entry,
    with STE ``stes[i]``) and second layer ``v`` (1,), ``lr`` and ``steps`` as in
    :func:`stelib.train.population_cgd`, run on ``device`` (default: the CPU). Proposition
    prop-scale-radial: :math:`|w_t| = |w_0| - \eta\rho t` for identity and ReLU.
    """
    starts = _positive_values(starts, name="starts")
    stes = check_choices(stes, STE_NAMES, name="stes")
    if len(stes) != len(starts):
        raise ValueError(f"stes has {len(stes)} entries and starts {len(starts)}: give one STE per start")
    dev = torch.device("cpu") if device is None else as_device(device)
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    hist = _descend(misspecified.LinearTeacherModel(a.to(dev)), v, a, starts, stes=stes, lr=lr,
                    steps=steps, device=dev)
    return RayDescent("linear teacher", stes, starts, hist)


@dataclass(frozen=True, eq=False)
class SpuriousRayDescent(RayDescent):
    """:class:`RayDescent` on Yin's spurious ray; ``rho`` the identity STE's radial part there."""

    rho: float = math.nan

    def __str__(self) -> str:
        h = self.history
        lines = [f"Yin, theta = pi, {s:>8}: passes through the origin {k} times; final |w| "
                 f"{h.w_norm[-1, i].item():.4f}, theta {fmt(h.theta[-1, i], '.4f')}, loss "
                 f"{fmt(h.loss[-1, i], '.4f')}" for i, (s, k) in enumerate(zip(self.stes, self.crossings, strict=True))]
        return "\n".join(lines + [f"(started at |w| = {self.starts[0]:.4f} with loss "
                                  f"{h.loss[0, 0].item():.4f}; the global minimum has loss 0)"])


def spurious_ray_descent(v_star, w_star, *, lr: float, steps: int, device=None) -> SpuriousRayDescent:
    r"""Coarse gradient descent of every STE in Yin's model from the spurious ray.

    Start: :math:`\theta = \pi`, :math:`v = \tilde v`, :math:`|w| = \eta (T + 1)\rho_{\rm id}/2`
    (T = ``steps``, :math:`\rho_{\rm id}` the identity STE's radial part there, |w| = 1 if it is
    not positive), so that by Proposition prop-scale-radial the identity run is half a step short
    of the origin at step T/2 and passes it in the next step: never within rounding of 0, where
    the direction it leaves in would be decided by rounding. Every step recorded, run on
    ``device`` (default: the CPU).
    """
    check_positive(lr, name="lr")
    steps = check_positive_int(steps, name="steps", maximum=10**7)
    dev = torch.device("cpu") if device is None else as_device(device)
    ws_hat, v_tilde = w_star / w_star.norm(), gaussian.spurious_minimizer_v(v_star)
    rho = radial_part(gaussian.expected_coarse_grad(v_tilde, -ws_hat, v_star, w_star, "identity"),
                      -ws_hat).item()
    r0 = lr * rho * (steps + 1) / 2 if rho > 0 else 1.0  # half a step short of 0 at T/2
    model = gaussian.YinModel(v_star.to(dev), w_star.to(dev))
    starts = (r0,) * len(STE_NAMES)
    hist = _descend(model, v_tilde, -ws_hat, starts, stes=STE_NAMES, lr=lr, steps=steps, device=dev)
    return SpuriousRayDescent("Yin, theta = pi", STE_NAMES, starts, hist, rho)


@dataclass(frozen=True, eq=False)
class LargeScaleFit:
    r"""Closed forms of Yin's model along a ray at large |w| and their log-log slopes."""

    theta: float  #: angle between the ray and w*
    norms: torch.Tensor  #: the |w| grid (points,)
    grad_norm: torch.Tensor  #: |grad_w f| on the grid
    errors: dict[str, torch.Tensor]  #: |E g_ste - grad_w f| on the grid, per STE
    slopes: dict[str, float]  #: "true" (of grad_norm) and one per STE (of its error)

    def __str__(self) -> str:
        rel = (self.errors["crelu"][-1] / self.grad_norm[-1]).item()
        return (f"theta = {self.theta:.4f}; fitted slopes: |grad f| {self.slopes['true']:.3f}, "
                + ", ".join(f"|E g_{s} - grad f| {self.slopes[s]:.3f}" for s in STE_NAMES)
                + f"\nrelative error of the clipped ReLU at |w| = {self.norms[-1].item():g}: {rel:.2e}")


def large_scale_fit(v, direction, v_star, w_star, *, fit_norms: Sequence[float],
                    points: int = 25) -> LargeScaleFit:
    r"""Proposition prop-scale-large: :math:`\mathbb{E}\,g_\mu - \nabla_w f` at large |w|.

    Along :math:`w = r\hat d` (``direction`` a unit vector), r log-spaced over ``points`` values
    in ``fit_norms`` = [low, high], Yin's closed forms give :math:`|\nabla_w f|` (expected slope
    -1) and :math:`|\mathbb{E}\,g_\mu - \nabla_w f|` per STE (-2 for the clipped ReLU, 0 for the
    identity and ReLU); slopes by :func:`loglog_slope`. Returns a :class:`LargeScaleFit`.
    """
    d = as_tensor(direction, name="direction", ndim=1, dtype=DTYPE)
    if abs(float(d.norm()) - 1.0) > 1e-12:
        raise ValueError(f"direction must be a unit vector, got |direction| = {float(d.norm())!r}")
    bounds = _positive_values(fit_norms, name="fit_norms")
    if len(bounds) != 2 or not bounds[0] < bounds[1]:
        raise ValueError(f"fit_norms={list(bounds)!r} must be two numbers 0 < low < high")
    lo, hi = bounds
    points = check_positive_int(points, name="points", minimum=2)
    R = torch.logspace(math.log10(lo), math.log10(hi), points, dtype=DTYPE, device="cpu")
    W = R[:, None] * d  # (points, n)
    grad_f = gaussian.population_grad(v, W, v_star, w_star)[1]
    err = {s: (gaussian.expected_coarse_grad(v, W, v_star, w_star, s) - grad_f).norm(dim=-1)
           for s in STE_NAMES}
    slopes = {"true": loglog_slope(R, grad_f.norm(dim=-1)),
              **{s: loglog_slope(R, e) for s, e in err.items()}}
    return LargeScaleFit(gaussian.angle(d, w_star).item(), R, grad_f.norm(dim=-1), err, slopes)
