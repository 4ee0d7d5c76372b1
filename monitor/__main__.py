"""`python -m monitor` runs the CLI without relying on the console script being on PATH."""

import sys

from monitor.cli import main

sys.exit(main())
