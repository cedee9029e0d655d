r"""Yin et al.'s teacher-student model under i.i.d. Gaussian inputs (book: Yin's setting).

Input :math:`Z \in \mathbb{R}^{m\times n}` with i.i.d. N(0, 1) entries, student
:math:`y = v^\top\sigma(Zw)`, teacher :math:`y^* = v^{*\top}\sigma(Zw^*)`,
:math:`\sigma(x) = 1\{x>0\}`, :math:`\theta = \angle(w, w^*)`, :math:`k = 1 - 2\theta/\pi`,
:math:`s^* = 1^\top v^*`. Closed forms (each re-derived and checked by Monte Carlo in the tests):

.. math::

    f &= \tfrac18\big[v^\top(I+11^\top)v - 2v^\top(kI+11^\top)v^* + v^{*\top}(I+11^\top)v^*\big],\\
    \partial_v f &= \tfrac14(I+11^\top)v - \tfrac14(kI+11^\top)v^*,\qquad
    \partial_w f = -\frac{v^\top v^*}{2\pi|w|}\,u \quad (\theta\in(0,\pi)),\qquad
    \partial_w f = 0 \quad (\theta\in\{0,\pi\}),

with :math:`u` the unit vector orthogonal to :math:`w` in the plane of :math:`w, w^*`. See
:func:`expected_coarse_grad` for the STEs. Every function broadcasts over leading batch axes:
``v`` (..., m), ``w`` (..., n), ``v_star`` (m,) or (..., m), ``w_star`` (n,) or (..., n).
Inputs may be NumPy arrays or tensors; outputs are tensors of the common floating dtype.
``w = 0``, ``w_star = 0``, non-finite entries, mismatched lengths, non-broadcasting batch
shapes and unknown STE names raise ``ValueError`` before computing.

Example
-------
>>> import torch
>>> v_star, w_star = torch.tensor([1.0, 2.0, -0.5]), torch.tensor([1.0, 0.0])
>>> float(population_loss(v_star, torch.tensor([3.0, 0.0]), v_star, w_star))
0.0
"""

from __future__ import annotations

import math

import torch

from stelib.core import _closedform as cf
from stelib.core.network import teacher_unchecked
from stelib.core.quadrature import closed_form, moments, plane_moments

__all__ = [
    "YinModel", "angle", "classify_critical_point", "coarse_true_inner", "descent_ratio",
    "expected_coarse_grad",
    "identity_grad_norm_at_spurious", "is_critical", "optimal_v", "population_grad",
    "population_loss", "saddle_angle", "saddle_v", "spurious_minima_exist", "spurious_minimizer_v",
]


NO_V = object()  # internal: the function does not take v (a user's v=None is refused)


def _args(v, w, v_star, w_star):
    """Validate and promote; returns (v, w, v_star, w_star) in one dtype."""
    w, w_star = cf.vector(w, name="w"), cf.vector(w_star, name="w_star")
    cf.same_length(w, "w", w_star, "w_star")
    cf.nonzero(w, "w")
    cf.nonzero(w_star, "w_star")
    if v is NO_V:  # functions of w alone
        v_star = cf.vector(v_star, name="v_star")
        cf.batch_shape(w=w, v_star=v_star, w_star=w_star)
        return (None, *cf.promote(w, v_star, w_star))
    v, v_star = cf.vector(v, name="v"), cf.vector(v_star, name="v_star")
    cf.same_length(v, "v", v_star, "v_star")
    cf.batch_shape(v=v, w=w, v_star=v_star, w_star=w_star)
    return cf.promote(v, w, v_star, w_star)


def _k(theta: torch.Tensor) -> torch.Tensor:
    return 1.0 - 2.0 * theta / math.pi


def _h(v: torch.Tensor, v_star: torch.Tensor) -> torch.Tensor:
    """h(v, v*) = |v|^2 + (1^T v)^2 - (1^T v)(1^T v*) + v^T v*  (keepdim)."""
    sv, ss = v.sum(-1, keepdim=True), v_star.sum(-1, keepdim=True)
    return cf.dot(v, v) + sv**2 - sv * ss + cf.dot(v, v_star)


