"""The sdist is complete: it holds every tracked file (tests' conftest.py, _stats.py,
sanitize.cfg, data/, constraints.txt, environment.yml, CITATION.cff, the chapters), and tests
run inside an unpacked copy of it. Built offline with setuptools' own PEP 517 hook (the build
backend of pyproject.toml, without an isolated environment)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import stelib

ROOT = Path(__file__).resolve().parents[1]
# fast tests that need conftest.py, tests/_stats.py, tests/sanitize.cfg and data/
SELECTION = ("tests/test_digits_data.py", "tests/test_quadrature.py",
             "tests/test_other_kernels.py::test_the_sanitizer_hides_no_digit")


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    out = tmp_path_factory.mktemp("sdist")
    code = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (archive,) = out.glob("stelib-*.tar.gz")
    assert archive.name == f"stelib-{stelib.__version__}.tar.gz"
    return archive


def test_sdist_holds_every_tracked_file(sdist):
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for f in ("tests/conftest.py", "tests/_stats.py", "tests/sanitize.cfg", "tests/other_kernels.env",
              "constraints.txt", "environment.yml", "CITATION.cff", "LICENSE", "Makefile", "pyproject.toml",
              "data/SHA256SUMS", "data/digits.csv.gz", "data/yin2019_table1.csv", "_toc.yml", "chapters/primer.ipynb"):
        assert f in names, f
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".nbi", ".nbc"))]
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    missing = sorted(f for f in tracked if (ROOT / f).is_file() and f not in names)
    assert not missing, f"tracked but not in the sdist: {missing}"


def test_tests_run_inside_the_unpacked_sdist(sdist, tmp_path):
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (src,) = tmp_path.glob("stelib-*")
    where = subprocess.run([sys.executable, "-c", "import stelib.datasets as d; print(d.__file__)"], cwd=src,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(src.resolve()), where  # the unpacked copy, not the checkout
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not nbval",
                           *SELECTION], cwd=src, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]
