"""imflow.aio against real storage: a SQLite file and the PostgreSQL server on loopback.

Each test opens the async store and the sync store on the *same* storage, so what one
writes the other must read (same tables, same sealed personal fields, same checks).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import (
    Actor,
    CaseNotFound,
    ConcurrencyConflict,
    Forbidden,
    Hooks,
    IdempotencyKeyReused,
    InvalidHistory,
    Rejected,
    Role,
)
from imflow import commands as c
from imflow.aio import AsyncCaseService, AsyncPostgresStore, AsyncRunner, AsyncSQLiteStore
from imflow.aio._bridge import wait_for
from imflow.aio._stores import AsyncStore
from imflow.events import ConsentRecorded, ContactRecorded
from imflow.outbox import CaseService
from imflow.store import PostgresStore, SQLiteStore
from imflow.testing import Trajectory, trajectories
from tests.stores import DAY, far_future_engine, manager, migrated_schema, open_case, working_case

pytestmark = pytest.mark.anyio

KINDS = ("sqlite", "postgres")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@attrs.define
class Storage:
    """One SQLite file or one PostgreSQL schema, opened async and sync."""

    kind: str
    path: Path
    dsn: str | None
    schema: str | None

    async def async_store(self, **options: Any) -> AsyncStore:
        engine = options.pop("engine", None) or far_future_engine()
        if self.kind == "sqlite":
            return await AsyncSQLiteStore.open(self.path, engine=engine, **options)
        assert self.dsn is not None
        return await AsyncPostgresStore.open(self.dsn, schema=self.schema, engine=engine, **options)

    def sync_store(self) -> SQLiteStore | PostgresStore:
        if self.kind == "sqlite":
            return SQLiteStore(self.path, engine=far_future_engine())
        assert self.dsn is not None
        return PostgresStore(self.dsn, schema=self.schema, engine=far_future_engine())

    def raw_text(self) -> str:
        """Every stored payload as text, read outside any store."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                rows = conn.execute("SELECT payload FROM events").fetchall()
        else:
            assert self.dsn is not None
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute(f"SET search_path TO {self.schema}")
                rows = conn.execute("SELECT payload::text FROM events").fetchall()
        return "\n".join(str(r[0]) for r in rows)


def _storage(kind: str, tmp: Path, request: pytest.FixtureRequest) -> Storage:
    if kind == "sqlite":
        return Storage(kind, tmp / "cases.db", None, None)
    dsn: str = request.getfixturevalue("pg_dsn")
    return Storage(kind, tmp, dsn, migrated_schema(dsn))


