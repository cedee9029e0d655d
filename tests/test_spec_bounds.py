"""Every bound a chapter spec validates, tested from both sides (issue: tests that can fail at
the edges).

``BOUNDS`` is the reviewed table of every numeric bound and length limit of every chapter's
parameters: moving a bound in ``stelib/tooling/specs`` fails ``test_bounds_are_the_reviewed_ones``
until this table is changed too. ``test_each_bound_from_both_sides`` then checks, for every
entry, that the last accepted value passes and the first refused one fails (an integer one
step beyond, the next float beyond a closed end, the end itself for an open one, one item more
or less).
"""

from __future__ import annotations

import math

import pytest

from stelib.tooling.params import Choice, Int, Module, Real, Seq, SteName
from stelib.tooling.specs import get, names

BOUNDS = {
    "general_inputs": {
        "n": "int [2, 16]",
        "m": "int [2, 8]",
        "v_star": "2-8 items of real [-10, 10]",
        "phi_deg": "real [0, 90]",
        "df": "real (4, 100]",
        "aniso_ratio": "real [1, 100]",
        "mix_sep": "real [0, 5]",
        "mix_std": "real (0, 5]",
        "mix_shift": "real [-5, 5]",
        "samples": "int [1000, 10000000]",
        "replicates": "int [2, 64]",
        "fp_steps": "int [10, 5000]",
        "cgd_steps": "int [100, 100000]",
        "cgd_batch": "int [1, 100000]",
        "lr": "real (0, 2]",
        "phis_plot": "int [2, 181]",
        "seed": "int [0, 2147483647]",
    },
    "misspecified": {
        "a": "2-2 items of real [-100, 100]",
        "n": "int [1, 50]",
        "a_norms": "1-8 items of real (0, 100]",
        "stes": "1-3 items",
        "lr": "real (0, 1]",
        "steps": "int [100, 100000]",
        "plane_steps": "int [2, 2000]",
        "starts": "1-6 items of 2-2 items of real [-10, 10]",
        "v0": "real [-10, 10]",
        "noise": "real [0, 10]",
        "samples": "int [10000, 10000000]",
        "seed": "int [0, 2147483647]",
    },
    "practice": {
        "archs": "1-2 items",
        "bits": "1-4 items of int [1, 8]",
        "stes": "1-3 items",
        "seeds": "2-10 items of int [0, 2147483647]",
        "epochs_mlp": "int [1, 500]",
        "epochs_cnn": "int [1, 500]",
        "lr": "real (0, 1]",
        "batch_size": "int [8, 1024]",
        "lloyd_samples": "int [1000, 10000000]",
        "lloyd_seed": "int [0, 2147483647]",
        "scale_bits": "1-4 items of int [1, 8]",
        "scale_epochs": "int [1, 500]",
        "repel_bits": "int [1, 8]",
        "repel_lrs": "1-6 items of real (0, 1]",
        "repel_epochs": "int [1, 200]",
        "data_seed": "int [0, 2147483647]",
    },
    "primer": {
        "x_max": "real (1, 10]",
        "scales": "1-10 items of real (0, 1000]",
        "m": "int [1, 64]",
        "n": "int [1, 64]",
        "batch": "int [1, 100000]",
        "bits": "int [1, 8]",
        "alpha": "real (0, 10]",
        "seed": "int [0, 2147483647]",
    },
    "proper": {
        "ste_modules": "0-4 items",
        "stes": "1-8 items",
        "scales": "1-10 items of real (0, 1000]",
        "m": "int [2, 8]",
        "n": "int [2, 16]",
        "batch": "int [10, 100000]",
        "a": "2-2 items of real [-10, 10]",
        "lr": "real (0, 1]",
        "steps": "int [100, 100000]",
        "samples": "int [1000, 2000000]",
        "w_norms": "1-5 items of real (0, 100]",
        "digits_epochs": "int [1, 200]",
        "digits_seeds": "2-10 items of int [0, 2147483647]",
        "seed": "int [0, 2147483647]",
    },
    "scale_symmetry": {
        "distributions": "1-7 items",
        "label_models": "1-5 items",
        "noise": "real [0, 10]",
        "m": "int [1, 16]",
        "n": "int [2, 16]",
        "scales": "1-20 items of real (0, 1e+06]",
        "table_samples": "int [10, 100000]",
        "samples": "int [1000, 2000000]",
        "c_check": "real (0, 1000]",
        "bandwidth": "real (0, 0.5]",
        "norms": "3-60 items of real (0, 10000]",
        "lr": "real (0, 1]",
        "steps": "int [10, 100000]",
        "fit_norms": "2-2 items of real [1, 1e+06]",
        "seed": "int [0, 2147483647]",
    },
    "yin_gaussian": {
        "m": "int [2, 32]",
        "n": "int [2, 64]",
        "teacher_seed": "int [0, 2147483647]",
        "init_seed": "int [0, 2147483647]",
        "mc_seed": "int [0, 2147483647]",
        "sgd_seed": "int [0, 2147483647]",
        "mc_samples": "int [1000, 2000000]",
        "stes": "3-3 items",
        "w_norms": "1-5 items of real (0, 100]",
        "lr": "real (0, 2]",
        "steps": "int [10, 100000]",
        "seeds": "int [1, 4096]",
        "loss_tol": "real (0, 0.1]",
        "near": "real (0, 1]",
        "batch_sizes": "1-4 items of int [1, 4096]",
        "sgd_seeds": "int [1, 4096]",
        "sgd_streams": "int [2, 64]",
        "sgd_steps": "int [10, 100000]",
        "sgd_loss_tol": "real (0, 1]",
        "variant_seeds": "int [1, 4096]",
    },
}


