"""Monte Carlo estimators: against the Gaussian closed forms, common random numbers, errors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stelib import gaussian
from stelib.distributions import make_distribution
from stelib.montecarlo import coarse_grad, estimate, estimate_on, loss, true_grad_w
from stelib.problems import Problem
from stelib.ste import STE_NAMES

F64 = torch.float64


@pytest.fixture(scope="module")
def yin():
    g = torch.Generator().manual_seed(11)
    m, n = 4, 3
    v_star, w_star = torch.randn(m, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
    v, w = torch.randn(m, generator=g, dtype=F64), 1.7 * torch.randn(n, generator=g, dtype=F64)
    model = gaussian.YinModel(v_star, w_star)
    est = estimate(v, w, model, samples=200_000, generator=torch.Generator().manual_seed(0), true_grad=True,
                   bandwidth=0.01)
    return model, v, w, est


def test_loss_and_v_gradient_within_4_standard_errors(yin):
    model, v, w, est = yin
    assert abs(est.loss.z_score(model.loss(v, w))).item() < 4
    assert est.grad_v.z_score(model.grad_v(v, w)).abs().max() < 4


@pytest.mark.parametrize("ste", STE_NAMES)
def test_coarse_gradients_within_4_standard_errors(yin, ste):
    model, v, w, est = yin
    assert est.coarse[ste].z_score(model.expected_coarse_grad(v, w, ste)).abs().max() < 4


def test_smoothed_true_gradient_matches_closed_form(yin):
    model, v, w, est = yin
    ref = model.grad_w(v, w)
    # the smoothing bias is O(bandwidth^2) = 1e-4 relative; allow it on top of 4 standard errors
    assert ((est.true_grad_w.mean - ref).abs() <= 4 * est.true_grad_w.se + 1e-3 * ref.abs().max()).all()


def test_standard_error_is_sample_std_over_sqrt_n():
    g = torch.Generator().manual_seed(1)
    Z, y = torch.randn(1000, 2, 3, generator=g, dtype=F64), torch.randn(1000, generator=g, dtype=F64)
    v, w = torch.ones(2, dtype=F64), torch.tensor([1.0, -0.5, 0.2], dtype=F64)
    est = estimate_on(v, w, Z, y)
    r = (((Z @ w) > 0).double() @ v - y).numpy()
    np.testing.assert_allclose(est.loss.se.item(), np.std(0.5 * r**2, ddof=1) / np.sqrt(1000), rtol=1e-10)
    np.testing.assert_allclose(est.loss.mean.item(), np.mean(0.5 * r**2), rtol=1e-12)


def test_chunking_does_not_change_the_estimate():
    p = Problem(make_distribution("laplace", 3), 2, labels="linear", a=[1.0, 2.0, 0.0])
    v, w = torch.tensor([0.5, -1.0], dtype=F64), torch.tensor([1.0, 0.0, 1.0], dtype=F64)
    a = estimate(v, w, p, samples=5000, generator=torch.Generator().manual_seed(3), chunk=5000)
    b = estimate(v, w, p, samples=5000, generator=torch.Generator().manual_seed(3), chunk=5000)
    Z, y = p.sample(5000, torch.Generator().manual_seed(3))
    c = estimate_on(v, w, Z, y)
    for s in STE_NAMES:
        assert torch.equal(a.coarse[s].mean, b.coarse[s].mean)
        torch.testing.assert_close(a.coarse[s].mean, c.coarse[s].mean, rtol=1e-12, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(c=st.floats(1e-3, 1e3), seed=st.integers(0, 2**16),
       dist=st.sampled_from(["gaussian", "uniform", "laplace", "student_t", "mixture", "digits"]),
       labels=st.sampled_from(["teacher", "linear", "sign"]))
def test_scale_invariance_sample_by_sample(c, seed, dist, labels):
    """Loss, v-gradient, identity and ReLU coarse gradients are unchanged by w -> c w (C1, C2)."""
    n, m = 4, 3
    kw = {"kind": "pca"} if dist == "digits" else {}
    p = Problem(make_distribution(dist, n, **kw), m, labels=labels, v_star=[1.0, -2.0, 0.5],
                w_star=[1.0, 1.0, 0.0, 0.0], a=[0.0, 1.0, -1.0, 2.0], noise=0.3)
    Z, y = p.sample(500, torch.Generator().manual_seed(seed))
    v, w = torch.tensor([0.3, 1.0, -0.7], dtype=F64), torch.tensor([0.5, -1.0, 0.25, 1.0], dtype=F64)
    a, b = estimate_on(v, w, Z, y), estimate_on(v, c * w, Z, y)
    assert torch.equal(a.loss.mean, b.loss.mean) and torch.equal(a.grad_v.mean, b.grad_v.mean)
    for ste in ("identity", "relu"):
        assert torch.equal(a.coarse[ste].mean, b.coarse[ste].mean)


def test_crelu_breaks_the_symmetry_and_has_its_limits():
    p = Problem(make_distribution("uniform", 3), 2, labels="linear", a=[1.0, 0.0, 0.0])
    Z, y = p.sample(20_000, torch.Generator().manual_seed(5))
    v, w = torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([0.2, 1.0, -0.4], dtype=F64)
    est = {c: estimate_on(v, c * w, Z, y) for c in (1e-9, 1.0, 1e9)}
    assert not torch.equal(est[1.0].coarse["crelu"].mean, est[1e-9].coarse["crelu"].mean)
    assert torch.equal(est[1e-9].coarse["crelu"].mean, est[1e-9].coarse["relu"].mean)  # window covers all
    assert est[1e9].coarse["crelu"].mean.abs().max() < 1e-6  # window shrinks onto z^T w = 0


def _numpy_reference(v, w, Z, y, h):
    """Per-sample loss, coarse gradients and kernel true-gradient terms, written in NumPy."""
    v, w, Z, y = (np.asarray(a, dtype=np.float64) for a in (v, w, Z, y))
    pre = Z @ w  # (N, m)
    s = (pre > 0).astype(float)
    r = s @ v - y
    mu = {"identity": np.ones_like(pre), "relu": s, "crelu": ((pre > 0) & (pre < 1)).astype(float)}
    coarse = {k: np.einsum("bm,bmn->bn", mu[k] * v * r[:, None], Z) for k in mu}
    bw = h * np.linalg.norm(w)
    kern = np.exp(-0.5 * (pre / bw) ** 2) / (np.sqrt(2 * np.pi) * bw)
    true = np.einsum("bm,bmn->bn", kern * v * (r[:, None] - v * s + v / 2), Z)
    return 0.5 * r**2, coarse, true


def test_wrappers_match_a_numpy_reimplementation():
    """Each wrapper's mean and standard error (std ddof=1 / sqrt N) from the same 3000 draws."""
    model = gaussian.YinModel([1.0, 2.0], [1.0, 0.0])
    v, w = torch.tensor([0.5, -0.7], dtype=F64), torch.tensor([0.3, 1.2], dtype=F64)
    Z, y = model.sample(3000, torch.Generator().manual_seed(0))
    ell, coarse, true = _numpy_reference(v, w, Z, y, 0.05)

    def check(est, x):
        np.testing.assert_allclose(est.mean.numpy(), x.mean(0), rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(est.se.numpy(), x.std(0, ddof=1) / np.sqrt(len(x)), rtol=1e-9)

    def gen():
        return torch.Generator().manual_seed(0)

    for ste in STE_NAMES:
        check(coarse_grad(v, w, model, ste, samples=3000, generator=gen()), coarse[ste])
    check(loss(v, w, model, samples=3000, generator=gen()), ell)
    check(true_grad_w(v, w, model, samples=3000, generator=gen(), bandwidth=0.05), true)


def test_true_grad_per_sample_matches_numpy():
    from stelib.montecarlo import true_grad_per_sample

    model = gaussian.YinModel([1.0, -0.5, 2.0], [1.0, 0.0, 0.5])
    v, w = torch.tensor([0.4, 0.1, 1.5], dtype=F64), torch.tensor([0.6, 0.8, 0.3], dtype=F64)
    Z, y = model.sample(500, torch.Generator().manual_seed(3))
    ref = _numpy_reference(v, w, Z, y, 0.07)[2]
    np.testing.assert_allclose(true_grad_per_sample(v, w, Z, y, bandwidth=0.07).numpy(), ref, rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match=r"v has shape \(2,\) and w \(3,\); the inputs need \(3,\) and \(3,\)"):
        true_grad_per_sample(v[:2], w, Z, y)


def test_z_score_edges():
    from stelib.montecarlo import Estimate

    e = Estimate(torch.tensor([1.0, 2.0, 3.0, -1.0], dtype=F64), torch.tensor([0.5, 0.0, 0.0, 0.0], dtype=F64))
    z = e.z_score([0.0, 2.0, 1.0, 0.0])
    assert z[0].item() == 2.0 and z[1].item() == 0.0  # se = 0 and equal: 0
    assert z[2].item() == np.inf and torch.isinf(z[3])  # se = 0 and different: infinite


def test_standard_errors_match_the_spread_over_replicates():
    """Two-sided: 400 independent estimates; their spread equals the reported standard error
    (the ratio's own standard error is ~1/sqrt(800) = 3.5 %), for every estimated quantity."""
    model = gaussian.YinModel([1.0, -0.5, 0.8], [1.0, 0.3])
    v, w = torch.tensor([0.4, 0.9, -0.3], dtype=F64), torch.tensor([0.2, 0.7], dtype=F64)
    Z, y = model.sample(400 * 250, torch.Generator().manual_seed(5))
    ests = [estimate_on(v, w, Zb, yb, true_grad=True, bandwidth=0.1)
            for Zb, yb in zip(Z.split(250), y.split(250), strict=True)]
    for get in (lambda e: e.loss, lambda e: e.grad_v, lambda e: e.true_grad_w,
                *(lambda e, s=s: e.coarse[s] for s in STE_NAMES)):
        means = torch.stack([get(e).mean for e in ests])
        ses = torch.stack([get(e).se for e in ests])
        ratio = means.std(0) / ses.mean(0)
        assert bool(((ratio > 0.85) & (ratio < 1.15)).all()), ratio


@pytest.mark.parametrize("call,match", [
    (lambda m: estimate([1.0, 1.0], [1.0, 0.0], m, samples=1, generator=torch.Generator()), r"samples=1 must be an integer >= 2"),
    (lambda m: estimate([1.0], [1.0, 0.0], m, samples=10, generator=torch.Generator()), r"v has shape \(1,\) and w \(2,\); the inputs need \(2,\) and \(2,\)"),
    (lambda m: estimate([1.0, 1.0], [1.0, 0.0, 0.0], m, samples=10, generator=torch.Generator()), r"v has shape \(2,\) and w \(3,\); the inputs need \(2,\) and \(2,\)"),
    (lambda m: estimate([1.0, 1.0], [1.0, 0.0], m, samples=10, generator=torch.Generator(), stes=("sign",)), r"ste='sign' is not valid"),
    (lambda m: estimate([1.0, 1.0], [0.0, 0.0], m, samples=10, generator=torch.Generator(), true_grad=True), r"w = 0 is not allowed"),
    (lambda m: estimate([1.0, 1.0], [1.0, 0.0], m, samples=10, generator=torch.Generator(), true_grad=True, bandwidth=0), r"bandwidth=0 must be"),
    (lambda m: estimate([1.0, 1.0], [1.0, 0.0], object(), samples=10, generator=torch.Generator()), r"sampler must have a sample"),
    (lambda m: estimate_on([1.0, 1.0], [1.0, 0.0], np.ones((3, 2, 2)), np.ones(4)), r"Z has 3 samples and y_star 4"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call(gaussian.YinModel([1.0, 2.0], [1.0, 0.0]))


def test_true_gradient_smoothing_bias_is_second_order():
    """w . grad L = 0 (C1): the radial part of the estimate is pure smoothing bias, O(h^2)."""
    model = gaussian.YinModel([1.0, -0.5, 2.0], [1.0, 0.0, 0.0])
    v, w = torch.tensor([0.4, 0.1, 1.5], dtype=F64), torch.tensor([0.6, 0.8, 0.3], dtype=F64)
    Z, y = model.sample(300_000, torch.Generator().manual_seed(7))

    def radial(h):  # batch means over 30 blocks give the radial component's standard error
        r = torch.stack([estimate_on(v, w, Zb, yb, stes=(), true_grad=True, bandwidth=h).true_grad_w.mean @ w
                         for Zb, yb in zip(Z.split(10_000), y.split(10_000), strict=True)])
        return r.mean().item(), r.std().item() / len(r) ** 0.5

    (r2, _), (r1, _), (r0, se0) = radial(0.2), radial(0.1), radial(0.02)
    assert abs(r0) < 4 * se0  # no detectable bias at h = 0.02
    assert 2.8 < r2 / r1 < 5.2  # halving h divides the bias by ~4 (a first-order bias gives ~2)


def test_large_patches_use_group_sums_with_the_same_mean_and_a_consistent_standard_error():
    """m n > 256: coarse gradients are summed over groups of samples (batch means)."""
    from stelib.network import coarse_grads

    g = torch.Generator().manual_seed(8)
    m, n, b = 20, 16, 6403  # 6403 = 64 groups of 100... plus a remainder group
    Z, y = torch.randn(b, m, n, generator=g, dtype=F64), torch.randn(b, generator=g, dtype=F64)
    v, w = torch.randn(m, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
    est = estimate_on(v, w, Z, y)
    per = coarse_grads(v, w, Z, y, per_sample=True)
    for ste in STE_NAMES:
        torch.testing.assert_close(est.coarse[ste].mean, per[ste].mean(0), rtol=1e-11, atol=1e-13)
        se = per[ste].std(0) / b**0.5  # the per-sample standard error
        ratio = est.coarse[ste].se / se
        # 200 groups of 32: each ratio has a standard error ~ 1/sqrt(2 * 199) = 5 %; over the
        # 16 coordinates their mean has ~1.3 %
        assert ((ratio > 0.8) & (ratio < 1.2)).all(), ratio
        assert abs(float(ratio.mean()) - 1) < 0.06, ratio


@pytest.mark.parametrize("N,fused", [(1290, True), (1290, False), (150, False), (13_200, False)])
def test_batch_means_standard_error_written_out(N, fused):
    """m n > 256: groups of min(32, N // 64) consecutive samples plus one remainder group
    (1290: 64 x 20 + 10; 150: 75 x 2; 13 200: 412 x 32 + 16, read in two chunks);
    se^2 = (sum_g X_g^2 / size_g / N - mean^2) / (groups - 1), with X_g the group sums (NumPy,
    from per-sample coarse gradients). fused=False is the PyTorch path."""
    from stelib.montecarlo import _Accumulator

    g = torch.Generator().manual_seed(9)
    m, n = 20, 16
    Z, y = torch.randn(N, m, n, generator=g, dtype=F64), torch.randn(N, generator=g, dtype=F64)
    v, w = torch.randn(m, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64) / 4
    acc = _Accumulator(v, w, STE_NAMES, False, 0.02)
    acc.add(Z, y, samples=N, fused=fused)
    est = acc.result()
    ell, coarse, _ = _numpy_reference(v, w, Z, y, 0.02)
    group = min(32, N // 64)
    sizes = [group] * (N // group) + ([N % group] if N % group else [])
    edges = np.cumsum([0] + sizes)
    for ste in STE_NAMES:
        X = np.stack([coarse[ste][a:b].sum(0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
        mean = coarse[ste].mean(0)
        var = ((X**2 / np.array(sizes)[:, None]).sum(0) / N - mean**2) / (len(sizes) - 1)
        np.testing.assert_allclose(est.coarse[ste].mean.numpy(), mean, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(est.coarse[ste].se.numpy(), np.sqrt(var), rtol=1e-8)
    np.testing.assert_allclose(est.loss.se.item(), ell.std(ddof=1) / np.sqrt(N), rtol=1e-9)


def test_non_finite_samples_are_rejected_before_any_estimate():
    Z = torch.ones(10, 2, 3, dtype=F64)
    Z[4, 1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"Z contains non-finite values"):
        estimate_on([1.0, 1.0], [1.0, 0.0, 0.0], Z, torch.zeros(10, dtype=F64))
    with pytest.raises(ValueError, match=r"y_star contains non-finite values"):
        estimate_on([1.0, 1.0], [1.0, 0.0, 0.0], torch.ones(10, 2, 3, dtype=F64), torch.full((10,), float("inf")))


def test_fused_kernel_equals_the_pytorch_path():
    """Large patches go through stelib._fused (Z read once); the PyTorch path is the reference."""
    from stelib.montecarlo import _Accumulator

    g = torch.Generator().manual_seed(9)
    m, n, b = 16, 24, 5000
    Z, y = torch.randn(b, m, n, generator=g, dtype=F64), torch.randn(b, generator=g, dtype=F64)
    v, w = torch.randn(m, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64)
    fused, torch_path = _Accumulator(v, w, STE_NAMES, False, 0.02), _Accumulator(v, w, STE_NAMES, False, 0.02)
    fused.add(Z, y, samples=b)
    torch_path.add(Z, y, samples=b, fused=False)
    a, r = fused.result(), torch_path.result()
    for x, ref in [(a.loss, r.loss), (a.grad_v, r.grad_v)] + [(a.coarse[s], r.coarse[s]) for s in STE_NAMES]:
        torch.testing.assert_close(x.mean, ref.mean, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(x.se, ref.se, rtol=1e-8, atol=1e-12)
    assert a.samples == r.samples == b


def test_fused_path_rejects_non_finite_samples():
    Z = torch.ones(100, 16, 24, dtype=F64)
    Z[57, 3, 20] = float("inf")
    w = torch.zeros(24, dtype=F64)
    w[0] = 1.0  # w_20 = 0: the inf still reaches Z w as inf * 0 = nan
    with pytest.raises(ValueError, match=r"Z contains non-finite values"):
        estimate_on(torch.ones(16, dtype=F64), w, Z, torch.zeros(100, dtype=F64))


@pytest.mark.parametrize("b, group", [(1, 1), (33, 4), (40, 8), (37, 7)])
def test_fused_group_sums_equal_a_numpy_reference(b, group):
    """stelib._fused.group_sums on odd shapes (rows that straddle cache lines, a single sample,
    a remainder group) against the definition, group by group."""
    from stelib.core import _fused

    rng = np.random.default_rng(b)
    m, n = 17, 19
    Z, y = rng.standard_normal((b, m, n)), rng.standard_normal(b)
    v, w = rng.standard_normal(m), rng.standard_normal(n) / 3
    G, L, V = _fused.group_sums(Z, y, v, w, group)
    x = Z @ w  # (b, m)
    r = (x > 0) @ v - y
    windows = {"identity": np.ones_like(x), "relu": x > 0, "crelu": (x > 0) & (x < 1)}
    for gi, start in enumerate(range(0, b, group)):
        part = slice(start, min(b, start + group))
        for k, ste in enumerate(("identity", "relu", "crelu")):
            ref = np.einsum("b,bmn,bm->n", r[part], Z[part], windows[ste][part] * v)
            np.testing.assert_allclose(G[gi, k], ref, rtol=1e-12, atol=1e-12)
        loss = 0.5 * r[part] ** 2
        np.testing.assert_allclose(L[gi], [loss.sum(), (loss**2).sum()], rtol=1e-12)
        gv = (x[part] > 0) * r[part, None]
        np.testing.assert_allclose(V[gi], [gv.sum(0), (gv**2).sum(0)], rtol=1e-12, atol=1e-12)
    assert G.shape[0] == -(-b // group)


def test_fused_pairs_equal_one_sample_at_a_time_bit_for_bit():
    """group_sums works on samples in pairs (_pair); one sample at a time (_sample, _flush) gives
    the same group sums bit for bit, the odd last sample included."""
    from stelib.core import _fused

    rng = np.random.default_rng(5)
    b, m, n = 5, 17, 19
    Z, y = rng.standard_normal((b, m, n)), rng.standard_normal(b)
    v, w = rng.standard_normal(m), rng.standard_normal(n) / 3
    G, L, V = _fused.group_sums(Z, y, v, w, b)
    S, A, on, r = np.zeros((3, n)), np.zeros((3, n)), np.empty((b, m)), np.empty(b)
    for k in range(b):
        r[k] = _fused._sample(Z[k], y[k], v, w, on[k], S)
        _fused._flush(S, A, r[k])
    np.testing.assert_array_equal(G[0], [A[0] + (A[1] + A[2]), A[1] + A[2], A[1]])
    assert (on == ((Z @ w) > 0)).all() and L[0, 0] == sum(0.5 * x * x for x in r)
