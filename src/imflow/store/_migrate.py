"""Private: migrating a database, and its DDL for a DBA (``imflow migrate``, ``schema-sql``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from imflow.store._schema import Backend, Migration, identifier, run, script

__all__ = ["backend_of", "migrate", "schema_sql"]


def migrations_of(backend: Backend) -> Sequence[Migration]:
    """The migrations of *backend*, as its store runs them."""
    if backend == "sqlite":
        from imflow.store._sqlite import SQLiteStore

        return SQLiteStore.MIGRATIONS
    from imflow.store._postgres import PostgresStore

    return PostgresStore.MIGRATIONS


def backend_of(db: object) -> Backend:
    """``"postgresql"`` for a ``postgresql://`` (or ``postgres://``) URL or a psycopg
    connection, ``"sqlite"`` for a file path or a ``sqlite3`` connection."""
    if isinstance(db, sqlite3.Connection):
        return "sqlite"
    if isinstance(db, str) and db.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    if isinstance(db, str | os.PathLike):
        return "sqlite"
    if type(db).__module__.startswith("psycopg"):
        return "postgresql"
    raise TypeError(f"not a database: {type(db)!r}")


@contextlib.contextmanager
def _connected(db: Any, backend: Backend) -> Iterator[Any]:
    if not isinstance(db, str | os.PathLike):
        yield db  # the caller's connection: left open
        return
    if backend == "sqlite":
        conn = sqlite3.connect(os.fspath(db), isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            yield conn
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(str(db), autocommit=True, connect_timeout=10) as pg:
        yield pg


def migrate(
    db: str | os.PathLike[str] | Any,
    *,
    schema: str | None = None,
    grant_to: str | None = None,
) -> int:
    """Create or migrate imflow's tables in *db*; returns the schema version afterwards.

    The one call that changes a schema, for the database's owner (a deployment step, or
    ``imflow migrate --db URL``): *db* is a SQLite file path, a ``postgresql://`` URL, or
    a ``sqlite3`` / ``psycopg`` connection (left open). All pending migrations run in one
    transaction, serialised against other migrators; running it again does nothing. On
    PostgreSQL, *schema* is created if missing and holds the tables, and *grant_to*
    gives a role the rights a store needs (``USAGE`` on the schema, ``SELECT, INSERT,
    UPDATE, DELETE`` on the tables) and nothing more.

    >>> import os, tempfile
    >>> migrate(os.path.join(tempfile.mkdtemp(), "cases.db"))
    5

    .. versionadded:: 0.2.0
    """
    identifier(schema, "schema")
    identifier(grant_to, "grant_to")
    backend = backend_of(db)
    if backend == "sqlite" and (schema is not None or grant_to is not None):
        raise ValueError("SQLite has no schemas and no roles")
    with _connected(db, backend) as conn:
        return run(backend, conn, migrations_of(backend), schema=schema, grant_to=grant_to)


def schema_sql(
    backend: Backend,
    *,
    schema: str | None = None,
    since: int = 0,
    grant_to: str | None = None,
) -> str:
    """The SQL script of imflow's migrations after version *since*, for a DBA.

    The same statements :func:`migrate` runs, in one transaction, ending with the rows
    of ``imflow_migrations`` that tell a store its schema is current.

    >>> print(schema_sql("sqlite", since=4))  # doctest: +ELLIPSIS
    -- imflow schema for SQLite: migrations 5 to 5
    ...
    BEGIN IMMEDIATE;
    CREATE TABLE IF NOT EXISTS imflow_migrations (...);
    -- migration 5: outbox leases for several runners
    CREATE TABLE outbox_leases (
    ...
    INSERT INTO imflow_migrations (version, name, applied_at) VALUES (5, ...);
    COMMIT;

    .. versionadded:: 0.2.0
    """
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"backend must be 'sqlite' or 'postgresql', not {backend!r}")
    migrations = migrations_of(backend)
    if type(since) is not int or not 0 <= since <= migrations[-1][0]:
        raise ValueError(f"since must be a schema version from 0 to {migrations[-1][0]}")
    return script(backend, migrations, schema=schema, since=since, grant_to=grant_to)
