"""Edge cases of stelib.outcomes against hand-built histories and hand-computed points."""

from __future__ import annotations

import math

import numpy as np
import torch

from stelib import gaussian
from stelib.gaussian import YinModel
from stelib.outcomes import at_angle, classify, first_hit, outcome_table
from stelib.train import History

F64 = torch.float64
V_STAR = torch.tensor([1.0, -0.5, 0.8], dtype=F64)  # spurious minima exist
W_STAR = torch.tensor([0.6, -1.0, 0.3, 0.5], dtype=F64)
MODEL = YinModel(V_STAR, W_STAR)


def _history(loss, theta, w_norm, diverged, ste=None):
    """A History with the given records (T, R); the final v, w are placeholders."""
    loss, theta, w_norm = (torch.as_tensor(a, dtype=F64) for a in (loss, theta, w_norm))
    T, R = loss.shape
    return History(torch.arange(T) * 10, loss, theta, w_norm, torch.zeros(T, R, dtype=F64),
                   torch.zeros(R, 3, dtype=F64), torch.ones(R, 4, dtype=F64),
                   tuple(ste or ("relu",) * R), torch.ones(R, dtype=F64),
                   torch.as_tensor(diverged, dtype=torch.bool), torch.full((R,), -1))


def test_at_angle_turns_towards_the_documented_direction():
    """e is the all-ones vector made orthogonal to w*: for w* = (1, 0, 0), e = (0, 1, 1)/sqrt 2,
    so w(theta) = |w| (cos theta, sin theta / sqrt 2, sin theta / sqrt 2) (hand-computed)."""
    theta = np.array([0.4, math.pi / 2, 2.5])
    got = at_angle(torch.tensor([3.0, 0.0, 0.0]), torch.tensor(theta), 2.0).numpy()
    s = np.sin(theta) / math.sqrt(2)
    want = 2.0 * np.stack([np.cos(theta), s, s], axis=-1)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    # a general w*: the NumPy Gram-Schmidt of the all-ones vector
    ws = W_STAR.numpy() / np.linalg.norm(W_STAR.numpy())
    e = np.ones(4) - np.ones(4) @ ws * ws
    e /= np.linalg.norm(e)
    np.testing.assert_allclose(at_angle(W_STAR, 1.1, 0.7).numpy(),
                               0.7 * (math.cos(1.1) * ws + math.sin(1.1) * e), rtol=0, atol=1e-15)


def test_first_hit_needs_the_loss_strictly_below_the_tolerance():
    """Run 0 touches loss_tol exactly at step 10 and goes below at step 20; run 1 only touches
    it; run 2 starts below."""
    tol = 0.25
    loss = [[1.0, 1.0, 0.1], [tol, tol, 0.1], [0.125, tol, 0.1]]
    h = _history(loss, torch.zeros(3, 3), torch.ones(3, 3), [False] * 3)
    assert first_hit(h, loss_tol=tol).tolist() == [20, -1, 0]


def test_a_diverged_run_is_other_even_with_a_small_finite_loss():
    h = _history([[1e-12, 1e-12, math.nan]], [[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]],
                 [True, False, False])
    assert classify(h, MODEL, loss_tol=1e-6) == ["other", "global", "other"]


def test_global_needs_the_final_loss_strictly_below_the_tolerance():
    """As first_hit: a final loss equal to loss_tol is not "global" (theta = 0.5: not spurious
    either), one just below is."""
    tol = 0.25
    h = _history([[1.0, 1.0], [tol, 0.125]], [[0.5, 0.5], [0.5, 0.5]], torch.ones(2, 2), [False, False])
    assert classify(h, MODEL, loss_tol=tol) == ["other", "global"]


