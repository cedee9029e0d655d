r"""Stationary points and STE fixed points beyond Gaussian inputs (book: the chapter on general inputs).

The chapter "Beyond Gaussian inputs" imports this module (``from stelib import general_inputs
as gi``); every name it uses is here, each from the module of its idea:

* :mod:`stelib.gi_quadrature` -- quadrature in the plane (n = 2, product densities
  ``gaussian``, ``uniform``, ``laplace``, ``anisotropic``): :func:`strip_moments` over strips
  :math:`\{lo < \hat w^\top z < hi\}`, exact to ~1e-12, and on it the linear-teacher quantities
  (:func:`linear_teacher_quad`), the direction minimising the profile loss
  (:func:`stationary_direction_quad`) and the cReLU fixed point
  (:func:`crelu_fixed_point_quad`);
* :mod:`stelib.gi_samples` -- Monte Carlo on fixed samples (any distribution, any n, any
  labels): the profile loss over many directions at once with the optimal second layer in
  closed form per direction (:func:`profile_loss_on`, :func:`optimal_v_on`), and the cReLU
  fixed point of the linear-teacher model by sample-average coarse gradient descent with Polyak
  averaging, batched over replicate samples (:func:`crelu_fixed_point_mc`);
* :mod:`stelib.gi_laws` -- the seven input laws and their properties (:func:`input_laws`,
  :func:`law_properties`), the teacher direction :func:`unit` and :func:`angle_deg`;
* :mod:`stelib.gi_stationary` -- :func:`spurious_point_check` and :func:`identity_check`
  (prop-gi-spurious), :func:`stationary_directions` (prop-gi-ray), :func:`coarse_at_stationary`
  (prop-gi-norelu);
* :mod:`stelib.gi_fixed_points` -- :func:`fixed_point_angles`, :func:`crelu_ray_scan`,
  :func:`crelu_ray_roots` and :func:`crelu_fixed_points` (prop-gi-exact, prop-gi-reflect);
* here: :func:`summary` (distribution x STE, section "Summary"), built from their results.

The chapter's checks each return a small frozen table that prints as the chapter shows it.

Examples: in the docstrings of gi_laws, gi_quadrature and gi_samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from stelib.analyses.gi_fixed_points import (
    DRIFT_TOL,
    FixedPointRow,
    FixedPoints,
    RayScan,
    crelu_fixed_points,
    crelu_ray_roots,
    crelu_ray_scan,
    fixed_point_angles,
)
from stelib.analyses.gi_laws import LAW_NAMES, LawTable, _laws, angle_deg, input_laws, law_properties, unit
from stelib.analyses.gi_laws import _short as _short
from stelib.analyses.gi_quadrature import _NODES as _NODES
from stelib.analyses.gi_quadrature import _SQ3 as _SQ3
from stelib.analyses.gi_quadrature import _WEIGHTS as _WEIGHTS
from stelib.analyses.gi_quadrature import GAUSSIAN_RADIUS as GAUSSIAN_RADIUS
from stelib.analyses.gi_quadrature import (
    QUADRATURE_DISTRIBUTIONS,
    crelu_fixed_point_quad,
    linear_teacher_quad,
    stationary_direction_quad,
    strip_moments,
)
from stelib.analyses.gi_quadrature import _coords as _coords
from stelib.analyses.gi_samples import _profile as _profile
from stelib.analyses.gi_samples import _steps as _steps
from stelib.analyses.gi_samples import crelu_fixed_point_mc, optimal_v_on, profile_loss_on
from stelib.analyses.gi_stationary import (
    GRID_STEP,
    CoarseAtStationary,
    CoarseRow,
    IdentityCheck,
    SpuriousCheck,
    SpuriousRow,
    Stationary,
    StationaryRow,
    coarse_at_stationary,
    identity_check,
    identity_prediction,
    spurious_point_check,
    stationary_directions,
)
from stelib.analyses.gi_stationary import _rotated as _rotated
from stelib.analyses.gi_stationary import _rounded as _rounded
from stelib.core._validate import as_device, check_positive_int
from stelib.core.distributions import Distribution
from stelib.core.problems import Problem
from stelib.core.ste import STE_NAMES
from stelib.core.train import stochastic_cgd

# Every stelib.analyses name above is re-exported from the module of its idea; ``X as X`` marks
# the ones outside __all__ (GAUSSIAN_RADIUS, the private helpers), so that their old addresses keep working.
__all__ = [
    "DRIFT_TOL", "GRID_STEP", "LAW_NAMES", "QUADRATURE_DISTRIBUTIONS", "CoarseAtStationary", "CoarseRow",
    "FixedPointRow", "FixedPoints", "IdentityCheck", "LawTable", "SpuriousCheck", "SpuriousRow",
    "Stationary", "StationaryRow", "SummaryTable", "angle_deg", "coarse_at_stationary",
    "RayScan", "crelu_fixed_point_mc", "crelu_fixed_point_quad", "crelu_fixed_points", "crelu_ray_roots", "crelu_ray_scan",
    "fixed_point_angles",
    "identity_check", "identity_prediction", "input_laws", "law_properties",
    "linear_teacher_quad", "optimal_v_on", "profile_loss_on", "spurious_point_check",
    "stationary_direction_quad", "stationary_directions", "strip_moments", "summary", "unit",
]


@dataclass(frozen=True)
class SummaryTable:
    """Rows (law, STE, vanishes, |w| settled, final |w|) of the chapter's summary."""

    rows: tuple[tuple[str, str, str, bool, float], ...]

    def final_norm(self, law: str, ste: str) -> float:
        return next(w for name, s, _, _, w in self.rows if (name, s) == (law, ste))

    def growth_reading(self, fixed: FixedPoints) -> dict[str, str]:
        """What the last column shows, as phrases the chapter glues: ``ratio`` (the smallest final
        |w| of identity and ReLU over the largest of the cReLU rows) and ``crelu`` (in how many
        laws cReLU CGD ends within 20 % of the fixed point's radius)."""
        laws = list(dict.fromkeys(name for name, *_ in self.rows))
        grow = min(self.final_norm(k, s) for k in laws for s in ("identity", "relu"))
        near = [k for k in laws  # an unsettled iteration's radius is the quadrature one, or none
                if abs(self.final_norm(k, "crelu") / fixed.rows[k].compared_radius - 1) < 0.2]
        none = [k for k in laws if math.isnan(fixed.rows[k].compared_radius)]
        ratio = grow / max(self.final_norm(k, "crelu") for k in laws)
        crelu = ("in every row cReLU CGD ends with |w| within 20 % of the fixed point's radius"
                 if len(near) == len(laws) else
                 f"cReLU CGD ends with |w| within 20 % of the fixed point's radius in {len(near)}"
                 f" of the {len(laws)} rows")
        if none:
            crelu += f" (no settled fixed point for {', '.join(none)})"
        return {"ratio": f"{ratio:.1f}", "crelu": crelu}

    def __str__(self) -> str:
        head = (f"{'law':>11} | {'STE':>8} | {'vanishes at the stationary point':<34} | "
                "|w| settled | final |w|")
        return "\n".join([head] + [
            f"{law:>11} | {s:>8} | {van:<34} | {'yes' if conv else 'no':>11} | {w:.3f}"
            for law, s, van, conv, w in self.rows])


