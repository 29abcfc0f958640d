"""asyncio figures (#14): ``CaseService`` commands per second on a PostgreSQL pool (sync,
threads), on the async store (``imflow.aio``, tasks on one event loop) and on a single
connection (sync, threads, one caller at a time), with their ratios; one run.

Each of 8 callers works on a case of its own (load, decide, append with the case's
version; no hooks). The server is a throw-away one on loopback (``tests/pg.py``);
personal fields are encrypted as in production (a generated master key).

Run it alone (``python benchmarks/bench_aio.py``) or through ``benchmarks/run.py``
(``--only aio``), which calls :func:`run`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import Reporter, quiet, show

from imflow import Actor, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.aio import AsyncCaseService, AsyncPostgresStore
from imflow.keys import MasterKey, PostgresKeyStore
from imflow.outbox import CaseService
from imflow.store import PostgresStore, migrate

__all__ = ["main", "run"]

IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
OPENED = date(2025, 3, 3)
CALLERS, COMMANDS = 8, 300


def _engine() -> Engine:
    return Engine(clock=FrozenClock(datetime(2026, 1, 5, 12, tzinfo=UTC)))


def _opening(case_id: str, n: int) -> c.OpenCase:
    return c.OpenCase(case_id=case_id, person=f"p-{n}", district="08337", provider="drk", on=OPENED)


def _contact(i: int) -> c.RecordContact:
    return c.RecordContact(on=OPENED + timedelta(days=i // 10), minutes=30)


def _sync_rate(store: PostgresStore, tag: str) -> float:
    """Commands per second of CALLERS threads, each on a case of its own (opened first,
    one after the other: PostgresKeyStore's one connection serves one thread at a time)."""
    service = CaseService(store, deliver=False)
    for n in range(CALLERS):
        service.open(_opening(f"{tag}-{n}", n), by=IM)
    failures: list[BaseException] = []

    def caller(n: int) -> None:
        try:
            for i in range(COMMANDS):
                service.handle(f"{tag}-{n}", _contact(i), by=IM)
        except BaseException as exc:  # reported below, never hidden as a figure
            failures.append(exc)

    workers = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return CALLERS * COMMANDS / elapsed


async def _async_rate(dsn: str, schema: str) -> float:
    store = await AsyncPostgresStore.open(dsn, schema=schema, engine=_engine(), pool_size=CALLERS)
    async with store:
        service = AsyncCaseService(store, deliver=False)

        for n in range(CALLERS):
            await service.open(_opening(f"a-{n}", n), by=IM)

        async def caller(n: int) -> None:
            for i in range(COMMANDS):
                await service.handle(f"a-{n}", _contact(i), by=IM)

        began = time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(CALLERS)))
        return CALLERS * COMMANDS / (time.perf_counter() - began)


def run(report: Reporter) -> None:
    """Measure and hand every figure to *report*."""
    quiet()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import psycopg
    from tests.pg import fresh_schema, server_dsn

    os.environ.setdefault("IMFLOW_MASTER_KEY", MasterKey.generate().text())
    with server_dsn() as dsn:
        schema = fresh_schema()
        migrate(dsn, schema=schema)
        pool = PostgresStore(dsn, schema=schema, engine=_engine(), pool_size=CALLERS)
        try:
            pooled = _sync_rate(pool, "p")
        finally:
            pool.close()
        asynchronous = asyncio.run(_async_rate(dsn, schema))
        single_conn = psycopg.connect(dsn, autocommit=True)
        single_conn.execute(f"SET search_path TO {schema}")
        keys = PostgresKeyStore(dsn, master_key=MasterKey.from_env(), schema=f"{schema}_keys")
        single = PostgresStore(single_conn, engine=_engine(), key_store=keys)
        try:
            one = _sync_rate(single, "s")
        finally:
            single.close()
            keys.close()
            single_conn.close()
    report(f"CaseService commands/s, PostgreSQL pool of {CALLERS}, {CALLERS} threads", pooled, "/s")
    report(f"CaseService commands/s, AsyncPostgresStore, {CALLERS} tasks", asynchronous, "/s")
    report(f"CaseService commands/s, one connection, {CALLERS} threads", one, "/s")
    report("async store ÷ sync pool", asynchronous / pooled, "×")
    report("async store ÷ one connection", asynchronous / one, "×")
    report("sync pool ÷ one connection", pooled / one, "×")


def main() -> None:
    run(show)


if __name__ == "__main__":
    main()
