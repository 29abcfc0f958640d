"""Named guards: the programme's rules that a workflow attaches to its commands.

A guard is a plain function ``(case, command, context) -> reasons``. It returns an
empty tuple when the command may proceed. ``command`` is ``None`` when the engine asks
"what may I do next?" (:meth:`imflow.Engine.allowed`); guards that judge a command's
fields then return no reasons.

Workflows refer to guards by name; :data:`BUILTIN_GUARDS` holds the ones imflow ships,
hosts add their own with :meth:`imflow.Workflow.extend`.

>>> sorted(BUILTIN_GUARDS)[:3]
['closure_reason_holds', 'consent_given', 'extension_allowed']

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from types import MappingProxyType

import attrs

from imflow.actors import Actor
from imflow.case import Case
from imflow.commands import AddGoal, CloseCase, Command, ExtendPeriod, MigrateRuleSet
from imflow.enums import ClosureReason, ConsentStatus, GoalStatus, Phase
from imflow.period import last_day
from imflow.reasons import Reason
from imflow.rules import RULE_SETS, RuleSet

__all__ = [
    "BUILTIN_GUARDS",
    "Guard",
    "GuardContext",
    "goals_achieved",
    "migrated_period_end",
]


@attrs.frozen
class GuardContext:
    """What a guard may consult besides the case and the command.

    ``on`` is the business date of the act, ``today`` the engine clock's date and
    ``rules`` the case's rule set.
    """

    actor: Actor
    on: date
    today: date
    rules: RuleSet
    rule_sets: Mapping[str, RuleSet] = RULE_SETS


Guard = Callable[[Case, Command | None, GuardContext], Iterable[Reason]]
"""A guard: returns the reasons that refuse the command, or nothing."""

_NONE: tuple[Reason, ...] = ()
_REOPEN_BLOCKERS = frozenset({ClosureReason.GOALS_ACHIEVED, ClosureReason.PERIOD_EXPIRED})


def goals_achieved(case: Case) -> bool:
    """Whether every goal of the current plan is settled and at least one achieved."""
    plan = case.plan
    if plan is None or not plan.goals:
        return False
    return all(g.status.final for g in plan.goals) and any(
        g.status is GoalStatus.ACHIEVED for g in plan.goals
    )


def consent_given(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """``consent_missing`` unless the client has consented (and not withdrawn)."""
    if case.consent is ConsentStatus.GIVEN:
        return _NONE
    return (Reason.of("consent_missing"),)


def has_needs(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """``no_needs`` until a need has been recorded."""
    return _NONE if case.needs else (Reason.of("no_needs"),)


def has_goals(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """``no_goals`` when the draft plan has no goal and the rule set makes plans mandatory."""
    plan = case.plan
    if not ctx.rules.plan_mandatory or (plan is not None and plan.goals):
        return _NONE
    return (Reason.of("no_goals"),)


def goal_within_period(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """``target_after_period_end`` when a goal's target date lies after the period."""
    if (
        isinstance(command, AddGoal)
        and case.period_end is not None
        and command.target_date > case.period_end
    ):
        return (
            Reason.of(
                "target_after_period_end",
                target_date=command.target_date,
                period_end=case.period_end,
            ),
        )
    return _NONE


def extension_allowed(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """An extension needs a limited period, a justification and room under the maximum
    (which extensions credited from an earlier case share)."""
    rules = ctx.rules
    if rules.period_months is None:
        return (Reason.of("no_period_limit", rule_set=rules.id),)
    used = case.credited_extension_months + case.extended_months
    remaining = rules.extension_max_months - used
    if command is None:
        if remaining <= 0:
            return (Reason.of("extension_limit_exceeded", requested=1, remaining=0),)
        return _NONE
    if not isinstance(command, ExtendPeriod):
        return _NONE
    found: list[Reason] = []
    if not command.justification.strip():
        found.append(Reason.of("justification_missing"))
    if command.months > remaining or remaining <= 0:  # no month left: every ask is over
        found.append(
            Reason.of("extension_limit_exceeded", requested=command.months, remaining=remaining)
        )
    return found


def closure_reason_holds(
    case: Case, command: Command | None, ctx: GuardContext
) -> Iterable[Reason]:
    """``goals_achieved`` and ``period_expired`` are closure reasons only when true."""
    if not isinstance(command, CloseCase):
        return _NONE
    if command.reason is ClosureReason.GOALS_ACHIEVED and not goals_achieved(case):
        return (Reason.of("goals_not_achieved"),)
    if command.reason is ClosureReason.PERIOD_EXPIRED and (
        case.period_end is None or command.on <= case.period_end
    ):
        return (Reason.of("period_not_ended", period_end=case.period_end or "—"),)
    return _NONE


def reopen_allowed(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """A case closed as ``goals_achieved`` or ``period_expired`` stays closed."""
    closure = case.closure
    if closure is not None and closure.reason in _REOPEN_BLOCKERS:
        return (Reason.of("reopen_not_allowed", reason=closure.reason.value),)
    return _NONE


def migrated_period_end(case: Case, target: RuleSet) -> date | None:
    """The last day of *case*'s period under *target*, keeping its extensions (and the
    counselling time credited from an earlier case)."""
    if target.period_months is None:
        return None
    months = target.period_months + case.credited_extension_months + case.extended_months
    return last_day(case.counted_from, months=months)


def rule_set_newer(case: Case, command: Command | None, ctx: GuardContext) -> Iterable[Reason]:
    """A case moves only to a newer rule set in force, and only if it keeps its rules."""
    if not isinstance(command, MigrateRuleSet):
        return _NONE
    target = ctx.rule_sets.get(command.rule_set)
    if target is None:
        return (Reason.of("unknown_rule_set", rule_set=command.rule_set),)
    found: list[Reason] = []
    if target.effective_from <= ctx.rules.effective_from:
        found.append(Reason.of("rule_set_not_newer", rule_set=target.id, current=ctx.rules.id))
    if target.effective_from > command.on:
        found.append(
            Reason.of(
                "rule_set_not_in_force", rule_set=target.id, effective_from=target.effective_from
            )
        )
    new_end = migrated_period_end(case, target)
    if new_end is not None:
        if command.on > new_end:
            found.append(Reason.of("period_ended", period_end=new_end))
        used = case.credited_extension_months + case.extended_months
        if used > target.extension_max_months:
            found.append(
                Reason.of(
                    "extension_limit_exceeded",
                    requested=used,
                    remaining=target.extension_max_months,
                )
            )
        plan = case.plan
        if plan is not None and any(g.target_date > new_end for g in plan.goals):
            late = max(g.target_date for g in plan.goals)
            found.append(Reason.of("target_after_period_end", target_date=late, period_end=new_end))
    plan = case.agreed_plan
    if (
        target.plan_mandatory
        and case.phase == Phase.MONITORING
        and (plan is None or not plan.goals)
    ):
        found.append(Reason.of("no_goals"))
    return found


BUILTIN_GUARDS: Mapping[str, Guard] = MappingProxyType(
    {
        "closure_reason_holds": closure_reason_holds,
        "consent_given": consent_given,
        "extension_allowed": extension_allowed,
        "goal_within_period": goal_within_period,
        "has_goals": has_goals,
        "has_needs": has_needs,
        "reopen_allowed": reopen_allowed,
        "rule_set_newer": rule_set_newer,
    }
)
"""The guards imflow ships, by name."""
