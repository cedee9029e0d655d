r"""Activation-quantized networks on real data: scikit-learn's 8x8 digits (THEORY.md section 6).

Small networks whose hidden activations are the b-bit quantized ReLU of Yin et al.,
:math:`\sigma_\alpha(x) = \alpha\,\mathrm{clamp}(\lceil x/\alpha\rceil, 0, 2^b - 1)`, with float
weights, trained by coarse gradient descent with the identity, ReLU or clipped-ReLU STE
(:func:`stelib.ste.quantized_relu`). An optional batch normalisation sits in front of each
quantizer. Every run is an *ensemble*: M independent models (bit widths x STEs x seeds) are
stored side by side along a model axis and trained in one tensor computation (batched matrix
products, grouped convolutions, per-channel batch normalisation), with an elementwise optimizer
(SGD with momentum), so each model follows exactly the trajectory it would follow alone.

* :func:`load_digits_split` -- standardised train/test tensors (SHA-256-checked, no download);
* :class:`QuantAct`, :class:`QuantMLP`, :class:`QuantCNN` -- the modules (``(B, 64)`` images in,
  ``(M, B, 10)`` logits out), defined in :mod:`stelib.quantnets` and re-exported here;
* :func:`train` -- build and train an ensemble, returning a :class:`PracticeResult`;
* :func:`continue_training` -- restart trained models with other STEs (Yin et al.'s
  "repelled from good minima" experiment).

Example
-------
>>> r = train("mlp", bits=(1,), stes=("crelu",), seeds=(0,), epochs=1)
>>> r.test_accuracy.shape   # (bits, stes, seeds, epochs + 1)
torch.Size([1, 1, 1, 2])
"""

from __future__ import annotations

import copy
import hashlib
import math
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from stelib._validate import check_choice, check_choices, check_positive, check_positive_int, check_real
from stelib.distributions import _digits_array
from stelib.quantnets import ActConfig, QuantAct, QuantCNN, QuantMLP, _Ensemble
from stelib.ste import STE_NAMES, names

