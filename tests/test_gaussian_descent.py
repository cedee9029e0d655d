"""Tests of stelib.gaussian.descent_ratio (the descent ratio of Yin's setting).

Independent references: the v-gradient by central finite differences of the closed-form loss,
the identity expected coarse gradient from its one-line formula, and the limit of the identity
ratio along a path into a spurious minimiser worked out by hand.
"""

from __future__ import annotations

import math

import pytest
import torch

from stelib import gaussian as g

F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)
V_STAR = torch.tensor([1.0, -0.5, 0.8], dtype=F64)  # spurious minima exist for this teacher
W_STAR = torch.tensor([1.0, 0.0], dtype=F64)


def at(theta: float, norm: float = 1.0) -> torch.Tensor:
    return norm * torch.tensor([math.cos(theta), math.sin(theta)], dtype=F64)


def fd_grad_v(v, w, eps=1e-6):
    cols = []
    for i in range(len(v)):
        dv = torch.zeros_like(v)
        dv[i] = eps
        cols.append((g.population_loss(v + dv, w, V_STAR, W_STAR)
                     - g.population_loss(v - dv, w, V_STAR, W_STAR)) / (2 * eps))
    return torch.stack(cols)


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu"])
def test_ratio_matches_an_independent_assembly(ste):
    v, w = torch.tensor([0.4, 1.2, -0.3], dtype=F64), at(2.0, 1.7)
    eg = g.expected_coarse_grad(v, w, V_STAR, W_STAR, ste)
    # true w-gradient from the angle derivative: df/dtheta = v^T v* / (2 pi), dtheta/dw = -u/|w|
    u = torch.tensor([-math.sin(2.0), math.cos(2.0)], dtype=F64)  # unit, orthogonal to w
    u = -u if float(u @ W_STAR) < 0 else u  # towards w*
    gw = -(v @ V_STAR) / (2 * math.pi * 1.7) * u
    ref = (eg @ eg) / (fd_grad_v(v, w) @ fd_grad_v(v, w) + eg @ gw)
    got = g.descent_ratio(v, w, V_STAR, W_STAR, ste)
    assert torch.allclose(got, ref, rtol=1e-7), (float(got), float(ref))


def test_identity_ratio_blows_up_like_one_over_eps_into_the_spurious_minimiser():
    v_sp = g.spurious_minimizer_v(V_STAR)
    eps = torch.logspace(-6, -3, 4, dtype=F64)
    w = torch.stack([at(math.pi - float(e)) for e in eps])
    ratio = g.descent_ratio(v_sp.expand(len(eps), -1), w, V_STAR, W_STAR, "identity")
    # numerator -> |E g_id(v~, pi)|^2, denominator ~ eps (v~^T v*)^2 / (2 pi)^{3/2} (|d_v f| = O(eps))
    limit = g.identity_grad_norm_at_spurious(V_STAR) ** 2 * (2 * math.pi) ** 1.5 / float(v_sp @ V_STAR) ** 2
    assert torch.allclose(ratio * eps, limit.expand(len(eps)), rtol=1e-3)
    assert float(ratio[0]) > 1e5


@pytest.mark.parametrize("ste", ["relu", "crelu"])
def test_relu_and_crelu_ratios_stay_bounded_into_the_spurious_minimiser(ste):
    v_sp = g.spurious_minimizer_v(V_STAR)
    d = torch.tensor([0.3, -0.7, 0.2], dtype=F64)
    eps = torch.logspace(-6, -1, 6, dtype=F64)
    v = v_sp + eps[:, None] * d
    w = torch.stack([at(math.pi - float(e)) for e in eps])
    ratio = g.descent_ratio(v, w, V_STAR, W_STAR, ste)
    assert bool(torch.isfinite(ratio).all())
    assert float(ratio.max()) < 10.0
    assert float(ratio[0]) < 1e-3  # it even tends to 0 along this path


def test_identity_ratio_is_finite_away_from_the_spurious_minimiser():
    v = torch.tensor([0.4, 1.2, -0.3], dtype=F64)
    assert math.isfinite(float(g.descent_ratio(v, at(1.0), V_STAR, W_STAR, "identity")))
