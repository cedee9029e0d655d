"""Parameters of the chapter *A misspecified example* (``chapters/misspecified.ipynb``)."""

import math

from stelib.tooling.params import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Real, Rule, Seq

STE = Choice("identity", "relu", "crelu")
MIN_NORM = 1e-3  # smallest |a| and |w0|: below it the direction a/|a|, w/|w| loses its digits

SPEC = ChapterSpec("misspecified", {
    "a": Seq(Real(-100, 100), min_len=2, max_len=2),
    "n": Int(1, 50),
    "a_norms": Seq(Real(0, 100, low_open=True), min_len=1, max_len=8),
    "stes": Seq(STE, min_len=1, max_len=3, unique=True),
    "lr": Real(0, 1, low_open=True),
    "steps": Int(100, 100_000),
    "plane_steps": Int(2, 2000),
    "starts": Seq(Seq(Real(-10, 10), min_len=2, max_len=2), min_len=1, max_len=6),
    "v0": Real(-10, 10),
    "second_teacher": Choice("relu_teacher", "sign"),
    "second_distribution": Choice("gaussian", "uniform", "laplace", "student_t", "anisotropic",
                                  "mixture"),
    "noise": Real(0, 10),
    "samples": Int(10_000, 10_000_000),
    "seed": Int(0, 2**31 - 1),
    "device": DEVICE,
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
