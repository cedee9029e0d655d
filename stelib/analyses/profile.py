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

For the chapter's second teacher (:func:`teacher_problem`): the profile at the stationary
directions (:func:`stationary_profile`, printed one line per angle), each STE's coarse gradient
there with the uncertainty of the estimated point (:func:`coarse_at_stationary`), the least
stationary direction (:func:`profile_minimum`) and coarse gradients along a ray
(:func:`coarse_on_ray`).

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

from stelib.core._validate import as_tensor, check_choice, check_positive_int, check_real
from stelib.core.distributions import make_distribution
from stelib.core.montecarlo import estimate_on
from stelib.core.problems import Problem
from stelib.core.rounding import below_floor, fmt, fmts
from stelib.core.ste import check_ste

DTYPE = torch.float64
__all__ = ["Profile", "ProfileMinimum", "RayCoarse", "StationaryPointCheck", "coarse_at", "coarse_at_stationary",
           "coarse_on_ray", "crelu_radial_root", "direction", "profile", "profile_minimum",
           "stationary_angles", "stationary_profile", "teacher_problem", "v_se", "zero_v_angle"]


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

    def __str__(self) -> str:
        """One line per angle: theta in degrees, f, f' with its s.e., v."""
        return "\n".join(f"theta = {math.degrees(t):8.2f} deg: f = {f:.4f}, f' = {d:+.1e} (se {se:.1e}), "
                         f"v = {fmt(v, '+.4f')}" for t, f, d, se, v in zip(self.theta.tolist(), self.f, self.df,
                                                                           self.df_se, self.v, strict=True))


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
        self.cy2 = torch.cat([zero, torch.cumsum(torch.cat([yy * yy] * 3), 0)])
        self.N = z.shape[0]

    def _range(self, t):
        lo = torch.searchsorted(self.phi, t - math.pi / 2, right=True)
        hi = torch.searchsorted(self.phi, t + math.pi / 2, right=False)
        return lo, hi

    def __call__(self, t):  # t (K,) in [-pi, pi]
        lo, hi = self._range(t)
        P = (self.c1[hi] - self.c1[lo]) / self.N
        G = (self.cy[hi] - self.cy[lo]) / self.N
        return G, P

    def g_se(self, t):
        """G at the angles t and its standard error sqrt((E[y^2 sigma] - G^2) / N)."""
        lo, hi = self._range(t)
        G = (self.cy[hi] - self.cy[lo]) / self.N
        var = ((self.cy2[hi] - self.cy2[lo]) / self.N - G * G).clamp(min=0)
        return G, (var / self.N).sqrt()


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


def zero_v_angle(Z, y, theta: float, *, window: float = 0.05, level: float = 2.0) -> tuple[float, float] | None:
    r"""Whether the sample is consistent with a point of v = G/P = 0 within ``window`` radians of
    ``theta``, and where. The sample's G is constant between the angles :math:`\varphi_i \pm \pi/2`;
    on each such piece the ratio :math:`|G| / \mathrm{se}(G)`, :math:`\mathrm{se}(G)^2 =
    (E[y^2\sigma] - G^2)/N`, is computed (0 where G = 0 exactly). Returns ``(angle, ratio)`` of
    the piece nearest ``theta`` among those where G = 0 exactly (the middle of its run of such
    pieces), or, if there are none, among those whose ratio is at most ``level``; ``None`` when
    the ratio exceeds ``level`` on every piece.

    At such an angle :math:`(\theta_0, v = 0)` is a stationary point of the loss (its v-derivative
    is :math:`vP - G`, its w-derivative has the factor v), and every coarse gradient vanishes there
    through the same factor. Searching a window makes the test liberal: a point whose population
    v is within a few :math:`1/\sqrt N` of 0 passes too."""
    z, y = _sample(Z, y)
    theta = check_real(theta, name="theta")
    window = check_real(window, name="window", low=0.0, high=0.5, low_open=True)
    level = check_real(level, name="level", low=0.0)
    phi = torch.atan2(z[:, 1], z[:, 0])
    d = _wrap(torch.cat([phi + math.pi / 2, phi - math.pi / 2]) - theta)  # where G can jump
    d = d[(d > -window) & (d < window)].sort().values
    edge = torch.tensor([window], dtype=DTYPE, device=d.device)
    d = torch.cat([-edge, d, edge])
    mids = (d[:-1] + d[1:]) / 2  # one angle inside each piece, relative to theta
    G, se = _HalfPlaneSums(z, y).g_se(_wrap(theta + mids))
    ratio = torch.where(G == 0, torch.zeros_like(G), G.abs() / se)  # se = 0 and G != 0: inf
    exact = G == 0
    ok = exact if bool(exact.any()) else ratio <= level
    if not bool(ok.any()):
        return None
    at = torch.nonzero(ok).flatten()
    k = lo = hi = int(at[mids[at].abs().argmin()])  # the piece nearest theta
    if bool(exact[k]):  # the middle of its run of exact zeros
        while lo > 0 and bool(exact[lo - 1]):
            lo -= 1
        while hi < len(G) - 1 and bool(exact[hi + 1]):
            hi += 1
    m = (lo + hi) // 2
    angle = float(_wrap(mids.new_tensor(theta + float(mids[m]))))
    return angle, float(ratio[m])


