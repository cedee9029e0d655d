"""`make test` runs nbval on every chapter under other CPU kernels than the stored outputs were
made with; the settings take effect, and the sanitizer hides no digit."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _kernelspec import NAME, read_settings, write_spec

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "tests" / "other_kernels.env"


def _settings() -> dict[str, str]:
    return read_settings(ENV_FILE)


def test_settings_file_lists_the_kernel_switches():
    env = _settings()
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    assert {"MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS"} <= set(env)


def test_make_test_runs_the_chapters_under_those_settings():
    """One pytest run: the library tests on this machine's kernels, every chapter in a kernel with
    the other settings (make test-chapters: the chapters alone, on this machine's kernels)."""
    make = (ROOT / "Makefile").read_text()
    recipe = make.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    runs = [ln for ln in recipe.splitlines() if "-m pytest" in ln]
    assert len(runs) == 1 and "$(KERNEL_ENV)" in runs[0] and " -m nbval" not in runs[0], recipe
    assert "KERNEL_ENV := --chapter-kernel-env tests/other_kernels.env" in make
    chapters = make.split("\ntest-chapters: ", 1)[1].split("\n\n", 1)[0]
    assert "KERNEL_ENV" not in chapters and chapters.rstrip().endswith("-m nbval"), chapters


def test_the_kernel_spec_gives_the_settings_to_the_kernel_alone(tmp_path, monkeypatch):
    """The kernel spec that --chapter-kernel-env writes: its kernel runs PyTorch's portable kernels
    on one thread, though this process has none of the settings."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.setenv("JUPYTER_PATH", str(write_spec(read_settings(ENV_FILE), tmp_path)))
    for key in _settings():
        monkeypatch.delenv(key, raising=False)
    km, kc = start_new_kernel(kernel_name=NAME, startup_timeout=120)
    try:
        code = "import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())"
        out = []
        kc.execute_interactive(code, timeout=120,
                               output_hook=lambda m: out.append(m["content"].get("text", "")))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "".join(out).split() == ["DEFAULT", "1"], out


def test_a_settings_file_with_a_bad_line_is_refused(tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_text("# fine\nA=1\nnot a setting\n")
    with pytest.raises(ValueError, match="not a setting"):
        read_settings(bad)


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
