"""Erasure racing an append, on the real SQL stores, driven deterministically.

``erase_person`` loads each case, tombstones it and writes the rewrite with a
conditional update of the case row (``... WHERE version = <the loaded version>``). An
append that lands between that load and that write must not be lost, and the erasure
must still cover it: the conditional update finds another version, the erasure loads
the case again and erases the appended event too.

The race is staged without threads or sleeps: a subclass of the real store lets a
second store, on its own connection to the same database, append to the case right
after the erasure's load (``_load`` is the step of ``_erase_case`` that reads the case).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from imflow import Actor, Case, ConcurrencyConflict, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.erasure import TOMBSTONE
from imflow.events import NeedRecorded, PersonErased
from imflow.serialization import dumps
from imflow.store import PostgresStore, SQLiteStore, Store
from imflow.store._sql import SqlStore
from tests.stores import StoreMaker

ENGINE = Engine(clock=FrozenClock(datetime(2026, 1, 1, 9, tzinfo=UTC)))
IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
D = date(2025, 3, 3)
PERSON = "zq-race-person"
EARLY_NOTE = "zq-early-note"


class Interloping(SqlStore):
    """Mixin: runs *interloper* with the case id right after each of the first *races*
    loads that an erasure makes."""

    interloper: Callable[[str], None] = staticmethod(lambda case_id: None)
    races = 0
    _erasing = False

    def _erase_case(self, case_id: str, *, on: date, by: Actor) -> int:
        self._erasing = True
        try:
            return super()._erase_case(case_id, on=on, by=by)
        finally:
            self._erasing = False

    def _load(self, case_id: str) -> Case:
        case = super()._load(case_id)
        if self._erasing and self.races > 0:
            self.races -= 1
            self.interloper(case_id)
        return case


class RacingSQLiteStore(Interloping, SQLiteStore):
    """A SQLite store whose erasure a writer interrupts (see :class:`Interloping`)."""


class RacingPostgresStore(Interloping, PostgresStore):
    """A PostgreSQL store whose erasure a writer interrupts (see :class:`Interloping`)."""


def racing_store(stores: StoreMaker, **options: Any) -> Interloping:
    if stores.kind == "sqlite":
        store: Interloping = RacingSQLiteStore(stores.path, engine=ENGINE, **options)
    else:
        assert stores.dsn is not None
        stores.migrate()
        store = RacingPostgresStore(stores.dsn, schema=stores.schema, engine=ENGINE, **options)
    stores.opened.append(store)
    return store


def started(store: Store) -> Case:
    case = ENGINE.open(
        c.OpenCase(case_id="race-1", person=PERSON, district="08337", provider="drk", on=D),
        by=IM,
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area="housing", note=EARLY_NOTE),
    ):
        case = ENGINE.handle(case, cmd, by=IM)
    store.append(case.case_id, case.events, expected_version=0)
    return case


def appender(other: Store, notes: list[str]) -> Callable[[str], None]:
    """Another writer: appends a need with a fresh personal note to the case."""

    def append(case_id: str) -> None:
        case = other.load(case_id)
        note = f"zq-late-note-{len(notes)}"
        new = ENGINE.handle(case, c.RecordNeed(on=D, area="work", note=note), by=IM)
        other.append(case_id, new.events[case.version :], expected_version=case.version)
        notes.append(note)

    return append


@pytest.mark.parametrize("snapshot_every", [0, 2])
def test_an_append_between_the_erasure_s_load_and_write_is_kept_and_erased(
    sql_stores: StoreMaker, snapshot_every: int
) -> None:
    store = racing_store(sql_stores, snapshot_every=snapshot_every)
    other = sql_stores(engine=ENGINE, cache_size=0)
    before = started(store)
    notes: list[str] = []
    store.interloper = appender(other, notes)
    store.races = 1

    assert store.erase_person(PERSON, on=date(2025, 12, 1)) == ("race-1",)

    assert store.races == 0 and len(notes) == 1  # the race did happen
    events = other.events("race-1")
    assert [e.seq for e in events] == list(range(1, before.version + 3))
    late, erased = events[-2], events[-1]
    assert isinstance(late, NeedRecorded) and late.area == "work"  # the append is kept
    assert late.note == TOMBSTONE  # ... and erased with the rest
    assert isinstance(erased, PersonErased) and erased.actor == SYSTEM
    text = "".join(dumps(e) for e in events) + dumps(other.load("race-1"))
    for secret in (PERSON, EARLY_NOTE, *notes):
        assert secret not in text
    assert store.load("race-1") == other.load("race-1")
    assert ENGINE.replay(events) == other.load("race-1")


def test_an_erasure_that_loses_every_race_writes_nothing_and_can_be_repeated(
    sql_stores: StoreMaker,
) -> None:
    store = racing_store(sql_stores)
    other = sql_stores(engine=ENGINE, cache_size=0)
    started(store)
    notes: list[str] = []
    store.interloper = appender(other, notes)
    store.races = 1000  # another writer gets in before every attempt

    with pytest.raises(ConcurrencyConflict):
        store.erase_person(PERSON, on=date(2025, 12, 1))

    events = other.events("race-1")
    assert not any(isinstance(e, PersonErased) for e in events)
    assert [e.note for e in events if isinstance(e, NeedRecorded)] == [EARLY_NOTE, *notes]
    assert len(notes) >= 2  # it did retry

    store.races = 0
    assert store.erase_person(PERSON, on=date(2025, 12, 1)) == ("race-1",)
    text = "".join(dumps(e) for e in other.events("race-1"))
    for secret in (PERSON, EARLY_NOTE, *notes):
        assert secret not in text
