"""The example host's tests run on a frozen day, so their dates are always valid."""

from __future__ import annotations

import os

os.environ.setdefault("IMFLOW_EXAMPLE_TODAY", "2025-03-03")
