"""On a GPU every read of a tensor's value back to Python (``bool(t)``, ``float(t)``, ``.item()``,
``.tolist()``, ...) waits for the device. Without a GPU these tests take the GPU's paths on the
CPU (``_closedform._DEVICE_PATH_ON_CPU``) and count those reads: inside the step loops of the
trainers their number must not grow with the steps (reads happen at the start, at each record
and at the end), and the checks a loop defers on a GPU still raise, with the same message."""

from __future__ import annotations

import collections

import pytest
import torch

import stelib.core._closedform as cf
from stelib import LinearTeacherModel, YinModel, population_cgd, stochastic_cgd
from stelib import ste as ste_mod
from stelib.analyses import practice
from stelib.quadrature import moments

F64 = torch.float64
READS = ("item", "__bool__", "__float__", "__int__", "tolist", "numpy")


@pytest.fixture
def reads(monkeypatch):
    """Count every read of a tensor's value, with the GPU's paths taken on the CPU."""
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", True)
    count = collections.Counter()
    for name in READS:
        real = getattr(torch.Tensor, name)

        def spy(self, *a, _real=real, _name=name, **k):
            count[_name] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return count


@pytest.fixture
def window():
    """A registered surrogate whose undeclared jump at x = 2 spoils the quadrature at some
    (|w|, angle) (at |w| = 1.5 and theta = 0, not at |w| = 0.1)."""
    name = ste_mod.register("reads_window", lambda x: (x < 2).to(x.dtype), description="window",
                            replace=True)
    yield name
    ste_mod.unregister(name)


def _yin():
    return YinModel(torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([1.0, 0.0, 0.0], dtype=F64))


