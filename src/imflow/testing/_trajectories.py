"""Valid trajectories: cases walked through the programme step by step (private; see
imflow.testing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import attrs
from hypothesis import currently_in_test_context, event
from hypothesis import strategies as st

from imflow import commands as c
from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.clock import FrozenClock
from imflow.districts import DISTRICTS
from imflow.engine import Engine
from imflow.enums import Channel, ClosureReason, ConsentStatus, GoalStatus, LifeArea, Role
from imflow.errors import Rejected
from imflow.events import CaseClosed
from imflow.guards import goals_achieved
from imflow.period import last_day
from imflow.workflow import Workflow

__all__ = ["Step", "Trajectory", "trajectories"]

_ONE_DAY = timedelta(days=1)
_NOTES = st.sampled_from(
    ["Sprachkurs B1", "Wohnung gesucht", "Kita-Platz", "Ausbildung im Handwerk", "Jobcenter", "ok"]
)
# the strategies every step draws from, built once; _Dn are dice with n faces from 0
_D2, _D3, _D4, _D10, _D20, _D50 = (st.integers(0, n - 1) for n in (2, 3, 4, 10, 20, 50))
_SHORT_GAP = st.integers(0, 30)
_LONG_GAP = st.integers(31, 500)
_DAYS_AFTER_PERIOD = st.integers(1, 60)
_MINUTES = st.integers(1, 240)
_CHANNELS = st.sampled_from(Channel)
_AREAS = st.sampled_from(LifeArea)
_TOPICS = st.lists(_AREAS, max_size=3, unique=True)

# goal outcomes, most often the one that lets a case close as goals_achieved
_STATUSES = (
    GoalStatus.ACHIEVED,
    GoalStatus.ACHIEVED,
    GoalStatus.PARTLY_ACHIEVED,
    GoalStatus.NOT_ACHIEVED,
    GoalStatus.DROPPED,
    GoalStatus.OPEN,
)
# openings: many in the years around the 2025 system change (so that rule-set
# migrations happen), the others anywhere from 2018 to 2034, some on the edges of a
# year or a month (1 January, 31 December, month ends)
_EDGES = tuple(
    day
    for year in range(2018, 2035)
    for day in (
        date(year, 1, 1),
        date(year, 1, 31),
        date(year, 2, 28),
        date(year, 11, 30),
        date(year, 12, 31),
    )
)
_OPENED = st.one_of(
    st.dates(min_value=date(2023, 6, 6), max_value=date(2025, 6, 30)),
    st.dates(min_value=date(2018, 1, 1), max_value=date(2034, 12, 31)),
    st.sampled_from(_EDGES),
)
_STATUS = st.sampled_from(_STATUSES)
_CUSTOM_NOTES = st.sampled_from(["", "Sprachkurs im Ausland"])
# commands a walk takes only now and then: they end or interrupt the programme
_RARE = frozenset({"close_case", "withdraw_consent"})
# the providers a case is handed over to unless the caller names others
_PROVIDERS = ("drk", "caritas", "diakonie", "awo", "stadt")
_AGS = tuple(sorted(DISTRICTS))
# a continued case: how many days before this opening the earlier period began (under
# 36 months, so the credited period never ended before the opening; often near its
# end) and the months it was extended by (mostly none)
_DAYS_BEFORE = st.one_of(st.integers(0, 1094), st.integers(1000, 1094))
_CREDITED_MONTHS = st.one_of(st.just(0), st.integers(1, 12))
_EARLIEST = date(2018, 1, 1)


@attrs.frozen
class Step:
    """One accepted command of a trajectory: what was sent, by whom, and the case after it.

    .. versionadded:: 0.2.0
    """

    command: c.Command
    by: Actor
    case: Case

    @property
    def name(self) -> str:
        """The command's name in the workflow (a custom action's own name)."""
        return _name(self.command)


@attrs.frozen
class Trajectory:
    """A case's way through the programme: the opening and every accepted step.

    ``refused`` lists the few commands the walk tried that the engine refused (their
    names and reason codes); the case is unchanged by each of them.

    .. versionadded:: 0.2.0
    """

    opening: c.OpenCase
    start: Case
    steps: tuple[Step, ...] = ()
    refused: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def case(self) -> Case:
        """The case at the end of the trajectory."""
        return self.steps[-1].case if self.steps else self.start

    @property
    def states(self) -> tuple[Case, ...]:
        """Every state the case went through, the opened case first."""
        return (self.start, *(s.case for s in self.steps))

    @property
    def phases(self) -> frozenset[str]:
        """Every phase the case was in at some point."""
        return frozenset(str(state.phase) for state in self.states)

    @property
    def commands(self) -> tuple[str, ...]:
        """The names of the accepted commands, in order (``open_case`` first)."""
        return ("open_case", *(s.name for s in self.steps))


def _name(cmd: c.Command) -> str:
    return cmd.name if isinstance(cmd, c.CustomAction) else cmd.type


def _wanted(case: Case) -> tuple[str, ...]:
    """The commands that move *case* along the programme's happy path, best first."""
    phase = str(case.phase)
    if phase == "closed":
        return ()
    if case.consent is not ConsentStatus.GIVEN:
        return ("record_consent",)
    plan = case.plan
    if phase == "intake":
        return ("start_assessment",)
    if phase == "assessment":
        return ("start_planning",) if case.needs else ("record_need",)
    if phase == "planning":
        goals = len(plan.goals) if plan is not None else 0
        if goals == 0:
            return ("add_goal",)
        return ("add_goal", "agree_plan") if goals < 3 else ("agree_plan",)
    if phase == "monitoring":
        if plan is not None and any(g.status is GoalStatus.OPEN for g in plan.goals):
            return ("set_goal_status", "review_plan", "record_contact")
        return ("close_case", "review_plan")
    return ()


