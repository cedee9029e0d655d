"""Parameters of the chapter *A misspecified example* (``chapters/misspecified.ipynb``)."""

import math

from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Param, Real, Rule, Seq

STE = Choice("identity", "relu", "crelu")
MIN_NORM = 1e-3  # smallest |a| and |w0|: below it the direction a/|a|, w/|w| loses its digits

SPEC = ChapterSpec("misspecified", {
    "a": Param(
        [1.0, 0.5],
        Seq(Real(-100, 100), min_len=2, max_len=2),
        "linear teacher a in the plane (the 2-d pictures and trajectories)"),
    "n": Param(6, Int(1, 50), "dimension of the extra closed-form checks"),
    "a_norms": Param(
        [0.3, 1.0, 4.0],
        Seq(Real(0, 100, low_open=True), min_len=1, max_len=8),
        "teacher sizes |a| for the independence check"),
    "stes": Param(["identity", "relu", "crelu"], Seq(STE, min_len=1, max_len=3, unique=True), "STEs compared"),
    "lr": Param(0.2, Real(0, 1, low_open=True), "learning rate of coarse gradient descent"),
    "steps": Param(
        3000,
        Int(100, 100_000),
        "CGD steps of the trajectories over time (recorded every steps/100 steps)"),
    "plane_steps": Param(60, Int(2, 2000), "CGD steps drawn in the w-plane (a point every 2 steps)"),
    "starts": Param(
        [[1.2, -1.0], [-1.0, -0.4], [0.3, 1.3]],
        Seq(Seq(Real(-10, 10), min_len=2, max_len=2), min_len=1, max_len=6),
        "starting points w0 in the plane"),
    "v0": Param(0.0, Real(-10, 10), "starting second-layer weight for every run"),
    "second_teacher": Param(
        "relu_teacher",
        Choice("relu_teacher", "sign"),
        "second teacher: relu(a^T z) or sign(a^T z)"),
    "second_distribution": Param(
        "gaussian",
        Choice("gaussian", "uniform", "laplace", "student_t", "anisotropic", "mixture"),
        "input distribution of the second teacher"),
    "noise": Param(0.0, Real(0, 10), "standard deviation of Gaussian label noise of the second teacher"),
    "samples": Param(200_000, Int(10_000, 10_000_000), "Monte Carlo samples per estimate"),
    "seed": Param(0, Int(0, 2**31 - 1), "random seed of all Monte Carlo draws"),
    "device": Param("cpu", DEVICE, 'where the heavy work runs: "cpu", "cuda" or "auto" (a GPU if present)'),
}, rules=(
    Rule(f"a teacher a with |a| >= {MIN_NORM:g}", lambda v: math.hypot(*v["a"]) >= MIN_NORM, ("a",)),
    Rule("steps a multiple of 100 (the trajectories are recorded every steps/100 steps)",
         lambda v: v["steps"] % 100 == 0, ("steps",)),
    Rule("plane_steps even (the w-plane paths are drawn every 2 steps)",
         lambda v: v["plane_steps"] % 2 == 0, ("plane_steps",)),
    Rule(f"every start w0 with |w0| >= {MIN_NORM:g} (w0 = 0 has no direction)",
         lambda v: all(math.hypot(*p) >= MIN_NORM for p in v["starts"]), ("starts",)),
    DEVICE_RULE,
))
