"""``stelib.gi_laws`` is :mod:`stelib.analyses.gi_laws`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import gi_laws as _module
from stelib.analyses.gi_laws import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
