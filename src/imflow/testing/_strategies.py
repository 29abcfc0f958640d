"""Hypothesis strategies for imflow's values, commands and cases (private; see imflow.testing)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import attrs
from hypothesis import strategies as st

from imflow import commands as c
from imflow.actors import Actor
from imflow.case import Case
from imflow.clock import FrozenClock
from imflow.districts import DISTRICTS
from imflow.engine import Engine
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea, Role
from imflow.errors import Rejected
from imflow.events import Event
from imflow.guards import goals_achieved
from imflow.workflow import Workflow

__all__ = [
    "FAR_FUTURE",
    "CommandSequence",
    "actors",
    "cases",
    "command_sequences",
    "commands",
    "event_histories",
    "manager_for",
    "opening_commands",
]

FAR_FUTURE = datetime(2040, 1, 1, 12, tzinfo=UTC)
"""The clock time the strategies' engines run at, so generated dates are never in the future."""

_AGS = sorted(DISTRICTS)
_PROVIDERS = ("drk", "caritas", "diakonie", "awo", "stadt")
_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß -", min_size=1, max_size=20).filter(
    lambda s: s.strip() != ""
)
_OPENED = st.dates(min_value=date(2018, 1, 1), max_value=date(2034, 12, 31))


def actors(
    *,
    roles: Sequence[Role] = tuple(Role),
    provider: str | None = None,
    district: str | None = None,
) -> st.SearchStrategy[Actor]:
    """Actors with the given *roles*; provider and district drawn unless given.

    >>> from hypothesis import find
    >>> find(actors(roles=[Role.AUDITOR]), lambda a: True).role
    <Role.AUDITOR: 'auditor'>
    """
    return st.builds(
        Actor,
        id=st.from_regex(r"\Aim-[0-9]{1,4}\Z"),
        role=st.sampled_from(list(roles)),
        provider=st.just(provider) if provider else st.sampled_from(_PROVIDERS),
        district=st.just(district) if district else st.sampled_from(_AGS),
    )


def manager_for(case: Case) -> Actor:
    """A manager of the case's own provider and district: allowed to do case work."""
    return Actor("im-1", Role.MANAGER, provider=case.provider, district=case.district)


def opening_commands(*, opened: st.SearchStrategy[date] = _OPENED) -> st.SearchStrategy[c.OpenCase]:
    """Valid :class:`~imflow.commands.OpenCase` commands for any of the 44 districts."""

    @st.composite
    def build(draw: st.DrawFn) -> c.OpenCase:
        household = draw(st.integers(1, 6))
        members = tuple(f"p-{i}" for i in range(draw(st.integers(0, household - 1))))
        return c.OpenCase(
            case_id=draw(st.from_regex(r"\Acase-[0-9]{1,6}\Z")),
            person=draw(st.from_regex(r"\Ap-[0-9a-f]{4}\Z")),
            district=draw(st.sampled_from(_AGS)),
            provider=draw(st.sampled_from(_PROVIDERS)),
            household=household,
            members=members,
            on=draw(opened),
        )

    return build()


