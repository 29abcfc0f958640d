"""Private: stores that write through Django's database connection.

Each operation runs on the raw DB-API connection of ``django.db.connections[alias]`` (the
one of the running thread), and each write in ``transaction.atomic(using=alias)``: a
savepoint inside the host's ``atomic()`` block, so the host's rows and imflow's events
commit or roll back together. Cases written inside a host's block are cached only
once Django reports the commit (``transaction.on_commit``); the hooks of
:class:`DjangoCaseService` run then too.

Personal fields are encrypted as in the plain stores: the data keys live in a key store
of their own connection (SQLite: the file ``<NAME>.keys``; PostgreSQL: the schema
``imflow_keys`` of the same database, made by the migration ``imflow.0005``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import connections, transaction

from imflow._keys import KeyStore, MasterKeySource, MemoryKeyStore, master_key_from
from imflow.engine import Engine
from imflow.errors import SchemaMissing
from imflow.outbox import CaseService
from imflow.store._keys_postgres import PostgresKeyStore
from imflow.store._keys_sqlite import SQLiteKeyStore
from imflow.store._postgres import PostgresStore, _refused
from imflow.store._session import Session
from imflow.store._sql import SqlStore
from imflow.store._sqlite import SQLiteStore

__all__ = ["KEY_SCHEMA", "DjangoCaseService", "django_store", "postgres_conninfo"]

KEY_SCHEMA = "imflow_keys"
"""The PostgreSQL schema of a Django store's default key store (migration ``0005``)."""

# OPTIONS of Django's PostgreSQL backend that are Django's or psycopg's, not libpq's
_NOT_LIBPQ = frozenset(
    {"assume_role", "context", "cursor_factory", "isolation_level", "pool", "prepare_threshold"}
    | {"server_side_binding"}
)


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

    def _init_sql(
        self, engine: Engine | None, key_store: KeyStore | None, owns: bool, options: Any
    ) -> None:
        """The SQL store's own set-up; a key store made for it is closed if that fails."""
        try:
            SqlStore.__init__(
                self,  # type: ignore[arg-type]
                engine=engine,
                converter=None,
                key_store=key_store,
                owns_key_store=owns,
                **options,
            )
        except BaseException:
            if owns and key_store is not None:
                key_store.close()
            raise

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

    def __init__(
        self,
        alias: str,
        *,
        engine: Engine | None,
        key_store: KeyStore | None = None,
        master_key: MasterKeySource = None,
        encrypt: bool = True,
        **options: Any,
    ) -> None:
        wrapper: Any = connections[alias]
        path = str(wrapper.settings_dict["NAME"])
        owns = encrypt and key_store is None
        if owns:
            if wrapper.is_in_memory_db():
                key_store = MemoryKeyStore()
            else:
                master = master_key_from(master_key, beside=path)
                key_store = SQLiteKeyStore(path + ".keys", master_key=master)
        self._init_sql(engine, key_store if encrypt else None, owns, options)
        self._setup(alias)
        self.path = path
        self._source = self._django
        try:
            self._open_schema(migrate=False)
        except BaseException:
            self.close()
            raise


class DjangoPostgresStore(_ThroughDjango, PostgresStore):
    """A :class:`~imflow.store.PostgresStore` on Django's PostgreSQL connection."""

    def __init__(
        self,
        alias: str,
        *,
        engine: Engine | None,
        key_store: KeyStore | None = None,
        master_key: MasterKeySource = None,
        encrypt: bool = True,
        **options: Any,
    ) -> None:
        import psycopg

        owns = encrypt and key_store is None
        if owns:
            key_store = _postgres_key_store(alias, master_key_from(master_key))
        self._init_sql(engine, key_store if encrypt else None, owns, options)
        self._setup(alias)
        self.integrity_errors = (psycopg.IntegrityError,)
        self._refused = _refused()
        self.schema = None
        self.conninfo = None
        self._single = None
        self._pool = None
        self._source = self._django
        try:
            self._open_schema(migrate=False)
        except BaseException:
            self.close()
            raise


def postgres_conninfo(settings_dict: dict[str, Any]) -> str:
    """The libpq connection string of a Django PostgreSQL database's settings: ``NAME``,
    ``USER``, ``PASSWORD``, ``HOST``, ``PORT`` and the libpq parameters of ``OPTIONS``
    (``sslmode``, ``options``, ``service``, …; Django's own, such as
    ``isolation_level`` or ``pool``, are left out).

    >>> postgres_conninfo({"NAME": "host", "USER": "app", "PASSWORD": "", "HOST": "db",
    ...                    "PORT": "5432", "OPTIONS": {"sslmode": "require", "pool": True}})
    'dbname=host user=app host=db port=5432 sslmode=require'
    """
    from psycopg.conninfo import make_conninfo

    params: dict[str, Any] = {
        key: value
        for key, value in (settings_dict.get("OPTIONS") or {}).items()
        if key not in _NOT_LIBPQ
    }
    name = settings_dict.get("NAME")
    if name:
        params["dbname"] = name
    elif name is None:  # Django connects to the database "postgres"
        params.pop("service", None)
        params["dbname"] = "postgres"
    for key, param in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host")):
        if settings_dict.get(key):
            params[param] = settings_dict[key]
    if settings_dict.get("PORT"):
        params["port"] = str(settings_dict["PORT"])
    ordered = {
        k: params.pop(k) for k in ("dbname", "user", "password", "host", "port") if k in params
    }
    return make_conninfo("", **ordered, **params)


def _postgres_key_store(alias: str, master: Any) -> PostgresKeyStore:
    """The default key store of a Django PostgreSQL store: the schema ``imflow_keys``."""
    conninfo = postgres_conninfo(connections[alias].settings_dict)
    try:
        return PostgresKeyStore(conninfo, master_key=master, schema=KEY_SCHEMA)
    except SchemaMissing:
        raise SchemaMissing(
            PostgresStore.MIGRATIONS[-1][0],
            how=(
                f"the key schema {KEY_SCHEMA!r} is missing: run `python manage.py migrate`"
                " (the migration imflow.0005_imflow_keys makes it)"
            ),
        ) from None


def django_store(
    alias: str = "default",
    *,
    engine: Engine | None = None,
    snapshot_every: int = 50,
    cache_size: int = 256,
    key_store: KeyStore | None = None,
    master_key: MasterKeySource = None,
    encrypt: bool = True,
) -> SQLiteStore | PostgresStore:
    """See :func:`imflow.contrib.django.django_store`."""
    vendor = connections[alias].vendor
    options: dict[str, Any] = {
        "snapshot_every": snapshot_every,
        "cache_size": cache_size,
        "key_store": key_store,
        "master_key": master_key,
        "encrypt": encrypt,
    }
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
