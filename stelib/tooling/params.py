r"""Chapter parameters: one convention for every chapter notebook, read by papermill and the CLI.

The allowed values of a chapter's parameters live in the library, one module per chapter in
:mod:`stelib.specs` (``stelib/tooling/specs/<chapter>.py`` defines ``SPEC = ChapterSpec(...)``), so they
are readable, importable and testable without executing a notebook. A chapter notebook has,
right after its imports cell, exactly two cells:

1. A code cell **tagged** ``parameters`` (papermill's tag) holding plain assignments, one per
   line, each with a comment saying what the value *means* (no ``=`` in it: papermill's
   ``--help-notebook`` drops such lines; the allowed values are in the spec, not repeated here).
   Values are Python literals (numbers, strings, booleans, lists/tuples of those, ``None``)::

       ste = "crelu"  # surrogate derivative of the STE
       n = 2  # input dimension
       seed = 0  # random seed

2. A validation cell, tagged ``remove-cell`` (the rendered page does not show it), of one line::

       from stelib.tooling.params import check_chapter; check_chapter("primer", globals())

   :func:`check_chapter` checks every parameter against its :class:`Spec` and then every
   cross-parameter :class:`Rule` *with the values in the notebook's namespace* (the defaults,
   or papermill's injected values), raising ``ValueError`` naming the parameter, its value and
   what is allowed.

A spec module::

    from stelib.tooling.params import ChapterSpec, Choice, Int, Real, Rule

    SPEC = ChapterSpec("toy", {
        "ste": Choice("identity", "relu", "crelu"),
        "n": Int(1, 50),
        "m": Int(1, 50),
        "seed": Int(0, 2**31 - 1),
    }, rules=(Rule("m <= n", lambda v: v["m"] <= v["n"]),))

``stelib params CHAPTER`` shows the names, defaults and meanings of the parameters cell
(:func:`read_parameters`, which parses the cell and executes nothing) with the allowed values
and rules of the spec; ``stelib rerun`` checks new values with the same spec and rules
*before* papermill starts (:func:`check_overrides`). ``tools/convert_spec.py`` turns an
old-style chapter (a ``SPEC = {...}; validate(...)`` cell) into this form.

Checklist for a chapter notebook (``tests/test_params.py`` and ``tests/test_book.py`` check it):

- kernelspec ``python3``; the first code cell (imports) starts with ``%matplotlib inline``, so
  figures are stored as PNG whatever ``MPLBACKEND`` says;
- STE names: ``SteName()`` accepts every registered STE (:func:`stelib.ste.names`), including
  ones registered by a ``Module()`` parameter listed before it in ``SPEC``;
- seeds are parameters and generators are passed explicitly: same parameters, same printed
  numbers (nbval compares every text output with the stored one);
- no cell ends with ``;`` to hide a value (nbval does not honour it): write ``_ = ax.legend()``;
- no timings or memory addresses in printed text (``tests/sanitize.cfg`` masks only a few);
- at most 60 s for the whole chapter at default parameters;
- add it to ``_toc.yml`` (one ``- file: chapters/NAME`` line), add ``stelib/tooling/specs/NAME.py``
  and run ``stelib execute NAME`` to store its outputs and its execution time.

Command-line values are parsed by :func:`parse_value`: a Python literal if it is one
(``3``, ``0.1``, ``1e-3``, ``True``, ``None``, ``[1, 2]``, ``"text"``), ``inf``/``-inf``/``nan``
as floats, otherwise the raw string (so ``-p ste relu`` works without quotes).
``true``/``false`` (any case) are booleans.
"""

from __future__ import annotations

import ast
import copy
import functools
import io
import math
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from numbers import Real as _Real
from pathlib import Path
from typing import Any

