r"""Yin et al.'s networks (LeNet-5, VGG-11, ResNet-20) with b-bit quantized activations (chapter practice).

The same quantizers and normalisations as :mod:`stelib.quantnets` (a :class:`~stelib.quantnets.QuantAct`
with one model replaces every ReLU), in the sizes of Yin et al. (2019, Section 4): LeNet-5 for
MNIST (1x28x28), VGG-11 and ResNet-20 for CIFAR-10 (3x32x32). These networks are meant for a GPU,
so the M models of an ensemble (:class:`NetList`) are independent modules run one after the
other, in float32, with the interface of the batched digits ensembles (``M``, ``configs``,
``seeds``, ``weight_norms``, ``gain_norms``, ``probe_stats``, ``select``).
"""

from __future__ import annotations

import torch
from torch import nn

from stelib.analyses.quantnets import NORMS, ActConfig, QuantAct
from stelib.core._validate import check_choice

__all__ = ["BIG_ARCHS", "NetList", "build_net"]

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
