"""domain.md, statement by statement, checked from outside: only the public API
(``imflow``, ``imflow.commands``, ``imflow.events``, ``imflow.kennzahlen``) and the CLI,
as a host would use them. Grouped by section; each docstring quotes what it checks.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imflow import (
    Actor,
    Case,
    ClosureReason,
    Engine,
    FrozenClock,
    GoalStatus,
    InvalidClock,
    LifeArea,
    Phase,
    Rejected,
    Role,
)
from imflow import (
    commands as c,
)
from imflow.actors import SYSTEM
from imflow.events import CaseOpened
from imflow.kennzahlen import report

PROVIDER, DISTRICT = "caritas-wt", "08337"
IM = Actor("im-1", Role.MANAGER, provider=PROVIDER, district=DISTRICT)
D0 = date(2025, 3, 1)
LAST = date(2028, 2, 29)  # the last day of a period opened on D0
TODAY = date(2030, 6, 30)


def engine_on(today: date = TODAY) -> Engine:
    return Engine(clock=FrozenClock(datetime(today.year, today.month, today.day, 12, tzinfo=UTC)))


ENGINE = engine_on()


def codes_of(
    case: Case, command: c.Command, *, by: Actor = IM, engine: Engine = ENGINE
) -> set[str]:
    """The reason codes *command* is refused with (the empty set: it is accepted)."""
    try:
        engine.handle(case, command, by=by)
    except Rejected as refused:
        return set(refused.codes)
    return set()


def refused(case: Case, command: c.Command, *, by: Actor = IM, engine: Engine = ENGINE) -> set[str]:
    found = codes_of(case, command, by=by, engine=engine)
    assert found, f"{command.type} was accepted"
    return found


def run(case: Case, *commands: c.Command, by: Actor = IM, engine: Engine = ENGINE) -> Case:
    for command in commands:
        case = engine.handle(case, command, by=by)
    return case


def opened(
    on: date = D0, *, case_id: str = "c-1", household: int = 1, engine: Engine = ENGINE
) -> Case:
    return engine.open(
        c.OpenCase(
            case_id=case_id,
            person="p-1",
            district=DISTRICT,
            provider=PROVIDER,
            household=household,
            on=on,
        ),
        by=IM,
    )


def in_assessment(on: date = D0, **kw: object) -> Case:
    case = opened(on, **kw)  # type: ignore[arg-type]
    return run(case, c.RecordConsent(on=on), c.StartAssessment(on=on))


def to_planning(case: Case, on: date, *, by: Actor = IM, engine: Engine = ENGINE) -> Case:
    """*case* (in intake) taken through consent, assessment and a need into planning."""
    return run(
        case,
        c.RecordConsent(on=on),
        c.StartAssessment(on=on),
        c.RecordNeed(area=LifeArea.LANGUAGE, note="A1", on=on),
        c.StartPlanning(on=on),
        by=by,
        engine=engine,
    )


def in_planning(on: date = D0, *, engine: Engine = ENGINE, case_id: str = "c-1") -> Case:
    return to_planning(opened(on, case_id=case_id, engine=engine), on, engine=engine)


def goal(goal_id: str = "g1", on: date = D0, target: date | None = None) -> c.AddGoal:
    return c.AddGoal(
        goal_id=goal_id,
        area=LifeArea.WORK,
        description="a job",
        target_date=target or on + timedelta(days=300),
        on=on,
    )


def in_monitoring(
    on: date = D0,
    goals: int = 1,
    *,
    agreed: date | None = None,
    engine: Engine = ENGINE,
    case_id: str = "c-1",
) -> Case:
    """A case opened on *on* with *goals* goals, its plan agreed on *agreed* (*on*)."""
    case = in_planning(on, engine=engine, case_id=case_id)
    for i in range(goals):
        case = run(case, goal(f"g{i + 1}", on), engine=engine)
    return run(case, c.AgreePlan(on=agreed or on), engine=engine)


def closed(reason: str = "client_request", on: date = D0) -> Case:
    return run(in_monitoring(on), c.CloseCase(reason=reason, on=on, note="n"))


# ---------------------------------------------------------------- § 2 phases


def test_phase_codes_and_german_labels_are_the_table_of_section_2() -> None:
    """§ 2: intake "Erstkontakt / Aufnahme", assessment "Bedarfsermittlung (Clearing)",
    planning "Integrationsplanung", monitoring "Begleitung und Monitoring", closed
    "Abschluss"."""
    assert {p.value: p.label("de") for p in Phase} == {
        "intake": "Erstkontakt / Aufnahme",
        "assessment": "Bedarfsermittlung (Clearing)",
        "planning": "Integrationsplanung",
        "monitoring": "Begleitung und Monitoring",
        "closed": "Abschluss",
    }
    assert all(p.label("en") for p in Phase)


def test_a_case_opens_in_intake_and_its_period_starts_on_the_opening_day() -> None:
    """§ 2/§ 3: ``open_case`` → phase ``intake``, "period starts ``on``"; the default
    workflow is ``bw-integrationsmanagement``."""
    case = opened(date(2025, 7, 15), household=4)
    assert case.phase == Phase.INTAKE
    assert case.period_start == date(2025, 7, 15)
    assert case.household == 4
    assert ENGINE.workflow.id == "bw-integrationsmanagement"


# ---------------------------------------------------------------- § 3 commands


def test_open_case_refuses_an_unknown_district() -> None:
    """§ 3 ``open_case``: ``unknown_district`` for a code that is none of the 44 (a
    5-digit code outside BW, BW's state code, a Gemeinde key)."""
    for district in ("09162", "08000", "08999", "08337001"):
        with pytest.raises(Rejected) as exc:
            ENGINE.open(
                c.OpenCase(
                    case_id="c-9", person="p-1", district=district, provider=PROVIDER, on=D0
                ),
                by=Actor("im-9", Role.MANAGER, provider=PROVIDER, district=district),
            )
        assert "unknown_district" in exc.value.codes, district


@pytest.mark.parametrize("household", [0, -1, 31])
def test_open_case_refuses_a_household_outside_1_to_30(household: int) -> None:
    """§ 3 ``open_case`` ``invalid_value``; § 8 "household 1–30 persons"."""
    with pytest.raises(Rejected) as exc:
        opened(household=household)
    assert "invalid_value" in exc.value.codes


@pytest.mark.parametrize("household", [1, 30])
def test_open_case_accepts_households_of_1_and_30(household: int) -> None:
    """§ 8: the bounds 1 and 30 themselves are valid."""
    assert opened(household=household).household == household


def test_contacts_are_recordable_before_a_plan_exists_in_every_open_phase() -> None:
    """§ 1 "contacts and help must be recordable before a plan exists"; § 3
    ``record_contact`` allowed in open phases."""
    for case in (opened(), in_assessment(), in_planning(), in_monitoring()):
        after = ENGINE.handle(case, c.RecordContact(on=D0, minutes=30, topics=["housing"]), by=IM)
        assert after.phase == case.phase
        assert len(after.events) == len(case.events) + 1


@pytest.mark.parametrize("minutes", [0, -5])
def test_a_contact_without_positive_minutes_is_an_invalid_value(minutes: int) -> None:
    """§ 3 ``record_contact``: ``invalid_value``."""
    assert "invalid_value" in refused(opened(), c.RecordContact(on=D0, minutes=minutes))


def test_assessment_needs_consent() -> None:
    """§ 3 ``start_assessment``: ``consent_missing`` without consent and after it was
    withdrawn."""
    case = opened()
    assert "consent_missing" in refused(case, c.StartAssessment(on=D0))
    withdrawn = run(case, c.RecordConsent(on=D0), c.WithdrawConsent(on=D0))
    assert "consent_missing" in refused(withdrawn, c.StartAssessment(on=D0))
    assert run(case, c.RecordConsent(on=D0), c.StartAssessment(on=D0)).phase == Phase.ASSESSMENT


def test_needs_are_recorded_in_assessment_planning_and_monitoring_only() -> None:
    """§ 3 ``record_need``: allowed in assessment, planning, monitoring."""
    need = c.RecordNeed(area=LifeArea.HEALTH, note="n", on=D0)
    assert "invalid_in_phase" in refused(opened(), need)
    for case in (in_assessment(), in_planning(), in_monitoring()):
        assert ENGINE.handle(case, need, by=IM).phase == case.phase


def test_planning_needs_a_need() -> None:
    """§ 3 ``start_planning``: ``no_needs``; assessment → planning."""
    assert "no_needs" in refused(in_assessment(), c.StartPlanning(on=D0))
    assert in_planning().phase == Phase.PLANNING


def test_goals_are_added_in_planning_only() -> None:
    """§ 3 ``add_goal``: allowed in planning."""
    assert "invalid_in_phase" in refused(in_assessment(), goal())
    assert "invalid_in_phase" in refused(in_monitoring(), goal("g9"))


def test_a_goal_may_target_the_last_day_of_the_period_but_not_the_day_after() -> None:
    """§ 3 ``add_goal``: ``target_after_period_end``."""
    case = in_planning()
    assert codes_of(case, goal("g1", target=LAST)) == set()
    assert "target_after_period_end" in refused(case, goal("g1", target=LAST + timedelta(1)))


def test_a_goal_id_twice_is_a_duplicate_goal() -> None:
    """§ 3 ``add_goal``: ``duplicate_goal``."""
    case = run(in_planning(), goal("g1"))
    assert "duplicate_goal" in refused(case, goal("g1"))


def test_a_goal_without_description_is_an_invalid_value() -> None:
    """§ 3 ``add_goal``: ``invalid_value``."""
    bad = c.AddGoal(goal_id="g1", area="work", description=" ", target_date=LAST, on=D0)
    assert "invalid_value" in refused(in_planning(), bad)


def test_a_plan_without_goals_cannot_be_agreed() -> None:
    """§ 1 "an integration plan with goal agreements is mandatory"; § 3 ``agree_plan``:
    ``no_goals``."""
    assert "no_goals" in refused(in_planning(), c.AgreePlan(on=D0))


def test_a_plan_is_not_agreed_after_consent_was_withdrawn() -> None:
    """§ 3 ``agree_plan``: ``consent_missing``."""
    case = run(in_planning(), goal(), c.WithdrawConsent(on=D0))
    assert "consent_missing" in refused(case, c.AgreePlan(on=D0))


def test_agreeing_moves_planning_to_monitoring() -> None:
    """§ 3 ``agree_plan``: planning → monitoring."""
    assert in_monitoring().phase == Phase.MONITORING


@pytest.mark.parametrize(
    "status", ["open", "achieved", "partly_achieved", "not_achieved", "dropped"]
)
def test_every_goal_status_of_section_3_is_accepted_in_monitoring(status: str) -> None:
    """§ 3 ``set_goal_status``: ``open``, ``achieved``, ``partly_achieved``,
    ``not_achieved``, ``dropped``."""
    case = run(in_monitoring(), c.SetGoalStatus(goal_id="g1", status=status, on=D0))
    assert case.plan is not None and case.plan.goals[0].status == status
    assert {s.value for s in GoalStatus} == {
        "open",
        "achieved",
        "partly_achieved",
        "not_achieved",
        "dropped",
    }


def test_an_unknown_goal_status_change_is_refused() -> None:
    """§ 3 ``set_goal_status``: ``unknown_goal``; only in monitoring."""
    assert "unknown_goal" in refused(
        in_monitoring(), c.SetGoalStatus(goal_id="g9", status="achieved", on=D0)
    )
    case = run(in_planning(), goal())
    assert "invalid_in_phase" in refused(
        case, c.SetGoalStatus(goal_id="g1", status="achieved", on=D0)
    )


def test_a_review_stays_in_monitoring_and_a_revision_goes_back_to_planning() -> None:
    """§ 3 ``review_plan`` (monitoring), ``revise_plan`` (monitoring → planning)."""
    case = in_monitoring()
    assert run(case, c.ReviewPlan(on=D0, note="ok")).phase == Phase.MONITORING
    assert run(case, c.RevisePlan(on=D0)).phase == Phase.PLANNING
    assert "invalid_in_phase" in refused(in_planning(), c.ReviewPlan(on=D0, note="ok"))
    assert "invalid_in_phase" in refused(in_planning(), c.RevisePlan(on=D0))


# extensions


def extend(months: int, on: date = D0, justification: str = "exam in spring") -> c.ExtendPeriod:
    return c.ExtendPeriod(months=months, justification=justification, on=on)


@pytest.mark.parametrize("justification", ["", "   ", "\n"])
def test_an_extension_without_a_justification_is_refused(justification: str) -> None:
    """§ 1 "only in justified individual cases"; § 3 ``justification_missing``."""
    assert "justification_missing" in refused(
        in_monitoring(), extend(6, justification=justification)
    )


def test_one_extension_of_twelve_months_and_no_more() -> None:
    """§ 1 "by at most one year (so 4 years in total)"; § 3
    ``extension_limit_exceeded`` for an extension asked twice past 12 months."""
    case = run(in_monitoring(), extend(12))
    assert case.period_end == date(2029, 2, 28)  # 48 months from 2025-03-01
    assert "extension_limit_exceeded" in refused(case, extend(1))
    assert "extension_limit_exceeded" in refused(in_monitoring(), extend(13))


def test_several_extensions_share_twelve_months() -> None:
    """§ 4 "at most 12 months in total over one or more extensions"."""
    case = run(in_monitoring(), extend(5), extend(7))
    assert case.period_end == date(2029, 2, 28)
    assert "extension_limit_exceeded" in refused(case, extend(1))
    case = run(in_monitoring(), extend(6))
    assert "extension_limit_exceeded" in refused(case, extend(7))


@pytest.mark.parametrize("months", [0, -1])
def test_an_extension_of_no_month_is_an_invalid_value(months: int) -> None:
    """§ 3 ``extend_period``: ``invalid_value``."""
    assert "invalid_value" in refused(in_monitoring(), extend(months))


def test_extensions_only_in_monitoring() -> None:
    """§ 3 ``extend_period``: allowed in monitoring."""
    for case in (opened(), in_assessment(), in_planning()):
        assert "invalid_in_phase" in refused(case, extend(3))


def test_an_extension_on_the_last_day_is_in_time_the_day_after_is_period_ended() -> None:
    """§ 3 ``period_ended``; § 4 "only while the period has not ended"."""
    case = in_monitoring()
    assert run(case, extend(3, on=LAST)).period_end == date(2028, 5, 31)
    assert "period_ended" in refused(case, extend(3, on=LAST + timedelta(1)))


# closing


OPEN_REASONS = ("moved_away", "handed_over", "no_contact", "client_request")


def test_the_closure_reasons_are_those_of_section_3() -> None:
    """§ 3 closure reasons, spelled as domain.md spells them."""
    assert {r.value for r in ClosureReason} == {
        "goals_achieved",
        "period_expired",
        "moved_away",
        "handed_over",
        "no_contact",
        "client_request",
        "other",
    }
    assert all(r.label("de") and r.label("en") for r in ClosureReason)


@pytest.mark.parametrize("reason", OPEN_REASONS)
def test_every_plain_closure_reason_closes_from_every_open_phase(reason: str) -> None:
    """§ 3 ``close_case``: open phases → closed."""
    for case in (opened(), in_assessment(), in_planning(), in_monitoring()):
        after = run(case, c.CloseCase(reason=reason, on=D0))
        assert after.phase == Phase.CLOSED
        assert after.closure is not None and after.closure.reason == reason


def test_other_needs_a_note() -> None:
    """§ 3 "``other`` (note required)"."""
    for note in ("", "  "):
        refused(in_monitoring(), c.CloseCase(reason="other", on=D0, note=note))
    assert run(in_monitoring(), c.CloseCase(reason="other", on=D0, note="x")).phase == Phase.CLOSED


@pytest.mark.parametrize("reason", ["died", "", "Goals_Achieved", "goals achieved", "verstorben"])
def test_an_unknown_closure_reason_is_an_invalid_value(reason: str) -> None:
    """§ 3 closure reasons; § 8 "Anything else is ``invalid_value``": refused when the
    command is built, with ``invalid_value`` (and still a ``ValueError``), the value
    never quoted."""
    with pytest.raises(Rejected) as exc:
        c.CloseCase(reason=reason, on=D0)
    assert exc.value.codes == ("invalid_value",)
    assert isinstance(exc.value, ValueError)
    if reason:
        assert reason not in str(exc.value)
        assert all(
            reason not in r.message(lang) for r in exc.value.reasons for lang in ("de", "en")
        )


def test_values_outside_every_vocabulary_are_invalid_values() -> None:
    """§ 3 life areas, goal statuses; § 8 "Anything else is ``invalid_value``"."""
    for build in (
        lambda: c.RecordNeed(area="cooking", note="n", on=D0),
        lambda: c.SetGoalStatus(goal_id="g1", status="done", on=D0),
        lambda: c.RecordContact(on=D0, minutes=5, topics=["language", "sports"]),
        lambda: c.RecordContact(on=D0, minutes=5, channel="carrier_pigeon"),
        lambda: goal().__class__(
            goal_id="g1", area="leisure", description="d", target_date=LAST, on=D0
        ),
    ):
        with pytest.raises(Rejected) as exc:
            build()
        assert exc.value.codes == ("invalid_value",)
        assert exc.value.reasons[0].message("de") != exc.value.reasons[0].message("en")


def test_goals_achieved_needs_every_goal_final_and_one_achieved() -> None:
    """§ 3 "``goals_achieved`` (only if every goal is final and at least one is
    achieved)"; otherwise ``goals_not_achieved``."""
    case = in_monitoring(goals=2)
    close = c.CloseCase(reason="goals_achieved", on=D0)
    assert "goals_not_achieved" in refused(case, close)  # all open
    one = run(case, c.SetGoalStatus(goal_id="g1", status="achieved", on=D0))
    assert "goals_not_achieved" in refused(one, close)  # g2 still open
    for other in ("partly_achieved", "not_achieved", "dropped"):
        settled = run(one, c.SetGoalStatus(goal_id="g2", status=other, on=D0))
        assert run(settled, close).phase == Phase.CLOSED
    none = run(
        case,
        c.SetGoalStatus(goal_id="g1", status="partly_achieved", on=D0),
        c.SetGoalStatus(goal_id="g2", status="dropped", on=D0),
    )
    assert "goals_not_achieved" in refused(none, close)
    for early in (opened(), in_assessment(), in_planning()):
        assert "goals_not_achieved" in refused(early, close)


def test_period_expired_only_after_the_last_day() -> None:
    """§ 3 "``period_expired`` (only after the last day of the period)"; otherwise
    ``period_not_ended``."""
    case = in_monitoring()
    assert "period_not_ended" in refused(case, c.CloseCase(reason="period_expired", on=LAST))
    after = run(case, c.CloseCase(reason="period_expired", on=LAST + timedelta(1)))
    assert after.closure is not None and after.closure.reason == "period_expired"


def test_closing_stays_allowed_after_the_period_and_other_work_does_not() -> None:
    """§ 3 "``period_ended`` (case work after the last day of the period; closing stays
    allowed)"; § 4 "After the last day, only closing is allowed"."""
    case = in_monitoring()
    late = LAST + timedelta(1)
    for command in (
        c.RecordContact(on=late, minutes=10),
        c.RecordNeed(area="work", note="n", on=late),
        c.ReviewPlan(on=late, note="n"),
        c.RevisePlan(on=late),
        c.SetGoalStatus(goal_id="g1", status="achieved", on=late),
        c.RecordConsent(on=late),
        c.WithdrawConsent(on=late),
        c.TransferCase(to_provider="drk-wt", on=late),
    ):
        assert "period_ended" in refused(case, command), command.type
    for reason in (*OPEN_REASONS, "period_expired"):
        assert run(case, c.CloseCase(reason=reason, on=late)).phase == Phase.CLOSED
    # on the last day itself the work is still allowed
    assert run(case, c.RecordContact(on=LAST, minutes=10)).phase == Phase.MONITORING


# reopening


def test_a_case_reopens_into_assessment_within_the_period() -> None:
    """§ 3 ``reopen_case``: closed → assessment, within the period; § 2 "may be reopened
    within the period"."""
    case = closed("no_contact")
    assert run(case, c.ReopenCase(on=LAST)).phase == Phase.ASSESSMENT
    assert "period_ended" in refused(case, c.ReopenCase(on=LAST + timedelta(1)))


@pytest.mark.parametrize("reason", ["goals_achieved", "period_expired"])
def test_no_reopening_after_goals_achieved_or_period_expired(reason: str) -> None:
    """§ 3 "``reopen_case`` is not allowed after ``goals_achieved`` or ``period_expired``"
    → ``reopen_not_allowed``."""
    case = in_monitoring()
    if reason == "goals_achieved":
        case = run(
            case,
            c.SetGoalStatus(goal_id="g1", status="achieved", on=D0),
            c.CloseCase(reason=reason, on=D0),
        )
        assert "reopen_not_allowed" in refused(case, c.ReopenCase(on=D0))
    else:
        case = run(case, c.CloseCase(reason=reason, on=LAST + timedelta(1)))
        assert "reopen_not_allowed" in refused(case, c.ReopenCase(on=LAST + timedelta(1)))


@pytest.mark.parametrize("reason", [*OPEN_REASONS, "other"])
def test_other_closures_may_be_reopened(reason: str) -> None:
    """§ 3: only ``goals_achieved`` and ``period_expired`` block reopening."""
    case = closed(reason)
    assert run(case, c.ReopenCase(on=D0)).phase == Phase.ASSESSMENT


def test_reopen_only_from_closed() -> None:
    """§ 3 ``reopen_case``: allowed in closed."""
    assert "invalid_in_phase" in refused(in_monitoring(), c.ReopenCase(on=D0))


def test_every_command_but_reopening_is_refused_in_a_closed_case() -> None:
    """§ 3 guard ``case_closed``."""
    case = closed()
    for command in (
        c.RecordConsent(on=D0),
        c.WithdrawConsent(on=D0),
        c.RecordContact(on=D0, minutes=10),
        c.StartAssessment(on=D0),
        c.RecordNeed(area="work", note="n", on=D0),
        c.StartPlanning(on=D0),
        goal("g7"),
        c.AgreePlan(on=D0),
        c.SetGoalStatus(goal_id="g1", status="achieved", on=D0),
        c.ReviewPlan(on=D0, note="n"),
        c.RevisePlan(on=D0),
        extend(3),
        c.CloseCase(reason="client_request", on=D0),
        c.TransferCase(to_provider="drk-wt", on=D0),
    ):
        assert "case_closed" in refused(case, command), command.type


# transfers


def test_a_transfer_moves_the_case_to_another_provider_of_the_same_district() -> None:
    """§ 3 ``transfer_case``: "case id, history and period continue"; the new
    provider's manager may act, the old one is ``forbidden``."""
    case = in_monitoring()
    moved = run(case, c.TransferCase(to_provider="drk-wt", on=D0, note="moved"))
    assert (moved.case_id, moved.provider, moved.district) == ("c-1", "drk-wt", DISTRICT)
    assert (moved.period_start, moved.period_end) == (case.period_start, case.period_end)
    assert moved.events[: len(case.events)] == case.events
    assert "forbidden" in refused(moved, c.RecordContact(on=D0, minutes=5))
    new = Actor("im-2", Role.MANAGER, provider="drk-wt", district=DISTRICT)
    assert run(moved, c.RecordContact(on=D0, minutes=5), by=new).provider == "drk-wt"


def test_a_transfer_to_the_current_provider_is_an_unknown_provider() -> None:
    """§ 3 ``transfer_case``: ``unknown_provider``."""
    assert "unknown_provider" in refused(
        in_monitoring(), c.TransferCase(to_provider=PROVIDER, on=D0)
    )


def test_a_manager_of_another_provider_may_not_transfer() -> None:
    """§ 3 ``transfer_case``: ``forbidden``."""
    other = Actor("im-2", Role.MANAGER, provider="drk-wt", district=DISTRICT)
    assert "forbidden" in refused(
        in_monitoring(), c.TransferCase(to_provider="drk-wt", on=D0), by=other
    )


# guards for every command


def test_a_date_before_the_latest_event_is_out_of_order() -> None:
    """§ 3 ``date_out_of_order``; the same day is in order."""
    case = run(opened(), c.RecordContact(on=D0 + timedelta(5), minutes=10))
    assert "date_out_of_order" in refused(case, c.RecordContact(on=D0 + timedelta(4), minutes=10))
    assert codes_of(case, c.RecordContact(on=D0 + timedelta(5), minutes=10)) == set()


def test_a_date_after_today_is_in_the_future_today_is_not() -> None:
    """§ 3 ``date_in_future`` (``on`` later than the engine clock's today)."""
    engine = engine_on(date(2025, 12, 31))
    case = opened(engine=engine)
    assert "date_in_future" in refused(
        case, c.RecordContact(on=date(2026, 1, 1), minutes=5), engine=engine
    )
    assert codes_of(case, c.RecordContact(on=date(2025, 12, 31), minutes=5), engine=engine) == set()
    with pytest.raises(Rejected) as exc:
        opened(date(2026, 1, 1), case_id="c-2", engine=engine)
    assert "date_in_future" in exc.value.codes


def test_the_engine_today_is_the_date_in_berlin() -> None:
    """§ 3 "the engine clock's today"; § 8 "clocks must be timezone-aware": 23:30 UTC on
    31 December is already 1 January in Europe/Berlin."""
    engine = Engine(clock=FrozenClock(datetime(2025, 12, 31, 23, 30, tzinfo=UTC)))
    case = opened(engine=engine)
    assert codes_of(case, c.RecordContact(on=date(2026, 1, 1), minutes=5), engine=engine) == set()


def test_a_naive_clock_is_refused() -> None:
    """§ 8 "clocks must be timezone-aware"."""
    naive = datetime(2025, 3, 1, 12)
    with pytest.raises(ValueError, match="aware"):
        FrozenClock(naive)
    with pytest.raises(InvalidClock):
        Engine(clock=lambda: naive)


WITHDRAWN_BLOCKS = (
    c.RecordContact(on=D0, minutes=10),
    c.RecordNeed(area="work", note="n", on=D0),
    c.ReviewPlan(on=D0, note="n"),
    c.RevisePlan(on=D0),
    c.SetGoalStatus(goal_id="g1", status="achieved", on=D0),
    extend(3),
    c.WithdrawConsent(on=D0),
)


@pytest.mark.parametrize("command", WITHDRAWN_BLOCKS, ids=lambda x: x.type)
def test_after_withdrawal_case_work_is_consent_missing(command: c.Command) -> None:
    """§ 3 ``consent_missing``: "every command except ``record_consent``, ``close_case``
    and ``transfer_case``, including ``record_contact``"."""
    case = run(in_monitoring(), c.WithdrawConsent(on=D0))
    assert "consent_missing" in refused(case, command)


def test_after_withdrawal_consent_closing_and_transfer_stay_allowed() -> None:
    """§ 3: ``record_consent``, ``close_case`` and ``transfer_case`` need no consent."""
    case = run(in_monitoring(), c.WithdrawConsent(on=D0))
    assert codes_of(case, c.RecordConsent(on=D0)) == set()
    assert codes_of(case, c.CloseCase(reason="client_request", on=D0)) == set()
    assert codes_of(case, c.TransferCase(to_provider="drk-wt", on=D0)) == set()


def test_reopening_after_withdrawal_is_consent_missing() -> None:
    """§ 3 ``consent_missing`` holds for ``reopen_case`` too."""
    case = run(
        in_monitoring(), c.WithdrawConsent(on=D0), c.CloseCase(reason="client_request", on=D0)
    )
    assert "consent_missing" in refused(case, c.ReopenCase(on=D0))


def test_life_areas_are_those_of_section_3() -> None:
    """§ 3 life areas (Handlungsfelder)."""
    assert [a.value for a in LifeArea] == [
        "language",
        "school",
        "vocational_training",
        "work",
        "housing",
        "health",
        "childcare",
        "participation",
        "regular_services",
        "other",
    ]
    assert LifeArea.LANGUAGE.label("de").startswith("Sprache")


def test_reasons_carry_german_and_english_messages() -> None:
    """§ 3 reason codes "stable, snake_case, with German and English messages"."""
    with pytest.raises(Rejected) as exc:
        ENGINE.handle(in_planning(), c.AgreePlan(on=D0), by=IM)
    for reason in exc.value.reasons:
        assert reason.code.isidentifier() and reason.code == reason.code.lower()
        assert reason.message("de") and reason.message("en")
        assert reason.message("de") != reason.message("en")


# ---------------------------------------------------------------- § 4 the period


def bgb_last_day(start: date, months: int) -> date:
    """§§ 187 (2), 188 (2), (3) BGB, counted independently: the day before the same
    calendar date *months* later, or the end of that month where the date is missing."""
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    try:
        return date(year, month, start.day) - timedelta(days=1)
    except ValueError:
        first_of_next = date(year + month // 12, month % 12 + 1, 1)
        return first_of_next - timedelta(days=1)


OPENINGS = st.dates(min_value=date(2023, 6, 6), max_value=date(2030, 6, 30))


def test_the_examples_of_section_4() -> None:
    """§ 4 "opened 2025-03-01 → last day 2028-02-29"; a leap day opening ends on
    28 February; 1 January ends on 31 December; 31 December ends on 30 December."""
    assert opened(date(2025, 3, 1)).period_end == date(2028, 2, 29)
    assert opened(date(2024, 2, 29)).period_end == date(2027, 2, 28)
    assert opened(date(2025, 1, 1)).period_end == date(2027, 12, 31)
    assert opened(date(2024, 12, 31)).period_end == date(2027, 12, 30)
    assert opened(date(2025, 2, 28)).period_end == date(2028, 2, 27)


@settings(max_examples=200, deadline=None)
@given(OPENINGS)
def test_the_period_ends_the_day_before_the_same_date_three_years_later(day: date) -> None:
    """§ 4 "The period includes the opening day and ends at the end of the day before
    the same calendar date three years later ... where that calendar date does not
    exist in the final month, the period ends at the end of that month"."""
    case = opened(day)
    assert case.period_start == day
    assert case.period_end == bgb_last_day(day, 36)


@settings(max_examples=100, deadline=None)
@given(OPENINGS, st.lists(st.integers(min_value=1, max_value=13), min_size=1, max_size=4))
def test_extensions_add_months_to_the_same_computation_up_to_twelve(
    day: date, asked: list[int]
) -> None:
    """§ 4 "Extensions add calendar months to the same computation, at most 12 months
    in total over one or more extensions"."""
    engine = engine_on(date(2099, 1, 1))
    case = in_monitoring(day, engine=engine)
    granted = 0
    for months in asked:
        found = codes_of(case, extend(months, on=day), engine=engine)
        if granted + months <= 12:
            assert found == set()
            case = run(case, extend(months, on=day), engine=engine)
            granted += months
        else:
            assert "extension_limit_exceeded" in found
        assert case.period_end == bgb_last_day(day, 36 + granted)


def test_the_sweep_closes_cases_past_their_last_day_as_period_expired() -> None:
    """§ 4 "a deadline sweep closes such cases as ``period_expired``"; not on the last
    day itself."""
    case = in_monitoring()
    assert ENGINE.sweep([case], on=LAST).closed == ()
    result = ENGINE.sweep([case], on=LAST + timedelta(1))
    assert [c_.closure.reason for c_ in result.closed if c_.closure] == ["period_expired"]
    assert result.closed[0].phase == Phase.CLOSED


def test_the_system_actor_closes_only_as_period_expired() -> None:
    """§ 6 ``system``: "``close_case`` with ``period_expired`` only (deadline sweeps)"."""
    case = in_monitoring()
    late = LAST + timedelta(1)
    assert run(case, c.CloseCase(reason="period_expired", on=late), by=SYSTEM).phase == Phase.CLOSED
    for reason in (*OPEN_REASONS, "other"):
        assert "forbidden" in refused(
            case, c.CloseCase(reason=reason, on=late, note="n"), by=SYSTEM
        )
    for command in (c.RecordContact(on=D0, minutes=5), c.ReviewPlan(on=D0, note="n"), extend(2)):
        assert "forbidden" in refused(case, command, by=SYSTEM)


def due_of(case: Case, kind: str, on: date) -> list[date]:
    return [d.due for d in ENGINE.deadlines(case, on=on) if d.kind == kind]


@pytest.mark.parametrize(
    ("opening", "due"),
    [
        (date(2025, 1, 31), date(2025, 4, 30)),
        (date(2023, 11, 30), date(2024, 2, 29)),
        (date(2025, 11, 30), date(2026, 2, 28)),
        (date(2025, 3, 1), date(2025, 5, 31)),
    ],
)
def test_the_plan_is_due_on_last_day_of_opening_and_three_months(opening: date, due: date) -> None:
    """§ 4 "the plan 'within 3 months of opening' ends on ``last_day(opening, 3 months)``
    (opened 2025-01-31 → plan due by 2025-04-30, opened 2023-11-30 → 2024-02-29)"."""
    case = opened(opening)
    assert due_of(case, "plan_due", due) == [due]


def test_reviews_fall_due_every_six_months_with_the_same_computation() -> None:
    """§ 4 "Reviews of an agreed plan fall due every 6 months ... and so do review
    dates": agreed 2025-08-31 → review due 2026-02-28; the next one counts from the
    review."""
    agreed = date(2025, 8, 31)
    case = in_monitoring(agreed)
    assert due_of(case, "plan_review", date(2026, 2, 28)) == [date(2026, 2, 28)]
    reviewed = run(case, c.ReviewPlan(on=date(2026, 2, 28), note="ok"))
    assert due_of(reviewed, "plan_review", date(2026, 8, 27)) == [date(2026, 8, 27)]


def test_a_continued_case_ends_where_the_earlier_one_would_have() -> None:
    """§ 4 "the new case's period ends where the earlier one would have, extensions
    included"; the 12 extension months are shared."""
    earlier = run(in_monitoring(), extend(5))
    moved = run(earlier, c.CloseCase(reason="moved_away", on=date(2026, 5, 9)))
    assert moved.closure is not None and moved.closure.reason == "moved_away"
    stuttgart = Actor("im-s", Role.MANAGER, provider="stadt-s", district="08111")
    new = ENGINE.open(
        c.OpenCase(
            case_id="s-1",
            person="p-1",
            district="08111",
            provider="stadt-s",
            on=date(2026, 5, 10),
            continues=c.Continuation(
                case_id="c-1", district=DISTRICT, period_start=D0, extended_months=5
            ),
        ),
        by=stuttgart,
    )
    assert new.period_end == earlier.period_end == date(2028, 7, 31)
    day = date(2026, 5, 10)
    new = run(to_planning(new, day, by=stuttgart), goal("g1", day), c.AgreePlan(on=day),
              by=stuttgart)  # fmt: skip
    assert "extension_limit_exceeded" in refused(new, extend(8, on=day), by=stuttgart)
    assert run(new, extend(7, on=day), by=stuttgart).period_end == date(2029, 2, 28)


# ---------------------------------------------------------------- § 5 rule sets


@pytest.mark.parametrize(
    ("opening", "rule_set"),
    [
        (date(2018, 1, 1), "vwv-2018"),
        (date(2023, 6, 5), "vwv-2018"),
        (date(2023, 6, 6), "vwv-2023"),
        (date(2024, 12, 31), "vwv-2023"),
        (date(2025, 1, 1), "system-2025"),
    ],
)
def test_a_case_is_pinned_to_the_rule_set_in_force_on_its_opening_date(
    opening: date, rule_set: str
) -> None:
    """§ 5: ``vwv-2018`` from 2018-01-01, ``vwv-2023`` from 2023-06-06, ``system-2025``
    from 2025-01-01; "A case is pinned to the rule set in force on its opening date"."""
    case = opened(opening)
    assert case.rule_set == rule_set
    later = run(case, c.RecordContact(on=date(2025, 6, 1), minutes=5))
    assert later.rule_set == rule_set


def test_vwv_2018_has_no_limit_and_a_voluntary_plan() -> None:
    """§ 5 ``vwv-2018``: plan voluntary, limit none."""
    day = date(2022, 5, 2)
    case = in_planning(day)
    assert case.period_end is None
    agreed = run(case, c.AgreePlan(on=day))
    assert agreed.phase == Phase.MONITORING
    assert run(agreed, c.RecordContact(on=date(2029, 1, 1), minutes=5)).phase == Phase.MONITORING


def test_moving_to_another_rule_set_is_an_explicit_logged_command() -> None:
    """§ 5 "moving it to another is an explicit, logged command"."""
    case = in_monitoring(date(2024, 6, 3))
    assert case.rule_set == "vwv-2023"
    moved = run(case, c.MigrateRuleSet(rule_set="system-2025", on=date(2025, 1, 2)))
    assert moved.rule_set == "system-2025"
    assert moved.events[-1].type == "rule_set_migrated"


def test_an_opening_before_the_first_rule_set_is_refused() -> None:
    """§ 5 / § 8 "dates from 2018-01-01"."""
    with pytest.raises(Rejected):
        opened(date(2017, 12, 31))


# ---------------------------------------------------------------- § 6 who may do what


COORDINATOR = Actor("k-1", Role.COORDINATOR, district=DISTRICT)
AUDITOR = Actor("a-1", Role.AUDITOR, district=DISTRICT)
OTHER_PROVIDER = Actor("im-2", Role.MANAGER, provider="drk-wt", district=DISTRICT)
OTHER_DISTRICT = Actor("im-3", Role.MANAGER, provider=PROVIDER, district="08111")


@pytest.mark.parametrize(
    "actor", [COORDINATOR, AUDITOR, OTHER_PROVIDER, OTHER_DISTRICT, SYSTEM], ids=str
)
def test_only_the_own_provider_s_manager_does_case_work(actor: Actor) -> None:
    """§ 6: ``manager`` "all case work on cases of its own provider in its own
    district"; ``coordinator`` and ``auditor`` "none"; ``system`` "``close_case`` with
    ``period_expired`` only"; "every other act is ``forbidden``", opening included."""
    case = in_monitoring()
    for command in (
        c.RecordConsent(on=D0),
        c.TransferCase(to_provider="drk-wt", on=D0),
        c.RecordContact(on=D0, minutes=5),
        c.ReviewPlan(on=D0, note="n"),
        c.SetGoalStatus(goal_id="g1", status="achieved", on=D0),
        extend(3),
        c.CloseCase(reason="client_request", on=D0),
        c.WithdrawConsent(on=D0),
    ):
        assert "forbidden" in refused(case, command, by=actor), command.type
    with pytest.raises(Rejected) as exc:
        ENGINE.open(
            c.OpenCase(case_id="c-5", person="p-5", district=DISTRICT, provider=PROVIDER, on=D0),
            by=actor,
        )
    assert "forbidden" in exc.value.codes


def test_reads_are_guarded_like_commands() -> None:
    """§ 6 "a host asks the library for a case, a history or a report as an actor, and
    gets ``forbidden`` outside that actor's scope"; the auditor sees pseudonymised
    histories, personal fields hidden."""
    from imflow import Forbidden
    from imflow.access import read_case, read_history

    case = in_monitoring()
    assert read_case(case, by=IM).person == "p-1"
    for actor in (
        COORDINATOR,
        SYSTEM,
        OTHER_PROVIDER,
        OTHER_DISTRICT,
        Actor("a-2", Role.AUDITOR, district="08111"),
    ):
        with pytest.raises(Forbidden):
            read_case(case, by=actor)
        with pytest.raises(Forbidden):
            read_history(case, by=actor)
    for auditor in (AUDITOR, Actor("a-3", Role.AUDITOR)):
        seen = read_case(case, by=auditor)
        assert seen.person != "p-1"
        assert "p-1" not in repr(read_history(case, by=auditor))
    with pytest.raises(Forbidden):
        report(case.events, year=2025, by=SYSTEM)
    with pytest.raises(Forbidden):
        report(case.events, year=2025, by=OTHER_DISTRICT, district=DISTRICT)
    with pytest.raises(Forbidden):
        report(case.events, year=2025, by=IM, provider="drk-wt")
    assert report(case.events, year=2025, by=IM).figures()["cases_active"] == 1


# ---------------------------------------------------------------- § 7 key figures


def figures(events: list[object], year: int) -> dict[str, object]:
    return dict(report(events, year=year).figures())


# § 7's list of figures, each with an id and German and English names, is pinned by
# tests/test_kennzahlen.py::test_the_catalogue_covers_domain_section_7_in_two_languages


def test_figures_are_counted_in_the_year_the_events_are_dated() -> None:
    """§ 7 "for a calendar year": opened on 31 December, closed on 1 January — opened
    in the first year, closed in the second, active in both; the report is due on
    31 January of the next year (§ 1)."""
    case = opened(date(2025, 12, 31), household=3)
    case = run(case, c.CloseCase(reason="client_request", on=date(2026, 1, 1)))
    first, second = figures(list(case.events), 2025), figures(list(case.events), 2026)
    assert (first["cases_active"], first["cases_opened"], first["cases_closed"]) == (1, 1, 0)
    assert (second["cases_active"], second["cases_opened"], second["cases_closed"]) == (1, 0, 1)
    assert second["cases_closed_by_reason"]["client_request"] == 1  # type: ignore[index]
    assert first["persons_counselled"] == second["persons_counselled"] == 3
    assert second["median_length_days"] == 1
    assert report(case.events, year=2025).due == date(2026, 1, 31)
    assert figures(list(case.events), 2027)["cases_active"] == 0


def test_the_plan_within_three_months_uses_the_last_day_rule() -> None:
    """§ 4/§ 7 "the key figure 'plan within 3 months'": opened 2025-01-31, a plan agreed
    on 2025-04-30 is on time, on 2025-05-01 it is late."""
    events: list[object] = []
    for case_id, agreed in (("c-1", date(2025, 4, 30)), ("c-2", date(2025, 5, 1))):
        case = in_monitoring(date(2025, 1, 31), agreed=agreed, case_id=case_id)
        events += case.events
    found = figures(events, 2025)
    assert found["plans_agreed"] == 2
    assert found["plan_on_time_share"] == 0.5


def test_an_open_case_past_its_period_is_counted_and_found() -> None:
    """§ 7 "open cases past their period (must be 0)", listed among the findings."""
    case = in_monitoring()  # last day 2028-02-29, never closed
    assert figures(list(case.events), 2027)["open_past_period"] == 0
    late = report(case.events, year=2028)
    assert late.figures()["open_past_period"] == 1
    assert "open_past_period" in {f.code for f in late.findings}


def test_a_closure_before_the_opening_is_a_plausibility_finding() -> None:
    """§ 7 "Each report also lists its plausibility findings (for example a closure
    before opening ...)"."""
    import attrs

    case = run(opened(date(2025, 5, 5)), c.CloseCase(reason="no_contact", on=date(2025, 5, 5)))
    opening, closure = case.events
    forged = [opening, attrs.evolve(closure, on=date(2025, 5, 1))]
    assert "closure_before_opening" in {f.code for f in report(forged, year=2025).findings}


# ---------------------------------------------------------------- § 8 personal data


def bounds_case() -> Case:
    """A case in planning under vwv-2018 (no period), for the date bounds."""
    return in_planning(date(2022, 5, 2))


@pytest.mark.parametrize(
    "case_id", ["", "x" * 65, "a\x00b", "a\nb", "a\tb", "\ud800", "a\x7fb"], ids=repr
)
def test_ids_outside_1_to_64_printable_characters_are_invalid_values(case_id: str) -> None:
    """§ 8 "ids 1–64 printable characters"."""
    with pytest.raises(Rejected) as exc:
        opened(case_id=case_id)
    assert exc.value.codes == ("invalid_value",) or "invalid_value" in exc.value.codes
    assert case_id not in str(exc.value) or not case_id


def test_ids_of_1_and_64_characters_are_accepted() -> None:
    """§ 8: the bounds themselves."""
    assert opened(case_id="x").case_id == "x"
    assert opened(case_id="x" * 64).case_id == "x" * 64


BAD_TEXTS = ["x" * 4001, "a\x00b", "\ud800", "a\x07b", "a\x1bb"]


@pytest.mark.parametrize("text", BAD_TEXTS, ids=lambda t: repr(t[:6]))
def test_free_texts_outside_the_bounds_are_invalid_values_and_never_quoted(text: str) -> None:
    """§ 8 "free texts at most 4,000 characters; no NUL bytes, no lone surrogates, no
    control characters except line breaks ... Anything else is ``invalid_value``";
    "exception messages ... never show ... the values of rejected fields"."""
    case = in_monitoring()
    for command in (
        c.ReviewPlan(on=D0, note=text),
        c.RecordNeed(area="work", note=text, on=D0),
        c.CloseCase(reason="other", on=D0, note=text),
        extend(3, justification=text),
    ):
        with pytest.raises(Rejected) as exc:
            ENGINE.handle(case, command, by=IM)
        assert "invalid_value" in exc.value.codes, command.type
        shown = (
            str(exc.value)
            + repr(exc.value)
            + " ".join(r.message(lang) for r in exc.value.reasons for lang in ("de", "en"))
        )
        assert text[:50] not in shown


@pytest.mark.parametrize("text", ["x" * 4000, "line one\nline two", "a\r\nb", "Straße ü 😀"])
def test_free_texts_within_the_bounds_are_accepted(text: str) -> None:
    """§ 8: 4,000 characters and line breaks are allowed."""
    assert run(in_monitoring(), c.ReviewPlan(on=D0, note=text)).phase == Phase.MONITORING


def test_dates_after_2099_are_invalid_values() -> None:
    """§ 8 "dates from 2018-01-01 to 2099-12-31"."""
    case = bounds_case()
    bad = goal("g1", date(2022, 5, 2), target=date(2100, 1, 1))
    assert "invalid_value" in refused(case, bad)
    assert codes_of(case, goal("g1", date(2022, 5, 2), target=date(2099, 12, 31))) == set()


def test_personal_fields_never_show_in_repr_or_str() -> None:
    """§ 8 "Logs, exception messages and ``repr()`` never show personal fields"."""
    secret = "Fatima-geb-1990"
    command = c.OpenCase(
        case_id="c-1",
        person=secret,
        district=DISTRICT,
        provider=PROVIDER,
        on=D0,
        household=2,
        members=(secret + "-kid",),
    )
    case = ENGINE.open(command, by=IM)
    note = "Diagnose: Depression"
    case = run(
        case,
        c.RecordConsent(on=D0),
        c.StartAssessment(on=D0),
        c.RecordNeed(area="health", note=note, on=D0),
    )
    for shown in (
        repr(command),
        str(command),
        repr(case),
        str(case),
        repr(case.events),
        repr(c.RecordNeed(area="health", note=note, on=D0)),
    ):
        assert secret not in shown and note not in shown


def test_cases_recorded_under_the_earlier_default_workflow_still_load() -> None:
    """Stored layouts stay readable: the default workflow changed (``withdraw_consent``
    after the period, § 4), and a case opened under its earlier content hash still
    replays, while an unknown hash is a workflow mismatch."""
    import attrs

    from imflow import WorkflowMismatch

    opening, *rest = in_monitoring().events
    assert isinstance(opening, CaseOpened)
    earlier = attrs.evolve(opening, workflow_hash="bde08f47e7404c8d")
    replayed = ENGINE.replay([earlier, *rest])
    assert replayed.phase == Phase.MONITORING and replayed.workflow_hash == "bde08f47e7404c8d"
    with pytest.raises(WorkflowMismatch):
        ENGINE.replay([attrs.evolve(opening, workflow_hash="0123456789abcdef"), *rest])


# ---------------------------------------------------------------- more § 3 and § 7


DOMAIN_CODES = [
    "unknown_district",
    "invalid_value",
    "consent_missing",
    "no_needs",
    "target_after_period_end",
    "duplicate_goal",
    "no_goals",
    "unknown_goal",
    "justification_missing",
    "extension_limit_exceeded",
    "period_ended",
    "goals_not_achieved",
    "period_not_ended",
    "reopen_not_allowed",
    "unknown_provider",
    "forbidden",
    "invalid_in_phase",
    "case_closed",
    "date_out_of_order",
    "date_in_future",
]


def test_every_reason_code_of_domain_md_has_german_and_english_messages() -> None:
    """§ 3 "reason codes (stable, snake_case, with German and English messages)"."""
    from imflow.reasons import CATALOGUE

    for code in DOMAIN_CODES:
        german, english = CATALOGUE[code]
        assert german and english and german != english, code


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=date(2023, 6, 6), max_value=date(2027, 12, 31)),
    st.integers(min_value=0, max_value=3 * 365),
    st.sampled_from(OPEN_REASONS),
)
def test_opened_closed_and_active_fall_in_the_years_of_their_dates(
    opening: date, days: int, reason: str
) -> None:
    """§ 7 "computed from events only ... for a calendar year": opened counts in the
    year of the opening, closed (by reason) in the year of the closure, active in every
    year from the one to the other."""
    end = min(opening + timedelta(days=days), bgb_last_day(opening, 36))
    engine = engine_on(date(2099, 1, 1))  # every generated closure lies before its today
    case = run(opened(opening, engine=engine), c.CloseCase(reason=reason, on=end), engine=engine)
    for year in range(opening.year - 1, end.year + 2):
        found = figures(list(case.events), year)
        assert found["cases_opened"] == (year == opening.year)
        assert found["cases_closed"] == (year == end.year)
        assert found["cases_closed_by_reason"][reason] == (year == end.year)  # type: ignore[index]
        assert found["cases_active"] == (opening.year <= year <= end.year)
        if year == end.year:
            assert found["median_length_days"] == (end - opening).days


