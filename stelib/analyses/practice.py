r"""Training activation-quantized networks with an STE, in the three regimes of chapter practice.

Every run is an *ensemble*: M independent models (bit widths x STEs x seeds) trained together
by mini-batch coarse gradient descent (SGD with momentum); model m is initialised and shuffles
its mini-batches with ``torch.Generator().manual_seed(seeds[m])``, so models with the same seed
are compared on common random numbers. The regimes differ by the normalisation in front of each
quantizer (``norm``, :mod:`stelib.quantnets`), the step alpha and the initialisation:

* Yin et al.'s recipe: ``norm="plain"`` (no scale and shift), alpha from Lloyd's algorithm
  (:mod:`stelib.lloyd`, passed as ``alpha={bits: alpha}``), ``init="pretrained"`` (a
  full-precision ReLU network of the same architecture and seed, trained first);
* no normalisation: ``norm="none"``, alpha = act_range / (2^b - 1), random initialisation;
* a learnable gain: ``norm="affine"``.

Each epoch records, for every model, the training loss (cross-entropy of the model in
evaluation mode on the first ``n_eval`` training images: one estimator from the first record
to the last; batch-norm running statistics are first recomputed on the whole training set at
the weights of that record, :func:`refresh_batchnorm`), the test accuracy, the norms of the
weights feeding each quantizer (and of the
gain), and a probe of each quantizer's input on the first ``n_probe`` training images: the
share inside the clipped-ReLU window (0, (2^b - 1) alpha) and the median |z|.

A run *diverges* when a mini-batch loss is not finite or its recorded training loss exceeds
``diverge_factor`` x max(initial loss, ln 10) (ln 10: the loss of a uniform guess over the 10
classes); its later records are NaN and its parameters stop receiving gradients.

Example
-------
>>> r = train("mlp", bits=(1,), stes=("crelu",), seeds=(0,), epochs=1)
>>> r.test_accuracy.shape   # (bits, stes, seeds, epochs + 1)
torch.Size([1, 1, 1, 2])
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from stelib.analyses.bignets import BIG_ARCHS, BatchedNets
from stelib.analyses.datasets import DataSplit, DigitsSplit, load_data, load_digits_split, resolve_device
from stelib.analyses.quantnets import NORMS, ActConfig, QuantAct, QuantCNN, QuantMLP
from stelib.core._closedform import device_path, flush, trusted
from stelib.core._validate import check_choice, check_choices, check_positive, check_positive_int, check_real
from stelib.core.ste import STE_NAMES, names

__all__ = ["ARCHITECTURES", "ActConfig", "DataSplit", "DigitsSplit", "PracticeResult", "QuantAct", "QuantCNN",
           "QuantMLP", "continue_training", "fit", "load_data", "load_digits_split", "refresh_batchnorm",
           "resolve_device", "train"]

ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", *BIG_ARCHS)
RECORDS = ("train_loss", "test_accuracy", "weight_norms", "gain_norms", "probe")
FLUSH_EVERY = 16  # SGD steps between reads of the deferred checks on a GPU (they keep their inputs)


@dataclass(frozen=True)
class PracticeResult:
    """A trained ensemble and its history. Arrays are indexed ``[bits, ste, seed, ...]``.

    ``train_loss``, ``test_accuracy`` (nb, ns, nseed, epochs + 1); ``weight_norms``,
    ``gain_norms`` (None without a gain), ``inside`` and ``median_abs`` (nb, ns, nseed, layers,
    epochs + 1); ``diverged`` (nb, ns, nseed); ``alphas`` the step per bit width;
    ``pretrained`` the full-precision run the models started from (or None).
    """

    arch: str
    norm: str
    bits: tuple[int, ...]
    stes: tuple[str, ...]
    seeds: tuple[int, ...]
    alphas: dict[int, float]
    train_loss: torch.Tensor
    test_accuracy: torch.Tensor
    weight_norms: torch.Tensor
    gain_norms: torch.Tensor | None
    inside: torch.Tensor
    median_abs: torch.Tensor
    diverged: torch.Tensor
    model: nn.Module
    pretrained: PracticeResult | None = None

    def final(self, what: str = "test_accuracy") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation over seeds of the last record: (nb, ns) each."""
        x = getattr(self, check_choice(what, ("test_accuracy", "train_loss"), name="what"))[..., -1]
        sd = x.std(dim=-1) if x.shape[-1] > 1 else torch.zeros_like(x[..., 0])
        return x.mean(dim=-1), sd


