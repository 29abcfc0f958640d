"""Writers that die between begin and commit leave the store at its previous version.

Real faults only: a trigger that aborts the transaction halfway through a batch, a
writer process killed with SIGKILL while its transaction is open (SQLite and
PostgreSQL), and a PostgreSQL backend terminated by ``pg_terminate_backend`` from a
second connection. Each time the store stays at the previous version, the case loads,
no outbox entry of the lost events exists, and the next append succeeds.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from imflow import Case, Engine
from imflow import commands as c
from imflow.store import PostgresStore, SQLiteStore, Store
from tests.stores import StoreMaker, advance, far_future_engine, store_new, working_case

LOCK_KEY = 4242


def more(engine: Engine, case: Case, n: int = 3) -> Case:
    """*case* after *n* more contacts."""
    on = case.latest_on
    return advance(
        engine,
        case,
        *(c.RecordContact(on=on + timedelta(days=i), minutes=10 + i) for i in range(n)),
    )


def assert_intact(stores: StoreMaker, case: Case) -> None:
    """The store holds exactly *case*, its outbox only *case*'s events; a next append works."""
    fresh = stores(cache_size=0)
    assert fresh.load(case.case_id) == case
    assert fresh.events(case.case_id) == case.events
    pending = fresh.outbox.pending(after=0, limit=1000)
    assert [(p.case_id, p.seq) for p in pending] == [(case.case_id, e.seq) for e in case.events]
    after = more(fresh.engine, case, 2)
    fresh.append(case.case_id, after.events[case.version :], expected_version=case.version)
    assert stores(cache_size=0).load(case.case_id) == after


# -- an exception raised inside the transaction ------------------------------------------------

_ABORT_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER abort_at BEFORE INSERT ON events WHEN NEW.seq = {seq}"
        " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    ],
    "postgres": [
        "CREATE FUNCTION abort_insert() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$",
        "CREATE TRIGGER abort_at BEFORE INSERT ON events FOR EACH ROW"
        " WHEN (NEW.seq = {seq}) EXECUTE FUNCTION abort_insert()",
    ],
}
_DROP_ABORT = {"sqlite": ["DROP TRIGGER abort_at"], "postgres": ["DROP TRIGGER abort_at ON events"]}


def test_a_transaction_aborted_halfway_through_a_batch_writes_nothing(
    sql_stores: StoreMaker,
) -> None:
    store = sql_stores()
    case = working_case(store.engine, "fault")
    store_new(store, case)
    new = more(store.engine, case, 4)
    raw = sql_stores.raw()
    for sql in _ABORT_TRIGGER[sql_stores.kind]:
        raw.execute(sql.format(seq=case.version + 3))  # the third event of the batch
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.RaiseException), match="fire"):
        store.append("fault", new.events[case.version :], expected_version=case.version)
    assert store.load("fault") == case  # the same store object, its cache included
    for sql in _DROP_ABORT[sql_stores.kind]:
        raw.execute(sql)
    raw.close()
    assert_intact(sql_stores, case)


# -- a writer process killed with SIGKILL inside its transaction ------------------------------


def _kill_me() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _writer_dies_mid_append(kind: str, where: str, schema: str, at_seq: int) -> None:
    """Child process: start an append and get killed before the commit."""
    store: Store
    if kind == "sqlite":
        store = SQLiteStore(where, engine=far_future_engine())
        assert isinstance(store, SQLiteStore)
        store.connection.create_function("kill_me", 0, _kill_me)
        store.connection.execute(
            "CREATE TEMP TRIGGER kill_at AFTER INSERT ON main.events"
            f" WHEN NEW.seq = {at_seq} BEGIN SELECT kill_me(); END"
        )
    else:
        store = PostgresStore(where, schema=schema, engine=far_future_engine())
    case = store.load("fault")
    new = more(store.engine, case, 4)
    store.append("fault", new.events[case.version :], expected_version=case.version)
    raise AssertionError("the writer should have been killed before its commit")


def _block_event_inserts(raw: Any) -> None:
    """PostgreSQL: make inserts into ``events`` wait for an advisory lock the test holds."""
    raw.execute(
        "CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_advisory_xact_lock({LOCK_KEY}); RETURN NEW; END $$"
    )
    raw.execute(
        "CREATE TRIGGER wait_at BEFORE INSERT ON events FOR EACH ROW"
        " EXECUTE FUNCTION wait_for_test()"
    )


def _unblock_event_inserts(raw: Any) -> None:
    raw.execute("DROP TRIGGER wait_at ON events")


def _waiting_backends(raw: Any) -> list[int]:
    rows = raw.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
        (LOCK_KEY,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def _wait_for(predicate: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_writer_killed_between_begin_and_commit_loses_only_its_own_batch(
    sql_stores: StoreMaker,
) -> None:
    store = sql_stores()
    case = working_case(store.engine, "fault")
    store_new(store, case)
    ctx = multiprocessing.get_context("spawn")
    where = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    child = ctx.Process(
        target=_writer_dies_mid_append,
        args=(sql_stores.kind, where, sql_stores.schema, case.version + 3),
    )
    if sql_stores.kind == "sqlite":
        child.start()
    else:
        holder = sql_stores.raw()
        _block_event_inserts(holder)
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        child.start()
        _wait_for(lambda: _waiting_backends(holder), "the writer to block inside its transaction")
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(timeout=60)
        _unblock_event_inserts(holder)
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        holder.close()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL
    assert_intact(sql_stores, case)


@pytest.fixture
def pg_stores(pg_dsn: str, tmp_path: Path) -> Iterator[StoreMaker]:
    maker = StoreMaker("postgres", tmp_path, pg_dsn)
    yield maker
    maker.close_all()


def test_a_postgres_backend_terminated_mid_transaction_rolls_back_and_the_store_reconnects(
    pg_stores: StoreMaker,
) -> None:
    stores = pg_stores
    store = stores()
    assert isinstance(store, PostgresStore)
    case = working_case(store.engine, "fault")
    store_new(store, case)
    new = more(store.engine, case, 3)
    holder = stores.raw()
    _block_event_inserts(holder)
    holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    pid = store.connection.info.backend_pid
    failure: list[BaseException] = []

    def append() -> None:
        try:
            store.append("fault", new.events[case.version :], expected_version=case.version)
        except BaseException as exc:
            failure.append(exc)

    writer = threading.Thread(target=append)
    writer.start()
    _wait_for(lambda: pid in _waiting_backends(holder), "the writer to block mid-transaction")
    holder.execute("SELECT pg_terminate_backend(%s)", (pid,))
    writer.join(timeout=60)
    _unblock_event_inserts(holder)
    holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    holder.close()
    assert len(failure) == 1 and isinstance(failure[0], psycopg.OperationalError), failure
    assert store.load("fault") == case  # a new connection, the old version
    assert store.connection.info.backend_pid != pid
    assert_intact(stores, case)