DTYPE = torch.float64
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn")
# SHA-256 of load_digits().target as int64 bytes (the images are checked by distributions._digits_array)
DIGITS_TARGET_SHA256 = "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21"


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (``ValueError`` if no GPU) or ``"auto"`` (a GPU when one is present)."""
    check_choice(device, ("cpu", "cuda", "auto"), name="device")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but no CUDA GPU is available; use 'cpu' or 'auto'")
    return torch.device(device)


@dataclass(frozen=True)
class DigitsSplit:
    """Train/test split: ``x_*`` (N, 64) float64 standardised with the training statistics, ``y_*`` (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def _digits_targets() -> np.ndarray:
    from sklearn.datasets import load_digits

    y = np.ascontiguousarray(load_digits().target, dtype=np.int64)
    digest = hashlib.sha256(y.tobytes()).hexdigest()
    if digest != DIGITS_TARGET_SHA256:
        raise ValueError(f"scikit-learn's digits labels have SHA-256 {digest}, expected {DIGITS_TARGET_SHA256}")
    return y


def load_digits_split(seed: int = 0, *, test_fraction: float = 0.25, device: str = "cpu") -> DigitsSplit:
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
    return DigitsSplit(z[tr].to(dev), y[tr].to(dev), z[test].to(dev), y[test].to(dev))


@dataclass(frozen=True)
class PracticeResult:
    """A trained ensemble and its history. Arrays are indexed ``[bits, ste, seed, ...]``.

    ``train_loss`` and ``test_accuracy`` (nb, ns, nseed, epochs + 1): cross-entropy on the
    training set (at the start, then the mean mini-batch loss of each epoch) and accuracy on the
    test set (evaluation mode), before training and after each epoch; ``weight_norms`` (nb, ns, nseed, layers, epochs + 1): norm of (W, b) of each layer
    feeding a quantizer; ``gain_norms`` the same for the BN (gain, shift), or None without BN;
    ``diverged`` (nb, ns, nseed) runs that produced a non-finite loss (their later records are NaN).
    """

    arch: str
    bits: tuple[int, ...]
    stes: tuple[str, ...]
    seeds: tuple[int, ...]
    batchnorm: bool
    train_loss: torch.Tensor
    test_accuracy: torch.Tensor
    weight_norms: torch.Tensor
    gain_norms: torch.Tensor | None
    diverged: torch.Tensor
    model: nn.Module

    def final(self, what: str = "test_accuracy") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation over seeds of the last record: (nb, ns) each."""
        x = getattr(self, check_choice(what, ("test_accuracy", "train_loss"), name="what"))[..., -1]
        sd = x.std(dim=-1) if x.shape[-1] > 1 else torch.zeros_like(x[..., 0])
        return x.mean(dim=-1), sd


def _configs(bits, stes, seeds, act_range):
    cfg = [ActConfig(b, act_range / (2**b - 1), s) for b in bits for s in stes for _ in seeds]
    return cfg, [sd for _ in bits for _ in stes for sd in seeds]


def _check_common(epochs, lr, batch_size, momentum):
    check_positive_int(epochs, name="epochs", minimum=0, maximum=10_000)
    check_real(lr, name="lr", low=0.0, high=10.0, low_open=True)
    check_positive_int(batch_size, name="batch_size", maximum=100_000)
    check_real(momentum, name="momentum", low=0.0, high=1.0, high_open=True)


def _evaluate(model, data, train_loss: bool):
    model.eval()
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(data.x_train).transpose(1, 2), data.y_train.expand(
            model.M, -1), reduction="none").mean(1) if train_loss else None
        acc = (model(data.x_test).argmax(-1) == data.y_test).to(DTYPE).mean(1)
    model.train()
    return loss, acc


@contextmanager
def _threads(n: int | None):
    """Run with ``n`` intra-op threads and restore the caller's setting afterwards (None: leave it)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(check_positive_int(n, name="threads", maximum=256))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(model: _Ensemble, data: DigitsSplit, *, epochs: int, lr: float, batch_size: int = 64,
        momentum: float = 0.9, threads: int | None = 1) -> dict[str, torch.Tensor]:
    """Mini-batch coarse gradient descent (SGD with momentum) of every model of the ensemble.

    Model m shuffles the training set with ``torch.Generator().manual_seed(seeds[m])`` (models
    with the same seed see the same batches). Returns per-model records, each ``(M, epochs + 1,
    ...)``: ``train_loss`` (record 0: the initial model on the whole training set in evaluation
    mode; then the mean mini-batch loss of each epoch, as reported during training),
    ``test_accuracy``, ``weight_norms``, ``gain_norms`` (or None), and ``diverged`` (M,).

    ``threads`` intra-op threads are used during training and the caller's setting is restored
    afterwards (None leaves it alone). The default 1 is deliberate: these tensors are small, and
    on a busy machine splitting each small operation over OpenMP threads was measured to be more
    than ten times slower than one thread.
    """
    _check_common(epochs, lr, batch_size, momentum)
    with _threads(threads):
        return _fit(model, data, epochs, lr, batch_size, momentum)


