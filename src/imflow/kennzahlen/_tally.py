"""Private: mergeable sufficient statistics and the counting rules that fill them.

A :class:`Tally` holds counts and sums only (for the median, the multiset of case
lengths; for shares, numerator and denominator), so tallies of disjoint sets of cases
add up to the tally of their union, exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import attrs

from imflow.kennzahlen._facts import Facts, Window
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
    computed from it.
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

    def __add__(self, other: Tally) -> Tally:
        if not isinstance(other, Tally):
            return NotImplemented
        outcomes: Counter[tuple[str, str]] = Counter()
        for a, s, n in (*self.goal_outcomes, *other.goal_outcomes):
            outcomes[a, s] += n
        lengths: Counter[int] = Counter()
        for k, n in (*self.lengths, *other.lengths):
            lengths[k] += n
        return Tally(
            cases_active=self.cases_active + other.cases_active,
            cases_opened=self.cases_opened + other.cases_opened,
            cases_reopened=self.cases_reopened + other.cases_reopened,
            cases_open_at_year_end=self.cases_open_at_year_end + other.cases_open_at_year_end,
            closed_by_reason=_add_counts(self.closed_by_reason, other.closed_by_reason),
            persons=self.persons + other.persons,
            plans_agreed=self.plans_agreed + other.plans_agreed,
            plan_due=self.plan_due + other.plan_due,
            plan_on_time=self.plan_on_time + other.plan_on_time,
            goals_agreed=_add_counts(self.goals_agreed, other.goals_agreed),
            goal_outcomes=_outcomes(outcomes),
            extensions=self.extensions + other.extensions,
            extension_months=self.extension_months + other.extension_months,
            contacts=self.contacts + other.contacts,
            contact_minutes=self.contact_minutes + other.contact_minutes,
            lengths=_lengths(lengths),
            open_past_period=self.open_past_period + other.open_past_period,
        )

    @classmethod
    def sum(cls, tallies: Iterable[Tally]) -> Tally:
        """The tally of all *tallies* together."""
        total = cls()
        for t in tallies:
            total = total + t
        return total


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
            cases_active=n["cases_active"],
            cases_opened=n["cases_opened"],
            cases_reopened=n["cases_reopened"],
            cases_open_at_year_end=n["cases_open_at_year_end"],
            closed_by_reason=_counts(self.closed),
            persons=n["persons"],
            plans_agreed=n["plans_agreed"],
            plan_due=n["plan_due"],
            plan_on_time=n["plan_on_time"],
            goals_agreed=_counts(self.goals),
            goal_outcomes=_outcomes(self.outcomes),
            extensions=n["extensions"],
            extension_months=n["extension_months"],
            contacts=n["contacts"],
            contact_minutes=n["contact_minutes"],
            lengths=_lengths(self.lengths),
            open_past_period=n["open_past_period"],
        )


def count_facts(
    facts: Facts, window: Window, rule_sets: Mapping[str, RuleSet]
) -> tuple[dict[UnitKey, Tally], tuple[Finding, ...]]:
    """Apply the counting rules to *facts*: a tally per unit and the case findings.

    The rules are documented figure by figure in :data:`imflow.kennzahlen.CATALOGUE`.
    """
    start, end = window.start, window.end
    accs: dict[UnitKey, _Acc] = {}
    found: dict[str, list[str]] = {}
    active_cases: dict[str, _Acc] = {}

    def flag(code: str, case_id: str) -> None:
        found.setdefault(code, []).append(case_id)

    for c in facts.cases:
        cid = c.case_id
        opened = c.opened_on
        if opened is None:
            if c.events_in_year:
                flag("opening_missing", cid)
            continue
        acc = accs.setdefault((c.district, c.provider), _Acc())
        n = acc.n
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
                    n["plan_due"] += 1
                    n["plan_on_time"] += on_time
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
        active_cases[cid] = acc
        n["cases_active"] += 1
        n["persons"] += c.household
        n["cases_opened"] += opened >= start
        n["cases_reopened"] += c.reopened_in_year
        if c.closed_at_end:
            if c.closed_on is not None and c.closed_on >= start:
                acc.closed[c.close_reason] += 1
                acc.lengths[(c.closed_on - opened).days] += 1
        else:
            n["cases_open_at_year_end"] += 1
            if c.period_end is not None and c.period_end < end:
                n["open_past_period"] += 1
                flag("open_past_period", cid)
        n["plans_agreed"] += c.plans_in_year
        n["contacts"] += c.contacts
        n["contact_minutes"] += c.minutes
        n["extensions"] += c.extensions
        n["extension_months"] += c.extension_months

    for g in facts.goals:
        goal_acc = active_cases.get(g.case_id)
        if goal_acc is None or g.agreed_on is None:
            continue
        if g.agreed_on >= start:
            goal_acc.goals[g.area] += 1
        # an open goal counts every active year; a final status in the year it was set
        status = g.status or "open"
        if status == "open" or (g.status_on is not None and g.status_on >= start):
            goal_acc.outcomes[g.area, status] += 1

    tallies = {key: acc.freeze() for key, acc in accs.items()}
    findings = tuple(Finding(code=code, case_ids=ids) for code, ids in found.items())
    return tallies, findings
