r"""Stationary points and STE fixed points beyond Gaussian inputs (book: the chapter on general inputs).

Two tools for the chapter "Beyond Gaussian inputs":

* **Quadrature in the plane** (n = 2, product densities: ``gaussian``, ``uniform``, ``laplace``,
  ``anisotropic``). :func:`strip_moments` integrates :math:`1, z, zz^\top` over a strip
  :math:`\{lo < \hat w^\top z < hi\}` in rotated coordinates :math:`z = t\hat w + s u`, with
  Gauss-Legendre rules on pieces split at every kink of the density, so the result is exact to
  ~1e-12. On it sit the linear-teacher quantities (student :math:`y = v\sigma(w^\top z)`, teacher
  :math:`y^* = a^\top z`, m = 1):

  .. math::

      v_{\rm opt}(w) = \frac{E[a^\top z\,\sigma]}{E[\sigma]},\qquad
      \frac{E g_{\rm crelu}}{v} = v\,E[z\,1\{0<w^\top z<1\}] - E[zz^\top 1\{0<w^\top z<1\}]\,a,

  the profile loss :math:`E y^{*2}/2 - E[y^*\sigma]^2/(2E\sigma)`, its minimising direction
  (:func:`stationary_direction_quad`) and the cReLU fixed point solving both equations
  (:func:`crelu_fixed_point_quad`).

* **Monte Carlo on fixed samples** (any distribution, any n, any labels): the profile loss over
  many directions at once with the optimal second layer in closed form per direction
  (:func:`profile_loss_on`: least squares :math:`E[ss^\top] v = E[s y^*]`), and the cReLU fixed
  point of the linear-teacher model by sample-average coarse gradient descent with Polyak
  averaging, batched over independent replicate samples (:func:`crelu_fixed_point_mc`).

* **The chapter's checks**, one function per section, each returning a small frozen table that
  prints as the chapter shows it: :func:`input_laws` and :func:`law_properties`,
  :func:`spurious_point_check` and :func:`identity_check` (prop-gi-spurious),
  :func:`stationary_directions` (prop-gi-ray), :func:`coarse_at_stationary` (prop-gi-norelu),
  :func:`fixed_point_angles` and :func:`crelu_fixed_points` (prop-gi-exact, prop-gi-reflect),
  :func:`summary` (distribution x STE).

Example
-------
>>> from stelib.core.distributions import make_distribution
>>> v, w = crelu_fixed_point_quad(make_distribution("gaussian", 2), [1.0, 0.0])
>>> round(float(w[0]), 4), abs(float(w[1])) < 1e-9     # vanishing_norm("crelu") along a
(0.7632, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch

from stelib.core._validate import as_device, as_tensor, check_positive_int, check_real
from stelib.core.distributions import Distribution, make_distribution
from stelib.core.gaussian import spurious_minimizer_v
from stelib.core.montecarlo import Estimate, estimate
from stelib.core.problems import Problem
from stelib.core.rounding import below_floor, fmt, significant
from stelib.core.ste import STE_NAMES
from stelib.core.train import stochastic_cgd

__all__ = [
    "GRID_STEP", "LAW_NAMES", "QUADRATURE_DISTRIBUTIONS", "CoarseAtStationary", "CoarseRow",
    "FixedPointRow", "FixedPoints", "IdentityCheck", "LawTable", "SpuriousCheck", "SpuriousRow",
    "Stationary", "StationaryRow", "SummaryTable", "angle_deg", "coarse_at_stationary",
    "RayScan", "crelu_fixed_point_mc", "crelu_fixed_point_quad", "crelu_fixed_points", "crelu_ray_scan",
    "fixed_point_angles",
    "identity_check", "identity_prediction", "input_laws", "law_properties",
    "linear_teacher_quad", "optimal_v_on", "profile_loss_on", "spurious_point_check",
    "stationary_direction_quad", "stationary_directions", "strip_moments", "summary", "unit",
]

QUADRATURE_DISTRIBUTIONS = ("gaussian", "uniform", "laplace", "anisotropic")
GAUSSIAN_RADIUS = 0.7632023628036961  # misspecified.vanishing_norm("crelu")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_SQ3 = math.sqrt(3.0)


def _coords(dist: Distribution):
    """Per coordinate: (pdf, kinks, splits, support half-width) of the product density."""
    if not isinstance(dist, Distribution) or dist.n != 2 or dist.name not in QUADRATURE_DISTRIBUTIONS:
        what = dist.describe() if isinstance(dist, Distribution) else type(dist).__name__
        raise ValueError(f"quadrature needs n = 2 and one of {QUADRATURE_DISTRIBUTIONS}; got {what}")
    if dist.name == "uniform":
        return [(lambda x: np.full_like(x, 0.5 / _SQ3), [], [], _SQ3)] * 2
    if dist.name == "laplace":
        b = 1 / math.sqrt(2.0)
        sp = [b * k for k in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40)]
        return [(lambda x: np.exp(-np.abs(x) / b) / (2 * b), [0.0], sp + [-x for x in sp], 44 * b)] * 2
    scales = dist.scales if dist.name == "anisotropic" else (1.0, 1.0)
    return [(lambda x, sd=sd: np.exp(-0.5 * (x / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
             [], [sd * k for k in range(-10, 11, 2)], 12 * sd) for sd in scales]


def strip_moments(dist: Distribution, w_hat, lo: float, hi: float) -> tuple[float, np.ndarray, np.ndarray]:
    r"""(P, M1, M2) = E[(1, z, zz^T) 1{lo < w_hat^T z < hi}] by quadrature, n = 2.

    ``w_hat`` a direction (2,) (normalised here); ``lo < hi`` (+-inf allowed). Shapes (), (2,),
    (2, 2). Densities are cut at their support (uniform) or at >= 12 standard deviations.
    """
    w_hat = np.asarray(w_hat, dtype=np.float64)
    w_hat = w_hat / np.linalg.norm(w_hat)
    u = np.array([-w_hat[1], w_hat[0]])
    cs = _coords(dist)
    half = [c[3] for c in cs]
    tmax = abs(w_hat[0]) * half[0] + abs(w_hat[1]) * half[1]
    lo, hi = max(lo, -tmax), min(hi, tmax)
    if hi <= lo:
        return 0.0, np.zeros(2), np.zeros((2, 2))
    k1, k2 = ([*c[1], -c[3], c[3]] for c in cs)
    corners = [w_hat[0] * x + w_hat[1] * y for x in k1 for y in k2]  # kinks of the t-integrand
    tb = np.unique(np.clip([lo, hi, *corners, *np.linspace(lo, hi, 9)], lo, hi))
    ta, tw = tb[:-1, None], (tb[1:] - tb[:-1])[:, None] / 2
    t = (ta + tw * (1 + _NODES)).ravel()  # (T,)
    wt = (tw * _WEIGHTS).ravel()
    cols = []
    for i, (_, kinks, splits, h) in enumerate(cs):
        if abs(u[i]) > 1e-12:
            cols += [(b - t * w_hat[i]) / u[i] for b in (*kinks, *splits, -h, h)]
    B = np.sort(np.stack(cols, axis=1), axis=1)  # (T, K) breakpoints in s
    sa, sw = B[:, :-1, None], (B[:, 1:] - B[:, :-1])[:, :, None] / 2
    s = sa + sw * (1 + _NODES)  # (T, K-1, q)
    z1 = t[:, None, None] * w_hat[0] + s * u[0]
    z2 = t[:, None, None] * w_hat[1] + s * u[1]
    inside = (np.abs(z1) <= half[0] * (1 + 1e-12)) & (np.abs(z2) <= half[1] * (1 + 1e-12))
    f = np.where(inside, cs[0][0](z1) * cs[1][0](z2) * (sw * _WEIGHTS) * wt[:, None, None], 0.0)
    m12 = (f * z1 * z2).sum()
    M2 = np.array([[(f * z1 * z1).sum(), m12], [m12, (f * z2 * z2).sum()]])
    return float(f.sum()), np.array([(f * z1).sum(), (f * z2).sum()]), M2


def linear_teacher_quad(dist: Distribution, a, w) -> dict[str, object]:
    """Linear-teacher quantities at ``w`` (2,), w != 0, by quadrature: ``v_opt``, ``profile``
    (min over v of the loss) and ``crelu`` = E g_crelu / v at v = v_opt, shape (2,)."""
    a, w = np.asarray(a, dtype=np.float64), np.asarray(w, dtype=np.float64)
    r = float(np.linalg.norm(w))
    if r == 0:
        raise ValueError("w = 0 is not allowed: the direction w/|w| is undefined")
    P, M1, _ = strip_moments(dist, w / r, 0.0, math.inf)
    _, _, S = strip_moments(dist, w / r, -math.inf, math.inf)
    v = float(a @ M1) / P
    _, M1c, M2c = strip_moments(dist, w / r, 0.0, 1.0 / r)
    return {"v_opt": v, "profile": 0.5 * float(a @ S @ a) - 0.5 * float(a @ M1) ** 2 / P,
            "crelu": v * M1c - M2c @ a}


def stationary_direction_quad(dist: Distribution, a) -> float:
    """Angle (radians) of the direction minimising the profile loss within 0.5 rad of a's angle."""
    a = np.asarray(a, dtype=np.float64)
    phi = math.atan2(a[1], a[0])
    res = scipy.optimize.minimize_scalar(
        lambda p: linear_teacher_quad(dist, a, [math.cos(p), math.sin(p)])["profile"],
        bounds=(phi - 0.5, phi + 0.5), method="bounded", options={"xatol": 1e-10})
    return float(res.x)


