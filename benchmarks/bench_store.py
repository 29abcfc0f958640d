"""Store benchmarks: SQLite and PostgreSQL, on this machine, with a throw-away server.

For each store it reports:

- commands per second for *load + handle + append* (a contact recorded on one of 50
  open cases in turn), with the store's case cache and without it;
- the time to load a case of 200 events with a snapshot (every 50 events) and without;
- bytes per stored event: the event document alone, and the whole database (tables,
  indexes, the snapshot, outbox; pages in use) divided by the number of events;
- commands per second through :class:`imflow.CaseService` with 0, 1 and 10 hooks
  delivered after each commit (SQLite).

Run it alone (``python benchmarks/bench_store.py``) or through ``benchmarks/run.py``,
which calls :func:`run`. PostgreSQL comes from ``IMFLOW_TEST_PG_DSN`` or is started
on loopback by the tests' helper (``tests/pg.py``).
"""

from __future__ import annotations

import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from _common import Reporter, quiet, show

from imflow import Actor, Case, CaseService, Engine, FrozenClock, Hooks, Role
from imflow import commands as c
from imflow.engine import trusted_fold
from imflow.events import Event
from imflow.keys import MasterKey
from imflow.store import PostgresStore, SQLiteStore, Store, migrate

__all__ = ["main", "run"]


CLOCK = datetime(2031, 1, 1, 12, tzinfo=UTC)
OPENED = date(2025, 3, 3)
CASES = 50
COMMANDS = 2000
LONG = 200
LOADS = 50
OTHER_KEYS = 100_000  # data keys of other cases in the key schema
MASTER = MasterKey.generate()  # a PostgreSQL store needs its host's master key


def _engine() -> Engine:
    return Engine(clock=FrozenClock(CLOCK))


def _manager() -> Actor:
    return Actor("im-1", Role.MANAGER, provider="drk", district="08337")


def _opened(engine: Engine, case_id: str) -> Case:
    return engine.open(
        c.OpenCase(
            case_id=case_id,
            person=f"p-{case_id}",
            district="08337",
            provider="drk",
            household=3,
            members=("m-1", "m-2"),
            on=OPENED,
        ),
        by=_manager(),
    )