def v_se(Z, y, theta: float) -> float:
    """Delta-method standard error of v = G/P at the direction theta (P = fraction active)."""
    z, y = _sample(Z, y)
    s = (z @ direction(torch.tensor(theta, dtype=DTYPE, device=z.device)) > 0).to(DTYPE)
    P = s.mean()
    v = (y * s).mean() / P
    return float(((y - v) * s / P).std() / math.sqrt(len(y)))


TEACHERS = ("relu_teacher", "sign", "linear")


def teacher_problem(labels: str, distribution: str, a, *, noise: float = 0.0) -> Problem:
    r"""The m = 1, n = 2 problem of a misspecified teacher with direction ``a`` (2,):
    ``"relu_teacher"`` :math:`y^* = \mathrm{relu}(a^\top z)`, ``"sign"``
    :math:`y^* = \mathrm{sign}(a^\top z)` or ``"linear"`` :math:`y^* = a^\top z`, inputs from the
    named ``distribution`` (:func:`stelib.distributions.make_distribution`), label noise ``noise``."""
    check_choice(labels, TEACHERS, name="labels")
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    if a.shape != (2,):
        raise ValueError(f"a={a.tolist()} must have 2 entries (the student lives in the plane)")
    kw = dict(v_star=[1.0], w_star=a) if labels == "relu_teacher" else dict(a=a)
    return Problem(make_distribution(distribution, 2), m=1, labels=labels, noise=noise, **kw)


def stationary_profile(Z, y) -> Profile:
    """:func:`profile` (with standard errors) at the :func:`stationary_angles` of the sample."""
    theta = torch.tensor(stationary_angles(Z, y), dtype=DTYPE, device="cpu")  # profile moves it to Z
    return profile(Z, y, theta, with_se=True)


@dataclass(frozen=True)
class StationaryPointCheck:
    """The coarse gradients at one estimated stationary point (theta, v) of a sample profile."""

    theta: float
    se_theta: float  #: s.e. of theta: s.e.(f') / |f''|; NaN at a point with v = 0 (not needed)
    v: float
    f: float  #: profile loss (at a point with v = 0: E[y^2]/2, the loss at v = 0)
    radius: float | None  #: cReLU radius 1/c of crelu_radial_root (None: none found)
    searched: bool  #: whether the cReLU radius was looked for ("crelu" in the STEs, v != 0)
    residual: dict[str, float]  #: |mean coarse gradient| per STE
    z: dict[str, float]  #: largest |mean| / s.e. over the coordinates, per STE
    v_zero: float | None = None  #: at a point with v = 0: the least |G| / s.e.(G) of zero_v_angle

    def __str__(self) -> str:
        deg = f"theta = {math.degrees(self.theta):8.2f} deg"
        if self.v_zero is not None:  # 88 columns
            fit = "G is 0" if self.v_zero == 0 else f"|G| is {self.v_zero:.1f} s.e."
            return (f"{deg}, v = 0 (the sample's {fit} here),\n{'':8}"
                    "cReLU radius: not needed (every coarse gradient has the factor v)")
        radius = ("not looked for (crelu is not among the STEs)" if not self.searched
                  else "none (radial part never changes sign)" if self.radius is None else f"{self.radius:.4f}")
        se = "s.e. n/a: f'' = 0" if math.isnan(self.se_theta) else f"s.e. {math.degrees(self.se_theta):.2f}"
        return f"{deg} ({se}), v = {fmt(self.v, '+.4f')},\n{'':8}cReLU radius: {radius}"