def _closure_reason(draw: st.DrawFn, case: Case, on: date, engine: Engine) -> ClosureReason:
    if case.period_end is not None and on > case.period_end:
        return ClosureReason.PERIOD_EXPIRED
    if goals_achieved(case) and draw(_D4) < 3:
        return ClosureReason.GOALS_ACHIEVED
    allowed = engine.rule_sets[case.rule_set].closure_reasons
    reasons = [
        r
        for r in (
            ClosureReason.HANDED_OVER,
            ClosureReason.MOVED_AWAY,
            ClosureReason.NO_CONTACT,
            ClosureReason.CLIENT_REQUEST,
            ClosureReason.OTHER,
        )
        if r in allowed
    ]
    return draw(st.sampled_from(reasons))


def _manager(case: Case) -> Actor:
    """A manager of the provider the case is with now (after a transfer, the new one)."""
    return Actor("im-1", Role.MANAGER, provider=case.provider, district=case.district)


def _continued(draw: st.DrawFn, opener: c.OpenCase) -> c.OpenCase:
    """*opener* continuing a case from another district (domain.md § 4) whose credited
    period has not ended by the opening."""
    others = [d for d in _AGS if d != opener.district]
    start = max(opener.on - timedelta(days=draw(_DAYS_BEFORE)), _EARLIEST)
    earlier = c.Continuation(
        case_id=f"prior-{draw(_D50)}",
        district=draw(st.sampled_from(others)),
        period_start=start,
        extended_months=draw(_CREDITED_MONTHS),
    )
    assert last_day(start, months=36 + earlier.extended_months) >= opener.on
    return attrs.evolve(opener, continues=earlier)


