r"""Which straight-through estimators are proper? The checks of that chapter, for any registered STE.

An STE keeps the scale symmetry :math:`w \mapsto cw` when :math:`\mu'(cx) = \mu'(x)` for all
:math:`c > 0`, which holds exactly when :math:`\mu'` is constant on each half-line
(prop-proper-test). Under inputs whose pre-activations have a density the coarse gradient sees
:math:`\mu'` only up to null sets: it is unchanged almost surely exactly when :math:`\mu'` is
constant almost everywhere on each half-line. The grid columns below test the pointwise
condition, the sample-by-sample column the almost-sure one; for the piecewise continuous
derivatives of the catalogue they agree. This module turns that into tables:

* :func:`symmetry_row`: the test three ways for one STE -- on a grid of x and c
  (:math:`\max|\mu'(cx) - \mu'(x)|`), on the half-lines (:math:`\max_{x>0}|\mu'(x) - \mu'(1)|`
  and the same on x < 0), and sample by sample on the coarse gradients of a batch
  (common random numbers); the verdict ``keeps`` comes from the sample-by-sample numbers only;
* :func:`vanishing_row`: the vanishing radius on a minimising ray of the misspecified example
  (:func:`stelib.misspecified.vanishing_radii`) as one row;
* :func:`projected_coarse_grad`: the Monte Carlo mean of a projection :math:`d^\top g_\mu` with
  its own standard error (not the bound :math:`\mathrm{se}^\top|d|` of the coordinate errors);
* :func:`spurious_radial`: :math:`-M_1^-(|w|)`, the coefficient of the expected coarse gradient
  at Yin et al.'s spurious minima (prop-proper-yin);
* the chapter's checks, each a small frozen table that prints as the chapter shows it:
  :func:`symmetry_table`, :func:`formula_vs_monte_carlo` (prop-proper-ms-coarse,
  prop-proper-yin), :func:`vanishing_table` and :func:`radius_check` (prop-proper-stability),
  :func:`cgd_rest` (where CGD comes to rest), :func:`yin_minima` (prop-proper-yin (a), (b)) and
  :func:`digits_summary` (the digits run).

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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from stelib.core._validate import as_device, as_tensor, check_positive, check_positive_int
from stelib.core.gaussian import YinModel, spurious_minima_exist, spurious_minimizer_v
from stelib.core.misspecified import LinearTeacherModel, optimal_v, radial_coefficient, vanishing_radii
from stelib.core.montecarlo import Estimate, estimate
from stelib.core.network import coarse_grads
from stelib.core.quadrature import moments
from stelib.core.rounding import fmt, fmts
from stelib.core.ste import check_ste, surrogate_derivative
from stelib.core.train import History, population_cgd

if TYPE_CHECKING:
    from stelib.analyses.practice import PracticeResult

__all__ = ["RADIUS_GRID", "DigitsSummary", "FormulaCheck", "RadiusCheck", "Rest", "SymmetryTable",
           "VanishingTable", "YinMinima", "YinMinimaRow", "cgd_rest", "digits_summary",
           "formula_vs_monte_carlo", "projected_coarse_grad", "radial_curve", "radius_check",
           "spurious_radial", "symmetry_row", "symmetry_table", "vanishing_row", "vanishing_table",
           "yin_minima"]

DTYPE = torch.float64
RADIUS_GRID = (1e-3, 1e3, 241)  # r_min, r_max and number of log-spaced radii searched for zeros of R


def symmetry_row(ste: str, v, w, Z, y_star, *, scales: Sequence[float],
                 x=None) -> dict[str, object]:
    """The symmetry test for ``ste``: grid, half-lines and sample by sample.

    ``x`` (default: the 2001 points k/125 of [-8, 8], exact multiples so that x = 0 is one of
    them on every machine, where a ``linspace`` may give 0 or +-1e-16) is the grid of the derivative checks; ``scales`` the
    factors c. Returns ``ste``; ``grid_gap`` max over x, c of |mu'(cx) - mu'(x)|; ``halfline_gap``
    max over x > 0 of |mu'(x) - mu'(1)| and over x < 0 of |mu'(x) - mu'(-1)|; ``sample_gap`` max
    over c, samples and coordinates of |g(v, cw; Z) - g(v, w; Z)|; ``changed`` the number of
    samples whose coarse gradient changed for some c (of ``samples``); ``verdict`` "keeps" if
    ``sample_gap == 0.0`` exactly, else "breaks". The grid and half-line gaps test mu' pointwise;
    the samples, whose pre-activations have a density, cannot see a change of mu' on a null set
    (prop-proper-test), and a finite batch can only exhibit a break, never rule one out.
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
    ``zeros`` (the number of sign changes of R on the grid :data:`RADIUS_GRID`: 241 log-spaced
    radii of [1e-3, 1e3]), ``everywhere``, and the radial function at the ends of the range,
    ``r_small`` (|w| = 1e-3) and ``r_large`` (|w| = 1e3).
    """
    r_min, r_max, points = RADIUS_GRID
    found = vanishing_radii(ste, r_min=r_min, r_max=r_max, points=points)
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


def radial_curve(ste: str, norms) -> torch.Tensor:
    """The radial function R(|w|) of the misspecified example at the radii ``norms``."""
    norms = as_tensor(norms, name="norms", dtype=DTYPE)
    if not bool((norms > 0).all()):
        raise ValueError(f"norms must be > 0, got {norms}")
    return radial_coefficient(1.0 / norms, ste)


# --- The chapter's checks: each returns a small table that prints as the chapter shows it. ---

def _stes(stes) -> tuple[str, ...]:
    stes = (stes,) if isinstance(stes, str) else tuple(stes)
    if not stes:
        raise ValueError("stes=() is empty; give at least one registered STE name")
    for s in stes:
        check_ste(s)
    return stes


@dataclass(frozen=True)
class SymmetryTable:
    """:func:`symmetry_row` for several STEs, by name (``rows``)."""

    rows: dict[str, dict[str, object]]

    @property
    def agrees(self) -> bool:
        """The sample-by-sample verdict is "keeps" exactly for the STEs constant on each
        half-line of the grid (prop-proper-test). A derivative changed on a null set can make
        them differ: the samples do not see such a change, the grid may."""
        return all((r["verdict"] == "keeps") == (r["halfline_gap"] == 0) for r in self.rows.values())

    def __str__(self) -> str:
        lines = [f"{'STE':>10} | max|mu'(cx)-mu'(x)| | half-line gap | max|g(cw)-g(w)| | "
                 "  changed | verdict"]
        for s, r in self.rows.items():
            changed = f"{r['changed']}/{r['samples']}"  # samples whose coarse gradient changed
            lines.append(f"{s:>10} | {r['grid_gap']:19.3g} | {r['halfline_gap']:13.3g} | "
                         f"{r['sample_gap']:15.3g} | {changed:>9} | {r['verdict']}")
        lines.append(f"verdict agrees with 'constant on each half-line' for every STE: {self.agrees}")
        return "\n".join(lines)


def symmetry_table(stes: Sequence[str], v, w, Z, y_star, *, scales: Sequence[float]) -> SymmetryTable:
    """The symmetry test of prop-proper-test (chapter proper, "The symmetry test") for every STE
    in ``stes``: :func:`symmetry_row` at (``v``, ``w``) on the batch ``Z``, ``y_star``."""
    return SymmetryTable({s: symmetry_row(s, v, w, Z, y_star, scales=scales) for s in _stes(stes)})


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


@dataclass(frozen=True)
class VanishingTable:
    """:func:`vanishing_row` for several STEs, by name (``rows``), and the ``grid`` (r_min,
    r_max, points) on which the sign changes of R were counted."""

    rows: dict[str, dict[str, object]]
    grid: tuple[float, float, int] = RADIUS_GRID

    def __str__(self) -> str:
        lines = [f"{'STE':>10} | zeros | radius |w|  | R'(radius) | M0(radius) | stable | "
                 "R(1e-3)  | R(1e3)"]
        for s, r in self.rows.items():
            if r["radius"] is None:
                mid = f"{'none':>10} | {'':>10} | {'':>10} | {'':>6}"
            else:
                mid = (f"{r['radius']:10.6f} | {r['slope']:10.4g} | {r['tangential']:10.4f} | "
                       f"{str(r['stable']):>6}")
            lines.append(f"{s:>10} | {r['zeros']:>5} | {mid} | {r['r_small']:+.4f} | "
                         f"{r['r_large']:+.2e}")
        r_min, r_max, points = self.grid
        ends = [f"{r:.0e}".replace("e+0", "e").replace("e-0", "e-") for r in (r_min, r_max)]
        lines.append(f"zeros: sign changes of R on a grid of {points} log-spaced radii of "
                     f"[{ends[0]}, {ends[1]}]")
        return "\n".join(lines)

    def radius(self, ste: str) -> float | None:
        """The first vanishing radius of ``ste`` (None when it has none)."""
        return self.rows[ste]["radius"]


def vanishing_table(stes: Sequence[str]) -> VanishingTable:
    """Vanishing radius, slope, M_0, stability and the ends of the radial function on a
    minimising ray of the misspecified example (chapter proper, prop-proper-stability), for
    every STE in ``stes``."""
    return VanishingTable({s: vanishing_row(s) for s in _stes(stes)})


@dataclass(frozen=True)
class RadiusCheck:
    """Monte Carlo z of the radial part at ``factors`` times each STE's radius (``z``)."""

    z: dict[str, tuple[float, ...]]
    factors: tuple[float, ...]

    def __str__(self) -> str:
        where = ", ".join(f"{f:g}" for f in self.factors)
        return "\n".join(f"{s:>10}: MC z of the radial part at {where} x radius: "
                         f"{zs[0]:+6.2f}, " + ", ".join(f"{z:+7.1f}" for z in zs[1:])
                         for s, zs in self.z.items())