def crelu_fixed_point_quad(dist: Distribution, a, *, radius0: float | None = None) -> tuple[float, np.ndarray]:
    """(v, w) with E g_crelu = 0 and dL/dv = 0 (linear teacher, m = 1, n = 2), by quadrature and
    ``scipy.optimize.root`` in (|w|, angle), started on the ray of a at ``radius0`` (default:
    the Gaussian radius 0.7632 over the standard deviation of a_hat^T z). ``ValueError`` if the
    root finder fails."""
    a = np.asarray(a, dtype=np.float64)
    if radius0 is None:
        _, _, S = strip_moments(dist, a, -math.inf, math.inf)
        radius0 = GAUSSIAN_RADIUS / math.sqrt(float(a @ S @ a) / float(a @ a))

    def polar(x):
        return x[0] * np.array([math.cos(x[1]), math.sin(x[1])])

    def eq(x):
        return linear_teacher_quad(dist, a, polar(x))["crelu"]

    sol = scipy.optimize.root(eq, [radius0, math.atan2(a[1], a[0])], method="hybr", tol=1e-13)
    if not sol.success and np.abs(eq(sol.x)).max() > 1e-10:
        raise ValueError(f"no cReLU fixed point found for {dist.describe()}: {sol.message}")
    w = polar(sol.x)
    return linear_teacher_quad(dist, a, w)["v_opt"], w


