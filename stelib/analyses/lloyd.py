r"""The step alpha of a uniform b-bit quantized ReLU, fitted by Lloyd's algorithm (chapter practice).

Yin et al. (2019, Section 4) fix the resolution alpha of their quantized ReLU in advance: a
batch normalisation without scale and shift makes the quantizer's input roughly a unit
Gaussian, of which the quantizer sees the positive half, and alpha is fitted by "a variant of
Lloyd's algorithm" to simulated half-Gaussian data. The variant here is Lloyd's algorithm with
the levels constrained to the uniform grid :math:`\{0, \alpha, 2\alpha, \dots, L\alpha\}`,
:math:`L = 2^b - 1`; it alternates

1. *assignment*: each sample goes to its nearest level, :math:`k_i = \mathrm{clamp}(\mathrm{round}(x_i/\alpha), 0, L)`
   (on sorted samples with prefix sums, so one step costs :math:`O(L \log n)`);
2. *update*: the least-squares step for these assignments,
   :math:`\alpha = \sum_i k_i x_i / \sum_i k_i^2`,

and each step lowers the mean squared error :math:`\frac1n\sum_i (x_i - \alpha k_i)^2`, so it
converges to a fixed point (a local minimiser of the empirical error over alpha). On half-Gaussian
samples the fixed point approaches the minimiser of the population error

.. math::

    \mathrm{MSE}(\alpha) = \sum_{k=0}^{L} \int_{t_k}^{t_{k+1}} (x - k\alpha)^2\, 2\varphi(x)\,dx,
    \qquad t_0 = 0,\ t_k = (k - \tfrac12)\alpha,\ t_{L+1} = \infty,

which the tests compute independently by quadrature. The network's quantizer
(:func:`stelib.ste.quantized_relu`) then uses this alpha with Yin et al.'s thresholds at
:math:`k\alpha`.

Example
-------
>>> import numpy as np
>>> fit = half_gaussian_alpha(2, n=20_000, rng=np.random.default_rng(0))
>>> round(fit.alpha, 1)
0.7
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stelib.core._validate import check_positive_int, check_real

__all__ = ["LloydFit", "half_gaussian_alpha", "half_gaussian_mse", "lloyd_alphas", "optimal_alpha", "uniform_lloyd"]


@dataclass(frozen=True)
class LloydFit:
    """Result of :func:`uniform_lloyd`: step ``alpha``, its ``mse`` on the samples, ``iterations``."""

    bits: int
    alpha: float
    mse: float
    iterations: int


def uniform_lloyd(x, bits: int, *, tol: float = 1e-12, max_iter: int = 10_000) -> LloydFit:
    """Lloyd's algorithm for the uniform levels ``{0, alpha, ..., (2^bits - 1) alpha}`` on samples ``x``.

    ``x``: 1-D array of non-negative finite samples (at least 2, not all 0). Starts from
    ``alpha = max(x) / (2^bits - 1)`` and stops when alpha moves by less than ``tol`` (relative).
    Raises ``ValueError`` naming a bad argument.
    """
    bits = check_positive_int(bits, name="bits", maximum=16)
    check_real(tol, name="tol", low=0.0, high=1.0, low_open=True)
    max_iter = check_positive_int(max_iter, name="max_iter", maximum=10**7)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)) or np.any(x < 0) or not np.any(x > 0):
        raise ValueError(f"x must be a 1-D array of at least 2 finite non-negative samples, not all 0; "
                         f"got shape {x.shape}")
    levels = 2**bits - 1
    xs = np.sort(x)
    csum = np.concatenate([[0.0], np.cumsum(xs)])
    ks = np.arange(levels + 1)
    alpha = float(xs[-1]) / levels
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        # level k takes the sorted block [(k - 1/2) alpha, (k + 1/2) alpha); the top level all beyond
        edges = np.concatenate([[0], np.searchsorted(xs, (ks[1:] - 0.5) * alpha), [xs.size]])
        counts, sums = np.diff(edges), np.diff(csum[edges])
        new = float(ks @ sums / (ks**2 @ counts))
        done = abs(new - alpha) <= tol * alpha
        alpha = new
        if done:
            break
    k = np.clip(np.rint(x / alpha), 0, levels)
    return LloydFit(bits, alpha, float(np.mean((x - alpha * k) ** 2)), iterations)


def half_gaussian_alpha(bits: int, *, n: int = 200_000, rng: np.random.Generator) -> LloydFit:
    """Yin et al.'s alpha for ``bits``: :func:`uniform_lloyd` on ``n`` samples of |N(0, 1)| drawn from ``rng``."""
    n = check_positive_int(n, name="n", minimum=2, maximum=10**8)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return uniform_lloyd(np.abs(rng.standard_normal(n)), bits)


