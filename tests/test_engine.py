"""The engine on the default workflow: a whole household case, and every guard refusing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import attrs
import pytest
from structlog.testing import capture_logs

from imflow import (
    Actor,
    Case,
    ConsentStatus,
    Engine,
    FrozenClock,
    GoalStatus,
    GuardContext,
    Hooks,
    InvalidHistory,
    LifeArea,
    OutOfBounds,
    Phase,
    Reason,
    Rejected,
    Role,
    bw_integrationsmanagement,
)
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.engine import MAX_CONTACT_MINUTES, trusted_fold
from imflow.events import CaseClosed, ContactRecorded, Event, PlanAgreed
from imflow.rules import RULE_SETS
from imflow.serialization import dumps
from imflow.store import MemoryStore

D0 = date(2025, 3, 1)
MANAGER = Actor("im-7", Role.MANAGER, provider="caritas-wt", district="08337")


def open_household(engine: Engine, *, on: date = D0, case_id: str = "wt-1") -> Case:
    return engine.open(
        c.OpenCase(
            case_id=case_id,
            person="p-0001",
            district="08337",
            provider="caritas-wt",
            household=5,
            members=("p-0002", "p-0003", "p-0004", "p-0005"),
            on=on,
        ),
        by=MANAGER,
    )


def codes(exc: pytest.ExceptionInfo[Rejected]) -> list[str]:
    return list(exc.value.codes)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2029, 6, 30, 10, tzinfo=UTC))


@pytest.fixture
def engine(clock: FrozenClock) -> Engine:
    return Engine(clock=clock)


def in_monitoring(engine: Engine) -> Case:
    case = open_household(engine)
    for cmd in (
        c.RecordConsent(on=D0),
        c.StartAssessment(on=D0),
        c.RecordNeed(on=D0, area=LifeArea.LANGUAGE, note="German A1"),
        c.StartPlanning(on=date(2025, 3, 20)),
        c.AddGoal(
            goal_id="g1",
            area=LifeArea.LANGUAGE,
            description="B1 certificate",
            target_date=date(2026, 6, 30),
            on=date(2025, 3, 20),
        ),
        c.AgreePlan(on=date(2025, 4, 1)),
    ):
        case = engine.handle(case, cmd, by=MANAGER)
    return case


def test_a_household_walks_through_every_phase_to_goals_achieved(engine: Engine) -> None:
    case = open_household(engine)
    assert (case.phase, case.household, len(case.members)) == (Phase.INTAKE, 5, 4)
    assert (case.period_start, case.period_end) == (D0, date(2028, 2, 29))
    assert case.rule_set == "system-2025"
    assert (case.district, case.provider, case.version) == ("08337", "caritas-wt", 1)

    steps: list[tuple[c.Command, Phase]] = [
        (c.RecordContact(on=D0, minutes=60, topics=[LifeArea.HOUSING]), Phase.INTAKE),
        (c.RecordConsent(on=D0), Phase.INTAKE),
        (c.StartAssessment(on=date(2025, 3, 3)), Phase.ASSESSMENT),
        (c.RecordNeed(on=date(2025, 3, 3), area="language", note="A1"), Phase.ASSESSMENT),
        (c.RecordNeed(on=date(2025, 3, 3), area="childcare", note="2 kids"), Phase.ASSESSMENT),
        (c.StartPlanning(on=date(2025, 3, 20)), Phase.PLANNING),
        (
            c.AddGoal(
                goal_id="g1",
                area="language",
                description="B1 certificate",
                target_date=date(2026, 6, 30),
                on=date(2025, 3, 20),
            ),
            Phase.PLANNING,
        ),
        (
            c.AddGoal(
                goal_id="g2",
                area="childcare",
                description="Kita place",
                target_date=date(2025, 9, 1),
                on=date(2025, 3, 20),
            ),
            Phase.PLANNING,
        ),
        (c.AgreePlan(on=date(2025, 4, 1)), Phase.MONITORING),
        (c.SetGoalStatus(goal_id="g2", status="achieved", on=date(2025, 8, 20)), Phase.MONITORING),
        (c.ReviewPlan(on=date(2025, 10, 1), note="on track"), Phase.MONITORING),
        (c.RevisePlan(on=date(2025, 10, 1)), Phase.PLANNING),
        (
            c.AddGoal(
                goal_id="g3",
                area="work",
                description="Mini-job",
                target_date=date(2027, 1, 31),
                on=date(2025, 10, 2),
            ),
            Phase.PLANNING,
        ),
        (c.AgreePlan(on=date(2025, 10, 2)), Phase.MONITORING),
        (
            c.ExtendPeriod(months=6, justification="exam in spring", on=date(2027, 11, 1)),
            Phase.MONITORING,
        ),
        (c.SetGoalStatus(goal_id="g1", status="achieved", on=date(2027, 12, 1)), Phase.MONITORING),
        (
            c.SetGoalStatus(goal_id="g3", status="partly_achieved", on=date(2028, 3, 1)),
            Phase.MONITORING,
        ),
        (c.CloseCase(reason="goals_achieved", on=date(2028, 3, 2)), Phase.CLOSED),
    ]
    for cmd, phase in steps:
        before = case
        case = engine.handle(case, cmd, by=MANAGER)
        assert case.phase == phase, cmd
        assert case.version == before.version + 1
        assert case.events[:-1] == before.events  # appended, nothing rewritten

    assert [p.version for p in case.plans] == [1, 2]
    assert [g.goal_id for g in case.plans[-1].goals] == ["g1", "g2", "g3"]
    assert {g.goal_id: g.status for g in case.plans[-1].goals} == {
        "g1": GoalStatus.ACHIEVED,
        "g2": GoalStatus.ACHIEVED,
        "g3": GoalStatus.PARTLY_ACHIEVED,
    }
    assert case.period_end == date(2028, 8, 31)  # 42 months from 2025-03-01
    assert case.closure is not None and case.closure.reason == "goals_achieved"
    assert case.consent is ConsentStatus.GIVEN
    assert not case.is_open
    assert engine.replay(case.events) == case
    assert [e.seq for e in case.events] == list(range(1, 20))
    assert all(e.actor == MANAGER and e.recorded_at == engine.clock() for e in case.events)


# -- refusals: every guard of domain.md, with the exact reason codes ------------------


def test_open_case_refusals(engine: Engine) -> None:
    with pytest.raises(Rejected) as exc:
        engine.open(
            c.OpenCase(
                case_id=" ",
                person="",
                district="09162",
                provider="",
                household=0,
                on=date(2030, 1, 1),
            ),
            by=MANAGER,
        )
    # a manager of another provider and district learns nothing but "forbidden"
    assert codes(exc) == ["forbidden"]
    local = Actor("im-by", Role.MANAGER, provider="drk-by", district="09162")
    with pytest.raises(Rejected) as exc:
        engine.open(
            c.OpenCase(
                case_id=" ",
                person="",
                district="09162",
                provider="drk-by",
                household=0,
                on=date(2030, 1, 1),
            ),
            by=local,
        )
    assert codes(exc) == ["date_in_future", "unknown_district", "invalid_value"]
    invalid = [r for r in exc.value.reasons if r.code == "invalid_value"]
    assert len(invalid) == 1  # reasons are unique by code; the first field is named
    with pytest.raises(Rejected) as exc:
        engine.open(
            c.OpenCase(
                case_id="x",
                person="p",
                district="08337",
                provider="caritas-wt",
                household=2,
                members=("a", "b"),
                on=D0,
            ),
            by=MANAGER,
        )
    assert codes(exc) == ["invalid_value"]
    assert "members" in exc.value.reasons[0].message_en
    with pytest.raises(Rejected) as exc:
        engine.open(
            c.OpenCase(
                case_id="x",
                person="p",
                district="08337",
                provider="caritas-wt",
                on=date(2017, 12, 31),
            ),
            by=MANAGER,
        )
    assert codes(exc) == ["no_rule_set", "invalid_value"]  # also before the date bounds


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.AUDITOR, Role.SYSTEM])
def test_only_managers_open_cases(engine: Engine, role: Role) -> None:
    with pytest.raises(Rejected) as exc:
        engine.open(
            c.OpenCase(case_id="x", person="p", district="08337", provider="caritas-wt", on=D0),
            by=Actor("a", role, provider="caritas-wt"),
        )
    assert codes(exc) == ["forbidden"]


def test_consent_guards(engine: Engine) -> None:
    case = open_household(engine)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.StartAssessment(on=D0), by=MANAGER)
    assert codes(exc) == ["consent_missing"]
    case = engine.handle(case, c.RecordConsent(on=D0), by=MANAGER)
    case = engine.handle(case, c.StartAssessment(on=D0), by=MANAGER)
    case = engine.handle(case, c.WithdrawConsent(on=D0), by=MANAGER)
    with pytest.raises(Rejected) as exc:  # case work needing personal data
        engine.handle(case, c.RecordNeed(on=D0, area="work"), by=MANAGER)
    assert codes(exc) == ["consent_missing"]
    with pytest.raises(Rejected) as exc:  # recording a contact processes personal data too
        engine.handle(case, c.RecordContact(on=D0, minutes=10), by=MANAGER)
    assert codes(exc) == ["consent_missing"]
    # only recording consent again, closing and transferring stay possible
    case = engine.handle(case, c.CloseCase(on=D0, reason="client_request"), by=MANAGER)
    assert case.phase == Phase.CLOSED


def test_no_needs_and_no_goals(engine: Engine) -> None:
    case = open_household(engine)
    case = engine.handle(case, c.RecordConsent(on=D0), by=MANAGER)
    case = engine.handle(case, c.StartAssessment(on=D0), by=MANAGER)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.StartPlanning(on=D0), by=MANAGER)
    assert codes(exc) == ["no_needs"]
    case = engine.handle(case, c.RecordNeed(on=D0, area="work"), by=MANAGER)
    case = engine.handle(case, c.StartPlanning(on=D0), by=MANAGER)
    case = engine.handle(case, c.WithdrawConsent(on=D0), by=MANAGER)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.AgreePlan(on=D0), by=MANAGER)
    assert codes(exc) == ["consent_missing", "no_goals"]


def test_add_goal_guards(engine: Engine) -> None:
    case = in_monitoring(engine)
    case = engine.handle(case, c.RevisePlan(on=date(2025, 5, 1)), by=MANAGER)
    with pytest.raises(Rejected) as exc:
        engine.handle(
            case,
            c.AddGoal(
                goal_id="g1",
                area="work",
                description=" ",
                target_date=date(2028, 3, 1),
                on=date(2025, 5, 1),
            ),
            by=MANAGER,
        )
    assert codes(exc) == ["invalid_value", "duplicate_goal", "target_after_period_end"]
    with pytest.raises(Rejected) as exc:
        engine.handle(
            case,
            c.AddGoal(
                goal_id="g9",
                area="work",
                description="job",
                target_date=date(2025, 4, 30),
                on=date(2025, 5, 1),
            ),
            by=MANAGER,
        )
    assert codes(exc) == ["invalid_value"]


def test_unknown_goal(engine: Engine) -> None:
    case = in_monitoring(engine)
    with pytest.raises(Rejected) as exc:
        engine.handle(
            case,
            c.SetGoalStatus(goal_id="nope", status="achieved", on=date(2025, 5, 1)),
            by=MANAGER,
        )
    assert codes(exc) == ["unknown_goal"]


def test_extension_guards(engine: Engine) -> None:
    case = in_monitoring(engine)
    on = date(2026, 1, 1)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.ExtendPeriod(months=13, justification="", on=on), by=MANAGER)
    assert codes(exc) == ["justification_missing", "extension_limit_exceeded"]
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.ExtendPeriod(months=0, justification="x", on=on), by=MANAGER)
    assert codes(exc) == ["invalid_value"]
    case = engine.handle(case, c.ExtendPeriod(months=8, justification="exam", on=on), by=MANAGER)
    case = engine.handle(case, c.ExtendPeriod(months=4, justification="job", on=on), by=MANAGER)
    assert case.period_end == date(2029, 2, 28)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.ExtendPeriod(months=1, justification="more", on=on), by=MANAGER)
    assert codes(exc) == ["extension_limit_exceeded"]
    assert exc.value.reasons[0].message_en.endswith("1 months requested, 0 months left.")
    # with no month left every extension is over the limit, also one of 0 months (which
    # is an invalid value besides): the command says what allowed() says of it
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.ExtendPeriod(months=0, justification="", on=on), by=MANAGER)
    assert set(codes(exc)) == {"invalid_value", "justification_missing", "extension_limit_exceeded"}
    allowed = engine.allowed(case, by=MANAGER, on=on)["extend_period"]
    assert {r.code for r in allowed} <= set(codes(exc))


def test_period_ended_allows_only_closing(engine: Engine, clock: FrozenClock) -> None:
    case = in_monitoring(engine)
    after = date(2028, 3, 1)  # the day after the last day 2028-02-29
    for cmd in (
        c.RecordContact(on=after, minutes=5),
        c.ReviewPlan(on=after),
        c.ExtendPeriod(months=1, justification="late", on=after),
    ):
        with pytest.raises(Rejected) as exc:
            engine.handle(case, cmd, by=MANAGER)
        assert "period_ended" in codes(exc)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.CloseCase(reason="period_expired", on=date(2028, 2, 29)), by=MANAGER)
    assert codes(exc) == ["period_not_ended"]
    assert exc.value.reasons[0].params == {"period_end": date(2028, 2, 29)}
    closed = engine.handle(case, c.CloseCase(reason="period_expired", on=after), by=SYSTEM)
    assert closed.closure is not None and closed.closure.reason == "period_expired"
    with pytest.raises(Rejected) as exc:
        engine.handle(closed, c.ReopenCase(on=after), by=MANAGER)
    assert codes(exc) == ["period_ended", "reopen_not_allowed"]


def test_close_case_guards(engine: Engine) -> None:
    case = in_monitoring(engine)
    on = date(2025, 6, 1)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.CloseCase(reason="goals_achieved", on=on), by=MANAGER)
    assert codes(exc) == ["goals_not_achieved"]
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.CloseCase(reason="other", note="  ", on=on), by=MANAGER)
    assert codes(exc) == ["note_missing"]
    dropped = engine.handle(
        case, c.SetGoalStatus(goal_id="g1", status="dropped", on=on), by=MANAGER
    )
    with pytest.raises(Rejected) as exc:  # every goal final, but none achieved
        engine.handle(dropped, c.CloseCase(reason="goals_achieved", on=on), by=MANAGER)
    assert codes(exc) == ["goals_not_achieved"]


def test_reopen_within_the_period(engine: Engine) -> None:
    case = in_monitoring(engine)
    moved = engine.handle(case, c.CloseCase(reason="moved_away", on=date(2025, 6, 1)), by=MANAGER)
    with pytest.raises(Rejected) as exc:
        engine.handle(moved, c.RecordContact(on=date(2025, 6, 2), minutes=5), by=MANAGER)
    assert codes(exc) == ["case_closed"]
    back = engine.handle(moved, c.ReopenCase(on=date(2025, 7, 1)), by=MANAGER)
    assert back.phase == Phase.ASSESSMENT and back.is_open
    achieved = engine.handle(
        engine.handle(
            case, c.SetGoalStatus(goal_id="g1", status="achieved", on=date(2025, 6, 1)), by=MANAGER
        ),
        c.CloseCase(reason="goals_achieved", on=date(2025, 6, 1)),
        by=MANAGER,
    )
    with pytest.raises(Rejected) as exc:
        engine.handle(achieved, c.ReopenCase(on=date(2025, 7, 1)), by=MANAGER)
    assert codes(exc) == ["reopen_not_allowed"]
    assert exc.value.reasons[0].params == {"reason": "goals_achieved"}


def test_common_guards_are_reported_together(engine: Engine) -> None:
    case = in_monitoring(engine)
    outsider = Actor("im-9", Role.MANAGER, provider="drk-lö", district="08336")
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.StartPlanning(on=date(2025, 1, 1)), by=outsider)
    assert codes(exc) == ["forbidden"]  # nothing else about a case outside the scope
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.StartPlanning(on=date(2025, 1, 1)), by=MANAGER)
    assert codes(exc) == ["invalid_in_phase", "date_out_of_order"]
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.RecordContact(on=date(2029, 7, 1), minutes=5), by=MANAGER)
    assert codes(exc) == ["date_in_future", "period_ended"]
    for role in (Role.COORDINATOR, Role.AUDITOR):
        with pytest.raises(Rejected) as exc:
            engine.handle(
                case,
                c.ReviewPlan(on=date(2025, 5, 1)),
                by=Actor("x", role, provider="caritas-wt", district="08337"),
            )
        assert codes(exc) == ["forbidden"]


def test_reasons_speak_german_and_english(engine: Engine) -> None:
    case = open_household(engine)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.StartAssessment(on=D0), by=MANAGER)
    reason = exc.value.reasons[0]
    assert (
        reason.message("de")
        == "Die Einwilligung in die Datenverarbeitung fehlt oder wurde widerrufen."
    )
    assert reason.message("en") == "Consent to data processing is missing or was withdrawn."
    assert str(exc.value) == "start_assessment rejected on case 'wt-1': consent_missing"


# -- allowed, decide, check -------------------------------------------------------


def test_allowed_answers_what_is_possible_next(engine: Engine) -> None:
    case = open_household(engine)
    allowed = engine.allowed(case, by=MANAGER, on=D0)
    assert set(allowed) == {cmd.name for cmd in engine.workflow.commands}
    assert {n for n, r in allowed.items() if not r} == {
        "record_consent",
        "withdraw_consent",
        "record_contact",
        "close_case",
        "migrate_rule_set",
        "transfer_case",
    }
    assert [r.code for r in allowed["start_assessment"]] == ["consent_missing"]
    assert [r.code for r in allowed["agree_plan"]] == [
        "invalid_in_phase",
        "consent_missing",
        "no_goals",
    ]
    auditor = engine.allowed(case, by=Actor("a", Role.AUDITOR), on=D0)
    assert all("forbidden" in [r.code for r in reasons] for reasons in auditor.values())


def test_decide_is_pure_and_check_explains(engine: Engine) -> None:
    case = open_household(engine)
    cmd = c.RecordContact(on=D0, minutes=30, channel="phone", topics=["work", "housing"])
    first, second = engine.decide(case, cmd, by=MANAGER), engine.decide(case, cmd, by=MANAGER)
    assert first == second and isinstance(first[0], ContactRecorded)
    assert case.version == 1  # deciding changed nothing
    assert engine.check(case, cmd, by=MANAGER) == ()
    assert [r.code for r in engine.check(case, c.AgreePlan(on=D0), by=MANAGER)] == [
        "invalid_in_phase",
        "consent_missing",
        "no_goals",
    ]


def test_a_rejected_command_leaves_the_case_untouched(clock: FrozenClock) -> None:
    seen: list[str] = []
    hooks = Hooks()
    hooks.subscribe(lambda event, case: seen.append(event.type))
    engine = Engine(clock=clock, hooks=hooks)
    case = open_household(engine)
    document, events = dumps(case), case.events
    with pytest.raises(Rejected):
        engine.handle(case, c.AgreePlan(on=D0), by=MANAGER)
    assert dumps(case) == document and case.events is events and case.version == 1
    assert seen == ["case_opened"]  # no hook ran for the refusal
    # and the case goes on exactly as one that was never refused anything
    untouched = open_household(Engine(clock=clock))
    consent = c.RecordConsent(on=D0)
    assert engine.handle(case, consent, by=MANAGER) == Engine(clock=clock).handle(
        untouched, consent, by=MANAGER
    )


def test_commands_check_their_field_types() -> None:
    with pytest.raises(TypeError, match=r"'on' must be a datetime\.date, got a datetime"):
        c.RecordConsent(on=datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(TypeError, match="minutes"):
        c.RecordContact(on=D0, minutes="30")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'area' must be a LifeArea") as bad:
        c.RecordNeed(on=D0, area="astrology")
    assert "astrology" not in str(bad.value)  # the field and the choices, never the value
    with pytest.raises(TypeError, match="sequence of life areas"):
        c.RecordContact(on=D0, minutes=3, topics="work")


# -- replay -------------------------------------------------------------------------


def test_replay_rejects_histories_that_are_not_one_case(engine: Engine) -> None:
    case = in_monitoring(engine)
    other = open_household(engine, case_id="wt-2")
    with pytest.raises(InvalidHistory, match="starts with case_opened"):
        engine.replay(case.events[1:])
    with pytest.raises(InvalidHistory, match="seq does not follow the case's version"):
        engine.replay((case.events[0], case.events[2]))
    with pytest.raises(InvalidHistory, match="belongs to another case"):
        engine.replay((other.events[0], case.events[1]))
    with pytest.raises(InvalidHistory, match="no events"):
        engine.replay(())
    snapshot = engine.replay(case.events[:3])
    assert engine.replay(case.events[3:], start=snapshot) == case


# -- policies and hooks ---------------------------------------------------------------


def childcare_goal_for_families(
    case: Case | None, command: c.Command | None, ctx: GuardContext
) -> Iterable[Reason]:
    """A municipality's rule: a household with children needs a childcare goal."""
    if case is None or not isinstance(command, c.AgreePlan | None) or case.household < 3:
        return ()
    plan = case.plan
    if (
        case.phase == Phase.PLANNING
        and plan
        and all(g.area is not LifeArea.CHILDCARE for g in plan.goals)
    ):
        return (
            Reason(
                "childcare_goal_missing",
                "Kinderbetreuungsziel fehlt.",
                "A childcare goal is missing.",
            ),
        )
    return ()


