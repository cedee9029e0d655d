"""``stelib.editions`` is :mod:`stelib.tooling.editions`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.tooling import editions as _module
from stelib.tooling.editions import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
