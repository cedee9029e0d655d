"""Parameters of the chapter *Which straight-through estimators are proper?* (``chapters/proper.ipynb``)."""

from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, ChapterSpec, Int, Module, Param, Real, Rule, Seq, SteName


def teacher_has_spurious_minima(values) -> bool:
    """The Yin section needs spurious minima: the teacher v* ~ N(0, I_m) drawn with ``seed``."""
    import torch

    from stelib.core.gaussian import spurious_minima_exist

    g = torch.Generator().manual_seed(values["seed"])
    return bool(spurious_minima_exist(torch.randn(values["m"], generator=g, dtype=torch.float64)))


SPEC = ChapterSpec("proper", {  # ste_modules first: importing them may register the names of stes
    "ste_modules": Param(
        [],
        Seq(Module(), max_len=4, unique=True),
        "Python modules imported first (each may call stelib.ste.register)"),
    "stes": Param(
        ["identity", "relu", "crelu", "hardtanh", "approxsign", "sigmoid"],
        Seq(SteName(), min_len=1, max_len=8, unique=True),
        "STEs compared"),
    "scales": Param(
        [0.1, 0.5, 2.0, 10.0],
        Seq(Real(0, 1000, low_open=True), min_len=1, max_len=10),
        "rescaling factors c of the symmetry test"),
    "m": Param(3, Int(2, 8), "patches per input (Yin's model and the sample-by-sample test)"),
    "n": Param(4, Int(2, 16), "input dimension (Yin's model and the sample-by-sample test)"),
    "batch": Param(2000, Int(10, 100_000), "samples of the sample-by-sample test"),
    "a": Param(
        [2.0, 1.0],
        Seq(Real(-10, 10), min_len=2, max_len=2),
        "linear teacher of the misspecified example (in the plane)"),
    "lr": Param(0.8, Real(0, 1, low_open=True), "learning rate of coarse gradient descent"),
    "steps": Param(1000, Int(100, 100_000), "CGD steps"),
    "samples": Param(100_000, Int(1000, 2_000_000), "Monte Carlo samples per estimate"),
    "w_norms": Param(
        [0.5, 2.0, 8.0],
        Seq(Real(0, 100, low_open=True), min_len=1, max_len=5),
        "|w| at which Yin's minima are checked"),
    "digits_epochs": Param(8, Int(1, 200), "training epochs of the digits MLPs"),
    "digits_seeds": Param(
        [0, 1, 2],
        Seq(Int(0, 2**31 - 1), min_len=2, max_len=10, unique=True),
        "seeds of the digits run (at least two, for the spread)"),
    "seed": Param(0, Int(0, 2**31 - 1), "random seed of all draws (it also draws Yin's teacher)"),
    "device": Param("cpu", DEVICE, 'where the heavy work runs: "cpu", "cuda" or "auto" (a GPU if present)'),
}, rules=(
    Rule("scales with a factor c other than 1 (c = 1 rescales nothing)",
         lambda v: any(c != 1 for c in v["scales"]), ("scales",)),
    Rule("a teacher a that is not zero", lambda v: any(x != 0 for x in v["a"]), ("a",)),
    Rule("a seed whose teacher v* (of length m) has spurious minima (the Yin section studies them)",
         teacher_has_spurious_minima, ("seed", "m")),
    DEVICE_RULE,
))