def angle(w, w_star) -> torch.Tensor:
    """theta = angle(w, w*) in [0, pi], shape (...); exactly 0 / pi for (anti)parallel inputs."""
    w, w_star = cf.vector(w, name="w"), cf.vector(w_star, name="w_star")
    cf.same_length(w, "w", w_star, "w_star")
    cf.nonzero(w, "w")
    cf.nonzero(w_star, "w_star")
    cf.batch_shape(w=w, w_star=w_star)
    return cf.plane(*cf.promote(w, w_star))[3][..., 0]


def population_loss(v, w, v_star, w_star) -> torch.Tensor:
    """Population loss f(v, w) = E[(v^T sigma(Zw) - v*^T sigma(Zw*))^2] / 2, shape (...)."""
    v, w, v_star, w_star = _args(v, w, v_star, w_star)
    k = _k(cf.plane(w, w_star)[3])
    sv, ss = v.sum(-1, keepdim=True), v_star.sum(-1, keepdim=True)
    f = (cf.dot(v, v) + sv**2 - 2 * (k * cf.dot(v, v_star) + sv * ss)
         + cf.dot(v_star, v_star) + ss**2) / 8
    return f[..., 0]


def population_grad(v, w, v_star, w_star) -> tuple[torch.Tensor, torch.Tensor]:
    """(df/dv of shape (..., m), df/dw of shape (..., n)); df/dw = 0 at theta in {0, pi}.

    df/dw is scale-covariant: df/dw(v, c w) = df/dw(v, w) / c, and w^T df/dw = 0.
    """
    v, w, v_star, w_star = _args(v, w, v_star, w_star)
    _, _, r, theta, _, sin, su = cf.plane(w, w_star)
    gv = _grad_v(v, v_star, theta)
    u = su / torch.where(sin > 0, sin, torch.ones_like(sin))  # unit, or 0 when parallel
    gw = -cf.dot(v, v_star) / (2 * math.pi * r) * u
    return gv, gw


def _grad_v(v, v_star, theta):
    """df/dv from theta (keepdim)."""
    return (v + v.sum(-1, keepdim=True) - _k(theta) * v_star - v_star.sum(-1, keepdim=True)) / 4


def optimal_v(w, v_star, w_star) -> torch.Tensor:
    """argmin_v f(v, w) = (I + 11^T)^{-1} (k I + 11^T) v* = k v* + s*(1 - k)/(m + 1) 1, (..., m)."""
    _, w, v_star, w_star = _args(NO_V, w, v_star, w_star)
    k = _k(cf.plane(w, w_star)[3])
    m = v_star.shape[-1]
    return k * v_star + v_star.sum(-1, keepdim=True) * (1 - k) / (m + 1)


def expected_coarse_grad(v, w, v_star, w_star, ste: str, *, method: str = "auto") -> torch.Tensor:
    r"""E_Z[g_ste(v, w; Z)] in closed form, shape (..., n) (book: prop-yin-coarse).

    With :math:`\varphi_0 = \varphi(0)`, :math:`\kappa = 1/|w|` and
    :math:`h = |v|^2 + (1^\top v)^2 - (1^\top v)(1^\top v^*) + v^\top v^*`:

    - identity: :math:`\varphi_0(|v|^2\hat w - (v^\top v^*)\hat w^*)`
    - relu: :math:`\tfrac h2\varphi_0\hat w - \tfrac12 (v^\top v^*)\varphi_0(\hat w + \hat w^*)`
    - crelu: :math:`\tfrac h2(\varphi_0-\varphi(\kappa))\hat w - (v^\top v^*)(A\hat w + B u)` with
      :math:`A = \varphi_0/2 - \varphi(\kappa)\Phi(\kappa\cot\theta)
      + \cos\theta\,\varphi_0(\Phi(\kappa/\sin\theta)-\tfrac12)`,
      :math:`B = \sin\theta\,\varphi_0(\Phi(\kappa/\sin\theta)-\tfrac12)`; at theta = 0 (pi) the
      limits :math:`\Phi(\kappa\cot\theta) \to 1\ (0)`, :math:`\Phi(\kappa/\sin\theta)\to 1` are used.
    - any other registered STE (or ``method="quadrature"``), with the one-dimensional integrals
      :math:`N_1, M_1^+, P, Q` of :mod:`stelib.quadrature`:
      :math:`\big[\tfrac{N_1}2\big((1^\top v)(1^\top v - 1^\top v^*) - |v|^2 + v^\top v^*\big)
      + |v|^2 M_1^+ - (v^\top v^*) P\big]\hat w - (v^\top v^*)\,Q\,u`
      (chapter *Which straight-through estimators are proper?*, prop-proper-yin).

    Raises ``ValueError`` for an unknown ``ste`` (listing the valid ones) or bad arrays.
    """
    closed = closed_form(method, ste)
    v, w, v_star, w_star = _args(v, w, v_star, w_star)
    return _coarse(v, v_star, cf.plane(w, w_star), ste, closed)


