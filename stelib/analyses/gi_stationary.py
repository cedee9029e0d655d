r"""Stationary points under general input laws, and the coarse gradients there (book: the
chapter on general inputs).

Two sections of the chapter "Beyond Gaussian inputs", each check returning a small frozen
table that prints as the chapter shows it:

* "Yin's teacher: the spurious minimiser for any symmetric law" (prop-gi-spurious):
  :func:`spurious_point_check` (the profile loss around :math:`-w^*`, the best second layer
  there and every STE's :math:`E g`), :func:`identity_prediction` and :func:`identity_check`
  (the identity STE's :math:`E g` there, by quadrature against Monte Carlo);
* "The misspecified model: where the stationary points are" (prop-gi-ray):
  :func:`stationary_directions`, by quadrature (:mod:`stelib.gi_quadrature`) or on a grid of
  directions on samples (:mod:`stelib.gi_samples`), and "Do the identity and ReLU coarse
  gradients vanish there?" (prop-gi-norelu): :func:`coarse_at_stationary`.

The laws and the teacher direction :func:`~stelib.gi_laws.unit` come from :mod:`stelib.gi_laws`;
the cReLU fixed point measured against these stationary directions is in
:mod:`stelib.gi_fixed_points`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from stelib.analyses.gi_laws import _laws, _t_bound, unit
from stelib.analyses.gi_quadrature import QUADRATURE_DISTRIBUTIONS, stationary_direction_quad, strip_moments
from stelib.analyses.gi_samples import optimal_v_on, profile_loss_on
from stelib.core._validate import as_device, as_tensor, check_positive_int
from stelib.core.distributions import Distribution
from stelib.core.gaussian import spurious_minimizer_v
from stelib.core.montecarlo import Estimate, estimate
from stelib.core.problems import Problem
from stelib.core.rounding import below_floor, fmt, se_decimals, significant
from stelib.core.ste import STE_NAMES

__all__ = ["GRID_STEP", "CoarseAtStationary", "CoarseRow", "IdentityCheck", "SpuriousCheck", "SpuriousRow",
           "Stationary", "StationaryRow", "coarse_at_stationary", "identity_check", "identity_prediction",
           "spurious_point_check", "stationary_directions"]


def _rotated(w: torch.Tensor, offsets_deg: torch.Tensor) -> torch.Tensor:
    """w rotated by each offset in the plane of the first two axes: (K, n)."""
    c, s = torch.cos(torch.deg2rad(offsets_deg)), torch.sin(torch.deg2rad(offsets_deg))
    W = w.expand(len(offsets_deg), w.shape[0]).clone()
    W[:, 0], W[:, 1] = c * W[:, 0] - s * W[:, 1], s * W[:, 0] + c * W[:, 1]
    return W


@dataclass(frozen=True)
class SpuriousRow:
    """One law at Yin's spurious point: ``offset`` (deg) of the profile minimum from -w*,
    ``v`` the best second layer at -w*, ``v_gap`` = |v - v_spur|, ``coarse`` the Monte Carlo
    estimates of E g per STE there; ``half_width`` (deg) the search window's half width (NaN:
    not recorded)."""

    offset: float
    v: torch.Tensor
    v_gap: float
    coarse: dict[str, Estimate]
    half_width: float = math.nan

    @property
    def at_edge(self) -> bool:
        """The profile minimum is on the edge of the search window: the least loss may lie
        outside it, and the offset is a bound, not the minimiser."""
        return abs(self.offset) >= self.half_width


@dataclass(frozen=True)
class SpuriousCheck:
    """prop-gi-spurious for every law: the rows by law name."""

    rows: dict[str, SpuriousRow]

    @property
    def reading(self) -> str:
        """What the rows show about prop-gi-spurious, as a clause the chapter glues: whether the
        ReLU and cReLU coarse gradients are zero within 4 standard errors (largest |z| over the
        laws below 4) and the identity one far from zero (smallest |z| above 4) for every law."""
        z = {s: [float(r.coarse[s].z_score(0).abs().max()) for r in self.rows.values()]
             for s in ("identity", "relu", "crelu") if all(s in r.coarse for r in self.rows.values())}
        if set(z) != {"identity", "relu", "crelu"}:
            raise ValueError(f"the rows hold the STEs {sorted(z)}; the reading needs identity, relu and crelu")
        zero = max(z["relu"] + z["crelu"]) < 4
        far = min(z["identity"]) > 4
        head = ("for every law the ReLU and cReLU coarse gradients at the best v are zero within 4"
                " standard errors" if zero else
                "not for every law are the ReLU and cReLU coarse gradients at the best v zero within"
                " 4 standard errors")
        return head + (", and the identity one is far from zero" if far else
                       ", and the identity one is not far from zero for every law") + (
            f" (largest |z| {max(z['relu'] + z['crelu']):.1f}; smallest identity |z| {min(z['identity']):.1f})")

    def __str__(self) -> str:
        """Two lines per law: the offset and |v - v_spur|, then |E g| (with its largest |z|) of
        each STE, indented under the first (88 columns); "(window edge)" marks an offset at the
        edge of the search window."""
        lines = []
        for k, r in self.rows.items():
            g = "  ".join(f"{s} {float(e.mean.norm()):.4f} (z "
                          f"{float(e.z_score(0).abs().max()):4.1f})" for s, e in r.coarse.items())
            edge = " (window edge)" if r.at_edge else ""
            lines.append(f"{k:>11}: min at {r.offset:+5.1f} deg{edge}, |v - v_spur| "
                         f"{r.v_gap:.3f} | |E g|:\n{'':13}{g}")
        return "\n".join(lines)


def spurious_point_check(laws: dict[str, Distribution], *, m: int, v_star, phi_deg: float,
                         samples: int, generator: torch.Generator, half_width: int = 10,
                         device=None) -> SpuriousCheck:
    r"""Yin's spurious point :math:`(v, -w^*)` for each law (chapter general_inputs,
    prop-gi-spurious).

    Teacher :math:`y^* = v^{*\top}\sigma(Zw^*)` with ``m`` patches and :math:`w^*` =
    ``unit(phi_deg, n)``. Per law: the profile loss :math:`\min_v L(v, w)` on one sample of
    ``samples // 2`` draws at the directions :math:`-w^*` rotated by -``half_width``, ...,
    +``half_width`` degrees in steps of 0.5 (exact), the best :math:`v` at :math:`-w^*`, and
    then :math:`E g_\mu` at :math:`(v, -w^*)` for every STE from ``samples`` fresh draws.
    Returns a :class:`SpuriousCheck`; the draws come from ``generator`` law after law.
    """
    laws = _laws(laws)
    m = check_positive_int(m, name="m")
    half_width = check_positive_int(half_width, name="half_width", maximum=90)
    samples = check_positive_int(samples, name="samples", minimum=4)
    vs = as_tensor(v_star, name="v_star", ndim=1, dtype=torch.float64)
    if vs.shape[0] != m:
        raise ValueError(f"v_star has {vs.shape[0]} entries; need m = {m}")
    dev = generator.device if device is None else as_device(device)
    v_sp = spurious_minimizer_v(vs)
    offs = torch.arange(-2 * half_width, 2 * half_width + 1, dtype=torch.float64,
                        device=generator.device) / 2
    rows = {}
    for name, d in laws.items():
        w_star = torch.tensor(unit(phi_deg, d.n), device=generator.device)  # with the draws
        prob = Problem(d, m, labels="teacher", v_star=vs, w_star=w_star)
        prof, V = profile_loss_on(_rotated(-w_star, offs), *prob.sample(samples // 2, generator))
        v = V[len(offs) // 2]
        est = estimate(v, -w_star, prob, samples=samples, generator=generator, device=dev).cpu()
        rows[name] = SpuriousRow(float(offs[prof.argmin()]), v, float((v - v_sp).norm()),
                                 {s: est.coarse[s] for s in STE_NAMES}, float(half_width))
    return SpuriousCheck(rows)


@dataclass(frozen=True)
class IdentityCheck:
    """The identity STE's E g at the spurious point: ``predicted`` by prop-gi-spurious (with
    quadrature), ``monte_carlo`` estimate and the ``z`` scores of their difference."""

    predicted: np.ndarray
    monte_carlo: np.ndarray
    z: np.ndarray

    def __str__(self) -> str:
        """Three lines with aligned labels: the prediction, the Monte Carlo estimate, z."""
        return (f"predicted E g_id: {_rounded(self.predicted, 4)}\n"
                f"     Monte Carlo: {_rounded(self.monte_carlo, 4)}\n"
                f"        z-scores: {_rounded(self.z, 2)}")


def _rounded(xs: np.ndarray, digits: int) -> str:
    """``digits`` decimals of the determined value (:func:`stelib.rounding.significant`, then
    NumPy's rounding): an exact tie such as the -3/32 of the default shows the same on every
    machine (-0.0938), whatever its last bits (-0.09374999999999997 here); ``<1e-12`` below
    the floor."""
    return ", ".join(fmt(x, f".{digits}f") if below_floor(x) else
                     f"{np.round(significant(float(x)), digits):.{digits}f}"
                     for x in np.asarray(xs).ravel())


def identity_prediction(dist: Distribution, v_star, phi_deg: float) -> np.ndarray:
    r""":math:`E g_{\rm id} = (1^\top\tilde v)(1^\top v^* - 1^\top\tilde v)\,
    E[z\,1\{z^\top w > 0\}]` at Yin's spurious point :math:`(\tilde v, w = -w^*)`, :math:`w^*`
    = ``unit(phi_deg)`` (prop-gi-spurious; the expectation by quadrature, so ``dist`` is planar
    and one of :data:`QUADRATURE_DISTRIBUTIONS`). Shape (2,)."""
    vs = as_tensor(v_star, name="v_star", ndim=1, dtype=torch.float64)
    v_sp = spurious_minimizer_v(vs)
    _, m_half, _ = strip_moments(dist, -unit(phi_deg), 0.0, math.inf)
    return float(v_sp.sum() * (vs.sum() - v_sp.sum())) * m_half


def identity_check(dist: Distribution, v_star, phi_deg: float, coarse: Estimate) -> IdentityCheck:
    """:func:`identity_prediction` next to the Monte Carlo estimate ``coarse`` of E g_id there."""
    pred, coarse = identity_prediction(dist, v_star, phi_deg), coarse.cpu()
    z = coarse.z_score(torch.tensor(pred, device="cpu"))
    return IdentityCheck(pred, coarse.mean.numpy(), z.numpy())


GRID_STEP = 60 / 240  #: degrees between the sampled candidate directions (exactly 0.25)


@dataclass(frozen=True)
class StationaryRow:
    """A law's stationary direction: ``offset`` (deg) from the teacher angle, ``uncertainty``
    (deg; 0 by quadrature, else max(se, grid step)), ``method`` "quadrature" or "grid",
    ``best`` the grid minimiser of each replicate (empty for quadrature)."""

    offset: float
    uncertainty: float
    method: str
    best: tuple[float, ...] = ()

    def __str__(self) -> str:
        if self.method == "quadrature":
            return f"stationary direction - phi = {fmt(self.offset, '+.4f')} deg (quadrature)"
        k = len(self.best)
        se = float(np.std(self.best, ddof=1) / math.sqrt(k))
        spread = (f"se {se:.2f}" if se >= GRID_STEP else
                  f"{sum(b == self.best[0] for b in self.best)} of {k} replicates on one grid point")
        return (f"stationary direction - phi = {self.offset:+.2f} deg\n({spread}; "
                f"grid resolution {GRID_STEP} deg)")  # the spread on a second line (88 columns)


@dataclass(frozen=True)
class Stationary:
    """The stationary direction of the misspecified model for every law, by name."""

    rows: dict[str, StationaryRow]

    def __str__(self) -> str:
        """One row per law; a grid row's second line is indented under the first."""
        return "\n".join(f"{k:>11}: " + str(r).replace("\n", "\n" + " " * 13)
                         for k, r in self.rows.items())

    def off_a(self, name: str) -> bool:
        """The law's stationary direction is away from a_hat: by more than 1e-4 deg by quadrature
        (its minimiser's tolerance is about 1e-6 deg), on samples by more than the 97.5 % quantile
        of Student's t with replicates - 1 degrees of freedom times its uncertainty
        (max(se, grid step)): a two-sided 95 % test."""
        r = self.rows[name]
        if r.method == "quadrature":
            return abs(r.offset) > 1e-4
        return abs(r.offset) > _t_bound(len(r.best)) * r.uncertainty

    def reading(self, laws: dict[str, Distribution]) -> dict[str, str]:
        """What the rows show, as sentences the chapter glues (chapter general_inputs, after
        prop-gi-ray): ``symmetric`` (are the symmetric laws' directions at a_hat, as the
        proposition says), ``mixture`` (does the mixture's move away) and ``digits`` (how far
        the digits' lies, in grid steps); the last two only for the laws present."""
        sym = [k for k in self.rows if laws[k].symmetric]
        off = [k for k in sym if self.off_a(k)]
        teacher = "the teacher direction"
        out = {"symmetric": (
            f"For the symmetric laws the minimising direction is {teacher} (zero to quadrature"
            " accuracy, or within the 95 % interval of the samples)" if not off else
            f"Not every symmetric law has its minimising direction at {teacher} within the 95 %"
            f" interval of its samples: {', '.join(off)} (the proposition says it is there; at"
            " this level one law in twenty misses by chance)")}
        if "mixture" in self.rows:
            where = f"{self.rows['mixture'].offset:+.2f} degrees"
            if laws["mixture"].symmetric:
                out["mixture"] = (f"The mixture is centred in this run, so the proposition covers"
                                  f" it too (its direction: {where})")
            elif self.off_a("mixture"):
                out["mixture"] = (f"The non-centred mixture moves the stationary direction away"
                                  f" from {teacher}, by {where}: there the share of active"
                                  " inputs depends on the direction, and the proposition does"
                                  " not apply")
            else:
                out["mixture"] = (f"The non-centred mixture's stationary direction is within the"
                                  f" 95 % interval of {teacher} in this run ({where}), although"
                                  " the proposition does not apply to it")
        if "digits" in self.rows:
            steps = abs(self.rows["digits"].offset) / GRID_STEP
            out["digits"] = (f"{steps:.0f} grid steps away: the digits' lack of symmetry is"
                             " visible at this resolution" if self.off_a("digits") else
                             f"{steps:.0f} grid steps away, within the 95 % interval: at this"
                             " resolution the digits' lack of symmetry does not show")
        return out


def stationary_directions(laws: dict[str, Distribution], *, phi_deg: float, samples: int,
                          replicates: int, generator: torch.Generator,
                          device=None) -> Stationary:
    r"""The direction minimising the profile loss :math:`f(\hat w) = \tfrac12 E y^{*2} -
    E[y^*\sigma]^2/(2E\sigma)` of the planar linear teacher :math:`a` = ``unit(phi_deg)``
    (chapter general_inputs, prop-gi-ray).

    By quadrature (:func:`stationary_direction_quad`) for :data:`QUADRATURE_DISTRIBUTIONS`;
    otherwise the minimiser over directions ``phi_deg`` + k/4 degrees, k = -120..120, on each of
    ``replicates`` >= 2 samples of ``samples // 2`` draws: mean and max(standard error, grid
    step) of the minimising angle.
    """
    laws = _laws(laws)
    R = check_positive_int(replicates, name="replicates", minimum=2)
    samples = check_positive_int(samples, name="samples", minimum=4)
    dev = generator.device if device is None else as_device(device)
    a = torch.tensor(unit(phi_deg), device=generator.device)  # with the draws
    k = torch.arange(-120, 121, dtype=torch.float64, device=generator.device)
    grid = torch.deg2rad(phi_deg + k / 4)
    W = torch.stack([grid.cos(), grid.sin()], dim=1)  # (241, 2) candidate directions
    rows = {}
    for name, d in laws.items():
        if name in QUADRATURE_DISTRIBUTIONS:
            psi = stationary_direction_quad(d, unit(phi_deg))
            rows[name] = StationaryRow(math.degrees(psi) - phi_deg, 0.0, "quadrature")
            continue
        best = []
        for _ in range(R):
            Z = d.sample((samples // 2, 1), generator)
            f_grid = profile_loss_on(W, Z.to(dev), (Z[:, 0] @ a).to(dev))[0]
            best.append(float(torch.rad2deg(grid[int(f_grid.argmin())])) - phi_deg)
        se = float(np.std(best, ddof=1) / math.sqrt(R))
        rows[name] = StationaryRow(float(np.mean(best)), max(se, GRID_STEP), "grid", tuple(best))
    return Stationary(rows)


@dataclass(frozen=True)
class CoarseRow:
    """E g per STE (``coarse``) at the stationary point (``v``, ``w_hat``), with radial part
    along ``w_hat`` and tangential part along its normal."""

    v: float
    w_hat: torch.Tensor
    coarse: dict[str, Estimate]

    def radial(self, ste: str) -> float:
        return float(self.coarse[ste].mean @ self.w_hat)

    def tangential(self, ste: str) -> float:
        return float(self.coarse[ste].mean @ torch.stack([-self.w_hat[1], self.w_hat[0]]))

    def se_bound(self) -> float:
        r"""A bound on the standard error of every radial and tangential part: the largest
        :math:`\sqrt{se_1^2 + se_2^2}` over the STEs (the variance of a unit projection of the
        mean is at most the trace of its covariance)."""
        return max(float(e.se.norm()) for e in self.coarse.values())

    def bound_text(self) -> str:
        """:meth:`se_bound` to the decimals of :meth:`parts` (``0.010``, not ``0.01``)."""
        bound = self.se_bound()
        return f"{bound:.{se_decimals(bound)}f}" if bound > 0 else "0"

    def parts(self) -> str:
        """Each STE's radial/tangential parts to the decimals :meth:`se_bound` leaves determined
        (:func:`stelib.rounding.se_decimals`; four where it is 0)."""
        bound = self.se_bound()
        spec = f"+.{se_decimals(bound) if bound > 0 else 4}f"
        return "  ".join(f"{s} {fmt(self.radial(s), spec)}/{fmt(self.tangential(s), spec)}"
                         for s in self.coarse)


@dataclass(frozen=True)
class CoarseAtStationary:
    """prop-gi-norelu for every law: the rows by law name."""

    rows: dict[str, CoarseRow]

    def __str__(self) -> str:
        """Two lines per law: v and the bound on the standard errors, then the radial/tangential
        parts of each STE to the digits that bound leaves determined, indented."""
        return "\n".join(
            f"{k:>11}: v = {r.v:.3f}; radial/tangential (standard errors <= {r.bound_text()}):"
            f"\n{'':13}{r.parts()}" for k, r in self.rows.items())


def coarse_at_stationary(laws: dict[str, Distribution], stationary: Stationary, *,
                         phi_deg: float, samples: int, generator: torch.Generator,
                         device=None) -> CoarseAtStationary:
    r""":math:`E g_\mu` of every STE at the stationary point :math:`(v_{\rm opt}, \hat w)`,
    :math:`|\hat w| = 1` at the angle ``phi_deg`` + the law's offset in ``stationary``, for the
    planar linear teacher ``unit(phi_deg)`` (chapter general_inputs, prop-gi-norelu):
    :math:`v_{\rm opt}` on ``samples`` draws, then the estimate on ``samples`` fresh draws."""
    laws = _laws(laws)
    samples = check_positive_int(samples, name="samples", minimum=2)
    dev = generator.device if device is None else as_device(device)
    rows = {}
    for name, d in laws.items():
        psi = math.radians(phi_deg + stationary.rows[name].offset)
        w_hat = torch.tensor([math.cos(psi), math.sin(psi)], dtype=torch.float64, device="cpu")
        prob = Problem(d, 1, labels="linear", a=unit(phi_deg))
        v_opt = optimal_v_on(w_hat[None], *prob.sample(samples, generator))[0]
        est = estimate(v_opt, w_hat, prob, samples=samples, generator=generator, device=dev).cpu()
        rows[name] = CoarseRow(float(v_opt[0]), w_hat, {s: est.coarse[s] for s in STE_NAMES})
    return CoarseAtStationary(rows)
