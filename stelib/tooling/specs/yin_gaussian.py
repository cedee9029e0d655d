"""Parameters of the chapter *Yin et al.'s setting, reproduced* (``chapters/yin_gaussian.ipynb``)."""

from stelib.tooling.params import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Real, Rule, Seq

STE = Choice("identity", "relu", "crelu")
SEED = Int(0, 2**31 - 1)


def teacher_has_spurious_minima(values) -> bool:
    """The chapter studies the spurious minima of Yin et al.'s teacher v* ~ N(0, I_m) drawn
    with ``teacher_seed``: the rule fails for a teacher without them."""
    import torch

    from stelib.core.gaussian import spurious_minima_exist

    g = torch.Generator().manual_seed(values["teacher_seed"])
    return bool(spurious_minima_exist(torch.randn(values["m"], generator=g, dtype=torch.float64)))


SPEC = ChapterSpec("yin_gaussian", {
    "m": Int(2, 32),
    "n": Int(2, 64),
    "teacher_seed": SEED,
    "init_seed": SEED,
    "mc_seed": SEED,
    "sgd_seed": SEED,
    "mc_samples": Int(1000, 2_000_000),
    "stes": Seq(STE, min_len=1, max_len=3, unique=True),
    "w_norms": Seq(Real(0, 100, low_open=True), min_len=1, max_len=5),
    "lr": Real(0, 2, low_open=True),
    "steps": Int(10, 100_000),
    "seeds": Int(1, 4096),
    "loss_tol": Real(0, 0.1, low_open=True),
    "near": Real(0, 1, low_open=True),
    "batch_sizes": Seq(Int(1, 4096), min_len=1, max_len=4),
    "sgd_seeds": Int(1, 4096),
    "sgd_streams": Int(1, 64),
    "sgd_steps": Int(10, 100_000),
    "sgd_loss_tol": Real(0, 1, low_open=True),
    "variant_seeds": Int(1, 4096),
    "device": DEVICE,
}, rules=(
    Rule("sgd_seeds <= seeds (the stochastic sweep reuses the first initialisations)",
         lambda v: v["sgd_seeds"] <= v["seeds"], ("sgd_seeds", "seeds")),
    Rule("a teacher_seed whose teacher v* (of length m) has spurious minima (the last section "
         "shows teachers without them)", teacher_has_spurious_minima, ("teacher_seed", "m")),
    DEVICE_RULE,
))