def _vanishes(ste: str, fixed: FixedPointRow, at: CoarseRow) -> str:
    if ste == "crelu":  # "(quad.)": the verdict is the quadrature's, the numbers the samples'
        verdict = f"{'on ray' if fixed.on_ray else 'off ray'}{' (quad.)' if fixed.by_quadrature else ''}"
        if not fixed.settled:  # the samples' numbers are no fixed point
            return f"{verdict}: MC did not settle" if fixed.by_quadrature else "n/a: MC iteration did not settle"
        return f"{verdict}: {fixed.angle:+.2f} +- {fixed.se:.2f} deg".replace("-0.00 ", "+0.00 ")
    rad, se = at.radial(ste), float(at.coarse[ste].se.norm())
    if se == 0:  # no spread at all: the radial part is what it is
        return f"{'no' if rad else 'yes'}: radial {rad:+.3f} (exact)"
    z = abs(rad) / se  # "|z| > k" with k rounded down, so the bound printed always holds
    return f"{'no' if z > 4 else 'yes'}: radial {rad:+.3f} (|z| > {math.floor(z)})"


def summary(laws: dict[str, Distribution], fixed: FixedPoints, at_stationary: CoarseAtStationary,
            *, phi_deg: float, lr: float, steps: int, batch: int, generator: torch.Generator,
            device=None) -> SummaryTable:
    r"""Distribution x STE (chapter general_inputs, section "Summary").

    Stochastic CGD of every STE on the planar linear teacher ``unit(phi_deg)`` (``steps`` steps
    of ``batch`` draws, learning rate ``lr``) from :math:`v = 0`, :math:`w` at ``phi_deg`` + 20
    degrees, :math:`|w| = 1`. "Vanishes": for cReLU whether ``fixed`` is on the stationary ray
    (by quadrature where it applies, else within the t quantile times the standard error:
    :attr:`FixedPointRow.on_ray`; where the fixed-point iteration did not settle the verdict is
    the quadrature's alone, or none); for the others whether the radial part of ``at_stationary``
    is zero within 4 standard errors (bounded by the norm of the coordinates' errors).
    "|w| settled": |w| changed by less than 5 % over the last quarter of the steps (a finite
    noisy run: neither convergence nor its absence).
    """
    laws = _laws(laws)
    steps = check_positive_int(steps, name="steps", minimum=4)
    dev = torch.device("cpu") if device is None else as_device(device)
    psi0 = math.radians(phi_deg + 20.0)
    w0 = torch.tensor([[math.cos(psi0), math.sin(psi0)]] * 3, dtype=torch.float64, device="cpu")
    rows = []
    for name, d in laws.items():
        h = stochastic_cgd(Problem(d, 1, labels="linear", a=unit(phi_deg)),
                           torch.zeros(3, 1, device=dev), w0.to(dev), ste=STE_NAMES, lr=lr,
                           steps=steps, batch_size=batch, generator=generator,
                           record_every=max(1, steps // 4)).cpu()
        late = h.w_norm[int(torch.nonzero(h.steps >= (3 * steps) // 4)[0])]
        for k, s in enumerate(STE_NAMES):
            conv = abs(float(h.w_norm[-1, k] / late[k]) - 1) < 0.05
            van = _vanishes(s, fixed.rows[name], at_stationary.rows[name])
            rows.append((name, s, van, conv, float(h.w_norm[-1, k])))
    return SummaryTable(tuple(rows))
