"""A deliberately naive second implementation of the key figures, for comparison.

Written from the counting rules as they are *written* (``rule_en`` of each figure in
``imflow.kennzahlen.CATALOGUE``, and domain.md § 4 and § 7), not from the library's
code: it imports nothing from ``imflow.kennzahlen``, reads raw event objects, and
recomputes every case from scratch for every figure, with plain loops and no shared
state. Slow, short and easy to check against the text.

The plan deadline is domain.md § 4's last day of a 3-month period from the opening
(§§ 187 (2), 188 (2), (3) BGB), computed here by counting calendar months by hand
(:func:`period_deadline`), not with ``imflow.period``.

Where a case was handed to another provider of its district (``case_transferred``),
the catalogue says at which provider each figure counts, and the oracle follows it
literally, walking the case's events in ``seq`` order:

- an event (a contact, a plan agreement, an extension, a goal agreed or settled, a
  reopening) at the provider the case was with when it was recorded
  (:func:`_recorded_at`); a transfer out at ``from_provider``, in at ``to_provider``;
- the state on 31.12.Y (open, closed, its reason and length, open past the period,
  open goals) and the caseload of a district at the provider on that day, the plan
  deadline at the provider on the due date (:func:`_provider_on`); an opening at the
  opening provider;
- ``cases_active`` and ``persons_counselled`` at *each* provider the case was with in
  the year (:func:`_providers_in_year`), but once in a district and in the state.

Events are read as plain objects (``Any``): the oracle looks at ``type`` and the
fields each rule names, as a reader of the JSON documents would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from imflow.events import Event
from imflow.rules import RULE_SETS

__all__ = ["figures", "open_past_period_ids", "period_deadline"]

Deadline = Callable[[date, int], date]

LIFECYCLE = ("case_opened", "case_closed", "case_reopened")


def period_deadline(opened: date, months: int) -> date:
    """domain.md § 4: the last day of a period of *months* months from the opening.

    The period ends the day before the same calendar date *months* later; where the
    final month lacks that date, at the end of that month.
    """
    year, month = opened.year, opened.month
    for _ in range(months):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    day = opened.day
    while True:
        try:
            same = date(year, month, day)
        except ValueError:  # the month lacks the day: its last day ends the period
            day -= 1
            continue
        return same if day < opened.day else same - timedelta(days=1)


def _cases(events: Iterable[Any], year: int) -> dict[str, list[Any]]:
    """Each case's events dated on or before 31.12.Y, in seq order."""
    end = date(year, 12, 31)
    found: dict[str, list[Any]] = {}
    for e in events:
        found.setdefault(e.case_id, []).append(e)
    return {
        cid: [e for e in sorted(evs, key=lambda e: e.seq) if e.on <= end]
        for cid, evs in found.items()
    }


def _opening(all_events: list[Any]) -> Any:
    first = min(all_events, key=lambda e: e.seq)
    return first if first.seq == 1 and first.type == "case_opened" else None


def _in_year(e: Any, year: int) -> bool:
    return bool(date(year, 1, 1) <= e.on <= date(year, 12, 31))


def _opened_in(evs: list[Any], year: int) -> bool:
    return bool(evs) and evs[0].type == "case_opened" and _in_year(evs[0], year)


def _active(evs: list[Any], year: int) -> bool:
    if not evs or evs[0].type != "case_opened" or evs[0].seq != 1:
        return False
    life = [e for e in evs if e.type in LIFECYCLE]
    if any(_in_year(e, year) for e in life):
        return True
    before = [e for e in life if e.on < date(year, 1, 1)]
    opens = sum(1 for e in before if e.type in ("case_opened", "case_reopened"))
    closes = sum(1 for e in before if e.type == "case_closed")
    return opens > closes


def _last_life(evs: list[Any]) -> Any:
    life = [e for e in evs if e.type in LIFECYCLE]
    return life[-1] if life else None


def _closed_in_year(evs: list[Any], year: int) -> Any:
    """The case's last closure if the case is closed on 31.12.Y and it is dated in Y."""
    last = _last_life(evs)
    if last is not None and last.type == "case_closed" and _in_year(last, year):
        return last
    return None


def _open_at_end(evs: list[Any]) -> bool:
    last = _last_life(evs)
    return last is not None and last.type != "case_closed"


def _period_end(evs: list[Any]) -> date | None:
    end = None
    for e in evs:
        if e.type in ("case_opened", "period_extended", "rule_set_migrated"):
            end = e.period_end
    return end


# -- where a case is: its provider at an event, on a day, during a year ----------------------


def _recorded_at(evs: list[Any]) -> list[tuple[Any, str]]:
    """Each event with the provider the case was with when it was recorded, in seq
    order: the opening provider, after a transfer its receiving provider (a transfer
    itself is recorded at the provider handing over)."""
    found = []
    provider = evs[0].provider if evs and evs[0].type == "case_opened" else ""
    for e in evs:
        found.append((e, provider))
        if e.type == "case_transferred":
            provider = e.to_provider
    return found


