"""Coarse gradient descent: update rule, batching, divergence handling, bad inputs."""

import dataclasses

import numpy as np
import pytest
import torch

from stelib.distributions import make_distribution
from stelib.gaussian import YinModel
from stelib.misspecified import LinearTeacherModel, vanishing_norm
from stelib.network import coarse_grad, grad_v
from stelib.problems import Problem
from stelib.train import TrainingDiverged, population_cgd, stochastic_cgd

F64 = torch.float64


@pytest.fixture
def yin():
    g = torch.Generator().manual_seed(3)
    model = YinModel(torch.randn(4, generator=g, dtype=F64), torch.randn(3, generator=g, dtype=F64))
    return model, torch.randn(6, 4, generator=g, dtype=F64), torch.randn(6, 3, generator=g, dtype=F64)


def test_first_step_is_the_update_rule(yin):
    model, v0, w0 = yin
    h = population_cgd(model, v0[:1], w0[:1], ste="crelu", lr=0.3, steps=1)
    torch.testing.assert_close(h.v[0], v0[0] - 0.3 * model.grad_v(v0[0], w0[0]), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(h.w[0], w0[0] - 0.3 * model.expected_coarse_grad(v0[0], w0[0], "crelu"), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(h.loss[0, 0], model.loss(v0[0], w0[0]))
    assert h.steps.tolist() == [0, 1]


def test_batched_runs_equal_one_at_a_time(yin):
    model, v0, w0 = yin
    stes = ("relu", "identity", "crelu", "crelu", "relu", "identity")
    lrs = torch.tensor([0.1, 0.05, 0.2, 0.1, 0.3, 0.1], dtype=F64)
    h = population_cgd(model, v0, w0, ste=stes, lr=lrs, steps=150, record_every=10)
    assert h.loss.shape == (16, 6) and h.ste == stes
    for i in range(6):
        one = population_cgd(model, v0[i : i + 1], w0[i : i + 1], ste=stes[i], lr=lrs[i].item(), steps=150, record_every=10)
        torch.testing.assert_close(one.w[0], h.w[i], rtol=0, atol=1e-10)
        torch.testing.assert_close(one.loss[:, 0], h.loss[:, i], rtol=0, atol=1e-10)


def test_relu_cgd_reaches_the_global_minimum_from_a_good_start(yin):
    model, _, _ = yin
    w0 = (model.w_star + 0.5 * torch.tensor([0.3, -0.2, 0.4], dtype=F64))[None]
    h = population_cgd(model, model.v_star[None] * 0.5, w0, ste="relu", lr=0.5, steps=3000, record_every=100)
    assert h.loss[-1, 0] < 1e-8 and h.theta[-1, 0] < 1e-4
    assert h.loss[-1, 0] < h.loss[0, 0]


def test_crelu_settles_at_the_vanishing_norm_in_the_misspecified_model():
    model = LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=F64))
    w0 = torch.tensor([[2.0, 0.3], [0.2, -0.1]], dtype=F64)
    h = population_cgd(model, torch.tensor([[0.5], [0.5]], dtype=F64), w0, ste="crelu", lr=0.2, steps=4000, record_every=100)
    torch.testing.assert_close(h.w_norm[-1], torch.full((2,), vanishing_norm("crelu"), dtype=F64), rtol=1e-6, atol=0)
    ident = population_cgd(model, torch.tensor([[0.5]], dtype=F64), w0[:1], ste="identity", lr=0.2, steps=2000, record_every=100)
    assert ident.w_norm[-1, 0] > 5 * ident.w_norm[0, 0]  # identity: |w| runs off


class Exploding:
    """A stub model whose v-gradient becomes infinite once |v| exceeds 2."""

    m, n = 1, 1

    def loss(self, v, w):
        return (v**2).sum(-1)

    def grad_v(self, v, w):
        return torch.where(v.abs() > 2, torch.inf, -torch.ones_like(v))

    def expected_coarse_grad(self, v, w, ste):
        return torch.zeros_like(w)


def test_single_run_divergence_names_step_and_lr():
    with pytest.raises(TrainingDiverged, match=r"diverged at step 4 with learning rate lr=0.7 \(ste='relu'\)"):
        population_cgd(Exploding(), [[0.0]], [[1.0]], ste="relu", lr=0.7, steps=10)


def test_batched_sweep_marks_diverged_runs():
    h = population_cgd(Exploding(), [[0.0], [0.0]], [[1.0], [1.0]], ste=("relu", "crelu"), lr=[0.7, 0.01], steps=10)
    assert h.diverged.tolist() == [True, False] and h.diverged_step.tolist() == [4, -1]
    assert torch.isnan(h.loss[4:, 0]).all() and torch.isfinite(h.loss[:, 1]).all()
    assert "1 diverged" in h.summary()
    # the summary's medians are over the final record of the runs that did not diverge
    class Growing(Exploding):
        def expected_coarse_grad(self, v, w, ste):
            return -w

    h2 = population_cgd(Growing(), [[0.0], [0.0], [0.0]], [[1.0], [2.0], [4.0]], ste="relu", lr=[0.7, 0.01, 0.01],
                        steps=10)
    assert h2.summary() == f"    relu: 3 runs, 1 diverged, median final loss 0.01, median final |w| {2 * 1.01**10:.4g}"
    # a final loss at rounding level is not printed as digits (README's example ends at 2.2e-16)
    tiny = dataclasses.replace(h2, loss=torch.full_like(h2.loss, 2.2e-16))
    assert "median final loss <1e-12, median" in tiny.summary()