def radius_check(model, table: VanishingTable, *, samples: int, generator: torch.Generator,
                 factors: Sequence[float] = (1.0, 0.8, 1.25), device=None) -> RadiusCheck:
    r"""Each vanishing radius of ``table`` checked by Monte Carlo (chapter proper): at
    :math:`v = 2\varphi_0|a|`, :math:`w = f r_0 \hat a` for each factor :math:`f`, the radial
    part :math:`\hat a^\top\bar g` of ``samples`` draws over its standard error
    (:func:`projected_coarse_grad`). Approximately a standard normal draw at :math:`f = 1` if
    the radius is right, negative inside and positive outside for a stable radius
    (prop-proper-stability)."""
    fs = tuple(check_positive(f, name="factors") for f in factors)
    if not fs:
        raise ValueError("factors=() is empty; give at least one factor > 0")
    samples = check_positive_int(samples, name="samples", minimum=2)
    a_hat = model.a / model.a.norm()
    v_opt = optimal_v(a_hat, model.a)  # 2 phi(0) |a|
    out = {}
    for s, r in table.rows.items():
        if r["radius"] is None:
            continue
        zs = []
        for f in fs:
            est = projected_coarse_grad(v_opt, f * r["radius"] * a_hat, model, s, a_hat,
                                        samples=samples, generator=generator, device=device)
            zs.append((est.mean / est.se).item())
        out[s] = tuple(zs)
    return RadiusCheck(out, fs)


