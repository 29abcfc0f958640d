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

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any

import attrs

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

__all__ = [
    "AFTER",
    "Scope",
    "decode_row",
    "encode_row",
    "facts_from_rows",
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


def _codec(cls: type) -> list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]]:
    """Each field of *cls* but ``case_id``, with its encoder and decoder."""
    found: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = []
    for field in attrs.fields(cls):
        if field.name == "case_id":
            continue
        kind = str(field.type)
        if kind.startswith("date"):
            found.append((field.name, _day_in, _day_out))
        elif kind == "bool":
            found.append((field.name, int, bool))
        else:
            found.append((field.name, _same, _same))
    return found


def _same(value: Any) -> Any:
    return value


def _day_in(value: date | None) -> int | None:
    return None if value is None else value.toordinal()


def _day_out(value: int | None) -> date | None:
    return None if value is None else date.fromordinal(value)


_CASE, _GOAL = _codec(CaseFacts), _codec(GoalFacts)
_TRANSFER, _STAY = _codec(TransferFacts), _codec(StayFacts)


def _pack(obj: object, codec: Sequence[tuple[str, Callable[[Any], Any], Any]]) -> list[Any]:
    return [enc(getattr(obj, name)) for name, enc, _ in codec]


def _unpack(
    cls: Callable[..., Any], case_id: str, values: Sequence[Any], codec: Sequence[Any]
) -> Any:
    return cls(case_id, *(dec(v) for (_, _, dec), v in zip(codec, values, strict=True)))


def encode_row(one: OneCase, scope: Scope | None = None) -> str:
    """The JSON text of one row (*scope* only in the :data:`AFTER` row)."""
    body: list[Any] = [
        _pack(one.case, _CASE),
        [_pack(g, _GOAL) for g in sorted(one.goals, key=lambda g: g.goal_id)],
        [_pack(t, _TRANSFER) for t in sorted(one.transfers, key=lambda t: t.seq)],
        [_pack(s, _STAY) for s in sorted(one.stays, key=lambda s: s.stay)],
        int(one.status_before_plan),
    ]
    if scope is not None:
        body.append(
            [
                scope.district,
                scope.provider,
                list(scope.moved_to),
                scope.first_year,
                scope.last_year,
            ]
        )
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode_row(case_id: str, text: str) -> tuple[OneCase, Scope | None]:
    """The facts and (in an :data:`AFTER` row) the scope of one row's JSON *text*."""
    body = json.loads(text)
    one = OneCase(
        _unpack(CaseFacts, case_id, body[0], _CASE),
        tuple(_unpack(GoalFacts, case_id, g, _GOAL) for g in body[1]),
        tuple(_unpack(TransferFacts, case_id, t, _TRANSFER) for t in body[2]),
        tuple(_unpack(StayFacts, case_id, s, _STAY) for s in body[3]),
        bool(body[4]),
    )
    if len(body) < 6:
        return one, None
    d, p, moved, first, last = body[5]
    return one, Scope(d, p, tuple(moved), int(first), int(last))


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


def summary_rows(history: Sequence[Event], since: int) -> list[tuple[int, str]]:
    """The rows (year, JSON) of a case from year *since* on: the years from *since* (or
    the earliest event's, if later) to the latest event's, and the :data:`AFTER` row;
    *history* is all the case's events, sorted by ``seq``.

    >>> summary_rows([], 2026)
    []
    """
    if not history:
        return []
    scope = scope_of(history)
    rows: list[tuple[int, str]] = []
    for year in range(max(since, scope.first_year), scope.last_year + 1):
        one = case_facts(history, Window.of(year))
        assert one is not None, "a year from the first event's on has facts"
        rows.append((year, encode_row(one)))
    after = case_facts(history, _AFTER_WINDOW)
    assert after is not None
    rows.append((AFTER, encode_row(after, scope)))
    return rows


def facts_from_rows(
    rows: Iterable[Sequence[Any]],
    year: int,
    *,
    district: str | None,
    provider: str | None,
) -> Facts:
    """The :class:`~._facts.Facts` of year *year* from rows ``(case_id, year, facts)``
    ordered by case and year (each case's rows for *year* and :data:`AFTER`)."""
    cases: list[CaseFacts] = []
    goals: list[GoalFacts] = []
    transfers: list[TransferFacts] = []
    stays: list[StayFacts] = []
    early: set[str] = set()
    own: str | None = None  # the row of the year itself, if any, of the case at hand
    for case_id, row_year, text in rows:
        cid = str(case_id)
        if int(row_year) != AFTER:
            own = str(text)
            continue
        after, scope = decode_row(cid, str(text))
        found, own = own, None
        assert scope is not None, "an AFTER row holds the case's scope"
        if not scope.admits(district, provider) or year < scope.first_year:
            continue
        if found is not None:
            one, _ = decode_row(cid, found)
        elif year > scope.last_year:
            one = after
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
