"""Packaging: pins are exact, environment.yml mirrors pyproject.toml, the commands exist."""

import re
import tomllib
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


def test_readme_commands_and_ci_entry():
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("book:", "test:", "execute:", "bench:"):
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
