"""Tests of stelib.bignets and stelib.datasets on synthetic tensors of MNIST's and CIFAR-10's shapes."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from stelib.bignets import NetList, build_net
from stelib.datasets import DATASETS, load_data, synthetic_split
from stelib.practice import train
from stelib.quantnets import ActConfig, QuantAct


@pytest.mark.parametrize(("arch", "dataset"), [("lenet5", "mnist"), ("lenet5", "cifar10"), ("vgg11", "cifar10"),
                                               ("resnet20", "cifar10"), ("resnet20", "mnist")])
def test_forward_shapes_and_quantizers(arch, dataset):
    d = synthetic_split(dataset, n_train=4, n_test=4)
    nets = NetList([ActConfig(2, 0.65, "crelu"), ActConfig(4, 0.19, "relu")], [0, 1], arch=arch, in_shape=d.shape)
    out = nets(d.x_train)
    assert out.shape == (2, 4, 10) and torch.isfinite(out).all()
    n_q = {"lenet5": 4, "vgg11": 8, "resnet20": 19}[arch]
    acts = [a for a in nets.nets[0].modules() if isinstance(a, QuantAct)]
    assert len(acts) == n_q and all(a.bn is not None and not a.bn.affine for a in acts)
    assert nets.weight_norms().shape == (2, len(nets.nets[0].pre)) and nets.gain_norms() is None


def test_seed_fixes_initialisation_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = (build_net("lenet5", ActConfig(2, 0.65, "relu"), s, (1, 28, 28)) for s in (3, 3, 4))
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (next(n.parameters()) for n in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_training_on_synthetic_mnist_and_select():
    d = synthetic_split("mnist", n_train=32, n_test=16)
    r = train("lenet5", bits=(2,), stes=("identity", "crelu"), seeds=(0,), epochs=1, lr=0.01, batch_size=16,
              norm="affine", data=d, init="pretrained", pre_epochs=1, alpha={2: 0.65})
    assert r.test_accuracy.shape == (1, 2, 1, 2) and r.inside.shape == (1, 2, 1, 4, 2)
    assert r.gain_norms.shape == (1, 2, 1, 4, 2) and torch.isfinite(r.train_loss).all()
    copy = r.model.select([1, 1], [ActConfig(2, 0.65, "relu")] * 2)
    r.model.eval()
    copy.eval()
    with torch.no_grad():
        assert torch.allclose(copy(d.x_test)[0], r.model(d.x_test)[1])
    m = train("mlp", bits=(2,), stes=("relu",), seeds=(0,), epochs=1, data=d)  # an MLP on flattened images
    assert m.model.W[0].shape == (1, 32, 784)


def test_bad_architecture_dataset_pairs():
    with pytest.raises(ValueError, match="vgg11"):
        build_net("vgg11", ActConfig(2, 0.65, "relu"), 0, (1, 28, 28))
    with pytest.raises(ValueError, match="cnn"):
        train("cnn", bits=(2,), epochs=0, data=synthetic_split("cifar10", n_train=4, n_test=4))
    with pytest.raises(ValueError, match="arch"):
        build_net("alexnet", ActConfig(2, 0.65, "relu"), 0, (3, 32, 32))


def test_synthetic_shapes():
    for name, shape in DATASETS.items():
        d = synthetic_split(name, n_train=5, n_test=3)
        assert d.x_train.shape == (5, *shape) and d.x_test.shape == (3, *shape) and d.y_train.max() < 10


def test_offline_errors_name_dataset_cache_and_download(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # torchvision not installed
    with pytest.raises(ValueError, match="torchvision"):
        load_data("mnist", cache_dir=tmp_path)

    class Missing:
        def __init__(self, root, train, download):
            assert download is False
            raise RuntimeError("Dataset not found. You can use download=True to download it")

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=Missing, CIFAR10=Missing)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    with pytest.raises(ValueError, match="cifar10") as err:
        load_data("cifar10", cache_dir=tmp_path)
    assert str(tmp_path) in str(err.value) and "download" in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing written
    with pytest.raises(ValueError, match="dataset"):
        load_data("imagenet")
    with pytest.raises(ValueError, match="download"):
        load_data("mnist", download="yes")


def test_cached_dataset_is_standardised(tmp_path, monkeypatch):
    class Fake:
        def __init__(self, root, train, download):
            g = torch.Generator().manual_seed(int(train))
            n = 20 if train else 10
            self.data = torch.randint(0, 256, (n, 32, 32, 3), generator=g, dtype=torch.uint8).numpy()
            self.targets = list(range(10)) * (n // 10)

    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=Fake, CIFAR10=Fake)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    d = load_data("cifar10", cache_dir=tmp_path)
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (10, 3, 32, 32)
    mu = d.x_train.mean(dim=(0, 2, 3))
    sd = d.x_train.std(dim=(0, 2, 3))
    assert torch.allclose(mu, torch.zeros(3), atol=1e-5) and torch.allclose(sd, torch.ones(3), atol=1e-5)
