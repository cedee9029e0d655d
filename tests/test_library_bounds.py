"""The bounds the library validates (the core and a few analyses), each tested from both sides: the last accepted value
passes and the first refused one fails with a message naming the parameter.

Where the last accepted value would be expensive to run (10^7 steps), the call carries a second,
later-checked bad argument: the error then names that other parameter, which shows the bound
itself let the value through.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from stelib import gaussian, interactive, population_cgd, stochastic_cgd
from stelib.distributions import AnisotropicGaussian, Gaussian, GaussianMixture, StudentT
from stelib.montecarlo import estimate
from stelib.problems import Problem
from stelib.rays import yin_teacher
from stelib.ste import quantized_relu
from stelib.vanishing import vanishing_radii

up, down = (lambda x: math.nextafter(x, math.inf)), (lambda x: math.nextafter(x, -math.inf))
G = torch.Generator


def _problem(m=2, noise=0.0):
    return Problem(Gaussian(2), m, labels="linear", a=[1.0, -1.0], noise=noise)


def _yin():
    return gaussian.YinModel(torch.tensor([1.0, 0.5], dtype=torch.float64),
                             torch.tensor([1.0, 0.0], dtype=torch.float64))


ONE = torch.ones(1, 2, dtype=torch.float64)

# (label, call, last accepted, first refused, the parameter the refusal names)
CASES = [
    ("distribution n max", lambda n: Gaussian(n), 4096, 4097, "n"),
    ("distribution n min", lambda n: Gaussian(n), 1, 0, "n"),
    ("student_t df low (open)", lambda df: StudentT(2, df=df), up(2.0), 2.0, "df"),
    ("student_t df high", lambda df: StudentT(2, df=df), 1e6, up(1e6), "df"),
    ("anisotropic scale low (open)", lambda s: AnisotropicGaussian(1, scales=(s,)), 5e-324, 0.0,
     "scales entry"),
    ("anisotropic scale high", lambda s: AnisotropicGaussian(1, scales=(s,)), 1e6, up(1e6),
     "scales entry"),
    ("mixture sep low", lambda s: GaussianMixture(2, sep=s), 0.0, down(0.0), "sep"),
    ("mixture sep high", lambda s: GaussianMixture(2, sep=s), 100.0, up(100.0), "sep"),
    ("mixture shift low", lambda s: GaussianMixture(2, shift=s), -100.0, down(-100.0), "shift"),
    ("mixture shift high", lambda s: GaussianMixture(2, shift=s), 100.0, up(100.0), "shift"),
    ("problem m max", lambda m: _problem(m=m), 4096, 4097, "m"),
    ("problem m min", lambda m: _problem(m=m), 1, 0, "m"),
    ("problem noise low", lambda s: _problem(noise=s), 0.0, down(0.0), "noise"),
    ("problem noise high", lambda s: _problem(noise=s), 1e6, up(1e6), "noise"),
    ("estimate samples min", lambda k: estimate(torch.ones(2, dtype=torch.float64),
                                                torch.ones(2, dtype=torch.float64), _problem(),
                                                samples=k, generator=G().manual_seed(0)),
     2, 1, "samples"),
    ("quantized_relu bits max", lambda b: quantized_relu(torch.ones(3), b), 16, 17, "bits"),
    ("quantized_relu bits min", lambda b: quantized_relu(torch.ones(3), b), 1, 0, "bits"),
    ("vanishing r_min low (open)", lambda r: vanishing_radii("crelu", r_min=r, points=2),
     5e-324, 0.0, "r_min"),
    ("vanishing r_max above r_min (open)",
     lambda r: vanishing_radii("crelu", r_min=1.0, r_max=r, points=2), up(1.0), 1.0, "r_max"),
    ("vanishing points min", lambda k: vanishing_radii("relu", r_min=1.0, r_max=2.0, points=k),
     3, 2, "points"),
    ("vanishing points max", lambda k: vanishing_radii("relu", r_max=k and 1e3, points=k),
     None, 100_001, "points"),
    ("population_cgd steps max",
     lambda k: population_cgd(_yin(), ONE, ONE, ste="relu", lr=0.1, steps=k, record_every=0),
     10**7, 10**7 + 1, "steps"),
    ("population_cgd steps min",
     lambda k: population_cgd(_yin(), ONE, ONE, ste="relu", lr=0.1, steps=k), 1, 0, "steps"),
    ("stochastic_cgd steps max",
     lambda k: stochastic_cgd(_problem(), ONE, ONE, ste="relu", lr=0.1, steps=k, batch_size=4,
                              generator=G(), record_every=0), 10**7, 10**7 + 1, "steps"),
    ("stochastic_cgd batch_size max",
     lambda k: stochastic_cgd(_problem(), ONE, ONE, ste="relu", lr=0.1, steps=1, batch_size=k,
                              generator=G(), record_every=0), 10**7, 10**7 + 1, "batch_size"),
    ("yin_teacher n max", lambda k: yin_teacher(m=2, n=k, generator=G().manual_seed(0)), 4096, 4097, "n"),
    ("yin_teacher m max", lambda k: yin_teacher(m=k, n=2, generator=G().manual_seed(0)), 4096, 4097, "m"),
    ("scale_field directions min", lambda k: interactive.scale_field((1.0,), directions=k), 4, 3,
     "directions"),
    ("scale_field directions max", lambda k: interactive.scale_field((1.0,), directions=k), 64, 65,
     "directions"),
    ("yin_landscape points min", lambda k: interactive.yin_landscape((10,), points=k), 11, 10, "points"),
    ("yin_landscape points max", lambda k: interactive.yin_landscape((10,), points=k), 721, 722, "points"),
    ("stochastic_cgd batch_size min",
     lambda k: stochastic_cgd(_problem(), ONE, ONE, ste="relu", lr=0.1, steps=1, batch_size=k,
                              generator=G().manual_seed(0)), 1, 0, "batch_size"),
]


@pytest.mark.parametrize("label, call, ok, bad, name", CASES, ids=[c[0] for c in CASES])
def test_bound_from_both_sides(label, call, ok, bad, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call(bad)
    if ok is None:
        return  # the accepted side of this bound is not cheap to reach; see the module docstring
    try:
        call(ok)
    except ValueError as exc:  # a later argument may refuse (the cheap variant): never this one
        assert not re.search(rf"\b{name}\b", str(exc)), f"{label}: {ok!r} refused: {exc}"