def _valid_command(draw: st.DrawFn, case: Case, name: str, on: date) -> c.Command:
    """A command *name* with field values that pass the field checks on *case*."""
    if name == "record_contact":
        return c.RecordContact(
            on=on,
            minutes=draw(st.integers(1, 240)),
            channel=draw(st.sampled_from(Channel)),
            topics=draw(st.lists(st.sampled_from(LifeArea), max_size=3, unique=True)),
        )
    if name == "record_need":
        return c.RecordNeed(on=on, area=draw(st.sampled_from(LifeArea)), note=draw(_TEXT))
    if name == "add_goal":
        plan = case.plan
        taken = {g.goal_id for g in plan.goals} if plan else set()
        goal_id = next(f"g{i}" for i in range(1, 1000) if f"g{i}" not in taken)
        last = case.period_end or on + timedelta(days=3 * 365)
        target = on + timedelta(days=draw(st.integers(0, max(0, (last - on).days))))
        return c.AddGoal(
            on=on,
            goal_id=goal_id,
            area=draw(st.sampled_from(LifeArea)),
            description=draw(_TEXT),
            target_date=target,
        )
    if name == "set_goal_status":
        plan = case.plan
        goal_ids = [g.goal_id for g in plan.goals] if plan else []
        goal_ids = goal_ids or ["g1"]
        return c.SetGoalStatus(
            on=on, goal_id=draw(st.sampled_from(goal_ids)), status=draw(st.sampled_from(GoalStatus))
        )
    if name == "review_plan":
        return c.ReviewPlan(on=on, note=draw(_TEXT))
    if name == "extend_period":
        remaining = max(1, 12 - case.credited_extension_months - case.extended_months)
        return c.ExtendPeriod(
            on=on, months=draw(st.integers(1, remaining)), justification=draw(_TEXT)
        )
    if name == "close_case":
        reasons = [
            ClosureReason.MOVED_AWAY,
            ClosureReason.HANDED_OVER,
            ClosureReason.NO_CONTACT,
            ClosureReason.CLIENT_REQUEST,
            ClosureReason.OTHER,
        ]
        if goals_achieved(case):
            reasons.append(ClosureReason.GOALS_ACHIEVED)
        if case.period_end is not None and on > case.period_end:
            reasons = [ClosureReason.PERIOD_EXPIRED]
        reason = draw(st.sampled_from(reasons))
        return c.CloseCase(on=on, reason=reason, note=draw(_TEXT))
    if name == "transfer_case":  # to another provider of the district
        others = [p for p in _PROVIDERS if p != case.provider] or ["drk"]
        return c.TransferCase(on=on, to_provider=draw(st.sampled_from(others)), note=draw(_TEXT))
    if name == "migrate_rule_set":
        return c.MigrateRuleSet(on=on, rule_set=draw(st.sampled_from(["vwv-2023", "system-2025"])))
    cls = c.COMMAND_TYPES.get(name)
    if cls is None or cls is c.CustomAction:
        return c.CustomAction(on=on, name=name, note=draw(st.sampled_from(["", "n"])))
    return cls(on=on)  # type: ignore[call-arg]  # commands with only `on`


def _engine(workflow: Workflow | None) -> Engine:
    return Engine(workflow=workflow, clock=FrozenClock(FAR_FUTURE))


def _progress(engine: Engine, case: Case, final: frozenset[str]) -> set[str]:
    """The commands that move *case* along the programme's happy path."""
    wanted = {c.name for c in engine.workflow.commands if c.target not in (None, *final)} - {
        "reopen_case"
    }
    if case.consent.value != "given":
        wanted.add("record_consent")
    if not case.needs:
        wanted.add("record_need")
    plan = case.plan
    if plan is not None and plan.agreed_on is None and len(plan.goals) < 3:
        wanted.add("add_goal")
    if plan is not None and plan.agreed_on is not None:
        wanted.update({"set_goal_status", "review_plan", "record_contact"})
        wanted.discard("revise_plan")
    return wanted


@st.composite
def _walk(
    draw: st.DrawFn, engine: Engine, max_steps: int, opening: st.SearchStrategy[c.OpenCase]
) -> Case:
    opener = draw(opening)
    case = engine.open(
        opener, by=Actor("im-1", Role.MANAGER, provider=opener.provider, district=opener.district)
    )
    actor = manager_for(case)
    final = engine.workflow.compiled.final
    for _ in range(draw(st.integers(0, max_steps))):
        on = case.latest_on + timedelta(days=draw(st.integers(0, 90)))
        allowed = engine.allowed(case, by=actor, on=on)
        names = sorted(n for n, reasons in allowed.items() if not reasons)
        if not names:
            break
        # mostly take the next step of the programme, so that deep phases are reached
        wanted = [n for n in names if n in _progress(engine, case, final)]
        if wanted and draw(st.integers(0, 9)) < 8:
            names = wanted
        name = draw(st.sampled_from(names))
        try:
            case = engine.handle(case, _valid_command(draw, case, name, on), by=actor)
        except Rejected:
            continue  # a guard on field values said no: the case is unchanged
        actor = manager_for(case)  # after a transfer, the new provider's manager acts
    if draw(st.integers(0, 3)) == 0:  # close a quarter of the cases
        on = case.latest_on + timedelta(days=draw(st.integers(0, 90)))
        if not engine.allowed(case, by=actor, on=on).get("close_case", ("absent",)):
            with contextlib.suppress(Rejected):
                case = engine.handle(case, _valid_command(draw, case, "close_case", on), by=actor)
    return case


