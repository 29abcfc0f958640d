"""After-commit delivery: the outbox, the runner and the case service.

The crash test kills real processes: a writer right after its commit, a writer inside
its transaction, and the runner itself in the middle of delivering (twice), then
restarts the runner on the same SQLite file or PostgreSQL schema. Every committed event
reaches an idempotent hook exactly once and a plain hook at least once, in order per
case; an uncommitted event never reaches either.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from imflow import (
    Actor,
    CaseNotFound,
    CaseService,
    ConcurrencyConflict,
    Engine,
    Forbidden,
    FrozenClock,
    GuardContext,
    Hooks,
    InvalidDocument,
    Reason,
    Rejected,
    Role,
    Runner,
    dumps,
)
from imflow import commands as c
from imflow.case import Case
from imflow.events import ConsentRecorded, ContactRecorded, Event, PlanAgreed
from imflow.outbox import RunReport, exponential_backoff
from imflow.store import Store
from tests.crashes import kill_writer_mid_append, more, open_store
from tests.stores import (
    StoreMaker,
    advance,
    manager,
    open_case,
    store_new,
    working_case,
)

# -- hooks that leave traces in files, so that they survive the processes they ran in ------


def recording_hooks(workdir: Path, *, die_after: int | None = None) -> Hooks:
    """An idempotent hook (effects keyed by case and seq) and a plain one that may kill us."""
    hooks = Hooks()
    calls = [0]

    @hooks.on()
    def idempotent(event: Event, case: Case) -> None:
        with sqlite3.connect(workdir / "effects.db") as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS effects"
                " (case_id TEXT, seq INT, PRIMARY KEY (case_id, seq))"
            )
            new = conn.execute(
                "INSERT OR IGNORE INTO effects VALUES (?, ?)", (event.case_id, event.seq)
            ).rowcount
        if new:
            with open(workdir / "idempotent.log", "a", encoding="utf-8") as log:
                log.write(f"{event.case_id} {event.seq}\n")

    @hooks.on()
    def plain(event: Event, case: Case) -> None:
        assert case.events[event.seq - 1] == event
        with open(workdir / "plain.log", "a", encoding="utf-8") as log:
            log.write(f"{event.case_id} {event.seq}\n")
        calls[0] += 1
        if die_after is not None and calls[0] >= die_after:
            os.kill(os.getpid(), signal.SIGKILL)  # after the hook ran, before it was recorded

    return hooks


def read_log(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split()
    return [(lines[i], int(lines[i + 1])) for i in range(0, len(lines), 2)]


SHORT_LEASE = timedelta(seconds=0.5)
"""The lease of the runners killed here: a restarted runner takes over soon after."""


def _runner_dies(kind: str, where: str, schema: str, workdir: str, die_after: int) -> None:
    with open_store(kind, where, schema) as store:
        runner = Runner(
            store, recording_hooks(Path(workdir), die_after=die_after), lease=SHORT_LEASE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the killed runner's leases ran out
            runner.run_once()
            time.sleep(0.05)
    raise AssertionError("the runner should have been killed")


def _writer_dies_after_commit(kind: str, where: str, schema: str, case_id: str) -> None:
    store = open_store(kind, where, schema)
    case = store.load(case_id)
    new = more(store.engine, case, 3)
    store.append(case_id, new.events[case.version :], expected_version=case.version)
    os.kill(os.getpid(), signal.SIGKILL)  # committed, never delivered by this process


def _spawn_and_expect_kill(target: object, *args: object) -> None:
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=target, args=args)  # type: ignore[arg-type]
    child.start()
    child.join(timeout=180)
    assert child.exitcode == -signal.SIGKILL, child.exitcode


@pytest.mark.slow
def test_killed_writers_and_runners_deliver_every_committed_event_and_nothing_else(
    sql_stores: StoreMaker, tmp_path: Path
) -> None:
    workdir = tmp_path / "hooks"
    workdir.mkdir()
    store = sql_stores()
    a = working_case(store.engine, "a")
    b = working_case(store.engine, "b", provider="awo")
    store_new(store, a)
    store_new(store, b)
    where = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    schema = sql_stores.schema

    _spawn_and_expect_kill(_writer_dies_after_commit, sql_stores.kind, where, schema, "a")
    kill_writer_mid_append(sql_stores, store.load("b"))  # never committed
    _spawn_and_expect_kill(_runner_dies, sql_stores.kind, where, schema, str(workdir), 5)
    _spawn_and_expect_kill(_runner_dies, sql_stores.kind, where, schema, str(workdir), 7)

    restarted = sql_stores(cache_size=0)
    runner = Runner(restarted, recording_hooks(workdir), lease=SHORT_LEASE)
    reports = [runner.run_once()]
    deadline = time.monotonic() + 60
    while restarted.outbox.count_pending() and time.monotonic() < deadline:
        # the killed runner's leases run out first
        time.sleep(0.05)
        reports.append(runner.run_once())
    assert sum(r.failed for r in reports) == 0
    assert Runner(restarted, recording_hooks(workdir)).run_once().delivered == 0

    committed = [(e.case_id, e.seq) for cid in ("a", "b") for e in restarted.events(cid)]
    assert len(committed) == a.version + 3 + b.version  # the killed transaction left nothing
    idempotent = read_log(workdir / "idempotent.log")
    plain = read_log(workdir / "plain.log")
    assert sorted(idempotent) == sorted(committed)  # exactly once
    assert set(plain) == set(committed)  # at least once, and nothing uncommitted
    assert max(Counter(plain).values()) == 2  # the two events the killed runners had run
    for case_id in ("a", "b"):
        first_seen = list(dict.fromkeys(seq for cid, seq in plain if cid == case_id))
        assert first_seen == sorted(first_seen)  # in order per case


# -- the runner on every store ----------------------------------------------------------------


class Flaky:
    """A hook that raises while its mail server is down."""

    def __init__(self) -> None:
        self.down = True
        self.calls: list[tuple[str, int]] = []
        self.delivered: list[tuple[str, int]] = []

    def __call__(self, event: Event, case: Case) -> None:
        self.calls.append((event.case_id, event.seq))
        if self.down:
            raise ConnectionError(f"mail server down ({event.case_id})")
        self.delivered.append((event.case_id, event.seq))


def flaky_hooks() -> tuple[Hooks, Flaky, list[tuple[str, int]]]:
    """A flaky hook and a steady one that counts what it sees."""
    hooks = Hooks()
    flaky = Flaky()
    hooks.subscribe(flaky)
    steady: list[tuple[str, int]] = []

    @hooks.on()
    def count(event: Event, case: Case) -> None:
        steady.append((event.case_id, event.seq))

    return hooks, flaky, steady


START = datetime(2031, 5, 1, 8, tzinfo=UTC)


def test_a_failing_hook_is_retried_with_backoff_and_blocks_only_its_own_case(
    stores: StoreMaker,
) -> None:
    store = stores()
    a = open_case(store.engine, "a")
    store_new(store, a)
    a2 = advance(store.engine, a, c.RecordConsent(on=a.period_start))
    store_new(store, a2, since=1)
    b = open_case(store.engine, "b")
    store_new(store, b)
    hooks, flaky, steady = flaky_hooks()
    clock = FrozenClock(START)
    backoff = exponential_backoff(first=timedelta(seconds=30))
    runner = Runner(store, hooks, clock=clock, backoff=backoff)

    first = runner.run_once()
    assert (first.delivered, first.failed, first.parked) == (3, 2, 0)
    assert steady == [("a", 1), ("a", 2), ("b", 1)]  # the other hook is not held up
    assert flaky.calls == [("a", 1), ("b", 1)]  # ("a", 2) waits behind ("a", 1)
    assert [(f.case_id, f.seq) for f in first.failures] == [("a", 1), ("b", 1)]
    assert all(f.error.startswith("ConnectionError") for f in first.failures)

    clock.advance(seconds=29)
    assert runner.run_once() == RunReport()  # the backoff is not over: nothing is called
    assert len(flaky.calls) == 2
    clock.advance(seconds=1)
    assert runner.run_once().failed == 2  # the second failure waits 60 s
    clock.advance(seconds=59)
    assert runner.run_once() == RunReport()
    flaky.down = False
    clock.advance(seconds=1)
    third = runner.run_once()
    assert (third.delivered, third.failed) == (3, 0)
    assert flaky.delivered == [("a", 1), ("a", 2), ("b", 1)]
    assert flaky.calls == [("a", 1), ("b", 1)] * 2 + [("a", 1), ("a", 2), ("b", 1)]
    assert runner.pending() == 0
    assert runner.dead_letters() == []


def test_after_max_attempts_a_delivery_is_a_dead_letter_that_can_be_replayed(
    stores: StoreMaker,
) -> None:
    store = stores()
    case = open_case(store.engine, "a")
    case = advance(store.engine, case, c.RecordConsent(on=case.period_start))
    store_new(store, case)
    hooks, flaky, _ = flaky_hooks()
    clock = FrozenClock(START)
    runner = Runner(store, hooks, clock=clock, max_attempts=2)

    runner.run_once()
    clock.advance(days=1)
    assert runner.run_once().parked == 1
    (letter,) = runner.dead_letters()
    assert (letter.case_id, letter.seq, letter.event_type) == ("a", 1, "case_opened")
    assert (letter.status, letter.attempts, letter.hook) == ("dead", 2, "tests.test_outbox.Flaky")
    assert letter.last_error == "ConnectionError: mail server down (a)"

    clock.advance(days=30)
    assert runner.run_once() == RunReport()  # parked: no more automatic attempts
    assert flaky.calls == [("a", 1), ("a", 1)]  # and seq 2 waits behind it
    assert runner.pending() == 2

    assert runner.replay_dead_letter(letter) is False  # still down
    (again,) = runner.dead_letters()
    assert again.attempts == 3
    flaky.down = False
    assert runner.replay_dead_letter(again) is True
    assert runner.dead_letters() == []
    assert runner.replay_dead_letter(again) is True  # already delivered: nothing to do
    assert flaky.delivered == [("a", 1)]
    runner.run_once()
    assert flaky.delivered == [("a", 1), ("a", 2)]
    assert runner.pending() == 0


def test_a_discarded_dead_letter_lets_the_later_events_through(stores: StoreMaker) -> None:
    store = stores()
    case = advance(store.engine, open_case(store.engine, "a"), c.RecordConsent(on=date(2025, 3, 3)))
    store_new(store, case)
    hooks, flaky, _ = flaky_hooks()
    runner = Runner(store, hooks, clock=FrozenClock(START), max_attempts=1)
    runner.run_once()
    (letter,) = runner.dead_letters()
    runner.discard_dead_letter(letter)
    assert runner.dead_letters() == []
    flaky.down = False
    runner.run_once()
    assert flaky.delivered == [("a", 2)]
    assert runner.pending() == 0


def test_hooks_receive_only_the_event_types_they_subscribed_to(stores: StoreMaker) -> None:
    store = stores()
    store_new(store, working_case(store.engine, "a"))
    hooks = Hooks()
    seen: list[str] = []

    @hooks.on(PlanAgreed, ConsentRecorded)
    def on_plan(event: Event, case: Case) -> None:
        seen.append(event.type)

    report = Runner(store, hooks).run_once()
    assert seen == ["consent_recorded", "plan_agreed"]
    assert report.delivered == 2
    assert store.outbox.count_pending() == 0  # events nobody subscribed to are done too


def test_two_hooks_with_one_name_are_refused(stores: StoreMaker) -> None:
    hooks = Hooks()
    for _ in range(2):

        @hooks.on()
        def same(event: Event, case: Case) -> None:
            """Defined twice: two functions, one name."""

    with pytest.raises(ValueError, match="share the name"):
        Runner(stores(), hooks)


# -- the case service ---------------------------------------------------------------------------


def service_for(stores: StoreMaker, hooks: Hooks) -> CaseService[Store]:
    engine = Engine(clock=FrozenClock.on(date(2025, 6, 1)))
    return CaseService(stores(engine=engine), hooks=hooks)


def test_a_failing_hook_leaves_the_stored_case_and_its_events_unchanged(
    stores: StoreMaker,
) -> None:
    hooks = Hooks()

    @hooks.on(ContactRecorded)
    def explode(event: ContactRecorded, case: Case) -> None:
        raise RuntimeError("the district's mail gateway refused the message")

    clock = FrozenClock.on(date(2025, 6, 1))
    service = CaseService(stores(engine=Engine(clock=clock)), hooks=hooks, max_attempts=3)
    im = manager()
    opened = service.open(
        c.OpenCase(case_id="s", person="p", district="08337", provider="drk", on=date(2025, 3, 3)),
        by=im,
    )
    new = service.handle("s", c.RecordContact(on=date(2025, 3, 4), minutes=30), by=im)
    assert new.version == opened.version + 1
    for _ in range(3):
        clock.advance(days=1)
        service.deliver()
    (letter,) = service.runner.dead_letters()
    assert (letter.seq, letter.attempts) == (2, 3)
    assert "mail gateway" in letter.last_error
    assert service.store.load("s") == new
    assert service.store.events("s") == new.events
    fresh = stores(cache_size=0)  # the memory store is shared: service.store itself
    assert fresh.load("s") == new


def test_the_service_writes_a_repeated_request_once_and_delivers_it_once(
    stores: StoreMaker,
) -> None:
    delivered: list[tuple[str, int]] = []
    hooks = Hooks()

    @hooks.on()
    def record(event: Event, case: Case) -> None:
        delivered.append((event.case_id, event.seq))

    service = service_for(stores, hooks)
    im = manager()
    opening = c.OpenCase(
        case_id="s", person="p", district="08337", provider="drk", on=date(2025, 3, 3)
    )
    first = service.open(opening, by=im, idempotency_key="open-s")
    assert service.open(opening, by=im, idempotency_key="open-s") == first
    consent = c.RecordConsent(on=date(2025, 3, 3))
    one = service.handle("s", consent, by=im, idempotency_key="consent-s")
    two = service.handle("s", consent, by=im, idempotency_key="consent-s")
    assert one == two and one.version == 2
    assert delivered == [("s", 1), ("s", 2)]


def test_refused_or_malformed_commands_write_and_deliver_nothing(stores: StoreMaker) -> None:
    delivered: list[int] = []
    hooks = Hooks()

    @hooks.on()
    def record(event: Event, case: Case) -> None:
        delivered.append(event.seq)

    service = service_for(stores, hooks)
    im = manager()
    service.execute(
        dumps(
            c.OpenCase(
                case_id="s", person="p", district="08337", provider="drk", on=date(2025, 3, 3)
            )
        ),
        by=im,
    )
    before = (service.store.events("s"), service.store.outbox.count_pending(), list(delivered))
    with pytest.raises(Rejected, match="consent_missing"):
        service.handle("s", c.StartAssessment(on=date(2025, 3, 4)), by=im)
    with pytest.raises(InvalidDocument) as err:
        service.execute(
            '{"type": "record_contact", "on": "2025-03-04", "minutes": "30"}', case_id="s", by=im
        )
    assert err.value.path == "$.minutes"
    with pytest.raises(CaseNotFound):
        service.handle("nope", c.RecordConsent(on=date(2025, 3, 4)), by=im)
    assert (service.store.events("s"), service.store.outbox.count_pending(), delivered) == before
    assert delivered == [1]


@pytest.mark.parametrize("retries", [0, 1])
def test_the_service_decides_again_after_a_conflict_when_asked_to(
    stores: StoreMaker, retries: int
) -> None:
    other: list[Store] = []
    interfered: list[bool] = []

    def another_server_acts_first(
        case: Case | None, command: c.Command | None, ctx: GuardContext
    ) -> list[Reason]:
        # runs inside decide: between the service's load and its append
        if isinstance(command, c.RecordContact) and not interfered:
            interfered.append(True)
            theirs = other[0].load("s")
            new = advance(other[0].engine, theirs, c.RecordConsent(on=date(2025, 3, 3)))
            store_new(other[0], new, since=theirs.version)
        return []

    engine = Engine(clock=FrozenClock.on(date(2025, 6, 1)), policies=[another_server_acts_first])
    service = CaseService(stores(engine=engine), retries=retries)
    # another server, whose clock agrees (the memory store has only one view)
    other.append(stores(engine=Engine(clock=FrozenClock.on(date(2025, 6, 1)))))
    im = manager()
    service.open(
        c.OpenCase(case_id="s", person="p", district="08337", provider="drk", on=date(2025, 3, 3)),
        by=im,
    )
    contact = c.RecordContact(on=date(2025, 3, 4), minutes=20)
    if retries == 0:
        with pytest.raises(ConcurrencyConflict) as err:
            service.handle("s", contact, by=im)
        assert (err.value.expected, err.value.actual) == (1, 2)
        assert [e.type for e in service.store.events("s")] == ["case_opened", "consent_recorded"]
    else:
        new = service.handle("s", contact, by=im)
        assert [e.type for e in new.events] == [
            "case_opened",
            "consent_recorded",
            "contact_recorded",
        ]
        assert service.store.load("s") == new


def test_the_service_refuses_an_engine_that_runs_hooks_before_the_commit(
    stores: StoreMaker,
) -> None:
    hooks = Hooks()

    @hooks.on()
    def too_early(event: Event, case: Case) -> None:
        """Would run before the commit."""

    with pytest.raises(ValueError, match="before the commit"):
        CaseService(stores(engine=Engine(hooks=hooks)))


@pytest.mark.parametrize("retries", [0, 2])
def test_an_expected_version_the_case_is_not_at_is_a_conflict_and_writes_nothing(
    stores: StoreMaker, retries: int
) -> None:
    """``handle(expected_version=)``: the client's If-Match; retries never paper over it."""
    engine = Engine(clock=FrozenClock.on(date(2025, 6, 1)))
    service = CaseService(stores(engine=engine), retries=retries)
    im = manager()
    service.open(
        c.OpenCase(case_id="v", person="p", district="08337", provider="drk", on=date(2025, 3, 3)),
        by=im,
    )
    consent = c.RecordConsent(on=date(2025, 3, 3))
    assert service.handle("v", consent, by=im, expected_version=1).version == 2
    with pytest.raises(ConcurrencyConflict) as err:
        service.handle(
            "v", c.RecordContact(on=date(2025, 3, 4), minutes=5), by=im, expected_version=1
        )
    assert (err.value.expected, err.value.actual) == (1, 2)
    assert service.store.load("v").version == 2
    # a foreign actor learns nothing, not even the version: forbidden comes first
    other = Actor("im-9", Role.MANAGER, provider="awo", district="08337")
    with pytest.raises(Forbidden):
        service.handle("v", consent, by=other, expected_version=7)
