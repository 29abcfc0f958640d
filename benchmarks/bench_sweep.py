"""Sweeping 100,000 open cases in SQLite: only the due ones are touched.

A SQLite file is filled with open cases (each opened and consented, through the real
engine), opened evenly over four years. :func:`imflow.sweep` on a day when about 2 % of
them are past their period end then closes the due cases with ``period_expired``. The
benchmark checks that the store's query for due cases runs on the ``cases_due`` index
(``EXPLAIN QUERY PLAN``), counts every case the sweep loads (exactly the due ones),
sweeps a second time (idempotent: nothing is due, nothing is loaded), and, for
comparison, times finding the due cases the naive way: loading every case and asking
:meth:`imflow.Engine.sweep`.

Run it alone (``python benchmarks/bench_sweep.py [cases]``) or through
``benchmarks/run.py``, which calls :func:`run`. ``IMFLOW_BENCH_SWEEP_CASES`` sets the
number of cases (default 100,000).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import Reporter, quiet, show

from imflow import Actor, Case, Engine, FrozenClock, Role, sweep
from imflow import commands as c
from imflow.period import last_day
from imflow.store import SQLiteStore

__all__ = ["main", "run"]


FIRST_OPENED = date(2023, 7, 1)  # under vwv-2023: a period of 36 months
SPAN_DAYS = 4 * 365
SWEEP_ON = date(2026, 8, 1)  # periods of cases opened before about 2023-08-01 have ended
CLOCK = datetime(2027, 7, 1, 12, tzinfo=UTC)
DEFAULT_CASES = 100_000
MANAGER = Actor("im-1", Role.MANAGER, provider="drk-wt", district="08337")


class CountingStore(SQLiteStore):
    """A :class:`SQLiteStore` that counts the cases it loads."""

    loads = 0

    def load(self, case_id: str) -> Case:
        self.loads += 1
        return super().load(case_id)


def _opened(i: int, n_cases: int) -> date:
    return FIRST_OPENED + timedelta(days=i * SPAN_DAYS // n_cases)


def _fill(path: Path, engine: Engine, n_cases: int) -> None:
    """*n_cases* open cases, opened evenly from :data:`FIRST_OPENED` over four years."""
    with SQLiteStore(path, engine=engine, cache_size=0, synchronous="NORMAL") as store:
        for i in range(n_cases):
            on = _opened(i, n_cases)
            case = engine.open(
                c.OpenCase(
                    case_id=f"wt-{i:06d}",
                    person=f"p-{i:06d}",
                    district="08337",
                    provider="drk-wt",
                    on=on,
                ),
                by=MANAGER,
            )
            case = engine.handle(case, c.RecordConsent(on=on), by=MANAGER)
            store.append(case.case_id, case.events, expected_version=0)


def _due_query_plan(path: Path) -> str:
    sql = SQLiteStore.SQL["due"]
    with sqlite3.connect(path) as conn:
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, {"on": SWEEP_ON.isoformat()})
        return "; ".join(str(row[-1]) for row in rows)


def _expected_due(n_cases: int) -> int:
    """How many of the cases :func:`_fill` writes are due, from the BGB rule directly."""
    return sum(last_day(_opened(i, n_cases), months=36) < SWEEP_ON for i in range(n_cases))


def run(report: Reporter, *, n_cases: int | None = None) -> None:
    """Fill a SQLite store with *n_cases* open cases, sweep it twice and hand every
    measurement to *report*."""
    quiet()
    n_cases = n_cases or int(os.environ.get("IMFLOW_BENCH_SWEEP_CASES", DEFAULT_CASES))
    engine = Engine(clock=FrozenClock(CLOCK))
    with tempfile.TemporaryDirectory(prefix="imflow-bench-sweep-") as tmp:
        path = Path(tmp) / "cases.db"
        started = time.perf_counter()
        _fill(path, engine, n_cases)
        filled = time.perf_counter() - started
        plan = _due_query_plan(path)
        if "cases_due" not in plan:
            raise AssertionError(f"the due-case query does not use the index: {plan}")
        due = _expected_due(n_cases)

        # the default store, as a host opens it: durable commits, the case cache on
        with CountingStore(path, engine=engine) as store:
            started = time.perf_counter()
            first = sweep(store, on=SWEEP_ON, engine=engine)
            first_s = time.perf_counter() - started
            first_loads = store.loads
            if len(first.closed) != due or first_loads != due or first.refused:
                raise AssertionError(
                    f"sweep closed {len(first.closed)} and loaded {first_loads} cases;"
                    f" {due} were due"
                )
            started = time.perf_counter()
            second = sweep(store, on=SWEEP_ON, engine=engine)
            second_s = time.perf_counter() - started
            if second.closed or store.loads != first_loads:
                raise AssertionError("the second sweep touched cases")

        with CountingStore(path, engine=engine, cache_size=0) as store:
            started = time.perf_counter()
            naive = engine.sweep(store.iter_cases(), on=SWEEP_ON)
            naive_s = time.perf_counter() - started
            if naive.closed:
                raise AssertionError("the naive sweep found cases the store-level one missed")
            naive_loads = store.loads

    report("sweep: open cases in the store", float(n_cases), "cases")
    report("sweep: filling the store (open + consent, NORMAL sync)", filled, "s")
    report("sweep: cases due and closed (period_expired)", float(due), "cases")
    report("sweep: cases the sweep loaded", float(first_loads), "cases")
    report("sweep: imflow.sweep(store), FULL sync, one commit per case", first_s, "s")
    report("sweep: per closed case", first_s / max(due, 1) * 1e3, "ms")
    report("sweep: the same sweep again (nothing due)", second_s * 1e3, "ms")
    report(f"sweep: for comparison, loading all {naive_loads:,} cases", naive_s, "s")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the measurements; an optional argument sets the number of cases."""
    args = sys.argv[1:] if argv is None else list(argv)
    run(show, n_cases=int(args[0]) if args else None)


if __name__ == "__main__":
    main()
