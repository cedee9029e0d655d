"""Tests of stelib.general_inputs (through it, of gi_quadrature, gi_samples, gi_laws and
gi_fixed_points): planar quadrature against closed forms and Monte Carlo, the Gaussian cReLU
fixed point against misspecified.vanishing_norm, sample-average helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stelib import general_inputs as gi
from stelib import misspecified as ms
from stelib.distributions import make_distribution

F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)


def unit(deg):
    return np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))])


@pytest.mark.parametrize("name", gi.QUADRATURE_DISTRIBUTIONS)
def test_strip_moments_whole_plane(name):
    d = make_distribution(name, 2)
    P, M1, M2 = gi.strip_moments(d, unit(23), -math.inf, math.inf)
    cov = np.diag(np.square(d.scales)) if name == "anisotropic" else np.eye(2)
    assert P == pytest.approx(1, abs=1e-10)
    assert np.abs(M1).max() < 1e-10 and np.abs(M2 - cov).max() < 1e-7


def test_strip_moments_gaussian_closed_form():
    c = 0.8
    P, M1, M2 = gi.strip_moments(make_distribution("gaussian", 2), unit(40), 0.0, c)
    w, u = unit(40), unit(130)
    pdf = PHI0 * math.exp(-c * c / 2)
    assert P == pytest.approx(0.5 * math.erf(c / math.sqrt(2)), abs=1e-12)
    assert np.abs(M1 - (PHI0 - pdf) * w).max() < 1e-12
    t2 = 0.5 * math.erf(c / math.sqrt(2)) - c * pdf
    assert np.abs(M2 - (t2 * np.outer(w, w) + P * np.outer(u, u))).max() < 1e-12


@pytest.mark.parametrize("name", ["uniform", "laplace", "anisotropic"])
def test_strip_moments_match_monte_carlo(name):
    d = make_distribution(name, 2)
    Z = d.sample((400_000,), torch.Generator().manual_seed(3)).numpy()
    w = unit(30)
    t = Z @ w
    ind = (t > 0.2) & (t < 1.1)
    P, M1, M2 = gi.strip_moments(d, w, 0.2, 1.1)
    vals = [(ind, P)] + [(ind * Z[:, i], M1[i]) for i in range(2)] + [(ind * Z[:, 0] * Z[:, 1], M2[0, 1])]
    for x, ref in vals:
        assert abs(x.mean() - ref) < 4 * x.std() / math.sqrt(len(x))


@pytest.mark.parametrize("phi", [0.0, 30.0, 75.0])
def test_gaussian_fixed_point_is_closed_form(phi):
    a = 1.7 * unit(phi)
    v, w = gi.crelu_fixed_point_quad(make_distribution("gaussian", 2), a)
    assert np.linalg.norm(w) == pytest.approx(ms.vanishing_norm("crelu"), abs=1e-9)
    assert abs(float(gi.angle_deg(w, a))) < 1e-7
    assert v == pytest.approx(2 * PHI0 * 1.7, abs=1e-10)
    assert float(ms.expected_coarse_grad(torch.tensor([v], dtype=F64), torch.tensor(w), torch.tensor(a), "crelu").abs().max()) < 1e-9


@pytest.mark.parametrize("name", ["gaussian", "anisotropic"])
def test_quadrature_profile_loss_value_and_v(name):
    """For z ~ N(0, S): E[z sigma(w^T z)] = S w_hat / sqrt(2 pi w_hat^T S w_hat), P = 1/2, so
    v_opt = 2 a^T S w_hat / sqrt(2 pi q) and the profile loss is
    a^T S a / 2 - (a^T S w_hat)^2 / (2 pi q), q = w_hat^T S w_hat."""
    d = make_distribution(name, 2)
    S = np.diag(np.square(d.scales)) if name == "anisotropic" else np.eye(2)
    a = np.array([0.9, -0.4])
    for deg in (10.0, 100.0, 250.0):
        w = 1.3 * unit(deg)
        q = unit(deg) @ S @ unit(deg)
        out = gi.linear_teacher_quad(d, a, w)
        assert out["v_opt"] == pytest.approx(2 * (a @ S @ unit(deg)) / math.sqrt(2 * math.pi * q), rel=1e-9)
        expected = 0.5 * a @ S @ a - (a @ S @ unit(deg)) ** 2 / (2 * math.pi * q)
        assert out["profile"] == pytest.approx(expected, rel=1e-9)
        if name == "gaussian":
            v = torch.tensor([out["v_opt"]], dtype=F64)
            ref = ms.expected_coarse_grad(v, torch.tensor(w), torch.tensor(a), "crelu") / v
            np.testing.assert_allclose(out["crelu"], ref.numpy(), rtol=1e-8, atol=1e-12)


def test_monte_carlo_fixed_point_radius_and_v():
    """Gaussian inputs: the cReLU fixed point sits at |w| = vanishing_norm on the ray of a, with
    v = 2 phi(0)|a|; the replicates' mean is within 4.5 of their standard errors."""
    a = 1.3 * unit(30)
    v, w = gi.crelu_fixed_point_mc(make_distribution("gaussian", 2), torch.tensor(a), samples=5000,
                                   replicates=8, generator=torch.Generator().manual_seed(4), steps=40)
    r = torch.linalg.vector_norm(w, dim=1)
    se_r, se_v = r.std().item() / math.sqrt(8), v.std().item() / math.sqrt(8)
    assert abs(r.mean().item() - ms.vanishing_norm("crelu")) < 4.5 * se_r + 2e-3, (r, se_r)
    assert abs(v.mean().item() - 2 * PHI0 * 1.3) < 4.5 * se_v + 2e-3, (v, se_v)


