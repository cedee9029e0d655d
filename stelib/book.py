"""``stelib.book`` is :mod:`stelib.tooling.book`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.tooling import book as _module
from stelib.tooling.book import *  # noqa: F403  (the names, for editors and type checkers)

if __name__ == "__main__":  # python -m stelib.book
    from stelib.tooling.cli import main

    _sys.exit(main())

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
