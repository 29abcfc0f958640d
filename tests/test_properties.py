"""Invariants of the engine, for random command sequences and random reachable cases."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from imflow import Actor, Case, Engine, Phase, Rejected, Role
from imflow import commands as c
from imflow.period import last_day
from imflow.rules import RULE_SETS
from imflow.testing import (
    FAR_FUTURE,
    CommandSequence,
    FrozenClock,
    cases,
    command_sequences,
    commands,
    manager_for,
)

ENGINE = Engine(clock=FrozenClock(FAR_FUTURE))


def run(seq: CommandSequence) -> tuple[Case, list[Case]]:
    """Apply a sequence, skipping refused commands; return the case and every state seen."""
    case = ENGINE.open(seq.open, by=manager_for_open(seq.open))
    seen = [case]
    for cmd in seq.commands:
        try:
            case = ENGINE.handle(case, cmd, by=manager_for(case))
        except Rejected:
            continue
        seen.append(case)
    return case, seen


def manager_for_open(cmd: c.OpenCase) -> Actor:
    return Actor("im-1", Role.MANAGER, provider=cmd.provider, district=cmd.district)


def check_invariants(case: Case) -> None:
    assert ENGINE.replay(case.events) == case
    assert [e.seq for e in case.events] == list(range(1, case.version + 1))
    assert all(a.on <= b.on for a, b in zip(case.events, case.events[1:], strict=False))
    rules = RULE_SETS[case.rule_set]
    if case.phase == Phase.MONITORING and rules.plan_mandatory:
        plan = case.agreed_plan
        assert plan is not None and plan.goals, "monitoring without an agreed plan with goals"
        assert case.plan is plan
    if rules.period_months is None:
        assert case.period_end is None
    else:
        assert case.period_end is not None
        base = last_day(case.period_start, months=rules.period_months)
        most = last_day(case.period_start, months=rules.period_months + 12)
        assert base <= case.period_end <= most
        assert case.extended_months <= rules.extension_max_months


@given(command_sequences())
def test_every_state_of_a_random_sequence_keeps_the_invariants(seq: CommandSequence) -> None:
    _, seen = run(seq)
    for state in seen:
        check_invariants(state)


@given(cases())
def test_reachable_cases_keep_the_invariants(case: Case) -> None:
    check_invariants(case)


@given(st.data())
def test_a_rejected_command_changes_nothing(data: st.DataObject) -> None:
    case = data.draw(cases(max_steps=15))
    frozen = attrs.evolve(case)
    cmd = data.draw(commands(case))
    try:
        new = ENGINE.handle(case, cmd, by=manager_for(case))
    except Rejected as exc:
        assert exc.reasons and all(r.code for r in exc.reasons)
        assert case == frozen
        return
    assert case == frozen  # the old case is untouched even when the command passes
    assert new.version == case.version + 1
    assert new.events[:-1] == case.events
    check_invariants(new)


@given(st.data())
def test_allowed_agrees_with_handle_on_refusals(data: st.DataObject) -> None:
    """A command type that ``allowed`` refuses is refused by ``handle`` with those reasons."""
    case = data.draw(cases(max_steps=15))
    cmd = data.draw(commands(case))
    name = cmd.name if isinstance(cmd, c.CustomAction) else cmd.type
    expected = {r.code for r in ENGINE.allowed(case, by=manager_for(case), on=cmd.on)[name]}
    refused = {r.code for r in ENGINE.check(case, cmd, by=manager_for(case))}
    assert expected <= refused
