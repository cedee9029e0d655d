"""The STE registry: register / names / unregister, errors, and a test-registered STE used
everywhere an STE name is accepted, each time against an independent NumPy reference."""

import numpy as np
import pytest
import torch

from stelib import misspecified as ms
from stelib import montecarlo, network, plotting, ste
from stelib.gaussian import YinModel
from stelib.params import Module, Seq, SteName, validate
from stelib.practice import ActConfig, QuantMLP
from stelib.quantnets import QuantAct
from stelib.train import population_cgd, stochastic_cgd

NAME = "test_window"


def np_window(x):
    """mu'(x) = 1{-0.5 < x < 2} + 0.5 * 1{2 <= x < 3}: a test surrogate, written independently."""
    x = np.asarray(x, dtype=float)
    return ((x > -0.5) & (x < 2)).astype(float) + 0.5 * ((x >= 2) & (x < 3))


def torch_window(x):
    return ((x > -0.5) & (x < 2)).to(x.dtype) + 0.5 * ((x >= 2) & (x < 3)).to(x.dtype)


@pytest.fixture
def window():
    ste.register(NAME, torch_window, description="test window", breakpoints=(-0.5, 2.0, 3.0))
    yield NAME
    ste.unregister(NAME)


def test_catalogue_is_registered_with_the_exact_derivatives():
    assert ste.names()[:6] == ("identity", "relu", "crelu", "hardtanh", "approxsign", "sigmoid")
    x = np.linspace(-3, 3, 601)
    ref = {"hardtanh": (np.abs(x) < 1).astype(float), "approxsign": np.maximum(0, 2 - 2 * np.abs(x)),
           "sigmoid": 1 / (1 + np.exp(-x)) * (1 - 1 / (1 + np.exp(-x)))}
    for name, r in ref.items():
        np.testing.assert_allclose(ste.surrogate_derivative(x, name).numpy(), r, rtol=1e-14, atol=1e-15)
    assert ste.surrogate_derivative([1.0, -1.0], "hardtanh").tolist() == [0.0, 0.0]  # strict
    t = 2.5
    np.testing.assert_allclose(ste.sigmoid_derivative(t)(torch.tensor(x)).numpy(),
                               np.exp(-x / t) / (1 + np.exp(-x / t)) ** 2 / t, rtol=1e-13)
    # the chapter "proper" lists them as f"{name:>10}: {description}", within 88 columns
    assert ste.get("hardtanh").description == (
        "window of the sign STE (BinaryNet, larq ste_sign) at 0, mu'(x) = 1{|x| < 1}")
    assert all(len(f"{s:>10}: {ste.get(s).description}") <= 88 for s in ste.names()[:6])


def test_registered_ste_in_binary_step_and_quantized_relu(window):
    x0 = np.array([-1.0, -0.5, -0.2, 0.0, 0.3, 1.99, 2.0, 3.5])
    x = torch.tensor(x0, requires_grad=True)
    y = ste.binary_step(x, window)
    np.testing.assert_array_equal(y.detach().numpy(), (x0 > 0).astype(float))
    y.backward(torch.arange(8.0, dtype=torch.float64))
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(8.0) * np_window(x0))
    x = torch.tensor(x0, requires_grad=True)  # 2 bits, alpha 0.5: range U = 1.5, mu'(x / U)
    ste.quantized_relu(x, 2, 0.5, ste=window).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np_window(x0 / 1.5))


