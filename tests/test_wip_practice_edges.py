"""Edges of the practice chapter's library (datasets, quantnets, practice) against independent references."""

from __future__ import annotations

import dataclasses
import math
import sys
import types

import numpy as np
import pytest
import torch

from stelib import datasets
from stelib.datasets import DATASETS, DataSplit, load_data, load_digits_split, resolve_device, synthetic_split


# ---------------------------------------------------------------- datasets
def test_digits_split_against_numpy():
    """Split by torch.randperm(Generator().manual_seed(seed)), standardised with the training part's
    mean and (n - 1) standard deviation per pixel, constant pixels only centred: NumPy reference."""
    from sklearn.datasets import load_digits

    d = load_digits()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(4)).numpy()
    te, tr = perm[:539], perm[539:]  # round(0.3 * 1797) = 539 test images
    mu, sd = d.data[tr].mean(0), d.data[tr].std(0, ddof=1)
    sd = np.where(sd > 0, sd, 1.0)
    s = load_digits_split(4, test_fraction=0.3)
    assert np.allclose(s.x_train.numpy(), (d.data[tr] - mu) / sd, rtol=0, atol=1e-12)
    assert np.allclose(s.x_test.numpy(), (d.data[te] - mu) / sd, rtol=0, atol=1e-12)
    assert np.array_equal(s.y_train.numpy(), d.target[tr]) and np.array_equal(s.y_test.numpy(), d.target[te])
    assert s.shape == (64,) and s.name == "digits"
    same = load_data("digits", seed=4)
    assert torch.equal(same.x_train, load_digits_split(4).x_train) and same.name == "digits"


def test_split_parameter_bounds_are_inclusive():
    assert load_digits_split(0, test_fraction=0.05).x_test.shape[0] == round(0.05 * 1797)
    assert load_digits_split(2**63 - 1).x_train.shape == (1348, 64)
    for kw, name in (({"seed": 2**63}, "seed"), ({"test_fraction": 0.955}, "test_fraction"),
                     ({"test_fraction": 0.0499}, "test_fraction")):
        with pytest.raises(ValueError, match=name):
            load_digits_split(**{"seed": 0, **kw})


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda") and resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cpu") == torch.device("cpu")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("STELIB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.default_cache_dir() == tmp_path / ".cache" / "stelib"
    monkeypatch.setenv("STELIB_DATA", str(tmp_path / "elsewhere"))
    assert datasets.default_cache_dir() == tmp_path / "elsewhere"


def _fake_torchvision(monkeypatch, seen):
    class Fake:
        def __init__(self, root, train, download):
            seen.append((root, train, download))
            g = np.random.default_rng(1 if train else 2)
            n = 12 if train else 6
            shape = (n, 32, 32, 3) if type(self).__name__ == "CIFAR10" else (n, 28, 28)
            self.data = g.integers(0, 256, shape, dtype=np.uint8)
            self.targets = list(g.integers(0, 10, n))

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=type("MNIST", (Fake,), {}), CIFAR10=type("CIFAR10", (Fake,), {}))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    return fake


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_torchvision_datasets_against_numpy(name, monkeypatch, tmp_path):
    """Images / 255 as (N, C, H, W), standardised per channel with the training statistics (NumPy)."""
    seen = []
    fake = _fake_torchvision(monkeypatch, seen)
    d = load_data(name, cache_dir=tmp_path)
    cls = fake.datasets.MNIST if name == "mnist" else fake.datasets.CIFAR10
    tr, te = cls("x", True, False), cls("x", False, False)
    assert seen[:2] == [(str(tmp_path), True, False), (str(tmp_path), False, False)]

    def nchw(a):
        a = a.astype(np.float64) / 255
        return a[:, None] if a.ndim == 3 else a.transpose(0, 3, 1, 2)

    xa, xb = nchw(tr.data), nchw(te.data)
    mu, sd = xa.mean(axis=(0, 2, 3), keepdims=True), xa.std(axis=(0, 2, 3), ddof=1, keepdims=True)
    assert d.x_train.shape == (12, *DATASETS[name]) and d.x_test.shape == (6, *DATASETS[name])
    assert np.allclose(d.x_train.numpy(), (xa - mu) / sd, atol=1e-4)
    assert np.allclose(d.x_test.numpy(), (xb - mu) / sd, atol=1e-4)
    assert d.y_train.tolist() == tr.targets and d.y_test.tolist() == te.targets and d.name == name
    load_data(name, cache_dir=tmp_path, download=True)
    assert seen[-1][2] is True


