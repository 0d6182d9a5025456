"""`python -m hwfit`: the command line (hwfit/cli)."""

from hwfit.cli import main

raise SystemExit(main())
