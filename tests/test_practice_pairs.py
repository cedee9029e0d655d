"""Pairs of STEs judged with the spread and seed by seed, how their readings move between two
sets of runs, each ordering of ours once, matches with a reference that has a tie, and the rows
of a printed table that other numbers change (chapter practice, stored-runs section)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from stelib import stored
from stelib.practice_report import (
    all_ties,
    changed_rows,
    judged_pairs,
    matches_reference,
    orderings_of,
    pair_changes,
    reference_verdicts,
    summary_frame,
    table_text,
)
from stelib.stored import StoredRuns


def _runs(loss, acc, stes=("identity", "relu", "crelu"), bits=(2,)):
    """StoredRuns from per-seed lists: loss[ste][seed], acc[ste][seed], one bit width."""
    t = lambda v: torch.tensor([[[[x] for x in row] for row in v]], dtype=torch.float64)  # noqa: E731
    return StoredRuns("mlp", bits, stes, tuple(range(len(loss[0]))), t(loss), t(acc), {})


def test_judged_pairs_reads_the_spread_and_every_seed():
    loss = [[0.30, 0.31, 0.50, 0.29], [0.20, 0.30, 0.49, 0.28], [0.20, 0.10, 0.60, 0.29]]
    acc = [[0.9, 0.9, 0.9, 0.9], [0.8, 0.8, 0.8, 0.8], [0.9, 0.95, 0.9, 0.9]]
    p = judged_pairs({"mlp": _runs(loss, acc)}).set_index(["metric", "a", "b"])
    row = p.loc[("train_loss", "identity", "relu")]
    # relu lower (better) in every seed, yet the intervals mean +- sd overlap: a tie by the spread
    assert (row.spread, row.a_ahead, row.b_ahead, row.seeds, row.every_seed) == ("=", 0, 4, 4, "<")
    row = p.loc[("train_loss", "identity", "crelu")]  # an equal seed counts for neither
    assert (row.a_ahead, row.b_ahead, row.every_seed) == (1, 2, "=")
    row = p.loc[("test_accuracy", "identity", "relu")]  # higher accuracy is better
    assert (row.spread, row.a_ahead, row.b_ahead, row.every_seed) == (">", 4, 0, ">")
    row = p.loc[("test_accuracy", "identity", "crelu")]  # equal values count for neither
    assert (row.a_ahead, row.b_ahead, row.every_seed) == (0, 1, "=")
    assert len(p) == 6 and list(judged_pairs({}).columns)[:5] == ["arch", "bits", "metric", "a", "b"]


def test_pair_changes_counts_the_moves_of_the_spreads_reading():
    keys = dict(arch="mlp", bits=2, metric="train_loss")
    frame = lambda readings: pd.DataFrame([{**keys, "a": a, "b": b, "spread": s}  # noqa: E731
                                           for (a, b), s in readings.items()])
    before = frame({("i", "r"): "<", ("i", "c"): "=", ("r", "c"): ">", ("x", "y"): "="})
    after = frame({("i", "r"): "=", ("i", "c"): ">", ("r", "c"): "<", ("z", "w"): ">"})
    assert pair_changes(before, after) == {"pairs": 3, "strict_before": 2, "strict_after": 2, "tie_to_strict": 1,
                                           "strict_to_tie": 1, "reversed": 1, "kept": 0}
    assert pair_changes(before, before)["kept"] == 4
    with pytest.raises(ValueError, match=r"after: not a judged_pairs frame.*'spread'"):
        pair_changes(before, after.drop(columns="spread"))


def test_the_stored_runs_seed_by_seed():
    """On the stored 50-epoch runs the mean +- sd rule ties the CNN's 4-bit training losses,
    while the identity STE is behind ReLU and clipped ReLU in every one of the five seeds."""
    rows, _ = stored.load("practice-full")
    p = judged_pairs(stored.runs_of(rows))
    assert len(p) == 24
    split = p[(p.spread == "=") & (p.every_seed != "=")]
    got = {(r.arch, r.bits, r.metric, r.a, r.b, r.every_seed) for r in split.itertuples()}
    assert got == {("cnn", 4, "train_loss", "identity", "relu", "<"),
                   ("cnn", 4, "train_loss", "identity", "crelu", "<")}
    assert (split.b_ahead == 5).all() and (split.seeds == 5).all()


def test_orderings_of_and_matches_reference():
    rows, _ = stored.load("practice-full")
    ver = reference_verdicts(stored.runs_of(rows))
    once = orderings_of(ver)
    assert len(ver) == 16 and len(once) == 8 and int(all_ties(once).sum()) * 2 == int(all_ties(ver).sum())
    shallow = ver[ver.yin_row.str.startswith("shallow")]
    same = shallow[matches_reference(shallow)]
    # ours "relu = crelu > identity" matches LeNet-5's reading, tie included, yet counts as
    # "reappears up to ties": a tie of ours never counts as agreement
    assert set(zip(same.yin_row, same.metric, same.arch, strict=True)) == {("shallow 2-bit", "train_loss", "mlp"),
                                                              ("shallow 4-bit", "train_loss", "mlp")}
    assert (same.verdict == "reappears up to ties").all() and (shallow.verdict != "reappears").all()
    toy = pd.DataFrame({"yin": ["a = b > c", "a > b > c", "a = b > c", "a = b = c"],
                        "ours": ["b = a > c", "a > b > c", "a = b = c *", "a = b = c *"]})
    assert matches_reference(toy).tolist() == [True, True, False, False]


def test_a_run_without_yins_bit_widths_has_no_comparison_and_says_so():
    """A rerun at 3 bits shares no row with Yin et al.'s table (2 and 4 bits): the verdicts are an
    empty frame, each ordering of ours once is empty too, and the text says there is nothing."""
    from stelib.practice_report import verdict_text

    three = _runs([[0.3, 0.31], [0.2, 0.21], [0.1, 0.11]], [[0.9, 0.91]] * 3, bits=(3,))
    ver = reference_verdicts({"mlp": three})
    assert ver.empty and orderings_of(ver).empty and int(all_ties(ver).sum()) == 0
    assert verdict_text(ver).startswith("no comparison: this run shares no bit width")
    two = reference_verdicts({"mlp": _runs([[0.3, 0.31], [0.2, 0.21], [0.1, 0.11]], [[0.9, 0.91]] * 3)})
    assert len(two) == 4 and len(orderings_of(two)) == 2 and not verdict_text(two).startswith("no ")


def test_changed_rows_of_the_stored_table_under_the_recorded_check():
    rows, prov = stored.load("practice-full")
    base = summary_frame(stored.runs_of(rows))
    moved = changed_rows(base, summary_frame(stored.checked_runs(rows, prov)), labels=("stored", "check"))
    assert list(moved.numbers) == ["stored", "check"] * 4
    assert set(zip(moved.arch, moved.bits, moved.ste, strict=True)) == {("mlp", 2, "identity"), ("mlp", 4, "identity"),
                                                          ("mlp", 4, "relu"), ("mlp", 4, "crelu")}
    first = table_text(moved).splitlines()[1:3]  # the MLP's 2-bit identity row, as the page prints it
    assert first[0].split()[-3:-1] == ["95.7", "0.68"] and first[1].split()[-3:-1] == ["95.4", "1.1"]
    assert changed_rows(base, base).empty and changed_rows(base, None).empty
    assert list(changed_rows(base, None).columns) == ["numbers", *base.columns]


def test_changed_rows_ignores_order_and_refuses_other_rows():
    a = pd.DataFrame({"ste": ["relu", "crelu"], "acc": [95.0, 97.0]})
    b = a.iloc[::-1].assign(acc=[96.0, 95.0])  # crelu 96.0, relu 95.0: only crelu moved
    assert changed_rows(a, b, keys=("ste",)).ste.tolist() == ["crelu", "crelu"]
    for other in (a.assign(x=1.0), a.iloc[:1], a.assign(ste=["relu", "identity"]), pd.concat([a, a])):
        with pytest.raises(ValueError, match="before and after must"):
            changed_rows(a, other, keys=("ste",))
    with pytest.raises(ValueError, match="keys=\\['arch'\\]"):
        changed_rows(a, a, keys=("arch",))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"results=\[1\] must be a dict"):
        judged_pairs([1])
    frame = pd.DataFrame({"yin_row": ["deep 2-bit"], "metric": ["train_loss"]})
    for f in (orderings_of, matches_reference):
        with pytest.raises(ValueError, match="verdicts: a frame of yin_verdicts is needed"):
            f(frame)
    a = pd.DataFrame({"ste": ["relu"], "acc": [95.0]})
    with pytest.raises(ValueError, match="labels=\\('x',\\) must be two strings"):
        changed_rows(a, a, keys=("ste",), labels=("x",))
