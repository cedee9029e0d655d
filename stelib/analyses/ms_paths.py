r"""Paths of coarse gradient descent in the linear-teacher example (chapter *A misspecified example*).

The paths of :func:`stelib.fields.cgd_paths` (n = 2) against prop-ms-rates (section
"Trajectories over time"): with the identity and ReLU STEs :math:`|w_t|` grows linearly and the
angle to the nearer minimising ray decays as a power of t; with the clipped ReLU :math:`|w_t|`
settles at :math:`1/\kappa^*` and the angle decays geometrically. Each check returns a small
frozen result whose ``str`` is what the chapter prints:

- :func:`growth_rates`: slope of :math:`|w_t|` and decay exponent of the angle (identity, ReLU);
- :func:`crelu_settling`: final :math:`|w|` and per-step angle ratio of the clipped ReLU;
- :func:`crelu_step_factors`: the factors by which one clipped-ReLU step near its vanishing
  point multiplies small deviations of the angle, of :math:`|w|` and of :math:`v`, at any
  learning rate (exercise ex-ms-lr).

Angles are measured by :func:`stelib.ms_rays.angle_to_minimising_rays`.

Example
-------
>>> import torch
>>> round(_k_scale(torch.tensor([1.0, 0.5], dtype=torch.float64)), 6)   # 2 phi(0) |a|^2
0.997356
>>> print(crelu_step_factors([1.0, 0.5], lr=1.0))
eta = 1: angle factor rho = 0.4708, |w| factor 0.8056, v factor 0.5000
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from stelib.analyses.ms_checks import DTYPE
from stelib.analyses.ms_rays import angle_to_minimising_rays
from stelib.core import misspecified as ms
from stelib.core._validate import as_tensor, check_real

__all__ = ["CReluSettling", "GrowthRates", "StepFactors", "crelu_settling", "crelu_step_factors",
           "growth_rates"]

PHI0 = 1 / math.sqrt(2 * math.pi)  # phi(0)
#: angles at or below this are taken as rounding, not as a rate: every step perturbs w by about
#: 1e-16 |w|, and thousands of steps add up (the same lower end as crelu_settling's window)
ANGLE_FLOOR = 1e-11


def _k_scale(a: torch.Tensor) -> float:
    """2 phi(0) |a|^2: the radial part of E g on a minimising ray is k_scale r_mu."""
    return 2 * PHI0 * float(a @ a)


def _paths_of(paths, a, ste: str) -> tuple[torch.Tensor, torch.Tensor]:
    """|w_t| and the angle to +-a_hat of the paths of ``ste``, each (T, R)."""
    if ste not in paths.w:
        raise ValueError(f"ste={ste!r} has no path; the paths hold {tuple(paths.w)}")
    w = paths.w[ste]
    return w.norm(dim=-1), angle_to_minimising_rays(w, a)


@dataclass(frozen=True)
class GrowthRates:
    """Measured and predicted growth of |w_t| and decay exponent of the angle (prop-ms-rates)."""

    ste: str
    slope: tuple[float, ...]  #: d|w|/dt over the second half of each run
    predicted_slope: float  #: eta |k_mu|
    exponent: tuple[float, ...]  #: p in theta_t ~ t^-p, per run (NaN/inf: angle reached 0)
    predicted_exponent: float  #: pi/(pi - 1) (identity), pi/(pi - 2) (relu)

    def __str__(self) -> str:
        # an angle at rounding level (or a non-finite run) has no exponent
        p = ", ".join(f"{x:.3f}" if math.isfinite(x) else "n/a (angle at rounding level)" for x in self.exponent)
        return (f"{self.ste:>8}: d|w|/dt measured {', '.join(f'{x:.5f}' for x in self.slope)} vs eta |k| "
                f"= {self.predicted_slope:.5f};\n{'':10}angle exponent p measured {p} vs "
                f"{self.predicted_exponent:.3f}")


def growth_rates(paths, a, ste: str) -> GrowthRates:
    r"""prop-ms-rates (a), (c) for ``ste`` = identity or relu on the CGD ``paths``
    (:class:`stelib.fields.Paths`, n = 2) of the teacher ``a``: the slope of :math:`|w_t|`
    between the middle and the end, against :math:`\eta|k_\mu| = \eta\,2\varphi_0|a|^2|r_\mu|`,
    and :math:`p = -\Delta\log\theta_t/\Delta\log t` over the same span, against
    :math:`\pi/(\pi-1)` resp. :math:`\pi/(\pi-2)`."""
    if ste not in ("identity", "relu"):
        raise ValueError(f"ste={ste!r}: the growth rates are predicted for 'identity' and 'relu' only "
                         "(the clipped ReLU settles: see crelu_settling)")
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    norm_w, theta = _paths_of(paths, a, ste)
    t, half = paths.t, len(paths.t) // 2
    k = _k_scale(a) * abs(ms.radial_coefficient(torch.tensor(1.0, dtype=DTYPE, device="cpu"), ste).item())
    slope = (norm_w[-1] - norm_w[half]) / (t[-1] - t[half])
    lo, hi = half, len(t) - 1
    p = -(theta[hi].log() - theta[lo].log()) / (t[hi].log() - t[lo].log())
    # below ANGLE_FLOOR the angle is rounding of w, not the power law: no exponent
    p = torch.where(torch.minimum(theta[lo], theta[hi]) > ANGLE_FLOOR, p, torch.full_like(p, math.nan))
    p_pred = math.pi / (math.pi - 1) if ste == "identity" else math.pi / (math.pi - 2)
    return GrowthRates(ste, tuple(slope.tolist()), paths.lr * k, tuple(p.tolist()), p_pred)


@dataclass(frozen=True)
class CReluSettling:
    """Where the clipped-ReLU runs end and how fast their angle decays (prop-ms-rates (c))."""

    final_norm: tuple[float, ...]  #: |w| at the last step, per run
    r_star: float  #: 1/kappa*
    ratios: tuple[float, ...]  #: fitted per-step angle ratio, per run with a geometric phase
    rho: float  #: predicted angle factor (negative: the angle changes side every step)

    @property
    def final_deviation(self) -> float:
        """max over runs of ||w_T| - 1/kappa*|."""
        return max(abs(x - self.r_star) for x in self.final_norm)

    def __str__(self) -> str:
        runs = len(self.final_norm)
        head = (f"   crelu: final |w| {', '.join(f'{x:.6f}' for x in self.final_norm)} vs "
                f"1/κ* = {self.r_star:.6f}\n   crelu: ")
        # the fitted ratio is of the unsigned angle, so it estimates |rho|
        pred = f"|rho| = {abs(self.rho):.4f}" + ("" if abs(self.rho) < 1 else " >= 1 (unstable: no decay)")
        if not self.ratios:
            return head + f"no run with a geometric phase (1e-11 < angle < 1e-3) to fit; {pred}"
        some = "" if len(self.ratios) == runs else f" ({len(self.ratios)} of {runs} runs)"
        return head + f"per-step angle ratio {', '.join(f'{x:.4f}' for x in self.ratios)}{some} vs {pred}"


def crelu_settling(paths, a) -> CReluSettling:
    r"""prop-ms-rates (c) for the clipped-ReLU ``paths``: the final :math:`|w|` against
    :math:`1/\kappa^*`, and the per-step ratio :math:`\exp(\Delta\log\theta/\Delta t)` fitted over
    the steps with :math:`10^{-11} < \theta < 10^{-3}` (runs with fewer than two such records are
    left out) against :math:`\rho = 1 - \eta\,2\varphi_0|a|^2\kappa^*(\Phi(\kappa^*) - \tfrac12)`."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    norm_w, th = _paths_of(paths, a, "crelu")
    r_star, t = ms.vanishing_norm("crelu"), paths.t
    rho = crelu_step_factors(a, paths.lr).rho
    ratios = []
    for j in range(th.shape[1]):
        ok = torch.nonzero((th[:, j] < 1e-3) & (th[:, j] > ANGLE_FLOOR)).flatten()
        if len(ok) >= 2:
            ratios.append(math.exp((th[ok[-1], j].log() - th[ok[0], j].log()).item()
                                   / (t[ok[-1]] - t[ok[0]]).item()))
    return CReluSettling(tuple(norm_w[-1].tolist()), r_star, tuple(ratios), rho)


