"""Input distributions and problems: moments, symmetry facts, determinism, bad inputs."""

import math

import numpy as np
import pytest
import torch

from stelib.distributions import DISTRIBUTIONS, Digits, empirical_moments, make_distribution
from stelib.problems import Problem

SHAPES = {"digits": {"kind": "pca"}}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_sample_shape_dtype_and_determinism(name):
    d = make_distribution(name, 4, **SHAPES.get(name, {}))
    a, b = d.sample((50, 3), gen(1)), d.sample((50, 3), gen(1))
    assert a.shape == (50, 3, 4) and a.dtype == torch.float64
    assert torch.equal(a, b)
    assert not torch.equal(a, d.sample((50, 3), gen(2)))


@pytest.mark.parametrize("name", ["gaussian", "uniform", "laplace", "student_t", "digits"])
def test_standardised_mean_and_unit_variance(name):
    d = make_distribution(name, 3, **SHAPES.get(name, {}))
    N = 200_000
    x = d.sample((N,), gen(3))
    mu, cov = empirical_moments(x)
    # the law's fourth moment: Gaussian 3, uniform 9/5, Laplace 6, Student-t(5) 3 + 6/(5 - 4);
    # digits: the (exact) empirical law of the whitened points
    kurt = {"gaussian": 3.0, "uniform": 1.8, "laplace": 6.0, "student_t": 9.0}.get(name)
    if kurt is None:
        kurt = float((d.points**4).mean(0).max())
    # two-sided: mean 0 within 4.5 standard errors 1/sqrt(N), variance 1 within 4.5
    # standard errors sqrt((kurtosis - 1)/N)
    assert mu.abs().max() < 4.5 / math.sqrt(N), mu
    assert (torch.diag(cov) - 1).abs().max() < 4.5 * math.sqrt((kurt - 1) / N), torch.diag(cov)


def test_laplace_scale():
    """E|z| = b = 1/sqrt 2 on each side for Laplace(b) (sd(|z|) = b): 2 million values give
    4.5 standard errors of 0.45 % per side, so a scale 1 % off on either side fails."""
    x = make_distribution("laplace", 8).sample((250_000,), gen(11)).flatten()
    b = 1 / math.sqrt(2)
    for side in (x[x > 0], -x[x < 0]):
        assert abs(side.mean().item() - b) < 4.5 * b / math.sqrt(side.numel())
    assert abs((x > 0).double().mean().item() - 0.5) < 4.5 * 0.5 / math.sqrt(x.numel())
    z = x.abs()
    # and the tail P(|z| > 2) = exp(-2/b)
    p = (z > 2).double().mean().item()
    assert abs(p - math.exp(-2 / b)) < 4.5 * math.sqrt(p * (1 - p) / z.numel())


@pytest.mark.parametrize("radial,expected", [(True, 8 / 6), (False, 1.0)])
def test_student_t_joint_law(radial, expected):
    """E[z1^2 z2^2] = (df - 2)/(df - 4) for the radial (one chi2 per patch) law, 1 for
    independent coordinates: same marginals, different joint laws. df = 10 keeps the eighth
    moment finite, so the standard error of the mean is valid."""
    z = make_distribution("student_t", 2, df=10.0, radial=radial).sample((200_000,), gen(12))
    prod = z[:, 0] ** 2 * z[:, 1] ** 2
    se = prod.std().item() / math.sqrt(len(prod))
    assert abs(prod.mean().item() - expected) < 4.5 * se, (prod.mean().item(), se)


def test_anisotropic_scales_and_mixture_mean():
    d = make_distribution("anisotropic", 3, scales=(2.0, 1.0, 0.5))
    _, cov = empirical_moments(d.sample((200_000,), gen(4)))
    torch.testing.assert_close(torch.diag(cov), torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64), rtol=0.03, atol=0)
    mix = make_distribution("mixture", 4, shift=0.5)
    mu, _ = empirical_moments(mix.sample((200_000,), gen(5)))
    torch.testing.assert_close(mu, mix.mean, rtol=0, atol=0.01)
    assert mix.mean.tolist() == [0.25] * 4 and not mix.symmetric


def test_empirical_moments_and_default_scales():
    x = torch.randn(500, 3, generator=gen(14), dtype=torch.float64) * 2 + torch.tensor([5.0, -1.0, 0.0], dtype=torch.float64)
    mu, cov = empirical_moments(x)
    np.testing.assert_allclose(mu.numpy(), x.numpy().mean(0), rtol=1e-13)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.numpy().T), rtol=1e-12)
    assert make_distribution("anisotropic", 3).scales == pytest.approx((2.0, 1.0, 0.5), rel=1e-15)
    assert make_distribution("anisotropic", 1).scales == (1.0,)
    assert make_distribution("anisotropic", 2, scales=(3.0, 3.0)).rotation_invariant


