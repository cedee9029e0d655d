"""Tests of stelib.practice and stelib.quantnets: quantizers, ensembles, seeds, regimes, divergence."""

from __future__ import annotations

import math

import numpy as np
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


@pytest.fixture(scope="module")
def small(data):
    """A 300-image training set (faster runs), same test set."""
    return type(data)(data.x_train[:300], data.y_train[:300], data.x_test, data.y_test)


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
    alpha = 0.3
    act = QuantAct((ActConfig(bits, alpha, ste),), 5)
    x = torch.linspace(-0.5, 6.5, 40, dtype=torch.float64).reshape(8, 5).requires_grad_()
    act(x).sum().backward()
    upper = (2**bits - 1) * alpha
    ref = torch.where((x.detach() > 0) & (x.detach() < upper), 1.0, 0.0) if ste == "crelu" else \
        surrogate_derivative(x.detach(), ste)
    assert torch.equal(x.grad, ref.to(x.dtype))
    levels = np.clip(np.ceil(x.detach().numpy() / alpha), 0, 2**bits - 1) * alpha  # NumPy reference
    assert np.allclose(act(x).detach().numpy(), levels)


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


def test_full_precision_config_is_relu():
    act = QuantAct((ActConfig(0, 1.0, "relu"),), 3)
    x = torch.tensor([[-1.0, 0.5, 7.0]], dtype=torch.float64)
    assert torch.equal(act(x), torch.tensor([[0.0, 0.5, 7.0]], dtype=torch.float64))


def test_blocks_use_their_own_ste():
    cfg = (ActConfig(1, 1.0, "identity"), ActConfig(1, 1.0, "crelu"))
    act = QuantAct(cfg, 3)
    x = torch.full((2, 6), 2.0, dtype=torch.float64, requires_grad=True)  # above the clipping level
    act(x).sum().backward()
    assert x.grad[:, :3].eq(1).all() and x.grad[:, 3:].eq(0).all()


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_default_step_spans_act_range(bits, small):
    """alpha = act_range / (2^b - 1): the top level is act_range and there are 2^b levels."""
    r = train("mlp", bits=(bits,), stes=("relu",), seeds=(0,), epochs=0, act_range=2.0, data=small)
    act = r.model.acts[0]
    out = act(torch.linspace(-1, 5, 2001, dtype=torch.float64).repeat(32, 1).T.contiguous())
    assert out.max().item() == pytest.approx(2.0)
    assert len(torch.unique(out)) == 2**bits
    assert r.alphas[bits] == pytest.approx(2.0 / (2**bits - 1))


def test_initialisation_follows_each_seed():
    """Model m's first layer is U(-1/8, 1/8) drawn from Generator().manual_seed(seeds[m]) (independent formula)."""
    net = QuantMLP([ActConfig(2, 1 / 3, "relu")] * 2, [0, 7], hidden=(5, 5))
    for m, s in enumerate((0, 7)):
        ref = (2 * torch.rand((5, 64), generator=torch.Generator().manual_seed(s), dtype=torch.float64) - 1) / 8
        assert torch.equal(net.W[0][m].detach(), ref)
    assert not torch.equal(net.W[0][0], net.W[0][1])


