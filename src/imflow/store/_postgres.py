"""Private: the PostgreSQL store (psycopg 3, the optional extra ``imflow[postgres]``).

psycopg is imported when a store is opened, not when this module is, so
``imflow.store`` works without the extra.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar

import cattrs

from imflow._keys import KeyKind, KeyStore, MasterKey, MasterKeySource, Purge, master_key_from
from imflow.case import Case
from imflow.engine import Engine
from imflow.errors import SchemaMissing
from imflow.events import Event
from imflow.store._cipher import case_key_id, crypto_schema, crypto_statements
from imflow.store._keys_postgres import PostgresKeyStore, default_key_schema
from imflow.store._leases import NOW_POSTGRES, lease_statements, leases_schema
from imflow.store._schema import Backend, Migration, how_to_migrate, identifier
from imflow.store._session import PooledConnections, Session, SingleConnection
from imflow.store._sql import (
    CASE_ROW_WRITES,
    Params,
    Row,
    SqlStore,
    _Stale,
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
    # the load's rows come unordered and are sorted by the store (LOAD_ORDERED): cheaper
    # than the server's sort of its ~200 wide rows
    **statements(
        lambda name: f"%({name})s", json_cast="::jsonb", as_text="::text", order_load=False
    ),
    **crypto_statements(lambda name: f"%({name})s", json_cast="::jsonb"),
    **lease_statements(lambda name: f"%({name})s", now=NOW_POSTGRES),
    **summary_statements(lambda name: f"%({name})s"),
}


def keyed_load(load: str, key_schema: str) -> str:
    """The ``load`` statement that also returns the data keys the case's rows are sealed
    with (rows ``(2, NULL, NULL, kid, hex of the wrapped key)``): the case key of its
    first generation (the parameter ``kid``) and the keys of its persons (the person
    index holds their ids), from the key schema *key_schema* of the same database, in
    the same round trip and the same snapshot as the rows.

    The keys are looked up by their primary key (one array of ids, so an index scan
    however many keys the schema holds); the rows come unordered (the store sorts them,
    see ``LOAD_ORDERED``), so the key branch simply goes last.

    >>> sql = keyed_load("SELECT 1", "imflow_keys")
    >>> sql.startswith("SELECT 1 UNION ALL SELECT 2,"), "ORDER BY" in sql
    (True, False)
    """
    if load.endswith(" ORDER BY 1, 2"):
        raise ValueError("the keyed load reads its rows unordered")
    return load + (
        " UNION ALL SELECT 2, NULL, NULL, k.kid, encode(k.wrapped, 'hex')"
        f" FROM {key_schema}.data_keys k WHERE k.kid = ANY(ARRAY[%(kid)s::text]"
        " || ARRAY(SELECT p.person_ref FROM case_persons p WHERE p.case_id = %(case_id)s))"
    )


# the conditional write of the case row, made to fail unless it wrote exactly one row:
# an append sends it with BEGIN and its inserts with COMMIT, in one round trip, and a
# stale case row aborts the transaction (so the inserts after it never run); the error
# is told apart from any other by its words, which quote no parameter
_STALE = "imflow: stale case row"
_CHECKED = {
    key: (
        f"WITH written AS ({_SQL[key]} RETURNING 1) SELECT CASE WHEN count(*) = 1 THEN 0"
        f" ELSE ('{_STALE} ' || count(*))::int END FROM written"
    )
    for key in CASE_ROW_WRITES
}


_PARAM = re.compile(r"%\((\w+)\)s")


def _values(sql: str) -> tuple[str, str, str] | None:
    """An ``INSERT … VALUES (row) …`` statement as its head, its row and its tail."""
    start = sql.find(" VALUES (")
    if start < 0:
        return None
    start += len(" VALUES ")
    depth = 0
    for at in range(start, len(sql)):
        depth += {"(": 1, ")": -1}.get(sql[at], 0)
        if depth == 0:
            return sql[:start], sql[start : at + 1], sql[at + 1 :]
    return None  # pragma: no cover - the store's own statements are balanced


def _renamed(sql: str, i: int) -> str:
    return _PARAM.sub(lambda m: f"%(q{i}_{m[1]})s", sql)


_SHAPES = {key: shape for key, sql in _SQL.items() if (shape := _values(sql)) is not None}


def combined(
    writes: Sequence[tuple[str, Params]], memo: dict[tuple[str, ...], str] | None = None
) -> tuple[str, dict[str, Any]]:
    """One statement doing every write of *writes* (``(key, params)``, in order), and its
    parameters: each run of rows of one ``INSERT`` is one multi-row ``INSERT`` (its rows
    inserted in their order, so the outbox's ids follow the events' seqs), each write a
    data-modifying ``WITH`` query (all run to completion whether read or not); the case
    row's write among them is checked as :data:`_CHECKED` does. The statement depends
    on the keys of *writes* only: *memo* (a store's, bounded) keeps it by them.

    >>> sql, params = combined([("update_version", {"case_id": "c", "version": 2,
    ...     "expected": 1}), ("insert_outbox", {"case_id": "c", "seq": 2, "type": "t"}),
    ...     ("insert_outbox", {"case_id": "c", "seq": 3, "type": "t"})])
    >>> sql.startswith("WITH w0 AS (UPDATE cases SET version = %(q0_version)s"), params["q2_seq"]
    (True, 3)
    >>> sql.count("INSERT INTO outbox"), "(%(q2_case_id)s, %(q2_seq)s" in sql
    (1, True)
    >>> sql.endswith(f"ELSE ('{_STALE} ' || count(*))::int END FROM w0")
    True
    """
    params = {
        f"q{n}_{name}": value for n, (_, row) in enumerate(writes) for name, value in row.items()
    }
    keys = tuple(key for key, _ in writes)
    sql = None if memo is None else memo.get(keys)
    if sql is None:
        sql = _combined_sql(keys)
        if memo is not None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()  # a few shapes recur (one per kind of command): start over
            memo[keys] = sql
    return sql, params


_MEMO_SIZE = 256


def _combined_sql(keys: tuple[str, ...]) -> str:
    """The statement of :func:`combined` for writes of *keys*."""
    parts: list[str] = []
    checked: int | None = None
    i = 0
    while i < len(keys):
        key = keys[i]
        j = i + 1
        shape = None if key in CASE_ROW_WRITES else _SHAPES.get(key)
        while shape is not None and j < len(keys) and keys[j] == key:
            j += 1
        if shape is None:
            sql = _renamed(_SQL[key], i)
            if key in CASE_ROW_WRITES:
                sql += " RETURNING 1"
                checked = len(parts)
        else:
            head, row, tail = shape
            sql = head + ", ".join(_renamed(row, n) for n in range(i, j)) + tail
        parts.append(f"w{len(parts)} AS ({sql})")
        i = j
    head = "WITH " + ", ".join(parts)
    if checked is None:
        return head + " SELECT 0"
    return (
        f"{head} SELECT CASE WHEN count(*) = 1 THEN 0"
        f" ELSE ('{_STALE} ' || count(*))::int END FROM w{checked}"
    )


def _is_stale(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.errors.InvalidTextRepresentation) and _STALE in (
        exc.diag.message_primary or ""
    )


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


def _may_pipeline(conn: Any) -> bool:
    """Whether the store's own transaction on *conn* may be sent as a pipeline: a
    psycopg connection in autocommit (a pooled one), outside any transaction."""
    import psycopg
    from psycopg.pq import TransactionStatus

    return (
        isinstance(conn, psycopg.Connection)
        and conn.autocommit
        and conn.info.transaction_status == TransactionStatus.IDLE
    )


def _abandon(conn: Any) -> None:
    """Roll back a transaction a failed pipeline left open (its COMMIT never ran).

    ``rollback()``, not a ROLLBACK statement: psycopg then also forgets the statements
    it prepared on the connection, some of which an aborted pipeline never prepared
    (using one later would be refused: "prepared statement does not exist")."""
    conn.rollback()


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


class _LoadKeys:
    """The store's key store, serving a running load the keys it read with its rows.

    Outside a load (and when creating keys) every call goes to the key store itself; a
    load asks it only for keys its statement did not bring (a later generation's).
    """

    def __init__(self, keys: PostgresKeyStore, bound: ContextVar[Session | None]) -> None:
        self._keys = keys
        self._bound = bound

    def key_id(self, kind: KeyKind, name: str) -> str:
        return self._keys.key_id(kind, name)

    def keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        session = self._bound.get()
        read = None if session is None or create else session.keys
        if read is None:
            return self._keys.keys(key_ids, create=create)
        found = {k: key for k in key_ids if (key := read.get(k)) is not None}
        rest = [k for k in key_ids if k not in read]
        if rest:
            found.update(self._keys.keys(rest))
        return found

    def delete(self, key_ids: Collection[str]) -> int:
        return self._keys.delete(key_ids)

    def purge(self, *, timeout: float = 5.0) -> Purge:
        return self._keys.purge(timeout=timeout)

    def close(self) -> None:
        self._keys.close()


class _Lazy:
    """The pipeline of the store's own transaction, entered (and BEGIN sent) when the
    transaction's first statement is about to run (the store's ``_now``), not before:
    an append that sends one statement in all sends it alone (``_send_deferred``).

    Stands where the session keeps its pipeline; :meth:`sync` is the pipeline's.
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.stack: contextlib.ExitStack | None = None  # the transaction's, while it runs
        self.pipeline: Any = None  # psycopg's, once begun

    def begin(self) -> None:
        if self.pipeline is None:
            assert self.stack is not None  # only ever begun inside its transaction
            self.pipeline = self.stack.enter_context(self.conn.pipeline())
            self.conn.execute("BEGIN")

    def sync(self) -> None:
        self.begin()
        self.pipeline.sync()


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
    LOAD_ORDERED: ClassVar[bool] = False  # see _SQL: the load's rows are sorted here
    # the load statement that also reads the case's data keys (the store's own default
    # key store, in the same database), or None: the key store is asked separately
    _keyed_load: str | None = None
    # the statements of combined() by the keys of their writes (see there)
    _combined: dict[tuple[str, ...], str]

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

        if owns and isinstance(key_store, PostgresKeyStore) and self._sealer is not None:
            self._keyed_load = keyed_load(_SQL["load"], key_store.schema)
            self._sealer.keys = _LoadKeys(key_store, self._bound)
        self.integrity_errors = (psycopg.IntegrityError,)
        self._refused = _refused()
        self._combined = {}
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
        self._send_deferred()  # a read in an append sees its writes so far
        if key == "load" and self._keyed_load is not None:
            return self._load_with_keys(self._keyed_load, params)
        try:
            rows: list[Row] = self._now().execute(_SQL[key], params).fetchall()
            return rows
        except self._refused as exc:
            error = self._refusal(exc)
        raise error

    def _load_with_keys(self, sql: str, params: Params) -> list[Row]:
        """The rows of ``load``; the data keys that came with them are kept in the
        session for the rest of this load (see :meth:`_load`), never longer."""
        session, keys = self._bound.get(), self.key_store
        assert session is not None and isinstance(keys, PostgresKeyStore)
        first = case_key_id(keys, str(params["case_id"]), 0)
        try:
            found = self._now().execute(sql, {**params, "kid": first}).fetchall()
        except self._refused as exc:
            error = self._refusal(exc)
            raise error from None
        rows = [r for r in found if r[0] != 2]
        read: dict[str, bytes | None] = {first: None}  # asked for: absent unless found
        if len(rows) < len(found):
            wrapped = [(r[3], bytes.fromhex(r[4])) for r in found if r[0] == 2]
            read.update(keys.unwrapped(wrapped))
        session.keys = read
        return rows

    def _load(self, case_id: str) -> Case:
        try:
            return super()._load(case_id)
        finally:
            session = self._bound.get()
            if session is not None:
                session.keys = None  # a case's events read later ask the key store

    def _exec(self, key: str, params: Params) -> int:
        try:
            session = self._bound.get()
            if session is not None and session.deferred is not None:
                session.deferred.append((key, params))  # sent by _send_deferred
                return 1  # the case row's write is checked by the server as it is sent
            conn = self._now()
            if session is not None and session.checked and key in _CHECKED:
                conn.execute(_CHECKED[key], params)  # checked by the server: see _CHECKED
                return 1
            cur = conn.execute(_SQL[key], params)
            pipeline = self._pipeline()
            if pipeline is not None:
                pipeline.sync()  # the statement's row count, before the writes that follow
            count: int = cur.rowcount
            return count
        except self.integrity_errors:
            raise  # the append path turns it into a conflict or a StoreError
        except self._refused as exc:
            error = self._refusal(exc)
        raise error

    def _exec_many(self, key: str, rows: Sequence[Params]) -> None:
        session = self._bound.get()
        if session is not None and session.deferred is not None:
            session.deferred.extend((key, row) for row in rows)
            return
        try:
            if self._pipeline() is not None:
                # queued: its errors come with the commit (see _transaction)
                self._now().cursor().executemany(_SQL[key], rows)
                return
            with self._now().cursor() as cur:
                cur.executemany(_SQL[key], rows)
            return
        except self.integrity_errors:
            raise
        except self._refused as exc:
            error = self._refusal(exc)
        raise error

    def _query(self, sql: str, params: Params) -> list[Row]:
        try:
            cur = self._now().execute(sql, params or None)
            rows: list[Row] = cur.fetchall() if cur.description is not None else []
            return rows
        except self._refused as exc:
            error = self._refusal(exc)
        raise error

    def _write_append(
        self,
        base: Case | None,
        new: Case,
        batch: Sequence[Event],
        expected: int,
        key: str | None,
    ) -> None:
        session = self._bound.get()
        if session is None or session.pipeline is None:
            super()._write_append(base, new, batch, expected, key)
            return
        session.checked = True  # the case row's write fails the pipeline when stale
        session.deferred = []  # the writes go as one statement: fewer to send and wait on
        try:
            super()._write_append(base, new, batch, expected, key)
            self._send_deferred(last=True)
        finally:
            session.checked = False
            session.deferred = None

    def _send_deferred(self, *, last: bool = False) -> None:
        """Queue the append's writes gathered so far in its pipeline, as one statement
        (:func:`combined`); its errors come with the commit, as any queued statement's.

        The *last* writes of an append whose transaction has sent nothing yet (see
        :class:`_Lazy`) go alone instead, without BEGIN and COMMIT: one statement in
        autocommit is a transaction of its own, all of it or nothing; its errors come
        at once."""
        session = self._bound.get()
        if session is None or not session.deferred:
            return
        writes, session.deferred = session.deferred, []
        if len(writes) == 1 and writes[0][0] not in CASE_ROW_WRITES:
            sql, params = _SQL[writes[0][0]], dict(writes[0][1])
        else:
            sql, params = combined(writes, self._combined)
        lazy = session.pipeline
        alone = last and isinstance(lazy, _Lazy) and lazy.pipeline is None
        try:
            (session.conn if alone else self._now()).execute(sql, params)
            return
        except self.integrity_errors:
            raise
        except self._refused as exc:
            error = self._refusal(exc)
        raise error  # outside the except block: psycopg's error is not its context

    def _refusal(self, exc: BaseException) -> Exception:
        """What a refused statement is re-raised as: a StoreError quoting nothing, or,
        for the checked write of a stale case row, the append's conflict."""
        return _Stale() if _is_stale(exc) else sanitized(exc, self.backend)

    def _pipeline(self) -> Any:
        session = self._bound.get()
        return None if session is None else session.pipeline

    def _now(self) -> Any:
        """The connection of the running operation; in the store's own transaction,
        begun first if it has not sent anything yet (see :class:`_Lazy`)."""
        conn = super()._now()
        session = self._bound.get()
        lazy = None if session is None else session.pipeline
        if isinstance(lazy, _Lazy) and lazy.pipeline is None:
            lazy.begin()
        return conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        conn, session = self._now(), self._bound.get()
        if session is None or session.joined or session.pipeline is not None:
            with conn.transaction():  # a savepoint inside the host's transaction
                yield
            return
        if not _may_pipeline(conn):
            with conn.transaction():
                yield
            return
        with self._pipelined(conn, session):
            yield

    @contextlib.contextmanager
    def _pipelined(self, conn: Any, session: Session) -> Iterator[None]:
        """One transaction of the store's own, its statements sent in a pipeline: BEGIN
        goes with the statements up to the first whose row count is read, the rest with
        COMMIT (an append after a load reads none, and sends its writes as one statement,
        :func:`combined`: one round trip, see :data:`_CHECKED`). BEGIN waits for the
        block's first statement (:class:`_Lazy`): an append whose writes are all that
        block sends runs them as one statement alone, with no pipeline, BEGIN or COMMIT.
        A refused statement's error comes with the next sync, sanitized (a stale case row
        as ``_Stale``); the transaction is then rolled back."""
        import psycopg

        failed: BaseException | None = None
        lazy = _Lazy(conn)
        try:
            with contextlib.ExitStack() as stack:
                lazy.stack = stack
                session.pipeline = lazy
                try:
                    try:
                        yield
                    except BaseException:
                        if lazy.pipeline is not None:
                            # take in the results still queued (an error among them is
                            # the block's to report), then roll back
                            with contextlib.suppress(psycopg.Error):
                                lazy.pipeline.sync()
                            conn.rollback()  # also forgets statements prepared meanwhile
                        raise
                    if lazy.pipeline is not None:
                        conn.execute("COMMIT")  # sent, with what is queued, as it ends
                finally:
                    session.pipeline = None
                    lazy.stack = None
        except self.integrity_errors:
            if lazy.pipeline is not None:
                _abandon(conn)
            raise  # the append path turns it into a conflict or a StoreError
        except self._refused as exc:
            if lazy.pipeline is not None:
                _abandon(conn)
            failed = self._refusal(exc)
        if failed is not None:
            raise failed

    def _param(self, name: str) -> str:
        return f"%({name})s"
