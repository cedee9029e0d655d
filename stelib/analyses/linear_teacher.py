r"""Checks of the linear-teacher misspecified example (chapter *A misspecified example*).

The model is :mod:`stelib.misspecified`: a one-unit binary student :math:`y = v\,\sigma(w^\top z)`,
inputs :math:`z \sim N(0, I_n)`, teacher :math:`y^* = a^\top z`. Each function checks one
statement of the chapter and returns a small frozen result whose ``str`` is what the chapter
prints:

- :func:`loss_vs_monte_carlo`, :func:`coarse_vs_monte_carlo`: the closed forms of
  prop-ms-stationary and prop-ms-coarse against Monte Carlo means (largest :math:`|z|`);
- :func:`gradient_check`: :math:`\nabla_w L` against central finite differences;
- :func:`stationary_set_check`: the listed stationary rays are stationary, random points not;
- :func:`radial_roots`: the zero of the radial part on a minimising ray is :math:`1/\kappa^*`
  for every :math:`|a|` and n (prop-ms-vanishing (c));
- :func:`minimising_ray`: :math:`|\nabla L|` and the radial parts along the +a ray;
- :func:`growth_rates`, :func:`crelu_settling`: paths of coarse gradient descent
  (:func:`stelib.fields.cgd_paths`) against prop-ms-rates;
- :class:`C5Table`, :func:`c5_closed_form_rows`, :func:`c5_sample_rows`: claim C5 as a table.

Example
-------
>>> import torch
>>> a = torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> print(minimising_ray(a, [2.0], ["relu"]))
|w| = 2.0000: |grad L| = <1e-12; radial part relu -0.1812
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.optimize
import torch

from stelib.analyses.plotting import ste_label
from stelib.core import misspecified as ms
from stelib.core._validate import as_tensor, check_positive, check_positive_int, check_real
from stelib.core.montecarlo import estimate
from stelib.core.rounding import below_floor, fmt
from stelib.core.ste import check_ste

DTYPE = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)  # phi(0)

__all__ = ["C5Row", "C5Table", "CReluSettling", "GradientCheck", "GrowthRates", "MonteCarloCheck",
           "RadialRoots", "RayTable", "StationaryCheck", "angle_to_minimising_rays",
           "c5_closed_form_rows", "c5_sample_rows", "coarse_vs_monte_carlo", "crelu_settling",
           "gradient_check", "growth_rates", "loss_vs_monte_carlo", "minimising_ray", "radial_roots",
           "stationary_set_check"]


def _stes(stes: Sequence[str]) -> tuple[str, ...]:
    """A non-empty tuple of registered STE names, or ValueError naming ``stes``."""
    stes = (stes,) if isinstance(stes, str) else tuple(stes)
    if not stes:
        raise ValueError("stes=() is empty; give at least one registered STE name")
    return tuple(check_ste(s, name="stes") for s in stes)


def _points(a, V, W) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a (n,), V (k, 1), W (k, n) as float64, or ValueError naming the parameter."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    V = as_tensor(V, name="V", ndim=2, dtype=DTYPE)
    W = as_tensor(W, name="W", ndim=2, dtype=DTYPE)
    if V.shape[1] != 1 or W.shape != (V.shape[0], a.shape[0]) or not len(a) or not len(V):
        raise ValueError(f"V must have shape (k, 1) and W shape (k, n) with k >= 1 and n = len(a) >= 1; "
                         f"got V {tuple(V.shape)}, W {tuple(W.shape)}, a {tuple(a.shape)}")
    return a, V, W


@dataclass(frozen=True)
class MonteCarloCheck:
    """Largest |z| of a closed form against Monte Carlo means over ``points`` points (x
    ``coordinates`` coordinates); ``quantity`` is ``"loss"`` or an STE name."""

    quantity: str
    z_max: float
    points: int
    coordinates: int

    def __str__(self) -> str:
        if self.quantity == "loss":
            return (f"loss, closed form vs Monte Carlo: max |z| = {self.z_max:.2f} over "
                    f"{self.points} random points")
        return (f"{self.quantity:>8}: closed form vs Monte Carlo, max |z| over {self.points} points "
                f"x {self.coordinates} coordinates = {self.z_max:.2f}")


def loss_vs_monte_carlo(a, V, W, *, samples: int, generator: torch.Generator,
                        device=None) -> MonteCarloCheck:
    r"""max over the points :math:`(V_i, W_i)` of :math:`|\hat L - L|/\mathrm{se}`, with
    :math:`L = \tfrac14 v^2 - \varphi_0 v\,a^\top\hat w + \tfrac12|a|^2` (prop-ms-stationary) and
    :math:`\hat L` the mean of ``samples`` draws from ``generator`` per point (in this order),
    computed on ``device``. Under the closed form each z is about N(0, 1)."""
    a, V, W = _points(a, V, W)
    samples = check_positive_int(samples, name="samples", minimum=2)
    model = ms.LinearTeacherModel(a)
    mc = [estimate(V[i], W[i], model, samples=samples, generator=generator, stes=(), device=device).loss
          for i in range(len(V))]
    z = max(abs(e.z_score(model.loss(V[i], W[i])).item()) for i, e in enumerate(mc))
    return MonteCarloCheck("loss", z, len(V), 1)


def coarse_vs_monte_carlo(a, V, W, ste: str, *, samples: int, generator: torch.Generator,
                          device=None) -> MonteCarloCheck:
    r"""max over points and coordinates of :math:`|\bar g - E g_\mu|/\mathrm{se}` for the STE
    ``ste``: the closed form :math:`E g_\mu` of prop-ms-coarse against the mean of ``samples``
    coarse gradients per point, drawn from ``generator`` point by point."""
    a, V, W = _points(a, V, W)
    check_ste(ste)
    samples = check_positive_int(samples, name="samples", minimum=2)
    model, zs = ms.LinearTeacherModel(a), []
    for i in range(len(V)):
        est = estimate(V[i], W[i], model, samples=samples, generator=generator, stes=(ste,),
                       device=device).coarse[ste]
        zs.append(est.z_score(model.expected_coarse_grad(V[i], W[i], ste)).abs().max().item())
    return MonteCarloCheck(ste, max(zs), len(V), W.shape[1])


@dataclass(frozen=True)
class GradientCheck:
    """Largest |closed-form dL/dw - central difference| over points and coordinates."""

    max_diff: float
    eps: float

    def __str__(self) -> str:
        # below 1e-8 the difference is the rounding term ~1e-16 |L| / eps of the central difference
        # (machine-dependent digits): printed as "<1e-8"
        return f"grad_w, closed form vs finite differences: max |diff| = {fmt(self.max_diff, '.1e', floor=1e-8)}"


def gradient_check(a, V, W, *, eps: float = 1e-6) -> GradientCheck:
    r""":math:`\max_{i,j} |\partial_{w_j} L(V_i, W_i) - (L(W_i + \epsilon e_j) - L(W_i - \epsilon
    e_j))/(2\epsilon)|` for the closed-form gradient of prop-ms-stationary (error
    O(:math:`\epsilon^2`) plus rounding O(:math:`10^{-16}/\epsilon`))."""
    a, V, W = _points(a, V, W)
    eps = check_real(eps, name="eps", low=0.0, high=0.1, low_open=True)
    model, fd = ms.LinearTeacherModel(a), []
    for j in range(W.shape[1]):
        dw = torch.zeros(W.shape[1], dtype=DTYPE, device=W.device)
        dw[j] = eps
        fd.append((model.loss(V, W + dw) - model.loss(V, W - dw)) / (2 * eps))
    return GradientCheck((torch.stack(fd, 1) - model.grad_w(V, W)).abs().max().item(), eps)


@dataclass(frozen=True)
class StationaryCheck:
    """Which points of the listed stationary set are stationary (prop-ms-stationary)."""

    n: int
    minima_ok: bool  #: both minimising rays, at every scale tried
    saddles: int  #: random saddle points tried (0 for n = 1)
    saddles_ok: bool
    random_stationary: int  #: how many of the random points are stationary (expected: 0)
    random_points: int
    min_loss: float
    saddle_loss: float

    def __str__(self) -> str:
        pad = " " * len(f"n = {self.n}: ")  # the three checks one under the other (88 columns)
        return (f"n = {self.n}: minima rays stationary at 3 scales: {self.minima_ok};\n{pad}"
                f"{self.saddles} random saddle points stationary: {self.saddles_ok};\n{pad}"
                f"random points that are stationary: {self.random_stationary} of {self.random_points}\n"
                f"minimum loss {self.min_loss:.4f} = |a|^2 (1/2 - 1/(2 pi)) > 0; saddle loss "
                f"{self.saddle_loss:.4f} = |a|^2/2")


def stationary_set_check(a, V, W, *, generator: torch.Generator, saddles: int = 5) -> StationaryCheck:
    r"""Test the stationary set of prop-ms-stationary with :func:`stelib.misspecified.is_stationary`:
    the minima :math:`(\pm 2\varphi_0|a|, \pm s\hat a)` at :math:`s = 0.01, 1, 100`, ``saddles``
    points :math:`(0, w)`, :math:`a^\top w = 0`, drawn from ``generator`` (none when n = 1), and
    the random points :math:`(V_i, W_i)`, which should not be stationary."""
    a, V, W = _points(a, V, W)
    saddles = check_positive_int(saddles, name="saddles")
    S, n = ms.stationary_points(a), len(a)
    scales = torch.tensor([0.01, 1.0, 100.0], dtype=DTYPE, device=a.device)[:, None]
    ok_min = all(bool(S.contains(S.min_v[i], d * scales).all()) for i, d in enumerate(S.min_directions))
    sad = (torch.randn(saddles, n - 1, generator=generator, dtype=DTYPE, device=generator.device) @ S.saddle_basis
           if n > 1 else torch.zeros(0, n, device=a.device))
    ok_sad = bool(S.contains(torch.zeros(len(sad), 1, device=a.device), sad).all()) if n > 1 else True
    return StationaryCheck(n, ok_min, len(sad), ok_sad, int(S.contains(V, W).sum()), len(V),
                           S.min_loss, S.saddle_loss)


@dataclass(frozen=True)
class RadialRoots:
    """Zeros of the clipped-ReLU radial part on the minimising ray, one per (n, |a|)."""

    r_star: float  #: ``vanishing_norm("crelu")`` = 1/kappa*
    norms: tuple[float, ...]
    dims: tuple[int, ...]
    roots: tuple[float, ...]  #: for every n in dims, every |a| in norms
    residuals: tuple[float, ...]  #: |E g| / |a|^2 at each root
    inside_negative: bool  #: radial part < 0 at 0.9 root, for every root
    outside_positive: bool  #: radial part > 0 at 1.1 root, for every root

    def __str__(self) -> str:
        dev = max(abs(t - self.r_star) for t in self.roots)
        return (f"vanishing_norm('crelu') = 1/κ* = {self.r_star:.6f}   (κ* = {1 / self.r_star:.6f})\n"
                f"roots over |a| in {list(self.norms)} and n in {list(self.dims)}: max |root - 1/κ*| = "
                f"{fmt(dev, '.1e')}\nmax residual |E g| / |a|^2 at the roots = "
                f"{fmt(max(self.residuals), '.1e')};\n    radial part <0 inside, >0 outside: "
                f"{(self.inside_negative, self.outside_positive)}")


def radial_roots(norms: Sequence[float], dims: Sequence[int]) -> RadialRoots:
    r"""For :math:`a = |a|(1, \dots, 1)/\sqrt n`, the root :math:`t_0` in [0.1, 10] (Brent,
    xtol 1e-14) of :math:`t \mapsto \hat a^\top E g_{\mathrm{crelu}}(v(\hat a), t\hat a)` on the
    slice :math:`v = 2\varphi_0|a|`, the residual :math:`|E g|/|a|^2` there and the signs at
    :math:`0.9t_0`, :math:`1.1t_0`. prop-ms-vanishing (c): :math:`t_0 = 1/\kappa^*` whatever
    :math:`|a|` and n."""
    norms = tuple(check_real(s, name="norms", low=0.0, low_open=True) for s in norms)
    dims = tuple(check_positive_int(d, name="dims", maximum=10_000) for d in dims)
    if not norms or not dims:
        raise ValueError(f"norms={norms} and dims={dims} must each hold at least one value")
    roots, res, inside, outside = [], [], True, True
    for dim in dims:
        for s in norms:
            A = s * torch.ones(dim, dtype=DTYPE, device="cpu") / math.sqrt(dim)  # host-side root finding

            def radial(t, A=A, s=s):
                return float(ms.expected_coarse_grad(ms.optimal_v(t * A, A), t * A / s, A, "crelu") @ A / s)

            t0 = scipy.optimize.brentq(radial, 0.1, 10.0, xtol=1e-14)
            roots.append(t0)
            res.append(ms.expected_coarse_grad(ms.optimal_v(A, A), t0 * A / s, A, "crelu").norm().item() / s**2)
            inside, outside = inside and radial(0.9 * t0) < 0, outside and radial(1.1 * t0) > 0
    return RadialRoots(ms.vanishing_norm("crelu"), norms, dims, tuple(roots), tuple(res), inside, outside)


@dataclass(frozen=True)
class RayTable:
    r"""At points :math:`(v(\hat a), r\hat a)` of the +a minimising ray: :math:`|\nabla L|` and
    :math:`\hat a^\top E g_\mu` for each STE, one row per radius r."""

    radii: tuple[float, ...]
    grad_norm: tuple[float, ...]
    radial: tuple[dict[str, float], ...]

    def radial_at(self, radius: float, ste: str) -> float:
        """The radial part of ``ste`` at the tabulated ``radius``."""
        if radius not in self.radii or ste not in self.radial[0]:
            raise ValueError(f"radius={radius!r}, ste={ste!r}: not in the table; radii {self.radii}, "
                             f"stes {tuple(self.radial[0])}")
        return self.radial[self.radii.index(radius)][ste]

    def __str__(self) -> str:
        return "\n".join(f"|w| = {r:.4f}: |grad L| = {fmt(g, '.1e')}; radial: "
                         + ", ".join(f"{s} {fmt(x, '+.4f')}" for s, x in rad.items())
                         for r, g, rad in zip(self.radii, self.grad_norm, self.radial, strict=True))


def minimising_ray(a, radii: Sequence[float], stes: Sequence[str]) -> RayTable:
    r""":math:`|(\partial_v L, \nabla_w L)|` and :math:`\hat a^\top E g_\mu` at
    :math:`v = 2\varphi_0|a|`, :math:`w = r\hat a` for every r in ``radii`` (prop-ms-vanishing:
    the gradient is 0 at every r; identity and ReLU radial parts are the constants
    :math:`2\varphi_0|a|^2 r_\mu`, the clipped ReLU's changes sign at :math:`1/\kappa^*`)."""
    A = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    radii = tuple(check_positive(r, name="radii") for r in radii)
    stes = _stes(stes)
    model, grads, radial = ms.LinearTeacherModel(A), [], []
    for radius in radii:
        w = radius * A / A.norm()
        v_opt = ms.optimal_v(w, A)
        grads.append(float(torch.cat([model.grad_v(v_opt, w).reshape(1), model.grad_w(v_opt, w)]).norm()))
        radial.append({s: float(model.expected_coarse_grad(v_opt, w, s) @ A / A.norm()) for s in stes})
    return RayTable(radii, tuple(grads), tuple(radial))


def angle_to_minimising_rays(w, a) -> torch.Tensor:
    r"""The angle in [0, pi/2] between each w (..., 2) and the nearer of :math:`\pm\hat a`,
    :math:`\mathrm{atan2}(|w \times \hat a|, |w^\top\hat a|)`: accurate to relative rounding near 0."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", dtype=DTYPE)
    if a.shape != (2,) or w.ndim == 0 or w.shape[-1] != 2:
        raise ValueError(f"w must have shape (..., 2) and a shape (2,) (the plane); got "
                         f"{tuple(w.shape)}, {tuple(a.shape)}")
    a_hat = a / a.norm()
    cross = (w[..., 0] * a_hat[1] - w[..., 1] * a_hat[0]).abs()
    return torch.atan2(cross, (w @ a_hat).abs())


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
        # an angle that reached 0 in floating point (or a non-finite run) has no exponent
        p = ", ".join(f"{x:.3f}" if math.isfinite(x) else "n/a (angle 0 or not finite)" for x in self.exponent)
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
    p_pred = math.pi / (math.pi - 1) if ste == "identity" else math.pi / (math.pi - 2)
    return GrowthRates(ste, tuple(slope.tolist()), paths.lr * k, tuple(p.tolist()), p_pred)


@dataclass(frozen=True)
class CReluSettling:
    """Where the clipped-ReLU runs end and how fast their angle decays (prop-ms-rates (c))."""

    final_norm: tuple[float, ...]  #: |w| at the last step, per run
    r_star: float  #: 1/kappa*
    ratios: tuple[float, ...]  #: fitted per-step angle ratio, per run with a geometric phase
    rho: float  #: predicted ratio

    @property
    def final_deviation(self) -> float:
        """max over runs of ||w_T| - 1/kappa*|."""
        return max(abs(x - self.r_star) for x in self.final_norm)

    def __str__(self) -> str:
        return (f"   crelu: final |w| {', '.join(f'{x:.6f}' for x in self.final_norm)} vs "
                f"1/κ* = {self.r_star:.6f}\n"
                f"   crelu: per-step angle ratio {', '.join(f'{x:.4f}' for x in self.ratios)} vs "
                f"rho = {self.rho:.4f}")


def crelu_settling(paths, a) -> CReluSettling:
    r"""prop-ms-rates (c) for the clipped-ReLU ``paths``: the final :math:`|w|` against
    :math:`1/\kappa^*`, and the per-step ratio :math:`\exp(\Delta\log\theta/\Delta t)` fitted over
    the steps with :math:`10^{-11} < \theta < 10^{-3}` (runs with fewer than two such records are
    left out) against :math:`\rho = 1 - \eta\,2\varphi_0|a|^2\kappa^*(\Phi(\kappa^*) - \tfrac12)`."""
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    norm_w, th = _paths_of(paths, a, "crelu")
    r_star = ms.vanishing_norm("crelu")
    c_star, t = 1 / r_star, paths.t
    rho = 1 - paths.lr * _k_scale(a) * c_star * 0.5 * math.erf(c_star / math.sqrt(2))
    ratios = []
    for j in range(th.shape[1]):
        ok = torch.nonzero((th[:, j] < 1e-3) & (th[:, j] > 1e-11)).flatten()
        if len(ok) >= 2:
            ratios.append(math.exp((th[ok[-1], j].log() - th[ok[0], j].log()).item()
                                   / (t[ok[-1]] - t[ok[0]]).item()))
    return CReluSettling(tuple(norm_w[-1].tolist()), r_star, tuple(ratios), rho)


@dataclass(frozen=True)
class C5Row:
    """One stationary point of claim C5's table: the residual |E g| of each STE there and, for a
    Monte Carlo row, the largest |z| of its coordinates (``z`` is None for a closed-form row)."""

    point: str
    loss: float
    residual: dict[str, float]
    z: dict[str, float] | None = None

    def vanishes(self, ste: str) -> bool:
        """Closed form: |E g| <= 1e-10. Monte Carlo: |z| < 4, or |E g| < 1e-6 (at v = 0 every
        coarse gradient is exactly 0 and the standard error of the estimated v is unreliable)."""
        if self.z is None:
            return self.residual[ste] <= 1e-10
        return self.z[ste] < 4 or self.residual[ste] < 1e-6

    def cell(self, ste: str) -> str:
        """The table entry of ``ste``: the verdict and |E g|."""
        verdict, r = f"{'yes' if self.vanishes(ste) else 'NO':>3}", self.residual[ste]
        return f"{verdict} {fmt(r, '.1e'):>7}"

    def z_cell(self, ste: str) -> str:
        """The largest |z| of ``ste`` (Monte Carlo rows; "" for a closed-form row)."""
        if self.z is None:
            return ""
        if below_floor(self.residual[ste]):  # a zero: its z is a ratio of rounding noise
            return "-"
        return f"{self.z[ste]:.1f}"


@dataclass(frozen=True)
class C5Table:
    """Claim C5 as a table: one row per stationary point, one column per STE."""

    stes: tuple[str, ...]
    rows: tuple[C5Row, ...]

    def __str__(self) -> str:
        """One line per stationary point (verdict and |E g| per STE); a Monte Carlo row is
        followed by a line with the largest |z| of each STE (88 columns for three STEs)."""
        head = f"{'stationary point':<24}{'loss':>8}" + "".join(f"{ste_label(s):>14}" for s in self.stes)
        lines = [head]
        for r in self.rows:
            lines.append(f"{r.point:<24}{r.loss:8.4f}" + "".join(f"{r.cell(s):>14}" for s in self.stes))
            if r.z is not None:
                lines.append(f"{'  largest |z|':<32}" + "".join(f"{r.z_cell(s):>14}" for s in self.stes))
        return "\n".join(lines)


def c5_closed_form_rows(a, stes: Sequence[str]) -> tuple[C5Row, ...]:
    r"""The rows of the linear teacher ``a`` (n >= 2): the minima :math:`\pm\hat a` and one saddle
    direction, at |w| = 1 for the loss. Residual: :math:`|E g_{\mathrm{crelu}}|` at
    :math:`|w| = 1/\kappa^*` on a minimum; otherwise the smallest :math:`|E g_\mu|` over 41 radii
    from :math:`10^{-2}` to :math:`10^2` (prop-ms-vanishing: 0 only at the saddles)."""
    A = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    stes = _stes(stes)
    if len(A) < 2:
        raise ValueError(f"a has shape {tuple(A.shape)}; the table needs n >= 2 (a saddle direction)")
    S, model, r_star = ms.stationary_points(A), ms.LinearTeacherModel(A), ms.vanishing_norm("crelu")
    radii = torch.logspace(-2, 2, 41, dtype=DTYPE, device=A.device)[:, None]
    points = [("linear: min +a", S.min_directions[0], S.min_v[0]),
              ("linear: min -a", S.min_directions[1], S.min_v[1]),
              ("linear: saddle", S.saddle_basis[0], torch.zeros(1, dtype=DTYPE, device=A.device))]
    rows = []
    for name, d, v in points:
        res = {}
        for ste in stes:
            if ste == "crelu" and float(v.abs()) > 0:
                res[ste] = model.expected_coarse_grad(v, d * r_star, ste).norm().item()
            else:
                res[ste] = model.expected_coarse_grad(v, d * radii, ste).norm(dim=-1).min().item()
        rows.append(C5Row(name, model.loss(v, d).item(), res))
    return tuple(rows)


def c5_sample_rows(checks, *, teacher: str) -> tuple[C5Row, ...]:
    """Monte Carlo rows from the checks of :func:`stelib.profile.coarse_at_stationary` (each with
    ``theta``, ``f``, ``residual`` and ``z``), named ``teacher`` and the angle in degrees."""
    if not isinstance(teacher, str):
        raise ValueError(f"teacher={teacher!r} must be a string (the name of the second teacher)")
    return tuple(C5Row(f"{teacher}: {math.degrees(c.theta):.1f} deg", c.f, dict(c.residual), dict(c.z))
                 for c in checks)
