"""``as_of``: a case as it stood on a business date, as recorded by a system time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imflow import Actor, Case, CaseNotFound, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.events import Event
from imflow.history import as_of, case_as_of, visible
from imflow.testing import cases
from tests.stores import StoreMaker, store_new

IM = Actor("im-1", Role.MANAGER, provider="drk-wt", district="08337")


@st.composite
def stamped(draw: st.DrawFn) -> tuple[Event, ...]:
    """A reachable case whose events were recorded at increasing system times (a day or
    so after their business date, now and then much later: late entries)."""
    case = draw(cases(max_steps=20))
    moment = datetime.combine(case.period_start, datetime.min.time(), tzinfo=UTC)
    events = []
    for e in case.events:
        start = max(moment, datetime.combine(e.on, datetime.min.time(), tzinfo=UTC))
        moment = start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 40)))
        events.append(attrs.evolve(e, recorded_at=moment))
    return tuple(events)


def replay_of(engine: Engine, events: list[Event]) -> Case | None:
    return engine.replay(events) if events else None


@settings(max_examples=200, deadline=None)
@given(data=st.data(), events=stamped())
def test_as_of_equals_the_replay_of_the_events_up_to_the_cut(
    data: st.DataObject, events: tuple[Event, ...]
) -> None:
    first, last = events[0], events[-1]
    engine = Engine(clock=FrozenClock(last.recorded_at))  # replay admits nothing later
    day = data.draw(
        st.sampled_from([e.on for e in events])  # a cut on an event's own date
        | st.dates(first.on - timedelta(days=3), last.on + timedelta(days=3)),
        label="on",
    )
    moment = data.draw(
        st.sampled_from([e.recorded_at for e in events])  # ... or at its own moment
        | st.datetimes(
            first.recorded_at.replace(tzinfo=None) - timedelta(days=2),
            last.recorded_at.replace(tzinfo=None) + timedelta(days=2),
            timezones=st.just(UTC),
        ),
        label="recorded_at",
    )
    assert engine.as_of(events, on=day) == replay_of(engine, [e for e in events if e.on <= day])
    assert engine.as_of(events, recorded_at=moment) == replay_of(
        engine, [e for e in events if e.recorded_at <= moment]
    )
    both = [e for e in events if e.on <= day and e.recorded_at <= moment]
    assert engine.as_of(events, on=day, recorded_at=moment) == replay_of(engine, both)
    assert as_of(reversed(events), on=day, recorded_at=moment, engine=engine) == replay_of(
        engine, both
    )
    # no cut: the case as it is; a cut after everything changes nothing
    assert engine.as_of(events) == engine.replay(events)
    assert engine.as_of(events, on=last.on) == engine.replay(events)
    assert engine.as_of(events, on=first.on - timedelta(days=1)) is None


def test_the_complaint_on_1_march_as_known_on_2_march() -> None:
    """A client complains that on 1 March nobody had recorded her consent. On 2 March the
    case showed no consent; the consent dated 1 March was only entered on 4 March."""
    clock = FrozenClock(datetime(2025, 2, 24, 9, tzinfo=UTC))
    engine = Engine(clock=clock)
    case = engine.open(
        c.OpenCase(
            case_id="wt-3", person="p", district="08337", provider="drk-wt", on=date(2025, 2, 24)
        ),
        by=IM,
    )
    case = engine.handle(case, c.RecordContact(on=date(2025, 2, 24), minutes=40), by=IM)
    clock.advance(days=8)  # 4 March, 9:00 UTC: the consent of 1 March is entered late
    case = engine.handle(case, c.RecordConsent(on=date(2025, 3, 1)), by=IM)
    case = engine.handle(case, c.StartAssessment(on=date(2025, 3, 4)), by=IM)
    known = datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)
    then = engine.as_of(case.events, on=date(2025, 3, 1), recorded_at=known)
    assert then is not None
    assert (then.consent.value, str(then.phase), then.version) == ("missing", "intake", 2)
    now = engine.as_of(case.events, on=date(2025, 3, 1))
    assert now is not None
    assert (now.consent.value, str(now.phase), now.version) == ("given", "intake", 3)
    assert engine.as_of(case.events, on=date(2025, 2, 23)) is None


def test_cuts_are_checked() -> None:
    case = Engine(clock=FrozenClock.on(date(2025, 3, 1))).open(
        c.OpenCase(
            case_id="wt-4", person="p", district="08337", provider="drk-wt", on=date(2025, 3, 1)
        ),
        by=IM,
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        visible(case.events, recorded_at=datetime(2025, 3, 2))
    with pytest.raises(TypeError, match=r"'on' must be a datetime\.date"):
        visible(case.events, on=datetime(2025, 3, 2, tzinfo=UTC))
    with pytest.raises(TypeError, match="'recorded_at' must be a datetime"):
        visible(case.events, recorded_at=date(2025, 3, 2))  # type: ignore[arg-type]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), case=cases(max_steps=20))
def test_case_as_of_reads_any_store(stores: StoreMaker, data: st.DataObject, case: Case) -> None:
    import uuid

    case_id = f"h-{uuid.uuid4().hex[:10]}"
    engine = Engine(
        clock=FrozenClock(max(datetime(2040, 1, 1, tzinfo=UTC), case.events[-1].recorded_at))
    )
    case = engine.replay(attrs.evolve(e, case_id=case_id) for e in case.events)
    day = data.draw(st.dates(case.period_start, case.latest_on), label="on")
    with stores.fresh() as store:
        store_new(store, case)
        expected = engine.as_of(case.events, on=day)
        assert case_as_of(store, case_id, on=day) == expected
        with pytest.raises(CaseNotFound):
            case_as_of(store, "no-such-case", on=day)
