r"""The loss landscape of Yin et al.'s Gaussian model (chapter *Yin et al.'s setting, reproduced*).

Checks of the chapter against the closed forms of :mod:`stelib.gaussian`, each returning a
small frozen result whose ``str`` is the printed report:

- :func:`closed_form_zscores`: Monte Carlo against the loss and gradient (prop-yin-loss, Y1);
- :func:`critical_points`, :func:`classify_critical_points`, :func:`perturbation_share`: the
  landscape (prop-yin-landscape, Y2);
- :func:`variant_teachers`, :func:`spurious_conditions`: teachers without spurious minima
  (section "When the spurious minima or the identity defect disappear").

It also holds the argument checks shared by :mod:`stelib.yin_coarse` and :mod:`stelib.yin_runs`;
:mod:`stelib.yin` gathers the three modules for the chapter.

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
from stelib.core.rounding import fmt
from stelib.core.ste import check_ste

__all__ = [
    "CriticalPointTable", "SpuriousConditions", "ZScores", "classify_critical_points",
    "closed_form_zscores", "critical_points", "perturbation_share", "spurious_conditions",
    "variant_teachers",
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
    :math:`\angle(w, w^*) = \theta_s`. ``ValueError`` if the teacher has no spurious minima,
    including :math:`1^\top v^* = 0`, where :math:`(\tilde v, -w^*)` is a second global minimum
    (the saddles exist there: :func:`stelib.gaussian.saddle_angle` gives :math:`\pi/2`).
    """
    v_star = as_tensor(v_star, name="v_star", ndim=1, dtype=DTYPE)
    w_star = as_tensor(w_star, name="w_star", ndim=1, dtype=DTYPE)
    if not gaussian.spurious_minima_exist(v_star):
        raise ValueError(f"v_star={v_star.tolist()} has no spurious minima: critical_points needs "
                         "0 < (1^T v*)^2 < (m+1)/2 |v*|^2")
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
