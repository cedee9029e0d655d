r"""Activation-quantized networks on the digits: b-bit quantized-ReLU layers and ensembles of models.

The hidden activations are the b-bit quantized ReLU of Yin et al.,
:math:`\sigma_\alpha(x) = \alpha\,\mathrm{clamp}(\lceil x/\alpha\rceil, 0, 2^b - 1)`, with float
weights; the backward pass uses the identity, ReLU or clipped-ReLU STE
(:func:`stelib.ste.quantized_relu`). A quantizer config with ``bits = 0`` is the full-precision
ReLU (the pre-trained network of chapter practice). In front of each quantizer sits one of
three normalisations (``norm``): ``"none"``; ``"plain"``, a batch normalisation *without* scale
and shift (Yin et al.'s recipe); or ``"affine"``, a batch normalisation with a learnable gain
and shift. A module holds M independent models (bit widths x STEs x seeds) side by side along a
model axis, so they train in one tensor computation while each follows exactly the trajectory
it would follow alone. Training lives in :mod:`stelib.practice`; the larger networks of Yin et
al. in :mod:`stelib.bignets`.

* :class:`ActConfig` -- one model's quantizer (bits, step, STE);
* :class:`QuantAct` -- normalisation + quantizer, with a probe of its input (saturation);
* :class:`QuantMLP`, :class:`QuantCNN` -- ``(B, 64)`` images in, ``(M, B, 10)`` logits out;
* :func:`rescaling_check` -- what multiplying the first layer of a 1-bit MLP by c changes
  (prop-practice-scale of chapter practice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stelib.core._validate import check_choice, check_positive, check_positive_int, check_real
from stelib.core.ste import QuantizedReLUSTE, check_ste

DTYPE = torch.float64
NORMS: tuple[str, ...] = ("none", "plain", "affine")

__all__ = ["NORMS", "ActConfig", "QuantAct", "QuantCNN", "QuantMLP", "RescalingCheck", "rescaling_check"]


@dataclass(frozen=True)
class ActConfig:
    """Quantizer of one model: ``bits`` (0: full-precision ReLU), step ``alpha`` and the STE."""

    bits: int
    alpha: float
    ste: str

    def __post_init__(self):
        check_positive_int(self.bits, name="bits", minimum=0, maximum=16)
        check_positive(self.alpha, name="alpha")
        check_ste(self.ste)

    @property
    def upper(self) -> float:
        """Top of the clipped-ReLU window (2^b - 1) alpha (infinite for full precision)."""
        return math.inf if self.bits == 0 else (2**self.bits - 1) * self.alpha


_INTERVAL_STES = ("identity", "relu", "crelu")  # surrogate derivative: 1 on an interval, else 0


class _ChannelQuant(torch.autograd.Function):
    """:class:`~stelib.ste.QuantizedReLUSTE` with step, levels and STE per channel, in one call.

    ``alpha``, ``levels``, ``zero`` and ``upper`` = levels x alpha broadcast against ``x``;
    ``open_`` marks the ReLU STE's channels (no upper end), ``all_`` the identity's (derivative
    1 everywhere). Elementwise the same operations on the same values as the per-block call,
    so the same results bit for bit (tests/test_ensemble_ops.py), in a number of operations that
    does not grow with the number of models.
    """

    @staticmethod
    def forward(ctx, x, alpha, levels, zero, upper, open_, all_):
        ctx.save_for_backward(x, upper, open_, all_)
        return alpha * torch.clamp(torch.ceil(x / alpha), zero, levels)

    @staticmethod
    def backward(ctx, grad):
        x, upper, open_, all_ = ctx.saved_tensors
        slope = ((x > 0) & ((x < upper) | open_)) | all_
        return grad * slope.to(x.dtype), None, None, None, None, None, None


class QuantAct(nn.Module):
    r"""Normalisation + quantized ReLU for M models side by side.

    Input ``(B, M * F, *spatial)``: channels ``[m F, (m + 1) F)`` belong to model m, whose
    quantizer is ``configs[m]``. Output :math:`\sigma_\alpha(\mathrm{BN}(x))` of the same shape;
    the backward pass is that of ``configs[m].ste``. With ``probe = True`` the forward pass
    stores, per model, the share of the quantizer's inputs z inside the clipped-ReLU window
    :math:`(0, (2^b - 1)\alpha)` and their median :math:`|z|` in ``self.stats`` ((M, 2)).

    When the models differ in their quantizers (bit widths and STEs, all quantized with the
    identity, ReLU or clipped-ReLU STE), every channel is quantized in one call with its own step,
    levels and STE (``channelwise``): the operations do not grow with the number of models
    (on a GPU, neither do the kernel launches). Otherwise one call per block of consecutive
    models with equal configs. Both give the same numbers bit for bit.
    """

    def __init__(self, configs: tuple[ActConfig, ...], features: int, *, norm: str = "none",
                 spatial: bool = False, dtype: torch.dtype = DTYPE):
        super().__init__()
        self.configs = tuple(configs)
        self.features = check_positive_int(features, name="features")
        self.norm = check_choice(norm, NORMS, name="norm")
        bn = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        self.bn = None if norm == "none" else bn(len(self.configs) * features, affine=norm == "affine", dtype=dtype)
        self.register_buffer("upper", torch.tensor([c.upper for c in self.configs], dtype=dtype), persistent=False)
        self.probe, self.stats = False, None
        # consecutive models with equal configs form one block: one quantizer call per block
        self.blocks: list[tuple[int, ActConfig]] = []
        for c in self.configs:
            if self.blocks and self.blocks[-1][1] == c:
                self.blocks[-1] = (self.blocks[-1][0] + 1, c)
            else:
                self.blocks.append((1, c))
        # several blocks, all quantized with built-in STEs: one quantizer call for all channels,
        # its step, levels and STE given per channel (the same values as block by block)
        self.channelwise = len(self.blocks) > 1 and all(c.bits > 0 and c.ste in _INTERVAL_STES
                                                        for c in self.configs)
        if self.channelwise:
            shape = (-1, 1, 1) if spatial else (-1,)
            for name, values, dt in (
                    ("ch_alpha", [c.alpha for c in self.configs], dtype),
                    ("ch_levels", [2**c.bits - 1 for c in self.configs], dtype),
                    ("ch_zero", [0 for c in self.configs], dtype),
                    ("ch_upper", [c.upper for c in self.configs], dtype),
                    ("ch_open", [c.ste == "relu" for c in self.configs], torch.bool),
                    ("ch_all", [c.ste == "identity" for c in self.configs], torch.bool)):
                per_model = torch.tensor(values, dtype=dt)  # a buffer: moves with .to(device)
                self.register_buffer(name, per_model.repeat_interleave(features).reshape(shape),
                                     persistent=False)

    def _probe(self, z: torch.Tensor) -> torch.Tensor:
        M = len(self.configs)
        zm = z.detach().reshape(z.shape[0], M, -1).transpose(0, 1).reshape(M, -1)  # (M, B F ...)
        inside = ((zm > 0) & (zm < self.upper[:, None])).to(z.dtype).mean(1)
        return torch.stack([inside, zm.abs().median(dim=1).values], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            x = self.bn(x)
        if self.probe:
            self.stats = self._probe(x)
        if self.channelwise and x.dtype == self.ch_alpha.dtype:  # else as block by block
            return _ChannelQuant.apply(x, self.ch_alpha, self.ch_levels, self.ch_zero, self.ch_upper,
                                       self.ch_open, self.ch_all)
        parts = x.split([n * self.features for n, _ in self.blocks], dim=1)
        # the configs were checked when built: the autograd function directly, no value checks
        return torch.cat([torch.relu(p) if c.bits == 0 else QuantizedReLUSTE.apply(p, c.bits, c.alpha, c.ste)
                          for p, (_, c) in zip(parts, self.blocks, strict=True)], dim=1)


def _uniform(shape, bound: float, gens: list[torch.Generator]) -> torch.Tensor:
    """One draw per model from its own generator, stacked: ``(M, *shape)``, U(-bound, bound)."""
    return torch.stack([(2 * torch.rand(shape, generator=g, dtype=DTYPE) - 1) * bound for g in gens])


class _Ensemble(nn.Module):
    """Shared parts: configs, quantized layers (``self.acts``) and their weights (``self.pre``)."""

    def __init__(self, configs, seeds, **kwargs):
        super().__init__()
        if not configs or len(configs) != len(seeds):
            raise ValueError(f"configs and seeds must be non-empty and of equal length, got "
                             f"{len(configs)} and {len(seeds)}")
        self.configs, self.seeds = tuple(configs), tuple(int(s) for s in seeds)
        self.M, self.kwargs = len(self.configs), kwargs

    def _gens(self):
        return [torch.Generator().manual_seed(s) for s in self.seeds]

    def weight_norms(self) -> torch.Tensor:
        """(M, layers): the norm of (W, b) of each layer feeding a quantizer, per model."""
        return torch.stack([torch.cat([w.detach().reshape(self.M, -1), b.detach().reshape(self.M, -1)], 1)
                            .norm(dim=1) for w, b in self.pre], dim=1)

    def gain_norms(self) -> torch.Tensor | None:
        """(M, layers): the norm of the BN (gain, shift) in front of each quantizer, or None."""
        if self.acts[0].bn is None or not self.acts[0].bn.affine:
            return None
        return torch.stack([torch.cat([a.bn.weight.detach().reshape(self.M, -1),
                                       a.bn.bias.detach().reshape(self.M, -1)], 1).norm(dim=1)
                            for a in self.acts], dim=1)

    def probe_stats(self) -> torch.Tensor:
        """(M, layers, 2): the last probe of each quantizer (share inside the window, median |z|)."""
        return torch.stack([a.stats for a in self.acts], dim=1)

    def select(self, src, configs) -> _Ensemble:
        """A new ensemble whose model i is a copy of model ``src[i]`` (weights, BN statistics, seed)
        with quantizer ``configs[i]``: used to start quantized models from full-precision ones and to
        continue trained models with other STEs."""
        src = [int(i) for i in src]
        new = type(self)(list(configs), [self.seeds[i] for i in src], **self.kwargs)
        idx = torch.tensor(src)
        state = {}
        for k, v in self.state_dict().items():
            v = v.detach().cpu()
            state[k] = (v.reshape(self.M, -1)[idx].reshape(-1, *v.shape[1:]).clone()
                        if v.ndim and v.shape[0] % self.M == 0 else v.clone())
        new.load_state_dict(state)
        return new


class QuantMLP(_Ensemble):
    """M multilayer perceptrons 64 -> hidden[0] -> ... -> 10, a quantizer after each hidden layer.

    Model m is initialised from ``torch.Generator().manual_seed(seeds[m])`` with PyTorch's
    default ranges (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    """

    def __init__(self, configs, seeds, *, hidden: tuple[int, ...] = (64, 64), norm: str = "none",
                 inputs: int = 64):
        super().__init__(configs, seeds, hidden=tuple(hidden), norm=norm, inputs=inputs)
        sizes = (check_positive_int(inputs, name="inputs"),
                 *(check_positive_int(h, name="hidden", maximum=4096) for h in hidden), 10)
        gens = self._gens()
        self.W, self.b = nn.ParameterList(), nn.ParameterList()
        for i, o in zip(sizes[:-1], sizes[1:], strict=True):
            self.W.append(nn.Parameter(_uniform((o, i), 1 / math.sqrt(i), gens)))  # (M, out, in)
            self.b.append(nn.Parameter(_uniform((o,), 1 / math.sqrt(i), gens)))  # (M, out)
        self.acts = nn.ModuleList(QuantAct(self.configs, h, norm=norm) for h in sizes[1:-1])
        self.pre = list(zip(self.W[:-1], self.b[:-1], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 64) shared by all models, or (M, B, 64); returns logits (M, B, 10)."""
        h = x.reshape(*x.shape[:-3], -1) if x.ndim >= 4 else x  # images are flattened
        h = h.expand(self.M, *h.shape) if h.ndim == 2 else h  # (M, B, 64)
        for W, b, act in zip(self.W[:-1], self.b[:-1], self.acts, strict=True):
            z = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2))  # (M, B, h)
            M, B, F = z.shape
            h = act(z.transpose(0, 1).reshape(B, M * F)).reshape(B, M, F).transpose(0, 1)
        return torch.baddbmm(self.b[-1][:, None, :], h, self.W[-1].transpose(1, 2))  # (M, B, 10)


