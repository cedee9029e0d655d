"""Parameters of the chapter *STEs in one page* (``chapters/primer.ipynb``)."""

from stelib.tooling.params import DEVICE, DEVICE_RULE, ChapterSpec, Int, Real, Seq

SPEC = ChapterSpec("primer", {
    "x_max": Real(0, 10, low_open=True),
    "scales": Seq(Real(0, 1000, low_open=True), min_len=1, max_len=10),
    "m": Int(1, 64),
    "n": Int(1, 64),
    "batch": Int(1, 100_000),
    "bits": Int(1, 8),
    "alpha": Real(0, 10, low_open=True),
    "seed": Int(0, 2**31 - 1),
    "device": DEVICE,
}, rules=(DEVICE_RULE,))
