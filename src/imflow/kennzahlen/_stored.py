"""Private: the report's facts kept per case and year in the database (``report_facts``).

The store writes, in the transaction of every append, one row per case and calendar
year from the year of the case's earliest event date to that of its latest, plus one
row for "any later year" (:data:`AFTER`): the facts of :func:`~._facts.case_facts` for
that window, as compact JSON. The report of year *Y* then reads two rows per case
instead of decoding every event. A row holds only what a key figure counts (types,
dates, phases, reasons, areas, minutes, household size, districts, providers and ids),
never a person or member reference nor any free text (domain.md § 8), so erasure and
retention leave it as it is and past figures stay equal.

>>> from datetime import date
>>> window_of(2026) == Window.of(2026), window_of(AFTER).start
(True, datetime.date(9999, 1, 1))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

import attrs

from imflow._json import compact as _json
from imflow._json import loads
from imflow.events import CaseOpened, CaseTransferred, Event
from imflow.kennzahlen._facts import (
    CaseFacts,
    Facts,
    GoalFacts,
    OneCase,
    StayFacts,
    TransferFacts,
    Window,
    case_facts,
)
from imflow.kennzahlen._fold import Fold, decode_tail

__all__ = [
    "AFTER",
    "Scope",
    "decode_row",
    "decode_scope",
    "encode_row",
    "encode_scope",
    "facts_from_rows",
    "stepped_rows",
    "summary_rows",
    "window_of",
]

AFTER = 9999
"""The year of a case's row for every year after its last event's year."""

_AFTER_WINDOW = Window(date(AFTER, 1, 1), date(AFTER, 12, 31))


def window_of(year: int) -> Window:
    """The window a row of *year* was computed for."""
    return _AFTER_WINDOW if year == AFTER else Window.of(year)


@attrs.frozen
class Scope:
    """Who a case belongs to, from its whole history (kept in its :data:`AFTER` row)."""

    district: str | None  # of the case_opened event at seq 1 (None: no such opening)
    provider: str | None
    moved_to: tuple[str, ...]  # every provider the case was ever transferred to
    first_year: int  # of the earliest event date
    last_year: int  # of the latest event date

    def admits(self, district: str | None, provider: str | None) -> bool:
        """Whether the case is in the scope (the rule of :func:`~._facts.from_events`)."""
        if district is not None and self.district != district:
            return False
        if provider is None:
            return True
        return self.district is not None and (
            self.provider == provider or provider in self.moved_to
        )


@attrs.frozen
class _Codec:
    """How the fields of one facts class but ``case_id`` are written: dates as day
    numbers, booleans as 0 / 1, the rest as they are."""

    cls: Callable[..., Any]
    names: tuple[str, ...]
    days: tuple[int, ...]
    flags: tuple[int, ...]

    @classmethod
    def of(cls, facts: type) -> _Codec:
        fields = [f for f in attrs.fields(facts) if f.name != "case_id"]
        kinds = [str(f.type) for f in fields]
        return cls(
            facts,
            tuple(f.name for f in fields),
            tuple(i for i, k in enumerate(kinds) if k.startswith("date")),
            tuple(i for i, k in enumerate(kinds) if k == "bool"),
        )

    def pack(self, obj: object) -> list[Any]:
        values = [getattr(obj, name) for name in self.names]
        for i in self.days:
            day = values[i]
            values[i] = None if day is None else day.toordinal()
        for i in self.flags:
            values[i] = int(values[i])
        return values

    def unpack(self, case_id: str, values: list[Any]) -> Any:
        if len(values) != len(self.names):
            raise ValueError("a report_facts row of another layout")
        for i in self.days:
            day = values[i]
            if day is not None:
                values[i] = _fromordinal(day)
        for i in self.flags:
            values[i] = bool(values[i])
        return self.cls(case_id, *values)


_fromordinal = date.fromordinal
_CASE, _GOAL = _Codec.of(CaseFacts), _Codec.of(GoalFacts)
_TRANSFER, _STAY = _Codec.of(TransferFacts), _Codec.of(StayFacts)


def encode_row(one: OneCase) -> str:
    """The JSON text of one row's facts: positional lists, dates as day numbers."""
    body: list[Any] = [
        _CASE.pack(one.case),
        [_GOAL.pack(g) for g in sorted(one.goals, key=lambda g: g.goal_id)],
        [_TRANSFER.pack(t) for t in sorted(one.transfers, key=lambda t: t.seq)],
        [_STAY.pack(s) for s in sorted(one.stays, key=lambda s: s.stay)],
        int(one.status_before_plan),
    ]
    return _json(body)


def decode_row(case_id: str, text: str) -> OneCase:
    """The facts of one row's JSON *text* (see :func:`encode_row`)."""
    case, goals, transfers, stays, early = loads(text)
    return OneCase(
        _CASE.unpack(case_id, case),
        tuple(_GOAL.unpack(case_id, g) for g in goals),
        tuple(_TRANSFER.unpack(case_id, t) for t in transfers),
        tuple(_STAY.unpack(case_id, s) for s in stays),
        bool(early),
    )


def encode_scope(scope: Scope) -> str:
    """The JSON text of a case's :class:`Scope` (its :data:`AFTER` row's ``scope``).

    >>> encode_scope(Scope("08337", "drk", ("awo",), 2025, 2026))
    '["08337","drk",["awo"],2025,2026]'
    """
    return _json(
        [scope.district, scope.provider, list(scope.moved_to), scope.first_year, scope.last_year]
    )