def test_goals_extensions_and_intensity_are_counted() -> None:
    """§ 7 "goals agreed, by life area and by outcome; extensions granted; ... contacts
    and minutes per active case (intensity); caseload per FTE"."""
    case = in_monitoring(goals=2)
    case = run(
        case,
        c.SetGoalStatus(goal_id="g1", status="achieved", on=D0),
        c.RecordContact(on=D0, minutes=30),
        c.RecordContact(on=D0, minutes=60, channel="phone"),
        extend(3, on=date(2025, 6, 2)),
        extend(2, on=date(2025, 6, 3)),
    )
    other = run(opened(case_id="c-2"), c.RecordContact(on=D0, minutes=15))
    found = report([*case.events, *other.events], year=2025, staffing={(DISTRICT, PROVIDER): "0.5"})
    f = found.figures()
    assert f["goals_agreed"] == 2
    assert f["goals_agreed_by_area"]["work"] == 2  # type: ignore[index]
    assert f["goal_outcomes"]["achieved"] == 1  # type: ignore[index]
    assert f["extensions_granted"] == 2
    assert f["contacts_per_active_case"] == 1.5
    assert f["minutes_per_active_case"] == 52.5
    assert f["caseload_per_fte"] == 4.0
    assert f["persons_counselled"] == 2


