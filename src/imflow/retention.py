"""Retention (Löschfrist): the personal content of closed cases, erased when it is due.

domain.md § 8: a closed case's personal content is erased at the **end of the third
calendar year after its closure**, configurable per district (inferred). The number of
years comes from the case's rule set (``RuleSet.retention_years`` (:class:`imflow.rules.RuleSet`),
3 in every shipped rule set) unless :class:`Retention` names another for the case's
district. A case closed on any day of 2025 is due on 1 January 2029: the three calendar
years 2026, 2027 and 2028 have ended. A case reopened since is open, and not due.

:func:`due` lists what a sweep on a day would erase (a dry run); :func:`sweep` erases
it: the store appends a :class:`~imflow.events.PersonErased` event to each case,
tombstones its events and deletes its case keys, exactly as ``erase_person`` does for
the case. A sweep is idempotent: an erased case is due again only if something was
recorded on it since. Types, dates, reasons and counts stay, so the key figures of
every past year are the same after a sweep.

>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> from imflow.store import MemoryStore
>>> engine = Engine(clock=FrozenClock.on(date(2029, 1, 1)))
>>> im = Actor("im-1", Role.MANAGER, provider="drk", district="08337")
>>> case = engine.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
...                               provider="drk", on=date(2025, 3, 3)), by=im)
>>> case = engine.handle(case, c.CloseCase(reason="client_request", on=date(2025, 6, 30)),
...                      by=im)
>>> store = MemoryStore(engine=engine)
>>> _ = store.append("wt-1", case.events, expected_version=0)
>>> [d.case_id for d in due(store, on=date(2028, 12, 31))]
[]
>>> [(d.case_id, d.due_on) for d in due(store, on=date(2029, 1, 1))]
[('wt-1', datetime.date(2029, 1, 1))]
>>> sweep(store, on=date(2029, 1, 1))
Erasure(('wt-1',), events_rewritten=1, ...)
>>> store.load("wt-1").person, sweep(store, on=date(2029, 1, 2))
('<erased>', Erasure((), ...))

.. versionadded:: 0.2.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import Protocol

import attrs

from imflow import _bounds
from imflow.actors import SYSTEM, Actor
from imflow.engine import Engine
from imflow.erasure import Erasure
from imflow.errors import OutOfBounds

__all__ = ["DueErasure", "Retention", "RetentionStore", "due", "due_on", "sweep"]


def _years(value: Mapping[str, int]) -> Mapping[str, int]:
    for district, years in value.items():
        if type(years) is not int or not 0 <= years <= 50:
            raise ValueError(f"retention years of district {district!r} must be 0 to 50")
    return MappingProxyType(dict(value))


@attrs.frozen
class Retention:
    """The retention rule: years after the closure year, per district.

    ``districts`` maps an AGS code to its own number of years; every other district
    uses the rule set's ``retention_years`` (or ``default``,
    when set, for every rule set).

    >>> Retention(districts={"08337": 5}).years_for("08337", 3), Retention().years_for("08111", 3)
    (5, 3)
    """

    districts: Mapping[str, int] = attrs.field(factory=dict, converter=_years)
    default: int | None = None

    def years_for(self, district: str, rule_set_years: int) -> int:
        """The years after the closure year for a case of *district*."""
        if district in self.districts:
            return self.districts[district]
        return rule_set_years if self.default is None else self.default


def due_on(closed_on: date, years: int) -> date:
    """The first day a case closed on *closed_on* is due: 1 January after the end of the
    *years*-th calendar year after the closure.

    >>> due_on(date(2025, 12, 31), 3), due_on(date(2025, 1, 1), 3)
    (datetime.date(2029, 1, 1), datetime.date(2029, 1, 1))
    """
    return date(closed_on.year + years + 1, 1, 1)


@attrs.frozen
class DueErasure:
    """A closed case whose personal content is due for erasure."""

    case_id: str
    district: str
    closed_on: date
    due_on: date


class RetentionStore(Protocol):
    """What a sweep needs of a store (every imflow store has it)."""

    engine: Engine

    def retention_candidates(self, *, closed_before: date) -> list[tuple[str, str, str, date]]:
        """``(case id, district, rule set, closed on)`` of the closed cases not erased since
        their latest event, closed before *closed_before*."""
        ...

    def erase_cases(self, case_ids: Sequence[str], *, on: date, by: Actor = SYSTEM) -> Erasure:
        """Erase the personal content of *case_ids*."""
        ...


def due(
    store: RetentionStore, *, on: date, retention: Retention | None = None
) -> tuple[DueErasure, ...]:
    """The cases a :func:`sweep` on *on* erases (nothing is changed), by closure date."""
    if type(on) is not date or _bounds.date_problem(on):
        raise OutOfBounds("on", _bounds.DATE_PROBLEM)
    rule = retention or Retention()
    rule_sets = store.engine.rule_sets
    # a case closed in year Y is due from 1 January Y + years + 1: with at least 0 years,
    # only cases closed before 1 January of on.year can be due
    found = []
    for case_id, district, rule_set, closed_on in store.retention_candidates(
        closed_before=date(on.year, 1, 1)
    ):
        known = rule_sets.get(rule_set)
        years = rule.years_for(district, 3 if known is None else known.retention_years)
        day = due_on(closed_on, years)
        if day <= on:
            found.append(DueErasure(case_id, district, closed_on, day))
    return tuple(found)


def sweep(
    store: RetentionStore,
    *,
    on: date,
    retention: Retention | None = None,
    by: Actor = SYSTEM,
) -> Erasure:
    """Erase the personal content of every case :func:`due` on *on*; returns what the
    store did (the erased cases' ids, with the details)."""
    ids = [d.case_id for d in due(store, on=on, retention=retention)]
    return store.erase_cases(ids, on=on, by=by)
