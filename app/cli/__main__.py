"""`python -m app.cli`: the same as the `rarewatch` command."""

import sys

from app.cli.main import main

sys.exit(main())