def coarse_at_stationary(prof: Profile, Z1, y1, Z2, y2, stes, *, h: float = 0.05, window: float = 0.05
                         ) -> list[StationaryPointCheck]:
    r"""At each angle of ``prof`` (a :func:`stationary_profile` of the sample ``Z1, y1``), the
    coarse gradient of each STE on the fresh sample ``Z2, y2`` (:func:`coarse_at`), at |w| = 1, and
    for crelu at the radius of :func:`crelu_radial_root` on ``Z1`` (|w| = 1 when there is none).
    Its standard error adds the uncertainty of the point: :math:`\mathrm{se}_\theta =
    \mathrm{se}(f')/|f''|` with :math:`f''` by central differences of width ``h``, and
    :func:`v_se`.

    Where ``Z1, y1`` are consistent with v = 0 within ``window`` radians of the angle
    (:func:`zero_v_angle`: the profile maxima of a teacher that is zero on a half-plane, and the
    points where G changes sign) the point is taken as :math:`(\theta_0, v = 0)`, with
    :math:`\theta_0` from :func:`zero_v_angle`: a stationary point of the loss, located without
    the slope of the profile, whose second derivative may vanish there (the ReLU teacher's maximum,
    where :math:`f - f(\theta_0)` is of fourth order). Every coarse gradient has the factor v, so
    each vanishes there exactly, whatever the STE: the check is then that v = 0 fits the sample.
    """
    stes = tuple(check_ste(s, name="stes") for s in stes)
    h = check_real(h, name="h", low=0.0, high=0.5, low_open=True)
    window = check_real(window, name="window", low=0.0, high=0.5, low_open=True)
    d2 = (profile(Z1, y1, prof.theta + h).df - profile(Z1, y1, prof.theta - h).df) / (2 * h)
    half_ey2 = float((_sample(Z1, y1)[1] ** 2).mean()) / 2
    out = []
    for t, v, se_df, f2, f in zip(prof.theta.tolist(), prof.v.tolist(), prof.df_se.tolist(), d2.tolist(),
                                  prof.f.tolist(), strict=True):
        zero = zero_v_angle(Z1, y1, t, window=window)
        if zero is not None:  # (theta_0, 0): every coarse gradient has the factor v = 0
            t, v, f = zero[0], 0.0, half_ey2
        c = crelu_radial_root(v, direction(t), Z1, y1) if "crelu" in stes and zero is None else None
        se_t = math.nan if zero is not None or f2 == 0 else se_df / abs(f2)
        residual, z = {}, {}
        for ste in stes:
            radius = 1 / c if (ste == "crelu" and c is not None) else 1.0
            mean, se = coarse_at(Z2, y2, t, v, radius, ste, se_theta=0.0 if math.isnan(se_t) else se_t,
                                 se_v=0.0 if zero is not None else v_se(Z1, y1, t))
            residual[ste], z[ste] = mean.norm().item(), (mean.abs() / se.clamp(min=1e-300)).max().item()
        out.append(StationaryPointCheck(t, se_t, v, f, None if c is None else 1 / c,
                                        "crelu" in stes and zero is None, residual, z,
                                        None if zero is None else zero[1]))
    return out


