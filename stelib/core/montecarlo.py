r"""Monte Carlo estimates of the population loss and gradients, with standard errors.

For any sampler with ``sample(batch, generator) -> (Z, y_star)`` (a :class:`~stelib.problems.Problem`
or a closed-form model such as ``gaussian.YinModel``) these estimate, from the same draws,

.. math::

    L = \mathbb{E}\,\ell,\quad \mathbb{E}\,\partial_v \ell,\quad \mathbb{E}\,g_\mu \ (\mu \in
    \{\text{identity, relu, crelu}\}),\quad \nabla_w L,

each with its standard error (sample standard deviation / sqrt(samples)). Draws come in chunks
from an explicit generator, so two calls with generators seeded alike see exactly the same
samples (common random numbers): invariances such as w -> c w can be checked sample by sample.

The true gradient :math:`\nabla_w L` exists when the law of :math:`z^\top w` has a density. It
is a boundary integral: unit i switches on where :math:`z_i^\top w = 0`, and the loss jumps
there by :math:`v_i (r - v_i\sigma_i + v_i/2)`. The estimator replaces the Dirac mass on that
hyperplane by a Gaussian kernel of width :math:`h|w|` (``bandwidth`` = h), so its bias is
O(h^2) for smooth densities; the standard error grows like 1/sqrt(h).

Implementation: small patches (m n <= 256) keep per-sample values (PyTorch, broadcast). Larger
ones sum the coarse gradients over groups of up to 32 samples and take the standard error
from the group sums (batch means, at least 64 groups); on the CPU, without the true gradient,
the fused kernel of ``stelib._fused`` computes those sums reading each sample once, and the
PyTorch path (tested against it) serves everything else.

Devices: everything is computed where the samples live (the generator's device for
:func:`estimate`, ``Z``'s for :func:`estimate_on`); ``v`` and ``w`` are moved there and the
results come back there.

Example
-------
>>> import torch
>>> from stelib.core.problems import Problem, make_distribution
>>> p = Problem(make_distribution("gaussian", 2), m=3, labels="linear", a=[1.0, 0.0])
>>> est = estimate(torch.ones(3), torch.tensor([1.0, 1.0]), p, samples=10_000,
...                generator=torch.Generator().manual_seed(0))
>>> sorted(est.coarse)
['crelu', 'identity', 'relu']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from stelib.core._closedform import norm
from stelib.core._validate import as_device, as_tensor, check_positive, check_positive_int
from stelib.core.ste import STE_NAMES, check_ste, surrogate_derivative

DTYPE = torch.float64


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate ``mean`` with its standard error ``se`` (same shape)."""

    mean: torch.Tensor
    se: torch.Tensor

    def z_score(self, reference) -> torch.Tensor:
        """(mean - reference) / se, elementwise (inf where se = 0 and they differ)."""
        ref = as_tensor(reference, name="reference", dtype=self.mean.dtype).to(self.mean.device)
        diff = self.mean - ref
        return torch.where(self.se > 0, diff / torch.where(self.se > 0, self.se, 1.0),
                           torch.where(diff == 0, 0.0, math.inf))

    def to(self, device) -> Estimate:
        """The same estimate with ``mean`` and ``se`` on ``device``."""
        return Estimate(self.mean.to(device), self.se.to(device))

    def cpu(self) -> Estimate:
        """``self.to("cpu")``: for printing with NumPy, plotting, or CPU references."""
        return self.to("cpu")


@dataclass(frozen=True)
class MCResult:
    """Estimates from one set of draws: ``loss``, ``grad_v``, ``coarse[ste]``, ``true_grad_w``."""

    loss: Estimate
    grad_v: Estimate
    coarse: dict[str, Estimate]
    true_grad_w: Estimate | None
    samples: int

    def to(self, device) -> MCResult:
        """The same result with every estimate on ``device``."""
        return MCResult(self.loss.to(device), self.grad_v.to(device),
                        {s: e.to(device) for s, e in self.coarse.items()},
                        None if self.true_grad_w is None else self.true_grad_w.to(device), self.samples)

    def cpu(self) -> MCResult:
        """``self.to("cpu")``."""
        return self.to("cpu")


