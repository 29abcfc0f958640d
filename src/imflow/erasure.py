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

from collections.abc import Iterable
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

__all__ = ["TOMBSTONE", "Erasure", "tombstone"]

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


class Erasure(tuple[str, ...]):
    """What ``erase_person`` did: the ids of the erased cases (it *is* that tuple, so
    ``store.erase_person(...) == ("c-1",)`` holds), with the details as attributes.

    - ``events_rewritten``: stored events whose personal fields became tombstones;
    - ``keys_deleted``: data keys deleted from the key store (the person's and those of
      the erased cases; 0 for a store that does not encrypt);
    - ``keys_purged``: whether the deleted keys are physically gone from the key
      store's files (see :class:`imflow.keys.Purge`);
    - ``log_flushed``: whether the store's own write-ahead log was emptied (SQLite:
      the ``-wal`` checkpoint finished; true where there is nothing to flush);
    - ``pending``: what kept either from finishing (``"readers"``, ``"old_snapshot"``,
      ``"locked"``, ``"checkpoint_forbidden"``, ``"vacuum_forbidden"``);
      ``store.purge()`` finishes later;
    - ``complete``: both finished.

    >>> done = Erasure(("c-1",), events_rewritten=3, keys_deleted=2)
    >>> done == ("c-1",), done.complete, done.case_ids
    (True, True, ('c-1',))

    .. versionadded:: 0.2.0
    """

    events_rewritten: int
    keys_deleted: int
    keys_purged: bool
    log_flushed: bool
    pending: tuple[str, ...]

    def __new__(
        cls,
        case_ids: Iterable[str],
        *,
        events_rewritten: int = 0,
        keys_deleted: int = 0,
        keys_purged: bool = True,
        log_flushed: bool = True,
        pending: tuple[str, ...] = (),
    ) -> Erasure:
        self = super().__new__(cls, tuple(case_ids))
        details = {
            "events_rewritten": events_rewritten,
            "keys_deleted": keys_deleted,
            "keys_purged": keys_purged,
            "log_flushed": log_flushed,
            "pending": tuple(pending),
        }
        for name, value in details.items():
            object.__setattr__(self, name, value)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("an Erasure cannot be changed")

    def __repr__(self) -> str:
        return (
            f"Erasure({tuple(self)!r}, events_rewritten={self.events_rewritten},"
            f" keys_deleted={self.keys_deleted}, keys_purged={self.keys_purged},"
            f" log_flushed={self.log_flushed}, pending={self.pending!r})"
        )

    @property
    def case_ids(self) -> tuple[str, ...]:
        """The ids of the erased cases, in order."""
        return tuple(self)

    @property
    def complete(self) -> bool:
        """Whether the deleted keys and the store's log are physically flushed."""
        return self.keys_purged and self.log_flushed
