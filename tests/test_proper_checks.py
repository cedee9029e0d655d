"""The checks of the chapter "Which straight-through estimators are proper?" (stelib.proper:
proper_test, proper_montecarlo, proper_radii, proper_yin), against independent references: exact
values of prop-proper-halfline and prop-proper-yin, the Gaussian vanishing radius, a NumPy
re-implementation of the Monte Carlo z on the same draws, a deliberately wrong formula (the
check must catch it), and hand-made results."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stelib import gaussian, montecarlo, proper
from stelib import misspecified as ms

F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)
CRELU_RADIUS = 0.7632023628036961


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_symmetry_table_sorts_the_catalogue_and_reports_agreement():
    g = gen(1)
    model = gaussian.YinModel(torch.randn(3, generator=g, dtype=F64),
                              torch.randn(4, generator=g, dtype=F64))
    Z, y = model.sample(300, g)
    v, w = torch.randn(3, generator=g, dtype=F64), torch.randn(4, generator=g, dtype=F64)
    table = proper.symmetry_table(["identity", "relu", "crelu", "sigmoid"], v, w, Z, y,
                                  scales=[0.5, 2.0])
    assert {s: r["verdict"] for s, r in table.rows.items()} == {
        "identity": "keeps", "relu": "keeps", "crelu": "breaks", "sigmoid": "breaks"}
    assert table.agrees and str(table).endswith("for every STE: True")
    lines = str(table).splitlines()  # a header, one row per STE, the agreement line
    assert lines[0] == ("       STE | max|mu'(cx)-mu'(x)| | half-line gap | max|g(cw)-g(w)| |   changed"
                        " | verdict")
    r = table.rows["crelu"]
    assert lines[3] == (f"     crelu | {r['grid_gap']:19.3g} | {r['halfline_gap']:13.3g} | "
                        f"{r['sample_gap']:15.3g} | {str(r['changed']) + '/300':>9} | breaks")
    assert lines[1].endswith("|     0/300 | keeps") and 0 < r["changed"] <= 300
    assert len(lines) == 6 and max(map(len, lines)) <= 88
    wrong = proper.SymmetryTable({"crelu": {**table.rows["crelu"], "verdict": "keeps"}})
    assert not wrong.agrees


def test_formula_vs_monte_carlo_is_the_z_of_a_numpy_estimate_and_catches_a_wrong_formula():
    model = ms.LinearTeacherModel(torch.tensor([2.0, 1.0], dtype=F64))
    V, W = torch.tensor([[0.7]], dtype=F64), torch.tensor([[0.4, -1.1]], dtype=F64)
    check = proper.formula_vs_monte_carlo(model, V, W, ["identity"], samples=5000,
                                          generator=gen(2))
    # identity STE by hand: g = z v (v 1{w'z > 0} - a'z), mean and standard error
    Z, y = model.sample(5000, gen(2))
    z = Z[:, 0].numpy()
    g = z * 0.7 * (0.7 * (z @ W[0].numpy() > 0) - y.numpy())[:, None]
    exact = model.expected_coarse_grad(V[0], W[0], "identity").numpy()
    zs = (g.mean(0) - exact) / (g.std(0, ddof=1) / math.sqrt(5000))
    assert check.max_z["identity"] == pytest.approx(np.abs(zs).max(), rel=1e-6)
    assert check.max_z["identity"] < 4.5 and "over 1 points x 2 coordinates" in str(check)

    class Wrong:  # the same sampler with a formula off by 0.05 in one coordinate
        m, n, sample = model.m, model.n, model.sample

        def expected_coarse_grad(self, v, w, ste):
            return model.expected_coarse_grad(v, w, ste) + torch.tensor([0.05, 0.0], dtype=F64)

    bad = proper.formula_vs_monte_carlo(Wrong(), V, W, ["identity"], samples=200_000,
                                        generator=gen(2))
    assert bad.max_z["identity"] > 6


def test_vanishing_table_exact_values():
    table = proper.vanishing_table(["identity", "relu", "crelu"])
    # prop-proper-halfline: R = p/pi - (p + q)/2 with (p, q) = (1, 1) and (1, 0)
    assert table.radius("identity") is None and table.radius("relu") is None
    assert table.rows["identity"]["r_small"] == pytest.approx(1 / math.pi - 1, abs=1e-12)
    assert table.rows["relu"]["r_large"] == pytest.approx(1 / math.pi - 0.5, abs=1e-12)
    assert table.radius("crelu") == pytest.approx(CRELU_RADIUS, rel=1e-9)
    assert table.rows["crelu"]["stable"] and table.rows["crelu"]["zeros"] == 1
    assert "      none |" in str(table) and "0.763202" in str(table)


def test_projected_coarse_grad_is_the_mean_and_se_of_the_projected_samples():
    model = ms.LinearTeacherModel(torch.tensor([2.0, 1.0], dtype=F64))
    v, w, d = torch.tensor([0.9], dtype=F64), torch.tensor([0.5, 0.3], dtype=F64), torch.tensor([0.6, 0.8], dtype=F64)
    est = proper.projected_coarse_grad(v, w, model, "crelu", d, samples=5000, generator=gen(6),
                                       chunk=1500)  # chunks of 1500, 1500, 1500, 500
    # crelu by hand on the same draws: g = z 1{0 < w'z < 1} v (v 1{w'z > 0} - a'z), then d'g
    g = gen(6)
    draws = [model.sample(b, g) for b in (1500, 1500, 1500, 500)]
    z = torch.cat([Z for Z, _ in draws])[:, 0].numpy()
    y = torch.cat([y for _, y in draws])
    x = z @ w.numpy()
    p = (z @ d.numpy()) * ((0 < x) & (x < 1)) * 0.9 * (0.9 * (x > 0) - y.numpy())
    assert float(est.mean) == pytest.approx(p.mean(), rel=1e-12)
    assert float(est.se) == pytest.approx(p.std(ddof=1) / math.sqrt(5000), rel=1e-10)
    # the same draws as estimate; its coordinate errors only bound the projection's error
    coord = montecarlo.coarse_grad(v, w, model, "crelu", samples=5000, generator=gen(6), chunk=1500)
    assert float(est.mean) == pytest.approx(float(coord.mean @ d), rel=1e-12)
    assert float(est.se) < float(coord.se @ d.abs())


def test_vanishing_table_names_its_grid():
    table = proper.vanishing_table(["crelu"])
    assert table.grid == proper.RADIUS_GRID == (1e-3, 1e3, 241)
    assert str(table).endswith("sign changes of R on a grid of 241 log-spaced radii of [1e-3, 1e3]")


def test_radius_check_signs_match_the_radial_function():
    model = ms.LinearTeacherModel(torch.tensor([2.0, 1.0], dtype=F64))
    table = proper.vanishing_table(["relu", "crelu"])
    check = proper.radius_check(model, table, samples=40_000, generator=gen(3))
    assert list(check.z) == ["crelu"]  # no radius, no row
    at, inside, outside = check.z["crelu"]
    ref = proper.radial_curve("crelu", [0.8 * CRELU_RADIUS, 1.25 * CRELU_RADIUS])
    assert float(ref[0]) < 0 < float(ref[1])  # the closed form: |w| grows inside, shrinks outside
    assert abs(at) < 4 and inside < -4 and outside > 4
    assert str(check) == (f"     crelu: MC z of the radial part at 1, 0.8, 1.25 x radius: {at:+6.2f}, "
                          f"{inside:+7.1f}, {outside:+7.1f}")


def test_cgd_rest_arrives_at_the_radius_and_keeps_growing_without_one():
    table = proper.vanishing_table(["relu", "crelu"])
    rest = proper.cgd_rest(torch.tensor([2.0, 1.0], dtype=F64), table, lr=0.8, steps=1000)
    rel, drift = rest.relative("crelu")
    assert torch.allclose(rel, torch.ones(3, dtype=F64), atol=1e-6)
    assert rest.arrived == [True] * 3 and rest.final_angle("crelu") < 1e-8
    assert rest.at_rest == [True] * 3 and float(rest.move("crelu").max()) < 1e-12
    assert float(drift.abs().max()) < 1e-12
    relu_norm = rest.history.w_norm[-1, rest.runs["relu"]]
    assert float(relu_norm.min()) > 50  # R = 1/pi - 1/2 < 0 on the ray: |w| grows linearly
    assert "relu: no radius" in str(rest)
    lines = str(rest).splitlines()  # a line per STE without a radius, two per STE with one
    assert lines[1].startswith("     crelu: final |w| / radius = " + ", ".join(f"{x:.6f}" for x in rel) + "; ")
    assert lines[1].endswith(" rad")
    assert lines[2] == " " * 12 + "one more step: |w| <1e-12, <1e-12, <1e-12; w moves <1e-12, <1e-12, <1e-12"
    assert len(lines) == 3 and max(map(len, lines)) <= 88


def test_yin_minima_match_prop_proper_yin():
    v_star, w_star = torch.tensor([1.0, 0.5, -0.2], dtype=F64), torch.tensor([0.3, -1.0], dtype=F64)
    model = gaussian.YinModel(v_star, w_star)
    out = proper.yin_minima(model, ["identity", "relu", "crelu"], [0.5, 2.0], samples=40_000,
                            generator=gen(4))
    s, m = float(v_star.sum()), 3
    const = 2 * (m - 1) * s * s / (m + 1) ** 2  # |v~|^2 + v~'v*
    ident = out.rows["identity"]
    np.testing.assert_allclose(ident.spur.numpy(), [PHI0 * const] * 2, rtol=1e-10)  # -M1^- = phi0
    np.testing.assert_allclose(ident.coef.numpy(), [PHI0] * 2, rtol=1e-10)
    assert not ident.vanishes and ident.z > 4
    for name in ("relu", "crelu"):
        assert out.rows[name].vanishes and abs(out.rows[name].z) < 4
    assert max(r.glob for r in out.rows.values()) < 1e-12
    lines = str(out).splitlines()  # the existence line, then three lines per STE
    assert lines[0] == "spurious minima exist: True" and len(lines) == 1 + 3 * 3
    assert lines[1:4] == [
        f"  identity: global max|E g| = <1e-12 | spurious |E g| = {ident.spur[0]:.2e}, "
        f"{ident.spur[1]:.2e}",
        f"            -M1^- = {PHI0:.2e}, {PHI0:.2e} | MC z at |w| = 0.5: {ident.z:+6.1f}",
        "            spurious: does not vanish"]
    assert lines[6] == "            spurious: vanishes" and max(map(len, lines)) <= 88


def _fake_result(acc, norms0, norms1):
    acc = torch.tensor(acc, dtype=F64)  # (stes, seeds) final accuracy in [0, 1]
    norms = torch.stack([torch.tensor(norms0, dtype=F64), torch.tensor(norms1, dtype=F64)], -1)
    return SimpleNamespace(
        bits=(1,), stes=("identity", "crelu", "hardtanh"),
        final=lambda what: (acc.mean(1)[None], acc.std(1)[None]),
        test_accuracy=torch.stack([acc * 0, acc], -1)[None],  # (1, stes, seeds, 2)
        weight_norms=norms[None, :, :, None, :])  # (1, stes, seeds, layers, epochs + 1)


def test_digits_summary_best_tied_and_growth_bounds():
    res = _fake_result([[0.80, 0.90], [0.91, 0.93], [0.95, 0.96]],
                       [[1.0, 2.0], [1.0, 1.0], [2.0, 2.0]], [[50.0, 60.0], [1.5, 2.0], [5.0, 4.0]])
    verdicts = proper.SymmetryTable({s: {"verdict": v} for s, v in
                                     (("identity", "keeps"), ("crelu", "breaks"),
                                      ("hardtanh", "breaks"))})
    d = proper.digits_summary(res, verdicts)
    assert d.best == "hardtanh" and d.tied == ["hardtanh"]  # crelu's best 93 < hardtanh's worst 95
    assert d.growth_bounds() == (30.0, 2.5)  # identity: 50/1, 60/2; crelu 1.5, 2; hardtanh 2.5, 2
    assert d.epochs == 1 and "hardtanh:  95.5 ±" in str(d)
    assert str(d).splitlines()[1:] == [
        "  identity:  85.0 ± 7.1 (min  80.0, max  90.0) | growth  30.0 to  50.0 | keeps symmetry",
        "     crelu:  92.0 ± 1.4 (min  91.0, max  93.0) | growth   1.5 to   2.0 | breaks symmetry",
        "  hardtanh:  95.5 ± 0.7 (min  95.0, max  96.0) | growth   2.0 to   2.5 | breaks symmetry"]
    only = proper.SymmetryTable({s: {"verdict": "breaks"} for s in res.stes})
    assert proper.digits_summary(res, only).growth_bounds() is None
    assert d.growth_reading.startswith("separates the two kinds in every seed")
    assert proper.digits_summary(res, only).growth_reading.startswith("cannot be compared")
    slow = _fake_result([[0.80, 0.90], [0.91, 0.93], [0.95, 0.96]],
                        [[1.0, 2.0], [1.0, 1.0], [2.0, 2.0]], [[50.0, 4.0], [1.5, 2.0], [5.0, 4.0]])
    assert proper.digits_summary(slow, verdicts).growth_bounds() == (2.0, 2.5)  # 4/2 < 5/2
    assert proper.digits_summary(slow, verdicts).growth_reading.startswith("does not separate the two kinds")


@pytest.mark.parametrize(("call", "match"), [
    (lambda: proper.symmetry_table([], torch.ones(2), torch.ones(2), torch.ones(4, 2, 2),
                                   torch.zeros(4), scales=[2.0]), r"stes=\(\) is empty"),
    (lambda: proper.vanishing_table(["nope"]), "nope"),
    (lambda: proper.formula_vs_monte_carlo(ms.LinearTeacherModel([1.0, 0.0]), torch.ones(2, 1),
                                           torch.ones(3, 2), ["relu"], samples=10,
                                           generator=gen()), "V has 2 points and W 3"),
    (lambda: proper.radius_check(ms.LinearTeacherModel([1.0, 0.0]), proper.vanishing_table(["crelu"]),
                                 samples=10, generator=gen(), factors=[-1.0]), "factors=-1.0"),
    (lambda: proper.projected_coarse_grad([1.0], [1.0, 0.0], ms.LinearTeacherModel([1.0, 0.0]),
                                          "crelu", [1.0, 0.0, 0.0], samples=10, generator=gen()),
     r"direction has shape \(3,\) and w \(2,\)"),
    (lambda: proper.cgd_rest([1.0, 0.0, 0.0], proper.vanishing_table(["crelu"]), lr=0.5,
                             steps=1000), r"need shape \(2,\)"),
    (lambda: proper.cgd_rest([1.0, 0.0], proper.vanishing_table(["crelu"]), lr=0.5, steps=50),
     "steps=50"),
    (lambda: proper.yin_minima(gaussian.YinModel(torch.ones(2, dtype=F64), torch.ones(2, dtype=F64)),
                               ["relu"], [0.0], samples=10, generator=gen()), r"w_norms=\[0\.0\]"),
    (lambda: proper.digits_summary(SimpleNamespace(bits=(1, 2)), None), r"result.bits=\(1, 2\)"),
])
def test_bad_inputs_are_named_before_any_computation(call, match):
    with pytest.raises(ValueError, match=match):
        call()
