"""Private: the compact facts a report is built from, one row per case and per goal.

Both ways of reading events produce exactly these rows: :func:`from_events` in Python
over event objects, :mod:`imflow.kennzahlen._sql` in the database. Everything after
that (the counting rules) is shared, so both give identical reports.

The reporting window of year *Y* holds the events dated on or before 31.12.Y; later
events do not exist for the report. "In the year" means dated 01.01.Y to 31.12.Y.

A case that moved between providers (``case_transferred``) also gets one row per
transfer and, for the activity counted in sums, one row per *stay*: the events between
two transfers, numbered by how many transfers come before them (by ``seq``). The
counting rules attribute each stay to its provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol, TypeVar

import attrs

from imflow.events import (
    CaseClosed,
    CaseOpened,
    CaseTransferred,
    ContactRecorded,
    Event,
    GoalAdded,
    GoalStatusSet,
    PeriodExtended,
    RuleSetMigrated,
)

__all__ = [
    "CaseFacts",
    "Facts",
    "GoalFacts",
    "OneCase",
    "StayFacts",
    "TransferFacts",
    "Window",
    "by_case",
    "case_facts",
    "from_events",
]


class _OfCase(Protocol):
    @property
    def case_id(self) -> str: ...


_R = TypeVar("_R", bound=_OfCase)


def by_case(rows: Iterable[_R]) -> dict[str, list[_R]]:
    """*rows* (goal, transfer or stay facts) grouped by their case, in their order.

    >>> stays = [StayFacts(c, 0, 1, 30, 0, 0, 0) for c in ("c-1", "c-2", "c-1")]
    >>> {case_id: len(rows) for case_id, rows in by_case(stays).items()}
    {'c-1': 2, 'c-2': 1}
    """
    grouped: dict[str, list[_R]] = {}
    for row in rows:
        grouped.setdefault(row.case_id, []).append(row)
    return grouped


LIFECYCLE = frozenset({"case_opened", "case_closed", "case_reopened"})
OPENINGS = frozenset({"case_opened", "case_reopened"})
PERIOD_SETTERS = frozenset({"case_opened", "period_extended", "rule_set_migrated"})
PHASE_CHANGERS = frozenset(
    {
        "case_opened",
        "assessment_started",
        "planning_started",
        "plan_agreed",
        "plan_revised",
        "case_closed",
        "case_reopened",
    }
)
CONSENT = frozenset({"consent_recorded", "consent_withdrawn"})


@attrs.frozen
class Window:
    """The reporting year: first and last day."""

    start: date
    end: date

    @classmethod
    def of(cls, year: int) -> Window:
        """The calendar year *year*."""
        return cls(date(year, 1, 1), date(year, 12, 31))


@attrs.frozen
class CaseFacts:
    """What the counting rules need to know about one case (events of the window only).

    ``opened_on`` is ``None`` when the window has no ``case_opened`` event at ``seq`` 1.
    "last ..." means the event with the highest ``seq`` of that kind.
    """

    case_id: str
    district: str
    provider: str
    opened_on: date | None
    household: int
    members: int
    rule_set: str
    opens_before: int  # openings and reopenings dated before 01.01.Y
    closes_before: int  # closures dated before 01.01.Y
    lifecycle_in_year: bool  # an opening, closure or reopening dated in the year
    reopened_in_year: bool
    closed_at_end: bool  # the last lifecycle event is a closure
    closed_on: date | None  # ... and its date
    close_reason: str  # ... and its reason
    first_close_on: date | None  # the earliest closure date
    first_plan_on: date | None  # the earliest plan agreement date
    plans_in_year: int
    contacts: int  # contacts dated in the year
    minutes: int
    extensions: int  # extensions dated in the year
    extension_months: int
    period_end: date | None  # from the last event that set it
    in_monitoring: bool  # the last phase-changing event is plan_agreed
    consent_given: bool  # the last consent event is consent_recorded
    events_in_year: bool
    out_of_order: bool  # an event dated before the event recorded just before it
    contact_after_closure: bool  # a contact after a closure with no reopening in between
    continued: bool = False  # the opening names an earlier case in another district
    reopen_seq: int | None = None  # the seq of the first reopening dated in the year


@attrs.frozen
class TransferFacts:
    """One transfer of a case to another provider of its district (in the window)."""

    case_id: str
    seq: int
    on: date
    from_provider: str
    to_provider: str


@attrs.frozen
class StayFacts:
    """The activity of a transferred case while with one provider: the events after
    ``stay`` transfers (by ``seq``), counted as in :class:`CaseFacts`."""

    case_id: str
    stay: int
    contacts: int
    minutes: int
    plans_in_year: int
    extensions: int
    extension_months: int


@attrs.frozen
class GoalFacts:
    """One goal of a case: its area, when it was first agreed and its last status.

    ``agreed_on`` is the earliest date of a ``plan_agreed`` event after the goal's first
    ``goal_added`` event (by ``seq``); ``status`` and ``status_on`` come from the last
    ``goal_status_set`` event for the goal.
    """

    case_id: str
    goal_id: str
    area: str
    agreed_on: date | None
    status: str | None
    status_on: date | None
    agreed_seq: int | None = None  # the seq of that plan_agreed (the lowest of that date)
    status_seq: int | None = None  # the seq of that goal_status_set


@attrs.frozen
class Facts:
    """The rows of one reading: cases, goals, and the cases with a goal status set
    before the goal's plan was agreed; transfers and stays of transferred cases.

    ``provider`` is the provider the reading was scoped to (its units only count).
    """

    cases: tuple[CaseFacts, ...]
    goals: tuple[GoalFacts, ...]
    status_before_plan: frozenset[str]
    transfers: tuple[TransferFacts, ...] = ()
    stays: tuple[StayFacts, ...] = ()
    provider: str | None = None


def _case(events: Sequence[Event], w: Window) -> CaseFacts:
    start = w.start
    opened = events[0] if events and events[0].seq == 1 else None
    opened = opened if isinstance(opened, CaseOpened) else None
    opens_before = closes_before = plans = contacts = minutes = extensions = ext_months = 0
    lifecycle_in_year = reopened = events_in_year = out_of_order = after_closure = False
    last_life: Event | None = None
    first_close: date | None = None
    first_plan: date | None = None
    period_end: date | None = None
    phase = consent = ""
    previous: date | None = None
    reopen_seq: int | None = None
    depth = 0  # closures minus reopenings before the current event
    for ev in events:
        t = ev.type
        on = ev.on
        in_year = on >= start
        events_in_year |= in_year
        if previous is not None and on < previous:
            out_of_order = True
        previous = on
        if t in LIFECYCLE:
            last_life = ev
            if in_year:
                lifecycle_in_year = True
                if t == "case_reopened":
                    reopened = True
                    if reopen_seq is None or ev.seq < reopen_seq:
                        reopen_seq = ev.seq
            elif t in OPENINGS:
                opens_before += 1
            else:
                closes_before += 1
            if t == "case_closed" and (first_close is None or on < first_close):
                first_close = on
        if t in PHASE_CHANGERS:
            phase = t
        elif t in CONSENT:
            consent = t
        if t in PERIOD_SETTERS:
            assert isinstance(ev, CaseOpened | PeriodExtended | RuleSetMigrated)
            period_end = ev.period_end
        if t == "contact_recorded":
            assert isinstance(ev, ContactRecorded)
            after_closure |= depth > 0
            if in_year:
                contacts += 1
                minutes += ev.minutes
        elif t == "plan_agreed":
            if first_plan is None or on < first_plan:
                first_plan = on
            plans += in_year
        elif t == "period_extended" and in_year:
            assert isinstance(ev, PeriodExtended)
            extensions += 1
            ext_months += ev.months
        if t == "case_closed":
            depth += 1
        elif t == "case_reopened":
            depth -= 1
    closed = isinstance(last_life, CaseClosed)
    return CaseFacts(
        case_id=events[0].case_id,
        district=opened.district if opened else "",
        provider=opened.provider if opened else "",
        opened_on=opened.on if opened else None,
        household=opened.household if opened else 0,
        members=len(opened.members) if opened else 0,
        rule_set=opened.rule_set if opened else "",
        opens_before=opens_before,
        closes_before=closes_before,
        lifecycle_in_year=lifecycle_in_year,
        reopened_in_year=reopened,
        closed_at_end=closed,
        closed_on=last_life.on if isinstance(last_life, CaseClosed) else None,
        close_reason=last_life.reason.value if isinstance(last_life, CaseClosed) else "",
        first_close_on=first_close,
        first_plan_on=first_plan,
        plans_in_year=plans,
        contacts=contacts,
        minutes=minutes,
        extensions=extensions,
        extension_months=ext_months,
        period_end=period_end,
        in_monitoring=phase == "plan_agreed",
        consent_given=consent == "consent_recorded",
        events_in_year=events_in_year,
        out_of_order=out_of_order,
        contact_after_closure=after_closure,
        continued=opened is not None and opened.continues is not None,
        reopen_seq=reopen_seq,
    )


def _moves(events: Sequence[Event], w: Window) -> tuple[list[TransferFacts], list[StayFacts]]:
    """The transfers of a case and, if it has any, its activity per stay."""
    transfers = [
        TransferFacts(ev.case_id, ev.seq, ev.on, ev.from_provider, ev.to_provider)
        for ev in events
        if isinstance(ev, CaseTransferred)
    ]
    if not transfers:
        return [], []
    start = w.start
    sums: dict[int, list[int]] = {}
    stay = 0
    for ev in events:
        t = ev.type
        if t == "case_transferred":
            stay += 1
            continue
        if ev.on < start or t not in _STAY_TYPES:
            continue
        row = sums.setdefault(stay, [0, 0, 0, 0, 0])
        if t == "contact_recorded":
            assert isinstance(ev, ContactRecorded)
            row[0] += 1
            row[1] += ev.minutes
        elif t == "plan_agreed":
            row[2] += 1
        else:
            assert isinstance(ev, PeriodExtended)
            row[3] += 1
            row[4] += ev.months
    stays = [StayFacts(events[0].case_id, k, *row) for k, row in sorted(sums.items())]
    return transfers, stays


_STAY_TYPES = frozenset({"contact_recorded", "plan_agreed", "period_extended"})


def _goals(events: Sequence[Event]) -> tuple[list[GoalFacts], bool]:
    """The case's goals, and whether a goal status was set before its plan was agreed."""
    added: dict[str, GoalAdded] = {}
    last_status: dict[str, GoalStatusSet] = {}
    agreements: list[Event] = []
    statuses: list[GoalStatusSet] = []
    for ev in events:
        if isinstance(ev, GoalAdded):
            added.setdefault(ev.goal_id, ev)
        elif isinstance(ev, GoalStatusSet):
            last_status[ev.goal_id] = ev
            statuses.append(ev)
        elif ev.type == "plan_agreed":
            agreements.append(ev)
    goals = []
    for goal_id, ga in added.items():
        first = min(((a.on, a.seq) for a in agreements if a.seq > ga.seq), default=None)
        st = last_status.get(goal_id)
        goals.append(
            GoalFacts(
                case_id=ga.case_id,
                goal_id=goal_id,
                area=ga.area.value,
                agreed_on=None if first is None else first[0],
                status=None if st is None else st.status.value,
                status_on=None if st is None else st.on,
                agreed_seq=None if first is None else first[1],
                status_seq=None if st is None else st.seq,
            )
        )
    early = False
    for s in statuses:
        ga_ = added.get(s.goal_id)
        if ga_ is None or not any(ga_.seq < a.seq < s.seq and a.on <= s.on for a in agreements):
            early = True
            break
    return goals, early


