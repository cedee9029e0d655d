"""benchmarks/bench_montecarlo.py runs end to end on a small sample (no timing is judged): it
prints every ratio it promises, and the fused estimator agrees with autograd (target <= 1e-10)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_montecarlo_prints_its_ratios_and_agrees_with_autograd():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_montecarlo.py"), "--batch", "512", "--m", "17",
         "--n", "16", "--repeats", "1", "--device", "cpu", "--device-samples", "20000"],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=300).stdout
    for line in ("speed-up ratio, means only", "speed-up ratio, means and standard errors",
                 "bandwidth ratio (stelib estimate_on / one pass over Z)", "the same ratio per round",
                 "the fused kernel alone, sample in cache (same number of samples, 1 call)",
                 "GPU/CPU speed ratio (CPU time / cpu time)"):
        assert line in out, line
    diffs = re.search(r"max \|difference\| of the means: (\S+); of means and standard errors: (\S+)", out)
    assert diffs and max(float(diffs.group(1)), float(diffs.group(2))) <= 1e-10, out