def test_uniform_strip_probability_is_exact():
    """t = w_hat^T z for z uniform on the square: a sum of two uniforms (trapezoid density);
    the kinks of the density must be split for 1e-12 accuracy."""
    import scipy.integrate

    d = make_distribution("uniform", 2)
    for deg, lo, hi in ((20.0, 0.3, 1.1), (55.0, -2.0, 0.4), (-70.0, 0.0, 5.0)):
        a1, a2 = sorted(abs(c) * math.sqrt(3) for c in unit(deg))[::-1]

        def density(t, a1=a1, a2=a2):
            return max(0.0, min(a1 + a2 - abs(t), 2 * a2)) / (4 * a1 * a2)

        pts = [p for p in (-a1 - a2, a2 - a1, a1 - a2, a1 + a2) if lo < p < hi]
        exact = scipy.integrate.quad(density, lo, hi, points=pts or None, epsabs=1e-15, epsrel=1e-13)[0]
        assert gi.strip_moments(d, unit(deg), lo, hi)[0] == pytest.approx(exact, rel=1e-11, abs=1e-14)


def test_angle_deg_at_parallel_and_antiparallel_vectors():
    y = torch.tensor([0.1, 0.2, 0.7], dtype=F64)
    for c in (1.0, 3.0, 1e-3, 7.1):
        assert float(gi.angle_deg(c * y, y)) == pytest.approx(0.0, abs=1e-5)
        assert float(gi.angle_deg(-c * y, y)) == pytest.approx(180.0, abs=1e-5)
    assert float(gi.angle_deg(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([1.0, 0.0, 0.0]))) == pytest.approx(90.0)
    assert float(gi.angle_deg(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))) == pytest.approx(90.0)
    assert float(gi.angle_deg(torch.tensor([0.0, -1.0]), torch.tensor([1.0, 0.0]))) == pytest.approx(-90.0)


def test_optimal_v_on_counts_z_w_equal_zero_as_off():
    """sigma(0) = 0 strictly: zero patches (as in digits data) never switch a unit on."""
    gen = torch.Generator().manual_seed(5)
    Z = torch.randn(400, 2, 2, generator=gen, dtype=F64)
    Z[::3, 1] = 0.0
    y = torch.randn(400, generator=gen, dtype=F64)
    W = torch.tensor([[1.0, 0.5], [-0.3, 1.0]], dtype=F64)
    loss, v = gi.profile_loss_on(W, Z, y)
    for k in range(2):
        S = (Z.numpy() @ W[k].numpy() > 0).astype(float)  # (N, m)
        vk = np.linalg.solve(S.T @ S / 400, S.T @ y.numpy() / 400)
        np.testing.assert_allclose(v[k].numpy(), vk, rtol=1e-9)
        np.testing.assert_allclose(float(loss[k]), 0.5 * np.mean((S @ vk - y.numpy()) ** 2), rtol=1e-9)
    loss1, v1 = gi.profile_loss_on(W, Z[:, :1], y)  # m = 1: v = E[s y] / E[s]
    s1 = (Z[:, 0].numpy() @ W.numpy().T > 0).astype(float)  # (N, K)
    np.testing.assert_allclose(v1[:, 0].numpy(), (s1 * y.numpy()[:, None]).sum(0) / s1.sum(0), rtol=1e-12)


