r"""Checks of Yin et al.'s Gaussian model (chapter *Yin et al.'s setting, reproduced*).

Each function computes one check of the chapter against the closed forms of
:mod:`stelib.gaussian` and returns a small frozen result whose ``str`` is the printed report:

- :func:`closed_form_zscores`: Monte Carlo against the loss and gradient (prop-yin-loss, Y1);
- :func:`critical_points`, :func:`classify_critical_points`, :func:`perturbation_share`: the
  landscape (prop-yin-landscape, Y2);
- :func:`plane_basis`, :func:`coarse_components_check`: expected coarse gradients against Monte
  Carlo, in the plane of :math:`w, w^*` (prop-yin-coarse, Y3);
- :func:`inner_product_check`, :func:`descent_ratio_path`: correlation with the true gradient and
  the descent ratio (prop-yin-corr, prop-yin-descent, Y4);
- :func:`coarse_grad_norms`, :func:`identity_norm_at_spurious`: where the coarse gradients
  vanish (prop-yin-vanish, Y5);
- :func:`at_and_near`, :func:`run_endings`, :func:`angle_progress`: coarse gradient descent runs;
- :func:`variant_teachers`, :func:`spurious_conditions`: teachers without spurious minima.

Example
-------
>>> import torch
>>> from stelib.core.gaussian import YinModel
>>> model = YinModel(torch.tensor([1.0, -0.5, 0.7]), torch.tensor([1.0, 0.0, 0.5]))
>>> print(classify_critical_points(model, critical_points(model.v_star, model.w_star),
...                                w_norms=[1.0, 2.0]))
  global: f = <1e-12, classified as ['global minimum']
spurious: f = 0.1800, classified as ['spurious minimum']
  saddle: f = 0.2742, classified as ['saddle']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.outcomes import at_angle
from stelib.core import gaussian
from stelib.core._validate import as_tensor, check_positive, check_positive_int
from stelib.core.montecarlo import estimate_on
from stelib.core.network import coarse_grads
from stelib.core.rounding import fmt
from stelib.core.ste import check_ste

__all__ = [
    "AngleProgress", "ComponentCheck", "CriticalPointTable", "DescentRatioPath", "IdentityNorm",
    "InnerProductCheck", "NormTable", "RunEndings", "SpuriousConditions", "ZScores",
    "angle_progress", "at_and_near", "classify_critical_points", "closed_form_zscores",
    "coarse_components_check", "coarse_grad_norms", "critical_points", "descent_ratio_path",
    "identity_norm_at_spurious", "inner_product_check", "perturbation_share", "plane_basis",
    "run_endings", "spurious_conditions", "variant_teachers",
]

DTYPE = torch.float64


def _model(model) -> gaussian.YinModel:
    if not isinstance(model, gaussian.YinModel):
        raise ValueError(f"model must be a stelib.gaussian.YinModel, got {type(model).__name__}")
    return model


def _stes(stes) -> tuple[str, ...]:
    stes = (stes,) if isinstance(stes, str) else tuple(stes)
    if not stes:
        raise ValueError("stes=() is empty; give at least one STE name")
    return tuple(check_ste(s) for s in stes)


def _generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


# --- Y1: loss and gradient ---------------------------------------------------------------------

@dataclass(frozen=True)
class ZScores:
    """|z|-scores of Monte Carlo against the closed forms, one entry per test point."""

    theta: tuple[float, ...]
    w_norm: tuple[float, ...]
    loss: tuple[float, ...]  #: |z| of the loss
    grad_v: tuple[float, ...]  #: max |z| over the entries of df/dv
    grad_w: tuple[float, ...]  #: max |z| over the entries of df/dw

    @property
    def max_z(self) -> float:
        """The largest |z| of all."""
        return max(self.loss + self.grad_v + self.grad_w)

    def __str__(self) -> str:
        return "\n".join(
            f"theta = {t:.2f}, |w| = {r:.1f}: |z| loss {a:.2f}, max |z| df/dv {b:.2f}, "
            f"max |z| df/dw {c:.2f}"
            for t, r, a, b, c in zip(self.theta, self.w_norm, self.loss, self.grad_v, self.grad_w, strict=True))


def closed_form_zscores(model, v, w, Z, y_star) -> ZScores:
    r"""Monte Carlo on the sample ``(Z, y_star)`` against :math:`f`, :math:`\partial_v f` and
    :math:`\partial_w f` of prop-yin-loss (Yin et al., Lemmas 1 and 2), at the points
    ``(v[i], w[i])``: :math:`z = (\hat\mu - \mu)/\widehat{\mathrm{se}}` with the true
    w-gradient estimated by smoothing the step (:func:`stelib.montecarlo.estimate_on`).

    ``v`` (k, m), ``w`` (k, n); returns :class:`ZScores` (|z| of the loss, max |z| over the
    entries of each gradient), which should be a few units at most.
    """
    model = _model(model)
    v = as_tensor(v, name="v", ndim=2, dtype=DTYPE)
    w = as_tensor(w, name="w", ndim=2, dtype=DTYPE)
    if v.shape[0] != w.shape[0] or v.shape[0] < 1:
        raise ValueError(f"v has {v.shape[0]} points and w {w.shape[0]}; need equal counts >= 1")
    cols: list[list[float]] = [[], [], [], [], []]
    for vi, wi in zip(v, w, strict=True):
        est = estimate_on(vi, wi, Z, y_star, stes=(), true_grad=True)
        gv, gw = model.grad_v(vi, wi), model.grad_w(vi, wi)
        row = (gaussian.angle(wi, model.w_star).item(), wi.norm().item(),
               est.loss.z_score(model.loss(vi, wi)).abs().item(),
               est.grad_v.z_score(gv).abs().max().item(),
               est.true_grad_w.z_score(gw).abs().max().item())
        for col, x in zip(cols, row, strict=True):
            col.append(x)
    return ZScores(*(tuple(c) for c in cols))


# --- Y2: the landscape -------------------------------------------------------------------------

def critical_points(v_star, w_star) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    r"""The three kinds of critical points of prop-yin-landscape (Yin et al., Prop. 1), each as
    ``(v, w)`` with :math:`|w| = 1` at the saddle: ``"global"`` :math:`(v^*, w^*)`,
    ``"spurious"`` :math:`(\tilde v, -w^*)` and ``"saddle"`` :math:`(v(\theta_s), w)` with
    :math:`\angle(w, w^*) = \theta_s`. ``ValueError`` if the teacher has no spurious minima.
    """
    v_star = as_tensor(v_star, name="v_star", ndim=1, dtype=DTYPE)
    w_star = as_tensor(w_star, name="w_star", ndim=1, dtype=DTYPE)
    if not gaussian.spurious_minima_exist(v_star):
        raise ValueError(f"v_star={v_star.tolist()} has no spurious minima (it needs 0 < "
                         "(1^T v*)^2 < (m+1)/2 |v*|^2), so no saddles either")
    theta_s = gaussian.saddle_angle(v_star)
    return {"global": (v_star, w_star),
            "spurious": (gaussian.spurious_minimizer_v(v_star), -w_star),
            "saddle": (gaussian.saddle_v(v_star), at_angle(w_star, theta_s))}


@dataclass(frozen=True)
class CriticalPointTable:
    """Per named point: its loss and the kinds it is classified as over the norms of w."""

    names: tuple[str, ...]
    loss: tuple[float, ...]
    kinds: tuple[tuple[str, ...], ...]

    def __str__(self) -> str:
        return "\n".join(f"{n:>8}: f = {fmt(f, '.4f')}, classified as {list(k)}"
                         for n, f, k in zip(self.names, self.loss, self.kinds, strict=True))


def classify_critical_points(model, points: dict, *, w_norms: Sequence[float]) -> CriticalPointTable:
    r""":func:`stelib.gaussian.classify_critical_point` of each ``(v, w)`` of ``points`` with
    ``w`` rescaled to every norm in ``w_norms`` (:math:`f` depends on :math:`w` only through
    :math:`\theta`, so each point should get one kind). Returns the loss :math:`f(v, w)` and the
    sorted distinct kinds per point.
    """
    model = _model(model)
    norms = [check_positive(r, name="w_norms") for r in w_norms]
    if not norms:
        raise ValueError("w_norms=[] is empty; give at least one norm > 0")
    names, losses, kinds = [], [], []
    for name, (v, w) in points.items():
        k = {gaussian.classify_critical_point(v, r * w / w.norm(), model.v_star, model.w_star)
             for r in norms}
        names.append(name)
        losses.append(model.loss(v, w).item())
        kinds.append(tuple(sorted(k)))
    return CriticalPointTable(tuple(names), tuple(losses), tuple(kinds))


def perturbation_share(model, v, w, *, size: float, generator: torch.Generator,
                       samples: int = 2000) -> float:
    r"""The share of random perturbations that lower the loss:
    :math:`P\big(f(v + \epsilon\,\delta_v,\ w + \epsilon|w|\,\delta_w) < f(v, w)\big)` with
    :math:`\epsilon` = ``size``, over ``samples`` draws :math:`\delta_v \sim N(0, I_m)` and then
    :math:`\delta_w \sim N(0, I_n)` from ``generator``. 0 at a local minimum (prop-yin-landscape),
    strictly between 0 and 1 at a saddle, about 1/2 at a non-critical point.
    """
    model = _model(model)
    size = check_positive(size, name="size")
    samples = check_positive_int(samples, name="samples")
    gen = _generator(generator)
    dv = torch.randn(samples, model.m, generator=gen, dtype=DTYPE, device=gen.device)
    dw = torch.randn(samples, model.n, generator=gen, dtype=DTYPE, device=gen.device)
    df = model.loss(v + size * dv, w + size * dw * w.norm()) - model.loss(v, w)
    return (df < 0).double().mean().item()


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
                         f"{e[0] * self.ratio['identity'][0]:.4f} vs C = {self.C:.4f}")
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
      does not vanish (slope -2) and the ReLU and clipped-ReLU numerators are :math:`O(\varepsilon^2)`
      too (slope 0: bounded). ``ValueError`` when ``v_star`` has no saddles.

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


# --- coarse gradient descent --------------------------------------------------------------------

def at_and_near(v, w, *, size: float, stes, generator: torch.Generator):
    r"""Starts at ``(v, w)`` and at :math:`(v + \epsilon\delta_v, w + \epsilon\delta_w)`
    (:math:`\epsilon` = ``size``, :math:`\delta_v` then :math:`\delta_w` drawn N(0, I) from
    ``generator``), each with every STE: ``(v0 (2k, m), w0 (2k, n), ste tuple)``, first the k
    runs at the point, then the k near it."""
    stes = _stes(stes)
    size = check_positive(size, name="size")
    gen = _generator(generator)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    v_near = v + size * torch.randn(v.shape[0], generator=gen, dtype=DTYPE, device=gen.device)
    w_near = w + size * torch.randn(w.shape[0], generator=gen, dtype=DTYPE, device=gen.device)
    k = len(stes)
    return (torch.cat([v.expand(k, -1), v_near.expand(k, -1)]),
            torch.cat([w.expand(k, -1), w_near.expand(k, -1)]), stes * 2)


@dataclass(frozen=True)
class RunEndings:
    """Per run: its label, STE, final theta, |w|, loss, |g| and the smallest theta on the way."""

    label: tuple[str, ...]
    ste: tuple[str, ...]
    theta: tuple[float, ...]
    w_norm: tuple[float, ...]
    loss: tuple[float, ...]
    grad_norm: tuple[float, ...]
    min_theta: tuple[float, ...]

    def __str__(self) -> str:
        lines = []
        for a, s, t, r, f, g, t0 in zip(self.label, self.ste, self.theta, self.w_norm,
                                        self.loss, self.grad_norm, self.min_theta, strict=True):
            head = f"{a:<4} {s:>8}: "  # the second line of a run starts under its first number
            lines += [f"{head}final theta {t:.4f}, |w| {r:.4f}, loss {f:.4f}, |g| {fmt(g, '.2e')},",
                      f"{'':{len(head)}}smallest theta on the way {t0:.4f}"]
        return "\n".join(lines)


def run_endings(history, labels: Sequence[str]) -> RunEndings:
    """Where each run of ``history`` ends, with one label per run (e.g. "at", "near")."""
    labels = tuple(labels)
    if len(labels) != history.runs:
        raise ValueError(f"labels has {len(labels)} entries; history has {history.runs} runs")
    last = (history.theta[-1], history.w_norm[-1], history.loss[-1], history.grad_norm[-1],
            history.theta.min(0).values)
    return RunEndings(labels, tuple(history.ste), *(tuple(x.tolist()) for x in last))


@dataclass(frozen=True)
class AngleProgress:
    """Median theta at some steps, median |w| at the first, and the turn rate at that |w|."""

    ste: str
    steps: tuple[int, ...]
    theta: tuple[float, ...]
    w_norm: float
    turn: float

    def __str__(self) -> str:
        st = ", ".join(map(str, self.steps))
        th = ", ".join(f"{t:.2f}" for t in self.theta)
        return (f"{self.ste:>8}: median theta at steps {st}: {th};\n{'':10}median |w| at step "
                f"{self.steps[0]}: {self.w_norm:.1f}; turn rate there at theta = pi/4: "
                f"{self.turn:.4f}")


def angle_progress(history, model, ste: str, *, at: Sequence[int]) -> AngleProgress:
    r"""How fast the runs of ``ste`` turn :math:`w` towards :math:`w^*`: the median
    :math:`\theta` at the first records at or after each step in ``at``, the median :math:`|w|`
    :math:`r` at the first, and the angle turned per unit step there at :math:`\theta = \pi/4`
    with the best :math:`v` (:func:`stelib.gaussian.optimal_v`):
    :math:`|\mathbb{E}g - (\mathbb{E}g^\top w)\,w/r^2|/r`."""
    model, ste = _model(model), check_ste(ste)
    at = tuple(check_positive_int(a, name="at", minimum=0) for a in at)
    if not at or max(at) > int(history.steps[-1]):
        raise ValueError(f"at={at} must be non-empty steps <= the last recorded step "
                         f"{int(history.steps[-1])}")
    rec = [int(torch.nonzero(history.steps >= a)[0]) for a in at]
    i = history.select(ste)
    theta = tuple(history.theta[k, i].median().item() for k in rec)
    r = history.w_norm[rec[0], i].median().item()
    w = at_angle(model.w_star, math.pi / 4, r)
    g = model.expected_coarse_grad(gaussian.optimal_v(w, model.v_star, model.w_star), w, ste)
    turn = (g - (g @ w) * w / r**2).norm().item() / r
    return AngleProgress(ste, at, theta, r, turn)


# --- teachers without spurious minima -----------------------------------------------------------

def variant_teachers(v_star) -> dict[str, torch.Tensor]:
    r"""Three variants of :math:`v^*`: ``"centred"`` :math:`v^* - \bar v^* 1`
    (:math:`1^\top v^* = 0`), ``"equal"`` :math:`(|v^*|/\sqrt m)\,1` (no spurious minima) and
    ``"m = 1"`` its first entry (no spurious minima, no identity defect)."""
    v_star = as_tensor(v_star, name="v_star", ndim=1, dtype=DTYPE)
    m = v_star.shape[0]
    ones = torch.ones(m, dtype=DTYPE, device=v_star.device)
    return {"centred": v_star - v_star.mean(), "equal": v_star.norm() / math.sqrt(m) * ones,
            "m = 1": v_star[:1]}


@dataclass(frozen=True)
class SpuriousConditions:
    r"""Per teacher: whether spurious minima exist, :math:`f(\tilde v, \pi)` and
    :math:`|\mathbb{E}g_{\mathrm{identity}}(\tilde v, \pi)|`."""

    names: tuple[str, ...]
    holds: tuple[bool, ...]
    loss: tuple[float, ...]
    identity_norm: tuple[float, ...]

    def __str__(self) -> str:
        return "\n".join(
            f"{n:>8}: spurious minima exist: {h}, f(v~, pi) = {fmt(f, '.4f')},\n"
            f"{'':10}|E g_identity(v~, pi)| = {fmt(g, '.2e')}"
            for n, h, f, g in zip(self.names, self.holds, self.loss, self.identity_norm, strict=True))


def spurious_conditions(teachers: dict, w_star) -> SpuriousConditions:
    r"""For each teacher :math:`v^*` of ``teachers`` (with the filter ``w_star``):
    :func:`stelib.gaussian.spurious_minima_exist`, the loss at :math:`(\tilde v, -w^*)` and the
    norm of the identity coarse gradient there (prop-yin-landscape, eq-yin-idnorm)."""
    if not teachers:
        raise ValueError("teachers={} is empty; give at least one name -> v_star")
    rows = []
    for vs in teachers.values():
        model = gaussian.YinModel(vs, w_star)
        vt = gaussian.spurious_minimizer_v(model.v_star)
        rows.append((gaussian.spurious_minima_exist(model.v_star),
                     model.loss(vt, -model.w_star).item(),
                     model.expected_coarse_grad(vt, -model.w_star, "identity").norm().item()))
    return SpuriousConditions(tuple(teachers), *(tuple(c) for c in zip(*rows, strict=True)))
