"""tools/gpu_check.py: the comparison of printed numbers between two executions of a chapter,
against hand-computed relative differences, on hand-built notebooks and on a stored chapter."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "tools" / "gpu_check.py")
gc = importlib.util.module_from_spec(_spec)
sys.modules["gpu_check"] = gc
_spec.loader.exec_module(gc)


def _nb(*cells_outputs):
    cells = [new_markdown_cell("text 1.5 (prose numbers are not outputs)")]
    for outs in cells_outputs:
        cells.append(new_code_cell("x", outputs=list(outs)))
    return json.loads(nbformat.writes(new_notebook(cells=cells)))


def _out(text, name="stdout"):
    return new_output("stream", name=name, text=text)


def _res(text):
    return new_output("execute_result", data={"text/plain": text}, execution_count=1)


def test_numbers_reads_signs_exponents_nan_inf_and_skips_words():
    got = gc.numbers("theta = 0.12, |z| -1.5e-3; nan -inf info 3% x=.5 1e4 (1, +2)")
    assert [s for s, _ in got] == ["0.12", "-1.5e-3", "nan", "-inf", "3", ".5", "1e4", "1", "+2"]
    vals = [x for _, x in got]
    assert vals[0] == 0.12 and vals[1] == -0.0015 and math.isnan(vals[2]) and vals[3] == -math.inf
    assert vals[4:] == [3.0, 0.5, 1e4, 1.0, 2.0]


@pytest.mark.parametrize(("a", "b", "want"), [
    (1.0, 1.1, 0.1 / 1.1), (-2.0, -1.0, 0.5), (0.0, 0.0, 0.0), (5.0, 5.0, 0.0), (1e-300, 2e-300, 0.5),
    (1.0, -1.0, 2.0), (0.0, 3.0, 1.0), (math.nan, math.nan, 0.0), (math.nan, 1.0, math.inf),
    (math.inf, math.inf, 0.0), (-math.inf, math.inf, math.inf), (1.0, math.inf, math.inf),
])
def test_rel_diff(a, b, want):
    assert gc.rel_diff(a, b) == pytest.approx(want, rel=1e-15, abs=0) or (math.isinf(want) and
                                                                          gc.rel_diff(a, b) == math.inf)
    assert gc.rel_diff(b, a) == gc.rel_diff(a, b)


def test_compare_pairs_numbers_cell_by_cell():
    subs = gc.sanitizers()
    stored = _nb([_out("a = 0.1234\n"), _res("  x  \n0  2.50\n1  3.00")],
                 [_out("trained in 3.2 s, loss 0.75\n")],
                 [_out("1 2 3\n")],
                 [_out("warn 7", name="stderr"), _out("ok 4\n")])
    new = _nb([_out("a = 0.12"), _out("34\n"), _res("  x  \n0  2.50\n1  3.30")],  # split stream pieces
              [_out("trained in 9.9 s, loss 0.80\n")],  # the timing is masked, the loss is not
              [_out("1 2\n")],
              [_out("warn 8", name="stderr"), _out("ok 4\n")])  # stderr is not compared
    cmp = gc.compare(stored, new, subs)
    assert [(p[0], p[1], p[2]) for p in cmp.pairs] == [
        (0, "0.1234", "0.1234"), (0, "0", "0"), (0, "2.50", "2.50"), (0, "1", "1"), (0, "3.00", "3.30"),
        (1, "0.75", "0.80"), (2, "1", "1"), (2, "2", "2"), (3, "4", "4")]
    diffs = [p[3] for p in cmp.pairs]
    assert diffs[4] == pytest.approx(0.3 / 3.3) and diffs[5] == pytest.approx(0.05 / 0.8)
    assert sum(diffs) == pytest.approx(0.3 / 3.3 + 0.05 / 0.8)
    assert cmp.count_mismatch == [(2, 3, 2)] and cmp.errors == []
    assert cmp.differing() == 2 and cmp.differing(0.07) == 1
    assert [p[1] for p in cmp.largest(1)] == ["3.00"]
    text = gc.report("toy", cmp, 10.0, 4.0, "cuda", 5, 1e-3)
    assert "9 numbers compared, 2 differ, 2 by more than 0.001" in text and "ratio 2.50" in text
    assert "cell 2: 3 numbers stored, 2 now" in text and "this machine" not in text
    assert "CPU on this machine 6.0 s (ratio 1.50)" in gc.report("toy", cmp, 10.0, 4.0, "cuda", 5, 1e-3, 6.0)


def test_compare_flags_errors_and_rejects_other_notebooks():
    stored = _nb([_out("1\n")])
    err = new_output("error", ename="RuntimeError", evalue="Expected all tensors on the same device 0",
                     traceback=[])
    cmp = gc.compare(stored, _nb([err]))
    assert cmp.errors == [0] and cmp.pairs == [(0, "1", "0", 1.0)]  # the error text is compared too
    with pytest.raises(ValueError, match="code cells"):
        gc.compare(stored, _nb([_out("1\n")], [_out("2\n")]))


def test_a_stored_chapter_against_itself_and_the_injected_cell():
    nb = json.loads((ROOT / "chapters" / "primer.ipynb").read_text())
    cmp = gc.compare(nb, nb, gc.sanitizers())
    assert len(cmp.pairs) > 50 and cmp.differing() == 0 and not cmp.count_mismatch
    injected = new_code_cell('device = "cpu"\n', metadata={"tags": ["injected-parameters"]})
    with_injected = {**nb, "cells": nb["cells"][:3] + [injected] + nb["cells"][3:]}
    assert gc._strip_injected(with_injected)["cells"] == nb["cells"]


@pytest.mark.nbval  # executes a chapter: skipped with -m "not nbval"
def test_rerun_primer_on_the_cpu_gives_every_number_back(tmp_path, capsys):
    rc = gc.main(["primer", "--device", "cpu", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert " 0 differ, 0 by more than" in text


def test_the_gpu_session_script_parses_and_names_what_exists():
    """tools/gpu_session.sh (one call on a lent GPU machine) is valid bash, and every script,
    test file and option it names exists here, so a GPU session does not fail on a typo."""
    import re
    import subprocess

    script = ROOT / "tools" / "gpu_session.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for path in re.findall(r"\b((?:benchmarks|tools|tests)/[\w/]+\.py)\b", text):
        assert (ROOT / path).is_file(), path
    helps = {name: subprocess.run([sys.executable, str(ROOT / name), "--help"], capture_output=True,
                                  text=True, cwd=ROOT, timeout=120).stdout
             for name in ("tools/gpu_check.py", "benchmarks/bench_bignets.py", "benchmarks/bench_train.py",
                          "benchmarks/bench_montecarlo.py")}
    for name, opts in (("tools/gpu_check.py", ["--cpu-baseline", "--bench", "--out"]),
                       ("benchmarks/bench_train.py", ["--device", "--device-only"]),
                       ("benchmarks/bench_montecarlo.py", ["--device", "--device-only"]),
                       ("benchmarks/bench_bignets.py", ["--device"])):
        for opt in opts:
            assert opt in helps[name], (name, opt)