def test_dataset_shapes_and_synthetic_labels():
    assert DATASETS == {"digits": (64,), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}  # the datasets' images
    s = synthetic_split("digits", n_train=2000, n_test=5, seed=0)
    assert set(s.y_train.tolist()) == set(range(10))  # uniform labels in [0, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "mnist"
    assert isinstance(s, DataSplit)


# ---------------------------------------------------------------- quantnets
from stelib.quantnets import ActConfig, QuantAct, QuantCNN, QuantMLP  # noqa: E402


def _draws(seed, shapes):
    """U(-bound, bound) tensors drawn in order from Generator().manual_seed(seed) (the init's law)."""
    g = torch.Generator().manual_seed(seed)
    return [(2 * torch.rand(s, generator=g, dtype=torch.float64) - 1) * bound for s, bound in shapes]


def test_mlp_initialisation_of_every_layer():
    """Per model, W and b of layer l ~ U(+-1/sqrt(fan_in)) in the order W0, b0, W1, b1, ..."""
    net = QuantMLP([ActConfig(2, 0.5, "relu")] * 2, [3, 8], hidden=(5, 6))
    for m, s in enumerate((3, 8)):
        ref = _draws(s, [((5, 64), 1 / 8), ((5,), 1 / 8), ((6, 5), 1 / math.sqrt(5)), ((6,), 1 / math.sqrt(5)),
                         ((10, 6), 1 / math.sqrt(6)), ((10,), 1 / math.sqrt(6))])
        got = [p[m] for pair in zip(net.W, net.b, strict=True) for p in pair]
        assert all(torch.equal(a.detach(), b) for a, b in zip(got, ref, strict=True))


def test_cnn_initialisation_of_every_layer():
    net = QuantCNN([ActConfig(2, 0.5, "relu")] * 2, [4, 9], channels=(3, 5))
    for m, s in enumerate((4, 9)):
        ref = _draws(s, [((3, 9), 1 / 3), ((3,), 1 / 3), ((5, 27), 1 / math.sqrt(27)), ((5,), 1 / math.sqrt(27)),
                         ((10, 20), 1 / math.sqrt(20)), ((10,), 1 / math.sqrt(20))])
        got = [p[m] for pair in zip(net.W, net.b, strict=True) for p in pair]
        assert all(torch.equal(a.detach(), b) for a, b in zip(got, ref, strict=True))


