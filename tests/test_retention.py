"""Retention (Löschfrist, domain.md § 8) and erasure keep the key figures of past years.

A case closed in year Y is due for erasure on 1 January of Y + 4 (the end of the third
calendar year after the closure; a district may set its own number of years). The sweep
erases what is due, on every store, idempotently; the key figures of every year are
the same before and after erasures and sweeps (Hypothesis over random histories).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import Actor, Role
from imflow import commands as c
from imflow.erasure import TOMBSTONE
from imflow.events import PersonErased
from imflow.kennzahlen import report
from imflow.retention import Retention, due, due_on, sweep
from imflow.testing import Trajectory, trajectories
from tests.stores import StoreMaker, advance, open_case, store_new

IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")


def closed_case(engine: Any, case_id: str, closed: date, **opening: Any) -> Any:
    case = open_case(engine, case_id, on=closed - timedelta(days=30), **opening)
    return advance(
        engine,
        case,
        c.RecordConsent(on=case.period_start),
        c.CloseCase(reason="other", note=f"note of {case_id}", on=closed),
    )


@pytest.mark.parametrize(
    ("closed", "due_day"),
    [
        (date(2025, 1, 1), date(2029, 1, 1)),
        (date(2025, 12, 31), date(2029, 1, 1)),
        (date(2024, 2, 29), date(2028, 1, 1)),
    ],
)
def test_a_case_is_due_on_1_january_after_the_third_calendar_year(
    closed: date, due_day: date
) -> None:
    assert due_on(closed, 3) == due_day
    assert due_on(closed, 0) == date(closed.year + 1, 1, 1)


def test_the_sweep_erases_what_is_due_once_on_every_store(stores: StoreMaker) -> None:
    store: Any = stores()
    e = store.engine
    early = closed_case(e, "early", date(2025, 12, 31), person="p-early")
    late = closed_case(e, "late", date(2026, 1, 1), person="p-late")
    other = closed_case(e, "other", date(2025, 6, 1), person="p-other", district="08111")
    still = open_case(e, "open", on=date(2025, 1, 2), person="p-open")
    for case in (early, late, other, still):
        store_new(store, case)
    rule = Retention(districts={"08111": 5})

    assert due(store, on=date(2028, 12, 31), retention=rule) == ()  # not yet: due today?
    listed = due(store, on=date(2029, 1, 1), retention=rule)
    assert [(d.case_id, d.due_on) for d in listed] == [("early", date(2029, 1, 1))]
    assert store.load("early") == early  # listing changes nothing

    done = sweep(store, on=date(2029, 1, 1), retention=rule)
    if stores.kind != "memory":
        assert done.keys_deleted == 1  # the case key; the person's key stays
    assert done.case_ids == ("early",)
    loaded = store.load("early")
    assert isinstance(loaded.events[-1], PersonErased)
    assert loaded.person == TOMBSTONE and loaded.closure is not None
    assert loaded.closure.note == TOMBSTONE
    assert sweep(store, on=date(2029, 1, 1), retention=rule) == ()  # idempotent
    assert store.load("early") == loaded
    assert store.load("late") == late and store.load("other") == other
    assert store.load("open") == still
    assert sweep(store, on=date(2030, 1, 1), retention=rule) == ("late",)
    assert [d.case_id for d in due(store, on=date(2031, 1, 1), retention=rule)] == ["other"]
    assert store.erase_person("p-early", on=date(2029, 1, 2)) == ()  # forgotten


def test_a_reopened_case_is_not_due_and_a_case_changed_after_erasure_is_due_again(
    stores: StoreMaker,
) -> None:
    store: Any = stores()
    e = store.engine
    case = closed_case(e, "back", date(2025, 3, 1), person="p-back")
    store_new(store, case)
    reopened = advance(e, case, c.ReopenCase(on=date(2025, 3, 2)))
    store_new(store, reopened, since=case.version)
    assert due(store, on=date(2030, 1, 1)) == ()
    closed = advance(e, reopened, c.CloseCase(reason="other", note="again", on=date(2025, 4, 1)))
    store_new(store, closed, since=reopened.version)
    assert sweep(store, on=date(2029, 1, 1)) == ("back",)
    assert sweep(store, on=date(2029, 1, 1)) == ()


def test_content_recorded_after_an_erasure_gets_a_new_key_and_is_swept_later(
    stores: StoreMaker,
) -> None:
    store: Any = stores()
    e = store.engine
    case = advance(
        e,
        open_case(e, "again", on=date(2025, 1, 6), person="p-again"),
        c.RecordConsent(on=date(2025, 1, 6)),
    )
    store_new(store, case)
    assert store.erase_person("p-again", on=date(2025, 2, 1)) == ("again",)
    erased = store.load("again")
    more = advance(
        e,
        erased,
        c.StartAssessment(on=date(2025, 2, 2)),
        c.RecordNeed(on=date(2025, 2, 2), area="work", note="written after the erasure"),
        c.CloseCase(reason="other", note="closed later", on=date(2025, 3, 1)),
    )
    store_new(store, more, since=erased.version)
    fresh: Any = stores(cache_size=0)
    assert fresh.load("again") == more  # readable: sealed under the next generation's key
    assert fresh.load("again").needs[-1].note == "written after the erasure"
    assert sweep(store, on=date(2028, 12, 31)) == ()
    assert sweep(store, on=date(2029, 1, 1)) == ("again",)
    loaded = stores(cache_size=0).load("again")
    assert loaded.needs[-1].note == TOMBSTONE and loaded.closure is not None
    assert loaded.closure.note == TOMBSTONE


def test_retention_years_are_checked() -> None:
    with pytest.raises(ValueError, match="08337"):
        Retention(districts={"08337": -1})


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    histories=st.lists(trajectories(max_steps=25), min_size=1, max_size=4),
    erase=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_key_figures_of_past_years_stay_equal_after_erasures_and_sweeps(
    sql_stores: StoreMaker, histories: list[Trajectory], erase: list[bool]
) -> None:
    tag = uuid.uuid4().hex[:8]  # the examples share one database
    with sql_stores.fresh() as store:
        s: Any = store
        for n, t in enumerate(histories):
            case = t.case
            case_id = f"{tag}{n}-{case.case_id}"[:60]
            events = [ev.__class__(**_fields(ev, case_id, f"{tag}{n}")) for ev in case.events]
            s.append(case_id, events, expected_version=0)
        latest = max(t.case.latest_on for t in histories)
        years = range(min(t.case.period_start.year for t in histories), latest.year + 1)
        before = {y: report(s, year=y) for y in years}
        for n, t in enumerate(histories):
            if erase[n % 4]:
                s.erase_person(f"{tag}{n}-{t.case.person}"[:60], on=latest)
        sweep(s, on=date(min(latest.year + 4, 2099), 1, 1))
        sweep(s, on=date(min(latest.year + 4, 2099), 1, 1))
        after = {y: report(s, year=y) for y in years}
    assert after == before


def _fields(event: Any, case_id: str, n: str) -> dict[str, Any]:
    import attrs

    values = {a.name: getattr(event, a.name) for a in attrs.fields(type(event))}
    values["case_id"] = case_id
    if "person" in values:
        values["person"] = f"{n}-{values['person']}"[:60]
        values["members"] = tuple(f"{n}-{m}"[:60] for m in values["members"])
    return values
