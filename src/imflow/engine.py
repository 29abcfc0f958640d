"""The engine: decides commands against the workflow's guards and folds events into cases.

Deciding and evolving are pure: the same case, command and clock give the same events.
The engine holds no case state and starts no threads; one engine serves any number of
cases.

>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> engine = Engine(clock=FrozenClock.on(date(2025, 3, 1)))
>>> im = Actor("im-1", Role.MANAGER, provider="drk-wt", district="08337")
>>> case = engine.open(c.OpenCase(case_id="wt-1", person="p-81", district="08337",
...                               provider="drk-wt", on=date(2025, 3, 1)), by=im)
>>> case.phase, case.period_end
(<Phase.INTAKE: 'intake'>, datetime.date(2028, 2, 29))
>>> engine.handle(case, c.StartAssessment(on=date(2025, 3, 1)), by=im)
Traceback (most recent call last):
...
imflow.errors.Rejected: start_assessment rejected on case 'wt-1': consent_missing

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import structlog

from imflow import _evolve
from imflow._construct import constructor
from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.clock import Clock, system_clock
from imflow.commands import (
    AddGoal,
    CloseCase,
    Command,
    Continuation,
    CustomAction,
    ExtendPeriod,
    OpenCase,
    RecordContact,
    SetGoalStatus,
    TransferCase,
)
from imflow.deadlines import Deadline, SweepResult, deadlines, sweep_cases
from imflow.districts import DISTRICTS
from imflow.enums import ClosureReason, ConsentStatus, Role
from imflow.errors import ImflowError, Rejected, WorkflowMismatch
from imflow.events import (
    AssessmentStarted,
    CaseClosed,
    CaseOpened,
    CaseReopened,
    CaseTransferred,
    ConsentRecorded,
    ConsentWithdrawn,
    ContactRecorded,
    CustomActionTaken,
    Event,
    EventBase,
    GoalAdded,
    GoalStatusSet,
    NeedRecorded,
    PeriodExtended,
    PlanAgreed,
    PlanningStarted,
    PlanReviewed,
    PlanRevised,
    RuleSetMigrated,
)
from imflow.guards import GuardContext, migrated_period_end
from imflow.history import as_of
from imflow.hooks import HookFailure, Hooks
from imflow.organisations import DistrictOrganisation, Provider
from imflow.period import last_day
from imflow.reasons import Reason
from imflow.rules import RULE_SETS, RuleSet
from imflow.workflow import CompiledCommand, Workflow, bw_integrationsmanagement

__all__ = ["MAX_CONTACT_MINUTES", "Engine", "InvalidHistory", "Policy"]

Policy = Callable[[Case | None, Command | None, GuardContext], Iterable[Reason]]
"""A host's own guard: ``(case, command, context) -> reasons``.

``case`` is ``None`` for :class:`~imflow.commands.OpenCase`; ``command`` is ``None``
when the engine answers :meth:`Engine.allowed`.
"""

MAX_CONTACT_MINUTES = 600
"""The longest contact the engine accepts (ten hours)."""

_BERLIN = ZoneInfo("Europe/Berlin")
_ONE_DAY = timedelta(days=1)
_DISTRICT_CODES = frozenset(DISTRICTS)
_new_case_opened = constructor(CaseOpened)
_new_guard_context = constructor(GuardContext)
_UNRESOLVED = object()
_NO_REASONS: tuple[Reason, ...] = ()


class InvalidHistory(ImflowError, ValueError):
    """A sequence of events does not form one case's history."""


def _invalid(field: str, problem: str, **params: object) -> Reason:
    """``invalid_value``: *problem* is a code with a message ``problem.<code>``."""
    return Reason.of("invalid_value", field=field, problem=problem, **params)


def _contact_fields(case: Case, cmd: RecordContact, rules: RuleSet) -> list[Reason]:
    if 0 < cmd.minutes <= MAX_CONTACT_MINUTES:
        return []
    return [_invalid("minutes", "minutes_range", maximum=MAX_CONTACT_MINUTES)]