class QuantCNN(_Ensemble):
    """M small CNNs: conv3x3(1->c1) -> Q -> maxpool2 -> conv3x3(c1->c2) -> Q -> maxpool2 -> linear(4 c2 -> 10).

    The LeNet-5-like network of chapter practice for 8x8 images. The M models' convolutions
    are one batched product over 3x3 patches (``unfold``), as fast as a grouped convolution in
    float64 is slow; initialisation as in :class:`QuantMLP`.
    """

    def __init__(self, configs, seeds, *, channels: tuple[int, int] = (8, 16), norm: str = "none"):
        super().__init__(configs, seeds, channels=tuple(channels), norm=norm)
        if len(channels) != 2:
            raise ValueError(f"channels must have 2 entries, got {channels!r}")
        c1, c2 = (check_positive_int(c, name="channels", maximum=512) for c in channels)
        gens = self._gens()
        self.W, self.b = nn.ParameterList(), nn.ParameterList()
        for i, o in ((1, c1), (c1, c2)):  # a 3x3 filter bank as (M, out, in * 9)
            self.W.append(nn.Parameter(_uniform((o, 9 * i), 1 / math.sqrt(9 * i), gens)))
            self.b.append(nn.Parameter(_uniform((o,), 1 / math.sqrt(9 * i), gens)))  # (M, out)
        self.W.append(nn.Parameter(_uniform((10, 4 * c2), 1 / math.sqrt(4 * c2), gens)))  # (M, 10, 4 c2)
        self.b.append(nn.Parameter(_uniform((10,), 1 / math.sqrt(4 * c2), gens)))  # (M, 10)
        self.acts = nn.ModuleList(QuantAct(self.configs, c, norm=norm, spatial=True) for c in (c1, c2))
        self.pre = list(zip(self.W[:-1], self.b[:-1], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 64) or (B, 1, 8, 8) shared by all models, or (M, B, 64) or (M, B, 1, 8, 8);
        returns logits (M, B, 10)."""
        x = x.reshape(*x.shape[:-3], -1) if x.ndim >= 4 else x  # 1x8x8 images are flattened
        h = x.expand(self.M, *x.shape) if x.ndim == 2 else x  # (M, B, 64)
        B = h.shape[1]
        h = h.transpose(0, 1).reshape(B, self.M, 8, 8)  # (B, M, 8, 8): channel m is model m
        for W, b, act in zip(self.W[:-1], self.b[:-1], self.acts, strict=True):
            side = h.shape[-1]
            cols = nn.functional.unfold(h, 3, padding=1).reshape(B, self.M, W.shape[2], side * side)
            z = torch.einsum("bmkp,mok->bmop", cols, W) + b[None, :, :, None]  # (B, M, out, side^2)
            z = z.reshape(B, self.M * W.shape[1], side, side)
            h = nn.functional.max_pool2d(act(z), 2)  # (B, M * out, side / 2, side / 2)
        h = h.reshape(B, self.M, -1).transpose(0, 1)  # (M, B, 4 c2)
        return torch.baddbmm(self.b[-1][:, None, :], h, self.W[-1].transpose(1, 2))  # (M, B, 10)



@dataclass(frozen=True)
class RescalingCheck:
    """The changes when the first layer ``(W1, b1)`` of a 1-bit MLP is multiplied by ``c``."""

    ste: str
    c: float
    loss: float  #: |L(c W1, c b1) - L(W1, b1)|
    later_grad: float  #: max |dL/dp after - before| over every later layer's weights and biases p
    first_grad: float  #: |dL/d(W1, b1) after - before| / |dL/d(W1, b1) before| (Euclidean norms)

    def __str__(self) -> str:
        return (f"{self.ste:>8}: |dloss| = {self.loss:.1e}, |d grad of later layers| = {self.later_grad:.1e},\n"
                f"{'':10}rel. change of grad (W1, b1) = {self.first_grad:.3f}")


def rescaling_check(x: torch.Tensor, y: torch.Tensor, *, ste: str, c: float = 3.0, seed: int = 0,
                    hidden: tuple[int, ...] = (32, 32)) -> RescalingCheck:
    r"""Compare loss and coarse gradients of a 1-bit MLP before and after :math:`(W_1, b_1) \to
    c\,(W_1, b_1)`.

    The MLP (no normalisation, step :math:`\alpha = 1`, so the clipped-ReLU window is (0, 1);
    STE ``ste``) is initialised from ``seed``; the loss is the cross-entropy on the batch ``x``
    ``(B, inputs)``, labels ``y`` ``(B,)``. By prop-practice-scale the loss and the gradients of
    every later layer (the weights and biases of the hidden layers above the first and of the
    output layer) do not change for any STE, and the gradient of ``(W1, b1)`` does not change for
    the identity and ReLU STEs, whose surrogate derivative is constant on each half-line; the
    clipped ReLU's changes unless no first-layer pre-activation lies between the old and the new
    top of its window (between 1/c and 1).

    Raises ValueError for a ``c`` that is not a finite number > 0, an unknown STE, or ``x`` and
    ``y`` that are not a batch of inputs and its labels.
    """
    check_ste(ste)
    c = check_real(c, name="c", low=0.0, low_open=True)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"x must be (B, inputs) and y (B,) with the same B >= 1, got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    out = []
    for scale in (1.0, c):
        net = QuantMLP([ActConfig(1, 1.0, ste)], [seed], hidden=hidden, inputs=x.shape[1])
        with torch.no_grad():
            net.W[0].mul_(scale)
            net.b[0].mul_(scale)
        loss = nn.functional.cross_entropy(net(x)[0], y)
        loss.backward()
        first = torch.cat([net.W[0].grad.flatten(), net.b[0].grad.flatten()])
        later = [p.grad.clone() for p in (*net.W[1:], *net.b[1:])]
        out.append((loss.item(), first, later))
    (l1, g1, h1), (lc, gc, hc) = out
    later_change = max(float((b - a).abs().max()) for a, b in zip(h1, hc, strict=True))
    return RescalingCheck(ste, c, abs(lc - l1), later_change, float((gc - g1).norm() / g1.norm()))