@attrs.frozen
class OneCase:
    """The facts of one case in a window (see :func:`case_facts`)."""

    case: CaseFacts
    goals: tuple[GoalFacts, ...]
    transfers: tuple[TransferFacts, ...]
    stays: tuple[StayFacts, ...]
    status_before_plan: bool


def case_facts(history: Sequence[Event], window: Window) -> OneCase | None:
    """The facts of one case's *history* (sorted by ``seq``) in *window*; ``None`` when
    no event is dated in the window (on or before its last day)."""
    end = window.end
    seen = [ev for ev in history if ev.on <= end]
    if not seen:
        return None
    moved, spent = _moves(seen, window)
    case_goals, bad = _goals(seen)
    return OneCase(_case(seen, window), tuple(case_goals), tuple(moved), tuple(spent), bad)


def from_events(
    events: Iterable[Event], window: Window, *, district: str | None, provider: str | None
) -> Facts:
    """The facts of every case in *events* (any order; grouped by case, sorted by ``seq``).

    A case belongs to the scope by the district of its ``case_opened`` event at
    ``seq`` 1, and to a provider's scope if it was opened there or transferred there,
    whatever the dates; a case without an opening is in scope only when neither
    *district* nor *provider* is given.
    """
    by_case: dict[str, list[Event]] = {}
    for ev in events:
        by_case.setdefault(ev.case_id, []).append(ev)
    cases: list[CaseFacts] = []
    goals: list[GoalFacts] = []
    transfers: list[TransferFacts] = []
    stays: list[StayFacts] = []
    early: set[str] = set()
    for case_id in sorted(by_case):
        history = sorted(by_case[case_id], key=lambda e: e.seq)
        first = history[0]
        opening = first if isinstance(first, CaseOpened) and first.seq == 1 else None
        if district is not None and (opening is None or opening.district != district):
            continue
        if provider is not None and (
            opening is None
            or (
                opening.provider != provider
                and not any(
                    isinstance(ev, CaseTransferred) and ev.to_provider == provider for ev in history
                )
            )
        ):
            continue
        found = case_facts(history, window)
        if found is None:
            continue
        cases.append(found.case)
        transfers.extend(found.transfers)
        stays.extend(found.stays)
        goals.extend(found.goals)
        if found.status_before_plan:
            early.add(case_id)
    return Facts(
        tuple(cases), tuple(goals), frozenset(early), tuple(transfers), tuple(stays), provider
    )
