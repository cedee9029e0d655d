"""Tests of stelib.bignets and stelib.datasets on synthetic tensors of MNIST's and CIFAR-10's shapes."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from stelib.bignets import BatchedNets, NetList, _batched, build_net
from stelib.datasets import DATASETS, load_data, synthetic_split
from stelib.practice import fit, train
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


# ------------------------------------------------------------------------------------------
# BatchedNets: the M models as one computation, against NetList (one module after another)
# ------------------------------------------------------------------------------------------
# Tolerance. The batched form computes the same sums as the sequential one, possibly in another
# order (a grouped convolution, a batched product). In float64 (unit roundoff 1.1e-16) a
# reordered sum of at most 3*3*512 = 4608 terms is off by < 4608 * 1.1e-16 ~ 5e-13 of the sum
# of |terms|, and ~20 layers (batch normalisation rescales to O(1) each time) give < 1e-11 on
# logits, gradients and parameters of O(1): atol 1e-10 leaves a margin of 10. A quantizer flip
# (z within the rounding error of a step k alpha) would need |z - k alpha| < 1e-11, of
# probability ~ 1e-11 / alpha per activation: none in these ~10^6 activations. Any real error
# (a wrong slice of a weight, statistics shared between models, a model's config applied to
# another) changes logits by far more than 1e-3. Float32 is compared with continuous
# (full-precision ReLU) models only: with quantizers a float32 difference of 1e-7 may flip one
# activation by a whole step alpha, legitimately. There the bound is 1e-4 relative to the
# largest entry of the model's logits, gradients and parameters (float32 roundoff 6e-8 x 4608
# terms x 20 layers; measured: 3e-6), with batches of B >= 4: a batch normalisation over two
# samples maps each feature to about +-1 and its gradient grows like 1/|z_1 - z_2|, which turns
# float32 reordering into relative gradient differences of 1e-3 (measured on LeNet-5, B = 2).
TOL64 = 1e-10
MIXED = [ActConfig(2, 0.65, "crelu"), ActConfig(4, 0.19, "relu"), ActConfig(0, 1.0, "relu")]
SHAPES = {"lenet5": (1, 16, 16), "vgg11": (3, 32, 32), "resnet20": (3, 12, 12)}


def _step(model, x, y, lr=0.1):
    """One SGD step (momentum 0.9) of every model on its own batch, as practice.fit does."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    logits = model(x)
    nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum().backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    opt.step()
    return logits.detach(), grads


def _max_diff(batched, seq):
    """Largest |difference| between model m of the two forms, over every parameter and BN statistic."""
    out = 0.0
    for m, net in enumerate(seq.nets):
        mine, ref = batched.net(m).layers.state_dict(), net.layers.state_dict()
        assert mine.keys() == ref.keys()
        out = max(out, *((mine[k].double() - ref[k].double()).abs().max().item() for k in ref))
    return out


@pytest.mark.parametrize("arch", ["lenet5", "vgg11", "resnet20"])
def test_batched_equals_sequential_forward_and_sgd_step_float64(arch):
    shape, B = SHAPES[arch], 2
    cfg, seeds = (MIXED[::2], [0, 0]) if arch == "vgg11" else (MIXED, [0, 1, 0])  # VGG: 2 models, to stay fast
    M = len(cfg)
    seq = NetList(cfg, seeds, arch=arch, in_shape=shape, norm="affine" if arch == "lenet5" else "plain")
    seq.double()
    bat = BatchedNets.from_netlist(seq)
    assert isinstance(bat, BatchedNets) and bat.M == M and next(bat.parameters()).dtype == torch.float64
    assert _max_diff(bat, seq) == 0.0  # the same initialisation, copied exactly
    g = torch.Generator().manual_seed(1)
    x = torch.randn(M, B, *shape, generator=g, dtype=torch.float64)  # each model its own batch
    y = torch.randint(0, 10, (M, B), generator=g)
    out_s, grad_s = _step(seq, x, y)
    out_b, grad_b = _step(bat, x, y)
    assert out_b.shape == (M, B, 10) and torch.allclose(out_b, out_s, rtol=0, atol=TOL64)
    assert not torch.allclose(out_s[0], out_s[-1], atol=1e-3)  # first and last: same seed, other quantizer
    for k, gb in grad_b.items():  # model m's gradient is slice m of the batched one
        for m in range(M):
            gs = grad_s[f"nets.{m}.{k}"]
            assert torch.allclose(gb.reshape(M, -1)[m], gs.flatten(), rtol=0, atol=TOL64), k
    assert _max_diff(bat, seq) < TOL64  # parameters, momentum-updated, and BN running statistics
    with torch.no_grad():  # a shared batch (B, C, H, W), in evaluation mode
        seq.eval()
        bat.eval()
        xs = x[0]
        assert torch.allclose(bat(xs), seq(xs), rtol=0, atol=TOL64)