def test_mixture_components():
    """Orthogonal to e = 1/sqrt(n) the mixture is N(0, std^2) (std = 0.6 by default); along e it
    is shift + +-sep + N(0, std^2), whose third central moment is 0 when the signs are fair."""
    d = make_distribution("mixture", 2, shift=0.0)
    z = d.sample((500_000,), gen(15))
    u = (z[:, 0] - z[:, 1]) / math.sqrt(2)
    assert abs(u.var().item() - 0.36) < 4.5 * 0.36 * math.sqrt(2 / len(u))
    t = (z[:, 0] + z[:, 1]) / math.sqrt(2)
    t3 = t**3
    assert abs(t3.mean().item()) < 4.5 * t3.std().item() / math.sqrt(len(t))
    assert abs((t**2).mean().item() - 1.36) < 4.5 * (t**2).std().item() / math.sqrt(len(t))


def test_digits_patch_is_the_central_patch():
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float64)
    x = x - x.mean(0)
    std = x.std(0)
    x = x / np.where(std > 0, std, 1.0)
    for k in (2, 4):
        lo = (8 - k) // 2
        want = x.reshape(-1, 8, 8)[:, lo:lo + k, lo:lo + k].reshape(-1, k * k)
        np.testing.assert_allclose(Digits(k * k, kind="patch").points.numpy(), want, rtol=1e-13, atol=1e-13)
    assert not make_distribution("digits", 4).symmetric and not make_distribution("digits", 4).rotation_invariant


def test_symmetry_facts():
    assert make_distribution("gaussian", 2).rotation_invariant
    assert make_distribution("student_t", 2).rotation_invariant
    assert not make_distribution("student_t", 2, radial=False).rotation_invariant
    for name in ("uniform", "laplace", "anisotropic"):
        d = make_distribution(name, 2)
        assert d.symmetric and not d.rotation_invariant
    assert make_distribution("mixture", 2, shift=0.0).symmetric


@pytest.mark.parametrize("name", ["gaussian", "uniform", "laplace", "student_t", "anisotropic"])
def test_symmetric_laws_give_half_probability_on_each_side(name):
    d = make_distribution(name, 3)
    w = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    p = (d.sample((100_000,), gen(6)) @ w > 0).double().mean().item()
    assert abs(p - 0.5) < 4 * math.sqrt(0.25 / 100_000)


def test_digits_is_real_checked_data():
    d = Digits(16, kind="patch")
    assert d.points.shape == (1797, 16)
    assert (d.points.std(dim=0) > 0).all()  # the central patch has no dead pixels
    np.testing.assert_allclose(d.mean.numpy(), d.points.numpy().mean(0), rtol=1e-12, atol=1e-15)
    assert d.mean.shape == (16,)
    pca = Digits(5)
    assert pca.mean.shape == (5,) and float(pca.mean.abs().max()) < 1e-12  # centred before the PCA
    _, cov = empirical_moments(pca.points)
    torch.testing.assert_close(cov, torch.eye(5, dtype=torch.float64) * 1797 / 1796, rtol=0, atol=1e-10)


