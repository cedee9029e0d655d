r"""Activation-quantized networks: b-bit quantized-ReLU layers and small ensembles of models.

The hidden activations are the b-bit quantized ReLU of Yin et al.,
:math:`\sigma_\alpha(x) = \alpha\,\mathrm{clamp}(\lceil x/\alpha\rceil, 0, 2^b - 1)`, with float
weights; the backward pass uses the identity, ReLU or clipped-ReLU STE
(:func:`stelib.ste.quantized_relu`). An optional batch normalisation sits in front of each
quantizer. A module holds M independent models (bit widths x STEs x seeds) side by side along a
model axis, so they train in one tensor computation while each follows exactly the trajectory
it would follow alone. Training lives in :mod:`stelib.practice`.

* :class:`ActConfig` -- one model's quantizer (bits, step, STE);
* :class:`QuantAct`, :class:`QuantMLP`, :class:`QuantCNN` -- the modules (``(B, 64)`` images in,
  ``(M, B, 10)`` logits out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from stelib._validate import check_positive, check_positive_int
from stelib.ste import check_ste, quantized_relu

DTYPE = torch.float64

__all__ = ["ActConfig", "QuantAct", "QuantCNN", "QuantMLP"]


@dataclass(frozen=True)
class ActConfig:
    """Quantizer of one model: ``bits``, step ``alpha`` and the STE used in the backward pass."""

    bits: int
    alpha: float
    ste: str

    def __post_init__(self):
        check_positive_int(self.bits, name="bits", maximum=16)
        check_positive(self.alpha, name="alpha")
        check_ste(self.ste)


class QuantAct(nn.Module):
    r"""Quantized ReLU for M models side by side, with optional batch normalisation in front.

    Input ``(B, M * F, *spatial)``: channels ``[m F, (m + 1) F)`` belong to model m, whose
    quantizer is ``configs[m]``. Output :math:`\sigma_\alpha(\mathrm{BN}(x))` of the same shape;
    the backward pass is that of ``configs[m].ste``. BN (per channel, so per model) has gain
    :math:`\gamma` and shift :math:`\beta`.
    """

    def __init__(self, configs: tuple[ActConfig, ...], features: int, *, batchnorm: bool = False,
                 spatial: bool = False):
        super().__init__()
        self.configs = tuple(configs)
        self.features = check_positive_int(features, name="features")
        bn = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        self.bn = bn(len(self.configs) * features, dtype=DTYPE) if batchnorm else None
        # consecutive models with equal configs form one block: one quantizer call per block
        self.blocks: list[tuple[int, ActConfig]] = []
        for c in self.configs:
            if self.blocks and self.blocks[-1][1] == c:
                self.blocks[-1] = (self.blocks[-1][0] + 1, c)
            else:
                self.blocks.append((1, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            x = self.bn(x)
        parts = x.split([n * self.features for n, _ in self.blocks], dim=1)
        return torch.cat([quantized_relu(p, c.bits, c.alpha, ste=c.ste)
                          for p, (_, c) in zip(parts, self.blocks, strict=True)], dim=1)


def _uniform(shape, bound: float, gens: list[torch.Generator]) -> torch.Tensor:
    """One draw per model from its own generator, stacked: ``(M, *shape)``, U(-bound, bound)."""
    return torch.stack([(2 * torch.rand(shape, generator=g, dtype=DTYPE) - 1) * bound for g in gens])


class _Ensemble(nn.Module):
    """Shared parts: configs, quantized layers (``self.acts``) and their weights (``self.pre``)."""

    def __init__(self, configs, seeds):
        super().__init__()
        if not configs or len(configs) != len(seeds):
            raise ValueError(f"configs and seeds must be non-empty and of equal length, got "
                             f"{len(configs)} and {len(seeds)}")
        self.configs, self.seeds = tuple(configs), tuple(int(s) for s in seeds)
        self.M = len(self.configs)

    def _gens(self):
        return [torch.Generator().manual_seed(s) for s in self.seeds]

    def weight_norms(self) -> torch.Tensor:
        """(M, layers): the norm of (W, b) of each layer feeding a quantizer, per model."""
        return torch.stack([torch.cat([w.detach().reshape(self.M, -1), b.detach().reshape(self.M, -1)], 1)
                            .norm(dim=1) for w, b in self.pre], dim=1)

    def gain_norms(self) -> torch.Tensor | None:
        """(M, layers): the norm of the BN (gain, shift) in front of each quantizer, or None."""
        if self.acts[0].bn is None:
            return None
        return torch.stack([torch.cat([a.bn.weight.detach().reshape(self.M, -1),
                                       a.bn.bias.detach().reshape(self.M, -1)], 1).norm(dim=1)
                            for a in self.acts], dim=1)


class QuantMLP(_Ensemble):
    """M multilayer perceptrons 64 -> hidden[0] -> ... -> 10, a quantizer after each hidden layer.

    Model m is initialised from ``torch.Generator().manual_seed(seeds[m])`` with PyTorch's
    default ranges (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))).
    """

    def __init__(self, configs, seeds, *, hidden: tuple[int, ...] = (64, 64), batchnorm: bool = False):
        super().__init__(configs, seeds)
        sizes = (64, *(check_positive_int(h, name="hidden", maximum=4096) for h in hidden), 10)
        gens = self._gens()
        self.W, self.b = nn.ParameterList(), nn.ParameterList()
        for i, o in zip(sizes[:-1], sizes[1:], strict=True):
            self.W.append(nn.Parameter(_uniform((o, i), 1 / math.sqrt(i), gens)))  # (M, out, in)
            self.b.append(nn.Parameter(_uniform((o,), 1 / math.sqrt(i), gens)))  # (M, out)
        self.acts = nn.ModuleList(QuantAct(self.configs, h, batchnorm=batchnorm) for h in sizes[1:-1])
        self.pre = list(zip(self.W[:-1], self.b[:-1], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 64) shared by all models, or (M, B, 64); returns logits (M, B, 10)."""
        h = x.expand(self.M, *x.shape) if x.ndim == 2 else x  # (M, B, 64)
        for W, b, act in zip(self.W[:-1], self.b[:-1], self.acts, strict=True):
            z = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2))  # (M, B, h)
            M, B, F = z.shape
            h = act(z.transpose(0, 1).reshape(B, M * F)).reshape(B, M, F).transpose(0, 1)
        return torch.baddbmm(self.b[-1][:, None, :], h, self.W[-1].transpose(1, 2))  # (M, B, 10)