def test_policies_refuse_with_their_own_reasons(clock: FrozenClock) -> None:
    engine = Engine(clock=clock, policies=[childcare_goal_for_families])
    case = in_monitoring(Engine(clock=clock))
    case = engine.handle(case, c.RevisePlan(on=date(2025, 5, 1)), by=MANAGER)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.AgreePlan(on=date(2025, 5, 1)), by=MANAGER)
    assert codes(exc) == ["childcare_goal_missing"]
    allowed = engine.allowed(case, by=MANAGER, on=date(2025, 5, 1))
    assert [r.code for r in allowed["agree_plan"]] == ["childcare_goal_missing"]


def test_a_raising_policy_refuses_instead_of_half_applying(clock: FrozenClock) -> None:
    def broken(case: Case | None, command: c.Command | None, ctx: GuardContext) -> list[Reason]:
        raise RuntimeError("database down")

    engine = Engine(clock=clock, policies=[broken])
    case = open_household(Engine(clock=clock))
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.RecordConsent(on=D0), by=MANAGER)
    assert codes(exc) == ["policy_error"]
    assert "broken" in exc.value.reasons[0].params["policy"]  # for logs; not in the sentence
    assert case.version == 1


def test_hooks_run_after_the_new_case_exists_and_cannot_change_it(clock: FrozenClock) -> None:
    hooks = Hooks()
    seen: list[tuple[str, int]] = []

    @hooks.on(PlanAgreed)
    def notify(event: PlanAgreed, case: Case) -> None:
        seen.append((event.type, case.version))

    @hooks.on(PlanAgreed, CaseClosed)
    def explode(event: Event, case: Case) -> None:
        raise RuntimeError("mail server down")

    engine = Engine(clock=clock, hooks=hooks)
    case = in_monitoring(engine)
    assert seen == [("plan_agreed", 7)]
    assert case.phase == Phase.MONITORING and case.version == 7
    assert [f.hook.rsplit(".", 1)[-1] for f in engine.hook_failures] == ["explode"]
    assert engine.hook_failures[0].error == "RuntimeError: mail server down"


