"""Packaging: pyproject.toml carries ranges whose lower bounds are the lock (constraints.txt, the
exact environment of the book), environment.yml installs that lock, one version, a licence,
metadata, and a wheel that carries what it needs."""

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import stelib

ROOT = Path(__file__).resolve().parents[1]
# Upper bounds only where a known break exists (each explained beside it in pyproject.toml).
UPPER_BOUNDED = {"jupyter-book"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> dict[str, Requirement]:
    """Every requirement of the core and of the extras, by normalised name (one range a name)."""
    meta = project()
    reqs = {}
    for r in list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]:
        req = Requirement(r)
        name = _norm(req.name)
        assert name not in reqs or str(reqs[name].specifier) == str(req.specifier), f"{name}: two ranges"
        reqs[name] = req
    return reqs


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
            assert m, f"constraints.txt line {line!r} is not an exact pin"
            pins[_norm(m[1])] = m[2]
    return pins


def test_requirements_are_ranges_with_the_lock_as_lower_bound():
    """No ==: a library installs beside the user's torch and NumPy. Each range starts at the
    version the book is tested with (constraints.txt) and is open above unless a known break
    exists."""
    assert project()["requires-python"] == ">=3.11"
    lock = constraints()
    for name, req in pyproject_requirements().items():
        ops = {s.operator: s.version for s in req.specifier}
        assert "==" not in ops and "~=" not in ops and "===" not in ops, req
        assert ops.get(">=") == lock[name].split("+")[0], f"{req}: lower bound is not the lock's {lock[name]}"
        assert set(ops) <= {">=", "<"}, req
        assert ("<" in ops) == (name in UPPER_BOUNDED), f"{req}: upper bound without a known break (or missing)"
        assert req.specifier.contains(Version(lock[name]).public), (req, lock[name])
    assert "scikit-learn" not in {_norm(Requirement(r).name) for r in project()["dependencies"]}


def test_installed_versions_satisfy_the_ranges():
    """Holds in the locked .venv and in any environment resolved from the ranges (make test-py313)."""
    for name, req in pyproject_requirements().items():
        assert req.specifier.contains(Version(version(name)).public, prereleases=True), (req, version(name))


def test_environment_yml_installs_the_lock():
    """Python 3.11 from conda, then pip: the checkout with every extra, held to constraints.txt,
    torch from PyTorch's CPU index. The versions live in constraints.txt alone."""
    env = (ROOT / "environment.yml").read_text()
    body = [line.strip() for line in env.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "- python=3.11" in body and "name: stelib-book" in body
    pip = body[body.index("- pip:") + 1:]
    extras = ",".join(project()["optional-dependencies"])
    assert pip == ["- --extra-index-url https://download.pytorch.org/whl/cpu", "- -c constraints.txt",
                   f"- -e .[{extras}]"]
    assert "conda activate stelib-book" in env and "make book" in env


def _locked_environment() -> bool:
    return version("torch") == constraints()["torch"]


def test_constraints_pin_the_whole_environment():
    """Every installed distribution is pinned (so Sphinx, IPython, jupyter_client cannot float),
    the pins satisfy pyproject.toml, torch is the CPU build, and the Makefile and environment.yml
    use the file. Only in the locked environment (not under make test-py313)."""
    pins = constraints()
    assert pins["torch"] == "2.13.0+cpu" and pins["jupyter-book"] == "1.0.4.post1"
    for name, req in pyproject_requirements().items():
        assert req.specifier.contains(Version(pins[name]).public), (req, pins[name])
    for pkg in ("sphinx", "ipython", "jupyter-client", "nbval", "tqdm", "numba", "llvmlite", "pandas"):
        assert pkg in pins, pkg
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    env = (ROOT / "environment.yml").read_text()
    assert "-c constraints.txt" in env and "download.pytorch.org/whl/cpu" in env
    if not _locked_environment():
        pytest.skip(f"torch {version('torch')} is not the lock's: not the locked environment")
    from importlib.metadata import distributions

    # not the packages setuptools vendors: importing setuptools (another test of this process
    # may have) puts its _vendor folder, with their metadata, on sys.path
    site = [p for p in sys.path if os.path.basename(p) != "_vendor"]
    installed = {_norm(d.metadata["Name"]): d.version for d in distributions(path=site)}
    skip = {"stelib", "pip", "setuptools", "wheel"}
    unpinned = sorted(set(installed) - set(pins) - skip)
    assert not unpinned, f"installed but not in constraints.txt: {unpinned}"
    wrong = {n: (v, pins[n]) for n, v in installed.items() if n in pins and v != pins[n]}
    assert not wrong, f"installed versions differ from constraints.txt: {wrong}"


def test_metadata_authors_keywords_classifiers():
    meta = project()
    cff = (ROOT / "CITATION.cff").read_text()
    assert meta["authors"] == [{"name": "The stelib authors"}]
    assert '- name: "The stelib authors"' in cff  # the paper's authors are cited (references), not authors
    cff_keywords = re.findall(r"^  - (.+)$", cff.split("keywords:")[1].split("references:")[0], flags=re.M)
    assert cff_keywords and set(cff_keywords) <= set(meta["keywords"])
    classifiers = set(meta["classifiers"])
    for minor in (11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: License-Expression instead


def test_one_version_and_a_licence():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT" and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "stelib._version.__version__"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(stelib.__version__)}$", cff, flags=re.M)
    assert (ROOT / "stelib" / "py.typed").exists()
    for path in ROOT.glob("stelib/**/*.py"):
        if path.name != "_version.py":
            assert not re.search(r"^__version__ = ", path.read_text(), flags=re.M), path


def test_wheel_carries_script_data_specs_and_licence(tmp_path):
    pytest.importorskip("setuptools")  # the build backend, used without isolation (offline)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path)], check=True,
                   capture_output=True, cwd=tmp_path)
    (whl,) = tmp_path.glob("stelib-*.whl")
    z = zipfile.ZipFile(whl)
    names = set(z.namelist())
    for f in ("stelib/py.typed", "stelib/data/yin2019_table1.csv", "stelib/data/SHA256SUMS",
              "stelib/data/practice_full.csv", "stelib/data/practice_full.json",
              "stelib/data/digits.csv.gz", "stelib/data/digits.md",
              "stelib/tooling/specs/__init__.py", "stelib/tooling/specs/primer.py",
              "stelib/tooling/cli.py", "stelib/core/ste.py", "stelib/analyses/practice.py"):
        assert f in names, f
    info = f"stelib-{stelib.__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    assert "stelib = stelib.cli:main" in z.read(f"{info}/entry_points.txt").decode()
    meta = z.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in meta and "Provides-Extra: rerun" in meta
    assert f"Version: {stelib.__version__}" in meta
    assert "Requires-Python: >=3.11\n" in meta and "Author: The stelib authors" in meta
    assert "Keywords: straight-through estimator," in meta and "Classifier: Programming Language :: Python :: 3.13" in meta
    requires = re.findall(r"^Requires-Dist: (.+)$", meta, flags=re.M)
    assert requires and not [r for r in requires if "==" in str(Requirement(r).specifier)], requires
    assert 'seaborn>=0.13.2; extra == "rerun"' in requires
    assert not [r for r in requires if r.startswith("scikit-learn") and "extra" not in r]


