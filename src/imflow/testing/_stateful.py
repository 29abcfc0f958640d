"""A rule-based state machine that drives cases through a real engine (private; see
imflow.testing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import ClassVar, cast

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from imflow import commands as c
from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.clock import FrozenClock
from imflow.engine import Engine, Policy
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea, Role
from imflow.errors import Rejected
from imflow.hooks import Hooks
from imflow.period import last_day
from imflow.serialization import dumps, loads
from imflow.testing._strategies import (
    actors,
    commands,
    foreign_managers,
    manager_for,
    opening_commands,
)
from imflow.testing._trajectories import _choose, _next_command
from imflow.workflow import Workflow

__all__ = ["CaseMachine"]

# How far after the case's latest event a command is dated: mostly soon after, sometimes
# before it (refused: date_out_of_order) or years later (period ended, future dates).
_SOON = st.integers(0, 45)
_OFFSETS = st.one_of(_SOON, _SOON, _SOON, st.integers(-20, 1600))
_TEXT = st.sampled_from(["", " ", "Sprachkurs B1", "Wohnung gesucht", "n"])
_GOAL_IDS = st.sampled_from(["g1", "g2", "g3", " ", ""])
_RULE_SET_IDS = st.sampled_from(["vwv-2018", "vwv-2023", "system-2025", "vwv-2031"])


class CaseMachine(RuleBasedStateMachine):
    """Drives cases through a real :class:`~imflow.Engine` and checks its invariants.

    Every command type has a rule, with valid and invalid arguments, sent by the case's
    manager; one rule sends any command by any actor, another by a manager of another
    provider in the same district (or of the same provider elsewhere), who must always
    be refused with ``forbidden``. The clock moves to any time of day, so "today" is
    also tried late in the evening, when Berlin is a day ahead of UTC. After every step
    the machine checks:

    - ``engine.replay(case.events) == case`` for every case;
    - the JSON round trip ``loads(dumps(case), Case) == case``;
    - a refused command left the case as it was, refused with exactly the reasons
      :meth:`~imflow.Engine.check` predicted (and an accepted one was predicted too);
    - no case is in ``monitoring`` without an agreed plan with at least one goal where
      the rule set makes plans mandatory;
    - the period's last day lies between the rule set's period and twelve months more
      (never more than the rule set's extension maximum);
    - events are numbered 1, 2, 3, … and their ``on`` dates never decrease nor lie after
      the clock's today;
    - no hook raised (the engine collects hook failures in ``engine.hook_failures``).

    Hosts subclass it to plug in their own workflow variant, policies and hooks, and add
    their own invariants with :func:`hypothesis.stateful.invariant`::

        class MyMachine(CaseMachine):
            workflow = my_district_variant()

            def make_hooks(self) -> Hooks:
                self.seen: list[str] = []
                hooks = Hooks()
                hooks.subscribe(lambda event, case: self.seen.append(event.case_id))
                return hooks

            @invariant()
            def every_event_seen(self) -> None:
                assert len(self.seen) == sum(c.version for c in self.cases.values())

        TestMyMachine = MyMachine.TestCase

    Class attributes: ``workflow`` (``None``: the default workflow), ``policies``,
    ``start`` (the earliest opening date), ``opening_days`` (openings fall within that
    many days of ``start``), ``clock_start_days`` (the clock starts that many days after
    ``start``) and ``max_cases``. Factory methods: :meth:`make_clock`,
    :meth:`make_hooks`, :meth:`make_engine`, :meth:`manager`. The state lives in
    ``self.engine``, ``self.clock`` and ``self.cases`` (case id → current case);
    ``self.outcomes`` counts accepted commands and refusal codes.

    .. versionadded:: 0.1.0
    """

    workflow: ClassVar[Workflow | None] = None
    policies: ClassVar[Sequence[Policy]] = ()
    start: ClassVar[date] = date(2024, 1, 1)
    opening_days: ClassVar[int] = 400
    clock_start_days: ClassVar[int] = 1100
    max_cases: ClassVar[int] = 3

    case_ids: Bundle[str] = Bundle("case_ids")

    def __init__(self) -> None:
        super().__init__()
        self.clock = self.make_clock()
        self.engine = self.make_engine()
        self.cases: dict[str, Case] = {}
        self.outcomes: Counter[str] = Counter()
        self._opened = 0

    # -- what hosts override ------------------------------------------------------------

    def make_clock(self) -> FrozenClock:
        """The engine's clock; it only moves forward (rule ``advance_clock``)."""
        return FrozenClock.on(self.start + timedelta(days=self.clock_start_days))

    def make_hooks(self) -> Hooks | None:
        """The hooks the engine runs after each accepted command (default: none)."""
        return None

    def make_engine(self) -> Engine:
        """The engine under test, built from the class attributes and factories."""
        return Engine(
            workflow=self.workflow,
            clock=self.clock,
            policies=self.policies,
            hooks=self.make_hooks(),
        )

    def manager(self, case: Case) -> Actor:
        """The actor who does the case work (a manager of the case's own provider)."""
        return manager_for(case)

    # -- the one way commands reach the engine ------------------------------------------

    def execute(self, case_id: str, command: c.Command, *, by: Actor | None = None) -> Case | None:
        """Send *command* to case *case_id*; returns the new case, or ``None`` if refused.

        Checks that :meth:`~imflow.Engine.check` predicted the outcome, that a refusal
        changed nothing and that an acceptance appended exactly one event.
        """
        before = self.cases[case_id]
        actor = by or self.manager(before)
        predicted = self.engine.check(before, command, by=actor)
        try:
            after = self.engine.handle(before, command, by=actor)
        except Rejected as refused:
            assert refused.reasons == predicted, (
                f"check() predicted {[r.code for r in predicted]}, "
                f"handle() refused with {list(refused.codes)}"
            )
            assert self.cases[case_id] is before
            assert self.engine.replay(before.events) == before
            self.outcomes.update(f"refused:{code}" for code in refused.codes)
            return None
        assert not predicted, f"check() predicted {[r.code for r in predicted]}, but accepted"
        assert after.version == before.version + 1
        assert after.events[: before.version] == before.events
        self.cases[case_id] = after
        self.outcomes[f"accepted:{after.events[-1].type}"] += 1
        return after

    def day(self, case_id: str, offset: int) -> date:
        """The date *offset* days after the case's latest event."""
        return self.cases[case_id].latest_on + timedelta(days=offset)

    # -- opening --------------------------------------------------------------------------

    @precondition(lambda self: len(self.cases) < self.max_cases)
    @rule(target=case_ids, data=st.data())
    def open_case(self, data: st.DataObject) -> str:
        today = self.engine.today()
        last = min(today, self.start + timedelta(days=self.opening_days))
        opener = data.draw(opening_commands(opened=st.dates(self.start, max(self.start, last))))
        self._opened += 1
        case_id = f"case-{self._opened}"
        opener = c.OpenCase(
            case_id=case_id,
            person=opener.person,
            district=opener.district,
            provider=opener.provider,
            household=opener.household,
            members=opener.members,
            on=opener.on,
        )
        by = Actor("im-1", Role.MANAGER, provider=opener.provider, district=opener.district)
        case = self.engine.open(opener, by=by)
        assert case.version == 1 and case.case_id == case_id
        self.cases[case_id] = case
        self.outcomes["accepted:case_opened"] += 1
        return case_id

    @rule(
        data=st.data(),
        flaw=st.sampled_from(["district", "person", "household", "members", "future", "actor"]),
    )
    def open_invalid_case(self, data: st.DataObject, flaw: str) -> None:
        opener = data.draw(opening_commands(opened=st.dates(self.start, self.engine.today())))
        fields = {
            "case_id": "case-invalid",
            "person": opener.person,
            "district": opener.district,
            "provider": opener.provider,
            "household": opener.household,
            "members": opener.members,
            "on": opener.on,
        }
        by = Actor("im-1", Role.MANAGER, provider=opener.provider, district=opener.district)
        if flaw == "district":
            fields["district"] = "09162"  # München: not in Baden-Württemberg
        elif flaw == "person":
            fields["person"] = " "
        elif flaw == "household":
            fields["household"] = 0
        elif flaw == "members":
            fields["members"] = tuple(f"m-{i}" for i in range(opener.household))
        elif flaw == "future":
            fields["on"] = self.engine.today() + timedelta(days=1)
        else:
            by = Actor("a-1", Role.AUDITOR, provider=opener.provider, district=opener.district)
        try:
            self.engine.open(c.OpenCase(**fields), by=by)  # type: ignore[arg-type]
        except Rejected as refused:
            self.outcomes.update(f"refused:{code}" for code in refused.codes)
        else:
            raise AssertionError(f"an opening with a bad {flaw} was accepted")

    # -- one rule per command -----------------------------------------------------------

    @rule(case_id=case_ids, offset=_OFFSETS)
    def record_consent(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.RecordConsent(on=self.day(case_id, offset)))

    @rule(case_id=case_ids, offset=_OFFSETS)
    def withdraw_consent(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.WithdrawConsent(on=self.day(case_id, offset)))

    @rule(
        case_id=case_ids,
        offset=_OFFSETS,
        minutes=st.one_of(st.integers(1, 120), st.integers(-10, 700)),
        channel=st.sampled_from(Channel),
        topics=st.lists(st.sampled_from(LifeArea), max_size=3, unique=True),
    )
    def record_contact(
        self,
        case_id: str,
        offset: int,
        minutes: int,
        channel: Channel,
        topics: list[LifeArea],
    ) -> None:
        self.execute(
            case_id,
            c.RecordContact(
                on=self.day(case_id, offset), minutes=minutes, channel=channel, topics=topics
            ),
        )

    @rule(case_id=case_ids, offset=_OFFSETS)
    def start_assessment(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.StartAssessment(on=self.day(case_id, offset)))

    @rule(case_id=case_ids, offset=_OFFSETS, area=st.sampled_from(LifeArea), note=_TEXT)
    def record_need(self, case_id: str, offset: int, area: LifeArea, note: str) -> None:
        self.execute(case_id, c.RecordNeed(on=self.day(case_id, offset), area=area, note=note))

    @rule(case_id=case_ids, offset=_OFFSETS)
    def start_planning(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.StartPlanning(on=self.day(case_id, offset)))

    @rule(
        case_id=case_ids,
        offset=_OFFSETS,
        goal_id=_GOAL_IDS,
        area=st.sampled_from(LifeArea),
        description=_TEXT,
        target_in=st.one_of(st.integers(30, 700), st.integers(-10, 2000)),
    )
    def add_goal(
        self,
        case_id: str,
        offset: int,
        goal_id: str,
        area: LifeArea,
        description: str,
        target_in: int,
    ) -> None:
        on = self.day(case_id, offset)
        self.execute(
            case_id,
            c.AddGoal(
                on=on,
                goal_id=goal_id,
                area=area,
                description=description,
                target_date=on + timedelta(days=target_in),
            ),
        )

    @rule(case_id=case_ids, offset=_OFFSETS)
    def agree_plan(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.AgreePlan(on=self.day(case_id, offset)))

    @rule(case_id=case_ids, offset=_OFFSETS, goal_id=_GOAL_IDS, status=st.sampled_from(GoalStatus))
    def set_goal_status(self, case_id: str, offset: int, goal_id: str, status: GoalStatus) -> None:
        self.execute(
            case_id, c.SetGoalStatus(on=self.day(case_id, offset), goal_id=goal_id, status=status)
        )

    @rule(case_id=case_ids, offset=_OFFSETS, note=_TEXT)
    def review_plan(self, case_id: str, offset: int, note: str) -> None:
        self.execute(case_id, c.ReviewPlan(on=self.day(case_id, offset), note=note))

    @rule(case_id=case_ids, offset=_OFFSETS)
    def revise_plan(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.RevisePlan(on=self.day(case_id, offset)))

    @rule(
        case_id=case_ids,
        offset=_OFFSETS,
        months=st.one_of(st.integers(1, 12), st.integers(-1, 14)),
        justification=_TEXT,
    )
    def extend_period(self, case_id: str, offset: int, months: int, justification: str) -> None:
        self.execute(
            case_id,
            c.ExtendPeriod(
                on=self.day(case_id, offset), months=months, justification=justification
            ),
        )

    @rule(case_id=case_ids, offset=_OFFSETS, reason=st.sampled_from(ClosureReason), note=_TEXT)
    def close_case(self, case_id: str, offset: int, reason: ClosureReason, note: str) -> None:
        self.execute(case_id, c.CloseCase(on=self.day(case_id, offset), reason=reason, note=note))

    @rule(case_id=case_ids, offset=_OFFSETS)
    def reopen_case(self, case_id: str, offset: int) -> None:
        self.execute(case_id, c.ReopenCase(on=self.day(case_id, offset)))

    @rule(case_id=case_ids, offset=_OFFSETS, rule_set=_RULE_SET_IDS)
    def migrate_rule_set(self, case_id: str, offset: int, rule_set: str) -> None:
        self.execute(case_id, c.MigrateRuleSet(on=self.day(case_id, offset), rule_set=rule_set))

    @rule(case_id=case_ids, data=st.data(), steps=st.integers(1, 12))
    def take_next_steps(self, case_id: str, data: st.DataObject, steps: int) -> None:
        """Up to *steps* commands that the engine allows now, mostly ones that move the case
        along the programme (so that deep phases are reached), with valid values."""
        draw = cast(st.DrawFn, data.draw)
        for _ in range(steps):
            case = self.cases[case_id]
            on = min(self.day(case_id, data.draw(_SOON)), self.engine.today())
            allowed = self.engine.allowed(case, by=self.manager(case), on=on)
            name = _choose(draw, case, sorted(n for n, reasons in allowed.items() if not reasons))
            if name is None:
                return
            command = _next_command(draw, self.engine, case, name, on)
            if command is not None:
                self.execute(case_id, command)

    @rule(case_id=case_ids, data=st.data())
    def any_command(self, case_id: str, data: st.DataObject) -> None:
        """Any command of the workflow (custom ones of a variant too), valid or not."""
        case = self.cases[case_id]
        self.execute(case_id, data.draw(commands(case, workflow=self.engine.workflow)))

    @rule(case_id=case_ids, data=st.data())
    def command_by_a_foreign_manager(self, case_id: str, data: st.DataObject) -> None:
        """A manager of another provider in the same district (or of the same provider in
        another district) is refused every command with ``forbidden``."""
        case = self.cases[case_id]
        by = data.draw(foreign_managers(case))
        command = data.draw(commands(case, workflow=self.engine.workflow))
        codes = {r.code for r in self.engine.check(case, command, by=by)}
        assert "forbidden" in codes, f"{by} was not refused {command.type}: {codes}"
        assert self.execute(case_id, command, by=by) is None
        allowed = self.engine.allowed(case, by=by, on=command.on)
        assert all("forbidden" in {r.code for r in reasons} for reasons in allowed.values())
        self.outcomes["refused:forbidden (foreign manager)"] += 1

    @rule(case_id=case_ids, data=st.data())
    def command_by_someone_else(self, case_id: str, data: st.DataObject) -> None:
        """A command sent by any actor: other providers, auditors, the system."""
        case = self.cases[case_id]
        by = data.draw(st.one_of(actors(), st.just(SYSTEM)))
        self.execute(case_id, data.draw(commands(case, workflow=self.engine.workflow)), by=by)

    # -- time -------------------------------------------------------------------------

    @rule(days=st.one_of(st.integers(1, 60), st.integers(0, 800)), minutes=st.integers(0, 1439))
    def advance_clock(self, days: int, minutes: int) -> None:
        """Move the clock forward, to any time of day (so also to late evenings in UTC, when
        it is already the next day in Berlin)."""
        self.clock.advance(days=days, minutes=minutes)

    @rule()
    def sweep(self) -> None:
        """The nightly sweep on today: closes expired cases, and nothing more a second time."""
        today = self.engine.today()
        before = dict(self.cases)
        result = self.engine.sweep(list(before.values()), on=today)
        for case in result.closed:
            old = before[case.case_id]
            assert old.period_end is not None and old.period_end < today
            assert case.closure is not None
            assert case.closure.reason is ClosureReason.PERIOD_EXPIRED
            self.cases[case.case_id] = case
            self.outcomes["accepted:case_closed"] += 1
        again = self.engine.sweep(list(self.cases.values()), on=today)
        assert not again.closed, f"a second sweep closed {again.closed_ids}"

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def replay_gives_the_case(self) -> None:
        for case in self.cases.values():
            assert self.engine.replay(case.events) == case, f"replay differs for {case.case_id}"

    @invariant()
    def json_round_trip(self) -> None:
        for case in self.cases.values():
            back = loads(dumps(case), Case, engine=self.engine)
            assert back == case, f"JSON round trip differs: {case.case_id}"

    @invariant()
    def events_numbered_and_in_order(self) -> None:
        today = self.engine.today()
        for case in self.cases.values():
            events = case.events
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert all(e.case_id == case.case_id for e in events)
            for earlier, later in pairwise(events):
                assert earlier.on <= later.on, f"{case.case_id}: event dates go backwards"
            assert events[-1].on <= today, f"{case.case_id}: an event dated after today"

    @invariant()
    def no_monitoring_without_agreed_goals(self) -> None:
        for case in self.cases.values():
            rules = self.engine.rule_sets[case.rule_set]
            if case.phase == "monitoring" and rules.plan_mandatory:
                plan = case.agreed_plan
                assert plan is not None and plan.goals, (
                    f"{case.case_id} is in monitoring without an agreed plan with goals"
                )

    @invariant()
    def period_moves_at_most_twelve_months(self) -> None:
        for case in self.cases.values():
            rules = self.engine.rule_sets[case.rule_set]
            if rules.period_months is None:
                assert case.period_end is None
                continue
            assert case.period_end is not None
            base = last_day(case.counted_from, months=rules.period_months)
            most = last_day(
                case.counted_from,
                months=rules.period_months + min(12, rules.extension_max_months),
            )
            assert base <= case.period_end <= most, (
                f"{case.case_id}: last day {case.period_end} outside {base} … {most}"
            )

    @invariant()
    def closed_exactly_in_final_phases(self) -> None:
        final = self.engine.workflow.compiled.final
        for case in self.cases.values():
            assert (case.closure is not None) == (case.phase in final), case.case_id

    @invariant()
    def no_hook_failed(self) -> None:
        failures = self.engine.hook_failures
        assert not failures, f"a hook raised: {failures[0]}"
