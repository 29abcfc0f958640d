"""Deadlines at their edges: due exactly today is not overdue, the day after is; the
warning and info windows include their last day.

The case opens in mid-month (15 March 2025), where every month-based computation agrees,
so the due dates below are written out by hand: consent 28 days after opening
(12 April), the plan by 14 June, the goal target 30 September 2026, the period's last
day 14 March 2028. The windows are the default rule set's: warning 30 days, info 90.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.deadlines import DeadlineKind, Severity, deadlines
from imflow.rules import RULE_SETS

IM = Actor("im-5", Role.MANAGER, provider="awo-fr", district="08311")
ENGINE = Engine(clock=FrozenClock(datetime(2031, 1, 1, 12, tzinfo=UTC)))
OPENED = date(2025, 3, 15)
ONE = timedelta(days=1)


def opened() -> Case:
    return ENGINE.open(
        c.OpenCase(case_id="fr-9", person="p", district="08311", provider="awo-fr", on=OPENED),
        by=IM,
    )


def agreed() -> Case:
    case = opened()
    for cmd in (
        c.RecordConsent(on=OPENED),
        c.StartAssessment(on=OPENED),
        c.RecordNeed(on=OPENED, area="housing"),
        c.StartPlanning(on=OPENED),
        c.AddGoal(
            goal_id="flat",
            area="housing",
            description="own flat",
            target_date=date(2026, 9, 30),
            on=OPENED,
        ),
        c.AgreePlan(on=date(2025, 4, 10)),
    ):
        case = ENGINE.handle(case, cmd, by=IM)
    return case


def severity(case: Case, kind: DeadlineKind, on: date) -> Severity | None:
    found = [d for d in ENGINE.deadlines(case, on=on) if d.kind is kind]
    assert len(found) <= 1
    return found[0].severity if found else None


HAND_DUE = [
    (DeadlineKind.CONSENT_MISSING, opened, date(2025, 4, 12)),
    (DeadlineKind.PLAN_DUE, opened, date(2025, 6, 14)),
    (DeadlineKind.GOAL_TARGET, agreed, date(2026, 9, 30)),
    (DeadlineKind.PERIOD_END, agreed, date(2028, 3, 14)),
]


@pytest.mark.parametrize(("kind", "state", "due"), HAND_DUE, ids=[k.value for k, _, _ in HAND_DUE])
def test_a_deadline_due_today_is_a_warning_and_overdue_only_the_day_after(
    kind: DeadlineKind, state: Callable[[], Case], due: date
) -> None:
    case = state()
    assert [d.due for d in ENGINE.deadlines(case, on=due) if d.kind is kind] == [due]
    assert severity(case, kind, due - ONE) is Severity.WARNING
    assert severity(case, kind, due) is Severity.WARNING  # due today: not overdue yet
    assert severity(case, kind, due + ONE) is Severity.OVERDUE
    assert severity(case, kind, due + timedelta(days=400)) is Severity.OVERDUE


@pytest.mark.parametrize(("kind", "state", "due"), HAND_DUE, ids=[k.value for k, _, _ in HAND_DUE])
def test_the_warning_and_info_windows_include_their_last_day(
    kind: DeadlineKind, state: Callable[[], Case], due: date
) -> None:
    case = state()
    rules = RULE_SETS[case.rule_set]
    assert (rules.warning_days, rules.info_days) == (30, 90)
    if kind is DeadlineKind.CONSENT_MISSING:  # due 28 days after opening: no info window
        assert severity(case, kind, OPENED) is Severity.WARNING
        return
    assert severity(case, kind, due - timedelta(days=30)) is Severity.WARNING
    assert severity(case, kind, due - timedelta(days=31)) is Severity.INFO
    assert severity(case, kind, due - timedelta(days=90)) is Severity.INFO
    assert severity(case, kind, due - timedelta(days=91)) is None


def test_a_plan_review_due_today_is_not_overdue() -> None:
    case = agreed()
    (review,) = [d for d in ENGINE.deadlines(case, on=date(2025, 10, 1)) if d.kind == "plan_review"]
    assert date(2025, 10, 9) <= review.due <= date(2025, 10, 10)  # six months after 10 April
    assert severity(case, DeadlineKind.PLAN_REVIEW, review.due) is Severity.WARNING
    assert severity(case, DeadlineKind.PLAN_REVIEW, review.due + ONE) is Severity.OVERDUE


def test_a_withdrawal_is_due_on_its_own_day_and_overdue_from_the_next() -> None:
    case = ENGINE.handle(agreed(), c.WithdrawConsent(on=date(2025, 5, 20)), by=IM)
    assert severity(case, DeadlineKind.CONSENT_MISSING, date(2025, 5, 20)) is Severity.WARNING
    assert severity(case, DeadlineKind.CONSENT_MISSING, date(2025, 5, 21)) is Severity.OVERDUE


def test_deadlines_of_the_function_and_of_the_engine_agree_on_the_due_day() -> None:
    case = agreed()
    due = date(2026, 9, 30)
    rules = RULE_SETS[case.rule_set]
    assert deadlines(case, rules=rules, on=due) == ENGINE.deadlines(case, on=due)
    assert [d.severity for d in deadlines(case, rules=rules, on=due) if d.subject == "flat"] == [
        Severity.WARNING
    ]
