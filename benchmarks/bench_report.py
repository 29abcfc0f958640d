"""The yearly key-figure report over 1,000,000 events: in SQLite and in memory.

A simulated cohort (:func:`imflow.simulation.simulate`, every event from the real
engine) is written to a SQLite file through :class:`imflow.store.SQLiteStore`; then the
report for the last simulated year is timed four ways: on the store (read in the
database: the ``report_facts`` rows of schema 6, two per case), on the events in
memory, on a :class:`~imflow.store.MemoryStore`, and, for comparison, by loading every
case from the SQLite store and counting in Python. The same cohort is then written to
PostgreSQL (a throw-away server, ``tests/pg.py``) and reported there. All must give the
same report. Bytes per event: the event documents, and the whole SQLite file /
``pg_total_relation_size`` of every table (``IMFLOW_BENCH_REPORT_POSTGRES=0`` skips
PostgreSQL).

Run it alone (``python benchmarks/bench_report.py [events]``) or through
``benchmarks/run.py``, which calls :func:`run`. ``IMFLOW_BENCH_REPORT_EVENTS`` sets the
number of events (default 1,000,000).
"""

from __future__ import annotations

import math
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from _common import Reporter, quiet, show

from imflow import Engine, FrozenClock, kennzahlen
from imflow.events import Event
from imflow.kennzahlen import Report
from imflow.keys import MasterKey
from imflow.simulation import simulate
from imflow.store import MemoryStore, PostgresStore, SQLiteStore, migrate

__all__ = ["main", "run"]


START, UNTIL, YEAR = date(2023, 7, 1), date(2026, 12, 31), 2026
SEED = 2026
TARGET = 1_000_000


def _cases_for(target: int) -> int:
    """How many cases give about *target* events (from a small pilot cohort)."""
    pilot = simulate(1000, seed=SEED, start=START, until=UNTIL, keep_cases=False)
    return math.ceil(target / (pilot.events / pilot.n_cases) * 1.02)


def _best(fn: Callable[[], Report], repeat: int) -> tuple[float, Report]:
    best = math.inf
    result: Report | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def _sqlite_bytes(path: Path, events: int) -> tuple[float, float]:
    """Bytes per event: the event documents, and the whole file."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT sum(length(payload)) FROM events").fetchone()
    finally:
        conn.close()
    return float(row[0]) / events, path.stat().st_size / events


def _postgres_bytes(store: PostgresStore, events: int) -> tuple[float, float]:
    """Bytes per event: the event documents (JSONB), and every table of the schema with
    its indexes and TOAST (``pg_total_relation_size``)."""
    with store.reading() as conn:
        row = conn.execute("SELECT sum(pg_column_size(payload)) FROM events").fetchone()
        total = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
    assert row is not None and total is not None
    return float(row[0]) / events, float(total[0]) / events


@contextmanager
def _postgres() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pg import server_dsn

    with server_dsn() as dsn:
        yield dsn


def run(report: Reporter, *, target: int | None = None, repeat: int = 3) -> None:
    """Generate about *target* events, write them to SQLite and to PostgreSQL, time the
    yearly report in each database and over the events in memory, and hand every
    measurement to *report* (best of *repeat* runs)."""
    quiet()
    target = target or int(os.environ.get("IMFLOW_BENCH_REPORT_EVENTS", TARGET))
    n_cases = _cases_for(target)
    yearly = kennzahlen.report
    with tempfile.TemporaryDirectory(prefix="imflow-bench-report-") as tmp:
        path = Path(tmp) / "cases.db"
        engine = Engine(clock=FrozenClock.on(START))
        store = SQLiteStore(path, engine=engine, snapshot_every=0, synchronous="NORMAL")
        started = time.perf_counter()
        cohort = simulate(n_cases, seed=SEED, start=START, until=UNTIL, store=store, engine=engine)
        loaded = time.perf_counter() - started
        events: Sequence[Event] = [e for case in cohort.cases for e in case.events]
        try:
            in_sql, from_sql = _best(lambda: yearly(store, year=YEAR), repeat)
            in_memory, from_events = _best(lambda: yearly(events, year=YEAR), repeat)
            memory = MemoryStore(engine=engine)
            for case in cohort.cases:
                memory.append(case.case_id, case.events, expected_version=0)
            in_store, from_memory = _best(lambda: yearly(memory, year=YEAR), repeat)
            loading, from_loaded = _best(
                lambda: yearly((e for c in store.iter_cases() for e in c.events), year=YEAR), 1
            )
        finally:
            store.close()
        if not from_sql == from_events == from_memory == from_loaded:
            raise AssertionError("the SQL and the in-memory reports differ")
        document, whole = _sqlite_bytes(path, len(events))
        active = from_sql.figures()["cases_active"]
        assert isinstance(active, int)
        report("key figures: events", float(len(events)), "events")
        report(f"key figures: cases active in {YEAR}", float(active), "cases")
        report("key figures: simulate and append to SQLite", loaded, "s")
        report("key figures: SQLite file", path.stat().st_size / 2**20, "MiB")
        report(f"key figures: report {YEAR} over the events in memory", in_memory, "s")
        report(f"key figures: report {YEAR} in SQLite (in the database)", in_sql, "s")
        report("key figures: SQLite, in the database / in memory", in_sql / in_memory, "×")
        report("key figures: SQLite, bytes per event: document", document, "bytes")
        report("key figures: SQLite, bytes per event: whole file", whole, "bytes")
        report(f"key figures: report {YEAR} on a MemoryStore", in_store, "s")
        report(f"key figures: report {YEAR} loading every case from SQLite", loading, "s")
    if os.environ.get("IMFLOW_BENCH_REPORT_POSTGRES", "1") == "0":
        return
    with _postgres() as dsn:
        migrate(dsn, schema="bench_report")
        engine = Engine(clock=FrozenClock.on(START))
        pg = PostgresStore(
            dsn,
            schema="bench_report",
            engine=engine,
            snapshot_every=0,
            master_key=MasterKey.generate(),  # a PostgreSQL store needs its host's key
        )
        try:
            started = time.perf_counter()
            simulate(n_cases, seed=SEED, start=START, until=UNTIL, store=pg, engine=engine)
            pg_loaded = time.perf_counter() - started
            in_pg, from_pg = _best(lambda: yearly(pg, year=YEAR), repeat)
            pg_document, pg_whole = _postgres_bytes(pg, len(events))
        finally:
            pg.close()
        if from_pg != from_events:
            raise AssertionError("the PostgreSQL and the in-memory reports differ")
        report("key figures: simulate and append to PostgreSQL", pg_loaded, "s")
        report(f"key figures: report {YEAR} in PostgreSQL (in the database)", in_pg, "s")
        report("key figures: PostgreSQL, in the database / in memory", in_pg / in_memory, "×")
        report("key figures: PostgreSQL, bytes per event: document (JSONB)", pg_document, "bytes")
        report("key figures: PostgreSQL, bytes per event: all tables", pg_whole, "bytes")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the measurements; an optional argument sets the number of events."""
    args = sys.argv[1:] if argv is None else list(argv)
    run(show, target=int(args[0]) if args else None)


if __name__ == "__main__":
    main()
