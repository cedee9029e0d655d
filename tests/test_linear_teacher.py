"""Tests of stelib.linear_teacher (the checks of the misspecified example) against independent
references: NumPy and SciPy reimplementations of the closed forms, finite differences, exact
values, Monte Carlo within a few standard errors, and hand-made paths with known rates."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch

from stelib import fields
from stelib import linear_teacher as lt
from stelib import misspecified as ms

F64 = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)
A2 = torch.tensor([1.0, 0.5], dtype=F64)


def _c_star_scipy() -> float:
    """kappa*: the root of 2 phi0 (phi0 - phi(c)) = Phi(c) - 1/2 - c phi(c), with scipy.stats."""
    N = scipy.stats.norm

    def r(c):
        return 2 * PHI0 * (PHI0 - N.pdf(c)) - (N.cdf(c) - 0.5 - c * N.pdf(c))

    return scipy.optimize.brentq(r, 0.8, 5.0, xtol=1e-14)


def _points(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g, dtype=F64), torch.randn(3, 1, generator=g, dtype=F64),
            torch.randn(3, n, generator=g, dtype=F64))


# --- closed forms against Monte Carlo --------------------------------------------------------

def test_loss_vs_monte_carlo_is_the_z_score_of_a_numpy_estimate():
    """One point, 20 000 draws (one chunk): z = (mean - L) / se with the per-sample loss and the
    closed form L = v^2/4 - phi0 v a.w_hat + |a|^2/2 both written in NumPy."""
    a, V, W = _points(3, 1)
    V, W = V[:1], W[:1]
    got = lt.loss_vs_monte_carlo(a, V, W, samples=20_000, generator=torch.Generator().manual_seed(5))
    Z = torch.randn(20_000, 1, 3, generator=torch.Generator().manual_seed(5), dtype=F64)[:, 0].numpy()
    an, v, w = a.numpy(), float(V[0, 0]), W[0].numpy()
    per = 0.5 * (v * (Z @ w > 0) - Z @ an) ** 2
    closed = v**2 / 4 - PHI0 * v * an @ w / np.linalg.norm(w) + an @ an / 2
    z = (per.mean() - closed) / (per.std(ddof=1) / math.sqrt(len(per)))
    assert got.z_max == pytest.approx(abs(z), rel=1e-8)
    assert (got.points, got.coordinates) == (1, 1)
    assert str(got) == f"loss, closed form vs Monte Carlo: max |z| = {abs(z):.2f} over 1 random points"


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu"])
def test_coarse_vs_monte_carlo_against_a_numpy_closed_form(ste):
    """The expected coarse gradient written from prop-ms-coarse with scipy.stats, against the
    mean of the per-sample coarse gradients in NumPy: the z-scores agree with the function's."""
    a, V, W = _points(4, 2)
    V, W = V[:1], W[:1]
    got = lt.coarse_vs_monte_carlo(a, V, W, ste, samples=20_000, generator=torch.Generator().manual_seed(6))
    Z = torch.randn(20_000, 1, 4, generator=torch.Generator().manual_seed(6), dtype=F64)[:, 0].numpy()
    an, v, w = a.numpy(), float(V[0, 0]), W[0].numpy()
    x, r = Z @ w, np.linalg.norm(w)
    mu = {"identity": np.ones_like(x), "relu": (x > 0) * 1.0, "crelu": ((x > 0) & (x < 1)) * 1.0}[ste]
    per = Z * (mu * v * (v * (x > 0) - Z @ an))[:, None]
    w_hat, alpha, c = w / r, an @ w / r, 1 / r
    N = scipy.stats.norm
    if ste == "identity":
        Eg = v * (v * PHI0 * w_hat - an)
    elif ste == "relu":
        Eg = v * (v * PHI0 * w_hat - an / 2)
    else:
        radial = v * (PHI0 - N.pdf(c)) - alpha * (N.cdf(c) - 0.5 - c * N.pdf(c))
        Eg = v * (radial * w_hat - (N.cdf(c) - 0.5) * (an - alpha * w_hat))
    z = np.abs(per.mean(0) - Eg) / (per.std(0, ddof=1) / math.sqrt(len(per)))
    assert got.z_max == pytest.approx(z.max(), rel=1e-7)
    assert got.z_max < 4.5  # the closed form is right: z is about N(0, 1) per coordinate
    assert str(got) == f"{ste:>8}: closed form vs Monte Carlo, max |z| over 1 points x 4 coordinates = {z.max():.2f}"