def angle_deg(x, y) -> torch.Tensor:
    """Angle from direction ``y`` (n,) to ``x`` (..., n) in degrees: signed (counter-clockwise
    positive) for n = 2, unsigned in [0, 180] otherwise."""
    x = torch.as_tensor(x, dtype=torch.float64, device=x.device if isinstance(x, torch.Tensor) else "cpu")
    y = torch.as_tensor(y, dtype=torch.float64, device=x.device)
    if x.shape[-1] == 2:
        return torch.rad2deg(torch.atan2(y[0] * x[..., 1] - y[1] * x[..., 0], x @ y))
    c = (x @ y) / (torch.linalg.vector_norm(x, dim=-1) * torch.linalg.vector_norm(y))
    return torch.rad2deg(torch.arccos(torch.clamp(c, -1.0, 1.0)))


def _steps(W, Z):
    return (Z @ W.T > 0).to(torch.float64).permute(2, 0, 1)  # (K, N, m)


def optimal_v_on(W, Z, y_star) -> torch.Tensor:
    """Least-squares second layer per direction on a fixed sample, E[ss^T] v = E[s y*] with
    s = sigma(Z w): W (K, n), Z (N, m, n), y_star (N,) -> (K, m)."""
    return _profile(W, Z, y_star)[1]