def _probe_ref(z, configs, features):
    """NumPy: per model, share of its inputs in (0, (2^b - 1) alpha) and median |z| (lower middle)."""
    z = z.numpy()
    out = []
    for m, c in enumerate(configs):
        zm = z[:, m * features:(m + 1) * features].ravel()
        a = np.sort(np.abs(zm))
        out.append((np.mean((zm > 0) & (zm < (2**c.bits - 1) * c.alpha)), a[(a.size - 1) // 2]))
    return np.array(out)


def test_probe_per_model_with_exact_window_edges():
    cfg = (ActConfig(2, 0.5, "relu"), ActConfig(1, 0.25, "crelu"), ActConfig(4, 0.1, "identity"))
    act = QuantAct(cfg, 2)
    x = torch.tensor([[0.0, 1.5, 0.25, 0.1, 1.5, -3.0],
                      [1.0, -2.0, 0.3, 2.0, 0.0, 1.4],
                      [7.0, 0.5, -0.1, 0.2, 1.2, 0.7]], dtype=torch.float64)
    act(x)
    assert act.stats is None  # only a probe pass stores statistics
    act.probe = True
    act(x)
    assert np.allclose(act.stats.numpy(), _probe_ref(x, cfg, 2), rtol=0, atol=1e-15)
    # exactly 0 and exactly (2^b - 1) alpha are outside the open window: model 0 has 2 of 6 inside
    assert float(act.stats[0, 0]) == pytest.approx(2 / 6)


def test_probe_of_spatial_inputs_is_per_model():
    cfg = (ActConfig(2, 0.5, "relu"), ActConfig(2, 0.2, "relu"))
    act = QuantAct(cfg, 3, spatial=True)
    act.probe = True
    x = torch.randn(4, 6, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    act(x)
    ref = _probe_ref(x.permute(0, 2, 3, 1).reshape(-1, 6), cfg, 3)
    assert np.allclose(act.stats.numpy(), ref, rtol=0, atol=1e-15)


def test_norms_against_numpy_and_gain_of_one_layer():
    net = QuantMLP([ActConfig(2, 0.5, "relu")] * 3, [0, 1, 2], hidden=(4,), norm="affine")
    with torch.no_grad():
        net.acts[0].bn.weight.copy_(torch.arange(12, dtype=torch.float64))
    W, b = net.W[0].detach().numpy(), net.b[0].detach().numpy()
    ref = np.sqrt((W**2).sum(axis=(1, 2)) + (b**2).sum(axis=1))
    assert np.allclose(net.weight_norms().numpy(), ref[:, None], rtol=1e-14)
    gains = np.arange(12.0).reshape(3, 4)
    assert np.allclose(net.gain_norms().numpy(), np.sqrt((gains**2).sum(1))[:, None], rtol=1e-14)
    assert QuantMLP([ActConfig(2, 0.5, "relu")], [0], norm="plain").gain_norms() is None


def test_select_gives_the_new_quantizer():
    """A quantized copy of a full-precision model quantizes and probes with its own window."""
    fp = QuantMLP([ActConfig(0, 1.0, "relu")] * 2, [0, 1], hidden=(6, 6), norm="plain")
    fp(torch.randn(20, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))  # BN statistics
    cfg = ActConfig(2, 0.5, "crelu")
    q = fp.select([1, 1, 0], [cfg] * 3)
    assert q.seeds == (1, 1, 0) and q.configs == (cfg,) * 3
    q.eval()
    fp.eval()
    x = torch.randn(5, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    z = q.acts[0].bn(torch.baddbmm(q.b[0][:, None, :], x.expand(3, 5, 64), q.W[0].transpose(1, 2))
                     .transpose(0, 1).reshape(5, 18))
    zf = fp.acts[0].bn(torch.baddbmm(fp.b[0][:, None, :], x.expand(2, 5, 64), fp.W[0].transpose(1, 2))
                       .transpose(0, 1).reshape(5, 12))
    assert torch.allclose(z[:, :6], zf[:, 6:]) and torch.allclose(z[:, 12:], zf[:, :6])
    q.acts[0].probe = True
    with torch.no_grad():
        q(x)
    assert np.allclose(q.acts[0].stats.numpy(), _probe_ref(z.detach(), [cfg] * 3, 6), atol=1e-15)


def test_quantnets_bad_arguments():
    assert ActConfig(16, 1.0, "relu").upper == 2**16 - 1
    for make, name in ((lambda: ActConfig(17, 1.0, "relu"), "bits"),
                       (lambda: QuantMLP([ActConfig(1, 1.0, "relu")], [0, 1]), "seeds"),
                       (lambda: QuantMLP([ActConfig(1, 1.0, "relu")], [0], hidden=(4097,)), "hidden"),
                       (lambda: QuantCNN([ActConfig(1, 1.0, "relu")], [0], channels=(3,)), "channels"),
                       (lambda: QuantCNN([ActConfig(1, 1.0, "relu")], [0], channels=(3, 4, 5)), "channels"),
                       (lambda: QuantCNN([ActConfig(1, 1.0, "relu")], [0], channels=(513, 4)), "channels")):
        with pytest.raises(ValueError, match=name):
            make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ActConfig(1, 1.0, "relu").bits = 2