@pytest.mark.parametrize("arch", ["lenet5", "vgg11", "resnet20"])
def test_batched_equals_sequential_float32_full_precision(arch):
    shape, fp, B = SHAPES[arch], [ActConfig(0, 1.0, "relu")] * 2, 4 if arch == "vgg11" else 8
    seq = NetList(fp, [0, 1], arch=arch, in_shape=shape)
    bat = BatchedNets(fp, [0, 1], arch=arch, in_shape=shape)  # built from the seeds: the same weights
    assert _max_diff(bat, seq) == 0.0
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(2, B, *shape, generator=g), torch.randint(0, 10, (2, B), generator=g)
    out_s, grad_s = _step(seq, x, y)
    out_b, grad_b = _step(bat, x, y)
    assert torch.allclose(out_b, out_s, rtol=0, atol=1e-4 * out_s.abs().max().item())
    for m in range(2):
        gs = torch.cat([grad_s[f"nets.{m}.{k}"].flatten() for k in grad_b])
        gb = torch.cat([v.reshape(2, -1)[m] for v in grad_b.values()])
        assert (gb - gs).abs().max() < 1e-4 * gs.abs().max()
    assert _max_diff(bat, seq) < 1e-4 * max(p.abs().max().item() for p in seq.parameters())


def test_batched_interface_matches_netlist():
    d = synthetic_split("mnist", n_train=4, n_test=4)
    cfg = [ActConfig(2, 0.65, "crelu"), ActConfig(4, 0.19, "relu")]
    seq = NetList(cfg, [3, 4], arch="lenet5", in_shape=d.shape, norm="affine")
    bat = BatchedNets(cfg, [3, 4], arch="lenet5", in_shape=d.shape, norm="affine")
    assert torch.equal(bat.weight_norms(), seq.weight_norms()) and bat.weight_norms().shape == (2, 4)
    assert torch.allclose(bat.gain_norms(), seq.gain_norms()) and bat.gain_norms().shape == (2, 4)
    for mod in (seq, bat):
        for a in mod.modules():
            if isinstance(a, QuantAct):
                a.probe = True
        with torch.no_grad():
            mod(d.x_train)
    assert bat.probe_stats().shape == (2, 4, 2) and torch.allclose(bat.probe_stats(), seq.probe_stats())
    new = bat.select([1, 1, 0], [ActConfig(2, 0.65, "relu")] * 3)  # copies: weights and seeds
    assert isinstance(new, BatchedNets) and new.seeds == (4, 4, 3) and new.M == 3
    assert torch.equal(new.weight_norms(), bat.weight_norms()[[1, 1, 0]])
    assert [a.configs for a in new.acts][0] == tuple([ActConfig(2, 0.65, "relu")] * 3)
    assert BatchedNets(cfg, [3, 4], arch="lenet5", in_shape=d.shape, norm="none").gain_norms() is None
    assert [len(BatchedNets(cfg[:1], [0], arch=a, in_shape=(3, 32, 32)).acts) for a in ("vgg11", "resnet20")] \
        == [8, 19]


def test_a_model_trained_alone_follows_its_trajectory_in_the_ensemble():
    """fit on float64 ensembles: model 1 of three, the same model alone, and the NetList."""
    d = synthetic_split("mnist", n_train=16, n_test=8, dtype=torch.float64)
    d = type(d)(d.x_train[:, :, :16, :16].contiguous(), d.y_train, d.x_test[:, :, :16, :16].contiguous(),
                d.y_test, "mnist")
    kw = dict(arch="lenet5", in_shape=(1, 16, 16), norm="plain")
    fit_kw = dict(epochs=1, lr=0.05, batch_size=8, n_probe=8)
    three = BatchedNets(MIXED, [0, 1, 2], **kw).double()
    alone = BatchedNets(MIXED[1:2], [1], **kw).double()
    seq = NetList(MIXED, [0, 1, 2], **kw).double()
    h3, h1, hs = (fit(m, d, **fit_kw) for m in (three, alone, seq))
    for k in ("train_loss", "test_accuracy", "weight_norms", "probe"):
        assert torch.allclose(h3[k][1], h1[k][0], rtol=0, atol=TOL64), k
        assert torch.allclose(h3[k], hs[k], rtol=0, atol=TOL64), k
    assert not torch.allclose(h3["weight_norms"][:, 0], h3["weight_norms"][:, -1])  # it did train
    r = train("lenet5", bits=(2,), stes=("crelu",), seeds=(0,), epochs=0, data=synthetic_split("mnist", n_train=4,
                                                                                               n_test=4))
    assert isinstance(r.model, BatchedNets)


