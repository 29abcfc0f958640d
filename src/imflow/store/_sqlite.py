"""Private: the SQLite store (standard-library ``sqlite3``, one file, WAL)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import cattrs

from imflow._keys import KeyStore, MasterKeySource, MemoryKeyStore, master_key_from
from imflow.engine import Engine
from imflow.store._cipher import crypto_schema, crypto_statements
from imflow.store._keys_sqlite import SQLiteKeyStore
from imflow.store._leases import NOW_SQLITE, lease_statements, leases_schema
from imflow.store._schema import Backend, Migration
from imflow.store._session import SingleConnection
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
from imflow.store._wal import checkpoint, enable_wal

__all__ = ["SQLiteStore"]

_SQL = {
    # the load reads the rows in index order already; SQLite would sort them again in
    # a temporary b-tree, so the store sorts the (sorted) list instead
    **statements(lambda name: f":{name}", order_load=False),
    **crypto_statements(lambda name: f":{name}"),
    **lease_statements(lambda name: f":{name}", now=NOW_SQLITE),
    **summary_statements(lambda name: f":{name}"),
}

_MIGRATIONS: Sequence[Migration] = (
    (
        1,
        "events, cases, persons, idempotency",
        core_schema(text="TEXT", day="TEXT", moment="TEXT", json_type="TEXT"),
    ),
    (2, "outbox", outbox_schema(serial="INTEGER PRIMARY KEY AUTOINCREMENT", moment="TEXT")),
    (
        3,
        "idempotency keys by tenant, bound to their content",
        keys_schema(
            moment="TEXT",
            actor_district="json_extract(e.payload, '$.actor.district')",
            actor_provider="json_extract(e.payload, '$.actor.provider')",
        ),
    ),
    (4, "personal fields encrypted: erased versions, keys to shred", crypto_schema()),
    (5, "outbox leases for several runners", leases_schema()),
    (6, "the report's facts per case and year", summary_schema("sqlite")),
    (7, "the state of the report's facts an append steps", state_schema("sqlite")),
)

# what the store re-raises as StoreError: a refused statement (connection and lock
# problems, sqlite3.OperationalError, pass through as they are)
_REFUSED = (
    sqlite3.DataError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.InternalError,
    sqlite3.NotSupportedError,
    sqlite3.ProgrammingError,
    UnicodeError,
    OverflowError,
)


class SQLiteStore(SqlStore):
    """The default store: one SQLite file in WAL mode, safe for several processes.

    Writes run in ``BEGIN IMMEDIATE`` transactions, so two writers of one case are
    serialised by SQLite and the loser gets :class:`~imflow.ConcurrencyConflict`;
    readers never block. A new file is created and migrated on first open (the embedded
    default needs no set-up); an existing file at an older schema version is migrated
    forward on open too, unless ``migrate=False``.

    :param path: the database file (created if missing); ``":memory:"`` works for a
        single connection. Or a ``sqlite3.Connection`` the host opened: the store then
        runs on it (one caller at a time), joins a transaction the host has open on it,
        leaves its pragmas alone and never closes it.
    :param engine: folds events into cases (default: ``Engine()``).
    :param snapshot_every: store a snapshot of the case every this many events
        (``0``: never), so loading a long case reads one snapshot and the events after it.
        Default ``1``: a current snapshot with every append, so a load with a cold cache
        decodes one small document (it holds neither events nor contacts) and folds
        nothing; see :doc:`/how-to/persist`.
    :param cache_size: how many recently used cases to keep in memory, each valid while
        its version is unchanged in the database (``0``: none).
    :param busy_timeout: seconds to wait for another writer's lock.
    :param synchronous: ``"FULL"`` (default: a committed event survives a power cut) or
        ``"NORMAL"`` (faster; survives a crash of the process, not of the machine).
    :param key_store: where the data keys live (see :mod:`imflow.keys`); default: a
        :class:`~imflow.keys.SQLiteKeyStore` in the file ``<path>.keys`` beside the
        database (in memory for ``":memory:"``).
    :param master_key: the master key of the default key store: a
        :class:`~imflow.keys.MasterKey`, its bytes or the path of a key file. Default:
        ``IMFLOW_MASTER_KEY`` or ``IMFLOW_MASTER_KEY_FILE`` from the environment, else
        the file ``<path>.master-key``, **created beside the database** (``0600``) when
        missing — convenient, but whoever copies the folder has the key: production
        hosts configure their own.
    :param encrypt: ``False`` stores personal fields in clear, as imflow 0.1 did (for
        benchmarks, or disks encrypted below); erasure then only rewrites.
    :param purge_timeout: seconds an erasure waits for readers before it reports the
        checkpoint of the key store or of the WAL as not finished.
    :param migrate: migrate an older (or empty) database forward on open (default);
        with ``False`` the store only checks the schema and raises
        :class:`~imflow.SchemaMissing` or :class:`~imflow.SchemaOutdated` (see
        :func:`imflow.store.migrate`).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "imflow.db")
    >>> with SQLiteStore(path) as store:
    ...     store.schema_version
    7

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 *path* may be a host's connection; *migrate*.
    """

    SQL: ClassVar[Mapping[str, str]] = _SQL
    MIGRATIONS: ClassVar[Sequence[Migration]] = _MIGRATIONS
    DIALECT: ClassVar[Backend] = "sqlite"
    integrity_errors = (sqlite3.IntegrityError,)
    backend: ClassVar[str] = "SQLite"
    LOAD_ORDERED: ClassVar[bool] = False

    def __init__(
        self,
        path: str | os.PathLike[str] | sqlite3.Connection,
        *,
        engine: Engine | None = None,
        snapshot_every: int = 1,
        cache_size: int = 256,
        busy_timeout: float = 30.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        converter: cattrs.Converter | None = None,
        key_store: KeyStore | None = None,
        master_key: MasterKeySource = None,
        encrypt: bool = True,
        purge_timeout: float = 5.0,
        migrate: bool = True,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', not {synchronous!r}")
        host = isinstance(path, sqlite3.Connection)
        self.path = _main_file(path) if isinstance(path, sqlite3.Connection) else os.fspath(path)
        owns = False
        if encrypt and key_store is None:
            owns = True
            if self.path in ("", ":memory:"):
                key_store = MemoryKeyStore()
            else:
                master = master_key_from(master_key, beside=self.path)
                key_store = SQLiteKeyStore(
                    self.path + ".keys", master_key=master, busy_timeout=busy_timeout
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
        if isinstance(path, sqlite3.Connection):
            self._conn = path
            self._source = SingleConnection(path, owned=False, joined=_in_transaction)
        else:
            self._conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,  # the store's lock serialises use across threads
                cached_statements=256,
            )
            self._source = SingleConnection(self._conn, owned=True, joined=_never)
        try:
            if not host:
                enable_wal(self._conn, busy_timeout)
                self._conn.execute(f"PRAGMA synchronous = {synchronous}")
            self._open_schema(migrate=migrate)
        except BaseException:
            if not host:
                self._conn.close()
            if owns and key_store is not None:
                key_store.close()
            raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The store's connection, for read-only queries such as key figures."""
        self._check_open()
        return self._conn

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A read-only connection of its own to the store's file, for the key figures,
        so a report neither waits for the store's lock nor holds it (the store's own
        connection for an in-memory database).

        .. versionadded:: 0.2.0
        """
        self._check_open()
        if self._bound.get() is not None or self.path in ("", ":memory:"):
            with super().reading() as conn:
                yield conn
            return
        uri = Path(self.path).absolute().as_uri() + "?mode=ro"
        own = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            yield own
        finally:
            own.close()

    def _check_host_connection(self, conn: Any) -> None:
        if not isinstance(conn, sqlite3.Connection):
            raise TypeError(f"a unit of work needs a sqlite3.Connection, not {type(conn)!r}")

    @contextlib.contextmanager
    def _host_transaction(self, conn: Any) -> Iterator[bool]:
        if conn.in_transaction:
            yield False
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield True
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- backend primitives ----------------------------------------------------------------

    # Each primitive re-raises a refused statement as StoreError *outside* its except
    # block, so the driver's exception (which may quote parameters) is not its context.

    def _rows(self, key: str, params: Params) -> list[Row]:
        conn: sqlite3.Connection = self._now()
        try:
            return conn.execute(_SQL[key], params).fetchall()
        except _REFUSED as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _exec(self, key: str, params: Params) -> int:
        conn: sqlite3.Connection = self._now()
        try:
            return conn.execute(_SQL[key], params).rowcount
        except sqlite3.IntegrityError:
            raise  # the append path turns it into a conflict or a StoreError
        except _REFUSED as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _exec_many(self, key: str, rows: Sequence[Params]) -> None:
        try:
            self._now().executemany(_SQL[key], rows)
            return
        except sqlite3.IntegrityError:
            raise
        except _REFUSED as exc:
            error = sanitized(exc, self.backend)
        raise error

    def _query(self, sql: str, params: Params) -> list[Row]:
        conn: sqlite3.Connection = self._now()
        try:
            return conn.execute(sql, params).fetchall()
        except _REFUSED as exc:
            error = sanitized(exc, self.backend)
        raise error

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self._now()
        if conn.in_transaction:  # the host's: a savepoint, so a refusal keeps it usable
            conn.execute("SAVEPOINT imflow")
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO imflow")
                    conn.execute("RELEASE imflow")
                raise
            conn.execute("RELEASE imflow")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _param(self, name: str) -> str:
        return f":{name}"

    def _day(self, day: date | None) -> Any:
        return None if day is None else day.isoformat()

    def _moment(self, moment: datetime) -> Any:
        return moment.isoformat()

    def _moment_in(self, raw: Any) -> datetime:
        return datetime.fromisoformat(raw)

    def _erasure_begins(self) -> None:
        # freed pages (old payloads, the old snapshot) are overwritten with zeros
        self._now().execute("PRAGMA secure_delete = ON")

    def _flush_log(self) -> bool:
        conn = self._now()
        conn.execute("PRAGMA secure_delete = OFF")
        if self.path in ("", ":memory:"):
            return True
        if conn.in_transaction:  # a host's transaction: its commit and next checkpoint do it
            return False
        # copy the rewritten pages into the database file and empty the WAL, waiting
        # (with retries) while another connection still reads an older snapshot
        return checkpoint(conn, self.purge_timeout)


def _never(conn: Any) -> bool:
    return False


def _in_transaction(conn: Any) -> bool:
    return bool(conn.in_transaction)


def _main_file(conn: sqlite3.Connection) -> str:
    """The file of a connection's main database (``""`` for an in-memory one)."""
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return str(file or "")
    return ""  # pragma: no cover - every connection has a main database