def _next_command(
    draw: st.DrawFn,
    engine: Engine,
    case: Case,
    name: str,
    on: date,
    providers: Sequence[str] = _PROVIDERS,
) -> c.Command | None:
    """A command *name* for *case* on *on* with field values that pass the engine's checks
    (``None`` when no such value exists, e.g. no newer rule set in force)."""
    plan = case.plan
    if name == "record_contact":
        return c.RecordContact(
            on=on,
            minutes=draw(_MINUTES),
            channel=draw(_CHANNELS),
            topics=draw(_TOPICS),
        )
    if name == "record_need":
        return c.RecordNeed(on=on, area=draw(_AREAS), note=draw(_NOTES))
    if name == "add_goal":
        taken = {g.goal_id for p in case.plans for g in p.goals}
        goal_id = next(f"g{i}" for i in range(1, 10_000) if f"g{i}" not in taken)
        last = case.period_end or on + timedelta(days=3 * 365)
        target = on + timedelta(days=draw(st.integers(0, max(0, (last - on).days))))
        return c.AddGoal(
            on=on,
            goal_id=goal_id,
            area=draw(_AREAS),
            description=draw(_NOTES),
            target_date=target,
        )
    if name == "set_goal_status":
        if plan is None or not plan.goals:
            return None
        open_goals = [g.goal_id for g in plan.goals if g.status is GoalStatus.OPEN]
        goal_ids = open_goals or [g.goal_id for g in plan.goals]
        return c.SetGoalStatus(
            on=on,
            goal_id=draw(st.sampled_from(goal_ids)),
            status=draw(_STATUS),
        )
    if name == "review_plan":
        return c.ReviewPlan(on=on, note=draw(_NOTES))
    if name == "extend_period":  # within the limit, shared with credited extensions
        rules = engine.rule_sets[case.rule_set]
        used = case.credited_extension_months + case.extended_months
        remaining = rules.extension_max_months - used
        if remaining < 1:
            return None
        return c.ExtendPeriod(
            on=on, months=draw(st.integers(1, remaining)), justification=draw(_NOTES)
        )
    if name == "close_case":
        reason = _closure_reason(draw, case, on, engine)
        return c.CloseCase(on=on, reason=reason, note=draw(_NOTES))
    if name == "transfer_case":  # to another provider the engine accepts for the district
        targets = [p for p in providers if p != case.provider]
        if not targets:
            return None
        cmd = c.TransferCase(on=on, to_provider=draw(st.sampled_from(targets)), note=draw(_NOTES))
        return None if engine.check(case, cmd, by=_manager(case)) else cmd
    if name == "migrate_rule_set":  # to a newer rule set in force that keeps the case valid
        current = engine.rule_sets[case.rule_set]
        by = _manager(case)
        fitting = [
            cmd
            for rs in sorted(engine.rule_sets.values(), key=lambda rs: rs.effective_from)
            if current.effective_from < rs.effective_from <= on
            for cmd in (c.MigrateRuleSet(on=on, rule_set=rs.id),)
            if not engine.check(case, cmd, by=by)
        ]
        return draw(st.sampled_from(fitting)) if fitting else None
    cls = c.COMMAND_TYPES.get(name)
    if cls is None or cls is c.CustomAction:  # a command a workflow variant added
        return c.CustomAction(on=on, name=name, note=draw(_CUSTOM_NOTES))
    required = {f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING}
    if required != {"on"}:  # an opening, or a command whose values the walk cannot choose
        return None
    return cls(on=on)  # type: ignore[call-arg]  # the commands with only `on`


