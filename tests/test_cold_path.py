"""The cold command path of the SQL stores (#17): a current, small snapshot.

- a snapshot written with every append, loaded at every version, equals the replay of
  the events so far (state, events and contacts), on SQLite and PostgreSQL;
- the snapshot holds neither the events nor the contacts: the contacts are read from
  the ``contact_recorded`` rows the load already has, also across an erasure;
- a snapshot in the layout before (contacts inside) still loads, and one that is
  neither is not used (the store folds the events instead);
- an append that changes no indexed column sets only the version, and one that does
  changes the columns: the case row always says what the case is.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import InvalidHistory, Rejected
from imflow import commands as c
from imflow._decode import CONTACTS_FROM_EVENTS, Decoder
from imflow.events import Event
from imflow.serialization import to_document
from imflow.store._sql import SqlStore
from imflow.testing import Trajectory, trajectories
from tests.stores import StoreMaker, advance, far_future_engine, manager, working_case

_ids = itertools.count()
ENGINE = far_future_engine()
_PROPERTY = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _renamed(events: tuple[Event, ...], case_id: str) -> tuple[Event, ...]:
    return tuple(attrs.evolve(e, case_id=case_id) for e in events)


def _stored_snapshot(stores: StoreMaker, case_id: str) -> tuple[int | None, Any]:
    """The snapshot version and document of *case_id* as the database holds them."""
    conn = stores.raw()
    try:
        cast = "::text" if stores.kind == "postgres" else ""
        mark = "%s" if stores.kind == "postgres" else "?"
        cur = conn.execute(
            f"SELECT snapshot_version, snapshot{cast} FROM cases WHERE case_id = {mark}",
            (case_id,),
        )
        version, text = cur.fetchone()
    finally:
        conn.close()
    return version, None if text is None else json.loads(text)


def _case_columns(store: SqlStore, case_id: str) -> tuple[Any, ...]:
    with store._session():
        rows = store._query(
            "SELECT provider, phase, rule_set, period_end, closed_on, version FROM cases"
            f" WHERE case_id = {store._param('case_id')}",
            {"case_id": case_id},
        )
    return tuple(rows[0])


@_PROPERTY
@given(walk=trajectories(max_steps=25))
def test_a_current_snapshot_at_every_version_equals_the_replay(
    sql_stores: StoreMaker, walk: Trajectory
) -> None:
    case_id = f"cold-{next(_ids)}"
    events = _renamed(walk.case.events[:], case_id)
    with (
        sql_stores.fresh(engine=ENGINE, snapshot_every=1, cache_size=0) as writer,
        sql_stores.fresh(engine=ENGINE, snapshot_every=1, cache_size=0) as reader,
    ):
        assert isinstance(writer, SqlStore)
        for version in range(len(events)):
            writer.append(case_id, events[version : version + 1], expected_version=version)
            replayed = ENGINE.replay(events[: version + 1])
            loaded = reader.load(case_id)
            assert loaded == replayed
            assert loaded.contacts == replayed.contacts
            assert tuple(loaded.contacts) == tuple(replayed.contacts)
            assert loaded.events == replayed.events
            assert ENGINE.replay(loaded.events) == loaded
            # the row says what the case is, whichever statement updated it
            assert _case_columns(writer, case_id)[:-1] == _case_columns_of(writer, replayed)
            at, doc = _stored_snapshot(sql_stores, case_id)
            assert at == version + 1 and doc is not None
            assert "events" not in doc and "contacts" not in doc
            assert doc[CONTACTS_FROM_EVENTS] is True


def _case_columns_of(store: SqlStore, case: Any) -> tuple[Any, ...]:
    row = store._case_row(case)
    return tuple(row[k] for k in ("provider", "phase", "rule_set", "period_end", "closed_on"))


@_PROPERTY
@given(walk=trajectories(max_steps=20), more=st.integers(1, 4), every=st.integers(1, 4))
def test_contacts_of_a_loaded_case_equal_the_replay_across_an_erasure(
    sql_stores: StoreMaker, walk: Trajectory, more: int, every: int
) -> None:
    case_id = f"cold-e-{next(_ids)}"
    events = _renamed(walk.case.events[:], case_id)
    person = walk.case.person
    with sql_stores.fresh(engine=ENGINE, snapshot_every=every, cache_size=0) as store:
        store.append(case_id, events, expected_version=0)
        store.erase_person(person, on=walk.case.latest_on, by=manager())
        case = store.load(case_id)
        by = manager(case.provider, case.district)
        for i in range(more):
            on = case.latest_on + timedelta(days=1)
            try:
                new = ENGINE.handle(case, c.RecordContact(on=on, minutes=10 + i), by=by)
            except Rejected:  # closed, or no consent (yet, or withdrawn): no contact then
                break
            store.append(case_id, new.events[case.version :], expected_version=case.version)
            case = new
    with sql_stores.fresh(engine=ENGINE, snapshot_every=every, cache_size=0) as reader:
        loaded = reader.load(case_id)
        replayed = ENGINE.replay(reader.events(case_id))
        assert tuple(loaded.contacts) == tuple(replayed.contacts) == tuple(case.contacts)
        assert loaded == replayed


def _old_layout(store: SqlStore, case: Any) -> str:
    """The snapshot as imflow wrote it before #17's cold path: contacts inside."""
    doc = to_document(case)
    del doc["events"]
    if store._sealer is not None:
        place = f"s{case.version}"
        store._sealer.seal(doc, case.case_id, place, 0, together=True)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("encrypt", [True, False])