def _goal_fields(case: Case, cmd: AddGoal, rules: RuleSet) -> list[Reason]:
    found: list[Reason] = []
    if not cmd.goal_id.strip():
        found.append(_invalid("goal_id", "empty"))
    if not cmd.description.strip():
        found.append(_invalid("description", "empty"))
    if cmd.target_date < cmd.on:
        found.append(_invalid("target_date", "before_agreement"))
    plan = case.plan
    if plan is not None and plan.goal(cmd.goal_id) is not None:
        found.append(Reason.of("duplicate_goal", goal_id=cmd.goal_id))
    return found


def _goal_status_fields(case: Case, cmd: SetGoalStatus, rules: RuleSet) -> list[Reason]:
    plan = case.plan
    if plan is None or plan.agreed_on is None or plan.goal(cmd.goal_id) is None:
        return [Reason.of("unknown_goal", goal_id=cmd.goal_id)]
    return []


def _extension_fields(case: Case, cmd: ExtendPeriod, rules: RuleSet) -> list[Reason]:
    return [] if cmd.months >= 1 else [_invalid("months", "at_least_one")]


def _transfer_fields(case: Case, cmd: TransferCase, rules: RuleSet) -> list[Reason]:
    target = cmd.to_provider
    if target.strip() and target != case.provider:
        return []
    return [Reason.of("unknown_provider", provider=target, district=case.district)]


def _registry(
    providers: Iterable[DistrictOrganisation | Provider],
) -> Callable[[Case, Any, RuleSet], list[Reason]]:
    """The transfer check against a host's provider registry: the target must be one of
    the providers registered for the case's district."""
    known: dict[str, set[str]] = {}
    for item in providers:
        for p in item.providers if isinstance(item, DistrictOrganisation) else (item,):
            known.setdefault(p.district, set()).add(p.id)
    frozen = {district: frozenset(ids) for district, ids in known.items()}

    def check(case: Case, cmd: TransferCase, rules: RuleSet) -> list[Reason]:
        found = _transfer_fields(case, cmd, rules)
        if not found and cmd.to_provider not in frozen.get(case.district, ()):
            found.append(
                Reason.of("unknown_provider", provider=cmd.to_provider, district=case.district)
            )
        return found

    return check


def _closure_fields(case: Case, cmd: CloseCase, rules: RuleSet) -> list[Reason]:
    found: list[Reason] = []
    if cmd.reason not in rules.closure_reasons:
        found.append(Reason.of("reason_not_allowed", reason=cmd.reason.value, rule_set=rules.id))
    if cmd.reason is ClosureReason.OTHER and not cmd.note.strip():
        found.append(Reason.of("note_missing"))
    return found


_FIELD_CHECKS: Mapping[str, Callable[[Case, Any, RuleSet], list[Reason]]] = {
    RecordContact.type: _contact_fields,
    AddGoal.type: _goal_fields,
    SetGoalStatus.type: _goal_status_fields,
    ExtendPeriod.type: _extension_fields,
    CloseCase.type: _closure_fields,
    TransferCase.type: _transfer_fields,
}
"""Checks of a command's field values that no workflow can switch off, by command type."""


def _continuation_fields(cmd: OpenCase, cont: Continuation) -> list[Reason]:
    found: list[Reason] = []
    if not cont.case_id.strip():
        found.append(_invalid("continues.case_id", "empty"))
    if cont.district not in _DISTRICT_CODES:
        found.append(_invalid("continues.district", "not_a_district"))
    elif cont.district == cmd.district:
        found.append(_invalid("continues.district", "same_district"))
    if cont.period_start > cmd.on:
        found.append(_invalid("continues.period_start", "after_opening"))
    if cont.extended_months < 0:
        found.append(_invalid("continues.extended_months", "negative"))
    return found


