"""A case "as of": as it stood on a business date, as it was recorded by a system time.

Every event carries two times (bitemporal): ``on``, the business date of the act, and
``recorded_at``, when the engine recorded it. A complaint or an audit asks both:
*what did the case look like on 1 March, as far as anyone could know on 2 March?*
:func:`visible` answers with the events, :func:`as_of` with the case folded from
them, from any source of events (a store, an export, a list in a test);
:func:`case_as_of` reads them from a store. :meth:`imflow.Engine.as_of` is the same
with the engine's workflow.

The cut is read in ``seq`` order and stops at the first event past it: a case never
holds an event without the ones before it. For the histories the engine writes (dates
never go back, records are appended in order) that is exactly the events with
``on <= on`` and ``recorded_at <= recorded_at``.

An erasure (DSGVO Art. 17) rewrites the personal fields of *every* earlier event, so
a view of the time before it shows ``<erased>`` too: erased content does not come back.

>>> from datetime import date, datetime, timezone
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> clock = FrozenClock(datetime(2025, 3, 1, 9, tzinfo=timezone.utc))
>>> engine = Engine(clock=clock)
>>> im = Actor("im-1", Role.MANAGER, provider="awo", district="08111")
>>> case = engine.open(c.OpenCase(case_id="s-1", person="p", district="08111",
...                               provider="awo", on=date(2025, 3, 1)), by=im)
>>> clock.advance(days=4)  # 5 March: a contact of 1 March is entered late
>>> case = engine.handle(case, c.RecordContact(on=date(2025, 3, 1), minutes=30), by=im)
>>> len(as_of(case.events, on=date(2025, 3, 1)).contacts)
1
>>> then = datetime(2025, 3, 2, 23, 59, tzinfo=timezone.utc)
>>> len(as_of(case.events, on=date(2025, 3, 1), recorded_at=then).contacts)
0

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from imflow.case import Case
from imflow.events import Event

if TYPE_CHECKING:
    from imflow.engine import Engine

__all__ = ["EventReader", "as_of", "case_as_of", "visible"]


class EventReader(Protocol):
    """What :func:`case_as_of` needs from a store: its events by case, and its engine."""

    @property
    def engine(self) -> Engine:
        """The engine the store folds cases with."""
        ...

    def events(self, case_id: str) -> tuple[Event, ...]:
        """The case's events in order."""
        ...


def _check(on: date | None, recorded_at: datetime | None) -> None:
    if on is not None and (type(on) is not date):
        raise TypeError(f"'on' must be a datetime.date, got {type(on).__name__}")
    if recorded_at is not None:
        if not isinstance(recorded_at, datetime):
            raise TypeError(f"'recorded_at' must be a datetime, got {type(recorded_at).__name__}")
        if recorded_at.tzinfo is None or recorded_at.utcoffset() is None:
            raise ValueError("'recorded_at' must be timezone-aware")


def visible(
    events: Iterable[Event], *, on: date | None = None, recorded_at: datetime | None = None
) -> tuple[Event, ...]:
    """The events of one case, in ``seq`` order, up to the first one dated after *on* or
    recorded after *recorded_at* (``None``: no cut in that time)."""
    _check(on, recorded_at)
    found: list[Event] = []
    for event in sorted(events, key=lambda e: e.seq):
        if (on is not None and event.on > on) or (
            recorded_at is not None and event.recorded_at > recorded_at
        ):
            break
        found.append(event)
    return tuple(found)


def as_of(
    events: Iterable[Event],
    *,
    on: date | None = None,
    recorded_at: datetime | None = None,
    engine: Engine | None = None,
) -> Case | None:
    """The case folded from :func:`visible` events, or ``None`` if it did not exist yet.

    *engine* folds the events (default: an engine of the default workflow); it must
    accept the case's workflow, like :meth:`imflow.Engine.replay`.
    """
    seen = visible(events, on=on, recorded_at=recorded_at)
    if not seen:
        return None
    if engine is None:
        from imflow.engine import Engine

        engine = Engine()
    return engine.replay(seen)


def case_as_of(
    store: EventReader,
    case_id: str,
    *,
    on: date | None = None,
    recorded_at: datetime | None = None,
) -> Case | None:
    """The case *case_id* of *store* as of *on* and *recorded_at* (see :func:`as_of`).

    Raises :class:`~imflow.CaseNotFound` when the store has no such case.
    """
    return as_of(store.events(case_id), on=on, recorded_at=recorded_at, engine=store.engine)