def test_monte_carlo_fixed_point_steps_match_numpy():
    """Two iterations (the second is averaged) on two replicate samples, written in NumPy."""
    d, a = make_distribution("laplace", 2), np.array([1.2, -0.5])
    v, w = gi.crelu_fixed_point_mc(d, torch.tensor(a), samples=300, replicates=2,
                                   generator=torch.Generator().manual_seed(8), steps=2, lr=1.5, radius0=0.9)
    gen = torch.Generator().manual_seed(8)
    for r in range(2):
        Z = d.sample((300,), gen).numpy()
        y = Z @ a
        prec = np.linalg.inv(Z.T @ Z / 300)
        step = 1.5 / y.std(ddof=1)  # lr over the sample standard deviation of y*
        wk = 0.9 * a / np.linalg.norm(a)
        for _ in range(2):
            pre = Z @ wk
            s = pre > 0
            vk = y[s].mean()
            c = np.where(s & (pre < 1), vk - y, 0.0)
            wk = wk - step * prec @ (Z.T @ c) / 300
        np.testing.assert_allclose(w[r].numpy(), wk, rtol=1e-10)
        np.testing.assert_allclose(float(v[r]), vk, rtol=1e-10)


def test_monte_carlo_fixed_point_drift_compares_the_last_two_quarters():
    """The iterates do not depend on ``steps``, so the averages of runs of 2, 3 and 4 steps give
    the iterates w_1, w_2, w_3; with 4 steps the drift is |w_3 - w_2| / |(w_2 + w_3) / 2|."""
    d, a = make_distribution("uniform", 2), torch.tensor([0.6, 0.8], dtype=torch.float64)

    def run(steps):
        return gi.crelu_fixed_point_mc(d, a, samples=400, replicates=3, steps=steps, lr=1.0,
                                       generator=torch.Generator().manual_seed(5), return_drift=True)

    w1 = run(2)[1]
    w2 = 2 * run(3)[1] - w1
    _, w_avg, drift = run(4)
    w3 = 2 * w_avg - w2
    expected = (w3 - w2).norm(dim=1) / ((w2 + w3) / 2).norm(dim=1)
    torch.testing.assert_close(drift, expected, rtol=1e-9, atol=1e-12)
    assert bool((drift > 0).all())  # four steps from the Gaussian radius: still moving
    v, w = gi.crelu_fixed_point_mc(d, a, samples=400, replicates=3, steps=4, lr=1.0,
                                   generator=torch.Generator().manual_seed(5))  # the default: two values
    torch.testing.assert_close(w, w_avg, rtol=0, atol=0)
    assert bool(run(2)[2].isnan().all())  # two steps: one averaged iterate, no drift


def test_monte_carlo_fixed_point_drift_flags_a_step_too_long_to_settle():
    """Gaussian inputs: lr 2 settles (drift 1e-4), lr 10 oscillates (drift 0.3)."""
    d, a = make_distribution("gaussian", 2), torch.tensor([0.6, 0.8], dtype=torch.float64)
    drift = {lr: gi.crelu_fixed_point_mc(d, a, samples=20_000, replicates=3, steps=30, lr=lr, return_drift=True,
                                         generator=torch.Generator().manual_seed(0))[2].max() for lr in (2.0, 10.0)}
    assert drift[2.0] < 1e-3 < gi.DRIFT_TOL < 0.1 < drift[10.0]


def test_anisotropic_fixed_point_on_ray():
    # a linear image of a Gaussian: the fixed point stays on the ray of a
    v, w = gi.crelu_fixed_point_quad(make_distribution("anisotropic", 2), unit(35))
    assert abs(float(gi.angle_deg(w, unit(35)))) < 1e-7


@pytest.mark.parametrize("name", ["uniform", "laplace", "gaussian"])
def test_stationary_direction_is_a_hat(name):
    psi = gi.stationary_direction_quad(make_distribution(name, 2), unit(30))
    assert math.degrees(psi) == pytest.approx(30, abs=1e-3)


