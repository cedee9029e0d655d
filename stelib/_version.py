"""The one place stelib's version is written (pyproject.toml reads it; CITATION.cff is checked)."""

__version__ = "0.1.0"
