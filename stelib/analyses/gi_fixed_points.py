r"""The clipped-ReLU fixed point under general input laws (book: the chapter on general inputs).

The open question of the chapter "Beyond Gaussian inputs" (section "The open question: is the
cReLU fixed point on the stationary ray?"): where the expected cReLU coarse gradient and
:math:`\partial L/\partial v` vanish together (eq-gi-fixed) for the planar linear teacher, and
whether that point lies on the stationary ray of :mod:`stelib.gi_stationary`:

* :func:`fixed_point_angles`: by quadrature, the angle from :math:`\hat a` to the fixed point
  for many teacher directions (prop-gi-exact, prop-gi-reflect);
* :func:`crelu_ray_scan`: the vanishing points of the cReLU coarse gradient on the ray of
  :math:`a`, by quadrature (a small frozen result that prints as the chapter shows it);
* :func:`crelu_ray_roots`: the same for a rotation-invariant law (Gaussian, Student-t), where
  only the radial part is left (prop-gi-reflect) and is a one-dimensional integral;
* :func:`crelu_fixed_points`: for every law, by Monte Carlo
  (:func:`stelib.gi_samples.crelu_fixed_point_mc`) and, where it applies, by quadrature
  (:func:`stelib.gi_quadrature.crelu_fixed_point_quad`), measured from the stationary
  direction; a small frozen table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.integrate
import scipy.optimize
import scipy.stats
import torch

from stelib.analyses.gi_laws import _laws, _t_bound, angle_deg, unit
from stelib.analyses.gi_quadrature import (
    GAUSSIAN_RADIUS,
    QUADRATURE_DISTRIBUTIONS,
    crelu_fixed_point_quad,
    linear_teacher_quad,
)
from stelib.analyses.gi_samples import crelu_fixed_point_mc
from stelib.core._validate import as_tensor, check_positive_int
from stelib.core.distributions import Distribution
from stelib.core.rounding import FLOOR, fmt, fmt_se

if TYPE_CHECKING:
    from stelib.analyses.gi_stationary import Stationary

__all__ = ["DRIFT_TOL", "FixedPointRow", "FixedPoints", "RayScan", "crelu_fixed_points", "crelu_ray_roots",
           "crelu_ray_scan", "fixed_point_angles"]

#: Largest relative drift of a settled fixed-point iteration. With the chapter's parameters the
#: drifts are below 3e-4 for every law (4e-3 for an anisotropic Gaussian with scale ratio 100);
#: an iteration whose step is too long (lr 10 on Gaussian inputs) drifts by tens of percent.
DRIFT_TOL = 1e-2


def fixed_point_angles(dist: Distribution, phis_deg) -> np.ndarray:
    r"""Signed angle (deg) from :math:`\hat a` to the cReLU fixed point's :math:`w`
    (:func:`crelu_fixed_point_quad`) for each teacher direction :math:`a` = ``unit(phi)``,
    ``phi`` in ``phis_deg`` (chapter general_inputs, prop-gi-exact and prop-gi-reflect)."""
    phis = as_tensor(phis_deg, name="phis_deg", ndim=1, dtype=torch.float64).numpy()
    out = []
    for p in np.radians(phis):
        a_p = [math.cos(p), math.sin(p)]
        out.append(float(angle_deg(crelu_fixed_point_quad(dist, a_p)[1], a_p)))
    return np.array(out)


@dataclass(frozen=True)
class RayScan:
    r"""The clipped-ReLU expected coarse gradient (over :math:`v`, at the optimal :math:`v`) on the
    ray :math:`w = r\hat a`: its radial and tangential parts on the grid ``radii``, and at each
    radius where the radial part changes sign (a root, refined by ``brentq``) the tangential part."""

    name: str
    radii: np.ndarray
    radial: np.ndarray
    tangential: np.ndarray
    roots: tuple[float, ...]
    tangential_at_roots: tuple[float, ...]

    def reading(self) -> str:
        """What the scan says about a vanishing point on the ray, as a clause the chapter glues:
        where the radial part changes sign and whether the tangential part is zero there (below
        the rounding floor :data:`stelib.rounding.FLOOR`, quadrature to rounding)."""
        if not self.roots:
            return (f"the radial part does not change sign on the {len(self.radii)} radii scanned, "
                    "so the scan finds no vanishing point on the ray")
        zero = [abs(t) < FLOOR for t in self.tangential_at_roots]
        at = ", ".join(f"r = {r:.4f} (tangential part {fmt(t, '+.2e')})"
                       for r, t in zip(self.roots, self.tangential_at_roots, strict=True))
        times = "once" if len(self.roots) == 1 else f"{len(self.roots)} times"
        if not any(zero):
            verdict = (f"not zero there: the scan finds no vanishing point on the ray between r = "
                       f"{self.radii[0]:.3g} and {self.radii[-1]:.3g}")
        elif all(zero):
            verdict = "zero there to rounding: a vanishing point on the ray"
        else:
            verdict = "zero to rounding at some of them only"
        return f"the radial part changes sign {times}, at {at}, and the tangential part is {verdict}"

    def __str__(self) -> str:
        """The scan on one line, then each root on an indented line of its own."""
        at = "".join(f";\n{'':10}r = {r:.4f}: tangential part {fmt(t, '+.2e')}"
                     for r, t in zip(self.roots, self.tangential_at_roots, strict=True))
        return (f"{self.name:>8}: radial part changes sign {len(self.roots)} time(s) on "
                f"{len(self.radii)} radii from {self.radii[0]:.3g} to {self.radii[-1]:.3g}" + at)


def _check_radii(radii) -> np.ndarray:
    radii = as_tensor(radii, name="radii", ndim=1, dtype=torch.float64).numpy()
    if radii.size < 2 or not (radii > 0).all() or not (np.diff(radii) > 0).all():
        raise ValueError(f"radii={radii.tolist()} must be at least two increasing numbers > 0")
    return radii


def _sign_change_roots(f, radii: np.ndarray, values: np.ndarray) -> list[float]:
    """Roots of ``f``, refined by ``brentq``, between the grid points where ``values`` change sign."""
    return [scipy.optimize.brentq(f, radii[i], radii[i + 1], xtol=1e-14)
            for i in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)]


def crelu_ray_scan(dist: Distribution, a, radii, *, name: str = "") -> RayScan:
    r"""Scan the ray :math:`\hat a` for vanishing points of the clipped-ReLU coarse gradient, by
    quadrature (:func:`linear_teacher_quad`; product laws, n = 2). A vanishing point on the ray
    needs both parts zero at one radius: where the radial part changes sign between grid points,
    the root is refined and the tangential part printed there (chapter general_inputs)."""
    a = np.asarray(a, dtype=np.float64)
    radii = _check_radii(radii)
    a_hat = a / np.linalg.norm(a)
    u = np.array([-a_hat[1], a_hat[0]])

    def parts(r):
        g = linear_teacher_quad(dist, a, r * a_hat)["crelu"]
        return float(g @ a_hat), float(g @ u)

    rad, tan = np.array([parts(r) for r in radii]).T
    roots = _sign_change_roots(lambda r: parts(r)[0], radii, rad)
    return RayScan(name or dist.describe(), radii, rad, tan, tuple(roots), tuple(parts(r)[1] for r in roots))


def _marginal(dist: Distribution):
    """The law of x = a_hat^T z (scipy), the same for every unit a_hat: rotation-invariant laws only."""
    if (not isinstance(dist, Distribution) or dist.name not in ("gaussian", "student_t")
            or not dist.rotation_invariant):
        what = dist.describe() if isinstance(dist, Distribution) else type(dist).__name__
        raise ValueError(f"dist={what}: crelu_ray_roots needs a rotation-invariant law, 'gaussian' "
                         "or 'student_t' with radial=True")
    if dist.name == "gaussian":
        return scipy.stats.norm()
    return scipy.stats.t(dist.df, scale=math.sqrt((dist.df - 2.0) / dist.df))  # unit variance


def crelu_ray_roots(dist: Distribution, radii) -> tuple[float, ...]:
    r"""The radii on the ray :math:`\hat a` where the clipped-ReLU radial part changes sign, at
    the optimal :math:`v`, for a rotation-invariant law (chapter general_inputs). By
    prop-gi-reflect the tangential part is zero on the ray, so each is a vanishing point there.

    With :math:`x = \hat a^\top z`, :math:`\kappa = 1/r` and :math:`v = 2|a|E[x^+]`
    (prop-gi-ray), the radial part of eq-gi-fixed is :math:`|a|\,q(\kappa)` with
    :math:`q(\kappa) = 2E[x^+]\,E[x\,1\{0 < x < \kappa\}] - E[x^2 1\{0 < x < \kappa\}]` (proof
    of prop-gi-reflect): one-dimensional integrals over the law of :math:`x`
    (``scipy.integrate.quad``), the same for every direction and size of :math:`a`. Roots are
    refined by ``brentq`` between the points of ``radii`` (at least two, increasing, > 0) where
    :math:`q` changes sign; none is returned when it does not change sign on them."""
    law, radii = _marginal(dist), _check_radii(radii)

    def moment(k: int, hi: float) -> float:
        return scipy.integrate.quad(lambda x: x**k * law.pdf(x), 0.0, hi, epsabs=1e-14, epsrel=1e-13)[0]

    half_mean = moment(1, math.inf)  # E[x^+]

    def q(r: float) -> float:
        return 2 * half_mean * moment(1, 1 / r) - moment(2, 1 / r)

    return tuple(_sign_change_roots(q, radii, np.array([q(r) for r in radii])))


@dataclass(frozen=True)
class FixedPointRow:
    """A law's cReLU fixed point: ``angle`` (deg) to the stationary direction and its ``se``
    (the replicates' standard error combined in quadrature with the stationary direction's
    uncertainty), the mean ``radius`` |w| and the quadrature angle ``quad`` (NaN where none
    applies); ``radius_se`` the replicates' standard error of the radius, ``quad_radius`` the
    quadrature fixed point's |w| (NaN where none applies), ``reference`` (deg) the stationary
    direction's angle from a_hat (0 for symmetric laws) and ``spread_se`` the replicates'
    standard error of the angle alone (NaN: not recorded); ``drift`` the largest relative drift
    of the replicates' iterations (:func:`crelu_fixed_point_mc`; NaN: not recorded)."""

    angle: float
    se: float
    radius: float
    quad: float
    radius_se: float = math.nan
    quad_radius: float = math.nan
    reference: float = 0.0
    spread_se: float = math.nan
    replicates: int = 0  #: samples behind the standard errors (0: unknown)
    drift: float = math.nan

    @property
    def settled(self) -> bool:
        """Every replicate's iteration settled: its last two quarters' mean iterates differ by at
        most :data:`DRIFT_TOL` of |w| (True when the drift was not recorded)."""
        return not self.drift > DRIFT_TOL

    @property
    def compared_radius(self) -> float:
        """The radius to compare a run with: the Monte Carlo one where the iteration settled, else
        the quadrature one (NaN where none applies)."""
        return self.radius if self.settled else self.quad_radius

    @property
    def by_quadrature(self) -> bool:
        """The verdict :attr:`on_ray` is the quadrature's (the law has one)."""
        return not math.isnan(self.quad)

    @property
    def on_ray(self) -> bool:
        """Where quadrature applies, its angle is below 1e-9 deg (quadrature is exact to rounding,
        the replicates only estimate it); otherwise the Monte Carlo angle is zero within the 97.5 %
        quantile of Student's t with ``replicates`` - 1 degrees of freedom times its standard
        error (two standard errors when ``replicates`` is unknown)."""
        if self.by_quadrature:
            return abs(self.quad) < 1e-9
        k = _t_bound(self.replicates)
        return abs(self.angle) < k * self.se

    @property
    def from_a(self) -> float:
        """Signed angle (deg) from a_hat to the fixed point: ``angle`` + ``reference``."""
        return self.angle + self.reference


