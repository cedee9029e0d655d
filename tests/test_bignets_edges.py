"""Yin et al.'s networks against their architectures' parameter counts and shapes (hand-counted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from stelib.bignets import NetList, _Block, build_net
from stelib.quantnets import ActConfig, QuantAct

CFG = ActConfig(2, 0.65, "relu")
ROOT = Path(__file__).resolve().parents[1]


def conv(cin, cout, k):
    return cin * cout * k * k + cout  # weights + biases


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_of_the_three_architectures():
    # LeNet-5 on 28x28: conv5(1->6), pool, conv5(6->16), pool -> 16x4x4, 256-120-84-10
    lenet = 156 + 2416 + (256 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert lenet == 44_426 and n_params(build_net("lenet5", CFG, 0, (1, 28, 28))) == lenet
    # on 32x32 colour images the flattened size is 16x5x5
    assert n_params(build_net("lenet5", CFG, 0, (3, 32, 32))) == lenet - 156 + conv(3, 6, 5) + 144 * 120
    # VGG-11: 64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M, then 512 -> 10
    chans = [3, 64, 128, 256, 256, 512, 512, 512, 512]
    vgg = sum(conv(a, b, 3) for a, b in zip(chans[:-1], chans[1:], strict=True)) + 512 * 10 + 10
    assert vgg == 9_225_610 and n_params(build_net("vgg11", CFG, 0, (3, 32, 32))) == vgg
    # ResNet-20: conv3(3->16); 3 stages x 3 basic blocks (16, 32, 64 channels), a 1x1 projection
    # where a stage starts with stride 2; average pool, 64 -> 10
    res = conv(3, 16, 3) + 6 * conv(16, 16, 3)
    res += conv(16, 32, 3) + conv(32, 32, 3) + conv(16, 32, 1) + 4 * conv(32, 32, 3)
    res += conv(32, 64, 3) + conv(64, 64, 3) + conv(32, 64, 1) + 4 * conv(64, 64, 3) + 64 * 10 + 10
    assert n_params(build_net("resnet20", CFG, 0, (3, 32, 32))) == res


def test_feature_map_sizes():
    """ResNet-20 ends with 64 maps of 8x8 (two stride-2 stages), VGG-11 with 512 of 1x1."""
    seen = {}
    for arch in ("resnet20", "vgg11"):
        net = build_net(arch, CFG, 0, (3, 32, 32))
        flat = [m for m in net.modules() if isinstance(m, nn.Flatten)][0]
        flat.register_forward_hook(lambda m, i, o, arch=arch: seen.__setitem__(arch, tuple(i[0].shape)))
        net(torch.randn(2, 3, 32, 32))
    assert seen == {"resnet20": (2, 64, 1, 1), "vgg11": (2, 512, 1, 1)}
    res = build_net("resnet20", CFG, 0, (3, 32, 32))
    pool_in = {}
    pool = [m for m in res.modules() if isinstance(m, nn.AdaptiveAvgPool2d)][0]
    pool.register_forward_hook(lambda m, i, o: pool_in.__setitem__("s", tuple(i[0].shape)))
    res(torch.randn(2, 3, 32, 32))
    assert pool_in["s"] == (2, 64, 8, 8)


def test_basic_block_adds_the_shortcut_before_the_second_quantizer():
    def act(f):
        return QuantAct((CFG,), f, norm="none", spatial=True, dtype=torch.float32)

    torch.manual_seed(0)
    for cin, cout, stride in ((4, 4, 1), (4, 6, 2)):
        blk = _Block(cin, cout, stride, act)
        x = torch.randn(3, cin, 8, 8)
        short = x if (cin, cout, stride) == (4, 4, 1) else blk.short(x)
        assert isinstance(blk.short, nn.Identity) == (stride == 1 and cin == cout)
        ref = blk.q2(blk.c2(blk.q1(blk.c1(x))) + short)
        assert torch.equal(blk(x), ref) and ref.shape == (3, cout, 8 // stride, 8 // stride)


def test_per_model_inputs_norms_and_probes():
    nets = NetList([CFG, ActConfig(4, 0.19, "crelu")], [0, 1], arch="lenet5", in_shape=(1, 16, 16))
    x = torch.randn(2, 3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    out = nets(x)
    for m in range(2):
        assert torch.equal(out[m], nets.nets[m](x[m]))
    ref = [[np.sqrt(sum(float((p.detach() ** 2).sum()) for p in (mod.weight, mod.bias))) for mod in net.pre]
           for net in nets.nets]
    assert np.allclose(nets.weight_norms().numpy(), ref, rtol=1e-5)
    for a in nets.modules():
        if isinstance(a, QuantAct):
            a.probe = True
    with torch.no_grad():
        nets(x)
    acts = [[a for a in net.modules() if isinstance(a, QuantAct)] for net in nets.nets]
    assert torch.equal(nets.probe_stats(), torch.stack([torch.cat([a.stats for a in acts[m]]) for m in range(2)]))
    assert nets.probe_stats().shape == (2, 4, 2)


def test_input_size_limits():
    build_net("lenet5", CFG, 0, (1, 16, 16))  # the smallest LeNet-5 input (1x1 maps after pooling)
    for arch, shape in (("lenet5", (1, 15, 28)), ("vgg11", (3, 32, 48)), ("vgg11", (3, 48, 32))):
        with pytest.raises(ValueError, match=arch):
            build_net(arch, CFG, 0, shape)
    build_net("resnet20", CFG, 0, (3, 12, 12))  # any size: global average pooling
    with pytest.raises(ValueError, match="seeds"):
        NetList([CFG], [0, 1], arch="lenet5", in_shape=(1, 28, 28))


def test_gpu_check_runs_the_ensemble_benchmark(capsys, monkeypatch):
    """tools/gpu_check.py --bench only: benchmarks/bench_bignets.py's table and bench_steps.py's
    (here on the CPU, smallest sizes); a bad option of the benchmark is reported and gives exit
    status 1."""
    spec = importlib.util.spec_from_file_location("gpu_check_bench", ROOT / "tools" / "gpu_check.py")
    gc = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check_bench", gc)  # its dataclasses look their module up
    spec.loader.exec_module(gc)
    assert gc.main(["--bench", "only", "--device", "cpu", "--bench-args", "--quick --archs lenet5",
                    "--steps-args", "--steps 5 --repeats 1"]) == 0
    out = capsys.readouterr().out
    assert out.count("identical runs: True") == 6  # bench_steps: 3 STEs x 2 paths
    row = [line for line in out.splitlines() if line.split()[:1] == ["lenet5"]]
    assert "batched" in out and "one at a time" in out and len(row) == 1
    fields = row[0].split()
    assert fields[1:3] == ["2", "2"] and float(fields[3]) > 0 and float(fields[4]) > 0 and fields[5].endswith("x")
    assert gc.main(["--bench", "only", "--device", "cpu", "--bench-args", "--quick --models 0"]) == 1
    assert "--models must be >= 1" in capsys.readouterr().err
