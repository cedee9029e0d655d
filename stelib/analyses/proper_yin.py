r"""The coarse gradients of any registered STE at Yin et al.'s minima (chapter *Which
straight-through estimators are proper?*, section "Yin et al.'s setting").

At Yin et al.'s spurious minimum :math:`(\tilde v, \theta = \pi)` the expected coarse gradient
is :math:`-M_1^-(|w|)\,(|\tilde v|^2 + \tilde v^\top v^*)\,\hat w` (prop-proper-yin): it
vanishes exactly when the coefficient :func:`spurious_radial` does.
:func:`yin_minima` compares the closed form at the global and spurious minima with that
coefficient and with Monte Carlo (:func:`stelib.proper_montecarlo.projected_coarse_grad`) for
every STE (prop-proper-yin (a), (b)); a small frozen table that prints as the chapter shows it.

Example
-------
>>> [f"{float(spurious_radial(1.0, s)):+.4f}" for s in ("relu", "identity")]   # phi(0) for the identity
['+0.0000', '+0.3989']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.proper_montecarlo import DTYPE, _stes, projected_coarse_grad
from stelib.core._validate import as_tensor, check_positive_int
from stelib.core.gaussian import YinModel, spurious_minima_exist, spurious_minimizer_v
from stelib.core.quadrature import moments
from stelib.core.rounding import fmt, fmts

__all__ = ["YinMinima", "YinMinimaRow", "spurious_radial", "yin_minima"]


def spurious_radial(r, ste: str) -> torch.Tensor:
    r""":math:`-M_1^-(r) = -E[x\,\mu'(rx)\,1\{x<0\}] = M_1^+ - N_1` at :math:`|w| = r`.

    At Yin et al.'s spurious minimum :math:`(\tilde v, \theta = \pi)` the expected coarse
    gradient is :math:`-M_1^-(|w|)\,(|\tilde v|^2 + \tilde v^\top v^*)\,\hat w` (prop-proper-yin):
    it vanishes exactly when this coefficient does.
    """
    mo = moments(r, ste)
    return mo.m1p - mo.n1


@dataclass(frozen=True)
class YinMinimaRow:
    """One STE at Yin's minima: max |E g| at the global minima (``glob``), |E g| at the
    spurious minima per scale (``spur``), the coefficient -M_1^- per scale (``coef``) and the
    Monte Carlo z of the radial part at the smallest scale (``z``)."""

    glob: float
    spur: torch.Tensor
    coef: torch.Tensor
    z: float

    @property
    def vanishes(self) -> bool:
        """E g at the spurious minima is below 1e-12 at every scale."""
        return bool(self.spur.max() < 1e-12)


@dataclass(frozen=True)
class YinMinima:
    """prop-proper-yin for every STE, by name (``rows``); ``exist``: spurious minima exist."""

    rows: dict[str, YinMinimaRow]
    exist: bool
    w_norms: tuple[float, ...]

    def __str__(self) -> str:
        lines = [f"spurious minima exist: {self.exist}"]
        for s, r in self.rows.items():  # three lines per STE, continued under the first
            lines += [f"{s:>10}: global max|E g| = {fmt(r.glob, '.1e')} | spurious |E g| = "
                      f"{fmts(r.spur, '.2e')}",
                      f"{'':10}  -M1^- = {fmts(r.coef, '.2e')} | MC z at |w| = "
                      f"{self.w_norms[0]}: {r.z:+6.1f}",
                      f"{'':10}  spurious: {'vanishes' if r.vanishes else 'does not vanish'}"]
        return "\n".join(lines)


def yin_minima(model: YinModel, stes: Sequence[str], w_norms: Sequence[float], *, samples: int,
               generator: torch.Generator, device=None) -> YinMinima:
    r"""The expected coarse gradient at Yin et al.'s global minima :math:`(v^*, |w|\hat w^*)` and
    spurious minima :math:`(\tilde v, -|w|\hat w^*)` for each :math:`|w|` in ``w_norms`` and
    every STE (chapter proper, prop-proper-yin (a), (b)), next to :math:`-M_1^-(|w|)`, and the
    Monte Carlo z of :math:`-\hat w^{*\top}\bar g` (over its own standard error,
    :func:`projected_coarse_grad`) at the spurious minimum with the first :math:`|w|`, from
    ``samples`` draws per STE."""
    stes = _stes(stes)
    rn = as_tensor(w_norms, name="w_norms", ndim=1, dtype=DTYPE)
    if not len(rn) or not bool((rn > 0).all()):
        raise ValueError(f"w_norms={list(w_norms)!r} must be a non-empty list of numbers > 0")
    samples = check_positive_int(samples, name="samples", minimum=2)
    v_star, w_star = model.v_star, model.w_star
    v_sp = spurious_minimizer_v(v_star)
    w_hat = w_star / w_star.norm()
    rows = {}
    for s in stes:
        glob = model.expected_coarse_grad(v_star, rn[:, None] * w_hat, s).norm(dim=-1)
        spur = model.expected_coarse_grad(v_sp, -rn[:, None] * w_hat, s).norm(dim=-1)
        mc = projected_coarse_grad(v_sp, -rn[0] * w_hat, model, s, -w_hat, samples=samples,
                                   generator=generator, device=device)
        z = (mc.mean / mc.se).item()  # along w / |w| = -w_hat
        rows[s] = YinMinimaRow(float(glob.max()), spur, spurious_radial(rn, s), z)
    return YinMinima(rows, bool(spurious_minima_exist(v_star)), tuple(float(x) for x in w_norms))
