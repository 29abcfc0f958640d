"""Private: the yearly report, its merge and the entry point :func:`report`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs

from imflow.access import report_scope
from imflow.actors import Actor
from imflow.case import Case
from imflow.enums import Role
from imflow.errors import OutOfBounds
from imflow.events import Event
from imflow.kennzahlen._catalogue import CATALOGUE, FigureValue, Group
from imflow.kennzahlen._facts import Window, from_events
from imflow.kennzahlen._findings import Finding, merge_findings
from imflow.kennzahlen._sql import facts_from_sql, is_sql, session
from imflow.kennzahlen._tally import Tally, UnitKey, count_facts
from imflow.organisations import DistrictOrganisation, Provider, fte
from imflow.organisations import staffing as staffing_of
from imflow.rules import RULE_SETS, RuleSet

__all__ = ["SMALL_CELL", "SUPPRESSED", "EventSource", "Report", "Staffing", "Unit", "report"]

SMALL_CELL = 3
"""The fewest cases active in the year that a provider's own figures show to a coordinator.

A coordinator sees aggregates only (domain.md § 6), so no figure may describe one
person: in a report made ``by=`` a coordinator, every provider with fewer active cases
is merged into one unit :data:`SUPPRESSED`, and while that merged unit has fewer than
:data:`SMALL_CELL` cases the next smallest provider joins it (so that the district total
minus the providers shown never isolates a small one). The district's own totals stay
exact: they are what the coordination office submits to the granting authority. Reports
made for managers (their own cases) and auditors (who read pseudonymised histories of
their scope anyway), and reports without ``by``, are exact.
"""

SUPPRESSED = "<suppressed>"
"""The provider id of the merged unit of small providers in a coordinator's report."""

Staffing = (
    Mapping[tuple[str, str], Decimal | int | float | str]
    | Iterable[DistrictOrganisation | Provider]
)
"""The providers' FTE: a mapping ``(district, provider) -> FTE`` or organisation data."""


@runtime_checkable
class EventSource(Protocol):
    """A store that lists its cases (such as ``MemoryStore``); the report reads their events."""

    def iter_cases(self) -> Iterable[Case]: ...  # pragma: no cover


@attrs.frozen(kw_only=True)
class Unit:
    """One provider in one district: its tally and its staffing.

    ``fte_centi`` is the provider's FTE in hundredths (1.5 FTE = 150), ``None`` when the
    organisation data give none; hundredths keep merged sums exact.
    """

    district: str
    provider: str
    tally: Tally = attrs.field(factory=Tally)
    fte_centi: int | None = None

    @property
    def key(self) -> UnitKey:
        """``(district, provider)``."""
        return (self.district, self.provider)

    @property
    def fte(self) -> Decimal | None:
        """The provider's FTE, if given."""
        return None if self.fte_centi is None else Decimal(self.fte_centi) / 100

    @property
    def staffed(self) -> bool:
        """Whether the provider's FTE is given and positive."""
        return bool(self.fte_centi)

    @property
    def fte_missing(self) -> bool:
        """Whether the provider has cases in the year but no FTE (a finding).

        .. versionadded:: 0.2.0
        """
        return bool(self.tally.cases_active or self.tally.cases_active_left) and not self.staffed


def _merge_units(units: Iterable[Unit]) -> tuple[Unit, ...]:
    merged: dict[UnitKey, Unit] = {}
    for u in units:
        old = merged.get(u.key)
        if old is None:
            merged[u.key] = u
            continue
        if None not in (old.fte_centi, u.fte_centi) and old.fte_centi != u.fte_centi:
            raise ValueError(
                f"conflicting FTE for provider {u.provider!r} in {u.district}:"
                f" {old.fte} and {u.fte}"
            )
        merged[u.key] = Unit(
            district=u.district,
            provider=u.provider,
            tally=old.tally + u.tally,
            fte_centi=u.fte_centi if old.fte_centi is None else old.fte_centi,
        )
    return tuple(
        merged[k]
        for k in sorted(merged)
        if merged[k].tally != Tally() or merged[k].fte_centi is not None
    )


def _common(values: Iterable[str | None]) -> str | None:
    found = set(values)
    return found.pop() if len(found) == 1 else None