__all__ = [
    "Bool", "ChapterSpec", "Choice", "Int", "Module", "Parameter", "Real", "Rule", "Seq", "Spec",
    "SteName", "check_chapter", "check_overrides", "describe", "parse_value", "read_parameters",
    "short", "validate",
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
            shown = ", ".join(f"{k}={short(values[k])}" for k in self.names if k in values)
            raise ValueError(f"parameters {shown} are not allowed together: expected {self.text}")


@dataclass(frozen=True)
class ChapterSpec:
    """Allowed values of one chapter's parameters (in the order of its parameters cell) and the
    rules spanning them. ``check(values)`` checks the values, then the rules, with the given
    values (never with the defaults in place of a new value)."""

    name: str
    params: Mapping[str, Spec]
    rules: tuple[Rule, ...] = field(default=())

    def check(self, values: Mapping[str, Any]) -> None:
        validate(self.params, **values)
        for rule in self.rules:
            rule.check(values)


DEVICE = Choice("cpu", "cuda", "auto")  # every chapter's ``device`` parameter


def device_present(values: Mapping[str, Any]) -> bool:
    """``device="cuda"`` needs a CUDA GPU visible to PyTorch (``"auto"`` falls back to the CPU)."""
    if values["device"] != "cuda":
        return True
    import torch

    return bool(torch.cuda.is_available())


DEVICE_RULE = Rule("device 'cpu' or 'auto' on a machine without a CUDA GPU", device_present, ("device",))


def check_chapter(chapter: str, scope: Mapping[str, Any]) -> None:
    """The one-line validation cell of a chapter: ``check_chapter("primer", globals())``.

    Takes the chapter's parameters from ``scope`` (the notebook's namespace after the
    parameters cell and papermill's injected cell) and checks them with the chapter's spec in
    :mod:`stelib.specs`; returns ``None`` so the cell prints nothing.
    """
    from stelib.tooling import specs

    spec = specs.get(chapter)
    missing = [k for k in spec.params if k not in scope]
    if missing:
        raise ValueError(f"chapter {chapter!r}: parameters {missing} are not defined before the "
                         "validation cell")
    spec.check({k: scope[k] for k in spec.params})


# --------------------------------------------------------------------------- reading notebooks


@dataclass(frozen=True)
class Parameter:
    """One line of a chapter's parameters cell."""

    name: str
    default: Any
    comment: str
    allowed: str = ""


def _cells(nb) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _load(notebook: str | Path | Mapping) -> Mapping:
    if isinstance(notebook, Mapping):
        return notebook
    import nbformat

    return nbformat.read(str(notebook), as_version=4)


def _parameters_index(nb: Mapping) -> int:
    cells = _cells(nb)
    tagged = [i for i, c in enumerate(cells)
              if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"expected exactly one code cell tagged 'parameters', found {len(tagged)}")
    if tagged[0] + 1 >= len(cells):
        raise ValueError("the parameters cell must be followed by a validation cell")
    return tagged[0]


def _source(cell: Mapping) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def read_parameters(notebook: str | Path | Mapping) -> dict[str, Parameter]:
    """Names, defaults and comments of the ``parameters`` cell, in order.

    Defaults are evaluated as Python literals (``ast.literal_eval``; simple arithmetic of
    literals such as ``2**31 - 1`` is evaluated too). Anything else is an error.
    """
    if not isinstance(notebook, Mapping):
        path = Path(notebook)
        cached = _read_parameters_file(str(path.resolve()), path.stat().st_mtime_ns)
        return copy.deepcopy(cached)  # defaults are lists: the cache must not share them
    return _read_parameters_nb(notebook)


@functools.lru_cache(maxsize=32)
def _read_parameters_file(path: str, mtime_ns: int) -> dict[str, Parameter]:
    return _read_parameters_nb(_load(path))


def _read_parameters_nb(nb: Mapping) -> dict[str, Parameter]:
    src = _source(_cells(nb)[_parameters_index(nb)])
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(src).readline)
                if tok.type == tokenize.COMMENT}
    out: dict[str, Parameter] = {}
    for node in ast.parse(src).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            raise ValueError(f"parameters cell line {node.lineno}: only `name = literal` "
                             "assignments are allowed")
        name = node.targets[0].id
        out[name] = Parameter(name, _literal(node.value, name),
                              comments.get(node.end_lineno, comments.get(node.lineno, "")))
    return out


def _literal(node: ast.expr, name: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)
    tree = ast.Expression(node)
    if all(isinstance(n, allowed) for n in ast.walk(tree)):
        return eval(compile(tree, "<parameters>", "eval"), {"__builtins__": {}})
    raise ValueError(f"parameter {name}: default must be a Python literal, got {ast.unparse(node)}")


def describe(spec: ChapterSpec, notebook: str | Path | Mapping) -> list[Parameter]:
    """Parameters of the notebook's parameters cell with their allowed values from ``spec``."""
    return [Parameter(p.name, p.default, p.comment,
                      spec.params[p.name].describe() if p.name in spec.params else "")
            for p in read_parameters(notebook).values()]


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal if ``text`` is one, else ``text`` itself.

    ``inf``, ``-inf`` and ``nan`` (any case) are floats, so that a spec can reject them by name.
    """
    word = text.strip().lower()
    if word in ("true", "false"):
        return word == "true"
    if word in ("inf", "+inf", "-inf", "nan", "infinity", "-infinity"):
        return float(word)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def check_overrides(spec: ChapterSpec, notebook: str | Path | Mapping,
                    overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Validate new values for a chapter before running it; return the full parameter set.

    Raises ``ValueError`` naming the parameter for an unknown name (listing the valid ones), a
    value outside its spec, or a combination that breaks a rule (checked with the new values).
    """
    params = read_parameters(notebook)
    unknown = [k for k in overrides if k not in params]
    if unknown:
        raise ValueError(f"unknown parameter {short(unknown[0])}; this chapter's parameters are: "
                         + ", ".join(params))
    values = {k: p.default for k, p in params.items()} | dict(overrides)
    spec.check(values)
    return values