class _Moments:
    """Running sums reduced to a mean and its standard error.

    Values arrive as sums over groups of ``size`` samples (``size`` = 1: per-sample values).
    For independent samples E[(X_g - size mu)^2 / size] = var, so the variance estimate
    (sum_g X_g^2 / size - N mu^2) / (groups - 1) is the sample variance when size = 1 and the
    batch-means estimate otherwise.
    """

    def __init__(self):
        self.s = self.s2 = None
        self.count = self.groups = 0

    def add(self, x: torch.Tensor, size: int = 1) -> None:  # x: (groups, ...) sums over `size` samples
        self.add_sums(x.sum(dim=0), (x * x).sum(dim=0) / size, count=x.shape[0] * size, groups=x.shape[0])

    def add_sums(self, s: torch.Tensor, s2: torch.Tensor, *, count: int, groups: int) -> None:
        """Add pre-reduced sums: ``s`` of the values, ``s2`` of (group sum)^2 / group size."""
        self.s = s if self.s is None else self.s + s
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.count += count
        self.groups += groups

    def result(self) -> Estimate:
        mean = self.s / self.count
        var = torch.clamp(self.s2 / self.count - mean * mean, min=0) * self.count / max(self.groups - 1, 1)
        return Estimate(mean, torch.sqrt(var / self.count))


_MASKS = {
    "identity": None,  # mu'(x) = 1
    "relu": lambda pre: pre > 0,  # mu'(x) = 1{x > 0}
    "crelu": lambda pre: (pre > 0) & (pre < 1),  # mu'(x) = 1{0 < x < 1}
}


def _mask(ste: str, pre: torch.Tensor) -> torch.Tensor:
    """mu'(pre): a boolean mask for relu and crelu, the registered derivative otherwise."""
    return _MASKS[ste](pre) if ste in _MASKS else surrogate_derivative(pre, ste)


def _per_sample(v, w, Z, y, stes, bandwidth, pre=None, group: int = 1):
    """Per-sample loss and dl/dv, and the coarse gradients (and smoothed true gradient)
    summed over groups of ``group`` consecutive samples: shape ``(b / group, k, n)``.

    The hot loop of every estimate: STE names are checked by the caller, so the surrogate
    derivatives are applied as masks here without re-validating each chunk.
    """
    pre = Z @ w if pre is None else pre  # (b, m)
    s = (pre > 0).to(DTYPE)
    r = s @ v - y  # (b,)
    vr = v * r[:, None]  # (b, m)
    C = [vr if ste == "identity" else _mask(ste, pre) * vr for ste in stes]
    if bandwidth is not None:
        # Kernel estimate of the boundary integral: unit i flips where x_i = z_i^T w = 0, the
        # loss jumps by v_i (r - v_i s_i + v_i / 2) there (the residual with unit i half on),
        # and delta(x_i) is replaced by a Gaussian kernel of width h |w|: bias O(h^2).
        wn = norm(w)[0]
        h = bandwidth * wn
        x = pre / h
        if _scaled(wn):  # |w| times the kernel: the caller divides by |w| (no overflow in squares)
            kernel = torch.exp(-0.5 * x * x) / (math.sqrt(2 * math.pi) * bandwidth)
        else:
            kernel = torch.exp(-0.5 * x * x) / (math.sqrt(2 * math.pi) * h)  # (b, m)
        C.append(kernel * v * (r[:, None] - v * s + 0.5 * v))
    b, m, n = Z.shape
    k = len(C)
    C = torch.stack(C, dim=1) if C else Z.new_zeros(b, 0, m)  # (b, k, m)
    if group > 1:  # group sums: one (k, group*m) x (group*m, n) product per group
        g = b // group
        G = torch.bmm(C.reshape(g, group, k, m).transpose(1, 2).reshape(g, k, group * m), Z.reshape(g, group * m, n))
    elif m * n <= 256:
        G = (C[..., None] * Z[:, None]).sum(dim=2)  # (b, k, n): small patches, broadcast is fastest
    else:
        G = torch.bmm(C, Z)  # (b, k, n): C before Z keeps Z's layout (fast)
    return 0.5 * r * r, s * r[:, None], G


def _scaled(r: torch.Tensor) -> bool:
    """Whether the true-gradient terms are accumulated times |w| (|w| far from 1, where the
    terms, of order 1/|w|, or their squares would overflow or underflow)."""
    return not 1e-100 < float(r) < 1e100


