"""Show only the digits a computation determines (the book's reproducibility page).

A float64 computation that sums in another order (other CPU kernels, another thread count, a
GPU) changes the last bits of its result: relative differences of about 1e-12 are normal, and a
quantity that is zero in exact arithmetic comes out as 0, 1e-17 or -2e-16 depending on the
machine. The book therefore prints and glues numbers through two rules:

* an **absolute floor** (``FLOOR`` = 1e-12 unless a call says otherwise): a value whose size is
  below it is zero to rounding and is shown as ``<1e-12``, never as its raw digits or sign;
* **significant digits**: a glued float is stored rounded to ``DIGITS`` = 6 significant digits
  (far above the ~1e-12 relative noise, so every machine stores the same record).

>>> fmt(1.9e-16, "+.1e"), fmt(-2.1e-15, ".1e"), fmt(0.7632023628, ".4f")
('<1e-12', '<1e-12', '0.7632')
>>> fmts([0.0, 2.5e-17, 0.25], ".2e")
'<1e-12, <1e-12, 2.50e-01'
>>> determined(190.04483751521462), determined(-4.2e-16)
(190.045, '<1e-12')

A Monte Carlo estimate is printed to the digit its standard error determines (:func:`fmt_se`),
and :func:`intervals` reports where a mask holds on a grid, to the digits a chapter prints:

>>> fmt_se(0.761549, 0.0042), fmt_se(0.5851, 0.0123), fmt_se(1.0, 0.0)
('0.762 ± 0.004', '0.585 ± 0.012', '1')
>>> intervals([0.0, 0.25, 0.5, 0.75, 1.0], [True, True, False, False, True])
[(0.0, 0.25), (1.0, 1.0)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

FLOOR = 1e-12  #: below this size a value is zero to rounding (float64, inputs of order 1)
DIGITS = 6  #: significant digits of a glued float

_WIDTH = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(\d+)")


def _check(floor: float, digits: int | None = None) -> None:
    if not (isinstance(floor, Real) and math.isfinite(floor) and floor > 0):
        raise ValueError(f"floor={floor!r}: must be a finite number > 0")
    if digits is not None and not (isinstance(digits, Integral) and 1 <= digits <= 15):
        raise ValueError(f"digits={digits!r}: must be an integer from 1 to 15")


def _scalar(x: Any) -> float | int:
    """A Python float (or int) from a float, int, NumPy scalar or one-element tensor."""
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"x={x!r}: must be a real number (float, int, NumPy or torch scalar)")
    return x if isinstance(x, Integral) else float(x)


def floor_for(scale: float) -> float:
    """The floor for values whose natural size is ``scale`` (e.g. |a|^2 for a gradient of the
    linear teacher): ``FLOOR`` times the order of magnitude of ``scale`` (the power of ten at or
    below it), and ``FLOOR`` itself for a scale below 10. ``floor_for(2e4)`` is 1e-8: rounding of
    float64 grows with the values."""
    if not (isinstance(scale, Real) and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale={scale!r} must be a finite number >= 0")
    return FLOOR if scale < 10 else FLOOR * 10.0 ** math.floor(math.log10(scale))


def below_floor(x: Any, *, floor: float = FLOOR) -> bool:
    """True when ``|x| < floor``: the value is zero to rounding (NaN is not)."""
    _check(floor)
    return abs(_scalar(x)) < floor


def floor_text(floor: float = FLOOR) -> str:
    """The text shown for a value below ``floor``: ``'<1e-12'`` for the default."""
    _check(floor)
    mantissa, _, exp = f"{floor:.0e}".partition("e")
    return f"<{mantissa}e{int(exp)}"


def fmt(x: Any, spec: str = ".4g", *, floor: float = FLOOR) -> str:
    """``format(x, spec)``, or ``floor_text(floor)`` when ``|x| < floor``.

    The width in ``spec`` (``"10.4f"``, ``">8.1e"``) is kept, so tables stay aligned. NaN and
    infinities are formatted as they are. A value that rounds to zero in ``spec`` is shown as
    zero is (``fmt(-3e-9, "+.4f")`` is ``"+0.0000"``, as for ``+3e-9``): the sign of a number
    below the last digit shown is rounding, not a result.
    """
    _check(floor)
    value = _scalar(x)
    if not abs(value) < floor:
        return _format(value, spec)
    width = _WIDTH.match(spec)
    return floor_text(floor).rjust(int(width.group(1)) if width else 0)


def _format(value: float | int, spec: str) -> str:
    """``format(value, spec)``, with a value that rounds to zero shown as zero is (no sign)."""
    text = format(value, spec)
    if math.isfinite(value) and _is_zero(text):  # -0.0 as well
        return format(0.0, spec)
    return text


def _is_zero(text: str) -> bool:
    """Whether a formatted number reads as zero (``-0.0000``, ``+0.00e+00``, ``0``)."""
    try:
        return float(text.strip().replace(",", "").rstrip("%")) == 0
    except ValueError:
        return False


def fmts(xs: Iterable[Any], spec: str = ".4g", *, floor: float = FLOOR, sep: str = ", ") -> str:
    """:func:`fmt` of every element of a sequence, array or tensor (flattened), joined by ``sep``."""
    if hasattr(xs, "flatten"):
        xs = xs.flatten().tolist()
    return sep.join(fmt(x, spec, floor=floor) for x in xs)


def significant(x: float, digits: int = DIGITS) -> float:
    """``x`` rounded to ``digits`` significant digits (0, NaN and infinities unchanged)."""
    _check(FLOOR, digits)
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits - 1}e}")


def determined(x: Any, *, digits: int = DIGITS, floor: float = FLOOR) -> Any:
    """The value a chapter glues: a float rounded to ``digits`` significant digits, or the text
    ``floor_text(floor)`` when it is below ``floor``. Integers, booleans and strings are kept."""
    _check(floor, digits)
    if isinstance(x, (str, bool, Integral)):
        return x
    value = _scalar(x)
    if abs(value) < floor:
        return floor_text(floor)
    return significant(value, digits)


def glue(name: str, value: Any, *, digits: int = DIGITS, floor: float = FLOOR, exact: bool = False,
         display: bool = False) -> None:
    """``myst_nb.glue(name, determined(value), display=display)``.

    Returns None, like ``myst_nb.glue``, so that a glue on a cell's last line shows nothing;
    :func:`determined` gives the value it stores.

    A glued value below ``floor`` is the text ``<1e-12``: refer to it in the prose as
    ``{glue:text}`name:s``` (the string format). ``exact=True`` glues the value unchanged, for a
    number no rounding can touch: a count, a ratio of counts, or a zero that holds sample by
    sample (the scale-symmetry checks compare identical floating-point operations).
    """
    kept = value if exact else determined(value, digits=digits, floor=floor)
    if exact and hasattr(kept, "item"):
        kept = kept.item()
    from myst_nb import glue as _glue  # the book's dependency, imported only when gluing

    _glue(name, kept, display=display)


def se_decimals(se: Any) -> int:
    """Decimal places that show a standard error ``se`` > 0 to one significant digit, or to two
    when that digit is a 1 (``0.0042`` -> 3, ``0.012`` -> 3, ``0.0096`` -> 3: it rounds to
    ``0.010``); at least 0."""
    value = _scalar(se)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"se={se!r}: must be a finite number > 0")
    mantissa, _, exp = f"{value:.0e}".partition("e")
    return max(-int(exp) + (mantissa == "1"), 0)


def fmt_se(x: Any, se: Any, *, floor: float = FLOOR, sep: str = " ± ") -> str:
    """``x`` and its standard error ``se`` as ``"x ± se"``, both to the decimal place
    :func:`se_decimals` gives: the digits of ``x`` that the sampling error leaves determined.

    An ``se`` below ``floor`` means no sampling error to rounding (every sample gave the same
    value): ``x`` is then shown alone, as :func:`fmt` with ``".6g"`` shows it. A value that rounds
    to zero is shown without a sign, as in :func:`fmt`.
    """
    _check(floor)
    value, err = _scalar(x), _scalar(se)
    if not (math.isfinite(err) and err >= 0):
        raise ValueError(f"se={se!r}: must be a finite number >= 0")
    if err < floor:
        return fmt(value, ".6g", floor=floor)
    spec = f".{se_decimals(err)}f"
    return f"{_format(value, spec)}{sep}{format(err, spec)}"


def intervals(x: Iterable[Any], where: Iterable[Any], *, decimals: int = 4) -> list[tuple[float, float]]:
    """The maximal runs of consecutive points of a grid ``x`` where the mask ``where`` holds, as
    ``(first x, last x)`` pairs rounded to ``decimals`` places (lists, arrays or 1-D tensors of
    the same length; the grid in increasing order). An empty mask gives ``[]``."""
    xs = x.flatten().tolist() if hasattr(x, "flatten") else list(x)
    mask = where.flatten().tolist() if hasattr(where, "flatten") else list(where)
    if len(xs) != len(mask):
        raise ValueError(f"x has {len(xs)} points and where {len(mask)}: give one flag per point")
    if not (isinstance(decimals, Integral) and 0 <= decimals <= 15):
        raise ValueError(f"decimals={decimals!r}: must be an integer from 0 to 15")
    runs, start = [], None
    for i, flag in enumerate([*mask, False]):  # a False at the end closes the last run
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    # + 0.0: a bound that rounds to -0.0 is shown as 0.0
    return [(round(float(xs[a]), decimals) + 0.0, round(float(xs[b]), decimals) + 0.0) for a, b in runs]
