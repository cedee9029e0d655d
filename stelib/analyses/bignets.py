r"""Yin et al.'s networks (LeNet-5, VGG-11, ResNet-20) with b-bit quantized activations (chapter practice).

The same quantizers and normalisations as :mod:`stelib.quantnets` (a :class:`~stelib.quantnets.QuantAct`
with one model replaces every ReLU), in the sizes of Yin et al. (2019, Section 4): LeNet-5 for
MNIST (1x28x28), VGG-11 and ResNet-20 for CIFAR-10 (3x32x32), in float32. Two forms of an
ensemble of M models (bit widths x STEs x seeds), with the interface of the batched digits
ensembles (``M``, ``configs``, ``seeds``, ``weight_norms``, ``gain_norms``, ``probe_stats``, ``select``):

* :class:`BatchedNets` -- the M models as one computation (grouped convolutions, batched matrix
  products, per-model batch-norm statistics): what :func:`stelib.practice.train` uses;
* :class:`NetList` -- M independent modules run one after the other: the reference the batched
  form is tested against, and the "one at a time" of ``benchmarks/bench_bignets.py``.

Model m of either is :func:`build_net` with ``configs[m]`` and ``seeds[m]``: the same
initialisation, and up to floating-point reordering the same computation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from stelib.analyses.quantnets import NORMS, ActConfig, QuantAct, _Ensemble
from stelib.core._validate import check_choice, check_positive_int

__all__ = ["BIG_ARCHS", "BatchedNets", "NetList", "build_net"]

BIG_ARCHS: tuple[str, ...] = ("lenet5", "vgg11", "resnet20")
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class _Net(nn.Module):
    """A sequence of blocks; ``pre`` lists the (weight, bias) feeding each quantizer, in order."""

    def __init__(self, layers: list[nn.Module], pre: list[nn.Module]):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.pre = pre  # plain list: the modules are registered through self.layers

    def forward(self, x):
        return self.layers(x)


class _Block(nn.Module):
    """ResNet basic block: conv-Q-conv, the shortcut added before the second quantizer."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.q1 = act(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.short = nn.Identity() if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)
        self.q2 = act(cout)

    def forward(self, x):
        return self.q2(self.c2(self.q1(self.c1(x))) + self.short(x))


