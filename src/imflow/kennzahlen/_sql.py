"""Private: the facts of a report read in the database (SQLite or PostgreSQL).

The database aggregates per case and per goal; Python receives one compact row per case
and per goal, never the events. The queries read the agreed ``events`` table::

    events(case_id, seq, type, on_date, recorded_at, district, provider,
           schema_version, payload, PRIMARY KEY (case_id, seq))

where ``payload`` is the event document (JSON text in SQLite, JSONB in PostgreSQL)
and ``on_date`` the business date (ISO text in SQLite, DATE in PostgreSQL).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol

import attrs

from imflow.kennzahlen._facts import (
    CONSENT,
    LIFECYCLE,
    OPENINGS,
    PERIOD_SETTERS,
    PHASE_CHANGERS,
    CaseFacts,
    Facts,
    GoalFacts,
    StayFacts,
    TransferFacts,
    Window,
)
from imflow.kennzahlen._stored import AFTER, facts_from_rows

__all__ = [
    "Connection",
    "Dialect",
    "facts_from_events_sql",
    "facts_from_sql",
    "is_sql",
    "q_param",
    "session",
]

Dialect = Literal["sqlite", "postgresql"]
"""The SQL dialects the report reads."""


class Connection(Protocol):
    """A DB-API connection (``sqlite3`` or ``psycopg``)."""

    def cursor(self) -> Any: ...  # pragma: no cover


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


@attrs.frozen
class _SQL:
    """The spelling of the few things SQLite and PostgreSQL write differently."""

    dialect: Dialect

    def param(self, name: str) -> str:
        return f":{name}" if self.dialect == "sqlite" else f"%({name})s"

    def text(self, field: str, table: str = "") -> str:
        col = f"{table}.payload" if table else "payload"
        if self.dialect == "sqlite":
            return f"json_extract({col}, '$.{field}')"
        return f"({col} ->> '{field}')"

    def int(self, field: str) -> str:
        if self.dialect == "sqlite":
            return f"json_extract(payload, '$.{field}')"
        return f"({self.text(field)})::integer"

    def length(self, field: str) -> str:
        if self.dialect == "sqlite":
            return f"json_array_length(payload, '$.{field}')"
        return f"jsonb_array_length(payload -> '{field}')"

    def seqkey(self, table: str = "") -> str:
        """``seq`` as fixed-width text, so that MAX / MIN over "seq|value" picks by seq."""
        col = f"{table}.seq" if table else "seq"
        if self.dialect == "sqlite":
            return f"printf('%010d', {col})"
        return f"lpad({col}::text, 10, '0')"

    def day(self, table: str = "") -> str:
        col = f"{table}.on_date" if table else "on_date"
        return col if self.dialect == "sqlite" else f"to_char({col}, 'YYYY-MM-DD')"

    def maxtext(self, expr: str, fn: str = "MAX") -> str:
        return f"{fn}({expr})" if self.dialect == "sqlite" else f'{fn}(({expr}) COLLATE "C")'

    def scope(self, district: str | None, provider: str | None, col: str = "case_id") -> str:
        """Cases opened in *district*, and opened at or transferred to *provider*."""
        if district is None and provider is None:
            return ""
        opened = "SELECT case_id FROM events WHERE type = 'case_opened' AND seq = 1"
        if district is not None:
            opened += f" AND district = {self.param('district')}"
        found = f" AND {col} IN ({opened})"
        if provider is not None:
            found += (
                f" AND {col} IN ({opened} AND provider = {self.param('provider')}"
                " UNION SELECT case_id FROM events WHERE type = 'case_transferred'"
                f" AND {self.text('to_provider')} = {self.param('provider')})"
            )
        return found


def _case_query(q: _SQL, scope: str) -> str:
    end, start = q.param("end"), q.param("start")
    key = q.seqkey()
    opened = "type = 'case_opened' AND seq = 1"
    reason = q.text("reason")
    last_life = q.maxtext(
        f"CASE WHEN type IN {_in(LIFECYCLE)} THEN "
        f"{key} || '|' || type || '|' || {q.day()} || '|' || COALESCE({reason}, '') END"
    )
    last_period = q.maxtext(
        f"CASE WHEN type IN {_in(PERIOD_SETTERS)} THEN "
        f"{key} || '|' || COALESCE({q.text('period_end')}, '') END"
    )
    last_phase = q.maxtext(f"CASE WHEN type IN {_in(PHASE_CHANGERS)} THEN {key} || '|' || type END")
    last_consent = q.maxtext(f"CASE WHEN type IN {_in(CONSENT)} THEN {key} || '|' || type END")
    return f"""
