"""The cost of encrypting personal fields (#13), side by side with the clear path.

For SQLite (``synchronous=NORMAL``) and PostgreSQL, each with ``encrypt=True`` (the
default) and ``encrypt=False`` (personal fields in clear, as imflow 0.1) in one run:

- commands per second for *load + handle + append* of a need with a personal note (the
  worst case: every command seals a text), with the case cache and without it (every
  command then loads, and opens, the case from the database);
- the time to load a case of 100 events (a note in every other one) with nothing
  cached, with a snapshot every 50 events;
- the overhead of encryption in per cent (goal: at most 15 %).

Run it alone (``python benchmarks/bench_crypto.py``) or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import Reporter, quiet, show

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.keys import MasterKey
from imflow.store import PostgresStore, SQLiteStore, Store, migrate

__all__ = ["main", "run"]

CLOCK = datetime(2027, 1, 1, 12, tzinfo=UTC)
OPENED = date(2025, 3, 3)
CASES = 40
COMMANDS = 1500
LONG = 100
LOADS = 60
MASTER = MasterKey.generate()
BY = Actor("im-1", Role.MANAGER, provider="drk", district="08337")


def _engine() -> Engine:
    return Engine(clock=FrozenClock(CLOCK))


def _started(engine: Engine, case_id: str) -> Case:
    case = engine.open(
        c.OpenCase(
            case_id=case_id,
            person=f"p-{case_id}",
            district="08337",
            provider="drk",
            household=3,
            members=(f"m1-{case_id}", f"m2-{case_id}"),
            on=OPENED,
        ),
        by=BY,
    )
    for cmd in (c.RecordConsent(on=OPENED), c.StartAssessment(on=OPENED)):
        case = engine.handle(case, cmd, by=BY)
    return case


def _need(i: int) -> c.RecordNeed:
    return c.RecordNeed(
        on=OPENED + timedelta(days=i // 40),
        area="housing",
        note=f"Familie sucht eine größere Wohnung, Termin {i} beim Wohnungsamt vereinbart",
    )


def _commands_per_second(store: Store) -> float:
    engine = store.engine
    ids = [f"cmd-{i}" for i in range(CASES)]
    for case_id in ids:
        store.append(case_id, _started(engine, case_id).events, expected_version=0)
    started = time.perf_counter()
    for i in range(COMMANDS):
        case_id = ids[i % CASES]
        case = store.load(case_id)
        new = engine.handle(case, _need(i), by=BY)
        store.append(case_id, new.events[case.version :], expected_version=case.version)
    return COMMANDS / (time.perf_counter() - started)


def _long_case(store: Store) -> Case:
    engine = store.engine
    case = _started(engine, "long")
    store.append("long", case.events, expected_version=0)
    for i in range(LONG - case.version):
        day = OPENED + timedelta(days=i // 40)
        cmd: c.Command = _need(i) if i % 2 else c.RecordContact(on=day, minutes=30)
        new = engine.handle(case, cmd, by=BY)
        store.append("long", new.events[case.version :], expected_version=case.version)
        case = new
    return case


def _load_ms(store: Store, expected: Case) -> float:
    assert store.load("long") == expected
    started = time.perf_counter()
    for _ in range(LOADS):
        store.load("long")
    return (time.perf_counter() - started) / LOADS * 1000


def _measure(report: Reporter, label: str, make: Callable[..., Store]) -> None:
    figures: dict[str, dict[bool, float]] = {}
    for encrypt in (False, True):
        for name, cache in (("load+handle+append, a note each", 256), ("... no case cache", 0)):
            store = make(f"cmd{cache}", encrypt=encrypt, cache_size=cache)
            figures.setdefault(name, {})[encrypt] = _commands_per_second(store)
            store.close()
        store = make("long", encrypt=encrypt)
        case = _long_case(store)
        store.close()
        fresh = make("long", encrypt=encrypt, cache_size=0)
        figures.setdefault(f"load a case of {LONG} events", {})[encrypt] = _load_ms(fresh, case)
        fresh.close()
    for name, values in figures.items():
        unit = "ms" if name.startswith("load a case") else "commands/s"
        report(f"{label}: {name}, in clear", values[False], unit)
        report(f"{label}: {name}, encrypted", values[True], unit)
        if unit == "ms":
            overhead = values[True] / values[False] - 1
        else:
            overhead = values[False] / values[True] - 1
        report(f"{label}: {name}, encryption overhead", 100 * overhead, "%")


@contextmanager
def _postgres() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pg import server_dsn

    with server_dsn() as dsn:
        yield dsn


def run(report: Reporter) -> None:
    """Measure both SQL stores, encrypted and in clear, and hand every figure to *report*."""
    quiet()
    with tempfile.TemporaryDirectory(prefix="imflow-bench-crypto-") as tmp:
        root = Path(tmp)

        def sqlite(name: str, *, encrypt: bool, cache_size: int = 256) -> Store:
            return SQLiteStore(
                root / f"{name}-{encrypt}.db",
                engine=_engine(),
                synchronous="NORMAL",
                cache_size=cache_size,
                encrypt=encrypt,
                master_key=MASTER,
            )

        _measure(report, "sqlite", sqlite)
    with _postgres() as dsn:

        def postgres(name: str, *, encrypt: bool, cache_size: int = 256) -> Store:
            schema = f"bench_crypto_{name}_{int(encrypt)}"
            migrate(dsn, schema=schema)  # as the database's owner would, once
            return PostgresStore(
                dsn,
                schema=schema,
                engine=_engine(),
                cache_size=cache_size,
                encrypt=encrypt,
                master_key=MASTER,
            )

        _measure(report, "postgres", postgres)


def main() -> None:
    """Print every figure as ``name: value unit``."""
    run(show)


if __name__ == "__main__":
    main()