def test_registered_ste_in_network_coarse_gradients(window):
    g = torch.Generator().manual_seed(1)
    Z = torch.randn(50, 3, 2, generator=g, dtype=torch.float64)
    v, w, y = torch.randn(3, dtype=torch.float64), torch.tensor([0.7, -1.3], dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    Zn, vn, wn, yn = Z.numpy(), v.numpy(), w.numpy(), y.numpy()
    pre = Zn @ wn
    r = (pre > 0).astype(float) @ vn - yn
    ref = np.einsum("bmn,bm->bn", Zn, np_window(pre) * vn * r[:, None]).mean(0)
    np.testing.assert_allclose(network.coarse_grad(v, w, Z, y, window).numpy(), ref, rtol=1e-12)
    both = network.coarse_grads(v, w, Z, y, ("relu", window))
    np.testing.assert_allclose(both[window].numpy(), ref, rtol=1e-12)
    est = montecarlo.estimate_on(v, w, Z, y, stes=("crelu", window))
    np.testing.assert_allclose(est.coarse[window].mean.numpy(), ref, rtol=1e-12)


def test_registered_ste_large_patches_use_the_torch_path(window):
    g = torch.Generator().manual_seed(2)
    Z = torch.randn(300, 20, 15, generator=g, dtype=torch.float64)  # m n > 256: fused path for built-ins
    v, w, y = torch.randn(20, dtype=torch.float64), torch.randn(15, dtype=torch.float64), torch.randn(300, dtype=torch.float64)
    est = montecarlo.estimate_on(v, w, Z, y, stes=("relu", window))
    ref = network.coarse_grads(v, w, Z, y, ("relu", window))
    for s in ("relu", window):
        np.testing.assert_allclose(est.coarse[s].mean.numpy(), ref[s].numpy(), rtol=1e-10, atol=1e-13)


def test_registered_ste_in_cgd_and_models(window):
    model = ms.LinearTeacherModel([1.0, 0.5])
    r0 = ms.vanishing_norm(window)
    assert r0 is not None
    a_hat = model.a / model.a.norm()
    w0 = torch.stack([0.5 * r0 * a_hat, 2 * r0 * a_hat])
    h = population_cgd(model, torch.zeros(2, 1), w0, ste=window, lr=0.3, steps=3000)
    np.testing.assert_allclose(h.w_norm[-1].numpy(), [r0, r0], rtol=1e-6)
    yin = YinModel([1.0, -0.5, 0.8], [1.0, 0.0])
    h = stochastic_cgd(yin, torch.zeros(3, 3), torch.ones(3, 2), ste=("relu", window, "crelu"), lr=0.05,
                       steps=5, batch_size=8, generator=torch.Generator().manual_seed(0))
    assert h.ste == ("relu", window, "crelu") and bool(torch.isfinite(h.loss).all())


def test_registered_ste_in_quantized_networks_params_and_plots(window):
    net = QuantMLP([ActConfig(1, 1.0, window), ActConfig(2, 0.5, "hardtanh")], [0, 1])
    x = torch.randn(4, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    net(x).sum().backward()
    assert net.W[0].grad is not None and isinstance(net.acts[0], QuantAct)
    validate({"stes": Seq(SteName())}, stes=["crelu", window])
    assert plotting.ste_color(window) in plotting.EXTRA_COLORS and plotting.ste_label(window) == window


def test_unregistered_name_is_rejected_everywhere():
    with pytest.raises(ValueError, match=r"ste='nope' is not valid; choose one of 'identity', 'relu', 'crelu', 'hardtanh'"):
        ste.binary_step(torch.ones(2), "nope")
    with pytest.raises(ValueError, match=r"stes\[0\]='nope'"):
        validate({"stes": Seq(SteName())}, stes=["nope"])
    with pytest.raises(ValueError, match="nope"):
        ms.vanishing_norm("nope")


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="relu", derivative=torch.ones_like, description="x"), r"name='relu' is a built-in STE"),
    (dict(name="sigmoid", derivative=torch.ones_like, description="x", replace=True), r"name='sigmoid' is a built-in"),
    (dict(name="bad name", derivative=torch.ones_like, description="x"), r"name='bad name' must be"),
    (dict(name="t1", derivative=3.0, description="x"), r"derivative=3.0 must be callable"),
    (dict(name="t1", derivative=lambda x: x.sum(), description="x"), r"derivative of 't1' must return .* shape \(13,\)"),
    (dict(name="t1", derivative=lambda x: x.numpy(), description="x"), r"derivative of 't1' must return .*ndarray"),
    (dict(name="t1", derivative=lambda x: x > 0, description="x"), r"derivative of 't1' must return a floating tensor"),
    (dict(name="t1", derivative=lambda x: 1 / x.abs(), description="x"), r"derivative of 't1' returned non-finite"),
    (dict(name="t1", derivative=lambda x: undefined, description="x"), r"derivative of 't1' failed"),  # noqa: F821
    (dict(name="t1", derivative=torch.ones_like, description=""), r"description='' must be"),
    (dict(name="t1", derivative=torch.ones_like, description="x", breakpoints=["a"]), r"breakpoints=\['a'\]"),
])
def test_register_rejects_bad_input_naming_the_parameter(kwargs, match):
    before = ste.names()
    with pytest.raises(ValueError, match=match):
        ste.register(kwargs.pop("name"), kwargs.pop("derivative"), **kwargs)
    assert ste.names() == before


def test_replace_and_unregister(window):
    with pytest.raises(ValueError, match="already registered"):
        ste.register(window, torch.ones_like, description="again")
    r_before = ms.vanishing_norm(window)
    ste.register(window, lambda x: torch_window(x / 2), description="twice wider", breakpoints=(-1.0, 4.0, 6.0),
                 replace=True)
    assert ms.vanishing_norm(window) == pytest.approx(2 * r_before, rel=1e-9)  # cache follows the registry
    with pytest.raises(ValueError, match="cannot be unregistered"):
        ste.unregister("crelu")


