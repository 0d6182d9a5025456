"""`python -m estimator.engine ...`: see `estimator.engine.cli`."""

import sys

from .cli import main

sys.exit(main())
