"""Parameters of the chapter *Beyond Gaussian inputs* (``chapters/general_inputs.ipynb``)."""

from stelib.tooling.params import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Real, Rule, Seq

SPEC = ChapterSpec("general_inputs", {
    "n": Int(2, 16),
    "m": Int(2, 8),
    "v_star": Seq(Real(-10, 10), min_len=2, max_len=8),
    "phi_deg": Real(0, 90),
    "df": Real(2, 100, low_open=True),
    "aniso_ratio": Real(1, 100),
    "mix_sep": Real(0, 5),
    "mix_std": Real(0, 5, low_open=True),
    "mix_shift": Real(-5, 5),
    "digits_kind": Choice("pca", "patch"),
    "samples": Int(1000, 10_000_000),
    "replicates": Int(2, 64),
    "fp_steps": Int(10, 5000),
    "cgd_steps": Int(10, 100_000),
    "cgd_batch": Int(1, 100_000),
    "lr": Real(0, 2, low_open=True),
    "phis_plot": Int(2, 181),
    "seed": Int(0, 2**31 - 1),
    "device": DEVICE,
}, rules=(
    Rule("v_star of m numbers (give both when changing m)", lambda v: len(v["v_star"]) == v["m"],
         ("v_star", "m")),
    Rule("n = 4 with digits_kind 'patch' (a 2x2 patch)",
         lambda v: v["digits_kind"] != "patch" or v["n"] == 4, ("digits_kind", "n")),
    DEVICE_RULE,
))
