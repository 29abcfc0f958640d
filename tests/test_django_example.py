"""The Django example host (``examples/django_host``) on SQLite and on PostgreSQL.

A fresh database gets imflow's tables through ``manage.py migrate``, the same schema as
``imflow migrate`` makes; then the example's own pytest-django tests run in a
subprocess (Django's settings are global to a process): host transactions (committed,
raised, killed), the admin's case histories over HTTP, the settings-driven engine.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from imflow.keys import MasterKey
from imflow.store import migrate
from tests.paths import EXAMPLES
from tests.stores import pg_dsn

__all__ = ["pg_dsn"]

HOST = EXAMPLES / "django_host"


class Database:
    """A fresh database for one backend, as Django's settings and as a DB-API target."""

    def __init__(self, kind: str, tmp: Path, dsn: str | None) -> None:
        self.kind = kind
        self.tmp = tmp
        self.dsn = dsn
        self.made: list[str] = []
        self.master_key = MasterKey.generate()

    def env(self, name: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("IMFLOW_DJANGO", "IMFLOW_MASTER_KEY"))
        }
        env["DJANGO_SETTINGS_MODULE"] = "host.settings"
        if self.kind == "sqlite":  # the SQLite default: a master key file beside the database
            env["IMFLOW_DJANGO_SQLITE"] = str(self.tmp / f"{name}.sqlite3")
            env["IMFLOW_DJANGO_TEST_DB"] = str(self.tmp / f"test_{name}.sqlite3")
        else:
            assert self.dsn is not None
            base = self.dsn.rsplit("/", 1)[0]
            env["IMFLOW_DJANGO_DB"] = f"{base}/{name}"
            env["IMFLOW_DJANGO_TEST_DB"] = f"test_{name}"
            env["IMFLOW_MASTER_KEY"] = self.master_key.text()  # PostgreSQL needs one
            self.made += [name, f"test_{name}"]
        return env

    def create(self, name: str) -> None:
        if self.kind == "postgres":
            with psycopg.connect(str(self.dsn), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            self.made.append(name)

    def target(self, name: str) -> str:
        """What ``imflow.store.migrate`` takes for database *name*."""
        if self.kind == "sqlite":
            return str(self.tmp / f"{name}.sqlite3")
        return f"{str(self.dsn).rsplit('/', 1)[0]}/{name}"

    def imflow_schema(self, name: str) -> list[tuple[object, ...]]:
        """imflow's tables and indexes in database *name* (Django's left out)."""
        if self.kind == "sqlite":
            lite = sqlite3.connect(self.target(name))
            rows = lite.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master"
                " WHERE tbl_name NOT LIKE 'django%' AND tbl_name NOT LIKE 'auth%'"
                " AND tbl_name NOT LIKE 'clients%' AND tbl_name <> 'sqlite_sequence'"
                " ORDER BY name"
            ).fetchall()
            lite.close()
            return [tuple(r) for r in rows]
        with psycopg.connect(self.target(name)) as conn:
            rows = conn.execute(
                "SELECT table_schema, table_name, column_name, data_type, is_nullable,"
                " column_default FROM information_schema.columns"
                " WHERE table_schema IN ('public', 'imflow_keys')"
                " AND table_name NOT LIKE 'django%' AND table_name NOT LIKE 'auth%'"
                " AND table_name NOT LIKE 'clients%' ORDER BY 1, 2, 3"
            ).fetchall()
            rows += conn.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes"
                " WHERE schemaname IN ('public', 'imflow_keys')"
                " AND tablename NOT LIKE 'django%' AND tablename NOT LIKE 'auth%'"
                " AND tablename NOT LIKE 'clients%' ORDER BY 1, 2"
            ).fetchall()
        return [tuple(r) for r in rows]

    def drop_all(self) -> None:
        if self.kind == "postgres":
            with psycopg.connect(str(self.dsn), autocommit=True) as conn:
                for name in self.made:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else None
    found = Database(request.param, tmp_path, dsn)
    try:
        yield found
    finally:
        found.drop_all()


def manage(database: Database, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=HOST,
        env=database.env(name),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_manage_py_migrate_makes_the_store_s_schema_on_a_fresh_database(
    database: Database,
) -> None:
    name = f"host_{uuid.uuid4().hex[:10]}"
    database.create(name)
    done = manage(database, name, "migrate", "--noinput")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "imflow.0003_imflow_schema_3... OK" in done.stdout
    assert "imflow.0005_imflow_keys... OK" in done.stdout
    key_tables = [r for r in database.imflow_schema(name) if r[0] == "imflow_keys"]
    # the key schema on PostgreSQL (the key store never runs DDL); nothing on SQLite
    assert {r[1] for r in key_tables} == (
        {"meta", "data_keys"} if database.kind == "postgres" else set()
    )
    assert "imflow.0006_imflow_schema_5... OK" in done.stdout
    assert manage(database, name, "makemigrations", "--check", "--dry-run").returncode == 0
    again = manage(database, name, "migrate", "--noinput")
    assert again.returncode == 0 and "No migrations to apply" in again.stdout
    by_imflow = f"plain_{uuid.uuid4().hex[:10]}"
    database.create(by_imflow)
    assert migrate(database.target(by_imflow)) == 7
    assert database.imflow_schema(name) == database.imflow_schema(by_imflow)
    # a database imflow migrate made first: Django's migrations record it and skip the DDL
    done = manage(database, by_imflow, "migrate", "--noinput")
    assert done.returncode == 0, done.stdout + done.stderr
    assert database.imflow_schema(name) == database.imflow_schema(by_imflow)


def test_the_example_s_own_tests_pass(database: Database) -> None:
    name = f"host_{uuid.uuid4().hex[:10]}"
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"],
        cwd=HOST,
        env=database.env(name),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "10 passed" in ran.stdout.splitlines()[-1], ran.stdout[-2000:]
