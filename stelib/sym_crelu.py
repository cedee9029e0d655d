"""``stelib.sym_crelu`` is :mod:`stelib.analyses.sym_crelu`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import sym_crelu as _module
from stelib.analyses.sym_crelu import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
