"""Parameters of the chapter *Which straight-through estimators are proper?* (``chapters/proper.ipynb``)."""

from stelib.tooling.params import DEVICE, DEVICE_RULE, ChapterSpec, Int, Module, Real, Rule, Seq, SteName


def teacher_has_spurious_minima(values) -> bool:
    """The Yin section needs spurious minima: the teacher v* ~ N(0, I_m) drawn with ``seed``."""
    import torch

    from stelib.core.gaussian import spurious_minima_exist

    g = torch.Generator().manual_seed(values["seed"])
    return bool(spurious_minima_exist(torch.randn(values["m"], generator=g, dtype=torch.float64)))


SPEC = ChapterSpec("proper", {  # ste_modules first: importing them may register the names of stes
    "ste_modules": Seq(Module(), max_len=4, unique=True),
    "stes": Seq(SteName(), min_len=1, max_len=8, unique=True),
    "scales": Seq(Real(0, 1000, low_open=True), min_len=1, max_len=10),
    "m": Int(2, 8),
    "n": Int(2, 16),
    "batch": Int(10, 100_000),
    "a": Seq(Real(-10, 10), min_len=2, max_len=2),
    "lr": Real(0, 1, low_open=True),
    "steps": Int(100, 100_000),
    "samples": Int(1000, 2_000_000),
    "w_norms": Seq(Real(0, 100, low_open=True), min_len=1, max_len=5),
    "digits_epochs": Int(1, 200),
    "digits_seeds": Seq(Int(0, 2**31 - 1), min_len=2, max_len=10, unique=True),
    "seed": Int(0, 2**31 - 1),
    "device": DEVICE,
}, rules=(
    Rule("a teacher a that is not zero", lambda v: any(x != 0 for x in v["a"]), ("a",)),
    Rule("a seed whose teacher v* (of length m) has spurious minima (the Yin section studies them)",
         teacher_has_spurious_minima, ("seed", "m")),
    DEVICE_RULE,
))
