"""imflow for asyncio hosts: async stores, an async case service and an async outbox runner.

The engine stays synchronous (it does no I/O); what waits for a database is awaited:

- :class:`AsyncSQLiteStore`: a :class:`~imflow.store.SQLiteStore` whose calls run in the
  event loop's executor (SQLite has no asynchronous driver);
- :class:`AsyncPostgresStore`: a :class:`~imflow.store.PostgresStore` on
  ``psycopg_pool.AsyncConnectionPool`` (a connection string, or the host's pool);
- :class:`AsyncCaseService`: :class:`~imflow.outbox.CaseService`'s methods, awaited, with
  bounded retries when a command loses a race (then
  :class:`~imflow.ConcurrencyConflict`: HTTP 409);
- :class:`AsyncRunner`: :class:`~imflow.outbox.Runner`'s methods, awaited.

Every one of them runs the sync class's own code, so the tables, the encrypted fields,
the errors, the access rules and the idempotency keys are the same: a case written
through the async API is read by the sync one and the other way round. See the how-to
"asyncio hosts".

>>> import asyncio, os, tempfile
>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> async def main() -> str:
...     engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
...     path = os.path.join(tempfile.mkdtemp(), "cases.db")
...     async with await AsyncSQLiteStore.open(path, engine=engine) as store:
...         service = AsyncCaseService(store)
...         im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
...         case = await service.open(c.OpenCase(case_id="wt-1", person="p-1",
...             district="08337", provider="drk", on=date(2025, 3, 3)), by=im)
...         return str(case.phase)
>>> asyncio.run(main())
'intake'

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from imflow.aio._service import AsyncCaseService, AsyncRunner
from imflow.aio._stores import AsyncPostgresStore, AsyncSQLiteStore, AsyncStore

__all__ = [
    "AsyncCaseService",
    "AsyncPostgresStore",
    "AsyncRunner",
    "AsyncSQLiteStore",
    "AsyncStore",
]
