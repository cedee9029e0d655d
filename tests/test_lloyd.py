"""Tests of stelib.lloyd against the quantization error minimised by quadrature (independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from stelib.lloyd import half_gaussian_alpha, lloyd_alphas, uniform_lloyd


def quadrature_optimum(bits: int) -> tuple[float, float]:
    """argmin and min over alpha of E[(X - Q_alpha(X))^2], X half-normal, nearest of {0, ..., L alpha}."""
    L = 2**bits - 1

    def mse(a):
        total = 0.0
        for k in range(L + 1):
            lo = 0.0 if k == 0 else (k - 0.5) * a
            hi = np.inf if k == L else (k + 0.5) * a
            total += integrate.quad(lambda x, k=k: (x - k * a) ** 2 * 2 * stats.norm.pdf(x), lo, hi)[0]
        return total

    r = optimize.minimize_scalar(mse, bounds=(0.02, 3.0), method="bounded", options={"xatol": 1e-7})
    return float(r.x), float(r.fun)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_half_gaussian_alpha_matches_quadrature(bits):
    a_ref, mse_ref = quadrature_optimum(bits)
    fit = half_gaussian_alpha(bits, n=400_000, rng=np.random.default_rng(bits))
    assert abs(fit.alpha - a_ref) < 0.004 * a_ref + 1e-3, (fit.alpha, a_ref)
    assert abs(fit.mse - mse_ref) < 0.02 * mse_ref, (fit.mse, mse_ref)


def test_known_values_by_hand():
    assert uniform_lloyd([1.0, 2.0, 3.0], 2).alpha == pytest.approx(1.0)  # levels 0, 1, 2, 3 fit exactly
    fit = uniform_lloyd([0.9, 2.1], 1)  # 0.9 -> level 0, 2.1 -> level alpha = 2.1
    assert fit.alpha == pytest.approx(2.1) and fit.mse == pytest.approx(0.81 / 2)
    # 2 bits: start 2.4 / 3 = 0.8, levels 1 and 3, alpha = (1 + 3 * 2.4) / (1 + 9) = 0.82, which keeps them
    assert uniform_lloyd([1.0, 2.4], 2).alpha == pytest.approx(0.82)


def test_fixed_point_is_a_stationary_point_of_the_empirical_error():
    x = np.abs(np.random.default_rng(0).standard_normal(5000))
    fit = uniform_lloyd(x, 2)

    def err(a):
        return np.mean((x - a * np.clip(np.rint(x / a), 0, 3)) ** 2)

    assert err(fit.alpha) <= min(err(fit.alpha * 1.01), err(fit.alpha * 0.99))


@pytest.mark.parametrize(("args", "kw", "name"), [
    (([1.0, 2.0], 0), {}, "bits"), (([1.0, -2.0], 1), {}, "x"), (([0.0, 0.0], 1), {}, "x"),
    (([1.0], 1), {}, "x"), (([1.0, np.nan], 1), {}, "x"), (([1.0, 2.0], 1), {"tol": 0.0}, "tol"),
    (([1.0, 2.0], 1), {"max_iter": 0}, "max_iter"),
])
def test_bad_arguments(args, kw, name):
    with pytest.raises(ValueError, match=name):
        uniform_lloyd(*args, **kw)


def test_bad_rng_and_n():
    with pytest.raises(ValueError, match="rng"):
        half_gaussian_alpha(2, rng=0)
    with pytest.raises(ValueError, match="n"):
        half_gaussian_alpha(2, n=1, rng=np.random.default_rng(0))


def test_lloyd_alphas_fit_the_widths_in_order_from_one_generator():
    fits = lloyd_alphas([4, 2], samples=5_000, seed=3)
    assert list(fits) == [2, 4]
    rng = np.random.default_rng(3)
    first = half_gaussian_alpha(2, n=5_000, rng=rng)
    assert fits[2] == first and fits[4] == half_gaussian_alpha(4, n=5_000, rng=rng)
    assert lloyd_alphas([2, 4, 2], samples=5_000, seed=3) == fits
    # another width fitted first moves the later fits: ask for exactly the widths that train
    assert lloyd_alphas([1, 2, 4], samples=5_000, seed=3)[2] != fits[2]


@pytest.mark.parametrize(("kw", "word"), [({"bits": 2}, "bits"), ({"bits": []}, "bits"),
                                          ({"bits": [0]}, "bits"), ({"bits": [2], "samples": 1}, "samples"),
                                          ({"bits": [2], "seed": -1}, "seed"),
                                          ({"bits": [2.0]}, "bits")])
def test_lloyd_alphas_bad_input(kw, word):
    with pytest.raises(ValueError, match=word):
        lloyd_alphas(**kw)
