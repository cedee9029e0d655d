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

While a sample is worked on, the next one's cache lines are prefetched (:func:`_prefetch`,
LLVM's prefetch hint): the core then has no wait at the start of each row, and the kernel runs
at close to the speed of one streaming pass over Z (``benchmarks/bench_montecarlo.py`` prints
the ratio). A prefetch reads nothing into the results: they are the same bit for bit without it.

Compiled with numba on first use (a few seconds, cached on disk afterwards); imported lazily,
only for patches with m n > 256.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_FASTMATH = {"reassoc", "contract"}  # SIMD reductions; nan and inf are kept
_LINE = 8  # float64 values per 64-byte cache line


@intrinsic
def _prefetch(typingctx, arr, index):  # pragma: no cover - compiled
    """Hint to the core to fetch the cache line of ``arr.flat[index]`` (a C-contiguous array)
    for reading; no value is read, and an address outside the array does not fault."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i8p = ir.IntType(8).as_pointer()
        name = "llvm.prefetch.p0" if str(i8p) == "ptr" else "llvm.prefetch.p0i8"  # opaque or typed
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), name)
        address = builder.bitcast(builder.gep(data, [args[1]]), i8p)
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, index), codegen


@njit(cache=True, fastmath=_FASTMATH, inline="never")
def _sample(Zb, Znext, yb, v, w, pre, S):  # pragma: no cover - compiled; checked against torch
    """One sample, each row of Z_b read once: x_i = Z_b[i] . w into ``pre``, and v_i Z_b[i]
    added to S[k] for the class k of x_i: 0 (x <= 0 or nan), 1 (0 < x < 1), 2 (x >= 1).
    Row i of the next sample ``Znext`` (same shape) is prefetched. Returns the residual
    r = v . sigma(x) - y_b."""
    m, n = Zb.shape
    r = -yb
    S[:, :] = 0.0
    for i in range(m):
        for j in range(0, n, _LINE):
            _prefetch(Znext, i * n + j)
        Zi = Zb[i]
        acc = 0.0
        for j in range(n):
            acc += Zi[j] * w[j]
        pre[i] = acc
        on = acc > 0
        r += v[i] * on
        Sk = S[on + (acc >= 1)]
        vi = v[i]
        for j in range(n):
            Sk[j] += vi * Zi[j]
    return r


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
        pre = np.empty(m)
        S = np.empty((3, n))
        A = np.zeros((3, n))
        for bb in range(gi * group, min(b, (gi + 1) * group)):
            r = _sample(Z[bb], Z[min(bb + 1, b - 1)], y[bb], v, w, pre, S)
            loss = 0.5 * r * r
            L[gi, 0] += loss
            L[gi, 1] += loss * loss
            for i in range(m):
                gv = r if pre[i] > 0 else 0.0
                V[gi, 0, i] += gv
                V[gi, 1, i] += gv * gv
            for k in range(3):
                for j in range(n):
                    A[k, j] += r * S[k, j]
        for j in range(n):
            G[gi, 2, j] = A[1, j]
            G[gi, 1, j] = A[1, j] + A[2, j]
            G[gi, 0, j] = A[0, j] + G[gi, 1, j]
    return G, L, V
