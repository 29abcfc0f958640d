"""Private: migrating a database, and its DDL for a DBA (``imflow migrate``, ``schema-sql``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from imflow.store._schema import Backend, Migration, identifier, run, script
from imflow.store._summary import fill
from imflow.store._wal import enable_wal

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


_BUSY_TIMEOUT = 30.0  # seconds a SQLite migrator waits for other connections, as a store


@contextlib.contextmanager
def _connected(db: Any, backend: Backend) -> Iterator[Any]:
    if not isinstance(db, str | os.PathLike):
        yield db  # the caller's connection: left open
        return
    if backend == "sqlite":
        conn = sqlite3.connect(os.fspath(db), isolation_level=None, timeout=_BUSY_TIMEOUT)
        try:
            enable_wal(conn, _BUSY_TIMEOUT)  # other openers of a new file may hold it
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
    key_schema: str | None = None,
) -> int:
    """Create or migrate imflow's tables in *db*; returns the schema version afterwards.

    The one call that changes a schema, for the database's owner (a deployment step, or
    ``imflow migrate --db URL``): *db* is a SQLite file path, a ``postgresql://`` URL, or
    a ``sqlite3`` / ``psycopg`` connection (left open). All pending migrations run in one
    transaction, serialised against other migrators; running it again does nothing. On
    PostgreSQL, *schema* is created if missing and holds the tables, and *grant_to*
    gives a role the rights a store needs (``USAGE`` on the schema, ``SELECT, INSERT,
    UPDATE, DELETE`` on the tables) and nothing more. PostgreSQL's key schema
    (*key_schema*, default ``<schema>_keys``, see :class:`~imflow.keys.PostgresKeyStore`)
    is made in the same transaction, with *grant_to*'s rights on it.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cases.db")
    >>> version = migrate(path)
    >>> migrate(path) == version  # a second run finds nothing to do
    True

    .. versionadded:: 0.2.0
    """
    identifier(schema, "schema")
    identifier(grant_to, "grant_to")
    identifier(key_schema, "key_schema")
    backend = backend_of(db)
    if backend == "sqlite" and (schema, grant_to, key_schema) != (None, None, None):
        raise ValueError("SQLite has no schemas and no roles")
    with _connected(db, backend) as conn:
        version = run(
            backend,
            conn,
            migrations_of(backend),
            schema=schema,
            grant_to=grant_to,
            key_schema=key_schema,
        )
        _fill_summary(conn, backend, schema)
        return version


def _fill_summary(conn: Any, backend: Backend, schema: str | None) -> None:
    """Give the cases of a store migrated to schema 6 their report facts rows."""
    if backend == "sqlite":
        fill(conn, backend)
        return
    with conn.transaction():
        if schema is not None:
            conn.execute(f"SET LOCAL search_path TO {schema}")  # a checked identifier
        fill(conn, backend)


def schema_sql(
    backend: Backend,
    *,
    schema: str | None = None,
    since: int = 0,
    grant_to: str | None = None,
    key_schema: str | None = None,
) -> str:
    """The SQL script of imflow's migrations after version *since*, for a DBA.

    The same statements :func:`migrate` runs, in one transaction, ending with the rows
    of ``imflow_migrations`` that tell a store its schema is current.

    >>> print(schema_sql("sqlite", since=3))  # doctest: +ELLIPSIS
    -- imflow schema for SQLite: migrations 4 to ...
    BEGIN IMMEDIATE;
    ...
    -- migration 4: personal fields encrypted: erased versions, keys to shred
    ALTER TABLE cases ADD COLUMN erased_version INTEGER;
    ...
    COMMIT;
    <BLANKLINE>

    .. versionadded:: 0.2.0
    """
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"backend must be 'sqlite' or 'postgresql', not {backend!r}")
    migrations = migrations_of(backend)
    if type(since) is not int or not 0 <= since <= migrations[-1][0]:
        raise ValueError(f"since must be a schema version from 0 to {migrations[-1][0]}")
    return script(
        backend, migrations, schema=schema, since=since, grant_to=grant_to, key_schema=key_schema
    )
