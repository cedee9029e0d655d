r"""The linear-teacher model on fixed samples of any law (book: the chapter on general inputs).

The Monte Carlo side of the chapter "Beyond Gaussian inputs" (any distribution, any n, any
labels), for the laws and dimensions where the quadrature of :mod:`stelib.gi_quadrature` does
not apply:

* the profile loss over many directions at once, with the optimal second layer in closed form
  per direction (:func:`profile_loss_on`, :func:`optimal_v_on`: least squares
  :math:`E[ss^\top] v = E[s y^*]`);
* the cReLU fixed point of the linear-teacher model by sample-average coarse gradient descent
  with Polyak averaging, batched over independent replicate samples
  (:func:`crelu_fixed_point_mc`).

The chapter's checks built on them are listed in :mod:`stelib.general_inputs`;
:func:`stelib.symmetry.least_squares_v` is :func:`optimal_v_on` for one direction.

Example
-------
>>> import torch
>>> from stelib.core.distributions import make_distribution
>>> Z = make_distribution("gaussian", 2).sample((200_000, 1), torch.Generator().manual_seed(0))
>>> loss, v = profile_loss_on(torch.eye(2), Z, Z[:, 0, 0])   # teacher a = e1, directions e1, e2
>>> [round(float(x), 2) for x in loss], round(float(v[0, 0]), 1)   # 1/2 - 1/(2 pi), 2 phi(0)
([0.34, 0.5], 0.8)
"""

from __future__ import annotations

import torch

from stelib.analyses.gi_quadrature import GAUSSIAN_RADIUS
from stelib.core._validate import as_device, as_tensor, check_positive_int
from stelib.core.distributions import Distribution

__all__ = ["crelu_fixed_point_mc", "optimal_v_on", "profile_loss_on"]


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
                         radius0: float = GAUSSIAN_RADIUS, device=None, return_drift: bool = False):
    r"""cReLU fixed point of the linear-teacher model (m = 1) on ``replicates`` independent samples.

    On each fixed sample of ``samples`` patches, iterate v <- v_opt(w) (exact minimisation of the
    sample loss over v) and w <- w - lr S^-1 g_crelu / (v sd(y*)) (the coarse step with the factor
    v divided out, preconditioned by the sample second moment S = E[zz^T] and divided by the sample
    standard deviation of the teacher's output; none of this moves the fixed point). For inputs
    z = A x with x standard Gaussian the step is then the standard Gaussian one whatever A and a
    (without sd(y*) it would grow with |A^T a|: an anisotropic Gaussian with scale ratio 10 did not
    settle). Start at radius0 * a_hat; average the iterates of the second half (Polyak).
    Returns (v (R,), w (R, n)); their spread over replicates is the Monte Carlo uncertainty.
    With ``return_drift``, also each replicate's drift (R,): the distance between the mean w of
    the third and of the last quarter of the iterates over the averaged |w|. An iteration that has
    settled (at a point, or cycling around one) has a drift near 0; one still travelling does not,
    and its average is not a fixed point.
    (NaN with two steps: a single averaged iterate.)
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
    step = lr / y.std(dim=1, keepdim=True)  # (R, 1): and scaled by 1 / sd(y*)
    w = (radius0 * a / torch.linalg.vector_norm(a)).expand(R, -1).clone()  # (R, n)
    w_sum, v_sum, k = torch.zeros_like(w), torch.zeros(R, dtype=torch.float64, device=w.device), 0
    half, last = steps // 2, steps - (steps - steps // 2) // 2  # averaged: [half, steps); last quarter
    w_last = torch.zeros_like(w)
    for t in range(steps):
        pre = (w[:, None, :] @ Zt)[:, 0]  # (R, N)
        s = pre > 0
        v = torch.where(s, y, 0.0).sum(1) / s.sum(1)
        c = torch.where(s & (pre < 1), v[:, None] - y, 0.0)  # crelu window times residual
        g = (prec @ (Zt @ c[:, :, None]))[..., 0] / samples  # (R, n)
        w = w - step * g
        if t >= half:
            w_sum, v_sum, k = w_sum + w, v_sum + v, k + 1
        if t >= last:
            w_last = w_last + w
    if not return_drift:
        return v_sum / k, w_sum / k
    q = steps - last  # iterates in the last quarter; the third quarter has k - q
    if q < 1 or k - q < 1:  # two steps: one averaged iterate, nothing to compare
        return v_sum / k, w_sum / k, torch.full((R,), float("nan"), dtype=w.dtype, device=w.device)
    w_third = (w_sum - w_last) / (k - q)
    drift = torch.linalg.vector_norm(w_last / q - w_third, dim=1) / torch.linalg.vector_norm(w_sum / k, dim=1)
    return v_sum / k, w_sum / k, drift