def test_monte_carlo_check_detects_a_wrong_closed_form(monkeypatch):
    """A closed form off by 5 % is many standard errors away with 200 000 draws."""
    a, V, W = _points(2, 3)
    real = ms.LinearTeacherModel.expected_coarse_grad
    monkeypatch.setattr(ms.LinearTeacherModel, "expected_coarse_grad",
                        lambda self, v, w, ste: 1.05 * real(self, v, w, ste))
    got = lt.coarse_vs_monte_carlo(a, V, W, "identity", samples=200_000,
                                   generator=torch.Generator().manual_seed(7))
    assert got.z_max > 10


def test_monte_carlo_checks_reject_bad_input_before_drawing():
    a, V, W = _points(3, 4)
    g = torch.Generator().manual_seed(8)
    state = g.get_state()
    with pytest.raises(ValueError, match=r"V must have shape \(k, 1\) and W shape \(k, n\).*got V \(3, 2\)"):
        lt.loss_vs_monte_carlo(a, torch.zeros(3, 2), W, samples=100, generator=g)
    with pytest.raises(ValueError, match=r"samples=1 must be an integer >= 2"):
        lt.loss_vs_monte_carlo(a, V, W, samples=1, generator=g)
    with pytest.raises(ValueError, match=r"ste='tanh' is not valid; choose one of"):
        lt.coarse_vs_monte_carlo(a, V, W, "tanh", samples=100, generator=g)
    with pytest.raises(ValueError, match=r"a contains non-finite values"):
        lt.coarse_vs_monte_carlo(a * math.nan, V, W, "relu", samples=100, generator=g)
    assert torch.equal(g.get_state(), state)


# --- finite differences, stationary set -------------------------------------------------------

def test_gradient_check_is_small_for_the_model_and_large_for_a_wrong_gradient(monkeypatch):
    a, V, W = _points(5, 9)
    assert lt.gradient_check(a, V, W).max_diff < 1e-8
    assert str(lt.gradient_check(a, V, W)) == "grad_w, closed form vs finite differences: max |diff| = <1e-8"
    real = ms.LinearTeacherModel.grad_w
    monkeypatch.setattr(ms.LinearTeacherModel, "grad_w", lambda self, v, w: 1.01 * real(self, v, w))
    wrong = lt.gradient_check(a, V, W)
    biggest = float(real(ms.LinearTeacherModel(a), V, W).abs().max())
    assert wrong.max_diff == pytest.approx(0.01 * biggest, rel=1e-3)
    assert str(wrong).startswith("grad_w, closed form vs finite differences: max |diff| = ")


def test_gradient_check_rejects_bad_eps():
    a, V, W = _points(2, 10)
    with pytest.raises(ValueError, match=r"eps=0.0 must be a finite number in \(0.0, 0.1\]"):
        lt.gradient_check(a, V, W, eps=0.0)


