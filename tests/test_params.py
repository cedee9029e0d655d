"""The chapter-parameter convention of stelib.params, and every chapter's compliance with it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stelib import specs
from stelib.params import (
    Bool,
    ChapterSpec,
    Choice,
    Int,
    Param,
    Real,
    Rule,
    Seq,
    check_chapter,
    check_overrides,
    describe,
    parse_value,
    read_parameters,
    short,
    validate,
)

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

PARAMS_SRC = '''\
ste = "crelu"  # surrogate of the STE
n = 2  # input dimension
lr = 0.1  # learning rate
stes = ["identity", "relu"]  # STEs to compare
plot = True  # draw the figure
seed = 2**31 - 1  # random seed
'''
TOY = ChapterSpec("toy", {
    "ste": Choice("identity", "relu", "crelu"),
    "n": Int(1, 50),
    "lr": Real(0, 1, low_open=True),
    "stes": Seq(Choice("identity", "relu", "crelu"), min_len=1, max_len=3),
    "plot": Bool(),
    "seed": Int(0, 2**31 - 1),
}, rules=(Rule("n <= 10 when plotting", lambda v: v["n"] <= 10 or not v["plot"], ("n", "plot")),))


def toy_notebook(params: str = PARAMS_SRC, check: str = "pass"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy"), nbformat.v4.new_code_cell("import math"),
                p, nbformat.v4.new_code_cell(check), nbformat.v4.new_code_cell("print(n)")]
    return nb


def test_read_parameters_defaults_and_comments():
    params = read_parameters(toy_notebook())
    assert list(params) == ["ste", "n", "lr", "stes", "plot", "seed"]
    assert params["seed"].default == 2**31 - 1
    assert params["stes"].default == ["identity", "relu"]
    assert params["n"].comment == "input dimension"


def test_describe_fills_allowed_values():
    rows = {p.name: p for p in describe(TOY, toy_notebook())}
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
        check_overrides(TOY, toy_notebook(), {name: value})
    assert short(value) in str(err.value)


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ValueError, match="unknown parameter 'eta'.*ste, n, lr, stes, plot, seed"):
        check_overrides(TOY, toy_notebook(), {"eta": 0.1})


def test_good_overrides_return_all_values():
    values = check_overrides(TOY, toy_notebook(), {"lr": 1, "stes": ("crelu",)})
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


def test_missing_tag():
    nb = toy_notebook()
    nb.cells[2].metadata["tags"] = []
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        read_parameters(nb)


def test_rules_use_the_given_values_not_the_defaults():
    with pytest.raises(ValueError, match=r"parameters n=20, plot=True are not allowed together"):
        check_overrides(TOY, toy_notebook(), {"n": 20})
    assert check_overrides(TOY, toy_notebook(), {"n": 20, "plot": False})["n"] == 20


def test_long_and_huge_values_are_cut_in_messages():
    with pytest.raises(ValueError) as err:
        check_overrides(TOY, toy_notebook(), {"ste": "x" * 5000})
    assert len(str(err.value)) < 300 and "5002 characters" in str(err.value)
    with pytest.raises(ValueError, match="parameter lr=") as err:  # 400 digits: OverflowError before
        check_overrides(TOY, toy_notebook(), {"lr": 10**400})
    assert len(str(err.value)) < 300
    with pytest.raises(ValueError, match="parameter n="):
        check_overrides(TOY, toy_notebook(), {"n": 10**5000})


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("0.1", 0.1), ("1e-3", 1e-3), ("-2", -2), ("True", True), ("false", False),
    ("None", None), ("[1, 2]", [1, 2]), ("('a', 'b')", ("a", "b")), ("relu", "relu"),
    ("'3'", "3"), ("a b", "a b"), ("-1e5", -1e5), ("1e999", math.inf),
])
def test_parse_value(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@pytest.mark.parametrize("text", ["inf", "-inf", "+inf", "NaN", "-Infinity"])
def test_parse_value_non_finite_floats(text):
    x = parse_value(text)
    assert isinstance(x, float) and not math.isfinite(x)
    assert str(x).lstrip("-") in ("inf", "nan") and (x < 0) == text.startswith("-")


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
    """Parameters cell + hidden one-line validation cell; the library spec names exactly the
    cell's parameters, in order; comments say what a value means (no '=', no ranges); the
    defaults pass the spec and its rules; papermill lists every parameter."""
    from papermill.inspection import inspect_notebook

    nb = nbformat.read(str(chapter), as_version=4)
    params = read_parameters(nb)
    spec = specs.get(chapter.stem)
    assert list(params) == list(spec.params), "the spec must list the parameters in the cell's order"
    for p in params.values():
        assert p.comment, f"parameter {p.name} has no comment saying what it means"
        assert "=" not in p.comment, f"papermill drops the comment of {p.name}: it contains '='"
        assert not re.search(r"\bin [\[(][^\]]*, [^\]]*[\])]", p.comment), \
            f"the allowed values of {p.name} belong in stelib/tooling/specs/{chapter.stem}.py"
    code = [c for c in nb.cells if c.cell_type == "code"]
    i = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    check = code[i + 1]
    assert check.source.strip() == (f'from stelib.params import check_chapter; '
                                    f'check_chapter("{chapter.stem}", globals())')
    assert "remove-cell" in check.metadata.get("tags", []) and not check.outputs
    check_overrides(spec, nb, {})
    inferred = list(inspect_notebook(str(chapter)))
    assert inferred == list(params), "papermill --help-notebook must list every parameter"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_parameters_cell_equals_its_spec(chapter):
    """One source: the spec in stelib/tooling/specs holds each parameter's default and meaning,
    and the notebook's parameters cell says the same -- names, order, defaults as values (type
    included: 3.0 is not 3) and the comment word for word -- so ``stelib params`` without the
    book shows what the book would."""
    cell = read_parameters(chapter)
    spec = specs.get(chapter.stem)
    fix = f"make stelib/tooling/specs/{chapter.stem}.py and the parameters cell of {chapter.name} agree"
    assert list(spec.defaults) == list(cell) == list(spec.params), fix
    for name, p in cell.items():
        assert type(spec.defaults[name]) is type(p.default), f"{name}: {fix}"
        assert repr(spec.defaults[name]) == repr(p.default), f"{name} default: {fix}"
        assert spec.meanings[name] == p.comment, f"{name} meaning: {fix}"
    assert spec.described() == describe(spec, chapter)


def test_a_spec_holds_a_default_and_a_meaning_for_every_parameter_or_none():
    full = ChapterSpec("toy", {"n": Param(2, Int(1, 5), "input dimension"),
                               "ste": Param("relu", Choice("relu", "crelu"), "the STE")})
    assert full.params == {"n": Int(1, 5), "ste": Choice("relu", "crelu")}
    assert full.defaults == {"n": 2, "ste": "relu"} and full.meanings["ste"] == "the STE"
    assert [p.allowed for p in full.described()] == ["an integer in [1, 5]", "one of 'relu', 'crelu'"]
    bare = ChapterSpec("toy", {"n": Int(1, 5)})
    assert bare.defaults == {} and bare.meanings == {}
    with pytest.raises(ValueError, match="holds no defaults"):
        bare.described()
    with pytest.raises(ValueError, match="parameter m has no Param"):
        ChapterSpec("toy", {"n": Param(2, Int(1, 5), "input dimension"), "m": Int(1, 5)})
    with pytest.raises(TypeError, match="parameter m=5 is not allowed: expected a Param or a Spec"):
        ChapterSpec("toy", {"m": 5})
    with pytest.raises(TypeError, match=r"Param allowed=\(1, 5\) is not allowed: expected a Spec"):
        Param(2, (1, 5), "input dimension")
    with pytest.raises(ValueError, match="Param meaning='n = 2' is not allowed"):
        Param(2, Int(1, 5), "n = 2")
    with pytest.raises(ValueError, match="Param meaning='' is not allowed"):
        Param(2, Int(1, 5), "")


def test_every_spec_has_a_chapter():
    assert specs.names() == sorted(p.stem for p in CHAPTERS if p.stem in specs.names())
    assert set(specs.names()) <= {p.stem for p in CHAPTERS}
    with pytest.raises(ValueError, match="no parameter spec for chapter 'nope'"):
        specs.get("nope")


def test_check_chapter_reads_the_namespace():
    scope = {"x_max": 3.0, "scales": [2.0], "m": 1, "n": 1, "batch": 1, "bits": 1, "alpha": 1.0,
             "seed": 0, "device": "cpu"}
    assert check_chapter("primer", scope) is None
    with pytest.raises(ValueError, match="parameter bits=9"):
        check_chapter("primer", scope | {"bits": 9})
    with pytest.raises(ValueError, match=r"\['seed'\] are not defined"):
        check_chapter("primer", {k: v for k, v in scope.items() if k != "seed"})


# Issue 16 item 1: rules spanning parameters, checked with the user's values (each of these
# passed the old pre-check, which ran the rules with the defaults) -- and a valid combination.
CROSS = [
    ("yin_gaussian", {"seeds": 10, "sgd_seeds": 20}, r"sgd_seeds=20, seeds=10"),
    ("yin_gaussian", {"teacher_seed": 46}, r"teacher_seed=46, m=6 .*spurious minima"),
    ("misspecified", {"steps": 150}, r"steps=150 .*multiple of 100"),
    ("misspecified", {"plane_steps": 7}, r"plane_steps=7 .*even"),
    ("misspecified", {"a": [0, 0]}, r"a=\[0, 0\]"),
    ("misspecified", {"a": [1e-300, 0.0]}, r"a=\[1e-300, 0.0\]"),
    ("misspecified", {"starts": [[1e-300, 0]]}, r"starts=\[\[1e-300, 0\]\]"),
    ("general_inputs", {"m": 4}, r"v_star=\[1.0, -0.5, 1.0\], m=4"),
    ("general_inputs", {"v_star": [1.0, -0.5, -0.5]}, r"parameter v_star=\[1.0, -0.5, -0.5\] .*spurious minima"),
    ("general_inputs", {"df": 4.0}, r"parameter df=4.0 "),
    ("yin_gaussian", {"lr": 1.5}, r"parameters lr=1.5, m=6 .*lr < 8/\(m \+ 1\)"),
    ("yin_gaussian", {"stes": ["identity", "crelu"]}, r"parameter stes="),
    ("yin_gaussian", {"sgd_streams": 1}, r"parameter sgd_streams=1 "),
    ("general_inputs", {"digits_kind": "patch"}, r"digits_kind='patch', n=2"),
    ("scale_symmetry", {"fit_norms": [10, 5]}, r"fit_norms=\[10, 5\]"),
    ("scale_symmetry", {"norms": [1.0, 3.0, 2.0]}, r"norms=\[1.0, 3.0, 2.0\] .*increasing"),
    ("practice", {"mixed_precision": True}, r"mixed_precision=True, archs=\['mlp', 'cnn'\]"),
    ("practice", {"mixed_precision": True, "dataset": "mnist", "archs": ["mlp", "lenet5"]},
     r"mixed_precision only when every arch is lenet5"),
]


@pytest.mark.parametrize(("chapter", "overrides", "message"), CROSS, ids=lambda x: str(x)[:30])
def test_cross_parameter_rules_use_the_new_values(chapter, overrides, message):
    path = ROOT / "chapters" / f"{chapter}.ipynb"
    with pytest.raises(ValueError, match=message):
        check_overrides(specs.get(chapter), path, overrides)


def test_valid_combinations_are_accepted():
    path = ROOT / "chapters" / "yin_gaussian.ipynb"
    values = check_overrides(specs.get("yin_gaussian"), path, {"seeds": 500, "sgd_seeds": 200})
    assert values["sgd_seeds"] == 200
    big = {"mixed_precision": True, "dataset": "cifar10", "archs": ["vgg11", "resnet20"]}
    assert check_overrides(specs.get("practice"), ROOT / "chapters" / "practice.ipynb", big)["mixed_precision"]
    gi = ROOT / "chapters" / "general_inputs.ipynb"
    check_overrides(specs.get("general_inputs"), gi, {"m": 4, "v_star": [1.0, -1, 1, 0.5]})
    check_overrides(specs.get("general_inputs"), gi, {"digits_kind": "patch", "n": 4})


@pytest.mark.parametrize("chapter", ["primer", "scale_symmetry", "proper"])
def test_scales_need_a_factor_other_than_one(chapter):
    """c = 1 rescales nothing: a chapter whose scales are all 1 would call every STE invariant."""
    path = ROOT / "chapters" / f"{chapter}.ipynb"
    with pytest.raises(ValueError, match=r"^parameter scales=\[1.0, 1\] is not allowed: expected scales with"):
        check_overrides(specs.get(chapter), path, {"scales": [1.0, 1]})
    assert check_overrides(specs.get(chapter), path, {"scales": [1.0, 2.0]})["scales"] == [1.0, 2.0]


def test_practice_cuda_needs_a_gpu():
    import torch

    path = ROOT / "chapters" / "practice.ipynb"
    if torch.cuda.is_available():
        check_overrides(specs.get("practice"), path, {"device": "cuda"})
    else:
        with pytest.raises(ValueError, match="device='cuda'"):
            check_overrides(specs.get("practice"), path, {"device": "cuda"})
    check_overrides(specs.get("practice"), path, {"device": "auto"})


def test_convert_spec_turns_an_old_cell_into_a_spec_module(tmp_path):
    """tools/convert_spec.py: SPEC dict + trailing `if ...: raise` checks -> ChapterSpec + Rules."""
    import importlib.util
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import convert_spec
    finally:
        sys.path.remove(str(ROOT / "tools"))
    old = '''from stelib.params import Choice, Int, Seq, validate

STE = Choice("identity", "relu", "crelu")
SPEC = {"stes": Seq(STE, min_len=1), "n": Int(1, 50), "m": Int(1, 50)}
validate(SPEC, stes=stes, n=n, m=m)
if m > n:
    raise ValueError("m <= n")
'''
    module = tmp_path / "toy_spec.py"
    module.write_text(convert_spec.convert_cell("toy", old, ["stes", "n", "m"]))
    spec = importlib.util.spec_from_file_location("toy_spec", module)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert list(mod.SPEC.params) == ["stes", "n", "m"] and mod.SPEC.rules[0].text == "m <= n"
    mod.SPEC.check({"stes": ["relu"], "n": 5, "m": 5})
    with pytest.raises(ValueError, match=r"parameters m=6, n=5 are not allowed together: expected m <= n"):
        mod.SPEC.check({"stes": ["relu"], "n": 5, "m": 6})
    with pytest.raises(SystemExit, match="by hand"):
        convert_spec.convert_cell("toy", old + "_g = n + 1\n", ["stes", "n", "m"])
    # with the cell's defaults and comments (how main() calls it): Param entries, one source
    cell = read_parameters(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('stes = ["relu"]  # STEs compared\nn = 5  # input dimension\n'
                                  'm = 2  # patches per input', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("check")]))
    module.write_text(convert_spec.convert_cell("toy", old, cell))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.SPEC.defaults == {"stes": ["relu"], "n": 5, "m": 2}
    assert mod.SPEC.meanings == {"stes": "STEs compared", "n": "input dimension", "m": "patches per input"}
    assert "from stelib.tooling.chapterspec import" in module.read_text()
    # every chapter has its box by now: an unconverted title cell is built here
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Toy\n\nFirst line.")])
    assert convert_spec.add_rerun_box(nb, "toy")
    assert "<params-toy>" in nb.cells[0].source and nb.cells[0].source.endswith("\nFirst line.")
    assert nb.cells[0].source.startswith("# Toy\n") and not convert_spec.add_rerun_box(nb, "toy")
