"""Host transactions: a host row and imflow's events commit or roll back together.

A host writes its own row (a client's name, which must stay outside imflow) and opens
a case in one transaction, through ``store.unit_of_work(conn)`` on SQLite and
PostgreSQL. Killed with SIGKILL before the commit, or an exception before the commit:
neither is stored, and nothing of it is cached. Committed: both are, and the outbox
delivers the events once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import CaseNotFound, ConcurrencyConflict, Hooks
from imflow import commands as c
from imflow._keys import master_key_from
from imflow.events import CaseOpened, ConsentRecorded, Event
from imflow.keys import PostgresKeyStore
from imflow.outbox import CaseService
from imflow.store import PostgresStore, SQLiteStore, Store
from imflow.store._keys_postgres import default_key_schema
from tests.crashes import open_store
from tests.stores import DAY, StoreMaker, manager, open_case, pg_dsn, sql_stores

__all__ = ["pg_dsn", "sql_stores"]

IM = manager()


class Boom(Exception):
    """The host's own failure before its commit."""


def host_connection(stores: StoreMaker) -> Any:
    """The host's connection to the same database (autocommit, transactions explicit)."""
    return stores.raw()


def pg_key_store(stores: StoreMaker) -> PostgresKeyStore:
    """The key store a host passes with a connection of its own (the maker's master key
    and key schema, as ``imflow migrate --schema`` made it)."""
    assert stores.dsn is not None
    return PostgresKeyStore(
        stores.dsn, master_key=master_key_from(None), schema=default_key_schema(stores.schema)
    )


def make_host_table(stores: StoreMaker) -> None:
    stores.migrate()  # PostgreSQL: the schema, made by its owner
    conn = stores.raw()
    conn.execute("CREATE TABLE IF NOT EXISTS host_clients (case_id TEXT PRIMARY KEY, name TEXT)")
    conn.close()


def host_rows(stores: StoreMaker) -> list[tuple[Any, ...]]:
    conn = stores.raw()
    rows = conn.execute("SELECT case_id, name FROM host_clients ORDER BY case_id").fetchall()
    conn.close()
    return [tuple(r) for r in rows]


def sql_store(stores: StoreMaker) -> SQLiteStore | PostgresStore:
    store = stores()
    assert isinstance(store, SQLiteStore | PostgresStore)
    return store


def insert_client(conn: Any, case_id: str, name: str) -> None:
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    conn.execute(f"INSERT INTO host_clients VALUES ({mark}, {mark})", (case_id, name))


def begin(conn: Any) -> None:
    """The host opens its own transaction (SQLite: take the write lock at once)."""
    conn.execute("BEGIN IMMEDIATE" if isinstance(conn, sqlite3.Connection) else "BEGIN")


def opening(case_id: str, person: str = "p-1") -> c.OpenCase:
    return c.OpenCase(case_id=case_id, person=person, district="08337", provider="drk", on=DAY)


def recording_hooks(seen: list[tuple[str, int]]) -> Hooks:
    hooks = Hooks()

    @hooks.on(CaseOpened)
    def opened(event: CaseOpened, case: object) -> None:
        seen.append((event.case_id, event.seq))

    @hooks.on(ConsentRecorded)
    def consented(event: ConsentRecorded, case: object) -> None:
        seen.append((event.case_id, event.seq))

    return hooks


def assert_nothing_of(store: Store, stores: StoreMaker, case_id: str) -> None:
    with pytest.raises(CaseNotFound):
        store.load(case_id)
    with stores.fresh(cache_size=0) as other:
        with pytest.raises(CaseNotFound):
            other.load(case_id)
        assert other.outbox.count_pending() == 0
    assert host_rows(stores) == []


def test_committed_host_row_and_events_are_stored_and_delivered_once(
    sql_stores: StoreMaker,
) -> None:
    make_host_table(sql_stores)
    seen: list[tuple[str, int]] = []
    service = CaseService(sql_stores(), hooks=recording_hooks(seen))
    conn = host_connection(sql_stores)
    with service.unit_of_work(conn) as tx:
        insert_client(conn, "wt-1", "Ayşe K., Rheinstraße 4")
        tx.open(opening("wt-1"), by=IM)
        case = tx.handle("wt-1", c.RecordConsent(on=DAY), by=IM, idempotency_key="form-1")
        assert case.version == 2 and seen == []  # nothing is delivered inside the transaction
    conn.close()
    assert host_rows(sql_stores) == [("wt-1", "Ayşe K., Rheinstraße 4")]
    assert service.store.load("wt-1") == case
    assert seen == [("wt-1", 1), ("wt-1", 2)]  # delivered once, after the commit
    assert service.deliver().delivered == 0
    assert seen == [("wt-1", 1), ("wt-1", 2)]
    # the key was committed with the events: a retry is answered, not written again
    again = service.handle("wt-1", c.RecordConsent(on=DAY), by=IM, idempotency_key="form-1")
    assert again.version == 2


