"""``stelib.execution`` is :mod:`stelib.tooling.execution`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.tooling import execution as _module
from stelib.tooling.execution import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
