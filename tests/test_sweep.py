"""``stelib sweep``: grid parsing and validation, a tiny sweep locally and on a Dask LocalCluster.

The sweeps run a chapter-like notebook written into ``tmp_path`` (a parameters cell, a SPEC
cell, a cell that glues three scalars and fails on purpose for ``a = 4``), so they take
seconds, not a chapter's minute.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import nbformat
import pytest

from stelib import book, cli, sweep
from stelib.params import ChapterSpec, Choice, Int

CELLS = [
    ("%matplotlib inline\nfrom myst_nb import glue", []),
    ("a = 1  # an integer in [0, 5]\nmode = \"x\"  # \"x\" or \"y\"", ["parameters"]),
    ("from stelib.params import Choice, Int, validate\n\nSPEC = {\"a\": Int(0, 5), \"mode\": Choice(\"x\", \"y\")}\n"
     "validate(SPEC, a=a, mode=mode)", []),
    ("if a == 4:\n    raise RuntimeError(\"a = 4 fails on purpose\")\n"
     "glue(\"double\", 2 * a, display=False)\nglue(\"half\", a / 2)\nglue(\"word\", mode * a, display=False)", []),
]


SPEC = ChapterSpec("tiny", {"a": Int(0, 5), "mode": Choice("x", "y")})


@pytest.fixture
def chapter(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for src, tags in CELLS:
        nb.cells.append(nbformat.v4.new_code_cell(src, metadata={"tags": tags}))
    (tmp_path / "book").mkdir()
    path = tmp_path / "book" / "tiny.ipynb"
    nbformat.write(nb, str(path))
    return book.Chapter("tiny", path, "tiny")


def read_csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


# --- parsing and validation (no kernel) -----------------------------------------------------

def test_split_values_respects_brackets_and_quotes():
    assert sweep.split_values("1,2.5,relu") == ["1", "2.5", "relu"]
    assert sweep.split_values("[0.1, 4],[1, 2]") == ["[0.1, 4]", "[1, 2]"]
    assert sweep.split_values("'a,b', \"c\"") == ["'a,b'", '"c"']


def test_parse_grid_values_and_errors():
    assert sweep.parse_grid([("lr", "0.1,1e-2"), ("ste", "relu,crelu"), ("s", "[1, 2],(3,)")]) == {
        "lr": [0.1, 0.01], "ste": ["relu", "crelu"], "s": [[1, 2], (3,)]}
    for pairs, msg in (([("a", "1"), ("a", "2")], "'a' given twice"), ([("a", "1,,2")], "empty value"),
                       ([("a", "1,1")], "lists a value twice"), ([], "no parameter"),
                       ([("a", "1,1.0")], "lists a value twice"),  # one value for the chapter
                       ([("s", "[1, 2],(1, 2)")], "lists a value twice")):
        with pytest.raises(ValueError, match=msg):
            sweep.parse_grid(pairs)


def test_every_point_is_validated_before_anything_runs(chapter, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"grid point \{'a': 9, 'mode': 'x'\}.*parameter a=9"):
        sweep.run(chapter, {"a": [1, 9], "mode": ["x"]}, out, workers=1, spec=SPEC)
    with pytest.raises(ValueError, match="unknown parameter 'b'"):
        sweep.run(chapter, {"b": [1]}, out, workers=1, spec=SPEC)
    with pytest.raises(ValueError, match="chapters folder"):
        sweep.grid_points(chapter, {"a": [1]}, chapter.path.parent / "runs", SPEC)
    with pytest.raises(ValueError, match="workers=0"):
        sweep.run(chapter, {"a": [1]}, out, workers=0, spec=SPEC)
    assert not out.exists()


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["sweep", "primer", "-p", "bits", "1,99", "-p", "seed", "0,1", "-o", str(out)]) == 2
    assert "grid point {'bits': 99, 'seed': 0}: parameter bits=99" in capsys.readouterr().err
    for argv, msg in ((["-p", "bits", "1", "--workers", "0"], "--workers 0"), ([], "no parameter to sweep"),
                      (["-p", "nope", "1"], "unknown parameter 'nope'"), (["-p", "bits", "1,,2"], "empty value")):
        assert cli.main(["sweep", "primer", *argv, "-o", str(out)]) == 2
        assert msg in capsys.readouterr().err
    assert cli.main(["sweep", "no-such-chapter", "-p", "a", "1", "-o", str(out)]) == 2
    assert not out.exists()


def test_cli_hands_the_grid_to_run(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(chapter, grid, outdir, **kw):
        seen.update(chapter=chapter.name, grid=grid, outdir=outdir, **kw)
        pts = sweep.grid_points(chapter, grid, outdir, kw["spec"])
        return sweep.SweepResult(pts, [], outdir / "sweep.csv", None, pts[:1])

    monkeypatch.setattr(sweep, "run", fake_run)
    monkeypatch.setattr(sweep, "_check_scheduler", lambda address, error: None)  # no cluster here
    rc = cli.main(["sweep", "primer", "-p", "bits", "1,2", "-p", "scales", "[0.5, 2],[3]", "-o", str(tmp_path),
                   "--workers", "3", "--scheduler", "tcp://h:8786"])
    assert rc == 1  # one failed point
    assert seen["grid"] == {"bits": [1, 2], "scales": [[0.5, 2], [3]]} and seen["chapter"] == "primer"
    assert (seen["workers"], seen["scheduler"], seen["spec"].name) == (3, "tcp://h:8786", "primer")
    assert "3 of 4 grid points finished, 1 failed" in capsys.readouterr().out


def test_points_are_named_as_rerun_names_them(chapter, tmp_path):
    pts = sweep.grid_points(chapter, {"a": [2, 3]}, tmp_path / "out", SPEC)
    assert [p.values for p in pts] == [{"a": 2, "mode": "x"}, {"a": 3, "mode": "x"}]
    assert pts[0].path == cli.output_path(chapter, {"a": 2, "mode": "x"}, (tmp_path / "out").resolve())


def test_glued_scalars_reads_glue_and_papermill_records():
    def out(data, name=None):
        meta = {"scrapbook": {"name": name, "mime_prefix": sweep.RECORD_PREFIX}} if name else {}
        return {"output_type": "display_data", "data": data, "metadata": meta}

    nb = {"cells": [{"cell_type": "code", "outputs": [
        out({sweep.RECORD_PREFIX + "text/plain": "0.25"}, "x"),
        out({sweep.RECORD_PREFIX + "text/plain": "'relu'", "text/plain": "'relu'"}, "s"),
        out({sweep.RECORD_PREFIX + "text/plain": "nan"}, "n"),
        out({sweep.RECORD_PREFIX + "text/plain": "array([1, 2])"}, "arr"),  # not a scalar: left out
        out({sweep.RECORD_PREFIX + "text/plain": "np.float64(0.5)"}, "np"),
        out({sweep.RECORD_PREFIX + "text/plain": "np.True_"}, "flag"),
        out({sweep.RECORD_PREFIX + "application/json": 3}, "k"),
        {"output_type": "display_data", "data": {"text/plain": ["0.5"]},  # glue(..., display=True)
         "metadata": {"scrapbook": {"name": "shown", "mime_prefix": ""}}},
        out({sweep.RECORD_JSON: {"rec": 1.5, "lst": [1]}}),
    ]}]}
    got = sweep.glued_scalars(nb)
    assert math.isnan(got.pop("n"))
    # an array and a list are not scalars: left out
    assert got == {"x": 0.25, "s": "relu", "np": 0.5, "flag": True, "k": 3, "shown": 0.5, "rec": 1.5}


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "sweep.csv"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        sweep._write_atomic(target, fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["sweep.csv"]


# --- real sweeps ------------------------------------------------------------------------------

def check_table(out, expected_points):
    rows = read_csv(out / "sweep.csv")
    assert len(rows) == len(expected_points)
    for row, (a, mode) in zip(rows, expected_points, strict=True):
        assert (row["a"], row["mode"]) == (str(a), mode)
        if a == 4:
            assert row["status"].startswith("failed: cell") and "fails on purpose" in row["status"]
            assert row["double"] == row["notebook"] == ""
        else:
            assert row["status"] == "ok"
            assert (float(row["double"]), float(row["half"]), row["word"]) == (2 * a, a / 2, mode * a)
            nb = json.loads((out / row["notebook"]).read_text())
            assert nb["metadata"]["papermill"]["parameters"] == {"a": a, "mode": mode}
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return rows


def test_local_sweep_skips_finished_points_and_reports_failures(chapter, tmp_path, capsys):
    out = tmp_path / "out"
    res = sweep.run(chapter, {"a": [1, 4], "mode": ["x", "y"]}, out, workers=2, spec=SPEC)
    assert sorted(str(p.overrides) for p in res.failed) == ["{'a': 4, 'mode': 'x'}", "{'a': 4, 'mode': 'y'}"]
    assert res.csv == out.resolve() / "sweep.csv" and res.figure == out.resolve() / "sweep.png"
    assert "cell" in capsys.readouterr().err  # failures are reported with their cell
    check_table(out, [(1, "x"), (1, "y"), (4, "x"), (4, "y")])
    assert len(list(out.glob("tiny-*.failed.ipynb"))) == 2
    assert not list(out.glob(".*tmp"))  # no temporary file left behind

    before = {p: p.stat().st_mtime_ns for p in out.glob("tiny-*.ipynb") if ".failed" not in p.name}
    res = sweep.run(chapter, {"a": [1], "mode": ["x", "y"]}, out, workers=1, spec=SPEC)
    assert not res.failed and len(res.rows) == 2
    assert {p: p.stat().st_mtime_ns for p in before} == before  # finished points are not run again
    assert capsys.readouterr().err.count("skip (finished)") == 2
    mask = os.umask(0o022)
    os.umask(mask)
    for f in (res.csv, *before):  # ordinary files, as rerun writes them (not mkstemp's 0600)
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f
    assert res.figure is not None and res.figure.exists()
    res = sweep.run(chapter, {"a": [4], "mode": ["y"]}, out, workers=1, spec=SPEC)  # fails: no figure
    assert res.figure is None and not (out / "sweep.png").exists()  # and no stale one beside it


def test_sweep_on_a_dask_local_cluster(chapter, tmp_path):
    from distributed import LocalCluster

    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        res = sweep.run(chapter, {"a": [2, 4], "mode": ["y"]}, out, scheduler=cluster.scheduler_address, spec=SPEC)
        workers = len(cluster.scheduler_info["workers"])
    assert workers == 2
    assert [p.overrides for p in res.failed] == [{"a": 4, "mode": "y"}]
    check_table(out, [(2, "y"), (4, "y")])


def test_figure_draws_what_varies(tmp_path):
    rows = [{"lr": lr, "ste": ste, "status": "ok", "notebook": "x", "loss": lr * k, "const": 0.5439100170659014 + d,
             "name": ste} for lr in (0.1, 0.2) for k, (ste, d) in enumerate([("relu", 0.0), ("crelu", 1e-16)], 1)]
    assert sweep._varies([r["loss"] for r in rows]) and not sweep._varies([r["const"] for r in rows])
    assert sweep._write_figure(rows, ["lr", "ste"], tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert not sweep._write_figure([{**rows[0], "status": "failed: x"}], ["lr"], tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def _drawn(monkeypatch):
    """Record every matplotlib Figure that _write_figure saves, with savefig's keywords (and
    skip the rendering: the PNG itself is checked in test_figure_draws_what_varies)."""
    from matplotlib.figure import Figure

    figs = []

    def spy(self, *args, **kw):
        figs.append((self, kw))

    monkeypatch.setattr(Figure, "savefig", spy)
    return figs


def test_figure_layout_lines_and_legend(tmp_path, monkeypatch):
    figs = _drawn(monkeypatch)
    rows = [{"lr": lr, "ste": ste, "status": "ok", "notebook": "x", "const": 0.5,
             **{f"m{j}": lr + j * k for j in range(13)}}
            for lr in (3, 1, 2) for k, ste in ((1, "relu"), (2, "crelu"))]
    rows.append({"lr": 4, "ste": "relu", "status": "failed: x", "notebook": ""})
    assert sweep._write_figure(rows, ["lr", "ste"], tmp_path / "a.png")
    fig, kw = figs[-1]
    assert (kw["format"], kw["dpi"]) == ("png", 110)
    assert tuple(fig.get_size_inches()) == pytest.approx((4.2 * 3, 3.2 * 4))  # 12 panels, 3 a row
    axes = fig.axes
    assert len(axes) == 12 and all(ax.get_visible() for ax in axes)
    assert [ax.get_title() for ax in axes] == [f"m{j}" for j in range(12)]  # at most 12, in order
    assert axes[0].title.get_fontsize() == 10
    for j, ax in enumerate(axes):
        lines = ax.get_lines()
        assert [ln.get_label() for ln in lines] == ["ste=crelu", "ste=relu"]  # others sorted
        for ln, k in zip(lines, (2, 1), strict=True):
            assert list(ln.get_xdata()) == [1, 2, 3] and list(ln.get_ydata()) == [x + j * k for x in (1, 2, 3)]
        assert ax.xaxis.get_major_locator()._integer  # integer x: integer ticks
    legend = axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["ste=crelu", "ste=relu"]
    assert legend.get_texts()[0].get_fontsize() == 7
    assert all(ax.get_legend() is None for ax in axes[1:])

    # strings on x: positions 0, 1, ... labelled in order of appearance; numeric others sorted
    few = [{k: v for k, v in r.items() if k in ("lr", "ste", "status", "notebook", "m1", "m2", "m3", "m4")}
           for r in rows]
    assert sweep._write_figure(few, ["ste", "lr"], tmp_path / "b.png")
    fig = figs[-1][0]
    assert tuple(fig.get_size_inches()) == pytest.approx((4.2 * 3, 3.2 * 2))
    assert [ax.get_visible() for ax in fig.axes] == [True] * 4 + [False] * 2
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["relu", "crelu"]
    assert [ln.get_label() for ln in ax.get_lines()] == ["lr=1", "lr=2", "lr=3"]
    assert [list(ln.get_xdata()) for ln in ax.get_lines()] == [[0, 1]] * 3
    assert [list(ln.get_ydata()) for ln in ax.get_lines()] == [[x + 1, x + 2] for x in (1, 2, 3)]

    # one swept parameter: no legend; nothing varies: every number is drawn; no number: no figure
    flat = [{"lr": lr, "status": "ok", "notebook": "x", "c": 1.0, "d": 2, "s": "t"} for lr in (0.1, 0.2)]
    assert sweep._write_figure(flat, ["lr"], tmp_path / "c.png")
    fig = figs[-1][0]
    assert [ax.get_title() for ax in fig.axes] == ["c", "d"] and fig.axes[0].get_legend() is None
    assert not fig.axes[0].xaxis.get_major_locator()._integer
    assert tuple(fig.get_size_inches()) == pytest.approx((4.2 * 2, 3.2))
    n = len(figs)
    assert not sweep._write_figure([{"lr": 1, "status": "ok", "notebook": "x", "s": "t"}], ["lr"], tmp_path / "d.png")
    assert len(figs) == n and not (tmp_path / "d.png").exists()


def test_varies_threshold_and_non_numbers():
    """More than 1e-9 of the largest |value| (at least 1e-300), strictly; else any repr differs."""
    assert not sweep._varies([1e6, 1e6 + 1e-4]) and sweep._varies([1e6, 1e6 + 2e-3])
    assert sweep._varies([1.0, 1.0 + 1.005e-9]) and not sweep._varies([1.0, 1.0 + 0.995e-9])
    assert not sweep._varies([1.000000081740371, 1.000000082740371])  # spread == 1e-9 * max exactly
    assert sweep._varies([0.0, 1.005e-309]) and not sweep._varies([0.0, 0.995e-309])  # the 1e-300 floor
    nan = float("nan")
    assert not sweep._varies([nan, nan]) and sweep._varies([nan, 1.0]) and sweep._varies(["a", "b"])
    assert not sweep._varies(["a", "a"]) and sweep._varies([True, 1.0])
    assert [sweep._number(v) for v in (1, 2.5, True, "1", None)] == [True, True, False, False, False]


def test_figure_orders_mixed_columns_numbers_first(tmp_path, monkeypatch):
    figs = _drawn(monkeypatch)
    rows = [{"x": x, "o": o, "status": "ok", "notebook": "n", "y": x * (2 if o == "a" else 1), "flag": True}
            for o in ("a", 1) for x in (1.0, 2.0)]
    assert sweep._write_figure(rows, ["x", "o"], tmp_path / "m.png")
    ax = figs[-1][0].axes[0]
    assert [ax.get_title() for ax in figs[-1][0].axes] == ["y"]  # booleans are not numbers
    assert [ln.get_label() for ln in ax.get_lines()] == ["o=1", "o=a"]
    assert [list(ln.get_ydata()) for ln in ax.get_lines()] == [[1.0, 2.0], [2.0, 4.0]]


def test_run_defaults_workers_and_nested_output(chapter, tmp_path, monkeypatch):
    """No kernel: the executor is replaced by a recorder that finishes nothing."""
    seen = []
    monkeypatch.setattr(sweep, "_execute", lambda todo, source, cwd, workers, scheduler, done:
                        seen.append((len(todo), cwd, workers, scheduler)))
    for cpus, workers in ((8, 4), (3, 1), (2, 1), (1, 1), (None, 1)):
        monkeypatch.setattr(sweep.os, "cpu_count", lambda c=cpus: c)
        sweep.run(chapter, {"a": [1]}, tmp_path / "w", spec=SPEC, log=io.StringIO())
        assert seen[-1][2] == workers
    log = io.StringIO()
    res = sweep.run(chapter, {"a": [1, 2]}, tmp_path / "x" / "y", workers=1, spec=SPEC, log=log)
    assert seen[-1] == (2, str(chapter.path.parent), 1, None) and "2 of 2 grid points" in log.getvalue()
    assert [r["status"] for r in res.rows] == ["failed: not run"] * 2 and res.figure is None
    assert read_csv(tmp_path / "x" / "y" / "sweep.csv")[0]["status"] == "failed: not run"
    for bad in (0, True, 2.0, -1):
        with pytest.raises(ValueError, match=rf"workers={bad!r} must be an integer >= 1"):
            sweep.run(chapter, {"a": [1]}, tmp_path / "z", workers=bad, spec=SPEC)
    assert not (tmp_path / "z").exists()
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        res.points[0].path = tmp_path


def test_grid_points_default_to_the_chapters_spec(tmp_path):
    ch = book.chapter("primer")
    pts = sweep.grid_points(ch, {"bits": [1, 2]}, tmp_path)
    assert [p.values["bits"] for p in pts] == [1, 2]
    with pytest.raises(ValueError, match=r"grid point \{'bits': 99\}: parameter bits=99"):
        sweep.grid_points(ch, {"bits": [99]}, tmp_path)


def test_cli_output_lines_exit_status_and_default_folder(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(chapter, grid, outdir, **kw):
        seen.update(outdir=outdir, workers=kw["workers"])
        pts = sweep.grid_points(chapter, grid, outdir, kw["spec"])
        return sweep.SweepResult(pts, [], outdir / "sweep.csv", outdir / "sweep.png", [])

    monkeypatch.setattr(sweep, "run", fake_run)
    assert cli.main(["sweep", "primer", "-p", "bits", "1,2", "--workers", "1"]) == 0  # every point finished
    root = cli.find_root()
    assert seen == {"outdir": root / "runs" / "sweep-primer", "workers": 1}
    out = seen["outdir"]
    assert capsys.readouterr().out.splitlines() == [
        "2 of 2 grid points finished, 0 failed", str(out / "sweep.csv"), str(out / "sweep.png")]
    assert not out.exists()  # the fake run wrote nothing


def test_glued_minus_infinity_and_failed_write_without_a_file(tmp_path):
    meta = {"scrapbook": {"name": "m", "mime_prefix": sweep.RECORD_PREFIX}}
    nb = {"cells": [{"outputs": [{"data": {sweep.RECORD_PREFIX + "text/plain": "-inf"}, "metadata": meta}]}]}
    assert sweep.glued_scalars(nb) == {"m": -math.inf}

    def vanish(tmp):  # the writer removes its own temporary file, then fails
        tmp.unlink()
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        sweep._write_atomic(tmp_path / "f.csv", vanish)
    assert list(tmp_path.iterdir()) == []


def test_run_point_hands_papermill_its_folder_only_if_it_exists(tmp_path, monkeypatch):
    import papermill

    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda nb, out, **kw: calls.append(kw))
    source = nbformat.writes(nbformat.v4.new_notebook())
    for cwd, expected in ((str(tmp_path), str(tmp_path)), (None, None), ("", None),
                          (str(tmp_path / "missing"), None)):
        assert sweep.run_point(source, {"a": 1}, cwd) == (True, None, "")  # the fake writes nothing
        path = calls[-1].get("resources", {}).get("metadata", {}).get("path")
        assert path == expected and calls[-1]["parameters"] == {"a": 1}
        assert calls[-1].get("cwd") is None  # never papermill's process-wide chdir
    assert calls[-1]["progress_bar"] is False and calls[-1]["kernel_name"] == "python3"


def test_points_in_parallel_threads_each_run_in_their_folder_and_leave_the_process_cwd(tmp_path):
    """Two kernels started at once from two threads: each starts in the folder it was given, and
    the calling process's working directory is the same afterwards (papermill's cwd= is a
    process-wide chdir that two threads can interleave, leaving the process elsewhere)."""
    from concurrent.futures import ThreadPoolExecutor

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("tag = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import os\nprint(os.getcwd())")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = nbformat.writes(nb)
    dirs = [tmp_path / f"d{k}" for k in range(4)]
    for d in dirs:
        d.mkdir()
    before = os.getcwd()
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda k: sweep.run_point(source, {"tag": k}, str(dirs[k])), range(4)))
    assert os.getcwd() == before
    for d, (ok, text, err) in zip(dirs, runs, strict=True):
        assert ok, err
        printed = nbformat.reads(text, as_version=4).cells[-1].outputs[0]["text"].strip()
        assert Path(printed).resolve() == d.resolve()


def test_a_finished_point_is_reused_only_with_the_same_provenance(chapter, tmp_path, capsys):
    """Each run records what produced it; a changed chapter, user module, or a foreign file
    under a point's name makes the sweep run the point again and say why."""
    from stelib import provenance

    out = tmp_path / "out"
    sweep.run(chapter, {"a": [1], "mode": ["x"]}, out, workers=1, spec=SPEC)
    (nb_path,) = [p for p in out.glob("tiny-*.ipynb") if ".failed" not in p.name]
    meta = json.loads(nb_path.read_text())["metadata"]
    rec = meta["stelib"]["provenance"]
    assert rec["chapter"] == "tiny.ipynb" and rec["parameters"]["a"] == 1 and rec["stelib"]
    assert len(rec["chapter_sha256"]) == len(rec["library_sha256"]) == 64
    assert meta["papermill"]["output_path"] == str(nb_path)  # the final name, not a temporary one
    capsys.readouterr()

    sweep.run(chapter, {"a": [1], "mode": ["x"]}, out, workers=1, spec=SPEC)
    assert "skip (finished)" in capsys.readouterr().err

    nb = nbformat.read(str(chapter.path), as_version=4)  # the chapter changes: the point is stale
    nb.cells[-1].source += "\nglue(\"extra\", 7, display=False)"
    nbformat.write(nb, str(chapter.path))
    res = sweep.run(chapter, {"a": [1], "mode": ["x"]}, out, workers=1, spec=SPEC)
    assert "rerun (chapter changed)" in capsys.readouterr().err
    assert res.rows[0]["extra"] == 7

    nb_path.write_text("{ truncated")  # a foreign or truncated file under the point's name
    res = sweep.run(chapter, {"a": [1], "mode": ["x"]}, out, workers=1, spec=SPEC)
    assert "rerun (no provenance" in capsys.readouterr().err and res.rows[0]["status"] == "ok"
    assert provenance.recorded(nb_path)["parameters"]["mode"] == "x"


