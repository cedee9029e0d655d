r"""Which straight-through estimators are proper? The checks of that chapter, for any registered STE.

An STE keeps the scale symmetry :math:`w \mapsto cw` when :math:`\mu'(cx) = \mu'(x)` for all
:math:`c > 0`, which holds exactly when :math:`\mu'` is constant on each half-line
(prop-proper-test). This module turns that into tables:

* :func:`symmetry_row`: the test three ways for one STE -- on a grid of x and c
  (:math:`\max|\mu'(cx) - \mu'(x)|`), on the half-lines (:math:`\max_{x>0}|\mu'(x) - \mu'(1)|`
  and the same on x < 0), and sample by sample on the coarse gradients of a batch
  (common random numbers); the verdict ``keeps`` comes from the sample-by-sample numbers only;
* :func:`vanishing_row`: the vanishing radius on a minimising ray of the misspecified example
  (:func:`stelib.misspecified.vanishing_radii`) as one row;
* :func:`spurious_radial`: :math:`-M_1^-(|w|)`, the coefficient of the expected coarse gradient
  at Yin et al.'s spurious minima (prop-proper-yin).

Example
-------
>>> import torch
>>> row = symmetry_row("hardtanh", torch.ones(2), torch.tensor([1.0, 0.0]),
...                    torch.randn(64, 2, 2, generator=torch.Generator().manual_seed(0)),
...                    torch.zeros(64), scales=[0.5, 2.0])
>>> row["verdict"]
'breaks'
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from stelib.core._validate import as_tensor, check_positive
from stelib.core.misspecified import radial_coefficient, vanishing_radii
from stelib.core.network import coarse_grads
from stelib.core.quadrature import moments
from stelib.core.ste import check_ste, surrogate_derivative

__all__ = ["radial_curve", "spurious_radial", "symmetry_row", "vanishing_row"]

DTYPE = torch.float64


def symmetry_row(ste: str, v, w, Z, y_star, *, scales: Sequence[float],
                 x=None) -> dict[str, object]:
    """The symmetry test for ``ste``: grid, half-lines and sample by sample.

    ``x`` (default: the 2001 points k/125 of [-8, 8], exact multiples so that x = 0 is one of
    them on every machine, where a ``linspace`` may give 0 or +-1e-16) is the grid of the derivative checks; ``scales`` the
    factors c. Returns ``ste``; ``grid_gap`` max over x, c of |mu'(cx) - mu'(x)|; ``halfline_gap``
    max over x > 0 of |mu'(x) - mu'(1)| and over x < 0 of |mu'(x) - mu'(-1)|; ``sample_gap`` max
    over c, samples and coordinates of |g(v, cw; Z) - g(v, w; Z)|; ``changed`` the number of
    samples whose coarse gradient changed for some c (of ``samples``); ``verdict`` "keeps" if
    ``sample_gap == 0.0`` exactly, else "breaks".
    """
    check_ste(ste)
    x = torch.arange(-1000, 1001, dtype=DTYPE, device="cpu") / 125 if x is None else as_tensor(x, name="x", dtype=DTYPE)
    cs = [check_positive(c, name="scales") for c in scales]
    if not cs:
        raise ValueError("scales=[] is empty; give at least one factor c > 0")
    d = surrogate_derivative(x, ste)
    grid_gap = max(float((surrogate_derivative(c * x, ste) - d).abs().max()) for c in cs)
    pos, neg = x[x > 0], x[x < 0]
    one = torch.tensor([1.0, -1.0], dtype=DTYPE, device=x.device)
    ref = surrogate_derivative(one, ste)
    half = max([float((surrogate_derivative(p, ste) - ref[k]).abs().max())
                for k, p in enumerate((pos, neg)) if len(p)], default=0.0)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    base = coarse_grads(v, w, Z, y_star, (ste,), per_sample=True)[ste]  # (batch, n)
    gap, changed = 0.0, torch.zeros(base.shape[0], dtype=torch.bool, device=base.device)
    for c in cs:
        diff = (coarse_grads(v, c * w, Z, y_star, (ste,), per_sample=True)[ste] - base).abs()
        gap = max(gap, float(diff.max()))
        changed |= (diff > 0).any(dim=1)
    return {"ste": ste, "grid_gap": grid_gap, "halfline_gap": half, "sample_gap": gap,
            "changed": int(changed.sum()), "samples": int(base.shape[0]),
            "verdict": "keeps" if gap == 0.0 else "breaks"}


def vanishing_row(ste: str) -> dict[str, object]:
    """One row of the table of vanishing radii on a minimising ray of the misspecified example.

    ``radius`` (None if none), ``slope`` dR/d|w|, ``tangential`` M_0 there, ``stable``,
    ``zeros`` (the number of sign changes of R in [1e-3, 1e3]), ``everywhere``, and the radial
    function at the ends of the range, ``r_small`` (|w| = 1e-3) and ``r_large`` (|w| = 1e3).
    """
    found = vanishing_radii(ste)
    first = found.radii[0] if found.radii else None
    return {"ste": ste, "zeros": len(found.radii), "everywhere": found.everywhere,
            "radius": None if first is None else first.radius,
            "slope": None if first is None else first.slope,
            "tangential": None if first is None else first.tangential,
            "stable": None if first is None else first.stable,
            "r_small": found.r_small, "r_large": found.r_large}


def spurious_radial(r, ste: str) -> torch.Tensor:
    r""":math:`-M_1^-(r) = -E[x\,\mu'(rx)\,1\{x<0\}] = M_1^+ - N_1` at :math:`|w| = r`.

    At Yin et al.'s spurious minimum :math:`(\tilde v, \theta = \pi)` the expected coarse
    gradient is :math:`-M_1^-(|w|)\,(|\tilde v|^2 + \tilde v^\top v^*)\,\hat w` (prop-proper-yin):
    it vanishes exactly when this coefficient does.
    """
    mo = moments(r, ste)
    return mo.m1p - mo.n1


def radial_curve(ste: str, norms) -> torch.Tensor:
    """The radial function R(|w|) of the misspecified example at the radii ``norms``."""
    norms = as_tensor(norms, name="norms", dtype=DTYPE)
    if not bool((norms > 0).all()):
        raise ValueError(f"norms must be > 0, got {norms}")
    return radial_coefficient(1.0 / norms, ste)
