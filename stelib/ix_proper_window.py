"""``stelib.ix_proper_window`` is :mod:`stelib.analyses.ix_proper_window`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import ix_proper_window as _module
from stelib.analyses.ix_proper_window import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
