"""Store fixtures: one contract, three real stores (memory, a SQLite file, PostgreSQL).

``stores`` is parametrised over all three kinds; ``sql_stores`` over the two SQL ones.
Each yields a :class:`StoreMaker` whose calls open stores on the same storage (the same
file, the same PostgreSQL schema), so a test can reopen, race two connections or crash
a writer. The PostgreSQL server is started once per test session (per xdist worker).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.store import MemoryStore, PostgresStore, SQLiteStore, Store, migrate
from imflow.testing import FAR_FUTURE
from tests.pg import PostgresUnavailable, fresh_schema, server_dsn

__all__ = [
    "DAY",
    "KINDS",
    "SQL_KINDS",
    "TEST_MASTER_KEY",
    "StoreMaker",
    "advance",
    "counting_key_reads",
    "delete_case_keys",
    "far_future_engine",
    "manager",
    "migrated_schema",
    "open_case",
    "pg_dsn",
    "sql_stores",
    "store_new",
    "stores",
    "working_case",
]

TEST_MASTER_KEY = "aW1mbG93LXRlc3RzLW1hc3Rlci1rZXktMzItYnl0ZXM="
"""The master key the tests configure (base64 of 32 bytes), as a host would."""

KINDS = ("memory", "sqlite", "postgres")
SQL_KINDS = ("sqlite", "postgres")


def far_future_engine() -> Engine:
    """An engine whose today lies after every date the strategies generate."""
    return Engine(clock=FrozenClock(FAR_FUTURE))


class StoreMaker:
    """Opens stores of one kind on one storage; closes them all at the end."""

    def __init__(self, kind: str, tmp: Path, dsn: str | None) -> None:
        self.kind = kind
        self.path = tmp / "imflow.db"
        self.dsn = dsn
        self.schema = fresh_schema()
        self.opened: list[Store] = []
        self._memory: MemoryStore | None = None
        self._migrated = False

    def __call__(self, *, engine: Engine | None = None, **options: Any) -> Store:
        """A store on this maker's storage.

        The memory store is shared (it has no other storage) and ignores the SQL stores'
        options (``snapshot_every``, ``cache_size``).
        """
        engine = engine or far_future_engine()
        store: Store
        if self.kind == "memory":
            if self._memory is None:
                self._memory = MemoryStore(engine=engine)
            return self._memory
        if self.kind == "sqlite":
            store = SQLiteStore(self.path, engine=engine, **options)
        else:
            assert self.dsn is not None
            self.migrate()
            store = PostgresStore(self.dsn, schema=self.schema, engine=engine, **options)
        self.opened.append(store)
        return store

    def migrate(self) -> None:
        """PostgreSQL: create the maker's schema, as the database's owner would once."""
        if self.kind == "postgres" and not self._migrated:
            assert self.dsn is not None
            migrate(self.dsn, schema=self.schema)
            self._migrated = True

    @contextlib.contextmanager
    def fresh(self, **options: Any) -> Iterator[Store]:
        """A store on this storage for one block, closed after it (so property tests do
        not pile up connections); the shared memory store stays open."""
        store = self(**options)
        try:
            yield store
        finally:
            if self.kind != "memory":
                store.close()
                self.opened.remove(store)

    def raw(self) -> Any:
        """A plain DB-API connection to the same storage, outside any store."""
        if self.kind == "sqlite":
            return sqlite3.connect(self.path, isolation_level=None, timeout=30)
        assert self.dsn is not None
        conn = psycopg.connect(self.dsn, autocommit=True)
        conn.execute(f"SET search_path TO {self.schema}")
        return conn

    def close_all(self) -> None:
        for store in self.opened:
            store.close()
        if self.kind == "postgres" and self.dsn is not None:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
                conn.execute(f"DROP SCHEMA IF EXISTS {self.schema}_keys CASCADE")


def migrated_schema(dsn: str) -> str:
    """A new PostgreSQL schema with imflow's tables, made as the database's owner would."""
    schema = fresh_schema()
    migrate(dsn, schema=schema)
    return schema


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A PostgreSQL server for this session; a failure to start fails the tests."""
    try:
        context = server_dsn()
        dsn = context.__enter__()
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL is required for the store tests and did not start: {exc}")
    try:
        yield dsn
    finally:
        context.__exit__(None, None, None)


