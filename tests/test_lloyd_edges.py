"""Edges of stelib.lloyd against a plain NumPy re-implementation of the constrained Lloyd iteration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stelib.lloyd import half_gaussian_alpha, uniform_lloyd


def lloyd_reference(x, bits, tol=1e-12, max_iter=10_000):
    """Nearest level by floor(x / alpha + 1/2) clipped to {0, ..., L}, least-squares step; a loop."""
    x = np.asarray(x, dtype=float)
    L = 2**bits - 1
    alpha, it = x.max() / L, 0
    while it < max_iter:
        it += 1
        k = np.clip(np.floor(x / alpha + 0.5), 0, L)
        new = np.sum(k * x) / np.sum(k * k)
        done = abs(new - alpha) <= tol * alpha
        alpha = new
        if done:
            break
    k = np.clip(np.floor(x / alpha + 0.5), 0, L)
    return alpha, np.mean((x - alpha * k) ** 2), it


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_matches_a_numpy_loop_on_random_samples(bits):
    x = np.abs(np.random.default_rng(10 + bits).standard_normal(3000))
    fit = uniform_lloyd(x, bits)
    alpha, mse, it = lloyd_reference(x, bits)
    assert fit.alpha == pytest.approx(alpha, rel=1e-12) and fit.mse == pytest.approx(mse, rel=1e-10)
    assert fit.iterations == it and fit.bits == bits


def test_iteration_count_and_stopping_rule_by_hand():
    # 2 bits on (1, 2, 3): start alpha = 3 / 3 = 1 is already the fixed point: one step
    assert uniform_lloyd([1.0, 2.0, 3.0], 2).iterations == 1
    # (1, 2.4), 2 bits: one step moves alpha from 0.8 to 0.82; max_iter=1 stops there
    one = uniform_lloyd([1.0, 2.4], 2, max_iter=1)
    assert one.iterations == 1 and one.alpha == pytest.approx(0.82)
    assert uniform_lloyd([1.0, 2.4], 2).iterations == 2
    # 1 bit on (1, 2): both samples reach level 1 (1 >= alpha / 2 = 1), alpha 2 -> 1.5; the move
    # 0.5 equals tol * alpha = 0.25 * 2 exactly, which stops (<=) after one step
    fit = uniform_lloyd([1.0, 2.0], 1, tol=0.25)
    assert (fit.alpha, fit.iterations) == (1.5, 1) and fit.mse == pytest.approx(0.25)
    assert uniform_lloyd([1.0, 2.0], 1, tol=0.2).iterations == 2


def test_small_samples_and_mse_with_samples_below_half_a_step():
    assert uniform_lloyd([0.0, 1.0, 2.0], 1).alpha == pytest.approx(1.5)  # zeros are valid samples
    fit = uniform_lloyd([0.2, 0.5], 1)  # all samples below 1: valid
    assert fit.alpha == pytest.approx(0.5) and fit.mse == pytest.approx(0.02)
    # 0.1 rounds to level 0 (error 0.01), 2 and 4 to levels 1 and 2 of alpha = 2: mse 0.01 / 3
    fit = uniform_lloyd([0.1, 2.0, 4.0, 6.0], 2)
    assert fit.alpha == pytest.approx(2.0) and fit.mse == pytest.approx(0.01 / 4)


def test_parameter_bounds_are_inclusive():
    assert uniform_lloyd([1.0, 2.0], 16).bits == 16
    assert uniform_lloyd([1.0, 2.0], 1, tol=1.0).alpha > 0
    assert uniform_lloyd([1.0, 2.0], 1, max_iter=10**7).iterations < 10
    assert half_gaussian_alpha(1, n=2, rng=np.random.default_rng(0)).alpha > 0
    for kw, name in (({"bits": 17}, "bits"), ({"tol": 1.005}, "tol"), ({"max_iter": 10**7 + 1}, "max_iter")):
        with pytest.raises(ValueError, match=name):
            uniform_lloyd([1.0, 2.0], **{"bits": 1, **kw})
    with pytest.raises(ValueError, match="x"):
        uniform_lloyd(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match="n"):
        half_gaussian_alpha(1, n=10**8 + 1, rng=np.random.default_rng(0))


def test_result_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        uniform_lloyd([1.0, 2.0], 1).alpha = 3.0


def test_half_gaussian_mse_both_roundings_against_monte_carlo():
    import numpy as np

    from stelib.lloyd import half_gaussian_mse, optimal_alpha

    x = np.abs(np.random.default_rng(3).standard_normal(1_000_000))
    for bits, alpha in ((1, 1.2), (2, 0.65), (4, 0.19)):
        L = 2**bits - 1
        near = np.mean((x - alpha * np.clip(np.rint(x / alpha), 0, L)) ** 2)
        ceil = np.mean((x - alpha * np.minimum(np.ceil(x / alpha), L)) ** 2)
        assert abs(half_gaussian_mse(alpha, bits) - near) < 1e-3  # Monte Carlo error ~1e-4
        assert abs(half_gaussian_mse(alpha, bits, rounding="ceil") - ceil) < 1e-3
    # 1 bit, rounding up: every x > 0 goes to alpha, so the optimum is E|Z| = sqrt(2/pi)
    assert abs(optimal_alpha(1, rounding="ceil") - (2 / np.pi) ** 0.5) < 1e-7
    a = optimal_alpha(2, rounding="ceil")
    assert half_gaussian_mse(a, 2, rounding="ceil") < min(half_gaussian_mse(a * f, 2, rounding="ceil") for f in (0.99, 1.01))
    assert optimal_alpha(2, rounding="nearest") > a  # rounding up wants a smaller step


@pytest.mark.parametrize("kw,match", [({"alpha": 0.0, "bits": 2}, "alpha"), ({"alpha": 1.0, "bits": 0}, "bits"),
                                      ({"alpha": 1.0, "bits": 2, "rounding": "floor"}, "rounding")])
def test_half_gaussian_mse_refuses_bad_input(kw, match):
    from stelib.lloyd import half_gaussian_mse

    with pytest.raises(ValueError, match=match):
        half_gaussian_mse(**kw)
