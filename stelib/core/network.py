r"""The two-layer binary network of the book (notation in the introduction), for any input batch and labels.

.. math::

    y(Z; v, w) = v^\top \sigma(Z w),\qquad
    \ell = \tfrac12\,(v^\top \sigma(Z w) - y^*)^2,\qquad
    g_\mu = Z^\top\big(\mu'(Z w) \odot v\big)\,(v^\top\sigma(Zw) - y^*).

Shapes: ``Z`` is ``(batch, m, n)`` (m patches of dimension n per sample), ``v`` is ``(m,)``,
``w`` is ``(n,)``, labels ``y_star`` are ``(batch,)``. Batch functions return the batch mean;
``per_sample=True`` keeps the sample axis (for standard errors and sample-by-sample checks).

Example
-------
>>> import torch
>>> Z = torch.randn(1000, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> v, w = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
>>> coarse_grad(v, w, Z, forward(v, -w, Z), "relu").shape
torch.Size([2])
"""

from __future__ import annotations

import torch

from stelib.core._validate import as_tensor, check_nonzero_rows
from stelib.core.ste import STE_NAMES, check_ste, surrogate_derivative


def _inputs(v, w, Z, y_star=None):
    v = as_tensor(v, name="v", ndim=1)
    w = as_tensor(w, name="w", ndim=1)
    Z = as_tensor(Z, name="Z", ndim=3)
    dtype = torch.promote_types(torch.promote_types(v.dtype, w.dtype), Z.dtype)
    v, w, Z = v.to(Z.device, dtype), w.to(Z.device, dtype), Z.to(dtype)  # computed where Z lives
    if Z.shape[1:] != (v.shape[0], w.shape[0]):
        raise ValueError(
            f"Z has shape {tuple(Z.shape)}; expected (batch, m, n) = (batch, {v.shape[0]}, {w.shape[0]}) "
            "to match v of shape (m,) and w of shape (n,)"
        )
    if y_star is None:
        return v, w, Z
    y_star = as_tensor(y_star, name="y_star", ndim=1).to(Z.device, dtype)
    if y_star.shape[0] != Z.shape[0]:
        raise ValueError(f"y_star has {y_star.shape[0]} labels but Z has batch size {Z.shape[0]}")
    return v, w, Z, y_star


def _reduce(x: torch.Tensor, per_sample: bool) -> torch.Tensor:
    return x if per_sample else x.mean(dim=0)


def forward(v, w, Z) -> torch.Tensor:
    """Network output y = v^T sigma(Z w) for each sample, shape ``(batch,)``."""
    return teacher_unchecked(*_inputs(v, w, Z))  # (batch,)


def sample_loss(v, w, Z, y_star, *, per_sample: bool = False) -> torch.Tensor:
    """Squared loss 1/2 (y - y*)^2, averaged over the batch unless ``per_sample``."""
    v, w, Z, y_star = _inputs(v, w, Z, y_star)
    r = ((Z @ w) > 0).to(Z.dtype) @ v - y_star  # (batch,)
    return _reduce(0.5 * r**2, per_sample)


def grad_v(v, w, Z, y_star, *, per_sample: bool = False) -> torch.Tensor:
    """The ordinary gradient dl/dv = sigma(Z w) (v^T sigma(Z w) - y*), shape ``(m,)``."""
    v, w, Z, y_star = _inputs(v, w, Z, y_star)
    s = ((Z @ w) > 0).to(Z.dtype)  # (batch, m)
    r = s @ v - y_star  # (batch,)
    return _reduce(s * r[:, None], per_sample)


def coarse_grad(v, w, Z, y_star, ste: str, *, per_sample: bool = False) -> torch.Tensor:
    """Coarse gradient g_mu with respect to w (book: the primer, eq-sym-coarse), shape ``(n,)``.

    ``w = 0`` is allowed here (the sample formula is defined there); the population closed
    forms reject it.
    """
    check_ste(ste)
    v, w, Z, y_star = _inputs(v, w, Z, y_star)
    pre = Z @ w  # (batch, m)
    r = (pre > 0).to(Z.dtype) @ v - y_star  # (batch,)
    c = surrogate_derivative(pre, ste) * v * r[:, None]  # (batch, m)
    if per_sample:
        return torch.einsum("bmn,bm->bn", Z, c)  # (batch, n)
    return (c.reshape(1, -1) @ Z.reshape(-1, Z.shape[-1]))[0] / Z.shape[0]  # (n,)


def coarse_grads(v, w, Z, y_star, stes=STE_NAMES, *, per_sample: bool = False) -> dict[str, torch.Tensor]:
    """Coarse gradients of several STEs from one forward pass: ``{ste: g}``.

    The forward pass (Z w, the residual) is shared and the backward contractions of all STEs
    are one matrix product, which is what makes Monte Carlo estimates cheap.
    """
    stes = tuple(check_ste(s) for s in ((stes,) if isinstance(stes, str) else stes))
    v, w, Z, y_star = _inputs(v, w, Z, y_star)
    pre = Z @ w  # (batch, m)
    r = (pre > 0).to(Z.dtype) @ v - y_star  # (batch,)
    vr = v * r[:, None]  # (batch, m)
    C = torch.stack([surrogate_derivative(pre, s) * vr for s in stes], dim=1)  # (batch, k, m)
    if per_sample:
        G = torch.bmm(C, Z).transpose(0, 1)  # (k, batch, n)
    else:
        k = len(stes)
        G = C.transpose(0, 1).reshape(k, -1) @ Z.reshape(-1, Z.shape[-1]) / Z.shape[0]  # (k, n)
    return dict(zip(stes, G, strict=True))


def teacher(v_star, w_star, Z) -> torch.Tensor:
    """Labels of Yin et al.'s teacher, y* = v*^T sigma(Z w*), shape ``(batch,)``."""
    w_star = as_tensor(w_star, name="w_star", ndim=1)
    check_nonzero_rows(w_star, name="w_star")
    return forward(v_star, w_star, Z)


def teacher_unchecked(v_star: torch.Tensor, w_star: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """y = v^T sigma(Z w) for checked float64 tensors on Z's device: the body of :func:`forward`
    (and so of :func:`teacher`), which samplers call at every step without reading any value back
    (no finiteness pass over Z)."""
    return ((Z @ w_star) > 0).to(Z.dtype) @ v_star
