"""The binary network on a batch: against a per-sample NumPy loop and against autograd."""

import numpy as np
import pytest
import torch

from stelib.network import coarse_grad, coarse_grads, forward, grad_v, sample_loss, teacher
from stelib.ste import STE_NAMES, binary_step


def numpy_reference(v, w, Z, y, ste):
    """Loop over samples: loss, dl/dv and g_mu = Z^T (mu'(Zw) * v) (v^T sigma(Zw) - y)."""
    loss, gv, gw = [], [], []
    for Zb, yb in zip(Z, y, strict=True):
        pre = Zb @ w
        s = (pre > 0).astype(float)
        r = s @ v - yb
        mu = {"identity": np.ones_like(pre), "relu": s, "crelu": ((pre > 0) & (pre < 1)).astype(float)}[ste]
        loss.append(0.5 * r**2)
        gv.append(s * r)
        gw.append(Zb.T @ (mu * v) * r)
    return np.mean(loss), np.mean(gv, axis=0), np.mean(gw, axis=0)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    m, n, b = 4, 3, 200
    return rng.normal(size=m), rng.normal(size=n), rng.normal(size=(b, m, n)), rng.normal(size=b)


@pytest.mark.parametrize("ste", STE_NAMES)
def test_batch_functions_match_numpy_loop(batch, ste):
    v, w, Z, y = batch
    loss, gv, gw = numpy_reference(v, w, Z, y, ste)
    np.testing.assert_allclose(sample_loss(v, w, Z, y).numpy(), loss, rtol=1e-13)
    np.testing.assert_allclose(grad_v(v, w, Z, y).numpy(), gv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(coarse_grad(v, w, Z, y, ste).numpy(), gw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(coarse_grads(v, w, Z, y)[ste].numpy(), gw, rtol=1e-12, atol=1e-14)
    per = coarse_grads(v, w, Z, y, per_sample=True)[ste]
    assert per.shape == (Z.shape[0], Z.shape[2])
    np.testing.assert_allclose(per.mean(0).numpy(), gw, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ste", STE_NAMES)
def test_coarse_grad_equals_autograd_through_binary_step(batch, ste):
    v, w, Z, y = (torch.from_numpy(a) for a in batch)
    ww = w.clone().requires_grad_(True)
    vv = v.clone().requires_grad_(True)
    (0.5 * ((binary_step(Z @ ww, ste) @ vv - y) ** 2).mean()).backward()
    torch.testing.assert_close(coarse_grad(v, w, Z, y, ste), ww.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad_v(v, w, Z, y), vv.grad, rtol=1e-12, atol=1e-14)


def test_teacher_labels_and_zero_residual_at_the_teacher(batch):
    v, w, Z, _ = batch
    y = teacher(v, w, Z)
    np.testing.assert_allclose(y.numpy(), ((Z @ w) > 0) @ v)
    assert sample_loss(v, w, Z, y).item() == 0.0
    for ste in STE_NAMES:
        assert torch.count_nonzero(coarse_grad(v, w, Z, y, ste)) == 0


def test_edge_sizes_m1_n1():
    Z = torch.tensor([[[1.0]], [[-2.0]]], dtype=torch.float64)
    y = torch.tensor([0.5, 0.5], dtype=torch.float64)
    v, w = torch.tensor([2.0], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64)
    assert forward(v, w, Z).tolist() == [2.0, 0.0]
    # identity: mean of z * v * r = (1*2*1.5 + (-2)*2*(-0.5)) / 2
    assert coarse_grad(v, w, Z, y, "identity").tolist() == [2.5]


@pytest.mark.parametrize("args,match", [
    ((np.ones(3), np.ones(2), np.ones((5, 4, 2)), np.ones(5)), r"Z has shape \(5, 4, 2\); expected \(batch, m, n\) = \(batch, 3, 2\)"),
    ((np.ones(3), np.ones(2), np.ones((5, 3, 2)), np.ones(4)), r"y_star has 4 labels but Z has batch size 5"),
    ((np.ones(3), np.ones(2), np.ones((3, 2)), np.ones(3)), r"Z must have 3 dimension"),
    ((np.ones(3), np.array([np.inf, 0]), np.ones((5, 3, 2)), np.ones(5)), r"w contains non-finite"),
])
def test_bad_shapes_raise(args, match):
    with pytest.raises(ValueError, match=match):
        coarse_grad(*args, "relu")


def test_teacher_rejects_zero_w_star():
    with pytest.raises(ValueError, match=r"w_star = 0 is not allowed"):
        teacher(np.ones(2), np.zeros(3), np.ones((4, 2, 3)))


def test_zero_inputs_are_off():
    """sigma(0) = 0 strictly: a zero patch (as in image data) contributes nothing."""
    g = torch.Generator().manual_seed(4)
    Z = torch.randn(30, 3, 2, generator=g, dtype=torch.float64)
    Z[:, 1] = 0.0
    y = torch.randn(30, generator=g, dtype=torch.float64)
    v, w = torch.tensor([0.5, 2.0, -1.0], dtype=torch.float64), torch.tensor([1.0, -0.3], dtype=torch.float64)
    s = (Z.numpy() @ w.numpy() > 0).astype(float)
    assert s[:, 1].sum() == 0
    np.testing.assert_allclose(forward(v, w, Z).numpy(), s @ v.numpy(), rtol=1e-14)
    r = s @ v.numpy() - y.numpy()
    np.testing.assert_allclose(sample_loss(v, w, Z, y).item(), 0.5 * np.mean(r**2), rtol=1e-13)
    np.testing.assert_allclose(grad_v(v, w, Z, y).numpy(), (s * r[:, None]).mean(0), rtol=1e-12)
    g = np.einsum("bmn,bm->n", Z.numpy(), v.numpy() * r[:, None]) / 30  # identity STE: mu' = 1
    np.testing.assert_allclose(coarse_grad(v, w, Z, y, "identity").numpy(), g, rtol=1e-12)
    np.testing.assert_allclose(coarse_grads(v, w, Z, y, ("identity",))["identity"].numpy(), g, rtol=1e-12)