def test_uniform_fixed_point_quadrature_vs_monte_carlo():
    d, a = make_distribution("uniform", 2), unit(30)
    _, w = gi.crelu_fixed_point_quad(d, a)
    _, w_mc = gi.crelu_fixed_point_mc(d, torch.tensor(a), samples=50_000, replicates=4,
                                      generator=torch.Generator().manual_seed(0), steps=60)
    ang = gi.angle_deg(w_mc, torch.tensor(a))
    assert abs(float(ang.mean()) - float(gi.angle_deg(w, a))) < 5 * float(ang.std()) / 2 + 1e-3


def test_profile_and_optimal_v_on_gaussian_sample():
    a = torch.tensor([1.0, 0.5], dtype=F64)
    Z, y = ms.LinearTeacherModel(a).sample(200_000, torch.Generator().manual_seed(1))
    W = torch.from_numpy(np.stack([unit(10), unit(60), unit(200)]))
    loss, v = gi.profile_loss_on(W, Z, y)
    assert torch.allclose(v, ms.optimal_v(W, a), atol=0.02)
    assert torch.allclose(loss, ms.profile_loss(W, a), atol=0.02)


def test_bad_input():
    with pytest.raises(ValueError, match="quadrature needs"):
        gi.strip_moments(make_distribution("mixture", 2), unit(0), 0, 1)
    with pytest.raises(ValueError, match="quadrature needs"):
        gi.strip_moments(make_distribution("gaussian", 3), unit(0), 0, 1)
    with pytest.raises(ValueError, match="w = 0"):
        gi.linear_teacher_quad(make_distribution("gaussian", 2), unit(0), [0.0, 0.0])


def test_gaussian_radius_is_the_misspecified_vanishing_norm():
    assert gi.GAUSSIAN_RADIUS == pytest.approx(ms.vanishing_norm("crelu"), rel=1e-14)


def test_profile_loss_on_one_patch_is_the_sample_loss_at_the_best_v():
    """m = 1: the returned loss is mean((v s - y)^2) / 2 at the returned v = mean(s y)/mean(s),
    written out in NumPy, and no other v does better (a parabola in v)."""
    g = np.random.default_rng(4)
    Z, y = g.standard_normal((500, 1, 2)), g.standard_normal(500) + 0.3
    W = np.stack([unit(15), unit(140), unit(290)])
    loss, v = gi.profile_loss_on(W, Z, y)
    s = (Z[:, 0] @ W.T > 0).astype(float)  # (N, K)
    v_ref = (s * y[:, None]).mean(0) / s.mean(0)
    np.testing.assert_allclose(v[:, 0].numpy(), v_ref, rtol=1e-12)
    np.testing.assert_allclose(loss.numpy(), 0.5 * ((v_ref * s - y[:, None]) ** 2).mean(0), rtol=1e-12)


def test_crelu_ray_scan_finds_the_gaussian_radius_and_the_uniform_miss():
    radii = np.geomspace(0.1, 10.0, 21)
    g = gi.crelu_ray_scan(make_distribution("gaussian", 2), gi.unit(30.0), radii, name="gaussian")
    assert len(g.roots) == 1 and g.roots[0] == pytest.approx(gi.GAUSSIAN_RADIUS, rel=1e-9)
    assert abs(g.tangential_at_roots[0]) < 1e-10  # rotation-invariant: on the ray (prop-gi-reflect)
    u_axis = gi.crelu_ray_scan(make_distribution("uniform", 2), gi.unit(0.0), radii)
    assert len(u_axis.roots) == 1 and abs(u_axis.tangential_at_roots[0]) < 1e-10  # along an axis
    u = gi.crelu_ray_scan(make_distribution("uniform", 2), gi.unit(30.0), radii, name="uniform")
    assert len(u.roots) == 1 and abs(u.tangential_at_roots[0]) > 1e-3  # off the ray at 30 deg
    rad, tan = (gi.linear_teacher_quad(make_distribution("uniform", 2), gi.unit(30.0),
                                       u.roots[0] * gi.unit(30.0))["crelu"] @ e
                for e in (gi.unit(30.0), gi.unit(120.0)))
    assert abs(rad) < 1e-10 and tan == pytest.approx(u.tangential_at_roots[0], rel=1e-9)
    assert str(u).splitlines() == [
        " uniform: radial part changes sign 1 time(s) on 21 radii from 0.1 to 10;",
        f"          r = {u.roots[0]:.4f}: tangential part {u.tangential_at_roots[0]:+.2e}"]
    two = gi.RayScan("laplace", radii, radii, radii, (0.5, 2.0), (1e-15, -0.25))
    assert str(two).splitlines()[1:] == ["          r = 0.5000: tangential part <1e-12;",
                                         "          r = 2.0000: tangential part -2.50e-01"]
    with pytest.raises(ValueError, match=r"radii=\[1.0, 0.5\] must be at least two increasing numbers > 0"):
        gi.crelu_ray_scan(make_distribution("uniform", 2), gi.unit(30.0), [1.0, 0.5])


