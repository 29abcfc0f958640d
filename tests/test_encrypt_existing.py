"""The upgrade path: a store an older imflow wrote in clear is encrypted in place.

An imflow-0.1 store (schema 3, personal fields in clear) is opened by this imflow
(schema 4), and ``encrypt_existing`` seals it case by case in a subprocess that is
killed half-way; a second run resumes after the last case done, and then every case
reads back as before while no personal field is left in clear in the database files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from imflow.store import PostgresStore, SQLiteStore, migrate
from tests.stores import StoreMaker, far_future_engine, store_new, working_case

CASES = 120

DOWNGRADE = [  # what migrations 4 to 6 added: back to the schema of imflow 0.1
    "DROP TABLE report_facts",
    "DROP TABLE imflow_report_fill",
    "DROP TABLE outbox_leases",
    "ALTER TABLE outbox DROP COLUMN enqueued_at",
    "DROP INDEX cases_retention",
    "ALTER TABLE cases DROP COLUMN erased_version",
    "DROP TABLE imflow_shred",
    "DROP TABLE imflow_encryption",
    "DELETE FROM imflow_migrations WHERE version >= 4",
]

RUN = """
import sys, time
from imflow.store import PostgresStore, SQLiteStore
kind, where, schema, stop_at = sys.argv[1:5]

def progress(done: int) -> None:
    print(done, flush=True)
    if done >= int(stop_at):
        time.sleep(600)  # a batch is committed: wait here for the kill

store = SQLiteStore(where) if kind == "sqlite" else PostgresStore(where, schema=schema)
store.encrypt_existing(batch=4, progress=progress)
print("done", flush=True)
"""


def old_store(stores: StoreMaker, prefix: str) -> list[Any]:
    """An imflow-0.1 store: personal fields in clear, schema version 3."""
    engine = far_future_engine()
    plain: Any = stores(engine=engine, encrypt=False)
    cases = []
    for i in range(CASES):
        case = working_case(
            engine,
            f"old-{i:03d}",
            person=f"{prefix}p{i}x",
            household=2,
            members=(f"{prefix}m{i}x",),
        )
        store_new(plain, case)
        cases.append(case)
    plain.erase_person(f"{prefix}p0x", on=cases[0].latest_on)  # an erasure of 0.1, too
    cases[0] = plain.load("old-000")
    plain.close()
    stores.opened.remove(plain)
    raw = stores.raw()
    for statement in DOWNGRADE:
        raw.execute(statement)
    raw.close()
    return cases


def clear_text(stores: StoreMaker, prefix: str) -> int:
    """How many rows still hold a marker in clear."""
    raw = stores.raw()
    cast = "::text" if stores.kind == "postgres" else ""
    try:
        rows = raw.execute(
            f"SELECT payload{cast} FROM events UNION ALL"
            f" SELECT coalesce(snapshot{cast}, '') FROM cases"
            " UNION ALL SELECT person_ref FROM case_persons"
        ).fetchall()
    finally:
        raw.close()
    return sum(prefix in r[0] for r in rows)


def test_an_old_store_is_encrypted_in_place_resuming_after_a_kill(sql_stores: StoreMaker) -> None:
    prefix = f"zq{uuid.uuid4().hex[:6]}"
    cases = old_store(sql_stores, prefix)
    if sql_stores.kind == "postgres":  # the owner migrates; SQLite's store does on open
        migrate(str(sql_stores.dsn), schema=sql_stores.schema)
    store: Any = sql_stores(engine=far_future_engine())  # migrates to 5: nothing sealed yet
    assert store.schema_version == 7 and store.encryption_pending
    assert store.load("old-005") == cases[5]  # rows in clear read as before
    before = clear_text(sql_stores, prefix)
    assert before > CASES

    where = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, sql_stores.kind, where, sql_stores.schema, str(CASES // 3)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert child.stdout is not None
    for line in child.stdout:  # let it seal a third of the cases, then kill it
        if line.strip().isdigit() and int(line) >= CASES // 3:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    half = clear_text(sql_stores, prefix)
    assert 0 < half < before  # killed half-way: some cases sealed, others not yet

    resumed = store.encrypt_existing(batch=10)
    assert resumed.done and resumed.cases < CASES  # resumed after the last case done
    assert clear_text(sql_stores, prefix) == 0
    assert not store.encryption_pending
    assert store.encrypt_existing().changed == 0  # running again changes nothing

    fresh: Any = sql_stores(engine=far_future_engine(), cache_size=0)
    for case in cases:
        assert fresh.load(case.case_id) == case
    assert fresh.erase_person(f"{prefix}p7x", on=cases[7].latest_on) == ("old-007",)
    assert fresh.erase_person(f"{prefix}m8x", on=cases[8].latest_on) == ("old-008",)
    if sql_stores.kind == "sqlite":
        fresh.close()
        store.close()
        for s in sql_stores.opened:
            s.close()
        data = b"".join(p.read_bytes() for p in Path(sql_stores.path).parent.iterdir())
        assert prefix.encode() not in data  # nothing left in free pages or the WAL


def test_a_store_opened_without_encryption_refuses_sealed_rows(sql_stores: StoreMaker) -> None:
    engine = far_future_engine()
    sealed: Any = sql_stores(engine=engine)
    store_new(sealed, working_case(engine, "s-1"))
    plain: Any = sql_stores(engine=engine, encrypt=False, cache_size=0)
    import pytest

    from imflow import StoreError

    with pytest.raises(StoreError, match="key store"):
        plain.load("s-1")
    assert isinstance(plain, SQLiteStore | PostgresStore)
