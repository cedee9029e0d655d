r"""Input distributions with one interface (book: the scale-symmetry chapter and the chapter on general inputs).

Each distribution describes one patch :math:`z \in \mathbb{R}^n`; an input :math:`Z` stacks
``m`` independent patches. Every distribution is standardised so that each coordinate has
mean 0 and variance 1 where that is possible (the shifted mixture is the deliberate exception:
its mean is not 0), and states the facts the theory uses:

* ``symmetric``: the law is invariant under :math:`z \mapsto -z` (then
  :math:`P(z^\top w > 0) = 1/2` for every w, book: prop-gi-spurious);
* ``rotation_invariant``: the law is invariant under every rotation (then the whole loss
  landscape equals the Gaussian one);
* ``mean``: the mean vector, shape ``(n,)``.

Sampling always takes an explicit :class:`torch.Generator` and returns float64 on the
generator's device.

Example
-------
>>> import torch
>>> d = make_distribution("laplace", n=3)
>>> d.sample((4, 2), torch.Generator().manual_seed(0)).shape   # (batch, m, n)
torch.Size([4, 2, 3])
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from stelib.core._validate import as_tensor, check_choice, check_positive, check_positive_int, check_real

DTYPE = torch.float64

# SHA-256 of the 8x8 digits images as float64 bytes, equal to scikit-learn's load_digits().data
# (tests/test_digits_data.py compares): the empirical distribution refuses data that differ from
# what the book was computed with.
DIGITS_SHA256 = "20def7f70a702f0af9732fbba4375e147a7d54fe70d8c45569b8e7c1c7010c10"


@dataclass(frozen=True)
class Distribution:
    """Base class: subclasses implement :meth:`_draw` returning ``(*shape, n)`` float64."""

    n: int
    name: ClassVar[str] = "distribution"
    symmetric: ClassVar[bool] = True  # subclasses whose facts depend on parameters use properties
    rotation_invariant: ClassVar[bool] = False

    def __post_init__(self):
        check_positive_int(self.n, name="n", maximum=4096)

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self.n, dtype=DTYPE, device="cpu")  # a fact of the law: on the CPU

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Draw independent patches of shape ``(*shape, n)`` with the given generator."""
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if not isinstance(shape, Iterable) or isinstance(shape, str | bytes):
            raise ValueError(f"shape={shape!r} must be a tuple of positive integers, e.g. (batch, m)")
        shape = tuple(check_positive_int(s, name="shape entry") for s in shape)
        return self._draw(shape, generator)

    def _draw(self, shape, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        kind = ("rotation-invariant" if self.rotation_invariant
                else "symmetric, not rotation-invariant" if self.symmetric else "not symmetric")
        return f"{self.name} (n={self.n}; {kind})"


@dataclass(frozen=True)
class Gaussian(Distribution):
    """i.i.d. N(0, 1) coordinates (Yin et al.'s setting)."""

    name: ClassVar[str] = "gaussian"
    rotation_invariant: ClassVar[bool] = True

    def _draw(self, shape, generator):
        return torch.randn(*shape, self.n, generator=generator, dtype=DTYPE, device=generator.device)


@dataclass(frozen=True)
class Uniform(Distribution):
    """i.i.d. uniform coordinates on [-sqrt 3, sqrt 3] (the cube; unit variance)."""

    name: ClassVar[str] = "uniform"

    def _draw(self, shape, generator):
        u = torch.rand(*shape, self.n, generator=generator, dtype=DTYPE, device=generator.device)
        return math.sqrt(3.0) * (2.0 * u - 1.0)


@dataclass(frozen=True)
class Laplace(Distribution):
    """i.i.d. Laplace coordinates with scale 1/sqrt 2 (unit variance)."""

    name: ClassVar[str] = "laplace"

    def _draw(self, shape, generator):
        dev = generator.device
        e = -torch.log1p(-torch.rand(*shape, self.n, generator=generator, dtype=DTYPE, device=dev))  # Exp(1)
        sign = torch.where(torch.rand(*shape, self.n, generator=generator, dtype=DTYPE, device=dev) < 0.5, -1.0, 1.0)
        return sign * e / math.sqrt(2.0)


@dataclass(frozen=True)
class StudentT(Distribution):
    """Student-t with ``df`` degrees of freedom, scaled to unit variance (needs df > 2).

    ``radial=True`` (default) uses one common radial scale per patch, z = g / sqrt(chi2_df / df)
    with g ~ N(0, I): rotation-invariant. ``radial=False`` draws coordinates independently.
    """

    df: float = 5.0
    radial: bool = True
    name: ClassVar[str] = "student_t"

    def __post_init__(self):
        super().__post_init__()
        check_real(self.df, name="df", low=2.0, low_open=True, high=1e6)
        if not isinstance(self.radial, bool | np.bool_):
            raise ValueError(f"radial={self.radial!r} must be True or False")

    @property
    def rotation_invariant(self) -> bool:
        return bool(self.radial)

    def _draw(self, shape, generator):
        g = torch.randn(*shape, self.n, generator=generator, dtype=DTYPE, device=generator.device)
        chi_shape = (*shape, 1) if self.radial else (*shape, self.n)
        gamma = torch._standard_gamma(torch.full(chi_shape, self.df / 2.0, dtype=DTYPE, device=generator.device),
                                      generator=generator)
        t = g / torch.sqrt(2.0 * gamma / self.df)  # chi2_df = 2 Gamma(df/2)
        return t * math.sqrt((self.df - 2.0) / self.df)


@dataclass(frozen=True)
class AnisotropicGaussian(Distribution):
    """N(0, diag(scales^2)): symmetric, not rotation-invariant unless all scales agree.

    Default scales go geometrically from 2 down to 1/2 across the coordinates.
    """

    scales: tuple[float, ...] | None = None
    name: ClassVar[str] = "anisotropic"

    def __post_init__(self):
        super().__post_init__()
        scales = self.scales
        if scales is None:
            scales = tuple(float(s) for s in np.geomspace(2.0, 0.5, self.n)) if self.n > 1 else (1.0,)
        if not isinstance(scales, Iterable) or isinstance(scales, str | bytes):
            raise ValueError(f"scales={scales!r} must be a sequence of n={self.n} positive numbers")
        # Bounded so that samples (a few scales at most) and their products with w stay finite.
        scales = tuple(check_real(s, name="scales entry", low=0.0, low_open=True, high=1e6) for s in scales)
        if len(scales) != self.n:
            raise ValueError(f"scales has {len(scales)} entries; it needs n={self.n}")
        object.__setattr__(self, "scales", scales)

    @property
    def rotation_invariant(self) -> bool:
        return len(set(self.scales)) == 1

    def _draw(self, shape, generator):
        s = torch.tensor(self.scales, dtype=DTYPE, device=generator.device)
        return torch.randn(*shape, self.n, generator=generator, dtype=DTYPE, device=generator.device) * s


@dataclass(frozen=True)
class GaussianMixture(Distribution):
    """Two-component mixture 1/2 N(shift + sep e, s^2 I) + 1/2 N(shift - sep e, s^2 I).

    ``e`` is the unit vector (1, ..., 1)/sqrt n; ``sep`` the component offset, ``s`` their
    common standard deviation and ``shift`` a common offset along ``e``. With shift = 0 the
    mixture is centred and symmetric; with shift != 0 it is neither (the non-centred case of
    book: prop-gi-spurious).
    """

    sep: float = 1.0
    std: float = 0.6
    shift: float = 0.5
    name: ClassVar[str] = "mixture"

    def __post_init__(self):
        super().__post_init__()
        check_real(self.sep, name="sep", low=0.0, high=100.0)
        check_positive(self.std, name="std")
        check_real(self.shift, name="shift", low=-100.0, high=100.0)

    @property
    def symmetric(self) -> bool:
        return self.shift == 0.0

    @property
    def direction(self) -> torch.Tensor:
        return torch.full((self.n,), 1.0 / math.sqrt(self.n), dtype=DTYPE, device="cpu")

    @property
    def mean(self) -> torch.Tensor:
        return self.shift * self.direction

    def _draw(self, shape, generator):
        dev = generator.device
        e = self.direction.to(dev)
        sign = torch.where(torch.rand(*shape, 1, generator=generator, dtype=DTYPE, device=dev) < 0.5, -1.0, 1.0)
        noise = self.std * torch.randn(*shape, self.n, generator=generator, dtype=DTYPE, device=dev)
        return noise + (self.shift + sign * self.sep) * e


DIGITS_FILE = "digits.csv.gz"  # data/ of the checkout, stelib/data in a wheel (data/digits.md: provenance)


@functools.lru_cache(maxsize=1)
def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 digits shipped with the package: images ``(1797, 64)`` float64, labels int64.

    Read from ``digits.csv.gz`` (scikit-learn's copy of the UCI optical-recognition digits, one
    row per image: 64 pixels in 0..16, then the label), whose SHA-256 must match ``SHA256SUMS``
    beside it; the parsed images must then match :data:`DIGITS_SHA256`, so they are
    bit-identical to ``sklearn.datasets.load_digits().data``. Read-only arrays, read once.
    """
    pkg = Path(__file__).resolve().parents[1]  # data/ of the checkout, or stelib/data in a wheel
    root = next((d for d in (pkg.parent / "data", pkg / "data") if (d / DIGITS_FILE).is_file()), pkg / "data")
    if not (root / DIGITS_FILE).is_file():
        raise ValueError(f"{DIGITS_FILE} is missing from {root} (it ships with stelib: reinstall the package)")
    raw = (root / DIGITS_FILE).read_bytes()
    sums = dict(line.split()[::-1] for line in (root / "SHA256SUMS").read_text().splitlines() if line.strip())
    digest = hashlib.sha256(raw).hexdigest()
    if sums.get(DIGITS_FILE) != digest:
        raise ValueError(f"{DIGITS_FILE} has SHA-256 {digest}, SHA256SUMS records {sums.get(DIGITS_FILE)}")
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.float64)
    data = np.ascontiguousarray(table[:, :-1])  # (1797, 64), as load_digits().data
    digest = hashlib.sha256(data.tobytes()).hexdigest()
    if digest != DIGITS_SHA256:
        raise ValueError(f"the digits images have SHA-256 {digest}, expected {DIGITS_SHA256}")
    target = np.ascontiguousarray(table[:, -1].astype(np.int64))
    data.flags.writeable = False
    target.flags.writeable = False
    return data, target


def _digits_array() -> np.ndarray:
    """The digits images, ``(1797, 64)`` float64 (a fresh writable copy)."""
    return _digits_table()[0].copy()


@dataclass(frozen=True)
class Digits(Distribution):
    """Empirical distribution of the 8x8 digits (1797 images shipped with stelib, as scikit-learn's ``load_digits``).

    Each image is centred; ``kind="pca"`` keeps its first ``n`` principal coordinates, each
    scaled to unit variance (whitened, so the second moments match a standard Gaussian while
    the law does not); ``kind="patch"`` takes the central k x k patch (n = k^2) of each
    standardised image. Sampling draws images uniformly with replacement.
    """

    kind: str = "pca"
    name: ClassVar[str] = "digits"
    symmetric: ClassVar[bool] = False

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.kind, ("pca", "patch"), name="kind")
        if self.kind == "pca" and self.n > 64:
            raise ValueError(f"n={self.n} is too large for digits PCA; allowed 1..64")
        if self.kind == "patch" and (math.isqrt(self.n) ** 2 != self.n or self.n > 64):
            raise ValueError(f"n={self.n} must be a square k^2 <= 64 for digits patches")
        object.__setattr__(self, "_points", self._build())

    def _build(self) -> torch.Tensor:
        x = _digits_array()
        x = x - x.mean(axis=0)
        if self.kind == "pca":
            _, s, vt = np.linalg.svd(x, full_matrices=False)
            pts = x @ vt[: self.n].T / (s[: self.n] / math.sqrt(x.shape[0]))
        else:
            k = math.isqrt(self.n)
            std = x.std(axis=0)
            x = x / np.where(std > 0, std, 1.0)
            lo = (8 - k) // 2
            pts = x.reshape(-1, 8, 8)[:, lo : lo + k, lo : lo + k].reshape(-1, self.n)
        return torch.from_numpy(np.ascontiguousarray(pts))

    @property
    def points(self) -> torch.Tensor:
        """The data set the distribution is built from, shape ``(1797, n)``."""
        return self._points

    @property
    def mean(self) -> torch.Tensor:
        return self._points.mean(dim=0)

    def _draw(self, shape, generator):
        idx = torch.randint(0, self._points.shape[0], shape, generator=generator, device=generator.device)
        return self._points.to(idx.device)[idx]


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    "gaussian": Gaussian,
    "uniform": Uniform,
    "laplace": Laplace,
    "student_t": StudentT,
    "anisotropic": AnisotropicGaussian,
    "mixture": GaussianMixture,
    "digits": Digits,
}


def make_distribution(name: str, n: int, **shape) -> Distribution:
    """Build the distribution called ``name`` on R^n; ``shape`` holds its shape parameters."""
    check_choice(name, tuple(DISTRIBUTIONS), name="distribution")
    cls = DISTRIBUTIONS[name]
    allowed = {f.name for f in dataclasses.fields(cls)} - {"n"}  # ClassVars are not fields
    unknown = set(shape) - allowed
    if unknown:
        raise ValueError(f"unknown shape parameter(s) {sorted(unknown)} for distribution {name!r}; "
                         f"allowed: {sorted(allowed) or 'none'}")
    return cls(n, **shape)


def empirical_moments(x, *, name: str = "x") -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of points ``x`` of shape ``(N, n)`` (a check of standardisation)."""
    x = as_tensor(x, name=name, ndim=2)
    mu = x.mean(dim=0)
    xc = x - mu
    return mu, xc.T @ xc / (x.shape[0] - 1)