SELECT case_id,
  MAX(CASE WHEN {opened} THEN district END),
  MAX(CASE WHEN {opened} THEN provider END),
  MAX(CASE WHEN {opened} THEN on_date END),
  MAX(CASE WHEN {opened} THEN {q.int("household")} END),
  MAX(CASE WHEN {opened} THEN {q.length("members")} END),
  MAX(CASE WHEN {opened} THEN {q.text("rule_set")} END),
  SUM(CASE WHEN type IN {_in(OPENINGS)} AND on_date < {start} THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'case_closed' AND on_date < {start} THEN 1 ELSE 0 END),
  MAX(CASE WHEN type IN {_in(LIFECYCLE)} AND on_date >= {start} THEN 1 ELSE 0 END),
  MAX(CASE WHEN type = 'case_reopened' AND on_date >= {start} THEN 1 ELSE 0 END),
  {last_life},
  MIN(CASE WHEN type = 'case_closed' THEN on_date END),
  MIN(CASE WHEN type = 'plan_agreed' THEN on_date END),
  SUM(CASE WHEN type = 'plan_agreed' AND on_date >= {start} THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'contact_recorded' AND on_date >= {start} THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'contact_recorded' AND on_date >= {start}
      THEN {q.int("minutes")} ELSE 0 END),
  SUM(CASE WHEN type = 'period_extended' AND on_date >= {start} THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'period_extended' AND on_date >= {start}
      THEN {q.int("months")} ELSE 0 END),
  {last_period},
  {last_phase},
  {last_consent},
  MAX(CASE WHEN on_date >= {start} THEN 1 ELSE 0 END),
  MAX(CASE WHEN {opened} AND {q.text("continues")} IS NOT NULL THEN 1 ELSE 0 END),
  MIN(CASE WHEN type = 'case_reopened' AND on_date >= {start} THEN seq END)
FROM events
WHERE on_date <= {end}{scope}
GROUP BY case_id
"""


def _flag_query(q: _SQL, scope: str) -> str:
    """The cases with an event dated before the one recorded just before it, or with a
    contact after a closure (closures minus reopenings before it > 0); only those."""
    end = q.param("end")
    return f"""
SELECT case_id,
  MAX(CASE WHEN on_date < prev_on THEN 1 ELSE 0 END),
  MAX(CASE WHEN type = 'contact_recorded' AND depth > 0 THEN 1 ELSE 0 END)
