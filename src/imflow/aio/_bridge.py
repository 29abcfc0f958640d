"""Private: the sync SQL store's code, run over psycopg's *async* connections.

:class:`imflow.aio.AsyncPostgresStore` runs the very code of
:class:`~imflow.store.PostgresStore` (its SQL, its sealing of personal fields, its
trust checks) inside a greenlet on the event loop's thread. Where that code runs a
statement, :func:`wait_for` suspends the greenlet, the calling task awaits psycopg's
coroutine, and the greenlet resumes with its result: the loop serves other tasks
meanwhile, and no thread is started. (SQLAlchemy's asyncio layer works the same way.)

- :func:`bridged` runs a sync callable that way, from a coroutine;
- :class:`BridgedConnection` shows a ``psycopg.AsyncConnection`` as the sync connection
  the store's statements expect (``execute``, ``cursor``, ``transaction``);
- :class:`AsyncPoolSource` lends one pooled async connection per store operation;
- :class:`OffLoopKeys` runs a sync key store's I/O in the loop's default executor.

greenlet is imported by the functions that need it (the extra ``imflow[asyncio]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

from imflow._keys import KeyKind, KeyStore, Purge
from imflow.store._session import Session

__all__ = ["AsyncPoolSource", "BridgedConnection", "OffLoopKeys", "bridged", "wait_for"]

T = TypeVar("T")

_OUTSIDE = "an async store's statement ran outside its event loop (call it with await)"


@functools.cache  # the Worker class, made once on first use (a constant, not state)
def _worker_type() -> Any:
    try:
        import greenlet
    except ImportError as exc:  # pragma: no cover - the test environment has the extra
        raise ImportError(
            "AsyncPostgresStore needs greenlet: pip install 'imflow[asyncio,postgres]'"
        ) from exc

    class Worker(greenlet.greenlet):  # type: ignore[misc]
        """A greenlet that runs one store call and knows the task that drives it."""

        driver: Any

    return Worker, greenlet.getcurrent


def wait_for(awaitable: Awaitable[T]) -> T:
    """Inside :func:`bridged`: the result of *awaitable*, awaited by the calling task."""
    worker_type, current = _worker_type()
    me = current()
    if not isinstance(me, worker_type):
        close = getattr(awaitable, "close", None)
        if callable(close):  # a coroutine that will never run: say so quietly
            close()
        raise RuntimeError(_OUTSIDE)
    result: T = me.driver.switch(awaitable)
    return result


async def bridged(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``fn(*args, **kwargs)``; each :func:`wait_for` inside it is awaited here.

    The call sees a copy of the calling task's context variables (as a thread started
    by ``asyncio.to_thread`` would); exceptions (also a cancellation) reach it at the
    statement it waits for, so its ``with`` blocks roll back and give connections back.
    """
    worker_type, current = _worker_type()
    worker = worker_type(fn, current())
    worker.driver = current()
    worker.gr_context = contextvars.copy_context()
    pending = worker.switch(*args, **kwargs)
    while not worker.dead:
        try:
            value = await pending
        except BaseException as exc:  # also CancelledError: let the call clean up
            pending = worker.throw(exc)
        else:
            pending = worker.switch(value)
    result: T = pending
    return result


@contextlib.contextmanager
def entered(manager: Any) -> Iterator[Any]:
    """An async context manager (a pool's ``connection()``, a ``transaction()``), used
    from bridged code as a sync one."""
    value = wait_for(manager.__aenter__())
    try:
        yield value
    except BaseException as exc:
        if not wait_for(manager.__aexit__(type(exc), exc, exc.__traceback__)):
            raise
    else:
        wait_for(manager.__aexit__(None, None, None))


class _Result:
    """The outcome of one statement, fetched at once (what the store reads of a cursor)."""

    def __init__(self, rows: list[Any], rowcount: int, description: Any) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.description = description

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int) -> list[Any]:
        batch, self._rows = self._rows[:size], self._rows[size:]
        return batch


