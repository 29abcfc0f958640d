"""Clocks: zero-argument callables that return an aware :class:`~datetime.datetime`.

The engine stamps every event with its clock's time (``recorded_at``) and refuses
business dates after the clock's today. Tests and simulations inject a fake clock and
never sleep.

>>> from datetime import datetime, timedelta, timezone
>>> clock = SteppingClock(datetime(2025, 1, 1, 9, tzinfo=timezone.utc), step=timedelta(minutes=5))
>>> clock().minute, clock().minute
(0, 5)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

__all__ = ["Clock", "FrozenClock", "SteppingClock", "system_clock"]

Clock = Callable[[], datetime]
"""A clock: returns the current time as an aware datetime."""


def system_clock() -> datetime:
    """The system clock, in UTC."""
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"clocks return aware datetimes, got the naive {moment!r}")
    return moment


class FrozenClock:
    """A clock that stands still until it is moved.

    >>> clock = FrozenClock(datetime(2025, 3, 1, 12, tzinfo=UTC))
    >>> clock.advance(days=2); clock().date()
    datetime.date(2025, 3, 3)
    """

    def __init__(self, now: datetime) -> None:
        self.now = _aware(now)

    @classmethod
    def on(cls, day: date) -> FrozenClock:
        """A clock frozen at noon UTC of *day*."""
        return cls(datetime.combine(day, time(12), tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        """Move the clock to *now* (backwards too)."""
        self.now = _aware(now)

    def advance(self, **delta: float) -> None:
        """Move the clock forward by ``timedelta(**delta)``."""
        self.now = self.now + timedelta(**delta)

    def __repr__(self) -> str:
        return f"FrozenClock({self.now.isoformat()})"


class SteppingClock:
    """A clock that moves forward by *step* after each reading."""

    def __init__(self, start: datetime, *, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = _aware(start)
        self.step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now = now + self.step
        return now

    def __repr__(self) -> str:
        return f"SteppingClock({self.now.isoformat()}, step={self.step})"
