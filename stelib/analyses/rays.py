r"""Coarse gradients along rays (book: the scale-symmetry chapter, prop-scale-radial).

On a ray :math:`w = r\,\hat w` the identity and ReLU STEs' expected coarse gradients do not
depend on :math:`r` (the scale symmetry), so their radial part :math:`\rho_\mu = \hat
w^\top\mathbb{E}\,g_\mu` moves :math:`|w|` by :math:`\eta\rho_\mu` per step for ever; the clipped
ReLU's changes with :math:`r` and can vanish. The chapter's checks of that, each returning a
small result that prints itself:

* :func:`yin_teacher` (a teacher of Yin's model with spurious minima), :func:`yin_radial_parts`,
  :func:`linear_teacher_ray` and :func:`ray_montecarlo`: radial parts on minimising rays, in
  closed form and by Monte Carlo for any input law;
* :func:`linear_ray_descent` and :func:`spurious_ray_descent`: coarse gradient descent along a
  ray of the linear teacher and from Yin's spurious ray;
* :func:`large_scale_fit`: the clipped ReLU against the true gradient at large ``|w|``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from stelib.analyses.symmetry import (
    _positive_values,
    least_squares_v,
    loglog_slope,
    mean_se,
    radial_part,
    smoothed_true_grad,
)
from stelib.core import gaussian, misspecified
from stelib.core._validate import (
    as_device,
    as_tensor,
    check_choices,
    check_positive,
    check_positive_int,
)
from stelib.core.distributions import DTYPE
from stelib.core.network import coarse_grads
from stelib.core.problems import Problem
from stelib.core.rounding import FLOOR, fmt, fmt_se
from stelib.core.ste import STE_NAMES
from stelib.core.train import History, population_cgd

__all__ = [
    "LargeScaleFit", "LinearTeacherRay", "RayDescent", "RayMonteCarlo", "RayRadialParts",
    "SpuriousRayDescent", "large_scale_fit", "linear_ray_descent", "linear_teacher_ray",
    "ray_montecarlo", "spurious_ray_descent", "yin_radial_parts", "yin_teacher",
]


def yin_teacher(*, m: int, n: int, generator: torch.Generator,
                max_draws: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Teacher weights :math:`v^*` (m,), :math:`w^*` (n,) of Yin's model, drawn N(0, I).

    For m > 1, :math:`v^*` is redrawn until the ray :math:`\theta = \pi` holds spurious minima
    (:func:`stelib.gaussian.spurious_minima_exist`); then :math:`w^*` is drawn. ``ValueError``
    after ``max_draws`` draws of :math:`v^*` without one.
    """
    m = check_positive_int(m, name="m", maximum=4096)
    n = check_positive_int(n, name="n", maximum=4096)
    max_draws = check_positive_int(max_draws, name="max_draws")
    def draw(k: int) -> torch.Tensor:
        return torch.randn(k, generator=generator, dtype=DTYPE, device=generator.device)

    v_star = draw(m)
    for _ in range(max_draws):
        if m == 1 or gaussian.spurious_minima_exist(v_star):
            return v_star, draw(n)
        v_star = draw(m)
    raise ValueError(f"no v* with spurious minima in max_draws={max_draws} draws")


@dataclass(frozen=True)
class RayRadialParts:
    """Radial parts ``rho[ste]`` at points ``|w| = r`` of named rays: rows (ray, kind, r, rho),
    and the norms ``|E g|`` of the whole expected coarse gradients, one dict per row."""

    rows: tuple[tuple[str, str, float, dict[str, float]], ...]
    sizes: tuple[dict[str, float], ...]  #: |E g_ste| at the point of each row

    def __str__(self) -> str:  # three lines per row: the point, rho, |E g|
        return "\n".join(
            f"{name:24s} [{kind}] |w| = {r}:\n    rho = "
            + ", ".join(f"{s} {fmt(x, '+.4f')}" for s, x in rho.items())
            + ";\n    |E g| = " + ", ".join(f"{s} {fmt(x, '.4f')}" for s, x in size.items())
            for (name, kind, r, rho), size in zip(self.rows, self.sizes, strict=True))


