"""Shared pytest configuration: chapter notebooks (collected by nbval) carry the ``nbval`` marker.

So ``pytest -m "not nbval"`` runs the library tests alone, and ``pytest -m nbval`` only the
chapters.
"""

from __future__ import annotations

import os

import pytest

# The longest files (about 13 to 230 s each on 2 cores), started first when pytest-xdist shares
# the files out (make test, with --no-loadscope-reorder): the run then ends on short files.
LONGEST_FIRST = ("tests/test_book.py", "chapters/practice.ipynb", "tests/test_sweep.py", "tests/test_cli.py",
                 "chapters/yin_gaussian.ipynb", "tests/test_stored.py", "chapters/general_inputs.ipynb",
                 "tests/test_proper.py", "chapters/proper.ipynb", "tests/test_sdist.py",
                 "tests/test_registry.py", "chapters/misspecified.ipynb", "chapters/scale_symmetry.ipynb")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.nbval)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker collects, in the same order
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_configure(config):
    # One intra-op thread: the library tests run beside nbval and the book build on 2 cores,
    # where OpenMP threads spinning against each other make small tensor ops up to 40x slower.
    import torch

    torch.set_num_threads(int(os.environ.get("STELIB_TEST_THREADS", "1")))