def build_net(arch: str, config: ActConfig, seed: int, in_shape: tuple[int, int, int], *,
              norm: str = "plain") -> _Net:
    """One network ``arch`` for inputs ``in_shape`` = (C, H, W), initialised with PyTorch's default
    ranges from ``torch.manual_seed(seed)`` inside a forked RNG state (the global state is untouched)."""
    check_choice(arch, BIG_ARCHS, name="arch")
    check_choice(norm, NORMS, name="norm")
    C, H, W = in_shape
    if arch == "vgg11" and (H % 32 or W % 32):
        raise ValueError(f"arch='vgg11' needs images whose sides are multiples of 32, got {in_shape}")
    if arch == "lenet5" and min(H, W) < 16:
        raise ValueError(f"arch='lenet5' needs images of side >= 16, got {in_shape}")

    def act(f, spatial=True):
        return QuantAct((config,), f, norm=norm, spatial=spatial, dtype=torch.float32)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers, pre = [], []
        if arch == "lenet5":
            s = ((H - 4) // 2 - 4) // 2
            t = ((W - 4) // 2 - 4) // 2
            c1, c2 = nn.Conv2d(C, 6, 5), nn.Conv2d(6, 16, 5)
            f1, f2, f3 = nn.Linear(16 * s * t, 120), nn.Linear(120, 84), nn.Linear(84, 10)
            layers = [c1, act(6), nn.MaxPool2d(2), c2, act(16), nn.MaxPool2d(2), nn.Flatten(),
                      f1, act(120, False), f2, act(84, False), f3]
            pre = [c1, c2, f1, f2]
        elif arch == "vgg11":
            cin = C
            for v in VGG11:
                if v == "M":
                    layers.append(nn.MaxPool2d(2))
                else:
                    conv = nn.Conv2d(cin, v, 3, padding=1)
                    layers += [conv, act(v)]
                    pre.append(conv)
                    cin = v
            layers += [nn.Flatten(), nn.Linear(512 * (H // 32) * (W // 32), 10)]
        else:
            conv = nn.Conv2d(C, 16, 3, padding=1)
            layers, pre, cin = [conv, act(16)], [conv], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    blk = _Block(cin, cout, stride if i == 0 else 1, act)
                    layers.append(blk)
                    pre += [blk.c1, blk.c2]
                    cin = cout
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
        return _Net(layers, pre)


class NetList(nn.Module):
    """M networks of one architecture, model m with quantizer ``configs[m]`` and seed ``seeds[m]``."""

    def __init__(self, configs, seeds, *, arch: str, in_shape: tuple[int, int, int], norm: str = "plain"):
        super().__init__()
        if not configs or len(configs) != len(seeds):
            raise ValueError(f"configs and seeds must be non-empty and of equal length, got "
                             f"{len(configs)} and {len(seeds)}")
        self.configs, self.seeds = tuple(configs), tuple(int(s) for s in seeds)
        self.M, self.kwargs = len(self.configs), {"arch": arch, "in_shape": tuple(in_shape), "norm": norm}
        self.nets = nn.ModuleList(build_net(arch, c, s, tuple(in_shape), norm=norm)
                                  for c, s in zip(self.configs, self.seeds, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) shared by all models, or (M, B, C, H, W); returns logits (M, B, 10)."""
        shared = x.ndim == 4
        return torch.stack([net(x if shared else x[m]) for m, net in enumerate(self.nets)])

    def _acts(self, net):
        return [a for a in net.modules() if isinstance(a, QuantAct)]

    def weight_norms(self) -> torch.Tensor:
        """(M, layers): the norm of (W, b) of each layer feeding a quantizer, per model."""
        return torch.stack([torch.stack([torch.cat([p.weight.detach().flatten(), p.bias.detach().flatten()]).norm()
                                         for p in net.pre]) for net in self.nets])

    def gain_norms(self) -> torch.Tensor | None:
        """(M, layers): the norm of the BN (gain, shift) of each quantizer, or None without a gain."""
        if self.kwargs["norm"] != "affine":
            return None
        return torch.stack([torch.stack([torch.cat([a.bn.weight.detach(), a.bn.bias.detach()]).norm()
                                         for a in self._acts(net)]) for net in self.nets])

    def probe_stats(self) -> torch.Tensor:
        """(M, layers, 2): the last probe of each quantizer (share inside the window, median |z|)."""
        return torch.stack([torch.cat([a.stats for a in self._acts(net)]) for net in self.nets])

    def select(self, src, configs) -> NetList:
        """Model i of the result: a copy of model ``src[i]`` with quantizer ``configs[i]``."""
        src = [int(i) for i in src]
        new = NetList(list(configs), [self.seeds[i] for i in src], **self.kwargs)
        for i, j in enumerate(src):
            new.nets[i].load_state_dict(self.nets[j].state_dict())
        return new


# --------------------------------------------------------------------------------------------
# The M models as one computation
# --------------------------------------------------------------------------------------------

class _GroupConv(nn.Module):
    """M convolutions ``cin -> cout`` as one grouped convolution: weight ``(M cout, cin, k, k)``,
    model m's filters in rows ``[m cout, (m + 1) cout)`` (``torch.stack`` of the M weights, reshaped).
    Input ``(B, M cin, H, W)``, or ``(B, cin, H, W)`` shared by every model (then one ordinary
    convolution with all M cout filters: the same sums)."""

    def __init__(self, conv: nn.Conv2d, M: int):
        super().__init__()
        self.M, self.cin, self.stride, self.padding = M, conv.in_channels, conv.stride, conv.padding
        self.weight = nn.Parameter(torch.empty(M * conv.out_channels, *conv.weight.shape[1:],
                                                dtype=conv.weight.dtype, device=conv.weight.device))
        self.bias = nn.Parameter(torch.empty(M * conv.out_channels, dtype=conv.weight.dtype,
                                              device=conv.weight.device))

    def forward(self, x):
        groups = 1 if x.shape[1] == self.cin else self.M
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, groups)


class _BatchLinear(nn.Module):
    """M linear layers as one batched matrix product: weight ``(M, out, in)``, bias ``(M, out)``.
    Input ``(B, M in)`` (model-major, as a flattened ``(B, M C, h, w)`` map is), or ``(B, in)``
    shared; output ``(B, M out)``."""

    def __init__(self, lin: nn.Linear, M: int):
        super().__init__()
        self.M, self.fin = M, lin.in_features
        self.weight = nn.Parameter(torch.empty(M, lin.out_features, lin.in_features,
                                                dtype=lin.weight.dtype, device=lin.weight.device))
        self.bias = nn.Parameter(torch.empty(M, lin.out_features, dtype=lin.weight.dtype,
                                              device=lin.weight.device))

    def forward(self, x):
        B = x.shape[0]
        h = x.reshape(B, -1, self.fin).transpose(0, 1)  # (M, B, in), or (1, B, in) when shared
        h = h.expand(self.M, -1, -1) if h.shape[0] != self.M else h
        z = torch.baddbmm(self.bias.unsqueeze(1), h, self.weight.transpose(1, 2))  # (M, B, out)
        return z.transpose(0, 1).reshape(B, -1)


class _Act(QuantAct):
    """:class:`QuantAct` that first brings a reduced-precision input (bf16 autocast) back to its own
    dtype: normalisation and quantizer always run in the module's precision."""

    def forward(self, x):
        return super().forward(x if x.dtype == self.upper.dtype else x.to(self.upper.dtype))


_STATELESS = (nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)


def _batched(mod: nn.Module, configs: tuple[ActConfig, ...]) -> nn.Module:
    """The M-model twin of one model's module ``mod`` (parameters uninitialised): channel-wise
    modules are shared as they are, layers with parameters become their batched forms, containers
    (``nn.Sequential``, :class:`_Block`) keep their forward with batched children."""
    M = len(configs)
    if isinstance(mod, nn.Conv2d):
        if mod.groups != 1 or mod.dilation != (1, 1) or mod.bias is None or mod.padding_mode != "zeros":
            raise TypeError(f"only plain convolutions with a bias can be batched, got {mod}")
        return _GroupConv(mod, M)
    if isinstance(mod, nn.Linear):
        return _BatchLinear(mod, M)
    if isinstance(mod, QuantAct):
        return _Act(configs, mod.features, norm=mod.norm, spatial=isinstance(mod.bn, nn.BatchNorm2d),
                    dtype=mod.upper.dtype)
    if isinstance(mod, _STATELESS):
        return copy.deepcopy(mod)
    if isinstance(mod, nn.Sequential | _Block) and not mod._parameters and not mod._buffers:
        new = type(mod).__new__(type(mod))
        nn.Module.__init__(new)  # fresh registries and hooks; plain attributes (training) copied
        new.__dict__.update({k: v for k, v in mod.__dict__.items() if not k.startswith("_")})
        for k, c in mod._modules.items():
            new.add_module(k, _batched(c, configs))
        return new
    raise TypeError(f"no batched form of {type(mod).__name__}")


class BatchedNets(_Ensemble):
    r"""M networks of one architecture as one computation: the batched twin of :class:`NetList`.

    Model m is :func:`build_net` ``(arch, configs[m], seeds[m], in_shape, norm=norm)`` (the same
    initialisation), and its layers are stacked with the other models': every convolution of the
    M models is one grouped convolution (``groups = M``), every linear layer one batched matrix
    product (``torch.baddbmm``), every quantizer one :class:`QuantAct` over the M models'
    channels, whose batch normalisation keeps per-model statistics (its channels are per model).
    The activations travel as ``(B, M C, H, W)``, model-major along channels. Up to
    floating-point reordering each model computes what it computes alone (see the tests).

    ``mixed_precision=True`` (off by default) **changes the numerics**: convolutions and matrix
    products run under bf16 autocast (8 significant bits) and parameters and activations use the
    channels-last memory format, for speed on a CUDA GPU (tensor cores); normalisation,
    quantizers, parameters and optimizer stay in float32, the logits are returned in float32.
    It runs on the CPU too (the tests use it there), where it is slow unless the CPU has bf16
    units. The quantizer's steps make a bf16 run a different (close, not equal) trajectory.

    Interface of the digits ensembles (:class:`stelib.quantnets.QuantMLP`): ``M``, ``configs``,
    ``seeds``, ``weight_norms``, ``gain_norms``, ``probe_stats``, ``select``; ``net(m)`` returns
    model m alone (a :func:`build_net` network holding its current weights and statistics) and
    :meth:`from_netlist` stacks a :class:`NetList`.
    """

    def __init__(self, configs, seeds, *, arch: str, in_shape: tuple[int, int, int], norm: str = "plain",
                 mixed_precision: bool = False):
        if not isinstance(mixed_precision, bool):
            raise ValueError(f"mixed_precision={mixed_precision!r} must be True or False")
        in_shape = tuple(in_shape)
        super().__init__(configs, seeds, arch=arch, in_shape=in_shape, norm=norm, mixed_precision=mixed_precision)
        self.mixed_precision = mixed_precision
        first = build_net(arch, self.configs[0], self.seeds[0], in_shape, norm=norm)
        self.layers = _batched(first.layers, self.configs)
        self._pre_idx = [i for i, m in enumerate(first.layers.modules()) if any(m is p for p in first.pre)]
        state = self.layers.state_dict()  # shares storage with the parameters and buffers
        with torch.no_grad():
            for m, (c, s) in enumerate(zip(self.configs, self.seeds, strict=True)):
                net = first if m == 0 else build_net(arch, c, s, in_shape, norm=norm)
                for k, v in net.layers.state_dict().items():
                    if v.ndim:
                        state[k].view(self.M, -1)[m].copy_(v.reshape(-1))
                    elif m == 0:
                        state[k].copy_(v)  # num_batches_tracked: one count for all models
        if mixed_precision:
            self.to(memory_format=torch.channels_last)

    @property
    def pre(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) of each batched layer feeding a quantizer, in order (as ``_Net.pre``)."""
        mods = list(self.layers.modules())
        return [(mods[i].weight, mods[i].bias) for i in self._pre_idx]

    @property
    def acts(self) -> list[QuantAct]:
        """The quantizers, in the order of :class:`NetList`'s."""
        return [a for a in self.layers.modules() if isinstance(a, QuantAct)]

    @classmethod
    def from_netlist(cls, nets: NetList, *, mixed_precision: bool = False) -> BatchedNets:
        """The batched twin of ``nets`` with its current weights and batch-norm statistics."""
        p = next(nets.parameters())
        new = cls(nets.configs, nets.seeds, **nets.kwargs).to(p.device, p.dtype)
        state = new.layers.state_dict()
        with torch.no_grad():
            for m, net in enumerate(nets.nets):
                for k, v in net.layers.state_dict().items():
                    if v.ndim:
                        state[k].view(new.M, -1)[m].copy_(v.reshape(-1))
        if mixed_precision:
            new.mixed_precision = new.kwargs["mixed_precision"] = True
            new.to(memory_format=torch.channels_last)
        return new

    def net(self, m: int) -> _Net:
        """Model m alone: a :func:`build_net` network with its current weights and batch-norm
        statistics, in this ensemble's dtype and on its device."""
        m = check_positive_int(m, name="m", minimum=0, maximum=self.M - 1)
        p = self.layers.state_dict()
        net = build_net(self.kwargs["arch"], self.configs[m], self.seeds[m], self.kwargs["in_shape"],
                        norm=self.kwargs["norm"])
        net.to(next(self.parameters()).device, next(self.parameters()).dtype)
        mine = net.layers.state_dict()
        net.layers.load_state_dict({k: (v.reshape(self.M, -1)[m].reshape(mine[k].shape) if v.ndim else v).clone()
                                    for k, v in p.items()})
        return net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) shared by all models, or (M, B, C, H, W); returns logits (M, B, 10)."""
        C, H, W = self.kwargs["in_shape"]
        if x.ndim == 5 and tuple(x.shape[2:]) == (C, H, W) and x.shape[0] == self.M:
            B = x.shape[1]
            x = x.transpose(0, 1).reshape(B, self.M * C, H, W)
        elif x.ndim == 4 and tuple(x.shape[1:]) == (C, H, W):
            B = x.shape[0]
        else:
            raise ValueError(f"x must be (B, {C}, {H}, {W}) or ({self.M}, B, {C}, {H}, {W}), got {tuple(x.shape)}")
        if not self.mixed_precision:
            return self.layers(x).reshape(B, self.M, -1).transpose(0, 1)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            out = self.layers(x.contiguous(memory_format=torch.channels_last))
        return out.float().reshape(B, self.M, -1).transpose(0, 1)