def _credited_period(
    cmd: OpenCase, rules: RuleSet
) -> tuple[date | None, date | None, list[Reason]]:
    """``(counted_from, period_end, reasons)`` of a case *cmd* opens under *rules*.

    With a continuation and the rule set's ``credit_prior_counselling`` the period is
    counted from the earlier case's start, its extensions included (domain.md § 4).
    """
    months = rules.period_months
    cont = cmd.continues
    if months is None:
        return None, None, []
    if cont is None or not rules.credit_prior_counselling:
        return None, last_day(cmd.on, months=months), []
    found: list[Reason] = []
    if cont.extended_months > rules.extension_max_months:
        found.append(
            _invalid(
                "continues.extended_months",
                "over_extension_limit",
                maximum=rules.extension_max_months,
                rule_set=rules.id,
            )
        )
    end = last_day(cont.period_start, months=months + max(0, cont.extended_months))
    if end < cmd.on:
        found.append(Reason.of("period_ended", period_end=end))
    return cont.period_start, end, found


def _unique(reasons: Iterable[Reason]) -> tuple[Reason, ...]:
    seen: set[str] = set()
    kept = []
    for r in reasons:
        if r.code not in seen:
            seen.add(r.code)
            kept.append(r)
    return tuple(kept)


class Engine:
    """Runs cases through a workflow.

    :param workflow: the workflow definition (default: :func:`bw_integrationsmanagement`).
    :param clock: a zero-argument callable returning an aware datetime (default: the
        system clock in UTC). It stamps ``recorded_at`` and defines "today".
    :param rule_sets: the rule sets by id (default: :data:`imflow.rules.RULE_SETS`).
    :param policies: the host's own guards, run after the workflow's guards.
    :param hooks: callbacks run after :meth:`handle` has built the new case.
    :param timezone: where "today" is decided (default: Europe/Berlin).
    :param accept_hashes: earlier workflow content hashes whose cases may still be
        replayed under this definition.
    :param providers: a provider registry (organisation data); when given,
        :class:`~imflow.commands.TransferCase` accepts only providers registered for
        the case's district (``unknown_provider``). Without it any other non-empty
        provider id is accepted.

    .. versionchanged:: 0.2.0
       ``providers``.
    """

    def __init__(
        self,
        *,
        workflow: Workflow | None = None,
        clock: Clock | None = None,
        rule_sets: Mapping[str, RuleSet] | None = None,
        policies: Sequence[Policy] = (),
        hooks: Hooks | None = None,
        timezone: tzinfo = _BERLIN,
        accept_hashes: Iterable[str] = (),
        providers: Iterable[DistrictOrganisation | Provider] | None = None,
    ) -> None:
        self.workflow = workflow or bw_integrationsmanagement()
        self.clock: Clock = clock or system_clock
        self.rule_sets: Mapping[str, RuleSet] = dict(rule_sets or RULE_SETS)
        self._by_effective_date = sorted(
            self.rule_sets.values(), key=lambda rs: rs.effective_from, reverse=True
        )
        self.policies = tuple(policies)
        self.hooks = hooks
        self.timezone = timezone
        self._compiled = self.workflow.compiled
        self._commands = self._compiled.commands
        self._final = self._compiled.final
        self._workflow_id = self.workflow.id
        self._workflow_hash = self.workflow.hash
        self._hashes = frozenset({self._workflow_hash, *accept_hashes})
        self._field_checks = dict(_FIELD_CHECKS)
        if providers is not None:
            self._field_checks[TransferCase.type] = _registry(providers)
        self._log = structlog.get_logger("imflow")
        self._info_log: Any = _UNRESOLVED
        self._permitted: dict[tuple[str, Role, str], bool] = {}  # rules.may, memoised
        self._day = date.min
        self._day_start = self._day_end = datetime.min.replace(tzinfo=UTC)
        self.hook_failures: list[HookFailure] = []

    # -- time -------------------------------------------------------------------------

    def today(self) -> date:
        """The clock's current date in the engine's time zone."""
        return self._today(self.clock())

    def _today(self, now: datetime) -> date:
        if self._day_start <= now < self._day_end:
            return self._day
        if now.tzinfo is None:
            raise ValueError(f"the engine clock returned the naive datetime {now!r}")
        local = now.astimezone(self.timezone).date()
        self._day = local
        # boundaries in UTC: comparing datetimes of the same tzinfo needs no offset lookup
        start = datetime.combine(local, time(), tzinfo=self.timezone)
        end = datetime.combine(local + _ONE_DAY, time(), tzinfo=self.timezone)
        self._day_start, self._day_end = start.astimezone(UTC), end.astimezone(UTC)
        return local

    # -- opening -------------------------------------------------------------------

    def open(self, command: OpenCase, *, by: Actor) -> Case:
        """Open a case; raises :class:`~imflow.Rejected` with every failing guard."""
        started = 0.0 if self._info_log is None else perf_counter()  # for the log only
        try:
            event = self._decide_open(command, by)
        except Rejected as exc:
            log = self._info()
            if log is None:
                raise
            log.info(
                "command_rejected",
                case_id=command.case_id,
                command="open_case",
                reasons=list(exc.codes),
                duration_ms=round((perf_counter() - started) * 1000, 3),
            )
            raise
        case = _evolve.opened(event, self._compiled)
        self._accepted(case, event, "open_case", None, started)
        return case

    def _decide_open(self, cmd: OpenCase, by: Actor) -> CaseOpened:
        now = self.clock()
        today = self._today(now)
        on = cmd.on
        reasons: list[Reason] = []
        rules = self._rule_set_on(on)
        if rules is None:
            reasons.append(Reason.of("no_rule_set", on=on))
        elif (refused := self._forbidden(rules, by, "open_case", cmd)) is not None:
            reasons.append(refused)
        if on > today:
            reasons.append(Reason.of("date_in_future", on=on, today=today))
        if cmd.district not in _DISTRICT_CODES:
            reasons.append(Reason.of("unknown_district", district=cmd.district))
        if not (cmd.case_id.strip() and cmd.person.strip() and cmd.provider.strip()):
            for name in ("case_id", "person", "provider"):
                if not getattr(cmd, name).strip():
                    reasons.append(_invalid(name, "empty"))
        if cmd.household < 1:
            reasons.append(_invalid("household", "no_person"))
        elif len(cmd.members) > cmd.household - 1:
            reasons.append(_invalid("members", "too_many_members"))
        continues = cmd.continues
        if continues is not None:
            reasons.extend(_continuation_fields(cmd, continues))
        if rules is not None:
            counted_from, period_end, credit_reasons = _credited_period(cmd, rules)
            reasons.extend(credit_reasons)
        if self.policies and rules is not None:
            ctx = _new_guard_context(by, on, today, rules, self.rule_sets)
            reasons.extend(self._policy_reasons(None, cmd, ctx))
        if reasons or rules is None:
            raise Rejected(_unique(reasons), command_type="open_case", case_id=cmd.case_id)
        return _new_case_opened(  # the fields of CaseOpened, in order
            cmd.case_id,  # case_id
            1,  # seq
            on,
            now,  # recorded_at
            by,  # actor
            cmd.person,
            cmd.household,
            cmd.members,
            cmd.district,
            cmd.provider,
            rules.id,  # rule_set
            self._workflow_id,
            self._workflow_hash,
            period_end,
            continues,
            counted_from,
        )

    # -- commands --------------------------------------------------------------------

    def handle(self, case: Case, command: Command, *, by: Actor) -> Case:
        """Apply *command* to *case* and return the new case; *case* is left untouched.

        Raises :class:`~imflow.Rejected` with every failing guard; nothing changes then.
        """
        started = 0.0 if self._info_log is None else perf_counter()  # for the log only
        try:
            event = self._decide(case, command, by)
        except Rejected as exc:
            log = self._info()
            if log is None:
                raise
            log.info(
                "command_rejected",
                case_id=case.case_id,
                command=exc.command_type,
                phase=str(case.phase),
                reasons=list(exc.codes),
                duration_ms=round((perf_counter() - started) * 1000, 3),
            )
            raise
        new = _evolve.apply(case, event, self._compiled)
        self._accepted(new, event, command.type, case.phase, started)
        return new

    def decide(self, case: Case, command: Command, *, by: Actor) -> tuple[Event, ...]:
        """The events *command* would record on *case*, without applying them.

        Pure apart from reading the clock; raises :class:`~imflow.Rejected`.
        """
        return (self._decide(case, command, by),)

    def check(self, case: Case, command: Command, *, by: Actor) -> tuple[Reason, ...]:
        """The reasons *command* would be refused with (empty when it would pass)."""
        try:
            self._decide(case, command, by)
        except Rejected as exc:
            return exc.reasons
        return _NO_REASONS

    def evolve(self, case: Case | None, event: Event) -> Case:
        """*case* with *event* folded in (``None`` and a :class:`CaseOpened` start a case)."""
        if case is None:
            if not isinstance(event, CaseOpened):
                raise InvalidHistory(f"a history starts with case_opened, not {event.type}")
            self._check_workflow(event)
            return _evolve.opened(event, self._compiled)
        if isinstance(event, CaseOpened):
            raise InvalidHistory(f"case {case.case_id!r} is already open")
        if event.case_id != case.case_id:
            raise InvalidHistory(f"event of case {event.case_id!r} in case {case.case_id!r}")
        if event.seq != case.version + 1:
            raise InvalidHistory(
                f"case {case.case_id!r}: event seq {event.seq} follows version {case.version}"
            )
        return _evolve.apply(case, event, self._compiled)

    def replay(self, events: Iterable[Event], *, start: Case | None = None) -> Case:
        """The case that *events* describe, optionally continuing from a snapshot *start*.

        ``engine.replay(case.events) == case`` always holds.
        """
        case = start
        for event in events:
            case = self.evolve(case, event)
        if case is None:
            raise InvalidHistory("no events to replay")
        return case

    def as_of(
        self,
        events: Iterable[Event],
        *,
        on: date | None = None,
        recorded_at: datetime | None = None,
    ) -> Case | None:
        """The case *events* describe as it stood on the business date *on*, as it was
        recorded by the aware datetime *recorded_at* (either may be left out); ``None``
        if it did not exist then. See :mod:`imflow.history`.

        .. versionadded:: 0.2.0
        """
        return as_of(events, on=on, recorded_at=recorded_at, engine=self)

    def _check_workflow(self, event: CaseOpened) -> None:
        if event.workflow != self.workflow.id or event.workflow_hash not in self._hashes:
            raise WorkflowMismatch(
                event.case_id,
                recorded=f"{event.workflow}@{event.workflow_hash}",
                current=f"{self.workflow.id}@{self.workflow.hash}",
            )

    def allowed(
        self, case: Case, *, by: Actor, on: date | None = None
    ) -> Mapping[str, tuple[Reason, ...]]:
        """Every command of the workflow with the reasons it would be refused now.

        An empty tuple means the command is allowed (its field values still get checked
        when it is sent). *on* defaults to the clock's today.
        """
        today = self.today()
        day = today if on is None else on
        rules = self.rule_sets[case.rule_set]
        ctx = _new_guard_context(by, day, today, rules, self.rule_sets)
        answer: dict[str, tuple[Reason, ...]] = {}
        for name, spec in self._commands.items():
            reasons = self._common_reasons(case, spec, by, day, today, rules)
            for guard in spec.guards:
                reasons.extend(guard(case, None, ctx))
            if self.policies:
                reasons.extend(self._policy_reasons(case, None, ctx))
            answer[name] = _unique(reasons)
        return answer

    # -- deadlines and sweeps ----------------------------------------------------------

    def deadlines(self, case: Case, *, on: date | None = None) -> tuple[Deadline, ...]:
        """The case's deadlines due within the info window or overdue on *on* (default:
        today), soonest first (see :mod:`imflow.deadlines`)."""
        return deadlines(
            case, rules=self.rule_sets[case.rule_set], on=self.today() if on is None else on
        )

    def sweep(self, cases: Iterable[Case], *, on: date, by: Actor = SYSTEM) -> SweepResult:
        """Close every open case of *cases* whose period ended before *on*, as
        ``period_expired`` by the ``system`` actor; returns the new cases. Idempotent."""
        return sweep_cases(self, cases, on=on, by=by)

    # -- internals -------------------------------------------------------------------

    def _info(self) -> Any:
        """The logger for INFO events, or ``None`` when the host's filter drops them.

        With ``cache_logger_on_first_use`` the host asked structlog to assemble the logger
        once; then this answer is kept too, so a filtered-out INFO log costs one attribute
        read per command instead of a logger assembly and a dict of fields.
        """
        cached = self._info_log
        if cached is not _UNRESOLVED:
            return cached
        log = self._log.bind()
        enabled = getattr(log, "is_enabled_for", None)
        found = None if enabled is not None and not enabled(logging.INFO) else log
        if structlog.get_config()["cache_logger_on_first_use"] is True:
            self._info_log = found
        return found

    def _rule_set_on(self, on: date) -> RuleSet | None:
        for rules in self._by_effective_date:  # newest first
            if rules.effective_from <= on:
                return rules
        return None

    def _forbidden(
        self, rules: RuleSet, by: Actor, name: str, where: Case | OpenCase
    ) -> Reason | None:
        """Why *by* may not issue *name* on the case *where* (judged by its current
        provider) or the case *where* opens; ``None`` when it may.

        ``forbidden`` says which: the role may never (no variant), or the case belongs
        to another district (``other_district``) or provider (``other_provider``).
        """
        key = (rules.id, by.role, name)
        permitted = self._permitted.get(key)
        if permitted is None:
            permitted = self._permitted[key] = rules.may(by.role, name)
        if not permitted:
            return Reason.of("forbidden", role=by.role, command=name)
        if by.role is not Role.MANAGER:
            return None
        if by.district is not None and by.district != where.district:
            return Reason.of("forbidden", role=by.role, command=name, variant="other_district")
        if by.provider != where.provider:
            return Reason.of("forbidden", role=by.role, command=name, variant="other_provider")
        return None

    def _common_reasons(
        self,
        case: Case,
        spec: CompiledCommand,
        by: Actor,
        on: date,
        today: date,
        rules: RuleSet,
    ) -> list[Reason]:
        reasons: list[Reason] = []
        phase = case.phase
        if phase not in spec.sources:
            if phase in self._final:
                reasons.append(Reason.of("case_closed"))
            else:
                reasons.append(Reason.of("invalid_in_phase", command=spec.name, phase=phase))
        if (refused := self._forbidden(rules, by, spec.name, case)) is not None:
            reasons.append(refused)
        latest = case.events[-1].on
        if on < latest:
            reasons.append(Reason.of("date_out_of_order", on=on, latest=latest))
        if on > today:
            reasons.append(Reason.of("date_in_future", on=on, today=today))
        end = case.period_end
        if end is not None and on > end and not spec.after_period:
            reasons.append(Reason.of("period_ended", period_end=end))
        if spec.needs_consent and case.consent is ConsentStatus.WITHDRAWN:
            reasons.append(Reason.of("consent_missing"))
        return reasons

    def _policy_reasons(
        self, case: Case | None, command: Command | None, ctx: GuardContext
    ) -> list[Reason]:
        found: list[Reason] = []
        for policy in self.policies:
            try:
                found.extend(policy(case, command, ctx))
            except Exception as exc:  # a broken policy refuses instead of half-applying
                name = getattr(policy, "__qualname__", repr(policy))
                self._log.error("policy_failed", policy=name, error=type(exc).__name__)
                found.append(Reason.of("policy_error", policy=name))
        return found

    def _decide(self, case: Case, cmd: Command, by: Actor) -> Event:
        kind = cmd.type
        name = cmd.name if isinstance(cmd, CustomAction) else kind
        spec = self._commands.get(name)
        if spec is None or (name != kind and name in _evolve.BUILTIN_COMMANDS):
            raise Rejected(
                (Reason.of("unknown_command", command=name),),
                command_type=name,
                case_id=case.case_id,
            )
        now = self.clock()
        today = self._today(now)
        on = cmd.on
        rules = self.rule_sets[case.rule_set]
        reasons = self._common_reasons(case, spec, by, on, today, rules)
        field_check = self._field_checks.get(kind)
        if field_check is not None:
            reasons.extend(field_check(case, cmd, rules))
        if spec.guards or self.policies:
            ctx = _new_guard_context(by, on, today, rules, self.rule_sets)
            for guard in spec.guards:
                reasons.extend(guard(case, cmd, ctx))
            if self.policies:
                reasons.extend(self._policy_reasons(case, cmd, ctx))
        if reasons:
            raise Rejected(_unique(reasons), command_type=name, case_id=case.case_id)
        return _EVENT_FACTORIES[kind](case, cmd, by, now, self.rule_sets)

    def _accepted(
        self, case: Case, event: Event, command: str, before: str | None, started: float
    ) -> None:
        log = self._info()
        if log is not None:
            log.info(
                "command_accepted",
                case_id=case.case_id,
                command=command,
                phase_from=before,
                phase_to=case.phase,
                version=len(case.events),
                duration_ms=(perf_counter() - started) * 1000,
            )
        hooks = self.hooks
        if hooks is not None:
            failures = hooks.run((event,), case)
            if not failures:
                return
            for failure in failures:
                self._log.error(
                    "hook_failed",
                    hook=failure.hook,
                    event_type=failure.event_type,
                    case_id=failure.case_id,
                    seq=failure.seq,
                )
            self.hook_failures.extend(failures)


