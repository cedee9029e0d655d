"""Device follows the data: no stelib function creates a tensor on a hard-coded device.

Two checks, both on the CPU:

* dynamic: every public function is run twice on CPU inputs (CPU generators), once plainly
  and once with PyTorch's default device set to ``meta``. A tensor made without ``device=``
  (or a ``*_like`` / ``.new_*`` form) then lands on ``meta``: mixing it with the CPU inputs
  raises, or it shows up in the results. So each result must come back on the CPU (the inputs'
  device) and equal the plain run bit for bit.
* static: an AST scan of ``stelib/`` for tensor factories (``torch.zeros``, ``torch.tensor``,
  ``torch.randn``, ...) called without ``device=``, against an explicit allow-list.

Running the functions entirely on ``meta`` is not meaningful here: every entry point checks
its inputs for nan/inf (a value read), which a meta tensor does not have. A CUDA comparison
runs where a GPU is present (skipped otherwise).
"""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from stelib import fields, gaussian, general_inputs, misspecified, montecarlo, network, outcomes, profile, symmetry
from stelib.distributions import DISTRIBUTIONS, make_distribution
from stelib.problems import LABEL_MODELS, Problem
from stelib.train import population_cgd, stochastic_cgd

F64 = torch.float64
CPU = torch.device("cpu")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _tensors(x):
    """Every tensor inside a result (tensors, dataclasses, dicts, lists, tuples)."""
    if isinstance(x, torch.Tensor):
        yield x
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            yield from _tensors(getattr(x, f.name))
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)
    elif isinstance(x, list | tuple):
        for v in x:
            yield from _tensors(v)


def _plain(x):
    """Everything that is not a tensor, for comparing the two runs (floats, strings, counts)."""
    if isinstance(x, torch.Tensor):
        return "tensor"
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def _same_with_meta_default(fn):
    """Run ``fn`` plainly and under ``torch.device("meta")``; results on the CPU and identical."""
    ref = fn()
    with torch.device("meta"):
        out = fn()
    got, want = list(_tensors(out)), list(_tensors(ref))
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.device == CPU, f"a result lives on {a.device}"
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    assert _plain(out) == _plain(ref)
    return ref


# --- sampling ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_distribution_sampling_follows_the_generator(name):
    n = 4
    dist = make_distribution(name, n)
    Z = _same_with_meta_default(lambda: dist.sample((50, 3), _gen()))
    assert Z.shape == (50, 3, n)


def test_student_t_coordinatewise_and_mixture_shift():
    for dist in (make_distribution("student_t", 3, radial=False),
                 make_distribution("mixture", 3, shift=0.0)):
        _same_with_meta_default(lambda d=dist: d.sample((20, 2), _gen(1)))


@pytest.mark.parametrize("labels", LABEL_MODELS)
def test_problem_labels_and_noise(labels):
    g = _gen(2)
    v_star, w_star = torch.randn(3, generator=g, dtype=F64), torch.randn(2, generator=g, dtype=F64)
    kw = dict(v_star=v_star, w_star=w_star) if "teacher" in labels else dict(a=[1.0, -0.5])
    p = Problem(make_distribution("laplace", 2), 3, labels=labels, noise=0.3, **kw)
    _same_with_meta_default(lambda: p.sample(40, _gen(3)))


def test_closed_form_models_sample_on_the_generator_device():
    yin = gaussian.YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64))
    lin = misspecified.LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=F64))
    _same_with_meta_default(lambda: yin.sample(30, _gen()))
    _same_with_meta_default(lambda: lin.sample(30, _gen()))


# --- closed forms and the network ------------------------------------------------------