def test_module_spec_imports_and_registers(tmp_path, monkeypatch):
    (tmp_path / "my_stes_for_test.py").write_text(
        "import torch\nfrom stelib.ste import register\n"
        "register('mine_t', lambda x: (x.abs() < 3).to(x.dtype), description='wide window', breakpoints=[-3, 3])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        spec = {"mods": Seq(Module()), "stes": Seq(SteName())}
        validate(spec, mods=["my_stes_for_test"], stes=["mine_t", "crelu"])
        assert "mine_t" in ste.names()
        with pytest.raises(ValueError, match=r"mods\[0\]='no_such_module_xyz'.*importing it failed"):
            validate(spec, mods=["no_such_module_xyz"], stes=["crelu"])
    finally:
        if "mine_t" in ste.names():
            ste.unregister("mine_t")


def test_ste_name_and_module_specs_describe_themselves():
    assert "'hardtanh'" in SteName().describe() and SteName() == SteName() and hash(SteName()) == hash(SteName())
    assert "importable Python module" in Module().describe() and Module() == Module() and repr(Module()) == "Module()"
    with pytest.raises(ValueError, match=r"parameter m='not a name' is not allowed"):
        Module().check("m", "not a name")
    with pytest.raises(ValueError, match=r"parameter s=3 is not allowed"):
        SteName().check("s", 3)


def np_catalogue(name, x):
    """mu' of the six registered names, written independently of stelib (the primer's table)."""
    x = np.asarray(x, dtype=float)
    s = 1 / (1 + np.exp(-x))
    return {"identity": np.ones_like(x), "relu": (x > 0).astype(float), "crelu": ((x > 0) & (x < 1)).astype(float),
            "hardtanh": (np.abs(x) < 1).astype(float), "approxsign": np.maximum(0, 2 - 2 * np.abs(x)),
            "sigmoid": s * (1 - s)}[name]


def np_nonsmooth_points(f, h=1 / 64):
    """Grid points of [-4, 4] (step h, exact in binary) where f's second difference is not ~0:
    a kink at b flags b, a jump between b - h and b (or b and b + h) flags both."""
    x = np.arange(-4, 4 + h, h)
    y = f(x)
    d2 = y[2:] - 2 * y[1:-1] + y[:-2]
    return x[1:-1][np.abs(d2) > 1e-3]


@pytest.mark.parametrize("name", ["identity", "relu", "crelu", "hardtanh", "approxsign", "sigmoid"])
def test_registry_entries_derivative_and_breakpoints(name):
    """get(name).derivative is mu' (also for the three whose STEs are written out), and the
    breakpoints are exactly the points where the NumPy mu' jumps or has a kink."""
    entry = ste.get(name)
    x = np.linspace(-3, 3, 601)
    got = entry.derivative(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, np_catalogue(name, x), rtol=1e-14, atol=1e-15)
    for b in (-1.0, 0.0, 1.0):  # strict inequalities at the kinks
        assert float(entry.derivative(torch.tensor([b], dtype=torch.float64))[0]) == np_catalogue(name, [b])[0]
    flagged = np_nonsmooth_points(lambda t: np_catalogue(name, t))
    for b in entry.breakpoints:
        assert np.min(np.abs(flagged - b)) == 0.0, (name, b)
    for p in flagged:
        assert min((abs(p - b) for b in entry.breakpoints), default=np.inf) <= 1 / 64, (name, p)
    assert entry.builtin and list(entry.breakpoints) == sorted(entry.breakpoints)


def test_registry_entries_are_frozen_and_versions_never_repeat():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        ste.get("relu").derivative = torch.ones_like
    seen = [ste.registry_version()]
    for k in range(3):  # register, unregister, register again: a new version each time
        ste.register("t_version", lambda x, k=k: torch.full_like(x, float(k + 1)), description="constant")
        seen.append(ste.registry_version())
        ste.unregister("t_version")
        seen.append(ste.registry_version())
    assert len(set(seen)) == len(seen) and seen == sorted(seen), seen
    assert ste.get("crelu").builtin and not any(s == "t_version" for s in ste.names())


def test_register_probes_the_documented_tensors():
    calls = []

    def spy(x):
        calls.append(x.clone())
        return torch.ones_like(x)

    ste.register("t_probe", spy, description="spy")
    ste.unregister("t_probe")
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[0].numpy(), np.linspace(-3, 3, 13))
    assert calls[0].dtype == torch.float64
    np.testing.assert_allclose(calls[1].numpy(), np.linspace(-2, 2, 6).reshape(2, 3), rtol=1e-7)
    assert calls[1].dtype == torch.float32 and calls[1].shape == (2, 3)


def test_registered_derivative_with_a_wrong_shape_later_is_refused():
    """The probe passes (13 or 6 points), but at other sizes the function returns one value."""
    ste.register("t_shape", lambda x: torch.ones_like(x) if x.numel() in (6, 13) else torch.ones(1, dtype=x.dtype),
                 description="bad later")
    try:
        with pytest.raises(ValueError, match=r"derivative of 't_shape' returned Tensor of shape \(1,\) for x of shape \(4,\)"):
            ste.surrogate_derivative(torch.zeros(4, dtype=torch.float64), "t_shape")
    finally:
        ste.unregister("t_shape")


def test_quantized_relu_bits_range():
    x = torch.tensor([0.5, 70000.0], dtype=torch.float64)
    assert ste.quantized_relu(x, 16).tolist() == [1.0, 2.0**16 - 1]
    with pytest.raises(ValueError, match=r"bits=17 must be an integer >= 1 and <= 16"):
        ste.quantized_relu(x, 17)
