"""Tests of stelib.practice_report: ties judged with the spread, orderings, Yin's table, frames."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from stelib.practice_report import (
    all_ties,
    change_frame,
    changed_verdicts,
    compare_with_yin,
    judge,
    layer_frame,
    load_yin_table,
    long_frame,
    ordering,
    ordering_notes,
    verdict_changes,
    verdict_text,
    yin_stats,
    yin_verdicts,
)


def test_judge_ties_inside_the_spread():
    assert judge(0.90, 0.01, 0.85, 0.01, higher_better=True) == ">"
    assert judge(0.90, 0.03, 0.85, 0.03, higher_better=True) == "="  # 0.87 <= 0.88: overlap
    assert judge(0.10, 0.01, 0.20, 0.01, higher_better=False) == ">"  # lower loss is better
    assert judge(0.10, 0.0, 0.20, 0.0, higher_better=True) == "<"
    assert judge(0.5, 0.0, 0.5, 0.0, higher_better=True) == "="
    assert judge(1.0, 0.2, 1.5, 0.29, higher_better=True) == "<"  # 1.2 < 1.21: separated


def test_ordering_string():
    acc = {"identity": (0.80, 0.01), "relu": (0.85, 0.06), "crelu": (0.90, 0.01)}
    assert ordering(acc, higher_better=True) == "crelu = relu = identity *"  # crelu > identity
    acc["crelu"] = (0.90, 0.1)
    assert ordering(acc, higher_better=True) == "crelu = relu = identity"  # every pair a tie
    acc["relu"], acc["crelu"] = (0.85, 0.01), (0.90, 0.01)
    assert ordering(acc, higher_better=True) == "crelu > relu > identity"
    assert ordering(acc, higher_better=False) == "identity > relu > crelu"


def test_ordering_notes_name_the_pairs_a_chain_of_neighbours_misstates():
    # ties are not transitive: a = b and b = c with a > c, and a > b = c with a = c
    acc = {"identity": (0.80, 0.01), "relu": (0.85, 0.06), "crelu": (0.90, 0.01)}
    assert ordering_notes(acc, higher_better=True) == ["crelu > identity"]
    loss = {"crelu": (0.10, 0.03), "identity": (0.16, 0.01), "relu": (0.17, 0.04)}
    assert ordering(loss, higher_better=False) == "crelu > identity = relu *"
    assert ordering_notes(loss, higher_better=False) == ["crelu = relu"]
    for fine in ({"a": (1.0, 0.1), "b": (2.0, 0.1), "c": (3.0, 0.1)}, {"a": (1.0, 0.0)},
                 {"a": (1.0, 1.0), "b": (1.5, 1.0), "c": (2.0, 1.0)}):
        assert ordering_notes(fine, higher_better=True) == [] and "*" not in ordering(fine, higher_better=True)


def test_verdict_text_names_the_starred_rows_and_all_ties_counts_every_pair():
    from stelib.practice_report import reference_verdicts

    loss = [[[[2.0, 0.3], [2.0, 0.31]], [[2.0, 0.2], [2.0, 0.21]], [[2.0, 0.1], [2.0, 0.11]]]]
    # accuracy: identity 0.81 +- 0.014, relu 0.85 +- 0.071, crelu 0.89 +- 0.014 (crelu > identity)
    acc = [[[[0.1, 0.80], [0.1, 0.82]], [[0.1, 0.80], [0.1, 0.90]], [[0.1, 0.88], [0.1, 0.90]]]]
    ver = reference_verdicts({"mlp": fake_result(loss, acc)})
    row = ver[(ver.metric == "test_accuracy")].iloc[0]
    assert row.ours == "crelu = relu = identity *" and row.note == "crelu > identity"
    assert row.agree + row.tie + row.strict + row.reversed == 3 and row.tie == 2
    assert not all_ties(ver).any()  # the starred rows have a strict pair
    text = verdict_text(ver)
    assert "* shallow 2-bit test_accuracy mlp: crelu > identity, beyond neighbours" in text
    assert text.count(", beyond neighbours") == 2  # one per reference
    tables = text.split("\n\n")
    assert len(tables) == 2 and "note" not in text and "reversed" in tables[1]
    assert "reversed" not in verdict_text(ver, pairs=False) and "verdict" in verdict_text(ver, pairs=False)


def test_an_ste_with_a_diverged_run_is_left_out_and_named():
    """identity diverged in one of two seeds: its final numbers are those of a stopped run, so the
    orderings compare relu and crelu only, and the text names what was left out."""
    from stelib.practice_report import reference_verdicts

    loss = [[[[2.0, 9.0], [2.0, 0.31]], [[2.0, 0.2], [2.0, 0.21]], [[2.0, 0.1], [2.0, 0.11]]]]
    acc = [[[[0.1, 0.10], [0.1, 0.82]], [[0.1, 0.80], [0.1, 0.90]], [[0.1, 0.88], [0.1, 0.90]]]]
    res = fake_result(loss, acc)
    res.diverged[0, 0, 0] = True
    ver = reference_verdicts({"mlp": res})
    assert len(ver) == 4 and (ver.left_out == "identity (1 of 2 seeds)").all()
    assert set(ver.ours) == {"crelu > relu", "crelu = relu"} and (ver.agree + ver.tie + ver.strict + ver.reversed == 1).all()
    text = verdict_text(ver)
    assert text.count("left out, diverged: identity (1 of 2 seeds)") == 4 and "left_out" not in text
    clean = reference_verdicts({"mlp": fake_result(loss, acc)})
    assert (clean.left_out == "").all() and "left out" not in verdict_text(clean)
    res.diverged[0, 1, 1] = True  # relu too: one STE remains, nothing to compare
    assert reference_verdicts({"mlp": res}).empty


def test_compare_with_yin_verdicts():
    theirs = {"identity": (0.98, 0), "relu": (0.99, 0), "crelu": (0.995, 0)}
    same = {"identity": (0.90, 0.001), "relu": (0.92, 0.001), "crelu": (0.95, 0.001)}
    pairs, v = compare_with_yin(same, theirs, metric="test_accuracy")
    assert v == "reappears" and set(pairs.values()) == {"agrees"}
    tie = {**same, "relu": (0.93, 0.02)}
    pairs, v = compare_with_yin(tie, theirs, metric="test_accuracy")
    assert v == "reappears up to ties" and pairs[("relu", "crelu")] == "tie"
    flip = {**same, "identity": (0.99, 0.001)}
    pairs, v = compare_with_yin(flip, theirs, metric="test_accuracy")
    assert v == "does not reappear" and pairs[("identity", "relu")] == "reversed"
    # for the loss lower is better
    losses = {"identity": (0.03, 0), "relu": (0.005, 0), "crelu": (0.004, 0)}
    assert compare_with_yin({"identity": (0.3, 0.01), "relu": (0.2, 0.01), "crelu": (0.1, 0.01)}, losses,
                            metric="train_loss")[1] == "reappears"
    assert compare_with_yin(same, losses, metric="train_loss")[1] == "does not reappear"


def test_yin_table_all_cells_and_checksum(tmp_path):
    rows = load_yin_table()
    assert len(rows) == 18
    cell = {(r["network"], r["bits"], r["ste"]): (r["train_loss"], r["val_accuracy_percent"]) for r in rows}
    assert cell[("ResNet-20", 4, "crelu")] == (0.04, 91.24)  # values printed in the paper's Table 1
    assert cell[("LeNet-5", 2, "relu")] == (5.1e-3, 99.24)
    assert cell[("VGG-11", 2, "identity")] == (0.19, 86.58)
    assert ordering(yin_stats(rows, "LeNet-5", 4, "test_accuracy"), higher_better=True) == \
        "relu > crelu > identity"
    (tmp_path / "yin2019_table1.csv").write_text("dataset,network,bits,ste,train_loss,val_accuracy_percent\n")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  yin2019_table1.csv\n")
    with pytest.raises(ValueError, match="SHA-256"):
        load_yin_table(tmp_path)
    with pytest.raises(ValueError, match="network"):
        yin_stats(rows, "AlexNet", 4, "train_loss")


def fake_result(loss, acc, stes=("identity", "relu", "crelu"), bits=(2,)):
    loss, acc = torch.tensor(loss, dtype=torch.float64), torch.tensor(acc, dtype=torch.float64)

    def final(what):
        x = (loss if what == "train_loss" else acc)[..., -1]
        return x.mean(-1), x.std(-1)

    nb, ns, nseed, T = loss.shape
    z = torch.zeros(nb, ns, nseed, 1, T, dtype=torch.float64)
    return SimpleNamespace(bits=bits, stes=stes, seeds=tuple(range(nseed)), train_loss=loss, test_accuracy=acc,
                           diverged=torch.zeros(nb, ns, nseed, dtype=torch.bool), final=final, inside=z,
                           median_abs=z + 1, weight_norms=z + 2, gain_norms=None)


def test_change_frame_against_control_and_frames():
    # seeds 0, 1: the control (crelu) rises by 0.1 and 0.3; identity by 0.5 and 0.6
    loss = [[[[1.0, 1.5], [1.0, 1.6]], [[1.0, 1.1], [1.0, 1.3]]]]
    acc = [[[[0.9, 0.9], [0.9, 0.9]], [[0.9, 0.9], [0.9, 0.9]]]]
    r = fake_result(loss, acc, stes=("identity", "crelu"))
    raw = change_frame(r)
    row = raw[(raw.ste == "identity") & (raw.what == "loss")].iloc[0]
    assert row.change == pytest.approx(0.55) and row.sd == pytest.approx(0.0707107, rel=1e-5)
    assert row.reading == "rise"
    rel = change_frame(r, control="crelu")
    row = rel[(rel.ste == "identity") & (rel.what == "loss")].iloc[0]
    assert row.change == pytest.approx(0.35) and row.sd == pytest.approx(0.0707107, rel=1e-5)
    assert rel[(rel.ste == "crelu")].change.abs().max() == 0
    assert len(long_frame(r, arch="x")) == 2 * 2 * 2 and len(layer_frame(r)) == 2 * 2 * 2


def test_yin_verdicts_rows():
    loss = [[[[2.0, 0.3], [2.0, 0.31]], [[2.0, 0.2], [2.0, 0.21]], [[2.0, 0.1], [2.0, 0.11]]]]
    acc = [[[[0.1, 0.90], [0.1, 0.91]], [[0.1, 0.92], [0.1, 0.93]], [[0.1, 0.95], [0.1, 0.96]]]]
    ver = yin_verdicts({"mlp": fake_result(loss, acc)})
    assert len(ver) == 3 * 2  # three networks at 2 bits, two metrics
    vgg = ver[(ver.yin_row == "VGG-11 2-bit")]
    assert set(vgg.verdict) == {"reappears"} and set(vgg.ours) == {"crelu > relu > identity"}
    lenet = ver[(ver.yin_row == "LeNet-5 2-bit") & (ver.metric == "test_accuracy")].iloc[0]
    assert lenet.verdict == "does not reappear" and lenet.reversed == 1  # Yin: relu > crelu there


def test_judge_touching_intervals_are_a_tie_and_bad_spreads():
    # exact binary fractions: the intervals [0.75, 1.25] and [1.25, 1.75] touch
    assert judge(1.0, 0.25, 1.5, 0.25, higher_better=True) == "="
    assert judge(1.5, 0.25, 1.0, 0.25, higher_better=True) == "="
    assert judge(1.0, 0.25, 1.5, 0.125, higher_better=True) == "<"
    assert judge(1.5, 0.125, 1.0, 0.25, higher_better=True) == ">"
    assert judge(1.5, 0.125, 1.0, 0.25, higher_better=False) == "<"
    for kw in ({"sd_a": -0.1}, {"sd_b": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            judge(**{"mean_a": 1.0, "sd_a": 0.0, "mean_b": 2.0, "sd_b": 0.0, **kw}, higher_better=True)


def test_ordering_ranks_by_mean_not_spread():
    acc = {"identity": (0.80, 0.001), "relu": (0.90, 0.002), "crelu": (0.85, 0.003)}
    assert ordering(acc, higher_better=True) == "relu > crelu > identity"
    assert ordering({"a": (0.5, 0.1)}, higher_better=True) == "a"


def test_yin_stats_values_and_strict_where_theirs_tie():
    rows = load_yin_table()
    acc, loss = yin_stats(rows, "LeNet-5", 2, "test_accuracy"), yin_stats(rows, "LeNet-5", 2, "train_loss")
    assert acc["relu"] == (pytest.approx(0.9924, abs=1e-12), 0.0) and loss["relu"] == (5.1e-3, 0.0)
    assert set(acc) == {"identity", "relu", "crelu"}
    theirs = {"identity": (0.9, 0.0), "relu": (0.9, 0.0), "crelu": (0.95, 0.0)}
    ours = {"identity": (0.80, 0.001), "relu": (0.85, 0.001), "crelu": (0.90, 0.001)}
    pairs, verdict = compare_with_yin(ours, theirs, metric="test_accuracy")
    assert pairs[("identity", "relu")] == "strict where theirs are equal" and verdict == "reappears up to ties"
    assert pairs[("identity", "crelu")] == "agrees"


def test_verdict_counts_add_up_with_strict_where_theirs_tie():
    # LeNet-5: ReLU and clipped ReLU a tie on Yin's side; ours strictly ordered in every pair
    loss = [[[[2.0, 0.3], [2.0, 0.31]], [[2.0, 0.2], [2.0, 0.21]], [[2.0, 0.1], [2.0, 0.11]]]]
    acc = [[[[0.1, 0.90], [0.1, 0.91]], [[0.1, 0.92], [0.1, 0.93]], [[0.1, 0.95], [0.1, 0.96]]]]
    from stelib.practice_report import reference_verdicts

    ver = reference_verdicts({"mlp": fake_result(loss, acc)})
    assert list(ver.columns[5:9]) == ["agree", "tie", "strict", "reversed"]
    assert (ver[["agree", "tie", "strict", "reversed"]].sum(axis=1) == 3).all()  # three pairs each
    shallow = ver[ver.yin_row.str.startswith("shallow")]
    assert list(shallow.strict) == [1, 1] and list(shallow.agree) == [2, 2]
    # against a reference with a tie, "reappears" is out of reach
    assert set(shallow.verdict) == {"reappears up to ties"}
    deep = ver[ver.yin_row.str.startswith("deep")]
    assert list(deep.strict) == [0, 0] and set(deep.verdict) == {"reappears"}


def test_yin_verdicts_counts_and_skipped_rows():
    rows = [r for r in load_yin_table() if r["network"] == "VGG-11"]
    loss = [[[[2.0, 0.3], [2.0, 0.31]], [[2.0, 0.2], [2.0, 0.21]], [[2.0, 0.1], [2.0, 0.11]]]]
    acc = [[[[0.1, 0.90], [0.1, 0.91]], [[0.1, 0.92], [0.1, 0.93]], [[0.1, 0.95], [0.1, 0.96]]]]
    ver = yin_verdicts({"mlp": fake_result(loss, acc)}, rows)
    assert list(ver.yin_row) == ["VGG-11 2-bit"] * 2  # only the given rows, only at our bit width
    assert list(ver.agree) == [3, 3] and list(ver.tie) == [0, 0] and list(ver.reversed) == [0, 0]
    two = fake_result([loss[0][:2]], [acc[0][:2]], stes=("identity", "relu"))
    ver2 = yin_verdicts({"mlp": two}, rows)  # a rerun with two STEs: their one pair is compared
    assert list(ver2.ours) == ["relu > identity"] * 2 and list(ver2.yin) == ["relu > identity"] * 2
    assert list(ver2.agree) == [1, 1] and list(ver2.verdict) == ["reappears"] * 2
    one = fake_result([loss[0][:1]], [acc[0][:1]], stes=("identity",))
    empty = yin_verdicts({"mlp": one}, rows)  # nothing to compare, but the table has its columns
    assert len(empty) == 0 and "yin_row" in empty.columns
    from stelib.practice_report import reference_verdicts

    assert len(reference_verdicts({"mlp": one}, rows)) == 0


def test_all_ties_counts_the_pairs_of_the_stes_compared():
    import pandas as pd

    ver = pd.DataFrame({"ours": ["crelu = relu = identity", "crelu > relu = identity", "relu = crelu",
                                 "crelu = relu = identity"], "tie": [3, 1, 1, 2]})
    assert list(all_ties(ver)) == [True, False, True, False]


def test_frames_hold_the_values():
    from stelib.practice_report import pair_counts, summary_frame

    loss = [[[[2.0, 1.0, 0.5], [2.0, 1.5, 0.7]], [[2.0, 0.9, 0.3], [2.0, 1.1, 0.1]]]]
    acc = [[[[0.1, 0.5, 0.9], [0.1, 0.6, 0.8]], [[0.1, 0.7, 0.95], [0.1, 0.7, 0.93]]]]
    r = fake_result(loss, acc, stes=("relu", "crelu"))
    r.diverged[0, 1, 1] = True
    lf = long_frame(r, arch="mlp")
    row = lf[(lf.ste == "crelu") & (lf.seed == 1) & (lf.epoch == 2)].iloc[0]
    assert (row.arch, row.bits, row.train_loss, row.test_accuracy, row.diverged) == \
        ("mlp", 2, 0.1, pytest.approx(93.0), True)
    assert sorted(set(lf.epoch)) == [0, 1, 2]
    r.inside[0, 1, 0, 0, 2] = 0.25
    r.gain_norms = r.weight_norms + 5
    lay = layer_frame(r)
    row = lay[(lay.ste == "crelu") & (lay.seed == 0) & (lay.epoch == 2)].iloc[0]
    assert (row.layer, row.inside, row.median_abs, row.weight_norm, row.gain_norm) == (1, 25.0, 1.0, 2.0, 7.0)
    s = summary_frame({"mlp": r})
    row = s[s.ste == "crelu"].iloc[0]
    assert row.loss == pytest.approx(0.2) and row.loss_sd == pytest.approx(0.1 * 2**0.5)
    assert row.acc == pytest.approx(94.0) and row.acc_sd == pytest.approx(2**0.5) and row.diverged == 1
    # crelu vs relu: loss 0.2 +- 0.14 vs 0.6 +- 0.14 (ahead), accuracy 94 +- 1.4 vs 85 +- 7 (ahead)
    assert pair_counts({"mlp": r}, "crelu", "relu") == {">": 2, "=": 0, "<": 0}
    assert pair_counts({"mlp": r, "cnn": r}, "relu", "crelu") == {">": 0, "=": 0, "<": 4}


def test_change_frame_reads_first_and_last_records():
    loss = [[[[1.0, 9.0, 1.5], [1.0, 9.0, 1.6]], [[1.0, 9.0, 1.0], [1.0, 9.0, 1.0]]]]
    acc = [[[[0.5, 0.0, 0.5], [0.5, 0.0, 0.5]], [[0.5, 0.0, 0.25], [0.5, 0.0, 0.5]]]]
    r = fake_result(loss, acc, stes=("identity", "crelu"))
    cf = change_frame(r, arch="mlp")
    row = cf[(cf.ste == "identity") & (cf.what == "loss")].iloc[0]
    assert (row.start, row.end, row.arch) == (1.0, pytest.approx(1.55), "mlp")
    row = cf[(cf.ste == "crelu") & (cf.what == "acc")].iloc[0]
    assert (row.start, row.end, row.change) == (50.0, 37.5, -12.5)
    rel = change_frame(r, control="crelu")  # the control's loss changes by 0 from first to last record
    assert rel[(rel.ste == "identity") & (rel.what == "loss")].iloc[0].change == pytest.approx(0.55)
    assert row.sd == pytest.approx(12.5 * 2**0.5) and row.reading == "within spread"
    one = fake_result([[[[1.0, 1.5]], [[1.0, 1.0]], [[1.0, 0.5]]]], [[[[0.5, 0.5]], [[0.5, 0.5]], [[0.5, 0.5]]]])
    cf = change_frame(one)
    loss_rows = cf[cf.what == "loss"]
    assert list(loss_rows.sd) == [0.0, 0.0, 0.0]  # one seed: no spread
    assert list(loss_rows.reading) == ["rise", "within spread", "fall"]


def test_change_frame_first_record_and_absolute_reading():
    # identity: 1.0 -> 0.9 -> 0.8 and 1.0 -> 0.95 -> 0.85 (loss falls); control crelu falls faster
    loss = [[[[1.0, 0.9, 0.8], [1.0, 0.95, 0.85]], [[1.0, 0.5, 0.25], [1.0, 0.5, 0.3]]]]
    acc = [[[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]]]
    r = fake_result(loss, acc, stes=("identity", "crelu"))
    last = change_frame(r, first=-2)
    row = last[(last.ste == "identity") & (last.what == "loss")].iloc[0]
    assert (row.start, row.change, row.reading) == (pytest.approx(0.925), pytest.approx(-0.1), "fall")
    assert "absolute" not in last.columns  # only with a control
    rel = change_frame(r, control="crelu")
    row = rel[(rel.ste == "identity") & (rel.what == "loss")].iloc[0]
    # against the control the loss rises (0.55 and 0.55), in itself it falls (-0.2, -0.15)
    assert (row.reading, row.absolute) == ("rise", "fall")
    assert (row.own, row.own_sd) == (pytest.approx(-0.175), pytest.approx(0.05 / 2 ** 0.5))
    row = rel[(rel.ste == "crelu") & (rel.what == "loss")].iloc[0]
    assert (row.reading, row.absolute) == ("within spread", "fall")
    with pytest.raises(ValueError, match="first"):
        change_frame(r, first=1.5)


def test_table_text_digits():
    import pandas as pd

    from stelib.practice_report import table_text

    df = pd.DataFrame({"ste": ["relu", "crelu"], "bits": [2, 4], "loss": [0.068134, 95.03],
                       "loss_sd": [0.010821, 0.002807], "sd": [1e-13, 0.5], "median": [2.0, 167.0]})
    lines = table_text(df).splitlines()
    assert lines[0].split() == ["ste", "bits", "loss", "loss_sd", "sd", "median"]
    assert lines[1].split() == ["relu", "2", "0.0681", "0.011", "<1e-12", "2.00"]
    assert lines[2].split() == ["crelu", "4", "95.0", "0.0028", "0.50", "167"]  # zeros kept, no dot
    tab = pd.DataFrame({("inside", "mean"): [13.6234], ("inside", "std"): [0.06264]},
                       index=pd.Index([1], name="layer"))
    assert table_text(tab, index=True).splitlines()[-1].split() == ["1", "13.6", "0.063"]


def test_plot_runs_palette_order_and_facet_options():
    import matplotlib.pyplot as plt

    from stelib.plotting import STE_COLORS, STE_LABELS
    from stelib.practice_report import plot_runs

    loss = [[[[2.0, 1.0], [2.0, 1.5]], [[2.0, 0.9], [2.0, 1.1]]]]
    df = long_frame(fake_result(loss, loss, stes=("crelu", "identity")))
    g = plot_runs(df, "train_loss", col="seed", facet_kws={"sharey": False})
    try:
        texts = [t.get_text() for t in g.legend.texts]
        want = [STE_LABELS[s] for s in STE_COLORS if s in ("crelu", "identity")]  # the book's order
        assert [t for t in texts if t in want] == want and len(want) == 2
        a, b = g.axes.flat
        assert a.get_shared_y_axes().joined(a, b) is False
    finally:
        plt.close(g.figure)


def test_two_references_count_each_ordering_once_per_reference():
    from stelib.practice_report import deep_networks_agree, load_yin_table, reference_verdicts
    from stelib.stored import load, runs_of

    rows = load_yin_table()
    assert deep_networks_agree(rows)
    changed = [dict(r) for r in rows]
    for r in changed:  # swap ResNet-20's 2-bit ReLU and clipped-ReLU accuracies: no longer alike
        if r["network"] == "ResNet-20" and r["bits"] == 2 and r["ste"] in ("relu", "crelu"):
            r["val_accuracy_percent"] = {"relu": 88.39, "crelu": 48.05}[r["ste"]]
    assert not deep_networks_agree(changed)
    ver = reference_verdicts(runs_of(load("practice-full")[0]), rows)
    assert len(ver) == 2 * 2 * 2 * 2  # (shallow, deep) x archs x bits x metrics
    assert set(ver["yin_row"]) == {"shallow 2-bit", "shallow 4-bit", "deep 2-bit", "deep 4-bit"}


def test_comparable_stes_tie_on_yins_side():
    from stelib.practice_report import COMPARABLE, load_yin_table, reference_verdicts
    from stelib.stored import load, runs_of

    ver = reference_verdicts(runs_of(load("practice-full")[0]), load_yin_table())
    shallow = ver[ver.yin_row.str.startswith("shallow")]
    assert all("relu = crelu" in o or "crelu = relu" in o for o in shallow["yin"]), shallow["yin"].tolist()
    # Yin et al.'s LeNet-5: ReLU and clipped ReLU comparable, both ahead of the identity STE
    assert set(shallow["yin"]) == {"relu = crelu > identity"}
    assert ("LeNet-5", "relu", "crelu") in COMPARABLE
    deep = ver[ver.yin_row.str.startswith("deep")]
    assert all(o == "crelu > relu > identity" for o in deep["yin"])


def test_verdict_changes_counts_rows_whose_ordering_or_verdict_moves():
    from stelib.practice_report import reference_verdicts

    loss = [[[[2.0, 0.3], [2.0, 0.31]], [[2.0, 0.2], [2.0, 0.21]], [[2.0, 0.1], [2.0, 0.11]]]]
    acc = [[[[0.1, 0.90], [0.1, 0.91]], [[0.1, 0.92], [0.1, 0.93]], [[0.1, 0.95], [0.1, 0.96]]]]
    ver = reference_verdicts({"mlp": fake_result(loss, acc)})
    assert verdict_changes(ver, ver.copy()).startswith("with the last recorded check's numbers") and " 0 of the 4 " in \
        verdict_changes(ver, ver.copy())
    swapped = [[[[0.1, 0.95], [0.1, 0.96]], [[0.1, 0.92], [0.1, 0.93]], [[0.1, 0.90], [0.1, 0.91]]]]
    other = reference_verdicts({"mlp": fake_result(loss, swapped)})  # accuracy ordering reversed
    assert " 2 of the 4 " in verdict_changes(ver, other)  # the two accuracy rows, one per reference
    assert (changed_verdicts(ver, other), changed_verdicts(ver, ver.copy()), changed_verdicts(ver, None)) == (2, 0, 0)
    assert "nothing to compare" in verdict_changes(ver, None)
    for f in (verdict_changes, changed_verdicts):
        with pytest.raises(ValueError, match="not the same comparisons"):
            f(ver, other.iloc[::-1])
