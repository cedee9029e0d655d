r"""Expected coarse gradients in Yin et al.'s Gaussian model (chapter *Yin et al.'s setting, reproduced*).

Checks of the chapter against the closed forms of :mod:`stelib.gaussian`, each returning a
small frozen result whose ``str`` is the printed report:

- :func:`plane_basis`, :func:`coarse_components_check`: expected coarse gradients against Monte
  Carlo, in the plane of :math:`w, w^*` (prop-yin-coarse, Y3);
- :func:`inner_product_check`, :func:`descent_ratio_path`: correlation with the true gradient and
  the descent ratio (prop-yin-corr, prop-yin-descent, Y4);
- :func:`coarse_grad_norms`, :func:`identity_norm_at_spurious`: where the coarse gradients
  vanish (prop-yin-vanish, Y5), at the critical points of :mod:`stelib.yin_landscape`.

Example
-------
>>> import torch
>>> from stelib.core.gaussian import YinModel
>>> model = YinModel(torch.tensor([1.0, -0.5, 0.7]), torch.tensor([1.0, 0.0, 0.5]))
>>> w_hat, u = plane_basis(torch.tensor([0.0, 1.0, 0.0]), model.w_star)
>>> [round(x, 4) + 0.0 for x in u.tolist()]   # towards w* and orthogonal to w
[0.8944, 0.0, 0.4472]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.outcomes import at_angle
from stelib.analyses.yin_landscape import DTYPE, _model, _stes
from stelib.core import gaussian
from stelib.core._validate import as_tensor, check_positive
from stelib.core.montecarlo import estimate_on
from stelib.core.network import coarse_grads
from stelib.core.rounding import fmt

__all__ = [
    "ComponentCheck", "DescentRatioPath", "IdentityNorm", "InnerProductCheck", "NormTable",
    "coarse_components_check", "coarse_grad_norms", "descent_ratio_path", "identity_norm_at_spurious",
    "inner_product_check", "plane_basis",
]


# --- Y3: expected coarse gradients -------------------------------------------------------------

def plane_basis(w, w_star) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The orthonormal pair :math:`(\hat w, u)` of the plane of :math:`w` and :math:`w^*`, with
    :math:`u \perp w` pointing towards :math:`w^*` (prop-yin-loss). ``w``, ``w_star`` of shape
    (n,), not parallel."""
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    w_star = as_tensor(w_star, name="w_star", ndim=1, dtype=DTYPE)
    wh, ws = w / w.norm(), w_star / w_star.norm()
    u = ws - (ws @ wh) * wh
    if not float(u.norm()) > 1e-12:
        raise ValueError("w is parallel to w_star (theta = 0 or pi): the direction u is undefined")
    return wh, u / u.norm()


@dataclass(frozen=True)
class ComponentCheck:
    r"""Monte Carlo mean and standard error of :math:`(\hat w^\top g, u^\top g)` per
    ``(|w|, theta, ste)`` (``mc``), and per STE the largest |z| against the closed form."""

    thetas: tuple[float, ...]
    w_norms: tuple[float, ...]
    mc: dict[tuple[float, float, str], tuple[torch.Tensor, torch.Tensor]]
    max_z: dict[str, float]

    def __str__(self) -> str:
        k, r = len(self.thetas), len(self.w_norms)
        return "\n".join(f"{s:>8}: max |z| over {k} angles x {r} norms x 2 components = {z:.2f}"
                         for s, z in self.max_z.items())


def coarse_components_check(model, v, Z, y_star, *, thetas, w_norms: Sequence[float],
                            stes) -> ComponentCheck:
    r"""Radial and angular parts :math:`(\hat w^\top \mathbb{E}g_\mu, u^\top \mathbb{E}g_\mu)` of
    prop-yin-coarse against Monte Carlo on the sample ``(Z, y_star)`` (the same at every point),
    at ``v`` and :math:`w` at every angle in ``thetas`` and norm in ``w_norms``.
    """
    model, stes = _model(model), _stes(stes)
    thetas = as_tensor(thetas, name="thetas", ndim=1, dtype=DTYPE)
    norms = [check_positive(r, name="w_norms") for r in w_norms]
    if not norms or not thetas.numel():
        raise ValueError(f"thetas ({thetas.numel()}) and w_norms ({len(norms)}) must not be empty")
    max_z, mc = dict.fromkeys(stes, 0.0), {}
    for r in norms:
        for th in thetas:
            w = at_angle(model.w_star, th, r)
            P = torch.stack(plane_basis(w, model.w_star), dim=1).to(Z.device)  # (n, 2)
            per = coarse_grads(v, w, Z, y_star, stes, per_sample=True)  # {ste: (N, n)}
            for s, g in per.items():
                mean, se = (g @ P).mean(0).cpu(), ((g @ P).std(0) / math.sqrt(len(g))).cpu()
                mc[(r, th.item(), s)] = (mean, se)
                exact = torch.stack(plane_basis(w, model.w_star)) @ model.expected_coarse_grad(v, w, s)
                max_z[s] = max(max_z[s], ((mean - exact) / se).abs().max().item())
    return ComponentCheck(tuple(thetas.tolist()), tuple(norms), mc, max_z)