def test_provenance_sees_a_changed_user_module(tmp_path):
    from stelib import provenance

    chap = tmp_path / "c.ipynb"
    chap.write_text("{}")
    (tmp_path / "my_surrogates.py").write_text("X = 1\n")
    values = {"ste_modules": ["my_surrogates"], "a": 1}
    first = provenance.record(chap, values, commit="abc")
    assert first["modules_sha256"]["my_surrogates"] != "not found"
    run = tmp_path / "run.ipynb"
    run.write_text(provenance.stamp(json.dumps({"cells": [], "metadata": {}}), first, run))
    assert provenance.mismatch(run, first) is None
    assert provenance.mismatch(run, provenance.record(chap, values, commit="other")) is None  # info only
    (tmp_path / "my_surrogates.py").write_text("X = 2\n")
    assert provenance.mismatch(run, provenance.record(chap, values, commit="abc")) == "module my_surrogates changed"
    assert provenance.mismatch(run, provenance.record(chap, {**values, "a": 2}, commit="abc")) == "parameters changed"
    assert provenance.record(chap, {"ste_modules": ["no_such_module_x"]}, commit="")["modules_sha256"] == {
        "no_such_module_x": "not found"}


def test_cli_guards_large_grids_busy_cores_and_unwritable_folders(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(sweep, "run", lambda *a, **kw: ran.append(1) or sweep.SweepResult([], [], tmp_path, None))
    big = ["-p", "seed", ",".join(str(i) for i in range(sweep.CONFIRM_ABOVE + 1))]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    out = tmp_path / "big"
    assert cli.main(["sweep", "primer", *big, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{sweep.CONFIRM_ABOVE + 1} grid points" in err and "--yes" in err and not ran and not out.exists()
    assert cli.main(["sweep", "primer", *big, "-o", str(out), "--yes"]) == 0 and ran
    few = ["-p", "seed", "0,1"]
    assert cli.main(["sweep", "primer", *few, "-o", str(tmp_path / "w"), "--workers", str(os.cpu_count() + 5)]) == 0
    assert "more than the" in capsys.readouterr().err
    ran.clear()
    assert cli.main(["sweep", "primer", *few, "-o", "/proc/stelib-cannot-write"]) == 2  # checked before running
    assert "cannot write into" in capsys.readouterr().err and not ran


def test_ctrl_c_stops_a_local_sweep_and_keeps_what_finished(tmp_path):
    """A real SIGINT while one point sleeps: no new point starts, the sleeping kernel is ended,
    the finished point and the CSV are kept, and sweep.run raises SweepInterrupted at once."""
    import signal
    import threading
    import time

    import psutil

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import time\nfrom myst_nb import glue\nif a > 1:\n    time.sleep(120)\n"
                                          "glue('a2', 2 * a, display=False)")]
    (tmp_path / "book").mkdir()
    path = tmp_path / "book" / "slow.ipynb"
    nbformat.write(nb, str(path))
    chapter = book.Chapter("slow", path, "slow")
    spec = ChapterSpec("slow", {"a": Int(0, 5)})
    out = tmp_path / "out"

    def interrupt_when_one_finished():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if [p for p in out.glob("slow-*.ipynb") if ".failed" not in p.name]:
                time.sleep(2.0)  # the slow points are sleeping in their kernels by now
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.1)

    threading.Thread(target=interrupt_when_one_finished, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(sweep.SweepInterrupted) as stop:
        sweep.run(chapter, {"a": [1, 2, 3, 4]}, out, workers=2, spec=spec, log=io.StringIO())
    assert time.monotonic() - start < 60  # not the 120 s of a sleeping point
    rows = {r["a"]: r["status"] for r in read_csv(out / "sweep.csv")}
    assert rows["1"] == "ok" and {rows["2"], rows["3"], rows["4"]} <= {"failed: interrupted"} | {
        s for s in rows.values() if s.startswith("failed")}
    assert len([p for p in out.glob("slow-*.ipynb") if ".failed" not in p.name]) == 1
    assert stop.value.result.rows[0]["status"] == "ok"
    time.sleep(0.5)
    left = [c for c in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(c.cmdline())]
    assert not left, "kernels left running after Ctrl-C"


def test_cli_refuses_a_bad_or_silent_scheduler_quickly(tmp_path, capsys):
    import http.server
    import socket
    import threading
    import time

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        for address, msg in (("notanaddress::", "--scheduler 'notanaddress::'"),
                             (f"tcp://127.0.0.1:{dead}", "no Dask scheduler answered"),
                             (f"tcp://127.0.0.1:{httpd.server_address[1]}", "no Dask scheduler answered")):
            out = tmp_path / "o"
            start = time.monotonic()
            assert cli.main(["sweep", "primer", "-p", "seed", "0,1", "-o", str(out), "--scheduler", address]) == 2
            assert time.monotonic() - start < 30
            assert msg in capsys.readouterr().err and not out.exists()
    finally:
        httpd.shutdown()


def test_a_later_smaller_sweep_keeps_the_earlier_rows_in_its_table(chapter, tmp_path):
    out = tmp_path / "out"
    sweep.run(chapter, {"a": [1], "mode": ["x", "y"]}, out, workers=2, spec=SPEC)
    res = sweep.run(chapter, {"a": [2]}, out, workers=1, spec=SPEC)
    rows = read_csv(res.csv)
    assert [(r["a"], r["mode"], r["status"]) for r in rows] == [
        ("2", "x", "ok"), ("1", "x", "ok (earlier sweep)"), ("1", "y", "ok (earlier sweep)")]
    assert all(r["notebook"].endswith(".ipynb") for r in rows)
    # a notebook of the folder that no longer matches the chapter gets no row
    stale = out / rows[1]["notebook"]
    nb = json.loads(stale.read_text())
    nb["metadata"]["stelib"]["provenance"]["chapter_sha256"] = "0" * 64
    stale.write_text(json.dumps(nb))
    rows = read_csv(sweep.run(chapter, {"a": [2]}, out, workers=1, spec=SPEC).csv)
    assert [(r["a"], r["mode"]) for r in rows] == [("2", "x"), ("1", "y")]