def test_readme_commands_and_ci_entry():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book:", "teacher:", "test:", "execute:", "bench:", "test-py313:"):
        assert re.search(rf"^{target}", makefile, flags=re.M), target
    assert "make test-py313" in readme and "test-py313" not in (ROOT / ".ci" / "run").read_text()


def _make_n(*args: str, **env: str) -> str:
    import os

    clean = {k: v for k, v in os.environ.items() if k not in ("CONDA_DEFAULT_ENV", "VENV", "PY", "MAKEFLAGS")}
    proc = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True, text=True,
                          env=clean | env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode != 0, reason="no make")
def test_make_uses_an_active_environment_when_asked():
    """`make VENV= ...` (and, inside the conda environment stelib-book, plain `make ...`) runs the
    active Python and installs nothing; by default make installs into .venv from the lock."""
    assert _make_n("VENV=", "book").strip().splitlines() == ["python -m stelib build"]
    assert _make_n("VENV=", "PY=/opt/py/bin/python3", "execute").strip().splitlines() == [
        "/opt/py/bin/python3 -m stelib execute"]
    assert _make_n("book", CONDA_DEFAULT_ENV="stelib-book").strip().splitlines() == ["python -m stelib build"]
    out = _make_n("VENV=/nonexistent/venv", "book")
    assert "-c constraints.txt" in out and "/nonexistent/venv/bin/python -m stelib build" in out
    py313 = _make_n("test-py313", "PYTHON313=/x/python3.13", "VENV313=/tmp/v313")
    assert "/x/python3.13 -m venv --clear /tmp/v313" in py313 and "constraints" not in py313  # the ranges alone
    assert '-p no:nbval -o addopts=-ra -m "not nbval and not book" tests' in py313
    assert "PY=python" in subprocess.run(["make", "-s", "-C", str(ROOT), "VENV=", "help"], capture_output=True,
                                         text=True).stdout


def test_public_api_is_sorted_and_importable():
    assert stelib.__all__ == sorted(stelib.__all__)
    for name in stelib.__all__:
        assert getattr(stelib, name) is not None
    for name in ("surrogate_derivative", "binary_step"):
        assert hasattr(stelib.ste, name)
    assert hasattr(stelib.network, "coarse_grad")
    for name in ("population_loss", "population_grad", "expected_coarse_grad", "spurious_minimizer_v"):
        assert hasattr(stelib.gaussian, name)
    assert hasattr(stelib.misspecified, "vanishing_norm")