def test_diverged_run_stays_at_its_last_finite_values():
    h = population_cgd(Exploding(), [[0.0], [0.0]], [[1.0], [1.0]], ste="relu", lr=[0.7, 0.01], steps=10)
    v = 0.0
    for _ in range(3):  # steps 1-3 are finite, step 4 is not
        v = v + 0.7
    assert h.v[0, 0].item() == v and h.w[0, 0].item() == 1.0
    assert h.v[1, 0].item() == pytest.approx(0.1, rel=1e-12)


class Hiccup(Exploding):
    """grad_v of run 0 is infinite at the second call only: the run must not come back."""

    def __init__(self):
        self.calls = 0

    def grad_v(self, v, w):
        self.calls += 1
        g = -torch.ones_like(v)
        if self.calls == 2:
            g[0] = torch.inf
        return g


def test_a_diverged_run_never_resumes():
    h = population_cgd(Hiccup(), [[0.0], [0.0]], [[1.0], [1.0]], ste="relu", lr=0.5, steps=5)
    assert h.diverged.tolist() == [True, False] and h.diverged_step.tolist() == [2, -1]
    assert h.v[:, 0].tolist() == [0.5, 2.5]
    assert torch.isnan(h.loss[2:, 0]).all() and not torch.isnan(h.loss[:2, 0]).any()


class Shrinking(Exploding):
    """Coarse gradient 2 w: with lr = 1/2 the first step lands exactly on w = 0."""

    def grad_v(self, v, w):
        return torch.zeros_like(v)

    def expected_coarse_grad(self, v, w, ste):
        return 2 * w


def test_w_reaching_zero_stops_the_run():
    with pytest.raises(TrainingDiverged, match=r"step 1 .*w reached 0"):
        population_cgd(Shrinking(), [[0.0]], [[1.5]], ste="relu", lr=0.5, steps=3)
    h = population_cgd(Shrinking(), [[0.0], [0.0]], [[1.5], [1.5]], ste="relu", lr=[0.5, 0.25], steps=3)
    assert h.diverged.tolist() == [True, False] and h.diverged_step.tolist() == [1, -1]
    assert h.w[:, 0].tolist() == [1.5, 1.5 * 0.5**3]
    assert h.w_norm[:, 1].tolist() == [1.5, 0.75, 0.375, 0.1875] and h.steps.tolist() == [0, 1, 2, 3]
    assert torch.isnan(h.w_norm[1:, 0]).all()


