"""Tests of stelib.outcomes: classification of CGD runs in Yin's model, hitting times, tables."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from stelib import gaussian
from stelib.gaussian import YinModel
from stelib.outcomes import (
    STREAM_COLUMNS,
    StreamTable,
    at_angle,
    classify,
    far_side,
    first_hit,
    format_table,
    other_runs,
    outcome_table,
    start_sides,
    stream_starts,
    stream_summary,
    stream_table,
    sweep_inits,
)
from stelib.train import History, population_cgd

F64 = torch.float64
V_STAR = torch.tensor([1.0, -0.5, 0.8], dtype=F64)  # spurious minima exist
W_STAR = torch.tensor([0.6, -1.0, 0.3, 0.5], dtype=F64)
MODEL = YinModel(V_STAR, W_STAR)


@pytest.mark.parametrize("theta", [0.0, 0.3, math.pi / 2, 2.0, math.pi])
@pytest.mark.parametrize("norm", [0.5, 2.0])
def test_at_angle_has_the_angle_and_norm(theta, norm):
    w = at_angle(W_STAR, theta, norm)
    assert w.shape == (4,)
    assert math.isclose(float(w.norm()), norm, rel_tol=1e-12)
    assert math.isclose(float(gaussian.angle(w, W_STAR)), theta, abs_tol=1e-7)


def test_at_angle_broadcasts_and_handles_ones_direction():
    w = at_angle(torch.ones(3, dtype=F64), torch.linspace(0, math.pi, 5), torch.tensor([[1.0], [2.0]]))
    assert w.shape == (2, 5, 3)
    assert torch.allclose(gaussian.angle(w, torch.ones(3, dtype=F64)),
                          torch.linspace(0, math.pi, 5, dtype=F64).expand(2, 5), atol=1e-7)
    with pytest.raises(ValueError, match="w_star"):
        at_angle(torch.ones(1), 0.1)
    with pytest.raises(ValueError, match=r"w_star must be a nonzero vector"):
        at_angle(torch.zeros(3), 0.1)
    plane = at_angle(torch.tensor([3.0, 4.0]), math.pi / 2)  # n = 2 is enough
    assert float(plane @ torch.tensor([3.0, 4.0], dtype=F64)) == pytest.approx(0.0, abs=1e-14)
    unit = at_angle(torch.tensor([0.0, 1.0, 0.0]), math.pi / 2, 2.0)  # a unit w* is allowed
    assert float(unit.norm()) == pytest.approx(2.0) and float(unit[1]) == pytest.approx(0.0, abs=1e-15)


def test_sweep_inits_repeats_draws_per_ste():
    v0, w0, stes = sweep_inits(3, 4, seeds=5, stes=("identity", "crelu"),
                               generator=torch.Generator().manual_seed(0))
    assert v0.shape == (10, 3) and w0.shape == (10, 4) and len(stes) == 10
    assert torch.equal(v0[:5], v0[5:]) and torch.equal(w0[:5], w0[5:])
    assert stes[:5] == ("identity",) * 5 and stes[5:] == ("crelu",) * 5
    with pytest.raises(ValueError, match="valid|choose|ste"):
        sweep_inits(3, 4, seeds=2, stes=("sign",), generator=torch.Generator())
    with pytest.raises(ValueError, match="seeds"):
        sweep_inits(3, 4, seeds=0, stes=("relu",), generator=torch.Generator())


def _history(v, w, stes, model=MODEL):
    """A one-record History at the given final points (for classification tests)."""
    v, w = torch.as_tensor(v, dtype=F64), torch.as_tensor(w, dtype=F64)
    R = v.shape[0]
    loss = model.loss(v, w)[None]
    theta = gaussian.angle(w, model.w_star)[None]
    norm = w.norm(dim=-1)[None]
    z = torch.zeros(1, R, dtype=F64)
    return History(torch.tensor([0]), loss, theta, norm, z, v, w, tuple(stes),
                   torch.ones(R, dtype=F64), torch.zeros(R, dtype=torch.bool),
                   torch.full((R,), -1))


def test_classify_the_three_kinds_of_points():
    vt = gaussian.spurious_minimizer_v(V_STAR)
    v = torch.stack([V_STAR, vt, V_STAR])
    w = torch.stack([2 * W_STAR, -W_STAR, at_angle(W_STAR, 1.0)])
    h = _history(v, w, ("relu",) * 3)
    assert classify(h, MODEL, loss_tol=1e-8) == ["global", "spurious", "other"]


def test_no_spurious_class_when_the_minima_do_not_exist():
    model = YinModel(torch.ones(3, dtype=F64), W_STAR)  # (1^T v*)^2 = 9 >= 2 * 3
    vt = gaussian.spurious_minimizer_v(model.v_star)
    h = _history(vt[None], -W_STAR[None], ("relu",), model)
    assert classify(h, model, loss_tol=1e-8) == ["other"]


def test_first_hit_and_table_on_a_real_sweep():
    v0, w0, stes = sweep_inits(3, 4, seeds=6, stes=("relu", "crelu"),
                               generator=torch.Generator().manual_seed(1))
    h = population_cgd(MODEL, v0, w0, ste=stes, lr=0.2, steps=1500, record_every=5)
    hits = first_hit(h, loss_tol=1e-6)
    labels = classify(h, MODEL, loss_tol=1e-6)
    for i, lab in enumerate(labels):
        if lab == "global":
            k = int(hits[i]) // 5
            assert h.loss[k, i] < 1e-6 and (k == 0 or h.loss[k - 1, i] >= 1e-6)
        elif h.loss[:, i].min() >= 1e-6:
            assert hits[i] == -1
    rows = outcome_table(h, MODEL, loss_tol=1e-6)
    assert [r["ste"] for r in rows] == ["relu", "crelu"]
    for k, r in enumerate(rows):  # each fraction counted from the per-run labels
        idx = range(6 * k, 6 * k + 6)
        assert r["runs"] == 6
        for c in ("global", "spurious", "other"):
            assert r[c] == sum(labels[i] == c for i in idx) / 6
        g = sorted(int(hits[i]) for i in idx if labels[i] == "global")
        assert (math.isnan(r["steps_to_global"]) if not g else r["steps_to_global"] == g[(len(g) - 1) // 2])
        assert r["median_w_norm"] == float(h.w_norm[-1, list(idx)].median())
        assert r["diverged"] == 0
    text = format_table(rows)
    assert text.splitlines()[0].split()[0] == "STE" and len(text.splitlines()) == 3
    long = format_table([rows[0] | {"name": "a long teacher relu"}, rows[1]], label="teacher, STE")
    lines = long.splitlines()  # the first column as wide as its widest entry: columns stay aligned
    assert len({len(line) for line in lines}) == 1 and lines[1].startswith("a long teacher relu ")
    assert lines[2].index(" crelu ") + len(" crelu") == len("a long teacher relu")


def _records(steps, theta, loss, stes):
    """A History with the given records of theta and loss (R runs, T records)."""
    theta, loss = torch.tensor(theta, dtype=F64), torch.tensor(loss, dtype=F64)
    R = theta.shape[1]
    return History(torch.tensor(steps), loss, theta, torch.ones_like(loss), torch.zeros_like(loss),
                   torch.zeros(R, 3, dtype=F64), torch.zeros(R, 4, dtype=F64), tuple(stes),
                   torch.ones(R, dtype=F64), torch.zeros(R, dtype=torch.bool), torch.full((R,), -1))


def test_other_runs_count_the_late_crossings_of_a_right_angle():
    pi = math.pi
    f_sp = float(MODEL.loss(gaussian.spurious_minimizer_v(V_STAR), -W_STAR))
    theta = [[0.1, 0.2, 2.0, 1.0, 0.3],   # step 0
             [0.1, 2.0, 1.0, 2.0, 0.3],   # step 5
             [0.1, 1.0, 2.0, 2.0, 0.3],   # step 10
             [0.0, 2.0, 2.0, 2.0, pi]]    # step 15
    loss = [[0.0] * 5, [0.0] * 5, [0.0] * 5, [0.0, 0.5, 0.7, 0.6, f_sp]]
    h = _records([0, 5, 10, 15], theta, loss, ("identity",) * 4 + ("relu",))
    # runs 1-3 are 'other', run 4 spurious; the last `window` steps are the records after step 15 - window:
    # run 1 has both sides in steps 10-15, run 2 in 5-15, run 3 in 0-15
    (out,) = other_runs(h, MODEL, loss_tol=1e-6, window=10)
    assert (out.ste, out.count, out.both_sides, out.window) == ("identity", 3, 1, 10)
    assert out.median_loss == 0.6 and out.spurious_loss == pytest.approx(f_sp, rel=1e-15)
    assert [other_runs(h, MODEL, loss_tol=1e-6, window=t)[0].both_sides for t in (5, 15, 16)] == [0, 2, 3]
    assert out.switches == (0, 1) and out.closest == 1.0  # the records have |w| = 1 throughout
    assert str(out) == (f"identity: 3 runs 'other', median final loss 0.6000 (spurious {f_sp:.4f});\n"
                        "          1 of them visited both theta < pi/2 and theta > pi/2 in the last 10 steps,\n"
                        "          changing side 0 to 1 times between consecutive records there;\n"
                        "          median of their smallest recorded |w| there: 1")
    # every record: runs 1, 2, 3 change side 3, 2 and 1 times in steps 0-15
    assert other_runs(h, MODEL, loss_tol=1e-6, window=16)[0].switches == (1, 3)
    w_norm = torch.tensor([[1.0, 0.5, 3.0, 4.0, 1.0], [1.0, 0.2, 0.05, 2.0, 1.0],
                           [1.0, 0.9, 0.3, 0.01, 1.0], [1.0, 0.7, 2.0, 5.0, 1e-3]], dtype=F64)
    h_w = replace(h, w_norm=w_norm)  # smallest |w| in steps 10-15: 0.7, 0.3, 0.01 (median 0.3)
    assert other_runs(h_w, MODEL, loss_tol=1e-6, window=10)[0].closest == 0.3
    assert other_runs(h_w, MODEL, loss_tol=1e-6, window=16)[0].closest == 0.05  # 0.2, 0.05, 0.01
    with pytest.raises(ValueError, match="window=0 must be an integer >= 1"):
        other_runs(h, MODEL, loss_tol=1e-6, window=0)


def test_start_sides_split_the_spurious_runs_by_starting_angle():
    pi = math.pi
    f_sp = float(MODEL.loss(gaussian.spurious_minimizer_v(V_STAR), -W_STAR))
    theta = [[2.5, 2.5, 1.0, 1.0, 2.9, 0.5],   # starts
             [pi, 0.0, pi, 0.0, pi, 0.0]]      # ends
    loss = [[1.0] * 6, [f_sp, 0.0, f_sp, 0.0, f_sp, 0.0]]
    h = _records([0, 5], theta, loss, ("relu",) * 4 + ("crelu",) * 2)
    sides = start_sides(h, MODEL, loss_tol=1e-6, split=2.0)
    assert sides.above == {"relu": (1, 2), "crelu": (1, 1)}
    assert sides.below == {"relu": (1, 2), "crelu": (0, 1)}
    assert str(sides) == ("runs ending at the spurious minimum, by starting angle theta0 (split at 2.0000):\n"
                          "       theta0 above  theta0 below\n"
                          " relu:       1 of 2        1 of 2\n"
                          "crelu:       1 of 1        0 of 1")
    assert start_sides(h, MODEL, loss_tol=1e-6, split=2.5).above["relu"] == (0, 0)  # 2.5 is not above 2.5
    for bad in (0.0, pi, -1.0, "1", float("nan")):
        with pytest.raises(ValueError, match="must be an angle in \\(0, pi\\)"):
            start_sides(h, MODEL, loss_tol=1e-6, split=bad)


def test_far_side_counts_zero_loss_beyond_a_right_angle_and_the_other_runs():
    h = _records([0, 5], [[1.0, 1.0, 1.0, 1.0], [2.0, 0.1, 1.0, 0.3]], [[1.0] * 4, [0.0, 0.0, 0.5, 0.4]],
                 ("relu",) * 4)
    far = far_side(h, MODEL, loss_tol=1e-6)
    assert (far.runs, far.zero_loss, far.other) == (4, 1, 2) and far.other_theta == 0.3
    assert str(far) == "runs at zero loss with theta > pi/2: 1 of 4;\n'other' runs: 2, their median final theta 0.300"
    none = far_side(_records([0], [[0.0]], [[0.0]], ("relu",)), MODEL, loss_tol=1e-6)
    assert none.other == 0 and math.isnan(none.other_theta) and str(none).endswith("'other' runs: 0")


def test_stream_starts_pick_the_first_starts_of_every_ste_per_stream():
    v0, w0, stes = sweep_inits(3, 4, seeds=5, stes=("identity", "crelu"), generator=torch.Generator().manual_seed(0))
    v, w, s = stream_starts(v0, w0, stes, seeds=5, first=2, streams=3)
    idx = [0, 1, 5, 6] * 3
    assert torch.equal(v, v0[idx]) and torch.equal(w, w0[idx])
    assert s == ("identity", "identity", "crelu", "crelu") * 3
    with pytest.raises(ValueError, match="first=6 must be an integer >= 1 and <= 5"):
        stream_starts(v0, w0, stes, seeds=5, first=6, streams=1)
    with pytest.raises(ValueError, match="need equal counts, a multiple of seeds=4"):
        stream_starts(v0, w0, stes, seeds=4, first=2, streams=1)


def test_stream_table_summaries_and_the_judged_comparison():
    h = _records([0], [[0.05, 0.05, 3.1, 0.05, 3.1, 3.1]], [[0.01, 0.2, 0.3, 0.0, 0.1, 0.5]], ("relu",) * 6)
    table = stream_table({"inf": h, 4: h}, ("relu",), streams=2, loss_tol=0.05)
    assert table["inf", "relu"] == stream_summary(h, "relu", 1, loss_tol=0.05)
    near, sd = table[4, "relu"]["near"]  # streams: (0.05, 0.05, 3.1) and (0.05, 3.1, 3.1)
    assert near == pytest.approx(0.5) and sd == pytest.approx(math.sqrt(2) * (1 / 6))
    lines = str(table).splitlines()
    assert lines[0].split() == ["B", "STE", "near", "spurious", "below_tol", "loss", "w_norm"]
    assert "±" not in lines[1] and lines[2].count("±") == 5
    assert lines[1] == "inf relu      0.500      0.500          0.333        0.100          1.000"
    # mean and sd to the place that shows the sd to one significant digit; a zero sd as before
    assert lines[2] == "  4 relu  0.5 ± 0.2  0.5 ± 0.2  0.333 ± 0.000  0.15 ± 0.07  1.000 ± 0.000"
    assert len({len(x) for x in lines}) == 1  # columns right-aligned to their widest entry
    small = StreamTable({("inf", "relu"): {c: (1e-14 if c == "loss" else 0.5, 0.0) for c in STREAM_COLUMNS},
                         (4, "relu"): {c: (4.1234e-4 if c == "loss" else 0.5, 1.26e-4) for c in STREAM_COLUMNS}})
    inf, four = str(small).splitlines()[1:]  # a small loss keeps three significant digits
    assert inf.split()[-2:] == ["<1e-12", "0.500"] and "4.12e-04 ± 1.3e-04" in four
    assert four.count("0.500 ± 0.000") == 4  # the other columns as before
    rows = StreamTable({(4, "a"): {"near": (0.9, 0.05)}, (4, "b"): {"near": (0.5, 0.1)},
                        (4, "c"): {"near": (0.55, 0.1)}})
    assert rows.compare(4, "a", "b") == "ahead of" and rows.compare(4, "b", "a") == "behind"
    assert rows.compare(4, "b", "c") == "tied with"
