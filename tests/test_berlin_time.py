"""The engine's "today" is the date in Europe/Berlin, not in UTC: late evenings, DST, New Year.

The engine's clock returns UTC. Between 22:00 and 24:00 UTC (23:00 in winter) Berlin is
already on the next day, and on the last Sundays of March and October the offset
changes. A command dated on Berlin's today is accepted, one dated on Berlin's tomorrow
is refused as ``date_in_future``; deadlines due on Berlin's today are not overdue yet.
Expected dates in this module are written out by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, FrozenClock, Rejected, Role
from imflow import commands as c
from imflow.deadlines import DeadlineKind, Severity

BERLIN = ZoneInfo("Europe/Berlin")
IM = Actor("im-1", Role.MANAGER, provider="awo", district="08111")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (the clock in UTC, the date in Berlin): winter is UTC+1, summer UTC+2; in 2025 summer
# time starts on 30 March at 01:00 UTC and ends on 26 October at 01:00 UTC
TODAY_IN_BERLIN = [
    ("2025-12-31 22:30", date(2025, 12, 31)),  # 23:30 in Berlin
    ("2025-12-31 22:59:59", date(2025, 12, 31)),
    ("2025-12-31 23:00", date(2026, 1, 1)),  # midnight in Berlin
    ("2025-12-31 23:30", date(2026, 1, 1)),
    ("2026-01-01 00:30", date(2026, 1, 1)),
    ("2025-03-29 22:59", date(2025, 3, 29)),  # the night before summer time
    ("2025-03-29 23:30", date(2025, 3, 30)),
    ("2025-03-30 00:59", date(2025, 3, 30)),  # 01:59 CET
    ("2025-03-30 01:00", date(2025, 3, 30)),  # 03:00 CEST
    ("2025-03-30 21:59", date(2025, 3, 30)),  # 23:59 CEST
    ("2025-03-30 22:00", date(2025, 3, 31)),  # midnight CEST: one hour earlier in UTC
    ("2025-03-30 23:30", date(2025, 3, 31)),
    ("2025-07-14 21:59", date(2025, 7, 14)),
    ("2025-07-14 22:00", date(2025, 7, 15)),
    ("2025-07-14 23:30", date(2025, 7, 15)),
    ("2025-10-25 21:59", date(2025, 10, 25)),
    ("2025-10-25 22:00", date(2025, 10, 26)),  # midnight CEST
    ("2025-10-26 00:30", date(2025, 10, 26)),  # 02:30 CEST
    ("2025-10-26 01:30", date(2025, 10, 26)),  # 02:30 CET, the repeated hour
    ("2025-10-26 22:59", date(2025, 10, 26)),  # 23:59 CET: the day has 25 hours
    ("2025-10-26 23:00", date(2025, 10, 27)),
    ("2025-10-26 23:30", date(2025, 10, 27)),
]


@pytest.mark.parametrize(("moment", "berlin"), TODAY_IN_BERLIN)
def test_today_is_the_date_in_berlin(moment: str, berlin: date) -> None:
    assert Engine(clock=FrozenClock(utc(moment))).today() == berlin


def test_one_engine_follows_its_clock_across_midnight_and_the_dst_changes() -> None:
    clock = FrozenClock(utc("2025-03-29 20:00"))
    engine = Engine(clock=clock)
    seen = {}
    for _ in range(4 * 30):  # every 15 minutes for 30 hours
        seen[clock().strftime("%d %H:%M")] = engine.today()
        clock.advance(minutes=15)
    assert seen["29 22:45"] == date(2025, 3, 29)
    assert seen["29 23:00"] == date(2025, 3, 30)
    assert seen["30 21:45"] == date(2025, 3, 30)
    assert seen["30 22:00"] == date(2025, 3, 31)
    clock.set(utc("2025-10-26 22:45"))
    assert engine.today() == date(2025, 10, 26)
    clock.set(utc("2025-10-26 23:00"))
    assert engine.today() == date(2025, 10, 27)
    clock.set(utc("2025-10-25 21:59"))  # backwards too
    assert engine.today() == date(2025, 10, 25)


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(2024, 1, 1),
            max_value=datetime(2027, 12, 31),
            timezones=st.sampled_from(
                [UTC, BERLIN, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))]
            ),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_engine_s_today_equals_the_berlin_date_of_any_clock_reading(
    moments: list[datetime],
) -> None:
    """Any sequence of readings, in any time zone: the cached day boundaries never lie."""
    clock = FrozenClock(moments[0])
    engine = Engine(clock=clock)
    for moment in moments:
        clock.set(moment)
        assert engine.today() == moment.astimezone(BERLIN).date()


def _opening(on: date, case_id: str = "b-1") -> c.OpenCase:
    return c.OpenCase(case_id=case_id, person="p-1", district="08111", provider="awo", on=on)


@pytest.mark.parametrize(
    ("moment", "new_day"),
    [
        ("2025-12-31 23:30", date(2026, 1, 1)),  # New Year
        ("2025-03-29 23:30", date(2025, 3, 30)),  # the night summer time starts
        ("2025-03-30 22:30", date(2025, 3, 31)),  # the first summer evening
        ("2025-10-25 22:30", date(2025, 10, 26)),  # the night summer time ends
        ("2025-10-26 23:30", date(2025, 10, 27)),  # the first winter evening
        ("2025-07-14 23:30", date(2025, 7, 15)),
    ],
)
def test_a_command_dated_tomorrow_in_utc_is_accepted_when_berlin_is_there(
    moment: str, new_day: date
) -> None:
    clock = FrozenClock(utc(moment))
    engine = Engine(clock=clock)
    case = engine.open(_opening(new_day), by=IM)
    assert case.period_start == new_day
    assert case.events[0].recorded_at == utc(moment)
    case = engine.handle(case, c.RecordContact(on=new_day, minutes=20), by=IM)
    assert engine.allowed(case, by=IM)["record_consent"] == ()
    day_after = new_day + timedelta(days=1)
    with pytest.raises(Rejected) as refused:
        engine.handle(case, c.RecordConsent(on=day_after), by=IM)
    assert refused.value.codes == ("date_in_future",)
    assert [r.code for r in engine.allowed(case, by=IM, on=day_after)["record_consent"]] == [
        "date_in_future"
    ]


@pytest.mark.parametrize(
    ("moment", "today"),
    [
        ("2025-12-31 22:30", date(2025, 12, 31)),  # 23:30 on New Year's Eve in Berlin
        ("2025-03-30 21:30", date(2025, 3, 30)),  # 23:30 CEST
        ("2025-10-26 22:30", date(2025, 10, 26)),  # 23:30 CET
    ],
)
def test_a_command_dated_tomorrow_in_berlin_is_refused_late_in_the_evening(
    moment: str, today: date
) -> None:
    engine = Engine(clock=FrozenClock(utc(moment)))
    tomorrow = today + timedelta(days=1)
    with pytest.raises(Rejected) as refused:
        engine.open(_opening(tomorrow), by=IM)
    assert refused.value.codes == ("date_in_future",)
    case = engine.open(_opening(today), by=IM)
    with pytest.raises(Rejected) as refused:
        engine.handle(case, c.RecordContact(on=tomorrow, minutes=20), by=IM)
    assert refused.value.codes == ("date_in_future",)
    assert engine.today() == today


def _in_monitoring(engine: Engine, opened: date) -> Case:
    case = engine.open(_opening(opened), by=IM)
    for cmd in (
        c.RecordConsent(on=opened),
        c.StartAssessment(on=opened),
        c.RecordNeed(on=opened, area="language"),
        c.StartPlanning(on=opened),
        c.AddGoal(
            on=opened,
            goal_id="g1",
            area="language",
            description="B1",
            target_date=date(2026, 12, 31),
        ),
        c.AgreePlan(on=opened),
    ):
        case = engine.handle(case, cmd, by=IM)
    return case


def test_the_last_day_of_the_period_ends_at_midnight_in_berlin() -> None:
    clock = FrozenClock(utc("2025-01-15 12:00"))
    engine = Engine(clock=clock)
    case = _in_monitoring(engine, date(2025, 1, 15))
    assert case.period_end == date(2028, 1, 14)  # opened 15 Jan: the day before, 3 years on
    clock.set(utc("2028-01-14 22:30"))  # 23:30 on the last day
    assert engine.handle(case, c.ReviewPlan(on=date(2028, 1, 14)), by=IM).version > case.version
    clock.set(utc("2028-01-14 23:30"))  # 00:30 on the first day after the period
    with pytest.raises(Rejected) as refused:
        engine.handle(case, c.ReviewPlan(on=date(2028, 1, 15)), by=IM)
    assert refused.value.codes == ("period_ended",)
    closed = engine.handle(case, c.CloseCase(on=date(2028, 1, 15), reason="period_expired"), by=IM)
    assert closed.closure is not None
    assert (closed.closure.reason, closed.closure.on) == ("period_expired", date(2028, 1, 15))


def test_a_deadline_due_on_berlin_s_today_is_not_overdue_at_23_30_utc_the_day_before() -> None:
    clock = FrozenClock(utc("2025-01-15 12:00"))
    engine = Engine(clock=clock)
    case = _in_monitoring(engine, date(2025, 1, 15))
    goal = [d for d in engine.deadlines(case, on=date(2026, 12, 31)) if d.subject == "g1"]
    assert [(d.due, d.severity) for d in goal] == [(date(2026, 12, 31), Severity.WARNING)]
    clock.set(utc("2026-12-30 23:30"))  # 00:30 on 31 December in Berlin: due today
    due = {d.kind: d for d in engine.deadlines(case)}
    assert due[DeadlineKind.GOAL_TARGET].severity is Severity.WARNING
    clock.set(utc("2026-12-31 23:30"))  # 00:30 on 1 January in Berlin: a day late
    due = {d.kind: d for d in engine.deadlines(case)}
    assert due[DeadlineKind.GOAL_TARGET].severity is Severity.OVERDUE
    clock.set(utc("2026-12-31 22:30"))  # 23:30 on 31 December in Berlin: still due today
    due = {d.kind: d for d in engine.deadlines(case)}
    assert due[DeadlineKind.GOAL_TARGET].severity is Severity.WARNING
