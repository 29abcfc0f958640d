"""A backup taken before an erasure, restored after it with the key store of after.

The backup holds the erased persons' rows as they were — encrypted. Restored, with the
keys that the erasure left, their fields read as tombstones, everyone else's read in
clear, and the key figures of every year are the same as before (domain.md § 8:
"backups taken earlier once the key is gone"). SQLite's online backup API and
PostgreSQL's ``pg_dump`` / ``pg_restore`` of the data schema (the key schema is not in
the dump) are the backups.
"""

from __future__ import annotations

import glob
import sqlite3
import subprocess
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from imflow import Engine
from imflow.erasure import TOMBSTONE
from imflow.kennzahlen import report
from tests.stores import StoreMaker
from tests.test_at_rest import CLOCK, WALDSHUT, marked_case, marker

CASES = 8
YEARS = (2025, 2026, 2027)


def pg_tool(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else name


def take_backup(stores: StoreMaker, store: Any, folder: Path) -> Path:
    if stores.kind == "sqlite":
        target = folder / "backup.db"
        with sqlite3.connect(target) as copy:
            store.connection.backup(copy)
        copy.close()
        return target
    target = folder / "backup.dump"
    assert stores.dsn is not None
    subprocess.run(
        [
            pg_tool("pg_dump"),
            "--format=custom",
            f"--schema={stores.schema}",
            "-f",
            str(target),
            stores.dsn,
        ],
        check=True,
        capture_output=True,
    )
    return target


def restore(stores: StoreMaker, backup: Path) -> None:
    for store in stores.opened:
        store.close()
    stores.opened.clear()
    if stores.kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{stores.path}{suffix}").unlink(missing_ok=True)
        with sqlite3.connect(backup) as source, sqlite3.connect(stores.path) as target:
            source.backup(target)
        return
    assert stores.dsn is not None
    with psycopg.connect(stores.dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {stores.schema} CASCADE")
    subprocess.run(
        [pg_tool("pg_restore"), "--dbname", stores.dsn, str(backup)],
        check=True,
        capture_output=True,
    )


def test_a_backup_from_before_an_erasure_cannot_bring_the_erased_back(
    sql_stores: StoreMaker, tmp_path: Path
) -> None:
    prefix = f"zq{uuid.uuid4().hex[:6]}"
    engine = Engine(workflow=WALDSHUT, clock=CLOCK)
    store: Any = sql_stores(engine=engine, snapshot_every=4)
    cases = [marked_case(engine, prefix, i) for i in range(CASES)]
    for case in cases:
        store.append(case.case_id, case.events, expected_version=0)
    figures = {year: report(store, year=year) for year in YEARS}
    backup = take_backup(sql_stores, store, tmp_path)

    erased = [0, 3, 6]
    for i in erased:
        assert store.erase_person(marker(prefix, "m" if i == 3 else "p", i), on=date(2027, 5, 2))
    assert {year: report(store, year=year) for year in YEARS} == figures

    restore(sql_stores, backup)
    restored: Any = sql_stores(engine=engine, cache_size=0)
    for i, case in enumerate(cases):
        loaded = restored.load(case.case_id)
        if i in erased:
            assert (loaded.person, loaded.members) == (TOMBSTONE, (TOMBSTONE,))
            assert {n.note for n in loaded.needs} == {TOMBSTONE}
            assert loaded.closure is not None and loaded.closure.note == TOMBSTONE
            assert [e.type for e in loaded.events] == [e.type for e in case.events]
        else:
            assert loaded == case
    assert {year: report(restored, year=year) for year in YEARS} == figures
    # the restored rows are still ciphertexts: a fresh erasure of a kept person works
    assert restored.erase_person(marker(prefix, "p", 1), on=date(2027, 5, 3)) == ("case-1",)
