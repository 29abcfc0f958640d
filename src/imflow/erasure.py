"""Erasure of personal content (DSGVO Art. 17), keeping the statistical skeleton.

:func:`tombstone` replaces the personal fields of one event (the person and household
member references, notes of needs, reviews, closures, transfers and custom actions, goal
descriptions, justifications) with :data:`TOMBSTONE` and keeps everything key figures
count: types, dates, phases, reasons, areas, minutes, household size, providers.
Stores apply it to every event of a person and append a
:class:`~imflow.events.PersonErased` event.

>>> from datetime import date, datetime, timezone
>>> from imflow.actors import SYSTEM
>>> from imflow.events import NeedRecorded
>>> ev = NeedRecorded(case_id="c1", seq=3, on=date(2025, 1, 2),
...                   recorded_at=datetime(2025, 1, 2, tzinfo=timezone.utc), actor=SYSTEM,
...                   area="housing", note="lives with an aunt")
>>> tombstone(ev).note, tombstone(ev).area
('<erased>', 'housing')

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from imflow.events import (
    CaseClosed,
    CaseOpened,
    CaseTransferred,
    CustomActionTaken,
    Event,
    GoalAdded,
    NeedRecorded,
    PeriodExtended,
    PlanReviewed,
)

__all__ = ["TOMBSTONE", "tombstone"]

TOMBSTONE = "<erased>"
"""What erased personal content reads as."""

E = TypeVar("E", bound=Event)


def _blank(text: str) -> str:
    return TOMBSTONE if text else ""


def tombstone(event: E) -> E:
    """*event* with its personal content replaced by :data:`TOMBSTONE`."""
    changed: Event
    if isinstance(event, CaseOpened):
        changed = attrs.evolve(event, person=TOMBSTONE, members=(TOMBSTONE,) * len(event.members))
    elif isinstance(
        event, NeedRecorded | PlanReviewed | CaseClosed | CustomActionTaken | CaseTransferred
    ):
        changed = attrs.evolve(event, note=_blank(event.note))
    elif isinstance(event, GoalAdded):
        changed = attrs.evolve(event, description=_blank(event.description))
    elif isinstance(event, PeriodExtended):
        changed = attrs.evolve(event, justification=_blank(event.justification))
    else:
        return event
    return changed