def test_the_cli_validates_commands_as_domain_md_says(tmp_path: object) -> None:
    """§ 3/§ 8 through the ``imflow`` command line (as a subprocess): an unknown closure
    reason is malformed, ``other`` without a note and any work after the last day are
    rejected with their codes, closing after the last day is accepted."""
    import json

    actor = {"id": "im-1", "role": "manager", "provider": "drk", "district": DISTRICT}

    def line(command: dict[str, object], case_id: str | None = "wt-1") -> str:
        doc: dict[str, object] = {"actor": actor, "command": command}
        if case_id:
            doc["case_id"] = case_id
        return json.dumps(doc)

    lines = [
        line(
            {"type": "open_case", "case_id": "wt-1", "person": "p-1", "district": DISTRICT,
             "provider": "drk", "on": "2025-03-01"},
            None,
        ),
        line({"type": "close_case", "reason": "died", "on": "2025-03-02"}),
        line({"type": "close_case", "reason": "other", "on": "2025-03-02"}),
        line({"type": "withdraw_consent", "on": "2028-03-01"}),
        line({"type": "record_contact", "on": "2028-03-01", "minutes": 5}),
        line({"type": "close_case", "reason": "period_expired", "on": "2028-02-29"}),
        line({"type": "close_case", "reason": "period_expired", "on": "2028-03-01"}),
    ]  # fmt: skip
    result = cli_validate(lines, today="2030-01-01")
    assert result.returncode == 1
    out = result.stdout
    assert "line 2: malformed: $.command.reason:" in out
    assert "line 3: wt-1: close_case rejected\n  note_missing: " in out
    assert "line 4: wt-1: withdraw_consent rejected\n  period_ended: " in out
    assert "line 5: wt-1: record_contact rejected\n  period_ended: " in out
    assert "line 6: wt-1: close_case rejected\n  period_not_ended: " in out
    assert out.endswith("7 commands: 2 accepted, 4 rejected, 1 malformed\n")


