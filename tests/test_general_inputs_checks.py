"""The checks of the chapter "Beyond Gaussian inputs" (stelib.general_inputs: gi_laws,
gi_stationary, gi_fixed_points and the summary), against independent references: Yin et al.'s
and the misspecified example's closed forms for Gaussian inputs, exact values (-sqrt(3)/4, the
corner-free strip of the uniform square, reflections), NumPy re-implementations on the same
draws, and Monte Carlo within a few standard errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from stelib import gaussian
from stelib import general_inputs as gi
from stelib import misspecified as ms
from stelib.analyses import gi_fixed_points, gi_stationary
from stelib.distributions import make_distribution
from stelib.montecarlo import Estimate
from stelib.problems import Problem
from stelib.rounding import se_decimals

F64 = torch.float64
SHAPE = dict(df=5.0, aniso_ratio=4.0, mix_sep=1.0, mix_std=0.6, mix_shift=0.5)
V_STAR = [1.0, -0.5, 1.0]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def laws(*names: str, n: int = 2) -> dict:
    every = gi.input_laws(n, **SHAPE)
    return {k: every[k] for k in names}


# --- the laws ---------------------------------------------------------------------------------

def test_input_laws_are_standardised_where_promised():
    every = gi.input_laws(3, **SHAPE)
    assert tuple(every) == gi.LAW_NAMES
    np.testing.assert_allclose(every["anisotropic"].scales, [2.0, 1.0, 0.5], rtol=1e-15)
    N = 200_000
    for name in ("gaussian", "student_t", "uniform", "laplace"):
        Z = every[name].sample((N,), gen(1)).numpy()
        assert np.abs(Z.mean(0)).max() < 5 / math.sqrt(N)
        assert np.abs(Z.var(0) - 1).max() < 0.05, name


def test_law_properties_are_the_known_ones():
    table = gi.law_properties(gi.input_laws(2, **SHAPE))
    flags = {k: r[:2] for k, r in table.rows.items()}
    assert flags == {"gaussian": (True, True), "student_t": (True, True),
                     "uniform": (True, False), "laplace": (True, False),
                     "anisotropic": (True, False), "mixture": (False, False),
                     "digits": (False, False)}
    assert table.rows["mixture"][2] == pytest.approx(SHAPE["mix_shift"], rel=1e-12)
    assert table.rows["gaussian"][2] == 0.0
    assert str(table).splitlines()[5] == ("    mixture: symmetric False, rotation-invariant "
                                          "False, |mean| = 0.500")


def test_unit_is_the_teacher_direction():
    np.testing.assert_allclose(gi.unit(90.0, 3), [0.0, 1.0, 0.0], atol=1e-16)
    np.testing.assert_allclose(gi.unit(30.0), [math.sqrt(3) / 2, 0.5], rtol=1e-15)
    assert gi.unit(30.0).dtype == np.float64


@pytest.mark.parametrize(("call", "match"), [
    (lambda: gi.input_laws(2, **{**SHAPE, "aniso_ratio": 0.5}), r"aniso_ratio=0\.5"),
    (lambda: gi.input_laws(0, **SHAPE), "n=0"),
    (lambda: gi.unit(30.0, 1), "n=1"),
    (lambda: gi.unit(math.nan), "phi_deg=nan"),
    (lambda: gi.law_properties({}), "laws={}"),
    (lambda: gi.spurious_point_check(laws("gaussian"), m=2, v_star=V_STAR, phi_deg=30.0,
                                     samples=100, generator=gen()), "v_star has 3"),
    (lambda: gi.spurious_point_check(laws("gaussian"), m=3, v_star=V_STAR, phi_deg=30.0,
                                     samples=3, generator=gen()), "samples=3"),
    (lambda: gi.spurious_point_check(laws("gaussian"), m=3, v_star=V_STAR, phi_deg=30.0,
                                     samples=100, generator=gen(), half_width=0),
     "half_width=0"),
    (lambda: gi.stationary_directions(laws("mixture"), phi_deg=30.0, samples=100,
                                      replicates=1, generator=gen()), "replicates=1"),
    (lambda: gi.crelu_fixed_points(laws("gaussian"), None, phi_deg=30.0, samples=100,
                                   replicates=1, steps=10, generator=gen()), "replicates=1"),
    (lambda: gi.fixed_point_angles(laws("uniform")["uniform"], [[30.0]]), "phis_deg"),
    (lambda: gi.summary(laws("gaussian"), None, None, phi_deg=30.0, lr=0.5, steps=3,
                        batch=8, generator=gen()), "steps=3"),
])
def test_bad_inputs_are_named_before_any_computation(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- Yin's spurious point ---------------------------------------------------------------------

def test_spurious_point_best_v_is_least_squares_on_the_first_draws_and_e_g_matches_yin():
    samples = 20_000
    check = gi.spurious_point_check(laws("gaussian", n=3), m=3, v_star=V_STAR, phi_deg=30.0,
                                    samples=samples, generator=gen(4))
    row = check.rows["gaussian"]
    # the same first draws, by hand: least squares at -w* in NumPy
    d = make_distribution("gaussian", 3)
    w_star = torch.tensor(gi.unit(30.0, 3))
    prob = Problem(d, 3, labels="teacher", v_star=torch.tensor(V_STAR, dtype=F64), w_star=w_star)
    Z, y = prob.sample(samples // 2, gen(4))
    S = (Z.numpy() @ -w_star.numpy() > 0).astype(float)
    v_ls = np.linalg.solve(S.T @ S, S.T @ y.numpy())
    np.testing.assert_allclose(row.v.numpy(), v_ls, rtol=1e-8)
    assert row.offset == 0.0  # the Gaussian profile is minimal at -w* on a 0.5 degree grid
    # Yin's closed form of E g at (v, -w*) for Gaussian inputs, within 4 standard errors
    yin = gaussian.YinModel(torch.tensor(V_STAR, dtype=F64), w_star)
    for s, e in row.coarse.items():
        assert float(e.z_score(yin.expected_coarse_grad(row.v, -w_star, s)).abs().max()) < 4
    assert float(row.coarse["identity"].mean.norm()) > 0.15  # the identity STE's defect
    # two lines per law, the second indented under the first, within 88 columns
    head, coarse = str(check).splitlines()
    assert head == f"   gaussian: min at  +0.0 deg, |v - v_spur| {row.v_gap:.3f} | |E g|:"
    assert coarse == " " * 13 + "  ".join(
        f"{s} {float(e.mean.norm()):.4f} (z {float(e.z_score(0).abs().max()):4.1f})"
        for s, e in row.coarse.items())
    assert coarse.split()[0] == "identity" and len(coarse) <= 88
    assert row.half_width == 10.0 and not row.at_edge
    edge = gi.SpuriousCheck({"mixture": dataclasses.replace(row, offset=-10.0)})
    assert str(edge).splitlines()[0] == (
        f"    mixture: min at -10.0 deg (window edge), |v - v_spur| {row.v_gap:.3f} | |E g|:")
    assert not dataclasses.replace(row, offset=9.5).at_edge
    assert not dataclasses.replace(row, offset=10.0, half_width=math.nan).at_edge  # not recorded


@pytest.mark.parametrize(("name", "half"), [("uniform", -math.sqrt(3) / 4),
                                            ("gaussian", -1 / math.sqrt(2 * math.pi))])
def test_identity_prediction_is_the_exact_half_moment(name, half):
    # w* = e1: E[z 1{z1 < 0}] = (E[z1; z1 < 0], 0), times (1'v~)(s - 1'v~) = 2(m-1)s^2/(m+1)^2
    s, m = sum(V_STAR), len(V_STAR)
    pred = gi.identity_prediction(make_distribution(name, 2), V_STAR, 0.0)
    np.testing.assert_allclose(pred, [2 * (m - 1) * s * s / (m + 1) ** 2 * half, 0.0],
                               atol=1e-12)


def test_identity_check_prints_determined_digits():
    est = Estimate(torch.tensor([-0.2222, -0.0963], dtype=F64), torch.tensor([0.004, 0.005]))
    check = gi.identity_check(make_distribution("uniform", 2), V_STAR, 30.0, est)
    np.testing.assert_allclose(check.predicted, [-3 * math.sqrt(3) / 24, -3 / 32], rtol=1e-10)
    np.testing.assert_allclose(check.z, (est.mean.numpy() - check.predicted) / [0.004, 0.005])
    # -3/32 is a tie at four decimals: the determined value rounds the same on every machine
    assert str(check).splitlines()[:2] == ["predicted E g_id: -0.2165, -0.0938",
                                           "     Monte Carlo: -0.2222, -0.0963"]
    zero = gi.IdentityCheck(np.array([1e-15]), np.array([0.5]), np.array([0.0]))
    assert str(zero) == ("predicted E g_id: <1e-12\n"
                         "     Monte Carlo: 0.5000\n"
                         "        z-scores: <1e-12")


# --- the misspecified model -------------------------------------------------------------------

def test_stationary_directions_quadrature_and_grid_against_numpy():
    stat = gi.stationary_directions(laws("uniform", "mixture"), phi_deg=30.0, samples=4000,
                                    replicates=3, generator=gen(2))
    assert abs(stat.rows["uniform"].offset) < 1e-4 and stat.rows["uniform"].uncertainty == 0
    # the grid minimiser by hand on the same draws: E[y s]^2 / E[s] is maximal there
    a, g = gi.unit(30.0), gen(2)
    grid = 30.0 + np.arange(-120, 121) / 4
    W = np.stack([np.cos(np.radians(grid)), np.sin(np.radians(grid))], axis=1)
    best = []
    for _ in range(3):
        Z = make_distribution("mixture", 2, sep=1.0, std=0.6, shift=0.5).sample((2000, 1), g)
        z = Z[:, 0].numpy()
        S = (z @ W.T > 0).astype(float)
        G, P = (S * (z @ a)[:, None]).mean(0), S.mean(0)
        best.append(grid[int(np.argmax(G * G / P))] - 30.0)
    row = stat.rows["mixture"]
    np.testing.assert_allclose(row.best, best, atol=1e-9)
    se = np.std(best, ddof=1) / math.sqrt(3)
    assert row.offset == pytest.approx(np.mean(best)) and row.uncertainty == max(se, 0.25)
    assert row.offset > 1.0  # the non-centred mixture moves the stationary direction


def test_stationary_row_reports_replicates_on_one_grid_point():
    row = gi.StationaryRow(-10.5, 0.25, "grid", (-10.5,) * 6)
    assert str(row) == ("stationary direction - phi = -10.50 deg\n(6 of 6 replicates on one grid "
                        "point; grid resolution 0.25 deg)")
    # in the table the second line is indented under the first, within 88 columns
    table = gi.Stationary({"digits": row, "uniform": gi.StationaryRow(1e-6, 0.0, "quadrature"),
                           "student_t": gi.StationaryRow(-0.5, 0.75, "grid", (-1.25, 0.25, -0.5))})
    assert str(table).splitlines() == [
        "     digits: stationary direction - phi = -10.50 deg",
        "             (6 of 6 replicates on one grid point; grid resolution 0.25 deg)",
        "    uniform: stationary direction - phi = +0.0000 deg (quadrature)",
        "  student_t: stationary direction - phi = -0.50 deg",
        "             (se 0.43; grid resolution 0.25 deg)",
    ]


def test_coarse_at_stationary_matches_the_gaussian_closed_form():
    stat = gi.Stationary({"gaussian": gi.StationaryRow(0.0, 0.0, "quadrature")})
    at = gi.coarse_at_stationary(laws("gaussian"), stat, phi_deg=30.0, samples=40_000,
                                 generator=gen(6))
    row = at.rows["gaussian"]
    a = torch.tensor(gi.unit(30.0))
    assert row.v == pytest.approx(2 / math.sqrt(2 * math.pi), abs=0.02)  # 2 phi(0) |a|
    model = ms.LinearTeacherModel(a)
    for s, e in row.coarse.items():
        exact = model.expected_coarse_grad(torch.tensor([row.v], dtype=F64), row.w_hat, s)
        assert float(e.z_score(exact).abs().max()) < 4, s
    # prop-gi-norelu with gamma = 1/sqrt(2 pi), Sigma = I: radial 2g(2g^2 - 1), 2g(2g^2 - 1/2)
    gam = 1 / math.sqrt(2 * math.pi)
    for s, target in (("identity", 2 * gam * (2 * gam**2 - 1)),
                      ("relu", 2 * gam * (2 * gam**2 - 0.5))):
        se = float(row.coarse[s].se.norm())
        assert abs(row.radial(s) - target) < 4 * se + 0.05 * abs(target)
    assert row.tangential("identity") == pytest.approx(
        float(row.coarse["identity"].mean @ torch.tensor(gi.unit(120.0))), abs=1e-15)
    # two lines: v and the se bound, then each STE's radial/tangential parts, indented (88 columns),
    # to the decimals of the bound on their standard errors (the largest |se| of the three STEs)
    bound = max(float(row.coarse[s].se.norm()) for s in ("identity", "relu", "crelu"))
    d = se_decimals(bound)
    assert str(at).splitlines() == [
        f"   gaussian: v = {row.v:.3f}; radial/tangential (standard errors <= {bound:.{d}f}):",
        " " * 13 + "  ".join(f"{s} {row.radial(s):+.{d}f}/{row.tangential(s):+.{d}f}"
                             for s in ("identity", "relu", "crelu"))]
    assert max(len(line) for line in str(at).splitlines()) <= 88


def test_fixed_point_angles_exact_zeros_and_the_mirror_of_the_square():
    uniform = make_distribution("uniform", 2)
    # prop-gi-reflect (axes, diagonal) and prop-gi-exact (ii): phi = 5 has no corner in the strip
    assert np.abs(gi.fixed_point_angles(uniform, [0.0, 5.0, 45.0, 90.0])).max() < 1e-9
    assert np.abs(gi.fixed_point_angles(make_distribution("gaussian", 2), [10.0, 70.0])).max() < 1e-9
    # swapping the coordinates mirrors the square: the angle at 90 - phi is minus the one at phi
    at30, at60 = gi.fixed_point_angles(uniform, [30.0, 60.0])
    assert at30 > 1.0 and at60 == pytest.approx(-at30, abs=1e-8)


def test_crelu_fixed_points_gaussian_radius_and_mixture_reference():
    stat = gi.Stationary({"mixture": gi.StationaryRow(2.0, 0.5, "grid", (2.0, 2.0))})
    fp = gi.crelu_fixed_points(laws("gaussian", "mixture"), stat, phi_deg=30.0,
                               samples=20_000, replicates=3, steps=30, generator=gen(7))
    g = fp.rows["gaussian"]
    assert abs(g.quad) < 1e-9 and g.radius == pytest.approx(gi.GAUSSIAN_RADIUS, rel=0.02)
    assert abs(g.angle) < 4 * g.se
    # prop-gi-exact (i): the quadrature radius is the Gaussian one; the MC radius within 4 se
    assert g.quad_radius == pytest.approx(gi.GAUSSIAN_RADIUS, rel=1e-9)
    assert abs(g.radius - g.quad_radius) < 4 * g.radius_se and g.reference == 0.0
    assert g.spread_se == g.se and g.from_a == g.angle
    # the mixture by hand on the same draws: angle from the stationary direction, se combined
    gg, a = gen(7), torch.tensor(gi.unit(30.0))
    d = make_distribution("gaussian", 2)
    gi.crelu_fixed_point_mc(d, a, samples=20_000, replicates=3, generator=gg, steps=30,
                            radius0=gi.GAUSSIAN_RADIUS / float((d.sample((20_000,), gg) @ a).std()))
    mix = make_distribution("mixture", 2, sep=1.0, std=0.6, shift=0.5)
    r0 = gi.GAUSSIAN_RADIUS / float((mix.sample((20_000,), gg) @ a).std())
    _, w = gi.crelu_fixed_point_mc(mix, a, samples=20_000, replicates=3, generator=gg, steps=30,
                                   radius0=r0)
    ang = gi.angle_deg(w, a) - 2.0
    row = fp.rows["mixture"]
    assert row.angle == pytest.approx(float(ang.mean()), abs=1e-12)
    assert row.se == pytest.approx(math.hypot(float(ang.std()) / math.sqrt(3), 0.5))
    assert math.isnan(row.quad) and "quadrature n/a" in str(fp)
    # the angle from a_hat keeps the replicates' standard error alone; the radius its own
    assert row.reference == 2.0 and row.from_a == pytest.approx(float(ang.mean()) + 2.0, abs=1e-12)
    assert row.spread_se == pytest.approx(float(ang.std()) / math.sqrt(3))
    radius = w.norm(dim=1)
    assert row.radius == pytest.approx(float(radius.mean()), abs=1e-12)
    assert row.radius_se == pytest.approx(float(radius.std()) / math.sqrt(3))
    assert math.isnan(row.quad_radius)


def test_summary_identity_grows_and_crelu_rests_near_the_gaussian_radius():
    fixed = gi.FixedPoints({"gaussian": gi.FixedPointRow(0.1, 0.08, 0.76, 0.0)})
    est = {s: Estimate(torch.tensor([-0.5, 0.0], dtype=F64), torch.tensor([0.01, 0.01], dtype=F64))
           for s in ("identity", "relu", "crelu")}
    at = gi.CoarseAtStationary({"gaussian": gi.CoarseRow(0.8, torch.tensor([1.0, 0.0], dtype=F64),
                                                         est)})
    table = gi.summary(laws("gaussian"), fixed, at, phi_deg=30.0, lr=0.5, steps=200, batch=256,
                       generator=gen(3))
    final = {s: (van, conv, w) for _, s, van, conv, w in table.rows}
    assert final["identity"][2] > 10 and not final["identity"][1]  # |w| grows without bound
    assert final["crelu"][2] == pytest.approx(gi.GAUSSIAN_RADIUS, rel=0.1)
    assert final["crelu"][0] == "on ray (quad.): +0.10 +- 0.08 deg"  # the quadrature angle 0.0 decides
    words = table.growth_reading(fixed)
    ratio = min(final["identity"][2], final["relu"][2]) / final["crelu"][2]
    assert words == {"ratio": f"{ratio:.1f}",
                     "crelu": "in every row cReLU CGD ends with |w| within 20 % of the fixed point's radius"}
    far = gi.FixedPoints({"gaussian": gi.FixedPointRow(0.1, 0.08, 2.0, 0.0)})
    assert table.growth_reading(far)["crelu"] == (
        "cReLU CGD ends with |w| within 20 % of the fixed point's radius in 0 of the 1 rows")
    assert final["identity"][0].startswith("no: radial -0.500 (|z| > 35)")  # 0.5 / 0.01414


def test_fixed_points_print_two_lines_per_law():
    """The angle line (with the angle from a only where the reference is not a_hat), then the
    radius with the digits its standard error determines and the quadrature radius."""
    fixed = gi.FixedPoints({
        "gaussian": gi.FixedPointRow(0.1265, 0.0819, 0.76033, 0.0, radius_se=0.00196,
                                     quad_radius=0.7632024),
        "mixture": gi.FixedPointRow(-4.4278, 0.7902, 0.55393, math.nan, radius_se=0.00078,
                                    reference=4.9167, spread_se=0.1846),
        "old": gi.FixedPointRow(0.5, 0.1, 0.8, math.nan)})  # no radius se recorded
    assert str(fixed).splitlines() == [
        "   gaussian: angle +0.127 +- 0.082 deg (quadrature <1e-12)",
        "             |w| = 0.760 +- 0.002 (quadrature 0.7632)",
        "    mixture: angle -4.428 +- 0.790 deg (quadrature n/a); from a: +0.49 +- 0.18 deg",
        "             |w| = 0.5539 +- 0.0008 (quadrature n/a)",
        "        old: angle +0.500 +- 0.100 deg (quadrature n/a)",
        "             |w| = 0.8000 (quadrature n/a)"]
    assert max(len(line) for line in str(fixed).splitlines()) <= 88


def test_fixed_point_row_on_ray_by_quadrature_or_students_t():
    assert gi.FixedPointRow(0.15, 0.08, 1.0, math.nan).on_ray  # replicates unknown: two se
    assert not gi.FixedPointRow(-0.17, 0.08, 1.0, math.nan).on_ray
    # two replicates: t(0.975, 1) = 12.7 se; six: 2.57 se
    assert gi.FixedPointRow(2.25, 2.43, 1.0, math.nan, replicates=2).on_ray
    assert gi.FixedPointRow(-0.2, 0.08, 1.0, math.nan, replicates=6).on_ray
    assert not gi.FixedPointRow(-0.21, 0.08, 1.0, math.nan, replicates=6).on_ray
    # quadrature decides where it applies, whatever the samples say (the referee's rerun:
    # anisotropic off by -3.29 +- 0.53 deg on 2 replicates, uniform +2.25 +- 2.43 by quadrature +2.1381)
    aniso = gi.FixedPointRow(-3.29, 0.53, 0.44, 1e-13, replicates=2)
    uniform = gi.FixedPointRow(2.25, 2.43, 0.76, 2.1381, replicates=2)
    assert aniso.on_ray and aniso.by_quadrature and not uniform.on_ray



def test_place_and_on_ray_agree_on_the_bound():
    """A fixed point exactly on the Student-t bound is off the ray for both readings."""
    k = gi_fixed_points._t_bound(6)
    on_bound = gi.FixedPointRow(k, 1.0, 1.0, math.nan, replicates=6)
    inside = gi.FixedPointRow(0.99 * k, 1.0, 1.0, math.nan, replicates=6)
    assert not on_bound.on_ray and inside.on_ray
    assert "misses it" in gi.FixedPoints({"gaussian": on_bound}).place("gaussian")
    assert "is on it within error" in gi.FixedPoints({"gaussian": inside}).place("gaussian")

def test_spurious_check_reading():
    def est(z):
        return Estimate(torch.tensor([z * 0.01, 0.0], dtype=F64), torch.tensor([0.01, 0.01], dtype=F64))

    def check(relu, identity):
        row = gi.SpuriousRow(0.0, torch.zeros(2, dtype=F64), 0.0,
                             {"identity": est(identity), "relu": est(relu), "crelu": est(0.5)})
        return gi.SpuriousCheck({"gaussian": row, "uniform": row})

    assert check(2.6, 37.7).reading == ("for every law the ReLU and cReLU coarse gradients at the best v are"
                                        " zero within 4 standard errors, and the identity one is far from"
                                        " zero (largest |z| 2.6; smallest identity |z| 37.7)")
    assert check(4.5, 3.0).reading.startswith("not for every law are the ReLU and cReLU coarse gradients")
    assert check(4.5, 3.0).reading.endswith("the identity one is not far from zero for every law"
                                            " (largest |z| 4.5; smallest identity |z| 3.0)")


def test_rotation_in_the_first_plane_and_an_empty_strip():
    """The rotations of spurious_point_check are rotations; a strip outside the support of the
    uniform law has zero probability and moments of the documented shapes."""
    from stelib.distributions import make_distribution
    from stelib.general_inputs import _rotated, strip_moments

    w = torch.tensor([3.0, 4.0, 2.0], dtype=torch.float64)
    W = _rotated(w, torch.tensor([0.0, 90.0, 180.0, 30.0], dtype=torch.float64))
    expect = torch.tensor([[3.0, 4.0, 2.0], [-4.0, 3.0, 2.0], [-3.0, -4.0, 2.0]], dtype=torch.float64)
    assert torch.allclose(W[:3], expect, atol=1e-12)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert torch.allclose(W[3], torch.tensor([3 * c - 4 * s, 3 * s + 4 * c, 2.0], dtype=torch.float64))
    p, m1, m2 = strip_moments(make_distribution("uniform", n=2), [1.0, 0.0], 5.0, 6.0)
    assert p == 0.0 and m1.shape == (2,) and m2.shape == (2, 2) and not m1.any() and not m2.any()


def test_fixed_points_settle_for_a_strongly_anisotropic_gaussian():
    """Scale ratio 100: the step divided by sd(y*) is the standard Gaussian one, so 30 iterations
    settle (drift 4e-3; it was 3.0 without the division) at the quadrature radius."""
    every = gi.input_laws(2, **{**SHAPE, "aniso_ratio": 100.0})
    fp = gi.crelu_fixed_points({k: every[k] for k in ("gaussian", "anisotropic")}, None,
                               phi_deg=30.0, samples=40_000, replicates=3, steps=30, generator=gen(0))
    assert fp.unsettled() == []
    for r in fp.rows.values():
        assert r.drift < gi.DRIFT_TOL and r.compared_radius == r.radius
        assert r.radius == pytest.approx(r.quad_radius, rel=0.05)


def test_fixed_points_report_an_iteration_that_did_not_settle():
    """An unsettled row (the numbers of the anisotropic law with scale ratio 100 before the step
    was divided by sd(y*)) says so, gives no Monte Carlo verdict and is compared by its
    quadrature radius."""
    row = gi.FixedPointRow
    fp = gi.FixedPoints({"gaussian": row(0.1265, 0.0819, 0.76033, 0.0, radius_se=0.00196,
                                         quad_radius=0.7632024, replicates=6, drift=8e-5),
                         "anisotropic": row(-33.0, 33.9, 1.4, 1e-13, radius_se=0.5,
                                            quad_radius=0.0881, replicates=6, drift=3.01)})
    g, an = fp.rows["gaussian"], fp.rows["anisotropic"]
    assert g.settled and g.compared_radius == g.radius
    assert not an.settled and an.compared_radius == an.quad_radius
    assert fp.unsettled() == ["anisotropic"]
    assert str(fp).splitlines()[-1] == f"{'':13}not settled: the last two quarters of the iterates differ by 301% of |w|"
    assert fp.agreement()["angle"] == ("the Monte Carlo replicates agree with the quadrature within 1.5 standard"
                                       " errors (not counting anisotropic: no settled iteration)")
    from stelib.analyses.general_inputs import _vanishes
    assert _vanishes("crelu", an, None) == "on ray (quad.): MC did not settle"
    assert _vanishes("crelu", dataclasses.replace(an, quad=math.nan), None) == (
        "n/a: MC iteration did not settle")


def test_fixed_points_agreement_with_quadrature_in_standard_errors():
    row = gi.FixedPointRow
    fixed = gi.FixedPoints({
        "gaussian": row(0.1265, 0.0819, 0.76033, 0.0, radius_se=0.00196, quad_radius=0.7632024),
        "uniform": row(2.25, 0.05, 0.757, 2.1381, radius_se=0.001, quad_radius=0.7576),
        "student_t": row(9.0, 0.1, 0.7, math.nan, radius_se=0.001)})  # no quadrature: not counted
    assert fixed.agreement() == {  # angles: 1.545 and 2.238; radii: 1.466 and 0.6
        "angle": "the Monte Carlo replicates differ from the quadrature by up to 2.2 standard errors",
        "radius": "the Monte Carlo replicates agree with the quadrature within 1.5 standard errors"}
    none = gi.FixedPoints({"t": row(0.1, 0.1, 0.7, math.nan, radius_se=0.001)})
    assert none.agreement()["radius"] == "no settled Monte Carlo fixed point can be compared with the quadrature"
    assert none.rows["t"].settled and none.unsettled() == []  # drift not recorded: settled


def test_stationary_reading_tests_each_law_against_the_teacher_direction():
    """Quadrature rows are at a_hat below 1e-4 deg; sample rows within t(0.975, R - 1) = 2.571
    (six replicates) times max(se, grid step); the sentences follow the rows and the laws."""
    row, grid = gi.StationaryRow, gi.GRID_STEP
    six = (0.0,) * 6
    stat = gi.Stationary({"uniform": row(1.5e-6, 0.0, "quadrature"),
                          "student_t": row(-0.46, 0.75, "grid", six),
                          "mixture": row(4.92, 0.77, "grid", six),
                          "digits": row(-10.5, grid, "grid", six)})
    every = gi.input_laws(2, **SHAPE)
    assert [stat.off_a(k) for k in stat.rows] == [False, False, True, True]
    words = stat.reading(every)
    assert words["symmetric"].startswith("For the symmetric laws the minimising direction is the teacher")
    assert words["mixture"].startswith("The non-centred mixture moves the stationary direction away"
                                       " from the teacher direction, by +4.92 degrees")
    assert words["digits"] == ("42 grid steps away: the digits' lack of symmetry is visible at this"
                               " resolution")
    edge = gi.Stationary({"student_t": row(1.93, 0.75, "grid", six),  # 2.57 se: off
                          "uniform": row(2e-4, 0.0, "quadrature"),
                          "mixture": row(1.9, 0.77, "grid", six),  # 2.47 se: not off
                          "digits": row(0.5, grid, "grid", six)})  # 2 grid steps: not off
    words = edge.reading(every)
    assert words["symmetric"].startswith("Not every symmetric law has its minimising direction at the"
                                         " teacher direction within the 95 % interval of its samples:"
                                         " student_t, uniform (")
    assert "within the 95 % interval of the teacher direction in this run (+1.90 degrees)" in words["mixture"]
    assert words["digits"].startswith("2 grid steps away, within the 95 % interval")
    centred = gi.input_laws(2, **{**SHAPE, "mix_shift": 0.0})
    assert edge.reading(centred)["mixture"] == (
        "The mixture is centred in this run, so the proposition covers it too (its direction: +1.90 degrees)")
    assert "mixture" not in gi.Stationary({"student_t": stat.rows["student_t"]}).reading(every)


def test_fixed_points_place_against_the_stationary_and_the_teacher_direction():
    row = gi.FixedPointRow
    fp = gi.FixedPoints({  # the default run's mixture and digits rows; a symmetric law
        "mixture": row(-4.4278, 0.7902, 0.55393, math.nan, reference=4.9167, spread_se=0.1846, replicates=6),
        "digits": row(6.414, 0.257, 0.89, math.nan, reference=-10.5, spread_se=0.06, replicates=6),
        "student_t": row(0.088, 0.074, 0.785, math.nan, replicates=6),
        "far": row(-0.3, 0.1, 0.8, math.nan, reference=-1.0, spread_se=0.1, replicates=6),
        "on": row(0.2, 0.1, 0.8, math.nan, reference=-1.0, spread_se=0.1, replicates=6),
        "lost": row(0.2, 0.1, 0.8, math.nan, replicates=6, drift=0.5)})
    assert fp.place("mixture") == (
        "the fixed point misses its stationary direction by 4.43 degrees (5.6 of its uncertainties)"
        " and lies 0.49 degrees from the teacher direction (2.6 standard errors), between the two:"
        " nearer the teacher direction than the minimiser")
    assert fp.place("digits").startswith("the fixed point misses its stationary direction by 6.41 degrees")
    assert fp.place("student_t") == ("the stationary direction is the teacher direction, and the fixed"
                                     " point is on it within error (0.09 degrees, 1.2 standard errors)")
    # 3 se off its direction, on the far side of it from the teacher direction: not between
    assert fp.place("far") == ("the fixed point misses its stationary direction by 0.30 degrees (3.0 of its"
                               " uncertainties) and lies 1.30 degrees from the teacher direction (13.0"
                               " standard errors)")
    assert fp.place("on").startswith("the fixed point is on its stationary direction within error (2.0 of")
    assert fp.place("lost") == "the fixed-point iteration did not settle, so there is no fixed point to place"


def test_fixed_points_radius_against_a_reference():
    row = gi.FixedPointRow
    fp = gi.FixedPoints({"student_t": row(0.088, 0.074, 0.785, math.nan, radius_se=0.003, replicates=6),
                         "lost": row(0.1, 0.1, 0.7, math.nan, radius_se=0.003, replicates=6, drift=0.2)})
    # (0.785 - 0.7632) / 0.003 = 7.27 > t(0.975, 5) = 2.571; (0.785 - 0.7863) / 0.003 = -0.43
    assert fp.radius_against("student_t", 0.7632, "the Gaussian radius") == (
        "7.3 of its standard errors above the Gaussian radius, outside the 95 % interval")
    assert fp.radius_against("student_t", 0.7863, "it") == (
        "0.4 of its standard errors below it, within the 95 % interval")
    assert fp.radius_against("student_t", math.nan, "it") == "not comparable with it: there is none"
    assert fp.radius_against("lost", 0.7, "it") == (
        "not comparable with it: the fixed-point iteration did not settle")


def test_coarse_row_prints_its_parts_to_the_decimals_of_the_se_bound():
    w_hat = torch.tensor([1.0, 0.0], dtype=F64)
    est = {"identity": Estimate(torch.tensor([-0.55612, 0.00274], dtype=F64), torch.tensor([0.006, 0.0084], dtype=F64)),
           "crelu": Estimate(torch.tensor([0.01437, -0.00049], dtype=F64), torch.tensor([0.001, 0.001], dtype=F64))}
    row = gi_stationary.CoarseRow(0.7, w_hat, est)
    assert row.se_bound() == pytest.approx(math.hypot(0.006, 0.0084))  # 0.0103: two digits of a leading 1
    assert row.bound_text() == "0.010"
    assert row.parts() == "identity -0.556/+0.003  crelu +0.014/+0.000"  # -0.0005 rounds to zero: no sign
    exact = gi_stationary.CoarseRow(0.7, w_hat, {"relu": Estimate(torch.tensor([-0.25, 0.0], dtype=F64),
                                                                  torch.zeros(2, dtype=F64))})
    assert exact.bound_text() == "0" and exact.parts() == "relu -0.2500/<1e-12"  # no sampling error