@dataclass(frozen=True)
class Rest:
    """Where population CGD comes to rest: the ``history`` of all runs, the run indices of each
    STE (``runs``) and the vanishing ``table`` the runs are measured against."""

    history: History
    runs: dict[str, torch.Tensor]
    table: VanishingTable

    def final_angle(self, ste: str) -> float:
        """Largest final angle (rad) of the STE's runs to the nearer minimising ray."""
        th = self.history.theta[-1, self.runs[ste]]
        return torch.minimum(th, math.pi - th).max().item()

    def relative(self, ste: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Final |w| / radius of each run and its change over the last recorded interval."""
        wn, r0 = self.history.w_norm[:, self.runs[ste]], self.table.radius(ste)
        return wn[-1] / r0, (wn[-1] - wn[-2]) / r0

    @property
    def arrived(self) -> list[bool]:
        """Per run of an STE with a radius: final |w| within 1 % of it."""
        return [bool(abs(x - 1) < 1e-2) for s in self.runs if self.table.radius(s) is not None
                for x in self.relative(s)[0]]

    def __str__(self) -> str:
        lines = []
        for s in self.runs:
            th = self.final_angle(s)
            if self.table.radius(s) is None:
                wn = self.history.w_norm[-1, self.runs[s]]
                lines.append(f"{s:>10}: no radius; final |w| {wn.min():.4g} to {wn.max():.4g}, "
                             f"final angle to the ray {fmt(th, '.1e')} rad")
                continue
            rel, drift = self.relative(s)
            lines.append(f"{s:>10}: final |w| / radius = {', '.join(f'{x:.6f}' for x in rel)};")
            lines.append(f"{'':10}  last change {fmts(drift, '+.0e')}; final angle to the ray "
                         f"{fmt(th, '.0e')} rad")
        return "\n".join(lines)


def cgd_rest(a, table: VanishingTable, *, lr: float, steps: int, device=None) -> Rest:
    r"""Population CGD of the misspecified example in the plane, teacher ``a`` (2,), for every
    STE of ``table`` (chapter proper, "Where coarse gradient descent comes to rest").

    Three runs per STE, from :math:`v = 0` and :math:`w` at 0.5 and 2 times its radius (or
    :math:`|w|` = 0.5 and 2 without one) at angles 0.6 and -0.9 rad from :math:`\hat a`, and at
    the radius 2.8 rad from it (near the opposite ray); ``steps`` steps of ``lr``, recorded
    every ``steps // 100``, all runs in one batched call on ``device``.
    """
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    if a.shape[0] != 2:
        raise ValueError(f"a has shape {tuple(a.shape)}; the runs are planar, need shape (2,)")
    steps = check_positive_int(steps, name="steps", minimum=100)
    dev = torch.device("cpu") if device is None else as_device(device)
    angles = torch.tensor([0.6, -0.9, 2.8], dtype=DTYPE, device=a.device) + torch.atan2(a[1], a[0])
    dirs = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    start = torch.tensor([[0.5], [2.0], [1.0]], dtype=DTYPE, device=a.device)  # times the radius
    stes = tuple(table.rows)
    W0 = torch.cat([dirs * start * (table.radius(s) or 1.0) for s in stes])  # (3 k, 2)
    labels = tuple(s for s in stes for _ in dirs)
    h = population_cgd(LinearTeacherModel(a.to(dev)), torch.zeros(len(W0), 1, device=dev),
                       W0.to(dev), ste=labels, lr=lr, steps=steps,
                       record_every=steps // 100).cpu()
    return Rest(h, {s: h.select(s) for s in stes}, table)


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


@dataclass(frozen=True)
class DigitsSummary:
    """The digits run of the chapter: final test accuracy (%) ``acc`` +- ``acc_sd`` over the
    seeds, per seed ``last`` (stes, seeds), first-layer norm ``growth`` (stes, seeds), and the
    ``verdicts`` ("keeps"/"breaks") of the symmetry test, for the STEs ``stes``."""

    stes: tuple[str, ...]
    acc: torch.Tensor
    acc_sd: torch.Tensor
    last: torch.Tensor
    growth: torch.Tensor
    verdicts: dict[str, str]
    epochs: int

    @property
    def best(self) -> str:
        """The STE with the best mean accuracy."""
        return self.stes[int(self.acc.argmax())]

    @property
    def tied(self) -> list[str]:
        """The STEs whose best seed reaches the worst seed of the best STE."""
        b = int(self.acc.argmax())
        return [s for j, s in enumerate(self.stes) if self.last[j].max() >= self.last[b].min()]

    def growth_bounds(self) -> tuple[float, float] | None:
        """(least growth over the STEs that keep the symmetry, largest over those that break
        it); None unless both kinds ran."""
        keep = [j for j, s in enumerate(self.stes) if self.verdicts[s] == "keeps"]
        brk = [j for j, s in enumerate(self.stes) if self.verdicts[s] == "breaks"]
        if not (keep and brk):
            return None
        return self.growth[keep].min().item(), self.growth[brk].max().item()

    def __str__(self) -> str:
        lines = [f"test accuracy (%) after {self.epochs} epochs, {self.last.shape[1]} seeds; "
                 "norm growth of the first layer"]
        lines += [f"{s:>10}: {self.acc[j]:5.1f} ± {self.acc_sd[j]:3.1f} (min "
                  f"{self.last[j].min():5.1f}, max {self.last[j].max():5.1f}) | growth "
                  f"{self.growth[j].min():5.1f} to {self.growth[j].max():5.1f} | "
                  f"{self.verdicts[s]} symmetry" for j, s in enumerate(self.stes)]
        return "\n".join(lines)


def digits_summary(result: PracticeResult, symmetry: SymmetryTable) -> DigitsSummary:
    """Accuracy and first-layer norm growth of a one-bit ``result`` of
    :func:`stelib.practice.train` (chapter proper, "A short run on the digits"), with each
    STE's verdict from ``symmetry``."""
    if len(result.bits) != 1:
        raise ValueError(f"result.bits={result.bits!r}; need the result of one bit width")
    acc, acc_sd = result.final("test_accuracy")
    norms = result.weight_norms[0, :, :, 0]  # (stes, seeds, epochs + 1), first layer
    return DigitsSummary(tuple(result.stes), 100 * acc[0], 100 * acc_sd[0],
                         100 * result.test_accuracy[0, :, :, -1], norms[..., -1] / norms[..., 0],
                         {s: symmetry.rows[s]["verdict"] for s in result.stes},
                         result.test_accuracy.shape[-1] - 1)
