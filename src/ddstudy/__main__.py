"""``python -m ddstudy`` is the ``ddstudy`` console script (used by the workflow rules: no PATH needed)."""

import sys

from ddstudy.cli import main

sys.exit(main())
