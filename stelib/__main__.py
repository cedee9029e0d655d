"""``python -m stelib``: see :mod:`stelib.cli`."""

import sys

from stelib.tooling.cli import main

sys.exit(main())