@pytest.mark.parametrize("call,match", [
    (lambda: make_distribution("cauchy", 2), r"distribution='cauchy' is not valid; choose one of"),
    (lambda: make_distribution("gaussian", 0), r"n=0 must be an integer >= 1"),
    (lambda: make_distribution("student_t", 2, df=2.0), r"df=2.0 must be a finite number in \(2.0"),
    (lambda: make_distribution("uniform", 2, width=3), r"unknown shape parameter\(s\) \['width'\] for distribution 'uniform'"),
    (lambda: make_distribution("anisotropic", 2, scales=(1.0,)), r"scales has 1 entries; it needs n=2"),
    (lambda: make_distribution("mixture", 2, shift=100.5), r"shift=100.5 must be a finite number in \[-100.0, 100.0\]"),
    (lambda: make_distribution("mixture", 2, shift=-100.5), r"shift=-100.5"),
    (lambda: make_distribution("mixture", 2, sep=100.5), r"sep=100.5 must be a finite number in \[0.0, 100.0\]"),
    (lambda: make_distribution("mixture", 2, std=0.0), r"std=0.0 must be a finite number in \(0.0"),
    (lambda: make_distribution("digits", 7, kind="patch"), r"n=7 must be a square"),
    (lambda: make_distribution("digits", 2, kind="rows"), r"kind='rows' is not valid"),
    (lambda: make_distribution("gaussian", 2).sample((3,), 0), r"generator must be a torch.Generator"),
])
def test_bad_distribution_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_problem_labels():
    d = make_distribution("gaussian", 2)
    Z = d.sample((5, 3), gen(0))
    p = Problem(d, 3, labels="teacher", v_star=[1.0, 2.0, 3.0], w_star=[1.0, 0.0])
    torch.testing.assert_close(p.label(Z), ((Z[..., 0] > 0).double() * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum(-1))
    lin = Problem(d, 3, labels="linear", a=[1.0, -1.0])
    torch.testing.assert_close(lin.label(Z), (Z[..., 0] - Z[..., 1]).sum(-1))
    relu = Problem(d, 3, labels="relu_teacher", v_star=[1.0, 1.0, 1.0], w_star=[0.0, 1.0])
    torch.testing.assert_close(relu.label(Z), Z[..., 1].clamp(min=0).sum(-1))
    Z0 = Z.clone()
    Z0[:, 2] = 0.0  # sigma(0) = 0: a zero patch never fires
    torch.testing.assert_close(p.label(Z0), ((Z[..., :2, 0] > 0).double() * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum(-1))
    torch.testing.assert_close(p.reference_direction, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(Problem(d, 3, labels="linear", a=[3.0, -4.0]).reference_direction,
                               torch.tensor([0.6, -0.8], dtype=torch.float64))
    sign = Problem(d, 3, labels="sign", a=[1.0, -2.0])
    np.testing.assert_array_equal(sign.label(Z).numpy(), np.sign(Z.numpy() @ np.array([1.0, -2.0])).sum(-1))
    assert set(sign.label(d.sample((200, 3), gen(1))).tolist()) == {-3.0, -1.0, 1.0, 3.0}
    noisy = Problem(d, 3, labels="sign", a=[1.0, 0.0], noise=0.5)
    y1, y2 = noisy.sample(4, gen(9))[1], noisy.sample(4, gen(9))[1]
    assert torch.equal(y1, y2)


def test_label_noise_standard_deviation():
    """noise = sd: the labels minus the noiseless ones have sd 0.5 (two-sided, se 0.35 %)."""
    d = make_distribution("uniform", 2)
    noisy = Problem(d, 2, labels="linear", a=[1.0, 0.5], noise=0.5)
    Z, y = noisy.sample(40_000, gen(13))
    e = (y - Problem(d, 2, labels="linear", a=[1.0, 0.5]).label(Z)).numpy()
    assert abs(e.std(ddof=1) - 0.5) < 4.5 * 0.5 / math.sqrt(2 * len(e))
    assert abs(e.mean()) < 4.5 * 0.5 / math.sqrt(len(e))
    # draw by draw: the patches first, then one N(0, 1) per label, times noise, added
    g = gen(13)
    Z2 = d.sample((40_000, 2), g)
    eps = torch.randn(40_000, generator=g, dtype=torch.float64)
    assert torch.equal(Z2, Z)
    np.testing.assert_allclose(e, 0.5 * eps.numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="noise > 0 needs a generator"):
        noisy.label(Z[:5])


@pytest.mark.parametrize("kwargs,match", [
    ({"labels": "teacher"}, r"labels='teacher' needs v_star"),
    ({"labels": "linear"}, r"labels='linear' needs a"),
    ({"labels": "teacher", "v_star": [1.0] * 3}, r"labels='teacher' needs v_star \(shape \(m,\)\) and w_star"),
    ({"labels": "relu_teacher", "w_star": [1.0, 0.0]}, r"labels='relu_teacher' needs v_star"),
    ({"labels": "linear", "a": [1.0]}, r"a must have shape \(2,\)"),
    ({"labels": "teacher", "v_star": [1.0], "w_star": [1.0, 0.0]}, r"v_star must have shape \(3,\)"),
    ({"labels": "teacher", "v_star": [1.0] * 3, "w_star": [0.0, 0.0]}, r"w_star = 0 is not allowed"),
    ({"labels": "cubic", "a": [1.0, 0.0]}, r"labels='cubic' is not valid"),
    ({"labels": "linear", "a": [1.0, 0.0], "noise": -1.0}, r"noise=-1.0 must be"),
    ({"labels": "linear", "a": [1.0, 0.0], "noise": 1.005e6}, r"noise=1005000.0 must be a finite number in \[0.0, 1000000.0\]"),
])
def test_bad_problem_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Problem(make_distribution("gaussian", 2), 3, **kwargs)


def test_documented_defaults_and_upper_limits():
    """The defaults the book states (Student-t df = 5; mixture sep 1, std 0.6, shift 0.5) and
    the largest accepted n (4096) and df (1e6), each with the first refused value."""
    assert make_distribution("student_t", 3).df == 5.0
    mix = make_distribution("mixture", 4)
    assert (mix.sep, mix.std, mix.shift) == (1.0, 0.6, 0.5)
    torch.testing.assert_close(mix.mean, torch.full((4,), 0.25, dtype=torch.float64), rtol=0, atol=1e-16)
    assert make_distribution("gaussian", 4096).n == 4096
    with pytest.raises(ValueError, match="n=4097"):
        make_distribution("gaussian", 4097)
    assert make_distribution("student_t", 2, df=1e6).df == 1e6
    assert make_distribution("student_t", 2, df=2.01).df == 2.01  # df > 2, open at 2
    with pytest.raises(ValueError, match=r"scales entry=0.0 must be a finite number in \(0.0"):
        make_distribution("anisotropic", 2, scales=(1.0, 0.0))
    with pytest.raises(ValueError, match="df=1005000.0"):
        make_distribution("student_t", 2, df=1.005e6)


def test_digits_draws_every_image():
    """Uniform draws with replacement over all 1797 images: 60 000 draws (33 per image on
    average) miss a given image with probability e^-33, so every distinct image appears,
    including the first and the last."""
    d = Digits(4)  # the 1797 whitened images are distinct in their first 4 coordinates
    x = d.sample((60_000,), gen(16))
    drawn = np.unique(x.numpy(), axis=0)
    assert len(drawn) == len(np.unique(d.points.numpy(), axis=0)) == 1797
    for i in (0, len(d.points) - 1):
        assert bool((x == d.points[i]).all(-1).any())


def test_digits_full_patch_standardises_faint_pixels():
    """k = 8 takes the whole image: every pixel with spread (also the faint border pixels,
    std < 1) has unit variance; the three constant pixels stay 0."""
    p = Digits(64, kind="patch").points.numpy()
    std = p.std(axis=0)
    live = std > 0
    assert live.sum() == 61
    np.testing.assert_allclose(std[live], 1.0, rtol=1e-12)
    assert np.abs(p[:, ~live]).max() == 0.0


def test_student_t_degrees_of_freedom_through_log_moments():
    """z = g / sqrt(chi2_df / df) * sqrt((df - 2)/df) has the exact log-moment
    E log|z| = -(gamma_E + log 2)/2 - (digamma(df/2) + log(2/df))/2 + log sqrt((df - 2)/df),
    and Var log|z| = pi^2/8 + trigamma(df/2)/4 is finite, so 2 million coordinates pin the
    degrees of freedom of the chi2 and the scale to about 1 % (two-sided, 4.5 standard errors)."""
    from scipy.special import digamma

    df = 2.5  # close to 2, where the scale sqrt((df - 2)/df) and the chi2's df matter most
    z = make_distribution("student_t", 8, df=df, radial=False).sample((250_000,), gen(17)).flatten()
    lz = torch.log(z.abs())
    want = (-(np.euler_gamma + math.log(2)) / 2 - (digamma(df / 2) + math.log(2 / df)) / 2
            + 0.5 * math.log((df - 2) / df))
    se = lz.std().item() / math.sqrt(lz.numel())
    assert abs(lz.mean().item() - want) < 4.5 * se, (lz.mean().item(), want, se)


def test_anisotropic_scales_bound_is_one_million_inclusive():
    from stelib.distributions import AnisotropicGaussian

    assert AnisotropicGaussian(2, scales=(1e6, 1.0)).scales == (1e6, 1.0)
    with pytest.raises(ValueError, match="scales entry"):
        AnisotropicGaussian(2, scales=(1.005e6, 1.0))


def test_problem_patch_count_bound_is_4096_inclusive():
    gauss = make_distribution("gaussian", 2)
    assert Problem(gauss, m=4096, labels="linear", a=[1.0, 0.5]).m == 4096
    with pytest.raises(ValueError, match="m=4097"):
        Problem(gauss, m=4097, labels="linear", a=[1.0, 0.5])
