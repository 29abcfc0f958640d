"""Private: the facts of a window as a left fold over a case's events, resumed from a row.

:func:`~._facts.case_facts` folds the events dated up to a window's last day in ``seq``
order. What that fold carries from one event to the next is almost all in its result,
:class:`~._facts.OneCase`: the counters, the closure of the last lifecycle event
(``closed_at_end``, ``closed_on``, ``close_reason``), the last phase (``in_monitoring``),
the last consent event (``consent_given``), the period end, the first closure and plan,
each goal with its first agreement after it was added and its last status, the transfers
and the activity of each stay (before the first transfer: the year's counters of the case).
What is not in it is the :class:`Tail`: the seq and date of the last event (the date for
``out_of_order``), the depth (closures minus reopenings, for ``contact_after_closure``) and
the last status of each goal not added (yet). The tail is the same for every window that
sees all the events, which is what the store keeps for a case's latest year and for
:data:`~._stored.AFTER`.

>>> tail = Tail(3, date(2026, 5, 4), 1, (("g-1", "achieved", date(2026, 5, 4), 3),))
>>> decode_tail(encode_tail(tail)) == tail
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

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
from imflow.kennzahlen._facts import (
    CONSENT,
    LIFECYCLE,
    OPENINGS,
    PERIOD_SETTERS,
    PHASE_CHANGERS,
    CaseFacts,
    GoalFacts,
    OneCase,
    StayFacts,
    TransferFacts,
    Window,
)

__all__ = ["Fold", "Tail", "decode_tail", "encode_tail", "tail_of"]

Orphan = tuple[str, str, date, int]
"""The last status set for a goal not added: goal id, status, date, seq."""


@attrs.frozen
class Tail:
    """What the fold carries beyond its result, after the event at ``seq``."""

    seq: int  # of the last event
    previous: date  # the date of the last event
    depth: int  # closures minus reopenings
    orphans: tuple[Orphan, ...]  # by goal id


def tail_of(history: Sequence[Event]) -> Tail:
    """The :class:`Tail` after a case's whole *history* (sorted by ``seq``, not empty)."""
    added: set[str] = set()
    orphans: dict[str, Orphan] = {}
    depth = 0
    for ev in history:
        t = ev.type
        if t == "case_closed":
            depth += 1
        elif t == "case_reopened":
            depth -= 1
        elif isinstance(ev, GoalAdded):
            added.add(ev.goal_id)
            orphans.pop(ev.goal_id, None)
        elif isinstance(ev, GoalStatusSet) and ev.goal_id not in added:
            orphans[ev.goal_id] = (ev.goal_id, ev.status.value, ev.on, ev.seq)
    last = history[-1]
    return Tail(last.seq, last.on, depth, tuple(orphans[g] for g in sorted(orphans)))


def encode_tail(tail: Tail) -> str:
    """The JSON text of *tail* (dates as day numbers)."""
    orphans = [[g, s, on.toordinal(), seq] for g, s, on, seq in tail.orphans]
    body = [tail.seq, tail.previous.toordinal(), tail.depth, orphans]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode_tail(text: str) -> Tail:
    """The :class:`Tail` of :func:`encode_tail`'s *text*."""
    seq, previous, depth, orphans = json.loads(text)
    return Tail(
        int(seq),
        date.fromordinal(previous),
        int(depth),
        tuple((str(g), str(s), date.fromordinal(on), int(q)) for g, s, on, q in orphans),
    )


_STAY_TYPES = frozenset({"contact_recorded", "plan_agreed", "period_extended"})


