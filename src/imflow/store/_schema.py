"""Private: the schema's migrations, run by the database's owner or printed for a DBA.

A store never changes a schema it did not create: opening one checks the version
read-only (:func:`check`) and raises :class:`~imflow.SchemaMissing`,
:class:`~imflow.SchemaOutdated` or :class:`~imflow.SchemaTooNew`. The migrations run
through :func:`run` (``imflow migrate``, :func:`imflow.store.migrate`, and a new SQLite
file on first open) or a DBA runs the script of :func:`script` (``imflow schema-sql``):
both execute the very same statements, in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from imflow.errors import SchemaMissing, SchemaOutdated, SchemaTooNew
from imflow.logging import get_logger

__all__: list[str] = []

Backend = Literal["sqlite", "postgresql"]
Migration = tuple[int, str, Sequence[str]]

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A PostgreSQL schema or role name imflow accepts (it is put into SQL unquoted)."""

MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS imflow_migrations (version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

_CREATED = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)")
_DROPPED = re.compile(r"DROP TABLE (?:IF EXISTS )?(\w+)")


def identifier(value: str | None, what: str) -> str | None:
    """*value* if it is a lower-case SQL identifier (or ``None``); else ``ValueError``."""
    if value is not None and not (type(value) is str and IDENTIFIER.fullmatch(value)):
        raise ValueError(f"{what} must be a lower-case SQL identifier, not {value!r}")
    return value


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _record(version: int, name: str) -> str:
    return (
        "INSERT INTO imflow_migrations (version, name, applied_at)"
        f" VALUES ({int(version)}, {_literal(name)}, CURRENT_TIMESTAMP)"
    )


def _lock(schema: str | None) -> str:
    """PostgreSQL: serialise migrators of one schema (held until the transaction ends)."""
    return f"SELECT pg_advisory_xact_lock(hashtext({_literal('imflow.migrate.' + (schema or ''))}))"


def prelude(backend: Backend, schema: str | None) -> list[str]:
    """What runs first in the migration transaction, before the version is read."""
    if backend == "sqlite":
        return [MIGRATIONS_TABLE]
    found = [_lock(schema)]
    if schema is not None:
        found += [f"CREATE SCHEMA IF NOT EXISTS {schema}", f"SET LOCAL search_path TO {schema}"]
    return [*found, MIGRATIONS_TABLE]


def _tidy(statement: str) -> str:
    """*statement* with its lines indented for a reader (the SQL means the same)."""
    lines = [line.strip() for line in statement.strip().splitlines()]
    return "\n".join([lines[0], *(ln if ln.startswith(")") else "    " + ln for ln in lines[1:])])


def steps(migrations: Sequence[Migration], since: int) -> list[tuple[int, str, list[str]]]:
    """The migrations after version *since*, each ending with the row that records it."""
    return [
        (version, name, [*(_tidy(s) for s in statements), _record(version, name)])
        for version, name, statements in migrations
        if version > since
    ]


def tables(migrations: Sequence[Migration]) -> list[str]:
    """The tables the migrations leave behind, ``imflow_migrations`` first."""
    found = ["imflow_migrations"]
    for _, _, statements in migrations:
        for statement in statements:
            found += [t for t in _CREATED.findall(statement) if t not in found]
            found = [t for t in found if t not in _DROPPED.findall(statement)]
    return found


def grants(migrations: Sequence[Migration], role: str, schema: str | None) -> list[str]:
    """PostgreSQL: the rights a role needs to use (not change) the schema: no DDL."""
    identifier(role, "the role")
    names = ", ".join(tables(migrations))
    found = [] if schema is None else [f"GRANT USAGE ON SCHEMA {schema} TO {role}"]
    return [*found, f"GRANT SELECT, INSERT, UPDATE, DELETE ON {names} TO {role}"]