def test_closed_forms():
    g = _gen(4)
    v, w = torch.randn(5, 3, generator=g, dtype=F64), torch.randn(5, 2, generator=g, dtype=F64)
    vs, ws = torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64)
    a = torch.tensor([0.6, -0.8], dtype=F64)
    _same_with_meta_default(lambda: (
        gaussian.population_loss(v, w, vs, ws), gaussian.population_grad(v, w, vs, ws),
        gaussian.optimal_v(w, vs, ws), gaussian.angle(w, ws),
        [gaussian.expected_coarse_grad(v, w, vs, ws, s) for s in ("identity", "relu", "crelu")],
        [gaussian.coarse_true_inner(v, w, vs, ws, s) for s in ("identity", "relu", "crelu")],
        gaussian.spurious_minimizer_v(vs), gaussian.saddle_angle(vs),
        gaussian.classify_critical_point(vs, ws, vs, ws)))
    v1 = v[:, :1]
    _same_with_meta_default(lambda: (
        misspecified.population_loss(v1, w, a), misspecified.population_grad(v1, w, a),
        misspecified.profile_loss(w, a), misspecified.optimal_v(w, a),
        [misspecified.expected_coarse_grad(v1, w, a, s) for s in ("identity", "relu", "crelu")],
        [misspecified.radial_coefficient(torch.tensor([0.5, 2.0], dtype=F64, device=CPU), s)
         for s in ("identity", "relu", "crelu")],
        misspecified.stationary_points(a), misspecified.is_stationary(v1, w, a)))


def test_network():
    g = _gen(5)
    Z = torch.randn(64, 3, 2, generator=g, dtype=F64)
    y = torch.randn(64, generator=g, dtype=F64)
    v, w = [1.0, -0.5, 0.8], [0.3, 1.0]  # lists: moved to Z's device
    _same_with_meta_default(lambda: (
        network.forward(v, w, Z), network.sample_loss(v, w, Z, y, per_sample=True),
        network.grad_v(v, w, Z, y), network.coarse_grad(v, w, Z, y, "crelu"),
        network.coarse_grads(v, w, Z, y, per_sample=True), network.teacher(v, w, Z)))


def test_registered_stes_and_the_proper_chapter_helpers():
    from stelib import proper

    g = _gen(18)
    v, w = torch.randn(4, 3, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    vs, ws = torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64)
    Z, y = torch.randn(50, 3, 2, generator=g, dtype=F64), torch.randn(50, generator=g, dtype=F64)
    _same_with_meta_default(lambda: (
        [gaussian.expected_coarse_grad(v, w, vs, ws, s) for s in ("hardtanh", "sigmoid")],
        misspecified.expected_coarse_grad(v[:, :1], w, ws, "approxsign"),
        population_cgd(gaussian.YinModel(vs, ws), v, w, ste=("hardtanh", "sigmoid", "relu", "approxsign"),
                       lr=0.1, steps=5),
        montecarlo.estimate_on(vs, ws, Z, y, stes=("sigmoid", "hardtanh")),
        proper.symmetry_row("hardtanh", vs, ws, Z, y, scales=[0.5, 3.0])))


# --- training ---------------------------------------------------------------------------

def test_population_cgd_masks_nan_fills_and_learning_rates():
    model = gaussian.YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64))
    g = _gen(6)
    v0, w0 = torch.randn(6, 3, generator=g, dtype=F64), torch.randn(6, 2, generator=g, dtype=F64)
    stes = ("relu", "crelu", "identity", "relu", "crelu", "identity")
    lr = [0.1, 0.1, 0.1, 0.1, 0.1, 1e6]  # the last run diverges: mask and NaN fill

    def run():
        h = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=30, record_every=10)
        return h, h.select("relu"), h.summary()

    h = _same_with_meta_default(run)[0]
    assert bool(h.diverged[-1]) and not bool(h.diverged[:-1].any())
    assert math.isnan(float(h.loss[-1, -1]))


@pytest.mark.parametrize("common", [False, True])
def test_stochastic_cgd(common):
    p = Problem(make_distribution("uniform", 2), 3, labels="linear", a=[1.0, 0.5])
    v0, w0 = torch.ones(4, 3, dtype=F64), torch.tensor([[1.0, 0.2]] * 4, dtype=F64)
    _same_with_meta_default(lambda: stochastic_cgd(
        p, v0, w0, ste=("relu", "crelu", "identity", "relu"), lr=0.05, steps=10, batch_size=16,
        generator=_gen(7), common_batches=common))
    model = gaussian.YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64))
    _same_with_meta_default(lambda: stochastic_cgd(  # closed-form loss from the sampler
        model, v0, w0, ste="relu", lr=0.05, steps=5, batch_size=8, generator=_gen(8)))


