"""Tests of stelib.practice: data, quantized modules, the batched ensemble and its training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stelib.practice import (
    ActConfig,
    QuantAct,
    QuantCNN,
    QuantMLP,
    continue_training,
    fit,
    load_digits_split,
    train,
)
from stelib.ste import STE_NAMES, binary_step, surrogate_derivative


@pytest.fixture(scope="module")
def data():
    return load_digits_split(0)


def test_split_shapes_and_standardisation(data):
    assert data.x_train.shape == (1348, 64) and data.x_test.shape == (449, 64)
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.int64
    sd = data.x_train.std(dim=0)
    assert torch.allclose(data.x_train.mean(dim=0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    assert torch.all(((sd - 1).abs() < 1e-12) | (sd == 0))
    again = load_digits_split(0)
    assert torch.equal(again.x_test, data.x_test) and not torch.equal(load_digits_split(1).y_test, data.y_test)


@pytest.mark.parametrize("ste", STE_NAMES)
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_quant_act_backward_is_the_ste(ste, bits):
    alpha = 1.0 / (2**bits - 1)
    act = QuantAct((ActConfig(bits, alpha, ste),), 5)
    x = torch.linspace(-0.5, 1.5, 40, dtype=torch.float64).reshape(8, 5).requires_grad_()
    act(x).sum().backward()
    ref = surrogate_derivative(x.detach(), ste, upper=(2**bits - 1) * alpha)
    assert torch.equal(x.grad, ref)
    levels = torch.clamp(torch.ceil(x.detach() / alpha), 0, 2**bits - 1) * alpha  # NumPy-style reference
    assert torch.allclose(act(x), levels)


@pytest.mark.parametrize("ste", STE_NAMES)
def test_one_bit_is_the_binary_step(ste):
    act = QuantAct((ActConfig(1, 1.0, ste),), 4)
    x = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    y = x.detach().clone().requires_grad_()
    out, ref = act(x), binary_step(y, ste)
    assert torch.equal(out, ref)
    out.sum().backward()
    ref.sum().backward()
    assert torch.equal(x.grad, y.grad)


def test_blocks_use_their_own_ste():
    cfg = (ActConfig(1, 1.0, "identity"), ActConfig(1, 1.0, "crelu"))
    act = QuantAct(cfg, 3)
    x = torch.full((2, 6), 2.0, dtype=torch.float64, requires_grad=True)  # above the clipping level
    act(x).sum().backward()
    assert x.grad[:, :3].eq(1).all() and x.grad[:, 3:].eq(0).all()


@pytest.mark.parametrize("cls", [QuantMLP, QuantCNN])
def test_shapes_and_ensemble_equals_single_models(cls, data):
    cfg = [ActConfig(2, 1 / 3, s) for s in STE_NAMES]
    seeds = [0, 1, 2]
    ens = cls(cfg, seeds)
    x = data.x_train[:10]
    out = ens(x)
    assert out.shape == (3, 10, 10)
    for m in range(3):  # model m alone, initialised from the same seed, gives the same logits
        single = cls([cfg[m]], [seeds[m]])
        assert torch.allclose(single(x)[0], out[m], atol=1e-12)


def test_cnn_matches_conv2d():
    net = QuantCNN([ActConfig(4, 1 / 15, "relu")], [5], channels=(3, 4))
    x = torch.randn(7, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    W, b = net.W[0].reshape(3, 1, 3, 3), net.b[0].reshape(3)
    z = nn.functional.conv2d(x.reshape(7, 1, 8, 8), W, b, padding=1)
    h = nn.functional.max_pool2d(net.acts[0](z), 2)
    W2, b2 = net.W[1].reshape(4, 3, 3, 3), net.b[1].reshape(4)
    h = nn.functional.max_pool2d(net.acts[1](nn.functional.conv2d(h, W2, b2, padding=1)), 2)
    ref = h.reshape(7, -1) @ net.W[2][0].T + net.b[2][0]
    assert torch.allclose(net(x)[0], ref, atol=1e-12)


def test_determinism_and_improvement_over_chance(data):
    a = train("mlp", bits=(2,), stes=("crelu", "identity"), seeds=(0, 1), epochs=3, data=data)
    b = train("mlp", bits=(2,), stes=("crelu", "identity"), seeds=(0, 1), epochs=3, data=data)
    assert torch.equal(a.test_accuracy, b.test_accuracy) and torch.equal(a.weight_norms, b.weight_norms)
    assert a.test_accuracy.shape == (1, 2, 2, 4) and a.weight_norms.shape == (1, 2, 2, 2, 4)
    assert a.gain_norms is None and not a.diverged.any()
    assert (a.test_accuracy[..., -1] > 0.5).all()  # chance is 0.1
    assert (a.train_loss[..., -1] < a.train_loss[..., 0]).all()


def test_batchnorm_and_continue_training(data):
    r = train("cnn", bits=(1,), stes=("crelu",), seeds=(0,), epochs=2, batchnorm=True, data=data)
    assert r.gain_norms.shape == (1, 1, 1, 2, 3)
    c = continue_training(r, stes=("identity", "crelu"), epochs=1, lr=1e-4, data=data)
    assert c.stes == ("identity", "crelu") and c.test_accuracy.shape == (1, 2, 1, 2)
    # both copies start from the trained model
    assert torch.allclose(c.test_accuracy[0, :, 0, 0], r.test_accuracy[0, 0, 0, -1].expand(2))


@pytest.mark.parametrize(("kw", "name"), [
    ({"arch": "rnn"}, "arch"), ({"bits": (0,)}, "bits"), ({"bits": (1, 1)}, "bits"),
    ({"stes": ("sign",)}, "stes"), ({"seeds": (-1,)}, "seeds"), ({"epochs": -1}, "epochs"),
    ({"lr": 0.0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"momentum": 1.0}, "momentum"),
    ({"act_range": -1.0}, "act_range"), ({"batchnorm": 1}, "batchnorm"), ({"width": 1}, "width"),
    ({"device": "tpu"}, "device"),
])
def test_bad_arguments(kw, name, data):
    with pytest.raises(ValueError, match=name):
        train(**{"epochs": 0, "data": data, **kw})


def test_bad_config_and_fit_arguments(data):
    with pytest.raises(ValueError, match="ste"):
        ActConfig(1, 1.0, "sign")
    with pytest.raises(ValueError, match="alpha"):
        ActConfig(1, 0.0, "relu")
    with pytest.raises(ValueError, match="threads"):
        fit(QuantMLP([ActConfig(1, 1.0, "relu")], [0]), data, epochs=0, lr=0.1, threads=0)
    with pytest.raises(ValueError, match="seed"):
        load_digits_split(-1)


def test_yin_table_checksum(tmp_path):
    from stelib.practice import load_yin_table

    rows = load_yin_table()
    assert {r["ste"] for r in rows} <= set(STE_NAMES) and all(0 < r["accuracy_percent"] <= 100 for r in rows)
    (tmp_path / "yin2019_table1.csv").write_text("dataset,network,bits,ste,accuracy_percent\nX,Y,4,relu,1.0\n")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  yin2019_table1.csv\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_yin_table(tmp_path)
