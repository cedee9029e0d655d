"""``stelib.sym_covariance`` is :mod:`stelib.analyses.sym_covariance`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import sym_covariance as _module
from stelib.analyses.sym_covariance import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