def test_history_to_and_cpu_move_every_tensor():
    model = gaussian.YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64))
    g = _gen(19)
    v0, w0 = torch.randn(4, 3, generator=g, dtype=F64), torch.randn(4, 2, generator=g, dtype=F64)
    h = population_cgd(model, v0, w0, ste=("relu", "crelu", "identity", "relu"), lr=[0.1, 0.1, 0.1, 1e6],
                       steps=20, record_every=5)
    names = [f.name for f in dataclasses.fields(h) if isinstance(getattr(h, f.name), torch.Tensor)]
    assert len(names) == len(dataclasses.fields(h)) - 1  # every field but the STE names
    moved = h.to("meta")
    for name in names:
        a, b = getattr(moved, name), getattr(h, name)
        assert a.device.type == "meta" and a.shape == b.shape and a.dtype == b.dtype, name
    assert moved.ste == h.ste and moved.runs == h.runs
    back = h.cpu()
    for name in names:
        torch.testing.assert_close(getattr(back, name), getattr(h, name), rtol=0, atol=0, equal_nan=True)
    assert back.summary() == h.summary()


def test_estimate_and_mcresult_to_and_cpu():
    p = Problem(make_distribution("gaussian", 2), 3, labels="linear", a=[1.0, 0.0])
    est = montecarlo.estimate([1.0, -0.5, 0.8], [1.0, 1.0], p, samples=500, generator=_gen(20), true_grad=True)
    moved = est.to("meta")
    for a in _tensors(moved):
        assert a.device.type == "meta"
    assert len(list(_tensors(moved))) == len(list(_tensors(est))) == 2 * (2 + 3 + 1)
    assert moved.samples == est.samples and list(moved.coarse) == list(est.coarse)
    for a, b in zip(_tensors(est.cpu()), _tensors(est), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    no_true = montecarlo.estimate([1.0, -0.5, 0.8], [1.0, 1.0], p, samples=50, generator=_gen(20))
    assert no_true.to("meta").true_grad_w is None


def test_estimate_device_keyword_on_the_cpu():
    """``device="cpu"`` (or a torch.device) with a CPU generator is the default run, bit for bit;
    a name that is not a device is a ValueError naming the parameter, before any draw."""
    p = Problem(make_distribution("laplace", 2), 3, labels="teacher", v_star=[1.0, -0.5, 0.8],
                w_star=[1.0, 0.3], noise=0.2)
    ref = montecarlo.estimate([1.0, 0.5, -0.3], [0.2, 1.0], p, samples=3000, generator=_gen(21), chunk=700)
    for dev in ("cpu", CPU):
        out = montecarlo.estimate([1.0, 0.5, -0.3], [0.2, 1.0], p, samples=3000, generator=_gen(21), chunk=700,
                                  device=dev)
        for a, b in zip(_tensors(out), _tensors(ref), strict=True):
            assert a.device == CPU
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    g = _gen(22)
    state = g.get_state()
    for bad in ("gpu", 3.5, "cuda:x"):
        with pytest.raises(ValueError, match="device="):
            montecarlo.estimate([1.0, 0.5, -0.3], [0.2, 1.0], p, samples=30, generator=g, device=bad)
    assert torch.equal(g.get_state(), state)  # nothing was drawn


def test_crelu_fixed_point_mc_device_keyword_on_the_cpu():
    d = make_distribution("uniform", 2)
    ref = general_inputs.crelu_fixed_point_mc(d, [1.0, 0.5], samples=400, replicates=2, generator=_gen(23), steps=10)
    out = general_inputs.crelu_fixed_point_mc(d, [1.0, 0.5], samples=400, replicates=2, generator=_gen(23), steps=10,
                                              device="cpu")
    for a, b in zip(out, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="device="):
        general_inputs.crelu_fixed_point_mc(d, [1.0, 0.5], samples=40, replicates=2, generator=_gen(), device="tpu")


def test_scale_covariance_check_device_keyword_on_the_cpu():
    p = symmetry.make_problem("laplace", n=3, m=2, labels="relu_teacher", generator=_gen(27))
    kw = dict(c=2.0, samples=300)
    ref = symmetry.scale_covariance_check([1.0, -0.5], [1.0, 0.5, -0.2], p, generator=_gen(28), **kw)
    assert symmetry.scale_covariance_check([1.0, -0.5], [1.0, 0.5, -0.2], p, generator=_gen(28), device="cpu",
                                           **kw) == ref
    g = _gen(29)
    state = g.get_state()
    with pytest.raises(ValueError, match="device="):
        symmetry.scale_covariance_check([1.0, -0.5], [1.0, 0.5, -0.2], p, generator=g, device="gpu0", **kw)
    assert torch.equal(g.get_state(), state)  # nothing was drawn


def test_the_reference_direction_of_a_cpu_sampler_moves_to_the_runs():
    """stochastic CGD with a CPU sampler (CPU generator, CPU teacher) and runs elsewhere: the
    angle is measured from the sampler's direction moved to the runs' device."""
    from stelib.core import train

    p = Problem(make_distribution("gaussian", 2), 1, labels="linear", a=[3.0, 4.0])
    torch.testing.assert_close(train._reference(p, 2, CPU), torch.tensor([0.6, 0.8], dtype=F64))
    assert train._reference(p, 2, torch.device("meta")).device.type == "meta"
    assert train._reference(p, 3, CPU) is None  # a direction of another dimension is no reference


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_generator_drives_cuda_runs_with_the_cpu_draws():
    """A seeded CPU generator gives the same draws for a run on the GPU: stochastic CGD,
    ``estimate(device=...)`` and the fixed point agree with the CPU run up to reordering."""
    dev = torch.device("cuda")
    p = Problem(make_distribution("gaussian", 2), 1, labels="linear", a=[1.0, 0.5])
    v0, w0 = torch.zeros(3, 1, dtype=F64), torch.tensor([[1.0, 0.2]] * 3, dtype=F64)
    kw = dict(ste=("relu", "crelu", "identity"), lr=0.1, steps=50, batch_size=32)
    h_cpu = stochastic_cgd(p, v0, w0, generator=_gen(24), **kw)
    h_gpu = stochastic_cgd(p, v0.to(dev), w0.to(dev), generator=_gen(24), **kw)
    assert h_gpu.w.device.type == "cuda"
    torch.testing.assert_close(h_gpu.cpu().w, h_cpu.w, rtol=1e-9, atol=1e-12)
    args = ([1.0], [0.2, 1.0], p)
    ref = montecarlo.estimate(*args, samples=50_000, generator=_gen(25))
    est = montecarlo.estimate(*args, samples=50_000, generator=_gen(25), device=dev)
    assert est.loss.mean.device.type == "cuda"
    torch.testing.assert_close(est.cpu().coarse["crelu"].mean, ref.coarse["crelu"].mean, rtol=1e-9, atol=1e-12)
    d = make_distribution("laplace", 2)
    fp_cpu = general_inputs.crelu_fixed_point_mc(d, [1.0, 0.5], samples=2000, replicates=2, generator=_gen(26))
    fp_gpu = general_inputs.crelu_fixed_point_mc(d, [1.0, 0.5], samples=2000, replicates=2, generator=_gen(26),
                                                 device=dev)
    torch.testing.assert_close(fp_gpu[1].cpu(), fp_cpu[1], rtol=1e-7, atol=1e-9)


# --- Monte Carlo --------------------------------------------------------------------------

def test_estimate_small_patches_with_true_gradient():
    p = Problem(make_distribution("gaussian", 2), 3, labels="linear", a=[1.0, 0.0])
    _same_with_meta_default(lambda: montecarlo.estimate(
        [1.0, -0.5, 0.8], [1.0, 1.0], p, samples=3000, generator=_gen(9), true_grad=True, chunk=1000))


def test_estimate_large_patches_fused_and_torch_paths():
    m, n = 17, 16  # m n > 256: grouped sums, the fused kernel on the CPU
    p = Problem(make_distribution("laplace", n), m, labels="linear", a=torch.ones(n, dtype=F64))
    v, w = torch.linspace(-1, 1, m, dtype=F64), torch.linspace(1, 2, n, dtype=F64)
    est = _same_with_meta_default(lambda: montecarlo.estimate(v, w, p, samples=2048, generator=_gen(10)))
    Z, y = p.sample(2048, _gen(10))
    acc = montecarlo._Accumulator(v, w, ("identity", "relu", "crelu"), False, 0.02)
    acc.add(Z, y, samples=2048, fused=False)  # the PyTorch path, on the same draws
    torch.testing.assert_close(acc.result().coarse["relu"].mean, est.coarse["relu"].mean, rtol=1e-12, atol=1e-12)


def test_estimate_on_true_grad_per_sample_and_z_score():
    g = _gen(11)
    Z = torch.randn(500, 3, 2, generator=g, dtype=F64)
    y = torch.randn(500, generator=g, dtype=F64)
    v, w = [1.0, -0.5, 0.8], [1.0, 0.5]
    _same_with_meta_default(lambda: (
        montecarlo.estimate_on(v, w, Z, y, true_grad=True),
        montecarlo.true_grad_per_sample(v, w, Z, y),
        montecarlo.estimate_on(v, w, Z, y).loss.z_score([0.5])))


# --- profile, general inputs, fields, symmetry, outcomes ----------------------------------

def test_profile_module():
    lin = misspecified.LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=F64))
    Z, y = lin.sample(4000, _gen(12))
    th = torch.linspace(-3.0, 3.0, 7, dtype=F64)
    _same_with_meta_default(lambda: (
        profile.profile(Z, y, th, with_se=True), profile.direction(th),
        profile.stationary_angles(Z, y, grid=360),
        profile.crelu_radial_root(0.8, [1.0, 0.0], Z, y),
        profile.coarse_at(Z, y, 0.1, 0.8, 0.76, "crelu", se_theta=0.01, se_v=0.01),
        profile.v_se(Z, y, 0.2)))