def _coarse(v, v_star, geometry, ste: str, closed: bool) -> torch.Tensor:
    """:func:`expected_coarse_grad` from the checked v, v* and the geometry ``cf.plane(w, w*)``."""
    w_hat, ws_hat, r, _, cos, sin, su = geometry
    vv, vvs = cf.dot(v, v), cf.dot(v, v_star)
    if not closed:
        mo = moments(r, ste, method="quadrature")
        pq = plane_moments(r, cos, sin, ste, method="quadrature")
        sv, ss = v.sum(-1, keepdim=True), v_star.sum(-1, keepdim=True)
        radial = mo.n1 / 2 * (sv * (sv - ss) - vv + vvs) + vv * mo.m1p - vvs * pq.p
        u = su / torch.where(sin > 0, sin, torch.ones_like(sin))  # unit, or 0 when parallel
        return radial * w_hat - vvs * pq.q * u
    if ste == "identity":
        return cf.PHI0 * (vv * w_hat - vvs * ws_hat)
    if ste == "relu":
        return cf.PHI0 / 2 * (_h(v, v_star) * w_hat - vvs * (w_hat + ws_hat))
    a = 1.0 / r
    safe = torch.where(sin > 0, sin, torch.ones_like(sin))
    big = torch.where(sin > 0, cf.cdf_minus_half(a / safe), torch.full_like(sin, 0.5))
    cot = torch.where(sin > 0, cf.cdf(a * cos / safe), (cos > 0).to(sin.dtype))
    A = cf.PHI0 / 2 - cf.pdf(a) * cot + cos * cf.PHI0 * big
    return _h(v, v_star) / 2 * cf.first_moment(a) * w_hat - vvs * (A * w_hat + cf.PHI0 * big * su)


def coarse_true_inner(v, w, v_star, w_star, ste: str, *, method: str = "auto") -> torch.Tensor:
    r"""<E g_ste, df/dw> in closed form, shape (...) (Yin et al.'s Lemmas 5, 8; book: prop-yin-corr).

    :math:`\frac{\sin\theta\,(v^\top v^*)^2}{(2\pi)^{3/2}|w|}\times c_{ste}` with
    :math:`c = 1` (identity), :math:`1/2` (relu), :math:`\Phi(\kappa/\sin\theta) - 1/2` (crelu,
    :math:`\kappa = 1/|w|`). Always >= 0; 0 at theta in {0, pi}. Any other registered STE:
    :math:`(v^\top v^*)^2 Q / (2\pi|w|)` with Q of :mod:`stelib.quadrature` (>= 0 when mu' >= 0).
    """
    closed = closed_form(method, ste)
    v, w, v_star, w_star = _args(v, w, v_star, w_star)
    _, _, r, _, cos, sin, _ = cf.plane(w, w_star)
    if not closed:
        q = plane_moments(r, cos, sin, ste, method="quadrature").q
        return (cf.dot(v, v_star) ** 2 * q / (2 * math.pi * r))[..., 0]
    base = sin * cf.dot(v, v_star) ** 2 / ((2 * math.pi) ** 1.5 * r)
    if ste == "identity":
        return base[..., 0]
    if ste == "relu":
        return base[..., 0] / 2
    safe = torch.where(sin > 0, sin, torch.ones_like(sin))
    big = torch.where(sin > 0, cf.cdf_minus_half(1.0 / (r * safe)), torch.full_like(sin, 0.5))
    return (base * big)[..., 0]