def lloyd_alphas(bits, *, samples: int = 200_000, seed: int = 0) -> dict[int, LloydFit]:
    """:func:`half_gaussian_alpha` for each bit width of ``bits``, smallest first, all from one
    generator ``numpy.random.default_rng(seed)``: the steps of the practice chapter's runs and
    of its stored runs (``stelib results compute practice-full``), which must come from the same
    draws. The fit for a bit width depends on the widths fitted before it (they use the earlier
    draws), so ask for exactly the widths that train."""
    if isinstance(bits, (int, np.integer)) or not hasattr(bits, "__iter__"):
        raise ValueError(f"bits must be a list of bit widths, got {bits!r}")
    widths = sorted({check_positive_int(b, name="bits", minimum=1, maximum=16) for b in bits})
    if not widths:
        raise ValueError("bits must name at least one bit width, got an empty list")
    samples = check_positive_int(samples, name="samples", minimum=2, maximum=10**8)
    seed = check_positive_int(seed, name="seed", minimum=0, maximum=2**63 - 1)
    rng = np.random.default_rng(seed)
    return {b: half_gaussian_alpha(b, n=samples, rng=rng) for b in widths}


def half_gaussian_mse(alpha: float, bits: int, *, rounding: str = "nearest") -> float:
    r"""Exact mean squared error of the b-bit uniform quantizer with step ``alpha`` on |N(0, 1)|.

    ``rounding="nearest"`` is the quantizer Lloyd's algorithm fits (level
    :math:`\mathrm{clamp}(\mathrm{round}(x/\alpha), 0, L)`); ``rounding="ceil"`` is the one the
    network's forward pass uses, Yin et al.'s :math:`\alpha\min(\lceil x/\alpha\rceil, L)`. With
    :math:`\int_a^b (x - c)^2\varphi = [\Phi - x\varphi + 2c\varphi + c^2\Phi]_a^b`, summed over the
    cells of each level.
    """
    from math import erf, exp, inf, pi, sqrt

    alpha = check_real(alpha, name="alpha", low=0.0, low_open=True)
    bits = check_positive_int(bits, name="bits", maximum=16)
    if rounding not in ("nearest", "ceil"):
        raise ValueError(f"rounding={rounding!r} must be 'nearest' or 'ceil'")
    L = 2**bits - 1

    def F(x: float, c: float) -> float:  # antiderivative of (x - c)^2 phi(x), limits at +inf
        if x == inf:
            return 1.0 + c * c
        phi, Phi = exp(-x * x / 2) / sqrt(2 * pi), 0.5 * (1 + erf(x / sqrt(2)))
        return Phi - x * phi + 2 * c * phi + c * c * Phi

    shift = 0.5 if rounding == "nearest" else 1.0  # level k covers ((k - shift) alpha, (k + 1 - shift) alpha]
    total = 0.0
    for k in range(L + 1):
        lo = 0.0 if k == 0 else (k - shift) * alpha
        hi = inf if k == L else (k + 1 - shift) * alpha
        if hi > lo:
            total += F(hi, k * alpha) - F(lo, k * alpha)
    return 2 * total  # density 2 phi on x >= 0


def optimal_alpha(bits: int, *, rounding: str = "ceil") -> float:
    """The step minimising :func:`half_gaussian_mse` for ``rounding`` (bounded scalar search on
    (1e-3, 4); the error is unimodal there for the bit widths the book uses)."""
    import scipy.optimize

    half_gaussian_mse(1.0, bits, rounding=rounding)  # validates bits and rounding
    res = scipy.optimize.minimize_scalar(lambda a: half_gaussian_mse(a, bits, rounding=rounding),
                                         bounds=(1e-3, 4.0), method="bounded", options={"xatol": 1e-10})
    return float(res.x)