@dataclass(frozen=True)
class StepFactors:
    """One clipped-ReLU CGD step, linearised at its vanishing point on a minimising ray: the
    factors by which it multiplies small deviations of the angle (``rho``), of :math:`|w|`
    (``radius``) and of :math:`v` (``v``), at learning rate ``lr``."""

    lr: float
    rho: float
    radius: float
    v: float

    @property
    def stable(self) -> bool:
        """Every factor lies in (-1, 1): small deviations die out."""
        return all(abs(x) < 1 for x in (self.rho, self.radius, self.v))

    def __str__(self) -> str:
        return (f"eta = {self.lr:g}: angle factor rho = {self.rho:.4f}, |w| factor "
                f"{self.radius:.4f}, v factor {self.v:.4f}")


def crelu_step_factors(a, lr: float) -> StepFactors:
    r"""The clipped-ReLU step at learning rate ``lr`` linearised at its vanishing point
    :math:`(2\varphi_0|a|, \hat a/\kappa^*)` (chapter misspecified, prop-ms-rates and exercise
    ex-ms-lr). In the coordinates (angle, :math:`v`, :math:`|w|`) its Jacobian is triangular
    there: the tangential part of :math:`E g_{\rm crelu}` vanishes on the ray for every
    :math:`v` and :math:`|w|`, so only the angle moves the angle; the radial part and
    :math:`\partial_v L` are even in the angle, so to first order the angle moves neither; and
    :math:`\partial_v L` does not depend on :math:`|w|`. Its eigenvalues are the three factors:
    :math:`\rho = 1 - \eta k\kappa^*(\Phi(\kappa^*) - \tfrac12)` of prop-ms-rates (c) (the slope
    of the tangential part in the angle), :math:`1 + \eta k\kappa^{*2} r'(\kappa^*)` for
    :math:`|w|` with :math:`r'(\kappa) = \kappa\varphi(\kappa)(2\varphi_0 - \kappa)` (proof of
    prop-ms-vanishing) and :math:`1 - \eta/2` for :math:`v`, where :math:`k = 2\varphi_0|a|^2`.
    ``a`` a non-zero teacher vector with n >= 2 coordinates (with n = 1 there is no angle),
    ``lr`` > 0."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    if a.numel() < 2:
        raise ValueError(f"a={a.tolist()} has {a.numel()} coordinate(s); the step factors need n >= 2 "
                         "(with n = 1 there is no angle to the minimising ray)")
    if not bool((a != 0).any()):
        raise ValueError(f"a={a.tolist()} must be non-zero: with a = 0 there is no minimising ray")
    lr = check_real(lr, name="lr", low=0.0, low_open=True)
    k, c = _k_scale(a), 1 / ms.vanishing_norm("crelu")
    slope = c * PHI0 * math.exp(-0.5 * c * c) * (2 * PHI0 - c)  # r'(kappa*) < 0
    return StepFactors(lr, 1 - lr * k * c * 0.5 * math.erf(c / math.sqrt(2)),
                       1 + lr * k * c * c * slope, 1 - lr / 2)
