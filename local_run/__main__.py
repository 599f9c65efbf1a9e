"""python -m local_run run|stop|status|feed (the Makefile's `run` and `stop` call the first two)."""

from __future__ import annotations

import sys

from local_run.stack import main

if __name__ == "__main__":
    sys.exit(main())