@pytest.fixture(params=KINDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    return _storage(request.param, tmp_path, request)


@pytest.fixture
async def astore(storage: Storage) -> AsyncIterator[AsyncStore]:
    store = await storage.async_store()
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
def sync(storage: Storage) -> Iterator[SQLiteStore | PostgresStore]:
    with storage.sync_store() as store:
        yield store


async def test_what_the_async_store_writes_the_sync_store_reads_and_back(
    astore: AsyncStore, sync: SQLiteStore | PostgresStore, storage: Storage
) -> None:
    case = working_case(far_future_engine(), "wt-a", person="p-SECRET-1")
    await astore.append("wt-a", case.events, expected_version=0, idempotency_key="k-a")
    assert sync.load("wt-a") == case
    assert sync.events("wt-a") == case.events
    other = working_case(far_future_engine(), "wt-b")
    sync.append("wt-b", other.events, expected_version=0)
    assert await astore.load("wt-b") == other
    assert await astore.events("wt-b") == other.events
    assert [x.case_id async for x in astore.iter_cases(district="08337")] == ["wt-a", "wt-b"]
    assert [x.case_id async for x in astore.due_cases(date(2099, 1, 1))] == ["wt-a", "wt-b"]
    assert "p-SECRET-1" not in storage.raw_text()  # sealed at rest, as the sync store seals
    assert "lives with an aunt" not in storage.raw_text()
    assert await astore.schema_version() == sync.schema_version


async def test_the_async_store_refuses_what_the_sync_store_refuses(astore: AsyncStore) -> None:
    engine = astore.engine
    case = open_case(engine, "wt-1")
    await astore.append("wt-1", case.events, expected_version=0, idempotency_key="form-1")
    # the same key, the same batch: the stored result, nothing written twice
    again = await astore.append("wt-1", case.events, expected_version=0, idempotency_key="form-1")
    assert again.replayed and again.version == 1
    with pytest.raises(ConcurrencyConflict):
        await astore.append("wt-1", case.events, expected_version=0)
    other = open_case(engine, "wt-2")
    with pytest.raises(IdempotencyKeyReused):  # the key belongs to another batch
        await astore.append("wt-2", other.events, expected_version=0, idempotency_key="form-1")
    # a forged event the engine could not have recorded: admit() re-decides it
    forged = attrs.evolve(case.events[0], seq=2)
    with pytest.raises(InvalidHistory):
        await astore.append("wt-1", [forged], expected_version=1)
    with pytest.raises(CaseNotFound):
        await astore.load("wt-missing")
    with pytest.raises(CaseNotFound):
        await astore.load("not an id\x00")
    # keys live in their tenant: another provider's manager finds nothing, a colleague
    # of the same tenant finds a key that is not theirs
    assert await astore.recall("form-1", by=manager(provider="awo")) is None
    with pytest.raises(IdempotencyKeyReused):
        await astore.recall(
            "form-1", by=Actor("im-2", Role.MANAGER, provider="drk", district="08337")
        )
    assert (await astore.load("wt-1")).version == 1


async def test_the_service_keeps_the_access_rules_and_idempotency(astore: AsyncStore) -> None:
    service = AsyncCaseService(astore)
    im = manager()
    opening = c.OpenCase(case_id="wt-1", person="p-1", district="08337", provider="drk", on=DAY)
    first = await service.open(opening, by=im, idempotency_key="o-1")
    assert await service.open(opening, by=im, idempotency_key="o-1") == first
    consent = c.RecordConsent(on=DAY)
    case = await service.handle("wt-1", consent, by=im, idempotency_key="h-1")
    assert await service.handle("wt-1", consent, by=im, idempotency_key="h-1") == case
    with pytest.raises(IdempotencyKeyReused):
        await service.handle("wt-1", c.StartAssessment(on=DAY), by=im, idempotency_key="h-1")
    with pytest.raises(Forbidden):  # another provider's manager may not even read it
        await service.handle("wt-1", c.StartAssessment(on=DAY), by=manager(provider="awo"))
    with pytest.raises(Forbidden):
        await service.read("wt-1", by=manager(provider="awo"))
    with pytest.raises(Rejected):  # no plan to agree in intake: the engine refuses
        await service.handle("wt-1", c.AgreePlan(on=DAY), by=im)
    with pytest.raises(ConcurrencyConflict):  # an If-Match of an older version
        await service.handle("wt-1", c.StartAssessment(on=DAY), by=im, expected_version=1)
    assert (await service.read("wt-1", by=im)).version == 2
    assert len(await service.history("wt-1", by=im)) == 2
    assert (await service.allowed("wt-1", by=im, on=DAY))["start_assessment"] == ()
    assert await service.deadlines("wt-1", by=im, on=DAY) is not None
    document = '{"type": "start_assessment", "on": "2025-03-03"}'
    assert (await service.execute(document, by=im, case_id="wt-1")).version == 3
    report = await service.report(year=2025, by=im)
    assert report is not None


async def test_fifty_concurrent_commands_each_apply_once_or_conflict(astore: AsyncStore) -> None:
    """50 tasks race on 5 cases; each command is recorded once or gets a conflict after
    its bounded retries; versions stay contiguous, none is lost or doubled."""
    service = AsyncCaseService(astore, retries=2)
    im = manager()
    for n in range(5):
        await service.open(
            c.OpenCase(
                case_id=f"wt-{n}", person=f"p-{n}", district="08337", provider="drk", on=DAY
            ),
            by=im,
        )

    async def client(i: int) -> str:
        command = c.RecordContact(on=DAY, minutes=10 + i, topics=["language"])
        try:
            await service.handle(f"wt-{i % 5}", command, by=im, idempotency_key=f"req-{i}")
        except ConcurrencyConflict:
            return "conflict"
        # a retry of the same request (a client that lost the answer) changes nothing
        await service.handle(f"wt-{i % 5}", command, by=im, idempotency_key=f"req-{i}")
        return "applied"

    outcomes = await asyncio.gather(*(client(i) for i in range(50)))
    applied = [i for i, o in enumerate(outcomes) if o == "applied"]
    recorded: list[int] = []
    for n in range(5):
        events = await astore.events(f"wt-{n}")
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        recorded += [e.minutes - 10 for e in events if isinstance(e, ContactRecorded)]
    assert sorted(recorded) == applied  # every applied command once, no conflicted one
    assert len(applied) >= 5


async def test_cases_opened_concurrently_each_get_their_keys(
    astore: AsyncStore, sync: SQLiteStore | PostgresStore
) -> None:
    """20 new cases at once: each makes its data keys in the key store at the same time."""
    service = AsyncCaseService(astore)

    async def opening(n: int) -> int:
        command = c.OpenCase(
            case_id=f"wt-{n}", person=f"p-{n}", district="08337", provider="drk", on=DAY
        )
        return (await service.open(command, by=manager())).version

    assert await asyncio.gather(*(opening(n) for n in range(20))) == [1] * 20
    assert [sync.load(f"wt-{n}").person for n in range(20)] == [f"p-{n}" for n in range(20)]


async def test_the_async_runner_delivers_each_committed_event_once(astore: AsyncStore) -> None:
    hooks = Hooks()
    seen: list[tuple[str, int]] = []

    @hooks.on(ConsentRecorded)
    def note_consent(event: ConsentRecorded, case: object) -> None:
        seen.append((event.case_id, event.seq))

    service = AsyncCaseService(astore, hooks=hooks, deliver=False)
    im = manager()
    await service.open(
        c.OpenCase(case_id="wt-1", person="p-1", district="08337", provider="drk", on=DAY), by=im
    )
    await service.handle("wt-1", c.RecordConsent(on=DAY), by=im)
    runner = AsyncRunner(astore, hooks)
    assert await runner.pending() == 2
    report = await runner.run_once()
    assert report.delivered == 1 and seen == [("wt-1", 2)]
    assert (await runner.run_once()).delivered == 0 and seen == [("wt-1", 2)]
    assert await runner.pending() == 0 and await runner.dead_letters() == []


async def test_a_cancelled_postgres_call_gives_its_connection_back(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    storage = _storage("postgres", tmp_path, request)
    async with await storage.async_store(pool_size=1) as store:
        case = working_case(store.engine, "wt-1")
        task = asyncio.ensure_future(store.append("wt-1", case.events, expected_version=0))
        await asyncio.sleep(0)  # it has started and waits for the database
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the only connection is back in the pool; the write happened wholly or not at all
        try:
            stored = await store.load("wt-1")
        except CaseNotFound:
            await store.append("wt-1", case.events, expected_version=0)
            stored = await store.load("wt-1")
        assert stored == case


async def test_bridged_statements_refuse_to_run_outside_the_loop(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    storage = _storage("postgres", tmp_path, request)
    async with await storage.async_store() as store:
        with pytest.raises(RuntimeError, match="outside its event loop"):
            store.store.load("wt-1")  # the sync face of an async store, called directly

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError):
        wait_for(nothing())


async def test_a_closed_async_store_is_closed(astore: AsyncStore) -> None:
    await astore.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await astore.load("wt-1")


def test_wrong_arguments_are_refused_before_anything_opens() -> None:
    with pytest.raises(TypeError):
        AsyncSQLiteStore(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AsyncCaseService(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pool_size"):
        asyncio.run(AsyncPostgresStore.open("postgresql://x@127.0.0.1/x", pool_size=0))
    with pytest.raises(ValueError, match="schema"):
        asyncio.run(AsyncPostgresStore.open("postgresql://x@127.0.0.1/x", schema="bad name"))


# -- the async stores give the same cases and events as the sync ones ----------------------


def _steps(t: Trajectory, case_id: str) -> list[tuple[c.Command, Any]]:
    return [(attrs.evolve(t.opening, case_id=case_id), t.start.opened.actor)] + [
        (s.command, s.by) for s in t.steps
    ]


async def _replay_async(storage: Storage, walks: list[Trajectory], tag: str) -> dict[str, Any]:
    async with await storage.async_store() as store:
        service = AsyncCaseService(store)
        for n, t in enumerate(walks):
            case_id = f"wt-{tag}-{n}"
            for command, by in _steps(t, case_id):
                await service.handle(case_id, command, by=by)
        return {
            f"wt-{tag}-{n}": (
                await store.load(f"wt-{tag}-{n}"),
                await store.events(f"wt-{tag}-{n}"),
            )
            for n in range(len(walks))
        }


def _replay_sync(storage: Storage, walks: list[Trajectory], tag: str) -> dict[str, Any]:
    with storage.sync_store() as store:
        service = CaseService(store)
        for n, t in enumerate(walks):
            case_id = f"wt-{tag}-{n}"
            for command, by in _steps(t, case_id):
                service.handle(case_id, command, by=by)
        return {
            f"wt-{tag}-{n}": (store.load(f"wt-{tag}-{n}"), store.events(f"wt-{tag}-{n}"))
            for n in range(len(walks))
        }


_counter = iter(range(10**9))


def _same_cases(make: Callable[[], Storage]) -> None:
    @settings(
        max_examples=5,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(trajectories(max_steps=15), min_size=1, max_size=3))
    def check(walks: list[Trajectory]) -> None:
        storage, other = make(), make()
        tag = str(next(_counter))
        by_async = asyncio.run(_replay_async(storage, walks, tag))
        by_sync = _replay_sync(other, walks, tag)
        assert by_async == by_sync
        for case_id, (case, events) in by_async.items():
            assert case.events == events and case.case_id == case_id
        # and the sync store reads what the async one wrote, as written
        with storage.sync_store() as reader:
            for case_id, (case, events) in by_async.items():
                assert reader.load(case_id) == case
                assert reader.events(case_id) == events

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_and_sync_stores_give_the_same_cases_for_random_trajectories(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _same_cases(lambda: _storage(kind, tmp_path_factory.mktemp("walk"), request))
