"""Outbox deliveries per second with 1, 2 and 3 runners on one PostgreSQL (#18).

For each number of runners a fresh schema on a throw-away server on loopback
(``tests/pg.py``) is filled, in one transaction, with cases whose events wait in the
outbox (each case opened, consented and with contacts: ``EVENTS_PER_CASE`` events).
Then that many runner processes, started beforehand and released at once, deliver to
one hook that does nothing (so the figure is the outbox's own cost: reading, leasing,
loading the case, recording) until nothing is pending. The figure is deliveries per
second of wall time, from the release until the last runner has finished.

Run it alone (``python benchmarks/bench_outbox.py [cases]``) or through
``benchmarks/run.py``, which calls :func:`run`. ``IMFLOW_BENCH_OUTBOX_CASES`` sets the
number of cases (default 400). The machine's cores limit how far more runners help.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import Reporter, quiet, show

from imflow import Actor, Case, Engine, FrozenClock, Hooks, Role, Runner
from imflow import commands as c
from imflow.events import Event
from imflow.store import PostgresStore, migrate

__all__ = ["main", "run"]

DEFAULT_CASES = 400
EVENTS_PER_CASE = 5
OPENED = date(2025, 3, 3)
MANAGER = Actor("im-1", Role.MANAGER, provider="drk", district="08337")


def _engine() -> Engine:
    return Engine(clock=FrozenClock.on(OPENED + timedelta(days=30)))


def _case(engine: Engine, case_id: str) -> Case:
    case = engine.open(
        c.OpenCase(
            case_id=case_id, person=f"p-{case_id}", district="08337", provider="drk", on=OPENED
        ),
        by=MANAGER,
    )
    case = engine.handle(case, c.RecordConsent(on=OPENED), by=MANAGER)
    for i in range(EVENTS_PER_CASE - 2):
        case = engine.handle(
            case, c.RecordContact(on=OPENED + timedelta(days=i), minutes=20), by=MANAGER
        )
    return case


def _hooks() -> Hooks:
    hooks = Hooks()

    @hooks.on()
    def nothing(event: Event, case: Case) -> None:
        return None

    return hooks


def _runner(dsn: str, schema: str, ready: Any, go: Any) -> None:
    """Child process: wait for the release, then deliver until nothing is pending."""
    quiet()
    with PostgresStore(dsn, schema=schema, engine=_engine(), encrypt=False, pool_size=2) as store:
        runner = Runner(store, _hooks(), batch_size=200)
        ready.release()
        go.wait(120)
        while True:
            if runner.run_once().delivered == 0 and runner.pending() == 0:
                return


def _fill(dsn: str, schema: str, cases: int) -> None:
    import psycopg

    engine = _engine()
    with (
        PostgresStore(dsn, schema=schema, engine=engine, encrypt=False, pool_size=1) as store,
        psycopg.connect(dsn, autocommit=True) as host,
    ):
        host.execute(f"SET search_path TO {schema}")
        with store.unit_of_work(host) as uow:  # one transaction
            for i in range(cases):
                case = _case(engine, f"o-{i:05d}")
                uow.append(case.case_id, case.events, expected_version=0)


def deliveries_per_second(dsn: str, runners: int, cases: int) -> float:
    """Deliveries per second of *runners* processes over *cases* fresh cases."""
    from tests.pg import fresh_schema

    schema = fresh_schema()
    migrate(dsn, schema=schema)
    _fill(dsn, schema, cases)
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=_runner, args=(dsn, schema, ready, go)) for _ in range(runners)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire(timeout=120)
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join(timeout=600)
    elapsed = time.perf_counter() - start
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError("a runner failed")
    return cases * EVENTS_PER_CASE / elapsed


def run(report: Reporter) -> None:
    """Measure and hand every figure to *report*."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pg import server_dsn

    cases = int(os.environ.get("IMFLOW_BENCH_OUTBOX_CASES", DEFAULT_CASES))
    with server_dsn() as dsn:
        for runners in (1, 2, 3):
            rate = deliveries_per_second(dsn, runners, cases)
            label = f"outbox deliveries, {runners} runner{'s' if runners > 1 else ''}"
            report(f"{label} ({cases * EVENTS_PER_CASE:,} events)", rate, "deliveries/s")


def main() -> None:
    if len(sys.argv) > 1:
        os.environ["IMFLOW_BENCH_OUTBOX_CASES"] = sys.argv[1]
    quiet()
    run(show)


if __name__ == "__main__":
    main()
