"""Tests of stelib.fields (grids, field evaluation, CGD paths) and stelib.profile (profile loss,
stationary directions and cReLU vanishing radius from samples) against the closed forms of
stelib.misspecified (book: the misspecified example)."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from stelib import fields, profile
from stelib import misspecified as ms
from stelib.train import population_cgd

matplotlib.use("Agg")
F64 = torch.float64
A = torch.tensor([0.8, -0.6], dtype=F64)


@pytest.fixture(scope="module")
def sample():
    return ms.LinearTeacherModel(A).sample(400_000, torch.Generator().manual_seed(3))


@pytest.mark.parametrize("num", [4, 5])
def test_grid_avoids_origin(num):
    X, Y, W = fields.grid(1.0, num)
    assert X.shape == Y.shape == (num, num) and W.shape == (num * num, 2)
    assert bool((torch.linalg.vector_norm(W, dim=1) > 0).all())
    assert torch.equal(W[:, 0].reshape(num, num), X) and torch.equal(W[:, 1].reshape(num, num), Y)


def test_evaluate_matches_direct_and_rejects_bad_shapes():
    X, Y, W = fields.grid(2.0, 6)
    v = ms.optimal_v(W, A)
    U, V = fields.evaluate(lambda w: -ms.expected_coarse_grad(ms.optimal_v(w, A), w, A, "crelu"), W, X.shape)
    g = ms.expected_coarse_grad(v, W, A, "crelu")
    assert torch.allclose(U, -g[:, 0].reshape(6, 6)) and torch.allclose(V, -g[:, 1].reshape(6, 6))
    with pytest.raises(ValueError):
        fields.evaluate(lambda w: w[:, :1], W, X.shape)


def test_quiver_and_rays_draw():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    X, Y, W = fields.grid(1.0, 4)
    fields.quiver(ax, X, Y, X, Y, scale=5.0, color="k")
    fields.draw_rays(ax, [[1.0, 0.0], [0.0, 2.0]], extent=1.0, both=True, color="k")
    assert len(ax.lines) == 2
    plt.close(fig)
    with pytest.raises(ValueError):
        fields.quiver(ax, X, Y, X, Y, scale=0.0, color="k")


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu"])
def test_cgd_path_continues_population_cgd(ste):
    model = ms.LinearTeacherModel(A)
    v0 = torch.tensor([[0.1], [-0.3]], dtype=F64)
    w0 = torch.tensor([[1.0, 1.0], [-0.2, 0.5]], dtype=F64)
    steps, v, w = fields.cgd_path(model, v0, w0, ste=ste, lr=0.2, steps=30, every=10)
    h = population_cgd(model, v0, w0, ste=ste, lr=0.2, steps=30, record_every=10)
    assert steps.tolist() == [0, 10, 20, 30] and w.shape == (4, 2, 2) and v.shape == (4, 2, 1)
    assert torch.allclose(w[-1], h.w, atol=1e-12) and torch.allclose(v[-1], h.v, atol=1e-12)
    assert torch.allclose(torch.linalg.vector_norm(w, dim=-1), h.w_norm, atol=1e-12)
    with pytest.raises(ValueError):
        fields.cgd_path(model, v0, w0, ste=ste, lr=0.2, steps=30, every=7)


def test_profile_matches_closed_form(sample):
    th = torch.linspace(-3.0, 3.0, 13, dtype=F64)
    p = profile.profile(*sample, th, with_se=True)
    w = profile.direction(th)
    f = ms.profile_loss(w, A)
    v = ms.optimal_v(w, A)[:, 0]
    # f'(theta) = -(a.w)(a.w_perp)/pi, exact profile f(theta) = |a|^2/2 - (a.w)^2/(2 pi)
    df = -(w @ A) * (profile.direction(th + math.pi / 2) @ A) / math.pi
    assert (p.f - f).abs().max() < 5e-3
    assert (p.v - v).abs().max() < 1e-2
    assert ((p.df - df).abs() / p.df_se).max() < 4.5


def test_stationary_angles_match_closed_form(sample):
    roots = profile.stationary_angles(*sample)
    t0 = math.atan2(A[1], A[0])
    expected = sorted(float(profile._wrap(torch.tensor(t0 + k * math.pi / 2, dtype=F64))) for k in range(4))
    assert len(roots) == 4
    assert max(abs(r - e) for r, e in zip(roots, expected, strict=True)) < 0.02


def test_crelu_radial_root_matches_vanishing_norm(sample):
    w_hat = A / torch.linalg.vector_norm(A)
    v = float(ms.optimal_v(w_hat, A)[0])
    c = profile.crelu_radial_root(v, w_hat, *sample)
    assert abs(1 / c - ms.vanishing_norm("crelu")) < 0.02
    # identity-like labels with no sign change: v (v - y) > 0 everywhere -> no root
    Z, y = sample
    assert profile.crelu_radial_root(1.0, w_hat, Z, torch.full_like(y, -5.0)) is None


def test_bad_input():
    with pytest.raises(ValueError):
        profile.profile(torch.zeros(10, 1, 3), torch.zeros(10), [0.0])
    with pytest.raises(ValueError):
        fields.grid(-1.0, 5)