def test_general_inputs_on_samples():
    g = _gen(13)
    W = profile.direction(torch.linspace(0.0, 3.0, 5, dtype=F64))
    Z1, Z2 = torch.randn(300, 1, 2, generator=g, dtype=F64), torch.randn(300, 3, 2, generator=g, dtype=F64)
    y = torch.randn(300, generator=g, dtype=F64)
    _same_with_meta_default(lambda: (
        general_inputs.profile_loss_on(W, Z1, y), general_inputs.profile_loss_on(W, Z2, y),
        general_inputs.optimal_v_on(W, Z2, y), general_inputs.angle_deg(W, W[0]),
        general_inputs.angle_deg(Z2[:2, 0].repeat(1, 2), Z2[0, 0].repeat(2))))
    _same_with_meta_default(lambda: general_inputs.crelu_fixed_point_mc(
        make_distribution("uniform", 2), [1.0, 0.0], samples=500, replicates=3, generator=_gen(14), steps=20))


def test_fields():
    lin = misspecified.LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=F64))

    def run():
        X, Y, W = fields.grid(2.0, 5, device="cpu")
        U, V = fields.evaluate(lambda W: lin.expected_coarse_grad(torch.ones_like(W[:, :1]), W, "crelu"), W, X.shape)
        path = fields.cgd_path(lin, [[0.0], [0.0]], [[1.0, 1.0], [1.0, 1.0]], ste="crelu", lr=0.1, steps=20,
                               every=10)
        return X, Y, W, U, V, path

    _same_with_meta_default(run)