def _check_common(epochs, lr, batch_size, momentum, diverge_factor=2.0):
    check_positive_int(epochs, name="epochs", minimum=0, maximum=10_000)
    check_real(lr, name="lr", low=0.0, high=10.0, low_open=True)
    check_positive_int(batch_size, name="batch_size", maximum=100_000)
    check_real(momentum, name="momentum", low=0.0, high=1.0, high_open=True)
    check_real(diverge_factor, name="diverge_factor", low=1.0, high=1e6, low_open=True)


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


def refresh_batchnorm(model: nn.Module, x: torch.Tensor, *, chunk: int = 2048) -> None:
    """Recompute the running statistics of every batch normalisation of ``model`` at its current
    weights from the images ``x`` (one pass, no gradients), so that the evaluation-mode network
    normalises with the statistics of these weights, not a momentum average over earlier ones.
    Chunks of ``chunk`` images are averaged with equal weight: exact when ``x`` fits in one chunk
    (the digits' 1348 training images do). Models without batch normalisation are left alone."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    chunk = check_positive_int(chunk, name="chunk")
    was_training, momenta = model.training, [b.momentum for b in bns]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None  # cumulative average over the chunks
    model.train()
    with torch.no_grad():
        for s in range(0, x.shape[0], chunk):
            model(x[s:s + chunk])
    for b, m in zip(bns, momenta, strict=True):
        b.momentum = m
    model.train(was_training)


def _evaluate(model, data, n_eval, n_probe, chunk=256):
    """Training loss on the first n_eval images, test accuracy, probe on the first n_probe images,
    all in evaluation mode with the batch-norm statistics refreshed at the current weights."""
    refresh_batchnorm(model, data.x_train)
    model.eval()
    acts = [a for a in model.modules() if isinstance(a, QuantAct)]
    with torch.no_grad():
        for a in acts:
            a.probe = True
        model(data.x_train[:n_probe])
        probe = model.probe_stats()
        for a in acts:
            a.probe = False
        x_eval, y_eval = data.x_train[:n_eval], data.y_train[:n_eval]  # exactly the first n_eval images
        loss = sum(nn.functional.cross_entropy(model(x_eval[s:s + chunk]).transpose(1, 2),
                                               y_eval[s:s + chunk].expand(model.M, -1), reduction="none").sum(1)
                   for s in range(0, n_eval, chunk)) / n_eval
        n_test = data.x_test.shape[0]
        acc = sum((model(data.x_test[s:s + chunk]).argmax(-1) == data.y_test[s:s + chunk]).sum(1)
                  for s in range(0, n_test, chunk)).to(torch.float64) / n_test
    model.train()
    return {"train_loss": loss.double(), "test_accuracy": acc, "weight_norms": model.weight_norms(),
            "gain_norms": model.gain_norms(), "probe": probe}


def fit(model, data: DataSplit, *, epochs: int, lr: float, batch_size: int = 64, momentum: float = 0.9,
        diverge_factor: float = 2.0, n_eval: int | None = None, n_probe: int = 256,
        threads: int | None = 1, progress: bool = False) -> dict[str, torch.Tensor]:
    """Mini-batch coarse gradient descent (SGD with momentum) of every model of the ensemble.

    Model m shuffles the training set with ``torch.Generator().manual_seed(seeds[m])`` at every
    epoch. Returns per-model records ``(M, epochs + 1, ...)`` (see the module docstring) and
    ``diverged`` (M,). ``progress=True`` shows a bar over the epochs on standard error.
    ``threads`` intra-op threads are used and the caller's setting restored
    afterwards (None leaves it alone); 1 is deliberate: these tensors are small, and on a busy
    machine OpenMP threads were measured to be more than ten times slower than one thread.
    """
    _check_common(epochs, lr, batch_size, momentum, diverge_factor)
    if not isinstance(progress, bool):
        raise ValueError(f"progress={progress!r} must be True or False")
    dt = next(model.parameters()).dtype
    if data.x_train.dtype != dt:
        data = DataSplit(data.x_train.to(dt), data.y_train, data.x_test.to(dt), data.y_test, data.name)
    n = data.x_train.shape[0]
    n_eval = n if n_eval is None else check_positive_int(n_eval, name="n_eval", maximum=n)
    n_probe = min(check_positive_int(n_probe, name="n_probe"), n)  # at most the training set
    with _threads(threads):
        return _fit(model, data, epochs, lr, batch_size, momentum, diverge_factor, n_eval, n_probe, progress)


def divergence_limit(initial_loss: torch.Tensor, factor: float) -> torch.Tensor:
    """The loss above which a run counts as diverged: factor x max(initial loss, ln 10)."""
    return factor * torch.clamp(initial_loss, min=math.log(10))


def _fit(model, data, epochs, lr, batch_size, momentum, factor, n_eval, n_probe, progress=False):
    dev, M, n = data.x_train.device, model.M, data.x_train.shape[0]
    model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    uniq = sorted(set(model.seeds))
    gens = {s: torch.Generator().manual_seed(s) for s in uniq}
    which = torch.tensor([uniq.index(s) for s in model.seeds])  # model -> its seed's row
    diverged = torch.zeros(M, dtype=torch.bool, device=dev)
    recs = {k: [] for k in RECORDS}

    def record(frozen):
        ev = _evaluate(model, data, n_eval, n_probe)
        for k in RECORDS:
            v = ev[k]
            if v is not None:
                v = v.clone()
                v[frozen] = math.nan
            recs[k].append(v)
        return ev["train_loss"]

    limit = divergence_limit(record(diverged), factor)
    sync_free = device_path(diverged)  # on a GPU: no read back at every step (masking is a no-op
    # on finite gradients, so both paths give the same parameters)
    epoch_iter = range(epochs)
    if progress:  # plain tqdm (tqdm.auto in a kernel warns on stderr without ipywidgets)
        from tqdm import tqdm

        epoch_iter = tqdm(epoch_iter, desc="epochs", unit="epoch", file=sys.stderr, leave=False)
    steps = 0
    with trusted():  # on a GPU a registered surrogate's finiteness checks wait for flush: no
        # read per layer and step (one per FLUSH_EVERY steps, so the deferred checks stay few)
        for _ in epoch_iter:
            perms = torch.stack([torch.randperm(n, generator=gens[s]) for s in uniq])[which].to(dev)  # (M, n)
            frozen = diverged.clone()
            for start in range(0, n, batch_size):
                idx = perms[:, start:start + batch_size]  # (M, B)
                logits = model(data.x_train[idx])  # (M, B, 10)
                losses = nn.functional.cross_entropy(logits.transpose(1, 2), data.y_train[idx],
                                                     reduction="none").mean(1)  # (M,)
                diverged |= ~torch.isfinite(losses.detach())
                opt.zero_grad(set_to_none=True)
                losses.masked_fill(diverged, 0.0).sum().backward()
                if sync_free or diverged.any():  # a NaN loss sends 0 x NaN = NaN back: zeroed here
                    for p in model.parameters():
                        if p.grad is not None:
                            torch.nan_to_num_(p.grad, nan=0.0, posinf=0.0, neginf=0.0)  # one op
                opt.step()
                steps += 1
                if steps % FLUSH_EVERY == 0:
                    flush()
            flush()
            loss = record(frozen)
            diverged |= ~torch.isfinite(loss) | (loss > limit)
    out = {k: torch.stack(v, dim=1).cpu() for k, v in recs.items() if v[0] is not None}
    out["gain_norms"] = out.get("gain_norms")
    out["diverged"] = diverged.cpu()
    return out


def _result(arch, norm, bits, stes, seeds, alphas, model, h, pretrained=None) -> PracticeResult:
    shape = (len(bits), len(stes), len(seeds))

    def r(t):
        return None if t is None else t.reshape(*shape, *t.shape[1:])

    def layers(t):
        return None if t is None else r(t).movedim(4, 3)  # (nb, ns, nseed, layers, T)

    p = h["probe"]
    return PracticeResult(arch, norm, tuple(bits), tuple(stes), tuple(seeds), dict(alphas), r(h["train_loss"]),
                          r(h["test_accuracy"]), layers(h["weight_norms"]), layers(h["gain_norms"]),
                          layers(p[..., 0]), layers(p[..., 1]), r(h["diverged"]), model, pretrained)


def _tuple(values, name, check):
    if isinstance(values, int | float | str | bool) or not hasattr(values, "__iter__"):
        values = (values,)  # one value: checked (and named) by ``check``
    values = tuple(check(v) for v in values)
    if not values or len(set(values)) != len(values):
        raise ValueError(f"{name}={values!r} must be a non-empty list of distinct values")
    return values


def _build(arch, configs, seeds, norm, width, data, mixed_precision=False):
    if arch in BIG_ARCHS:
        if len(data.shape) != 3:
            raise ValueError(f"arch={arch!r} needs image data (mnist or cifar10), got dataset {data.name!r}")
        return BatchedNets(configs, seeds, arch=arch, in_shape=data.shape, norm=norm,
                           mixed_precision=mixed_precision)  # one computation
    if arch == "cnn" and data.shape not in ((64,), (1, 8, 8)):
        raise ValueError(f"arch='cnn' is the 8x8 digits network, got dataset {data.name!r}; use 'lenet5'")
    if arch == "mlp":
        return QuantMLP(configs, seeds, hidden=(width, width), norm=norm, inputs=math.prod(data.shape))
    return QuantCNN(configs, seeds, channels=(width // 2, width), norm=norm)


def train(arch: str = "mlp", *, bits=(1, 2, 4), stes=STE_NAMES, seeds=(0, 1, 2), epochs: int = 20,
          lr: float = 0.05, batch_size: int = 64, momentum: float = 0.9, norm: str = "none",
          alpha: dict[int, float] | None = None, act_range: float = 1.0, init: str = "random",
          pre_epochs: int = 10, width: int | None = None, data: DataSplit | None = None, data_seed: int = 0,
          device: str = "cpu", diverge_factor: float = 2.0, n_eval: int | None = None,
          n_probe: int = 256, progress: bool = False, mixed_precision: bool = False) -> PracticeResult:
    """Train ``arch`` with every combination of ``bits`` x ``stes`` x ``seeds`` (see the module docstring).

    ``alpha``: the step per bit width (every one in ``bits``); default act_range / (2^b - 1),
    the same output range [0, act_range] for all bit widths. ``init="pretrained"`` first trains
    a full-precision ReLU network per seed (same architecture and ``norm``, ``pre_epochs``
    epochs at ``lr``) and starts every quantized model from the one with its seed. ``width``:
    hidden width of the MLP (default 32) or channels of the CNN's second convolution (default
    16). ``progress=True`` shows a bar over the epochs on standard error.
    ``mixed_precision=True`` (``arch`` lenet5, vgg11 or resnet20 only; off by default) trains the
    full-precision start and the quantized networks with bf16 autocast and channels-last memory
    (:class:`stelib.bignets.BatchedNets`), meant for speed on a GPU with tensor cores (not timed
    here), and it **changes the numerics**, so a run differs from its float32 twin (compare them with
    :func:`stelib.practice_report.precision_text`). Raises ``ValueError`` naming any bad argument
    before anything is trained.
    """
    check_choice(arch, ARCHITECTURES, name="arch")
    if not isinstance(mixed_precision, bool):
        raise ValueError(f"mixed_precision={mixed_precision!r} must be True or False")
    if mixed_precision and arch not in BIG_ARCHS:
        raise ValueError(f"mixed_precision=True needs arch lenet5, vgg11 or resnet20, got arch={arch!r}")
    bits = _tuple(bits, "bits", lambda b: check_positive_int(b, name="bits", maximum=8))
    stes = check_choices(stes, names(), name="stes")
    stes = _tuple(stes, "stes", lambda s: s)
    seeds = _tuple(seeds, "seeds", lambda s: check_positive_int(s, name="seeds", minimum=0, maximum=2**63 - 1))
    _check_common(epochs, lr, batch_size, momentum, diverge_factor)
    check_choice(norm, NORMS, name="norm")
    check_choice(init, ("random", "pretrained"), name="init")
    check_positive_int(pre_epochs, name="pre_epochs", maximum=10_000)
    check_positive(act_range, name="act_range")
    if alpha is None:
        alpha = {b: act_range / (2**b - 1) for b in bits}
    elif not isinstance(alpha, dict) or set(bits) - set(alpha):
        raise ValueError(f"alpha={alpha!r} must be a dict giving a step for every bit width in {bits}")
    alpha = {b: check_positive(alpha[b], name=f"alpha[{b}]") for b in bits}
    width = (32 if arch == "mlp" else 16) if width is None else check_positive_int(
        width, name="width", minimum=2, maximum=1024)
    resolve_device(device)
    data = load_data("digits", seed=data_seed, device=device) if data is None else data
    configs = [ActConfig(b, alpha[b], s) for b in bits for s in stes for _ in seeds]
    sds = [sd for _ in bits for _ in stes for sd in seeds]
    kw = dict(lr=lr, batch_size=batch_size, momentum=momentum, diverge_factor=diverge_factor, n_eval=n_eval,
              n_probe=n_probe, progress=progress)
    pre = None
    if init == "pretrained":
        fp = _build(arch, [ActConfig(0, 1.0, "relu")] * len(seeds), seeds, norm, width, data, mixed_precision)
        pre = _result(arch, norm, (0,), ("relu",), seeds, {0: math.inf}, fp, fit(fp, data, epochs=pre_epochs, **kw))
        model = fp.select([seeds.index(s) for s in sds], configs)
    else:
        model = _build(arch, configs, sds, norm, width, data, mixed_precision)
    h = fit(model, data, epochs=epochs, **kw)
    return _result(arch, norm, bits, stes, seeds, alpha, model, h, pre)


def continue_training(result: PracticeResult, *, from_ste: str | None = None, bits=None, stes=STE_NAMES,
                      epochs: int = 10, lr: float = 1e-5, batch_size: int = 64, momentum: float = 0.9,
                      data: DataSplit | None = None, data_seed: int = 0, device: str = "cpu",
                      n_eval: int | None = None) -> PracticeResult:
    """Restart the models of ``result`` trained with ``from_ste`` (default: its only STE) and bit
    widths ``bits`` (default: all) once per STE in ``stes``.

    All copies start from the trained weights (and BN statistics) and continue with their own
    STE at learning rate ``lr`` (Yin et al.: 1e-5): their test of whether a poor STE is repelled
    from the minimum a good one found. Record 0 is the starting point, measured with the same
    loss estimator as the last record.
    """
    if from_ste is None:
        if len(result.stes) != 1:
            raise ValueError(f"from_ste=None needs a result of a single STE, got stes={result.stes!r}")
        from_ste = result.stes[0]
    j = result.stes.index(check_choice(from_ste, result.stes, name="from_ste"))
    bits = result.bits if bits is None else _tuple(bits, "bits", lambda b: b)
    for b in bits:
        check_choice(str(b), tuple(map(str, result.bits)), name="bits")
    stes = _tuple(check_choices(stes, names(), name="stes"), "stes", lambda s: s)
    _check_common(epochs, lr, batch_size, momentum)
    data = load_data("digits", seed=data_seed, device=device) if data is None else data
    old, ns, nseed = result.model, len(result.stes), len(result.seeds)
    src = [(result.bits.index(b) * ns + j) * nseed + k for b in bits for _ in stes for k in range(nseed)]
    new_stes = [st for _ in bits for st in stes for _ in range(nseed)]
    cfg = [ActConfig(old.configs[i].bits, old.configs[i].alpha, st) for i, st in zip(src, new_stes, strict=True)]
    model = old.select(src, cfg)
    h = fit(model, data, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum, n_eval=n_eval)
    return _result(result.arch, result.norm, bits, stes, result.seeds, {b: result.alphas[b] for b in bits},
                   model, h)