def test_goals_achieved_is_no_closure_reason_before_there_is_a_plan(engine: Engine) -> None:
    case = open_household(engine)
    assert case.plan is None
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.CloseCase(reason="goals_achieved", on=D0), by=MANAGER)
    assert codes(exc) == ["goals_not_achieved"]
    closed = engine.handle(case, c.CloseCase(reason="moved_away", on=D0), by=MANAGER)
    assert closed.closure is not None and closed.closure.reason == "moved_away"


# -- what the mutation run of engine.py left alive (tests/MUTANTS.md) -----------------------


def test_field_reasons_name_the_field_and_the_problem(engine: Engine) -> None:
    case = open_household(engine)
    for minutes in (0, MAX_CONTACT_MINUTES + 1):
        assert engine.check(case, c.RecordContact(on=D0, minutes=minutes), by=MANAGER) == (
            Reason.of(
                "invalid_value",
                field="minutes",
                problem="minutes_range",
                maximum=MAX_CONTACT_MINUTES,
            ),
        )


def test_a_policy_sees_the_command_it_decides(clock: FrozenClock) -> None:
    def short_contacts(
        case: Case | None, command: c.Command | None, ctx: GuardContext
    ) -> list[Reason]:
        if isinstance(command, c.RecordContact) and command.minutes > 60:
            return [Reason("contact_too_long", "Kontakt zu lang.", "Contact too long.")]
        return []

    engine = Engine(clock=clock, policies=[short_contacts])
    case = open_household(engine)
    long = c.RecordContact(on=D0, minutes=61)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, long, by=MANAGER)
    assert codes(exc) == ["contact_too_long"]
    assert engine.handle(case, c.RecordContact(on=D0, minutes=60), by=MANAGER).version == 2
    assert engine.allowed(case, by=MANAGER, on=D0)["record_contact"] == ()


