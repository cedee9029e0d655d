r"""Expected coarse gradients of any registered STE against Monte Carlo (chapter *Which
straight-through estimators are proper?*).

The chapter checks its formulas by Monte Carlo, for any STE of the registry:

* :func:`projected_coarse_grad`: the Monte Carlo mean of a projection :math:`d^\top g_\mu` with
  its own standard error (not the bound :math:`\mathrm{se}^\top|d|` of the coordinate errors),
  used by :func:`stelib.proper_radii.radius_check` and :func:`stelib.proper_yin.yin_minima`;
* :func:`formula_vs_monte_carlo`: the closed-form expected coarse gradient of a model
  (prop-proper-ms-coarse in the misspecified example, prop-proper-yin in Yin et al.'s model)
  against Monte Carlo, a small frozen table that prints as the chapter shows it.

It also holds the check of a list of STE names that the modules of :mod:`stelib.proper` share.

Example
-------
>>> import torch
>>> from stelib.core.misspecified import LinearTeacherModel
>>> model = LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=torch.float64))
>>> est = projected_coarse_grad(torch.ones(1), torch.tensor([1.0, 0.0]), model, "relu",
...                             torch.tensor([0.0, 1.0]), samples=1000,
...                             generator=torch.Generator().manual_seed(0))
>>> tuple(est.mean.shape), bool(est.se > 0)
((), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.core._validate import as_device, as_tensor, check_positive_int
from stelib.core.montecarlo import Estimate, estimate
from stelib.core.network import coarse_grads
from stelib.core.ste import check_ste

__all__ = ["FormulaCheck", "formula_vs_monte_carlo", "projected_coarse_grad"]

DTYPE = torch.float64


def _stes(stes) -> tuple[str, ...]:
    stes = (stes,) if isinstance(stes, str) else tuple(stes)
    if not stes:
        raise ValueError("stes=() is empty; give at least one registered STE name")
    for s in stes:
        check_ste(s)
    return stes


def projected_coarse_grad(v, w, sampler, ste: str, direction, *, samples: int,
                          generator: torch.Generator, chunk: int = 20_000, device=None) -> Estimate:
    r"""Monte Carlo estimate of :math:`d^\top E\,g_\mu` with the standard error of the projection.

    :func:`stelib.montecarlo.estimate` gives a standard error per coordinate;
    :math:`\mathrm{se}^\top|d|` only bounds the one of :math:`d^\top\bar g` from above (the
    standard deviation of a sum is at most the sum of the standard deviations), often by a large
    factor. Here the per-sample values :math:`d^\top g_\mu(v, w; Z)` are averaged and their
    sample standard deviation / sqrt(``samples``) is the standard error. The draws are those of
    ``estimate`` with the same ``samples``, ``chunk`` and generator (``sampler.sample`` in
    chunks), so the mean is ``direction @ estimate(...).coarse[ste].mean`` up to rounding.
    Returns an :class:`~stelib.montecarlo.Estimate` of 0-dimensional tensors on ``device``
    (default: the generator's).
    """
    check_ste(ste)
    samples = check_positive_int(samples, name="samples", minimum=2)
    chunk = check_positive_int(chunk, name="chunk")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    dev = generator.device if device is None else as_device(device)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE).to(dev)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE).to(dev)
    d = as_tensor(direction, name="direction", ndim=1, dtype=DTYPE).to(dev)
    if d.shape != w.shape:
        raise ValueError(f"direction has shape {tuple(d.shape)} and w {tuple(w.shape)}; need the same")
    proj, done = [], 0  # the projections only (8 bytes a sample), drawn in estimate's chunks
    while done < samples:
        b = min(chunk, samples - done)
        Z, y = sampler.sample(b, generator)
        proj.append(coarse_grads(v, w, Z.to(dev), y.to(dev), (ste,), per_sample=True)[ste] @ d)
        done += b
    p = torch.cat(proj)
    return Estimate(p.mean(), p.std() / math.sqrt(samples))


@dataclass(frozen=True)
class FormulaCheck:
    """Largest |z| of formula against Monte Carlo per STE (``max_z``) over ``points`` points of
    ``coordinates`` coordinates each."""

    max_z: dict[str, float]
    points: int
    coordinates: int

    def __str__(self) -> str:
        return "\n".join(f"{s:>10}: formula vs Monte Carlo, max |z| over {self.points} points x "
                         f"{self.coordinates} coordinates = {z:.2f}" for s, z in self.max_z.items())


def formula_vs_monte_carlo(model, V, W, stes: Sequence[str], *, samples: int,
                           generator: torch.Generator, device=None) -> FormulaCheck:
    r"""The closed-form expected coarse gradient of ``model`` (``model.expected_coarse_grad``,
    prop-proper-ms-coarse or prop-proper-yin) against Monte Carlo means of :math:`g_\mu` from
    ``samples`` draws at each point (``V[k]``, ``W[k]``), for every STE: the largest
    :math:`|z| = |\bar g - E g| / \mathrm{se}` over points and coordinates (chapter proper).
    STE after STE, point after point, the draws come from ``generator``."""
    stes = _stes(stes)
    V = as_tensor(V, name="V", ndim=2, dtype=DTYPE)
    W = as_tensor(W, name="W", ndim=2, dtype=DTYPE)
    if V.shape[0] != W.shape[0] or V.shape[0] == 0:
        raise ValueError(f"V has {V.shape[0]} points and W {W.shape[0]}; need the same number >= 1")
    samples = check_positive_int(samples, name="samples", minimum=2)
    out = {}
    for s in stes:
        z = 0.0
        for v_i, w_i in zip(V, W, strict=True):
            est = estimate(v_i, w_i, model, samples=samples, generator=generator, stes=(s,),
                           device=device)
            exact = model.expected_coarse_grad(v_i, w_i, s)
            z = max(z, est.coarse[s].z_score(exact).abs().max().item())
        out[s] = z
    return FormulaCheck(out, V.shape[0], W.shape[1])
