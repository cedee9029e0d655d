"""Edges of the practice chapter's library (datasets, quantnets, practice) against independent references."""

from __future__ import annotations

import dataclasses
import math
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

import stelib.core._closedform as cf
from stelib import datasets, practice
from stelib.datasets import DATASETS, DataSplit, load_data, load_digits_split, resolve_device, synthetic_split
from stelib.practice import continue_training, fit, train
from stelib.quantnets import ActConfig, QuantAct, QuantCNN, QuantMLP


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
    cfg = ActConfig(2, 0.1, "crelu")  # window (0, 0.3): part of the normalised inputs lie above it
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
    ref = _probe_ref(z.detach(), [cfg] * 3, 6)
    assert np.allclose(q.acts[0].stats.numpy(), ref, atol=1e-15) and bool((z >= 0.3).any())


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


# ---------------------------------------------------------------- practice
@pytest.fixture(scope="module")
def digits():
    return load_digits_split(0)


@pytest.fixture(scope="module")
def tiny(digits):
    """120 training images, the full test set (449 > one evaluation chunk of 256)."""
    return DataSplit(digits.x_train[:120], digits.y_train[:120], digits.x_test, digits.y_test)


def test_final_is_the_mean_and_sd_over_seeds_of_the_last_record(tiny):
    r = train("mlp", bits=(2,), stes=("relu",), seeds=(0,), epochs=0, data=tiny, width=4)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fake = dataclasses.replace(r, train_loss=x, test_accuracy=-x)
    mean, sd = fake.final("train_loss")
    assert np.allclose(mean.numpy(), x[..., -1].numpy().mean(-1)) and mean.shape == (2, 3)
    assert np.allclose(sd.numpy(), x[..., -1].numpy().std(-1, ddof=1))
    assert np.allclose(fake.final()[0].numpy(), -x[..., -1].numpy().mean(-1))
    two = dataclasses.replace(r, train_loss=x[..., :2, :])
    assert np.allclose(two.final("train_loss")[1].numpy(), x[..., :2, -1].numpy().std(-1, ddof=1))
    one = dataclasses.replace(r, train_loss=x[..., :1, :])  # one seed: sd 0, not NaN
    mean, sd = one.final("train_loss")
    assert torch.equal(mean, x[..., 0, -1]) and torch.equal(sd, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.arch = "cnn"


def test_accuracy_counts_every_test_image(tiny):
    """Labels set to an independently built model's predictions: record 0's accuracy is exactly 1."""
    ref = QuantMLP([ActConfig(2, 1 / 3, "relu")], [4], hidden=(8, 8))
    with torch.no_grad():
        pred = ref(tiny.x_test)[0].argmax(-1)
    d = DataSplit(tiny.x_train, tiny.y_train, tiny.x_test, pred)
    r = train("mlp", bits=(2,), stes=("relu",), seeds=(4,), epochs=0, data=d, width=8)
    assert float(r.test_accuracy[0, 0, 0, 0]) == 1.0
    flipped = DataSplit(tiny.x_train, tiny.y_train, tiny.x_test, torch.cat([(pred[:1] + 1) % 10, pred[1:]]))
    r = train("mlp", bits=(2,), stes=("relu",), seeds=(4,), epochs=0, data=flipped, width=8)
    assert float(r.test_accuracy[0, 0, 0, 0]) == pytest.approx(448 / 449, abs=1e-15)
    # the model's last probe is the one recorded last
    stats = r.model.probe_stats()
    assert torch.equal(stats[0, :, 0], r.inside[0, 0, 0, :, -1])
    assert torch.equal(stats[0, :, 1], r.median_abs[0, 0, 0, :, -1])


def test_loss_is_measured_on_exactly_the_first_n_eval_images(tiny):
    net = QuantMLP([ActConfig(2, 1 / 3, "crelu")], [2], hidden=(4, 4))
    with torch.no_grad():
        ref = nn.functional.cross_entropy(net(tiny.x_train[:39])[0], tiny.y_train[:39])
    h = fit(net, tiny, epochs=0, lr=0.1, n_eval=39)
    assert float(h["train_loss"][0, 0]) == pytest.approx(float(ref), rel=1e-12)


def test_non_finite_minibatch_loss_stops_the_gradient(tiny):
    """Full precision, one NaN image outside the n_eval images that measure the loss: the one
    full batch that contains it is not applied, the run is flagged, its loss stays the initial one."""
    x = tiny.x_train[:40].clone()
    x[-1] = math.nan
    d = DataSplit(x, tiny.y_train[:40], tiny.x_test[:20], tiny.y_test[:20])
    net = QuantMLP([ActConfig(0, 1.0, "relu")], [0], hidden=(4, 4))
    h = fit(net, d, epochs=1, lr=0.1, batch_size=40, n_eval=39, n_probe=39)
    assert h["diverged"].all() and float(h["train_loss"][0, 1]) == float(h["train_loss"][0, 0])
    assert torch.isfinite(h["weight_norms"]).all()


def test_gpu_path_zeroes_non_finite_gradients_as_the_cpu_path(tiny, monkeypatch):
    """On a GPU the trainer zeroes non-finite gradient entries at every step without asking
    first; the same records as the CPU's path, which zeroes only after a non-finite loss. Three
    models, one of which blows up (lr) while the others train on."""
    d = DataSplit(tiny.x_train[:40], tiny.y_train[:40], tiny.x_test[:20], tiny.y_test[:20])
    cfg = [ActConfig(2, 1 / 3, "crelu"), ActConfig(0, 1.0, "relu"), ActConfig(2, 1 / 3, "identity")]
    runs = []
    for device_path in (False, True):
        monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", device_path)
        net = QuantMLP(cfg, [0, 1, 2], hidden=(4, 4))
        with torch.no_grad():
            net.W[0][1].mul_(1e300)  # model 1's first layer overflows in float64
        runs.append(fit(net, d, epochs=2, lr=0.1, batch_size=8))
    cpu, gpu = runs
    assert cpu["diverged"].tolist() == [False, True, False]
    for k in ("train_loss", "test_accuracy", "weight_norms", "diverged"):
        assert torch.equal(cpu[k].nan_to_num(-1.0), gpu[k].nan_to_num(-1.0)), k


def test_divergence_needs_the_loss_above_the_limit(tiny):
    """A recorded loss exactly at factor x max(initial, ln 10) is not divergence; one ulp above is."""
    kw = dict(bits=(2,), stes=("relu",), seeds=(0,), epochs=1, lr=10.0, data=tiny, width=8)
    free = train("mlp", diverge_factor=1e6, **kw)
    l0, l1 = (float(v) for v in free.train_loss[0, 0, 0])
    base = max(l0, math.log(10))
    assert l1 > base
    f = l1 / base
    while f * base != l1:
        f = math.nextafter(f, math.inf if f * base < l1 else 0.0)
    assert not train("mlp", diverge_factor=f, **kw).diverged.any()
    assert train("mlp", diverge_factor=math.nextafter(f, 0.0), **kw).diverged.all()


def test_threads_inside_fit_and_restored(tiny):
    class Spy(QuantMLP):
        def forward(self, x):
            self.seen.add(torch.get_num_threads())
            return super().forward(x)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for threads, want in ((1, {1}), (None, {2}), (3, {3})):
            net = Spy([ActConfig(1, 1.0, "relu")], [0], hidden=(4, 4))
            net.seen = set()
            fit(net, tiny, epochs=1, lr=0.1, batch_size=60, threads=threads)
            assert net.seen == want and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        fit(QuantMLP([ActConfig(1, 1.0, "relu")], [0], hidden=(4, 4)), tiny, epochs=0, lr=0.1, threads=257)


def test_practice_bounds_are_inclusive(tiny):
    practice._check_common(10_000, 10.0, 100_000, 0.0, 1e6)
    practice._check_common(0, 1e-9, 1, 0.5, 1.005)
    for args, name in (((10_001, 0.1, 1, 0.5), "epochs"), ((1, 10.05, 1, 0.5), "lr"),
                       ((1, 0.1, 100_001, 0.5), "batch_size"), ((1, 0.1, 1, 0.5, 1.005e6), "diverge_factor")):
        with pytest.raises(ValueError, match=name):
            practice._check_common(*args)
    kw = dict(stes=("relu",), epochs=0, data=tiny)
    r = train("mlp", bits=8, seeds=2**63 - 1, width=2, **kw)
    assert r.bits == (8,) and r.seeds == (2**63 - 1,) and r.model.W[0].shape == (1, 2, 64)
    for bad, name in (({"bits": 9}, "bits"), ({"seeds": 2**63}, "seeds"), ({"width": 1025}, "width"),
                      ({"pre_epochs": 10_001}, "pre_epochs")):
        with pytest.raises(ValueError, match=name):
            train("mlp", **{"bits": 2, "seeds": 0, **kw, **bad})


def test_defaults_and_single_values(tiny):
    r = train("mlp", bits=np.int64(2), stes="relu", seeds=np.int64(3), epochs=0, data=tiny)
    assert (r.bits, r.stes, r.seeds) == ((2,), ("relu",), (3,)) and r.model.W[0].shape == (1, 32, 64)
    assert r.alphas == {2: 1 / 3}
    c = train("cnn", bits=(1,), stes=("relu",), seeds=(0,), epochs=0, data=tiny)
    assert c.model.W[0].shape == (1, 8, 9) and c.model.W[1].shape == (1, 16, 72)
    # continue_training of a single-STE result: from_ste defaults to it, bits to all of them
    k = continue_training(r, stes=("crelu",), epochs=0, data=tiny)
    assert k.stes == ("crelu",) and k.bits == (2,) and torch.equal(k.train_loss[..., 0], r.train_loss[..., -1])


def test_pretrained_network_is_full_precision(tiny):
    r = train("mlp", bits=(2,), stes=("relu",), seeds=(0, 1), epochs=0, data=tiny, init="pretrained",
              pre_epochs=1, width=4)
    fp = r.pretrained
    assert fp.alphas == {0: math.inf} and fp.bits == (0,)
    x = torch.linspace(-3, 3, 16, dtype=torch.float64).reshape(2, 8)
    assert torch.equal(fp.model.acts[0](x), torch.relu(x))


def test_cnn_takes_flat_or_1x8x8_digits(tiny):
    img = DataSplit(tiny.x_train.reshape(-1, 1, 8, 8), tiny.y_train, tiny.x_test.reshape(-1, 1, 8, 8),
                    tiny.y_test)
    kw = dict(bits=(2,), stes=("relu",), seeds=(0, 1), epochs=1, width=4)
    a, b = train("cnn", data=img, **kw), train("cnn", data=tiny, **kw)
    assert torch.equal(a.train_loss, b.train_loss) and torch.equal(a.test_accuracy, b.test_accuracy)


def test_progress_bar_is_removed_when_done(tiny, capsys):
    train("mlp", bits=(1,), stes=("relu",), seeds=(0,), epochs=1, data=tiny, width=4, progress=True)
    err = capsys.readouterr().err
    assert "epochs" in err and not err.endswith("\n")


def test_refresh_batchnorm_sets_the_statistics_of_the_current_weights():
    """After the refresh, evaluation mode normalises with the mean and (unbiased) variance of the
    given images at the current weights, whatever the running averages held before; chunked
    passes average the chunks; a model without batch normalisation is untouched."""
    import torch
    from torch import nn

    from stelib.practice import refresh_batchnorm

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4, dtype=torch.float64), nn.BatchNorm1d(4, affine=False, dtype=torch.float64))
    x = torch.randn(300, 5, dtype=torch.float64) * 3 + 1
    net[1].running_mean.fill_(7.0)
    net.train()
    refresh_batchnorm(net, x)
    z = net[0](x).detach()
    torch.testing.assert_close(net[1].running_mean, z.mean(0))
    torch.testing.assert_close(net[1].running_var, z.var(0, unbiased=True))
    assert net.training and net[1].momentum == 0.1
    refresh_batchnorm(net, x, chunk=100)
    torch.testing.assert_close(net[1].running_mean, z.mean(0))  # equal chunks: the same mean
    net.eval()
    refresh_batchnorm(net, x)
    assert not net.training
    plain = nn.Linear(5, 4)
    before = [p.clone() for p in plain.parameters()]
    refresh_batchnorm(plain, x.float())
    assert all(torch.equal(a, b) for a, b in zip(before, plain.parameters(), strict=True))
