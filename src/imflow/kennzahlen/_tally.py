"""Private: mergeable sufficient statistics and the counting rules that fill them.

A :class:`Tally` holds counts and sums only (for the median, the multiset of case
lengths; for shares, numerator and denominator), so tallies of disjoint sets of cases
add up to the tally of their union, exactly.

A case transferred between providers counts once, at the unit it is with on 31.12.Y
(``cases_active``, ``persons``); each other unit it was with in the year counts it in
``cases_active_left`` / ``persons_left``, which figures add for a single provider and
leave out for a district or the state (see :class:`~imflow.kennzahlen.Group`).
Everything else is counted where it happened: an event at the provider the case was
with at that event (by ``seq``), the state on 31 December at that day's provider.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

import attrs

from imflow.kennzahlen._facts import Facts, TransferFacts, Window, by_case
from imflow.kennzahlen._findings import Finding
from imflow.period import last_day
from imflow.rules import RuleSet

__all__ = ["Counts", "Lengths", "Outcomes", "Tally", "UnitKey", "count_facts"]

Counts = tuple[tuple[str, int], ...]
"""Counts by key (a closure reason, a life area), sorted by key, zeros left out."""

Outcomes = tuple[tuple[str, str, int], ...]
"""Goal counts by (life area, status), sorted, zeros left out."""

Lengths = tuple[tuple[int, int], ...]
"""A multiset of case lengths in days: (length, how many cases), sorted by length."""

UnitKey = tuple[str, str]
"""(district AGS code, provider id)."""


def _counts(counter: Mapping[str, int]) -> Counts:
    return tuple(sorted((k, n) for k, n in counter.items() if n))


def _outcomes(counter: Mapping[tuple[str, str], int]) -> Outcomes:
    return tuple(sorted((a, s, n) for (a, s), n in counter.items() if n))


def _lengths(counter: Mapping[int, int]) -> Lengths:
    return tuple(sorted((k, n) for k, n in counter.items() if n))


def _add_counts(a: Counts, b: Counts) -> Counts:
    c: Counter[str] = Counter(dict(a))
    c.update(dict(b))
    return _counts(c)


@attrs.frozen(kw_only=True)
class Tally:
    """The sufficient statistics of a set of cases for one reporting year.

    Every field is a count or a sum; ``a + b`` is the tally of the union of two
    disjoint sets of cases. The figures of :data:`imflow.kennzahlen.CATALOGUE` are
    computed from it. ``cases_active`` and ``persons`` count each case once, at the
    unit it is with at the end of the year; ``cases_active_left`` and ``persons_left``
    count it again at every other unit of its district it was with during the year.

    .. versionchanged:: 0.2.0
       ``cases_active_left``, ``persons_left``, ``transferred_out``, ``transferred_in``,
       ``cases_continued``.
    """

    cases_active: int = 0
    cases_opened: int = 0
    cases_reopened: int = 0
    cases_open_at_year_end: int = 0
    closed_by_reason: Counts = ()
    persons: int = 0
    plans_agreed: int = 0
    plan_due: int = 0
    plan_on_time: int = 0
    goals_agreed: Counts = ()
    goal_outcomes: Outcomes = ()
    extensions: int = 0
    extension_months: int = 0
    contacts: int = 0
    contact_minutes: int = 0
    lengths: Lengths = ()
    open_past_period: int = 0
    cases_active_left: int = 0
    persons_left: int = 0
    transferred_out: int = 0
    transferred_in: int = 0
    cases_continued: int = 0

    def __add__(self, other: Tally) -> Tally:
        if not isinstance(other, Tally):
            return NotImplemented
        outcomes: Counter[tuple[str, str]] = Counter()
        for a, s, n in (*self.goal_outcomes, *other.goal_outcomes):
            outcomes[a, s] += n
        lengths: Counter[int] = Counter()
        for k, n in (*self.lengths, *other.lengths):
            lengths[k] += n
        sums = {name: getattr(self, name) + getattr(other, name) for name in _SUMMED}
        return Tally(
            closed_by_reason=_add_counts(self.closed_by_reason, other.closed_by_reason),
            goals_agreed=_add_counts(self.goals_agreed, other.goals_agreed),
            goal_outcomes=_outcomes(outcomes),
            lengths=_lengths(lengths),
            **sums,
        )

    @classmethod
    def sum(cls, tallies: Iterable[Tally]) -> Tally:
        """The tally of all *tallies* together."""
        total = cls()
        for t in tallies:
            total = total + t
        return total


_SUMMED = tuple(
    f.name
    for f in attrs.fields(Tally)
    if f.name not in ("closed_by_reason", "goals_agreed", "goal_outcomes", "lengths")
)


class _Acc:
    """A mutable tally while counting."""

    def __init__(self) -> None:
        self.n: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.goals: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.lengths: Counter[int] = Counter()

    def freeze(self) -> Tally:
        n = self.n
        return Tally(
            closed_by_reason=_counts(self.closed),
            goals_agreed=_counts(self.goals),
            goal_outcomes=_outcomes(self.outcomes),
            lengths=_lengths(self.lengths),
            **{name: n[name] for name in _SUMMED},
        )


class _Where:
    """Which provider a case was with: at an event, on a day, in a stay, at the end."""

    __slots__ = ("home", "moves", "opened")

    def __init__(self, opened: str, moves: list[TransferFacts]) -> None:
        self.opened = opened
        self.moves = moves
        self.home = moves[-1].to_provider if moves else opened

    def at_seq(self, seq: int | None) -> str:
        """The provider when the event *seq* was recorded (after the transfers before it)."""
        found = self.opened
        for t in self.moves:
            if seq is None or t.seq >= seq:
                break
            found = t.to_provider
        return found if seq is not None else self.home

    def on(self, day: date) -> str:
        """The provider at the end of *day*."""
        found = self.opened
        for t in self.moves:
            if t.on <= day:
                found = t.to_provider
        return found

    def stay(self, k: int) -> str:
        """The provider of the stay after *k* transfers."""
        return self.opened if k == 0 else self.moves[k - 1].to_provider

    def left(self, start: date) -> set[str]:
        """The providers, other than the one at the end, the case left during the year."""
        return {t.from_provider for t in self.moves if t.on >= start} - {self.home}


def count_facts(
    facts: Facts, window: Window, rule_sets: Mapping[str, RuleSet]
) -> tuple[dict[UnitKey, Tally], tuple[Finding, ...]]:
    """Apply the counting rules to *facts*: a tally per unit and the case findings.

    The rules are documented figure by figure in :data:`imflow.kennzahlen.CATALOGUE`.
    With ``facts.provider`` set, only that provider's units are returned.
    """
    start, end = window.start, window.end
    accs: dict[UnitKey, _Acc] = {}
    found: dict[str, list[str]] = {}
    active_cases: dict[str, tuple[str, _Where | None, _Acc]] = {}
    moves = by_case(facts.transfers)
    for listed in moves.values():
        listed.sort(key=lambda t: t.seq)
    stays = by_case(facts.stays)

    def flag(code: str, case_id: str) -> None:
        found.setdefault(code, []).append(case_id)

    def unit(district: str, provider: str) -> _Acc:
        acc = accs.get((district, provider))
        if acc is None:
            acc = accs[district, provider] = _Acc()
        return acc

    for c in facts.cases:
        cid = c.case_id
        opened = c.opened_on
        if opened is None:
            if c.events_in_year:
                flag("opening_missing", cid)
            continue
        district = c.district
        case_moves = moves.get(cid)
        where = _Where(c.provider, case_moves) if case_moves else None
        home = unit(district, c.provider if where is None else where.home)
        n = home.n
        active = c.lifecycle_in_year or c.opens_before > c.closes_before
        relevant = active or c.events_in_year
        rules = rule_sets.get(c.rule_set)
        if rules is None:
            if relevant:
                flag("unknown_rule_set", cid)
        elif rules.plan_mandatory:
            due = last_day(opened, months=rules.plan_due_months)
            if start <= due <= end:
                on_time = c.first_plan_on is not None and c.first_plan_on <= due
                closed_early = c.first_close_on is not None and c.first_close_on <= due
                if on_time or not closed_early:
                    judged = home if where is None else unit(district, where.on(due))
                    judged.n["plan_due"] += 1
                    judged.n["plan_on_time"] += on_time
        if relevant:
            if c.first_close_on is not None and c.first_close_on < opened:
                flag("closure_before_opening", cid)
            if c.out_of_order:
                flag("events_out_of_order", cid)
            if c.contact_after_closure:
                flag("contact_after_closure", cid)
            if cid in facts.status_before_plan:
                flag("goal_status_before_plan", cid)
            if c.in_monitoring and not c.consent_given:
                flag("consent_missing_in_monitoring", cid)
            if c.members + 1 > c.household:
                flag("persons_exceed_household", cid)
        if not active:
            continue
        active_cases[cid] = (district, where, home)
        n["cases_active"] += 1
        n["persons"] += c.household
        first = home if where is None else unit(district, c.provider)
        if opened >= start:
            first.n["cases_opened"] += 1
            first.n["cases_continued"] += c.continued
        if c.reopened_in_year:
            back = home if where is None else unit(district, where.at_seq(c.reopen_seq))
            back.n["cases_reopened"] += 1
        if c.closed_at_end:
            if c.closed_on is not None and c.closed_on >= start:
                home.closed[c.close_reason] += 1
                home.lengths[(c.closed_on - opened).days] += 1
        else:
            n["cases_open_at_year_end"] += 1
            if c.period_end is not None and c.period_end < end:
                n["open_past_period"] += 1
                flag("open_past_period", cid)
        if where is None:
            n["plans_agreed"] += c.plans_in_year
            n["contacts"] += c.contacts
            n["contact_minutes"] += c.minutes
            n["extensions"] += c.extensions
            n["extension_months"] += c.extension_months
            continue
        for stay in stays.get(cid, ()):
            sn = unit(district, where.stay(stay.stay)).n
            sn["plans_agreed"] += stay.plans_in_year
            sn["contacts"] += stay.contacts
            sn["contact_minutes"] += stay.minutes
            sn["extensions"] += stay.extensions
            sn["extension_months"] += stay.extension_months
        for provider in where.left(start):
            ln = unit(district, provider).n
            ln["cases_active_left"] += 1
            ln["persons_left"] += c.household
        for t in where.moves:
            if t.on >= start:
                unit(district, t.from_provider).n["transferred_out"] += 1
                unit(district, t.to_provider).n["transferred_in"] += 1

    for g in facts.goals:
        goal_case = active_cases.get(g.case_id)
        if goal_case is None or g.agreed_on is None:
            continue
        district, where, home = goal_case
        if g.agreed_on >= start:
            at = home if where is None else unit(district, where.at_seq(g.agreed_seq))
            at.goals[g.area] += 1
        # an open goal counts every active year; a final status in the year it was set
        status = g.status or "open"
        if status == "open":
            at = home
        elif g.status_on is not None and g.status_on >= start:
            at = home if where is None else unit(district, where.at_seq(g.status_seq))
        else:
            continue
        at.outcomes[g.area, status] += 1

    tallies = {
        key: acc.freeze()
        for key, acc in accs.items()
        if facts.provider is None or key[1] == facts.provider
    }
    findings = tuple(Finding(code=code, case_ids=ids) for code, ids in found.items())
    return tallies, findings
