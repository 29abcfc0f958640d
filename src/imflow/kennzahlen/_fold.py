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

:class:`Fold` works on a row's JSON body as :func:`~._stored.encode_row` writes it
(positional lists, dates as day numbers, flags as 0 / 1) and writes it back the same way,
without building the facts' classes: an append steps one or two rows.

>>> tail = Tail(3, 739740, 1, (("g-1", "achieved", 739740, 3),))
>>> decode_tail(encode_tail(tail)) == tail
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from imflow._json import compact, loads
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
    StayFacts,
    TransferFacts,
    Window,
)

__all__ = ["Fold", "Tail", "decode_tail", "encode_tail", "tail_of"]


Orphan = tuple[str, str, int, int]
"""The last status set for a goal not added: goal id, status, day number, seq."""


@attrs.frozen
class Tail:
    """What the fold carries beyond its result, after the event at ``seq``."""

    seq: int  # of the last event
    previous: int  # the day number (date.toordinal) of the last event's date
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
            orphans[ev.goal_id] = (ev.goal_id, ev.status.value, ev.on.toordinal(), ev.seq)
    last = history[-1]
    return Tail(last.seq, last.on.toordinal(), depth, tuple(orphans[g] for g in sorted(orphans)))


def encode_tail(tail: Tail) -> str:
    """The JSON text of *tail*."""
    return compact([tail.seq, tail.previous, tail.depth, [list(o) for o in tail.orphans]])


def decode_tail(text: str) -> Tail:
    """The :class:`Tail` of :func:`encode_tail`'s *text*."""
    seq, previous, depth, orphans = loads(text)
    return Tail(
        int(seq),
        int(previous),
        int(depth),
        tuple((str(g), str(s), int(on), int(q)) for g, s, on, q in orphans),
    )


def _positions(facts: type) -> dict[str, int]:
    """Where each field but ``case_id`` of *facts* is in a row's list (as packed)."""
    names = [f.name for f in attrs.fields(facts) if f.name != "case_id"]
    return {name: i for i, name in enumerate(names)}


_C, _G = _positions(CaseFacts), _positions(GoalFacts)
_STAY_FIELDS = ("contacts", "minutes", "plans_in_year", "extensions", "extension_months")
assert list(_positions(StayFacts)) == ["stay", *_STAY_FIELDS]
assert list(_positions(TransferFacts)) == ["seq", "on", "from_provider", "to_provider"]
_EVENTS_IN_YEAR, _OUT_OF_ORDER = _C["events_in_year"], _C["out_of_order"]
_CLOSED_AT_END, _CLOSED_ON, _CLOSE_REASON = (
    _C["closed_at_end"],
    _C["closed_on"],
    _C["close_reason"],
)
_LIFECYCLE_IN_YEAR, _REOPENED, _REOPEN_SEQ = (
    _C["lifecycle_in_year"],
    _C["reopened_in_year"],
    _C["reopen_seq"],
)
_OPENS_BEFORE, _CLOSES_BEFORE, _FIRST_CLOSE = (
    _C["opens_before"],
    _C["closes_before"],
    _C["first_close_on"],
)
_IN_MONITORING, _CONSENT, _PERIOD_END = _C["in_monitoring"], _C["consent_given"], _C["period_end"]
_AFTER_CLOSURE, _CONTACTS, _MINUTES = (
    _C["contact_after_closure"],
    _C["contacts"],
    _C["minutes"],
)
_FIRST_PLAN, _PLANS, _EXTENSIONS, _MONTHS = (
    _C["first_plan_on"],
    _C["plans_in_year"],
    _C["extensions"],
    _C["extension_months"],
)
_YEAR_ACTIVITY = tuple(_C[name] for name in _STAY_FIELDS)
_G_AGREED_ON, _G_AGREED_SEQ = _G["agreed_on"], _G["agreed_seq"]
_G_STATUS, _G_STATUS_ON, _G_STATUS_SEQ = _G["status"], _G["status_on"], _G["status_seq"]
_G_LENGTH = len(_G)
_STAY_TYPES = frozenset({"contact_recorded", "plan_agreed", "period_extended"})