def _starts(R=4, m=2, n=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(R, m, dtype=F64, generator=g), torch.randn(R, n, dtype=F64, generator=g)


def _reads_for(reads, run, steps_list=(4, 40)):
    seen = []
    for steps in steps_list:
        reads.clear()
        run(steps)
        seen.append(sum(reads.values()))
    return seen


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu", ("identity", "relu", "crelu", "crelu")])
def test_population_cgd_reads_do_not_grow_with_the_steps(reads, ste):
    v0, w0 = _starts()
    seen = _reads_for(reads, lambda s: population_cgd(_yin(), v0, w0, ste=ste, lr=0.1, steps=s,
                                                      record_every=s))
    assert seen[0] == seen[1] > 0, seen


def test_linear_teacher_cgd_reads_do_not_grow_with_the_steps(reads):
    v0, w0 = torch.zeros(3, 1, dtype=F64), _starts(3)[1]
    model = LinearTeacherModel(torch.tensor([1.0, 0.5, 0.0], dtype=F64))
    seen = _reads_for(reads, lambda s: population_cgd(model, v0, w0, ste="crelu", lr=0.1, steps=s,
                                                      record_every=s))
    assert seen[0] == seen[1] > 0, seen


def test_stochastic_cgd_reads_do_not_grow_with_the_steps(reads):
    v0, w0 = _starts()

    def run(steps):
        stochastic_cgd(_yin(), v0, w0, ste="crelu", lr=0.05, steps=steps, batch_size=8,
                       generator=torch.Generator().manual_seed(1), record_every=steps)

    seen = _reads_for(reads, run)
    assert seen[0] == seen[1] > 0, seen


def test_a_registered_surrogates_checks_wait_for_the_record(reads):
    """Quadrature with its accuracy check and the derivative's finiteness check: on the GPU's
    path their reads come once per record, not once per step."""
    v0, w0 = _starts()
    w0 = 0.1 * w0 / w0.norm(dim=1, keepdim=True)  # |w| = 0.1: the quadrature is accurate there
    seen = _reads_for(reads, lambda s: population_cgd(_yin(), v0, w0, ste="hardtanh", lr=0.01,
                                                      steps=s, record_every=s))
    assert seen[0] == seen[1] > 0, seen


def test_a_deferred_check_raises_at_the_flush_with_its_message(reads, window):
    r_ok, r_bad = torch.tensor([0.1], dtype=F64), torch.tensor([1.5], dtype=F64)
    moments(r_ok, window)  # accurate: no error
    with pytest.raises(ValueError) as now:
        moments(r_bad, window)  # outside a trusted loop: at once
    reached = False
    with pytest.raises(ValueError) as later:
        with cf.trusted():
            moments(r_bad, window)
            reached = True  # kept, not raised: the value was not read back
    assert reached and str(later.value) == str(now.value) and "inaccurate" in str(now.value)


def test_on_the_cpus_own_path_checks_are_not_deferred(monkeypatch, window):
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", False)
    with pytest.raises(ValueError, match="inaccurate"), cf.trusted():
        moments(torch.tensor([1.5], dtype=F64), window)
        pytest.fail("the CPU path checks at once")


def test_a_run_that_reaches_an_inaccurate_radius_raises_on_both_paths(monkeypatch, window):
    """The run starts where the quadrature is accurate and grows |w| into a radius where it is
    not: the CPU path raises at that step, the GPU's at the next record, with the same kind of
    message (the radius differs: the first bad step against the record's)."""
    v0 = torch.tensor([[1.0, 0.5]], dtype=F64)
    w0 = torch.tensor([[1.0, 0.3, 0.0]], dtype=F64)
    w0 = w0 / w0.norm()
    _yin().expected_coarse_grad(v0, w0, window)  # the start is accurate: no error
    errors = []
    for free in (False, True):
        monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", free)
        with pytest.raises(ValueError, match="reads_window.*inaccurate") as info:
            population_cgd(_yin(), v0, w0, ste=window, lr=0.1, steps=400, record_every=50)
        errors.append(str(info.value))
    assert all("breakpoints" in e for e in errors)


def test_the_mlp_fit_reads_do_not_grow_with_the_batches(reads):
    """Training Yin et al.'s MLPs (practice chapter): per epoch a constant number of reads,
    whatever the number of mini-batches (no read per step)."""
    data = practice.load_digits_split(0)
    seen = []
    for batch in (400, 100):  # 4x as many steps per epoch
        reads.clear()
        practice.train("mlp", bits=[2], stes=["crelu"], seeds=[0], data=data, epochs=1,
                       batch_size=batch, width=8, norm="plain")
        seen.append(sum(reads.values()))
    assert seen[0] == seen[1] > 0, seen


def test_a_registered_surrogate_in_the_mlp_fit_is_read_per_block_not_per_layer_and_step(reads):
    """A registered surrogate's finiteness check (one per layer and step) waits inside the fit on
    the GPU's path: reads per epoch stay constant while the steps per epoch grow 4x (below
    practice.FLUSH_EVERY steps)."""
    data = practice.load_digits_split(0)
    seen = []
    for batch in (400, 100):
        reads.clear()
        practice.train("mlp", bits=[2], stes=["hardtanh"], seeds=[0], data=data, epochs=1,
                       batch_size=batch, width=8, norm="plain")
        seen.append(sum(reads.values()))
    assert seen[0] == seen[1] > 0, seen
    assert -(-data.x_train.shape[0] // 100) < practice.FLUSH_EVERY


@pytest.mark.parametrize("device_path", [False, True])
def test_a_surrogate_that_is_not_finite_stops_the_fit_on_both_paths(monkeypatch, device_path):
    monkeypatch.setattr(cf, "_DEVICE_PATH_ON_CPU", device_path)
    name = ste_mod.register("reads_blowup", lambda x: torch.where(x.abs() > 3.5, torch.inf, 1.0).to(x.dtype),
                            description="infinite beyond 3.5", replace=True)
    try:
        with pytest.raises(ValueError, match="reads_blowup.*not finite"):
            practice.train("mlp", bits=[2], stes=[name], seeds=[0], data=practice.load_digits_split(0),
                           epochs=1, batch_size=200, width=8, norm="plain")
    finally:
        ste_mod.unregister(name)