def yin_radial_parts(v_star, w_star, *, norms: Sequence[float] = (0.5, 2.0)) -> RayRadialParts:
    r"""Radial parts :math:`\rho_\mu = \hat w^\top\mathbb{E}\,g_\mu` on Yin's two minimising rays.

    The rays are :math:`v = v^*, \theta = 0` (global minimum) and :math:`v = \tilde v,
    \theta = \pi` (:func:`stelib.gaussian.spurious_minimizer_v`), each classified by
    :func:`stelib.gaussian.classify_critical_point`; closed forms of Yin's Gaussian model at
    every r in ``norms``, for every STE (Proposition prop-scale-radial), and the norm of each
    whole expected coarse gradient (zero when it vanishes, equal to :math:`|\rho_\mu|` when it is
    radial). Returns a :class:`RayRadialParts`.
    """
    norms = _positive_values(norms, name="norms")
    ws_hat = w_star / w_star.norm()
    rays = {"Yin, v = v*, theta = 0": (v_star, ws_hat),
            "Yin, v = v~, theta = pi": (gaussian.spurious_minimizer_v(v_star), -ws_hat)}
    rows, sizes = [], []
    for name, (v, d) in rays.items():
        kind = gaussian.classify_critical_point(v, d, v_star, w_star)
        for r in norms:
            g = {s: gaussian.expected_coarse_grad(v, r * d, v_star, w_star, s) for s in STE_NAMES}
            rows.append((name, kind, r, {s: radial_part(x, d).item() for s, x in g.items()}))
            sizes.append({s: x.norm().item() for s, x in g.items()})
    return RayRadialParts(tuple(rows), tuple(sizes))


@dataclass(frozen=True, eq=False)
class LinearTeacherRay:
    r"""The minimising ray :math:`\hat w = \hat a` of the linear teacher under Gaussian inputs."""

    a: torch.Tensor  #: the teacher (n,)
    v: torch.Tensor  #: the optimal second layer (1,), 2 phi(0) |a|
    rho: dict[str, float]  #: radial part of each STE at |w| = 1
    r_star: float  #: |w| where the clipped-ReLU expected coarse gradient vanishes
    norms: tuple[float, ...]
    rho_curve: dict[str, tuple[float, ...]]  #: radial part of each STE at every |w| in norms
    slope: float  #: derivative of the clipped-ReLU radial part in |w| at r_star (> 0)

    @property
    def lr_bound(self) -> float:
        """``2 / slope``: prop-scale-radial (b) makes ``r_star`` attract along the ray for every
        learning rate in (0, lr_bound)."""
        return 2.0 / self.slope

    def __str__(self) -> str:
        head = "linear teacher, |w| = 1: "  # the next lines continue under "rho"
        return (head + "rho = " + ", ".join(f"{s} {x:+.4f}" for s, x in self.rho.items())
                + f";\n{'':{len(head)}}clipped ReLU vanishes at |w| = {self.r_star:.6f},"
                + f"\n{'':{len(head)}}slope of its rho there {self.slope:+.4f}: "
                + f"attracting for lr < {self.lr_bound:.4g}")