def test_an_exception_before_the_commit_stores_neither(sql_stores: StoreMaker) -> None:
    make_host_table(sql_stores)
    seen: list[tuple[str, int]] = []
    service = CaseService(sql_stores(), hooks=recording_hooks(seen))
    conn = host_connection(sql_stores)

    def doomed() -> None:
        with service.unit_of_work(conn) as tx:
            insert_client(conn, "wt-2", "Olena P.")
            tx.open(opening("wt-2"), by=IM)
            tx.handle("wt-2", c.RecordConsent(on=DAY), by=IM)
            raise Boom

    with pytest.raises(Boom):
        doomed()
    conn.close()
    assert_nothing_of(service.store, sql_stores, "wt-2")
    assert seen == []


def test_a_host_rollback_of_its_own_transaction_leaves_no_trace_in_the_cache(
    sql_stores: StoreMaker,
) -> None:
    """The unit of work joins the host's transaction; the host rolls back. Another writer
    then records a *different* version 1: the store must load that one, not a copy of
    the rolled-back case it saw inside the transaction."""
    make_host_table(sql_stores)
    store = sql_store(sql_stores)
    conn = host_connection(sql_stores)
    begin(conn)
    with store.unit_of_work(conn) as uow:
        insert_client(conn, "wt-3", "Karim S.")
        mine = open_case(store.engine, "wt-3", person="p-rolled-back")
        uow.append("wt-3", mine.events, expected_version=0)
        assert uow.load("wt-3") == mine  # the transaction sees its own write
    conn.execute("ROLLBACK")
    conn.close()
    assert_nothing_of(store, sql_stores, "wt-3")
    other = sql_stores()
    theirs = open_case(other.engine, "wt-3", person="p-committed", household=2)
    other.append("wt-3", theirs.events, expected_version=0)
    assert store.load("wt-3") == theirs


def test_a_conflict_inside_the_host_transaction_keeps_it_usable(sql_stores: StoreMaker) -> None:
    make_host_table(sql_stores)
    store = sql_store(sql_stores)
    first = open_case(store.engine, "wt-4")
    store.append("wt-4", first.events, expected_version=0)
    conn = host_connection(sql_stores)
    with store.unit_of_work(conn) as uow:
        insert_client(conn, "wt-4", "Mariam A.")
        with pytest.raises(ConcurrencyConflict):  # a savepoint is rolled back, not the whole
            uow.append("wt-4", first.events, expected_version=0)
        second = open_case(store.engine, "wt-5")
        uow.append("wt-5", second.events, expected_version=0)
    conn.close()
    assert host_rows(sql_stores) == [("wt-4", "Mariam A.")]
    assert store.load("wt-5") == second


def _dies_before_commit(kind: str, where: str, schema: str) -> None:
    """Child process: a host transaction with a client row and a case, killed before COMMIT."""
    store = open_store(kind, where, schema)
    if kind == "sqlite":
        conn: Any = sqlite3.connect(where, isolation_level=None)
    else:
        import psycopg

        conn = psycopg.connect(where, autocommit=True)
        conn.execute(f"SET search_path TO {schema}")
    with store.unit_of_work(conn) as uow:  # type: ignore[attr-defined]
        insert_client(conn, "wt-6", "Dmytro H.")
        case = open_case(store.engine, "wt-6")
        uow.append("wt-6", case.events, expected_version=0)
        os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("the host should have been killed before its commit")


