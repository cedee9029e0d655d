"""Parameters of the chapter *STEs in one page* (``chapters/primer.ipynb``)."""

from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, ChapterSpec, Int, Param, Real, Rule, Seq

SPEC = ChapterSpec("primer", {
    # above 1, so that the invariance table sees the clipped ReLU's window (0, 1) and beyond
    "x_max": Param(3.0, Real(1, 10, low_open=True), "half-width of the plotted range of x"),
    "scales": Param(
        [0.5, 2.0, 10.0],
        Seq(Real(0, 1000, low_open=True), min_len=1, max_len=10),
        "rescalings c of the weights checked for scale invariance"),
    "m": Param(4, Int(1, 64), "autograd check: patches per input"),
    "n": Param(3, Int(1, 64), "autograd check: input dimension"),
    "batch": Param(512, Int(1, 100_000), "autograd check: number of samples"),
    "bits": Param(2, Int(1, 8), "PyTorch check: bits of the quantized ReLU"),
    "alpha": Param(0.5, Real(0, 10, low_open=True), "PyTorch check: quantization step"),
    "seed": Param(0, Int(0, 2**31 - 1), "autograd check: random seed"),
    "device": Param("cpu", DEVICE, 'where the heavy work runs: "cpu", "cuda" or "auto" (a GPU if present)'),
}, rules=(
    Rule("scales with a factor c other than 1 (c = 1 rescales nothing)",
         lambda v: any(c != 1 for c in v["scales"]), ("scales",)),
    DEVICE_RULE,
))
