"""``stelib.sweep_table`` is :mod:`stelib.tooling.sweep_table`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.tooling import sweep_table as _module
from stelib.tooling.sweep_table import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