def decode_scope(text: str) -> Scope:
    """The :class:`Scope` of :func:`encode_scope`'s *text*."""
    d, p, moved, first, last = loads(text)
    return Scope(d, p, tuple(moved), int(first), int(last))


def scope_of(history: Sequence[Event]) -> Scope:
    """The :class:`Scope` of a case's whole *history* (sorted by ``seq``, not empty)."""
    first = history[0]
    opening = first if isinstance(first, CaseOpened) and first.seq == 1 else None
    moved = sorted({e.to_provider for e in history if isinstance(e, CaseTransferred)})
    years = [e.on.year for e in history]
    return Scope(
        None if opening is None else opening.district,
        None if opening is None else opening.provider,
        tuple(moved),
        min(years),
        max(years),
    )


def summary_rows(history: Sequence[Event], since: int) -> list[tuple[int, str, str | None]]:
    """The rows (year, facts, scope) of a case from year *since* on: the years from *since* (or
    the earliest event's, if later) to the latest event's, and the :data:`AFTER` row;
    *history* is all the case's events, sorted by ``seq``.

    >>> summary_rows([], 2026)
    []
    """
    if not history:
        return []
    scope = scope_of(history)
    rows: list[tuple[int, str, str | None]] = []
    for year in range(max(since, scope.first_year), scope.last_year + 1):
        one = case_facts(history, Window.of(year))
        assert one is not None, "a year from the first event's on has facts"
        rows.append((year, encode_row(one), None))
    after = case_facts(history, _AFTER_WINDOW)
    assert after is not None
    rows.append((AFTER, encode_row(after), encode_scope(scope)))
    return rows


Row = tuple[int, str, str | None, str | None]
"""A row of ``report_facts`` but its case: year, facts, scope and state (the last two
in the :data:`AFTER` row only)."""


def stepped_rows(
    case_id: str, stored: Sequence[Sequence[Any]], batch: Sequence[Event]
) -> list[Row] | None:
    """The rows *batch* changes, stepped from the case's *stored* rows (its last two by
    year, ``(year, facts, scope, state)``: :data:`AFTER` and the latest year's), or
    ``None`` when they cannot be: no state kept, not the state just before the batch's
    first event, or an event of the batch dated before the latest year (back-dated).

    The latest year's row and every later year's are the fold of that window resumed
    from the latest year's row (for later years from the :data:`AFTER` row: no event is
    dated in them yet) and stepped through the batch; the :data:`AFTER` row likewise.
    Every window from the latest year's on sees all the events before the batch, so the
    kept :class:`~._fold.Tail` is the tail of each.
    """
    if len(stored) != 2 or not batch:
        return None
    (after_year, after_text, scoped, state), (last_year, last_text, _, _) = stored
    if after_year != AFTER or state is None or scoped is None:
        return None
    # the scope as decode_scope reads it, without building a Scope to evolve and encode
    district, provider, was_moved, first, last = loads(str(scoped))
    latest, tail = int(last), decode_tail(str(state))
    newest, earliest = latest, latest
    moved: set[str] = set()
    for e in batch:
        year = e.on.year
        if year > newest:
            newest = year
        elif year < earliest:
            earliest = year
        if isinstance(e, CaseTransferred):
            moved.add(e.to_provider)
    if last_year != latest or batch[0].seq != tail.seq + 1 or earliest < latest:
        return None
    if newest >= AFTER:  # pragma: no cover - the engine refuses dates that far
        return None
    last, after = loads(str(last_text)), loads(str(after_text))
    rows: list[Row] = []
    for year in range(latest, newest + 1):
        fold = Fold(last if year == latest else after, tail, Window.of(year)).steps(batch)
        rows.append((year, fold.row(), None, None))
    fold = Fold(after, tail, _AFTER_WINDOW).steps(batch)
    scope = _json([district, provider, sorted(moved.union(was_moved)), int(first), newest])
    rows.append((AFTER, fold.row(), scope, fold.state()))
    return rows


def facts_from_rows(
    rows: Iterable[Sequence[Any]],
    year: int,
    *,
    district: str | None,
    provider: str | None,
) -> Facts:
    """The :class:`~._facts.Facts` of year *year* from rows ``(case_id, year, facts,
    scope)`` ordered by case and year (each case's rows for *year* and :data:`AFTER`)."""
    cases: list[CaseFacts] = []
    goals: list[GoalFacts] = []
    transfers: list[TransferFacts] = []
    stays: list[StayFacts] = []
    early: set[str] = set()
    own: str | None = None  # the row of the year itself, if any, of the case at hand
    for case_id, row_year, text, scoped in rows:
        if row_year != AFTER:
            own = text
            continue
        cid = str(case_id)
        found, own = own, None
        scope = decode_scope(str(scoped))
        if not scope.admits(district, provider) or year < scope.first_year:
            continue
        if found is not None:
            one = decode_row(cid, str(found))
        elif year > scope.last_year:
            one = decode_row(cid, str(text))
        else:  # pragma: no cover - the store writes every year in between
            raise AssertionError("a year of the case has no report_facts row")
        cases.append(one.case)
        goals.extend(one.goals)
        transfers.extend(one.transfers)
        stays.extend(one.stays)
        if one.status_before_plan:
            early.add(cid)
    cases.sort(key=lambda c: c.case_id)
    goals.sort(key=lambda g: (g.case_id, g.goal_id))
    transfers.sort(key=lambda t: (t.case_id, t.seq))
    stays.sort(key=lambda s: (s.case_id, s.stay))
    return Facts(
        tuple(cases), tuple(goals), frozenset(early), tuple(transfers), tuple(stays), provider
    )