def _or_na(x: float, spec: str) -> str:
    return "n/a" if math.isnan(x) else fmt(x, spec)


@dataclass(frozen=True)
class FixedPoints:
    """The cReLU fixed point for every law, by name."""

    rows: dict[str, FixedPointRow]

    def __str__(self) -> str:
        """Two lines per law: the angle (and, where the stationary direction is not a_hat, the
        angle from a_hat), then the radius with its standard error, indented (88 columns)."""
        lines = []
        for k, r in self.rows.items():
            head = (f"{k:>11}: angle {r.angle:+.3f} +- {r.se:.3f} deg "
                    f"(quadrature {_or_na(r.quad, '+.4f')})")
            if r.reference != 0:
                head += f"; from a: {r.from_a:+.2f} +- {_or_na(r.spread_se, '.2f')} deg"
            radius = (f"{r.radius:.4f}" if math.isnan(r.radius_se) else
                      fmt_se(r.radius, r.radius_se, sep=" +- "))
            lines += [head, f"{'':13}|w| = {radius} (quadrature {_or_na(r.quad_radius, '.4f')})"]
            if not r.settled:
                lines.append(f"{'':13}not settled: the last two quarters of the iterates differ by "
                             f"{r.drift:.0%} of |w|")
        return "\n".join(lines)

    def place(self, name: str) -> str:
        """Where a law's fixed point lies against its stationary direction and the teacher
        direction, as a clause the chapter glues ("the fixed point ..."): the angles in degrees and
        in standard errors, each tested like :attr:`FixedPointRow.on_ray`."""
        r = self.rows[name]
        if not r.settled:
            return "the fixed-point iteration did not settle, so there is no fixed point to place"
        k = _t_bound(r.replicates)
        z = abs(r.angle) / r.se
        on = z < k  # as FixedPointRow.on_ray: inside the bound, not on it
        if r.reference == 0:  # symmetric: the stationary direction is the teacher direction
            return (f"the stationary direction is the teacher direction, and the fixed point "
                    f"{'is on it within error' if on else 'misses it'} ({abs(r.angle):.2f} degrees,"
                    f" {z:.1f} standard errors)")
        z_a = abs(r.from_a) / r.spread_se
        head = (f"the fixed point is on its stationary direction within error ({z:.1f} of its"
                " uncertainties)" if on else
                f"the fixed point misses its stationary direction by {abs(r.angle):.2f} degrees"
                f" ({z:.1f} of its uncertainties)")
        tail = (f" and lies {abs(r.from_a):.2f} degrees from the teacher direction ({z_a:.1f}"
                " standard errors)")
        between = r.from_a * r.reference > 0 and abs(r.from_a) < abs(r.reference)
        if not on and between:
            tail += ", between the two: nearer the teacher direction than the minimiser" if (
                abs(r.from_a) < abs(r.angle)) else ", between the two"
        return head + tail

    def radius_against(self, name: str, reference: float, what: str) -> str:
        """A law's Monte Carlo radius against a ``reference`` radius, as a clause the chapter glues:
        "z of its standard errors above/below ``what``", and whether that is within the 95 %
        interval (Student's t with replicates - 1 degrees of freedom)."""
        r = self.rows[name]
        if not r.settled:
            return f"not comparable with {what}: the fixed-point iteration did not settle"
        if math.isnan(reference):
            return f"not comparable with {what}: there is none"
        k = _t_bound(r.replicates)
        z = (r.radius - reference) / r.radius_se
        inside = "within" if abs(z) <= k else "outside"
        return (f"{abs(z):.1f} of its standard errors {'above' if z > 0 else 'below'} {what}, "
                f"{inside} the 95 % interval")

    def unsettled(self) -> list[str]:
        """The laws whose fixed-point iteration did not settle (their numbers are no fixed point)."""
        return [k for k, r in self.rows.items() if not r.settled]

    def agreement(self) -> dict[str, str]:
        """How the Monte Carlo fixed points compare with the quadrature ones, as phrases the chapter
        glues: ``angle`` and ``radius``, each the largest |Monte Carlo - quadrature| in standard
        errors over the laws with a quadrature whose iteration settled."""
        rows = [r for r in self.rows.values() if r.by_quadrature and r.settled]
        left = [k for k in self.unsettled() if self.rows[k].by_quadrature]
        note = f" (not counting {', '.join(left)}: no settled iteration)" if left else ""
        out = {}
        for key, z in (("angle", [abs(r.angle - r.quad) / r.se for r in rows]),
                       ("radius", [abs(r.radius - r.quad_radius) / r.radius_se for r in rows])):
            z = [x for x in z if not math.isnan(x)]
            if not z:
                out[key] = "no settled Monte Carlo fixed point can be compared with the quadrature" + note
            elif max(z) <= 2:
                out[key] = (f"the Monte Carlo replicates agree with the quadrature within {max(z):.1f}"
                            f" standard errors{note}")
            else:
                out[key] = (f"the Monte Carlo replicates differ from the quadrature by up to "
                            f"{max(z):.1f} standard errors{note}")
        return out


