"""The repository stands alone: no tracked file points at notes a reader does not have.

Docstrings, tests, chapters and the README refer to the book's chapters and proposition labels,
never to working notes outside the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The names are assembled from parts so that this file does not itself cite them.
_NOTES = ("THEORY", "DESIGN", "STYLE")
FORBIDDEN = re.compile("|".join(rf"{n}\.md" for n in _NOTES) + r"|\.\./" + "shared" + "|reconstruction" + " notes")


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        names = out.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an sdist)
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    keep = (".py", ".md", ".ipynb", ".toml", ".yml", ".yaml", ".cfg", ".bib", ".cff", ".txt")
    return [ROOT / n for n in names if n.endswith(keep) and n != "tests/test_standalone.py"]  # its own pattern


def test_the_forbidden_pattern_catches_what_it_should():
    assert FORBIDDEN.search("see " + "THEORY" + ".md section 4")
    assert FORBIDDEN.search("names fixed by `../" + "shared/" + "DESIGN" + ".md`")
    assert not FORBIDDEN.search("see the chapter on Yin's setting, prop-yin-coarse")


@pytest.mark.parametrize("path", tracked_text_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_notes_outside_the_repository(path):
    hits = [f"{i}: {line.strip()[:100]}" for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if FORBIDDEN.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} cites notes outside the repository:\n" + "\n".join(hits)
