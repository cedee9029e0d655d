"""The 1-bit rescaling check of chapter practice (prop-practice-scale) and the start summary,
against a NumPy reimplementation of the network's loss and coarse gradients."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from stelib.practice_report import start_summary
from stelib.quantnets import ActConfig, QuantMLP, rescaling_check

DERIVATIVE = {  # the STEs' surrogate derivatives for one bit and step 1 (window (0, 1))
    "identity": lambda z: np.ones_like(z),
    "relu": lambda z: (z > 0).astype(float),
    "crelu": lambda z: ((z > 0) & (z < 1)).astype(float),
}


def numpy_loss_and_grads(W1, b1, W2, b2, x, y, ste):
    """Cross-entropy of logits W2 1{W1 x + b1 > 0} + b2 and its coarse gradients for (W1, b1)
    (flattened, one vector) and for the later layer (W2, b2)."""
    z = x @ W1.T + b1  # (B, h)
    h = (z > 0).astype(float)
    logits = h @ W2.T + b2  # (B, 10)
    logits = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    B = x.shape[0]
    loss = -np.log(p[np.arange(B), y]).mean()
    delta = p.copy()
    delta[np.arange(B), y] -= 1
    delta /= B  # dL/dlogits
    gW2, gb2 = delta.T @ h, delta.sum(axis=0)
    back = (delta @ W2) * DERIVATIVE[ste](z)
    g1 = np.concatenate([(back.T @ x).ravel(), back.sum(axis=0)])
    return loss, g1, (gW2, gb2)


def _data(n=40, d=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64),
            torch.randint(0, 10, (n,), generator=g))


@pytest.mark.parametrize("ste", ["identity", "relu", "crelu"])
@pytest.mark.parametrize("c", [0.3, 3.0])
def test_rescaling_check_matches_numpy(ste, c):
    x, y = _data()
    net = QuantMLP([ActConfig(1, 1.0, ste)], [5], hidden=(7,), inputs=6)
    W1, b1, W2, b2 = (p.detach()[0].numpy() for p in (net.W[0], net.b[0], net.W[1], net.b[1]))
    l1, g1, h1 = numpy_loss_and_grads(W1, b1, W2, b2, x.numpy(), y.numpy(), ste)
    lc, gc, hc = numpy_loss_and_grads(c * W1, c * b1, W2, b2, x.numpy(), y.numpy(), ste)
    r = rescaling_check(x, y, ste=ste, c=c, seed=5, hidden=(7,))
    assert r.loss == pytest.approx(abs(lc - l1), abs=1e-12)
    assert r.later_grad == pytest.approx(max(np.abs(a - b).max() for a, b in zip(hc, h1, strict=True)), abs=1e-12)
    assert r.first_grad == pytest.approx(np.linalg.norm(gc - g1) / np.linalg.norm(g1), abs=1e-9)


def test_the_symmetry_and_its_breaking():
    """Loss and later gradients unchanged for every STE; the first-layer gradient unchanged for
    identity and ReLU and changed for the clipped ReLU (prop-practice-scale); c = 1 changes
    nothing."""
    x, y = _data(n=64, d=8)
    for ste in ("identity", "relu", "crelu"):
        r = rescaling_check(x, y, ste=ste, c=3.0, hidden=(16, 16))
        assert r.loss == 0 and r.later_grad == 0
        assert (r.first_grad > 0.05) == (ste == "crelu"), (ste, r.first_grad)
        assert rescaling_check(x, y, ste=ste, c=1.0, hidden=(16, 16)).first_grad == 0
    text = str(rescaling_check(x, y, ste="relu", c=3.0, hidden=(16, 16)))
    assert text.splitlines() == ["    relu: |dloss| = 0.0e+00, |d grad of later layers| = 0.0e+00,",
                                 "          rel. change of grad (W1, b1) = 0.000"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(ste="relu", c=0.0), "c=0.0"),
    (dict(ste="relu", c=float("inf")), "c=inf"),
    (dict(ste="relu", c="3"), "c='3'"),
    (dict(ste="no_such_ste", c=3.0), "no_such_ste"),
])
def test_rescaling_check_refuses_bad_values(kwargs, message):
    x, y = _data()
    with pytest.raises(ValueError, match=message):
        rescaling_check(x, y, hidden=(4,), **kwargs)


def test_rescaling_check_refuses_mismatched_batches():
    x, y = _data()
    for xx, yy in ((x, y[:-1]), (x[0], y), (x[:0], y[:0]), (x, y[:, None])):
        with pytest.raises(ValueError, match="x must be"):
            rescaling_check(xx, yy, ste="relu", hidden=(4,))


def _result(acc, loss):
    return SimpleNamespace(pretrained=SimpleNamespace(test_accuracy=torch.tensor(acc),
                                                      train_loss=torch.tensor(loss)))


def test_start_summary_counts_images_and_spread():
    # two seeds, last epoch 0.75 and 0.5 of 8 test images
    r = _result([[[0.1, 0.75], [0.2, 0.5]]], [[[2.0, 0.123456], [2.0, 0.5]]])
    line = start_summary("mlp", r, n_test=8)
    sd = torch.tensor([75.0, 50.0]).std().item()
    assert line.splitlines() == [f"mlp: full-precision start, test accuracy 62.5 ± {sd:.1f} %",
                                 "     (test images right per seed: [6, 4];",
                                 "     training loss per seed: 0.1235, 0.5000)"]


def test_start_summary_refuses_bad_input():
    with pytest.raises(ValueError, match="no full-precision start"):
        start_summary("cnn", SimpleNamespace(pretrained=None), n_test=8)
    for n in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"n_test={n!r}"):
            start_summary("mlp", _result([[[0.5]]], [[[1.0]]]), n_test=n)
