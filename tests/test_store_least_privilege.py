"""The schema under the host's control: a PostgreSQL role without DDL rights runs imflow.

The owner (the test server's superuser) migrates with ``imflow migrate`` or with the SQL
of ``imflow schema-sql`` run through ``psql``; the application's role has only
``SELECT, INSERT, UPDATE, DELETE`` on the tables and ``USAGE`` on the schema, and opens,
handles, reports, sweeps and delivers. Without the migration it gets a clear error and
nothing is created.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from imflow import Actor, Engine, FrozenClock, Hooks, Role, SchemaMissing, SchemaOutdated
from imflow import commands as c
from imflow.deadlines import sweep
from imflow.events import CaseClosed, ConsentRecorded
from imflow.outbox import CaseService
from imflow.store import PostgresStore, schema_sql
from tests.pg import _bin_dir, fresh_schema
from tests.stores import pg_dsn

__all__ = ["pg_dsn"]

OPENED = date(2023, 7, 3)  # vwv-2023: the period ends on 2026-07-02
TODAY = date(2026, 8, 3)
IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
LATEST = PostgresStore.MIGRATIONS[-1][0]
COORDINATOR = Actor("ko-1", Role.COORDINATOR, district="08337")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imflow", "--lang", "en", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Place:
    """A fresh schema and a fresh application role on the test server."""

    def __init__(self, dsn: str) -> None:
        self.owner_dsn = dsn
        self.schema = fresh_schema()
        self.role = f"app_{uuid.uuid4().hex[:12]}"
        self.app_dsn = make_conninfo(dsn, user=self.role)
        with psycopg.connect(dsn, autocommit=True) as owner:
            owner.execute(f"CREATE ROLE {self.role} LOGIN")

    def owner(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.owner_dsn, autocommit=True)

    def relations(self) -> list[str]:
        with self.owner() as conn:
            rows = conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s ORDER BY 1",
                (self.schema,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def schema_exists(self) -> bool:
        with self.owner() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (self.schema,)
            ).fetchone()
        return bool(row and row[0])

    def drop(self) -> None:
        with self.owner() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            conn.execute(f"DROP OWNED BY {self.role}")
            conn.execute(f"DROP ROLE {self.role}")


@pytest.fixture
def place(pg_dsn: str) -> Iterator[Place]:
    found = Place(pg_dsn)
    try:
        yield found
    finally:
        found.drop()


def test_without_a_migration_the_store_says_what_to_run_and_creates_nothing(place: Place) -> None:
    with pytest.raises(SchemaMissing) as missing:
        PostgresStore(place.app_dsn, schema=place.schema)
    message = str(missing.value)
    assert "imflow migrate" in message and f"--schema {place.schema}" in message
    assert "imflow schema-sql --backend postgresql" in message
    assert place.role not in message  # the connection string is never quoted
    assert isinstance(missing.value, SchemaOutdated) and missing.value.current == 0
    # the owner's role would have created it: this one may not, and nothing is left behind
    with pytest.raises(SchemaMissing):
        PostgresStore(place.owner_dsn, schema=place.schema)
    assert not place.schema_exists()
    url = f"postgresql://{place.role}@{place.owner_dsn.split('@', 1)[1]}"
    refused = run_cli("migrate", "--db", url, "--schema", place.schema)
    assert refused.returncode == 2 and "permission denied" in refused.stderr, refused
    assert not place.schema_exists()


def test_a_role_without_ddl_rights_runs_imflow_after_the_owner_migrated(place: Place) -> None:
    done = run_cli(
        "migrate", "--db", place.owner_dsn, "--schema", place.schema, "--grant", place.role
    )
    assert done.returncode == 0, done
    assert done.stdout.strip().endswith(f"is at version {LATEST}")
    with psycopg.connect(place.app_dsn, autocommit=True) as app:  # the role really has no DDL
        app.execute(f"SET search_path TO {place.schema}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE intruder (x int)")
    exercise(place)
    assert "intruder" not in place.relations()


def test_the_printed_sql_run_by_a_dba_makes_the_same_schema(place: Place, pg_dsn: str) -> None:
    script = schema_sql("postgresql", schema=place.schema, grant_to=place.role)
    psql = _bin_dir() / "psql"
    ran = subprocess.run(
        [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", place.owner_dsn],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    exercise(place)
    by_cli = fresh_schema()
    assert run_cli("migrate", "--db", pg_dsn, "--schema", by_cli).returncode == 0
    try:
        assert columns(pg_dsn, by_cli) == columns(pg_dsn, place.schema)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {by_cli} CASCADE")


def columns(dsn: str, schema: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = %s ORDER BY 1, 2",
            (schema,),
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2",
            (schema,),
        ).fetchall()
    return [tuple(r) for r in rows] + [tuple(r) for r in indexes]


def exercise(place: Place) -> None:
    """Open, handle, report, sweep and deliver as the application's role."""
    delivered: list[tuple[str, int]] = []
    hooks = Hooks()

    @hooks.on(ConsentRecorded)
    def consented(event: ConsentRecorded, case: object) -> None:
        delivered.append((event.case_id, event.seq))

    @hooks.on(CaseClosed)
    def closed(event: CaseClosed, case: object) -> None:
        delivered.append((event.case_id, event.seq))

    engine = Engine(clock=FrozenClock.on(TODAY))
    with PostgresStore(place.app_dsn, schema=place.schema, engine=engine) as store:
        service = CaseService(store, hooks=hooks)
        for n in (1, 2):
            service.open(
                c.OpenCase(
                    case_id=f"lp-{n}", person=f"p-{n}", district="08337", provider="drk", on=OPENED
                ),
                by=IM,
            )
            service.handle(f"lp-{n}", c.RecordConsent(on=OPENED), by=IM, idempotency_key=f"k{n}")
        service.handle("lp-2", c.RecordContact(on=OPENED + timedelta(days=1), minutes=30), by=IM)
        result = sweep(store, on=TODAY, engine=store.engine)
        assert sorted(case.case_id for case in result.closed) == ["lp-1", "lp-2"]
        assert service.deliver().delivered == 2  # the closures of the sweep
        assert delivered[:2] == [("lp-1", 2), ("lp-2", 2)]
        # the sweep closes its due cases from a random one onwards (several servers)
        assert sorted(delivered[2:]) == [("lp-1", 3), ("lp-2", 4)]
        assert store.outbox.count_pending() == 0
        figures = service.report(year=2026, by=COORDINATOR).figures()
        assert figures["cases_active"] == 2 and figures["cases_closed"] == 2
        assert store.schema_version == 7