class QuantCNN(_Ensemble):
    """M small CNNs: conv3x3(1->c1) -> Q -> maxpool2 -> conv3x3(c1->c2) -> Q -> maxpool2 -> linear(4 c2 -> 10).

    The M models' convolutions are one batched product over 3x3 patches (``unfold``), as fast
    as a grouped convolution in float64 is slow; initialisation as in :class:`QuantMLP`.
    """

    def __init__(self, configs, seeds, *, channels: tuple[int, int] = (8, 16), batchnorm: bool = False):
        super().__init__(configs, seeds)
        if len(channels) != 2:
            raise ValueError(f"channels must have 2 entries, got {channels!r}")
        c1, c2 = (check_positive_int(c, name="channels", maximum=512) for c in channels)
        self.c = (1, c1, c2)
        gens = self._gens()
        self.W, self.b = nn.ParameterList(), nn.ParameterList()
        for i, o in ((1, c1), (c1, c2)):  # a 3x3 filter bank as (M, out, in * 9)
            self.W.append(nn.Parameter(_uniform((o, 9 * i), 1 / math.sqrt(9 * i), gens)))
            self.b.append(nn.Parameter(_uniform((o,), 1 / math.sqrt(9 * i), gens)))  # (M, out)
        self.W.append(nn.Parameter(_uniform((10, 4 * c2), 1 / math.sqrt(4 * c2), gens)))  # (M, 10, 4 c2)
        self.b.append(nn.Parameter(_uniform((10,), 1 / math.sqrt(4 * c2), gens)))  # (M, 10)
        self.acts = nn.ModuleList(QuantAct(self.configs, c, batchnorm=batchnorm, spatial=True) for c in (c1, c2))
        self.pre = list(zip(self.W[:-1], self.b[:-1], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 64) shared by all models, or (M, B, 64); returns logits (M, B, 10)."""
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
