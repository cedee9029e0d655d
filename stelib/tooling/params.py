r"""Chapter parameters: one convention for every chapter notebook, read by papermill and the CLI.

Each chapter's parameters live in the library, one module per chapter in :mod:`stelib.specs`
(``stelib/tooling/specs/<chapter>.py`` defines ``SPEC = ChapterSpec(...)``): for every
parameter its default, its allowed values and what it means (:class:`Param`), and the rules
spanning parameters, readable, importable and testable without executing a notebook or having
the book (``stelib params CHAPTER`` works anywhere). A chapter notebook has, right after its
imports cell, exactly two cells:

1. A code cell **tagged** ``parameters`` (papermill's tag) holding plain assignments, one per
   line, each with a comment saying what the value *means* (no ``=`` in it: papermill's
   ``--help-notebook`` drops such lines; the allowed values are in the spec, not repeated here).
   Values are Python literals (numbers, strings, booleans, lists/tuples of those, ``None``)::

       ste = "crelu"  # surrogate derivative of the STE
       n = 2  # input dimension
       seed = 0  # random seed

   The names, their order, the defaults and the comments are the spec's, word for word
   (``tests/test_params.py`` compares the two, so they cannot drift apart).
2. A validation cell, tagged ``remove-cell`` (the rendered page does not show it), of one line::

       from stelib.params import check_chapter; check_chapter("toy", globals())

   :func:`check_chapter` checks every parameter against its :class:`Spec` and then every
   cross-parameter :class:`Rule` *with the values in the notebook's namespace* (the defaults,
   or papermill's injected values), raising ``ValueError`` naming the parameter, its value and
   what is allowed.

A spec module (the classes are :mod:`stelib.chapterspec`'s, re-exported here)::

    from stelib.tooling.chapterspec import ChapterSpec, Choice, Int, Param, Rule

    SPEC = ChapterSpec("toy", {
        "ste": Param("crelu", Choice("identity", "relu", "crelu"), "surrogate derivative of the STE"),
        "n": Param(2, Int(1, 50), "input dimension"),
        "m": Param(1, Int(1, 50), "patches per input"),
        "seed": Param(0, Int(0, 2**31 - 1), "random seed"),
    }, rules=(Rule("m <= n", lambda v: v["m"] <= v["n"]),))

``stelib params CHAPTER`` shows the names, defaults and meanings (from the chapter's
parameters cell when the book is at hand -- :func:`read_parameters` parses the cell and
executes nothing -- else from the spec) with the allowed values and rules of the spec;
``stelib rerun`` checks new values with the same spec and rules *before* papermill starts
(:func:`check_overrides`). ``tools/convert_spec.py`` turns an old-style chapter (a
``SPEC = {...}; validate(...)`` cell) into this form.

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
import tokenize
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stelib.tooling import specs
from stelib.tooling.chapterspec import (
    DEVICE,
    DEVICE_RULE,
    MAX_SHOWN,
    Bool,
    ChapterSpec,
    Choice,
    Int,
    Module,
    Param,
    Parameter,
    Real,
    Rule,
    Seq,
    Spec,
    SteName,
    device_present,
    short,
    validate,
)

__all__ = [  # the classes of a spec are stelib.chapterspec's, here too for chapters and readers
    "DEVICE", "DEVICE_RULE", "MAX_SHOWN", "Bool", "ChapterSpec", "Choice", "Int", "Module", "Param",
    "Parameter", "Real", "Rule", "Seq", "Spec", "SteName", "check_chapter", "check_overrides",
    "describe", "device_present", "parse_value", "read_parameters", "short", "validate",
]


def check_chapter(chapter: str, scope: Mapping[str, Any]) -> None:
    """The one-line validation cell of a chapter: ``check_chapter("primer", globals())``.

    Takes the chapter's parameters from ``scope`` (the notebook's namespace after the
    parameters cell and papermill's injected cell) and checks them with the chapter's spec in
    :mod:`stelib.specs`; returns ``None`` so the cell prints nothing.
    """
    spec = specs.get(chapter)
    missing = [k for k in spec.params if k not in scope]
    if missing:
        raise ValueError(f"chapter {chapter!r}: parameters {missing} are not defined before the "
                         "validation cell")
    spec.check({k: scope[k] for k in spec.params})


# --------------------------------------------------------------------------- reading notebooks


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