def linear_teacher_ray(a, *, norms: Sequence[float]) -> LinearTeacherRay:
    r"""Radial parts on the linear teacher's minimising ray (Proposition prop-scale-radial).

    For :math:`y^* = a^\top z` (m = 1) and Gaussian inputs, the closed forms of
    :mod:`stelib.misspecified` at :math:`v = 2\varphi(0)|a|`, :math:`w = r\hat a`:
    :math:`\rho_\mu(r) = \hat a^\top\mathbb{E}\,g_\mu`, at r = 1 (identity
    :math:`2\varphi(0)|a|^2(1/\pi - 1)`, ReLU :math:`2\varphi(0)|a|^2(1/\pi - 1/2)`) and at every
    r in ``norms``, the root :math:`r_0 = 1/\kappa^*` of the clipped-ReLU one and its slope there,
    :math:`\rho_{\rm crelu}'(r_0) = 2\varphi(0)\kappa^{*3}\varphi(\kappa^*)(\kappa^* - 2\varphi(0))
    > 0` (from :math:`\rho_{\rm crelu} = 2\varphi(0)\,r(1/|w|)` with
    :math:`r'(\kappa) = \kappa\varphi(\kappa)(2\varphi(0) - \kappa)`, proof of prop-ms-vanishing),
    the :math:`\rho'(r_0)` of prop-scale-radial (b). ``a`` must be a unit vector (the ray's
    direction). Returns a :class:`LinearTeacherRay`.
    """
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    if abs(float(a.norm()) - 1.0) > 1e-12:
        raise ValueError(f"a must be a unit vector, got |a| = {float(a.norm())!r}")
    norms = _positive_values(norms, name="norms")
    lin = misspecified.LinearTeacherModel(a)
    v = misspecified.stationary_points(a).min_v[0]
    rho = {s: radial_part(lin.expected_coarse_grad(v, a, s), a).item() for s in STE_NAMES}
    R = torch.tensor(norms, dtype=DTYPE, device="cpu")
    curve = {s: tuple(radial_part(lin.expected_coarse_grad(v, r * a, s), a).item() for r in R)
             for s in STE_NAMES}
    r_star = misspecified.vanishing_norm("crelu")
    k, phi0 = 1.0 / r_star, 1.0 / math.sqrt(2 * math.pi)
    slope = 2 * phi0 * k**3 * phi0 * math.exp(-k * k / 2) * (k - 2 * phi0)
    return LinearTeacherRay(a, v, rho, r_star, norms, curve, slope)


@dataclass(frozen=True, eq=False)
class RayMonteCarlo:
    r"""Sample radial parts on the ray :math:`\hat w = \hat a` of a linear teacher (any law)."""

    distribution: str
    v: float  #: least-squares second layer on the sample
    v_gaussian: float  #: the optimal v under Gaussian inputs, 2 phi(0) |a|
    grad_norm: float  #: |w| |grad_w L| at |w| = 1, smoothed Monte Carlo estimate
    grad_z: float  #: largest |z| over its coordinates
    norms: tuple[float, ...]
    rho: dict[str, tuple[float, ...]]  #: sample radial part of each STE at every |w| in norms
    sign_changes: tuple[tuple[float, float], ...]  #: consecutive norms where rho_crelu goes - to +
    v_se: float  #: delta-method standard error of v
    grad_norm_se: float  #: delta-method standard error of grad_norm
    dim: int  #: coordinates of the gradient (the input dimension n)

    @property
    def grad_z_chance(self) -> float:
        r"""Upper bound on the chance of a largest :math:`|z|` at least :attr:`grad_z` (as shown,
        two decimals) over the :attr:`dim` coordinates when the ray is stationary.

        Šidák's inequality for jointly normal z-scores of any correlation:
        :math:`1 - (1 - p)^n` with :math:`p = P(|N(0, 1)| \ge z)` (the chapter's reading of
        the printed :math:`|z|`, section on the radial part).
        """
        p = math.erfc(float(format(self.grad_z, ".2f")) / math.sqrt(2))
        return -math.expm1(self.dim * math.log1p(-p)) if p < 1 else 1.0

    def __str__(self) -> str:
        changes = ", ".join(f"{lo:g}-{hi:g}" for lo, hi in self.sign_changes)
        return (f"{self.distribution}: v = {fmt_se(self.v, self.v_se)} (Gaussian: "
                f"{self.v_gaussian:.4f});\n    on the ray |w| |grad_w L| = "
                f"{fmt_se(self.grad_norm, self.grad_norm_se)}, largest |z| of its coordinates "
                f"{self.grad_z:.2f}\n    (if the ray is stationary, a largest |z| this large "
                f"has chance at most {self.grad_z_chance:.2g})\n{self.distribution}: the "
                f"clipped-ReLU radial part " + (f"changes sign between |w| = {changes}" if changes
                                                  else "does not change sign from - to + on the grid"))


