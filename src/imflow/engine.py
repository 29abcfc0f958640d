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

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import structlog

from imflow import _bounds, _evolve
from imflow._construct import constructor
from imflow.actors import SYSTEM, Actor
from imflow.case import Case
from imflow.clock import Clock, system_clock
from imflow.commands import (
    COMMAND_TYPES,
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
from imflow.errors import InvalidClock, InvalidHistory, OutOfBounds, Rejected, WorkflowMismatch
from imflow.events import (
    EVENT_TYPES,
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
    PersonErased,
    PlanAgreed,
    PlanningStarted,
    PlanReviewed,
    PlanRevised,
    RuleSetMigrated,
)
from imflow.guards import GuardContext, migrated_period_end
from imflow.history import as_of
from imflow.hooks import HookFailure, Hooks
from imflow.logging import LOGGER_NAME, get_logger, info_logger
from imflow.organisations import DistrictOrganisation, Provider
from imflow.period import last_day
from imflow.reasons import Reason
from imflow.rules import RULE_SETS, RuleSet
from imflow.workflow import (
    _EARLIER_DEFAULT_HASHES,
    EVENT_COMMAND,
    CompiledCommand,
    Workflow,
    bw_integrationsmanagement,
)

__all__ = ["MAX_CONTACT_MINUTES", "Engine", "InvalidHistory", "Policy"]

Policy = Callable[[Case | None, Command | None, GuardContext], Iterable[Reason]]
"""A host's own guard: ``(case, command, context) -> reasons``.

``case`` is ``None`` for :class:`~imflow.commands.OpenCase`; ``command`` is ``None``
when the engine answers :meth:`Engine.allowed`.
"""

MAX_CONTACT_MINUTES = _bounds.MAX_CONTACT_MINUTES
"""The longest contact the engine accepts (ten hours)."""

_BERLIN = ZoneInfo("Europe/Berlin")
_ONE_DAY = timedelta(days=1)
_DISTRICT_CODES = frozenset(DISTRICTS)
_new_case_opened = constructor(CaseOpened)
_new_guard_context = constructor(GuardContext)
_UNRESOLVED = object()
_NO_REASONS: tuple[Reason, ...] = ()
_EVENT_CLASSES = frozenset(EVENT_TYPES.values())
_IN_BOUNDS = {kind: _bounds.compile_bounds(cls) for kind, cls in COMMAND_TYPES.items()}
_NO_DAY = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC), date.min)


def _invalid(field: str, problem: str, **params: object) -> Reason:
    """``invalid_value``: *problem* is a code with a message ``problem.<code>``."""
    return Reason.of("invalid_value", field=field, problem=problem, **params)


def _bound_reason(field: str, problem: str) -> Reason:
    """``invalid_value`` for a problem of :mod:`imflow._bounds` (English, for exception
    messages), as a catalogue problem code with its parameters."""
    code, params = _bounds.problem_code(problem)
    return _invalid(field, code, **params)


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
    if _bounds.id_problem(target) or target != case.provider:
        return []  # an id outside the bounds is invalid_value (see _bounds)
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
        target = cmd.to_provider
        if (
            not found
            and not _bounds.id_problem(target)
            and target not in frozen.get(case.district, ())
        ):
            found.append(
                Reason.of("unknown_provider", provider=cmd.to_provider, district=case.district)
            )
        return found

    return check


