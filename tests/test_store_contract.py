"""The store contract: one suite, run unchanged on MemoryStore, SQLiteStore and PostgresStore."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import (
    Case,
    CaseNotFound,
    ConcurrencyConflict,
    InvalidHistory,
    Phase,
    dumps,
    loads,
)
from imflow import commands as c
from imflow.events import Event
from imflow.store import IdempotencyKeyReused, Store
from imflow.testing import cases
from tests.stores import (
    StoreMaker,
    advance,
    far_future_engine,
    manager,
    open_case,
    store_new,
    working_case,
)


def snapshot_of(store: Store) -> tuple[object, ...]:
    """Everything observable about a store's contents, to show that nothing changed."""
    return (
        tuple((case.case_id, case.version, case.events) for case in store.iter_cases()),
        store.outbox.count_pending(),
    )


# -- append and load -----------------------------------------------------------------------


def test_a_stored_case_loads_equal_to_the_case_and_to_the_replay_of_its_events(
    stores: StoreMaker,
) -> None:
    store = stores()
    case = working_case(store.engine, "wt-1")
    result = store.append("wt-1", case.events, expected_version=0)
    assert (result.case_id, result.version, result.events, result.replayed) == (
        "wt-1",
        case.version,
        case.events[:],
        False,
    )
    assert store.load("wt-1") == case
    assert store.events("wt-1") == case.events
    assert store.engine.replay(store.events("wt-1")) == case


def test_appends_in_several_batches_add_up_to_the_case(stores: StoreMaker) -> None:
    store = stores()
    case = working_case(store.engine, "wt-1")
    cuts = [0, 1, 2, 5, case.version]
    for start, end in itertools.pairwise(cuts):
        store.append("wt-1", case.events[start:end], expected_version=start)
        assert store.load("wt-1").events == case.events[:end]
    assert store.load("wt-1") == case


def test_a_second_store_on_the_same_storage_sees_the_case(stores: StoreMaker) -> None:
    first = stores()
    case = working_case(first.engine, "wt-1")
    store_new(first, case)
    second = stores(cache_size=0)
    assert second.load("wt-1") == case


def test_unknown_cases_are_not_found(stores: StoreMaker) -> None:
    store = stores()
    with pytest.raises(CaseNotFound) as err:
        store.load("nope")
    assert err.value.case_id == "nope"
    with pytest.raises(CaseNotFound):
        store.events("nope")


# -- optimistic concurrency ----------------------------------------------------------------


def test_a_stale_expected_version_conflicts_and_writes_nothing(stores: StoreMaker) -> None:
    store = stores()
    case = open_case(store.engine, "wt-1")
    store_new(store, case)
    one = advance(store.engine, case, c.RecordConsent(on=case.period_start))
    store_new(store, one, since=1)
    before = snapshot_of(store)
    other = advance(store.engine, case, c.RecordContact(on=case.period_start, minutes=20))
    with pytest.raises(ConcurrencyConflict) as err:
        store.append("wt-1", other.events[1:], expected_version=1)
    assert (err.value.case_id, err.value.expected, err.value.actual) == ("wt-1", 1, 2)
    assert snapshot_of(store) == before
    assert store.load("wt-1") == one


def test_opening_an_existing_case_again_conflicts(stores: StoreMaker) -> None:
    store = stores()
    case = open_case(store.engine, "wt-1")
    store_new(store, case)
    before = snapshot_of(store)
    again = open_case(store.engine, "wt-1", person="p-2")
    with pytest.raises(ConcurrencyConflict) as err:
        store.append("wt-1", again.events, expected_version=0)
    assert (err.value.expected, err.value.actual) == (0, 1)
    assert snapshot_of(store) == before
    assert store.load("wt-1").person == "p-1"


def test_appending_to_a_missing_case_conflicts_with_version_zero(stores: StoreMaker) -> None:
    store = stores()
    case = advance(
        store.engine, open_case(store.engine, "wt-1"), c.RecordConsent(on=date(2025, 3, 3))
    )
    with pytest.raises(ConcurrencyConflict) as err:
        store.append("wt-1", case.events[1:], expected_version=1)
    assert (err.value.expected, err.value.actual) == (1, 0)
    with pytest.raises(CaseNotFound):
        store.load("wt-1")


