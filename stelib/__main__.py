"""``python -m stelib``: see :mod:`stelib.cli`."""

import sys

from stelib.cli import main

sys.exit(main())