def _chunk_and_group(m: int, n: int, samples: int) -> tuple[int, int]:
    """Samples per backward pass (~32 MiB of Z) and the group size of the coarse-gradient sums.

    Small patches (m n <= 256) keep per-sample values. Large ones are summed over groups of up
    to 32 samples (at least 64 groups), so the backward contraction is a few large products
    instead of one tiny product per sample; the standard error then comes from the group sums.
    """
    group = 1 if m * n <= 256 else max(1, min(32, samples // 64))
    chunk = max(group, 2**25 // (8 * m * n) // group * group)
    return chunk, group


def _check_stes(stes) -> tuple[str, ...]:
    return tuple(check_ste(s) for s in ((stes,) if isinstance(stes, str) else stes))


class _Accumulator:
    def __init__(self, v, w, stes, true_grad, bandwidth):
        self.v, self.w, self.stes = v, w, stes
        self.bandwidth = check_positive(bandwidth, name="bandwidth") if true_grad else None
        if true_grad and not bool((w != 0).any()):
            raise ValueError("w = 0 is not allowed for the true gradient: the direction w/|w| is undefined")
        self.loss, self.grad_v, self.G = _Moments(), _Moments(), _Moments()

    def add(self, Z: torch.Tensor, y: torch.Tensor, *, samples: int, fused: bool = True) -> None:
        """Add a sample; ``samples`` is the planned total (it sets the group size). Large patches
        on the CPU go to the fused kernel unless ``fused=False`` (the PyTorch reference path)."""
        Z, y = Z.to(DTYPE), y.to(DTYPE)
        builtin = all(s in STE_NAMES for s in self.stes)  # the fused kernel knows these three
        if fused and builtin and self.bandwidth is None and Z.shape[1] * Z.shape[2] > 256 and Z.device.type == "cpu":
            return self._add_fused(Z, y, samples)
        pre = Z @ self.w  # (b, m), computed once for the check and every chunk
        if not bool(torch.isfinite(pre).all()):  # nan/inf anywhere in Z reaches Z w
            raise ValueError("Z contains non-finite values (nan or inf)")
        if not bool(torch.isfinite(y).all()):
            raise ValueError("y_star contains non-finite values (nan or inf)")
        chunk, group = _chunk_and_group(Z.shape[1], Z.shape[2], samples)
        for start in range(0, Z.shape[0], chunk):
            sl = slice(start, min(start + chunk, Z.shape[0]))
            full = (sl.stop - sl.start) // group * group
            for part, size in ((slice(sl.start, sl.start + full), group), (slice(sl.start + full, sl.stop), None)):
                if part.stop == part.start:
                    continue
                size = size or part.stop - part.start  # the remainder forms one group
                loss, gv, G = _per_sample(self.v, self.w, Z[part], y[part], self.stes, self.bandwidth,
                                          pre[part], group=size if size > 1 and group > 1 else 1)
                self.loss.add(loss)
                self.grad_v.add(gv)
                self.G.add(G, size if group > 1 else 1)

    def _add_fused(self, Z: torch.Tensor, y: torch.Tensor, samples: int) -> None:
        """Large patches: the fused kernel of :mod:`stelib._fused` reads Z once. Same group sums
        as the PyTorch path; Z is checked for nan/inf through its results, before they are used."""
        from stelib.core import _fused  # numba: compiled on first use

        if not bool(torch.isfinite(y).all()):
            raise ValueError("y_star contains non-finite values (nan or inf)")
        b = Z.shape[0]
        group = _chunk_and_group(Z.shape[1], Z.shape[2], samples)[1]
        G, L, V = (torch.from_numpy(a) for a in _fused.group_sums(
            *(t.detach().contiguous().numpy() for t in (Z, y, self.v, self.w)), group))
        if not (bool(torch.isfinite(L).all()) and bool(torch.isfinite(G).all())):
            raise ValueError("Z contains non-finite values (nan or inf)")
        sizes = torch.full((G.shape[0], 1, 1), float(group), dtype=DTYPE, device=G.device)
        sizes[-1] = b - (G.shape[0] - 1) * group  # the remainder forms one group
        G = G[:, [STE_NAMES.index(ste) for ste in self.stes]]  # (groups, k, n)
        self.loss.add_sums(L[:, 0].sum(), L[:, 1].sum(), count=b, groups=b)
        self.grad_v.add_sums(V[:, 0].sum(0), V[:, 1].sum(0), count=b, groups=b)
        self.G.add_sums(G.sum(0), (G * G / sizes).sum(0), count=b, groups=G.shape[0])

    def result(self) -> MCResult:
        G = self.G.result()
        coarse = {ste: Estimate(G.mean[k], G.se[k]) for k, ste in enumerate(self.stes)}
        true = None
        if self.bandwidth is not None:
            r = norm(self.w)[0]
            unit = r if _scaled(r) else 1.0
            true = Estimate(G.mean[-1] / unit, G.se[-1] / unit)
        return MCResult(self.loss.result(), self.grad_v.result(), coarse, true, self.loss.count)


def _vw(v, w, m, n):
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    if (v.shape[0], w.shape[0]) != (m, n):
        raise ValueError(f"v has shape {tuple(v.shape)} and w {tuple(w.shape)}; the inputs need ({m},) and ({n},)")
    return v, w


def estimate_on(v, w, Z, y_star, *, stes=STE_NAMES, true_grad: bool = False,
                bandwidth: float = 0.02) -> MCResult:
    """Estimates from a given sample: ``Z`` (samples, m, n) and labels ``y_star`` (samples,).

    The common-random-numbers form: call it with the same ``Z`` at w and at c w to compare
    sample by sample.
    """
    stes = _check_stes(stes)
    # Z is checked for nan/inf through Z w (computed once, before any estimate), not by an
    # extra pass over the largest array.
    Z = as_tensor(Z, name="Z", ndim=3, dtype=DTYPE, finite=False)
    y_star = as_tensor(y_star, name="y_star", ndim=1, dtype=DTYPE)
    if Z.shape[0] != y_star.shape[0] or Z.shape[0] < 2:
        raise ValueError(f"Z has {Z.shape[0]} samples and y_star {y_star.shape[0]}; need equal counts >= 2")
    v, w = _vw(v, w, *Z.shape[1:])
    v, w, y_star = v.to(Z.device), w.to(Z.device), y_star.to(Z.device)  # computed where Z lives
    acc = _Accumulator(v, w, stes, true_grad, bandwidth)
    acc.add(Z, y_star, samples=Z.shape[0])
    return acc.result()


def true_grad_per_sample(v, w, Z, y_star, *, bandwidth: float = 0.02) -> torch.Tensor:
    """Per-sample terms of the true-gradient estimator, shape ``(samples, n)``; their mean is
    ``estimate_on(..., true_grad=True).true_grad_w.mean`` (for checks sample by sample)."""
    Z = as_tensor(Z, name="Z", ndim=3, dtype=DTYPE)
    y_star = as_tensor(y_star, name="y_star", ndim=1, dtype=DTYPE)
    if Z.shape[0] != y_star.shape[0]:
        raise ValueError(f"Z has {Z.shape[0]} samples and y_star {y_star.shape[0]}; need equal counts")
    v, w = _vw(v, w, *Z.shape[1:])
    v, w, y_star = v.to(Z.device), w.to(Z.device), y_star.to(Z.device)
    acc = _Accumulator(v, w, (), True, bandwidth)  # validates bandwidth and w != 0
    r = norm(w)[0]
    return _per_sample(v, w, Z, y_star, (), acc.bandwidth)[2][:, -1] / (r if _scaled(r) else 1.0)


def estimate(v, w, sampler, *, samples: int, generator: torch.Generator, stes=STE_NAMES,
             true_grad: bool = False, bandwidth: float = 0.02, chunk: int = 20_000,
             device=None) -> MCResult:
    """Estimate loss, v-gradient, coarse gradients (and the true w-gradient) from ``samples`` draws.

    Parameters: ``v`` (m,), ``w`` (n,) (non-zero for ``true_grad``), a sampler with
    ``sample(batch, generator)``, ``stes`` the STE names, ``true_grad`` to add the smoothed true
    gradient with ``bandwidth``, ``chunk`` draws per call of the sampler (memory ~ chunk*m*n*8 B).
    The draws come on the generator's device; they are moved to ``device`` (default: the
    generator's) and the estimate is computed and returned there, so a seeded CPU generator
    gives the same draws for an estimate on the CPU or a GPU.
    """
    stes = _check_stes(stes)
    samples = check_positive_int(samples, name="samples", minimum=2)
    chunk = check_positive_int(chunk, name="chunk")
    if not hasattr(sampler, "sample"):
        raise ValueError(f"sampler must have a sample(batch, generator) method, got {type(sampler).__name__}")
    m, n = getattr(sampler, "m", None), getattr(sampler, "n", None)
    v = as_tensor(v, name="v", ndim=1, dtype=DTYPE)
    w = as_tensor(w, name="w", ndim=1, dtype=DTYPE)
    v, w = _vw(v, w, m or v.shape[0], n or w.shape[0])
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    dev = generator.device if device is None else as_device(device)
    v, w = v.to(dev), w.to(dev)  # computed on dev; the samples come on the generator's device
    acc = _Accumulator(v, w, stes, true_grad, bandwidth)
    done = 0
    while done < samples:
        b = min(chunk, samples - done)
        Z, y = sampler.sample(b, generator)
        acc.add(Z.to(dev), y.to(dev), samples=samples)
        done += b
    return acc.result()


def coarse_grad(v, w, sampler, ste: str, *, samples: int, generator: torch.Generator, **kw) -> Estimate:
    """Monte Carlo twin of ``expected_coarse_grad``: E[g_ste] with its standard error, shape (n,)."""
    return estimate(v, w, sampler, samples=samples, generator=generator, stes=(ste,), **kw).coarse[ste]


def loss(v, w, sampler, *, samples: int, generator: torch.Generator, **kw) -> Estimate:
    """Monte Carlo twin of ``population_loss``."""
    return estimate(v, w, sampler, samples=samples, generator=generator, stes=(), **kw).loss


def true_grad_w(v, w, sampler, *, samples: int, generator: torch.Generator, bandwidth: float = 0.02,
                **kw) -> Estimate:
    """Smoothed-step estimate of the true gradient of the population loss with respect to w."""
    return estimate(v, w, sampler, samples=samples, generator=generator, stes=(), true_grad=True,
                    bandwidth=bandwidth, **kw).true_grad_w
