"""Packaging: pins are exact, environment.yml mirrors pyproject.toml, constraints.txt pins the
whole environment, one version, a licence, and a wheel that carries what it needs."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import stelib

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"]) + [r for extra in meta["optional-dependencies"].values() for r in extra]
    pins = {}
    for r in reqs:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", r)
        assert m, f"pyproject requirement {r!r} is not pinned with =="
        pins[m[1].lower()] = m[2]
    return pins


def environment_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.fullmatch(r"\s*-\s*([A-Za-z0-9_.\-]+)==(\S+)\s*", line)
        if m:
            pins[m[1].lower()] = m[2]
    return pins


def test_environment_yml_equals_pyproject_pins():
    assert environment_pins() == pyproject_pins()


def test_key_pins():
    pins = pyproject_pins()
    assert pins["torch"] == "2.13.0"
    assert pins["jupyter-book"] == "1.0.4.post1"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pin in pyproject_pins().items():
        assert version(name).split("+")[0] == pin, name


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
            assert m, f"constraints.txt line {line!r} is not an exact pin"
            pins[m[1].lower().replace("_", "-")] = m[2]
    return pins


def test_constraints_pin_the_whole_environment():
    """Every installed distribution is pinned (so Sphinx, IPython, jupyter_client cannot float),
    the pins agree with pyproject.toml, torch is the CPU build, and the Makefile and
    environment.yml use the file."""
    from importlib.metadata import distributions

    pins = constraints()
    for name, pin in pyproject_pins().items():
        assert pins[name.replace("_", "-")].split("+")[0] == pin, name
    assert pins["torch"] == "2.13.0+cpu"
    for pkg in ("sphinx", "ipython", "jupyter-client", "nbval", "tqdm", "numba", "pandas"):
        assert pkg in pins, pkg
    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in distributions()}
    skip = {"stelib", "pip", "setuptools", "wheel"}
    unpinned = sorted(set(installed) - set(pins) - skip)
    assert not unpinned, f"installed but not in constraints.txt: {unpinned}"
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    env = (ROOT / "environment.yml").read_text()
    assert "-c constraints.txt" in env and "download.pytorch.org/whl/cpu" in env


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
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path)], check=True,
                   capture_output=True, cwd=tmp_path)
    (whl,) = tmp_path.glob("stelib-*.whl")
    z = zipfile.ZipFile(whl)
    names = set(z.namelist())
    for f in ("stelib/py.typed", "stelib/data/yin2019_table1.csv", "stelib/data/SHA256SUMS",
              "stelib/data/practice_full.csv", "stelib/data/practice_full.json",
              "stelib/tooling/specs/__init__.py", "stelib/tooling/specs/primer.py",
              "stelib/tooling/cli.py", "stelib/core/ste.py", "stelib/analyses/practice.py"):
        assert f in names, f
    info = f"stelib-{stelib.__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    assert "stelib = stelib.cli:main" in z.read(f"{info}/entry_points.txt").decode()
    meta = z.read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in meta and "Provides-Extra: rerun" in meta
    assert f"Version: {stelib.__version__}" in meta


def test_readme_commands_and_ci_entry():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book:", "teacher:", "test:", "execute:", "bench:"):
        assert re.search(rf"^{target}", makefile, flags=re.M), target


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