def test_a_value_outside_its_vocabulary_survives_pickling_without_the_value() -> None:
    """§ 8: the error keeps field and choices, never the rejected value, also when a
    host sends it to another process."""
    import pickle

    with pytest.raises(Rejected) as exc:
        c.RecordNeed(area="Fatima's Depression", note="n", on=D0)
    again = pickle.loads(pickle.dumps(exc.value))
    assert (type(again), again.codes, str(again)) == (
        type(exc.value),
        ("invalid_value",),
        str(exc.value),
    )
    assert "Fatima" not in repr(again) + pickle.dumps(exc.value).decode("latin-1")


def test_cases_open_in_each_of_the_44_districts_and_nowhere_else() -> None:
    """§ 6 "District: one of the 44 in BW, identified by its official 5-digit AGS code
    (9 Stadtkreise such as 08111 Stuttgart, 35 Landkreise such as 08337 Waldshut)"."""
    import csv
    from pathlib import Path

    with (Path(__file__).parent / "data" / "bw-districts.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 44
    assert sum(r["kind"] == "Stadtkreis" for r in rows) == 9
    codes = {r["ags"] for r in rows}
    assert {"08111", "08337"} <= codes
    for ags in sorted(codes):
        actor = Actor("im-x", Role.MANAGER, provider="p-x", district=ags)
        command = c.OpenCase(case_id="c-x", person="p-x", district=ags, provider="p-x", on=D0)
        assert ENGINE.open(command, by=actor).district == ags
    for ags in ("08110", "08138", "08338", "08440", "09111", "8337"):
        actor = Actor("im-x", Role.MANAGER, provider="p-x", district=ags)
        command = c.OpenCase(case_id="c-x", person="p-x", district=ags, provider="p-x", on=D0)
        with pytest.raises(Rejected) as exc:
            ENGINE.open(command, by=actor)
        assert "unknown_district" in exc.value.codes or "invalid_value" in exc.value.codes


def cli_validate(lines: list[str], *, today: str) -> subprocess.CompletedProcess[str]:
    """``imflow --lang en validate - --today TODAY`` run as a subprocess on *lines*."""
    return subprocess.run(
        [sys.executable, "-m", "imflow", "--lang", "en", "validate", "-", "--today", today],
        input="\n".join(lines),
        capture_output=True,
        text=True,
        timeout=300,
    )