def test_a_host_killed_before_its_commit_stores_neither(sql_stores: StoreMaker) -> None:
    make_host_table(sql_stores)
    store = sql_stores()  # migrated, before the child opens it
    where = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    child = multiprocessing.get_context("spawn").Process(
        target=_dies_before_commit, args=(sql_stores.kind, where, sql_stores.schema)
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL, child.exitcode
    assert_nothing_of(store, sql_stores, "wt-6")
    # the database is fully usable afterwards (no lock or transaction left behind)
    case = open_case(store.engine, "wt-6")
    assert store.append("wt-6", case.events, expected_version=0).version == 1


def test_a_host_store_on_the_host_s_own_connection_joins_its_transaction(
    sql_stores: StoreMaker,
) -> None:
    """``SQLiteStore(conn)`` / ``PostgresStore(conn)``: the store runs on the host's
    connection and joins a transaction the host has open on it."""
    make_host_table(sql_stores)
    sql_stores().close()  # migrated
    conn = host_connection(sql_stores)
    keys = None if sql_stores.kind == "sqlite" else pg_key_store(sql_stores)
    store: SQLiteStore | PostgresStore = (
        SQLiteStore(conn, engine=sql_stores().engine)
        if keys is None
        else PostgresStore(conn, engine=sql_stores().engine, key_store=keys)
    )
    begin(conn)
    insert_client(conn, "wt-7", "Ali R.")
    case = open_case(store.engine, "wt-7")
    store.append("wt-7", case.events, expected_version=0)
    conn.execute("ROLLBACK")
    assert_nothing_of(store, sql_stores, "wt-7")
    store.append("wt-7", case.events, expected_version=0)  # outside: its own transaction
    store.close()  # leaves the host's connection (and the host's key store) open
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    conn.close()
    if keys is not None:
        keys.close()


@settings(max_examples=15, deadline=None)
@given(plan=st.lists(st.booleans(), min_size=1, max_size=6))
def test_only_committed_units_of_work_are_ever_seen(
    tmp_path_factory: Any, plan: list[bool]
) -> None:
    """Any mix of committed and failed host transactions on SQLite: exactly the committed
    ones are stored (host rows and events), each case at the version it was written."""
    path = tmp_path_factory.mktemp("uow") / "host.db"
    store = SQLiteStore(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE host_clients (case_id TEXT PRIMARY KEY, name TEXT)")
    engine = store.engine
    committed: dict[str, list[Event]] = {}
    for n, commit in enumerate(plan):
        case_id = f"wt-{n}"
        try:
            with store.unit_of_work(conn) as uow:
                insert_client(conn, case_id, f"client {n}")
                case = open_case(engine, case_id)
                uow.append(case_id, case.events, expected_version=0)
                assert uow.load(case_id) == case
                if not commit:
                    raise Boom
        except Boom:
            continue
        committed[case_id] = list(case.events)
    rows = conn.execute("SELECT case_id FROM host_clients ORDER BY case_id").fetchall()
    assert [r[0] for r in rows] == sorted(committed)
    assert {case.case_id: list(case.events) for case in store.iter_cases()} == committed
    conn.close()
    store.close()


@pytest.fixture
def pg_stores(pg_dsn: str, tmp_path: Path) -> Iterator[StoreMaker]:
    maker = StoreMaker("postgres", tmp_path, pg_dsn)
    yield maker
    maker.close_all()


def test_a_postgres_connection_outside_autocommit_commits_the_store_s_own_writes(
    pg_stores: StoreMaker,
) -> None:
    """psycopg connects outside autocommit by default: every read opens a transaction.
    The store ends those of its own operations, so its writes commit and a transaction
    the host opens afterwards is still the host's."""
    import psycopg

    make_host_table(pg_stores)
    conn = psycopg.connect(str(pg_stores.dsn))  # autocommit off
    conn.execute(f"SET search_path TO {pg_stores.schema}")
    conn.commit()
    keys = pg_key_store(pg_stores)
    store = PostgresStore(conn, engine=pg_stores().engine, key_store=keys)
    case = open_case(store.engine, "wt-9")
    store.append("wt-9", case.events, expected_version=0)
    with pg_stores.fresh(cache_size=0) as other:
        assert other.load("wt-9") == case  # committed, not left in an open transaction
    insert_client(conn, "wt-10", "Nour B.")  # the host's own implicit transaction
    store.append("wt-10", open_case(store.engine, "wt-10").events, expected_version=0)
    conn.rollback()
    with pytest.raises(CaseNotFound):
        store.load("wt-10")
    with pg_stores.fresh(cache_size=0) as other:
        with pytest.raises(CaseNotFound):
            other.load("wt-10")
        assert [e.case_id for e in other.outbox.pending(after=0, limit=10)] == ["wt-9"]
    assert host_rows(pg_stores) == []
    store.close()
    keys.close()  # the host's key store stays the host's to close
    conn.close()