def test_symmetry():
    def run():
        g = _gen(15)
        p = symmetry.make_problem("laplace", n=3, m=2, labels="noisy_teacher", generator=g)
        Z, y = p.sample(400, g)
        v, w = [1.0, -0.5], [1.0, 0.5, -0.2]
        return (p.v_star, p.w_star, symmetry.rescaling_gaps(v, w, Z, y, scales=[0.5, 3.0]),
                symmetry.smoothed_true_grad(v, w, Z, y), symmetry.least_squares_v(w, Z, y),
                symmetry.radial_part(Z[:, 0], w), symmetry.mean_se(y),
                symmetry.scale_covariance_check(v, w, p, c=2.0, samples=300, generator=g),
                symmetry.loglog_slope([1.0, 2.0, 4.0], [3.0, 1.4, 0.8]))

    _same_with_meta_default(run)


def test_outcomes():
    model = gaussian.YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64))

    def run():
        v0, w0, stes = outcomes.sweep_inits(3, 2, seeds=4, stes=("relu", "identity"), generator=_gen(16))
        h = population_cgd(model, v0, w0, ste=stes, lr=0.1, steps=200)
        return (outcomes.at_angle(model.w_star, [0.5, 3.0], 2.0), v0, w0, outcomes.classify(h, model, loss_tol=1e-4),
                outcomes.first_hit(h, loss_tol=1e-4), outcomes.outcome_table(h, model, loss_tol=1e-4))

    _same_with_meta_default(run)


