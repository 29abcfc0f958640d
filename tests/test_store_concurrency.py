"""Writers racing on one case through separate connections: one wins, nothing is lost.

Each round, two writers (threads with their own store and connection, or separate
processes) load the case at the same version, meet at a barrier and append at once.
SQLite serialises them with ``BEGIN IMMEDIATE``, PostgreSQL with the row lock of the
conditional update; either way exactly one append succeeds and the other raises
:class:`~imflow.ConcurrencyConflict` without writing.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from imflow import Case, ConcurrencyConflict
from imflow import commands as c
from imflow.events import ContactRecorded
from imflow.store import PostgresStore, SQLiteStore, Store
from tests.stores import StoreMaker, advance, far_future_engine, open_case, store_new
from tests.threads import at_once

ROUNDS = 12

Outcome = tuple[str, int, int]  # ("won", version before, minutes) or ("lost", expected, actual)


def race(store: Store, writer: int, barrier: Any) -> list[Outcome]:
    """Run the rounds for one writer; its contacts last ``100 * writer + round`` minutes."""
    outcomes: list[Outcome] = []
    for r in range(ROUNDS):
        case = store.load("race")
        minutes = 100 * writer + r
        on = case.latest_on + timedelta(days=1)
        new = advance(store.engine, case, c.RecordContact(on=on, minutes=minutes))
        barrier.wait(timeout=60)
        try:
            store.append("race", new.events[case.version :], expected_version=case.version)
        except ConcurrencyConflict as exc:
            outcomes.append(("lost", exc.expected, exc.actual))
        else:
            outcomes.append(("won", case.version, minutes))
        barrier.wait(timeout=60)  # the next round starts when both are done
    return outcomes


def _open_store(kind: str, where: str, schema: str) -> Store:
    if kind == "sqlite":
        return SQLiteStore(where, engine=far_future_engine())
    return PostgresStore(where, schema=schema, engine=far_future_engine())


def _race_in_process(
    kind: str, where: str, schema: str, writer: int, barrier: Any, out: Any
) -> None:
    with _open_store(kind, where, schema) as store:
        out.put((writer, race(store, writer, barrier)))


def _run_threads(stores: StoreMaker) -> dict[int, list[Outcome]]:
    barrier = threading.Barrier(2)
    found: dict[int, list[Outcome]] = {}
    errors: list[BaseException] = []

    def run(writer: int, store: Store) -> None:
        try:
            found[writer] = race(store, writer, barrier)
        except BaseException as exc:  # reported below, with the other writer released
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(w, stores())) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return found


def _run_processes(stores: StoreMaker) -> dict[int, list[Outcome]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    where = str(stores.path) if stores.kind == "sqlite" else str(stores.dsn)
    procs = [
        ctx.Process(
            target=_race_in_process, args=(stores.kind, where, stores.schema, w, barrier, out)
        )
        for w in (1, 2)
    ]
    for p in procs:
        p.start()
    found = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return found


RUNNERS: dict[str, Callable[[StoreMaker], dict[int, list[Outcome]]]] = {
    "threads": _run_threads,
    "processes": _run_processes,
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_exactly_one_writer_wins_each_round_and_no_event_is_lost_or_duplicated(
    sql_stores: StoreMaker, mode: str
) -> None:
    setup = sql_stores()
    store_new(setup, open_case(setup.engine, "race"))
    found = RUNNERS[mode](sql_stores)

    winners: list[int] = []
    for r in range(ROUNDS):
        one, two = found[1][r], found[2][r]
        version = 1 + r
        assert sorted((one[0], two[0])) == ["lost", "won"], (r, one, two)
        won, lost = (one, two) if one[0] == "won" else (two, one)
        assert won[1] == version
        assert lost[1:] == (version, version + 1)  # expected, actual
        winners.append(won[2])

    events = sql_stores(cache_size=0).events("race")
    assert [e.seq for e in events] == list(range(1, ROUNDS + 2))
    contacts = [e for e in events if isinstance(e, ContactRecorded)]
    assert [e.minutes for e in contacts] == winners
    assert setup.load("race").version == ROUNDS + 1


@pytest.mark.slow
def test_many_writers_retrying_on_conflict_lose_and_duplicate_nothing(
    sql_stores: StoreMaker,
) -> None:
    setup = sql_stores()
    store_new(setup, open_case(setup.engine, "busy"))
    writers, per_writer = 4, 8
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        store = sql_stores()
        try:
            for i in range(per_writer):
                while True:
                    case = store.load("busy")
                    on = case.period_start
                    new = advance(
                        store.engine, case, c.RecordContact(on=on, minutes=100 * writer + i)
                    )
                    try:
                        store.append(
                            "busy", new.events[case.version :], expected_version=case.version
                        )
                        break
                    except ConcurrencyConflict:
                        conflicts.append(writer)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(1, writers + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    events = sql_stores(cache_size=0).events("busy")
    assert [e.seq for e in events] == list(range(1, writers * per_writer + 2))
    minutes = sorted(e.minutes for e in events if isinstance(e, ContactRecorded))
    assert minutes == sorted(100 * w + i for w in range(1, writers + 1) for i in range(per_writer))
    # each writer's own contacts are in its own order
    for w in range(1, writers + 1):
        mine = [
            e.minutes for e in events if isinstance(e, ContactRecorded) and e.minutes // 100 == w
        ]
        assert mine == sorted(mine)


def append_together(stores: list[Store], new: Case, key: str) -> list[Any]:
    """Each store appends *new*'s last event with *key* at the same moment, from its own
    thread; the results or the exceptions, in the order they came."""

    def send(store: Store) -> Callable[[], Any]:
        return lambda: store.append(
            new.case_id, new.events[-1:], expected_version=1, idempotency_key=key
        )

    return at_once(*[send(store) for store in stores])


def test_the_same_request_sent_twice_at_once_is_written_once(sql_stores: StoreMaker) -> None:
    """Two servers get the same request (a retried HTTP call) at the same moment: one
    writes, the other answers with the stored result, whoever is first, every round.
    (The loser used to raise ConcurrencyConflict when the winner committed between its
    key lookup and its version check.)"""
    setup = sql_stores()
    stores = [sql_stores(), sql_stores()]
    for round_ in range(15):
        case = open_case(setup.engine, f"twice-{round_}")
        store_new(setup, case)
        new = advance(setup.engine, case, c.RecordConsent(on=case.period_start))
        results = append_together(stores, new, key=f"k-{round_}")
        assert sorted(r.replayed for r in results) == [False, True], (round_, results)
        assert {r.version for r in results} == {2}
        assert results[0].events == results[1].events == new.events[1:]
        assert sql_stores(cache_size=0).events(case.case_id) == new.events


def test_a_request_committed_between_key_lookup_and_version_check_is_replayed(
    sql_stores: StoreMaker,
) -> None:
    """The interleaving of the test above, made certain: the second server has looked
    up the key (not there yet) and is about to check the version when the first
    server commits the same request. It must answer with the stored result."""
    setup = sql_stores()
    case = open_case(setup.engine, "between")
    store_new(setup, case)
    new = advance(setup.engine, case, c.RecordConsent(on=case.period_start))
    first, second = sql_stores(), sql_stores()
    key_looked_up, first_committed = threading.Event(), threading.Event()
    check_version = second._base  # type: ignore[attr-defined]

    def paused_check(case_id: str, expected: int) -> Any:
        key_looked_up.set()
        assert first_committed.wait(timeout=60)
        return check_version(case_id, expected)

    second._base = paused_check  # type: ignore[attr-defined]
    outcome: list[Any] = []

    def second_server() -> None:
        try:
            outcome.append(
                second.append("between", new.events[1:], expected_version=1, idempotency_key="k")
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=second_server)
    thread.start()
    assert key_looked_up.wait(timeout=60)
    written = first.append("between", new.events[1:], expected_version=1, idempotency_key="k")
    first_committed.set()
    thread.join(timeout=60)
    assert not written.replayed
    assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
    assert outcome[0].replayed and outcome[0].version == 2
    assert outcome[0].events == written.events == new.events[1:]
    assert sql_stores(cache_size=0).events("between") == new.events
