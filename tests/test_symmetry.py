"""Tests of stelib.symmetry: exact invariances, the smoothed true-gradient estimator against
Yin's closed form and stelib.montecarlo, and the small helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stelib import gaussian
from stelib.symmetry import (
    LABEL_CHOICES,
    least_squares_v,
    loglog_slope,
    make_problem,
    mean_se,
    radial_part,
    ratio_se,
    rescaling_gaps,
    scale_covariance_check,
    smoothed_true_grad,
)

DT = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("labels", LABEL_CHOICES)
@pytest.mark.parametrize("dist", ["gaussian", "uniform", "mixture", "student_t"])
def test_rescaling_gaps_exact_for_loss_identity_relu(dist, labels):
    g = gen(1)
    p = make_problem(dist, n=3, m=2, labels=labels, generator=g)
    Z, y = p.sample(300, g)
    v, w = torch.randn(2, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
    gaps = rescaling_gaps(v, w, Z, y, scales=[1e-3, 0.37, 2.0, 1e3])
    assert gaps["loss"] == 0.0 and gaps["identity"] == 0.0 and gaps["relu"] == 0.0
    assert gaps["crelu"] > 0.0


def test_make_problem_noise_and_validation():
    p = make_problem("gaussian", n=2, m=3, labels="noisy_teacher", noise=0.3, generator=gen())
    assert p.noise == 0.3 and p.labels == "teacher"
    assert make_problem("gaussian", n=2, m=3, labels="teacher", generator=gen()).noise == 0.0
    with pytest.raises(ValueError, match="labels"):
        make_problem("gaussian", n=2, m=3, labels="bogus", generator=gen())
    assert make_problem("gaussian", n=2, m=3, labels="noisy_teacher", noise=1e6, generator=gen()).noise == 1e6
    for labels in ("noisy_teacher", "teacher"):  # checked whatever the labels (unused for "teacher")
        with pytest.raises(ValueError, match=r"noise=1005000.0 must be a finite number in \[0.0, 1000000.0\]"):
            make_problem("gaussian", n=2, m=3, labels=labels, noise=1.005e6, generator=gen())


def test_smoothed_true_grad_matches_closed_form():
    g = gen(2)
    v_star, w_star = torch.randn(3, generator=g, dtype=DT), torch.randn(4, generator=g, dtype=DT)
    v, w = torch.randn(3, generator=g, dtype=DT), torch.randn(4, generator=g, dtype=DT)
    model = gaussian.YinModel(v_star, w_star)
    Z, y = model.sample(200_000, g)
    mean, se = mean_se(smoothed_true_grad(v, w, Z, y, bandwidth=0.02))
    exact = gaussian.population_grad(v, w, v_star, w_star)[1]
    assert ((mean - exact) / se).abs().max() < 4.5
    rad, rad_se = mean_se(radial_part(smoothed_true_grad(v, w, Z, y), w))
    assert abs(rad / rad_se) < 4.5


def test_per_sample_terms_average_to_the_montecarlo_estimate():
    g = gen(3)
    p = make_problem("laplace", n=3, m=2, labels="relu_teacher", generator=g)
    Z, y = p.sample(5000, g)
    v, w = torch.randn(2, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
    ours = smoothed_true_grad(v, w, Z, y, bandwidth=0.05)
    # the kernel estimator written out in NumPy: unit i's jump v_i (r - v_i s_i + v_i / 2)
    # times a Gaussian kernel of width h |w| at z_i^T w = 0, times z_i
    Zn, yn, vn, wn = Z.numpy(), y.numpy(), v.numpy(), w.numpy()
    pre = Zn @ wn
    s = (pre > 0).astype(float)
    r = s @ vn - yn
    h = 0.05 * np.linalg.norm(wn)
    kern = np.exp(-0.5 * (pre / h) ** 2) / (np.sqrt(2 * np.pi) * h)
    ref = np.einsum("bm,bmn->bn", kern * vn * (r[:, None] - vn * s + vn / 2), Zn)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_smoothed_true_grad_scales_exactly_with_common_numbers():
    g = gen(4)
    p = make_problem("uniform", n=3, m=2, labels="linear", generator=g)
    Z, y = p.sample(1000, g)
    v, w = torch.randn(2, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
    torch.testing.assert_close(4.0 * smoothed_true_grad(v, 4.0 * w, Z, y), smoothed_true_grad(v, w, Z, y))
    with pytest.raises(ValueError, match="w = 0"):
        smoothed_true_grad(v, torch.zeros(3, dtype=DT), Z, y)


def test_scale_covariance_check_passes_on_gaussian():
    g = gen(5)
    p = make_problem("gaussian", n=3, m=2, labels="teacher", generator=g)
    v, w = torch.randn(2, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
    chk = scale_covariance_check(v, w, p, c=5.0, samples=50_000, generator=g)
    assert abs(chk["z_radial"]) < 4.5 and chk["z_scale"] < 4.5


def test_scale_covariance_check_is_its_formula_on_the_same_draws():
    """Rebuild every returned number from the two samples the check draws."""
    g = gen(8)
    p = make_problem("laplace", n=3, m=2, labels="relu_teacher", generator=g)
    v, w = torch.randn(2, generator=g, dtype=DT), torch.randn(3, generator=g, dtype=DT)
    state = g.get_state()
    chk = scale_covariance_check(v, w, p, c=3.0, samples=4000, generator=g, bandwidth=0.05)
    g.set_state(state)
    G1 = smoothed_true_grad(v, w, *p.sample(4000, g), bandwidth=0.05).numpy()
    G2 = smoothed_true_grad(v, 3.0 * w, *p.sample(4000, g), bandwidth=0.05).numpy()
    n = np.sqrt(4000)
    m1, s1, m2, s2 = G1.mean(0), G1.std(0, ddof=1) / n, G2.mean(0), G2.std(0, ddof=1) / n
    rad = G1 @ (w.numpy() / np.linalg.norm(w.numpy()))
    z = np.abs(3.0 * m2 - m1) / np.sqrt(9.0 * s2**2 + s1**2)
    assert chk["z_scale"] == pytest.approx(z.max(), rel=1e-9)
    assert chk["grad_norm"] == pytest.approx(np.linalg.norm(m1), rel=1e-9)
    assert chk["se"] == pytest.approx(s1.max(), rel=1e-9)
    assert chk["radial"] == pytest.approx(rad.mean(), rel=1e-9, abs=1e-12)
    assert chk["radial_se"] == pytest.approx(rad.std(ddof=1) / n, rel=1e-9)
    assert chk["z_radial"] == pytest.approx(rad.mean() / (rad.std(ddof=1) / n), rel=1e-9)


def test_make_problem_draws_a_unit_linear_teacher():
    for labels in ("linear", "sign"):
        p = make_problem("uniform", n=4, m=2, labels=labels, generator=gen(10))
        assert p.labels == labels and float(torch.linalg.vector_norm(p.a)) == pytest.approx(1.0, rel=1e-15)
    g = gen(10)
    v_star, w_star = torch.randn(2, generator=g, dtype=DT), torch.randn(4, generator=g, dtype=DT)
    p = make_problem("uniform", n=4, m=2, labels="relu_teacher", generator=gen(10))
    assert p.labels == "relu_teacher" and torch.equal(p.v_star, v_star) and torch.equal(p.w_star, w_star)


def test_mean_se_against_a_known_variance():
    """se = sigma / sqrt(N) for N(0, sigma^2) draws: two-sided within 3 % (the sample sd of
    40 000 draws is within ~0.35 % x 4.5)."""
    x = 2.5 * torch.randn(40_000, 3, generator=gen(9), dtype=DT) + torch.tensor([0.0, 1.0, -3.0], dtype=DT)
    mean, se = mean_se(x)
    torch.testing.assert_close(se, torch.full((3,), 2.5 / 200, dtype=DT), rtol=0.03, atol=0)
    assert bool(((mean - torch.tensor([0.0, 1.0, -3.0], dtype=DT)).abs() < 4.5 * se).all())


def test_least_squares_v_recovers_teacher_on_its_own_direction():
    g = gen(6)
    p = make_problem("laplace", n=3, m=3, labels="teacher", generator=g)
    Z, y = p.sample(2000, g)
    torch.testing.assert_close(least_squares_v(7.0 * p.w_star, Z, y), p.v_star)
    with pytest.raises(ValueError, match="never fires"):
        least_squares_v(p.w_star, torch.zeros_like(Z[:5]), y[:5])


def test_radial_part_and_slope():
    w = torch.tensor([3.0, 4.0], dtype=DT)
    assert radial_part(torch.tensor([1.0, 0.0], dtype=DT), w).item() == pytest.approx(0.6)
    x = torch.logspace(0, 3, 10, dtype=DT)
    assert loglog_slope(x, 5 * x**-2) == pytest.approx(-2.0)
    assert loglog_slope(x, torch.full_like(x, math.pi)) == pytest.approx(0.0, abs=1e-12)
    assert loglog_slope([1.0, math.e], [3.0, 3.0 * math.e**2]) == pytest.approx(2.0, rel=1e-14)  # two points
    with pytest.raises(ValueError):
        loglog_slope(x, -x)
    for bad in (([0.0, 1.0], [1.0, 2.0]), ([1.0, 2.0], [0.0, 2.0]), ([1.0], [1.0]), ([1.0, 2.0], [1.0, 2.0, 3.0])):
        with pytest.raises(ValueError, match="x and y must be positive 1-D arrays of the same length >= 2"):
            loglog_slope(*bad)


def test_ratio_se_is_the_delta_method_and_matches_the_spread_of_repeated_samples():
    """|mean a| / |mean b| over 400 independent samples of 2000: the sd of the ratios agrees with
    the delta-method se of one sample within 15 % (sd of an sd of 400 draws: ~3.5 %)."""
    g = gen(11)
    mu_a, mu_b = torch.tensor([0.3, -0.4], dtype=DT), torch.tensor([1.0, 0.5], dtype=DT)

    def draw():
        b = mu_b + torch.randn(2000, 2, generator=g, dtype=DT)
        return mu_a + 0.5 * b - 0.5 * mu_b + torch.randn(2000, 2, generator=g, dtype=DT), b  # correlated

    ratios = [ratio_se(*draw())[0] for _ in range(400)]
    r, se = ratio_se(*draw())
    assert se == pytest.approx(torch.tensor(ratios).std().item(), rel=0.15)
    assert r == pytest.approx(mu_a.norm().item() / mu_b.norm().item(), abs=5 * se)
    same = torch.randn(50, 3, generator=g, dtype=DT) + 1.0
    assert ratio_se(same, same) == (1.0, 0.0) and ratio_se(0 * same, same) == (0.0, 0.0)  # exact
    with pytest.raises(ValueError, match="the mean of b is 0"):
        ratio_se(same, torch.zeros_like(same))
    with pytest.raises(ValueError, match="same shape"):
        ratio_se(same, same[:, :2])