def _fit(model, data, epochs, lr, batch_size, momentum):
    dev, M = data.x_train.device, model.M
    model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    uniq = sorted(set(model.seeds))
    gens = {s: torch.Generator().manual_seed(s) for s in uniq}
    which = torch.tensor([uniq.index(s) for s in model.seeds])  # model -> its seed's row
    n = data.x_train.shape[0]
    diverged = torch.zeros(M, dtype=torch.bool, device=dev)
    recs = {"train_loss": [], "test_accuracy": [], "weight_norms": [], "gain_norms": []}

    def record(running=None):
        loss, acc = _evaluate(model, data, running is None)
        loss = running if running is not None else loss
        g = model.gain_norms()
        for k, v in (("train_loss", loss), ("test_accuracy", acc), ("weight_norms", model.weight_norms()),
                     ("gain_norms", g)):
            if v is not None:
                v = v.clone()
                v[diverged] = math.nan
            recs[k].append(v)

    record()
    for _ in range(epochs):
        perms = torch.stack([torch.randperm(n, generator=gens[s]) for s in uniq])[which].to(dev)  # (M, n)
        running = torch.zeros(M, dtype=DTYPE, device=dev)
        for start in range(0, n, batch_size):
            idx = perms[:, start:start + batch_size]  # (M, B)
            logits = model(data.x_train[idx])  # (M, B, 10)
            losses = nn.functional.cross_entropy(logits.transpose(1, 2), data.y_train[idx],
                                                 reduction="none").mean(1)  # (M,)
            diverged |= ~torch.isfinite(losses)
            running += losses.detach() * idx.shape[1] / n
            opt.zero_grad(set_to_none=True)
            losses.masked_fill(diverged, 0.0).sum().backward()
            opt.step()
        record(running)
    out = {k: torch.stack(v, dim=1).cpu() for k, v in recs.items() if v and v[0] is not None}
    out["gain_norms"] = out.get("gain_norms")
    out["diverged"] = diverged.cpu()
    return out


def _result(arch, bits, stes, seeds, batchnorm, model, h) -> PracticeResult:
    shape = (len(bits), len(stes), len(seeds))

    def r(t):
        return None if t is None else t.reshape(*shape, *t.shape[1:])

    wn = r(h["weight_norms"]).movedim(-1, -2)  # (nb, ns, nseed, layers, T)
    gn = None if h["gain_norms"] is None else r(h["gain_norms"]).movedim(-1, -2)
    return PracticeResult(arch, tuple(bits), tuple(stes), tuple(seeds), batchnorm, r(h["train_loss"]),
                          r(h["test_accuracy"]), wn, gn, r(h["diverged"]), model)


