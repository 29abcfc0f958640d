"""Private: ``imflow migrate`` and ``imflow schema-sql``, the schema under the host's control.

``imflow migrate --db URL`` creates or migrates imflow's tables (a SQLite file or a
``postgresql://`` URL; ``--schema`` and ``--grant ROLE`` on PostgreSQL), as the
database's owner. ``imflow schema-sql --backend postgresql`` prints the same statements
for a DBA who runs them by hand. Registered in :mod:`imflow.cli`.
"""

from __future__ import annotations

import argparse
import sqlite3
import urllib.parse
from collections.abc import Callable
from typing import Any

from imflow.i18n import Lang

__all__ = ["add_subcommands"]

Subcommand = Callable[[str, Callable[[argparse.Namespace, Lang], int]], Any]


def add_subcommands(subcommand: Subcommand, t: Callable[[str], str], file: str) -> None:
    """Add ``migrate`` and ``schema-sql`` to the command line's parser."""
    p = subcommand("migrate", _migrate)
    p.add_argument("--db", required=True, metavar=f"{file}|URL", help=t("migrate.db"))
    p.add_argument("--schema", metavar="SCHEMA", help=t("migrate.schema"))
    p.add_argument("--grant", metavar="ROLE", help=t("migrate.grant"))
    p.add_argument("--key-schema", metavar="SCHEMA", help=t("migrate.key_schema"))

    p = subcommand("schema-sql", _schema_sql)
    p.add_argument(
        "--backend", choices=["sqlite", "postgresql"], required=True, help=t("schema_sql.backend")
    )
    p.add_argument("--schema", metavar="SCHEMA", help=t("migrate.schema"))
    p.add_argument("--grant", metavar="ROLE", help=t("migrate.grant"))
    p.add_argument("--key-schema", metavar="SCHEMA", help=t("migrate.key_schema"))
    p.add_argument(
        "--from", dest="since", type=int, default=0, metavar="N", help=t("schema_sql.from")
    )


def shown(db: str) -> str:
    """*db* as it may be printed: a URL's password replaced by ``***``.

    >>> shown("postgresql://owner:s3cret@db.example/imflow")
    'postgresql://owner:***@db.example/imflow'
    """
    if "://" not in db:
        return db
    parts = urllib.parse.urlsplit(db)
    if parts.password is None:
        return db
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _problem(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _migrate(args: argparse.Namespace, lang: Lang) -> int:
    from imflow._cli_safety import Fail as _Fail
    from imflow.cli import EXIT_OK, _emit, _say
    from imflow.errors import ImflowError
    from imflow.store import migrate

    failures: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, ValueError, ImflowError)
    try:
        import psycopg

        failures += (psycopg.Error,)
    except ImportError:  # pragma: no cover - the extra is installed for the tests
        pass
    try:
        version = migrate(
            args.db, schema=args.schema, grant_to=args.grant, key_schema=args.key_schema
        )
    except failures as exc:
        message = _say("migrate.failed", lang, db=shown(args.db), problem=_problem(exc))
        raise _Fail(message) from None
    _emit(_say("migrate.done", lang, db=shown(args.db), version=version))
    return EXIT_OK


def _schema_sql(args: argparse.Namespace, lang: Lang) -> int:
    from imflow._cli_safety import Fail as _Fail
    from imflow.cli import EXIT_OK, _emit
    from imflow.store import schema_sql

    try:
        text = schema_sql(
            args.backend,
            schema=args.schema,
            since=args.since,
            grant_to=args.grant,
            key_schema=args.key_schema,
        )
    except ValueError as exc:
        raise _Fail(str(exc)) from None
    _emit(text.rstrip("\n"))
    return EXIT_OK