def ray_montecarlo(problem: Problem, *, samples: int, norms: Sequence[float], bandwidth: float,
                   generator: torch.Generator) -> RayMonteCarlo:
    r"""Radial parts of the sample coarse gradients on a linear teacher's ray, for any law.

    ``problem`` has ``labels="linear"`` and m = 1, teacher ``a`` (unit); ``samples`` draws from
    ``generator``, used at every point. :math:`v` is fitted by least squares
    (:func:`least_squares_v`); the smoothed estimate of :math:`|w|\nabla_w L` at :math:`w = a`
    (:func:`smoothed_true_grad`) says whether the ray is stationary for this law. Both come with
    delta-method standard errors: :math:`\mathrm{sd}(\psi)/\sqrt N` with
    :math:`\psi_i = \sigma_i(y_i - v)/\bar\sigma` for :math:`v = \sum y\sigma/\sum\sigma` and
    :math:`\psi_i = \hat G^\top G_i` (:math:`\hat G` the unit vector of the mean) for the norm,
    a first-order error that understates the error of a norm not large against it; the largest
    :math:`|z|` of the gradient's coordinates comes with a bound on its chance if the ray is
    stationary (:attr:`RayMonteCarlo.grad_z_chance`). Then
    :math:`\hat a^\top\bar g_\mu(v, r\hat a)` for every r in ``norms`` and STE, and the
    intervals of ``norms`` where the clipped-ReLU one changes sign from - to +.
    Returns a :class:`RayMonteCarlo`.
    """
    if not isinstance(problem, Problem) or problem.labels != "linear" or problem.m != 1:
        raise ValueError(f"problem={problem!r} must be a stelib Problem with labels='linear' and m=1")
    samples = check_positive_int(samples, name="samples", minimum=2)
    norms = _positive_values(norms, name="norms")
    check_positive(bandwidth, name="bandwidth")
    a = problem.a
    Z, y = problem.sample(samples, generator)
    v = least_squares_v(a, Z, y)  # (1,)
    on = ((Z @ a)[:, 0] > 0).to(DTYPE)  # sigma of the single unit, per sample
    v_se = mean_se(on * (y - v) / on.mean())[1]
    G = smoothed_true_grad(v, a, Z, y, bandwidth=bandwidth)
    G_mean, G_se = mean_se(G)
    norm_se = mean_se(G @ (G_mean / G_mean.norm()))[1] if bool(G_mean.norm() > 0) else G_se.norm()
    rho = {s: [] for s in STE_NAMES}
    for r in torch.tensor(norms, dtype=DTYPE, device="cpu"):
        for s, g in coarse_grads(v, r * a, Z, y).items():
            rho[s].append(radial_part(g, a).item())
    crelu = rho["crelu"]
    changes = tuple((norms[i], norms[i + 1]) for i in range(len(norms) - 1)
                    if crelu[i] < 0 <= crelu[i + 1])
    return RayMonteCarlo(problem.distribution.name, v.item(),
                         misspecified.stationary_points(a).min_v[0].item(),
                         G_mean.norm().item(), (G_mean / G_se).abs().max().item(), norms,
                         {s: tuple(x) for s, x in rho.items()}, changes, v_se.item(),
                         norm_se.item(), len(a))


@dataclass(frozen=True, eq=False)
class RayDescent:
    """Population coarse gradient descent runs started on one ray, one run per start."""

    label: str
    stes: tuple[str, ...]
    starts: tuple[float, ...]  #: |w| at step 0 of each run
    history: History  #: on the CPU

    @property
    def final_norms(self) -> tuple[float, ...]:
        return tuple(self.history.w_norm[-1].tolist())

    @property
    def signed_norm(self) -> torch.Tensor:
        r""":math:`|w|\cos\theta = w^\top\hat w_{\rm ref}` (records, runs): a sign change is a
        passage through the origin along the reference direction."""
        return self.history.w_norm * torch.cos(self.history.theta)

    @property
    def crossings(self) -> tuple[int, ...]:
        """Sign changes of :attr:`signed_norm` in each run (passages through the origin)."""
        return tuple(int(x) for x in (torch.diff(torch.sign(self.signed_norm), dim=0) != 0).sum(0))

    def __str__(self) -> str:
        return "\n".join(f"{self.label}, {s:>8} from |w| = {r:.1f}: final |w| = {f:.4f}"
                         for s, r, f in zip(self.stes, self.starts, self.final_norms, strict=True))


