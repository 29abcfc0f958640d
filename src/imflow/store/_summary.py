"""Private: the report's facts per case and year, kept in the database (migration 6).

Every write of events (an append, an erasure) also writes, in the same transaction, the
rows of ``report_facts`` its events change (see :mod:`imflow.kennzahlen._stored`), so
:func:`imflow.kennzahlen.report` reads two short rows per case instead of every event.
A store migrated from schema 5 gets the rows of its existing cases from
:func:`fill` (``imflow migrate``); until then (``imflow_report_fill.done = 0``, e.g.
after a DBA ran ``imflow schema-sql``) the report counts over the events, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from imflow.events import Event
from imflow.store._schema import Backend

__all__: list[str] = []

FILL_TABLE = "imflow_report_fill"
# the kinds of the rows of a load (see imflow.store._sql.statements) that carry the
# case's last two report_facts rows: (3, year, NULL, scope, facts), (4, year, NULL,
# NULL, state); the kinds before them are the case row (0), its events (1) and on
# PostgreSQL the data keys (2)
FACTS_KIND = 3
STATE_KIND = 4
MEMO_SIZE = 256


def summary_schema(backend: Backend) -> list[str]:
    """Migration 6: the facts table (``WITHOUT ROWID`` on SQLite: the rows live in the
    primary key's b-tree, no second copy of the key) and its fill state. ``scope`` is
    set in a case's :data:`~imflow.kennzahlen._stored.AFTER` row only."""
    clustered = " WITHOUT ROWID" if backend == "sqlite" else ""
    return [
        f"""CREATE TABLE report_facts (
            case_id TEXT NOT NULL,
            year INTEGER NOT NULL,
            facts TEXT NOT NULL,
            scope TEXT,
            PRIMARY KEY (case_id, year)
        ){clustered}""",
        f"CREATE TABLE {FILL_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), done INTEGER NOT NULL)",
        f"INSERT INTO {FILL_TABLE} (id, done)"
        " SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM events) THEN 0 ELSE 1 END",
    ]


def state_schema(backend: Backend) -> list[str]:
    """Migration 7: the state of the fold the next append steps (in the :data:`~imflow.
    kennzahlen._stored.AFTER` row only; ``NULL``: the next write recomputes the rows),
    filled for the rows there are (:func:`state_fill`)."""
    return ["ALTER TABLE report_facts ADD COLUMN state TEXT", state_fill(backend)]


def state_fill(backend: Backend) -> str:
    """The statement that writes the state of every :data:`~imflow.kennzahlen._stored.
    AFTER` row from the case's events, as :func:`~imflow.kennzahlen._fold.tail_of` (the
    JSON of :func:`~imflow.kennzahlen._fold.encode_tail`; it reads only fields in clear:
    types, seqs, dates, goal ids and statuses)."""
    if backend == "sqlite":
        day = "CAST(julianday({0}.on_date) - 1721424.5 AS INTEGER)"
        goal = "json_extract({0}.payload, '$.goal_id')"
        status = "json_extract(s.payload, '$.status')"
        orphans = (
            "json((SELECT json_group_array(json_array(o.goal, o.status, o.day, o.seq))"
            f" FROM (SELECT {goal.format('s')} AS goal, {status} AS status,"
            f" {day.format('s')} AS day, s.seq AS seq FROM events s"
            " WHERE s.case_id = e.case_id AND s.type = 'goal_status_set'"
            " AND s.seq = (SELECT max(s2.seq) FROM events s2 WHERE s2.case_id = s.case_id"
            f" AND s2.type = 'goal_status_set' AND {goal.format('s2')} = {goal.format('s')})"
            " AND NOT EXISTS (SELECT 1 FROM events a WHERE a.case_id = s.case_id"
            f" AND a.type = 'goal_added' AND {goal.format('a')} = {goal.format('s')})"
            " ORDER BY goal) o))"
        )
        array, text = "json_array", ""
    else:
        day = "({0}.on_date - DATE '0001-01-01' + 1)"
        goal = "({0}.payload ->> 'goal_id')"
        orphans = (
            "(SELECT coalesce(json_agg(json_build_array(o.goal, o.status, o.day, o.seq)"
            " ORDER BY o.goal), '[]'::json) FROM (SELECT DISTINCT ON"
            f" ({goal.format('s')}) {goal.format('s')} AS goal,"
            f" (s.payload ->> 'status') AS status, {day.format('s')} AS day, s.seq"
            " FROM events s WHERE s.case_id = e.case_id AND s.type = 'goal_status_set'"
            " AND NOT EXISTS (SELECT 1 FROM events a WHERE a.case_id = s.case_id"
            f" AND a.type = 'goal_added' AND {goal.format('a')} = {goal.format('s')})"
            f" ORDER BY {goal.format('s')}, s.seq DESC) o)"
        )
        array, text = "json_build_array", "::text"
    depth = (
        "(SELECT count(*) FILTER (WHERE d.type = 'case_closed')"
        " - count(*) FILTER (WHERE d.type = 'case_reopened')"
        " FROM events d WHERE d.case_id = e.case_id)"
    )
    from imflow.kennzahlen._stored import AFTER

    return (
        f"UPDATE report_facts SET state = (SELECT {array}(e.seq, {day.format('e')},"
        f" {depth}, {orphans}){text} FROM events e WHERE e.case_id = report_facts.case_id"
        f" ORDER BY e.seq DESC LIMIT 1) WHERE year = {AFTER}"
    )


def summary_statements(p: Callable[[str], str]) -> dict[str, str]:
    """The named statements that write a case's facts rows (``facts_upsert``: of the fill,
    schema 6; ``facts_write``: with the state, schema 7) and read its last two."""
    return {
        "facts_upsert": (
            "INSERT INTO report_facts (case_id, year, facts, scope)"
            f" VALUES ({p('case_id')}, {p('year')}, {p('facts')}, {p('scope')})"
            " ON CONFLICT (case_id, year) DO UPDATE SET facts = excluded.facts,"
            " scope = excluded.scope"
        ),
        "facts_write": (
            "INSERT INTO report_facts (case_id, year, facts, scope, state)"
            f" VALUES ({p('case_id')}, {p('year')}, {p('facts')}, {p('scope')}, {p('state')})"
            " ON CONFLICT (case_id, year) DO UPDATE SET facts = excluded.facts,"
            " scope = excluded.scope, state = excluded.state"
        ),
        "facts_state": (
            "SELECT year, facts, scope, state FROM report_facts"
            f" WHERE case_id = {p('case_id')} ORDER BY year DESC LIMIT 2"
        ),
    }


def facts_of_load(p: Callable[[str], str]) -> str:
    """The branches a case's ``load`` statement reads its ``facts_state`` rows with
    (rows of :data:`FACTS_KIND` and :data:`STATE_KIND`), in the load's one statement:
    the same snapshot as the case row, so they are the rows of the version it reads.

    >>> facts_of_load(lambda n: f":{n}").startswith(" UNION ALL SELECT 3, f.year")
    True
    """
    last_two = (
        f"(SELECT year, facts, scope, state FROM report_facts WHERE case_id = {p('case_id')}"
        " ORDER BY year DESC LIMIT 2) f"
    )
    return (
        f" UNION ALL SELECT {FACTS_KIND}, f.year, NULL, f.scope, f.facts FROM {last_two}"
        f" UNION ALL SELECT {STATE_KIND}, f.year, NULL, NULL, f.state FROM {last_two}"
    )


def split_facts(rows: list[Any]) -> list[tuple[Any, Any, Any, Any]]:
    """Take the facts rows off the end of a load's *rows* (ordered by kind and seq) and
    return them as ``facts_state`` does: ``(year, facts, scope, state)``, latest first.

    >>> rows = [(0, 2, None, None, None), (1, 1, None, "t", "{}"), (1, 2, None, "t", "{}"),
    ...         (3, 2026, None, None, "f26"), (3, 9999, None, "s", "fa"),
    ...         (4, 2026, None, None, None), (4, 9999, None, None, "st")]
    >>> split_facts(rows), len(rows)
    ([(9999, 'fa', 's', 'st'), (2026, 'f26', None, None)], 3)
    """
    state: dict[Any, Any] = {}
    facts: list[tuple[Any, Any, Any, Any]] = []
    while rows and rows[-1][0] >= FACTS_KIND:
        kind, year, _, scope, text = rows.pop()
        if kind == STATE_KIND:
            state[year] = text
        else:
            facts.append((year, text, scope, None))
    return [(year, text, scope, state.get(year)) for year, text, scope, _ in facts]


class FactsMemo:
    """The ``facts_state`` rows the latest loads of a store read, by case, each with the
    version of the case row read in the same statement (at most *size* cases, the least
    recently loaded dropped first). Safe to share between threads: its lock is held for
    a dictionary operation only.

    An append takes a case's rows (:meth:`take`: they are gone afterwards, whatever it
    finds) and uses them only when they were read at its *expected* version: its
    conditional write of the case row then proves the case, and so its facts rows,
    have not changed since (the rows of a version are written in the transaction that
    writes the version).

    >>> memo = FactsMemo(2)
    >>> memo.keep("a", 3, [(9999, "f", "s", "t")])
    >>> memo.take("a", 2), memo.take("a", 3)
    (None, None)
    >>> memo.keep("a", 3, []); memo.take("a", 3)
    []
    """

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self.size = size
        self._rows: OrderedDict[str, tuple[int, list[Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, case_id: str, version: int, rows: list[Any]) -> None:
        """Remember the *rows* a load read with the case row at *version*."""
        with self._lock:
            self._rows[case_id] = (version, rows)
            self._rows.move_to_end(case_id)
            if len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def take(self, case_id: str, expected: int) -> list[Any] | None:
        """The case's rows if they were read at *expected*, else ``None``; forgotten."""
        with self._lock:
            found = self._rows.pop(case_id, None)
        return found[1] if found is not None and found[0] == expected else None

    def drop(self, case_id: str) -> None:
        with self._lock:
            self._rows.pop(case_id, None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


def summary_params(case_id: str, history: Sequence[Event], batch: Sequence[Event]) -> list[Any]:
    """The parameters of ``facts_write`` for *batch* joining a case's *history* (all its
    events, the batch included), recomputed over the whole history."""
    from imflow.kennzahlen._fold import encode_tail, tail_of
    from imflow.kennzahlen._stored import AFTER, summary_rows

    if not batch:
        return []
    first_new = batch[0].seq
    before = [e.on.year for e in history if e.seq < first_new]
    since = min(e.on.year for e in batch)
    if before:  # the years after the case's last one so far are new rows too
        since = min(since, max(before) + 1)
    state = encode_tail(tail_of(history))
    return [
        {
            "case_id": case_id,
            "year": year,
            "facts": facts,
            "scope": scope,
            "state": state if year == AFTER else None,
        }
        for year, facts, scope in summary_rows(history, since)
    ]


def write_summary(
    store: Any,
    case_id: str,
    history: Sequence[Event],
    batch: Sequence[Event],
    step: bool = False,
    stored: Sequence[Sequence[Any]] | None = None,
) -> None:
    """Write the facts rows *batch* changes, inside *store*'s open transaction.

    With *step* (an append to a case stored before, after its row's conditional
    ``UPDATE``), from the state kept in the case's rows and the batch only, without
    reading *history*, when :func:`~imflow.kennzahlen._stored.stepped_rows` can;
    otherwise (a new case, an erasure, a back-dated batch, rows without state)
    recomputed over the whole *history*. *stored*: the case's ``facts_state`` rows
    read by the load of the version the append writes after (see :class:`FactsMemo`),
    or ``None``: they are read here.
    """
    from imflow.kennzahlen._stored import stepped_rows

    if not batch:
        return
    rows = None
    if step:
        if stored is None:
            stored = store._rows("facts_state", {"case_id": case_id})
        rows = stepped_rows(case_id, stored, batch)
    if rows is None:
        params = summary_params(case_id, history, batch)
    else:
        params = [
            {"case_id": case_id, "year": y, "facts": f, "scope": s, "state": state}
            for y, f, s, state in rows
        ]
    store._exec_many("facts_write", params)


def fill_done(conn: Any, backend: Backend) -> bool:
    """Whether every case has its facts rows (``False`` also without migration 6)."""
    if backend == "sqlite":
        probe = f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{FILL_TABLE}'"
    else:
        probe = f"SELECT to_regclass('{FILL_TABLE}') IS NOT NULL"
    cur = conn.cursor()
    try:
        cur.execute(probe)
        found = cur.fetchone()
        if not found or not found[0]:
            return False
        cur.execute(f"SELECT done FROM {FILL_TABLE} WHERE id = 1")
        row = cur.fetchone()
        return bool(row and row[0])
    finally:
        cur.close()


def fill(conn: Any, backend: Backend) -> int:
    """Write the facts rows of every case of a store migrated to schema 6; returns how
    many rows it wrote (0 when done already). One transaction, holding off writers.

    The rows come from the report's own SQL over the events (no key is needed: the
    figures read only fields in clear), one reading per calendar year with events and
    one for :data:`~imflow.kennzahlen._stored.AFTER`.
    """
    if fill_done(conn, backend):
        return 0
    if backend == "sqlite":
        began = not conn.in_transaction
        conn.execute("BEGIN IMMEDIATE" if began else "SAVEPOINT imflow_fill")
        try:
            written = _fill(conn, "sqlite")
        except BaseException:
            conn.execute("ROLLBACK" if began else "ROLLBACK TO imflow_fill")
            raise
        conn.execute("COMMIT" if began else "RELEASE imflow_fill")
        return written
    with conn.transaction():
        conn.execute("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
        return _fill(conn, "postgresql")


def _fill(conn: Any, backend: Backend) -> int:
    from imflow.kennzahlen._facts import OneCase, by_case
    from imflow.kennzahlen._sql import facts_from_events_sql
    from imflow.kennzahlen._stored import AFTER, encode_row, encode_scope, window_of

    if fill_done(conn, backend):  # another migrator finished while this one waited
        return 0
    scopes = _scopes(conn, backend)
    if not scopes:
        return _finish(conn, backend, 0)
    first = min(s.first_year for s in scopes.values())
    last = max(s.last_year for s in scopes.values())
    p = (lambda n: f":{n}") if backend == "sqlite" else (lambda n: f"%({n})s")
    upsert = summary_statements(p)["facts_upsert"]
    written = 0
    for year in [*range(first, last + 1), AFTER]:
        facts = facts_from_events_sql(
            conn,
            backend,
            window_of(year),
            district=None,
            provider=None,
        )
        goals, transfers = by_case(facts.goals), by_case(facts.transfers)
        stays = by_case(facts.stays)
        rows = []
        for case in facts.cases:
            scope = scopes[case.case_id]
            if year != AFTER and not scope.first_year <= year <= scope.last_year:
                continue
            one = OneCase(
                case,
                tuple(goals.get(case.case_id, ())),
                tuple(transfers.get(case.case_id, ())),
                tuple(stays.get(case.case_id, ())),
                case.case_id in facts.status_before_plan,
            )
            rows.append(
                {
                    "case_id": case.case_id,
                    "year": year,
                    "facts": encode_row(one),
                    "scope": encode_scope(scope) if year == AFTER else None,
                }
            )
        cur = conn.cursor()
        try:
            cur.executemany(upsert, rows)
        finally:
            cur.close()
        written += len(rows)
    return _finish(conn, backend, written)


def _finish(conn: Any, backend: Backend, written: int) -> int:
    cur = conn.cursor()
    try:
        if _has_state(cur, backend):  # schema 7 already: the state of the rows just written
            cur.execute(state_fill(backend))
        cur.execute(f"UPDATE {FILL_TABLE} SET done = 1 WHERE id = 1")
    finally:
        cur.close()
    return written


def _has_state(cur: Any, backend: Backend) -> bool:
    """Whether ``report_facts`` has migration 7's column ``state``."""
    if backend == "sqlite":
        cur.execute("SELECT count(*) FROM pragma_table_info('report_facts') WHERE name = 'state'")
    else:
        cur.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = 'report_facts' AND column_name = 'state'"
        )
    found = cur.fetchone()
    return bool(found and found[0])


def _scopes(conn: Any, backend: Backend) -> dict[str, Any]:
    """Each case's :class:`~imflow.kennzahlen._stored.Scope`, from its events."""
    from imflow.kennzahlen._stored import Scope

    to = (
        "json_extract(payload, '$.to_provider')"
        if backend == "sqlite"
        else "(payload ->> 'to_provider')"
    )
    year = (
        "CAST(substr({0}, 1, 4) AS INTEGER)"
        if backend == "sqlite"
        else "extract(year from {0})::integer"
    )
    cur = conn.cursor()
    try:
        cur.execute(
            f"SELECT case_id, {year.format('min(on_date)')}, {year.format('max(on_date)')}"
            " FROM events GROUP BY case_id"
        )
        spans = {str(c): (int(a), int(b)) for c, a, b in cur.fetchall()}
        cur.execute(
            "SELECT case_id, district, provider FROM events WHERE seq = 1 AND type = 'case_opened'"
        )
        openings = {str(c): (str(d), str(p)) for c, d, p in cur.fetchall()}
        cur.execute(f"SELECT case_id, {to} FROM events WHERE type = 'case_transferred'")
        moved: dict[str, set[str]] = {}
        for c, target in cur.fetchall():
            moved.setdefault(str(c), set()).add(str(target))
    finally:
        cur.close()
    return {
        cid: Scope(
            openings.get(cid, (None, None))[0],
            openings.get(cid, (None, None))[1],
            tuple(sorted(moved.get(cid, ()))),
            first,
            last,
        )
        for cid, (first, last) in spans.items()
    }
