"""``stelib.ms_c5`` is :mod:`stelib.analyses.ms_c5`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import ms_c5 as _module
from stelib.analyses.ms_c5 import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