def descent_ratio(v, w, v_star, w_star, ste: str) -> torch.Tensor:
    r"""The descent ratio of a coarse gradient step (book: eq-yin-ratio), shape (...).

    .. math::

        R_\mu(v, w) = \frac{|\mathbb{E}\,g_\mu|^2}
        {|\partial_v f|^2 + \langle \mathbb{E}\,g_\mu, \partial_w f\rangle}.

    A step :math:`(v, w) \leftarrow (v - \eta\,\partial_v f, w - \eta\,\mathbb{E}g_\mu)` on a
    region where :math:`\nabla f` is :math:`\ell`-Lipschitz lowers :math:`f` by at least
    :math:`\eta D - \tfrac{\ell\eta^2}{2}(|\partial_v f|^2 + |\mathbb{E}g_\mu|^2)`, with
    :math:`D` the denominator above. Since :math:`|\partial_v f|^2 \le D`, the step is
    guaranteed to lower :math:`f` where :math:`R_\mu < 2/(\ell\eta) - 1`, so a fixed step has
    that guarantee where :math:`R_\mu` stays bounded: a sufficient condition, not a necessary
    one (a step may still lower :math:`f` where :math:`R_\mu` is large). Yin et al.
    (ICLR 2019) bound it for the ReLU STE and show that it blows up near the spurious minimisers
    for the identity STE (book: Yin's setting, ``prop-yin-descent``).
    ``inf`` where the denominator is 0 and the numerator is not; ``nan`` where both are 0.
    """
    v, w, v_star, w_star = _args(v, w, v_star, w_star)
    eg = expected_coarse_grad(v, w, v_star, w_star, ste)
    gv, _ = population_grad(v, w, v_star, w_star)
    num = (eg * eg).sum(-1)
    den = (gv * gv).sum(-1) + coarse_true_inner(v, w, v_star, w_star, ste)
    return num / den


def spurious_minimizer_v(v_star) -> torch.Tensor:
    """v~ = (I + 11^T)^{-1}(11^T - I) v* = (2 (1^T v*)/(m + 1)) 1 - v*, shape (..., m).

    With theta = pi this is the spurious critical point of Yin's Prop. 1; a local minimum iff
    :func:`spurious_minima_exist`.
    """
    v_star = cf.vector(v_star, name="v_star")
    m = v_star.shape[-1]
    return 2 * v_star.sum(-1, keepdim=True) / (m + 1) - v_star


def spurious_minima_exist(v_star) -> bool:
    """True iff 0 < (1^T v*)^2 < (m + 1)/2 |v*|^2 (the upper bound is Yin et al.'s Prop. 1, the
    lower one this book's precision, chapter yin_gaussian).

    The right inequality is v~^T v* < 0 (df/dtheta < 0 at theta = pi, a local minimum). When
    1^T v* = 0 the point (v~, pi) = (-v*, pi) has f = 0: it is a second *global* minimum
    (-v*^T sigma(-Z w*) = v*^T sigma(Z w*) when 1^T v* = 0), not a spurious one.
    ``v_star`` must be one vector of shape (m,).
    """
    v_star = cf.vector(v_star, name="v_star")
    if v_star.ndim != 1:
        raise ValueError(f"v_star must have shape (m,), got shape {tuple(v_star.shape)}")
    m = v_star.shape[0]
    s2, norm2 = v_star.sum() ** 2, v_star @ v_star
    # 1^T v* counts as zero when it is at rounding level (e.g. v* - mean(v*) in floating point)
    zero = s2 <= (64 * torch.finfo(v_star.dtype).eps) ** 2 * m * norm2
    return bool(~zero & (s2 < (m + 1) / 2 * norm2))