# --- static scan --------------------------------------------------------------------------

FACTORIES = {"zeros", "ones", "empty", "full", "tensor", "as_tensor", "arange", "linspace", "logspace", "eye",
             "randn", "rand", "randint", "randperm", "normal", "empty_strided", "scalar_tensor", "Generator"}

# (module, enclosing function): why a tensor made without device= is right there.
ALLOWED = {
    ("datasets.py", "load_digits_split"): "seeded CPU shuffle (the same split on every device), then .to(dev)",
    ("datasets.py", "_torchvision_split"): "images read from disk into host memory; load_data moves them",
    ("datasets.py", "synthetic_split"): "seeded CPU test data: the same on every device",
    ("datasets.py", "synthetic_split.draw"): "seeded CPU test data: the same on every device",
    ("practice.py", "_fit"): "seeded CPU shuffles (the same order on every device), moved with .to(dev)",
    ("quantnets.py", "QuantAct.__init__"): "a module buffer: it moves with model.to(device)",
    ("quantnets.py", "_uniform"): "seeded CPU initialisation: the same weights on every device",
    ("quantnets.py", "_Ensemble._gens"): "CPU generators for that initialisation",
    ("quantnets.py", "_Ensemble.select"): "indices into a state dict copied to the CPU",
    ("proper.py", "teacher_has_spurious_minima"): "a parameter rule (specs): host-side check of a teacher",
    ("yin_gaussian.py", "teacher_has_spurious_minima"): "a parameter rule (specs): host-side check of a teacher",
    ("ste.py", "_probe"): "host tensors that probe a newly registered derivative",
    ("vanishing.py", "_radial_at"): "host-side root finding on floats (no data involved)",
    ("vanishing.py", "_vanishing"): "host-side root finding on floats (no data involved)",
}


def _factory_calls_without_device(path: Path):
    stack, found = [], []

    class Visitor(ast.NodeVisitor):
        def _scope(self, node):
            stack.append(node.name)
            self.generic_visit(node)
            stack.pop()

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

        def visit_Call(self, node):
            f = node.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "torch"
                    and f.attr in FACTORIES and not any(k.arg == "device" for k in node.keywords)):
                found.append((path.name, ".".join(stack), node.lineno, f.attr))
            self.generic_visit(node)

    Visitor().visit(ast.parse(path.read_text()))
    return found


def test_no_tensor_factory_without_device_outside_the_allow_list():
    root = Path(__file__).resolve().parents[1] / "stelib"
    calls = [c for p in sorted(root.rglob("*.py")) for c in _factory_calls_without_device(p)]
    bad = [c for c in calls if c[:2] not in ALLOWED]
    assert not bad, "tensor factories without device= (use device=..., *_like or .new_*): " + repr(bad)
    stale = set(ALLOWED) - {c[:2] for c in calls}
    assert not stale, f"allow-list entries that no longer match any call: {sorted(stale)}"


def test_the_scan_finds_a_factory_without_device(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("import torch\n\ndef f(x):\n    a = torch.zeros(3, device=x.device)\n"
                   "    b = torch.zeros_like(x)\n    return torch.full((2,), 1.0, dtype=x.dtype)\n")
    assert _factory_calls_without_device(src) == [("mod.py", "f", 6, "full")]


# --- CUDA, where present ------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    dev = torch.device("cuda")
    vs, ws = torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.3], dtype=F64)
    g = _gen(17)
    v0, w0 = torch.randn(9, 3, generator=g, dtype=F64), torch.randn(9, 2, generator=g, dtype=F64)
    stes = ("relu", "crelu", "identity") * 3
    h_cpu = population_cgd(gaussian.YinModel(vs, ws), v0, w0, ste=stes, lr=0.1, steps=200)
    h_gpu = population_cgd(gaussian.YinModel(vs.to(dev), ws.to(dev)), v0.to(dev), w0.to(dev), ste=stes,
                           lr=0.1, steps=200)
    assert h_gpu.loss.device.type == "cuda"
    torch.testing.assert_close(h_gpu.loss.cpu(), h_cpu.loss, rtol=1e-9, atol=1e-12)
    p = Problem(make_distribution("student_t", 2), 3, labels="teacher", v_star=vs, w_star=ws, noise=0.1)
    est = montecarlo.estimate([1.0, 0.5, -0.3], [0.2, 1.0], p, samples=200_000,
                              generator=torch.Generator(device=dev).manual_seed(0), true_grad=True)
    ref = montecarlo.estimate([1.0, 0.5, -0.3], [0.2, 1.0], p, samples=200_000, generator=_gen(0), true_grad=True)
    assert est.loss.mean.device.type == "cuda"
    z = (est.loss.mean.cpu() - ref.loss.mean) / torch.sqrt(est.loss.se.cpu() ** 2 + ref.loss.se ** 2)
    assert abs(float(z)) < 5  # different streams: agreement within the standard errors


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("teacher", ["yin", "linear"])
@pytest.mark.parametrize("kinds", [("relu", "crelu", "identity"), ("sigmoid", "hardtanh", "crelu")],
                         ids=["builtin", "registered"])
