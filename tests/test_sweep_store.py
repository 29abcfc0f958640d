"""Sweeps over a store: found through the index, closed once, also when two run at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from structlog.testing import capture_logs

import imflow
from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.store import AppendResult
from tests.stores import StoreMaker

ENGINE = Engine(clock=FrozenClock(datetime(2031, 6, 1, tzinfo=UTC)))


def opened(case_id: str, on: date) -> Case:
    im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
    return ENGINE.open(
        c.OpenCase(case_id=case_id, person=f"p-{case_id}", district="08337", provider="drk", on=on),
        by=im,
    )


def fill(store: imflow.store.Store) -> dict[str, Case]:
    cases = {
        "due-1": opened("due-1", date(2025, 1, 10)),  # last day 2028-01-09
        "due-2": opened("due-2", date(2025, 2, 1)),  # last day 2028-01-31
        "last-day": opened("last-day", date(2025, 3, 1)),  # last day 2028-02-29
        "young": opened("young", date(2026, 5, 5)),
        "unlimited": opened("unlimited", date(2020, 5, 5)),  # vwv-2018: no limit
    }
    closed = opened("closed", date(2024, 7, 1))
    cases["closed"] = ENGINE.handle(
        closed,
        c.CloseCase(reason="moved_away", on=date(2024, 8, 1)),
        by=Actor("im-1", Role.MANAGER, provider="drk", district="08337"),
    )
    for case in cases.values():
        store.append(case.case_id, case.events, expected_version=0)
    return cases


def test_the_store_lists_only_due_cases(stores: StoreMaker) -> None:
    store = stores(engine=ENGINE)
    fill(store)
    on = date(2028, 2, 29)
    assert [case.case_id for case in store.due_cases(on)] == ["due-1", "due-2"]
    assert [case.case_id for case in store.due_cases(on + timedelta(days=1))] == [
        "due-1",
        "due-2",
        "last-day",
    ]


def test_sweep_closes_due_cases_in_the_store_once(stores: StoreMaker) -> None:
    store = stores(engine=ENGINE)
    fill(store)
    on = date(2028, 3, 1)
    result = imflow.sweep(store, on=on, engine=ENGINE)
    assert result.closed_ids == ("due-1", "due-2", "last-day")
    for case_id, closed_on in (
        ("due-1", date(2028, 1, 10)),
        ("due-2", date(2028, 2, 1)),
        ("last-day", date(2028, 3, 1)),
    ):
        case = store.load(case_id)
        assert case.closure is not None
        assert (case.closure.reason, case.closure.on) == ("period_expired", closed_on)
        assert case.events[-1].actor == SYSTEM
    assert store.load("young").is_open
    assert store.load("unlimited").is_open
    assert imflow.sweep(store, on=on, engine=ENGINE).closed == ()  # idempotent
    assert list(store.due_cases(on)) == []
    still_open = [
        case
        for case in store.iter_cases(open_only=True)
        if case.period_end is not None and case.period_end < on
    ]
    assert still_open == []


def test_two_sweeps_racing_close_each_case_once(sql_stores: StoreMaker) -> None:
    first, second = sql_stores(engine=ENGINE), sql_stores(engine=ENGINE)
    fill(first)
    on = date(2028, 3, 1)
    due = list(first.due_cases(on))  # both servers found the same due cases
    a = imflow.sweep(first, on=on, engine=ENGINE)
    # the second server saw the cases before the first committed: its appends conflict
    # or repeat the first one's idempotency key; either way nothing is written twice
    result = imflow.sweep(_Stale(second, due), on=on, engine=ENGINE)
    assert len(a.closed) == 3
    assert result.closed_ids in ((), ("due-1", "due-2", "last-day"))
    for case in due:
        events = second.events(case.case_id)
        assert [e.type for e in events].count("case_closed") == 1


class _Stale:
    """A store whose index answer is stale: the cases as they were before the sweep."""

    def __init__(self, store: imflow.store.Store, due: list[Case]) -> None:
        self.store = store
        self.due = due

    def due_cases(self, on: date) -> list[Case]:
        return self.due

    def append(self, *args: object, **kwargs: object) -> object:
        return self.store.append(*args, **kwargs)  # type: ignore[arg-type]


def test_a_store_sweep_keys_each_closure_and_reports_what_it_did(stores: StoreMaker) -> None:
    store = stores(engine=ENGINE)
    cases = fill(store)
    on = date(2028, 3, 1)
    with capture_logs() as logs:
        result = imflow.sweep(store, on=on, engine=ENGINE)
    assert (result.on, result.closed_ids, result.refused) == (
        on,
        ("due-1", "due-2", "last-day"),
        (),
    )
    for case_id in result.closed_ids:  # the key sweep:<case id>:<period end> holds it
        end = cases[case_id].period_end
        kept = store.recall(f"sweep:{case_id}:{end}", by=SYSTEM)
        assert isinstance(kept, AppendResult)
        assert [e.type for e in kept.events] == ["case_closed"]
    done = [e for e in logs if e["event"] == "sweep_done"]
    assert [(e["on"], e["closed"], e["refused"]) for e in done] == [("2028-03-01", 3, 0)]


def test_a_stale_listing_skips_what_is_not_due_refused_or_taken(stores: StoreMaker) -> None:
    store = stores(engine=ENGINE)
    early = Engine(clock=FrozenClock(datetime(2028, 2, 1, 12, tzinfo=UTC)))
    im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
    cases = {}
    for case_id, opened_on in (
        ("young", date(2026, 5, 5)),
        ("due-1", date(2025, 1, 10)),  # last day 2028-01-09
        ("last-day", date(2025, 3, 1)),  # closing 2028-03-01 lies in early's future
        ("due-2", date(2025, 2, 1)),  # closing 2028-02-01: early's today
    ):
        open_case = c.OpenCase(
            case_id=case_id, person="p", district="08337", provider="drk", on=opened_on
        )
        cases[case_id] = early.open(open_case, by=im)
        store.append(case_id, cases[case_id].events, expected_version=0)
    # after the listing, a manager closes due-1 herself: the sweep's append conflicts
    moved = early.handle(
        cases["due-1"], c.CloseCase(reason="moved_away", on=date(2028, 1, 5)), by=im
    )
    store.append("due-1", moved.events[-1:], expected_version=1)
    with capture_logs() as logs:
        result = imflow.sweep(
            _Stale(store, list(cases.values())), on=date(2028, 3, 1), engine=early
        )
    assert result.closed_ids == ("due-2",)
    assert [(cid, [r.code for r in rs]) for cid, rs in result.refused] == [
        ("last-day", ["date_in_future"])
    ]
    conflicts = [e["case_id"] for e in logs if e["event"] == "sweep_conflict"]
    assert conflicts == ["due-1"]
    done = [(e["closed"], e["refused"]) for e in logs if e["event"] == "sweep_done"]
    assert done == [(1, 1)]
    taken = store.load("due-1").closure
    assert taken is not None and taken.reason == "moved_away"