def train(arch: str = "mlp", *, bits=(1, 2, 4), stes=STE_NAMES, seeds=(0, 1, 2), epochs: int = 20,
          lr: float = 0.05, batch_size: int = 64, momentum: float = 0.9, act_range: float = 1.0,
          batchnorm: bool = False, width: int | None = None, data: DigitsSplit | None = None,
          data_seed: int = 0, device: str = "cpu") -> PracticeResult:
    """Train ``arch`` ("mlp" or "cnn") with every combination of ``bits`` x ``stes`` x ``seeds``.

    The quantizer of a b-bit model has step alpha = act_range / (2^b - 1), so every bit width
    has the same output range [0, act_range] (1 bit, act_range 1: the binary step). ``width``
    is the hidden width of the MLP (two hidden layers; default 32) or the channel count of the
    CNN's second convolution (the first has width / 2; default 16). Raises ``ValueError``
    naming any bad argument.
    """
    check_choice(arch, ARCHITECTURES, name="arch")
    bits = tuple(check_positive_int(b, name="bits", maximum=8) for b in (bits if not isinstance(bits, int) else (bits,)))
    stes = check_choices(stes, names(), name="stes")
    seeds = tuple(check_positive_int(s, name="seeds", minimum=0, maximum=2**63 - 1)
                  for s in (seeds if not isinstance(seeds, int) else (seeds,)))
    for name, vals in (("bits", bits), ("stes", stes), ("seeds", seeds)):
        if not vals or len(set(vals)) != len(vals):
            raise ValueError(f"{name}={vals!r} must be a non-empty list of distinct values")
    _check_common(epochs, lr, batch_size, momentum)
    check_positive(act_range, name="act_range")
    if not isinstance(batchnorm, bool):
        raise ValueError(f"batchnorm={batchnorm!r} must be True or False")
    width = (32 if arch == "mlp" else 16) if width is None else check_positive_int(
        width, name="width", minimum=2, maximum=1024)
    data = load_digits_split(data_seed, device=device) if data is None else data
    resolve_device(device)
    cfg, sds = _configs(bits, stes, seeds, act_range)
    model = (QuantMLP(cfg, sds, hidden=(width, width), batchnorm=batchnorm) if arch == "mlp"
             else QuantCNN(cfg, sds, channels=(width // 2, width), batchnorm=batchnorm))
    h = fit(model, data, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum)
    return _result(arch, bits, stes, seeds, batchnorm, model, h)


def continue_training(result: PracticeResult, *, stes=STE_NAMES, epochs: int = 10, lr: float = 1e-4,
                      batch_size: int = 64, momentum: float = 0.9, data: DigitsSplit | None = None,
                      data_seed: int = 0, device: str = "cpu") -> PracticeResult:
    """Restart every model of ``result`` (trained with one STE) once per STE in ``stes``.

    All copies start from the trained weights (and BN statistics) and continue with their own
    STE at learning rate ``lr``: Yin et al.'s test of whether a poor STE is repelled from the
    minimum a good one found.
    """
    if len(result.stes) != 1:
        raise ValueError(f"result must come from a single STE, got stes={result.stes!r}")
    stes = check_choices(stes, names(), name="stes")
    _check_common(epochs, lr, batch_size, momentum)
    data = load_digits_split(data_seed, device=device) if data is None else data
    old = result.model
    nb, nseed = len(result.bits), len(result.seeds)
    src = torch.tensor([b * nseed + s for b in range(nb) for _ in stes for s in range(nseed)])
    model = copy.deepcopy(old).cpu()
    cfg = [replace(old.configs[int(i)], ste=ste) for i, ste in
           zip(src, [st for _ in range(nb) for st in stes for _ in range(nseed)], strict=True)]
    model.configs, model.seeds, model.M = tuple(cfg), tuple(old.seeds[int(i)] for i in src), len(cfg)
    for a in model.acts:  # new quantizers and BN sizes, then copy the selected models' tensors
        bn = a.bn is not None
        new = QuantAct(model.configs, a.features, batchnorm=bn, spatial=isinstance(a.bn, nn.BatchNorm2d))
        a.configs, a.blocks, a.bn = new.configs, new.blocks, new.bn if bn else None
    state = {k: (v.cpu().reshape(old.M, -1)[src].reshape(-1, *v.shape[1:]) if v.ndim and v.shape[0] % old.M == 0
                 else v.cpu()) for k, v in old.state_dict().items()}
    for k, p in model.named_parameters():
        p.data = state[k].clone()
    for k, buf in model.named_buffers():
        buf.data = state[k].clone()
    h = fit(model, data, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum)
    return _result(result.arch, result.bits, stes, result.seeds, result.batchnorm, model, h)


YIN_TABLE = "yin2019_table1.csv"


def load_yin_table(data_dir: str | None = None) -> list[dict[str, object]]:
    """Rows of ``data/yin2019_table1.csv`` (Yin et al. 2019, Table 1), checked against ``data/SHA256SUMS``.

    Each row: ``dataset``, ``network``, ``bits`` (int), ``ste``, ``accuracy_percent`` (float).
    Raises ``ValueError`` when the file's SHA-256 differs from the recorded one.
    """
    import csv
    from pathlib import Path

    root = Path(data_dir) if data_dir is not None else Path(__file__).resolve().parent.parent / "data"
    raw = (root / YIN_TABLE).read_bytes()
    sums = dict(line.split()[::-1] for line in (root / "SHA256SUMS").read_text().splitlines() if line.strip())
    digest = hashlib.sha256(raw).hexdigest()
    if sums.get(YIN_TABLE) != digest:
        raise ValueError(f"{YIN_TABLE} has SHA-256 {digest}, SHA256SUMS records {sums.get(YIN_TABLE)}")
    rows = list(csv.DictReader(raw.decode().splitlines()))
    return [{**r, "bits": int(r["bits"]), "accuracy_percent": float(r["accuracy_percent"])} for r in rows]