def test_training_matches_a_plain_loop_with_each_seeds_shuffle(small):
    """Model with seed 5 of an ensemble (seeds 0 and 5) equals a hand-written SGD loop that shuffles
    with Generator().manual_seed(5): a wrong shuffle seed or a shared generator would differ."""
    cfg = ActConfig(2, 1 / 3, "crelu")
    ens = QuantMLP([cfg, cfg], [0, 5], hidden=(8, 8))
    fit(ens, small, epochs=2, lr=0.05, batch_size=50, momentum=0.9)
    ref = QuantMLP([cfg], [5], hidden=(8, 8))
    opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(5)
    for _ in range(2):
        perm = torch.randperm(300, generator=g)
        for s in range(0, 300, 50):
            i = perm[s:s + 50]
            loss = nn.functional.cross_entropy(ref(small.x_train[i])[0], small.y_train[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert torch.allclose(ens.W[0][1], ref.W[0][0], atol=1e-10)
    assert not torch.allclose(ens.W[0][0], ref.W[0][0], atol=1e-3)


@pytest.mark.parametrize("cls", [QuantMLP, QuantCNN])
@pytest.mark.parametrize("norm", ["none", "plain", "affine"])
def test_ensemble_equals_single_models(cls, norm, data):
    cfg = [ActConfig(2, 1 / 3, s) for s in STE_NAMES]
    ens = cls(cfg, [0, 1, 2], norm=norm)
    x = data.x_train[:10]
    out = ens(x)
    assert out.shape == (3, 10, 10)
    for m in range(3):
        single = cls([cfg[m]], [m], norm=norm)
        assert torch.allclose(single(x)[0], out[m], atol=1e-12)
    bn = ens.acts[0].bn
    assert (bn is None) == (norm == "none") and (norm != "none" and bn.affine) == (norm == "affine")


def test_cnn_matches_conv2d():
    net = QuantCNN([ActConfig(4, 1 / 15, "relu")], [5], channels=(3, 4))
    x = torch.randn(7, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    W, b = net.W[0].reshape(3, 1, 3, 3), net.b[0].reshape(3)
    h = nn.functional.max_pool2d(net.acts[0](nn.functional.conv2d(x.reshape(7, 1, 8, 8), W, b, padding=1)), 2)
    W2, b2 = net.W[1].reshape(4, 3, 3, 3), net.b[1].reshape(4)
    h = nn.functional.max_pool2d(net.acts[1](nn.functional.conv2d(h, W2, b2, padding=1)), 2)
    ref = h.reshape(7, -1) @ net.W[2][0].T + net.b[2][0]
    assert torch.allclose(net(x)[0], ref, atol=1e-12)


def test_probe_against_numpy(small):
    """Share of first-layer inputs in (0, (2^b - 1) alpha) and their median |z|, recomputed in NumPy."""
    r = train("mlp", bits=(2,), stes=("relu", "crelu"), seeds=(0,), epochs=1, act_range=1.5, data=small,
              n_probe=100)
    W, b = (t[0].detach().numpy() for t in (r.model.W[0], r.model.b[0]))  # model 0 (relu)
    z = small.x_train[:100].numpy() @ W.T + b
    assert float(r.inside[0, 0, 0, 0, -1]) == pytest.approx(np.mean((z > 0) & (z < 1.5)), abs=1e-12)
    assert float(r.median_abs[0, 0, 0, 0, -1]) == pytest.approx(np.sort(np.abs(z).ravel())[(z.size - 1) // 2])


def test_determinism_and_improvement_over_chance(small):
    kw = dict(bits=(2,), stes=("crelu", "identity"), seeds=(0, 1), epochs=3, data=small)
    a, b = train("mlp", **kw), train("mlp", **kw)
    assert torch.equal(a.test_accuracy, b.test_accuracy) and torch.equal(a.weight_norms, b.weight_norms)
    assert a.test_accuracy.shape == (1, 2, 2, 4) and a.weight_norms.shape == (1, 2, 2, 2, 4)
    assert a.gain_norms is None and not a.diverged.any()
    assert (a.test_accuracy[..., -1] > 0.3).all()  # chance is 0.1
    assert (a.train_loss[..., -1] < a.train_loss[..., 0]).all()
    # record 0 is the cross-entropy of the initial model on the training set (independent recomputation)
    init = QuantMLP([ActConfig(2, 1 / 3, "crelu")], [1], hidden=(32, 32))
    with torch.no_grad():
        ref = nn.functional.cross_entropy(init(small.x_train)[0], small.y_train)
    assert float(a.train_loss[0, 0, 1, 0]) == pytest.approx(float(ref), rel=1e-12)


def test_exploding_finite_loss_is_flagged(data):
    r = train("mlp", bits=(2,), stes=("relu",), seeds=(0,), epochs=6, lr=10.0, data=data)
    loss = r.train_loss[0, 0, 0]
    assert r.diverged.all()
    first = int(torch.nonzero(torch.isnan(loss))[0])  # records after the detection are NaN
    limit = 2.0 * max(float(loss[0]), math.log(10))
    assert torch.isfinite(loss[:first]).all() and float(loss[first - 1]) > limit
    assert (loss[1:first - 1] <= limit).all()
    calm = train("mlp", bits=(2,), stes=("relu",), seeds=(0,), epochs=6, lr=0.05, data=data)
    assert not calm.diverged.any() and torch.isfinite(calm.train_loss).all()
    loose = train("mlp", bits=(2,), stes=("relu",), seeds=(0,), epochs=6, lr=10.0, data=data, diverge_factor=1e6)
    assert not loose.diverged.any()


def test_divergence_limit_has_the_chance_level_floor():
    from stelib.practice import divergence_limit

    got = divergence_limit(torch.tensor([0.05, 2.0, 5.0], dtype=torch.float64), 3.0)
    assert torch.allclose(got, torch.tensor([3 * math.log(10), 3 * math.log(10), 15.0], dtype=torch.float64))


def test_pretrained_start_and_continue_training(small):
    r = train("mlp", bits=(2, 4), stes=("relu", "crelu"), seeds=(0, 3), epochs=1, norm="plain", init="pretrained",
              pre_epochs=2, alpha={2: 0.65, 4: 0.19}, data=small)
    fp = r.pretrained
    assert fp.bits == (0,) and fp.train_loss.shape == (1, 1, 2, 3)
    # every quantized model starts from the full-precision model of its seed
    assert torch.allclose(r.weight_norms[..., 0], fp.weight_norms[0, 0, :, :, -1].expand(2, 2, 2, 2))
    assert r.model.acts[0].bn.affine is False and r.gain_norms is None
    c = continue_training(r, from_ste="crelu", bits=[4], stes=("identity", "crelu"), epochs=1, lr=1e-5, data=small)
    assert c.stes == ("identity", "crelu") and c.bits == (4,) and c.test_accuracy.shape == (1, 2, 2, 2)
    # both copies start where the 4-bit clipped-ReLU models ended (same state, same estimator)
    for j in range(2):
        assert torch.equal(c.test_accuracy[0, j, :, 0], r.test_accuracy[1, 1, :, -1])
        assert torch.allclose(c.train_loss[0, j, :, 0], r.train_loss[1, 1, :, -1], rtol=1e-12)
    assert [cf.ste for cf in c.model.configs] == ["identity"] * 2 + ["crelu"] * 2
    assert all(cf.alpha == 0.19 for cf in c.model.configs)


def test_affine_gain_norms(small):
    r = train("mlp", bits=(1,), stes=("crelu",), seeds=(0,), epochs=1, norm="affine", data=small)
    assert r.gain_norms.shape == (1, 1, 1, 2, 2)
    assert float(r.gain_norms[0, 0, 0, 0, 0]) == pytest.approx(math.sqrt(32))  # gain 1, shift 0 at the start


@pytest.mark.parametrize(("kw", "name"), [
    ({"arch": "rnn"}, "arch"), ({"bits": (0,)}, "bits"), ({"bits": (1, 1)}, "bits"),
    ({"stes": ("sign",)}, "stes"), ({"seeds": (-1,)}, "seeds"), ({"epochs": -1}, "epochs"),
    ({"lr": 0.0}, "lr"), ({"batch_size": 0}, "batch_size"), ({"momentum": 1.0}, "momentum"),
    ({"act_range": -1.0}, "act_range"), ({"norm": "batch"}, "norm"), ({"width": 1}, "width"),
    ({"device": "tpu"}, "device"), ({"init": "zeros"}, "init"), ({"alpha": {1: 0.5}}, "alpha"),
    ({"diverge_factor": 1.0}, "diverge_factor"), ({"pre_epochs": 0}, "pre_epochs"),
    ({"arch": "lenet5"}, "arch"), ({"n_eval": 0}, "n_eval"),
])
def test_bad_arguments(kw, name, small):
    with pytest.raises(ValueError, match=name):
        train(**{"epochs": 0, "bits": (2,), "data": small, **kw})


def test_bad_config_and_fit_arguments(data):
    with pytest.raises(ValueError, match="ste"):
        ActConfig(1, 1.0, "sign")
    with pytest.raises(ValueError, match="alpha"):
        ActConfig(1, 0.0, "relu")
    with pytest.raises(ValueError, match="threads"):
        fit(QuantMLP([ActConfig(1, 1.0, "relu")], [0]), data, epochs=0, lr=0.1, threads=0)
    with pytest.raises(ValueError, match="seed"):
        load_digits_split(-1)
    r = train("mlp", bits=(1,), stes=("relu", "crelu"), seeds=(0,), epochs=0, data=data)
    with pytest.raises(ValueError, match="from_ste"):
        continue_training(r, epochs=0, data=data)
    with pytest.raises(ValueError, match="from_ste"):
        continue_training(r, from_ste="identity", epochs=0, data=data)


@pytest.mark.parametrize("bits", [1.5, None, [2, 2.5]])
def test_train_names_a_bad_bit_width_before_training(bits):
    with pytest.raises(ValueError, match="bits="):
        train("mlp", bits=bits, epochs=1)


def test_progress_bar_over_epochs_only_when_asked(capsys):
    data = load_digits_split(0)
    kw = dict(bits=(1,), stes=("crelu",), seeds=(0,), epochs=2, data=data, n_eval=64, n_probe=16)
    quiet = train("mlp", **kw)
    assert "epochs" not in capsys.readouterr().err
    loud = train("mlp", progress=True, **kw)
    assert "epochs" in capsys.readouterr().err
    assert torch.equal(quiet.train_loss, loud.train_loss)  # the bar changes nothing else
    with pytest.raises(ValueError, match="progress="):
        train("mlp", progress="yes", **kw)
