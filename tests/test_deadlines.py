"""Deadline calendars and deadline sweeps."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, FrozenClock, LifeArea, Role
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.deadlines import DeadlineKind, Severity
from imflow.events import CaseClosed
from imflow.rules import RULE_SETS
from imflow.testing import FAR_FUTURE, cases

MANAGER = Actor("im-5", Role.MANAGER, provider="awo-fr", district="08311")
ENGINE = Engine(clock=FrozenClock(datetime(2031, 1, 1, 12, tzinfo=UTC)))
D = date(2025, 3, 1)


def agreed_case() -> Case:
    case = ENGINE.open(
        c.OpenCase(case_id="fr-1", person="p", district="08311", provider="awo-fr", on=D),
        by=MANAGER,
    )
    for cmd in (
        c.RecordConsent(on=D),
        c.StartAssessment(on=D),
        c.RecordNeed(on=D, area=LifeArea.HOUSING),
        c.StartPlanning(on=D),
        c.AddGoal(
            goal_id="flat",
            area="housing",
            description="own flat",
            target_date=date(2025, 12, 31),
            on=D,
        ),
        c.AddGoal(
            goal_id="b1", area="language", description="B1", target_date=date(2026, 9, 30), on=D
        ),
        c.AgreePlan(on=date(2025, 4, 10)),
    ):
        case = ENGINE.handle(case, cmd, by=MANAGER)
    return case


def summary(case: Case, on: date) -> list[tuple[str, str, str, str]]:
    return [
        (d.kind.value, d.due.isoformat(), d.severity.value, d.subject)
        for d in ENGINE.deadlines(case, on=on)
    ]


def test_deadlines_by_severity_window() -> None:
    case = agreed_case()
    # review due within six months of the agreement on 2025-04-10: by 2025-10-09 (the
    # same computation as every month-based deadline), flat target 2025-12-31
    assert summary(case, date(2025, 7, 1)) == []
    assert summary(case, date(2025, 7, 12)) == [("plan_review", "2025-10-09", "info", "")]
    assert summary(case, date(2025, 10, 3)) == [  # 89 days before the flat target
        ("plan_review", "2025-10-09", "warning", ""),
        ("goal_target", "2025-12-31", "info", "flat"),
    ]
    reviewed = ENGINE.handle(case, c.ReviewPlan(on=date(2025, 10, 9)), by=MANAGER)
    assert summary(reviewed, date(2026, 1, 2)) == [
        ("goal_target", "2025-12-31", "overdue", "flat"),
    ]
    assert summary(reviewed, date(2026, 3, 15)) == [
        ("goal_target", "2025-12-31", "overdue", "flat"),
        ("plan_review", "2026-04-08", "warning", ""),
    ]
    done = ENGINE.handle(
        reviewed,
        c.SetGoalStatus(goal_id="flat", status="achieved", on=date(2026, 1, 5)),
        by=MANAGER,
    )
    assert [d[3] for d in summary(done, date(2026, 9, 1))] == ["", "b1"]
    # the period ends 2028-02-29 (BGB); with an extension it moves
    assert ("period_end", "2028-02-29", "warning", "") in summary(done, date(2028, 2, 1))
    extended = ENGINE.handle(
        done, c.ExtendPeriod(months=3, justification="exam", on=date(2028, 1, 20)), by=MANAGER
    )
    assert ("period_end", "2028-05-31", "info", "") in summary(extended, date(2028, 3, 5))


def test_consent_and_plan_deadlines_before_the_plan() -> None:
    case = ENGINE.open(
        c.OpenCase(case_id="fr-2", person="p", district="08311", provider="awo-fr", on=D),
        by=MANAGER,
    )
    assert summary(case, date(2025, 3, 3)) == [
        ("consent_missing", "2025-03-29", "warning", ""),
        ("plan_due", "2025-05-31", "info", ""),
    ]
    given_ = ENGINE.handle(case, c.RecordConsent(on=D), by=MANAGER)
    assert summary(given_, date(2025, 6, 1)) == [("plan_due", "2025-05-31", "overdue", "")]
    withdrawn = ENGINE.handle(given_, c.WithdrawConsent(on=date(2025, 6, 3)), by=MANAGER)
    assert summary(withdrawn, date(2025, 6, 4)) == [
        ("plan_due", "2025-05-31", "overdue", ""),
        ("consent_missing", "2025-06-03", "overdue", ""),
    ]
    closed = ENGINE.handle(
        withdrawn, c.CloseCase(reason="client_request", on=date(2025, 6, 4)), by=MANAGER
    )
    assert ENGINE.deadlines(closed, on=date(2025, 6, 4)) == ()


def test_windows_and_intervals_come_from_the_rule_set() -> None:
    import attrs

    quick = attrs.evolve(
        RULE_SETS["system-2025"], review_interval_months=2, info_days=10, warning_days=3
    )
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, "system-2025": quick})
    case = agreed_case()
    found = engine.deadlines(case, on=date(2025, 6, 1))
    assert [(d.kind, d.due, d.severity, d.case_id) for d in found] == [
        (DeadlineKind.PLAN_REVIEW, date(2025, 6, 9), Severity.INFO, "fr-1")
    ]
    assert Severity.WARNING.label("de") == "Warnung"
    assert DeadlineKind.PERIOD_END.label("de") == "Ende des Beratungszeitraums"


def test_sweep_closes_expired_cases_once() -> None:
    case = agreed_case()
    fresh = ENGINE.open(
        c.OpenCase(
            case_id="fr-3", person="p", district="08311", provider="awo-fr", on=date(2027, 1, 1)
        ),
        by=MANAGER,
    )
    on = date(2028, 3, 5)
    first = ENGINE.sweep([case, fresh], on=on)
    assert first.closed_ids == ("fr-1",)
    (closed,) = first.closed
    assert closed.closure is not None
    assert (closed.closure.reason, closed.closure.on) == ("period_expired", date(2028, 3, 1))
    assert closed.events[-1].actor == SYSTEM
    assert isinstance(closed.events[-1], CaseClosed) and closed.events[-1].note.strip()
    assert first.on == on and first.refused == ()
    again = ENGINE.sweep([closed, fresh], on=on)
    assert again.closed == ()
    assert again.refused == ()
    assert ENGINE.sweep([case], on=date(2028, 2, 29)).closed == ()  # the last day itself


def test_sweep_reports_what_it_cannot_close() -> None:
    case = agreed_case()
    early = Engine(clock=FrozenClock(datetime(2028, 2, 29, 12, tzinfo=UTC)))
    result = early.sweep([case], on=date(2028, 3, 2))  # closing 2028-03-01 is in the future
    assert result.closed == ()
    assert [(cid, [r.code for r in rs]) for cid, rs in result.refused] == [
        ("fr-1", ["date_in_future"])
    ]


@given(st.lists(cases(max_steps=20), max_size=4), st.dates(date(2019, 1, 1), date(2039, 12, 31)))
def test_no_open_case_past_its_period_after_a_sweep(batch: list[Case], on: date) -> None:
    engine = Engine(clock=FrozenClock(FAR_FUTURE))
    result = engine.sweep(batch, on=on)
    by_id = {case.case_id: case for case in batch}
    by_id.update({case.case_id: case for case in result.closed})
    for case in by_id.values():
        if case.is_open and case.period_end is not None:
            assert case.period_end >= on
    assert engine.sweep(list(by_id.values()), on=on).closed == ()
    assert result.refused == ()


def test_every_kind_and_severity_has_a_german_and_an_english_label() -> None:
    for member in (*DeadlineKind, *Severity):
        german, english = member.label("de"), member.label("en")
        assert member.label() == english  # English by default
        assert german and english and german != english
    assert DeadlineKind.PLAN_DUE.label("en") == "Integration plan due"
    assert Severity.OVERDUE.label("en") == "overdue"


def test_an_info_window_in_months_replaces_the_one_in_days() -> None:
    import attrs

    months = attrs.evolve(RULE_SETS["system-2025"], info_days=10, info_months=2, warning_days=3)
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, "system-2025": months})
    case = agreed_case()  # the goal "flat" is due 2025-12-31
    on = date(2025, 11, 1)  # two months from 1 November end on 31 December
    found = [(d.subject, d.severity) for d in engine.deadlines(case, on=on)]
    assert ("flat", Severity.INFO) in found
    later = [(d.subject, d.severity) for d in engine.deadlines(case, on=date(2025, 10, 31))]
    assert ("flat", Severity.INFO) not in later  # from 31 October: up to 30 December
