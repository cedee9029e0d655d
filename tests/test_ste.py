"""STEs: forward/backward against an independent NumPy re-implementation, boundary conventions."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stelib.ste import STE_NAMES, binary_step, quantized_relu, surrogate, surrogate_derivative


def numpy_mu_prime(x, ste, upper=1.0):
    """The primer's definitions, written independently of stelib."""
    x = np.asarray(x, dtype=float)
    return {"identity": np.ones_like(x), "relu": (x > 0).astype(float),
            "crelu": ((x > 0) & (x < upper)).astype(float)}[ste]


@pytest.mark.parametrize("ste", STE_NAMES)
def test_forward_is_step_and_backward_is_surrogate_derivative(ste):
    x0 = np.array([-2.0, -1e-300, 0.0, 1e-300, 0.5, 1.0 - 1e-16, 1.0, 1.5, 3.0])
    x = torch.tensor(x0, requires_grad=True)
    y = binary_step(x, ste)
    np.testing.assert_array_equal(y.detach().numpy(), (x0 > 0).astype(float))
    upstream = torch.linspace(-1, 2, len(x0), dtype=torch.float64)
    y.backward(upstream)
    np.testing.assert_array_equal(x.grad.numpy(), upstream.numpy() * numpy_mu_prime(x0, ste))


@pytest.mark.parametrize("ste", STE_NAMES)
def test_strict_inequalities_at_the_kinks(ste):
    d = surrogate_derivative(torch.tensor([0.0, 1.0], dtype=torch.float64), ste).tolist()
    assert d == {"identity": [1.0, 1.0], "relu": [0.0, 1.0], "crelu": [0.0, 0.0]}[ste]


@pytest.mark.parametrize("ste", STE_NAMES)
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=30))
def test_surrogate_derivative_matches_numpy(ste, xs):
    np.testing.assert_array_equal(surrogate_derivative(np.array(xs), ste).numpy(), numpy_mu_prime(xs, ste))


@pytest.mark.parametrize("ste", STE_NAMES)
def test_surrogate_derivative_is_derivative_of_surrogate(ste):
    x = torch.tensor([-1.3, -0.2, 0.3, 0.7, 1.4, 2.5], dtype=torch.float64, requires_grad=True)
    surrogate(x, ste).sum().backward()  # away from the kinks autograd gives mu'
    np.testing.assert_array_equal(x.grad.numpy(), surrogate_derivative(x.detach(), ste).numpy())


@pytest.mark.parametrize("ste", STE_NAMES)
def test_numpy_inputs_give_float64(ste):
    assert binary_step(np.array([0.5, -0.5]), ste).dtype == torch.float64
    assert surrogate_derivative([0.5], ste).dtype == torch.float64


@pytest.mark.parametrize("bits,alpha", [(1, 1.0), (2, 0.5), (4, 0.25)])
@pytest.mark.parametrize("ste", STE_NAMES)
def test_quantized_relu_levels_and_clipped_backward(bits, alpha, ste):
    x0 = np.linspace(-1.0, (2**bits) * alpha + 0.5, 97)
    x = torch.tensor(x0, requires_grad=True)
    y = quantized_relu(x, bits, alpha, ste=ste)
    levels = 2**bits - 1
    expected = alpha * np.clip(np.ceil(x0 / alpha), 0, levels)  # Yin et al.'s sigma_alpha
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=1e-15)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), numpy_mu_prime(x0, ste, upper=levels * alpha))


def test_one_bit_quantized_relu_is_the_binary_step():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    assert torch.equal(quantized_relu(x, 1, 1.0), binary_step(x, "crelu"))


@pytest.mark.parametrize("call,match", [
    (lambda: binary_step(torch.ones(2), "sign"), r"ste='sign' is not valid; choose one of 'identity', 'relu', 'crelu'"),
    (lambda: surrogate_derivative(torch.ones(2), "ReLU"), r"ste='ReLU'"),
    (lambda: quantized_relu(torch.ones(2), 0), r"bits=0 must be an integer >= 1"),
    (lambda: quantized_relu(torch.ones(2), 2.5), r"bits=2.5 must be an integer"),
    (lambda: quantized_relu(torch.ones(2), 2, alpha=0.0), r"alpha=0.0 must be a finite number in \(0.0"),
    (lambda: binary_step(np.array([np.nan]), "relu"), r"x contains non-finite values"),
    (lambda: binary_step("abc", "relu"), r"x=.abc. must be a real number or array, got a string"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
