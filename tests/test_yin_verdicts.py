"""Tests of the verdicts that the chapters yin_gaussian (Y5, mini-batches) and scale_symmetry
(prop-scale-radial (b)) compute instead of typing: StreamTable.behind_all and
population_matches, yin.at_batch_sizes, and the slope of the clipped-ReLU radial part at its
vanishing point on the linear teacher's ray."""

from __future__ import annotations

import math

import pytest
import torch

from stelib import rays, symmetry, yin
from stelib.outcomes import StreamTable


def _table():
    return StreamTable({
        ("inf", "identity"): {"near": (0.8, 0.0), "spurious": (0.2, 0.0), "loss": (0.0, 0.0)},
        ("inf", "crelu"): {"near": (0.7, 0.0), "spurious": (0.3, 0.0), "loss": (0.0, 0.0)},
        (4, "identity"): {"near": (0.6, 0.1), "spurious": (0.0, 0.0), "loss": (0.12, 0.02)},
        (4, "crelu"): {"near": (0.2, 0.1), "spurious": (0.0, 0.0), "loss": (0.26, 0.02)},
        (32, "identity"): {"near": (0.76, 0.05), "spurious": (0.22, 0.05), "loss": (0.03, 0.01)},
        (32, "crelu"): {"near": (0.66, 0.05), "spurious": (0.3, 0.05), "loss": (0.035, 0.01)},
        (64, "crelu"): {"near": (0.7, 0.0), "spurious": (0.3, 0.0), "loss": (0.01, 0.0)},
    })


def test_behind_all_judges_every_other_ste_with_the_spread():
    t = _table()
    assert t.behind_all(4, "crelu", measure="loss", higher_better=False)  # 0.26 +- 0.02 against 0.12 +- 0.02
    assert not t.behind_all(4, "identity", measure="loss", higher_better=False)
    assert not t.behind_all(32, "crelu", measure="loss", higher_better=False)  # intervals overlap: a tie
    assert t.behind_all(4, "crelu", measure="near", higher_better=True)
    assert not t.behind_all(64, "crelu", measure="loss", higher_better=False)  # no other STE at B = 64
    with pytest.raises(ValueError, match=r"measure='median' must be one of \('near'"):
        t.behind_all(4, "crelu", measure="median", higher_better=False)
    with pytest.raises(ValueError, match=r"\(B, ste\)=\(8, 'crelu'\) is not in the table"):
        t.behind_all(8, "crelu", measure="loss", higher_better=False)


def test_population_matches_counts_population_values_inside_the_streams_spread():
    t = _table()
    # B = 32: near 0.8 in [0.71, 0.81], 0.7 in [0.61, 0.71]; spurious 0.2 in [0.17, 0.27], 0.3 in [0.25, 0.35]
    assert t.population_matches(32, ["identity", "crelu"]) == (4, 4)
    assert t.population_matches(4, ["identity", "crelu"]) == (0, 4)
    assert t.population_matches(4, ["identity"], measures=("near",)) == (0, 1)
    assert t.population_matches(4, []) == (0, 0)
    with pytest.raises(ValueError, match=r"\(B, ste\)=\('inf', 'relu'\) is not in the table"):
        StreamTable({(4, "relu"): {"near": (0.5, 0.1)}}).population_matches(4, ["relu"], measures=("near",))
    with pytest.raises(ValueError, match=r"measure='w' must be one of"):
        t.population_matches(32, ["crelu"], measures=("w",))