# --- Y4: correlation and descent ratio ----------------------------------------------------------

@dataclass(frozen=True)
class InnerProductCheck:
    r"""Per STE: the largest gap between :math:`\langle\mathbb{E}g, \partial_w f\rangle` and
    eq-yin-corr, relative to the largest value, and the smallest inner product."""

    rel_gap: dict[str, float]
    smallest: dict[str, float]

    def __str__(self) -> str:
        return "\n".join(f"{s:>8}: max relative gap {fmt(g, '.1e')}, smallest inner product "
                         f"{self.smallest[s]:.2e}" for s, g in self.rel_gap.items())


def inner_product_check(model, v, w, *, stes) -> InnerProductCheck:
    r"""The inner product of the closed-form vectors :math:`\mathbb{E}g_\mu` and
    :math:`\partial f/\partial w` against its formula eq-yin-corr
    (:func:`stelib.gaussian.coarse_true_inner`; Yin et al., Lemmas 5 and 8) on a grid ``v``
    (..., m), ``w`` (..., n) (broadcasting): :math:`\max|d - F| / \max|F|` and :math:`\min d`.
    """
    model, stes = _model(model), _stes(stes)
    gw = model.grad_w(v, w)
    gap, low = {}, {}
    for s in stes:
        direct = (model.expected_coarse_grad(v, w, s) * gw).sum(-1)
        formula = gaussian.coarse_true_inner(v, w, model.v_star, model.w_star, s)
        gap[s] = ((direct - formula).abs().max() / formula.abs().max()).item()
        low[s] = direct.min().item()
    return InnerProductCheck(gap, low)


def _eps_text(x: float) -> str:
    mantissa, _, exp = f"{x:.0e}".partition("e")
    return mantissa if int(exp) == 0 else f"{mantissa}e{int(exp)}"


