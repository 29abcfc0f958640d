"""Private: the PostgreSQL store (psycopg 3, the optional extra ``imflow[postgres]``).

psycopg is imported when a store is opened, not when this module is, so
``imflow.store`` works without the extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import cattrs

from imflow._keys import KeyStore, MasterKey, MasterKeySource, master_key_from
from imflow.engine import Engine
from imflow.errors import SchemaMissing
from imflow.store._cipher import crypto_schema, crypto_statements
from imflow.store._keys_postgres import PostgresKeyStore, default_key_schema
from imflow.store._leases import NOW_POSTGRES, lease_statements, leases_schema
from imflow.store._schema import Backend, Migration, how_to_migrate, identifier
from imflow.store._session import PooledConnections, SingleConnection
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
from imflow.store._summary import state_schema, summary_schema, summary_statements

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["PostgresStore"]

_SQL = {
    **statements(lambda name: f"%({name})s", json_cast="::jsonb", as_text="::text"),
    **crypto_statements(lambda name: f"%({name})s", json_cast="::jsonb"),
    **lease_statements(lambda name: f"%({name})s", now=NOW_POSTGRES),
    **summary_statements(lambda name: f"%({name})s"),
}

_MIGRATIONS: Sequence[Migration] = (
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
    (5, "outbox leases for several runners", leases_schema()),
    (6, "the report's facts per case and year", summary_schema("postgresql")),
    (7, "the state of the report's facts an append steps", state_schema("postgresql")),
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


def _require_psycopg(pool: bool) -> None:
    try:
        import psycopg  # noqa: F401

        if pool:
            import psycopg_pool  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the test environment has the extra
        raise ImportError(
            "PostgresStore needs psycopg 3 and psycopg_pool: pip install 'imflow[postgres]'"
        ) from exc


def _in_transaction(conn: Any) -> bool:
    from psycopg.pq import TransactionStatus

    return bool(conn.info.transaction_status != TransactionStatus.IDLE)


def _settle(conn: Any) -> None:
    """End the implicit transaction of the store's reads on a non-autocommit connection."""
    from psycopg.pq import TransactionStatus

    status = conn.info.transaction_status
    if status == TransactionStatus.INTRANS:
        conn.commit()
    elif status == TransactionStatus.INERROR:
        conn.rollback()


def default_key_store(
    conninfo: str,
    master: MasterKey,
    *,
    schema: str | None,
    key_schema: str | None,
    connect_timeout: int,
) -> PostgresKeyStore:
    """The key store a PostgreSQL store makes for itself: *key_schema*, or the one
    ``imflow migrate --schema`` makes beside *schema* (then a missing one says to run
    exactly that)."""
    try:
        return PostgresKeyStore(
            conninfo,
            master_key=master,
            schema=key_schema or default_key_schema(schema),
            connect_timeout=connect_timeout,
        )
    except SchemaMissing:
        if key_schema is not None:
            raise
        raise SchemaMissing(
            _MIGRATIONS[-1][0], how=how_to_migrate("postgresql", schema, 0)
        ) from None


