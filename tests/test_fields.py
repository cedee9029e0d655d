"""Tests of stelib.fields (grids, field evaluation, CGD paths) and stelib.profile (profile loss,
stationary directions and cReLU vanishing radius from samples) against the closed forms of
stelib.misspecified (book: the misspecified example)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
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


@pytest.mark.parametrize("num", [2, 4, 5])
def test_grid_coordinates(num):
    """Even num: linspace(-e, e); odd num: shifted by half a cell, e / (num - 1)... one
    cell = 2e / (num - 1), so points sit at -e + (2k + 1) e / (num - 1)."""
    X, Y, _ = fields.grid(1.5, num)
    k = np.arange(num)
    x = -1.5 + 2 * 1.5 * k / (num - 1) + (1.5 / (num - 1) if num % 2 else 0.0)
    np.testing.assert_allclose(X[0].numpy(), x, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(Y[:, 0].numpy(), x, rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match=r"num=1 must be an integer >= 2"):
        fields.grid(1.0, 1)
    with pytest.raises(ValueError, match=r"num=2001 must be an integer >= 2 and <= 2000"):
        fields.grid(1.0, 2001)
    assert fields.grid(1.0, 2000)[0].shape == (2000, 2000)


def test_rays_reach_one_and_a_half_extents():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    fields.draw_rays(ax, [[3.0, 4.0]], extent=2.0, color="k")
    fields.draw_rays(ax, [[0.0, -1.0]], extent=2.0, both=True, color="k")
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[0.0, 0.0], [1.8, 2.4]], rtol=1e-12)
    np.testing.assert_allclose(ax.lines[1].get_xydata(), [[0.0, 3.0], [0.0, -3.0]], rtol=1e-12, atol=1e-15)
    fields.draw_rays(ax, [[3.0, 4.0], [0.0, -0.5]], extent=2.0, color="k")  # each row normalised by its own length
    np.testing.assert_allclose(ax.lines[2].get_xydata(), [[0.0, 0.0], [1.8, 2.4]], rtol=1e-12)
    np.testing.assert_allclose(ax.lines[3].get_xydata(), [[0.0, 0.0], [0.0, -3.0]], rtol=1e-12, atol=1e-15)
    plt.close(fig)


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
    with pytest.raises(ValueError, match=r"steps=1000001 must be an integer >= 1 and <= 1000000"):
        fields.cgd_path(model, v0, w0, ste=ste, lr=0.2, steps=10**6 + 1, every=1)
    assert fields.cgd_path(model, v0, w0, ste=ste, lr=0.2, steps=100, every=100)[0].tolist() == [0, 100]
    steps, v1, _ = fields.cgd_path(model, v0, w0, ste=ste, lr=0.2, steps=30)  # every = 1
    assert steps.tolist() == list(range(31)) and v1.shape == (31, 2, 1)
    torch.testing.assert_close(v1[::10], v, rtol=1e-13, atol=1e-15)


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


def test_profile_standard_errors_match_the_spread_over_replicates():
    """Two-sided: over 40 independent samples the slope and v estimates scatter as much as
    their delta-method standard errors say (the ratio's own standard error is ~11 %)."""
    model, th = ms.LinearTeacherModel(A), torch.tensor([0.3, 1.2, 2.0], dtype=F64)
    g = torch.Generator().manual_seed(21)
    df, df_se, v, v_se = [], [], [], []
    for _ in range(40):
        Z, y = model.sample(10_000, g)
        p = profile.profile(Z, y, th, with_se=True)
        df.append(p.df)
        df_se.append(p.df_se)
        v.append(p.v)
        v_se.append(torch.tensor([profile.v_se(Z, y, float(t)) for t in th], dtype=F64))
    for est, se in ((df, df_se), (v, v_se)):
        ratio = torch.stack(est).std(0) / torch.stack(se).mean(0)
        assert bool(((ratio > 0.65) & (ratio < 1.35)).all()), ratio


def test_coarse_at_propagates_the_point_uncertainty(sample):
    """se^2 = se_MC^2 + (dg/dtheta se_theta)^2 + (dg/dv se_v)^2: the derivatives it implies
    match those of the closed-form expected cReLU gradient (within 30 %: the sample derivative
    over a step of 0.01 is noisy; a factor 2 is far outside)."""
    Z, y = sample
    theta, v, radius = 0.4, 0.5, 0.9

    def closed(t, vv):
        return ms.expected_coarse_grad(torch.tensor([vv], dtype=F64), radius * profile.direction(t), A, "crelu")

    h = 1e-5
    d_theta = (closed(theta + h, v) - closed(theta - h, v)) / (2 * h)
    d_v = (closed(theta, v + h) - closed(theta, v - h)) / (2 * h)
    mean, se0 = profile.coarse_at(Z, y, theta, v, radius, "crelu")
    # the Monte Carlo part in NumPy: per-sample x v (v sigma(x) - y) 1{0 < x < 1} z, x = w^T z
    z, w = Z[:, 0].numpy(), radius * np.array([math.cos(theta), math.sin(theta)])
    x = z @ w
    per = (((x > 0) & (x < 1)) * v * (v * (x > 0) - y.numpy()))[:, None] * z
    np.testing.assert_allclose(mean.numpy(), per.mean(0), rtol=1e-10)
    np.testing.assert_allclose(se0.numpy(), per.std(0, ddof=1) / math.sqrt(len(per)), rtol=1e-9)
    assert bool(((mean - closed(theta, v)).abs() < 4.5 * se0).all())
    _, se_t = profile.coarse_at(Z, y, theta, v, radius, "crelu", se_theta=0.3)
    _, se_v = profile.coarse_at(Z, y, theta, v, radius, "crelu", se_v=0.3)
    torch.testing.assert_close((se_t**2 - se0**2).sqrt() / 0.3, d_theta.abs(), rtol=0.3, atol=0)
    torch.testing.assert_close((se_v**2 - se0**2).sqrt() / 0.3, d_v.abs(), rtol=0.3, atol=0)


def test_slope_and_v_standard_errors_match_numpy():
    """The delta-method standard errors written out in NumPy for one small sample."""
    Z, y = ms.LinearTeacherModel(A).sample(3000, torch.Generator().manual_seed(22))
    z, yn = Z[:, 0].numpy(), y.numpy()
    theta, delta = 0.7, 0.05
    psi = np.zeros_like(yn)
    for sign in (1.0, -1.0):
        d = np.array([math.cos(theta + sign * delta), math.sin(theta + sign * delta)])
        s = (z @ d > 0).astype(float)
        G, P = (yn * s).mean(), s.mean()
        psi += sign * (-G / P * yn * s + G * G / (2 * P * P) * s)
    se = (psi / (2 * delta)).std(ddof=1) / math.sqrt(len(yn))
    p = profile.profile(Z, y, torch.tensor([theta], dtype=F64), delta=delta, with_se=True)
    assert float(p.df_se[0]) == pytest.approx(se, rel=1e-10)
    s = (z @ np.array([math.cos(theta), math.sin(theta)]) > 0).astype(float)
    v = (yn * s).mean() / s.mean()
    assert float(p.v[0]) == pytest.approx(v, rel=1e-12)
    want = ((yn - v) * s / s.mean()).std(ddof=1) / math.sqrt(len(yn))
    assert profile.v_se(Z, y, theta) == pytest.approx(want, rel=1e-10)
    # the profile loss itself: E y^2 / 2 - G^2 / (2 P)
    assert float(p.f[0]) == pytest.approx(np.mean(yn**2) / 2 - (yn * s).mean() ** 2 / (2 * s.mean()), rel=1e-12)
    assert profile.profile(Z[:2], y[:2], torch.tensor([0.0], dtype=F64)).f.shape == (1,)  # N = 2 is enough


def test_crelu_radial_root_on_a_hand_made_sample():
    """z = (x, 0), v = 1: R(c) = sum over x_k < c of x_k (1 - y_k) turns negative at x = 0.3."""
    x = torch.tensor([0.1, 0.2, 0.3, 0.4, -0.5], dtype=F64)
    Z = torch.stack([x, torch.zeros_like(x)], -1)[:, None, :]
    y = torch.tensor([0.0, 0.0, 10.0, 0.0, 0.0], dtype=F64)
    assert profile.crelu_radial_root(1.0, torch.tensor([2.0, 0.0]), Z, y) == 0.3
    # the crossing at the last sample, and a sample that ends positive
    assert profile.crelu_radial_root(1.0, torch.tensor([1.0, 0.0]), Z[:3], y[:3]) == 0.3
    assert profile.crelu_radial_root(1.0, torch.tensor([1.0, 0.0]), Z[:2], y[:2]) is None


def test_stationary_angles_interpolate_the_slope_linearly():
    """Each sign change of the slope on the grid, placed by linear interpolation (NumPy)."""
    Z, y = ms.LinearTeacherModel(A).sample(5000, torch.Generator().manual_seed(23))
    grid = 64
    th = -math.pi + 2 * math.pi * np.arange(grid) / grid
    df = profile.profile(Z, y, torch.tensor(th), delta=0.1).df.numpy()
    nxt = np.roll(df, -1)
    want = []
    for i in np.nonzero(df * nxt < 0)[0]:
        t = th[i] + df[i] / (df[i] - nxt[i]) * 2 * math.pi / grid
        want.append((t + math.pi) % (2 * math.pi) - math.pi)
    got = profile.stationary_angles(Z, y, grid=grid, delta=0.1, merge=1e-12)
    np.testing.assert_allclose(got, sorted(want), rtol=0, atol=1e-12)
    assert len(got) == 4


def test_merge_wraps_around_pi():
    assert profile._merge([-3.13, 3.13], 0.05) == []  # one cluster across -pi/pi, two crossings
    assert profile._merge([-3.13, 0.5, 3.13], 0.05) == [0.5]
    assert profile._merge([0.1, 0.12, 0.14, 2.0], 0.05) == pytest.approx([0.12, 2.0], abs=1e-12)


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
