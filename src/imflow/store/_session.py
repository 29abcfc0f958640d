"""Private: where a SQL store's statements run.

A store does each operation (an append, a load, an outbox pass) in one **session**: a
connection borrowed for that operation from the store's **connection source**, or the
host's connection of a **unit of work**. The session is bound to the running context
(a :class:`contextvars.ContextVar`, so threads, and later asyncio tasks, each have
their own), and the store's statements run on whatever connection is bound:

- :class:`SingleConnection`: one connection (the SQLite file's, or one the host gave),
  used by one caller at a time;
- :class:`PooledConnections`: a ``psycopg_pool.ConnectionPool``; concurrent callers
  each borrow their own connection and never wait for each other's lock;
- a unit of work (:class:`UnitOfWork`): the host's connection, inside the host's
  transaction; nothing it writes is cached before that transaction commits.

An async variant keeps this shape: an async source whose ``session()`` is an async
context manager (``psycopg_pool.AsyncConnectionPool.connection()``), the same
``ContextVar`` binding (per task), and the same SQL and folding.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import attrs

from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.events import Event
from imflow.store._base import AppendResult, Delivery, OutboxEntry

if TYPE_CHECKING:
    from imflow.engine import Engine
    from imflow.store._sql import SqlStore

__all__ = ["UnitOfWork"]


@attrs.define(eq=False)
class Session:
    """One operation's (or one unit of work's) connection.

    ``joined``: the statements run inside a transaction the store did not open (the
    host's), so the store nests its writes in savepoints and caches nothing before
    that transaction commits. ``on_commit`` runs a callback once the host's
    transaction commits, where the host's framework can tell (Django); ``pending``
    holds the cases this session wrote or loaded meanwhile. ``pipeline``: the psycopg
    pipeline the running write sends its statements through, ``checked``: whether the
    running append's conditional write of the case row is checked by the server as the
    pipeline ends; ``keys``: the data keys the running load read with its rows, ``None``
    outside it (all three PostgreSQL only); ``facts``: the report-facts rows the loads
    of a unit of work read (``case id: (version, rows)``, see
    :class:`~imflow.store._summary.FactsMemo`), kept with
    it, not in the store, since the host may roll them back.
    ``deferred``: the writes of the running PostgreSQL append, gathered to be sent as
    one statement (``None`` outside it).
    """

    conn: Any
    joined: bool = False
    on_commit: Callable[[Callable[[], None]], None] | None = None
    pending: dict[str, Case] = attrs.Factory(dict)
    pipeline: Any = None
    checked: bool = False
    keys: dict[str, bytes | None] | None = None
    facts: dict[str, tuple[int, list[Any]]] = attrs.Factory(dict)
    deferred: list[tuple[str, Any]] | None = None


class ConnectionSource(Protocol):
    """Where a store gets the connection for one operation."""

    def session(self) -> contextlib.AbstractContextManager[Session]:
        """A session for one operation (borrowed, and given back afterwards)."""
        ...

    def reading(self) -> contextlib.AbstractContextManager[Any]:
        """A DB-API connection for read-only queries (the key figures)."""
        ...

    def close(self) -> None:
        """Release what the source owns (never the host's pool or connection)."""
        ...


class SingleConnection:
    """One connection, used by one caller at a time (behind a lock).

    *joined* tells whether the connection is inside a transaction the store did not
    open (a host's connection with its own transaction open); *settle* ends a
    transaction an operation left open on it (a psycopg connection outside autocommit
    starts one for every read); *owned*: the store opened the connection and closes it.
    """

    def __init__(
        self,
        conn: Any,
        *,
        owned: bool,
        joined: Callable[[Any], bool],
        settle: Callable[[Any], None] | None = None,
    ) -> None:
        self.conn = conn
        self.owned = owned
        self._joined = joined
        self._settle = settle
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._lock:
            joined = self._joined(self.conn)
            try:
                yield Session(self.conn, joined=joined)
            finally:
                if not joined and self._settle is not None:
                    # a connection outside autocommit opened a transaction for our reads:
                    # end it, so the next operation does not take it for the host's
                    self._settle(self.conn)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        with self._lock:
            yield self.conn

    def close(self) -> None:
        with self._lock:
            if self.owned:
                self.conn.close()


class PooledConnections:
    """A ``psycopg_pool.ConnectionPool``: one borrowed connection per operation."""

    def __init__(self, pool: Any, *, owned: bool) -> None:
        self.pool = pool
        self.owned = owned

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self.pool.connection() as conn:
            yield Session(conn)

    def reading(self) -> contextlib.AbstractContextManager[Any]:
        cm: contextlib.AbstractContextManager[Any] = self.pool.connection()
        return cm

    def close(self) -> None:
        if self.owned:
            self.pool.close()


class UnitOfWork:
    """A store's operations on the host's connection, inside the host's transaction.

    Made by :meth:`SQLiteStore.unit_of_work` / :meth:`PostgresStore.unit_of_work`; it
    is a :class:`~imflow.store.Store` itself, so a :class:`~imflow.outbox.CaseService`,
    :func:`imflow.deadlines.sweep` or :func:`imflow.kennzahlen.report` can run on it.
    Every write (events, outbox rows, person index, idempotency key) commits or rolls
    back with the host's own rows. Cases it writes are not cached by the store before
    its transaction committed. Deliver hooks after the commit, through a runner over
    the store (``CaseService.deliver()``), never inside the transaction.

    .. versionadded:: 0.2.0
    """

    def __init__(self, store: SqlStore, session: Session) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.connection: Any = session.conn
        self._session = session

    def _bound(self) -> contextlib.AbstractContextManager[Session]:
        return self.store._binding(self._session)

    def append(
        self,
        case_id: str,
        events: Iterable[Event],
        *,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """:meth:`Store.append` inside the host's transaction."""
        with self._bound():
            return self.store.append(
                case_id, events, expected_version=expected_version, idempotency_key=idempotency_key
            )

    def recall(self, idempotency_key: str, *, by: Actor) -> AppendResult | None:
        """:meth:`Store.recall`, seeing the host transaction's own writes."""
        with self._bound():
            return self.store.recall(idempotency_key, by=by)

    def load(self, case_id: str) -> Case:
        """:meth:`Store.load`, seeing the host transaction's own writes."""
        with self._bound():
            return self.store.load(case_id)

    def events(self, case_id: str) -> tuple[Event, ...]:
        """:meth:`Store.events`, seeing the host transaction's own writes."""
        with self._bound():
            return self.store.events(case_id)

    def _lazy(self, make: Callable[[], Iterator[Case]]) -> Iterator[Case]:
        with self._bound():
            found = make()
        while True:
            with self._bound():
                case = next(found, None)
            if case is None:
                return
            yield case

    def iter_cases(
        self,
        *,
        district: str | None = None,
        provider: str | None = None,
        phase: str | None = None,
        period_end_before: date | None = None,
        open_only: bool = False,
    ) -> Iterator[Case]:
        """:meth:`Store.iter_cases` on the host's connection."""
        return self._lazy(
            lambda: self.store.iter_cases(
                district=district,
                provider=provider,
                phase=phase,
                period_end_before=period_end_before,
                open_only=open_only,
            )
        )

    def due_cases(self, on: date) -> Iterator[Case]:
        """:meth:`Store.due_cases` on the host's connection."""
        return self._lazy(lambda: self.store.due_cases(on))

    def erase_person(self, person_ref: str, *, on: date, by: Actor = SYSTEM) -> tuple[str, ...]:
        """:meth:`Store.erase_person` inside the host's transaction."""
        with self._bound():
            return self.store.erase_person(person_ref, on=on, by=by)

    @property
    def outbox(self) -> BoundOutbox:
        """The outbox as the host's transaction sees it (deliver after the commit)."""
        return BoundOutbox(self)

    @property
    def schema_version(self) -> int:
        """The database's schema version, read on the host's connection."""
        with self._bound():
            return self.store.schema_version

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """The host's connection, for the key figures (inside the host's transaction)."""
        yield self.connection

    def close(self) -> None:
        """Nothing to release: the connection and its transaction are the host's."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BoundOutbox:
    """A store's outbox on a unit of work's connection."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def pending(self, *, after: int, limit: int) -> list[OutboxEntry]:
        with self._uow._bound():
            return self._uow.store.outbox.pending(after=after, limit=limit)

    def deliveries(self, entries: Any) -> dict[tuple[int, str], Delivery]:
        with self._uow._bound():
            return self._uow.store.outbox.deliveries(entries)

    def record(self, entry: OutboxEntry, deliveries: Any, *, done: bool) -> None:
        with self._uow._bound():
            self._uow.store.outbox.record(entry, deliveries, done=done)

    def dead_letters(self) -> list[Delivery]:
        with self._uow._bound():
            return self._uow.store.outbox.dead_letters()

    def entry(self, entry_id: int) -> OutboxEntry | None:
        with self._uow._bound():
            return self._uow.store.outbox.entry(entry_id)

    def count_pending(self) -> int:
        with self._uow._bound():
            return self._uow.store.outbox.count_pending()
