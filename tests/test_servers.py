"""Several servers on one PostgreSQL (#18): runners and sweeps in real processes.

Runners share the outbox through case leases: three runner processes, killed with
SIGKILL at random and restarted, and four writer processes. The hooks write into
their own tables in the same database (start and end of every call), so the test
sees every delivery, also those of runners that died mid-way. Three processes sweep
the same 10,000 due cases at once.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import imflow
from imflow import Case, Hooks, Runner
from imflow.events import Event
from imflow.outbox import status
from imflow.store import PostgresStore
from tests.crashes import more, wait_for
from tests.stores import StoreMaker, far_future_engine, open_case

pytestmark = pytest.mark.slow

LEASE = timedelta(seconds=1)
KILLS = 5
FAILING = ("w1-3", "w3-0")
"""The cases whose second event the failing hook can never take: its dead letters."""


def _connect(dsn: str, schema: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(f"SET search_path TO {schema}")
    return conn


def server_hooks(dsn: str, schema: str) -> Hooks:
    """An idempotent hook, a plain one that logs each call's start and end, and one that
    always fails on the second event of the cases in :data:`FAILING`."""
    hooks = Hooks()
    opened: list[psycopg.Connection[Any]] = []
    pid = os.getpid()

    def db() -> psycopg.Connection[Any]:  # connected on the first call, in the runner
        if not opened:
            opened.append(_connect(dsn, schema))
        return opened[0]

    @hooks.on()
    def idempotent(event: Event, case: Case) -> None:
        db().execute(
            "INSERT INTO effects (case_id, seq) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (event.case_id, event.seq),
        )

    @hooks.on()
    def plain(event: Event, case: Case) -> None:
        assert case.events[event.seq - 1] == event
        row = (
            db()
            .execute(
                "INSERT INTO calls (case_id, seq, pid, started) VALUES (%s, %s, %s,"
                " clock_timestamp()) RETURNING id",
                (event.case_id, event.seq, pid),
            )
            .fetchone()
        )
        assert row is not None
        time.sleep(random.random() * 0.004)  # a call that takes a while
        db().execute("UPDATE calls SET ended = clock_timestamp() WHERE id = %s", (row[0],))

    @hooks.on()
    def failing(event: Event, case: Case) -> None:
        if event.case_id in FAILING and event.seq == 2:
            raise ConnectionError("the partner system refuses this one")

    return hooks


def _runner(dsn: str, schema: str, stop: str) -> None:
    """Child process: deliver until the file *stop* exists."""
    with PostgresStore(
        dsn, schema=schema, engine=far_future_engine(), encrypt=False, pool_size=2
    ) as store:
        runner = Runner(
            store,
            server_hooks(dsn, schema),
            lease=LEASE,
            max_attempts=2,
            backoff=lambda n: timedelta(0),
            batch_size=50,
        )
        while not os.path.exists(stop):
            if runner.run_once(limit=40).delivered == 0:
                time.sleep(0.02)


def _writer(dsn: str, schema: str, name: str, cases: int, rounds: int) -> None:
    """Child process: open *cases* cases, then add a contact to each, *rounds* times."""
    with PostgresStore(
        dsn, schema=schema, engine=far_future_engine(), encrypt=False, pool_size=1
    ) as store:
        engine = store.engine
        mine = [open_case(engine, f"{name}-{i}", person=f"p-{name}-{i}") for i in range(cases)]
        for case in mine:
            store.append(case.case_id, case.events, expected_version=0)
        for _ in range(rounds):
            for i, case in enumerate(mine):
                new = more(engine, case, 1)
                store.append(
                    case.case_id, new.events[case.version :], expected_version=case.version
                )
                mine[i] = new
            time.sleep(0.01)


def test_three_runners_killed_at_random_and_four_writers_deliver_every_event_in_order(
    pg_dsn: str, tmp_path: Path
) -> None:
    maker = StoreMaker("postgres", tmp_path, pg_dsn)
    maker.migrate()
    schema = maker.schema
    setup = _connect(pg_dsn, schema)
    setup.execute("CREATE TABLE effects (case_id TEXT, seq INT, PRIMARY KEY (case_id, seq))")
    setup.execute(
        "CREATE TABLE calls (id BIGSERIAL PRIMARY KEY, case_id TEXT, seq INT, pid INT,"
        " started TIMESTAMPTZ NOT NULL, ended TIMESTAMPTZ)"
    )
    setup.execute("CREATE TABLE killed (pid INT PRIMARY KEY, at TIMESTAMPTZ NOT NULL)")
    stop = str(tmp_path / "stop")
    ctx = multiprocessing.get_context("spawn")
    rng = random.Random(18)
    try:
        runners: list[Any] = [
            ctx.Process(target=_runner, args=(pg_dsn, schema, stop)) for _ in range(3)
        ]
        writers = [
            ctx.Process(target=_writer, args=(pg_dsn, schema, f"w{i}", 5, 6)) for i in range(4)
        ]
        for p in [*runners, *writers]:
            p.start()
        kills, started = 0, [time.monotonic()] * 3
        while any(w.is_alive() for w in writers) or kills < KILLS:
            time.sleep(rng.uniform(0.2, 0.6))
            victim = rng.randrange(3)
            if kills >= KILLS or time.monotonic() - started[victim] < 2.5:
                continue  # let a restarted runner get going before it dies again
            os.kill(runners[victim].pid or 0, signal.SIGKILL)
            runners[victim].join(timeout=30)
            assert runners[victim].exitcode == -signal.SIGKILL
            setup.execute(  # after the join: no call of the victim ends later than this
                "INSERT INTO killed VALUES (%s, clock_timestamp())", (runners[victim].pid,)
            )
            kills += 1
            runners[victim] = ctx.Process(target=_runner, args=(pg_dsn, schema, stop))
            runners[victim].start()
            started[victim] = time.monotonic()
        for w in writers:
            w.join(timeout=60)
            assert w.exitcode == 0

        reader = maker()
        hooks = server_hooks(pg_dsn, schema)

        def delivered() -> bool:
            figures = {h.hook.rsplit(".", 1)[-1]: h for h in status(reader, hooks=hooks).hooks}
            return figures["plain"].pending == figures["idempotent"].pending == 0 and (
                figures["failing"].dead == len(FAILING)
            )

        wait_for(delivered, "the runners to deliver every event", timeout=90)
    finally:
        Path(stop).touch()
        for p in multiprocessing.active_children():
            p.join(timeout=30)

    committed = {
        (r[0], int(r[1])) for r in setup.execute("SELECT case_id, seq FROM events").fetchall()
    }
    assert len(committed) == 4 * 5 * 7
    effects = setup.execute("SELECT case_id, seq FROM effects").fetchall()
    assert {(r[0], int(r[1])) for r in effects} == committed  # exactly once (idempotent)
    calls = setup.execute("SELECT case_id, seq FROM calls ORDER BY started, id").fetchall()
    assert {(r[0], int(r[1])) for r in calls} == committed  # at least once, nothing else
    seen: dict[str, list[int]] = defaultdict(list)
    for case_id, seq in calls:
        if seq not in seen[case_id]:
            seen[case_id].append(seq)
    assert all(seqs == sorted(seqs) for seqs in seen.values())  # in order per case
    # no delivery while another runner held the case: calls of one case never overlap
    overlapping = setup.execute(
        "WITH c AS (SELECT calls.id, case_id, calls.pid, started,"
        " COALESCE(ended, killed.at) AS ended FROM calls LEFT JOIN killed USING (pid))"
        " SELECT count(*) FROM c a JOIN c b ON a.case_id = b.case_id AND a.id < b.id"
        " WHERE a.started < b.ended AND b.started < a.ended"
    ).fetchone()
    assert overlapping == (0,)
    assert setup.execute("SELECT count(*) FROM killed").fetchone() == (kills,)
    dead = reader.outbox.dead_letters()
    assert sorted((d.case_id, d.seq) for d in dead) == sorted((c, 2) for c in FAILING)
    assert Counter(d.hook.rsplit(".", 1)[-1] for d in dead) == {"failing": len(FAILING)}
    setup.close()
    maker.close_all()


# -- sweeps -----------------------------------------------------------------------------

DUE = 10_000
SWEEP_ON = date(2026, 8, 1)


_ID = "'due-' || lpad(i::text, 5, '0')"
CLONED = {
    "cases": (
        f"{_ID}, district, provider, phase, rule_set, opened_on, period_end, closed_on,"
        " version, snapshot, snapshot_version, erased_version"
    ),
    "events": (
        f"{_ID}, seq, type, on_date, recorded_at, district, provider, schema_version,"
        f" jsonb_set(payload, '{{case_id}}', to_jsonb({_ID}))"
    ),
    "case_persons": f"person_ref, {_ID}",
}
"""How the sweep test copies its first due case: the columns of each copy's rows."""