def test_cuda_graph_of_the_step_gives_the_same_runs(monkeypatch, teacher, kinds):
    """On CUDA, population_cgd replays its step as a CUDA graph (stelib.core._graphs): the graph
    is kept (no warning) and the runs equal those launched op by op, bit for bit; with registered
    surrogates too, whose deferred checks the graph replays into flags read at the records."""
    import warnings

    from stelib.core import _graphs

    dev = torch.device("cuda")
    model = (gaussian.YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64, device=dev),
                               torch.tensor([1.0, 0.3], dtype=F64, device=dev)) if teacher == "yin"
             else misspecified.LinearTeacherModel(torch.tensor([1.0, 0.5], dtype=F64, device=dev)))
    g = _gen(5)
    v0 = torch.randn(6, model.m, generator=g, dtype=F64).to(dev)
    w0 = torch.randn(6, 2, generator=g, dtype=F64).to(dev)
    stes, lr = kinds * 2, (0.1, 0.1, 0.1, 0.1, 1e3, 0.1)
    kept = []
    real = _graphs.capture_step
    monkeypatch.setattr(_graphs, "capture_step", lambda step, state: kept.append(real(step, state)) or kept[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        graphed = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=300, record_every=7)
    assert len(kept) == 1 and kept[0] is not None
    monkeypatch.setenv("STELIB_CUDA_GRAPHS", "0")
    plain = population_cgd(model, v0, w0, ste=stes, lr=lr, steps=300, record_every=7)
    for name in ("v", "w", "diverged", "diverged_step"):
        assert torch.equal(getattr(graphed, name), getattr(plain, name)), name
    for name in ("loss", "theta", "w_norm", "grad_norm"):
        assert torch.equal(getattr(graphed, name).nan_to_num(), getattr(plain, name).nan_to_num()), name


# --- chapters: the device parameter is declared, validated and used -----------------------

def _code_cells(path: Path):
    import json

    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
            yield cell["metadata"].get("tags", []), src, ast.parse(code)


def _reads(tree: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) for n in ast.walk(tree))


def test_every_chapter_takes_a_device_and_uses_it():
    """Static: each chapter's spec has ``device``, its parameters cell sets ``device = "cpu"``
    (so the stored outputs are CPU runs) and later code reads ``device``; where a chapter
    resolves it (``dev = resolve_device(device)``), ``dev`` is read from that cell on."""
    from stelib import book, specs

    chapters = book.chapters()
    assert len(chapters) >= 7
    for ch in chapters:
        assert "device" in specs.get(ch.name).params, ch.name
        cells = list(_code_cells(ch.path))
        params = [i for i, (tags, _, _) in enumerate(cells) if "parameters" in tags]
        assert len(params) == 1, ch.name
        assigns = [n for n in cells[params[0]][2].body if isinstance(n, ast.Assign)
                   and [t.id for t in n.targets if isinstance(t, ast.Name)] == ["device"]]
        assert len(assigns) == 1 and ast.literal_eval(assigns[0].value) == "cpu", ch.name
        later = [(src, tree) for _, src, tree in cells[params[0] + 1:] if "check_chapter" not in src]
        assert any(_reads(tree, "device") for _, tree in later), f"{ch.name} never reads device"
        resolved = [k for k, (src, _) in enumerate(later) if "resolve_device(device)" in src]
        if resolved:
            assert any(_reads(tree, "dev") for _, tree in later[resolved[0]:]), ch.name
