"""``stelib.toc`` is :mod:`stelib.tooling.toc`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.tooling import toc as _module
from stelib.tooling.toc import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
