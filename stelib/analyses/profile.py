r"""Stationary directions and cReLU vanishing radii found from samples (m = 1, n = 2).

For a student :math:`y = v\,\sigma(w^\top z)` with one hidden unit and any labels :math:`y^*`,
the loss is scale invariant, so it suffices to study directions :math:`\hat w_\theta =
(\cos\theta, \sin\theta)`. Minimising over v gives the *profile loss*

.. math::

    f(\theta) = \tfrac12 E[y^{*2}] - \frac{G(\theta)^2}{2P(\theta)},\qquad
    G = E[y^*\sigma(\hat w_\theta^\top z)],\ P = E[\sigma(\hat w_\theta^\top z)],\ v(\theta) = G/P.

On a sample, :math:`\sigma(\hat w_\theta^\top z_i) = 1` iff the polar angle :math:`\varphi_i` of
:math:`z_i` lies in the half circle :math:`(\theta - \pi/2, \theta + \pi/2)`, so G and P at every
angle are differences of cumulative sums over the samples sorted by :math:`\varphi_i`: exact for
the sample, O(N log N) in all. The slope is the central difference
:math:`f'(\theta) \approx (f(\theta+\delta) - f(\theta-\delta))/(2\delta)` (a smoothing of width
:math:`\delta`, bias O(:math:`\delta^2`)), with a delta-method standard error.

Along a ray :math:`w = \hat w/c` the radial part of the sample-mean cReLU coarse gradient is

.. math::

    R(c) = \frac1N\sum_i x_i\,1\{0 < x_i < c\}\; v\,(v - y_i),\qquad x_i = \hat w^\top z_i,

a cumulative sum over the samples sorted by :math:`x_i`; :func:`crelu_radial_root` returns the
c where R changes sign from + to - for the last time (a stable radius 1/c under coarse
gradient descent: the iterate shrinks above it and grows below it).

Example
-------
>>> import torch
>>> from stelib.core.misspecified import LinearTeacherModel, vanishing_norm
>>> Z, y = LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=torch.float64)).sample(
...     400_000, torch.Generator().manual_seed(0))
>>> [round(t, 1) for t in stationary_angles(Z, y)]
[-1.6, 0.0, 1.6, 3.1]
>>> c = crelu_radial_root(0.8, torch.tensor([1.0, 0.0]), Z, y)
>>> abs(1 / c - vanishing_norm("crelu")) < 0.02
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from stelib.core._validate import as_tensor, check_positive_int, check_real

DTYPE = torch.float64
__all__ = ["Profile", "coarse_at", "crelu_radial_root", "direction", "profile", "stationary_angles", "v_se"]


def direction(theta) -> torch.Tensor:
    """Unit vectors (cos theta, sin theta), shape (..., 2)."""
    t = as_tensor(theta, name="theta", dtype=DTYPE)
    return torch.stack([torch.cos(t), torch.sin(t)], dim=-1)


def _sample(Z, y):
    Z = as_tensor(Z, name="Z", ndim=3, dtype=DTYPE)
    y = as_tensor(y, name="y", ndim=1, dtype=DTYPE)
    if Z.shape[1:] != (1, 2) or Z.shape[0] != y.shape[0] or Z.shape[0] < 2:
        raise ValueError(f"need Z of shape (N, 1, 2) and y of shape (N,), N >= 2; got "
                         f"{tuple(Z.shape)}, {tuple(y.shape)}")
    return Z[:, 0, :], y


@dataclass(frozen=True)
class Profile:
    """Profile loss at angles ``theta`` (K,): ``f``, slope ``df`` (s.e. ``df_se``), ``v`` = G/P."""

    theta: torch.Tensor
    f: torch.Tensor
    df: torch.Tensor
    df_se: torch.Tensor
    v: torch.Tensor


class _HalfPlaneSums:
    """Sums of y^0 and y^1 over the samples with polar angle in (t - pi/2, t + pi/2)."""

    def __init__(self, z, y):
        phi = torch.atan2(z[:, 1], z[:, 0])
        order = torch.argsort(phi)
        phi, yy = phi[order], y[order]
        self.phi = torch.cat([phi - 2 * math.pi, phi, phi + 2 * math.pi])  # sorted, (3N,)
        ones = torch.ones_like(yy)
        zero = torch.zeros(1, dtype=DTYPE, device=y.device)
        self.c1 = torch.cat([zero, torch.cumsum(torch.cat([ones] * 3), 0)])
        self.cy = torch.cat([zero, torch.cumsum(torch.cat([yy] * 3), 0)])
        self.N = z.shape[0]

    def __call__(self, t):  # t (K,) in [-pi, pi]
        lo = torch.searchsorted(self.phi, t - math.pi / 2, right=True)
        hi = torch.searchsorted(self.phi, t + math.pi / 2, right=False)
        P = (self.c1[hi] - self.c1[lo]) / self.N
        G = (self.cy[hi] - self.cy[lo]) / self.N
        return G, P


def _wrap(t):
    return torch.remainder(t + math.pi, 2 * math.pi) - math.pi


def _slope_se(z, y, t, delta):
    """Delta-method s.e. of (F(t + delta) - F(t - delta)) / (2 delta), F = -G^2 / (2P)."""
    psi = torch.zeros_like(y)
    for sign in (1.0, -1.0):
        d = direction(torch.tensor(t + sign * delta, dtype=DTYPE, device=z.device))
        s = (z @ d > 0).to(DTYPE)
        G, P = (y * s).mean(), s.mean()
        psi = psi + sign * ((-G / P) * y * s + (G * G / (2 * P * P)) * s)
    return float((psi / (2 * delta)).std() / math.sqrt(len(y)))


def profile(Z, y, theta, *, delta: float = 0.02, with_se: bool = False) -> Profile:
    """Profile loss f, slope f' (central difference of width ``delta``) and v = G/P at ``theta``.

    ``df_se`` is the delta-method standard error of the slope when ``with_se`` (O(N) per
    angle, so meant for a few angles), else NaN.
    """
    z, y = _sample(Z, y)
    delta = check_real(delta, name="delta", low=0.0, high=0.5, low_open=True)
    theta = as_tensor(theta, name="theta", ndim=1, dtype=DTYPE).to(z.device)
    sums = _HalfPlaneSums(z, y)
    ey2 = float((y * y).mean())

    def f(t):
        G, P = sums(_wrap(t))
        return ey2 / 2 - G * G / (2 * P), G / P

    f0, v = f(theta)
    df = (f(theta + delta)[0] - f(theta - delta)[0]) / (2 * delta)
    se = torch.tensor([_slope_se(z, y, float(t), delta) if with_se else math.nan for t in theta],
                      dtype=DTYPE, device=z.device)
    return Profile(theta, f0, df, se, v)


def stationary_angles(Z, y, *, grid: int = 3600, delta: float = 0.1, merge: float = 0.05) -> list[float]:
    """Angles in [-pi, pi) where the profile slope f' changes sign (grid of ``grid`` angles,
    wrapping around, refined by linear interpolation), sorted.

    Noise makes the slope cross zero several times where f is flat: sign changes closer than
    ``merge`` radians form a cluster, which counts as one stationary angle (its median) when it
    has an odd number of crossings and as none when even (no net change of sign)."""
    grid = check_positive_int(grid, name="grid", minimum=8, maximum=10**6)
    dev = Z.device if isinstance(Z, torch.Tensor) else "cpu"
    th = -math.pi + 2 * math.pi * torch.arange(grid, dtype=DTYPE, device=dev) / grid
    df = profile(Z, y, th, delta=delta).df
    nxt = torch.roll(df, -1)
    roots = []
    for i in torch.nonzero((df == 0) | (df * nxt < 0)).flatten().tolist():
        a, b = float(df[i]), float(nxt[i])
        frac = 0.0 if a == 0 else a / (a - b)
        roots.append(float(_wrap(torch.tensor(float(th[i]) + frac * 2 * math.pi / grid, dtype=DTYPE, device="cpu"))))
    return _merge(sorted(roots), merge)


def _merge(roots: list[float], merge: float) -> list[float]:
    if not roots:
        return roots
    clusters = [[roots[0]]]
    for r in roots[1:]:
        if r - clusters[-1][-1] < merge:
            clusters[-1].append(r)
        else:
            clusters.append([r])
    if len(clusters) > 1 and roots[0] + 2 * math.pi - roots[-1] < merge:  # wrap around
        clusters[0] = [r - 2 * math.pi for r in clusters.pop()] + clusters[0]
    out = [float(_wrap(torch.tensor(c[len(c) // 2], dtype=DTYPE, device="cpu"))) for c in clusters if len(c) % 2]
    return sorted(out)


def crelu_radial_root(v, w_hat, Z, y) -> float | None:
    """The c = 1/|w| > 0 where the sample radial part R(c) of the cReLU coarse gradient on the
    ray of ``w_hat`` changes sign from + to - for the last time; ``None`` if R ends positive or
    never changes sign that way (then the ray has no vanishing point at a stable radius)."""
    z, y = _sample(Z, y)
    v = float(as_tensor(v, name="v", dtype=DTYPE).reshape(()))
    w_hat = as_tensor(w_hat, name="w_hat", ndim=1, dtype=DTYPE).to(z.device)
    x = z @ (w_hat / torch.linalg.vector_norm(w_hat))
    keep = x > 0
    x, y = x[keep], y[keep]
    order = torch.argsort(x)
    x, y = x[order], y[order]
    R = torch.cumsum(x * v * (v - y), dim=0)  # N R(c) for x_k < c <= x_{k+1}
    down = torch.nonzero((R[:-1] > 0) & (R[1:] <= 0)).flatten()
    if len(down) == 0 or float(R[-1]) > 0:
        return None
    k = int(down[-1])
    if bool((R[k + 1:] > 0).any()):
        return None
    return float(x[k + 1])  # R changes sign when c passes x_{k+1}


def coarse_at(Z, y, theta: float, v: float, radius: float, ste: str, *, se_theta: float = 0.0,
              se_v: float = 0.0, step: float = 1e-2):
    """Sample-mean coarse gradient at w = radius * (cos theta, sin theta) and v, shape (2,), with
    a standard error that adds the uncertainty of an *estimated* point (theta, v):
    se^2 = se_MC^2 + (dg/dtheta se_theta)^2 + (dg/dv se_v)^2, the derivatives by central
    differences of width ``step`` on the same sample. Returns ``(mean, se)``."""
    from stelib.core.montecarlo import estimate_on

    def g(t, vv):
        w = radius * direction(torch.tensor(t, dtype=DTYPE, device="cpu"))  # estimate_on moves v, w to Z
        return estimate_on(torch.tensor([vv], dtype=DTYPE, device="cpu"), w, Z, y, stes=(ste,)).coarse[ste]

    e = g(theta, v)
    var = e.se**2
    if se_theta > 0:
        var = var + ((g(theta + step, v).mean - g(theta - step, v).mean) / (2 * step) * se_theta) ** 2
    if se_v > 0:
        var = var + ((g(theta, v + step).mean - g(theta, v - step).mean) / (2 * step) * se_v) ** 2
    return e.mean, var.sqrt()


def v_se(Z, y, theta: float) -> float:
    """Delta-method standard error of v = G/P at the direction theta (P = fraction active)."""
    z, y = _sample(Z, y)
    s = (z @ direction(torch.tensor(theta, dtype=DTYPE, device=z.device)) > 0).to(DTYPE)
    P = s.mean()
    v = (y * s).mean() / P
    return float(((y - v) * s / P).std() / math.sqrt(len(y)))