def cases(
    workflow: Workflow | None = None,
    *,
    max_steps: int = 25,
    opening: st.SearchStrategy[c.OpenCase] | None = None,
) -> st.SearchStrategy[Case]:
    """Valid cases, each reached through real commands on a real engine.

    Every step picks a command that :meth:`Engine.allowed` allows, with valid values.
    """
    return _walk(
        _engine(workflow), max_steps, opening if opening is not None else opening_commands()
    )


def commands(case: Case, *, workflow: Workflow | None = None) -> st.SearchStrategy[c.Command]:
    """Commands for *case*: every type of the workflow, valid or not, dated near its last event.

    Some are refused (wrong phase, dates out of order, bad values): that is the point.
    """
    wf = workflow or _engine(None).workflow
    names = sorted(cmd.name for cmd in wf.commands)

    @st.composite
    def build(draw: st.DrawFn) -> c.Command:
        name = draw(st.sampled_from(names))
        on = case.latest_on + timedelta(days=draw(st.integers(-30, 400)))
        cmd = _valid_command(draw, case, name, on)
        if draw(st.integers(0, 9)) == 0:  # now and then a value the engine must refuse
            if isinstance(cmd, c.RecordContact):
                cmd = attrs.evolve(cmd, minutes=draw(st.sampled_from([0, -5, 601])))
            elif isinstance(cmd, c.AddGoal):
                cmd = attrs.evolve(cmd, target_date=on - timedelta(days=1))
            elif isinstance(cmd, c.ExtendPeriod):
                cmd = attrs.evolve(cmd, months=draw(st.sampled_from([0, 13])), justification=" ")
        return cmd

    return build()


@attrs.frozen
class CommandSequence:
    """An opening command and the commands that follow, for one case."""

    open: c.OpenCase
    commands: tuple[c.Command, ...]


def command_sequences(
    workflow: Workflow | None = None, *, max_size: int = 30
) -> st.SearchStrategy[CommandSequence]:
    """Sequences of commands for one case, drawn up front (many will be refused).

    Dates never decrease, so the sequences probe phases and guards, not only date order.
    """
    wf = workflow or _engine(None).workflow
    names = sorted(cmd.name for cmd in wf.commands)

    @st.composite
    def build(draw: st.DrawFn) -> CommandSequence:
        opener = draw(opening_commands())
        case = _engine(workflow).open(
            opener,
            by=Actor("im-1", Role.MANAGER, provider=opener.provider, district=opener.district),
        )
        on = opener.on
        cmds: list[c.Command] = []
        for _ in range(draw(st.integers(0, max_size))):
            on = on + timedelta(days=draw(st.integers(0, 120)))
            cmds.append(_valid_command(draw, case, draw(st.sampled_from(names)), on))
        return CommandSequence(opener, tuple(cmds))

    return build()


def _renamed(case_id: str) -> Callable[[c.OpenCase], c.OpenCase]:
    def rename(cmd: c.OpenCase) -> c.OpenCase:
        return attrs.evolve(cmd, case_id=case_id)

    return rename


def event_histories(
    workflow: Workflow | None = None, *, max_cases: int = 4, max_steps: int = 25
) -> st.SearchStrategy[tuple[Event, ...]]:
    """The events of one to *max_cases* valid cases with distinct ids, case after case."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Event, ...]:
        n = draw(st.integers(1, max_cases))
        found: list[Event] = []
        for i in range(n):
            opening = opening_commands().map(_renamed(f"case-{i}"))
            found.extend(draw(cases(workflow, max_steps=max_steps, opening=opening)).events)
        return tuple(found)

    return build()
