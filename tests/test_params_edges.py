"""Edges of the range checks: open and closed ends, maximum and maximum + 1 (through the
public checks of stelib.params and the library's shared validators)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stelib._validate import as_tensor, check_positive_int, check_real
from stelib.params import Int, Real


@pytest.mark.parametrize("spec,ok,bad", [
    (Real(0, 1), [0, 0.5, 1], [-1e-12, 1 + 1e-12, math.nan, math.inf]),
    (Real(0, 1, low_open=True), [1e-300, 1], [0, 0.0, -0.0]),
    (Real(0, 1, high_open=True), [0, 1 - 1e-16], [1, 1.0]),
    (Real(0, 1, low_open=True, high_open=True), [0.5], [0, 1]),
    (Int(1, 5), [1, 5], [0, 6, True, 2.0]),
])
def test_spec_ends(spec, ok, bad):
    for x in ok:
        spec.check("p", x)
    for x in bad:
        with pytest.raises(ValueError, match=rf"parameter p={x!r} is not allowed"):
            spec.check("p", x)


def test_describe_shows_open_and_closed_ends():
    assert Real(0, 1, high_open=True).describe() == "a finite number in [0, 1)"
    assert Real(0, 1, low_open=True).describe() == "a finite number in (0, 1]"
    assert Int(1, 5).describe() == "an integer in [1, 5]"
    # ends shown short when that is exact, else in full (format 'g' keeps 6 digits)
    assert Real(0.123456789, 2.5e-7).describe() == "a finite number in [0.123456789, 2.5e-07]"
    assert Real(-math.inf, math.inf).describe() == "a finite number in (-inf, inf)"


def test_check_positive_int_maximum_and_minimum():
    assert check_positive_int(5, name="k", maximum=5) == 5
    assert check_positive_int(2, name="k", minimum=2) == 2
    with pytest.raises(ValueError, match=r"k=6 must be an integer >= 1 and <= 5"):
        check_positive_int(6, name="k", maximum=5)
    with pytest.raises(ValueError, match=r"k=1 must be an integer >= 2$"):
        check_positive_int(1, name="k", minimum=2)
    for bad in (True, 1.0, "1", None):
        with pytest.raises(ValueError, match=r"k=.* must be an integer"):
            check_positive_int(bad, name="k")


def test_check_real_open_ends():
    assert check_real(1.0, name="x", low=0.0, high=1.0) == 1.0
    assert check_real(0.0, name="x", low=0.0, high=1.0) == 0.0
    with pytest.raises(ValueError, match=r"x=1.0 must be a finite number in \[0.0, 1.0\)"):
        check_real(1.0, name="x", low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"x=0.0 must be a finite number in \(0.0, 1.0\]"):
        check_real(0.0, name="x", low=0.0, high=1.0, low_open=True)
    for bad in (math.nan, math.inf, True, "1", 1j):
        with pytest.raises(ValueError, match=r"x=.* must be a"):
            check_real(bad, name="x")


def test_as_tensor_dtypes_and_shapes():
    x32 = torch.ones(2, dtype=torch.float32)
    assert as_tensor(x32, name="x").dtype == torch.float32  # tensors keep their dtype
    assert as_tensor(x32, name="x", dtype=torch.float64).dtype == torch.float64
    assert as_tensor(np.ones(2, dtype=np.float32), name="x").dtype == torch.float64
    assert as_tensor(torch.tensor([1, 2]), name="x").dtype == torch.get_default_dtype()
    assert as_tensor([1.0, math.inf], name="x", finite=False)[1].item() == math.inf
    with pytest.raises(ValueError, match=r"x must have 2 dimension\(s\), got shape \(3,\)"):
        as_tensor([1.0, 2.0, 3.0], name="x", ndim=2)
    assert as_tensor([[1.0]], name="x", ndim=(1, 2)).shape == (1, 1)
    with pytest.raises(ValueError, match=r"x contains non-finite values"):
        as_tensor([1e308, 1e308, -math.inf], name="x")
    with pytest.raises(ValueError, match=r"x contains non-finite values"):
        as_tensor([math.nan, 1.0], name="x")
    assert as_tensor([1e308, 1e308], name="x").sum().item() == math.inf  # finite entries, sum overflows


def test_short_echoes_at_most_80_characters_then_cuts_with_the_length():
    from stelib.params import short

    exact = "x" * 78  # repr adds two quotes: 80 characters, shown in full
    assert short(exact) == repr(exact)
    longer = "x" * 79  # 81 characters: cut to 60 and the total named
    assert short(longer) == repr(longer)[:60] + "...<81 characters>"