def test_a_raising_policy_is_logged_by_name_and_error_type(clock: FrozenClock) -> None:
    def broken(case: Case | None, command: c.Command | None, ctx: GuardContext) -> list[Reason]:
        raise ZeroDivisionError("p-0001")  # the message may quote a person: never logged

    engine = Engine(clock=clock, policies=[broken])
    case = open_household(Engine(clock=clock))
    with capture_logs() as logs, pytest.raises(Rejected):
        engine.handle(case, c.RecordConsent(on=D0), by=MANAGER)
    assert [entry for entry in logs if entry["log_level"] == "error"] == [
        {
            "event": "policy_failed",
            "policy": broken.__qualname__,
            "error": "ZeroDivisionError",
            "log_level": "error",
        }
    ]


def test_trusted_fold_rebuilds_a_stored_case_and_names_what_does_not_fold(
    engine: Engine,
) -> None:
    case = in_monitoring(engine)
    events = tuple(case.events)
    assert trusted_fold(engine, None, events) == case
    assert trusted_fold(engine, engine.replay(events[:3]), events[3:]) == case
    with pytest.raises(InvalidHistory, match="starts with case_opened"):
        trusted_fold(engine, None, events[1:])
    with pytest.raises(InvalidHistory, match=r"^no events$"):
        trusted_fold(engine, None, ())
    with pytest.raises(InvalidHistory, match=r"^no events to replay$"):
        engine.replay(())
    # a row edited by hand: the case opened a second time
    forged = attrs.evolve(events[0], seq=case.version + 1)
    with pytest.raises(InvalidHistory, match=r"^stored events do not fold \(KeyError\)$"):
        trusted_fold(engine, case, [forged])