def _extension_limit(cmd: ExtendPeriod, rules: RuleSet, reasons: list[Reason]) -> None:
    """Refuse more months than the rule set allows, also in a workflow that dropped the
    ``extension_allowed`` guard (which reports it with its own codes)."""
    if cmd.months > rules.extension_max_months and not any(
        r.code in ("extension_limit_exceeded", "no_period_limit") for r in reasons
    ):
        limit = rules.extension_max_months
        reasons.append(_invalid("months", "over_extension_limit", maximum=limit, rule_set=rules.id))


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
    if _bounds.id_problem(cont.case_id):
        found.append(_bound_reason("continues.case_id", _bounds.ID_PROBLEM))
    if cont.district not in _DISTRICT_CODES:
        found.append(_invalid("continues.district", "not_a_district"))
    elif cont.district == cmd.district:
        found.append(_invalid("continues.district", "same_district"))
    if _bounds.date_problem(cont.period_start):
        found.append(_bound_reason("continues.period_start", _bounds.DATE_PROBLEM))
    elif cont.period_start > cmd.on:
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
    if _bounds.date_problem(cmd.on):
        return None, None, []  # refused by the bounds; no period to compute
    if cont is None or not rules.credit_prior_counselling:
        return None, last_day(cmd.on, months=months), []
    found: list[Reason] = []
    if _bounds.date_problem(cont.period_start) or cont.extended_months < 0:
        return None, None, found  # refused by _continuation_fields
    if cont.extended_months > rules.extension_max_months:
        found.append(
            _invalid(
                "continues.extended_months",
                "over_extension_limit",
                maximum=rules.extension_max_months,
                rule_set=rules.id,
            )
        )
        return None, None, found
    end = last_day(cont.period_start, months=months + cont.extended_months)
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
        system clock in UTC). It stamps ``recorded_at`` and defines "today". It is read
        once here already: a clock that returns a naive datetime, or a time whose date
        lies outside 2018-01-01 to 2099-12-31, raises :class:`~imflow.errors.InvalidClock`
        (here, and at any later reading).
    :param rule_sets: the rule sets by id (default: :data:`imflow.rules.RULE_SETS`).
    :param policies: the host's own guards, run after the workflow's guards; a store's
        :meth:`~imflow.store.Store.append` runs them again (see :meth:`admit`).
    :param hooks: callbacks run after :meth:`handle` has built the new case.
    :param timezone: where "today" is decided (default: Europe/Berlin).
    :param accept_hashes: earlier workflow content hashes whose cases may still be
        replayed under this definition.
    :param providers: a provider registry (organisation data); when given,
        :class:`~imflow.commands.TransferCase` accepts only providers registered for
        the case's district (``unknown_provider``). Without it any other non-empty
        provider id is accepted.

    .. versionchanged:: 0.2.0
       ``providers``; the clock is checked at construction; commands are
       checked against the input bounds of domain.md § 8; the ``system`` role may only
       close cases as ``period_expired``; managers act only in their own provider *and*
       district.
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
        default = self._workflow_hash == bw_integrationsmanagement().hash
        earlier = _EARLIER_DEFAULT_HASHES if default else ()
        self._hashes = frozenset({self._workflow_hash, *earlier, *accept_hashes})
        self._field_checks = dict(_FIELD_CHECKS)
        if providers is not None:
            self._field_checks[TransferCase.type] = _registry(providers)
        self._log = get_logger()
        self._struct = structlog.get_logger(LOGGER_NAME)  # structlog's proxy, when configured
        self._info_log: Any = _UNRESOLVED
        self._permitted: dict[tuple[str, Role, str], bool] = {}  # rules.may, memoised
        self._day_cache = _NO_DAY  # (start, end, day): one tuple, replaced atomically
        self._checked_actor: Actor | None = None  # the last actor whose fields passed
        self.hook_failures: list[HookFailure] = []
        self._today(self.clock())  # a clock imflow cannot use fails here, not later

    # -- time -------------------------------------------------------------------------

    def today(self) -> date:
        """The clock's current date in the engine's time zone."""
        return self._today(self.clock())

    def _today(self, now: datetime) -> date:
        start, end, day = self._day_cache
        try:
            if start <= now < end:
                return day
        except TypeError:  # naive, or no datetime at all: _day_of says which
            pass
        self._day_cache = found = self._day_of(now)
        return found[2]

    def _day_of(self, now: Any) -> tuple[datetime, datetime, date]:
        if not isinstance(now, datetime):
            raise InvalidClock(
                f"the engine clock must return an aware datetime, not {_bounds.kind_of(now)}"
            )
        if now.utcoffset() is None:
            raise InvalidClock(
                "the engine clock returned a naive datetime; clocks must be timezone-aware"
            )
        try:
            local = now.astimezone(self.timezone).date()
            # boundaries in UTC: comparing datetimes of the same tzinfo needs no offset lookup
            start = datetime.combine(local, time(), tzinfo=self.timezone).astimezone(UTC)
            end = datetime.combine(local + _ONE_DAY, time(), tzinfo=self.timezone)
            end = end.astimezone(UTC)
        except (OverflowError, ValueError):
            local = None
        if local is None or _bounds.date_problem(local) is not None:
            raise InvalidClock(
                f"the engine clock's date lies outside {_bounds.MIN_DATE} to {_bounds.MAX_DATE}"
            )
        return start, end, local

    def _check_day(self, name: str, day: date | None) -> None:
        if day is not None and (type(day) is not date or _bounds.date_problem(day)):
            raise OutOfBounds(name, _bounds.DATE_PROBLEM)

    # -- actors and permissions ------------------------------------------------------

    def _check_actor(self, by: Actor, command: str) -> None:
        """Refuse an actor whose fields are no valid ids (the last good one is remembered)."""
        if type(by) is not Actor:
            raise TypeError(f"'by' must be an imflow.Actor, got {_bounds.kind_of(by)}")
        if not _bounds.actor_ok(by):
            problems = _bounds.actor_problems(by)
            field = f"by.{problems[0][0]}" if problems else "by"
            raise Rejected((_bound_reason(field, _bounds.ID_PROBLEM),), command_type=command)
        self._checked_actor = by

    def _forbidden(
        self,
        rules: RuleSet,
        by: Actor,
        name: str,
        provider: str,
        district: str,
        command: Command | None = None,
    ) -> bool:
        """Whether *by* may not issue *name* on a case of *provider* in *district*.

        domain.md § 6: managers act on their own provider's cases in their own district;
        coordinators and auditors issue no commands; the ``system`` actor only closes
        cases as ``period_expired`` (deadline sweeps). The rule set's permissions may
        restrict further.
        """
        role = by.role
        if role is Role.COORDINATOR or role is Role.AUDITOR:
            return True
        key = (rules.id, role, name)
        permitted = self._permitted.get(key)
        if permitted is None:
            permitted = self._permitted[key] = rules.may(role, name)
        if not permitted:
            return True
        if role is Role.MANAGER:
            return by.provider != provider or by.district != district
        # Role.SYSTEM: deadline sweeps only
        return name != "close_case" or (
            isinstance(command, CloseCase) and command.reason is not ClosureReason.PERIOD_EXPIRED
        )

    def may(self, command: Command, *, by: Actor, case: Case | None = None) -> bool:
        """Whether the role table lets *by* issue *command* on *case* (for an
        :class:`~imflow.commands.OpenCase`: open that case). Guards are not asked.

        .. versionadded:: 0.2.0
        """
        if type(by) is not Actor:
            return False
        if isinstance(command, OpenCase):
            rules = self._rule_set_on(command.on)
            return rules is not None and not self._forbidden(
                rules, by, "open_case", command.provider, command.district, command
            )
        if case is None:
            raise TypeError("may() needs the case a command acts on")
        name = command.name if isinstance(command, CustomAction) else command.type
        return not self._forbidden(
            self._rules(case), by, name, case.provider, case.district, command
        )

    def _forbidden_reason(
        self, rules: RuleSet, by: Actor, name: str, provider: str, district: str
    ) -> Reason:
        """The ``forbidden`` reason, saying what is wrong: the role may never issue
        *name* (no variant), or the case belongs to another district (``other_district``)
        or provider (``other_provider``) than the manager's."""
        if by.role is Role.MANAGER and rules.may(by.role, name):
            if by.district != district:
                return Reason.of("forbidden", role=by.role, command=name, variant="other_district")
            if by.provider != provider:
                return Reason.of("forbidden", role=by.role, command=name, variant="other_provider")
        return Reason.of("forbidden", role=by.role, command=name)

    @staticmethod
    def forbidden_reason(by: Actor, command: str) -> Reason:
        """The reason ``forbidden`` for *by* and *command*."""
        return Reason.of("forbidden", role=by.role.value, command=command)

    def _rules(self, case: Case) -> RuleSet:
        try:
            return self.rule_sets[case.rule_set]
        except KeyError:
            raise InvalidHistory("the case's rule set is not known to this engine") from None

    # -- opening -------------------------------------------------------------------

    def open(self, command: OpenCase, *, by: Actor) -> Case:
        """Open a case; raises :class:`~imflow.Rejected` with every failing guard."""
        started = 0.0 if self._info_log is None else perf_counter()  # for the log only
        try:
            event = self._decide_open(command, by, None, True)
        except Rejected as exc:
            log = self._info()
            if log is None:
                raise
            log.info(
                "command_rejected",
                case_id=exc.case_id,
                command="open_case",
                reasons=list(exc.codes),
                duration_ms=round((perf_counter() - started) * 1000, 3),
            )
            raise
        case = _evolve.opened(event, self._compiled)
        self._accepted(case, event, "open_case", None, started)
        return case

    def _decide_open(
        self, cmd: OpenCase, by: Actor, now: datetime | None, policies: bool
    ) -> CaseOpened:
        if by is not self._checked_actor:
            self._check_actor(by, "open_case")
        if now is None:
            now = self.clock()
        today = self._today(now)
        on = cmd.on
        in_bounds = _IN_BOUNDS["open_case"](cmd)
        # a case id outside the bounds is never quoted, not even in the error message
        case_id = cmd.case_id if in_bounds or not _bounds.id_problem(cmd.case_id) else None
        rules = self._rule_set_on(on)
        if rules is not None and self._forbidden(
            rules, by, "open_case", cmd.provider, cmd.district, cmd
        ):
            reason = self._forbidden_reason(rules, by, "open_case", cmd.provider, cmd.district)
            raise Rejected((reason,), command_type="open_case", case_id=case_id)
        reasons: list[Reason] = []
        if rules is None:
            reasons.append(Reason.of("no_rule_set", on=on))
        if on > today:
            reasons.append(Reason.of("date_in_future", on=on, today=today))
        if cmd.district not in _DISTRICT_CODES and not _bounds.id_problem(cmd.district):
            reasons.append(Reason.of("unknown_district", district=cmd.district))
        if not in_bounds:
            reasons.extend(_bound_reason(f, p) for f, p in _bounds.bound_problems(cmd))
        if 1 <= cmd.household <= _bounds.MAX_HOUSEHOLD and len(cmd.members) > cmd.household - 1:
            reasons.append(_invalid("members", "too_many_members"))
        continues = cmd.continues
        if continues is not None:
            reasons.extend(_continuation_fields(cmd, continues))
        counted_from: date | None = None
        period_end: date | None = None
        if rules is not None:
            counted_from, period_end, credit_reasons = _credited_period(cmd, rules)
            reasons.extend(credit_reasons)
        if policies and self.policies and rules is not None:
            ctx = _new_guard_context(by, on, today, rules, self.rule_sets)
            reasons.extend(self._policy_reasons(None, cmd, ctx))
        if reasons or rules is None:
            raise Rejected(_unique(reasons), command_type="open_case", case_id=case_id)
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
        An actor who may not act on the case at all gets the one reason ``forbidden``,
        so that a refusal tells nothing about a case outside the actor's scope.
        """
        started = 0.0 if self._info_log is None else perf_counter()  # for the log only
        try:
            event = self._decide(case, command, by, None, True)
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
        return (self._decide(case, command, by, None, True),)

    def check(self, case: Case, command: Command, *, by: Actor) -> tuple[Reason, ...]:
        """The reasons *command* would be refused with (empty when it would pass)."""
        try:
            self._decide(case, command, by, None, True)
        except Rejected as exc:
            return exc.reasons
        return _NO_REASONS

    # -- histories: the validating door ---------------------------------------------

    def admit(self, case: Case | None, events: Iterable[Event]) -> Case:
        """*case* (``None`` for a new one) with *events* appended, each re-decided.

        This is what every store's :meth:`~imflow.store.Store.append` asks before it
        writes: an event is admitted only if this engine could have recorded it on the
        case as it stands. Its command is rebuilt from the event's fields and decided
        again as its ``actor``, on a clock frozen at its ``recorded_at``, against every
        guard, permission, input bound and policy; the event the engine would record
        must equal the given one. ``recorded_at`` must be aware, within the date bounds,
        not earlier than the case's latest event and not later than this engine's clock.
        :class:`~imflow.events.PersonErased` is refused (only ``erase_person`` records
        it). Raises :class:`~imflow.InvalidHistory` naming the event and the rule.

        .. versionadded:: 0.2.0
        """
        now = self.clock()
        self._today(now)
        try:
            for event in events:
                case = self._admit(case, event, now, policies=True, erasure=False)
        except WorkflowMismatch:
            raise InvalidHistory(
                "event 1 (case_opened): recorded under another workflow than the store's engine"
            ) from None
        if case is None:
            raise InvalidHistory("no events to append")
        return case

    def evolve(self, case: Case | None, event: Event) -> Case:
        """*case* with *event* folded in (``None`` and a :class:`CaseOpened` start a case).

        The event is checked as by :meth:`replay`; raises :class:`~imflow.InvalidHistory`.
        """
        return self.replay((event,), start=case)

    def replay(self, events: Iterable[Event], *, start: Case | None = None) -> Case:
        """The case that *events* describe, optionally continuing from a snapshot *start*.

        ``engine.replay(case.events) == case`` always holds. Every event is checked as
        :meth:`admit` checks an append, against the workflow's guards, permissions and
        bounds (not the host's policies, which may have changed since the event was
        recorded); a history with :class:`~imflow.events.PersonErased` is accepted
        when every event before the erasure holds erased content. Raises
        :class:`~imflow.InvalidHistory` or :class:`~imflow.WorkflowMismatch`.
        """
        now = self.clock()
        self._today(now)
        case = start
        for event in events:
            case = self._admit(case, event, now, policies=False, erasure=True)
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

    def _admit(
        self,
        case: Case | None,
        event: Event,
        now: datetime,
        *,
        policies: bool,
        erasure: bool,
    ) -> Case:
        cls = type(event)
        seq = 1 if case is None else case.version + 1
        if cls not in _EVENT_CLASSES:
            raise InvalidHistory(f"event {seq}: {_bounds.kind_of(event)} is no imflow event")
        label = f"event {seq} ({event.type})"
        exact_types: type = cls
        if not _bounds.compile_types(exact_types)(event):
            found = _bounds.type_problem(event) or ("?", "of another type")
            raise InvalidHistory(f"{label}: field {found[0]}: {found[1]}")
        if case is None:
            if not isinstance(event, CaseOpened):
                raise InvalidHistory(f"a history starts with case_opened, not {event.type}")
            self._check_workflow(event)
        else:
            if isinstance(event, CaseOpened):
                raise InvalidHistory(f"{label}: the case is already open")
            if event.case_id != case.case_id:
                raise InvalidHistory(f"{label}: the event belongs to another case")
            if event.seq != seq:
                raise InvalidHistory(f"{label}: its seq does not follow the case's version")
        recorded = event.recorded_at
        try:
            self._today(recorded)
        except InvalidClock:
            raise InvalidHistory(f"{label}: recorded_at {_bounds.DATE_PROBLEM}") from None
        if case is not None and recorded < case.events[-1].recorded_at:
            raise InvalidHistory(f"{label}: recorded_at is earlier than the case's latest event")
        if recorded > now:
            raise InvalidHistory(f"{label}: recorded_at is later than the engine clock's now")
        if isinstance(event, PersonErased):
            assert case is not None
            if not erasure:
                raise InvalidHistory(f"{label}: person_erased is recorded only by erase_person")
            self._check_erasure(case, event, label)
            return _evolve.apply(case, event, self._compiled)
        command = _command_of(event, label)
        try:
            if case is None:
                assert isinstance(command, OpenCase)
                expected: Event = self._decide_open(command, event.actor, recorded, policies)
            else:
                expected = self._decide(case, command, event.actor, recorded, policies)
        except Rejected as exc:
            codes = ", ".join(exc.codes)
            raise InvalidHistory(f"{label}: the engine refuses its command ({codes})") from None
        if (
            isinstance(event, CaseOpened)
            and isinstance(expected, CaseOpened)
            and event.workflow_hash in self._hashes
        ):
            expected = attrs.evolve(expected, workflow_hash=event.workflow_hash)
        if expected != event:
            differs = next(
                (
                    f.name
                    for f in attrs.fields(cls)
                    if getattr(expected, f.name) != getattr(event, f.name)
                ),
                "type",
            )
            raise InvalidHistory(
                f"{label}: field {differs} is not what the engine records for its command"
            )
        if case is None:
            assert isinstance(event, CaseOpened)
            return _evolve.opened(event, self._compiled)
        return _evolve.apply(case, event, self._compiled)

    def _check_erasure(self, case: Case, event: PersonErased, label: str) -> None:
        if not _bounds.actor_ok(event.actor) or _bounds.date_problem(event.on):
            raise InvalidHistory(f"{label}: its actor or date is outside the bounds")
        if event.on < case.latest_on:
            raise InvalidHistory(f"{label}: its date is earlier than the case's latest event")
        # folding it erases the content of the events before it, as erase_person does

    def _check_workflow(self, event: CaseOpened) -> None:
        if event.workflow != self.workflow.id or event.workflow_hash not in self._hashes:
            recorded = f"{event.workflow}@{event.workflow_hash}"
            raise WorkflowMismatch(
                event.case_id if not _bounds.id_problem(str(event.case_id)) else "<invalid>",
                recorded=recorded if not _bounds.id_problem(recorded) else "<invalid>",
                current=f"{self.workflow.id}@{self.workflow.hash}",
            )

    def allowed(
        self, case: Case, *, by: Actor, on: date | None = None
    ) -> Mapping[str, tuple[Reason, ...]]:
        """Every command of the workflow with the reasons it would be refused now.

        An empty tuple means the command is allowed (its field values still get checked
        when it is sent). *on* defaults to the clock's today. For an actor who may not
        issue a command on this case the answer is only ``forbidden``.
        """
        self._check_day("on", on)
        if by is not self._checked_actor:
            self._check_actor(by, "allowed")
        today = self.today()
        day = today if on is None else on
        rules = self._rules(case)
        ctx = _new_guard_context(by, day, today, rules, self.rule_sets)
        provider, district = case.provider, case.district
        answer: dict[str, tuple[Reason, ...]] = {}
        for name, spec in self._commands.items():
            if self._forbidden(rules, by, name, provider, district):
                answer[name] = (self._forbidden_reason(rules, by, name, provider, district),)
                continue
            reasons = self._common_reasons(case, spec, day, today)
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
        self._check_day("on", on)
        return deadlines(case, rules=self._rules(case), on=self.today() if on is None else on)

    def sweep(self, cases: Iterable[Case], *, on: date, by: Actor = SYSTEM) -> SweepResult:
        """Close every open case of *cases* whose period ended before *on*, as
        ``period_expired`` by the ``system`` actor; returns the new cases. Idempotent."""
        self._check_day("on", on)
        return sweep_cases(self, cases, on=on, by=by)

    # -- internals -------------------------------------------------------------------

    def _info(self) -> Any:
        """The logger for INFO events, or ``None`` when nobody listens to them.

        With structlog's ``cache_logger_on_first_use`` the host asked structlog to
        assemble the logger once; then this answer is kept too, so a filtered-out INFO
        log costs one attribute read per command instead of a logger assembly and a dict
        of fields. Unconfigured (or on standard logging) it costs one level check.
        """
        cached = self._info_log
        if cached is not _UNRESOLVED:
            return cached
        found, keep = info_logger(self._struct)
        if keep:
            self._info_log = found
        return found

    def _rule_set_on(self, on: date) -> RuleSet | None:
        for rules in self._by_effective_date:  # newest first
            if rules.effective_from <= on:
                return rules
        return None

    def _common_reasons(
        self,
        case: Case,
        spec: CompiledCommand,
        on: date,
        today: date,
    ) -> list[Reason]:
        reasons: list[Reason] = []
        phase = case.phase
        if phase not in spec.sources:
            if phase in self._final:
                reasons.append(Reason.of("case_closed"))
            else:
                reasons.append(Reason.of("invalid_in_phase", command=spec.name, phase=phase))
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

    def _decide(
        self, case: Case, cmd: Command, by: Actor, now: datetime | None, policies: bool
    ) -> Event:
        kind = cmd.type
        name = cmd.name if isinstance(cmd, CustomAction) else kind
        if by is not self._checked_actor:
            self._check_actor(by, kind)
        spec = self._commands.get(name)
        if spec is None or (name != kind and name in _evolve.BUILTIN_COMMANDS):
            reason = (
                _bound_reason("name", _bounds.ID_PROBLEM)
                if _bounds.id_problem(name)
                else Reason.of("unknown_command", command=name)
            )
            raise Rejected((reason,), command_type=kind, case_id=case.case_id)
        if now is None:
            now = self.clock()
        today = self._today(now)
        on = cmd.on
        rules = self._rules(case)
        if self._forbidden(rules, by, name, case.provider, case.district, cmd):
            reason = self._forbidden_reason(rules, by, name, case.provider, case.district)
            raise Rejected((reason,), command_type=name, case_id=case.case_id)
        reasons = self._common_reasons(case, spec, on, today)
        if not _IN_BOUNDS[kind](cmd):
            reasons.extend(_bound_reason(f, p) for f, p in _bounds.bound_problems(cmd))
        field_check = self._field_checks.get(kind)
        if field_check is not None:
            reasons.extend(field_check(case, cmd, rules))
        if spec.guards or (policies and self.policies):
            ctx = _new_guard_context(by, on, today, rules, self.rule_sets)
            for guard in spec.guards:
                reasons.extend(guard(case, cmd, ctx))
            if policies and self.policies:
                reasons.extend(self._policy_reasons(case, cmd, ctx))
        if kind == "extend_period":
            assert isinstance(cmd, ExtendPeriod)
            _extension_limit(cmd, rules, reasons)
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


def trusted_fold(engine: Engine, case: Case | None, events: Iterable[Event]) -> Case:
    """*case* with *events* folded in **without** re-deciding them (private to imflow).

    Only for a store's own rows, each admitted by :meth:`Engine.admit` when it was
    written, so that loading stays fast. Anything from outside goes through
    :meth:`Engine.replay`. Raises :class:`~imflow.InvalidHistory` for rows that do not
    fold (a database edited by hand) and :class:`~imflow.WorkflowMismatch`.
    """
    compiled = engine._compiled
    try:
        rest = iter(events)
        if case is None:
            first = next(rest, None)
            if first is None:
                raise InvalidHistory("no events")
            if not isinstance(first, CaseOpened):
                raise InvalidHistory("a history starts with case_opened")
            engine._check_workflow(first)
            case = _evolve.opened(first, compiled)
        case = _evolve.fold(case, rest, compiled)
    except (IndexError, KeyError, AttributeError, TypeError) as exc:
        raise InvalidHistory(f"stored events do not fold ({type(exc).__name__})") from None
    if case is None:
        raise InvalidHistory("no events")
    return case


def _rebuildable() -> dict[str, tuple[type[Command], tuple[str, ...]]]:
    """For each event type: the command class that records it and the fields they share.

    Built from the field names, so that a new command and event pair is covered
    without a table: the command's fields must all be on the event (or have a default).
    """
    names = {**EVENT_COMMAND, "case_opened": "open_case", "custom_action_taken": "custom_action"}
    table: dict[str, tuple[type[Command], tuple[str, ...]]] = {}
    for tag, event_cls in EVENT_TYPES.items():
        command_cls = COMMAND_TYPES.get(names.get(tag, ""))
        if command_cls is None:
            continue
        on_event = {f.name for f in attrs.fields(event_cls)}
        shared = [f.name for f in attrs.fields(command_cls) if f.name in on_event]
        missing = [
            f.name
            for f in attrs.fields(command_cls)
            if f.name not in on_event and f.default is attrs.NOTHING
        ]
        if not missing:
            table[tag] = (command_cls, tuple(shared))
    return table


REBUILDABLE = _rebuildable()
"""Event type → (command class, shared fields): how :meth:`Engine.admit` rebuilds the
command of an event (private to imflow, not part of ``__all__``)."""


def command_of(event: Event) -> Command:
    """The command that records *event* (its fields rebuilt from the event's).

    Raises :class:`~imflow.InvalidHistory` for an event no command records
    (:class:`~imflow.events.PersonErased`).

    .. versionadded:: 0.2.0
    """
    return _command_of(event, event.type)


def _command_of(event: Event, label: str) -> Command:
    found = REBUILDABLE.get(event.type)
    if found is None:
        raise InvalidHistory(f"{label}: no command records this event")
    cls, names = found
    try:
        return cls(**{n: getattr(event, n) for n in names})
    except (TypeError, ValueError):
        raise InvalidHistory(f"{label}: its fields do not make a {cls.type} command") from None


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
