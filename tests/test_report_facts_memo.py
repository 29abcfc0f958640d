"""The report-facts state read with the load (#17): a load's one statement also brings
the case's last two ``report_facts`` rows, the store keeps them by case with the version
they were read at, and the next append of the case takes them, using them only when it
writes after that very version (its conditional write of the case row proves the rows
did not change since); any other append reads them itself.

Real stores: two instances on one SQLite file or PostgreSQL schema, one loading, the
other appending, stale appends among them, in random interleavings; after every write
the rows are those recomputed over the whole history, a stale append is the usual
conflict and writes nothing, and every append leaves no memo of its case behind.
"""

from __future__ import annotations

import itertools
from contextlib import ExitStack
from datetime import date
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import ConcurrencyConflict, Engine, FrozenClock
from imflow import commands as c
from imflow.events import Event
from imflow.kennzahlen._stored import AFTER
from imflow.store import SQLiteStore
from imflow.store._summary import FactsMemo, split_facts
from imflow.testing import FAR_FUTURE, manager_for
from tests.profiles import CORE_EXAMPLES
from tests.stores import StoreMaker, open_case
from tests.test_kennzahlen_oracle import histories
from tests.test_report_facts_steps import _stored, batches, reference

_examples = itertools.count()


def counting_state_reads(store: Any) -> list[str]:
    """The case ids of every ``facts_state`` read *store* makes from now on."""
    seen: list[str] = []
    original = store._rows

    def counted(key: str, params: Any) -> Any:
        if key == "facts_state":
            seen.append(str(params["case_id"]))
        return original(key, params)

    store._rows = counted
    return seen


def memo_of(store: Any, case_id: str) -> int | None:
    """The version *store*'s memo holds facts rows of *case_id* at (``None``: none)."""
    found = store._facts._rows.get(case_id)
    return None if found is None else found[0]


class Model:
    """What one store knows of the case: the version it last loaded or wrote (its case
    cache) and the version of the facts rows it keeps (its memo)."""

    def __init__(self) -> None:
        self.known: int | None = None
        self.memo: int | None = None