@attrs.frozen(kw_only=True)
class Report:
    """The key figures of one calendar year, per provider, district and state.

    ``units`` hold one :class:`Unit` per (district, provider) with the sufficient
    statistics, ``case_findings`` the plausibility findings about cases; everything
    else is derived, so :meth:`merge` is exact. ``district`` and ``provider`` record
    the scope the report was made for (``None``: all).
    """

    year: int
    district: str | None = None
    provider: str | None = None
    units: tuple[Unit, ...] = ()
    case_findings: tuple[Finding, ...] = ()

    @property
    def due(self) -> date:
        """When the report is due at the granting authority: 31 January of the next year."""
        return date(self.year + 1, 1, 31)

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every plausibility finding: about cases, and providers with cases but no FTE."""
        missing = [f"{u.district}/{u.provider}" for u in self.units if u.fte_missing]
        extra = (Finding(code="fte_missing", units=missing),) if missing else ()
        return merge_findings(self.case_findings, extra)

    @property
    def districts(self) -> tuple[str, ...]:
        """The AGS codes of the districts with data, sorted."""
        return tuple(sorted({u.district for u in self.units}))

    def select(self, *, district: str | None = None, provider: str | None = None) -> Group:
        """The tally and staffing of the units in *district* and/or of *provider*."""
        units = [
            u
            for u in self.units
            if (district is None or u.district == district)
            and (provider is None or u.provider == provider)
        ]
        return Group.of((u.district, u.tally, u.fte_centi) for u in units)

    def figures(
        self, *, district: str | None = None, provider: str | None = None
    ) -> dict[str, FigureValue]:
        """Every figure of the catalogue, for the state (default), a district or a provider."""
        group = self.select(district=district, provider=provider)
        return {fid: fig.compute(group) for fid, fig in CATALOGUE.items()}

    @classmethod
    def merge(cls, *reports: Report) -> Report:
        """The report of several providers or districts together.

        Reports must be of the same year and about disjoint sets of cases (as those of
        different providers are); the result equals the report over their joint events.
        """
        if not reports:
            raise ValueError("merge needs at least one report")
        years = {r.year for r in reports}
        if len(years) != 1:
            raise ValueError(f"cannot merge reports of different years: {sorted(years)}")
        return cls(
            year=reports[0].year,
            district=_common(r.district for r in reports),
            provider=_common(r.provider for r in reports),
            units=_merge_units(u for r in reports for u in r.units),
            case_findings=merge_findings(*(r.case_findings for r in reports)),
        )


def _centi(value: Decimal | int | float | str) -> int:
    return int(fte(value) * 100)


def _staffing_centi(staffing: Staffing | None) -> dict[UnitKey, int]:
    if staffing is None:
        return {}
    if isinstance(staffing, Mapping):
        return {(str(d), str(p)): _centi(v) for (d, p), v in staffing.items()}
    return {k: _centi(v) for k, v in staffing_of(staffing).items()}


def _events(source: object) -> Iterable[Event] | None:
    if isinstance(source, EventSource):
        return (e for case in source.iter_cases() for e in case.events)
    if isinstance(source, Iterable):
        return source
    return None


def report(
    events_or_store: Iterable[Event] | EventSource | object,
    *,
    year: int,
    provider: str | None = None,
    district: str | None = None,
    staffing: Staffing | None = None,
    rule_sets: Mapping[str, RuleSet] | None = None,
    by: Actor | None = None,
) -> Report:
    """The key figures of *year* from events only, with their plausibility findings.

    *events_or_store* is an iterable of events, a store that lists its cases
    (``MemoryStore``), an SQL store (``SQLiteStore``, ``PostgresStore``: anything with a
    ``connection`` attribute holding a ``sqlite3`` or ``psycopg`` connection) or such a
    connection itself, to a database with the agreed ``events`` table. On SQL the
    counting runs in the database, in one consistent read-only snapshot.

    *district* and *provider* narrow the report to the cases opened there. *staffing*
    gives the providers' FTE (events carry none; a figure with more than two decimal
    places or below zero raises :class:`ValueError`); *rule_sets* resolve each case's
    rule set (default: the shipped ones).

    *by* is the actor asking (domain.md § 6): a manager gets its own provider in its own
    district, a coordinator its district and each provider of it (small providers merged,
    see :data:`SMALL_CELL`), an auditor its district or, without one, the state; a
    *district* or *provider* outside that scope, and any report for ``system``, raise
    :class:`~imflow.Forbidden`. Without *by* the report is the host's own, unscoped and
    exact (for example the batch job that produces the submission).

    .. versionchanged:: 0.2.0 the keyword *by*.
    """
    if type(year) is not int or not 1 <= year <= 9998:
        raise OutOfBounds("year", "must be a year from 1 to 9998")
    if by is not None:
        district, provider = report_scope(by, district=district, provider=provider)
        if by.role is Role.COORDINATOR:
            asked, provider = provider, None
            whole = _report(events_or_store, year, district, None, staffing, rule_sets)
            return _only(suppress_small_cells(whole, SMALL_CELL), asked)
    return _report(events_or_store, year, district, provider, staffing, rule_sets)


def _report(
    events_or_store: Iterable[Event] | EventSource | object,
    year: int,
    district: str | None,
    provider: str | None,
    staffing: Staffing | None,
    rule_sets: Mapping[str, RuleSet] | None,
) -> Report:
    window = Window.of(year)
    if is_sql(events_or_store):
        with session(events_or_store) as (conn, dialect):
            facts = facts_from_sql(conn, dialect, window, district=district, provider=provider)
    else:
        events = _events(events_or_store)
        if events is None:
            raise TypeError(
                "report() reads events, a store with iter_cases(), an SQL store or a sqlite3 /"
                f" psycopg connection; got {type(events_or_store)!r}"
            )
        facts = from_events(events, window, district=district, provider=provider)
    tallies, findings = count_facts(facts, window, RULE_SETS if rule_sets is None else rule_sets)
    fte_by_unit = {
        key: centi
        for key, centi in _staffing_centi(staffing).items()
        if (district is None or key[0] == district) and (provider is None or key[1] == provider)
    }
    units = [
        Unit(district=d, provider=p, tally=t, fte_centi=fte_by_unit.get((d, p)))
        for (d, p), t in tallies.items()
    ]
    units.extend(
        Unit(district=d, provider=p, fte_centi=c)
        for (d, p), c in fte_by_unit.items()
        if (d, p) not in tallies
    )
    return Report(
        year=year,
        district=district,
        provider=provider,
        units=_merge_units(units),
        case_findings=merge_findings(findings),
    )


def suppress_small_cells(report: Report, k: int) -> Report:
    """*report* with the providers of fewer than *k* active cases merged, per district.

    The merged unit :data:`SUPPRESSED` takes in the next smallest providers while it has
    fewer than *k* cases, so no provider below *k* can be recovered by subtraction.
    District totals do not change.
    """
    units: list[Unit] = []
    for district in report.districts:
        here = [u for u in report.units if u.district == district]
        small = [u for u in here if u.tally.cases_active < k]
        if not small:
            units.extend(here)
            continue
        rest = sorted(
            (u for u in here if u.tally.cases_active >= k),
            key=lambda u: (u.tally.cases_active, u.provider),
        )
        while rest and sum(u.tally.cases_active for u in small) < k:
            small.append(rest.pop(0))
        # the merged unit's FTE is known only when every member with cases has one: a
        # sum of some members' FTE over all members' cases would show a caseload too high
        # and hide the fte_missing finding the member without FTE raises in the district
        unstaffed = any(u.fte_missing for u in small)
        known = [] if unstaffed else [u.fte_centi for u in small if u.fte_centi is not None]
        # The merged unit is no single provider: it counts each case once, at the unit
        # the case is with at the end of the year, like its district. Left alone, a case
        # transferred between two merged providers would count twice, and a district
        # whose providers all merged would total more active cases than it has.
        tally = attrs.evolve(Tally.sum(u.tally for u in small), cases_active_left=0, persons_left=0)
        merged = Unit(
            district=district,
            provider=SUPPRESSED,
            tally=tally,
            fte_centi=sum(known) if known else None,
        )
        units.extend(sorted([*rest, merged], key=lambda u: u.provider))
    return attrs.evolve(report, units=tuple(units))


def _only(report: Report, provider: str | None) -> Report:
    """The coordinator's report narrowed to *provider*, or to the merged unit it is in."""
    if provider is None:
        return report
    shown = {u.provider for u in report.units}
    chosen = provider if provider in shown else SUPPRESSED
    return attrs.evolve(
        report, provider=chosen, units=tuple(u for u in report.units if u.provider == chosen)
    )