def identity_grad_norm_at_spurious(v_star) -> torch.Tensor:
    """|E g_id| at (v~, theta = pi) = 2 (m - 1)(1^T v*)^2 / (sqrt(2 pi)(m + 1)^2), shape (...)."""
    v_star = cf.vector(v_star, name="v_star")
    m = v_star.shape[-1]
    return 2 * (m - 1) * v_star.sum(-1) ** 2 / (math.sqrt(2 * math.pi) * (m + 1) ** 2)


def saddle_angle(v_star) -> float | None:
    r"""The angle theta_s in [pi/2, pi) of the saddle points, or ``None`` if there are none.

    Critical points with theta in (0, pi) need df/dw = 0, i.e. v^T v* = 0, and df/dv = 0, i.e.
    v = :func:`optimal_v` :math:`= k v^* + s^*(1-k)/(m+1)\,1`. Then
    :math:`v^\top v^* = k|v^*|^2 + (1-k)s^{*2}/(m+1) = 0` gives
    :math:`k_s = -s^{*2}/((m+1)|v^*|^2 - s^{*2})`, :math:`\theta_s = \tfrac\pi2(1-k_s)`,
    which lies in (0, pi) iff :math:`s^{*2} < \tfrac{m+1}2|v^*|^2`: whenever the spurious minima
    exist, and also when :math:`s^* = 1^\top v^* = 0` (then :math:`\theta_s = \pi/2`,
    :math:`v = 0`, and :math:`(\tilde v, \pi)` is a second global minimum, not a spurious one).
    These are Yin's saddles (book: prop-yin-landscape): the set
    {(saddle_v(v*), w): angle(w, w*) = theta_s} is a cone in w. ``v_star`` of shape (m,), nonzero.
    """
    v_star = cf.vector(v_star, name="v_star")
    cf.nonzero(v_star, "v_star")
    if v_star.ndim != 1:
        raise ValueError(f"v_star must have shape (m,), got shape {tuple(v_star.shape)}")
    m, s2, n2 = v_star.shape[0], float(v_star.sum()) ** 2, float(v_star @ v_star)
    if not s2 < (m + 1) / 2 * n2:
        return None
    return math.pi / 2 * (1 + s2 / ((m + 1) * n2 - s2))


def saddle_v(v_star) -> torch.Tensor:
    """The v of the saddle points (:func:`optimal_v` at :func:`saddle_angle`), shape (m,).

    Satisfies v^T v* = 0 (v = 0 when 1^T v* = 0). Raises ``ValueError`` if there are no saddles
    with theta in (0, pi).
    """
    theta = saddle_angle(v_star)
    v_star = cf.vector(v_star, name="v_star")
    if theta is None:
        raise ValueError(f"v_star={v_star.tolist()} has no saddle with theta in (0, pi): it needs "
                         "(1^T v*)^2 < (m+1)/2 |v*|^2")
    k = 1 - 2 * theta / math.pi
    return k * v_star + v_star.sum() * (1 - k) / (v_star.shape[0] + 1)


def is_critical(v, w, v_star, w_star, *, atol: float = 1e-10) -> torch.Tensor:
    """|df/dv| <= atol and |w| |df/dw| <= atol (scale-free), bool of shape (...).

    Uses the convention df/dw = 0 at theta in {0, pi} (book: prop-yin-loss).
    """
    gv, gw = population_grad(v, w, v_star, w_star)
    r = cf.norm(cf.vector(w, name="w"))[..., 0].to(gw.dtype)
    return (torch.linalg.vector_norm(gv, dim=-1) <= atol) & (
        torch.linalg.vector_norm(gw, dim=-1) * r <= atol)