async def _execute(aconn: Any, query: Any, params: Any) -> _Result:
    cur = await aconn.execute(query, params)
    rows = await cur.fetchall() if cur.description is not None else []
    return _Result(rows, cur.rowcount, cur.description)


async def _execute_many(aconn: Any, query: Any, rows: Sequence[Any]) -> None:
    async with aconn.cursor() as cur:
        await cur.executemany(query, rows)


class _Cursor:
    """A cursor over a bridged connection: each ``execute`` fetches its rows at once."""

    def __init__(self, aconn: Any) -> None:
        self._aconn = aconn
        self._result = _Result([], -1, None)

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def execute(self, query: Any, params: Any = None) -> _Cursor:
        self._result = wait_for(_execute(self._aconn, query, params))
        return self

    def executemany(self, query: Any, rows: Sequence[Any]) -> None:
        wait_for(_execute_many(self._aconn, query, rows))

    @property
    def rowcount(self) -> int:
        return self._result.rowcount

    @property
    def description(self) -> Any:
        return self._result.description

    def fetchall(self) -> list[Any]:
        return self._result.fetchall()

    def fetchone(self) -> Any:
        return self._result.fetchone()

    def fetchmany(self, size: int) -> list[Any]:
        return self._result.fetchmany(size)

    def close(self) -> None:
        self._result = _Result([], -1, None)


class BridgedConnection:
    """A ``psycopg.AsyncConnection`` as the sync connection the store's code expects.

    Only usable inside :func:`bridged`; ``info`` is the async connection's own.
    """

    def __init__(self, aconn: Any) -> None:
        self.aconn = aconn
        self.info = aconn.info

    def execute(self, query: Any, params: Any = None) -> _Result:
        return wait_for(_execute(self.aconn, query, params))

    def cursor(self) -> _Cursor:
        return _Cursor(self.aconn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with entered(self.aconn.transaction()):
            yield

    def commit(self) -> None:
        wait_for(self.aconn.commit())

    def rollback(self) -> None:
        wait_for(self.aconn.rollback())


class AsyncPoolSource:
    """A ``psycopg_pool.AsyncConnectionPool``: one borrowed connection per operation."""

    def __init__(self, pool: Any, *, owned: bool) -> None:
        self.pool = pool
        self.owned = owned

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with entered(self.pool.connection()) as aconn:
            yield Session(BridgedConnection(aconn))

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        with entered(self.pool.connection()) as aconn:
            yield BridgedConnection(aconn)

    def close(self) -> None:
        if self.owned:
            wait_for(self.pool.close())


class OffLoopKeys:
    """A sync :class:`~imflow.keys.KeyStore` whose I/O runs in the event loop's default
    executor (``asyncio.to_thread``), so that fetching a data key never blocks the loop.

    ``key_id`` is a keyed hash without I/O and runs where it is called. One call at a
    time reaches the key store (a :class:`~imflow.keys.PostgresKeyStore` has one
    connection, which two threads' transactions must not share).
    """

    def __init__(self, inner: KeyStore) -> None:
        self.inner = inner
        self._lock = asyncio.Lock()

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return wait_for(self._serialised(fn, *args, **kwargs))

    async def _serialised(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    def __repr__(self) -> str:
        return f"OffLoopKeys({self.inner!r})"

    def key_id(self, kind: KeyKind, name: str) -> str:
        return self.inner.key_id(kind, name)

    def keys(self, key_ids: Collection[str], *, create: bool = False) -> dict[str, bytes]:
        return self._call(self.inner.keys, list(key_ids), create=create)

    def delete(self, key_ids: Collection[str]) -> int:
        return self._call(self.inner.delete, list(key_ids))

    def purge(self, *, timeout: float = 5.0) -> Purge:
        return self._call(self.inner.purge, timeout=timeout)

    def close(self) -> None:
        self._call(self.inner.close)