def test_batch_trend_judges_neighbouring_batch_sizes_with_the_spread():
    t = _table()
    # crelu loss: 0.26 +- 0.02 > 0.035 +- 0.01 > 0.01 +- 0: higher for smaller batches
    assert t.batch_trend("crelu", measure="loss") == "higher for smaller batches"
    assert t.batch_trend("identity", measure="loss") == "higher for smaller batches"  # "inf" left out
    assert t.batch_trend("identity", measure="near") == "lower for smaller batches"  # 0.6 +- 0.1 < 0.76 +- 0.05
    assert t.batch_trend("crelu", measure="near") == "not ordered by batch size"  # 0.66 +- 0.05 = 0.7
    assert t.batch_trend("crelu", measure="spurious") == "not ordered by batch size"  # 0 < 0.3 = 0.3
    assert t.batch_trends(["identity", "crelu"], measure="loss") == "higher for smaller batches for every STE"
    assert t.batch_trends(["identity", "crelu"], measure="spurious") == (
        "lower for smaller batches for identity; not ordered by batch size for crelu")
    one = StreamTable({("inf", "relu"): {"loss": (0.0, 0.0)}, (4, "relu"): {"loss": (0.1, 0.01)}})
    assert one.batch_trend("relu", measure="loss") == "one batch size only"
    tie = StreamTable({(4, "relu"): {"loss": (0.1, 0.05)}, (8, "relu"): {"loss": (0.12, 0.0)}})
    assert tie.batch_trend("relu", measure="loss") == "not ordered by batch size"
    with pytest.raises(ValueError, match=r"ste='tanh' is not in the table; STEs: \['crelu', 'identity'\]"):
        t.batch_trend("tanh", measure="loss")
    with pytest.raises(ValueError, match=r"measure='median' must be one of"):
        t.batch_trend("crelu", measure="median")
    with pytest.raises(ValueError, match=r"stes is empty"):
        t.batch_trends([], measure="loss")


def test_at_batch_sizes_names_where_a_verdict_holds():
    assert yin.at_batch_sizes([4, 32], [4, 32]) == "at every batch size"
    assert yin.at_batch_sizes([], [1, 8, 128]) == "at no batch size"
    assert yin.at_batch_sizes([8], [1, 8, 128]) == "only at B = 8"
    assert yin.at_batch_sizes([128, 1], [128, 1, 8]) == "only at B = 1 and 128"
    assert yin.at_batch_sizes([1, 8], [1, 8, 16, 128]) == "only at B = 1 and 8"
    assert yin.at_batch_sizes([1, 8, 16], [1, 8, 16, 128]) == "only at B = 1, 8 and 16"
    with pytest.raises(ValueError, match=r"chosen=\[5\] must be a subset of batch_sizes=\[4, 32\]"):
        yin.at_batch_sizes([5], [4, 32])
    with pytest.raises(ValueError, match=r"batch_sizes=\[\] is empty"):
        yin.at_batch_sizes([], [])


def test_the_clipped_relu_slope_at_its_vanishing_point_is_the_closed_forms_derivative():
    a = symmetry.random_direction(3, generator=torch.Generator().manual_seed(2))
    r0 = rays.linear_teacher_ray(a, norms=[1.0]).r_star
    h = 1e-5
    ray = rays.linear_teacher_ray(a, norms=[r0 - h, r0 + h])
    lo, hi = ray.rho_curve["crelu"]
    assert ray.slope > 0  # a sign change from - to +: the hypothesis of prop-scale-radial (b)
    assert ray.slope == pytest.approx((hi - lo) / (2 * h), rel=1e-6)
    assert ray.lr_bound == pytest.approx(2 / ray.slope, rel=1e-15)
    assert 12 < ray.lr_bound < 14 and math.isfinite(ray.lr_bound)  # about 12.9 for |a| = 1


def test_perturbation_reading_follows_the_shares():
    assert yin.perturbation_reading({"spurious": 0.0, "saddle": 0.035}, 2000) == (
        "None of the 2000 sampled perturbations lowers the loss at the spurious minimum, while 3.5% of them do"
        " at the saddle")
    mixed = yin.perturbation_reading({"spurious": 0.032, "saddle": 0.0}, 2000)
    assert mixed.startswith("3.2% of the 2000 perturbations lower the loss at the spurious minimum")
    assert mixed.endswith("and none does at the saddle either: its descent directions are too few to"
                          " be hit by this sample")


def _rows(spurious, w):
    return [{"ste": s, "spurious": p, "median_w_norm": x} for s, p, x in zip(("identity", "relu", "crelu"),
                                                                               spurious, w, strict=True)]


