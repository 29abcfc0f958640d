"""Private: the async case service and outbox runner: the sync ones, run by an async store."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from imflow.aio._stores import AsyncStore
from imflow.hooks import Hooks
from imflow.outbox import CaseService, DeadLetter, Runner, RunReport

if TYPE_CHECKING:
    from imflow.actors import Actor
    from imflow.case import Case
    from imflow.commands import Command, OpenCase
    from imflow.deadlines import Deadline
    from imflow.engine import Engine
    from imflow.events import Event
    from imflow.kennzahlen import Report, Staffing
    from imflow.reasons import Reason

__all__ = ["DEFAULT_RETRIES", "AsyncCaseService", "AsyncRunner"]

DEFAULT_RETRIES = 3
"""How often :class:`AsyncCaseService` re-loads and re-decides a command that lost a race."""


class AsyncCaseService:
    """:class:`~imflow.outbox.CaseService` for asyncio hosts: the same methods, awaited.

    Each call runs the sync service's code through the async store (see
    :meth:`AsyncStore.run`), so access rules (``by=``), refusals, errors and idempotency
    are exactly the sync service's. A command that loses a race to another writer
    (:class:`~imflow.ConcurrencyConflict` on append) is re-loaded and decided again up
    to *retries* times (default 3); after that the conflict reaches the caller (a web
    host answers 409). With *expected_version* (an HTTP ``If-Match``) nothing is
    retried: the client must reload (412). Hooks are the sync ones of
    :class:`~imflow.Hooks`; they run where the store's code runs (the executor's worker
    for SQLite, the loop's thread for PostgreSQL), so keep them short.

    >>> import asyncio, os, tempfile
    >>> from datetime import date
    >>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
    >>> from imflow.aio import AsyncSQLiteStore
    >>> async def main() -> tuple[int, bool]:
    ...     path = os.path.join(tempfile.mkdtemp(), "cases.db")
    ...     engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
    ...     async with await AsyncSQLiteStore.open(path, engine=engine) as store:
    ...         service = AsyncCaseService(store)
    ...         im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
    ...         await service.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
    ...                                       provider="drk", on=date(2025, 3, 3)), by=im)
    ...         consent = c.RecordConsent(on=date(2025, 3, 3))
    ...         case = await service.handle("wt-1", consent, by=im, idempotency_key="f-1")
    ...         again = await service.handle("wt-1", consent, by=im, idempotency_key="f-1")
    ...         return again.version, again == case
    >>> asyncio.run(main())  # sent twice, recorded once
    (2, True)

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        store: AsyncStore,
        *,
        hooks: Hooks | None = None,
        deliver: bool = True,
        retries: int = DEFAULT_RETRIES,
        **runner_options: Any,
    ) -> None:
        if not isinstance(store, AsyncStore):
            raise TypeError(f"AsyncCaseService needs an async store, not {type(store).__name__}")
        if type(retries) is not int or not 0 <= retries <= 100:
            raise ValueError("retries must be an integer from 0 to 100")
        self.store = store
        self.engine: Engine = store.engine
        self._sync: CaseService[Any] = CaseService(
            store.store, hooks=hooks, deliver=deliver, retries=retries, **runner_options
        )
        self.retries = retries
        self.runner = AsyncRunner(store, runner=self._sync.runner)

    async def open(
        self, command: OpenCase, *, by: Actor, idempotency_key: str | None = None
    ) -> Case:
        """:meth:`imflow.outbox.CaseService.open`."""
        return await self.store.run(
            self._sync.open, command, by=by, idempotency_key=idempotency_key
        )

    async def handle(
        self,
        case_id: str,
        command: Command,
        *,
        by: Actor,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> Case:
        """:meth:`imflow.outbox.CaseService.handle`, retried on a lost race."""
        return await self.store.run(
            self._sync.handle,
            case_id,
            command,
            by=by,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
        )

    async def execute(
        self,
        document: str | bytes,
        *,
        by: Actor,
        case_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        """:meth:`imflow.outbox.CaseService.execute`: a JSON command document."""
        return await self.store.run(
            self._sync.execute, document, by=by, case_id=case_id, idempotency_key=idempotency_key
        )

    async def read(self, case_id: str, *, by: Actor) -> Case:
        """:meth:`imflow.outbox.CaseService.read`."""
        return await self.store.run(self._sync.read, case_id, by=by)

    async def history(self, case_id: str, *, by: Actor) -> tuple[Event, ...]:
        """:meth:`imflow.outbox.CaseService.history`."""
        return await self.store.run(self._sync.history, case_id, by=by)

    async def deadlines(
        self, case_id: str, *, by: Actor, on: date | None = None
    ) -> tuple[Deadline, ...]:
        """:meth:`imflow.outbox.CaseService.deadlines`."""
        return await self.store.run(self._sync.deadlines, case_id, by=by, on=on)

    async def allowed(
        self, case_id: str, *, by: Actor, on: date | None = None
    ) -> dict[str, tuple[Reason, ...]]:
        """:meth:`imflow.outbox.CaseService.allowed`."""
        return await self.store.run(self._sync.allowed, case_id, by=by, on=on)

    async def report(
        self,
        *,
        year: int,
        by: Actor,
        district: str | None = None,
        provider: str | None = None,
        staffing: Staffing | None = None,
    ) -> Report:
        """:meth:`imflow.outbox.CaseService.report`: the key figures."""
        return await self.store.run(
            self._sync.report,
            year=year,
            by=by,
            district=district,
            provider=provider,
            staffing=staffing,
        )

    async def deliver(self, *, limit: int | None = None) -> RunReport:
        """One delivery pass now (see :meth:`AsyncRunner.run_once`)."""
        return await self.runner.run_once(limit=limit)


class AsyncRunner:
    """:class:`~imflow.outbox.Runner` for asyncio hosts: delivers committed events from
    the async store's outbox to sync hooks, driven by the host (a task of its own that
    calls :meth:`run_once` now and then, say).

    The parameters after *store* are those of :class:`~imflow.outbox.Runner`
    (*hooks*, ``clock``, ``max_attempts``, ``backoff``, ``batch_size``); *runner* uses an
    existing sync runner instead (as :class:`AsyncCaseService` does).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        store: AsyncStore,
        hooks: Hooks | None = None,
        *,
        runner: Runner | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(store, AsyncStore):
            raise TypeError(f"AsyncRunner needs an async store, not {type(store).__name__}")
        self.store = store
        self.runner: Runner = runner or Runner(store.store, hooks or Hooks(), **options)

    async def run_once(self, *, limit: int | None = None) -> RunReport:
        """:meth:`imflow.outbox.Runner.run_once`: deliver every due event once."""
        return await self.store.run(self.runner.run_once, limit=limit)

    async def pending(self) -> int:
        """How many committed events still wait for at least one hook."""
        return await self.store.run(self.runner.pending)

    async def dead_letters(self) -> list[DeadLetter]:
        """The deliveries parked after too many failures, oldest first."""
        return await self.store.run(self.runner.dead_letters)

    async def replay_dead_letter(self, letter: DeadLetter) -> bool:
        """:meth:`imflow.outbox.Runner.replay_dead_letter`."""
        return await self.store.run(self.runner.replay_dead_letter, letter)

    async def discard_dead_letter(self, letter: DeadLetter) -> None:
        """:meth:`imflow.outbox.Runner.discard_dead_letter`."""
        await self.store.run(self.runner.discard_dead_letter, letter)
