"""The 8x8 digits ship with stelib (data/digits.csv.gz, SHA-256 in data/SHA256SUMS): no
scikit-learn and no download needed, and the arrays are bit-identical to scikit-learn's
``load_digits()`` (compared whenever scikit-learn is importable; it is in the ``test`` extra)."""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from stelib.core import distributions
from stelib.datasets import DIGITS_TARGET_SHA256, _digits_targets

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def test_the_file_matches_sha256sums_and_its_provenance_is_written():
    sums = dict(line.split()[::-1] for line in (DATA / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert sums["digits.csv.gz"] == hashlib.sha256((DATA / "digits.csv.gz").read_bytes()).hexdigest()
    prov = (DATA / "digits.md").read_text()
    for words in ("UCI", "Alpaydin", "scikit-learn", "CC BY 4.0", "BSD-3-Clause", "SHA256SUMS"):
        assert words in prov, words


def test_shapes_dtypes_digests_and_copies():
    x, y = distributions._digits_table()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and x.flags.c_contiguous
    assert y.shape == (1797,) and y.dtype == np.int64
    assert hashlib.sha256(x.tobytes()).hexdigest() == distributions.DIGITS_SHA256
    assert hashlib.sha256(y.tobytes()).hexdigest() == DIGITS_TARGET_SHA256
    assert x.min() == 0 and x.max() == 16 and np.array_equal(x, np.round(x))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # UCI optdigits.tes
    assert not x.flags.writeable  # the cached table is read-only; callers get copies
    a = distributions._digits_array()
    a[0, 0] = -1.0
    assert distributions._digits_array()[0, 0] == x[0, 0]
    assert _digits_targets().flags.writeable


def test_bit_identical_to_scikit_learn():
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    x, y = distributions._digits_table()
    assert np.ascontiguousarray(d.data, dtype=np.float64).tobytes() == x.tobytes()
    assert np.ascontiguousarray(d.target, dtype=np.int64).tobytes() == y.tobytes()


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    """The loader reads data/ beside the package; a copy of the checkout with one byte changed
    in the file (or a SHA256SUMS that disagrees) is refused, naming the file."""
    fake_pkg = tmp_path / "stelib" / "core"
    fake_pkg.mkdir(parents=True)
    (tmp_path / "data").mkdir()
    raw = bytearray((DATA / "digits.csv.gz").read_bytes())
    raw[-9] ^= 1  # inside the gzip trailer's CRC: the SHA-256 changes
    (tmp_path / "data" / "digits.csv.gz").write_bytes(bytes(raw))
    shutil.copy(DATA / "SHA256SUMS", tmp_path / "data" / "SHA256SUMS")
    monkeypatch.setattr(distributions, "__file__", str(fake_pkg / "distributions.py"))
    distributions._digits_table.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"digits\.csv\.gz has SHA-256 .* SHA256SUMS records"):
            distributions._digits_table()
        (tmp_path / "data" / "digits.csv.gz").unlink()
        with pytest.raises(ValueError, match="digits.csv.gz is missing"):
            distributions._digits_table()
    finally:
        distributions._digits_table.cache_clear()


def test_no_stelib_module_imports_scikit_learn():
    """scikit-learn is not a dependency of stelib (only of the tests, to compare the digits)."""
    for path in (ROOT / "stelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "sklearn" for n in names), path