class PostgresStore(SqlStore):
    """A store in PostgreSQL, for deployments where several servers share the cases.

    Every write is one transaction; the conditional update of the case row is the
    optimistic-concurrency check, so the loser of a race gets
    :class:`~imflow.ConcurrencyConflict` and writes nothing. Events are ``JSONB``,
    dates ``DATE``, times ``TIMESTAMPTZ``.

    Opening a store **never changes the schema**: it reads the schema version and raises
    :class:`~imflow.SchemaMissing` or :class:`~imflow.SchemaOutdated` (saying what to
    run) until the database's owner ran ``imflow migrate`` (or
    :func:`imflow.store.migrate`, or a DBA the SQL of ``imflow schema-sql``). So the
    store's role needs only ``SELECT, INSERT, UPDATE, DELETE`` on imflow's tables (and
    ``USAGE`` on their schema).

    :param conninfo: where the cases are:

        - a libpq connection string or URI (``"postgresql://imflow@127.0.0.1/imflow"``):
          the store opens a ``psycopg_pool.ConnectionPool`` of up to *pool_size*
          connections and closes it with the store; concurrent callers each borrow a
          connection (the pool's maintenance threads are psycopg_pool's);
        - a ``psycopg_pool.ConnectionPool`` the host made (its connections must see
          imflow's tables on their ``search_path``); the store never closes it;
        - a ``psycopg.Connection`` the host opened: the store uses it, one caller at a
          time, joins a transaction the host has open on it, and never closes it.
    :param schema: a PostgreSQL schema the tables are kept in (with a connection string
        only: it becomes each pooled connection's ``search_path``); the same name is
        given to ``imflow migrate --schema``.
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
        :class:`~imflow.MasterKeyMissing` is raised. With a host's own single connection
        there is no default key store: pass *key_store* (or ``encrypt=False``).
    :param key_schema: the schema of the default key store (default: ``<schema>_keys``,
        or ``imflow_keys`` without *schema*).
    :param encrypt: ``False`` stores personal fields in clear, as imflow 0.1 did.
    :param purge_timeout: seconds an erasure waits for older transactions and locks
        before it reports the purge of the key store as not finished.
    :param connect_timeout: seconds to wait for the server (and for the pool's first
        connection).
    :param pool_size: the most connections the store's own pool opens.

    Example (needs a running server)::

        with PostgresStore("postgresql://imflow@127.0.0.1/imflow") as store:
            case = store.load("wt-2025-0042")

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 a pool of connections; a host's pool or connection;
       the schema is checked, never created (``imflow migrate``).
    """

    SQL: ClassVar[Mapping[str, str]] = _SQL
    MIGRATIONS: ClassVar[Sequence[Migration]] = _MIGRATIONS
    DIALECT: ClassVar[Backend] = "postgresql"
    backend: ClassVar[str] = "PostgreSQL"

    def __init__(
        self,
        conninfo: str | psycopg_pool.ConnectionPool[Any] | psycopg.Connection[Any],
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
        pool_size: int = 10,
    ) -> None:
        identifier(schema, "schema")
        own_pool = isinstance(conninfo, str)
        if own_pool and pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        _require_psycopg(own_pool)
        owns = False
        if encrypt and key_store is None:
            # the default key store opens its own connection: it needs a connection string
            # (a host's pool has one; a host's single connection does not)
            keys_conninfo = (
                conninfo if isinstance(conninfo, str) else getattr(conninfo, "conninfo", None)
            )
            if not isinstance(keys_conninfo, str):
                raise ValueError(
                    "with a connection of your own, pass key_store= (for example"
                    " imflow.keys.PostgresKeyStore(conninfo, master_key=...)) or encrypt=False"
                )
            owns = True
            key_store = default_key_store(
                keys_conninfo,
                master_key_from(master_key),
                schema=schema,
                key_schema=key_schema,
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
        self.schema = schema
        self.conninfo: str | None = conninfo if isinstance(conninfo, str) else None
        self._single: psycopg.Connection[Any] | None = None
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        if isinstance(conninfo, psycopg.Connection):
            self._refuse_schema(schema, "a connection")
            self._single = conninfo
            self._source = SingleConnection(
                conninfo, owned=False, joined=_in_transaction, settle=_settle
            )
        elif isinstance(conninfo, str):
            self._pool = self._open_pool(conninfo, schema, pool_size, connect_timeout)
            self._source = PooledConnections(self._pool, owned=True)
        else:
            self._refuse_schema(schema, "a pool")
            self._pool = conninfo
            self._source = PooledConnections(conninfo, owned=False)
        try:
            self._open_schema(migrate=False)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _refuse_schema(schema: str | None, given: str) -> None:
        if schema is not None:
            raise ValueError(
                f"schema= needs a connection string; with {given} of your own, put the"
                " schema on its search_path (the pool's configure= callback, or"
                " ALTER ROLE … SET search_path)"
            )

    @staticmethod
    def _open_pool(
        conninfo: str, schema: str | None, size: int, timeout: int
    ) -> psycopg_pool.ConnectionPool[Any]:
        import psycopg
        from psycopg_pool import ConnectionPool

        # one plain connection first: an unreachable server or a refused login fails here
        # at once with psycopg's own error, not as a pool timeout after *timeout* seconds
        psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout).close()

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute(f"SET search_path TO {schema}")  # a checked identifier

        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, "connect_timeout": timeout},
            configure=configure if schema is not None else None,
            open=False,
            name="imflow",
        )
        try:
            pool.open(wait=True, timeout=timeout)
        except BaseException:
            pool.close()
            raise
        return pool

    @property
    def connection(self) -> psycopg.Connection[Row]:
        """The host's connection the store runs on (a pooled store has none: use
        :attr:`pool` or :meth:`reading`)."""
        self._check_open()
        if self._single is None:
            raise AttributeError(
                "a pooled PostgresStore has no single connection; use store.pool or store.reading()"
            )
        return self._single

    @property
    def pool(self) -> psycopg_pool.ConnectionPool[Any] | None:
        """The pool the store borrows its connections from (``None`` on a single connection).

        .. versionadded:: 0.2.0
        """
        return self._pool

    def _check_host_connection(self, conn: Any) -> None:
        import psycopg

        if not isinstance(conn, psycopg.Connection):
            raise TypeError(f"a unit of work needs a psycopg.Connection, not {type(conn)!r}")

    @contextlib.contextmanager
    def _host_transaction(self, conn: Any) -> Iterator[bool]:
        if _in_transaction(conn):
            yield False
            return
        with conn.transaction():
            yield True

    # -- backend primitives ----------------------------------------------------------------

    # Each primitive re-raises a refused statement as StoreError *outside* its except
    # block, so psycopg's exception (its message and the server's DETAIL may quote
    # parameters) is not its context.

    def _rows(self, key: str, params: Params) -> list[Row]:
        try:
            rows: list[Row] = self._now().execute(_SQL[key], params).fetchall()
            return rows
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _exec(self, key: str, params: Params) -> int:
        try:
            count: int = self._now().execute(_SQL[key], params).rowcount
            return count
        except self.integrity_errors:
            raise  # the append path turns it into a conflict or a StoreError
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _exec_many(self, key: str, rows: Sequence[Params]) -> None:
        try:
            with self._now().cursor() as cur:
                cur.executemany(_SQL[key], rows)
            return
        except self.integrity_errors:
            raise
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _query(self, sql: str, params: Params) -> list[Row]:
        try:
            cur = self._now().execute(sql, params or None)
            rows: list[Row] = cur.fetchall() if cur.description is not None else []
            return rows
        except self._refused as exc:
            error = sanitized(exc, self.backend)
        raise error

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._now().transaction():  # a savepoint inside the host's transaction
            yield

    def _param(self, name: str) -> str:
        return f"%({name})s"