def test_stationary_set_check_on_listed_and_random_points():
    """Random points are not stationary; a minimum (v = 2 phi0 |a|, w = 3 a_hat) added to them
    is counted; the losses are |a|^2 (1/2 - 1/(2 pi)) and |a|^2 / 2; the saddles are drawn from the
    generator exactly as randn(5, n - 1)."""
    a, V, W = _points(4, 11)
    na = float(a.norm())
    V = torch.cat([V, torch.tensor([[2 * PHI0 * na]], dtype=F64)])
    W = torch.cat([W, 3 * a[None] / na])
    g = torch.Generator().manual_seed(12)
    got = lt.stationary_set_check(a, V, W, generator=g)
    assert (got.minima_ok, got.saddles, got.saddles_ok) == (True, 5, True)
    assert (got.random_stationary, got.random_points) == (1, 4)
    assert got.min_loss == pytest.approx(na**2 * (0.5 - 1 / (2 * math.pi)), rel=1e-14)
    assert got.saddle_loss == pytest.approx(na**2 / 2, rel=1e-14)
    g2 = torch.Generator().manual_seed(12)
    torch.randn(5, 3, generator=g2, dtype=F64)
    assert torch.equal(g.get_state(), g2.get_state())
    assert str(got).splitlines()[:3] == ["n = 4: minima rays stationary at 3 scales: True;",
                                         "       5 random saddle points stationary: True;",
                                         "       random points that are stationary: 1 of 4"]


def test_stationary_set_check_in_one_dimension_draws_nothing():
    g = torch.Generator().manual_seed(13)
    state = g.get_state()
    got = lt.stationary_set_check([2.0], [[0.3]], [[1.0]], generator=g)
    assert (got.n, got.saddles, got.saddles_ok, got.random_stationary) == (1, 0, True, 0)
    assert torch.equal(g.get_state(), state)
    assert str(got).splitlines()[1] == "       no saddle points to try (n = 1: a^T w = 0 only at w = 0);"
    with pytest.raises(ValueError, match=r"saddles=0 must be an integer >= 1"):
        lt.stationary_set_check([2.0], [[0.3]], [[1.0]], generator=g, saddles=0)


# --- the vanishing radius ---------------------------------------------------------------------

def test_radial_roots_are_one_over_kappa_star_for_every_size_and_dimension():
    got = lt.radial_roots([0.3, 4.0], [1, 3])
    r_ref = 1 / _c_star_scipy()
    assert got.r_star == pytest.approx(r_ref, abs=1e-12)
    assert len(got.roots) == 4 and max(abs(t - r_ref) for t in got.roots) < 1e-11
    assert max(got.residuals) < 1e-12 and got.inside_negative and got.outside_positive
    lines = str(got).splitlines()
    assert lines[0] == f"vanishing_norm('crelu') = 1/κ* = {r_ref:.6f}   (κ* = {1 / r_ref:.6f})"
    assert lines[1] == "roots over |a| in [0.3, 4.0] and n in [1, 3]: max |root - 1/κ*| = <1e-12"
    assert lines[2:] == ["max residual |E g| / |a|^2 at the roots = <1e-12;",
                         "    radial part <0 inside, >0 outside: (True, True)"]


def test_radial_roots_reject_bad_input():
    with pytest.raises(ValueError, match=r"norms=0 must be a finite number in \(0.0, inf\]"):
        lt.radial_roots([0], [2])
    with pytest.raises(ValueError, match=r"dims=0 must be an integer >= 1"):
        lt.radial_roots([1.0], [0])
    with pytest.raises(ValueError, match=r"must each hold at least one value"):
        lt.radial_roots([], [2])