def _descend(model, v, direction, starts, *, stes, lr, steps, device) -> History:
    """CGD runs of ``model`` (on ``device``) from (v, r direction), r in ``starts``, every step
    recorded, divergence marked; the history comes back on the CPU."""
    w0 = torch.tensor(starts, dtype=DTYPE, device="cpu")[:, None] * direction
    return population_cgd(model, v.expand(len(starts), model.m).to(device), w0.to(device),
                          ste=stes, lr=lr, steps=steps, on_divergence="mark").cpu()


def linear_ray_descent(a, v, *, starts: Sequence[float], stes: Sequence[str], lr: float,
                       steps: int, device=None) -> RayDescent:
    r"""Coarse gradient descent on the linear teacher's population model (Gaussian inputs),
    started on the ray :math:`\hat w = \hat a` at :math:`|w| = r` (one run per ``starts`` entry,
    with STE ``stes[i]``) and second layer ``v`` (1,), ``lr`` and ``steps`` as in
    :func:`stelib.train.population_cgd`, run on ``device`` (default: the CPU). Proposition
    prop-scale-radial: :math:`|w_t| = |w_0| - \eta\rho t` for identity and ReLU.
    """
    starts = _positive_values(starts, name="starts")
    stes = check_choices(stes, STE_NAMES, name="stes")
    if len(stes) != len(starts):
        raise ValueError(f"stes has {len(stes)} entries and starts {len(starts)}: give one STE per start")
    dev = torch.device("cpu") if device is None else as_device(device)
    a = as_tensor(a, name="a", ndim=1, dtype=DTYPE)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    hist = _descend(misspecified.LinearTeacherModel(a.to(dev)), v, a, starts, stes=stes, lr=lr,
                    steps=steps, device=dev)
    return RayDescent("linear teacher", stes, starts, hist)


def _close(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300)


