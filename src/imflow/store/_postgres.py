"""Private: the PostgreSQL store (psycopg 3, the optional extra ``imflow[postgres]``).

psycopg is imported when a store is opened, not when this module is, so
``imflow.store`` works without the extra.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import cattrs

from imflow._keys import KeyStore, MasterKeySource, master_key_from
from imflow.engine import Engine
from imflow.store._cipher import crypto_schema, crypto_statements
from imflow.store._keys_postgres import PostgresKeyStore
from imflow.store._sql import (
    Params,
    Row,
    SqlStore,
    core_schema,
    keys_schema,
    outbox_schema,
    sanitized,
    statements,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

_SQL = {
    **statements(lambda name: f"%({name})s", json_cast="::jsonb", greatest="GREATEST"),
    **crypto_statements(lambda name: f"%({name})s", json_cast="::jsonb"),
}

_MIGRATIONS: Sequence[tuple[int, str, Sequence[str]]] = (
    (
        1,
        "events, cases, persons, idempotency",
        core_schema(text="TEXT", day="DATE", moment="TIMESTAMPTZ", json_type="JSONB"),
    ),
    (
        2,
        "outbox",
        outbox_schema(
            serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", moment="TIMESTAMPTZ"
        ),
    ),
    (
        3,
        "idempotency keys by tenant, bound to their content",
        keys_schema(
            moment="TIMESTAMPTZ",
            actor_district="e.payload->'actor'->>'district'",
            actor_provider="e.payload->'actor'->>'provider'",
        ),
    ),
    (4, "personal fields encrypted: erased versions, keys to shred", crypto_schema()),
)


def _refused() -> tuple[type[BaseException], ...]:
    """What the store re-raises as StoreError: a refused statement. Connection problems
    (``OperationalError``, ``InterfaceError``) pass through: they quote no parameters."""
    import psycopg

    return (
        psycopg.DataError,
        psycopg.IntegrityError,
        psycopg.InternalError,
        psycopg.NotSupportedError,
        psycopg.ProgrammingError,
        UnicodeError,
        OverflowError,
    )


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the test environment has the extra
        raise ImportError("PostgresStore needs psycopg 3: pip install 'imflow[postgres]'") from exc


class PostgresStore(SqlStore):
    """A store in PostgreSQL, for deployments where several servers share the cases.

    Every write is one transaction; the conditional update of the case row is the
    optimistic-concurrency check, so the loser of a race gets
    :class:`~imflow.ConcurrencyConflict` and writes nothing. Events are ``JSONB``,
    dates ``DATE``, times ``TIMESTAMPTZ``. The schema is created and migrated forward on
    open, serialised by an advisory lock. A broken connection is replaced on next use.

    :param conninfo: a libpq connection string or URI, e.g.
        ``"postgresql://imflow@127.0.0.1:5432/imflow"``.
    :param schema: a PostgreSQL schema to keep the tables in (created if missing;
        default: the connection's ``search_path``).
    :param engine: folds events into cases (default: ``Engine()``).
    :param snapshot_every: store a snapshot every this many events (``0``: never).
    :param cache_size: how many recently used cases to keep in memory (``0``: none).
    :param key_store: where the data keys live (see :mod:`imflow.keys`); default: a
        :class:`~imflow.keys.PostgresKeyStore` in the schema *key_schema* of the same
        database.
    :param master_key: the master key of the default key store (a
        :class:`~imflow.keys.MasterKey`, its bytes or a key file's path); default:
        ``IMFLOW_MASTER_KEY`` or ``IMFLOW_MASTER_KEY_FILE`` from the environment.
        There is no file default on PostgreSQL: without a key,
        :class:`~imflow.MasterKeyMissing` is raised.
    :param key_schema: the schema of the default key store (default: ``<schema>_keys``,
        or ``imflow_keys`` without *schema*).
    :param encrypt: ``False`` stores personal fields in clear, as imflow 0.1 did.
    :param purge_timeout: seconds an erasure waits for older transactions and locks
        before it reports the purge of the key store as not finished.

    Example (needs a running server)::

        with PostgresStore("postgresql://imflow@127.0.0.1/imflow") as store:
            case = store.load("wt-2025-0042")

    .. versionadded:: 0.1.0
    """

    SQL: ClassVar[Mapping[str, str]] = _SQL
    MIGRATIONS: ClassVar[Sequence[tuple[int, str, Sequence[str]]]] = _MIGRATIONS
    backend: ClassVar[str] = "PostgreSQL"

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str | None = None,
        engine: Engine | None = None,
        snapshot_every: int = 50,
        cache_size: int = 256,
        connect_timeout: int = 10,
        converter: cattrs.Converter | None = None,
        key_store: KeyStore | None = None,
        master_key: MasterKeySource = None,
        key_schema: str | None = None,
        encrypt: bool = True,
        purge_timeout: float = 5.0,
    ) -> None:
        if schema is not None and not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"schema must be a lower-case SQL identifier, not {schema!r}")
        _require_psycopg()
        owns = False
        if encrypt and key_store is None:
            master = master_key_from(master_key)
            owns = True
            key_store = PostgresKeyStore(
                conninfo,
                master_key=master,
                schema=key_schema or f"{schema or 'imflow'}_keys",
                connect_timeout=connect_timeout,
            )
        super().__init__(
            engine=engine,
            snapshot_every=snapshot_every,
            cache_size=cache_size,
            converter=converter,
            key_store=key_store if encrypt else None,
            owns_key_store=owns,
            purge_timeout=purge_timeout,
        )
        import psycopg

        self.integrity_errors = (psycopg.IntegrityError,)
        self._refused = _refused()
        self.conninfo = conninfo
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Row] | None = None
        self._pinned: psycopg.Connection[Row] | None = None
        self._connection()
        try:
            with self._transaction():
                self._migrate_locked()
        except BaseException:
            self.close()
            raise

    @property
    def connection(self) -> psycopg.Connection[Row]:
        """The store's connection, for read-only queries such as key figures."""
        return self._connection()

    def _connection(self) -> psycopg.Connection[Row]:
        self._check_open()
        if self._pinned is not None:  # inside a transaction: never switch connections
            return self._pinned
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            self._cache.clear()
            with contextlib.suppress(Exception):
                conn.close()
        import psycopg

        conn = psycopg.connect(
            self.conninfo, autocommit=True, connect_timeout=self._connect_timeout
        )
        if self.schema is not None:
            conn.execute(f"SET search_path TO {self.schema}")
        self._conn = conn
        return conn

    # -- backend primitives ----------------------------------------------------------------

    # Each primitive re-raises a refused statement as StoreError *outside* its except
    # block, so psycopg's exception (its message and the server's DETAIL may quote
    # parameters) is not its context.

    def _rows(self, key: str, params: Params) -> list[Row]:
        try:
            return self._connection().execute(_SQL[key], params).fetchall()
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _exec(self, key: str, params: Params) -> int:
        try:
            return self._connection().execute(_SQL[key], params).rowcount
        except self.integrity_errors:
            raise  # the append path turns it into a conflict or a StoreError
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _exec_many(self, key: str, rows: Sequence[Params]) -> None:
        try:
            with self._connection().cursor() as cur:
                cur.executemany(_SQL[key], rows)
            return
        except self.integrity_errors:
            raise
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _query(self, sql: str, params: Params) -> list[Row]:
        try:
            cur = self._connection().execute(sql, params or None)
            return cur.fetchall() if cur.description is not None else []
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self._connection()
        self._pinned = conn
        try:
            with conn.transaction():
                yield
        finally:
            self._pinned = None

    def _migrate_locked(self) -> None:
        lock = f"imflow.migrate.{self.schema or ''}"
        self._connection().execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
        if self.schema is not None:
            self._connection().execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
        super()._migrate_locked()

    def _param(self, name: str) -> str:
        return f"%({name})s"

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._owns_keys and self.key_store is not None:
            self.key_store.close()