@dataclass(frozen=True)
class DescentRatioPath:
    r"""The descent ratio :math:`R_\mu` along a path into a critical point (``at``): ``ratio[ste]``
    (K,), its log-log slope at the smallest :math:`\varepsilon`, and, at a spurious minimiser,
    the constant :math:`C` of :math:`R_{\mathrm{identity}} \sim C/\varepsilon` (``None`` at a saddle)."""

    eps: torch.Tensor
    ratio: dict[str, torch.Tensor]
    slope: dict[str, float]
    C: float | None
    at: str = "spurious"

    def __str__(self) -> str:
        e, i = self.eps, (0, len(self.eps) // 2, len(self.eps) - 1)
        at = ", ".join(_eps_text(e[j].item()) for j in i)
        lines = [f"{s:>8}: R at eps = {at} = " + ", ".join(f"{R[j]:.3g}" for j in i)
                 + f";\n{'':10}log-log slope at eps -> 0: {round(self.slope[s], 2) + 0.0:+.2f}"
                 for s, R in self.ratio.items()]
        if "identity" in self.ratio and self.C is not None:
            lines.append(f"identity: eps R at eps = {_eps_text(e[0].item())} is "
                         f"{e[0] * self.ratio['identity'][0]:.3g} vs C = {self.C:.3g}")
        return "\n".join(lines)


def descent_ratio_path(v_star, w_star, direction, *, eps, stes, at: str = "spurious") -> DescentRatioPath:
    r""":func:`stelib.gaussian.descent_ratio` eq-yin-ratio on a path into a critical point, for
    every :math:`\varepsilon` in ``eps`` (increasing, > 0, at least two), :math:`|w| = 1`:

    - ``at="spurious"`` (prop-yin-descent): :math:`v = \tilde v + \varepsilon\,d/|d|`,
      :math:`\theta = \pi - \varepsilon`; slopes -1 (identity) and +1 (ReLU, clipped ReLU), and
      :math:`C = |\mathbb{E}g_{\mathrm{identity}}(\tilde v, \pi)|^2 (2\pi)^{3/2}/(\tilde v^\top v^*)^2`;
    - ``at="saddle"``: :math:`v = v(\theta_s) + \varepsilon\,d/|d|`,
      :math:`\theta = \theta_s \pm \varepsilon` (towards :math:`\pi/2`, so the path stays in
      (0, pi)); there :math:`D_\mu = O(\varepsilon^2)` for every STE, the identity's numerator
      does not vanish when :math:`1^\top v^* \ne 0` (slope -2; at :math:`1^\top v^* = 0` the
      saddle has :math:`v = 0` and it does) and the ReLU and clipped-ReLU numerators are
      :math:`O(\varepsilon^2)` too (slope 0: bounded). ``ValueError`` when ``v_star`` has no saddles.

    The slope is :math:`\Delta\log R/\Delta\log\varepsilon` between the first two points.
    """
    stes = _stes(stes)
    if at not in ("spurious", "saddle"):
        raise ValueError(f"at={at!r} must be 'spurious' or 'saddle'")
    v_star = as_tensor(v_star, name="v_star", ndim=1, dtype=DTYPE)
    d = as_tensor(direction, name="direction", ndim=1, dtype=DTYPE)
    eps = as_tensor(eps, name="eps", ndim=1, dtype=DTYPE)
    if d.shape != v_star.shape or not float(d.norm()) > 0:
        raise ValueError(f"direction must be a nonzero vector of shape {tuple(v_star.shape)}, "
                         f"got shape {tuple(d.shape)}")
    if eps.numel() < 2 or not bool((eps > 0).all()) or not bool((eps.diff() > 0).all()):
        raise ValueError(f"eps={eps.tolist()} must be at least two increasing numbers > 0")
    if at == "saddle" and not float(eps[-1]) <= 1:
        raise ValueError(f"eps={eps.tolist()} must end at or below 1 for at='saddle' (theta stays in (0, pi))")
    if at == "spurious":
        v0, theta = gaussian.spurious_minimizer_v(v_star), math.pi - eps
    else:
        v0, theta_s = gaussian.saddle_v(v_star), gaussian.saddle_angle(v_star)  # saddle_v raises if none
        theta = theta_s + (eps if theta_s < math.pi / 2 else -eps)
    v_path = v0 + eps[:, None] * d / d.norm()  # (K, m)
    w_path = at_angle(w_star, theta)  # (K, n), |w| = 1
    ratio = {s: gaussian.descent_ratio(v_path, w_path, v_star, w_star, s) for s in stes}
    slope = {s: ((R[1].log() - R[0].log()) / (eps[1].log() - eps[0].log())).item()
             for s, R in ratio.items()}
    C = None
    if at == "spurious":
        C = (gaussian.identity_grad_norm_at_spurious(v_star) ** 2 * (2 * math.pi) ** 1.5
             / (v0 @ v_star) ** 2).item()
    return DescentRatioPath(eps, ratio, slope, C, at)


# --- Y5: vanishing at the critical points -------------------------------------------------------

@dataclass(frozen=True)
class NormTable:
    r"""``norm[(point, ste)]``: the largest :math:`|\mathbb{E}g_\mu|` over the norms of w."""

    points: tuple[str, ...]
    stes: tuple[str, ...]
    norm: dict[tuple[str, str], float]

    def largest(self, ste: str, *, skip: Sequence[str] = ()) -> float:
        """The largest norm of ``ste`` over the points not in ``skip``."""
        return max([self.norm[p, ste] for p in self.points if p not in skip], default=0.0)

    def __str__(self) -> str:
        head = "largest |E g| over |w| in w_norms, per critical point and STE:"
        return "\n".join([head] + [
            f"{p:>8}: " + ",  ".join(f"{s} {fmt(self.norm[p, s], '.2e')}" for s in self.stes)
            for p in self.points])


def coarse_grad_norms(model, points: dict, *, w_norms: Sequence[float], stes) -> NormTable:
    r"""The largest :math:`|\mathbb{E}g_\mu(v, r\hat w)|` over :math:`r` in ``w_norms`` at each
    ``(v, w)`` of ``points`` (prop-yin-vanish: 0 for ReLU and clipped ReLU at every critical
    point; for the identity only at the global minima)."""
    model, stes = _model(model), _stes(stes)
    norms = [check_positive(r, name="w_norms") for r in w_norms]
    if not norms:
        raise ValueError("w_norms=[] is empty; give at least one norm > 0")
    table = {(p, s): max(model.expected_coarse_grad(v, r * w / w.norm(), s).norm().item()
                         for r in norms)
             for p, (v, w) in points.items() for s in stes}
    return NormTable(tuple(points), stes, table)


@dataclass(frozen=True)
class IdentityNorm:
    r""":math:`|\mathbb{E}g_{\mathrm{identity}}(\tilde v, \pi)|` by eq-yin-idnorm, by the closed
    form and by Monte Carlo (with ``max_z``, the largest |z| of its entries against the closed form)."""

    formula: float
    closed_form: float
    monte_carlo: float
    max_z: float

    def __str__(self) -> str:
        return (f"|E g_identity| at the spurious minimum: formula {self.formula:.4f}, closed form "
                f"{self.closed_form:.4f},\n    Monte Carlo {self.monte_carlo:.4f} "
                f"(largest |z| of its entries {self.max_z:.2f})")


def identity_norm_at_spurious(model, Z, y_star) -> IdentityNorm:
    r"""The norm of the identity STE's expected coarse gradient at the spurious minimum
    :math:`(\tilde v, -w^*)`, three ways: eq-yin-idnorm
    :math:`2(m-1)s^{*2}/(\sqrt{2\pi}(m+1)^2)`, prop-yin-coarse, and Monte Carlo on ``(Z, y_star)``."""
    model = _model(model)
    v_t = gaussian.spurious_minimizer_v(model.v_star)
    closed = model.expected_coarse_grad(v_t, -model.w_star, "identity")
    est = estimate_on(v_t, -model.w_star, Z, y_star, stes=("identity",)).coarse["identity"]
    return IdentityNorm(gaussian.identity_grad_norm_at_spurious(model.v_star).item(),
                        closed.norm().item(), est.mean.norm().item(),
                        est.z_score(closed).abs().max().item())