@dataclass(frozen=True, eq=False)
class SpuriousRayDescent(RayDescent):
    """:class:`RayDescent` on Yin's spurious ray; ``rho`` the identity STE's radial part there."""

    rho: float = math.nan

    @property
    def finals(self) -> dict[str, float | int]:
        """Keys ``"{ste}_{quantity}"``: ``crossings`` (passages through the origin), ``norm``,
        ``theta`` (angle to w*) and ``loss`` after the last step, ``start_loss`` at step 0."""
        h = self.history
        out: dict[str, float | int] = {}
        for i, (s, k) in enumerate(zip(self.stes, self.crossings, strict=True)):
            out |= {f"{s}_crossings": k, f"{s}_norm": h.w_norm[-1, i].item(),
                    f"{s}_theta": h.theta[-1, i].item(), f"{s}_loss": h.loss[-1, i].item(),
                    f"{s}_start_loss": h.loss[0, i].item()}
        return out

    def outcome(self, ste: str) -> str:
        """Where the run of ``ste`` ends, as a phrase the chapter glues: at the global minimum (loss
        below 1e-12), where it started (no passage through the origin, and |w|, angle and loss
        equal to the start's within a relative 1e-9), back on the spurious ray or on the ray
        theta = 0 (angle within 1e-9) at the printed loss, or elsewhere."""
        f = self.finals
        if ste not in self.stes:
            raise ValueError(f"ste={ste!r} was not run; the runs are {list(self.stes)}")
        k, loss, start, theta = (f[f"{ste}_{q}"] for q in ("crossings", "loss", "start_loss", "theta"))
        passes = f"passes through the origin {k} time{'s' if k != 1 else ''} and "
        if abs(loss) < FLOOR:
            return passes + (f"ends at the global minimum (angle {fmt(theta, '.4f')}, loss "
                             f"{fmt(loss, '.4f')}, |w| = {f[f'{ste}_norm']:.4f})")
        if k == 0 and _close(f[f"{ste}_norm"], self.starts[0]) and _close(theta, math.pi) and _close(loss, start):
            return f"does not move: it ends where it started, at the spurious minimum (loss {loss:.4f})"
        on_pi, on_0 = theta >= math.pi - 1e-6, theta <= 1e-6  # acos near +-1: sqrt of rounding
        if k == 0 and on_pi:
            return (f"stays on the spurious ray theta = pi but moves along it (|w| from "
                    f"{self.starts[0]:.4f} to {f[f'{ste}_norm']:.4f}), loss {loss:.4f} (start {start:.4f})")
        where = ("back on the spurious ray theta = pi," if on_pi else
                 "on the ray theta = 0, not at the global minimum," if on_0 else f"at angle {theta:.4f} to w*,")
        return (passes if k else "does not pass through the origin and ") + (
            f"ends {where} at loss {loss:.4f} (start {start:.4f})")

    @property
    def lesson(self) -> str:
        """What the identity run shows about the drift of prop-scale-radial, as a clause the chapter
        glues: computed from :attr:`rho`, the passages and :meth:`outcome`."""
        f, others = self.finals, [s for s in self.stes if s != "identity"]
        stay = all(self.outcome(s).startswith("does not move") for s in others)
        rest = (", while the STEs without a radial part there stay in it" if stay else
                "; the ReLU and clipped-ReLU runs do not both stay at the spurious minimum")
        if not self.rho > 0:
            return (f"the identity STE's radial part there is {self.rho:.4f}, not positive: the "
                    "symmetry argument predicts no passage through the origin"
                    + ("; no run moves" if stay and self.outcome("identity").startswith("does not move")
                       else rest))
        if f["identity_crossings"] == 0:
            return "the identity run does not pass through the origin within the steps run" + rest
        if abs(f["identity_loss"]) < FLOOR:
            return "the drift is what takes the identity STE out of the spurious minimum, to the global one" + rest
        return ("the drift takes the identity STE off the spurious minimum but not to the global "
                "minimum (where it ends is decided by the dynamics after its first passage)" + rest)

    @property
    def words(self) -> dict[str, str]:
        """The phrases the chapter glues: ``outcome_{ste}`` (:meth:`outcome`) and ``lesson``."""
        return {f"outcome_{s}": self.outcome(s) for s in self.stes} | {"lesson": self.lesson}

    def __str__(self) -> str:
        h = self.history
        lines = [f"Yin, theta = pi, {s:>8}: passes through the origin {k} times;\n{'':27}final |w| "
                 f"{h.w_norm[-1, i].item():.4f}, theta {fmt(h.theta[-1, i], '.4f')}, loss "
                 f"{fmt(h.loss[-1, i], '.4f')}" for i, (s, k) in enumerate(zip(self.stes, self.crossings, strict=True))]
        return "\n".join(lines + [f"(started at |w| = {self.starts[0]:.4f} with loss "
                                  f"{h.loss[0, 0].item():.4f}; the global minimum has loss 0)"])


def spurious_ray_descent(v_star, w_star, *, lr: float, steps: int, device=None) -> SpuriousRayDescent:
    r"""Coarse gradient descent of every STE in Yin's model from the spurious ray.

    Start: :math:`\theta = \pi`, :math:`v = \tilde v`, :math:`|w| = \eta (T + 1)\rho_{\rm id}/2`
    (T = ``steps``, :math:`\rho_{\rm id}` the identity STE's radial part there, |w| = 1 if it is
    not positive), so that by Proposition prop-scale-radial the identity run is half a step short
    of the origin at step T/2 and passes it in the next step: never within rounding of 0, where
    the direction it leaves in would be decided by rounding. Every step recorded, run on
    ``device`` (default: the CPU).
    """
    check_positive(lr, name="lr")
    steps = check_positive_int(steps, name="steps", maximum=10**7)
    dev = torch.device("cpu") if device is None else as_device(device)
    ws_hat, v_tilde = w_star / w_star.norm(), gaussian.spurious_minimizer_v(v_star)
    rho = radial_part(gaussian.expected_coarse_grad(v_tilde, -ws_hat, v_star, w_star, "identity"),
                      -ws_hat).item()
    r0 = lr * rho * (steps + 1) / 2 if rho > 0 else 1.0  # half a step short of 0 at T/2
    model = gaussian.YinModel(v_star.to(dev), w_star.to(dev))
    starts = (r0,) * len(STE_NAMES)
    hist = _descend(model, v_tilde, -ws_hat, starts, stes=STE_NAMES, lr=lr, steps=steps, device=dev)
    return SpuriousRayDescent("Yin, theta = pi", STE_NAMES, starts, hist, rho)