def test_a_batch_that_is_not_a_valid_continuation_writes_nothing(stores: StoreMaker) -> None:
    store = stores()
    case = working_case(store.engine, "wt-1")
    store_new(store, attrs.evolve(case, events=case.events[:3]))
    before = snapshot_of(store)
    wrong_seq = case.events[4:6]  # skips seq 4
    with pytest.raises(InvalidHistory):
        store.append("wt-1", wrong_seq, expected_version=3)
    foreign = open_case(store.engine, "other").events
    with pytest.raises(InvalidHistory):
        store.append("wt-1", foreign, expected_version=3)
    reopened = open_case(store.engine, "wt-1").events[0]
    with pytest.raises(InvalidHistory):
        store.append("wt-1", [attrs.evolve(reopened, seq=4)], expected_version=3)
    with pytest.raises(InvalidHistory):
        store.append("wt-1", [], expected_version=3)
    assert snapshot_of(store) == before


# -- idempotency ------------------------------------------------------------------------


def test_a_repeated_idempotency_key_returns_the_stored_result_without_writing(
    stores: StoreMaker,
) -> None:
    store = stores()
    case = open_case(store.engine, "wt-1")
    store_new(store, case)
    one = advance(store.engine, case, c.RecordConsent(on=case.period_start))
    first = store.append("wt-1", one.events[1:], expected_version=1, idempotency_key="req-1")
    before = snapshot_of(store)
    # the client did not hear back and sends the same request again: same version, too
    again = store.append("wt-1", one.events[1:], expected_version=1, idempotency_key="req-1")
    assert again.replayed and not first.replayed
    assert (again.case_id, again.version, again.events) == (first.case_id, 2, first.events)
    assert snapshot_of(store) == before
    recalled = store.recall("req-1", by=manager())
    assert recalled is not None and recalled.events == first.events
    assert store.recall("req-unknown", by=manager()) is None


def test_an_idempotency_key_of_another_case_is_refused(stores: StoreMaker) -> None:
    store = stores()
    store_new(store, open_case(store.engine, "wt-1"), key="req-1")
    before = snapshot_of(store)
    with pytest.raises(IdempotencyKeyReused):
        store_new(store, open_case(store.engine, "wt-2"), key="req-1")
    assert snapshot_of(store) == before


# -- queries -------------------------------------------------------------------------------


def test_iter_cases_filters_by_district_provider_phase_period_end_and_openness(
    stores: StoreMaker,
) -> None:
    store = stores()
    e = store.engine
    a = open_case(e, "a", district="08337", provider="drk")
    b = working_case(e, "b", district="08337", provider="awo")
    d = open_case(e, "d", district="08111", provider="drk", on=date(2024, 1, 10))
    closed = advance(
        e,
        open_case(e, "x", district="08111", provider="drk", on=date(2024, 1, 10)),
        c.CloseCase(reason="moved_away", on=date(2024, 2, 1)),
    )
    for case in (closed, d, b, a):
        store_new(store, case)

    def ids(**filters: object) -> list[str]:
        return [case.case_id for case in store.iter_cases(**filters)]  # type: ignore[arg-type]

    assert ids() == ["a", "b", "d", "x"]
    assert ids(district="08337") == ["a", "b"]
    assert ids(provider="drk") == ["a", "d", "x"]
    assert ids(district="08111", provider="drk") == ["d", "x"]
    assert ids(phase=Phase.MONITORING) == ["b"]
    assert ids(phase="closed") == ["x"]
    assert ids(open_only=True) == ["a", "b", "d"]
    assert d.period_end == date(2027, 1, 9)
    assert ids(period_end_before=date(2027, 1, 10)) == ["d", "x"]
    assert ids(period_end_before=date(2027, 1, 9)) == []
    assert ids(period_end_before=date(2027, 1, 10), open_only=True) == ["d"]
    assert all(isinstance(case, Case) for case in store.iter_cases())