def _sweeper(dsn: str, schema: str, go: Any, results: Any) -> None:
    with PostgresStore(
        dsn, schema=schema, engine=far_future_engine(), encrypt=False, pool_size=1
    ) as store:
        go.wait(60)
        report = imflow.sweep(store, on=SWEEP_ON, engine=store.engine)
        results.put((report.counts(), report.closed_ids))


def test_three_processes_sweeping_10000_due_cases_close_each_exactly_once(
    pg_dsn: str, tmp_path: Path
) -> None:
    maker = StoreMaker("postgres", tmp_path, pg_dsn)
    maker.migrate()
    store = maker(encrypt=False, pool_size=2)
    engine = store.engine
    template = open_case(engine, "due-00000", on=date(2023, 7, 1))
    assert template.period_end is not None and template.period_end < SWEEP_ON
    store.append(template.case_id, template.events, expected_version=0)
    raw = maker.raw()
    with raw.transaction():  # 9,999 copies of the stored case in one transaction: fast
        for table, columns in CLONED.items():
            raw.execute(
                f"INSERT INTO {table} SELECT {columns} FROM {table} t,"
                f" generate_series(1, {DUE - 1}) AS i WHERE t.case_id = 'due-00000'"
            )
    not_due = open_case(engine, "not-due", on=date(2025, 6, 1))
    store.append("not-due", not_due.events, expected_version=0)
    assert len(store.due_case_ids(SWEEP_ON)) == DUE  # type: ignore[attr-defined]
    assert store.load("due-04711").events[0].case_id == "due-04711"
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    sweepers = [
        ctx.Process(target=_sweeper, args=(pg_dsn, maker.schema, go, results)) for _ in range(3)
    ]
    for p in sweepers:
        p.start()
    go.set()  # at once
    reports = [results.get(timeout=900) for _ in sweepers]  # a busy machine is slow
    for p in sweepers:
        p.join(timeout=60)
        assert p.exitcode == 0

    assert sum(counts["closed"] for counts, _ in reports) == DUE
    assert all(counts["errors"] == counts["refused"] == 0 for counts, _ in reports)
    assert all(counts["closed"] + counts["lost"] <= DUE for counts, _ in reports)
    closers = Counter(case_id for _, ids in reports for case_id in ids)
    assert len(closers) == DUE and set(closers.values()) == {1}
    closures = raw.execute(
        "SELECT count(*), count(DISTINCT case_id) FROM events WHERE type = 'case_closed'"
    ).fetchone()
    assert closures == (DUE, DUE)  # each closed exactly once
    gaps = raw.execute(  # versions contiguous: 1 .. version, the case row agreeing
        "SELECT count(*) FROM cases c WHERE c.version <> (SELECT count(*) FROM events e"
        " WHERE e.case_id = c.case_id) OR c.version <> (SELECT max(seq) FROM events e"
        " WHERE e.case_id = c.case_id)"
    ).fetchone()
    assert gaps == (0,)
    assert store.load("not-due").is_open
    assert imflow.sweep(store, on=SWEEP_ON, engine=engine).counts()["closed"] == 0
    raw.close()
    maker.close_all()
