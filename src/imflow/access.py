"""Who may read what: the read half of the role table of domain.md § 6.

Commands are guarded by the engine (``forbidden``); reads are guarded here, and the
library's read calls (:meth:`imflow.CaseService.read`, ``history``, ``deadlines``,
``allowed`` and :func:`imflow.kennzahlen.report` with ``by=``) ask these functions and
raise :class:`~imflow.Forbidden` outside the actor's scope. A store's ``load`` and
``events`` stay the trusted internal calls of the host's own code; a host serving users
reads through the guarded calls.

===============  ==============================================  ===========================
role             case content                                    key figures
===============  ==============================================  ===========================
``manager``      its own provider's cases in its own district    its own provider
``coordinator``  none (aggregates only)                          its district, each provider
``auditor``      pseudonymised histories of its scope            its scope
``system``       none                                            none
===============  ==============================================  ===========================

An auditor's scope is its district, or the whole state when it has none. A
pseudonymised event or case has every personal field (person and member references,
every free text) replaced by :data:`HIDDEN`; types, dates, phases, reasons, areas,
minutes and household size stay.

>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> engine = Engine(clock=FrozenClock.on(date(2025, 3, 3)))
>>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
>>> case = engine.open(c.OpenCase(case_id="wt-1", person="p-81", district="08337",
...                               provider="drk", on=date(2025, 3, 3)), by=im)
>>> read_case(case, by=im).person
'p-81'
>>> read_case(case, by=Actor("au-1", Role.AUDITOR, district="08337")).person
'<hidden>'
>>> read_case(case, by=Actor("im-2", Role.MANAGER, provider="awo", district="08337"))
Traceback (most recent call last):
...
imflow.errors.Forbidden: forbidden: the role manager may not read this

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs

from imflow import _bounds
from imflow.actors import Actor
from imflow.case import Case
from imflow.enums import Role
from imflow.errors import Forbidden
from imflow.events import Event

__all__ = [
    "HIDDEN",
    "in_scope",
    "may_read",
    "pseudonymise",
    "read_case",
    "read_history",
    "report_scope",
]

HIDDEN = "<hidden>"
"""What a personal field reads as in a pseudonymised history."""

E = TypeVar("E", bound=Event)


def in_scope(actor: Actor, *, district: str, provider: str) -> bool:
    """Whether a case of *provider* in *district* lies in *actor*'s scope.

    Managers: their own provider in their own district; coordinators: their district;
    auditors: their district, or every district when they have none; ``system``: every
    case (it acts on all of them, and reads none).

    >>> in_scope(Actor("c", Role.COORDINATOR, district="08337"), district="08111",
    ...          provider="awo")
    False
    """
    role = actor.role
    if role is Role.MANAGER:
        return actor.provider == provider and actor.district == district
    if role is Role.COORDINATOR:
        return actor.district == district
    if role is Role.AUDITOR:
        return actor.district is None or actor.district == district
    return role is Role.SYSTEM


def may_read(actor: Actor, case: Case) -> bool:
    """Whether *actor* may read *case*'s content (an auditor only pseudonymised)."""
    if actor.role not in (Role.MANAGER, Role.AUDITOR):
        return False
    return in_scope(actor, district=case.district, provider=case.provider)


def _hidden(value: Any) -> Any:
    if isinstance(value, tuple):
        return (HIDDEN,) * len(value)
    return HIDDEN if value else value


def pseudonymise(event: E) -> E:
    """*event* with every personal field replaced by :data:`HIDDEN` (empty texts stay empty).

    >>> from datetime import date, datetime, timezone
    >>> from imflow.actors import SYSTEM
    >>> from imflow.enums import LifeArea
    >>> from imflow.events import NeedRecorded
    >>> ev = NeedRecorded(case_id="c1", seq=3, on=date(2025, 1, 2), actor=SYSTEM,
    ...                   recorded_at=datetime(2025, 1, 2, tzinfo=timezone.utc),
    ...                   area=LifeArea.HOUSING, note="lives with an aunt")
    >>> pseudonymise(ev).note, pseudonymise(ev).area
    ('<hidden>', <LifeArea.HOUSING: 'housing'>)
    """
    names = [f.name for f in attrs.fields(type(event)) if f.name in _bounds.PERSONAL_FIELDS]
    if not names:
        return event
    return attrs.evolve(event, **{n: _hidden(getattr(event, n)) for n in names})


def read_case(case: Case, *, by: Actor) -> Case:
    """*case* as *by* may see it: whole for a manager in scope, pseudonymised for an
    auditor in scope; raises :class:`~imflow.Forbidden` for everyone else."""
    _check_read(case, by)
    if by.role is Role.MANAGER:
        return case
    return _hide_case(case)


def read_history(case: Case, *, by: Actor) -> tuple[Event, ...]:
    """*case*'s events as *by* may see them (see :func:`read_case`)."""
    _check_read(case, by)
    if by.role is Role.MANAGER:
        return case.events[:]
    return tuple(pseudonymise(e) for e in case.events)


def _check_read(case: Case, by: Actor) -> None:
    if type(by) is not Actor:
        raise TypeError(f"'by' must be an imflow.Actor, got {_bounds.kind_of(by)}")
    if not may_read(by, case):
        raise Forbidden(by.role.value, "read")


def _hide_case(case: Case) -> Case:
    """The case with its personal values hidden, the same shape and phase as before."""
    needs = tuple(attrs.evolve(n, note=_hidden(n.note)) for n in case.needs)
    plans = tuple(
        attrs.evolve(
            p,
            goals=tuple(attrs.evolve(g, description=_hidden(g.description)) for g in p.goals),
        )
        for p in case.plans
    )
    extensions = tuple(
        attrs.evolve(e, justification=_hidden(e.justification)) for e in case.extensions
    )
    transfers = tuple(attrs.evolve(t, note=_hidden(t.note)) for t in case.transfers)
    closure = case.closure
    return attrs.evolve(
        case,
        events=tuple(pseudonymise(e) for e in case.events),
        needs=needs,
        plans=plans,
        extensions=extensions,
        transfers=transfers,
        closure=None if closure is None else attrs.evolve(closure, note=_hidden(closure.note)),
    )


def report_scope(
    by: Actor, *, district: str | None = None, provider: str | None = None
) -> tuple[str | None, str | None]:
    """The ``(district, provider)`` a report for *by* covers; raises :class:`~imflow.Forbidden`
    when *by* asks for more than its scope.

    Managers get their own provider in their own district; coordinators their district
    (optionally one provider of it); auditors their district, or the state when they
    have none; ``system`` gets none.

    >>> report_scope(Actor("k-1", Role.COORDINATOR, district="08337"))
    ('08337', None)
    """
    if type(by) is not Actor:
        raise TypeError(f"'by' must be an imflow.Actor, got {_bounds.kind_of(by)}")
    role, own = by.role, by.district
    if role is Role.MANAGER and by.provider is not None and own is not None:
        if district in (None, own) and provider in (None, by.provider):
            return own, by.provider
    elif role is Role.COORDINATOR and own is not None:
        if district in (None, own):
            return own, provider
    elif role is Role.AUDITOR and own is None:
        return district, provider
    elif role is Role.AUDITOR and district in (None, own):
        return own, provider
    raise Forbidden(role.value, "report")
