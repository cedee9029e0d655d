"""stelib.rounding: only determined digits are printed or glued, and the stored chapters obey it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stelib import rounding
from stelib.rounding import (
    FLOOR,
    below_floor,
    determined,
    floor_text,
    fmt,
    fmt_se,
    fmts,
    intervals,
    se_decimals,
    significant,
)

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def test_floor_text():
    assert floor_text() == "<1e-12"
    assert floor_text(1e-10) == "<1e-10"
    assert floor_text(5e-9) == "<5e-9"


@pytest.mark.parametrize("x", [0.0, -0.0, 1.9e-16, -4.2e-15, 9.99e-13, np.float64(2e-17), torch.tensor(-1e-16)])
def test_below_floor_prints_the_floor_whatever_the_sign(x):
    for spec in (".1e", "+.1e", ".4f", "+.4f", ".3g", ""):
        assert fmt(x, spec) == "<1e-12"
    assert below_floor(x)


def test_above_floor_is_formatted_as_usual():
    assert fmt(1e-12, ".1e") == "1.0e-12"  # the floor itself is shown
    assert fmt(-0.6798875213, "+.4f") == "-0.6799"
    assert fmt(190.04483751521462, ".0f") == "190"
    assert fmt(torch.tensor(2.5), ".2f") == "2.50"
    assert fmt(3, "d") == "3"
    assert math.isnan(float(fmt(float("nan"), ".2f")))
    assert fmt(float("inf"), ".1e") == "inf"
    assert not below_floor(float("nan"))


def test_a_value_that_rounds_to_zero_has_no_sign():
    """The sign of a number below the last digit shown is rounding: shown as zero is."""
    assert fmt(-3e-9, "+.4f") == fmt(3e-9, "+.4f") == "+0.0000"
    assert fmt(-3e-9, ".4f") == "0.0000" and fmt(-4e-5, "8.4f") == "  0.0000"
    assert fmt(-6e-5, ".4f") == "-0.0001" and fmt(-3e-9, ".2e") == "-3.00e-09"
    assert fmt(-1e-6, ".1%") == "0.0%" and fmt(-0.4, ".0f") == "0"


def test_width_is_kept():
    assert fmt(1e-17, "10.4f") == "    <1e-12"
    assert fmt(1e-17, ">8.1e") == "  <1e-12"
    assert fmt(1e-17, "+6.1e") == "<1e-12"
    assert len(fmt(0.5, "10.4f")) == len(fmt(0.0, "10.4f")) == 10


def test_a_floor_of_ones_own():
    assert fmt(3e-11, ".1e") == "3.0e-11"
    assert fmt(3e-11, ".1e", floor=1e-10) == "<1e-10"


def test_fmts_flattens_tensors_and_arrays():
    assert fmts(torch.tensor([[0.0, 2.5e-17], [0.25, -1.0]]), ".2e") == "<1e-12, <1e-12, 2.50e-01, -1.00e+00"
    assert fmts(np.array([1.0, 1e-20]), ".1f", sep=" | ") == "1.0 | <1e-12"
    assert fmts([], ".1f") == ""


def test_determined():
    assert determined(190.04483751521462) == 190.045
    assert determined(-0.6243699636683889) == -0.62437
    assert determined(2.6599398292859178e-06) == 2.65994e-06
    assert determined(-4.2e-16) == "<1e-12"
    assert determined(0.0) == "<1e-12"
    assert determined(7, digits=2) == 7 and determined(True) is True and determined("none") == "none"
    assert determined(np.float64(0.5)) == 0.5 and isinstance(determined(torch.tensor(0.5)), float)
    assert determined(123456.0, digits=3) == 123000.0


@given(st.floats(min_value=1e-6, max_value=1e6), st.floats(min_value=-1e-13, max_value=1e-13))
def test_a_relative_perturbation_of_1e13_rarely_moves_the_glued_value(x, eps):
    """Six significant digits leave a margin of 1e6 over the ~1e-12 relative noise: the stored
    record changes only when x lies within 1e-13 relative of a rounding boundary."""
    a, b = significant(x), significant(x * (1 + eps))
    assert a == b or abs(a - b) <= 1.01 * 10 ** (math.floor(math.log10(abs(x))) - 5)


@pytest.mark.parametrize(
    "call",
    [
        lambda: fmt(1.0, ".1f", floor=0),
        lambda: fmt(1.0, ".1f", floor=float("nan")),
        lambda: determined(1.0, digits=0),
        lambda: determined(1.0, digits=16),
        lambda: significant(1.0, digits=2.5),
    ],
)
def test_bad_floor_or_digits_is_refused(call):
    with pytest.raises(ValueError, match="floor=|digits="):
        call()


@pytest.mark.parametrize("x", ["0.1", None, [1.0], torch.ones(2), True])
def test_non_scalars_are_refused(x):
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        fmt(x)


def test_glue_stores_the_determined_value(monkeypatch):
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: seen.update({name: (value, display)}))
    assert rounding.glue("a", 190.04483751521462) is None  # nothing shown on a cell's last line
    rounding.glue("b", 3e-17)
    rounding.glue("c", 0.6953125, exact=True)
    rounding.glue("d", torch.tensor(0.0), exact=True, display=True)
    assert seen == {"a": (190.045, False), "b": ("<1e-12", False), "c": (0.6953125, False), "d": (0.0, True)}


def test_se_decimals_keep_one_significant_digit_or_two_after_a_one():
    assert [se_decimals(x) for x in (0.0042, 0.012, 0.0096, 0.05, 0.95, 3.2, 14.0)] == [3, 3, 3, 2, 1, 0, 0]
    for bad in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="se="):
            se_decimals(bad)


def test_fmt_se_shows_the_digits_the_standard_error_determines():
    assert fmt_se(0.761549, 0.0042) == "0.762 ± 0.004"
    assert fmt_se(0.58512, 0.0123) == "0.585 ± 0.012"
    assert fmt_se(0.0148, 0.0051) == "0.015 ± 0.005"
    assert fmt_se(114.3, 3.2) == "114 ± 3"
    assert fmt_se(torch.tensor(-0.0004), np.float64(0.01)) == "0.000 ± 0.010"  # no sign below the digits
    assert fmt_se(-0.25, 0.04, sep=" +- ") == "-0.25 +- 0.04"
    assert fmt_se(1.0, 0.0) == "1" and fmt_se(0.0, 1e-17) == "<1e-12"  # no sampling error: the value
    with pytest.raises(ValueError, match="se="):
        fmt_se(1.0, -0.1)
    with pytest.raises(ValueError, match="se="):
        fmt_se(1.0, float("nan"))


def test_intervals_are_the_maximal_runs_of_a_mask():
    x = 0.5 * torch.arange(-256, 1025, dtype=torch.float64) / 256
    mask = ((x >= -0.25) & (x <= 0.0)) | ((x >= 1.5) & (x < 1.75))
    assert intervals(x, mask) == [(-0.25, 0.0), (1.5, 1.748)]
    assert intervals(x, mask, decimals=6) == [(-0.25, 0.0), (1.5, 1.748047)]
    assert intervals([0, 1, 2, 3], np.array([True, False, True, True])) == [(0.0, 0.0), (2.0, 3.0)]
    assert intervals([0.0, 1.0], [False, False]) == [] and intervals([], []) == []
    assert intervals([-1e-6, 1.0], [True, False]) == [(0.0, 0.0)]  # -0.0 shown as 0.0
    assert str(intervals([-1e-6], [True])[0][0]) == "0.0"
    with pytest.raises(ValueError, match="x has 2 points and where 1"):
        intervals([0.0, 1.0], [True])
    with pytest.raises(ValueError, match="decimals=-1"):
        intervals([0.0], [True], decimals=-1)


# --------------------------------------------------------------- the stored chapters obey it
def _outputs(path: Path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            texts = [("".join(out["text"]), False)] if "text" in out else []
            texts += [("".join(v), "papermill.record" in k) for k, v in data.items() if k.endswith("text/plain")]
            for text, glued in texts:
                yield i, text, glued


#: printed floats: at most 6 decimals, so at most 7 significant digits for values below 10
#: (the Reproducibility page promises it)
PRINTED_DIGITS = 7


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_no_stored_output_shows_rounding_noise(chapter):
    """No chapter prints or glues a nonzero number below the floor, glues a float with more
    significant digits than stelib.rounding keeps, or prints one with more than 7."""
    bad = []
    for i, text, glued in _outputs(chapter):
        for token in NUMBER.findall(text):
            value = float(token)
            if 0 < abs(value) < FLOOR:
                bad.append(f"cell {i}: {token} below {FLOOR:g}")
            if value == 0 and token.startswith("-"):  # a negative zero: the sign of noise
                bad.append(f"cell {i}: {token} (a sign below the last digit shown)")
            mantissa = token.lstrip("+-").split("e")[0].split("E")[0].replace(".", "").lstrip("0")
            exact = float(value * 2**16).is_integer()  # a ratio of counts such as 89/128
            if glued and "." in token and len(mantissa) > rounding.DIGITS and not exact:
                bad.append(f"cell {i}: glued {token} has more than {rounding.DIGITS} significant digits")
            if not glued and "." in token and len(mantissa) > PRINTED_DIGITS and not exact:
                bad.append(f"cell {i}: printed {token} has more than {PRINTED_DIGITS} significant digits")
    assert not bad, f"{chapter.name}: " + "; ".join(bad)


def test_floor_for_grows_with_the_scale_in_powers_of_ten():
    from stelib.core.rounding import FLOOR, floor_for

    assert floor_for(0) == floor_for(1.25) == floor_for(9.99) == FLOOR
    assert floor_for(10) == pytest.approx(1e-11) and floor_for(2e4) == pytest.approx(1e-8)
    assert floor_text(floor_for(2e4)) == "<1e-8"
    for bad in (-1.0, math.inf, math.nan, "1"):
        with pytest.raises(ValueError, match=r"scale=.* must be a finite number >= 0"):
            floor_for(bad)


def test_the_linear_teachers_tables_hide_rounding_at_any_teacher_size():
    """|a| = 141 (a = [100, 100]): the gradient on the minimising ray and the clipped ReLU's
    residual are rounding of values of order |a|^2 = 2e4; they print below the scaled floor."""
    from stelib.analyses import ms_c5, ms_rays

    a = [100.0, 100.0]
    ray = ms_rays.minimising_ray(a, [0.3816, 0.7632], ["crelu"])
    assert ray.scale == pytest.approx(2e4) and "|grad L| = <1e-8" in str(ray).splitlines()[0]
    rows = ms_c5.c5_closed_form_rows(a, ["relu", "crelu"])
    assert rows[0].cell("crelu") == "yes   <1e-8" and rows[0].cell("relu").startswith(" NO 2.9e+03")
    small = ms_c5.c5_closed_form_rows([1.0, 0.5], ["crelu"])
    assert small[0].scale == 1.25 and small[0].cell("crelu") == "yes  <1e-12"  # the chapter's