def test_spurious_needs_the_loss_gap_strictly_below_the_tolerance():
    """|f - f_sp| == loss_tol exactly is not spurious; just inside it is."""
    vt = gaussian.spurious_minimizer_v(V_STAR)
    f_sp = float(MODEL.loss(vt, -W_STAR))
    f_in, f_on = f_sp + 2.0**-20, f_sp + 2.0**-19
    tol = f_on - f_sp  # exactly representable: the gap of f_on, so |f_on - f_sp| == tol
    assert f_sp > tol and f_in - f_sp < tol
    h = _history([[f_in, f_on]], [[math.pi, math.pi]], [[1.0, 1.0]], [False, False])
    assert classify(h, MODEL, loss_tol=tol) == ["spurious", "other"]
    edge = math.pi - 1e-3  # theta > pi - theta_tol, strictly
    h = _history([[f_in, f_in]], [[edge + 1e-9, edge]], [[1.0, 1.0]], [False, False])
    assert classify(h, MODEL, loss_tol=tol, theta_tol=1e-3) == ["spurious", "other"]


def test_outcome_table_median_norm_of_the_last_record_without_diverged_runs():
    """Two records with different |w|: the median uses the last record and skips diverged runs
    (hand-computed: median of 3.0, 5.0, 4.0 = 4.0 for relu; crelu: only the non-diverged 7.0)."""
    w_norm = [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [3.0, 5.0, 4.0, 100.0, 7.0, 50.0]]
    loss = [[1.0] * 6, [1e-9, 1.0, 1e-9, 1.0, 1e-9, 1.0]]
    h = _history(loss, torch.ones(2, 6), w_norm, [False, False, False, True, False, True],
                 ste=("relu",) * 4 + ("crelu",) * 2)
    rows = outcome_table(h, MODEL, loss_tol=1e-6)
    assert [r["ste"] for r in rows] == ["relu", "crelu"]
    assert rows[0]["median_w_norm"] == 4.0 and rows[1]["median_w_norm"] == 7.0
    assert rows[0]["steps_to_global"] == 10.0 and rows[0]["global"] == 0.5
    assert rows[0]["diverged"] == 1 and rows[1]["diverged"] == 1
    assert rows[1]["other"] == 0.5 and rows[1]["global"] == 0.5
    h = _history(loss, torch.ones(2, 6), w_norm, [True] * 6, ste=("relu",) * 6)
    assert math.isnan(outcome_table(h, MODEL, loss_tol=1e-6)[0]["median_w_norm"])



def test_stream_summary_splits_runs_into_streams():
    import math
    from types import SimpleNamespace

    import pytest
    import torch

    from stelib.outcomes import stream_summary

    # two streams of the same 2 starts per STE, runs stream-major: [id, id, relu, relu] x 2
    theta = torch.tensor([[0.05, 3.1, 0.05, 0.05, 0.05, 0.05, 1.0, 3.1]], dtype=torch.float64)
    loss = torch.tensor([[0.0, 0.6, 0.0, 0.0, 0.0, 0.0, 0.3, 0.6]], dtype=torch.float64)
    labels = ("identity", "identity", "relu", "relu") * 2
    h = SimpleNamespace(theta=theta, loss=loss, w_norm=torch.ones_like(theta),
                        select=lambda s: torch.tensor([j for j, x in enumerate(labels) if x == s]))
    ident = stream_summary(h, "identity", 2, loss_tol=0.01)
    assert ident["near"] == pytest.approx((0.75, math.sqrt(0.125)))  # shares 0.5 and 1.0
    assert ident["spurious"] == pytest.approx((0.25, math.sqrt(0.125)))
    relu = stream_summary(h, "relu", 2, loss_tol=0.01)
    assert relu["near"] == pytest.approx((0.5, math.sqrt(0.5)))  # shares 1.0 and 0.0
    assert stream_summary(h, "relu", 1, loss_tol=0.01)["near"] == (0.5, 0.0)
    with pytest.raises(ValueError, match="streams=3"):
        stream_summary(h, "relu", 3, loss_tol=0.01)
    with pytest.raises(ValueError, match="streams"):
        stream_summary(h, "relu", 0, loss_tol=0.01)
