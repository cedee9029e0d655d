"""An ensemble's quantizers are one call for all models: ``QuantAct`` with several quantizer
configs (bit widths x built-in STEs) quantizes every channel at once, with step, levels and STE
given per channel. The same numbers as one call per block of equal configs, bit for bit; the
tensor operations of a training step (kernel launches on a GPU; benchmarks/bench_bignets.py
counts them) no longer grow with the number of models."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from stelib.bignets import BatchedNets, NetList
from stelib.quantnets import ActConfig, QuantAct, QuantMLP

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_bignets import ops_per_step  # noqa: E402

GRID = [ActConfig(b, 1.0 / (2**b - 1), s) for b in (1, 2, 4) for s in ("identity", "relu", "crelu")]
ODD = [ActConfig(3, 0.37, "crelu"), ActConfig(3, 0.37, "crelu"), ActConfig(1, 0.8, "relu"),
       ActConfig(2, 0.1, "identity")]  # uneven steps, and a block of two equal configs


def _edges(act: QuantAct, B: int, spatial: bool, dtype) -> torch.Tensor:
    """(B, M F[, 3, 3]) inputs: random values and every channel's step points, 0 and the window's
    top, each with its two floating-point neighbours (ties of ceil and of the window's ends)."""
    g = torch.Generator().manual_seed(7)
    M, F, S = len(act.configs), act.features, 9 if spatial else 1
    z = 2 * torch.randn(M, F, B * S, generator=g, dtype=dtype)
    for m, c in enumerate(act.configs):
        pts = torch.tensor([k * c.alpha for k in range(2**c.bits + 1)] + [0.0, -0.0], dtype=dtype)
        pts = torch.cat([pts, torch.nextafter(pts, pts + 1), torch.nextafter(pts, pts - 1)])
        z[m, :, : pts.numel()] = pts
    x = z.reshape(M * F, B, S).transpose(0, 1)  # (B, M F, S): channel m F + f is model m's
    return x.reshape(B, M * F, 3, 3) if spatial else x.reshape(B, M * F)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("configs", [GRID, ODD], ids=["grid", "odd"])
def test_channelwise_quantizer_equals_block_by_block(dtype, spatial, configs):
    fast = QuantAct(configs, 5, spatial=spatial, dtype=dtype)
    slow = QuantAct(configs, 5, spatial=spatial, dtype=dtype)
    slow.channelwise = False
    assert fast.channelwise and len(fast.blocks) == len(configs) - (configs is ODD)
    x = _edges(fast, 64, spatial, dtype)
    up = torch.randn(x.shape, generator=torch.Generator().manual_seed(8), dtype=dtype)
    outs = []
    for act in (fast, slow):
        xi = x.clone().requires_grad_(True)
        y = act(xi)
        y.backward(up)
        outs.append((y.detach(), xi.grad))
    (y_f, g_f), (y_s, g_s) = outs
    assert torch.equal(y_f, y_s) and torch.equal(g_f, g_s)
    assert (g_f == 0).any() and (g_f == up).any()  # both branches of the STEs are exercised
    assert len(torch.unique(y_f)) > 10  # many quantization levels reached


def test_channelwise_only_where_it_applies():
    fp = ActConfig(0, 1.0, "relu")
    assert not QuantAct([fp, GRID[0]], 4).channelwise  # full precision mixed in: block by block
    assert not QuantAct([GRID[2]] * 3, 4).channelwise  # one block: one call already
    assert not QuantAct([GRID[0], ActConfig(1, 1.0, "hardtanh")], 4).channelwise  # registered STE
    act = QuantAct(GRID[:2], 4, dtype=torch.float64)
    x = torch.randn(3, 8, dtype=torch.float32)  # another dtype than the module's: block by block
    y = act(x)
    ref = torch.cat([QuantAct([c], 4, dtype=torch.float64)(x[:, 4 * i: 4 * i + 4])
                     for i, c in enumerate(GRID[:2])], dim=1)
    assert y.dtype == torch.float32 and torch.equal(y, ref)


def test_channelwise_buffers_follow_the_module_and_stay_out_of_the_state():
    act = QuantAct(GRID[:3], 2, spatial=True, dtype=torch.float64)
    assert act.ch_alpha.shape == (6, 1, 1) and act.ch_open.dtype == torch.bool
    assert not any(k.startswith("ch_") for k in act.state_dict())
    act.float()
    assert act.ch_alpha.dtype == torch.float32 and act.ch_all.dtype == torch.bool
    mlp = QuantMLP(GRID[:3], [0, 1, 2], hidden=(4,))
    assert mlp.select([2, 0], GRID[3:5]).acts[0].ch_upper.flatten().tolist() == \
        [GRID[3].upper] * 4 + [GRID[4].upper] * 4


@pytest.mark.parametrize(("arch", "shape"), [("lenet5", (1, 16, 16)), ("resnet20", (3, 8, 8))])
def test_operations_per_step_do_not_grow_with_the_models(arch, shape):
    counts = {}
    for M in (3, 9):
        g = torch.Generator().manual_seed(M)
        x, y = torch.randn(M, 2, *shape, generator=g), torch.randint(0, 10, (M, 2), generator=g)
        counts[M] = [ops_per_step(cls(GRID[:M], list(range(M)), arch=arch, in_shape=shape), x, y)
                     for cls in (BatchedNets, NetList)]
    assert counts[3][0] == counts[9][0], counts  # one computation, whatever M
    assert counts[9][1] > 2.5 * counts[3][1], counts  # one module after another: about M times
