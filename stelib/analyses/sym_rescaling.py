r"""Problems, and the scale symmetry sample by sample (book: the scale-symmetry chapter).

For the binary network :math:`y = v^\top\sigma(Zw)` and any labels, :math:`\sigma(cx) = \sigma(x)`
(:math:`c > 0`) makes the per-sample loss invariant, :math:`\ell(v, cw; Z) = \ell(v, w; Z)`
(prop-scale-loss), and so are the per-sample coarse gradients of the identity and ReLU STEs,
not the clipped ReLU's (prop-scale-coarse). With common random numbers (the same ``Z`` at
``w`` and ``c w``) an exact invariance shows as exactly 0.0 (section "The symmetry of the loss"):

* :func:`make_problem`: a :class:`~stelib.problems.Problem` with random teacher weights drawn
  from an explicit generator, including the ``"noisy_teacher"`` label model
  (:data:`LABEL_CHOICES`); :func:`random_direction`: a random unit vector;
* :func:`rescaling_gaps`: sample-by-sample differences of the loss and coarse gradients
  between ``w`` and ``c w``;
* :func:`rescaling_table`: those gaps over input laws and label models, as a table.

It also holds the argument checks shared by :mod:`stelib.sym_covariance`, :mod:`stelib.sym_crelu`
and :mod:`stelib.rays`; :mod:`stelib.symmetry` gathers the three modules for the chapter.

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

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

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
from stelib.core.network import coarse_grads, sample_loss
from stelib.core.problems import Problem
from stelib.core.ste import STE_NAMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LABEL_CHOICES", "make_problem", "random_direction", "rescaling_gaps", "rescaling_table"]

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
