"""The chapter-parameter convention of stelib.params, and every chapter's compliance with it."""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stelib.params import (
    Bool,
    Choice,
    Int,
    Real,
    Seq,
    check_overrides,
    describe,
    parse_value,
    read_parameters,
    read_spec,
    validate,
)

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

PARAMS_SRC = '''\
ste = "crelu"  # surrogate: "identity", "relu" or "crelu"
n = 2  # input dimension, in [1, 50]
lr = 0.1  # learning rate, in (0, 1]
stes = ["identity", "relu"]  # STEs to compare
plot = True  # draw the figure
seed = 2**31 - 1  # random seed
'''
SPEC_SRC = '''\
from stelib.params import Bool, Choice, Int, Real, Seq, validate
SPEC = {
    "ste": Choice("identity", "relu", "crelu"),
    "n": Int(1, 50),
    "lr": Real(0, 1, low_open=True),
    "stes": Seq(Choice("identity", "relu", "crelu"), min_len=1, max_len=3),
    "plot": Bool(),
    "seed": Int(0, 2**31 - 1),
}
validate(SPEC, ste=ste, n=n, lr=lr, stes=stes, plot=plot, seed=seed)
'''


def toy_notebook(params: str = PARAMS_SRC, spec: str = SPEC_SRC):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy"), nbformat.v4.new_code_cell("import math"),
                p, nbformat.v4.new_code_cell(spec), nbformat.v4.new_code_cell("print(n)")]
    return nb


def test_read_parameters_defaults_and_comments():
    params = read_parameters(toy_notebook())
    assert list(params) == ["ste", "n", "lr", "stes", "plot", "seed"]
    assert params["seed"].default == 2**31 - 1
    assert params["stes"].default == ["identity", "relu"]
    assert params["n"].comment == "input dimension, in [1, 50]"


def test_describe_fills_allowed_values():
    rows = {p.name: p for p in describe(toy_notebook())}
    assert rows["ste"].allowed == "one of 'identity', 'relu', 'crelu'"
    assert rows["lr"].allowed == "a finite number in (0, 1]"
    assert rows["n"].allowed == "an integer in [1, 50]"
    assert "1 to 3 items" in rows["stes"].allowed


@pytest.mark.parametrize(("name", "value"), [
    ("ste", "sign"), ("ste", 1), ("n", 0), ("n", 51), ("n", 2.0), ("n", True), ("lr", 0),
    ("lr", 1.5), ("lr", math.nan), ("lr", "0.1"), ("stes", []), ("stes", ["relu", "tanh"]),
    ("stes", "relu"), ("plot", 1), ("seed", -1),
])
def test_bad_values_name_the_parameter(name, value):
    with pytest.raises(ValueError, match=rf"parameter {name}=") as err:
        check_overrides(toy_notebook(), {name: value})
    assert repr(value) in str(err.value)


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ValueError, match="unknown parameter 'eta'.*ste, n, lr, stes, plot, seed"):
        check_overrides(toy_notebook(), {"eta": 0.1})


def test_good_overrides_return_all_values():
    values = check_overrides(toy_notebook(), {"lr": 1, "stes": ("crelu",)})
    assert values["lr"] == 1 and values["stes"] == ("crelu",) and values["ste"] == "crelu"


def test_spec_and_values_must_agree():
    with pytest.raises(ValueError, match="no value for"):
        validate({"n": Int(1, 2), "m": Int(1, 2)}, n=1)
    with pytest.raises(ValueError, match="no spec for"):
        validate({"n": Int(1, 2)}, n=1, m=2)


def test_parameters_cell_rejects_code():
    with pytest.raises(ValueError, match="literal"):
        read_parameters(toy_notebook(params="n = len('ab')  # no\n"))
    with pytest.raises(ValueError, match="only `name = literal`"):
        read_parameters(toy_notebook(params="import os\n"))


def test_missing_spec_or_tag():
    with pytest.raises(ValueError, match="SPEC"):
        read_spec(toy_notebook(spec="x = 1\n"))
    nb = toy_notebook()
    nb.cells[2].metadata["tags"] = []
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        read_parameters(nb)


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("0.1", 0.1), ("1e-3", 1e-3), ("-2", -2), ("True", True), ("false", False),
    ("None", None), ("[1, 2]", [1, 2]), ("('a', 'b')", ("a", "b")), ("relu", "relu"),
    ("'3'", "3"), ("a b", "a b"),
])
def test_parse_value(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(0, 10), st.floats(0, 10))
def test_real_matches_interval(x, a, b):
    low, high = min(a, b), max(a, b)
    spec = Real(low, high)
    inside = low <= x <= high
    try:
        spec.check("x", x)
        assert inside
    except ValueError:
        assert not inside


@given(st.integers(-100, 100))
def test_int_and_choice(k):
    if -5 <= k <= 5:
        Int(-5, 5).check("k", k)
    else:
        with pytest.raises(ValueError, match=f"parameter k={k}"):
            Int(-5, 5).check("k", k)
    with pytest.raises(ValueError):
        Choice("a", "b").check("k", k)
    with pytest.raises(ValueError):
        Bool().check("k", k)


def test_seq_unique():
    with pytest.raises(ValueError, match="distinct"):
        Seq(Int(0, 3), unique=True).check("ks", [1, 1])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_the_convention(chapter):
    """A parameters cell, a SPEC naming exactly its parameters, and valid defaults."""
    params = read_parameters(chapter)
    spec = read_spec(chapter)
    assert list(params) == list(spec), "SPEC must list the parameters in the cell's order"
    for p in params.values():
        assert p.comment, f"parameter {p.name} has no comment (meaning, range)"
    check_overrides(chapter, {})
