"""``stelib._graphs`` is :mod:`stelib.core._graphs`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.core import _graphs as _module
from stelib.core._graphs import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