def test_without_the_extension_guard_the_limit_still_holds(clock: FrozenClock) -> None:
    """A workflow that drops ``extension_allowed`` still cannot extend past the rule
    set's maximum: the field check names the limit and the rule set."""
    default = bw_integrationsmanagement()
    loose = attrs.evolve(
        default,
        commands=tuple(
            attrs.evolve(cmd, guards=()) if cmd.name == "extend_period" else cmd
            for cmd in default.commands
        ),
    )
    engine = Engine(workflow=loose, clock=clock)
    case = in_monitoring(engine)
    rules = engine.rule_sets[case.rule_set]
    limit = rules.extension_max_months
    too_long = c.ExtendPeriod(on=date(2025, 6, 1), months=limit + 1, justification="j")
    assert engine.check(case, too_long, by=MANAGER) == (
        Reason.of(
            "invalid_value",
            field="months",
            problem="over_extension_limit",
            maximum=limit,
            rule_set=rules.id,
        ),
    )
    longest = attrs.evolve(too_long, months=limit)
    assert engine.check(case, longest, by=MANAGER) == ()


def test_allowed_checks_its_day_and_each_new_actor(engine: Engine) -> None:
    case = open_household(engine)
    with pytest.raises(OutOfBounds, match=r"^on: must be a date from 2018-01-01 to ") as bad:
        engine.allowed(case, by=MANAGER, on=datetime(2025, 3, 1, tzinfo=UTC))
    assert bad.value.field == "on"
    assert engine.allowed(case, by=MANAGER, on=D0)["record_consent"] == ()
    blank = Actor(" ", Role.MANAGER, provider="caritas-wt", district="08337")
    with pytest.raises(Rejected) as exc:
        engine.allowed(case, by=blank, on=D0)
    assert codes(exc) == ["invalid_value"]
    assert exc.value.reasons[0].params["field"] == "by.id"


