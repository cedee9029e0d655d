"""``stelib.sphinxext`` is :mod:`stelib.tooling.sphinxext`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.tooling import sphinxext as _module
from stelib.tooling.sphinxext import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
