"""Hypothesis strategies for imflow's values, commands and cases (private; see imflow.testing)."""

from __future__ import annotations

import enum
import typing
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
from imflow.events import Event
from imflow.guards import goals_achieved
from imflow.testing._trajectories import Trajectory, trajectories
from imflow.workflow import Workflow

__all__ = [
    "FAR_FUTURE",
    "CommandSequence",
    "actors",
    "cases",
    "command_sequences",
    "commands",
    "event_histories",
    "foreign_managers",
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
_CASE_NUMBERS = st.integers(0, 999_999)
_PERSON_NUMBERS = st.integers(0, 0xFFFF)


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


def foreign_managers(case: Case) -> st.SearchStrategy[Actor]:
    """Managers who may not work on *case*: of another provider in the case's own
    district, or of the case's own provider in another district.

    >>> from hypothesis import find
    >>> from imflow import Engine, FrozenClock, commands as c
    >>> case = Engine(clock=FrozenClock(FAR_FUTURE)).open(
    ...     c.OpenCase(case_id="c-1", person="p-1", district="08337", provider="drk",
    ...                on=date(2025, 1, 2)),
    ...     by=Actor("im-1", Role.MANAGER, provider="drk", district="08337"))
    >>> neighbour = find(foreign_managers(case), lambda a: a.district == "08337")
    >>> neighbour.role, neighbour.district, neighbour.provider != "drk"
    (<Role.MANAGER: 'manager'>, '08337', True)

    .. versionadded:: 0.2.0
    """
    others = [p for p in (*_PROVIDERS, "stadt-2") if p != case.provider]
    districts = [d for d in _AGS if d != case.district]
    return st.one_of(
        st.builds(
            Actor,
            id=st.just("im-2"),
            role=st.just(Role.MANAGER),
            provider=st.sampled_from(others),
            district=st.just(case.district),
        ),
        st.builds(
            Actor,
            id=st.just("im-3"),
            role=st.just(Role.MANAGER),
            provider=st.just(case.provider),
            district=st.sampled_from(districts),
        ),
    )


def opening_commands(*, opened: st.SearchStrategy[date] = _OPENED) -> st.SearchStrategy[c.OpenCase]:
    """Valid :class:`~imflow.commands.OpenCase` commands for any of the 44 districts."""

    @st.composite
    def build(draw: st.DrawFn) -> c.OpenCase:
        household = draw(st.integers(1, 6))
        members = tuple(f"p-{i}" for i in range(draw(st.integers(0, household - 1))))
        return c.OpenCase(
            case_id=f"case-{draw(_CASE_NUMBERS)}",
            person=f"p-{draw(_PERSON_NUMBERS):04x}",
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
    return cls(on=on, **_plain_values(cls, on))  # type: ignore[arg-type]


def _plain_values(cls: type[c.Command], on: date) -> dict[str, object]:
    """Plain values for the required fields of *cls* other than ``on`` (a command this
    module has no dedicated values for): texts, numbers, dates, enum members."""
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in attrs.fields(cls):
        if f.name == "on" or f.default is not attrs.NOTHING:
            continue
        hint = hints[f.name]
        if hint is str:
            values[f.name] = _PROVIDERS[0]
        elif hint is int:
            values[f.name] = 1
        elif hint is date:
            values[f.name] = on
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            values[f.name] = next(iter(hint))
    return values


def _engine(workflow: Workflow | None) -> Engine:
    return Engine(workflow=workflow, clock=FrozenClock(FAR_FUTURE))


def cases(
    workflow: Workflow | None = None,
    *,
    max_steps: int = 25,
    opening: st.SearchStrategy[c.OpenCase] | None = None,
) -> st.SearchStrategy[Case]:
    """Valid cases, each reached through real commands on a real engine.

    The final states of :func:`~imflow.testing.trajectories`: every step picks a command
    that :meth:`Engine.allowed` allows, with valid values, mostly the programme's next one.
    """
    return trajectories(workflow, max_steps=max_steps, opening=opening).map(_final_case)


def _final_case(trajectory: Trajectory) -> Case:
    return trajectory.case


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
