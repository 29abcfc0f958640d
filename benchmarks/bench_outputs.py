"""The report outputs of the state's yearly report, side by side in one run (#16).

A cohort like the main job's (10,000 cases from 2023 to 2026, about 170,000 events) is
simulated into a SQLite file; then the state report for 2026 is computed once (and the
trend 2023–2026 the committee report charts), and each output is timed on it, best of
*repeat* runs: JSON, CSV, text, the terminal summary, the workbook (XLSX) and the
committee report (HTML with its five charts), plus the size of each.

Run it alone (``python benchmarks/bench_outputs.py [cases]``) or through
``benchmarks/run.py --only outputs``. ``IMFLOW_BENCH_OUTPUT_CASES`` sets the cohort size.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

from _common import Reporter, quiet, show

from imflow import Engine, FrozenClock
from imflow.kennzahlen import (
    report,
    report_years,
    to_csv,
    to_html,
    to_json,
    to_summary,
    to_text,
    to_xlsx,
)
from imflow.simulation import SimulationParams, simulate
from imflow.store import SQLiteStore

__all__ = ["main", "run"]

START, UNTIL, YEAR, SEED = date(2023, 1, 1), date(2026, 12, 31), 2026, 1
CASES = 10_000
T = TypeVar("T")


def _best(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def run(reporter: Reporter, *, cases: int | None = None, repeat: int = 3) -> None:
    """Simulate the cohort, then time the state report's outputs (see the module doc)."""
    quiet()
    n_cases = cases or int(os.environ.get("IMFLOW_BENCH_OUTPUT_CASES", CASES))
    params = SimulationParams()
    staffing = params.staffing()
    with tempfile.TemporaryDirectory(prefix="imflow-bench-outputs-") as tmp:
        engine = Engine(clock=FrozenClock.on(START))
        with SQLiteStore(Path(tmp) / "cases.db", engine=engine, synchronous="NORMAL") as store:
            cohort = simulate(n_cases, seed=SEED, start=START, until=UNTIL, params=params,
                              store=store, engine=engine, keep_cases=False)  # fmt: skip
            computed, yearly = _best(lambda: report(store, year=YEAR, staffing=staffing), 1)
            years, trend = _best(
                lambda: report_years(store, years=range(2023, YEAR + 1), staffing=staffing), 1
            )
    reporter("outputs: events", float(cohort.events), "events")
    reporter(f"outputs: state report {YEAR} in SQLite (the figures)", computed, "s")
    reporter("outputs: the trend 2023-2026 in SQLite (four reports)", years, "s")
    outputs: tuple[tuple[str, Callable[[], str | bytes]], ...] = (
        ("JSON", lambda: to_json(yearly)),
        ("CSV", lambda: to_csv(yearly)),
        ("text", lambda: to_text(yearly)),
        ("terminal summary (with 2025)", lambda: to_summary(trend)),
        ("XLSX workbook", lambda: to_xlsx(yearly)),
        ("HTML committee report with 5 charts", lambda: to_html(trend)),
    )
    for name, render in outputs:
        took, data = _best(render, repeat)
        size = len(data.encode() if isinstance(data, str) else data)
        reporter(f"outputs: {name}", took, "s")
        reporter(f"outputs: {name}, size", float(size), "bytes")


def main(argv: Sequence[str] | None = None) -> None:
    """Print the measurements; an optional argument sets the number of cases."""
    args = sys.argv[1:] if argv is None else list(argv)
    run(show, cases=int(args[0]) if args else None)


if __name__ == "__main__":
    main()
