"""The practice chapter's mixed-precision option: train(mixed_precision=True) and its report against float32."""

from __future__ import annotations

import math
import warnings

import pytest

from stelib.datasets import synthetic_split
from stelib.practice import train
from stelib.practice_report import precision_frame, precision_text

KW = dict(bits=(2,), stes=("identity", "crelu"), epochs=2, lr=0.01, batch_size=16, norm="plain",
          alpha={2: 0.65}, init="pretrained", pre_epochs=1)


@pytest.fixture(scope="module")
def runs():
    d = synthetic_split("mnist", n_train=32, n_test=20)
    mixed = train("lenet5", seeds=(0, 1), data=d, mixed_precision=True, **KW)
    fp32 = train("lenet5", seeds=(1,), data=d, **KW)
    return d, mixed, fp32


def test_mixed_precision_trains_in_bf16_from_a_bf16_start(runs):
    _, mixed, fp32 = runs
    assert mixed.model.mixed_precision and mixed.pretrained.model.mixed_precision
    assert not fp32.model.mixed_precision and not fp32.pretrained.model.mixed_precision
    # the option reaches the computation: the same seed and batches end elsewhere
    assert float(mixed.train_loss[0, 0, 1, -1]) != float(fp32.train_loss[0, 0, 0, -1])


def test_mixed_precision_is_checked_before_training():
    d = synthetic_split("mnist", n_train=8, n_test=4)
    with pytest.raises(ValueError, match=r"mixed_precision=True needs arch lenet5.*arch='mlp'"):
        train("mlp", bits=(2,), data=d, mixed_precision=True)
    with pytest.raises(ValueError, match=r"mixed_precision='yes' must be True or False"):
        train("lenet5", bits=(2,), data=d, mixed_precision="yes")


def test_precision_frame_compares_seed_by_seed(runs):
    d, mixed, fp32 = runs
    n = d.x_test.shape[0]
    df = precision_frame({"lenet5": mixed}, {"lenet5": fp32}, n)
    assert list(df["ste"]) == ["identity", "crelu"] and set(df["seed"]) == {1}
    for j, row in df.iterrows():
        a = round(float(mixed.test_accuracy[0, j, 1, -1]) * n)
        f = round(float(fp32.test_accuracy[0, j, 0, -1]) * n)
        both = [round(float(x) * n) for x in mixed.test_accuracy[0, j, :, -1]]
        assert (row.right_bf16, row.right_fp32, row.delta) == (a, f, a - f)
        assert math.isclose(row.right_sd, (sum((x - sum(both) / 2) ** 2 for x in both)) ** 0.5)
        assert row.loss_bf16 == float(mixed.train_loss[0, j, 1, -1])
        assert row.loss_fp32 == float(fp32.train_loss[0, j, 0, -1])
    text = precision_text({"lenet5": mixed}, {"lenet5": fp32}, n)
    lo, hi = int(df["delta"].min()), int(df["delta"].max())
    assert text.splitlines()[-2].startswith(f"bf16 minus float32, same seed: {lo:+d} to {hi:+d} of {n} test")
    assert "(2 runs);\nsd of the bf16 runs over seeds: up to" in text


def test_precision_frame_refuses_what_does_not_match(runs):
    d, mixed, fp32 = runs
    n = d.x_test.shape[0]
    with pytest.raises(ValueError, match=r"mixed\['lenet5'\] must be trained with mixed_precision=True"):
        precision_frame({"lenet5": fp32}, {"lenet5": fp32}, n)
    with pytest.raises(ValueError, match=r"reference\['lenet5'\] must be trained with mixed_precision=False"):
        precision_frame({"lenet5": mixed}, {"lenet5": mixed}, n)
    with pytest.raises(ValueError, match=r"reference has archs \['vgg11'\]"):
        precision_frame({"lenet5": mixed}, {"vgg11": fp32}, n)
    with pytest.raises(ValueError, match=r"seeds among \(0, 1\)"):
        precision_frame({"lenet5": mixed}, {"lenet5": train("lenet5", seeds=(5,), data=d, **KW)}, n)
    with pytest.raises(ValueError, match="n_test=0"):
        precision_frame({"lenet5": mixed}, {"lenet5": fp32}, 0)
    with pytest.raises(ValueError, match="reference not empty"):
        precision_frame({"lenet5": mixed}, {}, n)


def test_the_chapter_cells_report_the_effect_of_bf16(capsys):
    """The practice chapter's own training cell and mixed-precision cell, run on a tiny synthetic
    MNIST (no download) with mixed_precision=True: the float32 twin is trained and compared."""
    import nbformat

    from stelib.tooling import toc

    nb = nbformat.read(str(toc.chapter("practice").path), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    ns: dict = {}
    exec("\n".join(ln for ln in code[0].splitlines() if not ln.startswith("%")), ns)  # the imports
    exec(next(s for s in code if "mixed_precision = False" in s), ns)  # the parameters' defaults
    ns.update(archs=["lenet5"], bits=[2], stes=["relu", "crelu"], seeds=[0, 1], epochs_cnn=1, lr=0.01,
              batch_size=16, dataset="mnist", mixed_precision=True, alpha={2: 0.65},
              glue=lambda *a, **k: None, load_data=lambda *a, **k: synthetic_split("mnist", n_train=32, n_test=20))
    exec(next(s for s in code if "def yin_recipe" in s), ns)
    assert ns["yin"]["lenet5"].model.mixed_precision
    capsys.readouterr()
    exec(next(s for s in code if s.startswith("if mixed_precision:")), ns)
    out = capsys.readouterr().out
    assert not ns["fp32"]["lenet5"].model.mixed_precision and ns["fp32"]["lenet5"].seeds == (0,)
    assert out.split()[:5] == ["arch", "bits", "ste", "seed", "loss_bf16"] and "of 20 test images right (2 runs);" in out
    ns["mixed_precision"] = False
    del ns["fp32"]
    exec(next(s for s in code if s.startswith("if mixed_precision:")), ns)  # the default: nothing
    assert capsys.readouterr().out == "" and "fp32" not in ns


def test_precision_frame_with_one_bf16_seed_and_one_test_image(runs):
    """One seed in the bf16 run: no spread (NaN, no warning, no sd line); n_test = 1 is allowed;
    a result whose model has no mixed_precision attribute (an MLP) counts as float32."""
    d, mixed, fp32 = runs
    one = train("lenet5", seeds=(1,), data=d, mixed_precision=True, **KW)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. the std of a single value
        df = precision_frame({"lenet5": one}, {"lenet5": fp32}, 1)
        text = precision_text({"lenet5": one}, {"lenet5": fp32}, d.x_test.shape[0])
    assert df["right_sd"].isna().all() and set(df["right_bf16"]) <= {0, 1}
    assert "sd of the bf16" not in text and text.endswith("(2 runs)")
    mlp = train("mlp", bits=(2,), stes=("identity", "crelu"), seeds=(1,), epochs=1, data=d)
    with pytest.raises(ValueError, match=r"mixed\['mlp'\] must be trained with mixed_precision=True"):
        precision_frame({"mlp": mlp}, {"mlp": mlp}, 1)