class Fold:
    """The fold of :func:`~._facts.case_facts` for *window*, resumed after the events
    that gave the row *body* (its decoded JSON) and *tail*; :meth:`step` the later
    events in ``seq`` order (those dated after the window are skipped), then
    :meth:`row` and :meth:`tail`."""

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

    def __init__(self, body: Sequence[Any], tail: Tail, window: Window) -> None:
        self._start, self._end = window.start, window.end
        case, goals, transfers, stays, early = body
        self._case: list[Any] = list(case)
        self._goals: dict[str, list[Any]] = {g[0]: list(g) for g in goals}
        self._transfers: list[list[Any]] = list(transfers)
        self._sums: dict[int, list[int]] = {s[0]: list(s[1:]) for s in stays}
        if not transfers:  # the activity of stay 0 is the year's activity of the case
            row = [case[i] for i in _YEAR_ACTIVITY]
            if any(row):
                self._sums[0] = row
        self._early = int(early)
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
        t, c, day = ev.type, self._case, on.toordinal()
        in_year = on >= self._start
        if in_year:
            c[_EVENTS_IN_YEAR] = 1
        if day < self.previous:
            c[_OUT_OF_ORDER] = 1
        self.previous, self.seq = day, ev.seq
        if t in LIFECYCLE:
            closed = isinstance(ev, CaseClosed)
            c[_CLOSED_AT_END] = int(closed)
            c[_CLOSED_ON] = day if closed else None
            c[_CLOSE_REASON] = ev.reason.value if isinstance(ev, CaseClosed) else ""
            if in_year:
                c[_LIFECYCLE_IN_YEAR] = 1
                if t == "case_reopened":
                    c[_REOPENED] = 1
                    if c[_REOPEN_SEQ] is None or ev.seq < c[_REOPEN_SEQ]:
                        c[_REOPEN_SEQ] = ev.seq
            elif t in OPENINGS:
                c[_OPENS_BEFORE] += 1
            else:
                c[_CLOSES_BEFORE] += 1
            if closed and (c[_FIRST_CLOSE] is None or day < c[_FIRST_CLOSE]):
                c[_FIRST_CLOSE] = day
        if t in PHASE_CHANGERS:
            c[_IN_MONITORING] = int(t == "plan_agreed")
        elif t in CONSENT:
            c[_CONSENT] = int(t == "consent_recorded")
        if t in PERIOD_SETTERS:
            assert isinstance(ev, CaseOpened | PeriodExtended | RuleSetMigrated)
            end = ev.period_end
            c[_PERIOD_END] = None if end is None else end.toordinal()
        if t == "contact_recorded":
            assert isinstance(ev, ContactRecorded)
            if self.depth > 0:
                c[_AFTER_CLOSURE] = 1
            if in_year:
                c[_CONTACTS] += 1
                c[_MINUTES] += ev.minutes
        elif t == "plan_agreed":
            if c[_FIRST_PLAN] is None or day < c[_FIRST_PLAN]:
                c[_FIRST_PLAN] = day
            c[_PLANS] += int(in_year)
            for g in self._goals.values():  # the goals added so far, all before it
                if g[_G_AGREED_ON] is None or (day, ev.seq) < (g[_G_AGREED_ON], g[_G_AGREED_SEQ]):
                    g[_G_AGREED_ON], g[_G_AGREED_SEQ] = day, ev.seq
        elif t == "period_extended" and in_year:
            assert isinstance(ev, PeriodExtended)
            c[_EXTENSIONS] += 1
            c[_MONTHS] += ev.months
        if t == "case_closed":
            self.depth += 1
        elif t == "case_reopened":
            self.depth -= 1
        elif isinstance(ev, CaseTransferred):
            self._transfers.append([ev.seq, day, ev.from_provider, ev.to_provider])
        elif isinstance(ev, GoalAdded):
            self._added(ev)
        elif isinstance(ev, GoalStatusSet):
            self._status(ev, day)
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
        g: list[Any] = [None] * _G_LENGTH
        g[_G["goal_id"]], g[_G["area"]] = ev.goal_id, ev.area.value
        orphan = self._orphans.pop(ev.goal_id, None)
        if orphan is not None:  # its status was set before it was added
            g[_G_STATUS], g[_G_STATUS_ON], g[_G_STATUS_SEQ] = orphan[1:]
        self._goals[ev.goal_id] = g

    def _status(self, ev: GoalStatusSet, day: int) -> None:
        g = self._goals.get(ev.goal_id)
        if g is None:  # set before the goal was added: before its plan, too
            self._orphans[ev.goal_id] = (ev.goal_id, ev.status.value, day, ev.seq)
            self._early = 1
            return
        if g[_G_AGREED_ON] is None or g[_G_AGREED_ON] > day:
            self._early = 1  # no agreement after the goal, on or before the status
        g[_G_STATUS], g[_G_STATUS_ON], g[_G_STATUS_SEQ] = ev.status.value, day, ev.seq

    def row(self) -> str:
        """The row's JSON text after the events folded so far (as :func:`~._stored.
        encode_row` writes the facts of the window)."""
        stays = [[k, *self._sums[k]] for k in sorted(self._sums)] if self._transfers else []
        body = [
            self._case,
            [self._goals[g] for g in sorted(self._goals)],
            sorted(self._transfers, key=lambda t: t[0]),
            stays,
            self._early,
        ]
        return compact(body)

    def tail(self) -> Tail:
        """The :class:`Tail` after the events folded so far."""
        orphans = tuple(self._orphans[g] for g in sorted(self._orphans))
        return Tail(self.seq, self.previous, self.depth, orphans)

    def state(self) -> str:
        """The JSON text of :meth:`tail` (as :func:`encode_tail` writes it)."""
        orphans = [list(self._orphans[g]) for g in sorted(self._orphans)]
        return compact([self.seq, self.previous, self.depth, orphans])
