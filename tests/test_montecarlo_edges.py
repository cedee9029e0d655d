"""Edge cases of stelib.montecarlo.estimate_on against a NumPy reimplementation, sample by sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stelib.montecarlo import estimate_on

F64 = torch.float64


def _numpy_per_sample(v, w, Z, y):
    """Per-sample loss, dl/dv and the coarse w-gradients of y = v^T 1{Z w > 0} (NumPy)."""
    pre = Z @ w  # (N, m)
    s = (pre > 0).astype(float)
    r = s @ v - y  # (N,)
    vr = v * r[:, None]  # (N, m)
    masks = {"identity": np.ones_like(pre), "relu": s, "crelu": ((pre > 0) & (pre < 1)).astype(float)}
    coarse = {k: np.einsum("bm,bmn->bn", mk * vr, Z) for k, mk in masks.items()}
    return 0.5 * r * r, s * r[:, None], coarse


def _check(est, v, w, Z, y):
    loss, gv, coarse = _numpy_per_sample(v, w, Z, y)
    N = len(y)
    pairs = [(est.loss, loss), (est.grad_v, gv)] + [(est.coarse[k], coarse[k]) for k in est.coarse]
    for e, per in pairs:  # mean and the per-sample standard error std(ddof=1) / sqrt(N)
        np.testing.assert_allclose(e.mean.numpy(), per.mean(0), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(e.se.numpy(), per.std(0, ddof=1) / math.sqrt(N), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("N", [2, 7])
def test_small_patches_use_per_sample_values(N):
    """m n <= 256: the standard errors are the per-sample ones, also for N = 2 (the least
    sample with a standard error) and an odd N."""
    g = np.random.default_rng(N)
    v, w = np.array([0.7, -1.2]), np.array([0.4, -0.3, 0.9])
    Z, y = g.standard_normal((N, 2, 3)), g.standard_normal(N)
    est = estimate_on(v, w, Z, y, stes=("identity", "relu", "crelu"))
    assert est.samples == N
    _check(est, v, w, Z, y)
    for obj, field in ((est, "samples"), (est.loss, "se")):  # results are frozen records
        with pytest.raises(AttributeError):
            setattr(obj, field, 0)


def test_one_sample_is_refused():
    with pytest.raises(ValueError, match="need equal counts >= 2"):
        estimate_on([1.0], [1.0, 0.0], np.ones((1, 1, 2)), np.ones(1))


@pytest.mark.parametrize("n_y", [1, 2, 4])
def test_sample_counts_of_z_and_y_star_must_agree(n_y):
    """A y_star of another length (even one that would broadcast) is refused, naming both."""
    from stelib.montecarlo import true_grad_per_sample

    Z = np.ones((3, 1, 2))
    for f in (estimate_on, true_grad_per_sample):
        with pytest.raises(ValueError, match=rf"Z has 3 samples and y_star {n_y}; need equal counts"):
            f([1.0], [1.0, 0.0], Z, np.ones(n_y))


def test_large_patches_with_few_samples_use_per_sample_values():
    """m n > 256 and N < 128: groups of one sample (no batch means), fused kernel or not."""
    g = np.random.default_rng(3)
    m, n, N = 3, 100, 50
    v, w = g.standard_normal(m), g.standard_normal(n) / 10
    Z, y = g.standard_normal((N, m, n)), g.standard_normal(N)
    _check(estimate_on(v, w, Z, y, stes=("identity", "relu", "crelu")), v, w, Z, y)


def test_true_gradient_with_large_patches_on_the_cpu():
    """m n > 256 with true_grad: the kernel estimate (which the fused kernel does not compute)
    against NumPy, per sample: delta(z_i^T w) -> N(0, (h|w|)^2) density, times the jump
    v_i (r - v_i s_i + v_i / 2), times z_i; mean and std(ddof=1)/sqrt(N)."""
    g = np.random.default_rng(5)
    m, n, N, h = 3, 100, 50, 0.3
    v, w = g.standard_normal(m), g.standard_normal(n) / 10
    Z, y = g.standard_normal((N, m, n)), g.standard_normal(N)
    est = estimate_on(v, w, Z, y, stes=("identity", "relu", "crelu"), true_grad=True, bandwidth=h)
    _check(est, v, w, Z, y)
    pre = Z @ w
    s = (pre > 0).astype(float)
    r = s @ v - y
    bw = h * np.linalg.norm(w)
    kern = np.exp(-0.5 * (pre / bw) ** 2) / (math.sqrt(2 * math.pi) * bw)
    per = np.einsum("bm,bmn->bn", kern * v * (r[:, None] - v * s + v / 2), Z)
    np.testing.assert_allclose(est.true_grad_w.mean.numpy(), per.mean(0), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(est.true_grad_w.se.numpy(), per.std(0, ddof=1) / math.sqrt(N), rtol=1e-9)


def test_a_sampler_without_m_and_n_attributes():
    """estimate needs only sample(batch, generator): the sizes then come from v and w, and the
    draws are the same as the model's (same generator seed)."""
    from stelib.gaussian import YinModel
    from stelib.montecarlo import estimate

    model = YinModel([1.0, -0.5], [1.0, 0.5, 0.0])

    class Bare:
        def sample(self, batch, generator):
            return model.sample(batch, generator)

    v, w = torch.tensor([0.3, 0.8], dtype=F64), torch.tensor([0.2, -1.0, 0.4], dtype=F64)
    a = estimate(v, w, Bare(), samples=500, generator=torch.Generator().manual_seed(2), stes=("relu",))
    Z, y = model.sample(500, torch.Generator().manual_seed(2))
    _check(a, v.numpy(), w.numpy(), Z.numpy(), y.numpy())
