r"""Private helpers for the closed forms of :mod:`stelib.gaussian` and :mod:`stelib.misspecified`.

- argument preparation: NumPy / torch inputs -> one floating dtype, last-axis and batch-shape
  checks that raise ``ValueError`` naming the parameter, before anything is computed;
- the standard normal pieces :math:`\varphi, \Phi` and the truncated moments
  :math:`E[x 1\{0<x<c\}] = \varphi(0) - \varphi(c)`,
  :math:`E[x^2 1\{0<x<c\}] = \Phi(c) - 1/2 - c\varphi(c)`, written without cancellation;
- the plane geometry of :math:`(w, w^*)`: :math:`\hat w`, :math:`\theta`, and
  :math:`\sin\theta\,u = \hat w^* - \cos\theta\,\hat w` computed robustly (exactly zero when
  :math:`w \parallel w^*`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import numpy as np
import torch

from stelib.core._validate import as_tensor, check_nonzero_rows, check_positive_int

PHI0 = 1.0 / math.sqrt(2.0 * math.pi)  # phi(0)

# Inside a step loop whose start was validated (stelib.train), the closed forms skip the checks
# that read a value back from the device (finiteness, nonzero rows): the loop itself keeps the
# runs finite and w nonzero. Shape checks, which read nothing back, always run.
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("stelib_trusted", default=False)
_DEVICE_PATH_ON_CPU = False  # tests and tools/sync_count.py: take the GPU's paths on the CPU


def device_path(t: torch.Tensor) -> bool:
    """Whether code on ``t`` should avoid reading values back to the host (``t`` on a GPU, or
    the CPU told to behave like one)."""
    return t.device.type != "cpu" or _DEVICE_PATH_ON_CPU


_PENDING: contextvars.ContextVar[list | None] = contextvars.ContextVar("stelib_pending", default=None)


@contextlib.contextmanager
def trusted():
    """Within this block, :func:`vector` and :func:`nonzero` trust floating tensors (no checks
    of their values) and :func:`polar`/:func:`norm` choose their path without a host read on a
    GPU; on a GPU the checks that remain (:func:`check_later`) wait for :func:`flush`, called by
    the loop at each record and at the end of the block. For loops that validated their start
    and guard their own iterates."""
    token, pending = _TRUSTED.set(True), _PENDING.set([])
    try:
        yield
        flush()
    finally:
        _TRUSTED.reset(token)
        _PENDING.reset(pending)


def unchecked(*ts) -> bool:
    """Whether value checks of ``ts`` are skipped: inside :func:`trusted`, on a device path
    (:func:`device_path`), all of them floating tensors."""
    return _TRUSTED.get() and all(isinstance(t, torch.Tensor) and t.is_floating_point()
                                  and device_path(t) for t in ts)


def check_later(bad: torch.Tensor, message) -> None:
    """``ValueError(message())`` if the boolean tensor ``bad`` (0-dim) is true: at once, or,
    inside :func:`trusted` on a device path, at the next :func:`flush` (no read back now)."""
    pending = _PENDING.get()
    if pending is not None and device_path(bad):  # pending is a list only inside trusted()
        pending.append((bad, message))
    elif bool(bad):
        raise ValueError(message())


def flush() -> None:
    """Read the checks :func:`check_later` kept (one read for all) and raise the first failing.
    Each is read once, except the flags a CUDA graph keeps for its replayed step
    (:func:`stelib.core._graphs.capture_step`), read at every flush until the loop ends."""
    pending = _PENDING.get()
    if not pending:
        return
    items = list(pending)
    pending[:] = [e for e in items if len(e) == 3 and e[2]]  # (flag, message, True): a graph's, kept
    flags = torch.stack([e[0].reshape(()) for e in items])
    if bool(flags.any()):
        raise ValueError(items[int(flags.to(torch.uint8).argmax())][1]())


def vector(x, *, name: str) -> torch.Tensor:
    """A finite floating tensor with at least one axis (the last axis is the vector axis)."""
    if (_TRUSTED.get() and isinstance(x, torch.Tensor) and x.is_floating_point()
            and x.ndim and x.shape[-1]):
        return x
    if (isinstance(x, torch.Tensor) and (x.is_complex() or x.dtype == torch.bool)) or (
        not isinstance(x, torch.Tensor) and np.iscomplexobj(x)
    ):
        kind = getattr(x, "dtype", type(x))
        raise ValueError(f"{name} must be a real floating array, got dtype {kind}")
    t = as_tensor(x, name=name)
    if t.ndim == 0 or t.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (..., k) with k >= 1, got shape {tuple(t.shape)}")
    return t


def promote(*ts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cast all tensors to their common floating dtype."""
    dtype = ts[0].dtype
    for t in ts[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return tuple(t.to(dtype) for t in ts)


def same_length(x: torch.Tensor, name_x: str, y: torch.Tensor, name_y: str) -> None:
    """Last axes must agree (e.g. v and v_star both of length m)."""
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"{name_x} has shape {tuple(x.shape)} and {name_y} has shape {tuple(y.shape)}: "
            f"their last axes must have the same length"
        )


