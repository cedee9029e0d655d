"""Parameters of the chapter *Yin et al.'s setting, reproduced* (``chapters/yin_gaussian.ipynb``)."""

from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Param, Real, Rule, Seq

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
    "m": Param(6, Int(2, 32), "patches per input (rows of Z)"),
    "n": Param(10, Int(2, 64), "input dimension"),
    "teacher_seed": Param(0, SEED, "seed of the teacher v*, w* drawn from N(0, I)"),
    "init_seed": Param(1, SEED, "seed of the random initialisations v0, w0 drawn from N(0, I)"),
    "mc_seed": Param(2, SEED, "seed of the Monte Carlo sample of Z"),
    "sgd_seed": Param(3, SEED, "seed of the mini-batches of stochastic CGD"),
    "mc_samples": Param(100_000, Int(1000, 2_000_000), "Monte Carlo draws of Z for the checks"),
    # all three: the prose compares each with the others (the order sets the tables' order)
    "stes": Param(["identity", "relu", "crelu"], Seq(STE, min_len=3, max_len=3, unique=True), "STEs compared"),
    "w_norms": Param(
        [0.5, 1.0, 3.0],
        Seq(Real(0, 100, low_open=True), min_len=1, max_len=5),
        "|w| of the coarse-gradient checks and pictures"),
    "lr": Param(0.2, Real(0, 2, low_open=True), "learning rate of coarse gradient descent"),
    "steps": Param(1000, Int(10, 100_000), "CGD steps per run"),
    "seeds": Param(128, Int(1, 4096), "random initialisations per STE in the population sweep"),
    "loss_tol": Param(
        1e-6,
        Real(0, 0.1, low_open=True),
        "a run is at the global minimum if its final loss is below this"),
    "near": Param(
        0.01,
        Real(0, 1, low_open=True),
        "size of the perturbation of the spurious minimum for the near start"),
    "batch_sizes": Param([4, 32], Seq(Int(1, 4096), min_len=1, max_len=4), "mini-batch sizes of stochastic CGD"),
    "sgd_seeds": Param(20, Int(1, 4096), "initialisations per STE rerun in the stochastic sweep (the first ones)"),
    "sgd_streams": Param(5, Int(2, 64), "independent mini-batch streams per start (the spread of the shares)"),
    "sgd_steps": Param(600, Int(10, 100_000), "steps of the stochastic sweep"),
    "sgd_loss_tol": Param(1e-2, Real(0, 1, low_open=True), "loss tolerance when classifying stochastic runs"),
    "variant_seeds": Param(32, Int(1, 4096), "initialisations per STE for the variant teachers"),
    "device": Param("cpu", DEVICE, 'where the heavy work runs: "cpu", "cuda" or "auto" (a GPU if present)'),
}, rules=(
    Rule("lr < 8/(m + 1): above it the v-update of CGD diverges (the loss's curvature in v is (m + 1)/4)",
         lambda v: v["lr"] < 8 / (v["m"] + 1), ("lr", "m")),
    Rule("sgd_seeds <= seeds (the stochastic sweep reuses the first initialisations)",
         lambda v: v["sgd_seeds"] <= v["seeds"], ("sgd_seeds", "seeds")),
    Rule("a teacher_seed whose teacher v* (of length m) has spurious minima (the last section "
         "shows teachers without them)", teacher_has_spurious_minima, ("teacher_seed", "m")),
    DEVICE_RULE,
))
