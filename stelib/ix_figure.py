"""``stelib.ix_figure`` is :mod:`stelib.analyses.ix_figure`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import ix_figure as _module
from stelib.analyses.ix_figure import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