def test_goal_field_reasons_name_each_field_and_its_problem(engine: Engine) -> None:
    case = open_household(engine)
    blank = c.AddGoal(
        on=D0, goal_id="g1", area="work", description="   ", target_date=date(2025, 9, 30)
    )
    early = attrs.evolve(blank, description="B1", target_date=date(2025, 2, 28))
    for cmd, field, problem in (
        (blank, "description", "empty"),
        (early, "target_date", "before_agreement"),
    ):
        found = [r for r in engine.check(case, cmd, by=MANAGER) if r.code == "invalid_value"]
        assert found == [Reason.of("invalid_value", field=field, problem=problem)]


def test_a_host_guard_gets_the_engine_s_context_from_allowed_and_handle(clock: FrozenClock) -> None:
    seen: list[tuple[c.Command | None, GuardContext]] = []

    def watching(case: Case, command: c.Command | None, ctx: GuardContext) -> list[Reason]:
        seen.append((command, ctx))
        return []

    wf = bw_integrationsmanagement().extend(
        id="watched",
        guards={"watching": watching},
        add_guards={"record_contact": ["watching"]},
    )
    rule_sets = {"vwv-2023": RULE_SETS["vwv-2023"]}
    engine = Engine(workflow=wf, clock=clock, rule_sets=rule_sets)
    case = open_household(engine, on=date(2025, 3, 1))
    contact = c.RecordContact(on=date(2025, 3, 3), minutes=20)
    assert engine.allowed(case, by=MANAGER, on=date(2025, 3, 3))["record_contact"] == ()
    engine.handle(case, contact, by=MANAGER)
    today = clock().date()
    assert [command for command, _ in seen] == [None, contact]
    for _, ctx in seen:
        assert ctx == GuardContext(
            actor=MANAGER,
            on=date(2025, 3, 3),
            today=today,
            rules=RULE_SETS["vwv-2023"],
            rule_sets=rule_sets,
        )


