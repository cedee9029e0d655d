"""Shared pytest configuration: chapter notebooks (collected by nbval) carry the ``nbval`` marker.

So ``pytest -m "not nbval"`` runs the library tests alone, and ``pytest -m nbval`` only the
chapters.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.nbval)


def pytest_configure(config):
    # One intra-op thread: the library tests run beside nbval and the book build on 2 cores,
    # where OpenMP threads spinning against each other make small tensor ops up to 40x slower.
    import torch

    torch.set_num_threads(int(os.environ.get("STELIB_TEST_THREADS", "1")))
