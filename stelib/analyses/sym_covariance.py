r"""The true gradient under the scale symmetry, estimated (book: the scale-symmetry chapter).

The invariance of the loss under :math:`w \mapsto c\,w` (:math:`c > 0`) gives Euler's relation
and the scaling of the gradient (eq-sym-euler),

.. math::

    w^\top \nabla_w L = 0,\qquad \nabla_w L(v, cw) = \nabla_w L(v, w) / c,

which hold for any input law with a density. The loss is piecewise constant in :math:`w` on a
sample, so the chapter checks them on a smoothed Monte Carlo estimate of :math:`\nabla_w L`
with standard errors (section "The symmetry of the loss"):

* :func:`smoothed_true_grad`: per-sample smoothed-step estimate of :math:`\nabla_w L` (the
  estimator of :mod:`stelib.montecarlo`, per sample, so any linear functional gets a standard
  error), with :func:`mean_se`, :func:`radial_part` and :func:`least_squares_v` (the second
  layer fitted on a sample), also used by :mod:`stelib.rays`;
* :func:`scale_covariance_check`: z-scores of both relations at one point;
* :func:`covariance_checks`: those z-scores over input laws and label models
  (:class:`CovarianceChecks`, its ``str`` the chapter's summary, with the number of rows whose
  gradient is not resolved, :meth:`CovarianceChecks.unresolved`).

Example
-------
>>> import torch
>>> float(radial_part(torch.tensor([3.0, 4.0]), torch.tensor([0.0, 2.0])))   # w_hat^T g
4.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from stelib.analyses.gi_samples import optimal_v_on
from stelib.analyses.sym_rescaling import _point_and_grid, make_problem
from stelib.core._validate import as_device, as_tensor, check_positive, check_positive_int
from stelib.core.distributions import DTYPE
from stelib.core.montecarlo import true_grad_per_sample

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REAL_DATA", "CovarianceChecks", "covariance_checks", "least_squares_v", "mean_se", "radial_part",
    "scale_covariance_check", "smoothed_true_grad",
]

REAL_DATA: tuple[str, ...] = ("digits",)  #: laws that are a finite set of points (no density)


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

    def unresolved(self, factor: float = 3.0, *, real_data: bool = False) -> tuple[int, int]:
        """(rows whose ``|grad L|`` is below ``factor`` times their ``se``, rows considered), both
        as shown (three decimals), over the rows whose law is in :data:`REAL_DATA`
        (``real_data=True``) or not. Where the gradient is not resolved, its radial z-score
        cannot tell an orthogonal gradient from any other (section "The symmetry of the loss")."""
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise ValueError(f"factor={factor!r} must be a number > 0")
        d = self.data[self.data["distribution"].isin(REAL_DATA) == real_data]
        def shown(x: float) -> int:  # in units of the last digit shown: ties compare exactly
            return round(_shown(x, ".3f") * 1000)

        low = sum(shown(g) < factor * shown(s) for g, s in zip(d["grad_norm"], d["se"], strict=True))
        return int(low), len(d)

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
        low, rows = self.unresolved()
        return (f"{self.rows} rows: largest |z| radial {self.largest_radial_z():.2f} "
                f"({', '.join(REAL_DATA)} rows: {self.largest_radial_z(real_data=True):.2f}), "
                f"largest |z| of the rescaling {self.largest_scaling_z:.2f}\n"
                f"|grad L| < 3 se (the radial test has little power) in {low} of the {rows} rows "
                "with a density")


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
