"""tools/sync_count.py: the reads of tensor values a notebook makes, counted by call site."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sync_count", ROOT / "tools" / "sync_count.py")
sc = importlib.util.module_from_spec(_spec)
sys.modules["sync_count"] = sc
_spec.loader.exec_module(sc)


def test_reads_are_counted_by_method_and_site(tmp_path):
    code = ("import torch\n"
            "t = torch.arange(3.0)\n"
            "xs = [float(x) for x in t]\n"
            "if t.sum() > 0:\n"
            "    n = t.max().item()\n"
            "from stelib.core import _closedform as cf\n"
            "assert cf._DEVICE_PATH_ON_CPU  # the GPU's paths, taken on the CPU\n")
    path = tmp_path / "toy.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), path)
    rows, seconds, ops = sc.count(path, tmp_path)
    got = {(method, site.split(" ")[0]): n for method, site, n in rows}
    assert got == {("__float__", "chapter:3"): 3, ("__bool__", "chapter:4"): 1, ("item", "chapter:5"): 1}
    assert seconds > 0 and sorted(p.name for p in tmp_path.iterdir()) == ["toy.ipynb", "toy.json"]
    assert ops is None  # not asked for


def test_operations_are_counted_on_request(tmp_path):
    """--ops: the ATen operations dispatched after the first cell; 20 more additions, 20 more."""
    got = []
    for n in (10, 30):
        path = tmp_path / f"loop{n}.ipynb"
        code = f"import torch\nt = torch.zeros(3)\nfor _ in range({n}):\n    t = t + 1\n"
        nbformat.write(new_notebook(cells=[new_code_cell(code)]), path)
        rows, _, ops = sc.count(path, tmp_path, ops=True)
        got.append(ops["n"])
        assert rows == []  # no value read
        assert dict(ops["sites"]) == {"chapter": ops["n"]}  # no stelib call: all the chapter's own
    assert got[1] - got[0] == 20 and got[0] >= 10, got


def test_a_graphed_step_counts_one_operation_per_replay(tmp_path):
    """--ops on the GPU's paths: population CGD's step, replayed by a stand-in graph, counts one
    operation per step after the capture; on the CPU's paths every operation of every step counts."""
    got = {}
    for gpu, sizes in ((True, (64, 128)), (False, (40,))):  # a graph from MIN_STEPS = 64 on
        for n in sizes:
            path = tmp_path / f"cgd{n}.ipynb"
            code = ("import torch\nfrom stelib import LinearTeacherModel, population_cgd\n"
                    "m = LinearTeacherModel(torch.tensor([1.0, 0.5], dtype=torch.float64))\n"
                    "w0 = torch.tensor([[0.3, 1.0], [1.0, -0.2]], dtype=torch.float64)\n"
                    "h = population_cgd(m, torch.zeros(2, 1, dtype=torch.float64), w0, ste=('crelu', 'relu'),\n"
                    f"                   lr=0.1, steps={n}, record_every={n})\n")
            nbformat.write(new_notebook(cells=[new_code_cell(code)]), path)
            got[gpu, n] = sc.count(path, tmp_path, gpu_paths=gpu, ops=True)[2]
    assert got[True, 128]["n"] - got[True, 64]["n"] == 64  # one launch per step
    assert dict(got[True, 128]["sites"])["(graph replays)"] == 128 - 1  # steps 3-128 and the check
    assert got[False, 40]["n"] >= 40 * 20  # op by op: tens per step
    assert "(graph replays)" not in dict(got[False, 40]["sites"])