_Factory = Callable[[Case, Any, Actor, datetime, Mapping[str, RuleSet]], Event]
_STAMP = frozenset(f.name for f in attrs.fields(EventBase))


def _extended_end(case: Case, months: int, rule_sets: Mapping[str, RuleSet]) -> date:
    base = rule_sets[case.rule_set].period_months or 0
    total = base + case.credited_extension_months + case.extended_months + months
    return last_day(case.counted_from, months=total)


def _factory(cls: type[Event], **computed: str) -> _Factory:
    """A function that builds the event *cls* for an accepted command.

    Fields that the command has under the same name are copied; *computed* gives
    Python expressions for the others (over ``case``, ``c`` the command and ``rs`` the
    rule sets). Generated once, like :func:`collections.namedtuple`, because building
    the event is on every command's path and keyword dictionaries would cost 30 %.
    """
    stamp = {
        "case_id": "case.case_id",
        "seq": "len(case.events) + 1",
        "on": "c.on",
        "recorded_at": "now",
        "actor": "by",
    }
    assert set(stamp) == _STAMP
    args = ", ".join(
        stamp.get(f.name) or computed.get(f.name, f"c.{f.name}") for f in attrs.fields(cls)
    )
    source = f"def make(case, c, by, now, rs):\n    return new({args})\n"
    namespace: dict[str, Any] = {
        "new": constructor(cls),
        "extended_end": _extended_end,
        "migrated_period_end": migrated_period_end,
    }
    exec(source, namespace)
    make: _Factory = namespace["make"]
    return make


_EVENT_FACTORIES: Mapping[str, _Factory] = {
    "record_consent": _factory(ConsentRecorded),
    "withdraw_consent": _factory(ConsentWithdrawn),
    "record_contact": _factory(ContactRecorded),
    "start_assessment": _factory(AssessmentStarted),
    "record_need": _factory(NeedRecorded),
    "start_planning": _factory(PlanningStarted),
    "add_goal": _factory(GoalAdded),
    "agree_plan": _factory(PlanAgreed, plan_version="len(case.plans)"),
    "set_goal_status": _factory(GoalStatusSet),
    "review_plan": _factory(PlanReviewed),
    "revise_plan": _factory(PlanRevised, plan_version="len(case.plans) + 1"),
    "extend_period": _factory(PeriodExtended, period_end="extended_end(case, c.months, rs)"),
    "close_case": _factory(CaseClosed),
    "reopen_case": _factory(CaseReopened),
    "transfer_case": _factory(CaseTransferred, from_provider="case.provider"),
    "migrate_rule_set": _factory(
        RuleSetMigrated, period_end="migrated_period_end(case, rs[c.rule_set])"
    ),
    "custom_action": _factory(CustomActionTaken),
}