def test_a_snapshot_of_the_layout_before_still_loads(tmp_path: Any, encrypt: bool) -> None:
    from imflow.store import SQLiteStore

    case = working_case(ENGINE, "old-snap", household=2, members=("m-1",))
    on = case.latest_on + timedelta(days=1)
    case = advance(ENGINE, case, c.RecordContact(on=on, minutes=30))
    path = tmp_path / "old.db"
    with SQLiteStore(path, engine=ENGINE, snapshot_every=0, encrypt=encrypt) as store:
        store.append("old-snap", case.events, expected_version=0)
        old = _old_layout(store, case)
        with store._session():
            store._now().execute(
                "UPDATE cases SET snapshot = ?, snapshot_version = ? WHERE case_id = ?",
                (old, case.version, "old-snap"),
            )
    with SQLiteStore(path, engine=ENGINE, cache_size=0, encrypt=encrypt) as store:
        loaded = store.load("old-snap")
        assert loaded == case and tuple(loaded.contacts) == tuple(case.contacts)
        assert len(loaded.contacts) == 2
        # the next append writes the current layout, which loads the same case
        on = loaded.latest_on + timedelta(days=1)
        new = ENGINE.handle(loaded, c.RecordContact(on=on, minutes=15), by=manager())
        store.append("old-snap", new.events[loaded.version :], expected_version=loaded.version)
    with SQLiteStore(path, engine=ENGINE, cache_size=0, encrypt=encrypt) as store:
        again = store.load("old-snap")
        assert again == new and len(again.contacts) == 3


def test_the_reader_takes_the_contacts_only_from_a_snapshot_marked_so() -> None:
    case = working_case(ENGINE, "mark-1")
    doc = to_document(attrs.evolve(case, events=(), contacts=()))
    del doc["events"], doc["contacts"]
    marked = {**doc, CONTACTS_FROM_EVENTS: True}
    decoder = Decoder()
    read = decoder.snapshot(json.loads(json.dumps(marked)), case.events, case.contacts)
    assert read == case
    # marked but without the contacts, with contacts inside too, or marked otherwise:
    # not this layout, so the store folds the events instead
    assert decoder.snapshot(dict(marked), case.events) is None
    both = {**marked, "contacts": to_document(case)["contacts"]}
    assert decoder.snapshot(both, case.events, case.contacts) is None
    assert decoder.snapshot({**doc, CONTACTS_FROM_EVENTS: 1}, case.events, case.contacts) is None
    # the layout before (contacts inside, no mark) still reads, ignoring *contacts*
    before = to_document(case)
    del before["events"]
    assert decoder.snapshot(before, case.events, ()) == case  # type: ignore[arg-type]


def test_a_contact_row_that_holds_another_event_is_refused_when_read(tmp_path: Any) -> None:
    from imflow.store import SQLiteStore

    case = working_case(ENGINE, "bad-row")
    path = tmp_path / "bad.db"
    with SQLiteStore(path, engine=ENGINE, snapshot_every=1, encrypt=False) as store:
        store.append("bad-row", case.events, expected_version=0)
        seq = next(e.seq for e in case.events if e.type == "contact_recorded")
        other = next(e for e in case.events if e.type == "assessment_started")
        with store._session():
            store._now().execute(
                "UPDATE events SET payload = ? WHERE case_id = ? AND seq = ?",
                (json.dumps(to_document(attrs.evolve(other, seq=seq))), "bad-row", seq),
            )
    with SQLiteStore(path, engine=ENGINE, cache_size=0, encrypt=False) as store:
        loaded = store.load("bad-row")
        with pytest.raises(InvalidHistory):
            tuple(loaded.contacts)


def test_an_append_that_changes_the_phase_or_provider_updates_the_row(
    sql_stores: StoreMaker,
) -> None:
    case = working_case(ENGINE, "cols-1")
    with sql_stores.fresh(engine=ENGINE, cache_size=0) as store:
        assert isinstance(store, SqlStore)
        store.append("cols-1", case.events, expected_version=0)
        steps: list[c.Command] = [
            c.RecordContact(on=case.latest_on + timedelta(days=1), minutes=20),
            c.TransferCase(
                to_provider="caritas", on=case.latest_on + timedelta(days=2), note="moved"
            ),
            c.CloseCase(reason="moved_away", on=case.latest_on + timedelta(days=3)),
        ]
        for step in steps:
            loaded = store.load("cols-1")
            by = manager(loaded.provider, loaded.district)
            new = ENGINE.handle(loaded, step, by=by)
            store.append("cols-1", new.events[loaded.version :], expected_version=loaded.version)
            columns = _case_columns(store, "cols-1")
            assert columns[:-1] == _case_columns_of(store, new) and columns[-1] == new.version
        assert columns[0] == "caritas" and columns[1] == "closed" and columns[4] is not None
        assert [x.case_id for x in store.iter_cases(provider="caritas")] == ["cols-1"]
