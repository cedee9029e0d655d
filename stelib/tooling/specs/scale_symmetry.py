"""Parameters of the chapter *The scale symmetry and what the STEs do with it*
(``chapters/scale_symmetry.ipynb``)."""

from stelib.analyses.symmetry import LABEL_CHOICES
from stelib.core.distributions import DISTRIBUTIONS
from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Param, Real, Rule, Seq

SPEC = ChapterSpec("scale_symmetry", {
    "distributions": Param(
        ["gaussian", "uniform", "laplace", "student_t", "mixture", "digits"],
        Seq(Choice(*DISTRIBUTIONS), min_len=1, max_len=7, unique=True),
        "input laws of the tables"),
    "label_models": Param(
        ["teacher", "relu_teacher", "noisy_teacher", "linear"],
        Seq(Choice(*LABEL_CHOICES), min_len=1, max_len=5, unique=True),
        "label models of the tables"),
    "distribution": Param(
        "laplace",
        Choice(*DISTRIBUTIONS),
        "input law of the single-distribution checks and figures"),
    "labels": Param("relu_teacher", Choice(*LABEL_CHOICES), "label model of the single-distribution checks"),
    "noise": Param(0.5, Real(0, 10), "standard deviation of the label noise of the noisy_teacher labels"),
    "m": Param(3, Int(1, 16), "patches per input (rows of Z)"),
    "n": Param(4, Int(2, 16), "input dimension"),
    "scales": Param(
        [0.001, 0.1, 0.5, 2.0, 7.3, 1000.0],
        Seq(Real(0, 1e6, low_open=True), min_len=1, max_len=20),
        "rescaling factors c of the exact checks"),
    "table_samples": Param(500, Int(10, 100_000), "samples per row of the sample-by-sample tables"),
    "samples": Param(20000, Int(1000, 2_000_000), "Monte Carlo samples per estimate"),
    "c_check": Param(3.0, Real(0, 1000, low_open=True), "the factor c of the gradient check"),
    "bandwidth": Param(
        0.02,
        Real(0, 0.5, low_open=True),
        "relative smoothing bandwidth of the true-gradient estimate"),
    "norms": Param(
        [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
        Seq(Real(0, 1e4, low_open=True), min_len=3, max_len=60),
        "the grid of |w|, increasing"),
    "lr": Param(0.2, Real(0, 1, low_open=True), "learning rate of coarse gradient descent"),
    "steps": Param(1000, Int(10, 100_000), "steps of coarse gradient descent"),
    "fit_norms": Param(
        [10.0, 1000.0],
        Seq(Real(1, 1e6), min_len=2, max_len=2),
        "lower and upper |w| of the slope fits at large |w|"),
    "seed": Param(0, Int(0, 2**31 - 1), "random seed (teachers, starting points, samples)"),
    "device": Param("cpu", DEVICE, 'where the heavy work runs: "cpu", "cuda" or "auto" (a GPU if present)'),
}, rules=(
    Rule("scales with a factor c other than 1 (c = 1 rescales nothing)",
         lambda v: any(c != 1 for c in v["scales"]), ("scales",)),
    Rule("norms strictly increasing", lambda v: list(v["norms"]) == sorted(set(v["norms"])),
         ("norms",)),
    Rule("fit_norms = [low, high] with low < high", lambda v: v["fit_norms"][0] < v["fit_norms"][1],
         ("fit_norms",)),
    DEVICE_RULE,
))