FROM (
  SELECT case_id, type, on_date,
         LAG(on_date) OVER (PARTITION BY case_id ORDER BY seq) AS prev_on,
         SUM(CASE type WHEN 'case_closed' THEN 1 WHEN 'case_reopened' THEN -1 ELSE 0 END)
           OVER (PARTITION BY case_id ORDER BY seq
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS depth
  FROM events
  WHERE on_date <= {end}{scope}
) flagged
WHERE on_date < prev_on OR (type = 'contact_recorded' AND depth > 0)
GROUP BY case_id
"""


def _transfer_query(q: _SQL, scope: str) -> str:
    end = q.param("end")
    return f"""
SELECT case_id, seq, {q.day()}, {q.text("from_provider")}, {q.text("to_provider")}
FROM events
WHERE type = 'case_transferred' AND on_date <= {end}{scope}
"""


def _stay_query(q: _SQL, scope: str) -> str:
    """The activity of each transferred case per stay: events after *n* transfers."""
    end, start = q.param("end"), q.param("start")
    return f"""
SELECT case_id, stay,
  SUM(CASE WHEN type = 'contact_recorded' THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'contact_recorded' THEN {q.int("minutes")} ELSE 0 END),
  SUM(CASE WHEN type = 'plan_agreed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'period_extended' THEN 1 ELSE 0 END),
  SUM(CASE WHEN type = 'period_extended' THEN {q.int("months")} ELSE 0 END)
FROM (
  SELECT case_id, type, on_date, payload,
         SUM(CASE WHEN type = 'case_transferred' THEN 1 ELSE 0 END)
           OVER (PARTITION BY case_id ORDER BY seq ROWS UNBOUNDED PRECEDING) AS stay
  FROM events
  WHERE on_date <= {end}{scope}
    AND case_id IN (SELECT case_id FROM events
                    WHERE type = 'case_transferred' AND on_date <= {end})
) staying
WHERE on_date >= {start}
  AND type IN ('contact_recorded', 'plan_agreed', 'period_extended')
GROUP BY case_id, stay
"""


def _goal_query(q: _SQL, scope: str) -> str:
    end = q.param("end")
    goal = q.text("goal_id")
    key = q.seqkey()
    first_added = q.maxtext(
        f"CASE WHEN type = 'goal_added' THEN {key} || '|' || {q.text('area')} END", "MIN"
    )
    last_status = q.maxtext(
        f"CASE WHEN type = 'goal_status_set' THEN "
        f"{key} || '|' || {q.day()} || '|' || {q.text('status')} END"
    )
    return f"""
WITH g AS (
  SELECT case_id, {goal} AS goal_id, {first_added} AS first_added, {last_status} AS last_status
  FROM events
  WHERE type IN ('goal_added', 'goal_status_set') AND on_date <= {end}{scope}
  GROUP BY case_id, {goal}
)
SELECT g.case_id, g.goal_id, g.first_added, g.last_status,
  (SELECT {q.maxtext(f"{q.day('a')} || '|' || {q.seqkey('a')}", "MIN")} FROM events a
   WHERE a.case_id = g.case_id AND a.type = 'plan_agreed' AND a.on_date <= {end}
     AND a.seq > CAST(substr(g.first_added, 1, 10) AS INTEGER))
FROM g
WHERE g.first_added IS NOT NULL
"""


def _status_query(q: _SQL, scope: str) -> str:
    end = q.param("end")
    return f"""
SELECT DISTINCT s.case_id FROM events s
WHERE s.type = 'goal_status_set' AND s.on_date <= {end}{scope}
  AND NOT EXISTS (
    SELECT 1 FROM events a
    WHERE a.case_id = s.case_id AND a.type = 'plan_agreed' AND a.on_date <= {end}
      AND a.seq < s.seq AND a.on_date <= s.on_date
      AND a.seq > (
        SELECT MIN(ga.seq) FROM events ga
        WHERE ga.case_id = s.case_id AND ga.type = 'goal_added' AND ga.on_date <= {end}
          AND {q.text("goal_id", "ga")} = {q.text("goal_id", "s")}))
"""


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _last(encoded: str | None) -> list[str]:
    """The fields after the seq key of an encoded "seq|a|b" value ([] for none)."""
    return [] if encoded is None else encoded.split("|")[1:]


def _case_row(row: Sequence[Any], flags: Mapping[str, tuple[bool, bool]]) -> CaseFacts:
    (cid, district, provider, opened, household, members, rule_set, opens_before) = row[:8]
    (closes_before, life_in_year, reopened, last_life, first_close, first_plan) = row[8:14]
    (plans, contacts, minutes, extensions, ext_months, last_period) = row[14:20]
    (last_phase, last_consent, in_year, continued, reopen_seq) = row[20:25]
    life = _last(last_life)
    closed = bool(life) and life[0] == "case_closed"
    period = _last(last_period)
    phase = _last(last_phase)
    consent = _last(last_consent)
    return CaseFacts(
        case_id=str(cid),
        district=district or "",
        provider=provider or "",
        opened_on=_day(opened),
        household=int(household or 0),
        members=int(members or 0),
        rule_set=rule_set or "",
        opens_before=int(opens_before),
        closes_before=int(closes_before),
        lifecycle_in_year=bool(life_in_year),
        reopened_in_year=bool(reopened),
        closed_at_end=closed,
        closed_on=_day(life[1]) if closed else None,
        close_reason=life[2] if closed else "",
        first_close_on=_day(first_close),
        first_plan_on=_day(first_plan),
        plans_in_year=int(plans),
        contacts=int(contacts),
        minutes=int(minutes),
        extensions=int(extensions),
        extension_months=int(ext_months),
        period_end=_day(period[0]) if period else None,
        in_monitoring=bool(phase) and phase[0] == "plan_agreed",
        consent_given=bool(consent) and consent[0] == "consent_recorded",
        events_in_year=bool(in_year),
        out_of_order=flags.get(str(cid), (False, False))[0],
        contact_after_closure=flags.get(str(cid), (False, False))[1],
        continued=bool(continued),
        reopen_seq=None if reopen_seq is None else int(reopen_seq),
    )


def _goal_row(row: Sequence[Any]) -> GoalFacts:
    cid, goal_id, first_added, last_status, agreed = row
    status = _last(last_status)
    day, _, seq = (agreed or "").partition("|")
    return GoalFacts(
        case_id=str(cid),
        goal_id=str(goal_id),
        area=_last(first_added)[0],
        agreed_on=_day(day),
        status=status[1] if status else None,
        status_on=_day(status[0]) if status else None,
        agreed_seq=int(seq) if seq else None,
        status_seq=int(last_status.split("|")[0]) if status else None,
    )


def _rows(conn: Connection, query: str, params: Mapping[str, Any]) -> Iterable[Sequence[Any]]:
    cur = conn.cursor()
    try:
        cur.execute(query, params)
        while batch := cur.fetchmany(5000):
            yield from batch
    finally:
        cur.close()


def facts_from_sql(
    conn: Connection,
    dialect: Dialect,
    window: Window,
    *,
    district: str | None,
    provider: str | None,
) -> Facts:
    """The facts of every case in scope: read from ``report_facts`` where the store keeps
    them (schema 6, filled), else aggregated over the events in the database."""
    from imflow.store._summary import fill_done

    if window == Window.of(window.start.year) and fill_done(conn, dialect):
        rows = _rows(
            conn,
            "SELECT case_id, year, facts, scope FROM report_facts"
            f" WHERE year = {q_param(dialect, 'year')} OR year = {AFTER}"
            " ORDER BY case_id, year",
            {"year": window.start.year},
        )
        return facts_from_rows(rows, window.start.year, district=district, provider=provider)
    return facts_from_events_sql(conn, dialect, window, district=district, provider=provider)


def q_param(dialect: Dialect, name: str) -> str:
    """The placeholder of *name* in *dialect*."""
    return _SQL(dialect).param(name)


def facts_from_events_sql(
    conn: Connection,
    dialect: Dialect,
    window: Window,
    *,
    district: str | None,
    provider: str | None,
) -> Facts:
    """The facts of every case in scope, aggregated over the events in the database."""
    q = _SQL(dialect)
    params: dict[str, Any] = {}
    if dialect == "sqlite":
        params.update(start=window.start.isoformat(), end=window.end.isoformat())
    else:
        params.update(start=window.start, end=window.end)
    if district is not None:
        params["district"] = district
    if provider is not None:
        params["provider"] = provider
    scope = q.scope(district, provider)
    flags = {
        str(cid): (bool(late), bool(after))
        for cid, late, after in _rows(conn, _flag_query(q, scope), params)
    }
    cases = [_case_row(r, flags) for r in _rows(conn, _case_query(q, scope), params)]
    goals = [_goal_row(r) for r in _rows(conn, _goal_query(q, scope), params)]
    scope_s = q.scope(district, provider, "s.case_id")
    early = frozenset(str(r[0]) for r in _rows(conn, _status_query(q, scope_s), params))
    transfers = [
        TransferFacts(str(cid), int(seq), _day_of(on), str(source), str(target))
        for cid, seq, on, source, target in _rows(conn, _transfer_query(q, scope), params)
    ]
    stays = [
        StayFacts(str(r[0]), *(int(v) for v in r[1:]))
        for r in _rows(conn, _stay_query(q, scope), params)
    ]
    cases.sort(key=lambda c: c.case_id)
    goals.sort(key=lambda g: (g.case_id, g.goal_id))
    transfers.sort(key=lambda t: (t.case_id, t.seq))
    stays.sort(key=lambda s: (s.case_id, s.stay))
    return Facts(tuple(cases), tuple(goals), early, tuple(transfers), tuple(stays), provider)


def _day_of(value: Any) -> date:
    found = _day(value)
    assert found is not None, "a transfer always has a date"
    return found


def _is_psycopg(conn: object) -> bool:
    return type(conn).__module__.startswith("psycopg") and hasattr(conn, "cursor")


def is_sql(source: object) -> bool:
    """Whether :func:`session` can read *source* in SQL."""
    if isinstance(source, sqlite3.Connection) or _is_psycopg(source):
        return True
    if callable(getattr(source, "reading", None)):  # an SQL store or its unit of work
        return True
    conn = getattr(source, "connection", None)
    return isinstance(conn, sqlite3.Connection) or _is_psycopg(conn)


@contextlib.contextmanager
def _sqlite_snapshot(conn: sqlite3.Connection) -> Iterator[tuple[Connection, Dialect]]:
    """One read transaction, so that the queries see one consistent state."""
    if conn.in_transaction:
        yield conn, "sqlite"
        return
    conn.execute("BEGIN")
    try:
        yield conn, "sqlite"
    finally:
        conn.execute("COMMIT")


@contextlib.contextmanager
def _postgres_snapshot(conn: Any) -> Iterator[tuple[Connection, Dialect]]:
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status != TransactionStatus.IDLE:
        yield conn, "postgresql"
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn, "postgresql"


@contextlib.contextmanager
def session(source: object) -> Iterator[tuple[Connection, Dialect]]:
    """A connection to read *source* with, inside one consistent read-only snapshot.

    A ``sqlite3`` or ``psycopg`` connection is used as it is. A store with a
    ``reading()`` method lends a connection for the report (a read-only one of its own
    to a SQLite file, one of its pool, or a unit of work's). Another store (an object
    with a ``connection`` attribute) is read through a connection of the report's own: to
    the file at its ``path`` (SQLite) or to its ``conninfo`` and ``schema``
    (PostgreSQL), so the report neither holds the store's lock nor interleaves with its
    transactions; without those attributes its ``connection`` is used.
    """
    if isinstance(source, sqlite3.Connection):
        with _sqlite_snapshot(source) as found:
            yield found
        return
    if _is_psycopg(source):
        with _postgres_snapshot(source) as found:
            yield found
        return
    reading = getattr(source, "reading", None)
    if callable(reading):  # a store lends a connection of its own (see SqlStore.reading)
        with reading() as lent:
            opened = (
                _sqlite_snapshot if isinstance(lent, sqlite3.Connection) else _postgres_snapshot
            )
            with opened(lent) as found:
                yield found
        return
    conn = getattr(source, "connection", None)
    if isinstance(conn, sqlite3.Connection):
        path = getattr(source, "path", None)
        if not isinstance(path, str) or path in ("", ":memory:"):
            with _sqlite_snapshot(conn) as found:
                yield found
            return
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        own = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            with _sqlite_snapshot(own) as found:
                yield found
        finally:
            own.close()
        return
    conninfo = getattr(source, "conninfo", None)
    if not isinstance(conninfo, str):
        with _postgres_snapshot(conn) as found:
            yield found
        return
    import psycopg

    schema = getattr(source, "schema", None)
    with psycopg.connect(conninfo, autocommit=True) as pg:
        if isinstance(schema, str):
            pg.execute(f"SET search_path TO {schema}")  # a checked identifier (see the store)
        with _postgres_snapshot(pg) as found:
            yield found
