"""Parameters of the chapter *Beyond Gaussian inputs* (``chapters/general_inputs.ipynb``)."""

from stelib.tooling.chapterspec import DEVICE, DEVICE_RULE, ChapterSpec, Choice, Int, Param, Real, Rule, Seq


def _spurious(v_star) -> bool:
    import torch

    from stelib.core.gaussian import spurious_minima_exist

    return bool(spurious_minima_exist(torch.tensor(v_star, dtype=torch.float64, device="cpu")))


SPEC = ChapterSpec("general_inputs", {
    "n": Param(2, Int(2, 16), "input dimension of Yin's teacher model (section 2); sections 3-5 are planar"),
    "m": Param(3, Int(2, 8), "patches per input in Yin's teacher model"),
    "v_star": Param(
        [1.0, -0.5, 1.0],
        Seq(Real(-10, 10), min_len=2, max_len=8),
        "teacher's second layer, one number per patch"),
    "phi_deg": Param(30.0, Real(0, 90), "angle of the teacher direction (w* and a) in degrees"),
    # above 4: a finite fourth moment, so that the standard errors of second moments exist
    "df": Param(5.0, Real(4, 100, low_open=True), "Student-t degrees of freedom"),
    "aniso_ratio": Param(4.0, Real(1, 100), "anisotropic Gaussian: largest over smallest coordinate scale"),
    "mix_sep": Param(1.0, Real(0, 5), "Gaussian mixture: offset of the two components"),
    "mix_std": Param(0.6, Real(0, 5, low_open=True), "Gaussian mixture: component standard deviation"),
    "mix_shift": Param(0.5, Real(-5, 5), "Gaussian mixture: common shift (non-zero means non-centred)"),
    "digits_kind": Param(
        "pca",
        Choice("pca", "patch"),
        "digits coordinates: pca (whitened principal axes) or patch (2x2)"),
    "samples": Param(40_000, Int(1000, 10_000_000), "Monte Carlo draws per estimate"),
    "replicates": Param(6, Int(2, 64), "independent samples for the spread of the fixed point"),
    "fp_steps": Param(30, Int(10, 5000), "sample-average cReLU iterations per fixed point"),
    # 100 at least: "|w| settled" compares |w| over the last quarter of the run (2 steps of 10 say little)
    "cgd_steps": Param(200, Int(100, 100_000), "stochastic coarse gradient descent steps"),
    "cgd_batch": Param(256, Int(1, 100_000), "mini-batch size of stochastic CGD"),
    "lr": Param(0.5, Real(0, 2, low_open=True), "learning rate of stochastic CGD"),
    "phis_plot": Param(10, Int(2, 181), "number of teacher angles in the angle plot, spread over a right angle"),
    "seed": Param(0, Int(0, 2**31 - 1), "random seed"),
    "device": Param("cpu", DEVICE, 'where the heavy work runs: "cpu", "cuda" or "auto" (a GPU if present)'),
}, rules=(
    Rule("v_star of m numbers (give both when changing m)", lambda v: len(v["v_star"]) == v["m"],
         ("v_star", "m")),
    Rule("n = 4 with digits_kind 'patch' (a 2x2 patch)",
         lambda v: v["digits_kind"] != "patch" or v["n"] == 4, ("digits_kind", "n")),
    Rule("a v_star whose Yin teacher has spurious minima (section 2 studies them)",
         lambda v: _spurious(v["v_star"]), ("v_star",)),
    DEVICE_RULE,
))
