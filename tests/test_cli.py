"""``python -m stelib``: listing, parameter display, and the bad-parameter matrix of ``rerun``.

The matrix is generated from every chapter's own SPEC, so a new chapter is covered without
editing this file: each parameter gets values just outside what it allows, and each must
stop ``rerun`` with exit status 2, a message naming the parameter, and no file written.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from stelib import book, cli, params
from stelib.params import Bool, Choice, Int, Module, Real, Seq, SteName

CHAPTERS = book.chapters()


def bad_values(spec: params.Spec) -> list:
    """Values just outside what ``spec`` allows (each must be rejected)."""
    if isinstance(spec, Int):
        out = [1.5, "7", True]
        out += [spec.low - 1] if spec.low is not None else []
        out += [spec.high + 1] if spec.high is not None else []
        return out
    if isinstance(spec, Real):
        out = [math.nan, "0.5", [0.5]]
        out += [spec.low if spec.low_open else spec.low - 1] if math.isfinite(spec.low) else []
        out += [spec.high if spec.high_open else spec.high + 1] if math.isfinite(spec.high) else []
        return out
    if isinstance(spec, Choice):
        return ["no-such-option", 12345, [spec.options[0]]]
    if isinstance(spec, Bool):
        return [1, "yes", None]
    if isinstance(spec, SteName):
        return ["no_such_ste", 3, ["relu"]]
    if isinstance(spec, Module):
        return ["no_such_module_xyz", "not a module name", 3]
    if isinstance(spec, Seq):
        out = ["not-a-list", [None]]
        out += [[]] if spec.min_len > 0 else []
        return out
    raise AssertionError(f"no bad values known for {spec!r}")


def matrix():
    for ch in CHAPTERS:
        for name, spec in params.read_spec(ch.path).items():
            for value in bad_values(spec):
                yield pytest.param(ch.name, name, value, id=f"{ch.name}-{name}-{value!r}")


@pytest.mark.parametrize(("chapter", "name", "value"), list(matrix()))
def test_bad_parameter_exits_2_and_writes_nothing(chapter, name, value, tmp_path, capsys):
    out = tmp_path / "runs"
    rc = cli.main(["rerun", chapter, "-p", name, repr(value), "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"parameter {name}=" in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [
    ["rerun", "no-such-chapter"],
    ["params", "no-such-chapter"],
    ["rerun", "primer", "-p", "no_such_parameter", "1"],
    ["rerun", "primer", "-p", "bits", "2", "-p", "bits", "3"],
    ["rerun", "primer", "-o", str(book.CHAPTER_DIR)],
])
def test_usage_errors_exit_2(argv, capsys, tmp_path):
    if argv[0] == "rerun" and "-o" not in argv:
        argv = [*argv, "-o", str(tmp_path / "runs")]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "runs").exists()


def test_list_and_params(capsys):
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    for ch in CHAPTERS:
        assert ch.name in listed and ch.title in listed
    assert cli.main(["params", "primer"]) == 0
    shown = capsys.readouterr().out
    for p in params.describe(book.chapter("primer").path):
        assert p.name in shown and repr(p.default) in shown and p.allowed in shown


def test_command_line_exit_status_and_message(tmp_path):
    """The real entry point: argparse errors and bad values both exit with status 2."""
    run = [sys.executable, "-m", "stelib", "rerun", "primer", "-o", str(tmp_path / "r")]
    bad = subprocess.run([*run, "-p", "bits", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "parameter bits=0" in bad.stderr
    assert subprocess.run([*run, "-p", "bits"], capture_output=True).returncode == 2
    assert not (tmp_path / "r").exists()


def test_rerun_executes_and_refuses_to_overwrite(tmp_path, capsys):
    argv = ["rerun", "primer", "-p", "bits", "1", "-p", "alpha", "1.0", "-o", str(tmp_path),
            "--no-progress"]
    assert cli.main(argv) == 0
    runs = list(tmp_path.glob("primer-*.ipynb"))
    assert len(runs) == 1
    import nbformat

    nb = nbformat.read(str(runs[0]), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "bits = 1" in injected[0].source and "alpha = 1.0" in injected[0].source
    assert all(o.get("output_type") != "error" for c in nb.cells for o in c.get("outputs", []))
    mtime = runs[0].stat().st_mtime
    assert cli.main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert runs[0].stat().st_mtime == mtime


def test_output_name_depends_on_values_only(tmp_path):
    ch = book.chapter("primer")
    a = cli.output_path(ch, {"bits": 1, "alpha": 1.0}, tmp_path)
    b = cli.output_path(ch, {"alpha": 1.0, "bits": 1}, tmp_path)
    c = cli.output_path(ch, {"alpha": 1.0, "bits": 2}, tmp_path)
    assert a == b != c and a.parent == tmp_path


def test_rerun_validates_registered_stes_through_a_module(tmp_path, monkeypatch, capsys):
    """The proper chapter's reader workflow: a module registers an STE, the rerun accepts its name."""
    (tmp_path / "my_stes_cli.py").write_text(
        "import torch\nfrom stelib.ste import register\n"
        "register('cli_leaky', lambda x: 0.1 + 0.9 * (x > 0).to(x.dtype), description='leaky', replace=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from stelib import ste

    try:
        ch = book.chapter("proper")
        values = params.check_overrides(ch.path, {"ste_modules": ["my_stes_cli"], "stes": ["crelu", "cli_leaky"]})
        assert values["stes"] == ["crelu", "cli_leaky"]
        rc = cli.main(["rerun", "proper", "-p", "stes", "['crelu', 'cli_leakyy']", "-o", str(tmp_path / "runs"),
                       "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and "parameter stes=" in err and "'cli_leaky'" in err  # lists the registered names
        assert not (tmp_path / "runs").exists()
    finally:
        if "cli_leaky" in ste.names():
            ste.unregister("cli_leaky")
