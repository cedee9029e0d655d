"""Tests of the scale-symmetry chapter's checks in stelib.symmetry, each against an independent
reference: a NumPy reimplementation on the same draws, a closed form stated in the chapter
(Yin's spurious ray, the linear teacher's radial parts, |grad f| = |v^T v*| / (2 pi |w|)), the
exact radial recursion of Proposition prop-scale-radial, or Monte Carlo within a few standard
errors; and bad inputs, refused before anything is drawn or computed."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from stelib import rays, symmetry

DT = torch.float64
PHI0 = 1 / math.sqrt(2 * math.pi)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def np_coarse(v, w, Z, y, ste):
    """Per-sample coarse gradients (batch, n) in NumPy: Z^T (mu'(Z w) * v) (v^T sigma(Z w) - y)."""
    pre = Z @ w
    r = (pre > 0).astype(float) @ v - y
    mu = {"identity": np.ones_like(pre), "relu": (pre > 0).astype(float),
          "crelu": ((pre > 0) & (pre < 1)).astype(float)}[ste]
    return np.einsum("bm,bmn->bn", mu * v * r[:, None], Z)


def unchanged(g, call, match):
    """``call()`` raises ValueError matching ``match`` and leaves the generator ``g`` untouched."""
    state = g.get_state()
    with pytest.raises(ValueError, match=match):
        call()
    assert torch.equal(g.get_state(), state)


# --- random_direction -----------------------------------------------------------------------

def test_random_direction_is_the_normalised_gaussian_draw():
    d = symmetry.random_direction(5, generator=gen(3))
    raw = torch.randn(5, generator=gen(3), dtype=DT).numpy()
    np.testing.assert_allclose(d.numpy(), raw / np.linalg.norm(raw), rtol=1e-15)
    assert float(d.norm()) == pytest.approx(1.0, abs=1e-15)
    unchanged(g := gen(), lambda: symmetry.random_direction(0, generator=g), r"n=0 must be an integer >= 1")


# --- rescaling_table ------------------------------------------------------------------------

def test_rescaling_table_is_exact_and_its_crelu_column_matches_numpy():
    v, w = torch.tensor([0.7, -1.2], dtype=DT), torch.tensor([0.3, -0.8, 1.1], dtype=DT)
    kw = dict(distributions=["gaussian", "laplace"], label_models=["teacher", "linear"], n=3, m=2,
              noise=0.5, samples=200)
    table = symmetry.rescaling_table(v, w, scales=[0.5, 3.0], generator=gen(4), **kw)
    assert list(table.columns) == ["distribution", "labels", "loss", "identity", "relu", "crelu"]
    assert list(zip(table["distribution"], table["labels"], strict=True)) == [
        ("gaussian", "teacher"), ("gaussian", "linear"), ("laplace", "teacher"), ("laplace", "linear")]
    assert (table[["loss", "identity", "relu"]] == 0.0).all().all()  # Propositions: exact
    g = gen(4)  # replay the draws: a teacher, then the sample, row after row
    vn, wn = v.numpy(), w.numpy()
    for row in table.itertuples():
        p = symmetry.make_problem(row.distribution, n=3, m=2, labels=row.labels, noise=0.5, generator=g)
        Z, y = (t.numpy() for t in p.sample(200, g))
        base = np_coarse(vn, wn, Z, y, "crelu")
        ref = max(np.abs(np_coarse(vn, c * wn, Z, y, "crelu") - base).max() for c in (0.5, 3.0))
        assert row.crelu == pytest.approx(ref, rel=1e-12) and ref > 0


@pytest.mark.parametrize(("change", "match"), [
    ({"distributions": ["bogus"]}, r"distributions='bogus' is not valid; choose one of 'gaussian'"),
    ({"label_models": []}, r"label_models=\(\) is empty; give at least one of 'teacher'"),
    ({"scales": [1.0, -2.0]}, r"scales entry=-2.0 must be a finite number in \(0.0, inf\]"),
    ({"scales": []}, r"scales=\(\) is empty; give at least one number > 0"),
    ({"samples": 1}, r"samples=1 must be an integer >= 2"),
    ({"noise": -0.1}, r"noise=-0.1 must be a finite number in \[0.0, 1000000.0\]"),
    ({"v": [1.0, 2.0, 3.0]}, r"v must have shape \(2,\) and w shape \(3,\); got \(3,\) and \(3,\)"),
    ({"w": [0.0, 0.0, 0.0]}, r"w = 0 is not allowed"),
])
def test_rescaling_table_refuses_bad_inputs_before_drawing(change, match):
    kw = dict(v=[1.0, -1.0], w=[0.5, 0.2, -0.3], distributions=["gaussian"], label_models=["teacher"],
              n=3, m=2, noise=0.5, samples=10, scales=[2.0])
    kw.update(change)
    g = gen()
    unchanged(g, lambda: symmetry.rescaling_table(kw.pop("v"), kw.pop("w"), generator=g, **kw), match)


# --- covariance_checks ----------------------------------------------------------------------

def test_covariance_checks_rows_are_the_checks_on_the_replayed_draws():
    v, w = [0.9, -0.4], [1.0, 0.5, -0.2]
    kw = dict(n=3, m=2, noise=0.5, c=2.0, samples=2000, bandwidth=0.05)
    checks = symmetry.covariance_checks(v, w, distributions=["gaussian", "digits"],
                                        label_models=["teacher", "linear"], generator=gen(5), **kw)
    assert checks.rows == 4
    g = gen(5)
    for row in checks.data.itertuples():
        p = symmetry.make_problem(row.distribution, n=3, m=2, labels=row.labels, noise=0.5, generator=g)
        ref = symmetry.scale_covariance_check(v, w, p, c=2.0, samples=2000, generator=g, bandwidth=0.05)
        assert (row.grad_norm, row.se, row.z_radial, row.z_scale) == (
            ref["grad_norm"], ref["se"], ref["z_radial"], ref["z_scale"])
    assert abs(checks.data["z_radial"]).max() < 4.5  # Euler's relation, within the Monte Carlo noise


def test_covariance_checks_summary_reads_the_table_as_shown():
    data = pd.DataFrame({"distribution": ["gaussian", "laplace", "digits"], "labels": ["teacher"] * 3,
                         "grad_norm": [0.01234, 0.5, 0.2], "se": [0.0301, 0.04, 0.02],
                         "z_radial": [-2.674, 1.2, 0.958], "z_scale": [0.5, 2.551, 1.0]})
    checks = symmetry.CovarianceChecks(data)
    assert checks.largest_radial_z() == 2.67 and checks.largest_radial_z(real_data=True) == 0.96
    assert checks.largest_scaling_z == 2.55
    assert str(checks) == ("3 rows: largest |z| radial 2.67 (digits rows: 0.96), "
                           "largest |z| of the rescaling 2.55\n|grad L| < 3 se (the radial test "
                           "has little power) in 1 of the 2 rows with a density")
    assert checks.table().to_dict("list") == {
        "distribution": ["gaussian", "laplace", "digits"], "labels": ["teacher"] * 3,
        "|grad L|": ["0.012", "0.500", "0.200"], "se": ["0.030", "0.040", "0.020"],
        "z radial": ["-2.67", "+1.20", "+0.96"], "max |z| scaling": ["0.50", "2.55", "1.00"]}
    assert math.isnan(symmetry.CovarianceChecks(data[:2]).largest_radial_z(real_data=True))


def test_covariance_checks_unresolved_counts_rows_as_shown():
    """A row is unresolved when |grad L| < factor se on the three decimals the table shows;
    a tie as shown is not below (0.0904 shows as 0.090 = 3 x 0.030)."""
    data = pd.DataFrame({"distribution": ["gaussian", "uniform", "laplace", "digits", "digits"],
                         "labels": ["teacher"] * 5, "grad_norm": [0.0904, 0.0894, 0.5, 0.01, 0.3],
                         "se": [0.0301, 0.0298, 0.04, 0.02, 0.02], "z_radial": [0.0] * 5,
                         "z_scale": [0.0] * 5})
    checks = symmetry.CovarianceChecks(data)
    assert checks.unresolved() == (1, 3) and checks.unresolved(real_data=True) == (1, 2)
    assert checks.unresolved(20) == (3, 3) and checks.unresolved(0.5) == (0, 3)
    for bad in (0, -1.0, True, "3", math.nan):
        with pytest.raises(ValueError, match=r"factor=.* must be a number > 0"):
            checks.unresolved(bad)


@pytest.mark.parametrize(("change", "match"), [
    ({"c": 0.0}, r"c=0.0 must be a finite number in \(0.0, inf\]"),
    ({"bandwidth": -0.01}, r"bandwidth=-0.01 must be a finite number in \(0.0, inf\]"),
    ({"distributions": "gaussian", "label_models": ["bogus"]}, r"label_models='bogus' is not valid"),
])
def test_covariance_checks_refuses_bad_inputs_before_drawing(change, match):
    kw = dict(distributions=["gaussian"], label_models=["teacher"], n=3, m=2, noise=0.5, c=2.0,
              samples=100, bandwidth=0.02)
    kw.update(change)
    g = gen()
    unchanged(g, lambda: symmetry.covariance_checks([1.0, -1.0], [0.5, 0.2, -0.3], generator=g, **kw),
              match)


# --- crelu_limits ---------------------------------------------------------------------------

def test_crelu_limits_against_numpy_and_the_exact_limits():
    g = gen(6)
    p = symmetry.make_problem("laplace", n=3, m=2, labels="relu_teacher", generator=g)
    Z, y = p.sample(3000, g)
    v, w = torch.tensor([0.8, -1.1], dtype=DT), torch.tensor([2.0, -1.0, 0.5], dtype=DT)
    Zn, yn, vn = Z.numpy(), y.numpy(), v.numpy()
    w_hat = w.numpy() / np.linalg.norm(w.numpy())
    pre = Zn @ w_hat
    small, large = 0.5 / np.abs(pre).max(), 2.0 / pre[pre > 0].min()  # the exact regimes
    lim = symmetry.crelu_limits(v, w, Z, y, norms=[small, 1.0, large])
    per_relu = np_coarse(vn, w_hat, Zn, yn, "relu")
    g_relu = per_relu.mean(0)
    per_c = np_coarse(vn, 1.0 * w_hat, Zn, yn, "crelu")
    np.testing.assert_allclose(
        [lim.to_relu[1], lim.size[1]],
        [np.linalg.norm(per_c.mean(0) - g_relu) / np.linalg.norm(g_relu),
         np.linalg.norm(per_c.mean(0)) / np.linalg.norm(g_relu)], rtol=1e-10)
    assert lim.same[1] == np.mean((per_c == per_relu).all(axis=1))
    assert (lim.to_relu[0], lim.size[0], lim.same[0]) == (0.0, 1.0, 1.0)  # every mask the ReLU one
    assert (lim.to_relu[2], lim.size[2]) == (1.0, 0.0)  # every mask empty
    assert lim.same[2] == np.mean((per_relu == 0).all(axis=1))
    # delta-method standard errors against a jackknife of the same ratios (leave-one-block-out)
    blocks = np.array_split(np.arange(len(yn)), 50)

    def jackknife(a, b):
        reps = []
        for blk in blocks:
            keep = np.ones(len(yn), bool)
            keep[blk] = False
            reps.append(np.linalg.norm(a[keep].mean(0)) / np.linalg.norm(b[keep].mean(0)))
        reps = np.array(reps)
        return math.sqrt((len(reps) - 1) * ((reps - reps.mean()) ** 2).mean())

    assert lim.to_relu_se[1] == pytest.approx(jackknife(per_c - per_relu, per_relu), rel=0.25)
    assert lim.size_se[1] == pytest.approx(jackknife(per_c, per_relu), rel=0.25)
    assert lim.to_relu_se[0] == lim.size_se[0] == 0.0  # every sample the same: no sampling error
    lines = str(lim).splitlines()  # three lines per printed |w|, continued under the first
    assert lines[:3] == [f"|w| = {small:8.3f}: |g_crelu - g_relu|/|g_relu| = <1e-12,",
                         " " * 16 + "|g_crelu|/|g_relu| = 1,",
                         " " * 16 + "samples with g_crelu = g_relu: 100.0%"]
    assert lines[3].startswith("|w| = ") and " ± " in lines[3] and " ± " in lines[4]
    assert lines[5] == " " * 16 + f"samples with g_crelu = g_relu: {lim.same[1]:.1%}"
    assert len(lines) == 9 and max(map(len, lines)) <= 88
    with pytest.raises(ValueError, match=r"norms=\(\) is empty"):
        symmetry.crelu_limits(v, w, Z, y, norms=[])
    with pytest.raises(ValueError, match=r"norms entry=0.0 must be a finite number in \(0.0, inf\]"):
        symmetry.crelu_limits(v, w, Z, y, norms=[1.0, 0.0])
    with pytest.raises(ValueError, match="w = 0 is not allowed"):
        symmetry.crelu_limits(v, torch.zeros(3, dtype=DT), Z, y, norms=[1.0])


# --- Yin's rays -----------------------------------------------------------------------------

def test_yin_teacher_redraws_until_spurious_minima_exist():
    for seed in range(6):
        v_star, w_star = rays.yin_teacher(m=4, n=3, generator=gen(seed))
        g, k = gen(seed), 0
        while True:  # the first draw with 0 < (1^T v)^2 < (m + 1)/2 |v|^2 (Yin's Prop. 1)
            cand = torch.randn(4, generator=g, dtype=DT).numpy()
            k += 1
            if 0 < cand.sum() ** 2 < 2.5 * cand @ cand:
                break
        np.testing.assert_array_equal(v_star.numpy(), cand)
        np.testing.assert_array_equal(w_star.numpy(), torch.randn(3, generator=g, dtype=DT).numpy())
    v1, _ = rays.yin_teacher(m=1, n=2, generator=gen(0))  # m = 1: no redraw
    assert v1.item() == torch.randn(1, generator=gen(0), dtype=DT).item()
    unchanged(g := gen(), lambda: rays.yin_teacher(m=0, n=2, generator=g), r"m=0 must be an integer >= 1")
    unchanged(g, lambda: rays.yin_teacher(m=2, n=2, generator=g, max_draws=0), r"max_draws=0")


def test_yin_radial_parts_match_the_spurious_ray_formula():
    v_star, w_star = rays.yin_teacher(m=3, n=4, generator=gen(1))
    parts = rays.yin_radial_parts(v_star, w_star, norms=(0.5, 2.0))
    assert [(name, kind, r) for name, kind, r, _ in parts.rows] == [
        ("Yin, v = v*, theta = 0", "global minimum", 0.5), ("Yin, v = v*, theta = 0", "global minimum", 2.0),
        ("Yin, v = v~, theta = pi", "spurious minimum", 0.5), ("Yin, v = v~, theta = pi", "spurious minimum", 2.0)]
    s, m = float(v_star.sum()), 3
    expected = PHI0 * 2 * (m - 1) * s**2 / (m + 1) ** 2  # the chapter's rho_id on the spurious ray
    for name, _, _, rho in parts.rows:
        spurious = name.endswith("pi")
        assert rho["identity"] == pytest.approx(expected if spurious else 0.0, rel=1e-12, abs=1e-14)
        assert abs(rho["relu"]) < 1e-12 and abs(rho["crelu"]) < 1e-12
    for size, (_, _, _, rho) in zip(parts.sizes, parts.rows, strict=True):
        # |E g|: zero where the coarse gradient vanishes, |rho| where it is radial
        assert size["identity"] == pytest.approx(abs(rho["identity"]), rel=1e-12, abs=1e-14)
        assert size["relu"] < 1e-12 and size["crelu"] < 1e-12
    lines = str(parts).splitlines()  # three lines per row: the point, rho, |E g|
    assert lines[6:9] == ["Yin, v = v~, theta = pi  [spurious minimum] |w| = 0.5:",
                          f"    rho = identity {expected:+.4f}, relu <1e-12, crelu <1e-12;",
                          f"    |E g| = identity {expected:.4f}, relu <1e-12, crelu <1e-12"]
    assert len(lines) == 12 and max(map(len, lines)) <= 88
    with pytest.raises(ValueError, match=r"norms entry=-1.0 must be a finite number"):
        rays.yin_radial_parts(v_star, w_star, norms=[-1.0])


# --- the linear teacher's ray ---------------------------------------------------------------

def _c_star() -> float:
    """Root of 2 phi(0)(phi(0) - phi(c)) = Phi(c) - 1/2 - c phi(c) by bisection (pure Python)."""
    def phi(c):
        return PHI0 * math.exp(-c * c / 2)

    def f(c):
        return 2 * PHI0 * (PHI0 - phi(c)) - (0.5 * math.erf(c / math.sqrt(2)) - c * phi(c))

    lo, hi = 0.1, 10.0
    assert f(lo) * f(hi) < 0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(lo) * f(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def test_linear_teacher_ray_against_the_chapter_constants_and_monte_carlo():
    a = symmetry.random_direction(3, generator=gen(2))
    ray = rays.linear_teacher_ray(a, norms=[0.1, 0.5, 1.0, 2.0, 10.0])
    assert ray.v.item() == pytest.approx(2 * PHI0, rel=1e-14)
    assert ray.rho["identity"] == pytest.approx(2 * PHI0 * (1 / math.pi - 1), rel=1e-12)
    assert ray.rho["relu"] == pytest.approx(2 * PHI0 * (1 / math.pi - 0.5), rel=1e-12)
    assert ray.r_star == pytest.approx(1 / _c_star(), rel=1e-9)
    np.testing.assert_allclose(ray.rho_curve["identity"], ray.rho["identity"], rtol=1e-12)
    assert [x < 0 for x in ray.rho_curve["crelu"]] == [r < ray.r_star for r in ray.norms]
    # the clipped-ReLU radial part at |w| = 1, by Monte Carlo: x = a^T z ~ N(0, 1),
    # hat_a^T g = x 1{0 < x < 1} v (v 1{x > 0} - x)
    x = np.random.default_rng(0).standard_normal(400_000)
    v = 2 * PHI0
    terms = x * ((x > 0) & (x < 1)) * v * (v * (x > 0) - x)
    se = terms.std(ddof=1) / math.sqrt(len(x))
    assert abs(ray.rho["crelu"] - terms.mean()) < 4 * se
    assert str(ray) == (f"linear teacher, |w| = 1: rho = identity {ray.rho['identity']:+.4f}, relu "
                        f"{ray.rho['relu']:+.4f}, crelu {ray.rho['crelu']:+.4f};\n" + " " * 25
                        + f"clipped ReLU vanishes at |w| = {ray.r_star:.6f},\n" + " " * 25
                        + f"slope of its rho there {ray.slope:+.4f}: attracting for lr < {2 / ray.slope:.4g}")
    with pytest.raises(ValueError, match=r"a must be a unit vector, got \|a\| = 2.0"):
        rays.linear_teacher_ray([0.0, 2.0, 0.0], norms=[1.0])
    with pytest.raises(ValueError, match=r"norms=\(\) is empty"):
        rays.linear_teacher_ray(a, norms=[])


def test_ray_montecarlo_against_numpy_on_the_same_draws():
    p = symmetry.make_problem("gaussian", n=3, m=1, labels="linear", generator=gen(7))
    norms = [0.2, 0.5, 1.0, 2.0, 5.0]
    mc = rays.ray_montecarlo(p, samples=20_000, norms=norms, bandwidth=0.02, generator=gen(8))
    Z, y = (t.numpy() for t in p.sample(20_000, gen(8)))
    a = p.a.numpy()
    s = (Z[:, 0] @ a > 0).astype(float)
    v = (y * s).sum() / s.sum()  # least squares with one unit: E[y sigma] / E[sigma]
    assert mc.v == pytest.approx(v, rel=1e-12) and mc.v_gaussian == pytest.approx(2 * PHI0, rel=1e-14)
    for ste in ("identity", "relu", "crelu"):
        ref = [np_coarse(np.array([v]), r * a, Z, y, ste).mean(0) @ a for r in norms]
        np.testing.assert_allclose(mc.rho[ste], ref, rtol=1e-10, atol=1e-14)
    crelu = mc.rho["crelu"]
    assert mc.sign_changes == tuple((norms[i], norms[i + 1]) for i in range(4) if crelu[i] < 0 <= crelu[i + 1])
    assert mc.sign_changes == ((0.5, 1.0),)  # the Gaussian root 1/kappa* = 0.763 lies there
    assert mc.grad_z < 4.5  # the ray is stationary under Gaussian inputs
    psi = s * (y - v) / s.mean()  # delta method for v = sum(y s) / sum(s)
    assert mc.v_se == pytest.approx(psi.std(ddof=1) / math.sqrt(len(y)), rel=1e-10)
    G = symmetry.smoothed_true_grad(torch.tensor([v]), p.a, *p.sample(20_000, gen(8)), bandwidth=0.02).numpy()
    g_hat = G.mean(0) / np.linalg.norm(G.mean(0))  # delta method for the norm of the mean
    assert mc.grad_norm_se == pytest.approx((G @ g_hat).std(ddof=1) / math.sqrt(len(G)), rel=1e-8)
    lines = str(mc).splitlines()
    assert lines[0] == f"gaussian: v = {v:.3f} ± {mc.v_se:.3f} (Gaussian: 0.7979);"
    assert lines[1].startswith("    on the ray |w| |grad_w L| = ")
    assert lines[1].endswith(f", largest |z| of its coordinates {mc.grad_z:.2f}")
    assert lines[2] == ("    (if the ray is stationary, a largest |z| this large has chance at most "
                        f"{mc.grad_z_chance:.2g})")
    assert lines[3] == "gaussian: the clipped-ReLU radial part changes sign between |w| = 0.5-1"
    assert len(lines) == 4 and max(map(len, lines)) <= 88
    assert mc.dim == 3
    above = rays.ray_montecarlo(p, samples=20_000, norms=[1.0, 2.0, 5.0], bandwidth=0.02, generator=gen(8))
    assert above.sign_changes == () and str(above).splitlines()[3] == (
        "gaussian: the clipped-ReLU radial part does not change sign from - to + on the grid")


def test_ray_montecarlo_chance_bound_is_sidak_on_the_shown_z():
    """1 - (1 - P(|N(0,1)| >= z))^n with z as printed (two decimals): for z = 2.94 and n = 4,
    about 1.3 %; independent z-scores attain the bound (Monte Carlo check of the formula)."""
    mc = rays.ray_montecarlo(symmetry.make_problem("gaussian", n=4, m=1, labels="linear",
                                                   generator=gen(7)),
                             samples=200, norms=[1.0], bandwidth=0.05, generator=gen(8))
    mc = dataclasses.replace(mc, grad_z=2.9449)  # shown as 2.94
    p = math.erfc(2.94 / math.sqrt(2))
    assert mc.grad_z_chance == pytest.approx(1 - (1 - p) ** 4, rel=1e-12)
    assert 0.0130 < mc.grad_z_chance < 0.0131
    z = torch.randn(400_000, 4, generator=gen(9), dtype=DT).abs().amax(1)
    freq = (z >= 2.94).double().mean().item()
    assert abs(freq - mc.grad_z_chance) < 4 * math.sqrt(mc.grad_z_chance / 400_000)
    assert dataclasses.replace(mc, grad_z=0.0).grad_z_chance == 1.0
    assert dataclasses.replace(mc, grad_z=40.0).grad_z_chance == 0.0


def test_ray_montecarlo_refuses_bad_inputs_before_drawing():
    lin = symmetry.make_problem("gaussian", n=3, m=1, labels="linear", generator=gen())
    teacher = symmetry.make_problem("gaussian", n=3, m=1, labels="teacher", generator=gen())
    g = gen()
    kw = dict(samples=100, norms=[1.0], bandwidth=0.02, generator=g)
    unchanged(g, lambda: rays.ray_montecarlo(teacher, **kw), r"must be a stelib Problem with labels='linear'")
    unchanged(g, lambda: rays.ray_montecarlo(lin, **(kw | {"samples": 1})), r"samples=1 must be an integer >= 2")
    unchanged(g, lambda: rays.ray_montecarlo(lin, **(kw | {"norms": []})), r"norms=\(\) is empty")
    unchanged(g, lambda: rays.ray_montecarlo(lin, **(kw | {"bandwidth": 0})), r"bandwidth=0 must be")


# --- coarse gradient descent along a ray ----------------------------------------------------

def test_linear_ray_descent_follows_the_radial_recursion():
    a = symmetry.random_direction(3, generator=gen(2))
    ray = rays.linear_teacher_ray(a, norms=[1.0])
    run = rays.linear_ray_descent(a, ray.v, starts=[1.0, 1.0, 1.0, 0.2], stes=["identity", "relu", "crelu", "crelu"],
                                      lr=0.2, steps=600)
    rho_id, rho_relu = 2 * PHI0 * (1 / math.pi - 1), 2 * PHI0 * (1 / math.pi - 0.5)
    # Proposition prop-scale-radial: |w_t| = |w_0| + eta |rho| t for identity and ReLU
    assert run.final_norms[0] == pytest.approx(1 + 0.2 * 600 * -rho_id, rel=1e-10)
    assert run.final_norms[1] == pytest.approx(1 + 0.2 * 600 * -rho_relu, rel=1e-10)
    np.testing.assert_allclose(run.final_norms[2:], 1 / _c_star(), rtol=1e-5)  # the clipped ReLU rests
    assert run.crossings == (0, 0, 0, 0)
    assert str(run).splitlines()[3] == f"linear teacher,    crelu from |w| = 0.2: final |w| = {run.final_norms[3]:.4f}"
    for kw, match in (({"stes": ["identity"]}, r"stes has 1 entries and starts 4"),
                      ({"stes": ["bogus"] * 4}, r"stes='bogus' is not valid"),
                      ({"starts": [1.0, 1.0, 0.0, 1.0]}, r"starts entry=0.0 must be a finite number in \(0.0")):
        args = dict(starts=[1.0] * 4, stes=["identity"] * 4, lr=0.2, steps=10) | kw
        with pytest.raises(ValueError, match=match):
            rays.linear_ray_descent(a, ray.v, **args)


def test_spurious_ray_descent_passes_the_origin_half_way():
    v_star, w_star = rays.yin_teacher(m=3, n=4, generator=gen(1))
    run = rays.spurious_ray_descent(v_star, w_star, lr=0.2, steps=40)
    rho = PHI0 * 2 * 2 * float(v_star.sum()) ** 2 / 16  # the identity radial part, m = 3
    r0 = 0.2 * 41 * rho / 2
    assert run.rho == pytest.approx(rho, rel=1e-12) and run.starts == pytest.approx((r0,) * 3, rel=1e-12)
    t = np.arange(21)  # identity: w^T w*_hat = -(r0 - eta rho t), half a step short of 0 at t = 20
    np.testing.assert_allclose(run.signed_norm[:21, 0].numpy(), -(r0 - 0.2 * rho * t), rtol=1e-10)
    assert run.signed_norm[20, 0].item() == pytest.approx(-0.1 * rho, rel=1e-9)
    assert run.signed_norm[21, 0].item() > 0.05 * rho  # crossed, and far from rounding
    np.testing.assert_allclose(run.final_norms[1:], r0, rtol=1e-10)  # ReLU, crelu: vanish there
    assert run.crossings[0] >= 1 and run.crossings[1:] == (0, 0)
    fin = run.finals
    assert [fin[f"{s}_crossings"] for s in ("identity", "relu", "crelu")] == list(run.crossings)
    assert fin["relu_norm"] == run.final_norms[1] and fin["crelu_theta"] == pytest.approx(math.pi)
    assert fin["relu_loss"] == pytest.approx(fin["identity_start_loss"], rel=1e-12)  # did not move
    assert fin["identity_loss"] == run.history.loss[-1, 0].item()
    lines = str(run).splitlines()  # two lines per STE, then where the runs started
    assert lines[-1] == (f"(started at |w| = {r0:.4f} with loss "
                         f"{run.history.loss[0, 0].item():.4f}; the global minimum has loss 0)")
    assert lines[2:4] == ["Yin, theta = pi,     relu: passes through the origin 0 times;",
                          " " * 27 + f"final |w| {fin['relu_norm']:.4f}, theta 3.1416, "
                          f"loss {fin['relu_loss']:.4f}"]
    assert len(lines) == 7 and max(map(len, lines)) <= 88
    with pytest.raises(ValueError, match=r"lr=0 must be a finite number in \(0.0, inf\]"):
        rays.spurious_ray_descent(v_star, w_star, lr=0, steps=10)
    with pytest.raises(ValueError, match=r"steps=0 must be an integer >= 1"):
        rays.spurious_ray_descent(v_star, w_star, lr=0.1, steps=0)



@pytest.mark.parametrize("seed, identity, lesson", [
    (0, "passes through the origin 9 times and ends at the global minimum (angle <1e-12, loss <1e-12",
     "the drift is what takes the identity STE out of the spurious minimum, to the global one, while"),
    (3, "passes through the origin 8 times and ends back on the spurious ray theta = pi, at loss 0.0942",
     "the drift takes the identity STE off the spurious minimum but not to the global minimum"),
])
def test_spurious_ray_outcomes_are_read_from_the_run(seed, identity, lesson):
    """The chapter's default teacher (seed 0) and the one its prose sends readers to (seed 3):
    where each run ends, in the words the chapter glues."""
    v_star, w_star = rays.yin_teacher(m=3, n=4, generator=gen(seed + 1))
    run = rays.spurious_ray_descent(v_star, w_star, lr=0.2, steps=1000)
    assert run.outcome("identity").startswith(identity) and run.lesson.startswith(lesson)
    for s in ("relu", "crelu"):
        assert run.outcome(s).startswith("does not move: it ends where it started, at the spurious minimum")
    assert run.lesson.endswith("while the STEs without a radial part there stay in it")
    assert run.words == {"outcome_identity": run.outcome("identity"), "outcome_relu": run.outcome("relu"),
                         "outcome_crelu": run.outcome("crelu"), "lesson": run.lesson}
    with pytest.raises(ValueError, match=r"ste='sign' was not run; the runs are \['identity', 'relu', 'crelu'\]"):
        run.outcome("sign")


def test_spurious_ray_outcomes_without_a_drift_and_with_a_short_run():
    """m = 1: the identity radial part on the spurious ray is 0 and no run moves; lr 1, 10 steps:
    the identity run passes the origin and ends on the ray theta = 0 short of the global minimum."""
    v1, w1 = rays.yin_teacher(m=1, n=4, generator=gen(1))
    still = rays.spurious_ray_descent(v1, w1, lr=0.2, steps=50)
    assert still.rho == 0 and still.outcome("identity").startswith("does not move")
    assert still.lesson.endswith("predicts no passage through the origin; no run moves")
    v_star, w_star = rays.yin_teacher(m=3, n=4, generator=gen(1))
    short = rays.spurious_ray_descent(v_star, w_star, lr=1.0, steps=10)
    assert short.outcome("identity").startswith(
        "passes through the origin 3 times and ends on the ray theta = 0, not at the global minimum,")
    assert short.lesson.startswith("the drift takes the identity STE off the spurious minimum but not")


# --- the large-scale limit ------------------------------------------------------------------

def test_large_scale_fit_against_the_exact_true_gradient_norm():
    v_star, w_star = rays.yin_teacher(m=3, n=4, generator=gen(1))
    g = gen(9)
    v = torch.randn(3, generator=g, dtype=DT)
    d = symmetry.random_direction(4, generator=g)
    fit = rays.large_scale_fit(v, d, v_star, w_star, fit_norms=[10.0, 1000.0])
    R = np.logspace(1, 3, 25)
    np.testing.assert_allclose(fit.norms.numpy(), R, rtol=1e-14)
    # Proposition prop-scale-large: |grad_w f| = |v^T v*| / (2 pi |w|) exactly
    np.testing.assert_allclose(fit.grad_norm.numpy(), abs(float(v @ v_star)) / (2 * math.pi * R), rtol=1e-10)
    assert fit.slopes["true"] == pytest.approx(-1.0, abs=1e-10)
    assert fit.slopes["crelu"] == pytest.approx(-2.0, abs=1e-2)
    assert abs(fit.slopes["identity"]) < 1e-2 and abs(fit.slopes["relu"]) < 1e-2
    scaled = fit.errors["crelu"].numpy() * R**2  # O(1/|w|^2): |w|^2 times the error settles
    assert scaled[-1] == pytest.approx(scaled[-2], rel=1e-3)
    theta = math.acos(float(d @ w_star) / float(w_star.norm()))
    assert fit.theta == pytest.approx(theta, rel=1e-12)
    lines = str(fit).splitlines()  # two slopes a line, then the relative error
    sl = fit.slopes
    assert lines[:2] == [
        f"theta = {fit.theta:.4f}; fitted slopes: |grad f| {sl['true']:.3f}, "
        f"|E g_identity - grad f| {sl['identity']:.3f},",
        " " * 31 + f"|E g_relu - grad f| {sl['relu']:.3f}, |E g_crelu - grad f| {sl['crelu']:.3f}"]
    assert lines[2].startswith("relative error of the clipped ReLU at |w| = 1000: ")
    assert len(lines) == 3 and max(map(len, lines)) <= 88
    for kw, match in (({"fit_norms": [10.0, 5.0]}, r"fit_norms=\[10.0, 5.0\] must be two numbers 0 < low < high"),
                      ({"fit_norms": [1.0, 2.0, 3.0]}, r"fit_norms=\[1.0, 2.0, 3.0\] must be two numbers"),
                      ({"fit_norms": [0.0, 2.0]}, r"fit_norms entry=0.0 must be"),
                      ({"points": 1}, r"points=1 must be an integer >= 2")):
        with pytest.raises(ValueError, match=match):
            rays.large_scale_fit(v, d, v_star, w_star, **({"fit_norms": [10.0, 100.0]} | kw))
    with pytest.raises(ValueError, match=r"direction must be a unit vector, got \|direction\| = 3.0"):
        rays.large_scale_fit(v, 3 * d, v_star, w_star, fit_norms=[10.0, 100.0])
