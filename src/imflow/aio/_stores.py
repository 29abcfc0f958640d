"""Private: the async stores, each the sync store's code behind ``await``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Executor
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import cattrs

from imflow._keys import KeyStore, MasterKeySource, master_key_from
from imflow.actors import SYSTEM, Actor
from imflow.aio._bridge import AsyncPoolSource, OffLoopKeys, bridged
from imflow.case import Case
from imflow.engine import Engine
from imflow.erasure import Erasure
from imflow.events import Event
from imflow.store._base import AppendResult
from imflow.store._postgres import PostgresStore, _refused, _require_psycopg, default_key_store
from imflow.store._schema import identifier
from imflow.store._sql import SqlStore
from imflow.store._sqlite import SQLiteStore

if TYPE_CHECKING:
    import psycopg_pool

__all__ = ["AsyncPostgresStore", "AsyncSQLiteStore", "AsyncStore"]

T = TypeVar("T")


class AsyncStore:
    """What both async stores offer: the :class:`~imflow.store.Store` methods, awaited.

    Each method runs the sync store's own code (the same SQL, the same sealing of
    personal fields, the same checks by :meth:`imflow.Engine.admit`, the same
    tenant-bound idempotency keys), so errors and results are those of the sync store.
    :meth:`run` runs any function of the sync store the same way (a sweep, a report).
    Open one with ``await AsyncSQLiteStore.open(...)`` or
    ``await AsyncPostgresStore.open(...)``; close it with :meth:`aclose` or
    ``async with``.

    .. versionadded:: 0.2.0
    """

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.engine: Engine = store.engine

    @property
    def store(self) -> SqlStore:
        """The sync store whose code runs: use it only through :meth:`run`."""
        return self._store

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, where *fn* may call the sync store (:attr:`store`)."""
        raise NotImplementedError

    async def append(
        self,
        case_id: str,
        events: Iterable[Event],
        *,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """:meth:`imflow.store.Store.append`: :class:`~imflow.ConcurrencyConflict`,
        :class:`~imflow.InvalidHistory` and :class:`~imflow.IdempotencyKeyReused` as there."""
        return await self.run(
            self._store.append,
            case_id,
            tuple(events),
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    async def recall(self, idempotency_key: str, *, by: Actor) -> AppendResult | None:
        """:meth:`imflow.store.Store.recall`."""
        return await self.run(self._store.recall, idempotency_key, by=by)

    async def load(self, case_id: str) -> Case:
        """:meth:`imflow.store.Store.load`; raises :class:`~imflow.CaseNotFound`."""
        return await self.run(self._store.load, case_id)

    async def events(self, case_id: str) -> tuple[Event, ...]:
        """:meth:`imflow.store.Store.events`; raises :class:`~imflow.CaseNotFound`."""
        return await self.run(self._store.events, case_id)

    async def _each(self, found: Iterator[Case]) -> AsyncIterator[Case]:
        while (case := await self.run(next, found, None)) is not None:
            yield case

    async def iter_cases(
        self,
        *,
        district: str | None = None,
        provider: str | None = None,
        phase: str | None = None,
        period_end_before: date | None = None,
        open_only: bool = False,
    ) -> AsyncIterator[Case]:
        """:meth:`imflow.store.Store.iter_cases`, each case loaded when reached."""
        found = await self.run(
            self._store.iter_cases,
            district=district,
            provider=provider,
            phase=phase,
            period_end_before=period_end_before,
            open_only=open_only,
        )
        async for case in self._each(found):
            yield case

    async def due_cases(self, on: date) -> AsyncIterator[Case]:
        """:meth:`imflow.store.Store.due_cases`, each case loaded when reached."""
        found = await self.run(self._store.due_cases, on)
        async for case in self._each(found):
            yield case

    async def erase_person(self, person_ref: str, *, on: date, by: Actor = SYSTEM) -> Erasure:
        """:meth:`imflow.store.Store.erase_person`."""
        return await self.run(self._store.erase_person, person_ref, on=on, by=by)

    async def schema_version(self) -> int:
        """The version of the store's database schema."""
        return await self.run(lambda: self._store.schema_version)

    async def aclose(self) -> None:
        """Release the store's connections (never the host's pool)."""
        await self.run(self._store.close)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncSQLiteStore(AsyncStore):
    """A :class:`~imflow.store.SQLiteStore` for asyncio hosts.

    SQLite has no asynchronous interface (``aiosqlite`` runs a thread of its own per
    connection), so every call runs the sync store in **the event loop's executor**
    (``loop.run_in_executor``, with the task's context variables), or in *executor* if
    one is given; imflow starts no thread itself. The store's lock lets one call at a
    time use its connection; the loop keeps serving other tasks while one waits. A
    cancelled call still finishes in its worker (its transaction is never cut in half):
    resend it with its idempotency key.

    >>> import asyncio, os, tempfile
    >>> from datetime import date
    >>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
    >>> async def main() -> int:
    ...     path = os.path.join(tempfile.mkdtemp(), "cases.db")
    ...     engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
    ...     async with await AsyncSQLiteStore.open(path, engine=engine) as store:
    ...         im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
    ...         case = engine.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
    ...                                       provider="drk", on=date(2025, 3, 3)), by=im)
    ...         await store.append("wt-1", case.events, expected_version=0)
    ...         return (await store.load("wt-1")).version
    >>> asyncio.run(main())
    1

    .. versionadded:: 0.2.0
    """

    def __init__(self, store: SQLiteStore, *, executor: Executor | None = None) -> None:
        if not isinstance(store, SQLiteStore):
            raise TypeError(f"AsyncSQLiteStore wraps a SQLiteStore, not {type(store).__name__}")
        super().__init__(store)
        self.executor = executor

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        executor: Executor | None = None,
        **options: Any,
    ) -> AsyncSQLiteStore:
        """Open (and on first use create) the SQLite file *path* in the executor;
        *options* are those of :class:`~imflow.store.SQLiteStore`."""
        loop = asyncio.get_running_loop()
        store = await loop.run_in_executor(
            executor, functools.partial(SQLiteStore, path, **options)
        )
        return cls(store, executor=executor)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the executor, with the task's context variables."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self.executor, call)


class _BridgedPostgresStore(PostgresStore):
    """A :class:`PostgresStore` whose sessions borrow async connections (see ``_bridge``);
    every other line of it is the sync store's."""

    def __init__(
        self,
        source: AsyncPoolSource,
        *,
        schema: str | None,
        key_store: KeyStore | None,
        owns_key_store: bool,
        **options: Any,
    ) -> None:
        SqlStore.__init__(self, key_store=key_store, owns_key_store=owns_key_store, **options)
        import psycopg

        self.integrity_errors = (psycopg.IntegrityError,)
        self._refused = _refused()
        self._combined = {}
        self.schema = schema
        self.conninfo = None
        self._single = None
        self._pool = None
        self._source = source


class AsyncPostgresStore(AsyncStore):
    """A :class:`~imflow.store.PostgresStore` on ``psycopg_pool.AsyncConnectionPool``.

    Each operation borrows one async connection; the sync store's code runs in a
    greenlet on the loop's thread and awaits each statement (no thread is started for
    the database; a sync key store's rare calls run in the loop's default executor). So
    the tables, the encrypted fields and the checks are exactly the sync store's, and a
    case written by one is read by the other.

    Opening **never changes the schema** (run ``imflow migrate`` first); needs the
    extras ``imflow[postgres,asyncio]``.

    Example (needs a running server)::

        store = await AsyncPostgresStore.open("postgresql://imflow@127.0.0.1/imflow")
        async with store:
            case = await store.load("wt-2025-0042")

    .. versionadded:: 0.2.0
    """

    def __init__(self, store: _BridgedPostgresStore, pool: Any) -> None:
        super().__init__(store)
        self._async_pool = pool

    @property
    def pool(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        """The async pool the store borrows its connections from."""
        pool: psycopg_pool.AsyncConnectionPool[Any] = self._async_pool
        return pool

    @classmethod
    async def open(
        cls,
        conninfo: str | psycopg_pool.AsyncConnectionPool[Any],
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
    ) -> AsyncPostgresStore:
        """Open the store on a connection string (a pool of up to *pool_size*
        connections, closed with the store) or on the host's ``AsyncConnectionPool``
        (never closed by the store). The other parameters are those of
        :class:`~imflow.store.PostgresStore`; the default key store is a
        :class:`~imflow.keys.PostgresKeyStore` of the same database."""
        identifier(schema, "schema")
        own = isinstance(conninfo, str)
        if own and pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if not own and schema is not None:
            raise ValueError(
                "schema= needs a connection string; with a pool of your own, put the"
                " schema on its search_path (the pool's configure= callback)"
            )
        _require_psycopg(True)
        owns_keys = False
        if encrypt and key_store is None:
            keys_conninfo = conninfo if isinstance(conninfo, str) else conninfo.conninfo
            if not isinstance(keys_conninfo, str):
                raise ValueError(
                    "a pool without a connection string: pass key_store= or encrypt=False"
                )
            key_store = await asyncio.to_thread(
                functools.partial(
                    default_key_store,
                    keys_conninfo,
                    master_key_from(master_key),
                    schema=schema,
                    key_schema=key_schema,
                    connect_timeout=connect_timeout,
                )
            )
            owns_keys = True
        try:
            if isinstance(conninfo, str):
                pool: Any = await _open_pool(conninfo, schema, pool_size, connect_timeout)
            else:
                pool = conninfo
        except BaseException:
            if owns_keys and key_store is not None:
                await asyncio.to_thread(key_store.close)
            raise
        keys = None if not encrypt or key_store is None else OffLoopKeys(key_store)
        store = _BridgedPostgresStore(
            AsyncPoolSource(pool, owned=own),
            schema=schema,
            key_store=keys,
            owns_key_store=owns_keys,
            engine=engine,
            snapshot_every=snapshot_every,
            cache_size=cache_size,
            converter=converter,
            purge_timeout=purge_timeout,
        )
        opened = cls(store, pool)
        try:
            await opened.run(store._open_schema, migrate=False)
        except BaseException:
            await opened.aclose()
            raise
        return opened

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the loop's thread; its statements are awaited."""
        return await bridged(fn, *args, **kwargs)


async def _open_pool(
    conninfo: str, schema: str | None, size: int, timeout: int
) -> psycopg_pool.AsyncConnectionPool[Any]:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    # one plain connection first: a refused login fails at once with psycopg's own error
    first = await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, connect_timeout=timeout
    )
    await first.close()

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(f"SET search_path TO {schema}")  # a checked identifier

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "connect_timeout": timeout},
        configure=configure if schema is not None else None,
        open=False,
        name="imflow-async",
    )
    try:
        await pool.open(wait=True, timeout=timeout)
    except BaseException:
        await pool.close()
        raise
    return pool