def _profile(W, Z, y_star):
    W = as_tensor(W, name="W", ndim=2, dtype=torch.float64)
    Z = as_tensor(Z, name="Z", ndim=3, dtype=torch.float64)
    y = as_tensor(y_star, name="y_star", ndim=1, dtype=torch.float64).to(Z.device)
    W = W.to(Z.device)  # computed where the sample lives
    N = Z.shape[0]
    if Z.shape[1] == 1:  # one patch: v = E[s y*] / E[s], no linear solve
        S = (Z[:, 0] @ W.T > 0).to(torch.float64).T  # (K, N)
        P, G = S.mean(1), S @ y / N
        v = (G / P)[:, None]
        return 0.5 * (y @ y) / N - 0.5 * G * G / P, v
    S = _steps(W, Z)
    Gram = torch.bmm(S.transpose(1, 2), S) / N  # (K, m, m)
    rhs = (S.transpose(1, 2) @ y) / N  # (K, m)
    v = torch.linalg.solve(Gram + 1e-12 * torch.eye(Z.shape[1], dtype=torch.float64, device=Z.device),
                           rhs[..., None])[..., 0]
    r = (S @ v[..., None])[..., 0] - y  # (K, N)
    return 0.5 * (r * r).mean(dim=1), v


def profile_loss_on(W, Z, y_star) -> tuple[torch.Tensor, torch.Tensor]:
    """min over v of the sample-average loss for each direction: (loss (K,), v_opt (K, m))."""
    return _profile(W, Z, y_star)