def _month_end(day: date) -> date:
    """The last day of *day*'s month."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1) - _ONE_DAY


def _next_day(draw: st.DrawFn, engine: Engine, case: Case) -> date:
    """A date soon after the case's latest event, mostly within the period; now and then
    after a long pause, or on the edge of a month or of the year (31 December, 1 January)."""
    latest = case.latest_on
    pace = draw(_D20)
    if pace == 19:
        on = latest + timedelta(days=draw(_LONG_GAP))
    elif pace == 18:
        on = _month_end(latest) + _ONE_DAY * draw(_D2)  # the month's last or next first day
    elif pace == 17:
        on = date(latest.year, 12, 31) + _ONE_DAY * draw(_D2)  # 31 December or 1 January
    else:
        on = latest + timedelta(days=draw(_SHORT_GAP))
    end = case.period_end
    if end is not None and on > end and latest <= end and draw(_D4) != 3:
        on = end  # mostly keep working within the period
    return min(on, engine.today())


def _choose(draw: st.DrawFn, case: Case, names: Sequence[str]) -> str | None:
    """Mostly the next step of the programme, sometimes any allowed command."""
    wanted = [n for n in _wanted(case) if n in names]
    choice = draw(_D20)
    if wanted and choice < 14:
        return draw(st.sampled_from(wanted))
    rare = _RARE if case.consent is not ConsentStatus.GIVEN else _RARE | {"record_consent"}
    common = [n for n in names if n not in rare]
    if common and choice < 18:
        return draw(st.sampled_from(common))
    return draw(st.sampled_from(names)) if names else None


def _record(trajectory: Trajectory) -> None:
    """Hypothesis statistics: which phases and commands the trajectory reached."""
    if not currently_in_test_context():
        return
    for phase in sorted(trajectory.phases):
        event(f"phase reached: {phase}")
    for name in sorted(set(trajectory.commands)):
        event(f"command accepted: {name}")
    for name, codes in trajectory.refused:
        event(f"command refused: {name} ({', '.join(codes)})")
    if trajectory.opening.continues is not None:
        event("opened continuing a case from another district")
    moves = sum(1 for s in trajectory.steps if isinstance(s.command, c.TransferCase))
    event(f"transfers: {min(moves, 2)}{'+' if moves >= 2 else ''}")


def _walk(
    draw: st.DrawFn,
    engine: Engine,
    opener: c.OpenCase,
    max_steps: int,
    providers: Sequence[str],
) -> Trajectory:
    if opener.continues is None and draw(_D10) == 0:
        opener = _continued(draw, opener)
    start = engine.open(
        opener, by=Actor("im-1", Role.MANAGER, provider=opener.provider, district=opener.district)
    )
    case = start
    steps: list[Step] = []
    refused: list[tuple[str, tuple[str, ...]]] = []

    def send(cmd: c.Command, by: Actor) -> None:
        nonlocal case
        try:
            case = engine.handle(case, cmd, by=by)
        except Rejected as exc:
            refused.append((_name(cmd), exc.codes))
            return
        steps.append(Step(cmd, by, case))

    # Each choice's simplest value (0) takes the programme's next step, so that shrunk
    # examples stay deep; a walk stops now and then, or when nothing is allowed any more.
    for _ in range(max_steps):
        if draw(_D50) == 49:
            break
        if not case.is_open and draw(_D3) != 0:
            break  # a closed case mostly stays closed
        on = _next_day(draw, engine, case)
        actor = _manager(case)  # the current provider's manager acts
        allowed = engine.allowed(case, by=actor, on=on)
        name = _choose(draw, case, sorted(n for n, reasons in allowed.items() if not reasons))
        if name is None:
            break
        cmd = _next_command(draw, engine, case, name, on, providers)
        if cmd is not None:
            send(cmd, actor)
    ending = draw(_D10)
    if case.is_open and 6 <= ending <= 8:  # the manager closes the case
        on = _next_day(draw, engine, case)
        actor = _manager(case)
        closing = _next_command(draw, engine, case, "close_case", on)
        if closing is not None and not engine.allowed(case, by=actor, on=on)["close_case"]:
            send(closing, actor)
    elif case.is_open and ending == 9 and case.period_end is not None:  # the nightly sweep
        on = case.period_end + timedelta(days=draw(_DAYS_AFTER_PERIOD))
        if on <= engine.today():
            result = engine.sweep([case], on=on)
            if result.closed:
                case = result.closed[0]
                last = case.events[-1]
                assert isinstance(last, CaseClosed)
                cmd = c.CloseCase(on=last.on, reason=last.reason, note=last.note)
                steps.append(Step(cmd, SYSTEM, case))
    return Trajectory(opener, start, tuple(steps), tuple(refused))


def trajectories(
    workflow: Workflow | None = None,
    *,
    max_steps: int = 40,
    opening: st.SearchStrategy[c.OpenCase] | None = None,
    engine: Engine | None = None,
    providers: Sequence[str] = _PROVIDERS,
) -> st.SearchStrategy[Trajectory]:
    """Valid trajectories of one case through the programme, each step a real command.

    Every step sends a command that :meth:`~imflow.Engine.allowed` allows, with field
    values that pass (consent before the assessment, needs before planning, goals before
    the agreement, target dates within the period), dated a few days after the case's
    latest event and mostly within the counselling period. Three times in four the walk
    takes the programme's next step, so most trajectories reach ``monitoring`` and many
    end ``closed`` (by the manager, as ``goals_achieved`` or otherwise, or by the nightly
    sweep as ``period_expired``). Now and then the case is handed over to another
    provider of its district (``transfer_case``, to one of *providers* the engine
    accepts; the new provider's manager acts from then on), and about one walk in ten
    opens a case that continues one from another district
    (``OpenCase(continues=Continuation(...))``, unless the opening names one already;
    the earlier period has not ended on the opening day). Under a Hypothesis test it
    records statistics (:func:`hypothesis.event`) of the phases and commands reached,
    continuations and the number of transfers; see them with
    ``pytest --hypothesis-show-statistics``.

    *engine* defaults to one on *workflow* whose clock stands at :data:`FAR_FUTURE`.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20)
    ... @given(trajectories())
    ... def test_one_event_per_step(t):
    ...     assert t.commands[0] == "open_case"
    ...     assert t.case.version == len(t.steps) + 1
    >>> test_one_event_per_step()

    .. versionadded:: 0.2.0
    """
    from imflow.testing._strategies import FAR_FUTURE, opening_commands

    walker = engine or Engine(workflow=workflow, clock=FrozenClock(FAR_FUTURE))
    openings = opening if opening is not None else opening_commands(opened=_OPENED)

    @st.composite
    def build(draw: st.DrawFn) -> Trajectory:
        trajectory = _walk(draw, walker, draw(openings), max_steps, tuple(providers))
        _record(trajectory)
        return trajectory

    return build()