def test_an_unknown_custom_action_is_named_in_its_reason(engine: Engine) -> None:
    case = open_household(engine)
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.CustomAction(name="dance", on=D0), by=MANAGER)
    assert exc.value.reasons == (Reason.of("unknown_command", command="dance"),)


def test_an_actor_s_bad_field_is_named_and_a_date_in_the_future_names_today(
    engine: Engine,
) -> None:
    case = open_household(engine)
    for field, actor in (
        ("by.provider", Actor("im-7", Role.MANAGER, provider=" ", district="08337")),
        ("by.district", Actor("im-7", Role.MANAGER, provider="caritas-wt", district="")),
    ):
        with pytest.raises(Rejected) as exc:
            engine.handle(case, c.RecordConsent(on=D0), by=actor)
        assert exc.value.reasons[0].params["field"] == field
    recent = open_household(engine, on=date(2029, 6, 1), case_id="wt-2")
    tomorrow = date(2029, 7, 1)  # the clock stands on 30 June 2029
    with pytest.raises(Rejected) as exc:
        engine.handle(recent, c.RecordConsent(on=tomorrow), by=MANAGER)
    assert codes(exc) == ["date_in_future"]
    assert exc.value.reasons[0].params["today"] == date(2029, 6, 30)
    assert exc.value.reasons[0].params["on"] == tomorrow


