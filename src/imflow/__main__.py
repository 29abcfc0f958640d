"""``python -m imflow``: the command line (see :mod:`imflow.cli`)."""

from __future__ import annotations

import sys

from imflow.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
