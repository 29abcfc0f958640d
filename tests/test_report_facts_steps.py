"""The report's facts written incrementally (schema migration 7): an append dated in a
case's latest year or later steps the fold's state kept in the case's rows through its
batch only; anything else recomputes over the whole history.

Either way the rows must be those of :func:`~imflow.kennzahlen._stored.summary_rows` over
the whole history, and the kept state that of :func:`~imflow.kennzahlen._fold.tail_of`:
for scrambled histories (any order, back-dated events, 31 December and 1 January, goal
statuses before their goal or its plan, closures and reopenings in any order) folded in
random batches, and for valid histories appended in random batches to real SQLite and
PostgreSQL stores, with back-dated contacts and erasures.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imflow import Engine, FrozenClock
from imflow import commands as c
from imflow.events import CaseOpened, Event
from imflow.kennzahlen._fold import decode_tail, encode_tail, tail_of
from imflow.kennzahlen._stored import AFTER, stepped_rows, summary_rows
from imflow.serialization import to_document
from imflow.store import SQLiteStore
from imflow.store._summary import state_fill, summary_params
from imflow.testing import FAR_FUTURE, manager_for
from tests.profiles import CORE_EXAMPLES
from tests.stores import StoreMaker
from tests.test_kennzahlen_oracle import histories

Table = dict[int, tuple[str, str | None, str | None]]  # year: facts, scope, state


def reference(history: Sequence[Event]) -> Table:
    """The rows of *history* recomputed over all of it, with the state kept."""
    state = encode_tail(tail_of(history))
    return {
        year: (facts, scope, state if year == AFTER else None)
        for year, facts, scope in summary_rows(history, 0)
    }


def write(table: Table, case_id: str, history: Sequence[Event], batch: Sequence[Event]) -> bool:
    """What the store does for *batch* (the end of *history*) on *table*; whether it
    stepped."""
    stored = [(y, *table[y]) for y in sorted(table, reverse=True)[:2]]
    stepped = stepped_rows(case_id, stored, batch)
    if stepped is None:
        for p in summary_params(case_id, history, batch):
            table[p["year"]] = (p["facts"], p["scope"], p["state"])
        return False
    for year, facts, scope, state in stepped:
        table[year] = (facts, scope, state)
    return True


def _edges(events: Sequence[Event]) -> list[date]:
    years = sorted({e.on.year for e in events})
    return [d for y in years for d in (date(y, 1, 1), date(y, 12, 31), date(y + 1, 1, 1))]


@st.composite
def scrambled(draw: st.DrawFn) -> tuple[Event, ...]:
    """One case's valid events, now and then reordered and redated (now and then with
    the dates put back in order), numbered anew."""
    events = list(draw(histories(max_cases=1)))
    if draw(st.booleans(), label="reordered"):
        keep = draw(st.booleans(), label="opening first")
        rest = draw(st.permutations(events[1:] if keep else events))
        events = [events[0], *rest] if keep else list(rest)
    if draw(st.booleans(), label="redated"):
        days = st.one_of(
            st.sampled_from(_edges(events)),
            st.dates(events[0].on - timedelta(days=400), events[0].on + timedelta(days=1200)),
        )
        events = [
            attrs.evolve(e, on=draw(days)) if draw(st.integers(0, 3)) == 0 else e for e in events
        ]
    if draw(st.booleans(), label="dates in seq order"):  # every later batch is stepped
        ordered = sorted(e.on for e in events)
        events = [attrs.evolve(e, on=day) for e, day in zip(events, ordered, strict=True)]
    return tuple(attrs.evolve(e, seq=i) for i, e in enumerate(events, 1))


def batches(draw: Callable[..., Any], n: int) -> list[tuple[int, int]]:
    """Random consecutive (start, end) slices covering range(n)."""
    cuts = sorted(draw(st.sets(st.integers(1, max(n - 1, 1)), max_size=n), label="cuts"))
    bounds = [0, *[k for k in cuts if 0 < k < n], n]
    return list(itertools.pairwise(bounds))


@settings(settings.default, max_examples=max(CORE_EXAMPLES, 60))
@given(scrambled(), st.data())
def test_stepped_rows_equal_the_rows_recomputed_over_the_whole_history(
    events: tuple[Event, ...], data: st.DataObject
) -> None:
    case_id = events[0].case_id
    table: Table = {}
    for start, end in batches(data.draw, len(events)):
        history, batch = events[:end], events[start:end]
        if write(table, case_id, history, batch):
            event("stepped")
        assert table == reference(history), (start, end)


def test_the_moves_at_new_year_step_every_batch_dated_in_the_latest_year_or_later() -> None:
    """Two cases handed over on 31 December and 1 January, one event a batch: every batch
    but the first and the back-dated ones is stepped, and the rows are the reference."""
    from tests.test_kennzahlen_oracle import new_year_moves

    by_case: dict[str, list[Event]] = {}
    for e in new_year_moves():
        by_case.setdefault(e.case_id, []).append(e)
    for case_id, mine in by_case.items():
        table: Table = {}
        for i in range(len(mine)):
            stepped = write(table, case_id, mine[: i + 1], mine[i : i + 1])
            latest = max((e.on.year for e in mine[:i]), default=None)
            assert stepped == (latest is not None and mine[i].on.year >= latest), i
            assert table == reference(mine[: i + 1]), i


# -- real stores --------------------------------------------------------------------------

_examples = itertools.count()


def _stored(raw: Any, case_id: str) -> Table:
    rows = raw.execute(
        "SELECT year, facts, scope, state FROM report_facts WHERE case_id = "
        + ("?" if isinstance(raw, sqlite3.Connection) else "%s")
        + " ORDER BY year",
        (case_id,),
    ).fetchall()
    return {int(y): (str(f), s, t) for y, f, s, t in rows}


@settings(
    settings.default,
    max_examples=max(CORE_EXAMPLES // 4, 20),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories(max_cases=3), st.data())
def test_rows_written_in_random_batches_equal_the_whole_history_on_every_store(
    sql_stores: StoreMaker, events: tuple[Event, ...], data: st.DataObject
) -> None:
    n = next(_examples)
    by_case: dict[str, list[Event]] = {}
    for e in events:
        renamed = f"{e.case_id}-{n}"
        by_case.setdefault(renamed, []).append(attrs.evolve(e, case_id=renamed))
    engine = Engine(clock=FrozenClock(FAR_FUTURE))
    raw = sql_stores.raw()
    try:
        with sql_stores.fresh(
            engine=engine, snapshot_every=data.draw(st.sampled_from([0, 3]))
        ) as store:
            for case_id, mine in by_case.items():
                for start, end in batches(data.draw, len(mine)):
                    store.append(case_id, mine[start:end], expected_version=start)
                case = store.load(case_id)
                assert _stored(raw, case_id) == reference(case.events), case_id
            opened = [e for evs in by_case.values() for e in evs if isinstance(e, CaseOpened)]
            for e in data.draw(st.lists(st.sampled_from(opened), max_size=1), label="erased"):
                store.erase_person(e.person, on=date(2039, 12, 1))
                after = store.load(e.case_id)
                assert _stored(raw, e.case_id) == reference(after.events)
                # an append after the erasure steps from the state the erasure wrote
                contact = c.RecordContact(on=date(2039, 12, 1), minutes=5)
                if after.is_open and not engine.check(after, contact, by=manager_for(after)):
                    new = engine.handle(after, contact, by=manager_for(after))
                    tail = new.events[after.version :]
                    store.append(e.case_id, tail, expected_version=after.version)
                    assert _stored(raw, e.case_id) == reference(new.events)
            # migration 7 fills the state of rows written without one
            raw.execute("UPDATE report_facts SET state = NULL")
            raw.execute(state_fill("sqlite" if sql_stores.kind == "sqlite" else "postgresql"))
            for case_id in by_case:
                (state,) = _stored(raw, case_id)[AFTER][2:]
                assert decode_tail(str(state)) == tail_of(store.load(case_id).events)
    finally:
        raw.close()


def test_an_append_in_the_latest_year_steps_the_kept_state_an_erasure_recomputes(
    tmp_path: Path,
) -> None:
    """The append reads the state kept in the rows (planted: a depth of 1, as after a
    closure, makes the next contact one "after closure") instead of the history; an
    erasure recomputes the rows over the whole history, planted state and all."""
    from tests.stores import open_case

    engine = Engine(clock=FrozenClock.on(date(2026, 6, 1)))
    path = tmp_path / "steps.db"
    with SQLiteStore(path, engine=engine) as store:
        case = open_case(engine, "c-1", on=date(2025, 12, 31))
        store.append("c-1", case.events, expected_version=0)
        raw = sqlite3.connect(path, isolation_level=None)
        (state,) = raw.execute("SELECT state FROM report_facts WHERE year = ?", (AFTER,)).fetchone()
        seq, previous, depth, orphans = json.loads(state)
        assert (seq, depth, orphans) == (1, 0, [])
        planted = json.dumps([seq, previous, 1, orphans])
        raw.execute("UPDATE report_facts SET state = ? WHERE year = ?", (planted, AFTER))
        contact = engine.handle(
            case, c.RecordContact(on=date(2026, 1, 1), minutes=30), by=manager_for(case)
        )
        store.append("c-1", contact.events[case.version :], expected_version=case.version)
        stored = _stored(raw, "c-1")
        assert stored[2025] == reference(contact.events)[2025]  # before the batch: as it was
        assert stored != reference(contact.events)  # the planted depth was stepped
        assert json.loads(str(stored[AFTER][2]))[:3] == [2, date(2026, 1, 1).toordinal(), 1]
        store.erase_person("p-1", on=date(2026, 6, 1))
        assert _stored(raw, "c-1") == reference(store.load("c-1").events)
        raw.close()


@settings(
    settings.default,
    max_examples=max(CORE_EXAMPLES // 4, 20),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(scrambled(), min_size=1, max_size=3))
def test_the_state_migration_7_fills_is_the_tail_of_each_case(
    sql_stores: StoreMaker, cases: list[tuple[Event, ...]]
) -> None:
    """The SQL of the fill over scrambled histories (statuses of goals added later or
    never, closures and reopenings in any order, back-dated last events) in the columns
    the store writes: the tail of each case, as the fold keeps it."""
    n = next(_examples)
    sqlite = sql_stores.kind == "sqlite"
    raw = sqlite3.connect(":memory:") if sqlite else sql_stores.raw()
    mark = "?" if sqlite else "%s"
    try:
        if not sqlite:
            raw.execute(f"CREATE SCHEMA IF NOT EXISTS {sql_stores.schema}")
            raw.execute(f"SET search_path TO {sql_stores.schema}")
        day, payload = ("TEXT", "TEXT") if sqlite else ("DATE", "JSONB")
        raw.execute(
            "CREATE TABLE IF NOT EXISTS events (case_id TEXT, seq INTEGER, type TEXT,"
            f" on_date {day}, payload {payload})"
        )
        raw.execute(
            "CREATE TABLE IF NOT EXISTS report_facts (case_id TEXT, year INTEGER, state TEXT)"
        )
        histories_by_id = {}
        for i, events in enumerate(cases):
            case_id = f"fill-{n}-{i}"
            history = [attrs.evolve(e, case_id=case_id) for e in events]
            histories_by_id[case_id] = history
            for e in history:
                raw.execute(
                    f"INSERT INTO events VALUES ({mark}, {mark}, {mark}, {mark}, {mark})",
                    (case_id, e.seq, e.type, e.on.isoformat(), json.dumps(to_document(e))),
                )
            raw.execute(f"INSERT INTO report_facts VALUES ({mark}, {AFTER}, NULL)", (case_id,))
        raw.execute(state_fill("sqlite" if sqlite else "postgresql"))
        for case_id, history in histories_by_id.items():
            (state,) = raw.execute(
                f"SELECT state FROM report_facts WHERE case_id = {mark}", (case_id,)
            ).fetchone()
            assert decode_tail(str(state)) == tail_of(history), case_id
    finally:
        raw.close()
