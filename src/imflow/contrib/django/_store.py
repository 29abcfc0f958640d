"""Private: stores that write through Django's database connection.

Each operation runs on the raw DB-API connection of ``django.db.connections[alias]`` (the
one of the running thread), and each write in ``transaction.atomic(using=alias)``: a
savepoint inside the host's ``atomic()`` block, so the host's rows and imflow's events
commit or roll back together. Cases written inside a host's block are cached only
once Django reports the commit (``transaction.on_commit``); the hooks of
:class:`DjangoCaseService` run then too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import connections, transaction

from imflow.engine import Engine
from imflow.outbox import CaseService
from imflow.store._postgres import PostgresStore, _refused
from imflow.store._session import Session
from imflow.store._sql import SqlStore
from imflow.store._sqlite import SQLiteStore

__all__ = ["DjangoCaseService", "django_store"]


class DjangoConnection:
    """The connection source of a Django database alias."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def raw(self) -> Any:
        wrapper = connections[self.alias]
        wrapper.ensure_connection()
        return wrapper.connection

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        wrapper = connections[self.alias]
        conn = self.raw()
        if not wrapper.in_atomic_block:
            yield Session(conn)
            return
        alias = self.alias

        def on_commit(callback: Any) -> None:
            transaction.on_commit(callback, using=alias)

        yield Session(conn, joined=True, on_commit=on_commit)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        yield self.raw()

    def close(self) -> None:
        """Django owns its connections."""


class _ThroughDjango:
    """What both Django stores share (mixed in before the backend's store)."""

    _alias: str
    _django: DjangoConnection

    def _setup(self, alias: str) -> None:
        self._alias = alias
        self._django = DjangoConnection(alias)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with transaction.atomic(using=self._alias):
            yield

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        with SqlStore.reading(self) as conn:  # type: ignore[arg-type]
            yield conn

    @property
    def connection(self) -> Any:
        """The running thread's raw connection of the Django database."""
        return self._django.raw()


class DjangoSQLiteStore(_ThroughDjango, SQLiteStore):
    """A :class:`~imflow.store.SQLiteStore` on Django's SQLite connection."""

    def __init__(self, alias: str, *, engine: Engine | None, **options: Any) -> None:
        SqlStore.__init__(self, engine=engine, converter=None, **options)
        self._setup(alias)
        self.path = str(connections[alias].settings_dict["NAME"])
        self._source = self._django
        self._open_schema(migrate=False)


class DjangoPostgresStore(_ThroughDjango, PostgresStore):
    """A :class:`~imflow.store.PostgresStore` on Django's PostgreSQL connection."""

    def __init__(self, alias: str, *, engine: Engine | None, **options: Any) -> None:
        SqlStore.__init__(self, engine=engine, converter=None, **options)
        import psycopg

        self._setup(alias)
        self.integrity_errors = (psycopg.IntegrityError,)
        self._refused = _refused()
        self.conninfo = None
        self._single = None
        self._pool = None
        self._source = self._django
        self._open_schema(migrate=False)


def django_store(
    alias: str = "default",
    *,
    engine: Engine | None = None,
    snapshot_every: int = 50,
    cache_size: int = 256,
) -> SQLiteStore | PostgresStore:
    """A store on the Django database *alias* (SQLite or PostgreSQL); its schema comes
    from ``manage.py migrate`` (or ``imflow migrate``)."""
    vendor = connections[alias].vendor
    options: dict[str, Any] = {"snapshot_every": snapshot_every, "cache_size": cache_size}
    if vendor == "sqlite":
        return DjangoSQLiteStore(alias, engine=engine, **options)
    if vendor == "postgresql":
        return DjangoPostgresStore(alias, engine=engine, **options)
    raise ValueError(f"imflow runs on Django's sqlite and postgresql backends, not {vendor!r}")


class DjangoCaseService(CaseService[Any]):
    """A :class:`~imflow.outbox.CaseService` whose hooks run after Django's commit.

    Outside an ``atomic()`` block that is right after each command; inside one, once the
    outermost block committed (never, if it rolled back).
    """

    def __init__(self, store: Any, *, alias: str = "default", **options: Any) -> None:
        super().__init__(store, **options)
        self.alias = alias

    def _deliver(self) -> None:
        if self.deliver_after:
            transaction.on_commit(self.runner.run_once, using=self.alias)
