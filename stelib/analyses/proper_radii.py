r"""Where the coarse gradient vanishes in the misspecified example, and where coarse gradient
descent comes to rest (chapter *Which straight-through estimators are proper?*).

On a minimising ray of the misspecified example the expected coarse gradient of an STE vanishes
where the radial function R does (:func:`stelib.misspecified.vanishing_radii`); a vanishing
radius is stable when R changes sign from - to + there (prop-proper-stability):

* :func:`vanishing_row`, :func:`vanishing_table`: the vanishing radius, slope, :math:`M_0`,
  stability and the ends of R per STE (:data:`RADIUS_GRID`: the radii searched);
* :func:`radial_curve`: R at given radii, for the chapter's figure;
* :func:`step_rates`: the step size times each rate of prop-proper-stability at each radius
  (CGD with that step is stable there when each product is below 2);
* :func:`radius_check`: each radius checked by Monte Carlo
  (:func:`stelib.proper_montecarlo.projected_coarse_grad`);
* :func:`cgd_rest`: population CGD of every STE, measured against the radii (section "Where
  coarse gradient descent comes to rest").

The tables are small frozen results that print as the chapter shows them.

Example
-------
>>> row = vanishing_row("crelu")
>>> row["zeros"], round(row["radius"], 4), row["stable"]
(1, 0.7632, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.proper_montecarlo import DTYPE, _stes, projected_coarse_grad
from stelib.core._validate import as_device, as_tensor, check_positive, check_positive_int
from stelib.core.misspecified import LinearTeacherModel, optimal_v, radial_coefficient, vanishing_radii
from stelib.core.rounding import FLOOR, fmt, fmts
from stelib.core.train import History, population_cgd

__all__ = ["RADIUS_GRID", "RadiusCheck", "Rest", "StepRates", "VanishingTable", "cgd_rest", "radial_curve",
           "radius_check", "step_rates", "vanishing_row", "vanishing_table"]

RADIUS_GRID = (1e-3, 1e3, 241)  # r_min, r_max and number of log-spaced radii searched for zeros of R


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


def radial_curve(ste: str, norms) -> torch.Tensor:
    """The radial function R(|w|) of the misspecified example at the radii ``norms``."""
    norms = as_tensor(norms, name="norms", dtype=DTYPE)
    if not bool((norms > 0).all()):
        raise ValueError(f"norms must be > 0, got {norms}")
    return radial_coefficient(1.0 / norms, ste)


@dataclass(frozen=True)
class VanishingTable:
    """:func:`vanishing_row` for several STEs, by name (``rows``), and the ``grid`` (r_min,
    r_max, points) on which the sign changes of R were counted. An STE whose R is 0 at every
    radius shows ``everywhere`` in the radius column, one without a zero ``none``."""

    rows: dict[str, dict[str, object]]
    grid: tuple[float, float, int] = RADIUS_GRID

    def __str__(self) -> str:
        lines = [f"{'STE':>10} | zeros | radius |w|  | R'(radius) | M0(radius) | stable | "
                 "R(1e-3)  | R(1e3)"]
        for s, r in self.rows.items():
            if r["radius"] is None:  # no zero, or R = 0 at every radius (prop-proper-halfline)
                mid = f"{'everywhere' if r['everywhere'] else 'none':>10} | {'':>10} | {'':>10} | {'':>6}"
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
class StepRates:
    """The step ``lr`` times each rate of prop-proper-stability at each STE's first radius
    (``rows``: (v, radial, direction) per STE with a radius: the rates of v, of |w| and of the
    direction of w), the flow stability of the radius (``flow_stable``), and the teacher's norm
    ``a_norm``. Printed, the columns are ``lr*rate v``, ``lr*rate radial``, ``lr*rate direction``."""

    rows: dict[str, tuple[float, float, float]]
    flow_stable: dict[str, bool]
    lr: float
    a_norm: float

    def stable(self, ste: str) -> bool:
        """CGD with step ``lr`` is linearly stable at the radius: the flow is, and each product
        is below 2."""
        return self.flow_stable[ste] and max(self.rows[ste]) < 2

    @property
    def largest(self) -> float | None:
        """The largest product over all STEs and rates (None when no STE has a radius)."""
        return max((max(r) for r in self.rows.values()), default=None)

    @property
    def verdict(self) -> str:
        """Whether every radius is linearly stable for CGD at this step, as a phrase the chapter
        glues, with the largest product against the bound 2."""
        if not self.rows:
            return "no STE has a radius, so there is nothing to be stable"
        big = f"the largest product of lr and a rate is {self.largest:.2f}"
        flow = [s for s in self.rows if not self.flow_stable[s]]
        past = [s for s in self.rows if max(self.rows[s]) >= 2]
        if not flow and not past:
            return f"every radius is stable for CGD too: {big}, below the bound 2"
        parts = [f"the flow is not stable at the radius of {', '.join(flow)}"] if flow else []
        if past:
            parts.append(f"CGD is not stable at the radius of {', '.join(past)}: {big}, not below the bound 2")
        return "; ".join(parts)

    def __str__(self) -> str:
        lines = [f"lr x rate at the radius, lr = {self.lr:g}, |a| = {self.a_norm:.4g} "
                 "(CGD stable: flow stable, each < 2)",
                 f"{'STE':>10} | lr*rate v | lr*rate radial | lr*rate direction | CGD stable"]
        lines += [f"{s:>10} | {r[0]:9.3g} | {r[1]:14.3g} | {r[2]:17.3g} | {self.stable(s)}"
                  for s, r in self.rows.items()]
        return "\n".join(lines)


def step_rates(table: VanishingTable, a, *, lr: float) -> StepRates:
    r"""The step ``lr`` times each rate of prop-proper-stability at the first radius :math:`r_0`
    of each STE of ``table`` that has one, for the teacher ``a`` of the misspecified example:
    :math:`\eta/2` (for :math:`v`), :math:`2\eta\varphi_0|a|^2 R'(r_0)` (the radius) and
    :math:`2\eta\varphi_0|a|^2 M_0(r_0)/r_0` (the direction). CGD with step :math:`\eta` is
    linearly stable at the radius when the flow is and each product is below 2.

    >>> rates = step_rates(vanishing_table(["crelu"]), [2.0, 1.0], lr=0.8)
    >>> [round(x, 3) for x in rates.rows["crelu"]], rates.stable("crelu")
    ([0.4, 0.622, 1.693], True)
    """
    lr = check_positive(lr, name="lr")
    a_norm = float(as_tensor(a, name="a", ndim=1, dtype=DTYPE).norm())
    if a_norm == 0:
        raise ValueError(f"a={a!r} is zero; the misspecified example needs a teacher a != 0")
    k = 2 * lr * a_norm**2 / math.sqrt(2 * math.pi)  # 2 eta phi(0) |a|^2
    rows = {s: (lr / 2, k * r["slope"], k * r["tangential"] / r["radius"])
            for s, r in table.rows.items() if r["radius"] is not None}
    return StepRates(rows, {s: bool(table.rows[s]["stable"]) for s in rows}, lr, a_norm)


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
    STE (``runs``), the vanishing ``table`` the runs are measured against, and ``next_w`` (R, n):
    each run's w after one more step, so that a cycle of any period shows as a move."""

    history: History
    runs: dict[str, torch.Tensor]
    table: VanishingTable
    next_w: torch.Tensor
    rates: StepRates | None = None  #: lr times the rates at each radius (None: not judged)

    def stable(self, ste: str) -> bool:
        """The STE's radius is linearly stable for CGD at this step (:meth:`StepRates.stable`;
        True when no ``rates`` were given)."""
        return self.rates is None or self.rates.stable(ste)

    def final_angle(self, ste: str) -> float:
        """Largest final angle (rad) of the STE's runs to the nearer minimising ray."""
        th = self.history.theta[-1, self.runs[ste]]
        return torch.minimum(th, math.pi - th).max().item()

    def relative(self, ste: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Final |w| / radius of each run and the change of |w| / radius one more step makes."""
        idx, r0 = self.runs[ste], self.table.radius(ste)
        wn = self.history.w_norm[-1, idx]
        return wn / r0, (self.next_w[idx].norm(dim=1) - wn) / r0

    def move(self, ste: str) -> torch.Tensor:
        """|w after one more step - final w| / radius of each run: 0 only at a fixed point (a
        run that cycles, even with constant |w| and angle, moves)."""
        idx = self.runs[ste]
        return (self.next_w[idx] - self.history.w[idx]).norm(dim=1) / self.table.radius(ste)

    def _with_radius(self) -> list[str]:
        return [s for s in self.runs if self.table.radius(s) is not None]

    @property
    def arrived(self) -> list[bool]:
        """Per run of an STE with a radius: final |w| within 1 % of it (it may still move)."""
        return [bool(abs(x - 1) < 1e-2) for s in self._with_radius() for x in self.relative(s)[0]]

    @property
    def fixed(self) -> list[bool]:
        """Per run of an STE with a radius: arrived, and one more step moves w by less than
        ``FLOOR`` (1e-12) radii, which the chapter prints as ``<1e-12``."""
        moved = [bool(x < FLOOR) for s in self._with_radius() for x in self.move(s)]
        return [a and m for a, m in zip(self.arrived, moved, strict=True)]

    @property
    def at_rest(self) -> list[bool]:
        """Per run of an STE with a radius: :attr:`fixed`, at a radius that is linearly stable for
        CGD at this step (:meth:`stable`). A run fixed at an unstable radius sits exactly where
        any perturbation of it grows: a fixed point, not a rest point."""
        ok = [self.stable(s) for s in self._with_radius() for _ in self.runs[s]]
        return [f and k for f, k in zip(self.fixed, ok, strict=True)]

    def not_at_rest(self) -> str:
        """The STEs with a radius that have a run not :attr:`at_rest`, as the chapter glues them
        ("none" when every run is at rest)."""
        rest, out = iter(self.at_rest), []
        for s in self._with_radius():
            if not all([next(rest) for _ in self.runs[s]]):
                out.append(s)
        return ", ".join(out) or "none"

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
            lines.append(f"{s:>10}: final |w| / radius = {', '.join(f'{x:.6f}' for x in rel)}; "
                         f"angle {fmt(th, '.0e')} rad")
            lines.append(f"{'':10}  one more step: |w| {fmts(drift, '+.0e')}; w moves "
                         f"{fmts(self.move(s), '.0e')}")
            if not self.stable(s):
                lines.append(f"{'':10}  unstable for CGD at this lr (lr x rate "
                             f"{max(self.rates.rows[s]):.3g} >= 2): not a rest point")
        return "\n".join(lines)


def cgd_rest(a, table: VanishingTable, *, lr: float, steps: int, device=None) -> Rest:
    r"""Population CGD of the misspecified example in the plane, teacher ``a`` (2,), for every
    STE of ``table`` (chapter proper, "Where coarse gradient descent comes to rest").

    Three runs per STE, from :math:`v = 0` and :math:`w` at 0.5 and 2 times its radius (or
    :math:`|w|` = 0.5 and 2 without one) at angles 0.6 and -0.9 rad from :math:`\hat a`, and at
    the radius 2.8 rad from it (near the opposite ray); ``steps`` steps of ``lr``, recorded
    every ``steps // 100``, all runs in one batched call on ``device``, and one more step from
    the final point (:attr:`Rest.next_w`), which tells a run at rest from one that still moves.
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
    model = LinearTeacherModel(a.to(dev))
    h = population_cgd(model, torch.zeros(len(W0), 1, device=dev), W0.to(dev), ste=labels,
                       lr=lr, steps=steps, record_every=steps // 100)
    nxt = population_cgd(model, h.v, h.w, ste=labels, lr=lr, steps=1)  # one more step
    h = h.cpu()
    rates = step_rates(table, a, lr=lr)
    return Rest(h, {s: h.select(s) for s in stes}, table, nxt.w.cpu(), rates)