def script(
    backend: Backend,
    migrations: Sequence[Migration],
    *,
    schema: str | None = None,
    since: int = 0,
    grant_to: str | None = None,
    key_schema: str | None = None,
) -> str:
    """The SQL script of the migrations after *since*, as :func:`run` executes them."""
    identifier(schema, "schema")
    identifier(key_schema, "key_schema")
    if backend == "sqlite" and (schema, grant_to, key_schema) != (None, None, None):
        raise ValueError("SQLite has no schemas and no roles")
    latest = migrations[-1][0]
    title = "SQLite" if backend == "sqlite" else "PostgreSQL"
    where = "" if schema is None else f", schema {schema}"
    span = f"migrations {since + 1} to {latest}" if since < latest else "no migration to run"
    lines = [
        f"-- imflow schema for {title}{where}: {span}",
        "-- run as the database's owner, in one transaction; imflow itself only checks the",
        "-- version (table imflow_migrations) and never changes the schema of a server.",
        "BEGIN;" if backend == "postgresql" else "BEGIN IMMEDIATE;",
    ]
    lines += [f"{s};" for s in prelude(backend, schema)]
    for version, name, statements in steps(migrations, since):
        lines.append(f"-- migration {version}: {name}")
        lines += [f"{s};" for s in statements]
    if grant_to is not None:
        lines.append(f"-- the rights of the role {grant_to}: read and write rows, no DDL")
        lines += [f"{s};" for s in grants(migrations, grant_to, schema)]
    if backend == "postgresql":
        lines.append("-- the key schema: the data keys of the personal fields, apart from the data")
        lines += [f"{s};" for s in _key_statements(schema, key_schema, grant_to)]
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def how_to_migrate(backend: Backend, schema: str | None, current: int) -> str:
    """What to run, for an error message (never quoting a connection string)."""
    db = "<the database file>" if backend == "sqlite" else "postgresql://<owner>@<host>/<db>"
    option = "" if schema is None else f" --schema {schema}"
    return (
        f"run `imflow migrate --db {db}{option}` as the database's owner, or give your DBA"
        f" the SQL of `imflow schema-sql --backend {backend}{option} --from {current}`"
    )


def verdict(
    backend: Backend, migrations: Sequence[Migration], schema: str | None, current: int | None
) -> None:
    """Raise the error for a database at *current* (``None``: no imflow tables), if any."""
    latest = migrations[-1][0]
    if current is None or current == 0:
        raise SchemaMissing(latest, how=how_to_migrate(backend, schema, 0))
    if current > latest:
        raise SchemaTooNew(
            f"the database is at schema version {current}; this imflow knows up to {latest}"
        )
    if current < latest:
        raise SchemaOutdated(current, latest, how=how_to_migrate(backend, schema, current))


def current_version(backend: Backend, conn: Any) -> int | None:
    """The database's schema version, read-only; ``None`` without ``imflow_migrations``."""
    if backend == "sqlite":
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'imflow_migrations'"
        ).fetchone()
    else:
        found = conn.execute("SELECT to_regclass('imflow_migrations') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute("SELECT max(version) FROM imflow_migrations").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def run(
    backend: Backend,
    conn: Any,
    migrations: Sequence[Migration],
    *,
    schema: str | None = None,
    grant_to: str | None = None,
    key_schema: str | None = None,
) -> int:
    """Migrate the database behind the DB-API *conn* forward; returns its schema version.

    One transaction, serialised against other migrators (SQLite's write lock, a
    PostgreSQL advisory lock); a database at a newer version raises
    :class:`~imflow.SchemaTooNew` and is left as it was. On PostgreSQL the key schema
    (*key_schema*, default ``<schema>_keys``) is made in the same transaction.
    """
    identifier(schema, "schema")
    identifier(key_schema, "key_schema")
    if grant_to is not None and backend == "sqlite":
        raise ValueError("SQLite has no roles")
    if backend == "sqlite":
        return _run_sqlite(conn, migrations)
    with conn.transaction():
        version = _run_steps(backend, conn, migrations, schema, grant_to)
        for statement in _key_statements(schema, key_schema, grant_to):
            conn.execute(statement)
        return version


def _key_statements(schema: str | None, key_schema: str | None, grant_to: str | None) -> list[str]:
    from imflow.store._keys_postgres import default_key_schema, key_schema_statements

    return key_schema_statements(key_schema or default_key_schema(schema), grant_to)


def _run_sqlite(conn: Any, migrations: Sequence[Migration]) -> int:
    began = not conn.in_transaction
    conn.execute("BEGIN IMMEDIATE" if began else "SAVEPOINT imflow_migrate")
    try:
        version = _run_steps("sqlite", conn, migrations, None, None)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK" if began else "ROLLBACK TO imflow_migrate")
        raise
    conn.execute("COMMIT" if began else "RELEASE imflow_migrate")
    return version


def _run_steps(
    backend: Backend,
    conn: Any,
    migrations: Sequence[Migration],
    schema: str | None,
    grant_to: str | None,
) -> int:
    for statement in prelude(backend, schema):
        conn.execute(statement)
    row = conn.execute("SELECT max(version) FROM imflow_migrations").fetchone()
    current = 0 if row is None or row[0] is None else int(row[0])
    latest = migrations[-1][0]
    if current > latest:
        raise SchemaTooNew(
            f"the database is at schema version {current}; this imflow knows up to {latest}"
        )
    log = get_logger()
    for version, name, statements in steps(migrations, current):
        for statement in statements:
            conn.execute(statement)
        log.info("store_migrated", version=version, migration=name)
    if grant_to is not None:
        for statement in grants(migrations, grant_to, schema):
            conn.execute(statement)
    return max(current, latest)
