"""Writers that die between begin and commit leave the store at its previous version.

Real faults only: a trigger that aborts the transaction halfway through a batch, a
writer process killed with SIGKILL while its transaction is open (SQLite and
PostgreSQL), and a PostgreSQL backend terminated by ``pg_terminate_backend`` from a
second connection. Each time the store stays at the previous version, the case loads,
no outbox entry of the lost events exists, and the next append succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from imflow import Case, StoreError
from imflow.store import PostgresStore
from tests.crashes import (
    LOCK_KEY,
    block_event_inserts,
    kill_writer_mid_append,
    more,
    unblock_event_inserts,
    wait_for,
    waiting_backends,
)
from tests.stores import StoreMaker, store_new, working_case


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
    with pytest.raises(StoreError) as refused:  # the database's own words are not passed on
        store.append("fault", new.events[case.version :], expected_version=case.version)
    assert "fire" not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__context__ is None
    assert store.load("fault") == case  # the same store object, its cache included
    for sql in _DROP_ABORT[sql_stores.kind]:
        raw.execute(sql)
    raw.close()
    assert_intact(sql_stores, case)


# -- a writer process killed with SIGKILL inside its transaction ------------------------------


@pytest.mark.slow
def test_a_writer_killed_between_begin_and_commit_loses_only_its_own_batch(
    sql_stores: StoreMaker,
) -> None:
    store = sql_stores()
    case = working_case(store.engine, "fault")
    store_new(store, case)
    kill_writer_mid_append(sql_stores, case)
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
    store = stores(pool_size=1)  # one pooled connection: the one that breaks
    assert isinstance(store, PostgresStore) and store.pool is not None
    case = working_case(store.engine, "fault")
    store_new(store, case)
    new = more(store.engine, case, 3)
    holder = stores.raw()
    block_event_inserts(holder)
    holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    with store.pool.connection() as conn:
        pid = conn.info.backend_pid
    failure: list[BaseException] = []

    def append() -> None:
        try:
            store.append("fault", new.events[case.version :], expected_version=case.version)
        except BaseException as exc:
            failure.append(exc)

    writer = threading.Thread(target=append)
    writer.start()
    wait_for(lambda: pid in waiting_backends(holder), "the writer to block mid-transaction")
    holder.execute("SELECT pg_terminate_backend(%s)", (pid,))
    writer.join(timeout=60)
    unblock_event_inserts(holder)
    holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    holder.close()
    assert len(failure) == 1 and isinstance(failure[0], psycopg.OperationalError), failure
    assert store.load("fault") == case  # a new connection, the old version
    with store.pool.connection() as conn:
        assert conn.info.backend_pid != pid
    assert_intact(stores, case)