@dataclass(frozen=True, eq=False)
class LargeScaleFit:
    r"""Closed forms of Yin's model along a ray at large |w| and their log-log slopes."""

    theta: float  #: angle between the ray and w*
    norms: torch.Tensor  #: the |w| grid (points,)
    grad_norm: torch.Tensor  #: |grad_w f| on the grid
    errors: dict[str, torch.Tensor]  #: |E g_ste - grad_w f| on the grid, per STE
    slopes: dict[str, float]  #: "true" (of grad_norm) and one per STE (of its error)

    def __str__(self) -> str:
        rel = (self.errors["crelu"][-1] / self.grad_norm[-1]).item()
        head = f"theta = {self.theta:.4f}; fitted slopes: "  # two slopes a line, under the first
        items = [f"|grad f| {self.slopes['true']:.3f}",
                 *(f"|E g_{s} - grad f| {self.slopes[s]:.3f}" for s in STE_NAMES)]
        pairs = [", ".join(items[i:i + 2]) for i in range(0, len(items), 2)]
        return (head + f",\n{'':{len(head)}}".join(pairs)
                + f"\nrelative error of the clipped ReLU at |w| = {self.norms[-1].item():g}: {rel:.2e}")


def large_scale_fit(v, direction, v_star, w_star, *, fit_norms: Sequence[float],
                    points: int = 25) -> LargeScaleFit:
    r"""Proposition prop-scale-large: :math:`\mathbb{E}\,g_\mu - \nabla_w f` at large |w|.

    Along :math:`w = r\hat d` (``direction`` a unit vector), r log-spaced over ``points`` values
    in ``fit_norms`` = [low, high], Yin's closed forms give :math:`|\nabla_w f|` (expected slope
    -1) and :math:`|\mathbb{E}\,g_\mu - \nabla_w f|` per STE (-2 for the clipped ReLU, 0 for the
    identity and ReLU); slopes by :func:`loglog_slope`. Returns a :class:`LargeScaleFit`.
    """
    d = as_tensor(direction, name="direction", ndim=1, dtype=DTYPE)
    if abs(float(d.norm()) - 1.0) > 1e-12:
        raise ValueError(f"direction must be a unit vector, got |direction| = {float(d.norm())!r}")
    bounds = _positive_values(fit_norms, name="fit_norms")
    if len(bounds) != 2 or not bounds[0] < bounds[1]:
        raise ValueError(f"fit_norms={list(bounds)!r} must be two numbers 0 < low < high")
    lo, hi = bounds
    points = check_positive_int(points, name="points", minimum=2)
    R = torch.logspace(math.log10(lo), math.log10(hi), points, dtype=DTYPE, device="cpu")
    W = R[:, None] * d  # (points, n)
    grad_f = gaussian.population_grad(v, W, v_star, w_star)[1]
    err = {s: (gaussian.expected_coarse_grad(v, W, v_star, w_star, s) - grad_f).norm(dim=-1)
           for s in STE_NAMES}
    slopes = {"true": loglog_slope(R, grad_f.norm(dim=-1)),
              **{s: loglog_slope(R, e) for s, e in err.items()}}
    return LargeScaleFit(gaussian.angle(d, w_star).item(), R, grad_f.norm(dim=-1), err, slopes)
