r"""Datasets of the practice chapter: the 8x8 digits (offline) and, for readers with a GPU, MNIST/CIFAR-10.

* ``"digits"``: the 1797 handwritten digits, 8x8, of UCI's optical-recognition set as
  scikit-learn ships them (``data/digits.csv.gz``, shipped with stelib: nothing is downloaded and
  scikit-learn is not needed), checked against their SHA-256, split at random and standardised per pixel;
  images are flat ``(N, 64)`` float64 tensors.
* ``"mnist"`` (1x28x28) and ``"cifar10"`` (3x32x32): Yin et al.'s datasets, read with
  torchvision's dataset classes from a cache directory. They are **never downloaded unless
  asked** (``download=True``); without a cached copy the loader raises a ``ValueError`` naming
  the dataset, the cache path and the need for a download. torchvision is an optional extra
  imported only here (install the build that matches your torch). Images are float32
  ``(N, C, H, W)``, standardised per channel with the training statistics.

:func:`synthetic_split` makes random tensors of a dataset's shapes, so that every code path can
be tested without the data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stelib.core._validate import check_choice, check_positive_int, check_real, resolve_device
from stelib.core.distributions import _digits_array, _digits_table

__all__ = ["DATASETS", "DataSplit", "default_cache_dir", "load_data", "load_digits_split", "synthetic_split"]

DATASETS: dict[str, tuple[int, ...]] = {"digits": (64,), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
# SHA-256 of the labels as int64 bytes, equal to load_digits().target (the images are checked by
# distributions._digits_table)
DIGITS_TARGET_SHA256 = "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21"


@dataclass(frozen=True)
class DataSplit:
    """Train/test split of ``name``: images ``x_*`` (N, *shape), labels ``y_*`` (N,) int64 in [0, 10)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str = "digits"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


DigitsSplit = DataSplit  # the name used before other datasets existed


def _digits_targets() -> np.ndarray:
    y = _digits_table()[1].copy()
    digest = hashlib.sha256(y.tobytes()).hexdigest()
    if digest != DIGITS_TARGET_SHA256:
        raise ValueError(f"the digits labels have SHA-256 {digest}, expected {DIGITS_TARGET_SHA256}")
    return y


def load_digits_split(seed: int = 0, *, test_fraction: float = 0.25, device: str = "cpu") -> DataSplit:
    """The 1797 digits, split at random (``torch.Generator`` seeded with ``seed``) into train and test.

    Each pixel is standardised with the mean and standard deviation of the training part
    (constant pixels are only centred). Images and labels are checked against their SHA-256.
    """
    check_positive_int(seed, name="seed", minimum=0, maximum=2**63 - 1)
    check_real(test_fraction, name="test_fraction", low=0.05, high=0.95)
    dev = resolve_device(device)
    x = torch.from_numpy(_digits_array())  # (1797, 64)
    y = torch.from_numpy(_digits_targets())  # (1797,)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    n_test = round(test_fraction * x.shape[0])
    test, tr = perm[:n_test], perm[n_test:]
    mu, sd = x[tr].mean(dim=0), x[tr].std(dim=0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    z = (x - mu) / sd
    return DataSplit(z[tr].to(dev), y[tr].to(dev), z[test].to(dev), y[test].to(dev), "digits")


def default_cache_dir() -> Path:
    """``$STELIB_DATA`` if set, else ``~/.cache/stelib``."""
    return Path(os.environ.get("STELIB_DATA", Path.home() / ".cache" / "stelib"))


def _standardise(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dims = (0, 2, 3)
    mu, sd = x_train.mean(dim=dims, keepdim=True), x_train.std(dim=dims, keepdim=True)
    return (x_train - mu) / sd, (x_test - mu) / sd


def _torchvision_split(name: str, root: Path, download: bool) -> DataSplit:
    try:
        from torchvision import datasets as tvd
    except ImportError as err:
        raise ValueError(f"dataset={name!r} needs torchvision (an optional extra: install the torchvision "
                         f"build matching torch {torch.__version__})") from err
    cls = {"mnist": tvd.MNIST, "cifar10": tvd.CIFAR10}[name]
    try:
        parts = [cls(str(root), train=t, download=download) for t in (True, False)]
    except RuntimeError as err:  # torchvision: "Dataset not found. You can use download=True ..."
        raise ValueError(f"dataset={name!r} is not in the cache {root} and download=False: a download is "
                         f"needed (pass download=True once, with a network connection)") from err
    xs, ys = [], []
    for p in parts:
        x = torch.as_tensor(np.asarray(p.data), dtype=torch.float32) / 255.0
        xs.append(x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2))  # (N, C, H, W)
        ys.append(torch.as_tensor(np.asarray(p.targets), dtype=torch.int64))
    x_train, x_test = _standardise(xs[0], xs[1])
    return DataSplit(x_train, ys[0], x_test, ys[1], name)


def load_data(dataset: str = "digits", *, seed: int = 0, cache_dir: str | os.PathLike | None = None,
              download: bool = False, device: str = "cpu") -> DataSplit:
    """Load ``dataset`` ("digits", "mnist" or "cifar10") onto ``device``.

    ``seed`` is the digits' train/test split seed (MNIST and CIFAR-10 have fixed splits).
    MNIST/CIFAR-10 are read from ``cache_dir`` (default :func:`default_cache_dir`) and only
    downloaded when ``download=True``.
    """
    check_choice(dataset, tuple(DATASETS), name="dataset")
    if not isinstance(download, bool):
        raise ValueError(f"download={download!r} must be True or False")
    dev = resolve_device(device)
    if dataset == "digits":
        return load_digits_split(seed, device=device)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    s = _torchvision_split(dataset, root, download)
    return DataSplit(s.x_train.to(dev), s.y_train.to(dev), s.x_test.to(dev), s.y_test.to(dev), dataset)


def synthetic_split(dataset: str, *, n_train: int = 64, n_test: int = 32, seed: int = 0,
                    dtype: torch.dtype = torch.float32) -> DataSplit:
    """Gaussian images of ``dataset``'s shape with uniform labels in [0, 10): for tests without the data."""
    check_choice(dataset, tuple(DATASETS), name="dataset")
    g = torch.Generator().manual_seed(check_positive_int(seed, name="seed", minimum=0))
    shape = DATASETS[dataset]
    n_train = check_positive_int(n_train, name="n_train")
    n_test = check_positive_int(n_test, name="n_test")

    def draw(n):
        return torch.randn(n, *shape, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)

    (xa, ya), (xb, yb) = draw(n_train), draw(n_test)
    return DataSplit(xa, ya, xb, yb, dataset)
