"""Embedding figures (#14): a pooled PostgreSQL store beside one connection, and what a
log call costs a host that configured nothing.

- ``CaseService`` commands per second (load, decide, append with the case's version; no
  hooks) by 1, 4 and 8 threads, each on cases of its own, against a PostgreSQL store on
  one connection (``PostgresStore(psycopg.Connection)``, today's behaviour: one caller
  at a time) and on its own pool (``PostgresStore(conninfo, pool_size=8)``); the SQLite
  file store beside them. The server is a throw-away one on loopback (``tests/pg.py``).
- Opening a case in a fresh interpreter with nothing configured (imflow stays silent)
  and with structlog configured to print every INFO line (what an unconfigured structlog
  did before, here into ``/dev/null``).

Run it alone (``python benchmarks/bench_embed.py``) or through ``benchmarks/run.py``
(``--only embed``), which calls :func:`run`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import Reporter, quiet, show

from imflow import Actor, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.keys import MasterKey, PostgresKeyStore
from imflow.outbox import CaseService
from imflow.store import PostgresStore, SQLiteStore, Store, migrate

__all__ = ["main", "run"]

IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
OPENED = date(2025, 3, 3)
MASTER = MasterKey.generate()  # a PostgreSQL store needs its host's key
COMMANDS_PER_THREAD = 300

OPEN_CASE = """
import timeit
from datetime import date
from imflow import Actor, Engine, FrozenClock, Role, commands as c
engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
cmd = c.OpenCase(case_id="wt-1", person="p-1", district="08337", provider="drk",
                 on=date(2025, 3, 3))
best = min(timeit.repeat(lambda: engine.open(cmd, by=im), number=20000, repeat=5))
print(best / 20000 * 1e6)
"""
PRINTING_STRUCTLOG = """
import os, structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(open(os.devnull, "w")))
"""


def _engine() -> Engine:
    return Engine(clock=FrozenClock(datetime(2026, 1, 5, 12, tzinfo=UTC)))


def _commands_per_second(store: Store, threads: int) -> float:
    """Commands per second of *threads* callers, each on its own case."""
    service = CaseService(store, deliver=False)
    start = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def caller(n: int) -> None:
        case_id = f"b-{threads}-{n}-{id(store)}"
        try:
            service.open(
                c.OpenCase(
                    case_id=case_id, person=f"p-{n}", district="08337", provider="drk", on=OPENED
                ),
                by=IM,
            )
            service.handle(case_id, c.RecordConsent(on=OPENED), by=IM)
            start.wait()
            for i in range(COMMANDS_PER_THREAD):
                on = OPENED + timedelta(days=i // 10)
                service.handle(case_id, c.RecordContact(on=on, minutes=30), by=IM)
        except BaseException as exc:  # reported below, so a failure never hides as a figure
            failures.append(exc)
            start.abort()

    workers = [threading.Thread(target=caller, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return threads * COMMANDS_PER_THREAD / elapsed


def _open_case_us(prelude: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", prelude + OPEN_CASE],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return float(done.stdout.strip())


def run(report: Reporter) -> None:
    """Measure and hand every figure to *report*."""
    report("open a case, nothing configured (imflow silent)", _open_case_us(""), "µs")
    report(
        "open a case, structlog printing every INFO line",
        _open_case_us(PRINTING_STRUCTLOG),
        "µs",
    )
    quiet()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import psycopg
    from tests.pg import fresh_schema, server_dsn

    with tempfile.TemporaryDirectory() as tmp, server_dsn() as dsn:
        schema = fresh_schema()
        migrate(dsn, schema=schema)
        single = psycopg.connect(dsn, autocommit=True)
        single.execute(f"SET search_path TO {schema}")
        makers: list[tuple[str, Callable[[], Any]]] = [
            (
                "PostgreSQL, one connection",
                lambda: PostgresStore(
                    single,
                    engine=_engine(),
                    key_store=PostgresKeyStore(
                        dsn,
                        master_key=MASTER,
                        schema=f"{schema}_keys",  # made by migrate beside the data
                    ),
                ),
            ),
            (
                "PostgreSQL, pool of 8",
                lambda: PostgresStore(
                    dsn, schema=schema, engine=_engine(), pool_size=8, master_key=MASTER
                ),
            ),
            (
                "SQLite file (one connection, synchronous=NORMAL)",
                lambda: SQLiteStore(Path(tmp) / "bench.db", engine=_engine(), synchronous="NORMAL"),
            ),
        ]
        for label, make in makers:
            store = make()
            try:
                for threads in (1, 4, 8):
                    rate = _commands_per_second(store, threads)
                    report(f"CaseService commands/s, {label}, {threads} threads", rate, "/s")
            finally:
                store.close()
        single.close()


def main() -> None:
    run(show)


if __name__ == "__main__":
    main()