@dataclass(frozen=True)
class ProfileMinimum:
    """The stationary direction of least profile loss, and its angle to a reference direction."""

    theta: float
    offset_deg: float  #: theta minus the angle of the reference, in degrees
    v: float
    f: float


def profile_minimum(Z, y, *, reference, within_deg: float = 180.0) -> ProfileMinimum:
    """Among the :func:`stationary_angles` of the sample less than ``within_deg`` degrees from the
    2-vector ``reference`` (e.g. the teacher's a; 180: all of them), the one where :func:`profile`
    is least, with v = G/P there and its angle from ``reference`` in (-180, 180]. With
    ``within_deg=90`` the minimiser on the reference's side: for an odd teacher under a symmetric
    law (the sign teacher) the mirror point (-reference, -v) has the same population loss, and the
    sample ranks the two by noise."""
    ref = as_tensor(reference, name="reference", ndim=1, dtype=DTYPE)
    if ref.shape != (2,) or not bool((ref != 0).any()):
        raise ValueError(f"reference={ref.tolist()} must be a non-zero 2-vector")
    within = check_real(within_deg, name="within_deg", low=0.0, high=180.0, low_open=True)
    th = torch.tensor(stationary_angles(Z, y), dtype=DTYPE, device="cpu")
    if not len(th):
        raise ValueError("the sample profile has no stationary direction (a flat profile)")
    offsets = torch.rad2deg(_wrap(th - math.atan2(float(ref[1]), float(ref[0]))))
    near = (offsets.abs() < within) | (within == 180.0)
    if not bool(near.any()):
        raise ValueError(f"within_deg={within_deg!r}: no stationary direction of the sample lies within "
                         f"{within:g} deg of reference (they lie at {fmts(offsets, '+.1f')} deg)")
    th, offsets = th[near], offsets[near]
    p = profile(Z, y, th)
    k = int(p.f.argmin())
    return ProfileMinimum(float(th[k]), float(offsets[k]), float(p.v[k]), float(p.f[k]))


@dataclass(frozen=True)
class RayCoarse:
    """Sample-mean coarse gradients of one STE at a few points of a ray, named ``labels``."""

    ste: str
    labels: tuple[str, ...]
    norms: tuple[float, ...]  #: |mean coarse gradient| per point
    z_max: float  #: largest |mean| / s.e. over points and coordinates

    def __str__(self) -> str:
        zs = "-" if all(below_floor(x) for x in self.norms) else f"{self.z_max:.1f}"  # z of zeros: noise
        return (f"{self.ste:>8}: |E g| at |w| = {', '.join(self.labels)}: {fmts(self.norms, '.1e')}; "
                f"largest |z| {zs}")


def coarse_on_ray(Z, y, w_hat, ste: str, *, v: float, radii: dict[str, float]) -> RayCoarse:
    """The mean coarse gradient of ``ste`` on the sample ``Z, y`` at (v, r w_hat/|w_hat|) for each
    radius r of ``radii`` (name: radius), with its largest z-score (:func:`stelib.montecarlo.estimate_on`)."""
    check_ste(ste)
    w_hat = as_tensor(w_hat, name="w_hat", ndim=1, dtype=DTYPE)
    v = check_real(v, name="v")
    if not radii or any(not isinstance(k, str) for k in radii):
        raise ValueError(f"radii={radii!r} must be a non-empty dict of names to radii")
    rs = [check_real(r, name="radii", low=0.0, low_open=True) for r in radii.values()]
    one, w_hat = torch.tensor([v], dtype=DTYPE, device="cpu"), w_hat / w_hat.norm()  # moved to Z
    ests = [estimate_on(one, r * w_hat, Z, y, stes=(ste,)).coarse[ste] for r in rs]
    z = max(float((e.mean.abs() / e.se.clamp(min=1e-300)).max()) for e in ests)
    return RayCoarse(ste, tuple(radii), tuple(e.mean.norm().item() for e in ests), z)