def batch_shape(**named: torch.Tensor) -> torch.Size:
    """Broadcast the leading (batch) shapes, or raise ``ValueError`` listing all shapes."""
    lead = [t.shape[:-1] for t in named.values()]
    out = [1] * max(len(s) for s in lead)
    for s in lead:  # NumPy broadcasting, in Python: torch.broadcast_shapes is slow on small inputs
        for i, d in enumerate(s, start=len(out) - len(s)):
            if d != 1 and out[i] not in (1, d):
                shapes = ", ".join(f"{k} {tuple(t.shape)}" for k, t in named.items())
                raise ValueError(f"leading (batch) dimensions do not broadcast: {shapes}")
            out[i] = d if d != 1 else out[i]
    return torch.Size(out)


def nonzero(x: torch.Tensor, name: str) -> None:
    if not _TRUSTED.get():
        check_nonzero_rows(x, name=name)


def check_generator(generator, batch) -> int:
    batch = check_positive_int(batch, name="batch")
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return batch


def dot(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Inner product over the last axis, keepdim."""
    return (x * y).sum(dim=-1, keepdim=True)


_TINY, _HUGE = 1e-150, 1e150  # the plain norm is exact between these (squares stay normal)


def polar(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(|x|, x / |x|) over the last axis (keepdim), exact for every finite x != 0.

    Where the squares could overflow or underflow (|x| outside [1e-150, 1e150]) x is first
    divided by its largest |entry|; elsewhere the plain norm is used, bit for bit. The choice
    is made row by row, so a row's result does not depend on the other rows of a batch, and
    the same on every device (on a GPU, inside :func:`trusted`, without reading r back).
    """
    r = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    if (_TRUSTED.get() and device_path(r)) or not _in_range(r):
        return _polar_rowwise(x, r)
    return r, x / r


def norm(x: torch.Tensor) -> torch.Tensor:
    """|x| over the last axis (keepdim), without overflow or underflow (see :func:`polar`)."""
    r = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    if (_TRUSTED.get() and device_path(r)) or not _in_range(r):
        return _polar_rowwise(x, r, unit=False)
    return r


def _polar_rowwise(x: torch.Tensor, r: torch.Tensor, *, unit: bool = True):
    """polar without reading back from the device: each row is divided by c = 1 when its norm
    r is in range (then the result is the plain path's, bit for bit: x / 1 = x) and by its
    largest |entry| otherwise (no overflow or underflow; a zero row gives (0, 0)).
    Used for every batch with a row out of range, and for every batch on a GPU in a trusted
    loop. ``unit=False``: the norm alone."""
    s = x.abs().amax(dim=-1, keepdim=True)
    plain = ((r > _TINY) & (r < _HUGE)) | (s == 0)
    c = torch.where(plain, 1.0, s)
    y = x / c
    ny = torch.linalg.vector_norm(y, dim=-1, keepdim=True)
    if not unit:
        return c * ny
    return c * ny, y / torch.where(ny > 0, ny, 1.0)


def _in_range(r: torch.Tensor) -> bool:
    if r.numel() == 0:
        return True
    lo, hi = torch.aminmax(r.detach())
    return _TINY < float(lo) and float(hi) < _HUGE


def pdf(x: torch.Tensor) -> torch.Tensor:
    """phi(x)."""
    return PHI0 * torch.exp(-0.5 * x * x)


def cdf(x: torch.Tensor) -> torch.Tensor:
    """Phi(x)."""
    return torch.special.ndtr(x)


def cdf_minus_half(x: torch.Tensor) -> torch.Tensor:
    """Phi(x) - 1/2 = erf(x / sqrt 2) / 2, accurate for small x."""
    return 0.5 * torch.special.erf(x / math.sqrt(2.0))


def first_moment(c: torch.Tensor) -> torch.Tensor:
    """E[x 1{0 < x < c}] = phi(0) - phi(c) = -phi(0) expm1(-c^2/2)."""
    return -PHI0 * torch.expm1(-0.5 * c * c)


# phi(0) (-1/2)^k / (k! (2k+3)): E[x^2 1{0 < x < c}] = c^3 sum_k _M2_SERIES[k] c^(2k)
_M2_SERIES = tuple(PHI0 * (-0.5) ** k / (math.factorial(k) * (2 * k + 3)) for k in range(9))


def second_moment(c: torch.Tensor) -> torch.Tensor:
    """E[x^2 1{0 < x < c}] = Phi(c) - 1/2 - c phi(c); below |c| = 0.25, where that difference
    cancels, its Taylor series, 9 terms by Horner's scheme (the 10th is below 2e-20 of the sum).

    >>> float(second_moment(torch.tensor(1e-3, dtype=torch.float64)))  # phi(0) (c^3/3 - c^5/10 ...)
    1.32980720239...e-10
    """
    direct = cdf_minus_half(c) - torch.where(c.isinf(), 0.0, c * pdf(c))  # c = inf: 1/2
    small = c.abs() < 0.25
    cs = torch.where(small, c, torch.zeros_like(c))
    u = cs * cs
    series = _M2_SERIES[-1] * u
    for a in _M2_SERIES[-2:0:-1]:
        series = (series + a) * u
    series = (series + _M2_SERIES[0]) * (u * cs)
    return torch.where(small, series, direct)


def _polar_both(w: torch.Tensor, w_star: torch.Tensor):
    """(|w|, w / |w|, w* / |w*|). On a GPU's path :func:`polar` of w and w* as one batch of rows:
    one set of kernel launches instead of two. Each row's result does not depend on the other
    rows (see :func:`polar`), so the values are those of two calls, bit for bit; on the CPU's
    path two calls, which are faster there (no copy into one batch)."""
    n = w.shape[-1]
    if not device_path(w) or w_star.shape[-1] != n or w_star.dtype != w.dtype or w_star.device != w.device:
        return (*polar(w), polar(w_star)[1])
    k = w.numel() // n
    r, u = polar(torch.cat([w.reshape(-1, n), w_star.reshape(-1, n)]))
    return r[:k].reshape(*w.shape[:-1], 1), u[:k].reshape(w.shape), u[k:].reshape(w_star.shape)


def _norms(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """:func:`norm` of each of the tensors ``xs`` (of one shape); on a GPU's path as one batch of
    rows, one call (the same values, as in :func:`_polar_both`)."""
    if not device_path(xs[0]):
        return tuple(norm(x) for x in xs)
    return tuple(norm(torch.stack(xs)).unbind(0))


def plane(w: torch.Tensor, w_star: torch.Tensor):
    r"""Geometry of :math:`(w, w^*)`, all with a trailing keepdim axis where scalar.

    Returns ``(w_hat, ws_hat, r, theta, cos, sin, su)`` with ``r = |w|``, theta from Kahan's
    formula :math:`2\,\mathrm{atan2}(|\hat w - \hat w^*|, |\hat w + \hat w^*|)` (accurate near 0
    and pi) and ``su`` :math:`= \sin\theta\,u`, the component of :math:`\hat w^*` orthogonal to
    :math:`w`. Angles within 64 machine epsilons of 0 or pi (rounding of exactly parallel inputs,
    e.g. ``w_star = 3 w``) are snapped to exactly 0 or pi, where ``sin = 0`` and ``su = 0``.
    """
    r, w_hat, ws_hat = _polar_both(w, w_star)
    p = ws_hat - dot(ws_hat, w_hat) * w_hat  # (..., n), |p| = sin theta up to rounding
    minus, plus, pn = _norms(w_hat - ws_hat, w_hat + ws_hat, p)
    theta = 2.0 * torch.atan2(minus, plus)
    tol = 64.0 * torch.finfo(theta.dtype).eps
    theta = torch.where(theta < tol, torch.zeros_like(theta), theta)
    theta = torch.where(theta > math.pi - tol, torch.full_like(theta, math.pi), theta)
    parallel = (theta == 0) | (theta == math.pi)
    sign = torch.where(theta == 0, 1.0, -1.0).to(theta.dtype)
    cos = torch.where(parallel, sign, torch.cos(theta))
    sin = torch.where(parallel, torch.zeros_like(theta), torch.sin(theta))
    safe = torch.where(parallel | (pn == 0), torch.ones_like(pn), pn)
    su = torch.where(parallel, torch.zeros_like(p), p / safe * sin)
    return w_hat, ws_hat, r, theta, cos, sin, su
