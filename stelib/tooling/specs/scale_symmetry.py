"""Parameters of the chapter *The scale symmetry and what the STEs do with it*
(``chapters/scale_symmetry.ipynb``)."""

from stelib.analyses.symmetry import LABEL_CHOICES
from stelib.core.distributions import DISTRIBUTIONS
from stelib.tooling.params import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Real, Rule, Seq

SPEC = ChapterSpec("scale_symmetry", {
    "distributions": Seq(Choice(*DISTRIBUTIONS), min_len=1, max_len=7, unique=True),
    "label_models": Seq(Choice(*LABEL_CHOICES), min_len=1, max_len=5, unique=True),
    "distribution": Choice(*DISTRIBUTIONS),
    "labels": Choice(*LABEL_CHOICES),
    "noise": Real(0, 10),
    "m": Int(1, 16),
    "n": Int(2, 16),
    "scales": Seq(Real(0, 1e6, low_open=True), min_len=1, max_len=20),
    "table_samples": Int(10, 100_000),
    "samples": Int(1000, 2_000_000),
    "c_check": Real(0, 1000, low_open=True),
    "bandwidth": Real(0, 0.5, low_open=True),
    "norms": Seq(Real(0, 1e4, low_open=True), min_len=3, max_len=60),
    "lr": Real(0, 1, low_open=True),
    "steps": Int(10, 100_000),
    "fit_norms": Seq(Real(1, 1e6), min_len=2, max_len=2),
    "seed": Int(0, 2**31 - 1),
    "device": DEVICE,
}, rules=(
    Rule("norms strictly increasing", lambda v: list(v["norms"]) == sorted(set(v["norms"])),
         ("norms",)),
    Rule("fit_norms = [low, high] with low < high", lambda v: v["fit_norms"][0] < v["fit_norms"][1],
         ("fit_norms",)),
    DEVICE_RULE,
))
