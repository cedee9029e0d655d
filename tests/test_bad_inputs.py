"""Table-driven bad inputs for the library: each raises ValueError naming the parameter (and
its value where it has one) before anything is computed. Valid neighbours of each row pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stelib import gaussian as g
from stelib import misspecified as ms
from stelib import montecarlo as mc
from stelib import ste
from stelib._validate import as_tensor, check_nonzero_rows
from stelib.distributions import make_distribution
from stelib.gaussian import YinModel
from stelib.problems import Problem
from stelib.train import population_cgd, stochastic_cgd

F64 = torch.float64
MODEL = YinModel(torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([1.0, 0.0], dtype=F64))
V0, W0 = torch.zeros(1, 3, dtype=F64), torch.ones(1, 2, dtype=F64)
GEN = torch.Generator
V, W = torch.tensor([1.0, -0.5, 0.8], dtype=F64), torch.tensor([0.6, 0.8], dtype=F64)


def cgd(**kw):
    args = dict(model=MODEL, v0=V0, w0=W0, ste="relu", lr=0.1, steps=2)
    args.update(kw)
    return population_cgd(args.pop("model"), args.pop("v0"), args.pop("w0"), **args)


ROWS = {
    # complex input is refused, never truncated to its real part
    "binary_step complex numpy": (lambda: ste.binary_step(np.array([1 + 2j]), "relu"), r"x=.*complex"),
    "binary_step complex tensor": (lambda: ste.binary_step(torch.tensor([1 + 2j]), "relu"), r"x must be a real.*complex"),
    "surrogate_derivative complex": (lambda: ste.surrogate_derivative([0.5j], "crelu"), r"x=.*complex"),
    "population_loss complex v": (lambda: g.population_loss(V + 0j, W, V, W), r"v must be a real"),
    "misspecified complex a": (lambda: ms.population_loss([1.0], W, np.array([1j, 0])), r"a must be a real"),
    "population_cgd complex v0": (lambda: cgd(v0=np.zeros((1, 3), complex)), r"v0=.*complex"),
    "estimate complex w": (lambda: mc.estimate(V, np.array([1j, 1]), MODEL, samples=10, generator=GEN()), r"w=.*complex"),
    # upper: a positive finite number
    "upper nan": (lambda: ste.surrogate_derivative([0.5], "crelu", upper=math.nan), r"upper=nan must be a finite"),
    "upper 0": (lambda: ste.surrogate_derivative([0.5], "crelu", upper=0.0), r"upper=0.0 must be a finite number in \(0"),
    "upper inf": (lambda: ste.surrogate_derivative([0.5], "relu", upper=math.inf), r"upper=inf"),
    "upper string": (lambda: ste.surrogate_derivative([0.5], "crelu", upper="1"), r"upper='1' must be a real"),
    "bits 1.5": (lambda: ste.quantized_relu([0.5], 1.5), r"bits=1.5 must be an integer"),
    "bits True": (lambda: ste.quantized_relu([0.5], True), r"bits=True must be an integer"),
    "bits 17": (lambda: ste.quantized_relu([0.5], 17), r"bits=17 must be an integer >= 1 and <= 16"),
    # learning rates and runs
    "lr True": (lambda: cgd(lr=True), r"lr=True must be a real number or array, got bool"),
    "lr string": (lambda: cgd(lr="0.1"), r"lr='0.1' must be a real number or array, got a string"),
    "lr negative": (lambda: cgd(lr=[-0.1]), r"lr=\[-0.1\] must be a positive number"),
    "lr nan": (lambda: cgd(lr=math.nan), r"lr contains non-finite"),
    "empty runs": (lambda: cgd(v0=torch.zeros(0, 3), w0=torch.zeros(0, 2)), r"v0 has shape \(0, 3\): no runs"),
    "None model": (lambda: cgd(model=None), r"model=NoneType lacks m, n, loss"),
    "model without coarse gradient": (lambda: cgd(model=object()), r"model=object lacks"),
    "stochastic lr bool": (lambda: stochastic_cgd(MODEL, V0, W0, ste="relu", lr=False, steps=1, batch_size=2,
                                                  generator=GEN()), r"lr=False"),
    "ste unknown": (lambda: cgd(ste="tanh"), r"ste='tanh' is not valid; choose one of 'identity', 'relu', 'crelu'"),
    # distributions
    "radial not bool": (lambda: make_distribution("student_t", 2, radial="no"), r"radial='no' must be True or False"),
    "scales not iterable": (lambda: make_distribution("anisotropic", 2, scales=3), r"scales=3 must be a sequence"),
    "scales huge": (lambda: make_distribution("anisotropic", 2, scales=(1e308, 1.0)), r"scales entry=1e\+308 must be"),
    "scales nan": (lambda: make_distribution("anisotropic", 2, scales=(1.0, math.nan)), r"scales entry=nan"),
    "scales length": (lambda: make_distribution("anisotropic", 2, scales=(1.0,)), r"scales has 1 entries; it needs n=2"),
    "unknown shape, none allowed": (lambda: make_distribution("gaussian", 2, foo=1), r"\['foo'\].*allowed: none$"),
    "unknown shape, student_t": (lambda: make_distribution("student_t", 2, dof=3),
                                 r"\['dof'\].*allowed: \['df', 'radial'\]$"),
    "df at 2": (lambda: make_distribution("student_t", 2, df=2.0), r"df=2.0 must be a finite number in \(2.0"),
    "sample shape int": (lambda: make_distribution("gaussian", 2).sample(5, GEN()), r"shape=5 must be a tuple"),
    "sample shape str": (lambda: make_distribution("gaussian", 2).sample("ab", GEN()), r"shape='ab' must be a tuple"),
    "sample shape zero": (lambda: make_distribution("gaussian", 2).sample((0,), GEN()), r"shape entry=0"),
    "sample generator": (lambda: make_distribution("gaussian", 2).sample((2,), 0), r"generator must be a torch.Generator"),
    "problem noise negative": (lambda: Problem(make_distribution("gaussian", 2), 1, labels="linear", a=[1.0, 0.0],
                                               noise=-1.0), r"noise=-1.0"),
    "problem a complex": (lambda: Problem(make_distribution("gaussian", 2), 1, labels="linear", a=[1j, 0.0]), r"a=.*complex"),
    # zero rows in a batch (one zero row among non-zero ones)
    "batch with one zero row": (lambda: g.population_loss(V, torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]]), V,
                                                          W), r"w = 0 is not allowed"),
    "true gradient at w = 0": (lambda: mc.true_grad_w(V, [0.0, 0.0], MODEL, samples=10, generator=GEN()), r"w = 0"),
    "z_score string reference": (lambda: mc.Estimate(torch.zeros(1), torch.ones(1)).z_score("0"), r"reference='0'"),
}


@pytest.mark.parametrize("case", list(ROWS))
def test_bad_input_raises_a_named_value_error(case):
    call, match = ROWS[case]
    with pytest.raises(ValueError, match=match):
        call()


def test_valid_neighbours_pass():
    """The rows above fail for the stated reason only: their valid neighbours run."""
    torch.testing.assert_close(ste.surrogate_derivative([0.5, 1.5], "crelu", upper=2.0), torch.tensor([1.0, 1.0], dtype=F64))
    torch.testing.assert_close(ste.surrogate_derivative([0.5, 1.5], "crelu"), torch.tensor([1.0, 0.0], dtype=F64))
    assert ste.quantized_relu([0.5], 16).shape == (1,)
    assert cgd(lr=0.1).runs == 1 and cgd(lr=np.float64(0.1)).runs == 1 and cgd(lr=1).runs == 1
    d = make_distribution("student_t", 2, radial=False)
    assert not d.rotation_invariant and make_distribution("student_t", 2, radial=np.True_).rotation_invariant
    assert make_distribution("anisotropic", 2, scales=[1e6, 1e-6]).sample((3,), GEN()).shape == (3, 2)
    assert make_distribution("gaussian", 2).sample([4], GEN()).shape == (4, 2)
    assert as_tensor(np.array([1, 2], dtype=np.int64), name="x").dtype == F64
    check_nonzero_rows(torch.tensor([[1e-300, 0.0], [0.0, 1e-320]], dtype=F64))  # tiny, not zero


def test_messages_are_short():
    with pytest.raises(ValueError) as exc:
        cgd(lr="x" * 10_000)
    assert len(str(exc.value)) < 200 and "xxx..." in str(exc.value)
    with pytest.raises(ValueError) as exc:  # a value of 60 characters is shown in full
        cgd(lr="y" * 58)
    assert f"lr={'y' * 58!r} must be" in str(exc.value)
