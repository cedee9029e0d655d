"""Tests of stelib.yin (yin_landscape, yin_coarse, yin_runs): the checks of Yin et al.'s
Gaussian model, against NumPy reimplementations of the closed forms, finite differences and
Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stelib import gaussian, yin
from stelib.gaussian import YinModel
from stelib.outcomes import at_angle
from stelib.train import History

F64 = torch.float64
V_STAR = torch.tensor([1.0, -0.5, 0.8], dtype=F64)  # spurious minima exist
W_STAR = torch.tensor([0.6, -1.0, 0.3, 0.5], dtype=F64)
MODEL = YinModel(V_STAR, W_STAR)
PHI0 = 1 / math.sqrt(2 * math.pi)
VS, WS = V_STAR.numpy(), W_STAR.numpy()


# --- NumPy references (Yin et al., Lemmas 1, 2, 4, 5, 7, 8) -------------------------------------

def np_theta(w, ws=WS):
    c = w @ ws / (np.linalg.norm(w) * np.linalg.norm(ws))
    return math.acos(max(-1.0, min(1.0, c)))


def np_loss(v, w, vs=VS, ws=WS):
    k = 1 - 2 * np_theta(w, ws) / math.pi
    one = np.ones((len(v), len(v)))
    eye = np.eye(len(v))
    return (v @ (eye + one) @ v - 2 * v @ (k * eye + one) @ vs + vs @ (eye + one) @ vs) / 8


def np_grad_v(v, w, vs=VS, ws=WS):
    k = 1 - 2 * np_theta(w, ws) / math.pi
    return (v + v.sum() - k * vs - vs.sum()) / 4


def np_identity_coarse(v, w, vs=VS, ws=WS):
    return PHI0 * ((v @ v) * w / np.linalg.norm(w) - (v @ vs) * ws / np.linalg.norm(ws))


def np_inner(v, w, ste, vs=VS, ws=WS):
    th, r = np_theta(w, ws), np.linalg.norm(w)
    c = {"identity": 1.0, "relu": 0.5,
         "crelu": 0.5 * (1 + math.erf(1 / (r * math.sin(th)) / math.sqrt(2))) - 0.5}[ste]
    return c * math.sin(th) * (v @ vs) ** 2 / ((2 * math.pi) ** 1.5 * r)


def np_sample(N, seed):
    Z = np.random.default_rng(seed).standard_normal((N, 3, 4))
    return Z, (Z @ WS > 0) @ VS


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# --- Y1 --------------------------------------------------------------------------------------------

def test_closed_form_zscores_equal_numpy_zscores_and_stay_small():
    Z, y = np_sample(20_000, 0)
    v = np.array([[0.3, 1.2, -0.4], [1.0, -0.5, 0.2]])
    w = at_angle(W_STAR, torch.tensor([1.0, 2.4]), torch.tensor([1.0, 2.0])).numpy()
    res = yin.closed_form_zscores(MODEL, v, w, torch.from_numpy(Z), torch.from_numpy(y))
    for i in range(2):
        on = (Z @ w[i] > 0).astype(float)  # (N, m)
        r = on @ v[i] - y
        loss = 0.5 * r**2
        z_loss = (loss.mean() - np_loss(v[i], w[i])) / (loss.std(ddof=1) / math.sqrt(len(y)))
        gv = on * r[:, None]
        z_gv = (gv.mean(0) - np_grad_v(v[i], w[i])) / (gv.std(0, ddof=1) / math.sqrt(len(y)))
        assert res.loss[i] == pytest.approx(abs(z_loss), rel=1e-6)
        assert res.grad_v[i] == pytest.approx(np.abs(z_gv).max(), rel=1e-6)
        assert res.theta[i] == pytest.approx(np_theta(w[i]), abs=1e-12)
        assert res.w_norm[i] == pytest.approx(np.linalg.norm(w[i]))
    assert res.max_z < 5  # Monte Carlo agrees within a few standard errors
    assert res.max_z == max(res.loss + res.grad_v + res.grad_w)
    assert str(res).splitlines()[0].startswith("theta = 1.00, |w| = 1.0: |z| loss ")


def test_closed_form_zscores_notice_a_wrong_teacher():
    Z, y = MODEL.sample(20_000, _gen(1))
    wrong = YinModel(1.5 * V_STAR, W_STAR)
    res = yin.closed_form_zscores(wrong, V_STAR[None], W_STAR[None] * 0.7, Z, y)
    assert res.max_z > 10


def test_closed_form_zscores_bad_inputs():
    Z, y = MODEL.sample(100, _gen(2))
    with pytest.raises(ValueError, match="v has 2 points and w 1"):
        yin.closed_form_zscores(MODEL, torch.ones(2, 3), torch.ones(1, 4), Z, y)
    with pytest.raises(ValueError, match="model must be a stelib.gaussian.YinModel, got str"):
        yin.closed_form_zscores("yin", torch.ones(1, 3), torch.ones(1, 4), Z, y)
    with pytest.raises(ValueError, match="v must have 2 dimension"):
        yin.closed_form_zscores(MODEL, torch.ones(3), torch.ones(1, 4), Z, y)


# --- Y2 --------------------------------------------------------------------------------------------

def _fd_grad(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


def test_critical_points_are_critical_by_finite_differences():
    pts = yin.critical_points(V_STAR, W_STAR)
    assert list(pts) == ["global", "spurious", "saddle"]
    s, m = VS.sum(), 3
    assert np.allclose(pts["spurious"][0].numpy(), 2 * s / (m + 1) - VS, atol=1e-15)
    assert torch.equal(pts["spurious"][1], -W_STAR)
    th_s = math.pi / 2 * (1 + s**2 / ((m + 1) * VS @ VS - s**2))  # Yin et al., eq. (9)
    assert np_theta(pts["saddle"][1].numpy()) == pytest.approx(th_s, abs=1e-12)
    v, w = (t.numpy() for t in pts["saddle"])  # 0 < theta < pi: differentiable in v and w
    assert np.abs(_fd_grad(lambda x: np_loss(x, w), v)).max() < 1e-8
    assert np.abs(_fd_grad(lambda x: np_loss(v, x), w)).max() < 1e-8
    for name in ("global", "spurious"):  # theta in {0, pi}: the v-gradient vanishes
        v, w = (t.numpy() for t in pts[name])
        assert np.abs(_fd_grad(lambda x, w=w: np_loss(x, w), v)).max() < 1e-8
    assert np_loss(VS, WS) == pytest.approx(0, abs=1e-15)


def test_critical_points_need_spurious_minima():
    with pytest.raises(ValueError, match=r"v_star=\[1.0, 1.0, 1.0\] has no spurious minima"):
        yin.critical_points(torch.ones(3, dtype=F64), W_STAR)
    centred = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=F64)  # 1^T v* = 0: saddles, no spurious minima
    assert gaussian.saddle_angle(centred) == math.pi / 2
    with pytest.raises(ValueError, match=r"has no spurious minima: critical_points needs 0 < \(1\^T v\*\)\^2"):
        yin.critical_points(centred, W_STAR)


def test_descent_ratio_path_into_the_saddle_of_a_centred_teacher_stays_bounded():
    """At 1^T v* = 0 the saddle has v = 0, so the identity numerator vanishes there too: every
    ratio stays bounded on the path into it (prop-yin-vanish)."""
    centred = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=F64)
    d = torch.tensor([0.3, 1.0, -0.4, 0.2], dtype=F64)
    eps = torch.logspace(-6, -1, 6, dtype=F64)
    path = yin.descent_ratio_path(centred, W_STAR, d, eps=eps, stes=("identity", "relu", "crelu"), at="saddle")
    for s in ("identity", "relu", "crelu"):
        assert bool(torch.isfinite(path.ratio[s]).all())
        assert abs(path.slope[s]) < 1e-3


def test_batch_tags_name_the_ends_of_the_batch_sizes():
    assert yin.batch_tags(4, [4, 32]) == ("4", "small")
    assert yin.batch_tags(32, [4, 32]) == ("32", "large")
    assert yin.batch_tags(8, [1, 8, 128]) == ("8",)
    assert yin.batch_tags(128, [128, 1, 8]) == ("128", "large")
    assert yin.batch_tags(16, [16]) == ("16", "small", "large")
    with pytest.raises(ValueError, match=r"B=5 must be one of batch_sizes=\[4, 32\]"):
        yin.batch_tags(5, [4, 32])


def test_classify_critical_points_one_kind_each_and_numpy_losses():
    pts = yin.critical_points(V_STAR, W_STAR)
    pts["off"] = (V_STAR, at_angle(W_STAR, 1.0))
    table = yin.classify_critical_points(MODEL, pts, w_norms=[0.5, 3.0])
    assert table.kinds == (("global minimum",), ("spurious minimum",), ("saddle",), ("not critical",))
    for f, (v, w) in zip(table.loss, pts.values(), strict=True):
        assert f == pytest.approx(np_loss(v.numpy(), w.numpy()), abs=1e-14)
    lines = str(table).splitlines()
    assert lines[0] == "  global: f = <1e-12, classified as ['global minimum']"
    assert lines[1] == f"spurious: f = {table.loss[1]:.4f}, classified as ['spurious minimum']"
    with pytest.raises(ValueError, match="w_norms=-1"):
        yin.classify_critical_points(MODEL, pts, w_norms=[-1])
    with pytest.raises(ValueError, match=r"w_norms=\[\] is empty"):
        yin.classify_critical_points(MODEL, pts, w_norms=[])


def test_perturbation_share_equals_a_numpy_count_on_the_same_draws():
    pts = yin.critical_points(V_STAR, W_STAR)
    v, w = pts["saddle"]
    share = yin.perturbation_share(MODEL, v, w, size=0.01, generator=_gen(3), samples=500)
    g = _gen(3)
    dv = torch.randn(500, 3, generator=g, dtype=F64).numpy()
    dw = torch.randn(500, 4, generator=g, dtype=F64).numpy()
    vn, wn = v.numpy(), w.numpy()
    f0 = np_loss(vn, wn)
    lower = [np_loss(vn + 0.01 * a, wn + 0.01 * b * np.linalg.norm(wn)) < f0 for a, b in zip(dv, dw, strict=True)]
    assert share == pytest.approx(np.mean(lower), abs=1 / 500)  # one near-tie may flip
    assert 0 < share < 1  # a saddle: some directions go down, most up
    assert yin.perturbation_share(MODEL, *pts["spurious"], size=0.01, generator=_gen(4)) == 0.0
    off = yin.perturbation_share(MODEL, V_STAR, at_angle(W_STAR, 1.0), size=1e-4, generator=_gen(5))
    assert abs(off - 0.5) < 0.05  # a non-critical point: half the directions go down


def test_perturbation_share_bad_inputs():
    with pytest.raises(ValueError, match="size=0 must be"):
        yin.perturbation_share(MODEL, V_STAR, W_STAR, size=0, generator=_gen(0))
    with pytest.raises(ValueError, match="samples=0 must be an integer >= 1"):
        yin.perturbation_share(MODEL, V_STAR, W_STAR, size=0.1, generator=_gen(0), samples=0)
    with pytest.raises(ValueError, match="generator must be a torch.Generator, got int"):
        yin.perturbation_share(MODEL, V_STAR, W_STAR, size=0.1, generator=0)


# --- Y3 --------------------------------------------------------------------------------------------

def test_plane_basis_is_orthonormal_and_spans_w_star():
    w = at_angle(W_STAR, 2.0, 3.0)
    wh, u = (t.numpy() for t in yin.plane_basis(w, W_STAR))
    assert np.allclose([wh @ wh, u @ u, wh @ u], [1, 1, 0], atol=1e-14)
    assert np.allclose(wh, w.numpy() / 3.0, atol=1e-14) and u @ WS > 0
    ws = WS / np.linalg.norm(WS)
    assert np.allclose((ws @ wh) * wh + (ws @ u) * u, ws, atol=1e-14)  # w* lies in the plane
    with pytest.raises(ValueError, match="w is parallel to w_star"):
        yin.plane_basis(-2 * W_STAR, W_STAR)


def test_coarse_components_check_against_numpy_monte_carlo_and_closed_form():
    Z, y = np_sample(20_000, 6)
    v, thetas = np.array([0.4, -1.0, 0.7]), torch.tensor([0.5, 2.0], dtype=F64)
    res = yin.coarse_components_check(MODEL, v, torch.from_numpy(Z), torch.from_numpy(y),
                                      thetas=thetas, w_norms=[0.5, 2.0], stes=("identity", "crelu"))
    for r in (0.5, 2.0):
        for th in thetas.tolist():
            w = at_angle(W_STAR, th, r).numpy()
            wh, u = (t.numpy() for t in yin.plane_basis(torch.from_numpy(w), W_STAR))
            pre = Z @ w
            res_ = (pre > 0) @ v - y
            for s, dmu in (("identity", np.ones_like(pre)), ("crelu", (pre > 0) & (pre < 1))):
                g = np.einsum("bm,bmn->bn", dmu * v * res_[:, None], Z)
                comp = g @ np.stack([wh, u], axis=1)
                mean, se = res.mc[(r, th, s)]
                assert np.allclose(mean.numpy(), comp.mean(0), rtol=1e-9, atol=1e-12)
                assert np.allclose(se.numpy(), comp.std(0, ddof=1) / math.sqrt(len(y)), rtol=1e-9)
            exact = np_identity_coarse(v, w) @ np.stack([wh, u], axis=1)
            mean, se = res.mc[(r, th, "identity")]
            assert np.abs((mean.numpy() - exact) / se.numpy()).max() <= res.max_z["identity"] + 1e-9
    assert max(res.max_z.values()) < 5
    assert str(res).splitlines()[1] == f"   crelu: max |z| over 2 angles x 2 norms x 2 components = " \
                                       f"{res.max_z['crelu']:.2f}"


def test_coarse_components_check_notices_a_wrong_teacher_and_bad_inputs():
    Z, y = MODEL.sample(20_000, _gen(7))
    wrong = YinModel(V_STAR + 0.5, W_STAR)
    res = yin.coarse_components_check(wrong, V_STAR, Z, y, thetas=[1.0], w_norms=[1.0], stes="relu")
    assert res.max_z["relu"] > 10
    with pytest.raises(ValueError, match="sign"):
        yin.coarse_components_check(MODEL, V_STAR, Z, y, thetas=[1.0], w_norms=[1.0], stes=["sign"])
    with pytest.raises(ValueError, match=r"thetas \(0\) and w_norms \(1\) must not be empty"):
        yin.coarse_components_check(MODEL, V_STAR, Z, y, thetas=[], w_norms=[1.0], stes="relu")


# --- Y4 --------------------------------------------------------------------------------------------

def test_inner_product_check_against_the_numpy_formula():
    v = torch.randn(6, 1, 1, 3, generator=_gen(8), dtype=F64)  # (6, 1, 1, m): broadcast over w
    w = at_angle(W_STAR, torch.tensor([0.3, 1.5, 2.8])[:, None], torch.tensor([0.5, 4.0])[None])
    res = yin.inner_product_check(MODEL, v, w, stes=("identity", "relu", "crelu"))
    for s in ("identity", "relu", "crelu"):
        ref = [np_inner(vi.reshape(3).numpy(), wj.numpy(), s) for vi in v for wj in w.reshape(-1, 4)]
        assert res.smallest[s] == pytest.approx(min(ref), rel=1e-10)
        assert res.rel_gap[s] < 1e-12
    assert str(res).splitlines()[1].startswith("    relu: max relative gap <1e-12, smallest inner product ")
    with pytest.raises(ValueError, match=r"stes=\(\) is empty"):
        yin.inner_product_check(MODEL, v, w, stes=())


def test_descent_ratio_path_slopes_constant_and_a_numpy_ratio():
    d = torch.tensor([0.3, -1.0, 0.5], dtype=F64)
    eps = torch.logspace(-6, 0, 7, dtype=F64)
    path = yin.descent_ratio_path(V_STAR, W_STAR, d, eps=eps, stes=("identity", "relu", "crelu"))
    assert path.slope["identity"] == pytest.approx(-1, abs=1e-3)  # R ~ C / eps
    assert path.slope["relu"] == pytest.approx(1, abs=1e-3)
    assert path.slope["crelu"] == pytest.approx(1, abs=1e-3)
    assert float(eps[0] * path.ratio["identity"][0]) == pytest.approx(path.C, rel=1e-4)
    v_t = 2 * VS.sum() / 4 - VS
    C = (2 * 2 * VS.sum() ** 2 / (math.sqrt(2 * math.pi) * 16)) ** 2 * (2 * math.pi) ** 1.5 / (v_t @ VS) ** 2
    assert path.C == pytest.approx(C, rel=1e-12)
    j = 3  # eps = 1e-3: the ratio from the NumPy closed forms
    v = v_t + 1e-3 * d.numpy() / np.linalg.norm(d.numpy())
    w = at_angle(W_STAR, math.pi - 1e-3).numpy()
    eg, gv = np_identity_coarse(v, w), np_grad_v(v, w)
    assert float(path.ratio["identity"][j]) == pytest.approx(eg @ eg / (gv @ gv + np_inner(v, w, "identity")),
                                                             rel=1e-8)
    lines = str(path).splitlines()
    assert len(lines) == 7 and max(map(len, lines)) <= 88  # two lines per STE, then the constant C
    assert lines[0].startswith("identity: R at eps = 1e-6, 1e-3, 1 = ") and lines[0].endswith(";")
    assert lines[1] == "          log-log slope at eps -> 0: -1.00"
    assert lines[3] == "          log-log slope at eps -> 0: +1.00" and lines[4].startswith("   crelu: R at eps")
    assert lines[-1] == f"identity: eps R at eps = 1e-6 is {float(eps[0] * path.ratio['identity'][0]):.3g} " \
                        f"vs C = {C:.3g}"


def test_descent_ratio_path_at_the_saddle():
    """Near a saddle D = O(eps^2) for every STE: the identity ratio grows like 1/eps^2 (its
    numerator tends to phi_0^2 |v_s|^4 > 0), the ReLU and clipped-ReLU ratios stay bounded."""
    d = torch.tensor([0.3, -1.0, 0.5], dtype=F64)
    eps = torch.logspace(-6, 0, 7, dtype=F64)
    path = yin.descent_ratio_path(V_STAR, W_STAR, d, eps=eps, stes=("identity", "relu", "crelu"), at="saddle")
    assert path.C is None and path.at == "saddle"
    assert path.slope["identity"] == pytest.approx(-2, abs=1e-3)
    assert abs(path.slope["relu"]) < 1e-3 and abs(path.slope["crelu"]) < 1e-3
    assert 0 < float(path.ratio["relu"][0]) < 10 and 0 < float(path.ratio["crelu"][0]) < 10
    theta_s = gaussian.saddle_angle(V_STAR)
    v_s = gaussian.saddle_v(V_STAR).numpy()
    sign = 1 if theta_s < math.pi / 2 else -1
    j = 3  # eps = 1e-3: the identity ratio from the NumPy closed forms
    v = v_s + 1e-3 * d.numpy() / np.linalg.norm(d.numpy())
    w = at_angle(W_STAR, theta_s + sign * 1e-3).numpy()
    eg, gv = np_identity_coarse(v, w), np_grad_v(v, w)
    assert float(path.ratio["identity"][j]) == pytest.approx(eg @ eg / (gv @ gv + np_inner(v, w, "identity")),
                                                             rel=1e-6)
    lines = str(path).splitlines()
    assert len(lines) == 6 and lines[2].startswith("    relu: R at eps = 1e-6, 1e-3, 1 = ")
    assert lines[1] == "          log-log slope at eps -> 0: -2.00"
    assert lines[3] == "          log-log slope at eps -> 0: +0.00"
    with pytest.raises(ValueError, match="must end at or below 1 for at='saddle'"):
        yin.descent_ratio_path(V_STAR, W_STAR, d, eps=[0.1, 2.0], stes="relu", at="saddle")
    with pytest.raises(ValueError, match="at='ridge' must be 'spurious' or 'saddle'"):
        yin.descent_ratio_path(V_STAR, W_STAR, d, eps=eps, stes="relu", at="ridge")
    with pytest.raises(ValueError, match="no saddle"):
        yin.descent_ratio_path(torch.ones(3, dtype=F64), W_STAR, d, eps=eps, stes="relu", at="saddle")


def test_descent_ratio_path_bad_inputs():
    d, eps = torch.ones(3, dtype=F64), torch.tensor([1e-3, 1e-2], dtype=F64)
    with pytest.raises(ValueError, match="eps=.* must be at least two increasing numbers > 0"):
        yin.descent_ratio_path(V_STAR, W_STAR, d, eps=eps.flip(0), stes="relu")
    with pytest.raises(ValueError, match="eps=.* must be at least two increasing numbers > 0"):
        yin.descent_ratio_path(V_STAR, W_STAR, d, eps=[0.0, 1.0], stes="relu")
    with pytest.raises(ValueError, match=r"direction must be a nonzero vector of shape \(3,\), got shape \(2,\)"):
        yin.descent_ratio_path(V_STAR, W_STAR, torch.ones(2), eps=eps, stes="relu")
    with pytest.raises(ValueError, match="direction must be a nonzero vector"):
        yin.descent_ratio_path(V_STAR, W_STAR, torch.zeros(3), eps=eps, stes="relu")


# --- Y5 --------------------------------------------------------------------------------------------

def test_coarse_grad_norms_vanish_where_the_proposition_says():
    pts = yin.critical_points(V_STAR, W_STAR)
    table = yin.coarse_grad_norms(MODEL, pts, w_norms=[0.5, 1.0, 3.0], stes=("identity", "relu", "crelu"))
    for p in pts:
        assert table.norm[p, "relu"] < 1e-12 and table.norm[p, "crelu"] < 1e-12
    assert table.norm["global", "identity"] < 1e-12
    s = VS.sum()
    assert table.norm["spurious", "identity"] == pytest.approx(
        2 * 2 * s**2 / (math.sqrt(2 * math.pi) * 16), rel=1e-12)  # eq-yin-idnorm, m = 3
    v_s = pts["saddle"][0].numpy()
    assert table.norm["saddle", "identity"] == pytest.approx(PHI0 * v_s @ v_s, rel=1e-12)
    assert table.largest("identity") == table.norm["spurious", "identity"]
    assert table.largest("identity", skip=["spurious"]) == table.norm["saddle", "identity"]
    assert str(table).splitlines()[1] == "  global: identity <1e-12,  relu <1e-12,  crelu <1e-12"
    with pytest.raises(ValueError, match=r"w_norms=\[\] is empty"):
        yin.coarse_grad_norms(MODEL, pts, w_norms=[], stes="relu")


def test_identity_norm_at_spurious_three_ways():
    Z, y = MODEL.sample(20_000, _gen(9))
    res = yin.identity_norm_at_spurious(MODEL, Z, y)
    s = VS.sum()
    assert res.formula == pytest.approx(2 * 2 * s**2 / (math.sqrt(2 * math.pi) * 16), rel=1e-12)
    assert res.closed_form == pytest.approx(res.formula, rel=1e-12)
    assert res.max_z < 5 and abs(res.monte_carlo - res.formula) < 0.05
    assert str(res) == (f"|E g_identity| at the spurious minimum: formula {res.formula:.4f}, closed form "
                        f"{res.closed_form:.4f},\n    Monte Carlo {res.monte_carlo:.4f} "
                        f"(largest |z| of its entries {res.max_z:.2f})")
    with pytest.raises(ValueError, match="model must be"):
        yin.identity_norm_at_spurious(None, Z, y)


# --- coarse gradient descent -----------------------------------------------------------------------

def test_at_and_near_repeats_the_point_and_one_perturbation():
    w = -W_STAR / W_STAR.norm()
    v0, w0, stes = yin.at_and_near(V_STAR, w, size=0.1, stes=("relu", "crelu"), generator=_gen(10))
    g = _gen(10)
    dv, dw = torch.randn(3, generator=g, dtype=F64), torch.randn(4, generator=g, dtype=F64)
    assert stes == ("relu", "crelu", "relu", "crelu")
    assert torch.equal(v0[:2], V_STAR.expand(2, 3)) and torch.equal(w0[:2], w.expand(2, 4))
    assert torch.allclose(v0[2:], (V_STAR + 0.1 * dv).expand(2, 3), rtol=0, atol=1e-15)
    assert torch.allclose(w0[2:], (w + 0.1 * dw).expand(2, 4), rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="size=-0.1 must be"):
        yin.at_and_near(V_STAR, w, size=-0.1, stes="relu", generator=_gen(0))


def _history(steps, theta, w_norm, loss, stes):
    theta, w_norm, loss = (torch.tensor(x, dtype=F64) for x in (theta, w_norm, loss))
    R = theta.shape[1]
    return History(torch.tensor(steps), loss, theta, w_norm, loss / 10, torch.zeros(R, 3, dtype=F64),
                   torch.zeros(R, 4, dtype=F64), tuple(stes), torch.ones(R, dtype=F64),
                   torch.zeros(R, dtype=torch.bool), torch.full((R,), -1))


def test_run_endings_read_the_last_record_and_the_smallest_angle():
    h = _history([0, 5], [[3.0, 1.0], [2.0, 1.5]], [[1.0, 1.0], [0.5, 2.0]], [[1.0, 1.0], [0.25, 0.0]],
                 ("identity", "relu"))
    ends = yin.run_endings(h, ["at", "near"])
    assert ends.theta == (2.0, 1.5) and ends.min_theta == (2.0, 1.0) and ends.w_norm == (0.5, 2.0)
    assert str(ends).splitlines() == [
        "at   identity: final theta 2.0000, |w| 0.5000, loss 0.2500, |g| 2.50e-02,",
        "               smallest theta on the way 2.0000",
        "near     relu: final theta 1.5000, |w| 2.0000, loss 0.0000, |g| <1e-12,",
        "               smallest theta on the way 1.0000"]
    with pytest.raises(ValueError, match="labels has 1 entries; history has 2 runs"):
        yin.run_endings(h, ["at"])


def test_angle_progress_medians_and_the_turn_rate_in_closed_form():
    steps = [0, 5, 10, 15, 20]
    theta = [[3.0] * 3, [1.0, 2.0, 0.5], [0.9, 0.3, 0.6], [0.2, 0.1, 0.4], [0.1, 0.1, 0.1]]
    w_norm = [[1.0] * 3, [2.0, 4.0, 3.0], [5.0] * 3, [5.0] * 3, [5.0] * 3]
    h = _history(steps, theta, w_norm, [[1.0] * 3] * 5, ("identity",) * 3)
    p = yin.angle_progress(h, MODEL, "identity", at=(4, 9, 20))
    assert p.steps == (4, 9, 20) and p.w_norm == 3.0
    assert p.theta == (1.0, 0.6, 0.1)  # records 5, 10, 20
    k = 0.5  # theta = pi/4; the best v is v(theta); identity: turn = phi0 |v^T v*| sin(theta) / r
    v = k * VS + (1 - k) * VS.sum() / 4
    assert p.turn == pytest.approx(PHI0 * abs(v @ VS) * math.sin(math.pi / 4) / 3.0, rel=1e-12)
    first, second = str(p).splitlines()
    assert first == "identity: median theta at steps 4, 9, 20: 1.00, 0.60, 0.10;"
    assert second == f"          median |w| at step 4: 3.0; turn rate there at theta = pi/4: {p.turn:.4f}"
    with pytest.raises(ValueError, match=r"at=\(4, 30\) must be non-empty steps <= the last recorded step 20"):
        yin.angle_progress(h, MODEL, "identity", at=(4, 30))


# --- variants --------------------------------------------------------------------------------------

def test_variant_teachers_and_their_conditions():
    var = yin.variant_teachers(V_STAR)
    assert abs(float(var["centred"].sum())) < 1e-15
    assert torch.allclose(var["equal"], torch.full((3,), float(V_STAR.norm()) / math.sqrt(3), dtype=F64))
    assert torch.equal(var["m = 1"], V_STAR[:1])
    cond = yin.spurious_conditions(var, W_STAR)
    assert cond.holds == (False, False, False) and cond.names == ("centred", "equal", "m = 1")
    for f, vs in zip(cond.loss, var.values(), strict=True):
        vsn = vs.numpy()
        v_t = 2 * vsn.sum() / (len(vsn) + 1) - vsn
        assert f == pytest.approx(np_loss(v_t, -WS, vsn), abs=1e-12)
    assert cond.loss[0] < 1e-12 and cond.identity_norm[2] < 1e-12  # s* = 0 and m = 1
    lines = str(cond).splitlines()
    assert len(lines) == 6
    assert lines[0] == " centred: spurious minima exist: False, f(v~, pi) = <1e-12,"
    assert lines[1] == "          |E g_identity(v~, pi)| = <1e-12"
    assert lines[2] == f"   equal: spurious minima exist: False, f(v~, pi) = {cond.loss[1]:.4f},"
    assert lines[5] == "          |E g_identity(v~, pi)| = <1e-12"  # m = 1: no identity defect
    with pytest.raises(ValueError, match="teachers=.* is empty"):
        yin.spurious_conditions({}, W_STAR)


def test_the_chapters_teacher_has_spurious_minima_the_variants_none():
    """The premise of the chapter's last section, at its default teacher_seed = 0, m = 6."""
    v_star = torch.randn(6, generator=_gen(0), dtype=F64)
    assert gaussian.spurious_minima_exist(v_star)
    assert not any(gaussian.spurious_minima_exist(v) for v in yin.variant_teachers(v_star).values())