def _maker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    kind: str = request.param
    dsn = request.getfixturevalue("pg_dsn") if kind == "postgres" else None
    maker = StoreMaker(kind, tmp_path, dsn)
    try:
        yield maker
    finally:
        maker.close_all()


@pytest.fixture(params=KINDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """A maker of stores of each kind in turn."""
    yield from _maker(request, tmp_path)


@pytest.fixture(params=SQL_KINDS)
def sql_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreMaker]:
    """A maker of SQLite and PostgreSQL stores in turn."""
    yield from _maker(request, tmp_path)


DAY = date(2025, 3, 3)
"""The opening date the hand-written contract cases use."""


def manager(provider: str = "drk", district: str = "08337") -> Actor:
    """A manager allowed to work on cases of *provider* in *district*."""
    return Actor("im-1", Role.MANAGER, provider=provider, district=district)


def open_case(
    engine: Engine,
    case_id: str,
    *,
    district: str = "08337",
    provider: str = "drk",
    on: date = DAY,
    person: str = "p-1",
    household: int = 1,
    members: tuple[str, ...] = (),
) -> Case:
    """A newly opened case (not stored)."""
    command = c.OpenCase(
        case_id=case_id,
        person=person,
        district=district,
        provider=provider,
        on=on,
        household=household,
        members=members,
    )
    return engine.open(command, by=manager(provider, district))


def advance(engine: Engine, case: Case, *commands: c.Command) -> Case:
    """*case* after *commands*, each accepted by *engine* (not stored)."""
    by = manager(case.provider, case.district)
    for command in commands:
        case = engine.handle(case, command, by=by)
    return case


def working_case(engine: Engine, case_id: str, **opening: Any) -> Case:
    """A case in monitoring with an agreed plan, a need, contacts and notes."""
    case = open_case(engine, case_id, **opening)
    on = case.period_start
    return advance(
        engine,
        case,
        c.RecordConsent(on=on),
        c.RecordContact(on=on, minutes=45, topics=["language", "housing"]),
        c.StartAssessment(on=on + timedelta(days=1)),
        c.RecordNeed(on=on + timedelta(days=1), area="housing", note="lives with an aunt"),
        c.StartPlanning(on=on + timedelta(days=10)),
        c.AddGoal(
            goal_id="g1",
            area="housing",
            description="own flat in Waldshut",
            target_date=on + timedelta(days=300),
            on=on + timedelta(days=10),
        ),
        c.AgreePlan(on=on + timedelta(days=12)),
        c.ReviewPlan(on=on + timedelta(days=100), note="flat viewing booked"),
    )


def store_new(store: Store, case: Case, *, since: int = 0, key: str | None = None) -> None:
    """Append the events of *case* after version *since*."""
    store.append(case.case_id, case.events[since:], expected_version=since, idempotency_key=key)


def counting_key_reads(store: Store) -> list[int]:
    """The sizes of the reads of *store*'s key store from now on (one entry per read)."""
    key_store = getattr(store, "key_store", None)
    assert key_store is not None
    asked: list[int] = []
    keys = key_store.keys

    def counted(ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        asked.append(len(ids))
        return keys(ids, create=create)  # type: ignore[no-any-return]

    key_store.keys = counted
    return asked


def delete_case_keys(store: Store, case_id: str, *persons: str) -> int:
    """Delete the first case key of *case_id* and the keys of *persons*, as an erasure
    elsewhere does; returns how many keys went."""
    sealer = getattr(store, "_sealer", None)
    key_store = getattr(store, "key_store", None)
    assert sealer is not None and key_store is not None
    kids = [*sealer.case_key_ids(case_id, [0]), *(sealer.person_key_id(p) for p in persons)]
    deleted: int = key_store.delete(kids)
    return deleted