@settings(
    settings.default,
    max_examples=max(CORE_EXAMPLES // 4, 20),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories(max_cases=1), st.data())
def test_two_stores_loading_and_appending_in_any_order_keep_the_rows_of_the_history(
    sql_stores: StoreMaker, events: tuple[Event, ...], data: st.DataObject
) -> None:
    n = next(_examples)
    case_id = f"{events[0].case_id}-{n}"
    mine = [attrs.evolve(e, case_id=case_id) for e in events]
    engine = Engine(clock=FrozenClock(FAR_FUTURE))
    every = data.draw(st.sampled_from([0, 3]), label="snapshot_every")
    raw = sql_stores.raw()
    try:
        with ExitStack() as stack:
            pair = [
                stack.enter_context(sql_stores.fresh(engine=engine, snapshot_every=every))
                for _ in range(2)
            ]
            reads = [counting_state_reads(s) for s in pair]
            models = [Model(), Model()]
            for start, end in batches(data.draw, len(mine)):
                for who in data.draw(st.lists(st.sampled_from([0, 1]), max_size=3), "loads"):
                    if start > 0:
                        assert pair[who].load(case_id).version == start
                        models[who].known = models[who].memo = start
                        assert memo_of(pair[who], case_id) == start
                writer = data.draw(st.sampled_from([0, 1]), label="writer")
                store, model = pair[writer], models[writer]
                if start > 0 and model.known != start:
                    model.memo = start  # its base is loaded first: memo and all
                before = len(reads[writer])
                store.append(case_id, mine[start:end], expected_version=start)
                read = len(reads[writer]) - before
                assert read == (0 if start == 0 or model.memo == start else 1)
                assert memo_of(store, case_id) is None  # taken, used or not
                model.known, model.memo = end, None
                assert _stored(raw, case_id) == reference(mine[:end])
                other, theirs = pair[1 - writer], models[1 - writer]
                if start > 0 and theirs.memo == start and data.draw(st.booleans(), "stale"):
                    # its memo is of the version the writer just wrote after
                    with pytest.raises(ConcurrencyConflict) as lost:
                        other.append(case_id, mine[start:end], expected_version=start)
                    assert (lost.value.expected, lost.value.actual) == (start, end)
                    assert memo_of(other, case_id) is None  # dropped with the conflict
                    theirs.known = theirs.memo = None
                    assert _stored(raw, case_id) == reference(mine[:end])
                    assert other.events(case_id) == tuple(mine[:end])
            for store in pair:
                assert store.load(case_id).events == tuple(mine)
    finally:
        raw.close()


def test_a_memo_of_another_version_is_never_used_and_is_gone_after_the_append(
    tmp_path: Any,
) -> None:
    """Planted rows under the version of the case's next append are not used; the
    rows read at its very version are, once."""
    engine = Engine(clock=FrozenClock.on(date(2026, 6, 1)))
    with SQLiteStore(tmp_path / "memo.db", engine=engine) as store:
        case = open_case(engine, "c-1", on=date(2026, 1, 2))
        store.append("c-1", case.events, expected_version=0)
        reads = counting_state_reads(store)
        loaded = store.load("c-1")
        assert memo_of(store, "c-1") == loaded.version
        wrong = [(AFTER, "{}", None, None)]  # rows no step could use: recomputed if used
        store._facts.keep("c-1", loaded.version + 1, wrong)
        contact = c.RecordContact(on=date(2026, 3, 1), minutes=30)
        new = engine.handle(loaded, contact, by=manager_for(loaded))
        store.append("c-1", new.events[loaded.version :], expected_version=loaded.version)
        assert reads == ["c-1"]  # the memo was of another version: read instead
        assert memo_of(store, "c-1") is None
        newer = engine.handle(new, contact, by=manager_for(new))
        store.append("c-1", newer.events[new.version :], expected_version=new.version)
        assert reads == ["c-1", "c-1"]  # nothing kept from the append before
        store.load("c-1")  # a load, then its append: none read
        last = engine.handle(newer, contact, by=manager_for(newer))
        store.append("c-1", last.events[newer.version :], expected_version=newer.version)
        assert reads == ["c-1", "c-1"]
        assert _stored_rows(store, "c-1") == reference(last.events)


def _stored_rows(store: SQLiteStore, case_id: str) -> Any:
    with store.reading() as conn:
        return _stored(conn, case_id)


def test_a_load_in_a_unit_of_work_keeps_its_rows_with_the_unit_not_the_store(
    tmp_path: Any,
) -> None:
    """Rows a host's transaction may still roll back are never in the store's memo."""
    import sqlite3

    engine = Engine(clock=FrozenClock.on(date(2026, 6, 1)))
    path = tmp_path / "uow.db"
    with SQLiteStore(path, engine=engine) as store:
        case = open_case(engine, "c-1", on=date(2026, 1, 2))
        store.append("c-1", case.events, expected_version=0)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            with store.unit_of_work(conn) as uow:
                loaded = uow.load("c-1")
                assert memo_of(store, "c-1") is None
                contact = c.RecordContact(on=date(2026, 3, 1), minutes=30)
                new = engine.handle(loaded, contact, by=manager_for(loaded))
                uow.append("c-1", new.events[loaded.version :], expected_version=loaded.version)
            assert _stored_rows(store, "c-1") == reference(new.events)
        finally:
            conn.close()


def test_the_facts_rows_of_a_load_come_apart_from_its_case_and_event_rows() -> None:
    rows = [(0, 1, None, None, None), (1, 1, None, "case_opened", "{}")]
    assert split_facts(rows) == [] and len(rows) == 2
    with_facts = [*rows, (3, AFTER, None, "s", "a"), (4, AFTER, None, None, "t")]
    assert split_facts(with_facts) == [(AFTER, "a", "s", "t")] and with_facts == rows


def test_the_memo_is_bounded_and_forgets_the_least_recently_loaded() -> None:
    memo = FactsMemo(2)
    for i in range(3):
        memo.keep(f"c-{i}", 1, [])
    assert memo.take("c-0", 1) is None and memo.take("c-2", 1) == []
    memo.keep("c-1", 2, [])
    assert memo.take("c-1", 1) is None and memo.take("c-1", 2) is None