def bounds(spec) -> str | None:
    """The bounds of one parameter as written in ``BOUNDS`` (None: it has none)."""
    if isinstance(spec, Int | Real):
        return spec.describe().replace("an integer in ", "int ").replace("a finite number in ", "real ")
    if isinstance(spec, Seq):
        inner = bounds(spec.of)
        return f"{spec.min_len}-{spec.max_len} items" + (f" of {inner}" if inner else "")
    return None


def test_bounds_are_the_reviewed_ones():
    found = {ch: {k: b for k, v in get(ch).params.items() if (b := bounds(v))} for ch in names()}
    assert found == BOUNDS


def edges(spec) -> list[tuple[object, bool]]:
    """(value, accepted) pairs at each end of ``spec``: the last accepted, the first refused."""
    out: list[tuple[object, bool]] = []
    if isinstance(spec, Int):
        for end, step in ((spec.low, -1), (spec.high, 1)):
            if end is not None:
                out += [(end, True), (end + step, False)]
    elif isinstance(spec, Real):
        for end, is_open, away in ((spec.low, spec.low_open, -math.inf),
                                   (spec.high, spec.high_open, math.inf)):
            if math.isfinite(end):
                inside = math.nextafter(end, -away)
                out += [(end, False), (inside, True)] if is_open else \
                    [(end, True), (math.nextafter(end, away), False)]
    elif isinstance(spec, Seq):
        for v, ok in edges(spec.of):  # the item's own bounds, first in a list of valid length
            fill = [x for x in valid_items(spec.of, spec.min_len + 1) or [] if x != v]
            out.append(([v, *fill[:max(spec.min_len, 1) - 1]], ok))
        for n, ok in ((spec.min_len, True), (spec.min_len - 1, False),
                      (spec.max_len, True), (spec.max_len + 1, False)):
            items = valid_items(spec.of, n)
            if n >= 0 and items is not None:
                out.append((items, ok))
    return out


def valid_items(spec, n: int) -> list | None:
    """n distinct values that ``spec`` accepts (None when it has fewer than n)."""
    if isinstance(spec, Int):
        low = spec.low if spec.low is not None else 0
        values = [low + i for i in range(n)]
    elif isinstance(spec, Real):
        low = spec.low if math.isfinite(spec.low) else -1.0
        high = spec.high if math.isfinite(spec.high) else low + 2.0
        values = [low + (high - low) * (i + 1) / (n + 1) for i in range(n)]
    elif isinstance(spec, Choice):
        values = list(spec.options)[:n]
    elif isinstance(spec, SteName):
        values = ["identity", "relu", "crelu", "hardtanh", "approxsign", "sigmoid"][:n]
    elif isinstance(spec, Module):
        values = ["math", "json", "string", "textwrap", "fractions"][:n]
    elif isinstance(spec, Seq):
        item = valid_items(spec.of, max(spec.min_len, 1))
        values = [item] * n if item is not None else []
    else:
        return None
    return values if len(values) == n else None


CASES = [(ch, name, value, ok) for ch in names() for name, spec in get(ch).params.items()
         for value, ok in edges(spec)]


def test_every_bounded_parameter_has_edge_cases():
    covered = {(ch, name) for ch, name, _, _ in CASES}
    assert covered == {(ch, k) for ch, table in BOUNDS.items() for k in table}


@pytest.mark.parametrize("chapter, name, value, accepted", CASES,
                         ids=[f"{c}-{n}-{'ok' if ok else 'no'}{i}" for i, (c, n, _, ok) in enumerate(CASES)])
def test_each_bound_from_both_sides(chapter, name, value, accepted):
    spec = get(chapter).params[name]
    if accepted:
        spec.check(name, value)
    else:
        with pytest.raises(ValueError, match=f"parameter {name}"):
            spec.check(name, value)