def test_due_cases_are_the_open_cases_whose_period_ended_before_the_day(
    stores: StoreMaker,
) -> None:
    store = stores()
    e = store.engine
    ends_jan_9 = open_case(e, "due", on=date(2024, 1, 10))
    later = open_case(e, "later", on=date(2024, 1, 11))
    closed = advance(
        e,
        open_case(e, "closed", on=date(2024, 1, 1)),
        c.CloseCase(reason="no_contact", on=date(2024, 3, 1)),
    )
    reopened = advance(
        e,
        open_case(e, "reopened", on=date(2024, 1, 1)),
        c.RecordConsent(on=date(2024, 1, 1)),
        c.CloseCase(reason="client_request", on=date(2024, 3, 1)),
        c.ReopenCase(on=date(2024, 4, 1)),
    )
    for case in (ends_jan_9, later, closed, reopened):
        store_new(store, case)
    assert [x.case_id for x in store.due_cases(date(2027, 1, 9))] == ["reopened"]
    assert [x.case_id for x in store.due_cases(date(2027, 1, 10))] == ["reopened", "due"]
    due = list(store.due_cases(date(2027, 1, 11)))
    assert [x.case_id for x in due] == ["reopened", "due", "later"]
    assert due[1] == ends_jan_9


# -- outbox and life cycle -----------------------------------------------------------------


def test_every_appended_event_gets_an_outbox_entry(stores: StoreMaker) -> None:
    store = stores()
    case = working_case(store.engine, "wt-1")
    store_new(store, attrs.evolve(case, events=case.events[:4]))
    store.append("wt-1", case.events[4:], expected_version=4)
    pending = store.outbox.pending(after=0, limit=100)
    assert [(p.case_id, p.seq, p.event_type) for p in pending] == [
        ("wt-1", e.seq, e.type) for e in case.events
    ]
    assert store.outbox.count_pending() == case.version


def test_a_closed_store_refuses_work(stores: StoreMaker) -> None:
    store = stores()
    with store as same:
        assert same is store
        store_new(store, open_case(store.engine, "wt-1"))
    with pytest.raises(RuntimeError, match="closed"):
        store.load("wt-1")


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases(max_steps=30), cuts=st.lists(st.integers(1, 40), max_size=4), data=st.data())
def test_any_valid_history_round_trips_through_json_and_the_store(
    stores: StoreMaker, case: Case, cuts: list[int], data: st.DataObject
) -> None:
    case_id = f"h-{uuid.uuid4().hex[:12]}"
    case = far_future_engine().replay([attrs.evolve(e, case_id=case_id) for e in case.events])
    for event in case.events:
        assert loads(dumps(event), Event) == event
    assert loads(dumps(case), Case) == case
    snapshot_every = data.draw(st.sampled_from([0, 1, 3, 7]))
    with stores.fresh(snapshot_every=snapshot_every) as store:
        bounds = sorted({0, case.version, *(x for x in cuts if x < case.version)})
        for start, end in itertools.pairwise(bounds):
            store.append(case_id, case.events[start:end], expected_version=start)
        assert store.load(case_id) == case
        assert store.engine.replay(store.events(case_id)) == case
    with stores.fresh(cache_size=0) as fresh:
        assert fresh.load(case_id) == case


def test_a_long_case_loads_from_its_snapshot_and_the_tail(stores: StoreMaker) -> None:
    store = stores(snapshot_every=10)
    case = working_case(store.engine, "long")
    on = case.latest_on
    for i in range(40):
        case = advance(
            store.engine, case, c.RecordContact(on=on + timedelta(days=i), minutes=30 + i)
        )
    for start in range(0, case.version, 7):
        store.append("long", case.events[start : start + 7], expected_version=start)
    fresh = stores(cache_size=0)
    assert fresh.load("long") == case
    assert len(fresh.load("long").contacts) == 41