def test_ray_scan_reading_says_whether_the_ray_holds_a_vanishing_point():
    """The clause the chapter glues: off the ray (uniform at 30 deg), on it (uniform along an
    axis), mixed roots, and no sign change at all."""
    radii = np.geomspace(0.1, 10.0, 21)
    u = gi.crelu_ray_scan(make_distribution("uniform", 2), gi.unit(30.0), radii, name="uniform")
    assert u.reading() == (f"the radial part changes sign once, at r = {u.roots[0]:.4f} (tangential part "
                           f"{u.tangential_at_roots[0]:+.2e}), and the tangential part is not zero there: "
                           "the scan finds no vanishing point on the ray between r = 0.1 and 10")
    axis = gi.crelu_ray_scan(make_distribution("uniform", 2), gi.unit(0.0), radii).reading()
    assert axis.endswith("(tangential part <1e-12), and the tangential part is zero there to rounding: "
                         "a vanishing point on the ray")
    two = gi.RayScan("laplace", radii, radii, radii, (0.5, 2.0), (1e-15, -0.25))
    assert two.reading() == ("the radial part changes sign 2 times, at r = 0.5000 (tangential part <1e-12), "
                             "r = 2.0000 (tangential part -2.50e-01), and the tangential part is zero to "
                             "rounding at some of them only")
    none = gi.RayScan("t", radii, radii, radii, (), ())
    assert none.reading() == ("the radial part does not change sign on the 21 radii scanned, so the scan "
                              "finds no vanishing point on the ray")


def test_crelu_ray_roots_gaussian_radius_student_t_by_monte_carlo_and_bad_input():
    """The 1-d root is the Gaussian radius for the Gaussian, and for the Student-t the radial part
    of eq-gi-fixed on the ray, from the law's own draws, is zero there and of opposite signs on
    either side (chapter general_inputs, prop-gi-reflect)."""
    radii = np.geomspace(0.1, 10.0, 41)
    (r_g,) = gi.crelu_ray_roots(make_distribution("gaussian", 2), radii)
    assert r_g == pytest.approx(gi.GAUSSIAN_RADIUS, abs=1e-10)
    t_law = make_distribution("student_t", 2, df=5.0)
    (r_t,) = gi.crelu_ray_roots(t_law, radii)
    assert gi.crelu_ray_roots(t_law, [0.5, 2.0]) == pytest.approx((r_t,), abs=1e-12)
    x = t_law.sample((1_000_000,), torch.Generator().manual_seed(1)) @ torch.tensor(gi.unit(30.0))
    half_mean = x.clamp(min=0).mean()
    z = []
    for r in (0.8 * r_t, r_t, 1.25 * r_t):
        window = (x > 0) & (x < 1 / r)
        terms = 2 * half_mean * x * window - x * x * window  # |a| = 1: the radial part itself
        z.append(float(terms.mean() / (terms.std() / 1000)))
    assert z[0] < -50 and abs(z[1]) < 4 and z[2] > 50
    assert gi.crelu_ray_roots(make_distribution("student_t", 2, df=5.0), [0.1, 0.2]) == ()
    assert gi.crelu_ray_roots(make_distribution("student_t", 2, df=1e6), [0.5, 2.0]) == pytest.approx(
        (gi.GAUSSIAN_RADIUS,), abs=1e-6)
    with pytest.raises(ValueError, match=r"dist=.*crelu_ray_roots needs a rotation-invariant law"):
        gi.crelu_ray_roots(make_distribution("uniform", 2), radii)
    with pytest.raises(ValueError, match=r"dist=.*crelu_ray_roots needs a rotation-invariant law"):
        gi.crelu_ray_roots(make_distribution("student_t", 2, df=5.0, radial=False), radii)
    with pytest.raises(ValueError, match=r"radii=\[1\.0, 0\.5\] must be at least two increasing"):
        gi.crelu_ray_roots(t_law, [1.0, 0.5])
