"""Shared pytest configuration: chapter notebooks (collected by nbval) carry the ``nbval`` marker.

So ``pytest -m "not nbval"`` runs the library tests alone, and ``pytest -m nbval`` only the
chapters.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.nbval)