def crelu_fixed_point_mc(distribution: Distribution, a, *, samples: int, replicates: int,
                         generator: torch.Generator, steps: int = 400, lr: float = 2.0,
                         radius0: float = GAUSSIAN_RADIUS, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""cReLU fixed point of the linear-teacher model (m = 1) on ``replicates`` independent samples.

    On each fixed sample of ``samples`` patches, iterate v <- v_opt(w) (exact minimisation of the
    sample loss over v) and w <- w - lr S^-1 g_crelu / v (the coarse step with the factor v divided
    out, preconditioned by the sample second moment S = E[zz^T], which leaves the fixed point
    unchanged and makes the step independent of the input scales), starting at radius0 * a_hat, and average the iterates of the second half (Polyak).
    Returns (v (R,), w (R, n)); their spread over replicates is the Monte Carlo uncertainty.
    The samples are drawn on the generator's device and the iteration runs on ``device``
    (default: the generator's), where the results are returned.
    """
    samples = check_positive_int(samples, name="samples", minimum=2)
    R = check_positive_int(replicates, name="replicates")
    steps = check_positive_int(steps, name="steps", minimum=2)
    a = as_tensor(a, name="a", ndim=1, dtype=torch.float64)
    dev = generator.device if device is None else as_device(device)
    Z = torch.stack([distribution.sample((samples,), generator) for _ in range(R)]).to(dev)  # (R, N, n)
    a = a.to(dev)  # computed on dev, with the samples
    y = Z @ a  # (R, N)
    Zt = Z.transpose(1, 2).contiguous()  # (R, n, N)
    prec = torch.linalg.inv(Zt @ Z / samples)  # (R, n, n): steps preconditioned by E[zz^T]^-1
    w = (radius0 * a / torch.linalg.vector_norm(a)).expand(R, -1).clone()  # (R, n)
    w_sum, v_sum, k = torch.zeros_like(w), torch.zeros(R, dtype=torch.float64, device=w.device), 0
    for t in range(steps):
        pre = (w[:, None, :] @ Zt)[:, 0]  # (R, N)
        s = pre > 0
        v = torch.where(s, y, 0.0).sum(1) / s.sum(1)
        c = torch.where(s & (pre < 1), v[:, None] - y, 0.0)  # crelu window times residual
        g = (prec @ (Zt @ c[:, :, None]))[..., 0] / samples  # (R, n)
        w = w - lr * g
        if t >= steps // 2:
            w_sum, v_sum, k = w_sum + w, v_sum + v, k + 1
    return v_sum / k, w_sum / k


# --- The chapter's checks: each returns a small table that prints as the chapter shows it. ---

LAW_NAMES = ("gaussian", "student_t", "uniform", "laplace", "anisotropic", "mixture", "digits")


def input_laws(n: int, *, df: float, aniso_ratio: float, mix_sep: float, mix_std: float,
               mix_shift: float, digits_kind: str = "pca") -> dict[str, Distribution]:
    r"""The chapter's seven input laws in dimension ``n``, by name (:data:`LAW_NAMES`).

    Standardised Gaussian :math:`N(0, I)`; Student-t with ``df`` degrees of freedom and one radial
    scale; uniform cube; i.i.d. Laplace; anisotropic Gaussian :math:`N(0, \mathrm{diag}(s^2))`
    with :math:`s` geometric from :math:`\sqrt r` to :math:`1/\sqrt r`, :math:`r` =
    ``aniso_ratio`` >= 1; a two-component Gaussian mixture (offset ``mix_sep``, component
    standard deviation ``mix_std``, common shift ``mix_shift``); scikit-learn's digits
    (``digits_kind`` "pca" or "patch"). Section "Four kinds of input laws".
    """
    n = check_positive_int(n, name="n")
    ratio = check_real(aniso_ratio, name="aniso_ratio", low=1.0)
    scales = tuple(float(x) for x in np.geomspace(math.sqrt(ratio), 1 / math.sqrt(ratio), n))
    return {
        "gaussian": make_distribution("gaussian", n),
        "student_t": make_distribution("student_t", n, df=df),
        "uniform": make_distribution("uniform", n),
        "laplace": make_distribution("laplace", n),
        "anisotropic": make_distribution("anisotropic", n, scales=scales),
        "mixture": make_distribution("mixture", n, sep=mix_sep, std=mix_std, shift=mix_shift),
        "digits": make_distribution("digits", n, kind=digits_kind),
    }


def _laws(laws) -> dict[str, Distribution]:
    if not isinstance(laws, dict) or not laws or not all(
            isinstance(d, Distribution) for d in laws.values()):
        raise ValueError(f"laws={_short(laws)} must be a non-empty dict name -> Distribution")
    return laws


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class LawTable:
    """Per law: ``symmetric`` (z and -z equal in law), ``rotation_invariant``, ``mean_norm`` |E z|."""

    rows: dict[str, tuple[bool, bool, float]]

    def __str__(self) -> str:
        return "\n".join(f"{k:>11}: symmetric {s!s:>5}, rotation-invariant {r!s:>5}, "
                         f"|mean| = {mu:.3f}" for k, (s, r, mu) in self.rows.items())


def law_properties(laws: dict[str, Distribution]) -> LawTable:
    """Which property each law has: symmetry z -> -z, rotation invariance, and |E z|."""
    return LawTable({k: (d.symmetric, d.rotation_invariant, float(d.mean.norm()))
                     for k, d in _laws(laws).items()})


def unit(phi_deg: float, n: int = 2) -> np.ndarray:
    """(cos phi, sin phi, 0, ..., 0) of length ``n`` >= 2: the teacher direction at ``phi_deg``."""
    phi = check_real(phi_deg, name="phi_deg")
    n = check_positive_int(n, name="n", minimum=2)
    out = np.zeros(n)
    out[:2] = [math.cos(math.radians(phi)), math.sin(math.radians(phi))]
    return out


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
    estimates of E g per STE there."""

    offset: float
    v: torch.Tensor
    v_gap: float
    coarse: dict[str, Estimate]


@dataclass(frozen=True)
class SpuriousCheck:
    """prop-gi-spurious for every law: the rows by law name."""

    rows: dict[str, SpuriousRow]

    def __str__(self) -> str:
        """Two lines per law: the offset and |v - v_spur|, then |E g| (with its largest |z|) of
        each STE, indented under the first (88 columns)."""
        lines = []
        for k, r in self.rows.items():
            g = "  ".join(f"{s} {float(e.mean.norm()):.4f} (z "
                          f"{float(e.z_score(0).abs().max()):4.1f})" for s, e in r.coarse.items())
            lines.append(f"{k:>11}: min at {r.offset:+5.1f} deg, |v - v_spur| "
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
                                 {s: est.coarse[s] for s in STE_NAMES})
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


@dataclass(frozen=True)
class CoarseAtStationary:
    """prop-gi-norelu for every law: the rows by law name."""

    rows: dict[str, CoarseRow]

    def __str__(self) -> str:
        """Two lines per law: v, then the radial/tangential parts of each STE, indented."""
        return "\n".join(
            f"{k:>11}: v = {r.v:.3f}; radial/tangential:\n{'':13}"
            + "  ".join(f"{s} {r.radial(s):+.4f}/{r.tangential(s):+.4f}" for s in r.coarse)
            for k, r in self.rows.items())


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

    def __str__(self) -> str:
        """The scan on one line, then each root on an indented line of its own."""
        at = "".join(f";\n{'':10}r = {r:.4f}: tangential part {fmt(t, '+.2e')}"
                     for r, t in zip(self.roots, self.tangential_at_roots, strict=True))
        return (f"{self.name:>8}: radial part changes sign {len(self.roots)} time(s) on "
                f"{len(self.radii)} radii from {self.radii[0]:.3g} to {self.radii[-1]:.3g}" + at)


def crelu_ray_scan(dist: Distribution, a, radii, *, name: str = "") -> RayScan:
    r"""Scan the ray :math:`\hat a` for vanishing points of the clipped-ReLU coarse gradient, by
    quadrature (:func:`linear_teacher_quad`; product laws, n = 2). A vanishing point on the ray
    needs both parts zero at one radius: where the radial part changes sign between grid points,
    the root is refined and the tangential part printed there (chapter general_inputs)."""
    a = np.asarray(a, dtype=np.float64)
    radii = as_tensor(radii, name="radii", ndim=1, dtype=torch.float64).numpy()
    if radii.size < 2 or not (radii > 0).all() or not (np.diff(radii) > 0).all():
        raise ValueError(f"radii={radii.tolist()} must be at least two increasing numbers > 0")
    a_hat = a / np.linalg.norm(a)
    u = np.array([-a_hat[1], a_hat[0]])

    def parts(r):
        g = linear_teacher_quad(dist, a, r * a_hat)["crelu"]
        return float(g @ a_hat), float(g @ u)

    rad, tan = np.array([parts(r) for r in radii]).T
    roots = [scipy.optimize.brentq(lambda r: parts(r)[0], radii[i], radii[i + 1], xtol=1e-14)
             for i in np.flatnonzero(np.sign(rad[:-1]) * np.sign(rad[1:]) < 0)]
    return RayScan(name or dist.describe(), radii, rad, tan, tuple(roots), tuple(parts(r)[1] for r in roots))


@dataclass(frozen=True)
class FixedPointRow:
    """A law's cReLU fixed point: ``angle`` (deg) to the stationary direction, its ``se``,
    the mean ``radius`` |w| and the quadrature angle ``quad`` (NaN where none applies)."""

    angle: float
    se: float
    radius: float
    quad: float

    @property
    def on_ray(self) -> bool:
        """The angle is zero within two standard errors."""
        return abs(self.angle) < 2 * self.se


@dataclass(frozen=True)
class FixedPoints:
    """The cReLU fixed point for every law, by name."""

    rows: dict[str, FixedPointRow]

    def __str__(self) -> str:
        return "\n".join(
            f"{k:>11}: angle {r.angle:+.3f} +- {r.se:.3f} deg (quadrature "
            f"{'n/a' if math.isnan(r.quad) else fmt(r.quad, '+.4f')}), |w| = {r.radius:.4f}"
            for k, r in self.rows.items())


def crelu_fixed_points(laws: dict[str, Distribution], stationary: Stationary, *,
                       phi_deg: float, samples: int, replicates: int, steps: int,
                       generator: torch.Generator, device=None) -> FixedPoints:
    r"""The cReLU fixed point, eq-gi-fixed, of the planar linear teacher :math:`a` =
    ``unit(phi_deg)`` for every law (chapter general_inputs, section "The open question").

    :func:`crelu_fixed_point_mc` on ``replicates`` samples of ``samples`` draws with ``steps``
    iterations, started at the Gaussian radius over the sampled standard deviation of
    :math:`a^\top z` (from ``samples`` draws of their own). The angle is measured from
    :math:`\hat a` for symmetric laws (prop-gi-ray) and from the stationary direction in
    ``stationary`` otherwise, whose uncertainty is added in quadrature to the replicates'
    standard error. Where the quadrature applies, :func:`crelu_fixed_point_quad`'s angle too.
    """
    laws = _laws(laws)
    R = check_positive_int(replicates, name="replicates", minimum=2)
    a, a_t = unit(phi_deg), torch.tensor(unit(phi_deg), device=generator.device)
    rows = {}
    for name, d in laws.items():
        ref, ref_se = ((0.0, 0.0) if d.symmetric else
                       (stationary.rows[name].offset, stationary.rows[name].uncertainty))
        r0 = GAUSSIAN_RADIUS / float((d.sample((samples,), generator) @ a_t).std())
        _, w_mc = crelu_fixed_point_mc(d, a_t, samples=samples, replicates=R,
                                       generator=generator, steps=steps, radius0=r0,
                                       device=device)
        ang = angle_deg(w_mc, a_t) - ref
        quad = math.nan
        if name in QUADRATURE_DISTRIBUTIONS:
            quad = float(angle_deg(crelu_fixed_point_quad(d, a)[1], a))
        rows[name] = FixedPointRow(float(ang.mean()),
                                   math.hypot(float(ang.std()) / math.sqrt(R), ref_se),
                                   float(w_mc.norm(dim=1).mean()), quad)
    return FixedPoints(rows)


@dataclass(frozen=True)
class SummaryTable:
    """Rows (law, STE, vanishes, |w| settled, final |w|) of the chapter's summary."""

    rows: tuple[tuple[str, str, str, bool, float], ...]

    def __str__(self) -> str:
        head = (f"{'law':>11} | {'STE':>8} | {'vanishes at the stationary point':<34} | "
                "|w| settled | final |w|")
        return "\n".join([head] + [
            f"{law:>11} | {s:>8} | {van:<34} | {'yes' if conv else 'no':>11} | {w:.3f}"
            for law, s, van, conv, w in self.rows])


def _vanishes(ste: str, fixed: FixedPointRow, at: CoarseRow) -> str:
    if ste == "crelu":
        return (f"{'on ray' if fixed.on_ray else 'off ray'}: {fixed.angle:+.2f} +- "
                f"{fixed.se:.2f} deg")
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
    (within two standard errors); for the others whether the radial part of ``at_stationary``
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
