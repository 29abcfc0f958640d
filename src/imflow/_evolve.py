"""Private: folding events into cases. Pure functions, no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from imflow._construct import constructor
from imflow.case import Case, Closure, Contact, Extension, Goal, Need, Plan, Transfer
from imflow.chain import Chain
from imflow.enums import ConsentStatus
from imflow.erasure import _blank, tombstone
from imflow.events import (
    CaseClosed,
    CaseOpened,
    CaseTransferred,
    ContactRecorded,
    CustomActionTaken,
    Event,
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
from imflow.workflow import EVENT_COMMAND, Compiled

__all__: list[str] = []

BUILTIN_COMMANDS = frozenset(EVENT_COMMAND.values())
"""Command names that have a dedicated command class (not a CustomAction)."""

_T = TypeVar("_T", bound=attrs.AttrsInstance)
_replace = attrs.evolve  # for the rare paths (erasure)


_new_case = constructor(Case)
_new_contact = constructor(Contact)


def _compile_replace(cls: type[_T]) -> Callable[[_T, dict[str, Any]], _T]:
    """A fast ``attrs.evolve`` for *cls*: the engine's hottest allocations use it.

    For each set of changed fields (the handlers below always change the same ones, in
    the same order) a straight call of ``cls(...)`` is generated on first use, like
    :func:`collections.namedtuple` does: changed fields come from the dict, the others
    from the old value, with no lookup per unchanged field.
    """
    fields = attrs.fields(cls)
    names = {f.name for f in fields}
    compiled: dict[tuple[str, ...], Callable[[_T, dict[str, Any]], _T]] = {}

    def compile_for(keys: tuple[str, ...]) -> Callable[[_T, dict[str, Any]], _T]:
        unknown = set(keys) - names
        if unknown:
            raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")

        args = ", ".join(
            f"changes[{f.name!r}]" if f.name in keys else f"obj.{f.name}" for f in fields
        )
        namespace: dict[str, Any] = {"new": constructor(cls)}
        exec(f"def replace(obj, changes):\n    return new({args})\n", namespace)
        made: Callable[[_T, dict[str, Any]], _T] = namespace["replace"]
        compiled[keys] = made
        return made

    def replace(obj: _T, changes: dict[str, Any]) -> _T:
        keys = tuple(changes)
        made = compiled.get(keys)
        if made is None:
            made = compile_for(keys)
        return made(obj, changes)

    return replace


replace_case = _compile_replace(Case)
_replace_plan = _compile_replace(Plan)
_replace_goal = _compile_replace(Goal)


def opened(event: CaseOpened, compiled: Compiled) -> Case:
    """The case a :class:`CaseOpened` event starts."""
    return _new_case(  # the fields of Case, in order
        event.case_id,
        compiled.initial,  # phase
        event.rule_set,
        event.period_end,
        (),  # extensions
        ConsentStatus.MISSING,
        (),  # needs
        (),  # plans
        Chain(),  # contacts
        (),  # transfers
        None,  # closure
        Chain((event,)),  # events
    )


def _with_plan(case: Case, plan: Plan, **changes: Any) -> dict[str, Any]:
    changes["plans"] = (*case.plans[:-1], plan)
    return changes


def _consent_given(case: Case, ev: Any) -> dict[str, Any]:
    return {"consent": ConsentStatus.GIVEN}


def _consent_withdrawn(case: Case, ev: Any) -> dict[str, Any]:
    return {"consent": ConsentStatus.WITHDRAWN}


def _contact(case: Case, ev: ContactRecorded) -> dict[str, Any]:
    contact = _new_contact(ev.on, ev.minutes, ev.channel, ev.topics)
    return {"contacts": case.contacts.appended(contact)}


def _need(case: Case, ev: NeedRecorded) -> dict[str, Any]:
    return {"needs": (*case.needs, Need(ev.area, ev.note, ev.on))}


def _new_plan(case: Case, ev: PlanningStarted | PlanRevised) -> dict[str, Any]:
    previous = case.plan
    goals = previous.goals if previous is not None else ()
    return {"plans": (*case.plans, Plan(len(case.plans) + 1, ev.on, goals))}


def _goal(case: Case, ev: GoalAdded) -> dict[str, Any]:
    plan = case.plans[-1]
    goal = Goal(ev.goal_id, ev.area, ev.description, ev.target_date)
    return _with_plan(case, _replace_plan(plan, {"goals": (*plan.goals, goal)}))


def _agreed(case: Case, ev: PlanAgreed) -> dict[str, Any]:
    return _with_plan(case, _replace_plan(case.plans[-1], {"agreed_on": ev.on}))


def _goal_status(case: Case, ev: GoalStatusSet) -> dict[str, Any]:
    plan = case.plans[-1]
    goals = tuple(
        _replace_goal(g, {"status": ev.status, "status_on": ev.on})
        if g.goal_id == ev.goal_id
        else g
        for g in plan.goals
    )
    return _with_plan(case, _replace_plan(plan, {"goals": goals}))


def _reviewed(case: Case, ev: PlanReviewed) -> dict[str, Any]:
    plan = case.plans[-1]
    return _with_plan(case, _replace_plan(plan, {"reviews": (*plan.reviews, ev.on)}))


def _extended(case: Case, ev: PeriodExtended) -> dict[str, Any]:
    ext = Extension(ev.on, ev.months, ev.justification, ev.period_end)
    return {"extensions": (*case.extensions, ext), "period_end": ev.period_end}


def _transferred(case: Case, ev: CaseTransferred) -> dict[str, Any]:
    moved = Transfer(ev.on, ev.from_provider, ev.to_provider, ev.note)
    return {"transfers": (*case.transfers, moved)}


def _closed(case: Case, ev: CaseClosed) -> dict[str, Any]:
    return {"closure": Closure(ev.reason, ev.on, ev.note)}


def _reopened(case: Case, ev: Any) -> dict[str, Any]:
    return {"closure": None}


def _migrated(case: Case, ev: RuleSetMigrated) -> dict[str, Any]:
    return {"rule_set": ev.rule_set, "period_end": ev.period_end}


def _erased(case: Case, ev: Any) -> dict[str, Any]:
    closure = case.closure
    return {
        "events": Chain(tombstone(e) for e in case.events),
        "needs": tuple(_replace(n, note=_blank(n.note)) for n in case.needs),
        "plans": tuple(
            _replace(
                p, goals=tuple(_replace(g, description=_blank(g.description)) for g in p.goals)
            )
            for p in case.plans
        ),
        "extensions": tuple(
            _replace(e, justification=_blank(e.justification)) for e in case.extensions
        ),
        "transfers": tuple(_replace(t, note=_blank(t.note)) for t in case.transfers),
        "closure": None if closure is None else _replace(closure, note=_blank(closure.note)),
    }


def _nothing(case: Case, ev: Any) -> dict[str, Any]:
    return {}


_APPLY: Mapping[str, Callable[[Case, Any], dict[str, Any]]] = {
    "consent_recorded": _consent_given,
    "consent_withdrawn": _consent_withdrawn,
    "contact_recorded": _contact,
    "assessment_started": _nothing,
    "need_recorded": _need,
    "planning_started": _new_plan,
    "goal_added": _goal,
    "plan_agreed": _agreed,
    "goal_status_set": _goal_status,
    "plan_reviewed": _reviewed,
    "plan_revised": _new_plan,
    "period_extended": _extended,
    "case_closed": _closed,
    "case_reopened": _reopened,
    "rule_set_migrated": _migrated,
    "case_transferred": _transferred,
    "custom_action_taken": _nothing,
    "person_erased": _erased,
}


_FIELDS = tuple(f.name for f in attrs.fields(Case))


class _Draft:
    """A case while :func:`fold` folds many events into it: mutable, so the fold makes
    one :class:`Case` at the end instead of one per event. The handlers above read only
    fields and :attr:`plan` of the case they are given."""

    __slots__ = _FIELDS

    @property
    def plan(self) -> Plan | None:
        plans: tuple[Plan, ...] = self.plans  # type: ignore[attr-defined]
        return plans[-1] if plans else None


def fold(case: Case, events: Iterable[Event], compiled: Compiled) -> Case:
    """*case* with every one of *events* folded in: what :func:`apply` gives one at a
    time, with one new case instead of one per event (a store's load)."""
    draft: Any = _Draft()
    for name in _FIELDS:
        setattr(draft, name, getattr(case, name))
    handlers, targets = _APPLY, compiled.event_targets
    folded = 0
    for event in events:
        kind = event.type
        changes = handlers[kind](draft, event)
        if kind == "custom_action_taken":
            assert isinstance(event, CustomActionTaken)
            spec = compiled.commands.get(event.name)
            target = None if spec is None else spec.target
        else:
            target = targets.get(kind)
        if target is not None:
            draft.phase = target
        draft.events = changes.pop("events", draft.events).appended(event)
        for name, value in changes.items():
            setattr(draft, name, value)
        folded += 1
    if not folded:
        return case
    return _new_case(*[getattr(draft, name) for name in _FIELDS])


def apply(case: Case, event: Event, compiled: Compiled) -> Case:
    """*case* with *event* folded in."""
    kind = event.type
    changes = _APPLY[kind](case, event)
    if kind == "custom_action_taken":
        assert isinstance(event, CustomActionTaken)
        spec = compiled.commands.get(event.name)
        target = None if spec is None else spec.target
    else:
        target = compiled.event_targets.get(kind)
    if target is not None:
        changes["phase"] = target
    changes["events"] = changes.get("events", case.events).appended(event)
    return replace_case(case, changes)
