"""``python -m slokit``."""

import sys

from slokit.cli import main

sys.exit(main())
