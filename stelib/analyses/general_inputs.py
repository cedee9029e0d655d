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

Example
-------
>>> from stelib.core.distributions import make_distribution
>>> v, w = crelu_fixed_point_quad(make_distribution("gaussian", 2), [1.0, 0.0])
>>> round(float(w[0]), 4), abs(float(w[1])) < 1e-9     # vanishing_norm("crelu") along a
(0.7632, True)
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
import torch

from stelib.core._validate import as_device, as_tensor, check_positive_int
from stelib.core.distributions import Distribution

__all__ = [
    "QUADRATURE_DISTRIBUTIONS", "angle_deg", "crelu_fixed_point_mc", "crelu_fixed_point_quad",
    "linear_teacher_quad", "optimal_v_on", "profile_loss_on", "stationary_direction_quad",
    "strip_moments",
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
