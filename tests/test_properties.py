"""Invariants of the engine along valid trajectories that reach every phase.

The trajectories (:func:`imflow.testing.trajectories`) send only commands that
``engine.allowed()`` permits, with valid values, so nearly every step is accepted and
most cases reach ``monitoring`` and ``closed``; the statistics of a run show it
(``pytest --hypothesis-show-statistics tests/test_properties.py``), and
:func:`test_the_trajectories_reach_every_phase` asserts it on a fixed sample. Refusals
are probed separately, at every state of a trajectory, by the case's own manager and by
actors who may not act.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from itertools import pairwise

import attrs
import pytest
from hypothesis import Phase as Stage
from hypothesis import event, given, settings
from hypothesis import strategies as st

from imflow import Case, Engine, OutOfBounds, Phase, Rejected, Role
from imflow import commands as c
from imflow._bounds import MAX_DATE, MIN_DATE
from imflow.actors import SYSTEM
from imflow.enums import ClosureReason
from imflow.events import Event, PeriodExtended, RuleSetMigrated
from imflow.period import last_day
from imflow.rules import RULE_SETS
from imflow.serialization import dumps, loads
from imflow.testing import (
    FAR_FUTURE,
    FrozenClock,
    Trajectory,
    actors,
    commands,
    foreign_managers,
    manager_for,
    trajectories,
)
from tests.profiles import core

ENGINE = Engine(clock=FrozenClock(FAR_FUTURE))
PHASES = [p.value for p in Phase]
# an opening that continues a case from another district (OpenCase(continues=...))
CONTINUES = "open_case(continues)"
# the commands the trajectories choose values for (a command added later is walked only
# once the strategy learns its values; it is then added here)
WALKED = (
    "record_consent",
    "withdraw_consent",
    "record_contact",
    "start_assessment",
    "record_need",
    "start_planning",
    "add_goal",
    "agree_plan",
    "set_goal_status",
    "review_plan",
    "revise_plan",
    "extend_period",
    "close_case",
    "reopen_case",
    "migrate_rule_set",
    "transfer_case",
    CONTINUES,
)


def check_invariants(case: Case, *, json: bool = True) -> None:
    """What holds for every case the engine can reach (*json*: its JSON round trips too)."""
    assert ENGINE.replay(case.events) == case
    if json:
        assert loads(dumps(case), Case) == case
        for e in case.events:
            assert loads(dumps(e), Event) == e
    assert [e.seq for e in case.events] == list(range(1, case.version + 1))
    assert all(e.case_id == case.case_id for e in case.events)
    assert all(a.on <= b.on for a, b in pairwise(case.events))
    assert (case.closure is not None) == (case.phase == Phase.CLOSED)
    rules = RULE_SETS[case.rule_set]
    if case.phase == Phase.MONITORING and rules.plan_mandatory:
        plan = case.agreed_plan
        assert plan is not None and plan.goals, "monitoring without an agreed plan with goals"
        assert case.plan is plan
    if rules.period_months is None:
        assert case.period_end is None
        return
    assert case.period_end is not None
    # counted from the opening, or from an earlier district's start with its extensions
    start, credited = case.counted_from, case.credited_extension_months
    assert start <= case.period_start
    assert (start, credited) == (case.period_start, 0) or case.continues is not None
    base = last_day(start, months=rules.period_months)
    assert credited + case.extended_months <= 12
    assert case.extended_months == sum(
        e.months for e in case.events if isinstance(e, PeriodExtended)
    )
    assert case.period_end == last_day(
        start, months=rules.period_months + credited + case.extended_months
    )
    assert base <= case.period_end <= last_day(start, months=rules.period_months + 12)


@core
@given(trajectories(), st.data())
def test_every_state_of_a_trajectory_keeps_the_invariants(
    t: Trajectory, data: st.DataObject
) -> None:
    for state in t.states:
        check_invariants(state, json=False)
    check_invariants(t.case)  # the JSON round trips of the last state and its events
    check_invariants(data.draw(st.sampled_from(t.states), label="state"))  # and of another
    for before, step in zip(t.states, t.steps, strict=False):
        assert step.case.events[:-1] == before.events  # one event per step, nothing rewritten
        moved = step.case.period_end != before.period_end
        assert not moved or isinstance(step.case.events[-1], PeriodExtended | RuleSetMigrated)


@core
@given(trajectories())
def test_commands_that_allowed_permits_with_valid_values_are_accepted(t: Trajectory) -> None:
    """The walk sends only what ``allowed()`` permits; the engine refuses none of it."""
    assert t.refused == ()
    for before, step in zip(t.states, t.steps, strict=False):
        if step.by is SYSTEM:
            continue
        name = step.name
        assert ENGINE.allowed(before, by=step.by, on=step.command.on)[name] == ()


@core
@given(st.lists(trajectories(max_steps=30), min_size=1, max_size=4), st.data())
def test_no_open_case_is_past_its_period_after_a_sweep(
    walks: list[Trajectory], data: st.DataObject
) -> None:
    cases = {f"c-{i}": ENGINE.replay(renamed(t.case.events, f"c-{i}")) for i, t in enumerate(walks)}
    earliest = min(case.period_start for case in cases.values())
    on = data.draw(st.dates(earliest, date(2039, 12, 31)), label="sweep on")
    result = ENGINE.sweep(cases.values(), on=on)
    assert result.refused == ()
    after = {**cases, **{case.case_id: case for case in result.closed}}
    for case_id, case in after.items():
        old = cases[case_id]
        if case.is_open:
            assert case.period_end is None or case.period_end >= on
        if case_id in result.closed_ids:
            event("sweep closed a case")
            assert old.is_open and old.period_end is not None and old.period_end < on
            closure = case.events[-1]
            assert closure.actor == SYSTEM
            assert case.closure is not None
            assert case.closure.reason is ClosureReason.PERIOD_EXPIRED
            assert closure.on == max(old.period_end + timedelta(days=1), old.latest_on)
            check_invariants(case)
        else:
            assert case is old
    assert ENGINE.sweep(after.values(), on=on).closed == ()


def renamed(events: tuple[Event, ...], case_id: str) -> list[Event]:
    return [attrs.evolve(e, case_id=case_id) for e in events]


@core
@given(trajectories(max_steps=30), st.data())
def test_a_refused_command_changes_nothing(t: Trajectory, data: st.DataObject) -> None:
    case = data.draw(st.sampled_from(t.states), label="state")
    by = data.draw(
        st.one_of(st.just(manager_for(case)), foreign_managers(case), actors()), label="by"
    )
    cmd = data.draw(commands(case), label="command")
    document, events = dumps(case), case.events
    predicted = ENGINE.check(case, cmd, by=by)
    try:
        new = ENGINE.handle(case, cmd, by=by)
    except Rejected as exc:
        event(f"refused: {' '.join(sorted(exc.codes))}")
        assert exc.reasons == predicted and exc.reasons
        assert dumps(case) == document and case.events is events
        assert ENGINE.replay(case.events) == case
        name = cmd.name if isinstance(cmd, c.CustomAction) else cmd.type
        if not MIN_DATE <= cmd.on <= MAX_DATE:  # refused for its date, or for who asks
            assert {"date_bounds", "forbidden"} & set(exc.codes)
            with pytest.raises(OutOfBounds):  # and a question about that day is bad input
                ENGINE.allowed(case, by=by, on=cmd.on)
            return
        allowed = {r.code for r in ENGINE.allowed(case, by=by, on=cmd.on)[name]}
        assert allowed <= set(exc.codes)
        return
    event("accepted")
    assert predicted == ()
    if by.role is Role.MANAGER:  # of the case's own provider in its own district only
        assert (by.provider, by.district) == (case.provider, case.district)
    else:  # what the rule set lets the system actor do (sweeps; see #11 for its limits)
        assert by.role is Role.SYSTEM
        assert RULE_SETS[case.rule_set].may(Role.SYSTEM, cmd.type)
    assert dumps(case) == document
    assert new.version == case.version + 1
    assert new.events[:-1] == case.events
    check_invariants(new)


def walked(t: Trajectory) -> set[str]:
    """What the trajectory *t* did: its accepted commands, and a continued opening."""
    return {*t.commands, *([CONTINUES] if t.opening.continues is not None else [])}


def test_the_trajectories_reach_every_phase() -> None:
    """On a fixed sample of 300 trajectories most reach monitoring, many end closed,
    some move to another provider and some continue a case from another district."""
    reached: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    refused: list[tuple[str, tuple[str, ...]]] = []

    @settings(
        max_examples=300, derandomize=True, database=None, phases=[Stage.generate], deadline=None
    )
    @given(trajectories())
    def sample(t: Trajectory) -> None:
        reached.update(t.phases)
        accepted.update(walked(t))
        refused.extend(t.refused)

    sample()
    total = reached["intake"]
    assert total >= 250  # nearly all 300 are distinct examples
    share = {phase: reached[phase] / total for phase in PHASES}
    assert share["assessment"] >= 0.8, share
    assert share["planning"] >= 0.7, share
    assert share["monitoring"] >= 0.5, share
    assert share["closed"] >= 0.3, share
    assert accepted["transfer_case"] / total >= 0.1, accepted
    assert accepted[CONTINUES] / total >= 0.05, accepted
    assert set(accepted) >= {"open_case", *WALKED}  # every command the walk knows
    known = {"open_case", CONTINUES, *(cmd.name for cmd in ENGINE.workflow.commands)}
    assert set(accepted) <= known
    assert refused == []
