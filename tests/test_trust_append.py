"""One validation for every entrance (#11): stores admit only what the engine could record.

Hostile, mutated and forged batches against the memory store (thousands of examples)
and against all three stores at once (fewer): only ``InvalidHistory``, nothing written,
the stores agree on every verdict, :meth:`Engine.replay` agrees with them, and every
later operation on every accepted history succeeds.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from imflow import (
    Actor,
    Case,
    CaseNotFound,
    ConcurrencyConflict,
    Engine,
    FrozenClock,
    ImflowError,
    InvalidHistory,
    Rejected,
    Role,
    WorkflowMismatch,
    dumps,
    loads,
)
from imflow import commands as c
from imflow.engine import REBUILDABLE
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea, Phase
from imflow.events import (
    EVENT_TYPES,
    CaseClosed,
    CaseOpened,
    CaseReopened,
    ContactRecorded,
    GoalAdded,
    GoalStatusSet,
    PeriodExtended,
    PersonErased,
    PlanAgreed,
)
from imflow.kennzahlen import report
from imflow.store import MemoryStore, PostgresStore, SQLiteStore, Store
from imflow.testing import FAR_FUTURE, manager_for
from tests.hostile import Attack, attacks, renamed
from tests.stores import (
    StoreMaker,
    advance,
    far_future_engine,
    manager,
    migrated_schema,
    open_case,
    pg_dsn,
    working_case,
)

__all__ = ["pg_dsn"]

ENGINE = far_future_engine()
_IDS = itertools.count()


def later_operations_succeed(engine: Engine, case: Case) -> None:
    """Everything a host does with a loaded case raises nothing but documented errors."""
    by = manager_for(case)
    engine.allowed(case, by=by)
    engine.allowed(case, by=Actor("c-1", Role.COORDINATOR, district=case.district))
    engine.deadlines(case)
    engine.sweep([case], on=FAR_FUTURE.date())
    for year in {case.period_start.year, case.latest_on.year}:
        report(case.events, year=year)
    assert loads(dumps(case), Case, engine=engine) == case
    for command in (
        c.RecordContact(on=case.latest_on, minutes=30),
        c.CloseCase(reason="other", note="n", on=case.latest_on),
        c.SetGoalStatus(goal_id="g1", status="achieved", on=case.latest_on),
    ):
        with contextlib.suppress(Rejected):  # refusals are fine; any other error is not
            engine.handle(case, command, by=by)


def append_verdict(store: Store, attack: Attack, case_id: str) -> str:
    """``accepted`` or ``refused``; a refusal leaves the store exactly as it was."""
    stored = renamed(attack.stored, case_id)
    batch = tuple(
        attrs.evolve(e, case_id=case_id) if e.case_id == attack.case.case_id else e
        for e in attack.batch
    )
    if stored:
        store.append(case_id, stored, expected_version=0)
    before = store.events(case_id) if stored else None
    pending = store.outbox.count_pending()
    try:
        store.append(case_id, batch, expected_version=len(stored))
    except InvalidHistory as exc:
        assert "\x00" not in str(exc) and "\ud800" not in str(exc)
        if before is None:
            with pytest.raises(CaseNotFound):
                store.load(case_id)
        else:
            assert store.events(case_id) == before
            assert store.load(case_id).events == before
        assert store.outbox.count_pending() == pending
        return "refused"
    return "accepted"


def replay_verdict(attack: Attack) -> str | None:
    """What :meth:`Engine.replay` says of the whole history (``None``: not comparable)."""
    history = (*attack.stored, *attack.batch)
    if any(isinstance(e, PersonErased) for e in attack.batch):
        return None  # replay accepts an erasure; append leaves it to erase_person
    if any(getattr(e, "case_id", None) != attack.case.case_id for e in history):
        return None  # append refuses a batch of another case before looking at it
    try:
        ENGINE.replay(history)
    except (InvalidHistory, WorkflowMismatch):
        return "refused"
    return "accepted"


@settings(max_examples=2000, deadline=None)
@given(attack=attacks())
def test_the_memory_store_admits_only_what_the_engine_could_have_recorded(
    attack: Attack,
) -> None:
    store = MemoryStore(engine=ENGINE)
    case_id = attack.case.case_id
    verdict = append_verdict(store, attack, case_id)
    assert replay_verdict(attack) in (None, verdict)
    if attack.kind == "intact" and attack.batch == attack.case.events[len(attack.stored) :]:
        assert verdict == "accepted"
    if attack.kind == "erase":
        assert verdict == "refused"  # a forged person_erased never gets in
    if verdict == "accepted":
        case = store.load(case_id)
        assert ENGINE.replay(case.events) == case
        later_operations_succeed(ENGINE, case)


@pytest.fixture
def three_stores(tmp_path: Path, pg_dsn: str) -> Iterator[tuple[Store, Store, Store]]:
    schema = migrated_schema(pg_dsn)
    made = (
        MemoryStore(engine=ENGINE),
        SQLiteStore(tmp_path / "hostile.db", engine=ENGINE),
        PostgresStore(pg_dsn, schema=schema, engine=ENGINE),
    )
    try:
        yield made
    finally:
        for store in made:
            store.close()
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(attack=attacks(max_steps=10))
def test_memory_sqlite_and_postgres_refuse_exactly_the_same_batches(
    three_stores: tuple[Store, Store, Store], attack: Attack
) -> None:
    case_id = f"h-{next(_IDS)}"
    verdicts = [append_verdict(store, attack, case_id) for store in three_stores]
    assert len(set(verdicts)) == 1, (attack.kind, verdicts)
    if verdicts[0] == "accepted":
        loaded = [store.load(case_id) for store in three_stores]
        assert loaded[0] == loaded[1] == loaded[2]
        later_operations_succeed(ENGINE, loaded[1])
        year = loaded[0].latest_on.year
        # the key figures counted in SQL, on everything stored so far, agree too
        memory, sqlite, postgres = (report(store, year=year) for store in three_stores)
        assert memory == sqlite == postgres


# -- every item of "what got through" in #11, by hand -------------------------------------


DAY = date(2025, 3, 3)
CLOCK = datetime(2025, 9, 1, 12, tzinfo=UTC)


def _engine() -> Engine:
    return Engine(clock=FrozenClock(CLOCK))


def refused(store: Store, case: Case, *events: object) -> InvalidHistory:
    """Append *events* after *case* (stored); return the InvalidHistory, nothing written."""
    before = store.events(case.case_id)
    with pytest.raises(InvalidHistory) as exc:
        store.append(case.case_id, events, expected_version=case.version)  # type: ignore[arg-type]
    assert store.events(case.case_id) == before
    return exc.value


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = (
        MemoryStore(engine=_engine())
        if request.param == "memory"
        else SQLiteStore(tmp_path / "forged.db", engine=_engine())
    )
    yield made
    made.close()


def stored_case(store: Store, case_id: str = "wt-1") -> Case:
    case = working_case(store.engine, case_id)
    store.append(case_id, case.events, expected_version=0)
    return case


def next_stamp(case: Case, **fields: object) -> dict[str, object]:
    return {
        "case_id": case.case_id,
        "seq": case.version + 1,
        "on": case.latest_on,
        "recorded_at": case.events[-1].recorded_at,
        **fields,
    }


def test_an_auditor_of_another_provider_cannot_add_contacts(store: Store) -> None:
    case = stored_case(store)
    auditor = Actor("au-1", Role.AUDITOR, provider="awo", district="08111")
    contact = ContactRecorded(
        **next_stamp(case, actor=auditor),  # type: ignore[arg-type]
        minutes=30,
        channel=Channel.PHONE,
        topics=(),
    )
    assert "forbidden" in str(refused(store, case, contact))


def test_a_closed_case_takes_no_forged_reopen_or_negative_extension(store: Store) -> None:
    case = stored_case(store)
    by = manager_for(case)
    closed = advance(store.engine, case, c.CloseCase(reason="moved_away", on=case.latest_on))
    store.append(case.case_id, closed.events[-1:], expected_version=case.version)
    minus = PeriodExtended(
        **next_stamp(closed, actor=by),  # type: ignore[arg-type]
        months=-500,
        justification="j",
        period_end=date(2000, 1, 1),
    )
    refused(store, closed, minus)
    contact = ContactRecorded(
        **next_stamp(closed, actor=by),  # type: ignore[arg-type]
        minutes=30,
        channel=Channel.PHONE,
        topics=(),
    )
    assert "case_closed" in str(refused(store, closed, contact))
    auditor = Actor("au-1", Role.AUDITOR, provider="awo", district="08111")
    reopen = CaseReopened(**next_stamp(closed, actor=auditor))  # type: ignore[arg-type]
    assert "forbidden" in str(refused(store, closed, reopen))


def test_an_opening_with_an_unknown_rule_set_district_empty_person_is_refused(
    store: Store,
) -> None:
    good = open_case(store.engine, "wt-9").events[0]
    for changes in (
        {"rule_set": "no-such"},
        {"district": "99999"},
        {"person": ""},
        {"household": -3},
        {"household": 3_000_000_000},
        {"members": ("",)},
        {"members": ("p-\x00",)},
        {"person": "p-\ud800"},
        {"period_end": date(2099, 1, 1)},
        {"workflow_hash": "0000"},
    ):
        forged = attrs.evolve(good, **changes)
        with pytest.raises(InvalidHistory):
            store.append("wt-9", (forged,), expected_version=0)
        with pytest.raises(CaseNotFound):
            store.load("wt-9")
    assert store.erase_person("", on=DAY) == ()


def test_a_forged_person_erased_is_refused(store: Store) -> None:
    case = stored_case(store)
    forged = PersonErased(**next_stamp(case, actor=manager_for(case)))  # type: ignore[arg-type]
    assert "erase_person" in str(refused(store, case, forged))
    # erase_person itself records it
    assert store.erase_person("p-1", on=case.latest_on) == (case.case_id,)
    assert isinstance(store.load(case.case_id).events[-1], PersonErased)


def test_goal_and_plan_events_without_a_plan_are_refused(store: Store) -> None:
    case = open_case(store.engine, "wt-2")
    store.append("wt-2", case.events, expected_version=0)
    by = manager_for(case)
    for event in (
        GoalAdded(
            **next_stamp(case, actor=by),  # type: ignore[arg-type]
            goal_id="g1",
            area=LifeArea.WORK,
            description="d",
            target_date=DAY,
        ),
        GoalStatusSet(
            **next_stamp(case, actor=by),  # type: ignore[arg-type]
            goal_id="g1",
            status=GoalStatus.ACHIEVED,
        ),
        PlanAgreed(**next_stamp(case, actor=by), plan_version=1),  # type: ignore[arg-type]
    ):
        refused(store, case, event)
    later_operations_succeed(store.engine, store.load("wt-2"))


def test_wrongly_typed_fields_are_refused_by_every_store_alike(store: Store) -> None:
    case = stored_case(store)
    by = manager_for(case)
    good = ContactRecorded(
        **next_stamp(case, actor=by),  # type: ignore[arg-type]
        minutes=30,
        channel=Channel.PHONE,
        topics=(),
    )
    for changes in (
        {"minutes": "30"},
        {"minutes": True},
        {"channel": "phone"},
        {"topics": ["work"]},
        {"topics": ("work",)},
        {"on": datetime(2025, 3, 3, tzinfo=UTC)},
        {"actor": "im-1"},
    ):
        forged = attrs.evolve(good)
        for name, value in changes.items():
            object.__setattr__(forged, name, value)
        assert "field" in str(refused(store, case, forged))


def test_a_naive_or_late_recorded_at_is_refused_and_the_case_stays_readable(
    store: Store,
) -> None:
    case = stored_case(store)
    by = manager_for(case)
    contact = ContactRecorded(
        **next_stamp(case, actor=by),  # type: ignore[arg-type]
        minutes=30,
        channel=Channel.PHONE,
        topics=(),
    )
    last = case.events[-1].recorded_at
    for moment in (
        last.replace(tzinfo=None),
        last - timedelta(seconds=1),  # before the case's latest event
        CLOCK + timedelta(seconds=1),  # after the store engine's now
        datetime(2100, 1, 1, tzinfo=UTC),
    ):
        refused(store, case, attrs.evolve(contact, recorded_at=moment))
    assert store.load(case.case_id) == case
    assert [x.case_id for x in store.iter_cases()] == [case.case_id]
    assert store.append(case.case_id, (contact,), expected_version=case.version).version == (
        case.version + 1
    )


def test_the_system_role_only_closes_expired_periods() -> None:
    engine = Engine(clock=FrozenClock.on(date(2029, 6, 1)))
    case = working_case(engine, "wt-3")
    system = Actor("imflow-system", Role.SYSTEM)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.CloseCase(reason="moved_away", on=date(2029, 6, 1)), by=system)
    assert exc.value.codes == ("forbidden",)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.RecordContact(on=date(2029, 6, 1), minutes=5), by=system)
    assert exc.value.codes == ("forbidden",)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.MigrateRuleSet(rule_set="system-2025", on=DAY), by=system)
    assert exc.value.codes == ("forbidden",)
    closed = engine.handle(
        case, c.CloseCase(reason="period_expired", on=date(2029, 6, 1)), by=system
    )
    assert closed.closure is not None and closed.closure.reason is ClosureReason.PERIOD_EXPIRED


def test_contradictory_case_documents_are_refused_by_loads() -> None:
    engine = _engine()
    case = working_case(engine, "wt-4")
    for forged in (
        attrs.evolve(case, events=()),
        attrs.evolve(case, rule_set="no-such"),
        attrs.evolve(case, phase=Phase.CLOSED),
        attrs.evolve(case, events=case.events[:-1]),
        attrs.evolve(case, needs=()),
    ):
        with pytest.raises(ImflowError) as exc:
            loads(dumps(forged), Case, engine=engine)
        assert type(exc.value).__name__ == "InvalidDocument"
    assert loads(dumps(case), Case, engine=engine) == case


def test_every_event_type_but_the_erasure_names_a_command_that_records_it() -> None:
    """New command/event pairs are covered by the re-check without a table to update."""
    assert set(REBUILDABLE) == set(EVENT_TYPES) - {"person_erased"}
    for tag, (command_cls, shared) in REBUILDABLE.items():
        assert "on" in shared, tag
        for field in attrs.fields(command_cls):
            assert field.name in shared or field.default is not attrs.NOTHING, (tag, field.name)


def test_replay_and_loads_refuse_what_append_refuses() -> None:
    engine = _engine()
    case = working_case(engine, "wt-5")
    closed = CaseClosed(
        **next_stamp(case, actor=Actor("au-1", Role.AUDITOR)),  # type: ignore[arg-type]
        reason=ClosureReason.MOVED_AWAY,
        note="",
    )
    with pytest.raises(InvalidHistory):
        engine.replay((*case.events, closed))
    with pytest.raises(InvalidHistory):
        MemoryStore(engine=engine).append("wt-5", (*case.events, closed), expected_version=0)
    document = attrs.evolve(case, events=(*case.events, closed))
    with pytest.raises(ImflowError):
        loads(dumps(document), Case, engine=engine)
    # the opening of a case that a manager of another district opened
    opened = attrs.evolve(
        case.events[0], actor=Actor("im-1", Role.MANAGER, provider="drk", district="08111")
    )
    assert isinstance(opened, CaseOpened)
    with pytest.raises(InvalidHistory, match="forbidden"):
        engine.replay((opened,))


# -- the base an append re-decides against (#17): never the caller's ------------------------


def _closed_in(store: Store, case_id: str) -> tuple[Case, Case]:
    """A working case stored, then closed in the store: (the open case, the closed one)."""
    case = stored_case(store, case_id)
    closed = advance(store.engine, case, c.CloseCase(reason="moved_away", on=case.latest_on))
    store.append(case_id, closed.events[-1:], expected_version=case.version)
    return case, closed


def test_a_forged_case_at_the_stored_version_does_not_widen_what_append_admits(
    sql_stores: StoreMaker,
) -> None:
    with sql_stores.fresh(engine=ENGINE, cache_size=0) as store:
        case, _ = _closed_in(store, "fb-1")
        loaded = store.load("fb-1")  # issued by the store, held while the attack runs
        assert loaded.closure is not None
        # the host reopens the case in memory only, at the stored version
        forged = attrs.evolve(loaded, phase=case.phase, closure=None)
        assert forged.version == loaded.version
        contact = c.RecordContact(on=forged.latest_on, minutes=30)
        new = ENGINE.handle(forged, contact, by=manager_for(forged))
        before = store.events("fb-1")
        with pytest.raises(InvalidHistory, match="case_closed"):
            store.append("fb-1", new.events[forged.version :], expected_version=forged.version)
        assert store.events("fb-1") == before
        # the same with the store's own case dropped: the forged one is all there is
        del loaded
        with pytest.raises(InvalidHistory, match="case_closed"):
            store.append("fb-1", new.events[forged.version :], expected_version=forged.version)
        assert store.events("fb-1") == before


def test_a_case_issued_before_another_writer_wrote_is_no_base(sql_stores: StoreMaker) -> None:
    with (
        sql_stores.fresh(engine=ENGINE, cache_size=0) as a,
        sql_stores.fresh(engine=ENGINE, cache_size=0) as b,
    ):
        case = stored_case(a, "fb-2")
        held = a.load("fb-2")  # issued by a at its version
        closed = advance(ENGINE, case, c.CloseCase(reason="moved_away", on=case.latest_on))
        b.append("fb-2", closed.events[-1:], expected_version=case.version)
        new = ENGINE.handle(held, c.RecordContact(on=held.latest_on, minutes=30), by=manager())
        # the contact relabelled to follow what b wrote is decided against b's case
        relabelled = attrs.evolve(new.events[-1], seq=closed.version + 1)
        with pytest.raises(InvalidHistory, match="case_closed"):
            a.append("fb-2", (relabelled,), expected_version=closed.version)
        with pytest.raises(ConcurrencyConflict):
            a.append("fb-2", new.events[held.version :], expected_version=held.version)
        assert a.load("fb-2") == closed


def test_a_case_a_host_rolled_back_is_no_base(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "rolled.db"
    with SQLiteStore(path, engine=ENGINE, cache_size=0) as store:
        case = stored_case(store, "fb-3")
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            with store.unit_of_work(conn) as uow:
                contact = advance(ENGINE, case, c.RecordContact(on=case.latest_on, minutes=5))
                uow.append("fb-3", contact.events[-1:], expected_version=case.version)
                kept = uow.load("fb-3")  # the case at the version the host rolls back
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        assert kept.version == case.version + 1
        closed = advance(ENGINE, case, c.CloseCase(reason="moved_away", on=case.latest_on))
        store.append("fb-3", closed.events[-1:], expected_version=case.version)
        new = ENGINE.handle(kept, c.RecordContact(on=kept.latest_on, minutes=9), by=manager())
        with pytest.raises(InvalidHistory, match="case_closed"):
            store.append("fb-3", new.events[kept.version :], expected_version=kept.version)
        assert store.load("fb-3") == closed