def test_stochastic_first_step_uses_the_drawn_minibatch():
    p = Problem(make_distribution("laplace", 3), 2, labels="linear", a=[1.0, 0.0, -1.0])
    v0, w0 = torch.tensor([[0.5, -0.2]], dtype=F64), torch.tensor([[1.0, 0.5, 0.0]], dtype=F64)
    h = stochastic_cgd(p, v0, w0, ste="crelu", lr=0.1, steps=1, batch_size=64, generator=torch.Generator().manual_seed(4))
    Z, y = p.sample(64, torch.Generator().manual_seed(4))
    torch.testing.assert_close(h.w[0], w0[0] - 0.1 * coarse_grad(v0[0], w0[0], Z, y, "crelu"), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(h.v[0], v0[0] - 0.1 * grad_v(v0[0], w0[0], Z, y), rtol=1e-13, atol=1e-15)
    # a Problem has no closed-form loss: the recorded one is the mini-batch loss, in NumPy
    Zn, yn, vn, wn = Z.numpy(), y.numpy(), v0[0].numpy(), w0[0].numpy()
    r = ((Zn @ wn) > 0) @ vn - yn
    assert h.loss[0, 0].item() == pytest.approx(0.5 * np.mean(r**2), rel=1e-12)
    assert h.steps.tolist() == [0, 1]
    g0 = coarse_grad(v0[0], w0[0], Z, y, "crelu")
    assert h.grad_norm[0, 0].item() == pytest.approx(float(np.linalg.norm(g0.numpy())), rel=1e-12)


class ZeroPatches:
    """A sampler without a closed-form loss whose second patch is always 0 (as in image data)."""

    def sample(self, batch, generator):
        Z = torch.randn(batch, 2, 3, generator=generator, dtype=F64)
        Z[:, 1] = 0.0
        return Z, torch.randn(batch, generator=generator, dtype=F64)


def test_stochastic_batch_loss_counts_zero_inputs_as_off():
    v0, w0 = torch.tensor([[0.5, 2.0]], dtype=F64), torch.tensor([[1.0, -0.5, 0.3]], dtype=F64)
    h = stochastic_cgd(ZeroPatches(), v0, w0, ste="relu", lr=0.1, steps=1, batch_size=32,
                       generator=torch.Generator().manual_seed(6))
    Z, y = ZeroPatches().sample(32, torch.Generator().manual_seed(6))
    r = ((Z.numpy() @ w0[0].numpy()) > 0) @ v0[0].numpy() - y.numpy()
    assert h.loss[0, 0].item() == pytest.approx(0.5 * np.mean(r**2), rel=1e-12)
    assert torch.isnan(h.theta).all()  # no reference direction


def test_stochastic_is_deterministic_and_common_batches_shared(yin):
    model, v0, w0 = yin
    kw = dict(ste=("relu", "crelu", "identity", "relu", "crelu", "identity"), lr=0.05, steps=20, batch_size=32)
    a = stochastic_cgd(model, v0, w0, generator=torch.Generator().manual_seed(1), **kw)
    b = stochastic_cgd(model, v0, w0, generator=torch.Generator().manual_seed(1), **kw)
    assert torch.equal(a.w, b.w) and torch.equal(a.loss, b.loss)
    same = stochastic_cgd(model, v0[[0, 0]], w0[[0, 0]], ste="relu", lr=0.05, steps=5, batch_size=8,
                          generator=torch.Generator().manual_seed(2), common_batches=True)
    assert torch.equal(same.w[0], same.w[1])


@pytest.mark.parametrize("kwargs,match", [
    (dict(v0=[1.0, 2.0]), r"v0 must have 2 dimension"),
    (dict(w0=torch.ones(3, 3)), r"v0 has 2 runs \(rows\) but w0 has 3"),
    (dict(ste=("relu",) * 3), r"ste has 3 entries for 2 runs"),
    (dict(ste="sign"), r"ste='sign' is not valid"),
    (dict(lr=-0.1), r"lr=-0.1 must be a positive number"),
    (dict(steps=0), r"steps=0 must be an integer >= 1"),
    (dict(steps=10**7 + 1), r"steps=10000001 must be an integer >= 1 and <= 10000000"),
    (dict(on_divergence="ignore"), r"on_divergence='ignore' is not valid"),
    (dict(w0=torch.ones(2, 5)), r"the model needs m=4, n=3"),
])
def test_bad_inputs(yin, kwargs, match):
    model, v0, w0 = yin
    args = dict(v0=v0[:2], w0=w0[:2], ste="relu", lr=0.1, steps=5) | kwargs
    with pytest.raises(ValueError, match=match):
        population_cgd(model, **args)


def test_stochastic_bounds(yin):
    model, v0, w0 = yin
    kw = dict(ste="relu", lr=0.1, generator=torch.Generator())
    with pytest.raises(ValueError, match=r"batch_size=10000001 must be an integer >= 1 and <= 10000000"):
        stochastic_cgd(model, v0[:1], w0[:1], steps=1, batch_size=10**7 + 1, **kw)
    with pytest.raises(ValueError, match=r"steps=10000001 must be an integer >= 1 and <= 10000000"):
        stochastic_cgd(model, v0[:1], w0[:1], steps=10**7 + 1, batch_size=1, **kw)


def test_stochastic_needs_a_generator(yin):
    model, v0, w0 = yin
    with pytest.raises(ValueError, match=r"generator must be a torch.Generator"):
        stochastic_cgd(model, v0, w0, ste="relu", lr=0.1, steps=2, batch_size=4, generator=0)


def test_recorded_angle_is_accurate_near_zero_and_pi():
    model = LinearTeacherModel(torch.tensor([1.0, 0.0], dtype=F64))
    w0 = torch.tensor([[1.0, 1e-10], [-1.0, 1e-10]], dtype=F64)
    h = population_cgd(model, torch.zeros(2, 1, dtype=F64), w0, ste="crelu", lr=1e-3, steps=1)
    torch.testing.assert_close(h.theta[0], torch.tensor([1e-10, torch.pi - 1e-10], dtype=F64), rtol=1e-6, atol=0)


def test_a_zero_learning_rate_is_refused():
    model = LinearTeacherModel(torch.tensor([1.0, 0.5], dtype=torch.float64))
    w0 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    for lr in (0.0, (0.1, 0.0)):
        with pytest.raises(ValueError, match=r"lr=.* must be a positive number"):
            population_cgd(model, torch.zeros(2, 1, dtype=torch.float64), w0, ste="relu", lr=lr, steps=2)


def test_a_model_without_a_reference_direction_records_no_angle():
    """A model of your own with no w_star / a / reference_direction: theta is NaN, one per run."""
    lin = LinearTeacherModel(torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))

    class Own:  # the population-model interface, no reference direction
        m, n = lin.m, lin.n
        loss, grad_v, expected_coarse_grad = lin.loss, lin.grad_v, lin.expected_coarse_grad

    w0 = torch.tensor([[1.0, 0.2, 0.1], [0.3, 1.0, 0.0]], dtype=torch.float64)
    h = population_cgd(Own(), torch.zeros(2, 1, dtype=torch.float64), w0, ste="crelu", lr=0.1, steps=4)
    assert h.theta.shape == h.loss.shape == (5, 2) and bool(h.theta.isnan().all())
    assert torch.isfinite(h.loss).all()