def crelu_fixed_points(laws: dict[str, Distribution], stationary: Stationary, *,
                       phi_deg: float, samples: int, replicates: int, steps: int,
                       generator: torch.Generator, device=None) -> FixedPoints:
    r"""The cReLU fixed point, eq-gi-fixed, of the planar linear teacher :math:`a` =
    ``unit(phi_deg)`` for every law (chapter general_inputs, section "The open question").

    :func:`crelu_fixed_point_mc` on ``replicates`` samples of ``samples`` draws with ``steps``
    iterations, started at the Gaussian radius over the sampled standard deviation of
    :math:`a^\top z` (from ``samples`` draws of their own). The angle is measured from
    :math:`\hat a` for symmetric laws (prop-gi-ray) and from the stationary direction in
    ``stationary`` otherwise, whose uncertainty (its standard error, or the grid step where
    that is larger) is combined in quadrature with the replicates' standard error; the angle
    from :math:`\hat a` keeps the replicates' one alone. The radius is the replicates' mean
    |w| with their standard error. Where the quadrature applies, the angle and radius of
    :func:`crelu_fixed_point_quad`'s fixed point too.
    """
    laws = _laws(laws)
    R = check_positive_int(replicates, name="replicates", minimum=2)
    a, a_t = unit(phi_deg), torch.tensor(unit(phi_deg), device=generator.device)
    rows = {}
    for name, d in laws.items():
        ref, ref_se = ((0.0, 0.0) if d.symmetric else
                       (stationary.rows[name].offset, stationary.rows[name].uncertainty))
        r0 = GAUSSIAN_RADIUS / float((d.sample((samples,), generator) @ a_t).std())
        _, w_mc, drift = crelu_fixed_point_mc(d, a_t, samples=samples, replicates=R,
                                              generator=generator, steps=steps, radius0=r0,
                                              device=device, return_drift=True)
        ang, radius = angle_deg(w_mc, a_t) - ref, w_mc.norm(dim=1)
        quad = quad_radius = math.nan
        if name in QUADRATURE_DISTRIBUTIONS:
            w_q = crelu_fixed_point_quad(d, a)[1]
            quad, quad_radius = float(angle_deg(w_q, a)), float(np.linalg.norm(w_q))
        spread = float(ang.std()) / math.sqrt(R)
        rows[name] = FixedPointRow(float(ang.mean()), math.hypot(spread, ref_se),
                                   float(radius.mean()), quad,
                                   radius_se=float(radius.std()) / math.sqrt(R),
                                   quad_radius=quad_radius, reference=ref, spread_se=spread,
                                   replicates=R, drift=float(drift.max()))
    return FixedPoints(rows)
