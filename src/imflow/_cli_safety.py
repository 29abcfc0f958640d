"""Private: what keeps the command line's doors shut.

Every failure of ``imflow`` is one line on standard error and an exit code, never a
traceback, and never a field's value. This module holds the pieces the subcommands
share for that: argument types with imflow's bounds (dates 2018-01-01 to 2099-12-31,
reporting years 2018 to 2099, a bounded number of simulated cases), the check that a
database file is imflow's before anything opens it for writing, the check that a
``--provider`` is known, a JSON reader that names nesting and digit limits, and the
message of the last-resort safety net in :func:`imflow.cli.main`.

>>> year = year_type("en")
>>> year("2025")
2025
>>> year("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: invalid reporting year '0' (expected 2018 to 2099)
>>> internal_error(MemoryError(), "en")
'internal error (MemoryError); nothing of the input is shown – please report it'
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from imflow import _bounds
from imflow.i18n import Lang, Messages

__all__ = [
    "EXIT_USAGE",
    "MAX_CASES",
    "Fail",
    "bounded_date",
    "cases_type",
    "check_provider",
    "internal_error",
    "is_url",
    "json_line",
    "probe_database",
    "shown",
    "store_failures",
    "year_type",
]

EXIT_USAGE = 2


def store_failures() -> tuple[type[BaseException], ...]:
    """What opening or using a store from the command line may raise that is the
    database's or its input's fault (psycopg's errors too, when psycopg is there)."""
    from imflow.errors import ImflowError

    found: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, ValueError, ImflowError)
    with contextlib.suppress(ImportError):
        import psycopg

        found += (psycopg.Error,)
    return found


MAX_CASES = 1_000_000
"""The most cases one ``imflow simulate`` run opens (a whole state's caseload is far
fewer; a larger number would only exhaust memory)."""

FIRST_YEAR = _bounds.MIN_DATE.year
LAST_YEAR = _bounds.MAX_DATE.year
FIRST, LAST = str(FIRST_YEAR), str(LAST_YEAR)  # as words: no thousands separator

# tables of migration 1: a database holding them and the migrations table is imflow's
_IMFLOW_TABLES = frozenset({"imflow_migrations", "events", "cases"})


class Fail(Exception):
    """A one-line error with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def say(key: str, lang: Lang, **params: object) -> str:
    """The command line's words: ``cli.<key>`` of the message catalogue."""
    return Messages.default().say(f"cli.{key}", lang, **params)


def shown(value: str, limit: int = 40) -> str:
    """*value* as an error message may quote it: one line, at most *limit* characters.

    >>> shown("9" * 5000)
    '999999999999999999999999999999999999999…'
    """
    flat = value.encode("unicode_escape").decode("ascii")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- argument types -------------------------------------------------------------------------


def bounded_date(value: date, text: str, lang: Lang) -> date:
    """*value* if it lies within imflow's date bounds, else an argparse error."""
    if _bounds.date_problem(value) is not None:
        raise argparse.ArgumentTypeError(
            say(
                "error.date_range",
                lang,
                value=shown(text),
                first=_bounds.MIN_DATE,
                last=_bounds.MAX_DATE,
            )
        )
    return value


def year_type(lang: Lang) -> Callable[[str], int]:
    """A reporting year from 2018 to 2099 (the years imflow has rules and dates for)."""

    def parse(value: str) -> int:
        text = value.strip()
        year = int(text) if text.isascii() and text.isdigit() and len(text) == 4 else 0
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise argparse.ArgumentTypeError(
                say(
                    "error.year",
                    lang,
                    value=shown(value),
                    first=str(FIRST_YEAR),
                    last=str(LAST_YEAR),
                )
            )
        return year

    return parse


def cases_type(lang: Lang) -> Callable[[str], int]:
    """A number of cases from 0 to :data:`MAX_CASES`."""

    def parse(value: str) -> int:
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            key = "error.negative" if text.startswith("-") and text[1:].isdigit() else "error.int"
            raise argparse.ArgumentTypeError(say(key, lang, value=shown(value)))
        if len(text) > 7 or int(text) > MAX_CASES:
            raise argparse.ArgumentTypeError(
                say("error.too_many", lang, most=str(MAX_CASES), value=shown(text))
            )
        return int(text)

    return parse


# -- databases ------------------------------------------------------------------------------


def is_url(db: str) -> bool:
    """Whether *db* names a server database (``postgresql://…``) rather than a file."""
    return db.startswith(("postgresql://", "postgres://"))


def probe_database(db: str, lang: Lang, *, creating: bool) -> None:
    """Refuse a file that is not imflow's, before anything opens it for writing.

    Opening a store creates imflow's tables and switches the file to WAL; done to another
    application's database, that would change it. So the file is first read through a
    read-only connection (which changes nothing): it must hold imflow's tables, or, when
    *creating* (``simulate``), hold no tables at all. A missing file (and ``:memory:``)
    is fine only when *creating*; server URLs are not files and pass.
    """
    if is_url(db) or (db == ":memory:" and creating):
        return
    if db == ":memory:":  # a fresh, empty database: nothing to report or sweep
        raise Fail(say("error.not_imflow", lang, path=db))
    path = Path(db)
    if not path.exists():
        if creating:
            return
        raise Fail(say("error.missing", lang, path=db))
    if not path.is_file():
        problem = os.strerror(errno.EISDIR) if path.is_dir() else "not a regular file"
        raise Fail(say("error.database", lang, path=db, problem=problem))
    if creating and path.stat().st_size == 0:
        return
    try:
        tables = _tables(path)
    except sqlite3.Error as exc:
        raise Fail(say("error.database", lang, path=db, problem=_first_line(exc))) from None
    if tables >= _IMFLOW_TABLES or (creating and not tables):
        return
    raise Fail(say("error.not_imflow", lang, path=db))


def _tables(path: Path) -> frozenset[str]:
    uri = path.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return frozenset(str(r[0]) for r in rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return shown(text.splitlines()[0], 120) if text else type(exc).__name__


def check_provider(store: Any, provider: str, district: str | None, db: str, lang: Lang) -> None:
    """Refuse a ``--provider`` no event of the database names (in *district*, if given).

    A report narrowed to an unknown provider would be empty, which reads like "no
    cases" when the name was mistyped; a known provider with no activity in the year
    still gets its (empty) report.
    """
    conn = getattr(store, "connection", store)  # a store, or a PostgreSQL connection
    mark = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    sql = f"SELECT 1 FROM events WHERE provider = {mark}"
    params: list[str] = [provider]
    if district is not None:
        sql += f" AND district = {mark}"
        params.append(district)
    found = conn.execute(sql + " LIMIT 1", params).fetchone()
    if found is None:
        if district is None:
            raise Fail(say("report.provider_unknown", lang, provider=shown(provider), path=db))
        raise Fail(
            say("report.provider_unknown_in", lang, provider=shown(provider), ags=district, path=db)
        )


# -- input ----------------------------------------------------------------------------------


def json_line(text: str, lang: Lang) -> tuple[Any, str | None]:
    """*text* parsed as JSON, or ``(None, problem)`` saying why not (never quoting it)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"JSON: {exc.msg} ({exc.colno})"
    except RecursionError:
        return None, say("validate.json_deep", lang)
    except ValueError:  # more digits than int() converts
        return None, say("validate.json_digits", lang)


def internal_error(exc: BaseException, lang: Lang) -> str:
    """The safety net's one line: the exception's type, never its message (which may
    quote a value)."""
    return say("error.internal", lang, kind=type(exc).__name__)
