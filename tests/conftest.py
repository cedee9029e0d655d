"""Shared pytest configuration: chapter notebooks (collected by nbval) carry the ``nbval`` marker.

So ``pytest -m "not nbval"`` runs the library tests alone, and ``pytest -m nbval`` only the
chapters.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


def pytest_addoption(parser):
    parser.addoption("--chapter-kernel-env", metavar="FILE", default=None,
                     help="execute the chapters (nbval) in kernels with these KEY=VALUE settings in "
                          "their environment (make test: tests/other_kernels.env)")


def pytest_configure(config):
    env_file = config.getoption("chapter_kernel_env")
    if env_file:  # a kernel spec of our own, found first on JUPYTER_PATH, for nbval's kernels only
        import tempfile

        from _kernelspec import NAME, read_settings, write_spec

        folder = write_spec(read_settings(Path(env_file)), Path(tempfile.mkdtemp(prefix="stelib-kernelspec-")))
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH")]))
        config.option.nbval_current_env = False  # nbval takes the current environment's kernel first
        config.option.nbval_kernel_name = NAME
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    # One intra-op thread: the library tests run beside nbval and the book build on 2 cores,
    # where OpenMP threads spinning against each other make small tensor ops up to 40x slower.
    import torch

    torch.set_num_threads(int(os.environ.get("STELIB_TEST_THREADS", "1")))
