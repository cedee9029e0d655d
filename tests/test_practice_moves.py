"""Which pairs of STEs change their reading between two sets of runs (exercise
ex-practice-rerun of chapter practice), matches with a reference on a frame without rows, bad
results named, and the column names of the step-rate table of chapter proper."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from stelib import proper
from stelib.practice_report import judged_pairs, matches_reference, moved_pairs, pair_changes
from stelib.stored import StoredRuns

KEYS = dict(arch="mlp", bits=2, metric="train_loss")


def _frame(readings: dict) -> pd.DataFrame:
    return pd.DataFrame([{**KEYS, "a": a, "b": b, "spread": s} for (a, b), s in readings.items()])


def test_moved_pairs_names_the_pairs_pair_changes_counts():
    before = _frame({("i", "r"): "<", ("i", "c"): "=", ("r", "c"): ">", ("x", "y"): "=", ("u", "v"): "="})
    after = _frame({("u", "v"): "=", ("r", "c"): "<", ("i", "c"): ">", ("i", "r"): "=", ("z", "w"): ">"})
    moved = moved_pairs(before, after, labels=("preview", "stored"))
    assert list(moved.columns) == ["arch", "bits", "metric", "a", "b", "preview", "stored", "change"]
    # in the order of before; the pair only one frame holds and the kept pair are left out
    got = [(r.a, r.b, r.preview, r.stored, r.change) for r in moved.itertuples()]
    assert got == [("i", "r", "<", "=", "strict to tie"), ("i", "c", "=", ">", "tie to strict"),
                   ("r", "c", ">", "<", "reversed")]
    counts = pair_changes(before, after)
    for key in ("tie_to_strict", "strict_to_tie", "reversed"):
        assert counts[key] == int((moved.change == key.replace("_", " ")).sum())
    assert len(moved) == counts["pairs"] - counts["kept"]
    same = moved_pairs(before, before)
    assert same.empty and list(same.columns) == ["arch", "bits", "metric", "a", "b", "before", "after", "change"]


@pytest.mark.parametrize("labels", [("x",), ("x", "x"), ("x", 1), ("x", "change"), ("bits", "y")])
def test_moved_pairs_refuses_bad_labels(labels):
    frame = _frame({("i", "r"): "<"})
    with pytest.raises(ValueError, match=r"labels=.* must be two different strings"):
        moved_pairs(frame, frame, labels=labels)


def test_moved_pairs_refuses_a_frame_without_readings():
    frame = _frame({("i", "r"): "<"})
    with pytest.raises(ValueError, match=r"before: not a judged_pairs frame.*'spread'"):
        moved_pairs(frame.drop(columns="spread"), frame)
    with pytest.raises(ValueError, match=r"after: not a judged_pairs frame"):
        moved_pairs(frame, [1, 2])


def test_matches_reference_on_no_rows_is_an_empty_boolean_series():
    empty = pd.DataFrame(columns=["yin_row", "metric", "arch", "yin", "ours"])
    got = matches_reference(empty)
    assert isinstance(got, pd.Series) and got.dtype == bool and got.empty and int(got.sum()) == 0
    toy = pd.DataFrame({"yin": ["a = b > c", "a > b > c"], "ours": ["b = a > c", "a > c > b"]}, index=[5, 9])
    got = matches_reference(toy)
    assert got.dtype == bool and got.index.tolist() == [5, 9] and got.tolist() == [True, False]


def test_judged_pairs_names_a_result_that_is_not_one():
    with pytest.raises(ValueError, match=r"results\['mlp'\]=3 must be a practice result.*'train_loss'"):
        judged_pairs({"mlp": 3})
    t = torch.zeros((1, 2, 2, 1), dtype=torch.float64)
    good = StoredRuns("mlp", (2,), ("relu", "crelu"), (0, 1), t, t, {})
    with pytest.raises(ValueError, match=r"results\['cnn'\]=.*lacks \['bits', 'stes'"):
        judged_pairs({"mlp": good, "cnn": object()})
    assert len(judged_pairs({"mlp": good})) == 2


def test_step_rate_columns_say_they_are_products_of_lr_and_a_rate():
    rates = proper.step_rates(proper.vanishing_table(["crelu"]), [2.0, 1.0], lr=0.8)
    header = [c.strip() for c in str(rates).splitlines()[1].split("|")]
    assert header == ["STE", "lr*rate v", "lr*rate radial", "lr*rate direction", "CGD stable"]
    row = [c.strip() for c in str(rates).splitlines()[2].split("|")]
    assert row == ["crelu", "0.4", "0.622", "1.69", "True"]
