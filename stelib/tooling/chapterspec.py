"""What a chapter's parameters are: for each one its default, its allowed values and what it
means (:class:`Param`), and the rules spanning them (:class:`Rule`), together a
:class:`ChapterSpec`.

The specs of the book's chapters (:mod:`stelib.specs`, one module per chapter) are written
with these classes; :mod:`stelib.params` re-exports them and adds what needs a notebook or a
chapter's name (reading a parameters cell, ``check_chapter``). This module imports nothing of
the book's tooling, so a spec module can import it without a circle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from numbers import Real as _Real
from typing import Any

__all__ = [
    "DEVICE", "DEVICE_RULE", "Bool", "ChapterSpec", "Choice", "Int", "Module", "Param", "Parameter",
    "Real", "Rule", "Seq", "Spec", "SteName", "device_present", "short", "validate",
]

MAX_SHOWN = 80  # characters of a value echoed in an error message


def short(value: Any, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 400-digit integer is not echoed in full)."""
    try:
        text = repr(value)
    except ValueError:  # int too large to convert (sys.int_info.default_max_str_digits)
        text = f"<integer of more than {len(str(2**64))} digits>"
    if len(text) > limit:
        text = f"{text[:limit - 20]}...<{len(text)} characters>"
    return text


class Spec:
    """Allowed values of one parameter: ``check(name, value)`` raises, ``describe()`` says what."""

    def check(self, name: str, value: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def _fail(self, name: str, value: Any) -> None:
        raise ValueError(f"parameter {name}={short(value)} is not allowed: expected {self.describe()}")


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    short = format(x, "g")
    return short if float(short) == x else repr(x)


@dataclass(frozen=True)
class Int(Spec):
    """An integer in ``[low, high]`` (booleans are not integers here)."""

    low: int | None = None
    high: int | None = None

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, Integral):
            self._fail(name, value)
        below = self.low is not None and value < self.low
        if below or (self.high is not None and value > self.high):
            self._fail(name, value)

    def describe(self) -> str:
        lo = "-inf" if self.low is None else str(self.low)
        hi = "inf" if self.high is None else str(self.high)
        return f"an integer in [{lo}, {hi}]"


@dataclass(frozen=True)
class Real(Spec):
    """A finite real number (an int is accepted) in ``[low, high]``; ends may be open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, _Real):
            self._fail(name, value)
        try:
            x = float(value)
        except OverflowError:  # an integer beyond the float range
            self._fail(name, value)
        too_low = x <= self.low if self.low_open else x < self.low
        too_high = x >= self.high if self.high_open else x > self.high
        if not math.isfinite(x) or too_low or too_high:
            self._fail(name, value)

    def describe(self) -> str:
        lo = "(" if self.low_open or self.low == -math.inf else "["
        hi = ")" if self.high_open or self.high == math.inf else "]"
        return f"a finite number in {lo}{_fmt(self.low)}, {_fmt(self.high)}{hi}"


class Choice(Spec):
    """One of the given options (compared with ``==``, so types matter: ``1`` is not ``"1"``)."""

    def __init__(self, *options: Any):
        if not options:
            raise ValueError("Choice needs at least one option")
        self.options = tuple(options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and other.options == self.options

    def __hash__(self) -> int:
        return hash(self.options)

    def __repr__(self) -> str:
        return f"Choice({', '.join(map(repr, self.options))})"

    def check(self, name: str, value: Any) -> None:
        if isinstance(value, list | dict | set) or not any(
            value == o and type(value) is type(o) for o in self.options
        ):
            self._fail(name, value)

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.options))


class _NoState(Spec):
    """A spec without parameters: equal to every instance of its class, shown as ``Name()``."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SteName(_NoState):
    """A registered STE name (:func:`stelib.ste.names`), looked up when the value is checked.

    So an STE registered after the chapter's ``SPEC`` was written (by a :class:`Module`
    parameter checked earlier, or by the reader's own code) is accepted.
    """

    def check(self, name: str, value: Any) -> None:
        from stelib.core.ste import names

        if not isinstance(value, str) or value not in names():
            self._fail(name, value)

    def describe(self) -> str:
        from stelib.core.ste import names

        return "a registered STE name, one of " + ", ".join(map(repr, names()))


