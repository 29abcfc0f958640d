"""Real crashes for the fault and outbox tests: processes killed with SIGKILL mid-write.

:func:`kill_writer_mid_append` spawns a writer process that starts appending to a case
and is killed between ``BEGIN`` and ``COMMIT``: on SQLite a temporary trigger calls a
function that sends SIGKILL to its own process after some rows are inserted; on
PostgreSQL the inserts wait for an advisory lock the test holds, and the test kills
the process while its transaction is open.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from imflow import Case, Engine
from imflow import commands as c
from imflow.store import PostgresStore, SQLiteStore, Store
from tests.stores import StoreMaker, advance, far_future_engine

__all__ = [
    "LOCK_KEY",
    "block_event_inserts",
    "kill_writer_mid_append",
    "more",
    "open_store",
    "unblock_event_inserts",
    "wait_for",
    "waiting_backends",
]

LOCK_KEY = 4242
T = TypeVar("T")


def more(engine: Engine, case: Case, n: int = 3) -> Case:
    """*case* after *n* more contacts."""
    on = case.latest_on
    return advance(
        engine,
        case,
        *(c.RecordContact(on=on + timedelta(days=i), minutes=10 + i) for i in range(n)),
    )


def open_store(kind: str, where: str, schema: str) -> Store:
    """A store in a child process: *where* is the SQLite path or the PostgreSQL DSN."""
    if kind == "sqlite":
        return SQLiteStore(where, engine=far_future_engine())
    return PostgresStore(where, schema=schema, engine=far_future_engine())


def _kill_me() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _writer_dies_mid_append(kind: str, where: str, schema: str, case_id: str, at: int) -> None:
    """Child process: start appending four events to *case_id*; die before the commit."""
    store = open_store(kind, where, schema)
    if isinstance(store, SQLiteStore):
        store.connection.create_function("kill_me", 0, _kill_me)
        store.connection.execute(
            "CREATE TEMP TRIGGER kill_at AFTER INSERT ON main.events"
            f" WHEN NEW.case_id = '{case_id}' AND NEW.seq = {at} BEGIN SELECT kill_me(); END"
        )
    case = store.load(case_id)
    new = more(store.engine, case, 4)
    store.append(case_id, new.events[case.version :], expected_version=case.version)
    raise AssertionError("the writer should have been killed before its commit")


def block_event_inserts(raw: Any) -> None:
    """PostgreSQL: make inserts into ``events`` wait for an advisory lock the test holds."""
    raw.execute(
        "CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN PERFORM pg_advisory_xact_lock({LOCK_KEY}); RETURN NEW; END $$"
    )
    raw.execute(
        "CREATE TRIGGER wait_at BEFORE INSERT ON events FOR EACH ROW"
        " EXECUTE FUNCTION wait_for_test()"
    )


def unblock_event_inserts(raw: Any) -> None:
    raw.execute("DROP TRIGGER wait_at ON events")
    raw.execute("DROP FUNCTION wait_for_test()")


def waiting_backends(raw: Any) -> list[int]:
    """PostgreSQL backends waiting for the test's advisory lock."""
    rows = raw.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted",
        (LOCK_KEY,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def wait_for(predicate: Callable[[], T], what: str, timeout: float = 60) -> T:
    """Poll *predicate* until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def kill_writer_mid_append(stores: StoreMaker, case: Case) -> None:
    """Kill a writer process while it appends four events to the stored *case*."""
    ctx = multiprocessing.get_context("spawn")
    where = str(stores.path) if stores.kind == "sqlite" else str(stores.dsn)
    child = ctx.Process(
        target=_writer_dies_mid_append,
        args=(stores.kind, where, stores.schema, case.case_id, case.version + 3),
    )
    if stores.kind == "sqlite":
        child.start()
    else:
        holder = stores.raw()
        block_event_inserts(holder)
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        child.start()
        wait_for(lambda: waiting_backends(holder), "the writer to block inside its transaction")
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(timeout=60)
        unblock_event_inserts(holder)
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        holder.close()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL, child.exitcode
