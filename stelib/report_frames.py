"""``stelib.report_frames`` is :mod:`stelib.analyses.report_frames`, the same module object.

Written by tools/short_names.py from stelib.LAYERS; do not edit.
"""

import sys as _sys

from stelib.analyses import report_frames as _module
from stelib.analyses.report_frames import *  # noqa: F403  (the names, for editors and type checkers)

_sys.modules[__name__] = _module  # the module itself: shared state, one place to patch
