r"""A fused Monte Carlo kernel for large patches: Z is read once, sample by sample.

For each sample the forward product :math:`x = Z_b w`, the residual
:math:`r = v^\top\sigma(x) - y_b` and the three STEs' backward contractions
:math:`g_\mu = r\,Z_b^\top(\mu'(x)\odot v)` are computed in one pass over the rows of
:math:`Z_b`: each row's inner product with w decides which STEs' windows it lies in, and the row,
still in the core's cache, is added once to the sum of its class (the three STEs share the classes).
So the sample array is read from memory once instead of twice (the PyTorch path in
:mod:`stelib.montecarlo`: one product for Z w, one batched product for the contractions), and
each element enters two multiply-adds instead of four. It returns the same group sums as that
path (to rounding), which stays the reference: the tests compare the two.

Per sample only the class sums and r are formed; the sample's class sums are added to the
group's, scaled by r, and cleared in the same loop (:func:`_flush`), and the loss and v-gradient
moments are summed once per group from the stored r and the stored signs of x.
``benchmarks/bench_montecarlo.py`` prints the time against one streaming pass over Z. (An earlier version prefetched the next
sample's cache lines by hand; on a 2-core AMD EPYC (Zen 4) that made the kernel slower, and the
hardware prefetcher alone did better.) Samples are worked on in pairs (:func:`_pair`): on that
machine this cut the compute by about 10 % and the time against the memory by 3-4 %, with the
same results bit for bit.

Compiled with numba on first use (a few seconds, cached on disk afterwards); imported lazily,
only for patches with m n > 256.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_FASTMATH = {"reassoc", "contract"}  # SIMD reductions; nan and inf are kept


@njit(cache=True, fastmath=_FASTMATH)
def _sample(Zb, yb, v, w, on, S):  # pragma: no cover - compiled; checked against torch
    """One sample, each row of Z_b read once: the sign of x_i = Z_b[i] . w into ``on`` (1.0 or
    0.0), and v_i Z_b[i] added to S[k] for the class k of x_i: 0 (x <= 0 or nan), 1 (0 < x < 1),
    2 (x >= 1). Returns the residual r = v . sigma(x) - y_b."""
    m, n = Zb.shape
    r = -yb
    for i in range(m):
        Zi = Zb[i]
        acc = 0.0
        for j in range(n):
            acc += Zi[j] * w[j]
        pos = acc > 0
        on[i] = pos
        r += v[i] * pos
        Sk = S[pos + (acc >= 1)]
        vi = v[i]
        for j in range(n):
            Sk[j] += vi * Zi[j]
    return r


@njit(cache=True, fastmath=_FASTMATH)
def _pair(Za, Zb, ya, yb, v, w, ona, onb, Sa, Sb):  # pragma: no cover - compiled; checked against torch
    """Two samples at once, row i of each in turn: :func:`_sample` for both, with the two dot
    products in one loop and each sample's rows added to its own class sums, so the core has two
    independent chains to work on. Every sum is formed in the same order as by :func:`_sample`,
    so the results are the same bit for bit. Returns both residuals."""
    m, n = Za.shape
    ra = -ya
    rb = -yb
    for i in range(m):
        Zai, Zbi = Za[i], Zb[i]
        xa = 0.0
        xb = 0.0
        for j in range(n):
            xa += Zai[j] * w[j]
            xb += Zbi[j] * w[j]
        pa, pb = xa > 0, xb > 0
        ona[i], onb[i] = pa, pb
        vi = v[i]
        ra += vi * pa
        rb += vi * pb
        Ska, Skb = Sa[pa + (xa >= 1)], Sb[pb + (xb >= 1)]
        for j in range(n):
            Ska[j] += vi * Zai[j]
        for j in range(n):
            Skb[j] += vi * Zbi[j]
    return ra, rb


@njit(cache=True, fastmath=_FASTMATH)
def _flush(S, A, r):  # pragma: no cover - compiled; checked against torch
    """A += r S for a sample's class sums S, which are cleared in the same loop."""
    for k in range(3):
        Sk, Ak = S[k], A[k]
        for j in range(S.shape[1]):
            Ak[j] += r * Sk[j]
            Sk[j] = 0.0


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def group_sums(Z, y, v, w, group):  # pragma: no cover - compiled; checked against the torch path
    """Group sums over consecutive samples: coarse gradients (groups, 3, n) for identity,
    relu, crelu; per-sample moments of the loss and of dl/dv summed per group.

    The coarse gradient of a sample is r Z_b^T (mu'(x) * v), and the STEs' windows are unions
    of the three classes of :func:`_sample` (identity: all, relu: 1 and 2, crelu: 1), so per
    sample r S[k] is added to the class sums A[k] and the STEs' sums are formed once per group.
    """
    b, m, n = Z.shape
    ngroups = (b + group - 1) // group
    G = np.zeros((ngroups, 3, n))
    L = np.zeros((ngroups, 2))  # sum of loss, sum of loss^2
    V = np.zeros((ngroups, 2, m))  # sum of dl/dv, sum of (dl/dv)^2
    for gi in prange(ngroups):
        lo, hi = gi * group, min(b, (gi + 1) * group)
        on = np.empty((hi - lo, m))  # sigma(x) of each sample of the group
        R = np.empty(hi - lo)  # its residual
        Sa = np.zeros((3, n))
        Sb = np.zeros((3, n))
        A = np.zeros((3, n))
        for bb in range(lo, hi - 1, 2):  # samples in pairs (about 10 % less compute, see _pair)
            R[bb - lo], R[bb + 1 - lo] = _pair(Z[bb], Z[bb + 1], y[bb], y[bb + 1], v, w,
                                               on[bb - lo], on[bb + 1 - lo], Sa, Sb)
            _flush(Sa, A, R[bb - lo])
            _flush(Sb, A, R[bb + 1 - lo])
        if (hi - lo) % 2:  # the last sample of an odd group alone
            R[hi - 1 - lo] = _sample(Z[hi - 1], y[hi - 1], v, w, on[hi - 1 - lo], Sa)
            _flush(Sa, A, R[hi - 1 - lo])
        for s in range(hi - lo):  # dl/dv_i = r sigma(x_i); the loss r^2 / 2
            r = R[s]
            loss = 0.5 * r * r
            L[gi, 0] += loss
            L[gi, 1] += loss * loss
            r2 = r * r
            for i in range(m):
                V[gi, 0, i] += r * on[s, i]
                V[gi, 1, i] += r2 * on[s, i]
        for j in range(n):
            G[gi, 2, j] = A[1, j]
            G[gi, 1, j] = A[1, j] + A[2, j]
            G[gi, 0, j] = A[0, j] + G[gi, 1, j]
    return G, L, V
