"""Provider isolation: a manager works only on the cases of their own provider in their
own district (domain.md § 6).

The neighbour here differs in one respect only: another provider in the *same* district
(the planted bug that drops the provider comparison lets exactly this one through), or
the same provider in another district. Every command is tried at a state where the
case's own manager is accepted with the same command, so the refusal can come from the
actor alone: it must be exactly ``forbidden``, from ``handle``, ``check`` and
``allowed`` alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, FrozenClock, Reason, Rejected, Role, Workflow
from imflow import commands as c
from imflow.actors import SYSTEM
from imflow.testing import FAR_FUTURE, Trajectory, commands, foreign_managers, trajectories
from tests.paths import WALDSHUT_TOML

DISTRICT, PROVIDER = "08337", "caritas-wt"
OWN = Actor("im-1", Role.MANAGER, provider=PROVIDER, district=DISTRICT)
NEIGHBOUR = Actor("im-2", Role.MANAGER, provider="drk-wt", district=DISTRICT)
ELSEWHERE = Actor("im-3", Role.MANAGER, provider=PROVIDER, district="08336")
STRANGERS = {"other provider, same district": NEIGHBOUR, "same provider, other district": ELSEWHERE}

D = date(2024, 10, 1)  # under vwv-2023, so that a migration to system-2025 is possible
LATER = date(2025, 2, 3)
CLOCK = FrozenClock(datetime(2026, 1, 1, 9, tzinfo=UTC))
WALDSHUT = Workflow.from_toml(WALDSHUT_TOML.read_text(encoding="utf-8"))


def opened(engine: Engine) -> Case:
    return engine.open(
        c.OpenCase(case_id="iso-1", person="p-1", district=DISTRICT, provider=PROVIDER, on=D),
        by=OWN,
    )


def run(engine: Engine, case: Case, *commands: c.Command) -> Case:
    for cmd in commands:
        case = engine.handle(case, cmd, by=OWN)
    return case


def in_intake(e: Engine) -> Case:
    return opened(e)


def consented(e: Engine) -> Case:
    return run(e, opened(e), c.RecordConsent(on=D))


def in_assessment(e: Engine) -> Case:
    return run(e, consented(e), c.StartAssessment(on=D))


def with_need(e: Engine) -> Case:
    return run(e, in_assessment(e), c.RecordNeed(on=D, area="housing", note="n"))


def in_planning(e: Engine) -> Case:
    return run(e, with_need(e), c.StartPlanning(on=D))


def with_goal(e: Engine) -> Case:
    goal = c.AddGoal(on=D, goal_id="g1", area="housing", description="d", target_date=LATER)
    return run(e, in_planning(e), goal)


def in_monitoring(e: Engine) -> Case:
    return run(e, with_goal(e), c.AgreePlan(on=D))


def closed(e: Engine) -> Case:
    return run(e, in_monitoring(e), c.CloseCase(on=D, reason="client_request"))


def paused(e: Engine) -> Case:
    return run(e, in_monitoring(e), c.CustomAction(name="pause_case", on=D))


# every command of the default workflow, at a state where the own manager may send it
ACCEPTED: dict[str, tuple[Callable[[Engine], Case], c.Command]] = {
    "record_consent": (in_intake, c.RecordConsent(on=D)),
    "withdraw_consent": (consented, c.WithdrawConsent(on=D)),
    "record_contact": (in_intake, c.RecordContact(on=D, minutes=30, topics=["work"])),
    "start_assessment": (consented, c.StartAssessment(on=D)),
    "record_need": (in_assessment, c.RecordNeed(on=D, area="work", note="n")),
    "start_planning": (with_need, c.StartPlanning(on=D)),
    "add_goal": (
        in_planning,
        c.AddGoal(on=D, goal_id="g1", area="work", description="d", target_date=LATER),
    ),
    "agree_plan": (with_goal, c.AgreePlan(on=D)),
    "set_goal_status": (in_monitoring, c.SetGoalStatus(on=D, goal_id="g1", status="achieved")),
    "review_plan": (in_monitoring, c.ReviewPlan(on=D, note="n")),
    "revise_plan": (in_monitoring, c.RevisePlan(on=D)),
    "extend_period": (in_monitoring, c.ExtendPeriod(on=D, months=6, justification="j")),
    "close_case": (in_monitoring, c.CloseCase(on=D, reason="handed_over")),
    "reopen_case": (closed, c.ReopenCase(on=D)),
    "migrate_rule_set": (in_monitoring, c.MigrateRuleSet(on=LATER, rule_set="system-2025")),
    "transfer_case": (in_assessment, c.TransferCase(on=D, to_provider="other-wt", note="n")),
}
VARIANT: dict[str, tuple[Callable[[Engine], Case], c.Command]] = {
    "pause_case": (in_monitoring, c.CustomAction(name="pause_case", on=D)),
    "resume_case": (paused, c.CustomAction(name="resume_case", on=D)),
}


def test_every_command_of_the_default_workflow_is_covered() -> None:
    assert set(ACCEPTED) == {cmd.name for cmd in Engine().workflow.commands}


def _cases(
    table: dict[str, tuple[Callable[[Engine], Case], c.Command]], workflow: Workflow | None
) -> list[tuple[str, Workflow | None, str, Actor]]:
    return [(name, workflow, who, by) for name in table for who, by in STRANGERS.items()]


@pytest.mark.parametrize(
    ("name", "workflow", "who", "stranger"),
    [*_cases(ACCEPTED, None), *_cases(VARIANT, WALDSHUT)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_stranger_is_refused_every_command_the_own_manager_may_send(
    name: str, workflow: Workflow | None, who: str, stranger: Actor
) -> None:
    engine = Engine(workflow=workflow, clock=CLOCK)
    state, cmd = {**ACCEPTED, **VARIANT}[name]
    case = state(engine)
    on = cmd.on
    assert engine.check(case, cmd, by=OWN) == ()
    assert engine.allowed(case, by=OWN, on=on)[name] == ()
    assert engine.handle(case, cmd, by=OWN).version == case.version + 1

    with pytest.raises(Rejected) as refused:
        engine.handle(case, cmd, by=stranger)
    assert refused.value.codes == ("forbidden",)
    assert [r.code for r in engine.check(case, cmd, by=stranger)] == ["forbidden"]
    assert [r.code for r in engine.allowed(case, by=stranger, on=on)[name]] == ["forbidden"]
    assert engine.decide(case, cmd, by=OWN)  # the own manager still may, afterwards


@pytest.mark.parametrize("who", STRANGERS)
def test_allowed_forbids_a_stranger_everything_at_every_state(who: str) -> None:
    engine = Engine(workflow=WALDSHUT, clock=CLOCK)
    stranger = STRANGERS[who]
    for state in (in_intake, consented, in_assessment, in_planning, in_monitoring, closed, paused):
        case = state(engine)
        answer = engine.allowed(case, by=stranger, on=D)
        assert set(answer) == {cmd.name for cmd in WALDSHUT.commands}
        own = engine.allowed(case, by=OWN, on=D)
        assert set(own) == set(answer)
        for name, reasons in answer.items():
            # a stranger learns nothing about the case beyond "forbidden"
            assert [r.code for r in reasons] == ["forbidden"], (state.__name__, name)


@pytest.mark.parametrize("who", STRANGERS)
def test_a_stranger_may_not_open_a_case_for_the_provider(who: str) -> None:
    engine = Engine(clock=CLOCK)
    cmd = c.OpenCase(case_id="iso-2", person="p-2", district=DISTRICT, provider=PROVIDER, on=D)
    with pytest.raises(Rejected) as refused:
        engine.open(cmd, by=STRANGERS[who])
    assert refused.value.codes == ("forbidden",)
    assert engine.open(cmd, by=OWN).provider == PROVIDER


@given(trajectories(max_steps=25), st.data())
def test_foreign_managers_are_refused_at_every_state_of_a_trajectory(
    t: Trajectory, data: st.DataObject
) -> None:
    engine = Engine(clock=FrozenClock(FAR_FUTURE))
    case = data.draw(st.sampled_from(t.states), label="state")
    stranger = data.draw(foreign_managers(case), label="stranger")
    cmd = data.draw(commands(case), label="command")
    with pytest.raises(Rejected) as refused:
        engine.handle(case, cmd, by=stranger)
    assert "forbidden" in refused.value.codes
    answer = engine.allowed(case, by=stranger, on=cmd.on)
    assert all("forbidden" in {r.code for r in reasons} for reasons in answer.values())


def test_may_answers_from_the_role_table_and_the_case_s_owner_only() -> None:
    """``Engine.may`` (the outbox's check before it queues a command): the own manager
    yes, a stranger, a coordinator or an auditor no; the system actor only closes cases
    as ``period_expired``; an opening needs a rule set in force on its day."""
    engine = Engine(clock=CLOCK)
    case = in_monitoring(engine)
    coordinator = Actor("co-1", Role.COORDINATOR, district=DISTRICT)
    auditor = Actor("au-1", Role.AUDITOR, provider=PROVIDER, district=DISTRICT)
    for name, (_state, cmd) in ACCEPTED.items():
        assert engine.may(cmd, by=OWN, case=case), name
        for who, stranger in STRANGERS.items():
            assert not engine.may(cmd, by=stranger, case=case), (name, who)
        assert not engine.may(cmd, by=coordinator, case=case), name
        assert not engine.may(cmd, by=auditor, case=case), name
    expired = c.CloseCase(on=D, reason="period_expired")
    assert engine.may(expired, by=SYSTEM, case=case)
    assert not engine.may(c.CloseCase(on=D, reason="handed_over"), by=SYSTEM, case=case)
    assert not engine.may(c.RecordContact(on=D, minutes=5), by=SYSTEM, case=case)
    assert not engine.may(expired, by="im-1", case=case)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs the case"):
        engine.may(expired, by=OWN)

    opening = c.OpenCase(case_id="iso-3", person="p-3", district=DISTRICT, provider=PROVIDER, on=D)
    assert engine.may(opening, by=OWN)
    for stranger in STRANGERS.values():
        assert not engine.may(opening, by=stranger)
    assert not engine.may(opening, by=coordinator)
    assert not engine.may(opening, by=SYSTEM)
    # before the first rule set came into force nothing may be opened
    first = min(rules.effective_from for rules in engine.rule_sets.values())
    before = attrs.evolve(opening, on=first - timedelta(days=1))
    assert not engine.may(before, by=OWN)
    assert engine.may(attrs.evolve(opening, on=first), by=OWN)


def test_a_forbidden_reason_names_the_role_the_command_and_what_is_wrong() -> None:
    """The parameters and the variant of ``forbidden`` (its message says which)."""
    engine = Engine(clock=CLOCK)
    case = in_monitoring(engine)
    contact = c.RecordContact(on=D, minutes=30)
    both = Actor("im-4", Role.MANAGER, provider="drk-wt", district="08336")
    coordinator = Actor("co-1", Role.COORDINATOR, district=DISTRICT)
    expected = {
        NEIGHBOUR: Reason.of(
            "forbidden", role=Role.MANAGER, command="record_contact", variant="other_provider"
        ),
        ELSEWHERE: Reason.of(
            "forbidden", role=Role.MANAGER, command="record_contact", variant="other_district"
        ),
        both: Reason.of(
            "forbidden", role=Role.MANAGER, command="record_contact", variant="other_district"
        ),
        coordinator: Reason.of("forbidden", role=Role.COORDINATOR, command="record_contact"),
        SYSTEM: Reason.of("forbidden", role=Role.SYSTEM, command="record_contact"),
    }
    for by, reason in expected.items():
        assert engine.check(case, contact, by=by) == (reason,), by.role
        assert engine.allowed(case, by=by, on=D)["record_contact"] == (reason,), by.role
    # the system actor may close, but only as period_expired: no district to blame
    handed_over = c.CloseCase(on=D, reason="handed_over")
    assert engine.check(case, handed_over, by=SYSTEM) == (
        Reason.of("forbidden", role=Role.SYSTEM, command="close_case"),
    )