class Module(_NoState):
    """The name of an importable Python module; checking it **imports** it.

    For a module that registers STEs (:func:`stelib.ste.register`) on import: list it in
    ``SPEC`` *before* the parameters that name those STEs, so they are registered when checked.
    """

    def check(self, name: str, value: Any) -> None:
        import importlib
        import re

        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", value):
            self._fail(name, value)
        try:
            importlib.import_module(value)
        except Exception as exc:  # report any import failure as a bad parameter value
            missing = isinstance(exc, ModuleNotFoundError) and value.startswith(str(exc.name or "\0"))
            hint = " (is its folder on PYTHONPATH or the current folder?)" if missing else ""
            raise ValueError(f"parameter {name}={value!r} is not allowed: importing it failed with "
                             f"{type(exc).__name__}: {exc}{hint}") from None

    def describe(self) -> str:
        return "the name of an importable Python module (imported when checked)"


@dataclass(frozen=True)
class Bool(Spec):
    """``True`` or ``False``."""

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, bool):
            self._fail(name, value)

    def describe(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Seq(Spec):
    """A list or tuple whose items all satisfy ``of``, with ``min_len <= len <= max_len``."""

    of: Spec
    min_len: int = 0
    max_len: int | None = None
    unique: bool = False

    def check(self, name: str, value: Any) -> None:
        if not isinstance(value, list | tuple):
            self._fail(name, value)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            self._fail(name, value)
        if self.unique and len(set(map(repr, value))) != len(value):
            self._fail(name, value)
        for i, item in enumerate(value):
            try:
                self.of.check(f"{name}[{i}]", item)
            except ValueError as exc:
                raise ValueError(f"parameter {name}={short(value)} is not allowed: "
                                 f"expected {self.describe()} ({exc})") from None

    def describe(self) -> str:
        if self.max_len is None:
            n = f"at least {self.min_len}" if self.min_len else "any number of"
        elif self.min_len == self.max_len:
            n = str(self.min_len)
        else:
            n = f"{self.min_len} to {self.max_len}"
        u = " distinct" if self.unique else ""
        return f"a list of {n}{u} items, each {self.of.describe()}"


def validate(spec: Mapping[str, Spec], /, **values: Any) -> None:
    """Check every parameter value against ``spec``; raise ``ValueError`` at the first bad one.

    The keywords must name exactly the parameters in ``spec`` (a parameter without a spec, or
    a spec without a value, is an error in the chapter, reported as such).
    """
    missing = sorted(set(spec) - set(values))
    extra = sorted(set(values) - set(spec))
    if missing or extra:
        raise ValueError(f"the spec and the validated values disagree: no value for {missing}, "
                         f"no spec for {extra}")
    for name, allowed in spec.items():
        allowed.check(name, values[name])


@dataclass(frozen=True)
class Rule:
    """A condition spanning parameters: ``holds(values)`` is true for an allowed combination.

    ``text`` says the condition in words (shown by ``stelib params`` and in error messages);
    ``names`` are the parameters it involves (their values are echoed when it fails).
    """

    text: str
    holds: Callable[[Mapping[str, Any]], bool]
    names: tuple[str, ...] = ()

    def check(self, values: Mapping[str, Any]) -> None:
        if not self.holds(values):
            shown = [f"{k}={short(values[k])}" for k in self.names if k in values]
            if len(shown) == 1:
                raise ValueError(f"parameter {shown[0]} is not allowed: expected {self.text}")
            raise ValueError(f"parameters {', '.join(shown)} are not allowed together: expected {self.text}")


@dataclass(frozen=True)
class Param:
    """One parameter of a chapter: its ``default`` (the value of the chapter's parameters cell),
    the values it may take (``allowed``, a :class:`Spec`) and what it means (``meaning``, the
    cell's comment on that line)."""

    default: Any
    allowed: Spec
    meaning: str

    def __post_init__(self) -> None:
        if not isinstance(self.allowed, Spec):
            raise TypeError(f"Param allowed={short(self.allowed)} is not allowed: expected a Spec "
                            "(Int, Real, Choice, Seq, ...)")
        if not isinstance(self.meaning, str) or not self.meaning.strip() or "=" in self.meaning:
            raise ValueError(f"Param meaning={short(self.meaning)} is not allowed: expected a "
                             "non-empty text without '=' (papermill drops comments holding one)")


@dataclass(frozen=True)
class Parameter:
    """One parameter as shown to a reader: name, default, meaning and allowed values in words."""

    name: str
    default: Any
    comment: str
    allowed: str = ""


@dataclass(frozen=True)
class ChapterSpec:
    """One chapter's parameters, in the order of its parameters cell, and the rules spanning
    them. ``check(values)`` checks the values, then the rules, with the given values (never with
    the defaults in place of a new value).

    ``params`` maps each name to a :class:`Param` (default, allowed values, meaning), as the
    book's specs do; a bare :class:`Spec` per name (allowed values only) is accepted too, for a
    spec whose defaults live only in its notebook. Afterwards ``params`` holds the allowed
    values, ``defaults`` and ``meanings`` the rest (empty for bare specs).
    """

    name: str
    params: Mapping[str, Spec]
    rules: tuple[Rule, ...] = field(default=())
    defaults: Mapping[str, Any] = field(default_factory=dict, init=False)
    meanings: Mapping[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        entries = dict(self.params)
        full = [k for k, v in entries.items() if isinstance(v, Param)]
        if full and len(full) != len(entries):
            bare = next(k for k, v in entries.items() if not isinstance(v, Param))
            raise ValueError(f"chapter {self.name!r}: parameter {bare} has no Param(default, allowed, "
                             "meaning) while others have one: give every parameter one, or none")
        bad = next((k for k, v in entries.items() if not isinstance(v, Param | Spec)), None)
        if bad is not None:
            raise TypeError(f"chapter {self.name!r}: parameter {bad}={short(entries[bad])} is not "
                            "allowed: expected a Param or a Spec")
        object.__setattr__(self, "params", {k: v.allowed if isinstance(v, Param) else v
                                            for k, v in entries.items()})
        object.__setattr__(self, "defaults", {k: entries[k].default for k in full})
        object.__setattr__(self, "meanings", {k: entries[k].meaning for k in full})

    def check(self, values: Mapping[str, Any]) -> None:
        validate(self.params, **values)
        for rule in self.rules:
            rule.check(values)

    def described(self) -> list[Parameter]:
        """Every parameter with its default, meaning and allowed values; ``ValueError`` for a
        spec without defaults (its notebook holds them: :func:`stelib.params.describe`)."""
        if not self.defaults:
            raise ValueError(f"chapter {self.name!r}: the spec holds no defaults (they are in the "
                             "chapter's parameters cell)")
        return [Parameter(k, self.defaults[k], self.meanings[k], s.describe())
                for k, s in self.params.items()]


DEVICE = Choice("cpu", "cuda", "auto")  # every chapter's ``device`` parameter


def device_present(values: Mapping[str, Any]) -> bool:
    """``device="cuda"`` needs a CUDA GPU visible to PyTorch (``"auto"`` falls back to the CPU)."""
    if values["device"] != "cuda":
        return True
    import torch

    return bool(torch.cuda.is_available())


DEVICE_RULE = Rule("device 'cpu' or 'auto' on a machine without a CUDA GPU", device_present, ("device",))

