"""The step-size side of prop-proper-stability (chapter "Which straight-through estimators are
proper?"): :func:`stelib.proper.step_rates` against the rates computed by hand from the table,
and :func:`stelib.proper.cgd_rest` telling a run at rest from one that cycles or still moves; and
the ``everywhere`` row of :func:`stelib.proper.vanishing_table` (prop-proper-halfline)."""

from __future__ import annotations

import math

import pytest
import torch

from stelib import proper, ste

F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)


def test_step_rates_are_lr_times_the_rates_of_the_proposition():
    table = proper.vanishing_table(["relu", "crelu", "sigmoid"])
    rates = proper.step_rates(table, torch.tensor([2.0, 1.0], dtype=F64), lr=0.8)
    assert list(rates.rows) == ["crelu", "sigmoid"]  # relu has no radius
    for s in rates.rows:
        r = table.rows[s]
        want = (0.4, 0.8 * 2 * PHI0 * 5 * r["slope"], 0.8 * 2 * PHI0 * 5 * r["tangential"] / r["radius"])
        assert rates.rows[s] == pytest.approx(want, rel=1e-12)
        assert rates.stable(s)
    assert rates.largest == pytest.approx(max(rates.rows["crelu"]), rel=1e-12)
    assert 1.6 < rates.largest < 2  # the clipped ReLU's direction, close to the bound
    lines = str(rates).splitlines()
    assert len(lines) == 4 and max(map(len, lines)) <= 88 and lines[2].endswith("| True")
    none = proper.step_rates(proper.vanishing_table(["relu"]), [1.0, 0.0], lr=0.5)
    assert none.rows == {} and none.largest is None
    assert none.verdict == "no STE has a radius, so there is nothing to be stable"


def test_a_step_past_two_ends_in_a_cycle_that_the_rest_check_sees():
    # a = [2.5, 1]: lr times the clipped ReLU's direction rate exceeds 2, so the direction flips
    # from one side of the ray to the other at every step with |w| and the angle unchanged
    a = torch.tensor([2.5, 1.0], dtype=F64)
    table = proper.vanishing_table(["crelu", "hardtanh"])
    rates = proper.step_rates(table, a, lr=0.8)
    assert rates.rows["crelu"][2] > 2 and not rates.stable("crelu")
    assert rates.stable("hardtanh")
    rest = proper.cgd_rest(a, table, lr=0.8, steps=1000)
    rel, drift = rest.relative("crelu")
    assert float(drift.abs().max()) < 1e-12  # |w| does not change over a step ...
    assert float(rest.move("crelu").min()) > 0.1  # ... but w does
    assert rest.final_angle("crelu") > 0.1 and float((rel - 1).abs().min()) > 0.05
    assert rest.at_rest == [False] * 3 + [True] * 3 and rest.not_at_rest() == "crelu"
    assert rates.verdict == ("CGD is not stable at the radius of crelu: the largest product of lr and a "
                             f"rate is {rates.largest:.2f}, not below the bound 2")
    calm = proper.step_rates(table, a, lr=0.1)
    assert calm.verdict == ("every radius is stable for CGD too: the largest product of lr and a rate "
                            f"is {calm.largest:.2f}, below the bound 2")
    assert proper.cgd_rest([2.0, 1.0], table, lr=0.8, steps=1000).not_at_rest() == "none"
    assert "w moves 5e-01, 5e-01, 5e-01" in str(rest)


def test_a_fixed_point_at_an_unstable_radius_is_not_at_rest():
    """a = [6, 3], lr 1: hardtanh's and ApproxSign's runs end exactly on the minimising ray at
    their radius and one more step does not move them, yet lr times the direction rate is far
    above 2 there: fixed points, which a perturbation leaves, not rest points. The sigmoid's radius
    is stable at this step and its runs are at rest."""
    table = proper.vanishing_table(["hardtanh", "approxsign", "sigmoid"])
    rest = proper.cgd_rest(torch.tensor([6.0, 3.0], dtype=F64), table, lr=1.0, steps=2000)
    assert rest.fixed == [True] * 9 and rest.at_rest == [False] * 6 + [True] * 3
    assert [rest.stable(s) for s in table.rows] == [False, False, True]
    assert rest.not_at_rest() == "hardtanh, approxsign"
    lines = str(rest).splitlines()
    assert lines[2] == "            unstable for CGD at this lr (lr x rate 10 >= 2): not a rest point"
    assert len(lines) == 8 and max(map(len, lines)) <= 88
    assert proper.Rest(rest.history, rest.runs, table, rest.next_w).at_rest == [True] * 9  # unjudged


def test_a_slow_run_within_one_percent_is_arrived_but_not_at_rest():
    table = proper.vanishing_table(["sigmoid"])
    rest = proper.cgd_rest(torch.tensor([2.0, 1.0], dtype=F64), table, lr=0.8, steps=1000)
    assert rest.arrived == [True, False, True]
    assert rest.at_rest == [False, False, False] and rest.not_at_rest() == "sigmoid"
    rel, drift = rest.relative("sigmoid")
    assert float(drift[0]) > 0 > float(drift[1])  # from inside outward, from outside inward
    assert torch.all(rest.move("sigmoid") >= drift.abs() * (1 - 1e-9))  # |w| changes at most by the move


def test_the_table_shows_a_ray_that_vanishes_everywhere():
    q = -(1 - 2 / math.pi)
    name = ste.register("t_proper_flat", lambda x: (1 - q) * (x > 0).to(x.dtype) + q,
                        description="vanishing ray", breakpoints=[0.0], replace=True)
    try:
        table = proper.vanishing_table(["relu", name])
        assert table.rows[name]["everywhere"] and table.radius(name) is None
        rows = str(table).splitlines()
        assert "|       none |" in rows[1] and "| everywhere |" in rows[2]
        assert proper.step_rates(table, [1.0, 0.0], lr=0.5).rows == {}
    finally:
        ste.unregister(name)


@pytest.mark.parametrize(("kw", "match"), [
    ({"a": [1.0, 0.0], "lr": 0.0}, "lr=0.0"),
    ({"a": [0.0, 0.0], "lr": 0.5}, "is zero"),
    ({"a": [[1.0, 0.0]], "lr": 0.5}, "a"),
])
def test_step_rates_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        proper.step_rates(proper.vanishing_table(["crelu"]), **kw)