def classify_critical_point(v, w, v_star, w_star, *, atol: float = 1e-10) -> str:
    """One point (1-D inputs): "global minimum", "spurious minimum", "saddle" or "not critical".

    Yin's Prop. 1: global minima v = v*, theta = 0; spurious minima v = v~, theta = pi when
    v~^T v* < 0; every other critical point is a saddle (theta = theta_s, or theta = pi with
    v~^T v* >= 0, where f decreases as theta leaves pi).
    """
    for x, nm in ((v, "v"), (w, "w"), (v_star, "v_star"), (w_star, "w_star")):
        shape = tuple(cf.vector(x, name=nm).shape)
        if len(shape) != 1:
            raise ValueError(f"{nm} must be one vector of shape (k,), got shape {shape}")
    if not bool(is_critical(v, w, v_star, w_star, atol=atol)):
        return "not critical"
    theta = float(angle(w, w_star))
    if theta == 0.0 or float(population_loss(v, w, v_star, w_star)) <= atol:
        return "global minimum"
    if theta == math.pi and spurious_minima_exist(v_star):
        return "spurious minimum"
    return "saddle"


class YinModel:
    """Population model protocol for Yin's Gaussian teacher-student setting.

    Attributes ``m``, ``n``, ``v_star`` (m,), ``w_star`` (n,) (float64 tensors). Methods
    ``loss``, ``grad_v``, ``grad_w``, ``expected_coarse_grad`` broadcast over leading batch axes
    of ``v`` (..., m) and ``w`` (..., n); ``sample(batch, generator)`` draws ``Z`` (batch, m, n)
    i.i.d. N(0, 1) in float64 and returns ``(Z, y_star)`` with y* = v*^T sigma(Z w*).
    """

    def __init__(self, v_star, w_star) -> None:
        v_star, w_star = cf.vector(v_star, name="v_star"), cf.vector(w_star, name="w_star")
        for t, nm in ((v_star, "v_star"), (w_star, "w_star")):
            if t.ndim != 1:
                raise ValueError(f"{nm} must have shape (k,), got shape {tuple(t.shape)}")
        cf.nonzero(w_star, "w_star")
        self.v_star, self.w_star = v_star.to(torch.float64), w_star.to(torch.float64)
        self.m, self.n = self.v_star.shape[0], self.w_star.shape[0]

    def __repr__(self) -> str:
        return f"YinModel(m={self.m}, n={self.n})"

    def loss(self, v, w) -> torch.Tensor:
        return population_loss(v, w, self.v_star, self.w_star)

    def grad_v(self, v, w) -> torch.Tensor:
        return population_grad(v, w, self.v_star, self.w_star)[0]

    def grad_w(self, v, w) -> torch.Tensor:
        return population_grad(v, w, self.v_star, self.w_star)[1]

    def expected_coarse_grad(self, v, w, ste: str) -> torch.Tensor:
        return expected_coarse_grad(v, w, self.v_star, self.w_star, ste)

    def _coarse_step(self, v, w, groups) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad_v, expected coarse gradients) of the runs v (R, m), w (R, n), whose STEs are
        ``groups`` [(ste, slice of rows)] (names checked): one geometry for both, as CGD's step
        needs them; the same numbers as :meth:`grad_v` and :meth:`expected_coarse_grad`."""
        v, w, v_star, w_star = _args(v, w, self.v_star, self.w_star)
        w_hat, ws_hat, r, theta, cos, sin, su = cf.plane(w, w_star)  # ws_hat (n,): no run axis
        gw = [_coarse(v[sl], v_star, (w_hat[sl], ws_hat, r[sl], theta[sl], cos[sl], sin[sl], su[sl]),
                      ste, closed_form("auto", ste)) for ste, sl in groups]
        return _grad_v(v, v_star, theta), torch.cat(gw)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        batch = cf.check_generator(generator, batch)
        Z = torch.randn(batch, self.m, self.n, generator=generator, dtype=torch.float64, device=generator.device)
        return Z, teacher_unchecked(self.v_star.to(Z.device), self.w_star.to(Z.device), Z)
