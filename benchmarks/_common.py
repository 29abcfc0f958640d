"""What the benchmark modules share: the reporter type, quiet logging, printing."""

from __future__ import annotations

import logging
from collections.abc import Callable

import structlog

__all__ = ["COUNT_UNITS", "Reporter", "quiet", "show"]

Reporter = Callable[[str, float, str], None]
"""``reporter(name, value, unit)``: how a benchmark hands over one measurement."""

COUNT_UNITS = frozenset({"cases", "events", "bytes"})
"""Units whose values are counts, printed without decimals."""


def quiet() -> None:
    """Configure structlog as a production host does: WARNING and above, cached loggers,
    so the engine's per-command INFO logs stay out of the timings."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )


def show(name: str, value: float, unit: str, *, indent: str = "") -> None:
    """Print one measurement as an aligned line."""
    shown = f"{value:,.0f}" if unit in COUNT_UNITS else f"{value:,.3f}"
    print(f"{indent}{name:<72} {shown:>12} {unit}", flush=True)
