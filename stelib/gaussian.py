"""``stelib.gaussian`` is :mod:`stelib.core.gaussian`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.core import gaussian as _module
from stelib.core.gaussian import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