def _provider_on(evs: list[Any], day: date) -> str:
    """The provider the case is with at the end of *day*: the receiving provider of the
    last transfer dated on or before *day*, else the opening provider."""
    provider: str = evs[0].provider
    for e in evs:
        if e.type == "case_transferred" and e.on <= day:
            provider = e.to_provider
    return provider


def _providers_in_year(evs: list[Any], year: int) -> set[str]:
    """Every provider the case was with in the year: the one it was with at the start
    of 1 January (or at its opening, if later) and every one it was transferred to in
    the year."""
    found = {_provider_on(evs, date(year, 1, 1) - timedelta(days=1))}
    for e in evs:
        if e.type == "case_transferred" and _in_year(e, year):
            found.add(e.to_provider)
    return found


def _ratio(a: int | float, b: int | float) -> float | None:
    return None if b == 0 else a / b


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


def _goals(evs: list[Any]) -> list[tuple[str, date | None, str, str, date | None, str]]:
    """Per goal: (area, first agreed on, provider at that agreement, status on 31.12.Y,
    date of that status, provider at that status event)."""
    found = []
    seen: set[str] = set()
    at = _recorded_at(evs)
    for ga in evs:
        if ga.type != "goal_added" or ga.goal_id in seen:
            continue
        goal_id = ga.goal_id
        seen.add(goal_id)
        agreed = [(a.on, a.seq, p) for a, p in at if a.type == "plan_agreed" and a.seq > ga.seq]
        first = min(agreed) if agreed else None
        statuses = [(s, p) for s, p in at if s.type == "goal_status_set" and s.goal_id == goal_id]
        status = statuses[-1][0].status.value if statuses else "open"
        status_on = statuses[-1][0].on if statuses else None
        found.append(
            (
                ga.area.value,
                None if first is None else first[0],
                "" if first is None else first[2],
                status,
                status_on,
                statuses[-1][1] if statuses else "",
            )
        )
    return found