def test_minimising_ray_matches_the_radial_coefficients():
    """identity 2 phi0 |a|^2 (1/pi - 1), relu 2 phi0 |a|^2 (1/pi - 1/2) at every radius; crelu
    2 phi0 |a|^2 r(1/|w|) with r from scipy.stats, zero at 1/kappa*; the gradient of L is 0."""
    r_ref = 1 / _c_star_scipy()
    got = lt.minimising_ray(A2, [0.5, r_ref, 2.0], ["identity", "relu", "crelu"])
    k = 2 * PHI0 * 1.25
    N = scipy.stats.norm
    for radius in (0.5, r_ref, 2.0):
        c = 1 / radius
        r_crelu = 2 * PHI0 * (PHI0 - N.pdf(c)) - (N.cdf(c) - 0.5 - c * N.pdf(c))
        assert got.radial_at(radius, "identity") == pytest.approx(k * (1 / math.pi - 1), rel=1e-13)
        assert got.radial_at(radius, "relu") == pytest.approx(k * (1 / math.pi - 0.5), rel=1e-13)
        assert got.radial_at(radius, "crelu") == pytest.approx(k * r_crelu, abs=1e-13)
    assert max(got.grad_norm) < 1e-12
    assert str(got).splitlines()[2] == ("|w| = 2.0000: |grad L| = <1e-12; radial: identity -0.6799, "
                                        "relu -0.1812, crelu +0.0219")
    with pytest.raises(ValueError, match=r"radius=3.0, ste='relu': not in the table"):
        got.radial_at(3.0, "relu")
    with pytest.raises(ValueError, match=r"radii=-1.0 must be a finite number"):
        lt.minimising_ray(A2, [-1.0], ["relu"])
    with pytest.raises(ValueError, match=r"stes=\(\) is empty"):
        lt.minimising_ray(A2, [1.0], [])


# --- paths of coarse gradient descent ---------------------------------------------------------