class Fold:
    """The fold of :func:`~._facts.case_facts` for *window*, resumed after the events
    that gave *one* and *tail*; :meth:`step` the later events in ``seq`` order (those
    dated after the window are skipped), then :meth:`result`."""

    __slots__ = (
        "_case",
        "_early",
        "_end",
        "_goals",
        "_orphans",
        "_start",
        "_sums",
        "_transfers",
        "depth",
        "previous",
        "seq",
    )

    def __init__(self, one: OneCase, tail: Tail, window: Window) -> None:
        self._start, self._end = window.start, window.end
        self._case: dict[str, Any] = attrs.asdict(one.case, recurse=False)
        self._goals = {g.goal_id: attrs.asdict(g, recurse=False) for g in one.goals}
        self._transfers = list(one.transfers)
        c = one.case
        self._sums = {
            s.stay: [s.contacts, s.minutes, s.plans_in_year, s.extensions, s.extension_months]
            for s in one.stays
        }
        if not self._transfers:  # the activity of stay 0 is the year's activity of the case
            row = [c.contacts, c.minutes, c.plans_in_year, c.extensions, c.extension_months]
            if any(row):
                self._sums[0] = row
        self._early = one.status_before_plan
        self._orphans = {o[0]: o for o in tail.orphans}
        self.seq, self.previous, self.depth = tail.seq, tail.previous, tail.depth

    def steps(self, events: Iterable[Event]) -> Fold:
        """:meth:`step` each of *events*; returns the fold itself."""
        for ev in events:
            self.step(ev)
        return self

    def step(self, ev: Event) -> None:
        """Fold in *ev*, the event after those folded so far (by ``seq``)."""
        on = ev.on
        if on > self._end:
            return
        t, c = ev.type, self._case
        in_year = on >= self._start
        if in_year:
            c["events_in_year"] = True
        if on < self.previous:
            c["out_of_order"] = True
        self.previous, self.seq = on, ev.seq
        if t in LIFECYCLE:
            closed = isinstance(ev, CaseClosed)
            c["closed_at_end"] = closed
            c["closed_on"] = on if closed else None
            c["close_reason"] = ev.reason.value if isinstance(ev, CaseClosed) else ""
            if in_year:
                c["lifecycle_in_year"] = True
                if t == "case_reopened":
                    c["reopened_in_year"] = True
                    if c["reopen_seq"] is None or ev.seq < c["reopen_seq"]:
                        c["reopen_seq"] = ev.seq
            elif t in OPENINGS:
                c["opens_before"] += 1
            else:
                c["closes_before"] += 1
            if closed and (c["first_close_on"] is None or on < c["first_close_on"]):
                c["first_close_on"] = on
        if t in PHASE_CHANGERS:
            c["in_monitoring"] = t == "plan_agreed"
        elif t in CONSENT:
            c["consent_given"] = t == "consent_recorded"
        if t in PERIOD_SETTERS:
            assert isinstance(ev, CaseOpened | PeriodExtended | RuleSetMigrated)
            c["period_end"] = ev.period_end
        if t == "contact_recorded":
            assert isinstance(ev, ContactRecorded)
            if self.depth > 0:
                c["contact_after_closure"] = True
            if in_year:
                c["contacts"] += 1
                c["minutes"] += ev.minutes
        elif t == "plan_agreed":
            if c["first_plan_on"] is None or on < c["first_plan_on"]:
                c["first_plan_on"] = on
            c["plans_in_year"] += in_year
            for g in self._goals.values():  # the goals added so far, all before it
                if g["agreed_on"] is None or (on, ev.seq) < (g["agreed_on"], g["agreed_seq"]):
                    g["agreed_on"], g["agreed_seq"] = on, ev.seq
        elif t == "period_extended" and in_year:
            assert isinstance(ev, PeriodExtended)
            c["extensions"] += 1
            c["extension_months"] += ev.months
        if t == "case_closed":
            self.depth += 1
        elif t == "case_reopened":
            self.depth -= 1
        elif isinstance(ev, CaseTransferred):
            self._transfers.append(
                TransferFacts(ev.case_id, ev.seq, on, ev.from_provider, ev.to_provider)
            )
        elif isinstance(ev, GoalAdded):
            self._added(ev)
        elif isinstance(ev, GoalStatusSet):
            self._status(ev)
        if in_year and t in _STAY_TYPES:
            self._stay(ev)

    def _stay(self, ev: Event) -> None:
        row = self._sums.setdefault(len(self._transfers), [0, 0, 0, 0, 0])
        if isinstance(ev, ContactRecorded):
            row[0] += 1
            row[1] += ev.minutes
        elif isinstance(ev, PeriodExtended):
            row[3] += 1
            row[4] += ev.months
        else:
            row[2] += 1

    def _added(self, ev: GoalAdded) -> None:
        if ev.goal_id in self._goals:
            return  # the first goal_added of a goal id counts
        orphan = self._orphans.pop(ev.goal_id, None)
        self._goals[ev.goal_id] = {
            "case_id": ev.case_id,
            "goal_id": ev.goal_id,
            "area": ev.area.value,
            "agreed_on": None,
            "status": None if orphan is None else orphan[1],
            "status_on": None if orphan is None else orphan[2],
            "agreed_seq": None,
            "status_seq": None if orphan is None else orphan[3],
        }

    def _status(self, ev: GoalStatusSet) -> None:
        g = self._goals.get(ev.goal_id)
        if g is None:  # set before the goal was added: before its plan, too
            self._orphans[ev.goal_id] = (ev.goal_id, ev.status.value, ev.on, ev.seq)
            self._early = True
            return
        if g["agreed_on"] is None or g["agreed_on"] > ev.on:
            self._early = True  # no agreement after the goal, on or before the status
        g["status"], g["status_on"], g["status_seq"] = ev.status.value, ev.on, ev.seq

    def result(self) -> OneCase:
        """The facts of the window after the events folded so far."""
        case_id = self._case["case_id"]
        transfers = tuple(self._transfers)
        stays = tuple(
            StayFacts(case_id, k, *row) for k, row in sorted(self._sums.items()) if transfers
        )
        return OneCase(
            CaseFacts(**self._case),
            tuple(GoalFacts(**g) for g in self._goals.values()),
            transfers,
            stays,
            self._early,
        )

    def tail(self) -> Tail:
        """The :class:`Tail` after the events folded so far."""
        orphans = tuple(self._orphans[g] for g in sorted(self._orphans))
        return Tail(self.seq, self.previous, self.depth, orphans)
