"""stelib.stored and `stelib results`: the stored practice-full results match the code that
made them, carry their provenance, and are never replaced or read unchecked."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stelib import stored
from stelib.practice_report import summary_frame, yin_verdicts

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="module")
def practice_full():
    return stored.load("practice-full")


def test_stored_rows_cover_the_whole_recipe(practice_full):
    rows, prov = practice_full
    p = stored.PRACTICE_FULL
    per_unit = 2 * (1 + len(p["bits"]) * len(p["stes"]))  # two metrics, the start and bits x STEs
    assert len(rows) == len(p["archs"]) * len(p["seeds"]) * per_unit == prov["rows"]
    assert {r["arch"] for r in rows} == set(p["archs"]) and {r["seed"] for r in rows} == set(p["seeds"])
    assert {r["epochs"] for r in rows} == {50}
    assert all(0 <= r["value"] <= 1 for r in rows if r["metric"] == "test_accuracy")
    assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in rows if r["metric"] == "train_loss")


def test_provenance_names_command_versions_and_machine(practice_full):
    _, prov = practice_full
    assert prov["command"] == "stelib results compute practice-full"
    assert prov["parameters"] == stored.PRACTICE_FULL
    for key in ("stelib", "git_commit", "torch", "numpy", "device", "threads", "wall_seconds", "cpu_capability"):
        assert prov[key] not in (None, ""), key
    assert not prov["git_commit"].endswith("+modified"), "computed from uncommitted library code"


def test_one_unit_recomputed_from_scratch_matches_the_stored_numbers():
    """All 50 + 50 epochs of the MLP started from seed 0 (about 6 s). Accuracies must be equal;
    losses agree to stored.LOSS_RTOL (other CPU kernels move them by ~1e-11, measured)."""
    assert stored.check("practice-full", archs=["mlp"], seeds=[0]) == []


def test_check_finds_a_changed_number(tmp_path):
    rows, prov = stored.load("practice-full")
    changed = [dict(r) for r in rows]
    target = next(r for r in changed if r["arch"] == "mlp" and r["seed"] == 0 and r["metric"] == "test_accuracy"
                  and r["ste"] == "crelu" and r["bits"] == 2)
    target["value"] += 1 / 449  # one more test image right
    shutil.copy(DATA / "SHA256SUMS", tmp_path / "SHA256SUMS")
    stored.write("practice-full", changed, prov, directory=tmp_path)
    sha = (tmp_path / "SHA256SUMS").read_text()
    bad = stored.check("practice-full", archs=["mlp"], seeds=[0], directory=tmp_path, record=True)
    assert len(bad) == 1 and bad[0]["ste"] == "crelu" and bad[0]["bits"] == 2
    assert bad[0]["stored"] == pytest.approx(bad[0]["recomputed"] + 1 / 449)
    # the check is recorded in the provenance, the stored numbers are untouched
    rows2, prov2 = stored.load("practice-full", directory=tmp_path)
    assert rows2 == stored.load("practice-full", directory=tmp_path)[0] and (tmp_path / "SHA256SUMS").read_text() == sha
    assert len(prov2["checks"]) == len(prov.get("checks", [])) + 1  # one appended, the earlier kept
    c = prov2["checks"][-1]
    n = 2 + 2 * 3 * 2  # the full-precision start and 2 bits x 3 STEs, loss and accuracy each
    assert (c["compared"], c["differing"], c["units"]) == (n, 1, {"archs": ["mlp"], "seeds": [0]})
    assert c["command"] == "stelib results check practice-full" and c["torch"] == torch.__version__
    text = stored.provenance_text(prov2)
    assert f"last check ({len(prov2['checks'])} recorded): mlp x seeds [0], commit {c['git_commit'][:10]}" in text
    assert f"{n - 1} of {n} stored numbers agree" in text
    # the rows as the check computed them: the changed accuracy back at its recomputed value
    back = stored.as_checked(rows2, c)
    assert sum(a["value"] != b["value"] for a, b in zip(back, rows2, strict=True)) == 1
    assert [r["value"] for r in back] == [r["value"] for r in rows]
    assert "the 1 that differ: mlp seed 0 (stored with" in text
    assert stored.checked_runs(rows2, prov2)["mlp"].test_accuracy.shape == stored.runs_of(rows2)["mlp"].test_accuracy.shape
    assert stored.checked_runs(rows2, {**prov2, "checks": []}) is None
    assert stored.checked_runs(rows2, {**prov2, "checks": [{**c, "differences": []}]}) is None
    with pytest.raises(ValueError, match="not stored"):
        stored.as_checked(rows2, {**c, "differences": [{**c["differences"][0], "seed": 9}]})
    fresh = stored.provenance_text({k: v for k, v in prov.items() if k != "checks"})
    assert "not checked since" in fresh and "last check" not in fresh
    assert max(map(len, text.splitlines())) <= 88
    assert stored.check_summary(prov2).endswith(f"reproduced {n - 1} of the {n} stored numbers")
    assert f"({c['cpu_capability']} kernels, the stored run used {prov['cpu_capability']})" in \
        stored.check_summary(prov2)
    assert stored.check_summary({k: v for k, v in prov.items() if k != "checks"}) == "no recorded recomputation yet"


def test_a_hand_edited_file_is_refused(tmp_path):
    for f in ("practice_full.csv", "practice_full.json", "SHA256SUMS"):
        shutil.copy(DATA / f, tmp_path / f)
    text = (tmp_path / "practice_full.csv").read_text()
    (tmp_path / "practice_full.csv").write_text(text.replace(",test_accuracy,0.9", ",test_accuracy,0.8", 1))
    with pytest.raises(ValueError, match="SHA-256"):
        stored.load("practice-full", directory=tmp_path)
    with pytest.raises(ValueError, match="no stored result"):
        stored.load("practice-full", directory=tmp_path / "missing")


def test_write_never_replaces_without_overwrite(tmp_path):
    rows, prov = stored.load("practice-full")
    stored.write("practice-full", rows[:2], prov, directory=tmp_path)
    before = (tmp_path / "practice_full.csv").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        stored.write("practice-full", rows, prov, directory=tmp_path)
    assert (tmp_path / "practice_full.csv").read_bytes() == before
    stored.write("practice-full", rows, prov, directory=tmp_path, overwrite=True)
    assert len(stored.load("practice-full", directory=tmp_path)[0]) == len(rows)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("kw,match", [({"archs": ["lenet5"]}, "archs="), ({"seeds": [7]}, "seeds="),
                                      ({"archs": []}, "archs=")])
def test_bad_subsets_are_refused_before_training(kw, match):
    with pytest.raises(ValueError, match=match):
        stored.compute("practice-full", **kw)
    with pytest.raises(ValueError, match="name="):
        stored.compute("nope")


def test_runs_of_feeds_the_practice_report(practice_full):
    rows, _ = practice_full
    runs = stored.runs_of(rows)
    assert set(runs) == {"mlp", "cnn"}
    r = runs["mlp"]
    assert r.bits == (2, 4) and r.stes == ("identity", "relu", "crelu") and r.seeds == (0, 1, 2, 3, 4)
    mean, sd = r.final("test_accuracy")
    vals = [x["value"] for x in rows if x["arch"] == "mlp" and x["model"] == "quantized" and x["bits"] == 4
            and x["ste"] == "relu" and x["metric"] == "test_accuracy"]
    assert float(mean[1, 1]) == pytest.approx(sum(vals) / 5)
    assert float(sd[1, 1]) == pytest.approx(float(torch.tensor(vals, dtype=torch.float64).std()))
    assert len(summary_frame(runs)) == 12 and len(yin_verdicts(runs)) == 24
    assert r.pretrained["test_accuracy"].shape == (5,)


def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "stelib", "results", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_cli_refuses_bad_input_and_existing_results(tmp_path):
    for args, needle in ((("compute", "nope"), "invalid choice: 'nope' (choose from 'practice-full')"), (("check", "practice-full", "--arch", "vgg"),
                         "--arch vgg"), (("compute", "practice-full", "--seed", "x"), "--seed"),
                         (("compute", "practice-full"), "--overwrite"),
                         (("compute", "practice-full", "--output", str(tmp_path / "no")), "not a folder"),
                         (("show", "practice-full", "--record"), "--record goes with check")):
        p = _cli(*args)
        assert p.returncode == 2 and needle in p.stderr, (args, p.stderr)
    assert list(tmp_path.iterdir()) == []


def test_cli_show_prints_the_provenance():
    p = _cli("show", "practice-full")
    assert p.returncode == 0
    assert json.loads(p.stdout)["command"] == "stelib results compute practice-full"


def test_the_chapter_with_full_true_trains_the_stored_runs():
    """``stelib rerun practice -p full True`` computes the stored runs (the chapter's exercise says
    so): its defaults are the stored parameters, full's epochs and seeds too, and the steps alpha
    it printed are the stored runs' (both fitted by stelib.lloyd.lloyd_alphas from the same draws;
    a chapter that fitted more bit widths from the same generator would move them)."""
    from stelib.tooling.params import read_parameters

    nb = json.loads((ROOT / "chapters" / "practice.ipynb").read_text())
    par = {k: p.default for k, p in read_parameters(nb).items()}
    full = stored.PRACTICE_FULL
    for key in ("archs", "bits", "stes", "lr", "batch_size", "dataset", "data_seed", "lloyd_samples",
                "lloyd_seed"):
        assert par[key] == full[key], key
    src = "".join(next(c for c in nb["cells"] if "".join(c["source"]).startswith("if full:"))["source"])
    assert f'else {full["epochs"]}' in src and f"seeds = {full['seeds']}" in src, src
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                      for o in c.get("outputs", []) if "lloyd_alphas" in "".join(c["source"]))
    for b, a in stored._alphas(full).items():
        assert f"{b} bit: alpha = {a:.4f} " in printed, (b, a, printed)


def test_budget_text_counts_the_steps_of_a_run():
    text = stored.budget_text()
    # the digits' training split: 1,348 images, 22 batches of 64 per epoch (the last one short)
    assert "50 epochs of 1,348 training images in batches of 64 are 1,100 SGD steps per run" in text
    assert "MNIST's 60,000 images are 45 times as many images" in text
    assert " 40 SGD steps" in stored.budget_text(stored.PRACTICE_FULL | {"batch_size": 337, "epochs": 10})
    assert " 6 SGD steps" in stored.budget_text(stored.PRACTICE_FULL | {"batch_size": 1000, "epochs": 3})