def test_mixed_precision_option():
    shape, fp = (1, 16, 16), [ActConfig(0, 1.0, "relu"), ActConfig(2, 0.65, "crelu")]
    plain = BatchedNets(fp, [0, 1], arch="lenet5", in_shape=shape)
    fast = BatchedNets(fp, [0, 1], arch="lenet5", in_shape=shape, mixed_precision=True)
    assert not plain.mixed_precision and plain.layers[0].weight.is_contiguous()
    assert fast.layers[3].weight.is_contiguous(memory_format=torch.channels_last)  # 6 -> 16 channels
    assert not fast.layers[3].weight.is_contiguous()
    x = torch.randn(4, *shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = plain(x), fast(x)
    assert b.dtype == torch.float32 and a.dtype == torch.float32
    err = ((a[0] - b[0]).norm() / a[0].norm()).item()  # the full-precision model: bf16 products
    assert 0 < err < 0.05, err  # numerics changed, by about bf16's 2^-8 relative precision
    y = torch.randint(0, 10, (2, 4), generator=torch.Generator().manual_seed(4))
    _step(fast, x, y)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in fast.parameters())
    again = BatchedNets.from_netlist(NetList(fp, [0, 1], arch="lenet5", in_shape=shape), mixed_precision=True)
    assert again.mixed_precision and again.kwargs["mixed_precision"]
    assert torch.equal(again.layers[0].weight, plain.layers[0].weight)
    assert fast.select([0], fp[:1]).mixed_precision  # the option travels with select
    with pytest.raises(ValueError, match="mixed_precision"):
        BatchedNets(fp, [0, 1], arch="lenet5", in_shape=shape, mixed_precision="yes")


def test_batched_bad_inputs():
    bat = BatchedNets(MIXED[:2], [0, 1], arch="lenet5", in_shape=(1, 16, 16))
    for bad in (torch.zeros(2, 1, 28, 28), torch.zeros(3, 2, 1, 16, 16), torch.zeros(16, 16)):
        with pytest.raises(ValueError, match=r"x must be \(B, 1, 16, 16\) or \(2, B, 1, 16, 16\)"):
            bat(bad)
    for m in (-1, 2):
        with pytest.raises(ValueError, match="m"):
            bat.net(m)
    with pytest.raises(ValueError, match="seeds"):
        BatchedNets(MIXED, [0, 1], arch="lenet5", in_shape=(1, 16, 16))
    with pytest.raises(ValueError, match="arch"):
        BatchedNets(MIXED, [0, 1, 2], arch="alexnet", in_shape=(3, 32, 32))
    with pytest.raises(TypeError, match="Conv2d"):
        _batched(nn.Conv2d(2, 4, 3, groups=2), tuple(MIXED))
    with pytest.raises(TypeError, match="ReLU"):
        _batched(nn.ReLU(), tuple(MIXED))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("arch", ["lenet5", "vgg11", "resnet20"])
def test_batched_on_cuda_and_mixed_precision(arch):
    """On a GPU: the batched and sequential forms agree up to cuDNN's TF32 convolutions (10-bit
    mantissa, on by default: 1e-2 of the largest logit), and a bf16 + channels-last step runs."""
    shape, fp, B = SHAPES[arch], [ActConfig(0, 1.0, "relu")] * 2, 8
    seq = NetList(fp, [0, 1], arch=arch, in_shape=shape).cuda()
    bat = BatchedNets.from_netlist(seq)
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(2, B, *shape, generator=g).cuda(), torch.randint(0, 10, (2, B), generator=g).cuda()
    out_s, _ = _step(seq, x, y)
    out_b, _ = _step(bat, x, y)
    assert torch.allclose(out_b, out_s, rtol=0, atol=1e-2 * out_s.abs().max().item())
    fast = BatchedNets(fp, [0, 1], arch=arch, in_shape=shape, mixed_precision=True).cuda()
    ref = BatchedNets(fp, [0, 1], arch=arch, in_shape=shape).cuda()
    out_f, _ = _step(fast, x, y)
    out_r, _ = _step(ref, x, y)
    assert out_f.dtype == torch.float32 and 0 < ((out_f - out_r).norm() / out_r.norm()).item() < 0.1
    assert all(torch.isfinite(p).all() for p in fast.parameters())