def test_population_reading_words_each_case():
    from stelib.outcomes import OtherRuns, StartSides

    cycling = OtherRuns("identity", 38, 0.59, 0.58, 38, 500, (6, 14), 0.0064)
    both = StartSides(1.76, {"identity": (0, 36), "relu": (16, 36), "crelu": (25, 36)},
                      {"identity": (0, 92), "relu": (23, 92), "crelu": (11, 92)})
    got = yin.population_reading(_rows((0.0, 0.3, 0.28), (6.4, 5.6, 2.9)), [cycling], both, window=500)
    assert got["pair"] == "ReLU and clipped ReLU end at the spurious minimum in part of their runs"
    assert got["identity"] == ("no identity run ends there; its other 38 runs keep jumping between the two"
                               " sides of theta = pi/2 in the last 500 steps, with a median smallest"
                               " recorded |w| of 0.0064 there against a median final |w| of 6.4 over all"
                               " its runs: they pass through or close to w = 0")
    assert got["smallest"] == "The clipped ReLU ends at the smallest median |w| (2.9)"
    assert got["sides"].startswith("ReLU and clipped ReLU runs reach the spurious minimum from both sides")
    # the R2 teacher of the referee (m = n = 2): nothing cycles, the identity has the smallest |w|
    one = StartSides(1.0, {"identity": (0, 3), "relu": (0, 3), "crelu": (1, 3)},
                     {"identity": (0, 3), "relu": (1, 3), "crelu": (0, 3)})
    got = yin.population_reading(_rows((0.47, 0.0, 0.02), (0.37, 1.07, 1.12)), [], one, window=500)
    assert got["pair"] == "Of ReLU and clipped ReLU only clipped ReLU ends at the spurious minimum"
    assert got["identity"] == "identity runs end there too, and none is left in the class other"
    assert got["smallest"] == "Not the clipped ReLU but the identity ends at the smallest median |w| (0.37, clipped ReLU 1.12)"
    assert got["sides"] == "No ReLU or clipped-ReLU run reaches the spurious minimum from both sides of it"
    far = OtherRuns("identity", 4, 0.59, 0.58, 1, 500, (0, 3), 2.0)
    got = yin.population_reading(_rows((0.0, 0.0, 0.0), (6.4, 5.6, 2.9)), [far], one, window=500)
    assert got["pair"] == "No ReLU or clipped-ReLU run ends at the spurious minimum"
    assert got["identity"].endswith("include 1 on both sides of theta = pi/2 in the last 500 steps, with a"
                                    " median smallest recorded |w| of 2 there against a median final |w| of"
                                    " 6.4 over all its runs: they do not come close to w = 0")
    with pytest.raises(ValueError, match=r"the reading needs identity, relu and crelu"):
        yin.population_reading(_rows((0, 0, 0), (1, 1, 1))[:2], [], one, window=500)


def test_stream_reading_compares_every_row_with_the_population():
    t = StreamTable({(B, s): {"w_norm": x} for B, s, x in [
        ("inf", "identity", (6.5, 0.0)), ("inf", "crelu", (2.8, 0.0)),
        (4, "identity", (31.8, 1.3)), (4, "crelu", (6.4, 0.2)),
        (32, "identity", (14.0, 0.1)), (32, "crelu", (2.85, 0.1))]})
    got = yin.stream_reading(t, ["identity", "crelu"], [4, 32])
    assert got["drift"] == "|w| drifts upwards in 3 of the 4 (batch size, STE) rows only, beyond the spread"
    assert got["smaller"] == "the clipped-ReLU runs have the smallest median |w| at every batch size"
    up = yin.stream_reading(t, ["identity", "crelu"], [4])
    assert up["drift"].startswith("|w| drifts upwards: at every batch size the median final |w| of every STE")
    no_crelu = yin.stream_reading(t, ["identity"], [4, 32])
    assert no_crelu["smaller"] == "the clipped-ReLU runs have the smallest median |w| at 0 of the 2 batch sizes"
