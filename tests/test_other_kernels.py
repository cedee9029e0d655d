"""`make test` runs nbval on every chapter under other CPU kernels than the stored outputs were
made with; the settings take effect, and the sanitizer hides no digit."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "tests" / "other_kernels.env"


def _settings() -> dict[str, str]:
    lines = [ln.strip() for ln in ENV_FILE.read_text().splitlines()]
    return dict(ln.split("=", 1) for ln in lines if ln and not ln.startswith("#"))


def test_settings_file_lists_the_kernel_switches():
    env = _settings()
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    assert {"MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS"} <= set(env)


def test_make_test_runs_the_chapters_under_those_settings():
    """Every chapter once, under the other kernels; the library tests without the chapters (the
    chapters under this machine's own kernels are `make test-chapters`)."""
    make = (ROOT / "Makefile").read_text()
    assert "tests/other_kernels.env" in make
    recipe = make.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"env \$\(OTHER_KERNELS\) \$\(PY\) -m pytest .*chapters", recipe), recipe
    plain = [ln for ln in recipe.splitlines() if "-m pytest" in ln and "OTHER_KERNELS" not in ln]
    assert len(plain) == 1 and plain[0].split()[-1] == "tests", plain
    chapters = make.split("\ntest-chapters: ", 1)[1].split("\n\n", 1)[0]
    assert "OTHER_KERNELS" not in chapters and chapters.rstrip().endswith("chapters"), chapters


def test_the_settings_change_the_kernels_torch_runs():
    code = ("import torch, numpy; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in _settings()}
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    other = subprocess.run([sys.executable, "-c", code], env=env | _settings(), capture_output=True, text=True,
                           check=True)
    assert other.stdout.split() == ["DEFAULT", "1"], other.stdout + other.stderr
    # on any x86-64 CPU of the last decade the plain run uses vectorised kernels
    if plain.stdout.split()[0] != "DEFAULT":
        assert plain.stdout.split()[0] != other.stdout.split()[0]


def test_the_sanitizer_hides_no_digit():
    """Only addresses, timings and progress bars are masked: a number changes nothing."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "tests" / "sanitize.cfg")
    samples = ["190.044837515", "190.04483751521462", "1.9e-16", "+0.0e+00", "0.7632", "-2.1381372111688237",
               "max|E g| = 2.2e-16", "final |w| 0.763202"]
    for section in cfg.sections():
        pattern = re.compile(cfg[section]["regex"])
        for s in samples:
            assert pattern.sub(cfg[section]["replace"], s) == s, (section, s)
