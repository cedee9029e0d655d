r"""A fused Monte Carlo kernel for large patches: Z is read once, sample by sample.

For each sample the forward product :math:`x = Z_b w`, the residual
:math:`r = v^\top\sigma(x) - y_b` and the three STEs' backward contractions
:math:`g_\mu = Z_b^\top(\mu'(x)\odot v)\,r` are computed while :math:`Z_b` (m x n doubles) sits
in the core's cache, so the sample array is read from memory once instead of twice (the
PyTorch path in :mod:`stelib.montecarlo`: one product for Z w, one batched product for the
contractions). It returns the same group sums as that path, which stays the reference: the
tests compare the two.

Compiled with numba on first use (a few seconds, cached on disk afterwards); imported lazily,
only for patches with m n > 256.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})  # SIMD reductions; nan/inf kept
def group_sums(Z, y, v, w, group):  # pragma: no cover - compiled; checked against the torch path
    """Group sums over consecutive samples: coarse gradients (groups, 3, n) for identity,
    relu, crelu; per-sample moments of the loss and of dl/dv summed per group."""
    b, m, n = Z.shape
    ngroups = (b + group - 1) // group
    G = np.zeros((ngroups, 3, n))
    L = np.zeros((ngroups, 2))  # sum of loss, sum of loss^2
    V = np.zeros((ngroups, 2, m))  # sum of dl/dv, sum of (dl/dv)^2
    for gi in prange(ngroups):
        pre = np.empty(m)
        # Every row of Z_b enters one of three partial sums by where its x_i lies: A[0] x <= 0
        # (or nan), A[1] 0 < x < 1, A[2] x >= 1. The STEs' sums are unions of them (identity:
        # all three, relu: A[1] + A[2], crelu: A[1]), so each row is added once, not three times.
        A = np.zeros((3, n))
        for bb in range(gi * group, min(b, (gi + 1) * group)):
            Zb = Z[bb]
            r = -y[bb]
            for i in range(m):
                acc = 0.0
                for j in range(n):
                    acc += Zb[i, j] * w[j]
                pre[i] = acc
                if acc > 0:
                    r += v[i]
            loss = 0.5 * r * r
            L[gi, 0] += loss
            L[gi, 1] += loss * loss
            for i in range(m):
                p = pre[i]
                c = v[i] * r
                k = 0 if not p > 0 else (1 if p < 1 else 2)
                gv = r if p > 0 else 0.0
                V[gi, 0, i] += gv
                V[gi, 1, i] += gv * gv
                for j in range(n):
                    A[k, j] += c * Zb[i, j]
        for j in range(n):
            G[gi, 2, j] = A[1, j]
            G[gi, 1, j] = A[1, j] + A[2, j]
            G[gi, 0, j] = A[0, j] + G[gi, 1, j]
    return G, L, V
