"""``stelib``: listing, parameter display, the bad-input tables of ``rerun``, and runs that
are written only when finished.

The per-parameter matrix is generated from every chapter's spec in :mod:`stelib.specs`, so a
new chapter is covered without editing this file: each parameter gets values just outside what
it allows, and each must stop ``rerun`` with exit status 2, a message naming the parameter, and
no file written. The tables below add the cases that span parameters or concern the output
folder. Runs that execute use a toy book (one tiny chapter) so they take seconds.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from stelib import book, chapters, cli, execution, params, specs, toc
from stelib.params import Bool, ChapterSpec, Choice, Int, Module, Real, Seq, SteName

CHAPTERS = book.chapters()
ROOT = book.ROOT


def bad_values(spec: params.Spec) -> list:
    """Values just outside what ``spec`` allows (each must be rejected)."""
    if isinstance(spec, Int):
        out = [1.5, "7", True]
        out += [spec.low - 1] if spec.low is not None else []
        out += [spec.high + 1] if spec.high is not None else []
        return out
    if isinstance(spec, Real):
        out = [math.nan, "0.5", [0.5], 10**400]
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
        for name, spec in specs.get(ch.name).params.items():
            for value in bad_values(spec):
                yield pytest.param(ch.name, name, value, id=f"{ch.name}-{name}-{params.short(value, 30)}")


def _text(value) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)


@pytest.mark.parametrize(("chapter", "name", "value"), list(matrix()))
def test_bad_parameter_exits_2_and_writes_nothing(chapter, name, value, tmp_path, capsys):
    out = tmp_path / "runs"
    rc = cli.main(["rerun", chapter, "-p", name, _text(value), "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"parameter {name}=" in err and "Traceback" not in err
    assert len(err) < 600, "long values are cut in messages"
    assert not out.exists()


# Issue 16: combinations that passed the old pre-check (it ran the rules with the defaults)
# and values argparse or float() could not handle. Each: exit 2, these words, nothing written.
BAD_COMBINATIONS = [
    ("yin_gaussian", ["-p", "seeds", "10", "-p", "sgd_seeds", "20"], "sgd_seeds=20, seeds=10"),
    ("yin_gaussian", ["-p", "teacher_seed", "46"], "teacher_seed=46"),
    ("misspecified", ["-p", "steps", "150"], "steps=150"),
    ("misspecified", ["-p", "a", "[0, 0]"], "a=[0, 0]"),
    ("misspecified", ["-p", "starts", "[[1e-300, 0]]"], "starts=[[1e-300, 0]]"),
    ("general_inputs", ["-p", "m", "4"], "m=4"),
    ("scale_symmetry", ["-p", "fit_norms", "[10, 5]"], "fit_norms=[10, 5]"),
    ("primer", ["-p", "x_max", "-inf"], "parameter x_max=-inf"),
    ("primer", ["-p", "x_max", "-1e5"], "parameter x_max=-100000.0"),
    ("primer", ["-p", "x_max", "1" + "0" * 400], "parameter x_max=1000"),
    ("primer", ["-p", "bits", "9" * 5000], "parameter bits="),
    ("primer", ["-p", "bits", "x" * 5000], "characters>"),
    ("primer", ["-p", "no_such", "1"], "unknown parameter 'no_such'"),
    ("primer", ["-p", "bits", "2", "-p", "bits", "3"], "parameter 'bits' given twice"),
    ("nope", [], "unknown chapter 'nope'"),
]


@pytest.mark.parametrize(("chapter", "extra", "words"), BAD_COMBINATIONS,
                         ids=lambda x: params.short(x, 24))
def test_bad_inputs_exit_2_with_a_message(chapter, extra, words, tmp_path, capsys):
    out = tmp_path / "runs"
    rc = cli.main(["rerun", chapter, *extra, "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and err.startswith("error: "), err
    assert len(err) < 600 and not out.exists()


def test_valid_combination_passes_the_check():
    values = params.check_overrides(specs.get("yin_gaussian"), book.chapter("yin_gaussian").path,
                                    {"seeds": 500, "sgd_seeds": 200})
    assert (values["seeds"], values["sgd_seeds"]) == (500, 200)


def _output_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    named_dir = tmp_path / "named"
    values = params.check_overrides(specs.get("primer"), book.chapter("primer").path, {})
    cli.output_path(book.chapter("primer"), values, named_dir).mkdir(parents=True)
    return {
        "output dir is a file": (["-o", str(a_file)], "is a file"),
        "output dir under a file": (["-o", str(a_file / "sub" / "runs")], "which is a file"),
        "output name is a directory": (["-o", str(named_dir), "--overwrite"], "is a directory"),
        "output dir in chapters/": (["-o", str(ROOT / "chapters" / "sub")], "chapters folder"),
        "output dir is chapters/": (["-o", str(ROOT / "chapters")], "chapters folder"),
        "unwritable output dir": (["-o", "/proc/stelib-runs"], "cannot write runs into"),
        "no book at --root": (["--root", str(tmp_path / "nowhere")], "no _toc.yml"),
    }


@pytest.mark.parametrize("case", ["output dir is a file", "output dir under a file",
                                  "output name is a directory", "output dir in chapters/",
                                  "output dir is chapters/", "unwritable output dir",
                                  "no book at --root"])
def test_bad_output_places_exit_2(case, tmp_path, capsys):
    extra, words = _output_cases(tmp_path)[case]
    root_opts = extra[:2] if extra[0] == "--root" else []
    rest = extra[2:] if root_opts else extra
    before = sorted(p.name for p in (ROOT / "chapters").iterdir())
    rc = cli.main([*root_opts, "rerun", "primer", *rest, "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err, err
    assert sorted(p.name for p in (ROOT / "chapters").iterdir()) == before


def test_read_only_output_dir_exits_2(tmp_path, capsys, monkeypatch):
    """A folder the user cannot write: chmod where that binds, else the error mkstemp raises."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the write fail as it would for a user
        def denied(*a, **k):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(cli.tempfile, "mkstemp", denied)
    rc = cli.main(["rerun", "primer", "-o", str(ro), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write runs into" in err and "Permission denied" in err
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["params", "no-such-chapter"],
    ["rerun", "primer", "-p", "bits"],
    ["rerun"],
    ["list", "-p", "a", "b"],
    ["execute", "no-such-chapter"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_list_params_and_version(capsys):
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    for ch in CHAPTERS:
        assert ch.name in listed and ch.title in listed
    width = max(len(ch.name) for ch in CHAPTERS)  # names in one column, titles aligned after it
    assert listed.splitlines() == [f"{ch.name.ljust(width)}  {ch.title}".rstrip() for ch in CHAPTERS]
    assert cli.main(["params", "--", "primer"]) == 0  # '--' ends the options
    assert "rerun with: stelib rerun primer" in capsys.readouterr().out
    assert cli.main(["params", "yin_gaussian"]) == 0
    shown = capsys.readouterr().out
    for p in params.describe(specs.get("yin_gaussian"), book.chapter("yin_gaussian").path):
        assert p.name in shown and params.short(p.default) in shown and p.allowed in shown
    assert "sgd_seeds <= seeds" in shown
    from stelib import __version__

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"stelib {__version__}"
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: stelib") and "the book's command line" in shown
    assert "exit status: 0 done" in shown and "--root DIR" in shown


@pytest.mark.parametrize("command", [[], ["list"], ["params"], ["rerun"], ["build"], ["execute"],
                                     ["sweep"], ["results"]])
def test_help_is_plain_text(command, capsys):
    """What ``--help`` prints reads as text: no reST markup (``code``, :mod:`x`)."""
    assert cli.main([*command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: stelib")
    assert "``" not in shown and not re.search(r":(mod|func|class):`", shown), shown


def test_list_and_params_without_a_book(tmp_path, monkeypatch, capsys):
    """Outside any book (and with the package not in a checkout) the specs still answer."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(toc, "ROOT", tmp_path / "not-a-checkout")
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "no book found" in out and all(n in out for n in specs.names())
    assert cli.main(["params", "primer"]) == 0
    shown = capsys.readouterr().out
    assert "an integer in [1, 8]" in shown and "(in the book)" not in shown
    for p in specs.get("primer").described():  # defaults and meanings from the library's spec
        row = next(line for line in shown.splitlines() if line.startswith(f"{p.name} "))
        assert params.short(p.default) in row and row.endswith(p.comment) and p.allowed in row
    assert cli.main(["rerun", "primer"]) == 2
    assert "--root DIR" in capsys.readouterr().err


def test_root_is_found_from_the_working_directory(monkeypatch):
    monkeypatch.chdir(ROOT / "chapters")
    assert cli.find_root() == ROOT.resolve()


def test_command_line_exit_status_and_message(tmp_path):
    """The real entry points: argparse errors, bad values and unknown chapters exit 2."""
    run = [sys.executable, "-m", "stelib", "rerun", "primer", "-o", str(tmp_path / "r")]
    bad = subprocess.run([*run, "-p", "bits", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "parameter bits=0" in bad.stderr
    assert subprocess.run([*run, "-p", "bits"], capture_output=True).returncode == 2
    nope = subprocess.run([sys.executable, "-m", "stelib.book", "execute", "nope"],
                          capture_output=True, text=True)
    assert nope.returncode == 2 and "unknown chapter 'nope'" in nope.stderr
    assert "Traceback" not in nope.stderr
    assert not (tmp_path / "r").exists()


def test_output_name_depends_on_values_only(tmp_path):
    ch = book.chapter("primer")
    a = cli.output_path(ch, {"bits": 1, "alpha": 1.0}, tmp_path)
    b = cli.output_path(ch, {"alpha": 1.0, "bits": 2 - 1}, tmp_path)
    c = cli.output_path(ch, {"alpha": 1.0, "bits": 2}, tmp_path)
    assert a == b != c and a.parent == tmp_path


# --------------------------------------------------------------- runs, on a one-chapter book

TOY = ChapterSpec("toy", {"x": Int(0, 10)})
TOY_CELLS = [
    "import time",
    "x = 1  # what the toy does: 7 fails, 8 sleeps, 9 kills its kernel",
    "pass",
    "if x == 7:\n    raise RuntimeError('seven')\nif x == 8:\n    time.sleep(120)\nprint(x * 2)\n"
    "import os, signal, sys\nif x == 9:\n    sys.stdout.flush()\n    time.sleep(0.5)\n"
    "    os.kill(os.getpid(), signal.SIGKILL)",
]


@pytest.fixture
def toy_book(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "book"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: chapters/intro\nchapters:\n"
                                   "  - file: chapters/toy\n")
    (root / "chapters" / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Toy")]
                                  + [nbformat.v4.new_code_cell(s) for s in TOY_CELLS])
    nb.cells[2].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(root / "chapters" / "toy.ipynb"))
    monkeypatch.setattr(chapters, "get_spec", lambda name: TOY)
    return root


def _rerun(root: Path, out: Path, *extra: str) -> int:
    return cli.main(["rerun", "toy", "--root", str(root), "-o", str(out), "--no-progress", *extra])


def test_rerun_writes_when_finished_and_refuses_to_overwrite(toy_book, tmp_path, capsys):
    out = tmp_path / "runs" / "deeper"  # missing folders are made
    assert _rerun(toy_book, out, "-p", "x", "3") == 0
    runs = list(out.glob("toy-*.ipynb"))
    assert [p.name for p in out.iterdir()] == [runs[0].name]  # no temporary file left
    nb = nbformat.read(str(runs[0]), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "x = 3" in injected[0].source
    assert nb.cells[-1].outputs[0]["text"] == "6\n"
    prov = nb.metadata["stelib"]["provenance"]  # what produced the run, as a sweep records it
    assert prov["parameters"]["x"] == 3 and prov["chapter"] == "toy.ipynb" and len(prov["chapter_sha256"]) == 64
    assert nb.metadata["papermill"]["output_path"] == str(runs[0])  # the final name
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(runs[0].stat().st_mode) == 0o666 & ~mask  # as open() would create it
    assert "Executing" not in capsys.readouterr().err  # --no-progress: no progress bar
    mtime = runs[0].stat().st_mtime_ns
    assert _rerun(toy_book, out, "-p", "x", "3") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert runs[0].stat().st_mtime_ns == mtime
    assert cli.main(["rerun", "toy", "--root", str(toy_book), "-p", "x", "4"]) == 0  # into the book's runs/
    assert "Executing" in capsys.readouterr().err  # papermill's progress bar, by default
    assert len(list((toy_book / "runs").glob("toy-*.ipynb"))) == 1


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_overwrite_replaces_a_link_never_its_target(toy_book, tmp_path, link):
    out = tmp_path / "runs"
    out.mkdir()
    victim = toy_book / "chapters" / "toy.ipynb"
    before = victim.read_bytes()
    values = params.check_overrides(TOY, victim, {"x": 2})
    name = cli.output_path(book.chapter("toy", toy_book), values, out)
    (os.link if link == "hard" else os.symlink)(victim, name)
    assert _rerun(toy_book, out, "-p", "x", "2", "--overwrite") == 0
    assert victim.read_bytes() == before
    assert not name.is_symlink() and name.stat().st_ino != victim.stat().st_ino
    assert "x = 2" in name.read_text()


def test_kernels_start_without_the_transport_warning(toy_book, tmp_path, capfd):
    """A rerun's output has no ``[IPKernelApp] WARNING | Kernel is running over TCP without
    encryption``: its kernel listens on IPC sockets in a private folder, removed afterwards."""
    import inspect

    import ipykernel.kernelapp
    import nbclient

    from stelib import kernels

    tiny = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbclient.NotebookClient(tiny, kernel_name="python3").execute()  # over TCP, as before
    if "without encryption" in inspect.getsource(ipykernel.kernelapp):  # ipykernel >= 7 warns
        assert "without encryption" in capfd.readouterr().err  # the control: the check below can fail
    with kernels.quiet_kernels() as quiet:
        nbclient.NotebookClient(tiny, kernel_name="python3", **quiet).execute()
        if kernels.ipc_available():
            km = quiet["kernel_manager_class"](kernel_name="python3")
            folder = Path(km.ip).parent
            assert km.transport == "ipc" and stat.S_IMODE(folder.stat().st_mode) == 0o700
            assert len(km.ip) < 100  # a Unix socket path has room for about 104 characters
    assert tiny.cells[0].outputs[0]["text"] == "1\n"
    assert _rerun(toy_book, tmp_path / "runs", "-p", "x", "5") == 0
    err = capfd.readouterr().err
    assert "without encryption" not in err and "IPKernelApp" not in err
    if kernels.ipc_available():
        assert not folder.exists()


def test_failed_run_is_not_taken_for_a_result(toy_book, tmp_path, capsys):
    out = tmp_path / "runs"
    assert _rerun(toy_book, out, "-p", "x", "7") == 1
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "seven" in err
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 1 and names[0].endswith(".failed.ipynb")
    assert _rerun(toy_book, out, "-p", "x", "7") == 1  # a second try is not refused as "exists"


def test_interrupted_run_leaves_nothing(toy_book, tmp_path):
    out = tmp_path / "runs"
    code = textwrap.dedent(f"""
        import sys
        from stelib import chapters, cli
        from stelib.params import ChapterSpec, Int
        chapters.get_spec = lambda name: ChapterSpec("toy", {{"x": Int(0, 10)}})
        sys.exit(cli.main(["--root", {str(toy_book)!r}, "rerun", "toy", "-p", "x", "8",
                           "-o", {str(out)!r}, "--no-progress"]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the kernel is in the sleeping cell
        partial = list(out.glob(".toy-*.partial.ipynb")) if out.exists() else []
        if partial and "time.sleep" in partial[0].read_text() and '"x = 8' in partial[0].read_text():
            break
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == cli.INTERRUPTED == 130, err  # 128 + SIGINT, the shell's convention
    assert "nothing was written" in err
    assert "Traceback" not in err and "ZMQError" not in err  # the kernel is shut down at once, quietly
    assert list(out.iterdir()) == []


def test_rerun_validates_registered_stes_through_a_module(tmp_path, monkeypatch, capsys):
    """The proper chapter's reader workflow: a module registers an STE, the rerun accepts its name."""
    (tmp_path / "my_stes_cli.py").write_text(
        "import torch\nfrom stelib.ste import register\n"
        "register('cli_leaky', lambda x: 0.1 + 0.9 * (x > 0).to(x.dtype), description='leaky', replace=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from stelib import ste

    try:
        ch = book.chapter("proper")
        values = params.check_overrides(specs.get("proper"), ch.path,
                                        {"ste_modules": ["my_stes_cli"], "stes": ["crelu", "cli_leaky"]})
        assert values["stes"] == ["crelu", "cli_leaky"]
        rc = cli.main(["rerun", "proper", "-p", "stes", "['crelu', 'cli_leakyy']", "-o", str(tmp_path / "runs"),
                       "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and "parameter stes=" in err and "'cli_leaky'" in err  # lists the registered names
        assert not (tmp_path / "runs").exists()
    finally:
        if "cli_leaky" in ste.names():
            ste.unregister("cli_leaky")


def test_root_needs_both_toc_and_chapters(tmp_path, monkeypatch):
    monkeypatch.setattr(toc, "ROOT", tmp_path / "not-a-checkout")
    only_toc, only_chapters = tmp_path / "toc", tmp_path / "chapters-only"
    only_toc.mkdir()
    (only_toc / "_toc.yml").write_text("format: jb-book\n")
    (only_chapters / "chapters").mkdir(parents=True)
    assert cli.find_root(cwd=only_toc) is None and cli.find_root(cwd=only_chapters) is None
    (only_toc / "chapters").mkdir()
    assert cli.find_root(cwd=only_toc / "chapters") == only_toc.resolve()


def test_no_command_and_a_closed_pipe(monkeypatch, capsys):
    assert cli.main([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err

    def broken(args):
        raise BrokenPipeError

    monkeypatch.setattr(cli, "cmd_list", broken)
    monkeypatch.setattr(cli.sys, "stderr", io.StringIO())  # main closes it, as for `stelib list | head`
    assert cli.main(["list"]) == 0
    assert cli.sys.stderr.closed


def test_two_identical_reruns_never_replace_each_other(toy_book, tmp_path, monkeypatch, capsys):
    """The final name is created exclusively: when a run with the same parameters finishes
    first, the later one keeps it and exits 2 instead of replacing it."""
    import papermill

    out = tmp_path / "runs"
    real = papermill.execute_notebook

    def racing(src, dst, **kw):
        real(src, dst, **kw)  # meanwhile another run with the same values finishes first:
        other = Path(dst).parent / cli.output_path(chapters.get_chapter("toy", toy_book), {"x": 3}, out).name
        other.write_text("the other run")

    monkeypatch.setattr(papermill, "execute_notebook", racing)
    assert _rerun(toy_book, out, "-p", "x", "3") == 2
    assert "appeared while this run was going" in capsys.readouterr().err
    (kept,) = out.glob("toy-*.ipynb")
    assert kept.read_text() == "the other run"
    assert [p.name for p in out.iterdir()] == [kept.name]  # no temporary file left


def test_execute_records_only_finished_chapters_atomically_and_stops_on_ctrl_c(toy_book, monkeypatch, capsys):
    timings = book.timings_path(toy_book)
    calls = []

    def fake(path, **kw):
        calls.append(path.stem)
        if mode == "fail":
            raise RuntimeError("boom")
        if mode == "interrupt":
            raise KeyboardInterrupt
        return 1.5

    monkeypatch.setattr(execution, "execute_notebook", fake)
    mode = "ok"
    assert cli.main(["execute", "--root", str(toy_book)]) == 0
    rec = json.loads(timings.read_text())
    assert rec["chapters"]["toy"]["seconds"] == 1.5 and "stelib" in rec["chapters"]["toy"]["environment"]
    before = timings.read_text()
    mode = "fail"  # a failed chapter changes neither its time nor the recorded environment
    assert cli.main(["execute", "--root", str(toy_book)]) == 1
    assert timings.read_text() == before
    mode = "interrupt"  # Ctrl-C: stop, exit 130, record nothing
    assert cli.main(["execute", "--root", str(toy_book)]) == 130
    assert "interrupted" in capsys.readouterr().err and timings.read_text() == before
    assert not list(timings.parent.glob(".*.tmp"))
    timings.write_text('{"chapters": ')  # a corrupt record is reported before anything runs
    calls.clear()
    assert cli.main(["execute", "--root", str(toy_book)]) == 2
    assert "corrupt" in capsys.readouterr().err and not calls


def test_messages_not_tracebacks_for_long_names_bad_defaults_and_broken_chapters(toy_book, tmp_path, capsys):
    long_name = tmp_path / ("x" * 300)
    assert _rerun(toy_book, long_name, "-p", "x", "3") == 2
    assert "File name too long" in capsys.readouterr().err
    toy = toy_book / "chapters" / "toy.ipynb"
    nb = nbformat.read(str(toy), as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("x = 1", "x = int('1')")
    nbformat.write(nb, str(toy))
    assert cli.main(["params", "toy", "--root", str(toy_book)]) == 2
    err = capsys.readouterr().err
    assert "toy.ipynb" in err and "must be a Python literal" in err
    (toy_book / "_toc.yml").write_text("format: jb-book\nroot: chapters/intro\nchapters:\n"
                                       "  - file: chapters/toy\n  - file: chapters/broken\n")
    (toy_book / "chapters" / "broken.ipynb").write_text("{ not json")
    for argv in (["list"], ["rerun", "toy", "-p", "x", "3"]):
        assert cli.main([*argv, "--root", str(toy_book)]) == 2
        assert "broken.ipynb is not a readable notebook" in capsys.readouterr().err


def test_a_kernel_that_dies_leaves_a_failed_notebook_and_a_message(toy_book, tmp_path, capsys):
    out = tmp_path / "runs"
    assert _rerun(toy_book, out, "-p", "x", "9") == 1
    err = capsys.readouterr().err
    assert "kernel died" in err and "Traceback" not in err
    (failed,) = out.glob("toy-*.failed.ipynb")
    nb = nbformat.read(str(failed), as_version=4)
    assert any("x = 9" in c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert [p.name for p in out.iterdir()] == [failed.name]


def test_a_module_found_through_the_current_folder_imports_in_the_kernel_too(tmp_path, monkeypatch, capsys):
    """The check imports ste_modules from the command's folder; the kernel starts in chapters/
    and must find them too (the command gives it the same search path)."""
    root = tmp_path / "book"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: chapters/intro\nchapters:\n  - file: chapters/mods\n")
    (root / "chapters" / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Mods"),
        nbformat.v4.new_code_cell("ste_modules = []  # modules imported first", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import importlib\nprint([importlib.import_module(m).VALUE for m in ste_modules])"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(root / "chapters" / "mods.ipynb"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_cwd_module_x1.py").write_text("VALUE = 41 + 1\n")
    (work / "my_broken_module_x1.py").write_text("raise RuntimeError('broken on import')\n")
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(chapters, "get_spec", lambda name: ChapterSpec("mods", {"ste_modules": Seq(Module())}))
    out = tmp_path / "runs"
    argv = ["rerun", "mods", "--root", str(root), "-o", str(out), "--no-progress", "-p", "ste_modules"]
    assert cli.main([*argv, '["my_cwd_module_x1"]']) == 0
    (run,) = out.glob("mods-*.ipynb")
    assert "[42]" in nbformat.read(str(run), as_version=4).cells[-1].outputs[0]["text"]
    capsys.readouterr()
    assert cli.main([*argv, '["my_broken_module_x1"]']) == 2
    err = capsys.readouterr().err
    assert "broken on import" in err and "PYTHONPATH" not in err  # it was found: no path hint
    assert cli.main([*argv, '["no_such_module_x1"]']) == 2
    assert "PYTHONPATH" in capsys.readouterr().err


def test_ctrl_c_stops_execute_with_130(tmp_path):
    """Ctrl-C in a terminal reaches the kernel too (one process group): execute must still say
    "interrupted", exit 130, run no further chapter and record nothing (not "FAILED", not go on)."""
    root = tmp_path / "book"
    (root / "chapters").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: chapters/intro\nchapters:\n"
                                   "  - file: chapters/slow\n  - file: chapters/quick\n")
    (root / "chapters" / "intro.md").write_text("# Intro\n")
    marker = tmp_path / "started"
    for name, code in (("slow", f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\n"
                                "time.sleep(120)"),
                       ("quick", "print(1)")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {name}"),
                                             nbformat.v4.new_code_cell(code)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(root / "chapters" / f"{name}.ipynb"))
    quick_before = (root / "chapters" / "quick.ipynb").read_text()
    code = (f"import sys\nfrom stelib import cli\n"
            f"sys.exit(cli.main(['--root', {str(root)!r}, 'execute']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 90
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "the slow chapter never started"
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the command and its kernel
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "FAILED" not in err and "quick" not in err, err
    assert "Traceback" not in err and "ZMQError" not in err, err
    assert (root / "chapters" / "quick.ipynb").read_text() == quick_before
    record = root / "chapters" / "reproducibility.json"
    assert not record.exists() or "slow" not in record.read_text()


def test_a_successful_rerun_removes_an_earlier_failure_of_the_same_run(toy_book, tmp_path):
    out = tmp_path / "runs"
    assert _rerun(toy_book, out, "-p", "x", "3") == 0
    (done,) = out.glob("toy-*.ipynb")
    stale = done.with_name(f"{done.stem}.failed.ipynb")
    done.rename(stale)  # as if this run had failed before
    assert _rerun(toy_book, out, "-p", "x", "3") == 0
    assert done.exists() and not stale.exists()


def test_output_dir_names_a_looping_link(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(chapters.UsageError, match="symbolic link that leads nowhere"):
        chapters.output_dir(str(loop), tmp_path)
    with pytest.raises(chapters.UsageError, match="is a file"):
        (tmp_path / "f").write_text("x")
        chapters.output_dir(str(tmp_path / "f"), tmp_path)


def test_outside_a_book_the_command_says_which_book_it_uses(tmp_path, capsys):
    root = chapters.find_root(None, cwd=tmp_path)
    err = capsys.readouterr().err
    assert root == book.ROOT and "not inside a book" in err and str(book.ROOT) in err


@pytest.mark.parametrize("quiet", [False, True])
def test_an_interrupt_leaves_no_asyncio_traceback_at_exit(quiet):
    """After an interrupt nbclient leaves a task unawaited that may end with DeadKernelError;
    asyncio would print its traceback at exit, after the "interrupted" message."""
    code = textwrap.dedent(f"""
        import asyncio
        from stelib.tooling import kernels

        async def dies():
            raise RuntimeError("Kernel died")

        async def main():
            asyncio.ensure_future(dies())
            await asyncio.sleep(0.05)

        if {quiet}:
            kernels.quiet_after_interrupt()
        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0
    assert ("Task exception was never retrieved" in proc.stderr) is not quiet, proc.stderr
