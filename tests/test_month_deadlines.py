"""One month arithmetic: every month-based date is ``period.last_day`` of its start.

Table tests at month ends and leap days (31 Jan, 31 Mar, 31 Aug, 30 Nov, 29 Feb) for the
plan due, the plan review, warning windows counted in months, extensions and the key
figure "plan within 3 months"; a Hypothesis property over reachable cases; and a guard
that no second month helper comes back. The expected dates are written out by hand
from §§ 187 (2), 188 (2), (3) BGB, never computed with the library.
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, FrozenClock, Role, period
from imflow import commands as c
from imflow.deadlines import DeadlineKind, Severity, plan_due, review_due
from imflow.kennzahlen import report
from imflow.period import last_day
from imflow.rules import RULE_SETS
from imflow.testing import cases, opening_commands

ROOT = Path(__file__).resolve().parent.parent
MANAGER = Actor("im-9", Role.MANAGER, provider="awo-ul", district="08421")
ENGINE = Engine(clock=FrozenClock(datetime(2031, 6, 1, 12, tzinfo=UTC)))


def opened(on: date, case_id: str = "ul-1") -> Case:
    return ENGINE.open(
        c.OpenCase(case_id=case_id, person="p", district="08421", provider="awo-ul", on=on),
        by=MANAGER,
    )


def agreed(
    on: date,
    agreed_on: date,
    case_id: str = "ul-1",
    *,
    target: date | None = None,
    engine: Engine = ENGINE,
) -> Case:
    case = opened(on, case_id)
    goal = c.AddGoal(goal_id="g", area="work", description="job", target_date=target or on, on=on)
    for cmd in (
        c.RecordConsent(on=on),
        c.StartAssessment(on=on),
        c.RecordNeed(on=on, area="work"),
        c.StartPlanning(on=on),
        goal,
        c.AgreePlan(on=agreed_on),
    ):
        case = engine.handle(case, cmd, by=MANAGER)
    return case


def due_of(case: Case, kind: DeadlineKind, on: date) -> tuple[date, Severity]:
    (found,) = [d for d in ENGINE.deadlines(case, on=on) if d.kind is kind]
    return found.due, found.severity


# -- plan due: "within 3 months of opening" -------------------------------------------------

PLAN_DUE = [
    (date(2025, 1, 31), date(2025, 4, 30)),  # no 31 April: the end of April
    (date(2025, 3, 31), date(2025, 6, 30)),  # no 31 June
    (date(2023, 8, 31), date(2023, 11, 30)),  # no 31 November (vwv-2023)
    (date(2023, 11, 30), date(2024, 2, 29)),  # no 30 February: the leap day
    (date(2025, 11, 30), date(2026, 2, 28)),  # no 30 February in 2026
    (date(2024, 2, 29), date(2024, 5, 28)),  # 29 May exists: the day before
    (date(2025, 1, 15), date(2025, 4, 14)),  # mid-month: the day before the 15th
]


@pytest.mark.parametrize(("opening", "due"), PLAN_DUE)
def test_plan_due_at_month_ends(opening: date, due: date) -> None:
    case = opened(opening)
    assert plan_due(case, RULE_SETS[case.rule_set]) == due
    assert due_of(case, DeadlineKind.PLAN_DUE, due) == (due, Severity.WARNING)  # due today
    later = date.fromordinal(due.toordinal() + 1)
    assert due_of(case, DeadlineKind.PLAN_DUE, later) == (due, Severity.OVERDUE)


@pytest.mark.parametrize(("opening", "due"), PLAN_DUE)
def test_a_plan_agreed_on_the_last_day_counts_as_on_time(opening: date, due: date) -> None:
    on_time = agreed(opening, due, case_id="on-time")
    late = agreed(opening, date.fromordinal(due.toordinal() + 1), case_id="late")
    assert not [d for d in ENGINE.deadlines(on_time, on=due) if d.kind is DeadlineKind.PLAN_DUE]
    figures = report([*on_time.events, *late.events], year=due.year).figures()
    assert figures["plan_on_time_share"] == 0.5  # one of the two cases, by hand


# -- plan reviews: every 6 months from the agreement or the last review ----------------------

REVIEW_DUE = [
    (date(2025, 1, 31), date(2025, 7, 30)),  # 31 July exists: the day before
    (date(2025, 3, 31), date(2025, 9, 30)),  # no 31 September
    (date(2025, 8, 31), date(2026, 2, 28)),  # no 31 February
    (date(2023, 8, 31), date(2024, 2, 29)),  # ... in a leap year: the leap day
    (date(2025, 11, 30), date(2026, 5, 29)),  # 30 May exists
    (date(2024, 2, 29), date(2024, 8, 28)),  # 29 August exists
]


@pytest.mark.parametrize(("last", "due"), REVIEW_DUE)
def test_review_due_at_month_ends(last: date, due: date) -> None:
    assert review_due(last, RULE_SETS["system-2025"]) == due
    case = agreed(date(2023, 8, 31), last)
    assert due_of(case, DeadlineKind.PLAN_REVIEW, due) == (due, Severity.WARNING)  # today
    later = date.fromordinal(due.toordinal() + 1)
    assert due_of(case, DeadlineKind.PLAN_REVIEW, later) == (due, Severity.OVERDUE)


def test_the_next_review_counts_from_the_last_one() -> None:
    case = agreed(date(2025, 1, 2), date(2025, 2, 28))
    assert due_of(case, DeadlineKind.PLAN_REVIEW, date(2025, 8, 1))[0] == date(2025, 8, 27)
    case = ENGINE.handle(case, c.ReviewPlan(on=date(2025, 8, 31)), by=MANAGER)
    assert due_of(case, DeadlineKind.PLAN_REVIEW, date(2026, 2, 1))[0] == date(2026, 2, 28)


# -- warning windows counted in months ------------------------------------------------------

# (today, the last day inside a one-month window, the first day outside it)
WINDOWS = [
    (date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 1)),
    (date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 1)),
    (date(2025, 8, 31), date(2025, 9, 30), date(2025, 10, 1)),
    (date(2025, 11, 30), date(2025, 12, 29), date(2025, 12, 30)),
    (date(2024, 2, 29), date(2024, 3, 28), date(2024, 3, 29)),
]


@pytest.mark.parametrize(("today", "inside", "outside"), WINDOWS)
def test_warning_windows_counted_in_months(today: date, inside: date, outside: date) -> None:
    monthly = attrs.evolve(RULE_SETS["vwv-2023"], warning_months=1, info_months=2)
    engine = Engine(clock=ENGINE.clock, rule_sets={**RULE_SETS, "vwv-2023": monthly})
    for goal_target, severity in ((inside, Severity.WARNING), (outside, Severity.INFO)):
        case = agreed(date(2023, 8, 31), date(2023, 9, 1), target=goal_target, engine=engine)
        found = [d for d in engine.deadlines(case, on=today) if d.subject == "g"]
        assert [(d.due, d.severity) for d in found] == [(goal_target, severity)]


# -- extensions and the period itself --------------------------------------------------------

# (opening, months extended, the last day)
EXTENSIONS = [
    (date(2025, 1, 31), 0, date(2028, 1, 30)),
    (date(2025, 1, 31), 1, date(2028, 2, 29)),  # no 31 February: the leap day
    (date(2025, 1, 31), 3, date(2028, 4, 30)),
    (date(2025, 3, 31), 6, date(2028, 9, 30)),
    (date(2025, 8, 31), 6, date(2029, 2, 28)),
    (date(2025, 11, 30), 3, date(2029, 2, 28)),
    (date(2024, 2, 29), 0, date(2027, 2, 28)),
    (date(2024, 2, 29), 12, date(2028, 2, 28)),  # 29 February 2028 exists: the day before
]


@pytest.mark.parametrize(("opening", "months", "end"), EXTENSIONS)
def test_extensions_at_month_ends(opening: date, months: int, end: date) -> None:
    case = agreed(opening, opening)
    if months:
        case = ENGINE.handle(
            case, c.ExtendPeriod(months=months, justification="exam", on=opening), by=MANAGER
        )
        assert case.extensions[-1].period_end == end
    assert case.period_end == end
    assert due_of(case, DeadlineKind.PERIOD_END, end) == (end, Severity.WARNING)


# -- the property: every month-based date is last_day of its start --------------------------


def month_based_dates(case: Case) -> list[tuple[str, date, date, int]]:
    """(what, the date imflow gives, its start, months) for every month-based date."""
    rules = RULE_SETS[case.rule_set]
    found = []
    plan = case.plan
    everything = ENGINE.deadlines(case, on=case.period_start) + ENGINE.deadlines(
        case, on=date(2060, 1, 1)
    )
    for d in everything:
        if d.kind is DeadlineKind.PLAN_DUE:
            found.append(("plan", d.due, case.period_start, rules.plan_due_months))
        elif d.kind is DeadlineKind.PLAN_REVIEW:
            assert plan is not None and plan.agreed_on is not None
            start = plan.reviews[-1] if plan.reviews else plan.agreed_on
            found.append(("review", d.due, start, rules.review_interval_months))
    if rules.period_months is not None:
        assert case.period_end is not None
        credited = case.credited_extension_months
        months = rules.period_months + credited + case.extended_months
        found.append(("period", case.period_end, case.counted_from, months))
        total = credited
        for ext in case.extensions:
            total += ext.months
            found.append(
                ("extension", ext.period_end, case.counted_from, rules.period_months + total)
            )
    return found


@settings(max_examples=150, deadline=None)
@given(cases(max_steps=30))
def test_every_month_based_date_is_last_day_of_its_start(case: Case) -> None:
    for what, found, start, months in month_based_dates(case):
        assert found == last_day(start, months=months), what


@st.composite
def continued_openings(draw: st.DrawFn) -> c.OpenCase:
    """Openings that continue a case from another district, with its time still running."""
    cmd = draw(opening_commands(opened=st.dates(date(2021, 1, 1), date(2034, 12, 31))))
    earlier = "08111" if cmd.district != "08111" else "08115"
    start = date.fromordinal(cmd.on.toordinal() - draw(st.integers(0, 1000)))
    months = draw(st.integers(0, 12))
    return attrs.evolve(
        cmd,
        continues=c.Continuation(
            case_id="x-1", district=earlier, period_start=start, extended_months=months
        ),
    )


@settings(max_examples=60, deadline=None)
@given(cases(max_steps=30, opening=continued_openings()))
def test_every_month_based_date_of_a_continued_case_is_last_day_of_its_start(
    case: Case,
) -> None:
    for what, found, start, months in month_based_dates(case):
        assert found == last_day(start, months=months), what
    rules = RULE_SETS[case.rule_set]
    if rules.period_months is not None:
        used = case.credited_extension_months + case.extended_months
        assert used <= rules.extension_max_months


@given(st.dates(date(2018, 1, 1), date(2099, 9, 30)), st.integers(1, 60))
def test_last_day_against_an_independent_count(start: date, months: int) -> None:
    """The day after the last day is the start's day *months* months on, or the first of
    the month after, where that day does not exist."""
    end = last_day(start, months=months)
    after = date.fromordinal(end.toordinal() + 1)
    year, month = divmod(start.year * 12 + start.month - 1 + months, 12)
    if after.day == 1 and (after.year, after.month) != (year, month + 1):
        assert (end.year, end.month) == (year, month + 1)  # § 188 (3): the month's end
        assert start.day > end.day
    else:
        assert (after.year, after.month, after.day) == (year, month + 1, start.day)


# -- no second month helper ----------------------------------------------------------------


def sources() -> list[Path]:
    found = [*(ROOT / "src").rglob("*.py"), *(ROOT / "examples").rglob("*.py")]
    return [p for p in found if p.is_file()]


def test_period_exports_only_last_day() -> None:
    assert period.__all__ == ["last_day"]
    assert not hasattr(period, "add_months")


def test_no_second_month_helper_anywhere() -> None:
    """``add_months``, ``relativedelta`` and month-index arithmetic live nowhere but in
    ``imflow.period``: a second helper would bring back "add months, minus a day"."""
    banned = re.compile(r"add_months|relativedelta|dateutil")
    texts = [*sources(), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]
    offenders = [str(p.relative_to(ROOT)) for p in texts if banned.search(p.read_text())]
    assert offenders == []
    month_math = []
    for path in sources():
        if path.name == "period.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.BinOp):
                continue
            parts = [node.left, node.right]
            attrs_ = {p.attr for p in parts if isinstance(p, ast.Attribute)}
            twelve = any(isinstance(p, ast.Constant) and p.value == 12 for p in parts)
            # ``<date>.month + n`` (moving a month) or ``<date>.year * 12`` (a month index);
            # ``.month - 1`` as a table index is fine
            if (isinstance(node.op, ast.Add) and "month" in attrs_) or (
                isinstance(node.op, ast.Mult) and "year" in attrs_ and twelve
            ):
                month_math.append(f"{path.name}:{node.lineno}")
    assert month_math == []