def figures(
    events: Iterable[Event],
    year: int,
    *,
    district: str | None = None,
    provider: str | None = None,
    staffing: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """Every figure of the catalogue for *year*, recomputed naively from *events*.

    *district* keeps the cases opened there; *provider* keeps, figure by figure, what
    counts at that provider (see the module docstring).
    """
    history: list[Any] = list(events)
    end = date(year, 12, 31)
    everything = _cases(history, year)
    scope: dict[str, list[Any]] = {}
    for cid, all_events in _group(history).items():
        opening = _opening(all_events)
        if (district or provider) and opening is None:
            continue
        if district is not None and opening.district != district:
            continue
        scope[cid] = everything[cid]

    def here(p: str) -> bool:
        return provider is None or p == provider

    active = {cid: evs for cid, evs in scope.items() if _active(evs, year)}
    # active at a provider in scope during the year (once per case)
    counted = {
        cid: evs
        for cid, evs in active.items()
        if any(here(p) for p in _providers_in_year(evs, year))
    }
    # with a provider in scope on 31.12.Y
    at_end = {cid: evs for cid, evs in active.items() if here(_provider_on(evs, end))}
    closed = {cid: e for cid, evs in at_end.items() if (e := _closed_in_year(evs, year))}

    def recorded(kind: str) -> list[Any]:
        """The events of *kind* dated in the year in active cases, recorded in scope."""
        return [
            e
            for evs in active.values()
            for e, p in _recorded_at(evs)
            if e.type == kind and _in_year(e, year) and here(p)
        ]

    transfers = [
        e
        for evs in scope.values()
        for e in evs
        if e.type == "case_transferred" and _in_year(e, year)
    ]

    reasons = ("goals_achieved", "period_expired", "moved_away", "handed_over", "no_contact")
    by_reason = dict.fromkeys((*reasons, "client_request", "other"), 0)
    for e in closed.values():
        by_reason[e.reason.value] += 1

    cohort = on_time = 0
    for evs in scope.values():
        if not evs or evs[0].type != "case_opened":
            continue
        opening = evs[0]
        rules = RULE_SETS.get(opening.rule_set)
        if rules is None or not rules.plan_mandatory:
            continue
        due = period_deadline(opening.on, rules.plan_due_months)
        if not (date(year, 1, 1) <= due <= date(year, 12, 31)):
            continue
        if not here(_provider_on(evs, due)):
            continue
        planned = any(e.type == "plan_agreed" and e.on <= due for e in evs)
        closed_early = any(e.type == "case_closed" and e.on <= due for e in evs)
        if planned or not closed_early:
            cohort += 1
            on_time += planned

    reopened = 0
    for evs in active.values():
        again = [p for e, p in _recorded_at(evs) if e.type == "case_reopened" and _in_year(e, year)]
        reopened += bool(again) and here(again[0])

    areas = (
        "language",
        "school",
        "vocational_training",
        "work",
        "housing",
        "health",
        "childcare",
        "participation",
        "regular_services",
        "other",
    )
    statuses = ("open", "achieved", "partly_achieved", "not_achieved", "dropped")
    goals_by_area = dict.fromkeys(areas, 0)
    outcomes = dict.fromkeys(statuses, 0)
    outcomes_by_pair: dict[str, int] = {}
    for evs in active.values():
        on_31_december = _provider_on(evs, end)
        for area, agreed_on, agreed_at, status, status_on, status_at in _goals(evs):
            if agreed_on is None:
                continue
            if agreed_on.year == year and here(agreed_at):
                goals_by_area[area] += 1
            if status == "open":
                counts = here(on_31_december)
            else:
                counts = status_on is not None and status_on.year == year and here(status_at)
            if counts:
                outcomes[status] += 1
                key = f"{area}/{status}"
                outcomes_by_pair[key] = outcomes_by_pair.get(key, 0) + 1

    contacts = recorded("contact_recorded")
    extensions = recorded("period_extended")
    centi = {
        key: int(Decimal(value) * 100)
        for key, value in (staffing or {}).items()
        if (district is None or key[0] == district) and (provider is None or key[1] == provider)
    }
    staffed = {key for key, value in centi.items() if value > 0}
    fte_centi = sum(centi[key] for key in staffed)
    if provider is not None:  # every case the provider had in the year
        staffed_active = sum(
            1
            for evs in counted.values()
            if any(
                here(p) and (evs[0].district, p) in staffed for p in _providers_in_year(evs, year)
            )
        )
    else:  # each case once, at the provider it is with on 31.12.Y
        staffed_active = sum(
            1 for evs in active.values() if (evs[0].district, _provider_on(evs, end)) in staffed
        )
    settled = outcomes["achieved"] + outcomes["partly_achieved"] + outcomes["not_achieved"]
    n_active = len(counted)
    opened = [evs[0] for evs in scope.values() if _opened_in(evs, year) and here(evs[0].provider)]
    return {
        "cases_active": n_active,
        "cases_opened": len(opened),
        "cases_reopened": reopened,
        "cases_closed": len(closed),
        "cases_closed_by_reason": by_reason,
        "cases_open_at_year_end": sum(1 for evs in at_end.values() if _open_at_end(evs)),
        "transferred_out": sum(1 for e in transfers if here(e.from_provider)),
        "transferred_in": sum(1 for e in transfers if here(e.to_provider)),
        "cases_continued": sum(
            1 for e in opened if e.continues is not None and e.continues.district != e.district
        ),
        "persons_counselled": sum(evs[0].household for evs in counted.values()),
        "plans_agreed": len(recorded("plan_agreed")),
        "plan_on_time_share": _ratio(on_time, cohort),
        "goals_agreed": sum(goals_by_area.values()),
        "goals_agreed_by_area": goals_by_area,
        "goal_outcomes": outcomes,
        "goal_outcomes_by_area": dict(sorted(outcomes_by_pair.items())),
        "goals_achieved_share": _ratio(outcomes["achieved"], settled),
        "extensions_granted": len(extensions),
        "extension_months": sum(e.months for e in extensions),
        "contacts": len(contacts),
        "contact_minutes": sum(e.minutes for e in contacts),
        "contacts_per_active_case": _ratio(len(contacts), n_active),
        "minutes_per_active_case": _ratio(sum(e.minutes for e in contacts), n_active),
        "median_length_days": _median(
            [(e.on - active[cid][0].on).days for cid, e in closed.items()]
        ),
        "fte": fte_centi / 100 if fte_centi else None,
        "caseload_per_fte": _ratio(staffed_active * 100, fte_centi),
        "open_past_period": len(
            open_past_period_ids(history, year, district=district, provider=provider)
        ),
    }


def open_past_period_ids(
    events: Iterable[Event], year: int, *, district: str | None = None, provider: str | None = None
) -> list[str]:
    """The cases open on 31.12.Y whose period ended before 31.12.Y, by id (in scope: by
    the opening's district and the provider the case is with on 31.12.Y)."""
    history: list[Any] = list(events)
    end = date(year, 12, 31)
    found = []
    for cid, evs in sorted(_cases(history, year).items()):
        if not _active(evs, year) or not _open_at_end(evs):
            continue
        if district is not None and evs[0].district != district:
            continue
        if provider is not None and _provider_on(evs, end) != provider:
            continue
        period_end = _period_end(evs)
        if period_end is not None and period_end < end:
            found.append(cid)
    return found


def _group(events: list[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for e in events:
        found.setdefault(e.case_id, []).append(e)
    return found