def test_angle_to_minimising_rays_against_numpy_and_near_zero():
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -0.5], [1.0, 1e-13], [-3.0, 3e-13]], dtype=F64)
    a = torch.tensor([2.0, 0.0], dtype=F64)
    got = lt.angle_to_minimising_rays(w, a).numpy()
    wn = w.numpy()
    cos = np.abs(wn @ [1.0, 0.0]) / np.linalg.norm(wn, axis=1)
    np.testing.assert_allclose(got[:3], np.arccos(cos[:3]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[3:], [1e-13, 1e-13], rtol=1e-12)  # arccos would give 0 here
    with pytest.raises(ValueError, match=r"w must have shape \(\.\.\., 2\) and a shape \(2,\)"):
        lt.angle_to_minimising_rays(torch.ones(3, 3), torch.ones(3))


def _synthetic_paths(norm, theta, t, lr=0.2):
    w = torch.stack([norm * torch.cos(theta), norm * torch.sin(theta)], -1)  # a = (1, 0)
    return fields.Paths(t, {"identity": torch.zeros(len(t), w.shape[1], 1)}, {"identity": w, "crelu": w}, lr)


def test_growth_rates_on_a_path_with_known_rates():
    """|w_t| = 1 + 0.3 t and theta_t = 0.1 t^-1.5 (t >= 1): slope 0.3 and exponent 1.5 exactly."""
    t = torch.arange(1, 101, dtype=F64)
    runs = torch.tensor([0.1, 0.2], dtype=F64)
    paths = _synthetic_paths((1 + 0.3 * t)[:, None].expand(-1, 2), runs * t[:, None] ** -1.5, t)
    got = lt.growth_rates(paths, [1.0, 0.0], "identity")
    np.testing.assert_allclose(got.slope, [0.3, 0.3], rtol=1e-12)
    np.testing.assert_allclose(got.exponent, [1.5, 1.5], rtol=1e-10)
    assert got.predicted_slope == pytest.approx(0.2 * 2 * PHI0 * (1 - 1 / math.pi), rel=1e-14)
    assert got.predicted_exponent == pytest.approx(math.pi / (math.pi - 1), rel=1e-15)
    assert str(got).splitlines() == [  # the angle exponent on an indented second line (88 columns)
        f"identity: d|w|/dt measured 0.30000, 0.30000 vs eta |k| = {got.predicted_slope:.5f};",
        "          angle exponent p measured 1.500, 1.500 vs 1.467"]
    # a run whose angle is at rounding level at the end of the span has no exponent
    low = _synthetic_paths((1 + 0.3 * t)[:, None].expand(-1, 2), torch.tensor([0.1, 1e-9]) * t[:, None] ** -1.5, t)
    odd = lt.growth_rates(low, [1.0, 0.0], "identity")
    assert odd.exponent[0] == pytest.approx(1.5, rel=1e-10) and math.isnan(odd.exponent[1])
    assert str(odd).splitlines()[1] == "          angle exponent p measured 1.500, n/a (angle at rounding level) vs 1.467"
    with pytest.raises(ValueError, match=r"ste='crelu': the growth rates are predicted for 'identity' and 'relu'"):
        lt.growth_rates(paths, [1.0, 0.0], "crelu")
    with pytest.raises(ValueError, match=r"ste='relu' has no path; the paths hold \('identity', 'crelu'\)"):
        lt.growth_rates(paths, [1.0, 0.0], "relu")


def test_crelu_settling_on_a_geometric_path():
    """theta_t = 0.5 * 0.9^t: the fitted ratio is 0.9 (only 1e-11 < theta < 1e-3 is used); rho
    from scipy: 1 - eta 2 phi0 |a|^2 kappa* (Phi(kappa*) - 1/2)."""
    t = torch.arange(0, 300, dtype=F64)
    theta = (0.5 * 0.9**t)[:, None]
    paths = _synthetic_paths(torch.full((300, 1), 0.75, dtype=F64), theta, t, lr=0.1)
    got = lt.crelu_settling(paths, [3.0, 0.0])
    c = _c_star_scipy()
    assert got.ratios == pytest.approx((0.9,), rel=1e-10)
    assert got.rho == pytest.approx(1 - 0.1 * 2 * PHI0 * 9 * c * (scipy.stats.norm.cdf(c) - 0.5), rel=1e-12)
    assert got.final_deviation == pytest.approx(abs(0.75 - 1 / c), rel=1e-10)
    # a path whose angle never enters the geometric window gives no ratio
    flat = _synthetic_paths(torch.full((5, 1), 0.75, dtype=F64), torch.full((5, 1), 0.1, dtype=F64),
                            torch.arange(5, dtype=F64))
    assert lt.crelu_settling(flat, [1.0, 0.0]).ratios == ()
    assert str(lt.crelu_settling(flat, [1.0, 0.0])).splitlines()[1] == (
        "   crelu: no run with a geometric phase (1e-11 < angle < 1e-3) to fit; |rho| = "
        f"{abs(lt.crelu_step_factors([1.0, 0.0], 0.2).rho):.4f}")
    assert str(got).splitlines()[1] == f"   crelu: per-step angle ratio 0.9000 vs |rho| = {abs(got.rho):.4f}"
    # two runs, one of them never in the window; a step so large that |rho| > 1
    both = _synthetic_paths(torch.full((300, 2), 0.75, dtype=F64),
                            torch.stack([0.5 * 0.9**t, torch.full_like(t, 0.1)], 1), t, lr=1.0)
    text = str(lt.crelu_settling(both, [3.0, 0.0])).splitlines()[1]
    rho = lt.crelu_step_factors([3.0, 0.0], 1.0).rho
    assert rho < -1 and text == (f"   crelu: per-step angle ratio 0.9000 (1 of 2 runs) vs |rho| = {abs(rho):.4f}"
                                 " >= 1 (unstable: no decay)")


def test_rates_of_real_coarse_gradient_descent_match_prop_ms_rates():
    """Population CGD from the chapter's starts: |w| grows at eta |k|, the angle exponents are
    near pi/(pi-1) and pi/(pi-2), the clipped ReLU settles at 1/kappa* with ratio near rho."""
    model = ms.LinearTeacherModel(A2)
    W0 = torch.tensor([[1.2, -1.0], [-1.0, -0.4]], dtype=F64)
    paths = fields.cgd_paths(model, torch.zeros(2, 1, dtype=F64), W0, ["identity", "relu", "crelu"],
                             lr=0.2, steps=3000, every=30)
    for ste in ("identity", "relu"):
        got = lt.growth_rates(paths, A2, ste)
        np.testing.assert_allclose(got.slope, got.predicted_slope, rtol=1e-4)
        np.testing.assert_allclose(got.exponent, got.predicted_exponent, atol=0.05)
    settled = lt.crelu_settling(paths, A2)
    assert settled.final_deviation < 1e-9
    np.testing.assert_allclose(settled.ratios, settled.rho, atol=0.01)


# --- claim C5 as a table ----------------------------------------------------------------------

def test_c5_closed_form_rows_against_exact_values():
    """On the minima the identity and ReLU residuals are the constants 2 phi0 |a|^2 (1 - 1/pi) and
    2 phi0 |a|^2 (1/2 - 1/pi) (radial, at every radius); the clipped ReLU's is 0 at 1/kappa*;
    at the saddle (v = 0) all are 0."""
    rows = lt.c5_closed_form_rows(A2, ["identity", "relu", "crelu"])
    assert [r.point for r in rows] == ["linear: min +a", "linear: min -a", "linear: saddle"]
    for r in rows[:2]:
        assert r.residual["identity"] == pytest.approx(2 * PHI0 * 1.25 * (1 - 1 / math.pi), rel=1e-12)
        assert r.residual["relu"] == pytest.approx(2 * PHI0 * 1.25 * (0.5 - 1 / math.pi), rel=1e-12)
        assert r.residual["crelu"] < 1e-12
        assert r.loss == pytest.approx(1.25 * (0.5 - 1 / (2 * math.pi)), rel=1e-14)
        assert [r.vanishes(s) for s in ("identity", "relu", "crelu")] == [False, False, True]
    assert rows[2].loss == pytest.approx(0.625, rel=1e-14) and max(rows[2].residual.values()) == 0
    with pytest.raises(ValueError, match=r"the table needs n >= 2"):
        lt.c5_closed_form_rows([1.0], ["relu"])


def test_c5_table_text_and_verdicts():
    """Closed form: vanishes iff |E g| <= 1e-10. Monte Carlo: iff |z| < 4, however small |E g| is;
    a residual below the floor shows no z."""
    checks = [SimpleNamespace(theta=math.radians(26.6), f=0.1129, residual={"relu": 0.18, "crelu": 4e-4},
                              z={"relu": 67.0, "crelu": 0.1}),
              SimpleNamespace(theta=math.radians(-153.5), f=0.3105, residual={"relu": 0.0, "crelu": 2e-7},
                              z={"relu": 0.0, "crelu": 5.0})]
    rows = lt.c5_sample_rows(checks, teacher="relu_teacher")
    closed = lt.C5Row("linear: saddle", 0.625, {"relu": 1e-10, "crelu": 2e-10})
    table = lt.C5Table(("relu", "crelu"), (closed, *rows))
    assert [[r.vanishes(s) for s in ("relu", "crelu")] for r in table.rows] == [[True, False], [False, True],
                                                                               [True, False]]
    # verdict and |E g| per STE; a Monte Carlo row is followed by its largest |z| (none for a zero)
    assert str(table).splitlines() == [
        "stationary point            loss          ReLU  clipped ReLU",
        "linear: saddle            0.6250   yes 1.0e-10    NO 2.0e-10",
        "relu_teacher: 26.6 deg    0.1129    NO 1.8e-01   yes 4.0e-04",
        "  largest |z|                             67.0           0.1",
        "relu_teacher: -153.5 deg  0.3105   yes  <1e-12    NO 2.0e-07",
        "  largest |z|                                -           5.0",
    ]
    big = lt.C5Table(("relu",), (lt.C5Row("linear: saddle", 10000.0, {"relu": 0.0}),
                                 lt.C5Row("relu_teacher: -135.0 deg", 5028.7105, {"relu": 0.0})))
    assert [line[:32] for line in str(big).splitlines()[1:]] == [  # |a| = 141: still 8 columns
        "linear: saddle             10000", "relu_teacher: -135.0 deg 5028.71"]
    with pytest.raises(ValueError, match=r"teacher=3 must be a string"):
        lt.c5_sample_rows(checks, teacher=3)


# --- the clipped-ReLU step linearised at its vanishing point (exercise ex-ms-lr) -------------

def _crelu_step(model, v, w, lr):
    """One population CGD step of the clipped ReLU: v by the true gradient, w by E g_crelu."""
    v, w = v.reshape(1, 1), w.reshape(1, -1)
    return (v - lr * model.grad_v(v, w))[0, 0], (w - lr * model.expected_coarse_grad(v, w, "crelu"))[0]


@pytest.mark.parametrize("lr", [0.2, 1.0, 2.5])
def test_crelu_step_factors_are_one_population_step_near_the_vanishing_point(lr):
    """A deviation of the angle, of |w| or of v alone, of size 1e-6, is multiplied by rho, the
    |w| factor and the v factor (to O(1e-6)) by one step of the model's own gradients."""
    got = lt.crelu_step_factors(A2, lr=lr)
    model, eps = ms.LinearTeacherModel(A2), 1e-6
    r_star, a_hat = ms.vanishing_norm("crelu"), A2 / A2.norm()
    v_star = torch.tensor(2 * PHI0 * float(A2.norm()), dtype=F64)
    u = torch.stack([-a_hat[1], a_hat[0]])
    v1, w1 = _crelu_step(model, v_star, (r_star + eps) * a_hat, lr)  # |w| off
    assert (float(w1.norm()) - r_star) / eps == pytest.approx(got.radius, abs=1e-4)
    v1, w1 = _crelu_step(model, v_star + eps, r_star * a_hat, lr)  # v off
    assert (float(v1) - float(v_star)) / eps == pytest.approx(got.v, abs=1e-4)
    w0 = r_star * (math.cos(eps) * a_hat + math.sin(eps) * u)  # the angle off
    v1, w1 = _crelu_step(model, v_star, w0, lr)
    assert math.atan2(float(w1 @ u), float(w1 @ a_hat)) / eps == pytest.approx(got.rho, abs=1e-4)
    assert got.v == 1 - lr / 2 and got.stable  # at lr = 2.5 rho and the v factor are < 0, still > -1


def test_crelu_step_factors_rho_is_crelu_settling_s_and_bad_input_is_refused():
    t = torch.arange(0, 3, dtype=F64)
    paths = _synthetic_paths(torch.full((3, 1), 0.75, dtype=F64), torch.full((3, 1), 0.1, dtype=F64), t,
                             lr=0.2)
    assert lt.crelu_step_factors(A2, lr=0.2).rho == pytest.approx(lt.crelu_settling(paths, A2).rho,
                                                                   rel=1e-14)
    got = lt.crelu_step_factors([1.0, 0.5], lr=1.0)
    assert str(got) == "eta = 1: angle factor rho = 0.4708, |w| factor 0.8056, v factor 0.5000"
    assert not lt.crelu_step_factors(A2, lr=5.0).stable  # the v factor 1 - 5/2 < -1
    with pytest.raises(ValueError, match=r"lr=0\.0 must be a finite number in \(0\.0, inf\]"):
        lt.crelu_step_factors(A2, lr=0.0)
    with pytest.raises(ValueError, match=r"a=\[0\.0, 0\.0\] must be non-zero"):
        lt.crelu_step_factors([0.0, 0.0], lr=0.1)
    with pytest.raises(ValueError, match=r"a=\[2\.0\] has 1 coordinate\(s\); the step factors need n >= 2"):
        lt.crelu_step_factors([2.0], lr=0.1)  # one coordinate: no angle to a ray
    assert not lt.crelu_step_factors([2.0, 1.0], lr=1.0).stable  # rho < -1 for this larger teacher
