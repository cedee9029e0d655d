"""Edge cases of stelib.profile: exact zeros of the slope and of the radial sum, hand-computed."""

from __future__ import annotations

import math

import pytest
import torch

from stelib import profile

F64 = torch.float64


def _mirrored_sample(n: int, seed: int):
    """n Gaussian points and their mirror images (z1, -z2), labels y = 1{z1 > 0} (integers, so
    every sum is exact). The sample profile is then even about theta = 0 and theta = pi."""
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=F64)
    z = torch.cat([z, z * torch.tensor([1.0, -1.0], dtype=F64)])
    return z[:, None, :], (z[:, 0] > 0).to(F64)


def test_a_slope_exactly_zero_on_the_grid_is_a_stationary_angle_there():
    """Population: P = 1/2, G(theta) = (pi - |theta|) / (2 pi), f = 1/4 - G^2, stationary at 0 and
    pi only. On the mirrored sample the central difference at 0 and at -pi is exactly 0 (by the
    symmetry), and those grid angles themselves are returned, not a neighbour."""
    Z, y = _mirrored_sample(3000, 5)
    p = profile.profile(Z, y, torch.tensor([0.0, -math.pi], dtype=F64), delta=0.1)
    assert p.df.tolist() == [0.0, 0.0]
    got = profile.stationary_angles(Z, y)
    assert len(got) == 2
    assert abs(got[0] + math.pi) < 1e-12 and abs(got[1]) < 1e-12


def test_a_flat_profile_has_no_stationary_angle_and_no_error():
    """y = 0: f = 0 at every angle, the slope is 0 at every grid point. Consecutive zeros form
    one cluster of an even number of crossings: no stationary angle is reported."""
    Z, y = _mirrored_sample(200, 6)
    y = torch.zeros_like(y)
    assert profile.profile(Z, y, torch.linspace(-3, 3, 7, dtype=F64)).df.abs().max() == 0
    assert profile.stationary_angles(Z, y, grid=360) == []


def _ray_sample(x, y):
    x = torch.tensor(x, dtype=F64)
    return torch.stack([x, torch.zeros_like(x)], -1)[:, None, :], torch.tensor(y, dtype=F64)


def test_crelu_radial_root_where_the_radial_sum_touches_zero():
    """z = (x, 0), w_hat = (1, 0), v = 1: N R(c) = sum over 0 < x_k < c of x_k (1 - y_k).
    x = 1, 2, 3, 4 with y = 0, 1.5, 2, 1 gives N R = 1 on (1, 2], 0 on (2, 3], -3 on (3, inf):
    R stops being positive (for good) when c passes 2, so the root is 2, not 3. The points at
    x = 0 and x < 0 never count."""
    Z, y = _ray_sample([1.0, 2.0, 3.0, 4.0, 0.0, -1.0], [0.0, 1.5, 2.0, 1.0, 50.0, -50.0])
    assert profile.crelu_radial_root(1.0, [1.0, 0.0], Z, y) == 2.0
    # v = 0: R = 0 for every c, never positive -> no root
    assert profile.crelu_radial_root(0.0, [1.0, 0.0], Z, y) is None
    # R <= 0 from the start (y > v everywhere): no change of sign from + to -
    Z, y = _ray_sample([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert profile.crelu_radial_root(1.0, [1.0, 0.0], Z, y) is None


def test_crelu_radial_root_weights_each_sample_by_x_v_and_v_minus_y():
    """z = (x, 0), w_hat = (1, 0), v = 1, x = 1, 2, 3, y = -1, 1.5, 3: the terms x v (v - y) are
    2, -1, -6, so N R = 2, 1, -5 and the sign changes from + to - as c passes x = 3."""
    Z, y = _ray_sample([1.0, 2.0, 3.0], [-1.0, 1.5, 3.0])
    assert profile.crelu_radial_root(1.0, torch.tensor([1.0, 0.0], dtype=F64), Z, y) == 3.0


def test_profile_is_frozen():
    Z, y = _mirrored_sample(20, 7)
    p = profile.profile(Z, y, torch.tensor([0.5], dtype=F64))
    with pytest.raises(AttributeError):
        p.f = p.df


def test_profile_text_one_line_per_angle():
    """Degrees to 2 decimals, f to 4, the slope and its s.e. in 2 significant digits, and v
    through the rounding floor (a v of 1e-17 is zero to rounding)."""
    p = profile.Profile(torch.tensor([math.pi / 4, -math.pi], dtype=F64), torch.tensor([0.5, 0.25], dtype=F64),
                        torch.tensor([-1.31e-3, 2.8e-8], dtype=F64), torch.tensor([2.5e-3, 8.3e-9], dtype=F64),
                        torch.tensor([0.88816, 1e-17], dtype=F64))
    assert str(p).splitlines() == [
        "theta =    45.00 deg: f = 0.5000, f' = -1.3e-03 (se 2.5e-03), v = +0.8882",
        "theta =  -180.00 deg: f = 0.2500, f' = +2.8e-08 (se 8.3e-09), v = <1e-12",
    ]
