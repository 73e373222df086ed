"""``python -m xpcsnb``: see :mod:`xpcsnb.cli`."""

import sys

from .cli import main

sys.exit(main())