def test_a_forbidden_command_names_its_type_and_an_opening_may_be_sent_by_its_manager(
    engine: Engine,
) -> None:
    case = open_household(engine)
    stranger = Actor("im-9", Role.MANAGER, provider="drk-wt", district="08337")
    with pytest.raises(Rejected) as exc:
        engine.handle(case, c.RecordConsent(on=D0), by=stranger)
    assert (exc.value.command_type, exc.value.case_id) == ("record_consent", "wt-1")
    opening = c.OpenCase(
        case_id="wt-2", person="p-9", district="08337", provider="caritas-wt", on=D0
    )
    assert engine.may(opening, by=MANAGER)
    assert not engine.may(opening, by=stranger)


def test_deadlines_name_a_day_outside_the_bounds(engine: Engine) -> None:
    case = open_household(engine)
    with pytest.raises(OutOfBounds) as bad:
        engine.deadlines(case, on=date(2017, 12, 31))
    assert bad.value.field == "on"
    assert engine.deadlines(case, on=D0) == engine.deadlines(case, on=D0)  # a day inside
    assert {d.kind.value for d in engine.deadlines(case, on=D0)} >= {"consent_missing"}


def test_the_events_of_an_erased_case_replay_to_the_case(engine: Engine) -> None:
    store = MemoryStore(engine=engine)
    case = in_monitoring(engine)
    store.append(case.case_id, case.events, expected_version=0)
    store.erase_person("p-0003", on=D0)
    erased = store.load(case.case_id)
    assert erased.events[-1].type == "person_erased"
    assert engine.replay(erased.events) == erased


def test_a_refused_opening_names_its_command_and_a_policy_sees_the_rule_set(
    clock: FrozenClock,
) -> None:
    seen: list[str] = []

    def note_rules(case: Case | None, command: c.Command | None, ctx: GuardContext) -> list[Reason]:
        seen.append(ctx.rules.id)
        return []

    engine = Engine(clock=clock, policies=[note_rules])
    elsewhere = Actor("im-3", Role.MANAGER, provider="caritas-wt", district="08111")
    opening = c.OpenCase(
        case_id="wt-5", person="p-5", district="08337", provider="caritas-wt", on=D0
    )
    with pytest.raises(Rejected) as exc:
        engine.open(opening, by=elsewhere)
    assert (exc.value.command_type, exc.value.case_id) == ("open_case", "wt-5")
    assert exc.value.reasons[0].params["command"] == "open_case"
    blank = Actor(" ", Role.MANAGER, provider="caritas-wt", district="08337")
    with pytest.raises(Rejected) as exc:
        engine.open(opening, by=blank)
    assert (exc.value.command_type, exc.value.reasons[0].params["field"]) == ("open_case", "by.id")
    with pytest.raises(Rejected) as exc:
        engine.open(attrs.evolve(opening, household=0), by=MANAGER)
    assert (exc.value.command_type, codes(exc)) == ("open_case", ["invalid_value"])
    seen.clear()
    case = engine.open(opening, by=MANAGER)
    assert seen == [case.rule_set]  # the policy saw the rule set the case opens under
