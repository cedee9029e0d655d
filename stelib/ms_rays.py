"""``stelib.ms_rays`` is :mod:`stelib.analyses.ms_rays`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import ms_rays as _module
from stelib.analyses.ms_rays import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