def _contact(i: int) -> c.RecordContact:
    return c.RecordContact(
        on=OPENED + timedelta(days=i // 20),
        minutes=30 + i % 60,
        topics=["language", "housing"],
    )


@contextmanager
def _postgres() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.pg import server_dsn

    with server_dsn() as dsn:
        yield dsn


def _commands_per_second(store: Store) -> float:
    engine, by = store.engine, _manager()
    ids = [f"cmd-{i}" for i in range(CASES)]
    for case_id in ids:
        opened = _opened(engine, case_id)
        store.append(case_id, opened.events, expected_version=0)
    started = time.perf_counter()
    for i in range(COMMANDS):
        case_id = ids[i % CASES]
        case = store.load(case_id)
        new = engine.handle(case, _contact(i), by=by)
        store.append(case_id, new.events[case.version :], expected_version=case.version)
    return COMMANDS / (time.perf_counter() - started)


def _long_case(store: Store, case_id: str) -> Case:
    engine, by = store.engine, _manager()
    case = _opened(engine, case_id)
    store.append(case_id, case.events, expected_version=0)
    for i in range(LONG - 1):
        new = engine.handle(case, _contact(i), by=by)
        store.append(case_id, new.events[case.version :], expected_version=case.version)
        case = new
    return case


def _load_ms(store: Store, case_id: str, expected: Case) -> float:
    assert store.load(case_id) == expected
    started = time.perf_counter()
    for _ in range(LOADS):
        store.load(case_id)
    return (time.perf_counter() - started) / LOADS * 1000


def _service_per_second(store: Store, hooks: int) -> float:
    registry = Hooks()
    seen: list[Event] = []
    for n in range(hooks):

        def hook(event: Event, case: Case) -> None:
            seen.append(event)

        hook.__qualname__ = f"hook_{n}"
        registry.subscribe(hook)
    service = CaseService(store, hooks=registry)
    by = _manager()
    ids = [f"svc-{hooks}-{i}" for i in range(CASES)]
    for case_id in ids:
        service.open(_open_command(case_id), by=by)
    n = COMMANDS // 4
    started = time.perf_counter()
    for i in range(n):
        service.handle(ids[i % CASES], _contact(i), by=by)
    per_second = n / (time.perf_counter() - started)
    assert len(seen) == hooks * (n + CASES)
    return per_second


def _open_command(case_id: str) -> c.OpenCase:
    return c.OpenCase(
        case_id=case_id, person=f"p-{case_id}", district="08337", provider="drk", on=OPENED
    )


def _sqlite(
    root: Path,
    name: str,
    *,
    synchronous: Literal["FULL", "NORMAL"] = "NORMAL",
    cache_size: int = 256,
    snapshot_every: int | None = None,
) -> SQLiteStore:
    """A SQLite store of the benchmarks (the store's own ``snapshot_every`` unless given)."""
    path = root / f"{name}.db"
    if snapshot_every is None:
        return SQLiteStore(path, engine=_engine(), synchronous=synchronous, cache_size=cache_size)
    return SQLiteStore(
        path,
        engine=_engine(),
        synchronous=synchronous,
        cache_size=cache_size,
        snapshot_every=snapshot_every,
    )


def _sqlite_bytes(store: SQLiteStore) -> tuple[float, float]:
    conn = store.connection
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    events, payload = conn.execute("SELECT count(*), sum(length(payload)) FROM events").fetchone()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return payload / events, (pages - free) * page_size / events


def _postgres_bytes(store: PostgresStore) -> tuple[float, float]:
    with store.reading() as conn:  # a pooled store has no single connection
        row = conn.execute("SELECT count(*), sum(pg_column_size(payload)) FROM events").fetchone()
        assert row is not None
        events, payload = int(row[0]), float(row[1])
        tables = (
            "events", "cases", "case_persons", "idempotency_keys", "outbox", "outbox_deliveries"
        )  # fmt: skip
        total = 0
        for table in tables:
            size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
            assert size is not None
            total += int(size[0])
    return payload / events, total / events


def run(report: Reporter) -> None:
    """Measure both SQL stores and hand every figure to *report*, then the cold-path
    figures of #17 once more, side by side (SQLite, PostgreSQL, the trusted fold)."""
    quiet()
    seen: dict[str, tuple[float, str]] = {}

    def keep(name: str, value: float, unit: str) -> None:
        seen[name] = (value, unit)
        report(name, value, unit)

    _run_sqlite(keep)
    try:
        _run_postgres(keep)
    finally:
        keep(f"trusted fold of a {LONG}-event case (what a load folds)", _fold_us(), "µs/event")
        for name in _SIDE_BY_SIDE:
            if name in seen:
                report(f"#17 cold path, {name}", *seen[name])
        fold = f"trusted fold of a {LONG}-event case (what a load folds)"
        report(f"#17 cold path, {fold}", *seen[fold])


_SIDE_BY_SIDE = (
    f"sqlite: load a case of {LONG} events, with snapshot",
    f"postgres: load a case of {LONG} events, with snapshot",
    f"sqlite: load a case of {LONG} events, without snapshot",
    f"postgres: load a case of {LONG} events, without snapshot",
    "sqlite synchronous=NORMAL: load+handle+append, no case cache",
    "postgres: load+handle+append, no case cache",
)


def _fold_us() -> float:
    """The trusted fold (no re-decision) of the events of a case of LONG events, per event."""
    engine, by = _engine(), _manager()
    case = _opened(engine, "fold")
    for i in range(LONG - 1):
        case = engine.handle(case, _contact(i), by=by)
    events = tuple(case.events)
    assert trusted_fold(engine, None, events) == case
    best = min(timeit.repeat(lambda: trusted_fold(engine, None, events), number=20, repeat=7))
    return best / 20 / LONG * 1e6


def _run_sqlite(report: Reporter) -> None:
    with tempfile.TemporaryDirectory(prefix="imflow-bench-") as tmp:
        root = Path(tmp)
        syncs: tuple[Literal["FULL", "NORMAL"], ...] = ("FULL", "NORMAL")
        for sync in syncs:
            label = f"sqlite synchronous={sync}"
            store = _sqlite(root, f"cmd-{sync}", synchronous=sync)
            report(f"{label}: load+handle+append", _commands_per_second(store), "commands/s")
            store.close()
            cold = _sqlite(root, f"cold-{sync}", synchronous=sync, cache_size=0)
            report(
                f"{label}: load+handle+append, no case cache",
                _commands_per_second(cold),
                "commands/s",
            )
            cold.close()
        # the cold path with the snapshot of the default before #17's cold path (every 50
        # events: the 2 to 41 events of these cases are folded on every load)
        cold = _sqlite(root, "cold-every-50", cache_size=0, snapshot_every=50)
        report(
            "sqlite synchronous=NORMAL: load+handle+append, no case cache, snapshot every 50",
            _commands_per_second(cold),
            "commands/s",
        )
        cold.close()
        for every, what in ((50, "with snapshot"), (0, "without snapshot")):
            store = _sqlite(root, f"long-{every}", snapshot_every=every, synchronous="NORMAL")
            case = _long_case(store, "long")
            store.close()
            fresh = _sqlite(root, f"long-{every}", snapshot_every=every, cache_size=0)
            report(
                f"sqlite: load a case of {LONG} events, {what}", _load_ms(fresh, "long", case), "ms"
            )
            if every:
                document, whole = _sqlite_bytes(fresh)
                report("sqlite: bytes per event (document)", document, "bytes")
                report("sqlite: bytes per event (whole database)", whole, "bytes")
            fresh.close()
        for hooks in (0, 1, 10):
            store = _sqlite(root, f"svc-{hooks}", synchronous="NORMAL")
            report(
                f"sqlite: CaseService with {hooks} hooks (deliver after commit)",
                _service_per_second(store, hooks),
                "commands/s",
            )
            store.close()


def _run_postgres(report: Reporter) -> None:
    with _postgres() as dsn:
        for name, cache_size in (("", 256), (", no case cache", 0)):
            schema = f"bench_cmd_{cache_size}"
            migrate(dsn, schema=schema)  # as the database's owner would, once
            store = PostgresStore(
                dsn, schema=schema, engine=_engine(), cache_size=cache_size, master_key=MASTER
            )
            report(f"postgres: load+handle+append{name}", _commands_per_second(store), "commands/s")
            store.close()
        for every, what in ((50, "with snapshot"), (0, "without snapshot")):
            schema = f"bench_long_{every}"
            migrate(dsn, schema=schema)
            store = PostgresStore(
                dsn, schema=schema, engine=_engine(), snapshot_every=every, master_key=MASTER
            )
            case = _long_case(store, "long")
            store.close()
            fresh = PostgresStore(
                dsn, schema=schema, engine=_engine(), cache_size=0, master_key=MASTER
            )
            report(
                f"postgres: load a case of {LONG} events, {what}",
                _load_ms(fresh, "long", case),
                "ms",
            )
            if every:
                document, whole = _postgres_bytes(fresh)
                report("postgres: bytes per event (document, JSONB)", document, "bytes")
                report("postgres: bytes per event (whole database)", whole, "bytes")
                _other_keys(dsn, f"{schema}_keys", OTHER_KEYS)
                report(
                    f"postgres: load a case of {LONG} events, {what},"
                    f" {OTHER_KEYS:,} other data keys",
                    _load_ms(fresh, "long", case),
                    "ms",
                )
            fresh.close()


def _other_keys(dsn: str, key_schema: str, n: int) -> None:
    """*n* data keys of other cases in *key_schema* (as a deployment's key schema holds:
    a load must find its own by their primary key, not read them all)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as owner:
        owner.execute(
            f"INSERT INTO {key_schema}.data_keys (kid, wrapped)"
            " SELECT 'other-' || n, '\\x00'::bytea FROM generate_series(1, %s) n",
            (n,),
        )
        owner.execute(f"ANALYZE {key_schema}.data_keys")


def main() -> None:
    """Print every figure as ``name: value unit``."""

    run(show)


if __name__ == "__main__":
    main()
